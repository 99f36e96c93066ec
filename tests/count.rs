//! `End::Count(n)` counts the rule's existing instants (RFC 5545 §3.3.10: instances that do
//! not exist "MUST be ignored and MUST NOT be counted"): a civil day the zone skipped and an
//! occurrence an adjustment drops onto an earlier one's day do not use up the count; an
//! occurrence removed by an exception does (the count bounds the rule, exceptions apply after).
//!
//! Expected instants were computed with Python's `zoneinfo` (tzdata 2025), walking the civil
//! days and keeping those whose local time exists:
//!
//! ```python
//! A = ZoneInfo("Pacific/Apia"); day = datetime(2011, 12, 27, 8, 0); out = []
//! while len(out) < 5:
//!     back = day.replace(tzinfo=A).astimezone(timezone.utc).astimezone(A)
//!     if back.replace(tzinfo=None) == day: out.append(back.isoformat())
//!     day += timedelta(days=1)
//! ```

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc, Weekday};
use recurring_deals::Zone;
use recurring_deals::{Adjustment, End, Interval, Recurrence, Schedule, WeekdaySet};

fn instants(schedule: &Schedule) -> Vec<String> {
    schedule
        .occurrences()
        .map(|o| o.at().with_timezone(&schedule.zone()).to_rfc3339())
        .collect()
}

/// Apia's five daily occurrences from 2011-12-27, as zoneinfo lists them.
const APIA_FIVE: [&str; 5] = [
    "2011-12-27T08:00:00-10:00",
    "2011-12-28T08:00:00-10:00",
    "2011-12-29T08:00:00-10:00",
    "2011-12-31T08:00:00+14:00",
    "2012-01-01T08:00:00+14:00",
];

#[test]
fn a_skipped_civil_day_does_not_use_up_the_count_in_rrule_text() {
    let schedule =
        Schedule::from_rrule("DTSTART;TZID=Pacific/Apia:20111227T080000\nRRULE:FREQ=DAILY;COUNT=5")
            .unwrap();
    assert_eq!(instants(&schedule), APIA_FIVE);
    // The day the zone skipped keeps its `seq` unused.
    let seqs: Vec<u64> = schedule.occurrences().map(|o| o.seq()).collect();
    assert_eq!(seqs, [0, 1, 2, 4, 5]);
}

#[test]
fn a_skipped_civil_day_does_not_use_up_the_count_in_the_builder() {
    let start = NaiveDate::from_ymd_opt(2011, 12, 27)
        .unwrap()
        .and_hms_opt(8, 0, 0)
        .unwrap();
    let schedule = Schedule::builder(
        Recurrence::daily(Interval::ONE),
        start,
        Zone::get("Pacific/Apia").unwrap(),
    )
    .end(End::Count(5))
    .build()
    .unwrap();
    assert_eq!(instants(&schedule), APIA_FIVE);
    // Seeking past the skipped day keeps the count: the fourth and fifth, then nothing.
    let after = Utc.with_ymd_and_hms(2011, 12, 29, 0, 0, 0).unwrap();
    let sought: Vec<String> = schedule
        .occurrences_after(after)
        .map(|o| o.at().with_timezone(&schedule.zone()).to_rfc3339())
        .collect();
    assert_eq!(sought, APIA_FIVE[2..]);
}

#[test]
fn a_general_rule_does_not_count_the_skipped_day() {
    // BYMONTH under DAILY takes the general (rrule crate) walk.
    let schedule = Schedule::from_rrule(
        "DTSTART;TZID=Pacific/Apia:20111227T080000\nRRULE:FREQ=DAILY;BYMONTH=12,1;COUNT=5",
    )
    .unwrap();
    assert!(schedule.recurrence().is_none());
    assert_eq!(instants(&schedule), APIA_FIVE);
}

