//! Month ends, leap days, weekdays of the month, working days and adjustments.
//!
//! Expected dates come from two independent sources: dates typed from the calendar (checked
//! with Python's `calendar` module), and brute force that asks chrono which dates exist
//! (`NaiveDate::from_ymd_opt`) and scans every day of a month.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Month, NaiveDate, TimeZone, Utc, Weekday};
use recurring_deals::Zone;
use recurring_deals::{
    Adjustment, DayOfMonth, End, Interval, MonthDay, Ordinal, Overflow, Recurrence, Schedule,
    WorkingCalendar, WorkingDayNumber,
};

const NINE: (u32, u32) = (9, 0);

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn parse(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

fn day(d: u32) -> MonthDay {
    MonthDay::Day(DayOfMonth::new(d).unwrap())
}

fn every(n: u32) -> Interval {
    Interval::new(n).unwrap()
}

/// A schedule at 09:00 UTC.
fn build(
    recurrence: Recurrence,
    start: NaiveDate,
    until: NaiveDate,
    overflow: Overflow,
) -> Schedule {
    Schedule::builder(
        recurrence,
        start.and_hms_opt(NINE.0, NINE.1, 0).unwrap(),
        Zone::UTC,
    )
    .end(End::Until(until))
    .overflow(overflow)
    .build()
    .unwrap()
}

/// Dates of the schedule, after checking that `seq` counts 0, 1, 2... (months lacking the day
/// are not occurrences) and every instant is the date at 09:00 in `zone`.
fn dates_in(schedule: &Schedule, zone: Zone) -> Vec<NaiveDate> {
    schedule
        .occurrences()
        .enumerate()
        .map(|(i, o)| {
            assert_eq!(o.seq(), i as u64, "{o:?}");
            let local = o.date().and_hms_opt(NINE.0, NINE.1, 0).unwrap();
            let expected = zone.from_local_datetime(&local).single().unwrap();
            assert_eq!(o.at(), expected.with_timezone(&Utc), "{o:?}");
            o.date()
        })
        .collect()
}

fn dates(schedule: &Schedule) -> Vec<NaiveDate> {
    dates_in(schedule, Zone::UTC)
}

// --- Brute force -------------------------------------------------------------------------

/// The days of a month, found by asking chrono which dates exist.
fn month_days(y: i32, m: u32) -> Vec<NaiveDate> {
    (1..=31)
        .filter_map(|d| NaiveDate::from_ymd_opt(y, m, d))
        .collect()
}

/// The month `k` months after (y, m).
fn add_months(y: i32, m: u32, k: i32) -> (i32, u32) {
    let index = y * 12 + m as i32 - 1 + k;
    (index.div_euclid(12), index.rem_euclid(12) as u32 + 1)
}

/// Monthly (or yearly, with `step` 12) on day `d`, every `step` months from the start's month,
/// on or after `start` and on or before `until`.
fn brute_month_day(
    start: NaiveDate,
    until: NaiveDate,
    step: i32,
    pick: impl Fn(&[NaiveDate]) -> Option<NaiveDate>,
) -> Vec<NaiveDate> {
    let mut out = Vec::new();
    for k in 0.. {
        let (y, m) = add_months(start.year(), start.month(), k * step);
        if date(y, m, 1) > until {
            break;
        }
        if let Some(d) = pick(&month_days(y, m))
            && d >= start
            && d <= until
        {
            out.push(d);
        }
    }
    out
}

fn clamp(d: u32) -> impl Fn(&[NaiveDate]) -> Option<NaiveDate> {
    move |days| days.get(d.min(days.len() as u32) as usize - 1).copied()
}

fn skip(d: u32) -> impl Fn(&[NaiveDate]) -> Option<NaiveDate> {
    move |days| days.get(d as usize - 1).copied()
}

fn last_day(days: &[NaiveDate]) -> Option<NaiveDate> {
    days.last().copied()
}

/// The n-th (1-based) `weekday` of the month, or the last one for `n` = -1.
fn nth_weekday(n: i32, weekday: Weekday) -> impl Fn(&[NaiveDate]) -> Option<NaiveDate> {
    move |days| {
        let matching: Vec<NaiveDate> = days
            .iter()
            .copied()
            .filter(|d| d.weekday() == weekday)
            .collect();
        if n == -1 {
            matching.last().copied()
        } else {
            matching.get(n as usize - 1).copied()
        }
    }
}

// --- Month ends ---------------------------------------------------------------------------

#[test]
fn monthly_on_the_31st_clamps_to_month_ends() {
    let schedule = build(
        Recurrence::monthly(Interval::ONE, day(31)),
        date(2024, 1, 31),
        date(2025, 2, 28),
        Overflow::Clamp,
    );
    // 2024 is a leap year; 2025 is not.
    let expected = [
        "2024-01-31",
        "2024-02-29",
        "2024-03-31",
        "2024-04-30",
        "2024-05-31",
        "2024-06-30",
        "2024-07-31",
        "2024-08-31",
        "2024-09-30",
        "2024-10-31",
        "2024-11-30",
        "2024-12-31",
        "2025-01-31",
        "2025-02-28",
    ];
    assert_eq!(dates(&schedule), expected.map(parse));
}

#[test]
fn monthly_on_the_31st_skip_gives_seven_months_a_year() {
    let schedule = build(
        Recurrence::monthly(Interval::ONE, day(31)),
        date(2026, 1, 1),
        date(2026, 12, 31),
        Overflow::Skip,
    );
    let expected = [
        "2026-01-31",
        "2026-03-31",
        "2026-05-31",
        "2026-07-31",
        "2026-08-31",
        "2026-10-31",
        "2026-12-31",
    ];
    assert_eq!(dates(&schedule), expected.map(parse));
}

#[test]
fn february_of_1900_2000_2100() {
    // 1900 and 2100 are not leap years (divisible by 100, not by 400); 2000 is.
    let february = |d: u32, overflow: Overflow, year: i32| -> Option<NaiveDate> {
        let schedule = build(
            Recurrence::monthly(Interval::ONE, day(d)),
            date(year, 1, 1),
            date(year, 3, 31),
            overflow,
        );
        dates(&schedule).into_iter().find(|x| x.month() == 2)
    };
    for (year, leap) in [(1900, false), (2000, true), (2024, true), (2100, false)] {
        let last = if leap { 29 } else { 28 };
        for d in [29, 30, 31] {
            assert_eq!(
                february(d, Overflow::Clamp, year),
                Some(date(year, 2, last)),
                "clamp {d} in {year}"
            );
        }
        assert_eq!(
            february(29, Overflow::Skip, year),
            leap.then(|| date(year, 2, 29)),
            "skip 29 in {year}"
        );
        assert_eq!(
            february(30, Overflow::Skip, year),
            None,
            "skip 30 in {year}"
        );
        assert_eq!(
            february(31, Overflow::Skip, year),
            None,
            "skip 31 in {year}"
        );
    }
}

#[test]
fn month_days_against_brute_force_over_all_supported_years() {
    let from = date(1900, 1, 1);
    let to = date(2199, 12, 31);
    for d in [28, 29, 30, 31] {
        for step in [1, 2, 3, 12] {
            let recurrence = Recurrence::monthly(every(step as u32), day(d));
            let clamped = build(recurrence, from, to, Overflow::Clamp);
            assert_eq!(
                dates(&clamped),
                brute_month_day(from, to, step, clamp(d)),
                "clamp day {d} every {step} months"
            );
            let skipped = build(recurrence, from, to, Overflow::Skip);
            assert_eq!(
                dates(&skipped),
                brute_month_day(from, to, step, skip(d)),
                "skip day {d} every {step} months"
            );
        }
    }
}

#[test]
fn month_days_from_starts_around_leap_centuries() {
    // Starts in the middle of a month, near 1900 (common), 2000 (leap) and 2100 (common).
    for start in [
        date(1900, 2, 10),
        date(1999, 11, 30),
        date(2000, 2, 29),
        date(2099, 12, 31),
        date(2100, 1, 29),
    ] {
        let until = date(start.year() + 3, 12, 31);
        for d in [29, 30, 31] {
            for step in [1, 2, 3] {
                let recurrence = Recurrence::monthly(every(step as u32), day(d));
                assert_eq!(
                    dates(&build(recurrence, start, until, Overflow::Clamp)),
                    brute_month_day(start, until, step, clamp(d)),
                    "clamp {d} every {step} from {start}"
                );
                assert_eq!(
                    dates(&build(recurrence, start, until, Overflow::Skip)),
                    brute_month_day(start, until, step, skip(d)),
                    "skip {d} every {step} from {start}"
                );
            }
        }
    }
}

#[test]
fn intervals_2_and_3_from_month_ends() {
    let every_2_on_31 = build(
        Recurrence::monthly(every(2), day(31)),
        date(2026, 1, 31),
        date(2027, 1, 31),
        Overflow::Clamp,
    );
    let expected = [
        "2026-01-31",
        "2026-03-31",
        "2026-05-31",
        "2026-07-31",
        "2026-09-30",
        "2026-11-30",
        "2027-01-31",
    ];
    assert_eq!(dates(&every_2_on_31), expected.map(parse));

    // 2028 is a leap year.
    let every_3_on_30 = build(
        Recurrence::monthly(every(3), day(30)),
        date(2026, 11, 30),
        date(2028, 2, 29),
        Overflow::Clamp,
    );
    let expected = [
        "2026-11-30",
        "2027-02-28",
        "2027-05-30",
        "2027-08-30",
        "2027-11-30",
        "2028-02-29",
    ];
    assert_eq!(dates(&every_3_on_30), expected.map(parse));

    // Under Skip the April slots lack the 31st.
    let every_3_on_31_skip = build(
        Recurrence::monthly(every(3), day(31)),
        date(2026, 1, 31),
        date(2027, 12, 31),
        Overflow::Skip,
    );
    let expected = [
        "2026-01-31",
        "2026-07-31",
        "2026-10-31",
        "2027-01-31",
        "2027-07-31",
        "2027-10-31",
    ];
    assert_eq!(dates(&every_3_on_31_skip), expected.map(parse));

    let every_2_last_day = build(
        Recurrence::monthly(every(2), MonthDay::LastDay),
        date(2026, 2, 28),
        date(2027, 4, 30),
        Overflow::Clamp,
    );
    let expected = [
        "2026-02-28",
        "2026-04-30",
        "2026-06-30",
        "2026-08-31",
        "2026-10-31",
        "2026-12-31",
        "2027-02-28",
        "2027-04-30",
    ];
    assert_eq!(dates(&every_2_last_day), expected.map(parse));
}

#[test]
fn last_day_of_month() {
    let from = date(1900, 1, 1);
    let to = date(2199, 12, 31);
    for step in [1, 2, 3, 5] {
        for overflow in [Overflow::Clamp, Overflow::Skip] {
            let schedule = build(
                Recurrence::monthly(every(step as u32), MonthDay::LastDay),
                from,
                to,
                overflow,
            );
            let got = dates(&schedule);
            assert_eq!(
                got,
                brute_month_day(from, to, step, last_day),
                "every {step} months, {overflow:?}"
            );
            if step == 1 {
                for (year, last) in [(1900, 28), (2000, 29), (2100, 28)] {
                    assert!(got.contains(&date(year, 2, last)), "{year}");
                }
            }
        }
    }
}

#[test]
fn no_drift_after_a_short_month() {
    let schedule = build(
        Recurrence::monthly(Interval::ONE, day(31)),
        date(2026, 1, 31),
        date(2199, 12, 31),
        Overflow::Clamp,
    );
    let nth = |n: usize| schedule.occurrences().nth(n).unwrap();
    // The 13th occurrence is Jan 31 next year, not a 28th carried over from February.
    assert_eq!((nth(12).seq(), nth(12).date()), (12, date(2027, 1, 31)));
    assert_eq!(nth(13).date(), date(2027, 2, 28));
    assert_eq!(nth(14).date(), date(2027, 3, 31));
    assert_eq!(nth(24).date(), date(2028, 1, 31));
    assert_eq!(nth(25).date(), date(2028, 2, 29));
    // 2100 is not a leap year: Feb 28, then back to Mar 31.
    let feb_2100 = (2100 - 2026) * 12 + 1;
    assert_eq!(nth(feb_2100).date(), date(2100, 2, 28));
    assert_eq!(nth(feb_2100 + 1).date(), date(2100, 3, 31));
    // Seeking gives the same positions.
    let after = Utc.with_ymd_and_hms(2027, 1, 15, 0, 0, 0).unwrap();
    let next = schedule.occurrences_after(after).next().unwrap();
    assert_eq!((next.seq(), next.date()), (12, date(2027, 1, 31)));
    let after = Utc.with_ymd_and_hms(2100, 3, 1, 0, 0, 0).unwrap();
    let next = schedule.occurrences_after(after).next().unwrap();
    assert_eq!(
        (next.seq(), next.date()),
        (feb_2100 as u64 + 1, date(2100, 3, 31))
    );
}

// --- Weekdays of the month -----------------------------------------------------------------

#[test]
fn last_friday_of_2026() {
    let schedule = build(
        Recurrence::monthly(
            Interval::ONE,
            MonthDay::Weekday {
                ordinal: Ordinal::Last,
                weekday: Weekday::Fri,
            },
        ),
        date(2026, 1, 1),
        date(2026, 12, 31),
        Overflow::Clamp,
    );
    let expected = [
        "2026-01-30",
        "2026-02-27",
        "2026-03-27",
        "2026-04-24",
        "2026-05-29",
        "2026-06-26",
        "2026-07-31",
        "2026-08-28",
        "2026-09-25",
        "2026-10-30",
        "2026-11-27",
        "2026-12-25",
    ];
    assert_eq!(dates(&schedule), expected.map(parse));
}

#[test]
fn nth_and_last_weekday_against_brute_force() {
    let weekdays = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ];
    let from = date(1999, 1, 1);
    let to = date(2001, 12, 31);
    let later = (date(2024, 1, 15), date(2028, 12, 31));
    for (start, until) in [(from, to), later] {
        for weekday in weekdays {
            for n in [1, 2, 3, 4, -1] {
                let on = MonthDay::Weekday {
                    ordinal: Ordinal::from_number(n).unwrap(),
                    weekday,
                };
                for step in [1, 2] {
                    let schedule = build(
                        Recurrence::monthly(every(step as u32), on),
                        start,
                        until,
                        Overflow::Clamp,
                    );
                    assert_eq!(
                        dates(&schedule),
                        brute_month_day(start, until, step, nth_weekday(n, weekday)),
                        "{n} {weekday} every {step} months from {start}"
                    );
                }
                // Yearly in November (Thanksgiving-like rules).
                let yearly = build(
                    Recurrence::yearly(Interval::ONE, Month::November, on),
                    start,
                    until,
                    Overflow::Clamp,
                );
                let expected: Vec<NaiveDate> = (start.year()..=until.year())
                    .filter_map(|y| nth_weekday(n, weekday)(&month_days(y, 11)))
                    .filter(|d| *d >= start && *d <= until)
                    .collect();
                assert_eq!(dates(&yearly), expected, "yearly {n} {weekday} of november");
            }
        }
    }
}

