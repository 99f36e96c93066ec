//! Exceptions given as instants stay instants (issue #10, kind 1).
//!
//! An `EXDATE`/`RDATE` in UTC (`...Z`) or with another zone's `TZID` names an instant; one
//! floating or with the schedule's `TZID` names a local time, by the occurrence's nominal time
//! (before DST is applied), or, when no occurrence has that nominal time, the one whose actual
//! wall-clock time it is (issue #20, kind 1). An EXDATE removes RDATE instances as well as rule
//! occurrences (RFC 5545 §3.8.5.1). Both forms round-trip through RFC 5545 text and JSON.
//!
//! Expected instants come from Python's `zoneinfo` (tzdata 2025), e.g.
//! `datetime(2026, 10, 25, 1, 30, tzinfo=timezone.utc).astimezone(ZoneInfo("Europe/Berlin"))`
//! is `2026-10-25T02:30:00+01:00`; the Berlin occurrence of 02:30 on 2026-03-29 (a gap) is
//! `2026-03-29T03:30:00+02:00` = 01:30Z, and `2026-03-28T21:30:00-04:00` in New York.

use chrono::{NaiveDate, TimeZone, Utc};
use recurring_deals::Zone;
use recurring_deals::{End, Interval, Recurrence, Schedule, ScheduleError};

fn instants(schedule: &Schedule) -> Vec<String> {
    schedule
        .occurrences()
        .map(|o| o.at().with_timezone(&schedule.zone()).to_rfc3339())
        .collect()
}

fn round_trips(schedule: &Schedule) {
    let text = schedule.to_rrule();
    let back = Schedule::from_rrule(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    // Text keeps the exceptions exactly (a builder's month-day overflow policy is not
    // RFC 5545's, so the whole value is compared through JSON only).
    assert!(back.skipped().eq(schedule.skipped()), "{text}");
    assert!(
        back.skipped_instants().eq(schedule.skipped_instants()),
        "{text}"
    );
    assert!(back.extra().eq(schedule.extra()), "{text}");
    assert!(
        back.extra_instants().eq(schedule.extra_instants()),
        "{text}"
    );
    assert_eq!(back.to_rrule(), text);
    assert_eq!(instants(&back), instants(schedule));
    let json = serde_json::to_string(schedule).unwrap();
    let back: Schedule = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}\n{json}"));
    assert_eq!(&back, schedule, "{json}");
}

#[test]
fn a_utc_exdate_excludes_the_occurrence_moved_out_of_a_gap() {
    let schedule = Schedule::from_rrule(
        "DTSTART;TZID=Europe/Berlin:20260329T023000\nRRULE:FREQ=DAILY;COUNT=2\n\
         EXDATE:20260329T013000Z",
    )
    .unwrap();
    assert_eq!(instants(&schedule), ["2026-03-30T02:30:00+02:00"]);
    let at = Utc.with_ymd_and_hms(2026, 3, 29, 1, 30, 0).unwrap();
    assert_eq!(schedule.skipped_instants().collect::<Vec<_>>(), [at]);
    assert!(schedule.to_rrule().contains("\nEXDATE:20260329T013000Z"));
    round_trips(&schedule);
}

#[test]
fn a_utc_exdate_at_the_wall_clock_of_a_moved_occurrence_excludes_nothing() {
    // 03:30 Berlin summer time read as an instant is 01:30Z, not 02:30Z: an EXDATE at 02:30Z
    // (04:30+02:00) names no occurrence and is dropped.
    let schedule = Schedule::from_rrule(
        "DTSTART;TZID=Europe/Berlin:20260329T023000\nRRULE:FREQ=DAILY;COUNT=2\n\
         EXDATE:20260329T023000Z",
    )
    .unwrap();
    assert_eq!(
        instants(&schedule),
        ["2026-03-29T03:30:00+02:00", "2026-03-30T02:30:00+02:00"]
    );
    assert_eq!(schedule.skipped_instants().count(), 0);
}