#[test]
fn a_general_rule_does_not_count_a_gap_time_that_lands_on_another() {
    // New York 2026-03-08: 02:30 does not exist and moves to 03:30, which the rule also
    // names; one instant, counted once. zoneinfo: 2026-03-08T03:30-04:00 is 07:30Z.
    let schedule = Schedule::from_rrule(
        "DTSTART;TZID=America/New_York:20260308T023000\n\
         RRULE:FREQ=DAILY;BYHOUR=2,3;BYMINUTE=30;COUNT=3",
    )
    .unwrap();
    assert_eq!(
        instants(&schedule),
        [
            "2026-03-08T03:30:00-04:00",
            "2026-03-09T02:30:00-04:00",
            "2026-03-09T03:30:00-04:00",
        ]
    );
}

#[test]
fn an_adjustment_that_drops_a_duplicate_day_does_not_use_up_the_count() {
    // Daily from Friday 2026-01-02 with the following working day: Sat and Sun land on
    // Monday 01-05, where Monday's own occurrence already is; both are dropped. Five
    // occurrences are five distinct working days.
    let start = NaiveDate::from_ymd_opt(2026, 1, 2)
        .unwrap()
        .and_hms_opt(9, 0, 0)
        .unwrap();
    assert_eq!(start.date().weekday(), Weekday::Fri);
    let schedule = Schedule::builder(Recurrence::daily(Interval::ONE), start, Zone::UTC)
        .adjustment(Adjustment::Following)
        .end(End::Count(5))
        .build()
        .unwrap();
    let dates: Vec<String> = schedule
        .occurrences()
        .map(|o| o.date().to_string())
        .collect();
    assert_eq!(
        dates,
        [
            "2026-01-02",
            "2026-01-05",
            "2026-01-06",
            "2026-01-07",
            "2026-01-08"
        ]
    );
    let seqs: Vec<u64> = schedule.occurrences().map(|o| o.seq()).collect();
    assert_eq!(seqs, [0, 1, 4, 5, 6]);
    // Seek agrees with the walk at every point.
    for o in schedule.occurrences() {
        let before = o.at() - chrono::TimeDelta::seconds(1);
        assert_eq!(schedule.occurrences_after(before).next(), Some(o));
        assert_eq!(
            schedule.occurrences_after(o.at()).count(),
            schedule.occurrences().filter(|p| p.at() > o.at()).count()
        );
    }
}

#[test]
fn an_excluded_occurrence_still_counts() {
    // RFC 5545: COUNT bounds the rule; EXDATE then removes from the set.
    let schedule = Schedule::from_rrule(
        "DTSTART;TZID=Pacific/Apia:20111227T080000\nRRULE:FREQ=DAILY;COUNT=5\n\
         EXDATE;TZID=Pacific/Apia:20111228T080000",
    )
    .unwrap();
    let expected: Vec<&str> = APIA_FIVE
        .iter()
        .copied()
        .filter(|t| !t.starts_with("2011-12-28"))
        .collect();
    assert_eq!(instants(&schedule), expected);
}

#[test]
fn count_round_trips_through_text_and_json() {
    let schedule =
        Schedule::from_rrule("DTSTART;TZID=Pacific/Apia:20111227T080000\nRRULE:FREQ=DAILY;COUNT=5")
            .unwrap();
    let back = Schedule::from_rrule(&schedule.to_rrule()).unwrap();
    assert_eq!(back, schedule);
    let json = serde_json::to_string(&schedule).unwrap();
    let back: Schedule = serde_json::from_str(&json).unwrap();
    assert_eq!(back, schedule);
    let _: DateTime<Utc> = back.occurrences().last().unwrap().at();
}

#[test]
fn weekly_in_apia_counts_only_existing_days() {
    // Fridays from 2011-12-23: 2011-12-30 (a Friday) does not exist in Apia.
    let start = NaiveDate::from_ymd_opt(2011, 12, 23)
        .unwrap()
        .and_hms_opt(12, 0, 0)
        .unwrap();
    let schedule = Schedule::builder(
        Recurrence::weekly(Interval::ONE, WeekdaySet::single(Weekday::Fri)),
        start,
        Zone::get("Pacific/Apia").unwrap(),
    )
    .end(End::Count(3))
    .build()
    .unwrap();
    let dates: Vec<String> = schedule
        .occurrences()
        .map(|o| o.date().to_string())
        .collect();
    assert_eq!(dates, ["2011-12-23", "2012-01-06", "2012-01-13"]);
}