// --- Leap days -------------------------------------------------------------------------------

fn yearly_feb_29() -> Recurrence {
    Recurrence::yearly(Interval::ONE, Month::February, day(29))
}

#[test]
fn yearly_on_february_29() {
    let clamped = build(
        yearly_feb_29(),
        date(2096, 2, 29),
        date(2108, 12, 31),
        Overflow::Clamp,
    );
    let expected = [
        "2096-02-29",
        "2097-02-28",
        "2098-02-28",
        "2099-02-28",
        "2100-02-28",
        "2101-02-28",
        "2102-02-28",
        "2103-02-28",
        "2104-02-29",
        "2105-02-28",
        "2106-02-28",
        "2107-02-28",
        "2108-02-29",
    ];
    assert_eq!(dates(&clamped), expected.map(parse));

    let skipped = build(
        yearly_feb_29(),
        date(2096, 2, 29),
        date(2108, 12, 31),
        Overflow::Skip,
    );
    assert_eq!(
        dates(&skipped),
        ["2096-02-29", "2104-02-29", "2108-02-29"].map(parse)
    );

    // From the first supported day: 1900 is common, so Skip starts in 1904.
    let clamped = build(
        yearly_feb_29(),
        date(1900, 1, 1),
        date(1904, 12, 31),
        Overflow::Clamp,
    );
    let expected = [
        "1900-02-28",
        "1901-02-28",
        "1902-02-28",
        "1903-02-28",
        "1904-02-29",
    ];
    assert_eq!(dates(&clamped), expected.map(parse));
    let skipped = build(
        yearly_feb_29(),
        date(1900, 1, 1),
        date(2008, 12, 31),
        Overflow::Skip,
    );
    let got = dates(&skipped);
    assert_eq!(got.first(), Some(&date(1904, 2, 29)));
    assert!(got.contains(&date(2000, 2, 29)));
}