#[test]
fn a_local_exdate_names_the_nominal_time() {
    // Documented choice: a local EXDATE names the occurrence by the time the rule gives it,
    // 02:30, although it happens at 03:30.
    let schedule = Schedule::from_rrule(
        "DTSTART;TZID=Europe/Berlin:20260329T023000\nRRULE:FREQ=DAILY;COUNT=2\n\
         EXDATE;TZID=Europe/Berlin:20260329T023000",
    )
    .unwrap();
    assert_eq!(instants(&schedule), ["2026-03-30T02:30:00+02:00"]);
}

/// Issue #20, kind 1: a local EXDATE that names no occurrence by its nominal time names the
/// one whose actual wall-clock time it is (what a user copies from the list shown), and is
/// kept as that instant, so the round trip says the same. A wall-clock time in the gap
/// itself (02:45) exists on no clock and names nothing.
#[test]
fn a_local_exdate_at_the_actual_wall_clock_names_the_occurrence() {
    for (text, zone) in [
        (
            "DTSTART;TZID=America/New_York:20260307T023000\nRRULE:FREQ=DAILY;COUNT=3\n\
             EXDATE;TZID=America/New_York:20260308T033000",
            "America/New_York",
        ),
        (
            "DTSTART;TZID=Europe/Berlin:20260329T023000\nRRULE:FREQ=DAILY;COUNT=2\n\
             EXDATE;TZID=Europe/Berlin:20260329T033000",
            "Europe/Berlin",
        ),
    ] {
        let schedule = Schedule::from_rrule(text).unwrap();
        let seqs: Vec<u64> = schedule.occurrences().map(|o| o.seq()).collect();
        if zone == "America/New_York" {
            // 2026-03-08 02:30 EST does not exist: the occurrence is at 03:30 EDT = 07:30Z.
            assert_eq!(
                instants(&schedule),
                ["2026-03-07T02:30:00-05:00", "2026-03-09T02:30:00-04:00"]
            );
            assert_eq!(seqs, [0, 2]);
            let at = Utc.with_ymd_and_hms(2026, 3, 8, 7, 30, 0).unwrap();
            assert_eq!(schedule.skipped_instants().collect::<Vec<_>>(), [at]);
        } else {
            assert_eq!(instants(&schedule), ["2026-03-30T02:30:00+02:00"]);
        }
        assert_eq!(schedule.skipped().count(), 0, "{zone}");
        round_trips(&schedule);
    }
    let schedule = Schedule::from_rrule(
        "DTSTART;TZID=America/New_York:20260307T023000\nRRULE:FREQ=DAILY;COUNT=3\n\
         EXDATE;TZID=America/New_York:20260308T024500",
    )
    .unwrap();
    assert_eq!(instants(&schedule).len(), 3);
}

