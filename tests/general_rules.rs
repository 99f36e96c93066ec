//! General RFC 5545 rules (outside the structured vocabulary) cost what one period costs:
//! seeking far from DTSTART, checking exceptions, and finding out that a rule never occurs
//! (issue #10, kind 5).
//!
//! * A table computed with python-dateutil 2.9 (`rrulestr(text)`, `len(between(..., after,
//!   inc=True))` for the `seq`, `xafter(after, count=3)` for the instants), an implementation
//!   independent of the rrule crate this crate walks with.
//! * Properties: rules started from 1900 seek like the rrule crate walking from DTSTART (UTC),
//!   and in DST zones seeking gives what walking gives, with COUNT and UNTIL.

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::FileFailurePersistence;
use recurring_deals::{Schedule, ScheduleError};

fn utc(text: &str) -> DateTime<Utc> {
    NaiveDateTime::parse_from_str(text, "%Y%m%dT%H%M%S")
        .unwrap()
        .and_utc()
}

/// (rule, after, seq of the first occurrence after, the next three instants) from dateutil;
/// instants past 2199-12-31 are outside the supported years and not expected.
const DATEUTIL: [(&str, &str, u64, [&str; 3]); 7] = [
    (
        "DTSTART:19000101T000000\nRRULE:FREQ=DAILY;BYHOUR=0,12",
        "20261129T100000",
        92707,
        ["20261129T120000", "20261130T000000", "20261130T120000"],
    ),
    (
        "DTSTART:19000115T093000\nRRULE:FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
        "20261129T100000",
        1522,
        ["20261130T093000", "20261231T093000", "20270129T093000"],
    ),
    (
        "DTSTART:19000101T090000\nRRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO",
        "20261129T100000",
        5,
        ["20440229T090000", "20720229T090000", "21120229T090000"],
    ),
    (
        "DTSTART:19030704T080000\nRRULE:FREQ=WEEKLY;INTERVAL=3;BYDAY=TU,SA;BYMONTH=1,7;BYHOUR=8,20",
        "21500101T000000",
        2908,
        ["21500113T080000", "21500113T200000", "21500117T080000"],
    ),
    (
        "DTSTART:19000101T000000\nRRULE:FREQ=YEARLY;BYYEARDAY=-1,100;BYHOUR=6,18;BYSETPOS=2,-1",
        "21990601T000000",
        599,
        ["21991231T180000", "", ""],
    ),
    (
        "DTSTART:19101231T230000\nRRULE:FREQ=MONTHLY;INTERVAL=5;BYMONTHDAY=-1,15;BYHOUR=23;BYMINUTE=0,30",
        "20991231T233000",
        1814,
        ["21000215T230000", "21000215T233000", "21000228T230000"],
    ),
    (
        "DTSTART:19000101T120000\nRRULE:FREQ=YEARLY;BYDAY=20MO,-1SU",
        "21000301T000000",
        400,
        ["21000517T120000", "21001226T120000", "21010516T120000"],
    ),
];

#[test]
fn seeks_far_from_dtstart_match_dateutil() {
    for (text, after, seq, next) in DATEUTIL {
        let schedule = Schedule::from_rrule(text).unwrap();
        let expected: Vec<DateTime<Utc>> = next
            .iter()
            .filter(|t| !t.is_empty())
            .map(|t| utc(t))
            .collect();
        let got: Vec<_> = schedule.occurrences_after(utc(after)).take(3).collect();
        let instants: Vec<_> = got.iter().map(|o| o.at()).collect();
        assert_eq!(instants, expected, "{text}");
        let seqs: Vec<u64> = got.iter().map(|o| o.seq()).collect();
        let expected_seqs: Vec<u64> = (seq..).take(expected.len()).collect();
        assert_eq!(seqs, expected_seqs, "{text}");
    }
}

