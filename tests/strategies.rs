//! The strategies of `recurring_deals::strategies` draw only values the crate accepts, cover
//! what their docs promise, and keep to the options they are given.
//!
//! Each strategy runs for a few thousand cases (a thousand for template drafts, which go
//! through the engine): every schedule round-trips through JSON and RFC 5545 text with the
//! same occurrences, every text parses and reads back, every draft is accepted by
//! `Engine::create_template` on the in-memory store and round-trips through JSON; and over
//! each run every variant, zone and form the docs list shows up.

use recurring_deals::Zone;
use std::cell::RefCell;
use std::collections::BTreeSet;

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseResult, TestRunner};
use recurring_deals::strategies::{self, EndKind, ExceptionKind, RuleKind, ScheduleOptions};
use recurring_deals::{
    Adjustment, DealLimits, End, InMemoryRepository, ManualClock, Occurrence, PaymentDue,
    Recurrence, Schedule, ScheduleError, TemplateDraft, blocking,
};

/// A runner of `cases` cases (`PROPTEST_CASES` overrides, for longer searches) whose failures
/// are kept in `tests/strategies.proptest-regressions`.
fn runner(cases: u32) -> TestRunner {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(cases);
    TestRunner::new(Config {
        cases,
        source_file: Some(file!()),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..Config::default()
    })
}

/// Runs `test` on `cases` values of `strategy`, panicking with the shrunk failure.
fn check<S: Strategy>(cases: u32, strategy: S, test: impl Fn(S::Value) -> TestCaseResult) {
    if let Err(e) = runner(cases).run(&strategy, test) {
        panic!("{e}");
    }
}

type Item = (u64, chrono::NaiveDate, DateTime<Utc>);

fn items(occurrences: impl Iterator<Item = Occurrence>) -> Vec<Item> {
    occurrences.map(|o| (o.seq(), o.date(), o.at())).collect()
}

fn rule_kind(schedule: &Schedule) -> RuleKind {
    match schedule.recurrence() {
        None => RuleKind::General,
        Some(Recurrence::Day { .. }) => RuleKind::Day,
        Some(Recurrence::WorkingDay { .. }) => RuleKind::WorkingDay,
        Some(Recurrence::Week { .. }) => RuleKind::Week,
        Some(Recurrence::Month { .. }) => RuleKind::Month,
        Some(Recurrence::Year { .. }) => RuleKind::Year,
        Some(Recurrence::Once { .. }) => RuleKind::Once,
    }
}

fn end_kind(end: End) -> EndKind {
    match end {
        End::Never => EndKind::Never,
        End::Count(_) => EndKind::Count,
        End::Until(_) => EndKind::Until,
        End::UntilInstant(_) => EndKind::UntilInstant,
    }
}

fn exception_kinds(schedule: &Schedule) -> BTreeSet<ExceptionKind> {
    let mut kinds = BTreeSet::new();
    if schedule.skipped().next().is_some() {
        kinds.insert(ExceptionKind::Skip);
    }
    if schedule.skipped_instants().next().is_some() {
        kinds.insert(ExceptionKind::SkipInstant);
    }
    if schedule.moved().next().is_some() {
        kinds.insert(ExceptionKind::Move);
    }
    if schedule.extra().next().is_some() {
        kinds.insert(ExceptionKind::Extra);
    }
    if schedule.extra_instants().next().is_some() {
        kinds.insert(ExceptionKind::ExtraInstant);
    }
    kinds
}

/// What a schedule must do whatever its source: read back from its JSON form and its RFC 5545
/// text with the same occurrences, in order of instant and of `seq`.
fn valid(schedule: &Schedule) -> TestCaseResult {
    let expected = items(schedule.occurrences().take(30));
    for pair in expected.windows(2) {
        prop_assert!(pair[0].2 < pair[1].2, "instants not increasing: {pair:?}");
        prop_assert!(pair[0].0 < pair[1].0, "seq not increasing: {pair:?}");
    }
    let json = serde_json::to_string(schedule).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let back: Schedule = serde_json::from_str(&json)
        .map_err(|e| TestCaseError::fail(format!("{e} reading {json}")))?;
    if schedule.recurrence().is_some() {
        prop_assert_eq!(&back, schedule, "{}", json);
    }
    prop_assert_eq!(&items(back.occurrences().take(30)), &expected, "{}", json);
    let text = schedule.to_rrule();
    let back = Schedule::from_rrule(&text)
        .map_err(|e| TestCaseError::fail(format!("{e} reading {text}")))?;
    prop_assert_eq!(&items(back.occurrences().take(30)), &expected, "{}", text);
    Ok(())
}