/// Issue #20, kind 1 (RFC 5545 §3.8.5.1, §3.8.5.3): the set is the RRULE and RDATE
/// instances less those EXDATE names, so an EXDATE removes an RDATE instance too, in every
/// pairing of the local and the instant forms.
#[test]
fn an_exdate_removes_an_rdate_instance() {
    let jan5 = ["2026-01-05T09:00:00+00:00"];
    let schedule = Schedule::from_rrule(
        "DTSTART:20260105T090000Z\nRRULE:FREQ=DAILY;COUNT=1\n\
         RDATE:20260107T090000Z\nEXDATE:20260107T090000Z",
    )
    .unwrap();
    assert_eq!(instants(&schedule), jan5);
    assert_eq!(schedule.extra_instants().count(), 0);
    assert_eq!(schedule.skipped_instants().count(), 0);
    round_trips(&schedule);
    // Berlin, 09:00 CET = 08:00Z, each RDATE form against each EXDATE form.
    let berlin = ["2026-01-05T09:00:00+01:00"];
    let rdates = [
        "RDATE;TZID=Europe/Berlin:20260107T090000",
        "RDATE:20260107T080000Z",
        "RDATE;TZID=America/New_York:20260107T030000",
    ];
    let exdates = [
        "EXDATE;TZID=Europe/Berlin:20260107T090000",
        "EXDATE:20260107T080000Z",
        "EXDATE;TZID=Asia/Tokyo:20260107T170000",
    ];
    for rdate in rdates {
        for exdate in exdates {
            let text = format!(
                "DTSTART;TZID=Europe/Berlin:20260105T090000\nRRULE:FREQ=DAILY;COUNT=1\n{rdate}\n{exdate}"
            );
            let schedule = Schedule::from_rrule(&text).unwrap();
            assert_eq!(instants(&schedule), berlin, "{text}");
            round_trips(&schedule);
        }
    }
    // An EXDATE naming a rule occurrence and an RDATE at the same instant removes both.
    let schedule = Schedule::from_rrule(
        "DTSTART:20260105T090000Z\nRRULE:FREQ=DAILY;COUNT=3\n\
         RDATE:20260106T090000Z\nEXDATE:20260106T090000Z",
    )
    .unwrap();
    assert_eq!(
        instants(&schedule),
        ["2026-01-05T09:00:00+00:00", "2026-01-07T09:00:00+00:00"]
    );
    round_trips(&schedule);
    // The builder reads an exception the same way: a skip on an extra date's instant.
    let start = NaiveDate::from_ymd_opt(2026, 1, 5)
        .unwrap()
        .and_hms_opt(9, 0, 0)
        .unwrap();
    let schedule = Schedule::builder(Recurrence::daily(Interval::ONE), start, Zone::UTC)
        .end(End::Count(1))
        .extra_instant(Utc.with_ymd_and_hms(2026, 1, 7, 9, 0, 0).unwrap())
        .skip_instant(Utc.with_ymd_and_hms(2026, 1, 7, 9, 0, 0).unwrap())
        .build()
        .unwrap();
    assert_eq!(instants(&schedule), jan5);
}

/// A one-off past its end that keeps only an extra date at its own instant is written as
/// DTSTART alone: an EXDATE on the one-off would remove the RDATE too.
#[test]
fn a_one_off_past_its_end_with_an_extra_date_at_its_instant_round_trips() {
    let json = r#"{"rule":{"every":"once","date":"1950-01-01"},"start":"1950-01-01T00:30:00","zone":"UTC","end":{"until_instant":"1950-01-01T00:00:00Z"},"extra_instants":["1950-01-01T00:30:00Z"]}"#;
    let schedule: Schedule = serde_json::from_str(json).unwrap();
    assert_eq!(instants(&schedule), ["1950-01-01T00:30:00+00:00"]);
    let text = schedule.to_rrule();
    assert!(
        !text.contains("EXDATE") && !text.contains("RDATE"),
        "{text}"
    );
    let back = Schedule::from_rrule(&text).unwrap();
    assert_eq!(instants(&back), instants(&schedule));
}

#[test]
fn an_exdate_in_another_zone_is_an_instant() {
    let schedule = Schedule::from_rrule(
        "DTSTART;TZID=Europe/Berlin:20260328T023000\nRRULE:FREQ=DAILY;COUNT=3\n\
         EXDATE;TZID=America/New_York:20260328T213000",
    )
    .unwrap();
    assert_eq!(
        instants(&schedule),
        ["2026-03-28T02:30:00+01:00", "2026-03-30T02:30:00+02:00"]
    );
    // Written back as the instant, in UTC.
    assert!(
        schedule.to_rrule().contains("\nEXDATE:20260329T013000Z"),
        "{}",
        schedule.to_rrule()
    );
    round_trips(&schedule);
}

#[test]
fn a_utc_rdate_in_a_repeated_hour_keeps_its_half() {
    let schedule = Schedule::from_rrule(
        "DTSTART;TZID=Europe/Berlin:20261024T120000\nRRULE:FREQ=DAILY;COUNT=1\n\
         RDATE:20261025T013000Z",
    )
    .unwrap();
    assert_eq!(
        instants(&schedule),
        ["2026-10-24T12:00:00+02:00", "2026-10-25T02:30:00+01:00"]
    );
    let dates: Vec<String> = schedule
        .occurrences()
        .map(|o| o.date().to_string())
        .collect();
    assert_eq!(dates, ["2026-10-24", "2026-10-25"]);
    assert!(schedule.to_rrule().contains("\nRDATE:20261025T013000Z"));
    round_trips(&schedule);
    // The earlier half, 00:30Z, is the other instant of the same wall clock.
    let schedule = Schedule::from_rrule(
        "DTSTART;TZID=Europe/Berlin:20261024T120000\nRRULE:FREQ=DAILY;COUNT=1\n\
         RDATE:20261025T003000Z",
    )
    .unwrap();
    assert_eq!(
        instants(&schedule),
        ["2026-10-24T12:00:00+02:00", "2026-10-25T02:30:00+02:00"]
    );
    round_trips(&schedule);
}

