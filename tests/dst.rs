//! DST table: rules whose local time of day falls in a gap or an overlap of their zone.
//!
//! Every expected instant below was derived with Python's `zoneinfo` (tzdata 2025b, the
//! release chrono-tz 0.10.4 bundles), not with this crate:
//!
//! ```text
//! python3 -c "from zoneinfo import ZoneInfo; from datetime import *
//! z = ZoneInfo('America/New_York'); d = datetime(2026, 3, 8, 2, 30, tzinfo=z)
//! print(d.astimezone(timezone.utc).astimezone(z).isoformat())"   # 2026-03-08T03:30:00-04:00
//! ```
//!
//! `fold=0` in `zoneinfo` is the crate's documented policy: a time in a gap uses the offset
//! before the transition (so it moves forward by the gap), a time in an overlap takes the
//! earlier instant. The instants are written in the zone's own offset, so the date part is the
//! civil date the occurrence is for and the time part is the wall clock it happens at.

use chrono::{DateTime, Datelike, Month, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use recurring_deals::Zone;
use recurring_deals::{
    DayOfMonth, End, Interval, MonthDay, Ordinal, Recurrence, Schedule, WeekdaySet,
};

/// How a row's rule is written.
#[derive(Debug, Clone, Copy)]
enum Rule {
    /// Built in code.
    Builder(fn() -> Recurrence),
    /// RFC 5545 `RRULE` value, read with a `DTSTART;TZID=...` line made from the row; `UNTIL`
    /// is appended as the last expected instant in UTC (the value type RFC 5545 requires with
    /// a zoned `DTSTART`).
    Rrule(&'static str),
}

/// One row: a schedule and its complete list of occurrences as `(seq, instant)`.
struct Row {
    name: &'static str,
    zone: &'static str,
    rule: Rule,
    start: (i32, u32, u32),
    time: (u32, u32),
    expected: &'static [(u64, &'static str)],
}

fn daily() -> Recurrence {
    Recurrence::daily(Interval::ONE)
}

fn weekly_sunday() -> Recurrence {
    Recurrence::weekly(Interval::ONE, WeekdaySet::single(Weekday::Sun))
}

fn biweekly_sunday() -> Recurrence {
    Recurrence::weekly(Interval::new(2).unwrap(), WeekdaySet::single(Weekday::Sun))
}

fn monthly_on_8th() -> Recurrence {
    Recurrence::monthly(Interval::ONE, MonthDay::Day(DayOfMonth::new(8).unwrap()))
}

fn monthly_last_sunday() -> Recurrence {
    Recurrence::monthly(
        Interval::ONE,
        MonthDay::Weekday {
            ordinal: Ordinal::Last,
            weekday: Weekday::Sun,
        },
    )
}

fn yearly_second_sunday_of_march() -> Recurrence {
    Recurrence::yearly(
        Interval::ONE,
        Month::March,
        MonthDay::Weekday {
            ordinal: Ordinal::Second,
            weekday: Weekday::Sun,
        },
    )
}

const NEW_YORK: &str = "America/New_York";
const SANTIAGO: &str = "America/Santiago";
const HAVANA: &str = "America/Havana";
const LORD_HOWE: &str = "Australia/Lord_Howe";
const APIA: &str = "Pacific/Apia";
const BERLIN: &str = "Europe/Berlin";