#[test]
fn zones_include_the_odd_ones_and_all_are_drawn() {
    let names: Vec<&str> = strategies::ZONES.to_vec();
    assert!(names.len() >= 20, "{names:?}");
    for required in [
        "Pacific/Apia",
        "America/Santiago",
        "America/Havana",
        "Australia/Lord_Howe",
        "Europe/Moscow",
        "America/New_York",
        "Europe/Berlin",
        "Asia/Kathmandu",
        "Pacific/Chatham",
        "America/St_Johns",
        "Africa/Casablanca",
        "Asia/Tehran",
        "Europe/Dublin",
        "Antarctica/Troll",
        "Pacific/Kiritimati",
        "America/Caracas",
        "Asia/Pyongyang",
        "Europe/Lisbon",
        "Australia/Adelaide",
        "UTC",
    ] {
        assert!(names.contains(&required), "{required} is missing");
    }
    let seen = RefCell::new(BTreeSet::new());
    check(3000, strategies::zone_and_start(), |(zone, start)| {
        prop_assert!(strategies::ZONES.contains(&zone.name()));
        let year = chrono::Datelike::year(&start);
        prop_assert!((1900..=2199).contains(&year), "{start}");
        seen.borrow_mut().insert(zone.name());
        Ok(())
    });
    assert_eq!(seen.into_inner().len(), strategies::ZONES.len());
}

#[test]
fn recurrences_build_and_cover_every_variant() {
    let seen = RefCell::new(BTreeSet::new());
    let start = chrono::NaiveDate::from_ymd_opt(2026, 1, 31)
        .unwrap()
        .and_hms_opt(9, 0, 0)
        .unwrap();
    check(
        3000,
        (
            strategies::recurrence(),
            strategies::recurrence_from(start.date()),
        ),
        |(any, from)| {
            seen.borrow_mut().insert(match any {
                Recurrence::Day { .. } => 0,
                Recurrence::WorkingDay { .. } => 1,
                Recurrence::Week { .. } => 2,
                Recurrence::Month { .. } => 3,
                Recurrence::Year { .. } => 4,
                Recurrence::Once { .. } => 5,
            });
            // From the start: a schedule, unless the interval puts the next occurrence past
            // 2199 (every 174 years from 2026).
            match Schedule::builder(from, start, Zone::UTC).build() {
                Ok(_) | Err(ScheduleError::NoOccurrence) => Ok(()),
                Err(e) => Err(TestCaseError::fail(format!("{from:?}: {e}"))),
            }
        },
    );
    assert_eq!(seen.into_inner().len(), 6, "every Recurrence variant");
}

#[test]
fn calendars_round_trip_and_keep_a_working_weekday() {
    check(2000, strategies::calendar(), |calendar| {
        prop_assert!(calendar.weekend().count() < 7);
        let json =
            serde_json::to_string(&calendar).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back: recurring_deals::WorkingCalendar = serde_json::from_str(&json)
            .map_err(|e| TestCaseError::fail(format!("{e} reading {json}")))?;
        prop_assert_eq!(back, calendar);
        Ok(())
    });
}

/// Every drawn schedule is valid, and over the run every rule kind, end, adjustment and
/// exception kind appears.
#[test]
fn schedules_are_valid_and_cover_every_option() {
    let rules = RefCell::new(BTreeSet::new());
    let ends = RefCell::new(BTreeSet::new());
    let exceptions = RefCell::new(BTreeSet::new());
    let adjustments = RefCell::new(Vec::new());
    let zones = RefCell::new(BTreeSet::new());
    check(3000, strategies::schedule(), |schedule| {
        valid(&schedule)?;
        rules.borrow_mut().insert(rule_kind(&schedule));
        ends.borrow_mut().insert(end_kind(schedule.end()));
        exceptions.borrow_mut().extend(exception_kinds(&schedule));
        let mut seen = adjustments.borrow_mut();
        if !seen.contains(&schedule.adjustment()) {
            seen.push(schedule.adjustment());
        }
        zones.borrow_mut().insert(schedule.zone().name());
        Ok(())
    });
    assert_eq!(rules.into_inner().len(), RuleKind::ALL.len());
    assert_eq!(ends.into_inner().len(), EndKind::ALL.len());
    assert_eq!(exceptions.into_inner().len(), ExceptionKind::ALL.len());
    assert_eq!(adjustments.into_inner().len(), 4);
    assert_eq!(zones.into_inner().len(), strategies::ZONES.len());
}

