//! Whatever is accepted can be stored and read back (issue #10, kind 4): a schedule accepted
//! from RFC 5545 text, the builder or JSON writes RFC 5545 text and JSON that read back into
//! the same schedule, expanding identically, also at the ends of the supported years
//! (1900-01-01 to 2199-12-31) and in the zones farthest from UTC.
//!
//! The decision: an end past the supported years is refused where it enters, with a typed
//! error naming it (`ScheduleError::UntilOutOfRange` for an instant or a local date-time,
//! `ScheduleError::DateOutOfRange` for a date); the series end at 2199-12-31 anyway, so an
//! `UNTIL` there or earlier says everything a later one could.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Utc};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::FileFailurePersistence;
use recurring_deals::Zone;
use recurring_deals::{End, Interval, Recurrence, Schedule, ScheduleError};

#[test]
fn the_issue_example_is_refused_naming_the_until() {
    let text = "DTSTART;TZID=Etc/GMT+12:20260101T090000\n\
                RRULE:FREQ=DAILY;BYHOUR=9,10;UNTIL=99991231T235959";
    assert_eq!(
        Schedule::from_rrule(text),
        Err(ScheduleError::UntilOutOfRange("99991231T235959".into()))
    );
    let message = Schedule::from_rrule(text).unwrap_err().to_string();
    assert!(message.contains("99991231T235959") && message.contains("2199-12-31"));
}