/// Rules that never occur are refused at once, as never occurring (not after the rrule crate
/// looked through 100,000 empty periods).
#[test]
fn rules_that_never_occur_are_refused() {
    for rule in [
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
        "FREQ=MONTHLY;BYMONTHDAY=31;BYMONTH=4,6,9,11",
        "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=-30",
        "FREQ=YEARLY;BYMONTH=4;BYDAY=5MO,5TU;BYMONTHDAY=1,2,3",
        "FREQ=WEEKLY;BYMONTH=6;BYDAY=MO;BYSETPOS=2",
        "FREQ=YEARLY;BYYEARDAY=366;BYMONTH=1",
    ] {
        let text = format!("DTSTART:19000101T090000\nRRULE:{rule}");
        let started = std::time::Instant::now();
        assert_eq!(
            Schedule::from_rrule(&text).unwrap_err(),
            ScheduleError::NoOccurrence,
            "{rule}"
        );
        // Generous for a debug build on a shared machine; the bench measures the real cost.
        assert!(
            started.elapsed().as_millis() < 500,
            "{rule}: {:?}",
            started.elapsed()
        );
    }
    // A rule that occurs, but only past 2199, does not occur in the supported years either.
    assert_eq!(
        Schedule::from_rrule("DTSTART:21990301T090000\nRRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29")
            .unwrap_err(),
        ScheduleError::NoOccurrence
    );
}