/// The options narrow what is drawn, and the doc example's property holds.
#[test]
fn options_are_kept() {
    let options = ScheduleOptions::default()
        .rules([RuleKind::Month, RuleKind::Year])
        .zones([
            Zone::get("Pacific/Apia").unwrap(),
            Zone::get("America/Havana").unwrap(),
        ])
        .ends([EndKind::Count])
        .exceptions([]);
    check(500, strategies::schedule_with(options), |schedule| {
        valid(&schedule)?;
        prop_assert!(matches!(
            rule_kind(&schedule),
            RuleKind::Month | RuleKind::Year
        ));
        prop_assert!(
            [
                Zone::get("Pacific/Apia").unwrap(),
                Zone::get("America/Havana").unwrap()
            ]
            .contains(&schedule.zone())
        );
        prop_assert!(
            matches!(schedule.end(), End::Count(_)),
            "{:?}",
            schedule.end()
        );
        prop_assert!(
            exception_kinds(&schedule).is_empty(),
            "{}",
            schedule.to_rrule()
        );
        Ok(())
    });
    let general = ScheduleOptions::default()
        .rules([RuleKind::General])
        .ends([EndKind::Never])
        .exceptions([ExceptionKind::SkipInstant]);
    check(300, strategies::schedule_with(general), |schedule| {
        valid(&schedule)?;
        prop_assert_eq!(schedule.end(), End::Never);
        let kinds = exception_kinds(&schedule);
        prop_assert!(
            kinds.is_empty() || kinds == [ExceptionKind::SkipInstant].into(),
            "{:?}",
            kinds
        );
        Ok(())
    });
    let working = ScheduleOptions::default()
        .adjustments([Adjustment::Following, Adjustment::Preceding])
        .exceptions([ExceptionKind::Skip, ExceptionKind::SkipInstant]);
    check(1000, strategies::schedule_with(working), |schedule| {
        prop_assert!(
            schedule.recurrence().is_some(),
            "general rules need no adjustment"
        );
        prop_assert!(matches!(
            schedule.adjustment(),
            Adjustment::Following | Adjustment::Preceding
        ));
        for occurrence in schedule.occurrences().take(100) {
            prop_assert!(
                schedule.calendar().is_working_day(occurrence.date()),
                "{} is a day off: {}",
                occurrence.date(),
                schedule.to_rrule()
            );
        }
        Ok(())
    });
}

/// Every drawn text parses and reads back from the crate's own writing of it; over the run
/// every rule part, value form and extension shows up.
#[test]
fn rrule_texts_parse() {
    let seen = RefCell::new(BTreeSet::new());
    let needles = [
        "DTSTART;TZID=",
        "DTSTART;VALUE=DATE:",
        "FREQ=DAILY",
        "FREQ=WEEKLY",
        "FREQ=MONTHLY",
        "FREQ=YEARLY",
        "INTERVAL=",
        "BYMONTH=",
        "BYMONTHDAY=",
        "BYDAY=",
        "BYYEARDAY=",
        "BYWEEKNO=",
        "BYHOUR=",
        "BYMINUTE=",
        "BYSECOND=",
        "BYSETPOS=",
        "WKST=",
        "COUNT=",
        "UNTIL=",
        "EXDATE:",
        "EXDATE;TZID=",
        "EXDATE;VALUE=DATE:",
        "RDATE:",
        "RDATE;TZID=",
        "RDATE;VALUE=DATE:",
        "X-RD-CALENDAR",
        "X-RD-ADJUST",
        "X-RD-WORKDAYS",
        "X-RD-MONTHDAY",
        "X-RD-MOVE",
        "freq=",
        "\r\n",
    ];
    check(3000, strategies::rrule_text(), |text| {
        let schedule = Schedule::from_rrule(&text)
            .map_err(|e| TestCaseError::fail(format!("{e} reading {text:?}")))?;
        let again = schedule.to_rrule();
        let back = Schedule::from_rrule(&again)
            .map_err(|e| TestCaseError::fail(format!("{e} reading {again:?}")))?;
        prop_assert_eq!(
            items(back.occurrences().take(30)),
            items(schedule.occurrences().take(30)),
            "{:?} written as {:?}",
            text,
            again
        );
        let mut seen = seen.borrow_mut();
        for needle in needles {
            if text.contains(needle) {
                seen.insert(needle);
            }
        }
        Ok(())
    });
    let seen = seen.into_inner();
    let missing: Vec<&str> = needles.into_iter().filter(|n| !seen.contains(n)).collect();
    assert!(missing.is_empty(), "never drawn: {missing:?}");
}