const ROWS: &[Row] = &[
    // New York springs forward 2026-03-08 02:00 EST -> 03:00 EDT.
    Row {
        name: "new york spring-forward, daily 02:30",
        zone: NEW_YORK,
        rule: Rule::Builder(daily),
        start: (2026, 3, 7),
        time: (2, 30),
        expected: &[
            (0, "2026-03-07T02:30:00-05:00"),
            (1, "2026-03-08T03:30:00-04:00"),
            (2, "2026-03-09T02:30:00-04:00"),
        ],
    },
    Row {
        name: "new york spring-forward, daily 02:30 from rrule text",
        zone: NEW_YORK,
        rule: Rule::Rrule("FREQ=DAILY"),
        start: (2026, 3, 7),
        time: (2, 30),
        expected: &[
            (0, "2026-03-07T02:30:00-05:00"),
            (1, "2026-03-08T03:30:00-04:00"),
            (2, "2026-03-09T02:30:00-04:00"),
        ],
    },
    // BYMONTH under DAILY is outside the structured vocabulary: the general (rrule crate) path.
    Row {
        name: "new york spring-forward, general rrule path",
        zone: NEW_YORK,
        rule: Rule::Rrule("FREQ=DAILY;BYMONTH=3"),
        start: (2026, 3, 7),
        time: (2, 30),
        expected: &[
            (0, "2026-03-07T02:30:00-05:00"),
            (1, "2026-03-08T03:30:00-04:00"),
            (2, "2026-03-09T02:30:00-04:00"),
        ],
    },
    // New York falls back 2026-11-01 02:00 EDT -> 01:00 EST: 01:30 happens twice.
    Row {
        name: "new york fall-back, daily 01:30 takes the earlier (EDT)",
        zone: NEW_YORK,
        rule: Rule::Builder(daily),
        start: (2026, 10, 31),
        time: (1, 30),
        expected: &[
            (0, "2026-10-31T01:30:00-04:00"),
            (1, "2026-11-01T01:30:00-04:00"),
            (2, "2026-11-02T01:30:00-05:00"),
        ],
    },
    Row {
        name: "new york fall-back, general rrule path",
        zone: NEW_YORK,
        rule: Rule::Rrule("FREQ=DAILY;BYMONTH=10,11"),
        start: (2026, 10, 31),
        time: (1, 30),
        expected: &[
            (0, "2026-10-31T01:30:00-04:00"),
            (1, "2026-11-01T01:30:00-04:00"),
            (2, "2026-11-02T01:30:00-05:00"),
        ],
    },
    // Santiago springs forward at local midnight: 2026-09-06 00:00 -04 -> 01:00 -03, so
    // 00:00 to 00:59 of that date never happen.
    Row {
        name: "santiago missing midnight, daily 00:00",
        zone: SANTIAGO,
        rule: Rule::Builder(daily),
        start: (2026, 9, 5),
        time: (0, 0),
        expected: &[
            (0, "2026-09-05T00:00:00-04:00"),
            (1, "2026-09-06T01:00:00-03:00"),
            (2, "2026-09-07T00:00:00-03:00"),
        ],
    },
    Row {
        name: "santiago missing midnight, daily 00:30",
        zone: SANTIAGO,
        rule: Rule::Builder(daily),
        start: (2026, 9, 5),
        time: (0, 30),
        expected: &[
            (0, "2026-09-05T00:30:00-04:00"),
            (1, "2026-09-06T01:30:00-03:00"),
            (2, "2026-09-07T00:30:00-03:00"),
        ],
    },
    // The rrule crate's own zone handling drops such dates; the general path must not.
    Row {
        name: "santiago missing midnight, general rrule path",
        zone: SANTIAGO,
        rule: Rule::Rrule("FREQ=DAILY;BYMONTH=9"),
        start: (2026, 9, 5),
        time: (0, 0),
        expected: &[
            (0, "2026-09-05T00:00:00-04:00"),
            (1, "2026-09-06T01:00:00-03:00"),
            (2, "2026-09-07T00:00:00-03:00"),
        ],
    },
    // Santiago falls back 2026-04-05 00:00 -03 -> 2026-04-04 23:00 -04: 23:30 of Apr 4 twice.
    Row {
        name: "santiago fall-back, daily 23:30 takes the earlier",
        zone: SANTIAGO,
        rule: Rule::Builder(daily),
        start: (2026, 4, 3),
        time: (23, 30),
        expected: &[
            (0, "2026-04-03T23:30:00-03:00"),
            (1, "2026-04-04T23:30:00-03:00"),
            (2, "2026-04-05T23:30:00-04:00"),
        ],
    },
    // Havana springs forward 2026-03-08 00:00 -05 -> 01:00 -04.
    Row {
        name: "havana missing midnight, daily 00:00",
        zone: HAVANA,
        rule: Rule::Builder(daily),
        start: (2026, 3, 7),
        time: (0, 0),
        expected: &[
            (0, "2026-03-07T00:00:00-05:00"),
            (1, "2026-03-08T01:00:00-04:00"),
            (2, "2026-03-09T00:00:00-04:00"),
        ],
    },
    Row {
        name: "havana missing midnight, daily 00:30 from rrule text",
        zone: HAVANA,
        rule: Rule::Rrule("FREQ=DAILY"),
        start: (2026, 3, 7),
        time: (0, 30),
        expected: &[
            (0, "2026-03-07T00:30:00-05:00"),
            (1, "2026-03-08T01:30:00-04:00"),
            (2, "2026-03-09T00:30:00-04:00"),
        ],
    },
    // Havana fell back 2025-11-02 01:00 -04 -> 00:00 -05: 00:30 happened twice.
    Row {
        name: "havana fall-back, daily 00:30 takes the earlier",
        zone: HAVANA,
        rule: Rule::Builder(daily),
        start: (2025, 11, 1),
        time: (0, 30),
        expected: &[
            (0, "2025-11-01T00:30:00-04:00"),
            (1, "2025-11-02T00:30:00-04:00"),
            (2, "2025-11-03T00:30:00-05:00"),
        ],
    },
    // Cuba keeps -04 all year from 2026 on (tzdb 2026): no fall-back on 2026-11-01.
    Row {
        name: "havana keeps -04 after 2026-11-01",
        zone: HAVANA,
        rule: Rule::Builder(daily),
        start: (2026, 10, 31),
        time: (0, 30),
        expected: &[
            (0, "2026-10-31T00:30:00-04:00"),
            (1, "2026-11-01T00:30:00-04:00"),
            (2, "2026-11-02T00:30:00-04:00"),
        ],
    },
    // British Columbia keeps UTC-7 from 2026-11-01 on (tzdb 2026b): a daily 09:00 is at
    // 16:00Z on 2026-11-02, not 17:00Z as tzdb 2025b had it.
    Row {
        name: "vancouver keeps -07 after 2026-11-01",
        zone: "America/Vancouver",
        rule: Rule::Builder(daily),
        start: (2026, 10, 31),
        time: (9, 0),
        expected: &[
            (0, "2026-10-31T09:00:00-07:00"),
            (1, "2026-11-01T09:00:00-07:00"),
            (2, "2026-11-02T09:00:00-07:00"),
        ],
    },
    // Lord Howe's DST is 30 minutes: 2026-10-04 02:00 +10:30 -> 02:30 +11:00.
    Row {
        name: "lord howe 30-minute gap, daily 02:10",
        zone: LORD_HOWE,
        rule: Rule::Builder(daily),
        start: (2026, 10, 3),
        time: (2, 10),
        expected: &[
            (0, "2026-10-03T02:10:00+10:30"),
            (1, "2026-10-04T02:40:00+11:00"),
            (2, "2026-10-05T02:10:00+11:00"),
        ],
    },
    // 2026-04-05 02:00 +11:00 -> 01:30 +10:30: 01:45 happens twice.
    Row {
        name: "lord howe 30-minute overlap, daily 01:45 takes the earlier",
        zone: LORD_HOWE,
        rule: Rule::Builder(daily),
        start: (2026, 4, 4),
        time: (1, 45),
        expected: &[
            (0, "2026-04-04T01:45:00+11:00"),
            (1, "2026-04-05T01:45:00+11:00"),
            (2, "2026-04-06T01:45:00+10:30"),
        ],
    },
    // Samoa crossed the date line: 2011-12-29 23:59:59 -10:00 was followed by 2011-12-31
    // 00:00:00 +14:00. December 30 has no occurrence and its seq (2) stays unused.
    Row {
        name: "apia 2011-12-30 does not exist",
        zone: APIA,
        rule: Rule::Builder(daily),
        start: (2011, 12, 28),
        time: (9, 0),
        expected: &[
            (0, "2011-12-28T09:00:00-10:00"),
            (1, "2011-12-29T09:00:00-10:00"),
            (3, "2011-12-31T09:00:00+14:00"),
            (4, "2012-01-01T09:00:00+14:00"),
            (5, "2012-01-02T09:00:00+14:00"),
        ],
    },
    Row {
        name: "apia 2011-12-30 does not exist, from rrule text",
        zone: APIA,
        rule: Rule::Rrule("FREQ=DAILY"),
        start: (2011, 12, 28),
        time: (9, 0),
        expected: &[
            (0, "2011-12-28T09:00:00-10:00"),
            (1, "2011-12-29T09:00:00-10:00"),
            (3, "2011-12-31T09:00:00+14:00"),
            (4, "2012-01-01T09:00:00+14:00"),
            (5, "2012-01-02T09:00:00+14:00"),
        ],
    },
    // Weekly across the gap: the week after the gap is back at 02:30 (06:30Z), where
    // "previous + 7 × 24 h" would give 03:30.
    Row {
        name: "new york weekly on sunday 02:30 across the gap",
        zone: NEW_YORK,
        rule: Rule::Builder(weekly_sunday),
        start: (2026, 3, 1),
        time: (2, 30),
        expected: &[
            (0, "2026-03-01T02:30:00-05:00"),
            (1, "2026-03-08T03:30:00-04:00"),
            (2, "2026-03-15T02:30:00-04:00"),
            (3, "2026-03-22T02:30:00-04:00"),
        ],
    },
    Row {
        name: "new york weekly on sunday 02:30 across the gap, general rrule path",
        zone: NEW_YORK,
        rule: Rule::Rrule("FREQ=WEEKLY;BYDAY=SU;BYMONTH=3"),
        start: (2026, 3, 1),
        time: (2, 30),
        expected: &[
            (0, "2026-03-01T02:30:00-05:00"),
            (1, "2026-03-08T03:30:00-04:00"),
            (2, "2026-03-15T02:30:00-04:00"),
            (3, "2026-03-22T02:30:00-04:00"),
            (4, "2026-03-29T02:30:00-04:00"),
        ],
    },
    Row {
        name: "new york every 2 weeks on sunday 02:30 across the gap",
        zone: NEW_YORK,
        rule: Rule::Builder(biweekly_sunday),
        start: (2026, 2, 22),
        time: (2, 30),
        expected: &[
            (0, "2026-02-22T02:30:00-05:00"),
            (1, "2026-03-08T03:30:00-04:00"),
            (2, "2026-03-22T02:30:00-04:00"),
        ],
    },
    // Weekly across the overlap: 09:00 stays 09:00 although the week is 169 hours long.
    Row {
        name: "new york weekly on sunday 09:00 across the overlap",
        zone: NEW_YORK,
        rule: Rule::Builder(weekly_sunday),
        start: (2026, 10, 25),
        time: (9, 0),
        expected: &[
            (0, "2026-10-25T09:00:00-04:00"),
            (1, "2026-11-01T09:00:00-05:00"),
            (2, "2026-11-08T09:00:00-05:00"),
        ],
    },
    Row {
        name: "new york monthly on the 8th at 02:30 across the gap",
        zone: NEW_YORK,
        rule: Rule::Builder(monthly_on_8th),
        start: (2026, 2, 8),
        time: (2, 30),
        expected: &[
            (0, "2026-02-08T02:30:00-05:00"),
            (1, "2026-03-08T03:30:00-04:00"),
            (2, "2026-04-08T02:30:00-04:00"),
        ],
    },
    // Europe changes on the last Sunday of March and October at 01:00 UTC: a rule on the last
    // Sunday at 02:30 hits the gap in March and the overlap in October.
    Row {
        name: "berlin monthly on the last sunday at 02:30",
        zone: BERLIN,
        rule: Rule::Builder(monthly_last_sunday),
        start: (2026, 1, 25),
        time: (2, 30),
        expected: &[
            (0, "2026-01-25T02:30:00+01:00"),
            (1, "2026-02-22T02:30:00+01:00"),
            (2, "2026-03-29T03:30:00+02:00"),
            (3, "2026-04-26T02:30:00+02:00"),
            (4, "2026-05-31T02:30:00+02:00"),
            (5, "2026-06-28T02:30:00+02:00"),
            (6, "2026-07-26T02:30:00+02:00"),
            (7, "2026-08-30T02:30:00+02:00"),
            (8, "2026-09-27T02:30:00+02:00"),
            (9, "2026-10-25T02:30:00+02:00"),
            (10, "2026-11-29T02:30:00+01:00"),
        ],
    },
    Row {
        name: "berlin monthly on the last sunday at 02:30 from rrule text",
        zone: BERLIN,
        rule: Rule::Rrule("FREQ=MONTHLY;BYDAY=-1SU"),
        start: (2026, 1, 25),
        time: (2, 30),
        expected: &[
            (0, "2026-01-25T02:30:00+01:00"),
            (1, "2026-02-22T02:30:00+01:00"),
            (2, "2026-03-29T03:30:00+02:00"),
            (3, "2026-04-26T02:30:00+02:00"),
            (4, "2026-05-31T02:30:00+02:00"),
            (5, "2026-06-28T02:30:00+02:00"),
            (6, "2026-07-26T02:30:00+02:00"),
            (7, "2026-08-30T02:30:00+02:00"),
            (8, "2026-09-27T02:30:00+02:00"),
            (9, "2026-10-25T02:30:00+02:00"),
            (10, "2026-11-29T02:30:00+01:00"),
        ],
    },
    // New York's spring-forward day is the second Sunday of March (since 2007): every year
    // of this rule lands in the gap. 2026-03-08, 2027-03-14, 2028-03-12.
    Row {
        name: "new york yearly on the second sunday of march at 02:30",
        zone: NEW_YORK,
        rule: Rule::Builder(yearly_second_sunday_of_march),
        start: (2026, 1, 1),
        time: (2, 30),
        expected: &[
            (0, "2026-03-08T03:30:00-04:00"),
            (1, "2027-03-14T03:30:00-04:00"),
            (2, "2028-03-12T03:30:00-04:00"),
        ],
    },
];

