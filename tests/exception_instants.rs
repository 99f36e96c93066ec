//! Exceptions given as instants stay instants (issue #10, kind 1).
//!
//! An `EXDATE`/`RDATE` in UTC (`...Z`) or with another zone's `TZID` names an instant; one
//! floating or with the schedule's `TZID` names a local time, by the occurrence's nominal time
//! (before DST is applied). Both forms round-trip through RFC 5545 text and JSON unchanged.
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
    // Its resolved wall clock, 03:30, is not the occurrence's name: nothing is excluded.
    let schedule = Schedule::from_rrule(
        "DTSTART;TZID=Europe/Berlin:20260329T023000\nRRULE:FREQ=DAILY;COUNT=2\n\
         EXDATE;TZID=Europe/Berlin:20260329T033000",
    )
    .unwrap();
    assert_eq!(instants(&schedule).len(), 2);
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