#[test]
fn deals_and_invoice_options_are_valid() {
    let limits = DealLimits::default();
    check(2000, strategies::deal(), |deal| {
        deal.validate()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        limits
            .check(&deal)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let json = serde_json::to_string(&deal).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back: recurring_deals::Deal = serde_json::from_str(&json)
            .map_err(|e| TestCaseError::fail(format!("{e} reading {json}")))?;
        prop_assert_eq!(back, deal);
        Ok(())
    });
    let dues = RefCell::new(BTreeSet::new());
    check(2000, strategies::invoice_options(), |options| {
        options
            .validate()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        dues.borrow_mut().insert(match options.payment_due {
            PaymentDue::Days(_) => 0,
            PaymentDue::Weeks(_) => 1,
            PaymentDue::Months(_) => 2,
            PaymentDue::EndOfMonth => 3,
            PaymentDue::EndOfNextMonth => 4,
        });
        Ok(())
    });
    assert_eq!(dues.into_inner().len(), 5, "every PaymentDue variant");
}

/// Every drawn draft is accepted by the engine and round-trips through JSON.
#[test]
fn template_drafts_are_accepted_by_the_engine() {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 1, 6, 0, 0).unwrap());
    let engine = blocking::Engine::new(InMemoryRepository::new(), clock).unwrap();
    let mut runner = runner(1000);
    let tenant = strategies::tenant()
        .new_tree(&mut runner)
        .unwrap()
        .current();
    let splits = RefCell::new(0u32);
    let notices = RefCell::new(0u32);
    let result = runner.run(&strategies::template_draft(), |draft| {
        let json = serde_json::to_string(&draft).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back: TemplateDraft = serde_json::from_str(&json)
            .map_err(|e| TestCaseError::fail(format!("{e} reading {json}")))?;
        prop_assert_eq!(&back, &draft);
        if draft.split.is_some() {
            *splits.borrow_mut() += 1;
        }
        if draft.upcoming_notice_days.len() > 1 {
            *notices.borrow_mut() += 1;
        }
        engine
            .create_template(&tenant, draft.clone())
            .map_err(|e| TestCaseError::fail(format!("{e} for {draft:?}")))?;
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    assert!(splits.into_inner() > 0, "no installment split drawn");
    assert!(notices.into_inner() > 0, "never several notice leads");
}

// ---------------------------------------------------------------------------------------------
// Found while writing the strategies
// ---------------------------------------------------------------------------------------------

/// A counted schedule whose last occurrence is moved onto the time of the rule's next
/// occurrence (past the count) was accepted by the builder and then refused by
/// `Engine::create_template`: the template keeps its count apart (`into_template` rebuilds
/// the schedule with `End::Never`), and without the count the moved occurrence collides with
/// the rule's third one. The builder now checks moves against the rule without its count.
#[test]
fn a_counted_schedule_with_a_move_onto_the_rule_past_the_count_is_refused_by_the_builder() {
    // A template keeps the count apart from the rule (it limits deals created), so the move
    // of Mar 3 onto Mar 4 09:00 (the rule's third occurrence, past the count of 2) would
    // collide in the template: the builder refuses it as the engine would, rather than
    // accepting a schedule no template can hold.
    let day = |d| chrono::NaiveDate::from_ymd_opt(2026, 3, d).unwrap();
    let start = day(2).and_hms_opt(9, 0, 0).unwrap();
    let refused = Schedule::builder(
        Recurrence::daily(recurring_deals::Interval::ONE),
        start,
        Zone::UTC,
    )
    .end(End::Count(2))
    .move_occurrence(day(3), day(4).and_hms_opt(9, 0, 0).unwrap())
    .build()
    .unwrap_err();
    assert!(
        matches!(refused, recurring_deals::ScheduleError::MoveCollides { .. }),
        "{refused:?}"
    );
    // Onto a time the rule never has, the same move is accepted, and a template holds it.
    let schedule = Schedule::builder(
        Recurrence::daily(recurring_deals::Interval::ONE),
        start,
        Zone::UTC,
    )
    .end(End::Count(2))
    .move_occurrence(day(3), day(4).and_hms_opt(12, 0, 0).unwrap())
    .build()
    .expect("the builder accepts it");
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap());
    let engine = blocking::Engine::new(InMemoryRepository::new(), clock).unwrap();
    let deal = recurring_deals::Deal::new(
        "Support",
        recurring_deals::Money::new(100, recurring_deals::Currency::new("RUB").unwrap()),
    )
    .unwrap();
    let tenant = recurring_deals::TenantId::new("acme").unwrap();
    engine
        .create_template(&tenant, TemplateDraft::new(deal, schedule))
        .expect("a schedule the builder accepts makes a template");
}