/// 100 EXDATEs in 2199 on a rule started in 1900: each is checked by a seek, not a walk.
#[test]
fn exdates_far_from_dtstart() {
    let mut text = String::from("DTSTART:19000101T000000\nRRULE:FREQ=DAILY;BYHOUR=0,12\n");
    for day in 0..100 {
        let date = chrono::NaiveDate::from_ymd_opt(2199, 1, 1).unwrap() + chrono::Days::new(day);
        text.push_str(&format!("EXDATE:{}T120000\n", date.format("%Y%m%d")));
    }
    let schedule = Schedule::from_rrule(&text).unwrap();
    assert_eq!(schedule.skipped().count(), 100);
    let after = utc("21981231T235959");
    let next: Vec<_> = schedule.occurrences_after(after).take(3).collect();
    // 2199-01-01 00:00 (seq 218,190 = 2 × 109,095 days since 1900-01-01), then the noon
    // occurrences are skipped: their seq stays unused.
    let days = (chrono::NaiveDate::from_ymd_opt(2199, 1, 1).unwrap()
        - chrono::NaiveDate::from_ymd_opt(1900, 1, 1).unwrap())
    .num_days() as u64;
    let seqs: Vec<u64> = next.iter().map(|o| o.seq()).collect();
    assert_eq!(seqs, [2 * days, 2 * days + 2, 2 * days + 4]);
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

/// General rules of every shape the period arithmetic covers.
fn rule() -> impl Strategy<Value = String> {
    let rules = vec![
        "FREQ=DAILY;BYHOUR=0,12",
        "FREQ=DAILY;BYMONTH=2,3;BYMONTHDAY=1,-1;BYHOUR=9,21;BYSETPOS=-1",
        "FREQ=DAILY;BYDAY=MO,FR;BYHOUR=1,2,3",
        "FREQ=WEEKLY;BYDAY=MO,WE;BYHOUR=2,14",
        "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=1,-1",
        "FREQ=WEEKLY;BYMONTH=1,12;BYDAY=SA,SU;WKST=SU",
        "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
        "FREQ=MONTHLY;BYMONTHDAY=1,15,-1;BYHOUR=2,3",
        "FREQ=MONTHLY;BYDAY=2SU,-1FR",
        "FREQ=MONTHLY;BYMONTHDAY=29,30,31;BYSETPOS=1",
        "FREQ=YEARLY;BYMONTH=3,10;BYDAY=-1SU;BYHOUR=1,2,3",
        "FREQ=YEARLY;BYYEARDAY=1,100,-1;BYSETPOS=-2",
        "FREQ=YEARLY;BYDAY=1MO,-1SU",
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",
        "FREQ=YEARLY;BYMONTH=6;BYDAY=MO,TU;BYSETPOS=3,-3",
    ];
    (select(rules), 1..=5u32, 0..3u8, 1..300u32).prop_map(|(rule, interval, end, n)| {
        let end = match end {
            0 => String::new(),
            1 => format!(";COUNT={n}"),
            _ => format!(";UNTIL={}0101T000000Z", 1961 + n % 239),
        };
        format!("{rule};INTERVAL={interval}{end}")
    })
}

fn start(years: std::ops::RangeInclusive<i32>) -> impl Strategy<Value = NaiveDateTime> {
    (years, 1..=365u32, 0..24u32, select(vec![0u32, 30])).prop_map(|(y, d, h, m)| {
        chrono::NaiveDate::from_yo_opt(y, d)
            .unwrap()
            .and_hms_opt(h, m, 0)
            .unwrap()
    })
}

proptest! {
    #![proptest_config(config(2000))]

    /// In UTC, seeking anywhere gives the rrule crate's walk from DTSTART: the same instants
    /// and the `seq` they have in the whole series.
    #[test]
    fn seeks_from_1900_match_the_rrule_walk(
        rule in rule(),
        start in start(1900..=1960),
        at in 0..300 * 366 * 86_400i64,
    ) {
        // rrule (like dateutil) builds a weekly BYSETPOS rule's first week from DTSTART, not
        // from the week's start as RFC 5545 says: compare where both readings agree.
        let start = if rule.starts_with("FREQ=WEEKLY") && rule.contains("BYSETPOS") {
            start - chrono::Days::new(u64::from(chrono::Datelike::weekday(&start).num_days_from_monday()))
        } else {
            start
        };
        let text = format!("DTSTART:{}Z\nRRULE:{rule}", start.format("%Y%m%dT%H%M%S"));
        let schedule = match Schedule::from_rrule(&text) {
            Ok(s) => s,
            Err(ScheduleError::NoOccurrence | ScheduleError::UntilBeforeStart { .. }) => {
                return Ok(());
            }
            Err(e) => return Err(TestCaseError::fail(format!("{text}: {e}"))),
        };
        let after = start.and_utc() + TimeDelta::seconds(at);
        let set: rrule::RRuleSet = text.parse().unwrap();
        let horizon = utc("21991231T235959");
        let mut expected = Vec::new();
        for (seq, d) in set.into_iter().enumerate() {
            let d = d.with_timezone(&Utc);
            if d > horizon || expected.len() == 5 {
                break;
            }
            if d > after {
                expected.push((seq as u64, d));
            }
        }
        let got: Vec<(u64, DateTime<Utc>)> = schedule
            .occurrences_after(after)
            .take(5)
            .map(|o| (o.seq(), o.at()))
            .collect();
        prop_assert_eq!(got, expected, "{}\nafter {}", text, after);
    }
}

proptest! {
    #![proptest_config(config(1000))]

    /// In zones with DST (gaps, overlaps, Apia's skipped day), seeking gives what walking from
    /// the start gives.
    #[test]
    fn seeks_match_the_walk_across_dst(
        rule in rule(),
        zone in select(vec!["America/New_York", "Europe/Berlin", "Australia/Sydney",
            "America/Santiago", "Pacific/Apia", "Australia/Lord_Howe"]),
        start in start(1990..=2040),
        at in 0..40 * 366 * 86_400i64,
    ) {
        let text = format!("DTSTART;TZID={zone}:{}\nRRULE:{rule}", start.format("%Y%m%dT%H%M%S"));
        let Ok(schedule) = Schedule::from_rrule(&text) else {
            return Ok(());
        };
        let after = start.and_utc() + TimeDelta::seconds(at);
        let walked: Vec<(u64, DateTime<Utc>)> = schedule
            .occurrences()
            .skip_while(|o| o.at() <= after)
            .take(5)
            .map(|o| (o.seq(), o.at()))
            .collect();
        let sought: Vec<(u64, DateTime<Utc>)> = schedule
            .occurrences_after(after)
            .take(5)
            .map(|o| (o.seq(), o.at()))
            .collect();
        prop_assert_eq!(sought, walked, "{}\nafter {}", text, after);
    }
}