#[test]
fn yearly_on_february_29_against_brute_force() {
    let from = date(1900, 1, 1);
    let to = date(2199, 12, 31);
    for step in [1, 3, 4] {
        let recurrence = Recurrence::yearly(every(step as u32), Month::February, day(29));
        // The rule's month is February whatever the start's month: brute force from Feb 1900.
        let first = date(1900, 2, 1);
        assert_eq!(
            dates(&build(recurrence, from, to, Overflow::Clamp)),
            brute_month_day(first, to, 12 * step, clamp(29)),
            "clamp every {step} years"
        );
        assert_eq!(
            dates(&build(recurrence, from, to, Overflow::Skip)),
            brute_month_day(first, to, 12 * step, skip(29)),
            "skip every {step} years"
        );
    }
}

#[test]
fn february_29_from_rrule_text() {
    // RFC 5545 meaning: BYMONTHDAY=29 in February occurs in leap years only; the clamp idiom
    // BYMONTHDAY=28,29;BYSETPOS=-1 takes the month's last of those days.
    let skip = Schedule::from_rrule(
        "DTSTART;TZID=UTC:20960229T090000\nRRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;UNTIL=21081231T235959Z",
    )
    .unwrap();
    assert_eq!(
        dates(&skip),
        ["2096-02-29", "2104-02-29", "2108-02-29"].map(parse)
    );
    let clamp = Schedule::from_rrule(
        "DTSTART;TZID=UTC:20960229T090000\nRRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=28,29;BYSETPOS=-1;COUNT=6",
    )
    .unwrap();
    assert_eq!(
        dates(&clamp),
        [
            "2096-02-29",
            "2097-02-28",
            "2098-02-28",
            "2099-02-28",
            "2100-02-28",
            "2101-02-28"
        ]
        .map(parse)
    );
}