#[test]
fn a_local_rdate_in_a_repeated_hour_takes_the_earlier_instant() {
    let schedule = Schedule::from_rrule(
        "DTSTART;TZID=Europe/Berlin:20261024T120000\nRRULE:FREQ=DAILY;COUNT=1\n\
         RDATE;TZID=Europe/Berlin:20261025T023000",
    )
    .unwrap();
    assert_eq!(
        instants(&schedule),
        ["2026-10-24T12:00:00+02:00", "2026-10-25T02:30:00+02:00"]
    );
    round_trips(&schedule);
}

#[test]
fn both_halves_of_a_repeated_hour_as_instants() {
    let schedule = Schedule::from_rrule(
        "DTSTART;TZID=Europe/Berlin:20261024T120000\nRRULE:FREQ=DAILY;COUNT=1\n\
         RDATE:20261025T003000Z,20261025T013000Z",
    )
    .unwrap();
    assert_eq!(
        instants(&schedule),
        [
            "2026-10-24T12:00:00+02:00",
            "2026-10-25T02:30:00+02:00",
            "2026-10-25T02:30:00+01:00"
        ]
    );
    let seqs: Vec<u64> = schedule.occurrences().map(|o| o.seq()).collect();
    assert_eq!(seqs, [0, 1, 2]);
    round_trips(&schedule);
}

#[test]
fn the_builder_takes_instants_and_checks_them() {
    let start = NaiveDate::from_ymd_opt(2026, 3, 29)
        .unwrap()
        .and_hms_opt(2, 30, 0)
        .unwrap();
    let builder = || {
        Schedule::builder(
            Recurrence::daily(Interval::ONE),
            start,
            Zone::get("Europe/Berlin").unwrap(),
        )
        .end(End::Count(2))
    };
    let schedule = builder()
        .skip_instant(Utc.with_ymd_and_hms(2026, 3, 29, 1, 30, 0).unwrap())
        .extra_instant(Utc.with_ymd_and_hms(2026, 10, 25, 1, 30, 0).unwrap())
        .build()
        .unwrap();
    assert_eq!(
        instants(&schedule),
        ["2026-03-30T02:30:00+02:00", "2026-10-25T02:30:00+01:00"]
    );
    round_trips(&schedule);
    let json = serde_json::to_value(&schedule).unwrap();
    assert_eq!(json["skip_instants"][0], "2026-03-29T01:30:00Z");
    assert_eq!(json["extra_instants"][0], "2026-10-25T01:30:00Z");
    // The builder is strict: an instant that is not an occurrence is an error.
    let not_one = Utc.with_ymd_and_hms(2026, 3, 29, 2, 30, 0).unwrap();
    assert_eq!(
        builder().skip_instant(not_one).build(),
        Err(ScheduleError::NotAnOccurrenceAt(not_one))
    );
}

#[test]
fn an_instant_on_a_date_outside_the_supported_years_is_refused() {
    let start = NaiveDate::from_ymd_opt(2026, 1, 1)
        .unwrap()
        .and_hms_opt(9, 0, 0)
        .unwrap();
    let far = Utc.with_ymd_and_hms(2200, 1, 1, 12, 0, 0).unwrap();
    let result = Schedule::builder(Recurrence::daily(Interval::ONE), start, Zone::UTC)
        .extra_instant(far)
        .build();
    assert!(
        matches!(result, Err(ScheduleError::DateOutOfRange(_))),
        "{result:?}"
    );
}