#[test]
fn an_until_at_the_last_supported_day_round_trips_in_every_extreme_zone() {
    for zone in [
        "Etc/GMT+12",
        "Etc/GMT-14",
        "Pacific/Kiritimati",
        "Pacific/Apia",
        "UTC",
    ] {
        for until in ["21991231T235959", "21991231"] {
            let text = format!(
                "DTSTART;TZID={zone}:21991220T090000\nRRULE:FREQ=DAILY;BYHOUR=9,10;UNTIL={until}"
            );
            let text = text.replace("DTSTART;TZID=UTC:", "DTSTART:");
            let schedule = Schedule::from_rrule(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
            round_trips(&schedule, true).unwrap_or_else(|e| panic!("{e}\n{text}"));
            let last = schedule.occurrences().last().unwrap();
            assert_eq!(
                last.date(),
                NaiveDate::from_ymd_opt(2199, 12, 31).unwrap(),
                "{text}"
            );
        }
    }
}

#[test]
fn an_instant_end_past_the_years_is_refused_by_the_builder_and_json() {
    let start = NaiveDate::from_ymd_opt(2026, 1, 1)
        .unwrap()
        .and_hms_opt(9, 0, 0)
        .unwrap();
    let zone: Zone = "Etc/GMT+12".parse().unwrap();
    // 2200-01-01T11:59:59Z is 2199-12-31T23:59:59 at UTC-12: the last accepted second.
    let last = Utc.with_ymd_and_hms(2200, 1, 1, 11, 59, 59).unwrap();
    let build = |end| {
        Schedule::builder(Recurrence::daily(Interval::ONE), start, zone)
            .end(End::UntilInstant(end))
            .build()
    };
    let schedule = build(last).unwrap();
    round_trips(&schedule, false).unwrap();
    let past = last + TimeDelta::seconds(1);
    assert_eq!(
        build(past),
        Err(ScheduleError::UntilOutOfRange(
            "2200-01-01T12:00:00Z".into()
        ))
    );
    let json = serde_json::json!({
        "rule": {"every": "day", "interval": 1},
        "start": "2026-01-01T09:00:00",
        "zone": "Etc/GMT+12",
        "end": {"until_instant": "+262142-12-31T23:59:59Z"},
    });
    let error = serde_json::from_value::<Schedule>(json)
        .unwrap_err()
        .to_string();
    assert!(error.contains("outside the supported years"), "{error}");
}

/// Text and JSON read back into the same schedule with the same occurrences.
fn round_trips(schedule: &Schedule, from_text: bool) -> Result<(), TestCaseError> {
    let first = |s: &Schedule| {
        s.occurrences()
            .take(40)
            .map(|o| (o.seq(), o.date(), o.at()))
            .collect::<Vec<_>>()
    };
    let last = |s: &Schedule| s.occurrences().last().map(|o| (o.seq(), o.at()));
    let text = schedule.to_rrule();
    let back = Schedule::from_rrule(&text)
        .map_err(|e| TestCaseError::fail(format!("{e} reading {text:?}")))?;
    prop_assert_eq!(first(&back), first(schedule), "{}", text);
    prop_assert_eq!(last(&back), last(schedule), "{}", text);
    prop_assert_eq!(back.to_rrule(), text.clone());
    if !matches!(schedule.recurrence(), Some(Recurrence::Once { .. })) {
        prop_assert_eq!(back.end(), schedule.end(), "{}", text);
    }
    if from_text {
        prop_assert_eq!(&back, schedule, "{}", text);
    }
    let json = serde_json::to_string(schedule).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let back: Schedule = serde_json::from_str(&json)
        .map_err(|e| TestCaseError::fail(format!("{e} reading {json}")))?;
    prop_assert_eq!(&back, schedule, "{}", json);
    prop_assert_eq!(first(&back), first(schedule), "{}", json);
    Ok(())
}

const EXTREME_ZONES: [&str; 8] = [
    "Etc/GMT+12",
    "Etc/GMT-12",
    "Etc/GMT-14",
    "Pacific/Kiritimati",
    "Pacific/Apia",
    "Pacific/Kwajalein",
    "America/Adak",
    "UTC",
];

/// A start near either end of the supported years, or near Apia's skipped day.
fn start() -> impl Strategy<Value = NaiveDateTime> {
    let at = |y: i32, m: u32, d: u32| NaiveDate::from_ymd_opt(y, m, d).expect("a valid date");
    (
        prop_oneof![
            (0u64..40).prop_map(move |k| at(1900, 1, 1) + chrono::Days::new(k)),
            (0u64..40).prop_map(move |k| at(2199, 12, 31) - chrono::Days::new(k)),
            (0u64..10).prop_map(move |k| at(2011, 12, 25) + chrono::Days::new(k)),
        ],
        0u32..24,
        select(vec![0u32, 30, 59]),
    )
        .prop_map(|(date, h, m)| date.and_hms_opt(h, m, 0).expect("a valid time"))
}

/// An UNTIL as written in RFC 5545 text: dates and date-times at the range ends and beyond,
/// local and UTC.
fn until_text() -> impl Strategy<Value = String> {
    prop_oneof![
        select(vec![
            "18991231", "19000101", "19000102", "21991230", "21991231", "22000101", "99991231",
        ])
        .prop_map(str::to_owned),
        select(vec![
            "18991231T235959",
            "19000101T000000",
            "21991231T235959",
            "22000101T000000",
            "99991231T235959",
            "00010101T000000",
        ])
        .prop_map(str::to_owned),
        select(vec![
            "18991231T120000Z",
            "19000101T000000Z",
            "21991231T235959Z",
            "22000101T115959Z",
            "22000101T120000Z",
            "99991231T235959Z",
        ])
        .prop_map(str::to_owned),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 4000,
        // Kept beside this file (the default place needs a `lib.rs` beside it).
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    /// RFC 5545 text at the extremes: accepted ⇒ text and JSON round trips.
    #[test]
    fn accepted_extreme_text_round_trips(
        zone in select(EXTREME_ZONES.to_vec()),
        start in start(),
        rule in select(vec![
            "FREQ=DAILY", "FREQ=DAILY;BYHOUR=9,10", "FREQ=WEEKLY;BYDAY=MO,SU",
            "FREQ=MONTHLY;BYMONTHDAY=-1", "FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=31",
            "FREQ=YEARLY;BYMONTH=1;BYMONTHDAY=1", "FREQ=MONTHLY;BYDAY=-1FR;BYSETPOS=1",
        ]),
        end in prop_oneof![
            until_text().prop_map(|u| format!(";UNTIL={u}")),
            (1u32..20).prop_map(|n| format!(";COUNT={n}")),
            Just(String::new()),
        ],
        exception in prop::option::of(select(vec![
            "EXDATE:21991231T100000Z", "RDATE:22000101T100000Z", "RDATE:18991231T230000Z",
            "EXDATE;TZID=UTC:19000101T000000", "RDATE;VALUE=DATE:21991231",
        ])),
    ) {
        let head = if zone == "UTC" {
            format!("DTSTART:{}Z", start.format("%Y%m%dT%H%M%S"))
        } else {
            format!("DTSTART;TZID={zone}:{}", start.format("%Y%m%dT%H%M%S"))
        };
        let mut text = format!("{head}\nRRULE:{rule}{end}");
        if let Some(line) = exception {
            text = format!("{text}\n{line}");
        }
        if let Ok(schedule) = Schedule::from_rrule(&text) {
            round_trips(&schedule, true)?;
        }
    }

    /// Builder schedules at the extremes: accepted ⇒ text and JSON round trips.
    #[test]
    fn accepted_extreme_builder_values_round_trip(
        zone in select(EXTREME_ZONES.to_vec()),
        start in start(),
        every in 0u8..4,
        end in prop_oneof![
            Just(End::Never),
            (1u32..30).prop_map(End::Count),
            (-3i64..3).prop_map(|k| End::Until(
                NaiveDate::from_ymd_opt(2199, 12, 31).expect("a valid date") + TimeDelta::days(k.min(0))
            )),
            (-2 * 86_400i64..2 * 86_400).prop_map(|s| End::UntilInstant(
                DateTime::<Utc>::from_timestamp(7_258_118_400 + s, 0).expect("in range")
            )),
        ],
        extra in prop::option::of(-2 * 86_400i64..2 * 86_400),
    ) {
        let zone: Zone = zone.parse().expect("a known zone");
        let recurrence = match every {
            0 => Recurrence::daily(Interval::ONE),
            1 => Recurrence::weekly(
                Interval::ONE,
                recurring_deals::WeekdaySet::single(start.date().weekday()),
            ),
            2 => Recurrence::monthly(Interval::ONE, recurring_deals::MonthDay::LastDay),
            _ => Recurrence::daily(Interval::new(7).expect("7 is an interval")),
        };
        let mut builder = Schedule::builder(recurrence, start, zone).end(end);
        if let Some(s) = extra {
            // Around 2200-01-01T00:00:00Z.
            builder = builder.extra_instant(
                DateTime::<Utc>::from_timestamp(7_258_118_400 + s, 0).expect("in range"),
            );
        }
        if let Ok(schedule) = builder.build() {
            round_trips(&schedule, false)?;
        }
    }
}