// --- Working days --------------------------------------------------------------------------

fn moscow() -> Zone {
    Zone::get("Europe/Moscow").unwrap()
}

/// Russian public holidays of 2026 as the task lists them (Saturday and Sunday off).
fn russian_holidays_2026() -> BTreeSet<NaiveDate> {
    let mut holidays: BTreeSet<NaiveDate> = (1..=8).map(|d| date(2026, 1, d)).collect();
    holidays.extend([
        date(2026, 2, 23),
        date(2026, 3, 9),
        date(2026, 5, 1),
        date(2026, 5, 11),
        date(2026, 6, 12),
        date(2026, 11, 4),
        date(2026, 12, 31),
    ]);
    holidays
}

fn russian_calendar() -> WorkingCalendar {
    WorkingCalendar::new([Weekday::Sat, Weekday::Sun], russian_holidays_2026(), []).unwrap()
}

/// The brute-force working-day predicate, independent of [`WorkingCalendar`].
fn is_working(d: NaiveDate) -> bool {
    !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) && !russian_holidays_2026().contains(&d)
}

fn working_days(from: NaiveDate, to: NaiveDate) -> Vec<NaiveDate> {
    from.iter_days()
        .take_while(|d| *d <= to)
        .filter(|d| is_working(*d))
        .collect()
}