#[test]
fn dst_table() {
    let mut failures = Vec::new();
    for row in ROWS {
        if let Err(message) = check_row(row) {
            failures.push(format!("{}: {message}", row.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn check_row(row: &Row) -> Result<(), String> {
    let expected: Vec<(u64, DateTime<chrono::FixedOffset>)> = row
        .expected
        .iter()
        .map(|&(seq, text)| (seq, DateTime::parse_from_rfc3339(text).unwrap()))
        .collect();
    let schedule = schedule_of(row, &expected);

    let actual: Vec<_> = schedule.occurrences().collect();
    let got: Vec<(u64, NaiveDate, DateTime<Utc>)> =
        actual.iter().map(|o| (o.seq(), o.date(), o.at())).collect();
    let want: Vec<(u64, NaiveDate, DateTime<Utc>)> = expected
        .iter()
        .map(|(seq, t)| (*seq, t.date_naive(), t.with_timezone(&Utc)))
        .collect();
    if got != want {
        return Err(format!("\n  expected {want:?}\n  got      {got:?}"));
    }
    for pair in actual.windows(2) {
        if pair[0].at() >= pair[1].at() {
            return Err(format!("instants not increasing: {pair:?}"));
        }
    }
    // The wall clock each occurrence happens at, read back through chrono-tz.
    for (occurrence, (_, t)) in actual.iter().zip(&expected) {
        let wall = occurrence
            .at()
            .with_timezone(&Zone::get(row.zone).unwrap())
            .naive_local();
        if wall != t.naive_local() {
            return Err(format!("{occurrence:?} happens at {wall}, expected {t}"));
        }
    }
    // Seeking from just before each occurrence finds that very occurrence, same seq.
    for occurrence in &actual {
        let just_before = occurrence.at() - chrono::Duration::seconds(1);
        let found = schedule.occurrences_after(just_before).next();
        if found != Some(*occurrence) {
            return Err(format!("seek before {occurrence:?} found {found:?}"));
        }
    }
    Ok(())
}

/// The row's schedule, ending with its last expected occurrence.
fn schedule_of(row: &Row, expected: &[(u64, DateTime<chrono::FixedOffset>)]) -> Schedule {
    let (y, m, d) = row.start;
    let start = NaiveDate::from_ymd_opt(y, m, d)
        .unwrap()
        .and_time(NaiveTime::from_hms_opt(row.time.0, row.time.1, 0).unwrap());
    let (_, last) = expected.last().unwrap();
    match row.rule {
        Rule::Builder(recurrence) => {
            Schedule::builder(recurrence(), start, Zone::get(row.zone).unwrap())
                .end(End::Until(last.date_naive()))
                .build()
                .unwrap_or_else(|e| panic!("{}: {e}", row.name))
        }
        Rule::Rrule(rule) => {
            let text = format!(
                "DTSTART;TZID={}:{}\nRRULE:{rule};UNTIL={}",
                row.zone,
                start.format("%Y%m%dT%H%M%S"),
                last.with_timezone(&Utc).format("%Y%m%dT%H%M%SZ"),
            );
            Schedule::from_rrule(&text).unwrap_or_else(|e| panic!("{}: {e}\n{text}", row.name))
        }
    }
}

#[test]
fn today_is_the_zones_date() {
    let start = NaiveDate::from_ymd_opt(2026, 1, 1)
        .unwrap()
        .and_hms_opt(9, 0, 0)
        .unwrap();
    let cases = [
        // 22:00Z is 01:00 the next day in Moscow (UTC+3).
        (
            Zone::get("Europe/Moscow").unwrap(),
            "2026-01-01T22:00:00Z",
            (2026, 1, 2),
        ),
        (
            Zone::get("Europe/Moscow").unwrap(),
            "2026-01-01T20:59:59Z",
            (2026, 1, 1),
        ),
        // 03:00Z is 22:00 the previous evening in New York (UTC-5 in winter).
        (zone(NEW_YORK), "2026-01-02T03:00:00Z", (2026, 1, 1)),
        (zone(NEW_YORK), "2026-01-02T05:00:00Z", (2026, 1, 2)),
        // Around Samoa's jump: 09:59:59Z is still Dec 29 (-10:00), one second later Dec 31.
        (zone(APIA), "2011-12-30T09:59:59Z", (2011, 12, 29)),
        (zone(APIA), "2011-12-30T10:00:00Z", (2011, 12, 31)),
    ];
    for (zone, now, (y, m, d)) in cases {
        let schedule = Schedule::builder(daily(), start, zone).build().unwrap();
        let now = DateTime::parse_from_rfc3339(now)
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            schedule.today(now),
            NaiveDate::from_ymd_opt(y, m, d).unwrap(),
            "{zone} at {now}"
        );
    }
}

#[test]
fn weekly_keeps_the_wall_clock_for_a_year() {
    // Every Sunday of 2026 at 02:30 in New York: each occurrence is at 02:30 local, except the
    // spring-forward Sunday (03:30). Naive "previous + 7 days" code drifts by an hour there.
    let start = NaiveDate::from_ymd_opt(2026, 1, 4)
        .unwrap()
        .and_hms_opt(2, 30, 0)
        .unwrap();
    let schedule = Schedule::builder(weekly_sunday(), start, zone(NEW_YORK))
        .end(End::Until(NaiveDate::from_ymd_opt(2026, 12, 31).unwrap()))
        .build()
        .unwrap();
    let gap_day = NaiveDate::from_ymd_opt(2026, 3, 8).unwrap();
    let occurrences: Vec<_> = schedule.occurrences().collect();
    // 2026 has 52 Sundays (Jan 4 ... Dec 27).
    assert_eq!(occurrences.len(), 52);
    for (i, o) in occurrences.iter().enumerate() {
        let expected_date = start.date() + chrono::Days::new(7 * i as u64);
        assert_eq!(o.date(), expected_date);
        assert_eq!(o.date().weekday(), Weekday::Sun);
        let wall = o.at().with_timezone(&zone(NEW_YORK)).naive_local();
        let expected_time = if o.date() == gap_day {
            (3, 30)
        } else {
            (2, 30)
        };
        assert_eq!(
            wall,
            expected_date
                .and_hms_opt(expected_time.0, expected_time.1, 0)
                .unwrap(),
            "{o:?}"
        );
    }
}

#[test]
fn resolve_local_matches_the_table_policy() {
    // The public policy function agrees with the same zoneinfo facts.
    let at = |zone: Zone, y, m, d, h, min| {
        recurring_deals::resolve_local(
            zone,
            NaiveDate::from_ymd_opt(y, m, d)
                .unwrap()
                .and_hms_opt(h, min, 0)
                .unwrap(),
        )
    };
    let utc = |text: &str| {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    };
    assert_eq!(
        at(zone(NEW_YORK), 2026, 3, 8, 2, 30),
        utc("2026-03-08T03:30:00-04:00")
    );
    assert_eq!(
        at(zone(NEW_YORK), 2026, 11, 1, 1, 30),
        utc("2026-11-01T01:30:00-04:00")
    );
    assert_eq!(
        at(zone(SANTIAGO), 2026, 9, 6, 0, 0),
        utc("2026-09-06T01:00:00-03:00")
    );
    assert_eq!(
        at(zone(HAVANA), 2026, 3, 8, 0, 30),
        utc("2026-03-08T01:30:00-04:00")
    );
    assert_eq!(
        at(zone(LORD_HOWE), 2026, 10, 4, 2, 10),
        utc("2026-10-04T02:40:00+11:00")
    );
    assert_eq!(
        at(zone(LORD_HOWE), 2026, 4, 5, 1, 45),
        utc("2026-04-05T01:45:00+11:00")
    );
    // A time that exists once is chrono-tz's single answer.
    let plain = NaiveDate::from_ymd_opt(2026, 6, 1)
        .unwrap()
        .and_hms_opt(12, 0, 0)
        .unwrap();
    assert_eq!(
        recurring_deals::resolve_local(zone(BERLIN), plain),
        zone(BERLIN)
            .from_local_datetime(&plain)
            .single()
            .unwrap()
            .with_timezone(&Utc)
    );
}

/// chrono-tz lists no transition after 2099; the zone's rule goes on (issue #10, kind 9).
/// Expected instants from Python's `zoneinfo` over the system tzdb (2025b), which applies the
/// TZif footer's POSIX rule past the last listed transition:
///
/// ```text
/// python3 -c "from zoneinfo import ZoneInfo; from datetime import *
/// z = ZoneInfo('America/New_York')
/// print(datetime(2100, 3, 31, 9, tzinfo=z).astimezone(timezone.utc))"   # 2100-03-31 13:00:00+00:00
/// ```
#[test]
fn daylight_saving_time_goes_on_past_2099() {
    let start = NaiveDate::from_ymd_opt(2026, 1, 31)
        .unwrap()
        .and_hms_opt(9, 0, 0)
        .unwrap();
    let schedule = Schedule::builder(
        Recurrence::monthly(Interval::ONE, MonthDay::Day(DayOfMonth::new(31).unwrap())),
        start,
        Zone::get("America/New_York").unwrap(),
    )
    .build()
    .unwrap();
    let by_seq = |seq: u64| {
        schedule
            .occurrences()
            .find(|o| o.seq() == seq)
            .map(|o| o.at())
            .unwrap()
    };
    let utc = |y, m, d, h| Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap();
    assert_eq!(by_seq(890), utc(2100, 3, 31, 13));
    // Standard time in winter, daylight time in summer, to the end of the supported years.
    assert_eq!(by_seq(1498), utc(2150, 11, 30, 14));
    assert_eq!(by_seq(2082), utc(2199, 7, 31, 13));
    // Seeking agrees with walking.
    let after = utc(2100, 3, 1, 0);
    let next = schedule.occurrences_after(after).next().unwrap();
    assert_eq!((next.seq(), next.at()), (890, utc(2100, 3, 31, 13)));

    // The southern hemisphere too: Sydney is on daylight time in January 2150, not in July.
    let sydney = Schedule::from_rrule(
        "DTSTART;TZID=Australia/Sydney:21500131T090000\nRRULE:FREQ=MONTHLY;BYMONTHDAY=31;COUNT=4",
    )
    .unwrap();
    let instants: Vec<_> = sydney.occurrences().map(|o| o.at()).collect();
    assert_eq!(
        instants[0],
        Utc.with_ymd_and_hms(2150, 1, 30, 22, 0, 0).unwrap()
    );
    assert_eq!(
        instants[3],
        Utc.with_ymd_and_hms(2150, 7, 30, 23, 0, 0).unwrap()
    );
}

fn zone(name: &str) -> Zone {
    Zone::get(name).unwrap()
}