#[test]
fn the_readme_json_form_reads_and_round_trips() {
    let readme = include_str!("../README.md");
    let block = readme
        .split("```json\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the README has a JSON block");
    let schedule: Schedule = serde_json::from_str(block).unwrap();
    assert_eq!(schedule.skipped_instants().count(), 1);
    assert_eq!(schedule.extra_instants().count(), 1);
    round_trips(&schedule);
}

mod set_difference {
    //! An independent check of RFC 5545 §3.8.5.1: the rrule crate's `RRuleSet` (python-dateutil's
    //! `rruleset`) takes the rule's and RDATE's instances less those EXDATE names; the same
    //! text read here gives the same instants, whatever the EXDATEs name (rule occurrences,
    //! RDATEs, both, or nothing).

    use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
    use proptest::prelude::*;
    use proptest::sample::select;
    use recurring_deals::Schedule;

    fn stamp(t: DateTime<Utc>) -> String {
        t.format("%Y%m%dT%H%M%SZ").to_string()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 500, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn exdates_remove_rule_and_rdate_instances_as_rrule_does(
            rule in select(vec!["FREQ=DAILY;COUNT=6", "FREQ=WEEKLY;COUNT=4", "FREQ=MONTHLY;COUNT=3", "FREQ=DAILY;INTERVAL=2;COUNT=5"]),
            day in 0..3650u64,
            hour in 0..24i64,
            rdates in prop::collection::vec(0..24 * 60i64, 0..4),
            exdates in prop::collection::vec((0..3u8, 0..24 * 60i64, any::<prop::sample::Index>()), 0..4),
        ) {
            let start = NaiveDate::from_ymd_opt(2020, 1, 1).unwrap() + chrono::Days::new(day);
            let start = start.and_hms_opt(0, 0, 0).unwrap().and_utc() + TimeDelta::hours(hour);
            let rdates: Vec<DateTime<Utc>> = rdates.iter().map(|h| start + TimeDelta::hours(*h)).collect();
            let rule_text = format!("DTSTART:{}\nRRULE:{rule}", stamp(start));
            let rule_only: Vec<DateTime<Utc>> = Schedule::from_rrule(&rule_text).unwrap().occurrences().map(|o| o.at()).collect();
            let exdates: Vec<DateTime<Utc>> = exdates
                .iter()
                .map(|(kind, hours, index)| match kind {
                    0 => rule_only[index.index(rule_only.len())],
                    1 if !rdates.is_empty() => rdates[index.index(rdates.len())],
                    _ => start + TimeDelta::hours(*hours),
                })
                .collect();
            let mut text = rule_text;
            if !rdates.is_empty() {
                text += &format!("\nRDATE:{}", rdates.iter().map(|t| stamp(*t)).collect::<Vec<_>>().join(","));
            }
            if !exdates.is_empty() {
                text += &format!("\nEXDATE:{}", exdates.iter().map(|t| stamp(*t)).collect::<Vec<_>>().join(","));
            }
            let set: rrule::RRuleSet = text.parse().unwrap();
            let mut expected: Vec<DateTime<Utc>> = set.into_iter().map(|t| t.with_timezone(&Utc)).collect();
            // rrule 0.14 repeats an RDATE that is also a rule instance; a set holds it once
            // (RFC 5545 §3.8.5.2: the recurrence set is a set of instances).
            expected.dedup();
            let got: Vec<DateTime<Utc>> = match Schedule::from_rrule(&text) {
                Ok(schedule) => {
                    let got: Vec<DateTime<Utc>> = schedule.occurrences().map(|o| o.at()).collect();
                    let back = Schedule::from_rrule(&schedule.to_rrule()).unwrap();
                    prop_assert_eq!(back.occurrences().map(|o| o.at()).collect::<Vec<_>>(), got.clone(), "{}", schedule.to_rrule());
                    got
                }
                Err(e) => return Err(TestCaseError::fail(format!("{text}: {e}"))),
            };
            prop_assert_eq!(got, expected, "{}", text);
        }
    }
}