fn build_working(
    recurrence: Recurrence,
    start: NaiveDate,
    until: NaiveDate,
    adjustment: Adjustment,
) -> Schedule {
    Schedule::builder(
        recurrence,
        start.and_hms_opt(NINE.0, NINE.1, 0).unwrap(),
        moscow(),
    )
    .end(End::Until(until))
    .calendar(russian_calendar())
    .adjustment(adjustment)
    .build()
    .unwrap()
}

#[test]
fn the_calendar_agrees_with_the_brute_force_predicate() {
    let calendar = russian_calendar();
    for d in date(2025, 12, 1).iter_days().take(400) {
        assert_eq!(calendar.is_working_day(d), is_working(d), "{d}");
    }
}

#[test]
fn every_n_working_days() {
    let until = date(2026, 12, 31);
    // Starts on a holiday, on the first working day, on a weekend, mid-week.
    for start in [
        date(2026, 1, 1),
        date(2026, 1, 9),
        date(2026, 2, 21),
        date(2026, 6, 10),
    ] {
        for n in [1, 2, 3, 5, 10] {
            let schedule = build_working(
                Recurrence::WorkingDay { interval: every(n) },
                start,
                until,
                Adjustment::None,
            );
            let expected: Vec<NaiveDate> = working_days(start, until)
                .into_iter()
                .step_by(n as usize)
                .collect();
            assert_eq!(
                dates_in(&schedule, moscow()),
                expected,
                "every {n} working days from {start}"
            );
        }
    }
    // Typed: Jan 1-8 are holidays and Jan 9 2026 is a Friday; Jan 10-11 are the weekend.
    let schedule = build_working(
        Recurrence::WorkingDay { interval: every(2) },
        date(2026, 1, 1),
        date(2026, 1, 20),
        Adjustment::None,
    );
    assert_eq!(
        dates_in(&schedule, moscow()),
        ["2026-01-09", "2026-01-13", "2026-01-15", "2026-01-19"].map(parse)
    );
}

#[test]
fn nth_working_day_of_the_month() {
    let start = date(2026, 1, 1);
    let until = date(2026, 12, 31);
    for n in [1, 3, 10, 19, 20, 21, 22, 23] {
        let schedule = build_working(
            Recurrence::monthly(
                Interval::ONE,
                MonthDay::WorkingDay(WorkingDayNumber::new(n).unwrap()),
            ),
            start,
            until,
            Adjustment::None,
        );
        // A month with fewer than n working days takes its last one (documented).
        let expected: Vec<NaiveDate> = (1..=12)
            .map(|m| {
                let days = working_days(date(2026, m, 1), month_days(2026, m).pop().unwrap());
                days[(n as usize).min(days.len()) - 1]
            })
            .collect();
        assert_eq!(
            dates_in(&schedule, moscow()),
            expected,
            "working day {n} of the month"
        );
    }
    // Typed: January's working days begin Fri 9, Mon 12, Tue 13.
    let third = build_working(
        Recurrence::monthly(
            Interval::ONE,
            MonthDay::WorkingDay(WorkingDayNumber::new(3).unwrap()),
        ),
        start,
        date(2026, 1, 31),
        Adjustment::None,
    );
    assert_eq!(dates_in(&third, moscow()), [date(2026, 1, 13)]);
}

// --- Adjustments ---------------------------------------------------------------------------

fn adjust_brute(d: NaiveDate, adjustment: Adjustment) -> NaiveDate {
    let following = || d.iter_days().find(|x| is_working(*x)).unwrap();
    let preceding = || d.iter_days().rev().find(|x| is_working(*x)).unwrap();
    match adjustment {
        Adjustment::None => d,
        Adjustment::Following => following(),
        Adjustment::Preceding => preceding(),
        Adjustment::ModifiedFollowing => {
            let next = following();
            if next.month() == d.month() {
                next
            } else {
                preceding()
            }
        }
        other => panic!("the oracle does not know {other:?}"),
    }
}

#[test]
fn adjustments_of_monthly_on_the_31st() {
    let start = date(2026, 1, 31);
    let until = date(2027, 12, 31);
    for overflow in [Overflow::Clamp, Overflow::Skip] {
        let nominal = match overflow {
            Overflow::Clamp => brute_month_day(start, until, 1, clamp(31)),
            _ => brute_month_day(start, until, 1, skip(31)),
        };
        for adjustment in [
            Adjustment::None,
            Adjustment::Following,
            Adjustment::Preceding,
            Adjustment::ModifiedFollowing,
        ] {
            let schedule = Schedule::builder(
                Recurrence::monthly(Interval::ONE, day(31)),
                start.and_hms_opt(NINE.0, NINE.1, 0).unwrap(),
                moscow(),
            )
            .end(End::Until(until))
            .overflow(overflow)
            .calendar(russian_calendar())
            .adjustment(adjustment)
            .build()
            .unwrap();
            let expected: Vec<NaiveDate> = nominal
                .iter()
                .map(|d| adjust_brute(*d, adjustment))
                .filter(|d| *d <= until)
                .collect();
            assert_eq!(
                dates_in(&schedule, moscow()),
                expected,
                "{adjustment:?} {overflow:?}"
            );
        }
    }

    // Typed: Jan 31 2026 and Feb 28 2026 are Saturdays, May 31 2026 a Sunday, Dec 31 2026 a
    // (listed) holiday on a Thursday, Jan 1 2027 a Friday.
    let typed = [
        (
            Adjustment::Following,
            ["2026-02-02", "2026-03-02", "2026-06-01", "2027-01-01"],
        ),
        (
            Adjustment::Preceding,
            ["2026-01-30", "2026-02-27", "2026-05-29", "2026-12-30"],
        ),
        (
            Adjustment::ModifiedFollowing,
            ["2026-01-30", "2026-02-27", "2026-05-29", "2026-12-30"],
        ),
    ];
    let nominal_days = ["2026-01-31", "2026-02-28", "2026-05-31", "2026-12-31"].map(parse);
    for (adjustment, expected) in typed {
        let schedule = build_working(
            Recurrence::monthly(Interval::ONE, day(31)),
            start,
            until,
            adjustment,
        );
        let got = dates_in(&schedule, moscow());
        for (nominal, expected) in nominal_days.iter().zip(expected.map(parse)) {
            let index = nominal_index(*nominal);
            assert_eq!(got[index], expected, "{adjustment:?} of {nominal}");
        }
    }
}

/// Position of a 2026 month-end in the series started Jan 31 2026.
fn nominal_index(d: NaiveDate) -> usize {
    d.month0() as usize
}

#[test]
fn adjusted_occurrences_are_found_by_seek() {
    // A seek must find occurrences an adjustment moved into the next month, and ones moved
    // back before the sought instant must not reappear.
    for adjustment in [
        Adjustment::Following,
        Adjustment::Preceding,
        Adjustment::ModifiedFollowing,
    ] {
        let schedule = build_working(
            Recurrence::monthly(Interval::ONE, day(31)),
            date(2026, 1, 31),
            date(2027, 12, 31),
            adjustment,
        );
        let all: Vec<_> = schedule.occurrences().collect();
        for (i, o) in all.iter().enumerate() {
            let just_before: DateTime<Utc> = o.at() - chrono::Duration::seconds(1);
            let found: Vec<_> = schedule.occurrences_after(just_before).collect();
            assert_eq!(found, all[i..], "{adjustment:?} seek before {o:?}");
        }
    }
}
