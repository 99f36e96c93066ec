//! Scenario tests of the engine, driven by a manual clock.
//!
//! Every expected deal, date and instant is worked out from the scenario itself (calendar
//! facts, the documented policies, chrono and chrono-tz for offsets), never copied from the
//! engine's output.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use chrono::{DateTime, Datelike, Month, NaiveDate, Offset, TimeDelta, TimeZone, Utc, Weekday};
use common::*;
use recurring_deals::Zone;
use recurring_deals::blocking::Engine;
use recurring_deals::*;

type MemEngine = Engine<InMemoryRepository, ManualClock>;

fn engine_at(now: DateTime<Utc>) -> (MemEngine, ManualClock) {
    let clock = ManualClock::new(now);
    (
        Engine::new(InMemoryRepository::new(), clock.clone()).unwrap(),
        clock,
    )
}

fn daily(start: chrono::NaiveDateTime, zone: Zone) -> ScheduleBuilder {
    Schedule::builder(Recurrence::daily(Interval::ONE), start, zone)
}

/// Ticks once a day at the clock's time of day until `end` (inclusive); returns every tick's
/// report.
fn tick_daily(engine: &MemEngine, clock: &ManualClock, end: DateTime<Utc>) -> Vec<TickReport> {
    tick_every(engine, clock, TimeDelta::days(1), end)
}

fn tick_every(
    engine: &MemEngine,
    clock: &ManualClock,
    step: TimeDelta,
    end: DateTime<Utc>,
) -> Vec<TickReport> {
    let mut reports = Vec::new();
    while clock.now() + step <= end {
        clock.advance(step);
        reports.push(engine.tick().unwrap());
    }
    reports
}

/// Ticks at the current instant until nothing more is due.
fn tick_all(engine: &MemEngine) -> Vec<TickReport> {
    let mut reports = vec![engine.tick().unwrap()];
    while reports.last().unwrap().more_due {
        assert!(reports.len() < 10_000, "more_due never cleared");
        reports.push(engine.tick().unwrap());
    }
    reports
}

fn scheduled_deals(engine: &MemEngine, tenant: &TenantId, id: TemplateId) -> Vec<CreatedDeal> {
    engine
        .deals(tenant, Some(id))
        .unwrap()
        .into_iter()
        .filter(|d| matches!(d.key, DealKey::Scheduled { .. }))
        .collect()
}

fn drain_outbox(engine: &MemEngine) -> Vec<OutboxEvent> {
    let events = engine.outbox(usize::MAX).unwrap();
    let ids: Vec<u64> = events.iter().map(|e| e.id).collect();
    engine.ack(&ids).unwrap();
    events
}

// ---------------------------------------------------------------------------------------------
// A year of daily ticks; month ends; Feb 29
// ---------------------------------------------------------------------------------------------

/// The last day of a month.
fn month_end(year: i32, month: u32) -> NaiveDate {
    let next = if month == 12 {
        date(year + 1, 1, 1)
    } else {
        date(year, month + 1, 1)
    };
    next.pred_opt().unwrap()
}

#[test]
fn a_year_of_daily_ticks_monthly_on_the_31st_has_no_drift() {
    // Moscow is UTC+3 all year (no DST since 2014): 09:00 there is 06:00 UTC.
    let (engine, clock) = engine_at(utc(2026, 1, 1, 6, 0));
    let acme = tenant("acme");
    let schedule = Schedule::builder(
        Recurrence::monthly(Interval::ONE, MonthDay::Day(DayOfMonth::new(31).unwrap())),
        local(2026, 1, 31, 9, 0),
        Zone::get("Europe/Moscow").unwrap(),
    )
    .build()
    .unwrap();
    let template = engine
        .create_template(
            &acme,
            TemplateDraft::new(deal("Support", 15_000_000), schedule),
        )
        .unwrap();
    let reports = tick_daily(&engine, &clock, utc(2027, 1, 1, 6, 0));
    assert_eq!(reports.len(), 365);

    // Clamp: the 31st, or the month's last day in shorter months. Each month is computed from
    // the rule, so a drift (Mar 28 after Feb 28) would show.
    let expected: Vec<NaiveDate> = (1..=12).map(|m| month_end(2026, m)).collect();
    assert_eq!(expected[1], date(2026, 2, 28));
    assert_eq!(expected[2], date(2026, 3, 31));
    let deals = scheduled_deals(&engine, &acme, template.id());
    let dates: Vec<NaiveDate> = deals.iter().map(|d| d.nominal_date).collect();
    assert_eq!(dates, expected);
    for (i, deal) in deals.iter().enumerate() {
        let at = utc(
            2026,
            deal.nominal_date.month(),
            deal.nominal_date.day(),
            6,
            0,
        );
        assert_eq!(deal.key, scheduled(template.id(), 0, i as u64));
        assert_eq!(deal.nominal_at, at);
        assert_eq!(deal.created_at, at, "created by the tick of its own day");
        assert!(!deal.catch_up);
        // The default close offset is 7 days.
        assert_eq!(
            deal.deal.close_date(),
            Some(deal.nominal_date + TimeDelta::days(7))
        );
        assert_eq!(deal.deal.origin(), Some(deal.key));
    }
    // Each tick that created a deal announces the next month's instant as its wake-up.
    let creating: Vec<&TickReport> = reports.iter().filter(|r| !r.created.is_empty()).collect();
    assert_eq!(creating.len(), 12);
    for (i, report) in creating.iter().enumerate() {
        assert_eq!(report.created.len(), 1);
        let next = if i < 11 {
            expected[i + 1]
        } else {
            date(2027, 1, 31)
        };
        assert_eq!(
            report.next_wake,
            Some(utc(next.year(), next.month(), next.day(), 6, 0))
        );
    }
    assert!(reports.iter().all(|r| r.skipped.is_empty()));
    assert_eq!(
        engine.template(&acme, template.id()).unwrap().state(),
        &TemplateState::Active
    );
}

#[test]
fn monthly_on_the_31st_with_skip_overflow_uses_only_31_day_months() {
    let (engine, clock) = engine_at(utc(2026, 1, 1, 6, 0));
    let acme = tenant("acme");
    let schedule = Schedule::builder(
        Recurrence::monthly(Interval::ONE, MonthDay::Day(DayOfMonth::new(31).unwrap())),
        local(2026, 1, 31, 9, 0),
        Zone::get("Europe/Moscow").unwrap(),
    )
    .overflow(Overflow::Skip)
    .build()
    .unwrap();
    let template = engine
        .create_template(&acme, TemplateDraft::new(deal("Support", 100), schedule))
        .unwrap();
    tick_daily(&engine, &clock, utc(2027, 1, 1, 6, 0));
    let expected: Vec<NaiveDate> = (1..=12)
        .filter_map(|m| NaiveDate::from_ymd_opt(2026, m, 31))
        .collect();
    assert_eq!(expected.len(), 7);
    let dates: Vec<NaiveDate> = scheduled_deals(&engine, &acme, template.id())
        .iter()
        .map(|d| d.nominal_date)
        .collect();
    assert_eq!(dates, expected);
}

#[test]
fn yearly_on_feb_29_clamps_to_feb_28_in_common_years() {
    let (engine, clock) = engine_at(utc(2024, 2, 1, 12, 0));
    let acme = tenant("acme");
    let leap_day = MonthDay::Day(DayOfMonth::new(29).unwrap());
    let make = |overflow| {
        Schedule::builder(
            Recurrence::yearly(Interval::ONE, Month::February, leap_day),
            local(2024, 2, 29, 10, 0),
            Zone::UTC,
        )
        .overflow(overflow)
        .build()
        .unwrap()
    };
    let clamp = engine
        .create_template(
            &acme,
            TemplateDraft::new(deal("Anniversary", 100), make(Overflow::Clamp)),
        )
        .unwrap();
    let skip = engine
        .create_template(
            &acme,
            TemplateDraft::new(deal("Leap only", 100), make(Overflow::Skip)),
        )
        .unwrap();
    tick_daily(&engine, &clock, utc(2028, 12, 31, 12, 0));
    let leap = |y| NaiveDate::from_ymd_opt(y, 2, 29).is_some();
    let expected: Vec<NaiveDate> = (2024..=2028)
        .map(|y| date(y, 2, if leap(y) { 29 } else { 28 }))
        .collect();
    let clamped = scheduled_deals(&engine, &acme, clamp.id());
    assert_eq!(
        clamped.iter().map(|d| d.nominal_date).collect::<Vec<_>>(),
        expected
    );
    // Ticking at noon daily, each deal is created on its own day, not caught up.
    for deal in &clamped {
        assert_eq!(deal.created_at.date_naive(), deal.nominal_date);
        assert!(!deal.catch_up);
    }
    let skipped_years: Vec<NaiveDate> = scheduled_deals(&engine, &acme, skip.id())
        .iter()
        .map(|d| d.nominal_date)
        .collect();
    assert_eq!(skipped_years, [date(2024, 2, 29), date(2028, 2, 29)]);
}

// ---------------------------------------------------------------------------------------------
// DST
// ---------------------------------------------------------------------------------------------

/// The instant of `local` in `zone` by the documented policy, computed with chrono-tz: a gap
/// moves the time forward by the gap's length, an overlap takes the earlier instant.
fn documented_instant(zone: Zone, local: chrono::NaiveDateTime) -> DateTime<Utc> {
    match zone.from_local_datetime(&local) {
        chrono::LocalResult::Single(t) => t.with_timezone(&Utc),
        chrono::LocalResult::Ambiguous(early, _) => early.with_timezone(&Utc),
        chrono::LocalResult::None => {
            // The offset before the gap applied to the wall time gives the moved-forward instant.
            let before = zone
                .offset_from_utc_datetime(&(local - TimeDelta::hours(12)))
                .fix();
            before
                .from_local_datetime(&local)
                .unwrap()
                .with_timezone(&Utc)
        }
    }
}

#[test]
fn new_york_daily_at_0230_across_spring_forward_creates_one_deal_at_0330_edt() {
    let ny = Zone::get("America/New_York").unwrap();
    let (engine, clock) = engine_at(utc(2026, 3, 6, 0, 0));
    let acme = tenant("acme");
    let schedule = daily(local(2026, 3, 6, 2, 30), ny).build().unwrap();
    let template = engine
        .create_template(&acme, TemplateDraft::new(deal("Night job", 100), schedule))
        .unwrap();
    // Hourly ticks: a second deal on the short day (02:30 and 03:30) would show.
    tick_every(&engine, &clock, TimeDelta::hours(1), utc(2026, 3, 11, 0, 0));
    let deals = scheduled_deals(&engine, &acme, template.id());
    let days: Vec<NaiveDate> = deals.iter().map(|d| d.nominal_date).collect();
    // Mar 6 to Mar 10 in New York (the last tick, 00:00 UTC on Mar 11, is Mar 10 evening).
    assert_eq!(days, (6..=10).map(|d| date(2026, 3, d)).collect::<Vec<_>>());
    // 2026-03-08 is the second Sunday of March: 02:00 EST jumps to 03:00 EDT.
    let sunday = deals
        .iter()
        .find(|d| d.nominal_date == date(2026, 3, 8))
        .unwrap();
    assert_eq!(sunday.nominal_at, utc(2026, 3, 8, 7, 30));
    let wall = sunday.nominal_at.with_timezone(&ny);
    assert_eq!(
        (
            wall.format("%H:%M").to_string(),
            wall.offset().fix().local_minus_utc()
        ),
        ("03:30".into(), -4 * 3600)
    );
    // The other days at 02:30 wall time: EST (UTC-5) before, EDT (UTC-4) after.
    for deal in &deals {
        assert_eq!(
            deal.nominal_at,
            documented_instant(ny, deal.nominal_date.and_hms_opt(2, 30, 0).unwrap())
        );
    }
    assert_eq!(deals[0].nominal_at, utc(2026, 3, 6, 7, 30));
    assert_eq!(deals[3].nominal_at, utc(2026, 3, 9, 6, 30));
    // Created by the first hourly tick at or after the nominal instant.
    assert_eq!(sunday.created_at, utc(2026, 3, 8, 8, 0));
}

#[test]
fn new_york_daily_at_0130_across_fall_back_creates_one_deal_at_the_earlier_instant() {
    let ny = Zone::get("America/New_York").unwrap();
    let (engine, clock) = engine_at(utc(2026, 10, 30, 12, 0));
    let acme = tenant("acme");
    let schedule = daily(local(2026, 10, 31, 1, 30), ny).build().unwrap();
    let template = engine
        .create_template(&acme, TemplateDraft::new(deal("Night job", 100), schedule))
        .unwrap();
    tick_every(
        &engine,
        &clock,
        TimeDelta::hours(1),
        utc(2026, 11, 3, 12, 0),
    );
    let deals = scheduled_deals(&engine, &acme, template.id());
    let days: Vec<NaiveDate> = deals.iter().map(|d| d.nominal_date).collect();
    assert_eq!(
        days,
        [
            date(2026, 10, 31),
            date(2026, 11, 1),
            date(2026, 11, 2),
            date(2026, 11, 3)
        ]
    );
    // 2026-11-01 (first Sunday of November) has 01:30 twice: EDT (05:30 UTC), then EST
    // (06:30 UTC). The earlier one, once.
    assert_eq!(deals[1].nominal_at, utc(2026, 11, 1, 5, 30));
    assert_eq!(deals[2].nominal_at, utc(2026, 11, 2, 6, 30));
}

// ---------------------------------------------------------------------------------------------
// Downtime and catch-up
// ---------------------------------------------------------------------------------------------

/// A daily 09:00 UTC template from Mar 1 2026, created at midnight, with `policy`; the clock
/// is then moved to `wake` with no tick in between (30 days of downtime).
fn after_downtime(policy: CatchUpPolicy, wake: DateTime<Utc>) -> (MemEngine, TenantId, TemplateId) {
    let (engine, clock) = engine_at(utc(2026, 3, 1, 0, 0));
    let acme = tenant("acme");
    let schedule = daily(local(2026, 3, 1, 9, 0), Zone::UTC).build().unwrap();
    let mut draft = TemplateDraft::new(deal("Daily", 100), schedule);
    draft.catch_up = policy;
    let template = engine.create_template(&acme, draft).unwrap();
    clock.set(wake);
    (engine, acme, template.id())
}

fn policy(mode: CatchUpMode) -> CatchUpPolicy {
    CatchUpPolicy {
        mode,
        ..CatchUpPolicy::default()
    }
}

/// The daily occurrence `seq` (0 = Mar 1 2026) of the downtime template.
fn march(seq: u64) -> NaiveDate {
    date(2026, 3, 1) + TimeDelta::days(seq as i64)
}

#[test]
fn downtime_catch_up_all_creates_every_missed_occurrence() {
    let wake = utc(2026, 3, 31, 12, 0);
    let (engine, acme, id) = after_downtime(policy(CatchUpMode::All), wake);
    let report = engine.tick().unwrap();
    // Mar 1 .. Mar 31 at 09:00 are all at or before Mar 31 12:00.
    let expected: Vec<DealKey> = (0..31).map(|s| scheduled(id, 0, s)).collect();
    assert_eq!(report.created, expected);
    assert!(report.skipped.is_empty());
    assert!(!report.more_due);
    assert_eq!(report.next_wake, Some(utc(2026, 4, 1, 9, 0)));
    let deals = scheduled_deals(&engine, &acme, id);
    assert_eq!(deals.len(), 31);
    for deal in &deals {
        let seq = seq_of(&deal.key);
        assert_eq!(deal.nominal_date, march(seq));
        assert_eq!(deal.created_at, wake);
        // Only today's occurrence is on time.
        assert_eq!(deal.catch_up, seq < 30, "seq {seq}");
    }
    // The outbox marks the caught-up deals too.
    let marked: Vec<bool> = drain_outbox(&engine)
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::DealCreated { catch_up, .. } => Some(catch_up),
            _ => None,
        })
        .collect();
    assert_eq!(marked.len(), 31);
    assert_eq!(marked.iter().filter(|c| **c).count(), 30);
}

/// Each `DealCreated` event carries the deal as stored (title, amount, dates, origin key),
/// so a handler needs no read per event (issue #18).
#[test]
fn deal_created_events_carry_the_stored_deal() {
    let (engine, acme, id) = after_downtime(policy(CatchUpMode::All), utc(2026, 3, 31, 12, 0));
    tick_all(&engine);
    let deals = scheduled_deals(&engine, &acme, id);
    let events = drain_outbox(&engine);
    let mut carried = 0;
    for event in &events {
        let EventKind::DealCreated { deal, content, .. } = &event.kind else {
            continue;
        };
        let stored = deals.iter().find(|d| d.key == *deal).expect("stored");
        let content = content.as_deref().expect("the event carries the deal");
        assert_eq!(content, &stored.deal, "{deal}");
        assert_eq!(content.origin(), Some(*deal));
        assert_eq!(content.begin_date(), stored.deal.begin_date());
        carried += 1;
    }
    assert_eq!(carried, 31);
}

#[test]
fn downtime_catch_up_latest_creates_only_the_latest_and_supersedes_the_rest() {
    // Woken before today's 09:00: the latest due occurrence is yesterday's (Mar 30).
    let (engine, acme, id) = after_downtime(policy(CatchUpMode::Latest), utc(2026, 3, 31, 6, 0));
    let report = engine.tick().unwrap();
    assert_eq!(report.created, [scheduled(id, 0, 29)]);
    let deal = engine.deal(&acme, scheduled(id, 0, 29)).unwrap().unwrap();
    assert_eq!(deal.nominal_date, date(2026, 3, 30));
    assert!(deal.catch_up);
    let skipped = engine.skipped(&acme, Some(id)).unwrap();
    assert_eq!(
        skipped.iter().map(|s| seq_of(&s.key)).collect::<Vec<_>>(),
        (0..29).collect::<Vec<_>>()
    );
    for s in &skipped {
        assert_eq!(s.reason, SkipReason::Superseded);
        assert_eq!(s.nominal_date, march(seq_of(&s.key)));
    }
    assert_eq!(report.skipped.len(), 29);
    // Today's occurrence then comes on time.
    engine.clock().set(utc(2026, 3, 31, 9, 0));
    let report = engine.tick().unwrap();
    assert_eq!(report.created, [scheduled(id, 0, 30)]);
    assert!(report.skipped.is_empty());
    assert!(
        !engine
            .deal(&acme, scheduled(id, 0, 30))
            .unwrap()
            .unwrap()
            .catch_up
    );
    let counters = engine.template(&acme, id).unwrap().counters();
    assert_eq!((counters.created_by_schedule, counters.skipped), (2, 29));
}

#[test]
fn downtime_catch_up_none_creates_only_todays_and_records_the_rest_missed() {
    let (engine, acme, id) = after_downtime(policy(CatchUpMode::None), utc(2026, 3, 31, 12, 0));
    let report = engine.tick().unwrap();
    assert_eq!(report.created, [scheduled(id, 0, 30)]);
    assert!(
        !engine
            .deal(&acme, scheduled(id, 0, 30))
            .unwrap()
            .unwrap()
            .catch_up
    );
    let skipped = engine.skipped(&acme, Some(id)).unwrap();
    assert_eq!(
        skipped.iter().map(|s| seq_of(&s.key)).collect::<Vec<_>>(),
        (0..30).collect::<Vec<_>>()
    );
    assert!(skipped.iter().all(|s| s.reason == SkipReason::Missed));
}

#[test]
fn downtime_catch_up_window_skips_older_occurrences() {
    let wake = utc(2026, 3, 31, 12, 0);
    let (engine, acme, id) = after_downtime(
        CatchUpPolicy {
            mode: CatchUpMode::All,
            window_days: Some(7),
            max_per_tick: 100,
        },
        wake,
    );
    let report = engine.tick().unwrap();
    // The window starts 7 days before the tick: Mar 24 12:00. Mar 24 09:00 is just outside.
    assert_eq!(
        report.created,
        (24..31).map(|s| scheduled(id, 0, s)).collect::<Vec<_>>()
    );
    let skipped = engine.skipped(&acme, Some(id)).unwrap();
    assert_eq!(
        skipped.iter().map(|s| seq_of(&s.key)).collect::<Vec<_>>(),
        (0..24).collect::<Vec<_>>()
    );
    assert!(
        skipped
            .iter()
            .all(|s| s.reason == SkipReason::OutsideWindow)
    );
    assert_eq!(skipped.last().unwrap().nominal_date, date(2026, 3, 24));
}

#[test]
fn downtime_max_per_tick_bounds_a_tick_and_sets_more_due() {
    let wake = utc(2026, 3, 31, 12, 0);
    let (engine, acme, id) = after_downtime(
        CatchUpPolicy {
            mode: CatchUpMode::All,
            window_days: None,
            max_per_tick: 10,
        },
        wake,
    );
    let reports = tick_all(&engine);
    // 31 due occurrences, 10 per tick: 10, 10, 10, 1.
    let sizes: Vec<usize> = reports.iter().map(|r| r.created.len()).collect();
    assert_eq!(sizes, [10, 10, 10, 1]);
    let more: Vec<bool> = reports.iter().map(|r| r.more_due).collect();
    assert_eq!(more, [true, true, true, false]);
    // While more is due the engine wants to run again at once.
    assert_eq!(reports[0].next_wake, Some(wake));
    assert_eq!(reports[3].next_wake, Some(utc(2026, 4, 1, 9, 0)));
    let all: Vec<DealKey> = reports.iter().flat_map(|r| r.created.clone()).collect();
    assert_eq!(
        all,
        (0..31).map(|s| scheduled(id, 0, s)).collect::<Vec<_>>()
    );
    assert_eq!(scheduled_deals(&engine, &acme, id).len(), 31);
}

// ---------------------------------------------------------------------------------------------
// One-off with lead time; installment split
// ---------------------------------------------------------------------------------------------

fn once_draft(total: i64, shares: Option<Vec<u32>>) -> TemplateDraft {
    let schedule = Schedule::builder(
        Recurrence::Once {
            date: date(2026, 6, 15),
            lead: Lead::Days(5),
        },
        local(2026, 1, 1, 9, 0),
        Zone::get("Europe/Moscow").unwrap(),
    )
    .build()
    .unwrap();
    let mut draft = TemplateDraft::new(deal("Project, 2nd half", total), schedule);
    draft.split = shares.map(|s| InstallmentSplit::new(s).unwrap());
    draft
}

#[test]
fn once_with_lead_creates_one_deal_five_days_before_then_finishes() {
    let (engine, clock) = engine_at(utc(2026, 1, 1, 6, 0));
    let acme = tenant("acme");
    let template = engine
        .create_template(&acme, once_draft(1_000_001, Some(vec![5000, 5000])))
        .unwrap();
    let mut created_on = Vec::new();
    let mut finished_events = Vec::new();
    while clock.now() < utc(2026, 12, 31, 6, 0) {
        clock.advance(TimeDelta::days(1));
        let report = engine.tick().unwrap();
        for key in report.created {
            created_on.push((clock.now(), key));
        }
        for event in drain_outbox(&engine) {
            if let EventKind::TemplateFinished { template } = event.kind {
                finished_events.push((event.at, template));
            }
        }
    }
    // June 15 minus 5 days is June 10, 09:00 Moscow = 06:00 UTC.
    let key = scheduled(template.id(), 0, 0);
    assert_eq!(created_on, [(utc(2026, 6, 10, 6, 0), key)]);
    let created = engine.deal(&acme, key).unwrap().unwrap();
    assert_eq!(created.nominal_date, date(2026, 6, 10));
    // 1 000 001 kopecks split 50/50: 500 000.5 each; the odd kopeck goes to the first share
    // (largest remainder, ties to the first), the created deal takes the later share.
    assert_eq!(created.deal.amount(), Money::new(500_000, rub()));
    let after = engine.template(&acme, template.id()).unwrap();
    assert_eq!(after.state(), &TemplateState::Finished);
    assert_eq!(after.next_run(), None);
    assert_eq!(finished_events, [(utc(2026, 6, 10, 6, 0), template.id())]);
}

#[test]
fn installment_shares_sum_exactly_and_the_deal_takes_the_last_share() {
    let (engine, clock) = engine_at(utc(2026, 1, 1, 6, 0));
    let acme = tenant("acme");
    // 30/70 of 1 000 001: 300 000.3 and 700 000.7; the kopeck left goes to the larger
    // fraction, the 70 % share: 300 000 + 700 001.
    let template = engine
        .create_template(&acme, once_draft(1_000_001, Some(vec![3000, 7000])))
        .unwrap();
    let split = InstallmentSplit::new(vec![3000, 7000]).unwrap();
    let parts = split.amounts(Money::new(1_000_001, rub()));
    assert_eq!(
        parts.iter().map(|m| m.minor).collect::<Vec<_>>(),
        [300_000, 700_001]
    );
    clock.set(utc(2026, 6, 10, 6, 0));
    engine.tick().unwrap();
    let created = engine
        .deal(&acme, scheduled(template.id(), 0, 0))
        .unwrap()
        .unwrap();
    assert_eq!(created.deal.amount().minor, 700_001);
    // Odd totals and uneven shares always sum exactly.
    for total in [1, 3, 99, 100_001, 999_999_999] {
        for shares in [vec![5000, 5000], vec![3333, 3333, 3334], vec![1, 9999]] {
            let parts = InstallmentSplit::new(shares)
                .unwrap()
                .amounts(Money::new(total, rub()));
            assert_eq!(parts.iter().map(|m| m.minor).sum::<i64>(), total);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Invoices and reminders
// ---------------------------------------------------------------------------------------------

/// Monthly on the 1st at 09:00 Moscow (06:00 UTC), Feb 1 and Mar 1 2026, each with an invoice
/// due in 10 days and reminders 3 and 1 days before, 1 and 7 days after.
fn invoiced(engine: &MemEngine, acme: &TenantId) -> TemplateId {
    let schedule = Schedule::builder(
        Recurrence::monthly(Interval::ONE, MonthDay::Day(DayOfMonth::new(1).unwrap())),
        local(2026, 2, 1, 9, 0),
        Zone::get("Europe/Moscow").unwrap(),
    )
    .end(End::Until(date(2026, 3, 31)))
    .build()
    .unwrap();
    let mut draft = TemplateDraft::new(deal("Hosting", 990_000), schedule);
    draft.invoice = Some(InvoiceOptions {
        payment_due: PaymentDue::Days(10),
        send_to: vec![501],
        mail_template: Some(7),
        document_template: None,
        remind_before_days: vec![3, 1],
        remind_after_days: vec![1, 7],
        dunning: vec![],
    });
    engine.create_template(acme, draft).unwrap().id()
}

/// `(delivered at, deal, offset)` of every payment reminder, ticking daily at the clock's time
/// until `end`; `each_day` runs after every tick.
fn reminders_until(
    engine: &MemEngine,
    clock: &ManualClock,
    end: DateTime<Utc>,
    mut each_day: impl FnMut(&MemEngine, DateTime<Utc>),
) -> Vec<(DateTime<Utc>, DealKey, i32)> {
    let mut sent = Vec::new();
    while clock.now() < end {
        clock.advance(TimeDelta::days(1));
        engine.tick().unwrap();
        for event in drain_outbox(engine) {
            if let EventKind::PaymentReminder {
                deal, offset_days, ..
            } = event.kind
            {
                sent.push((event.at, deal, offset_days));
            }
        }
        each_day(engine, clock.now());
    }
    sent
}

#[test]
fn reminders_go_out_once_each_on_their_day() {
    let (engine, clock) = engine_at(utc(2026, 1, 15, 6, 0));
    let acme = tenant("acme");
    let id = invoiced(&engine, &acme);
    let sent = reminders_until(&engine, &clock, utc(2026, 4, 30, 6, 0), |_, _| {});
    let feb = scheduled(id, 0, 0);
    let mar = scheduled(id, 0, 1);
    // Due Feb 11 and Mar 11: reminders on the 8th, 10th, 12th and 18th at 09:00 Moscow.
    let expected = vec![
        (utc(2026, 2, 8, 6, 0), feb, -3),
        (utc(2026, 2, 10, 6, 0), feb, -1),
        (utc(2026, 2, 12, 6, 0), feb, 1),
        (utc(2026, 2, 18, 6, 0), feb, 7),
        (utc(2026, 3, 8, 6, 0), mar, -3),
        (utc(2026, 3, 10, 6, 0), mar, -1),
        (utc(2026, 3, 12, 6, 0), mar, 1),
        (utc(2026, 3, 18, 6, 0), mar, 7),
    ];
    assert_eq!(sent, expected);
    let invoice = engine.invoice(&acme, feb).unwrap();
    assert_eq!(
        (invoice.issued_on, invoice.due_on),
        (date(2026, 2, 1), date(2026, 2, 11))
    );
    assert_eq!(invoice.amount, Money::new(990_000, rub()));
    assert!(invoice.pending_reminders.is_empty());
}

#[test]
fn a_paid_invoice_gets_no_more_reminders() {
    let (engine, clock) = engine_at(utc(2026, 1, 15, 6, 0));
    let acme = tenant("acme");
    let id = invoiced(&engine, &acme);
    let feb = scheduled(id, 0, 0);
    let sent = reminders_until(&engine, &clock, utc(2026, 4, 30, 6, 0), |engine, now| {
        // Paid on Feb 9, after the first reminder.
        if now == utc(2026, 2, 9, 6, 0) {
            let invoice = engine
                .set_invoice_status(&tenant("acme"), feb, InvoiceStatus::Paid)
                .unwrap();
            assert_eq!(invoice.status, InvoiceStatus::Paid);
        }
    });
    let for_feb: Vec<i32> = sent
        .iter()
        .filter(|(_, d, _)| *d == feb)
        .map(|(_, _, o)| *o)
        .collect();
    assert_eq!(for_feb, [-3]);
    let for_mar: Vec<i32> = sent
        .iter()
        .filter(|(_, d, _)| *d != feb)
        .map(|(_, _, o)| *o)
        .collect();
    assert_eq!(for_mar, [-3, -1, 1, 7]);
    let invoice = engine.invoice(&acme, feb).unwrap();
    assert_eq!(invoice.status, InvoiceStatus::Paid);
}

#[test]
fn a_reopened_invoice_gets_its_remaining_reminders() {
    let (engine, clock) = engine_at(utc(2026, 1, 15, 6, 0));
    let acme = tenant("acme");
    let id = invoiced(&engine, &acme);
    let feb = scheduled(id, 0, 0);
    let sent = reminders_until(&engine, &clock, utc(2026, 2, 28, 6, 0), |engine, now| {
        // Marked paid by mistake on Feb 9, reopened the same day: an open invoice is "not
        // paid yet: reminders go out", so Feb 10, 12 and 18 are still due.
        if now == utc(2026, 2, 9, 6, 0) {
            let acme = tenant("acme");
            engine
                .set_invoice_status(&acme, feb, InvoiceStatus::Paid)
                .unwrap();
            engine
                .set_invoice_status(&acme, feb, InvoiceStatus::Open)
                .unwrap();
        }
    });
    let offsets: Vec<i32> = sent.iter().map(|(_, _, o)| *o).collect();
    assert_eq!(offsets, [-3, -1, 1, 7]);
}

#[test]
fn reminders_already_past_when_a_late_deal_is_issued_are_not_sent() {
    let (engine, clock) = engine_at(utc(2026, 1, 15, 6, 0));
    let acme = tenant("acme");
    let id = invoiced(&engine, &acme);
    let feb = scheduled(id, 0, 0);
    // Down from Jan 15 to Feb 13: the Feb 1 deal is caught up on Feb 13; its reminders of
    // Feb 8, 10 and 12 are already past, only Feb 18 is left.
    clock.set(utc(2026, 2, 13, 6, 0));
    let report = engine.tick().unwrap();
    assert_eq!(report.created, [feb]);
    assert!(engine.deal(&acme, feb).unwrap().unwrap().catch_up);
    let invoice = engine.invoice(&acme, feb).unwrap();
    assert_eq!(
        invoice.pending_reminders,
        [PendingReminder {
            at: utc(2026, 2, 18, 6, 0),
            offset_days: 7
        }]
    );
    drain_outbox(&engine);
    let sent = reminders_until(&engine, &clock, utc(2026, 2, 28, 6, 0), |_, _| {});
    assert_eq!(sent, [(utc(2026, 2, 18, 6, 0), feb, 7)]);
}

#[test]
fn after_downtime_only_the_latest_due_reminder_goes_out() {
    let (engine, clock) = engine_at(utc(2026, 1, 31, 6, 0));
    let acme = tenant("acme");
    let id = invoiced(&engine, &acme);
    let feb = scheduled(id, 0, 0);
    clock.set(utc(2026, 2, 1, 6, 0));
    assert_eq!(engine.tick().unwrap().created, [feb]);
    drain_outbox(&engine);
    // Down from Feb 1 to Feb 13: -3, -1 and +1 are due; only +1 (the latest) is sent.
    clock.set(utc(2026, 2, 12, 6, 0));
    let sent = reminders_until(&engine, &clock, utc(2026, 2, 20, 6, 0), |_, _| {});
    assert_eq!(
        sent,
        [
            (utc(2026, 2, 13, 6, 0), feb, 1),
            (utc(2026, 2, 18, 6, 0), feb, 7)
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Count and until
// ---------------------------------------------------------------------------------------------

#[test]
fn count_is_exact_and_a_skipped_occurrence_does_not_use_it_up() {
    let (engine, clock) = engine_at(utc(2026, 3, 1, 0, 0));
    let acme = tenant("acme");
    let schedule = daily(local(2026, 3, 1, 9, 0), Zone::UTC)
        .end(End::Count(5))
        .build()
        .unwrap();
    let template = engine
        .create_template(&acme, TemplateDraft::new(deal("Five", 100), schedule))
        .unwrap();
    assert_eq!(template.limit(), Some(5));
    let id = template.id();
    clock.set(utc(2026, 3, 1, 12, 0));
    assert_eq!(engine.tick().unwrap().created, [scheduled(id, 0, 0)]);
    let skipped = engine.skip_next(&acme, id).unwrap();
    assert_eq!((skipped.seq(), skipped.date()), (1, date(2026, 3, 2)));
    let mut finished_at = None;
    while clock.now() < utc(2026, 3, 20, 12, 0) {
        clock.advance(TimeDelta::days(1));
        engine.tick().unwrap();
        if finished_at.is_none()
            && engine.template(&acme, id).unwrap().state() == &TemplateState::Finished
        {
            finished_at = Some(clock.now());
        }
    }
    let deals = scheduled_deals(&engine, &acme, id);
    let seqs: Vec<u64> = deals.iter().map(|d| seq_of(&d.key)).collect();
    assert_eq!(seqs, [0, 2, 3, 4, 5]);
    assert_eq!(deals.last().unwrap().nominal_date, date(2026, 3, 6));
    let skipped = engine.skipped(&acme, Some(id)).unwrap();
    assert_eq!(skipped.len(), 1);
    assert_eq!(
        (seq_of(&skipped[0].key), skipped[0].reason),
        (1, SkipReason::Requested)
    );
    // Finished by the tick that created the fifth deal.
    assert_eq!(finished_at, Some(utc(2026, 3, 6, 12, 0)));
    let counters = engine.template(&acme, id).unwrap().counters();
    assert_eq!((counters.created_by_schedule, counters.skipped), (5, 1));
}

#[test]
fn until_stops_on_or_before_the_date() {
    let (engine, clock) = engine_at(utc(2026, 3, 1, 0, 0));
    let acme = tenant("acme");
    // 2026-03-01 is a Sunday: Mondays are Mar 2, 9, 16, 23, 30; until Sunday Mar 29.
    let mondays = Schedule::builder(
        Recurrence::weekly(Interval::ONE, WeekdaySet::single(Weekday::Mon)),
        local(2026, 3, 2, 9, 0),
        Zone::UTC,
    )
    .end(End::Until(date(2026, 3, 29)))
    .build()
    .unwrap();
    let weekly = engine
        .create_template(&acme, TemplateDraft::new(deal("Weekly", 100), mondays))
        .unwrap();
    // Until a day with an occurrence: inclusive.
    let days = daily(local(2026, 3, 1, 9, 0), Zone::UTC)
        .end(End::Until(date(2026, 3, 10)))
        .build()
        .unwrap();
    let daily_t = engine
        .create_template(&acme, TemplateDraft::new(deal("Daily", 100), days))
        .unwrap();
    tick_every(&engine, &clock, TimeDelta::hours(6), utc(2026, 4, 30, 0, 0));
    let weekly_dates: Vec<NaiveDate> = scheduled_deals(&engine, &acme, weekly.id())
        .iter()
        .map(|d| d.nominal_date)
        .collect();
    assert_eq!(
        weekly_dates,
        [
            date(2026, 3, 2),
            date(2026, 3, 9),
            date(2026, 3, 16),
            date(2026, 3, 23)
        ]
    );
    let daily_dates: Vec<NaiveDate> = scheduled_deals(&engine, &acme, daily_t.id())
        .iter()
        .map(|d| d.nominal_date)
        .collect();
    assert_eq!(
        daily_dates,
        (1..=10).map(|d| date(2026, 3, d)).collect::<Vec<_>>()
    );
    for id in [weekly.id(), daily_t.id()] {
        assert_eq!(
            engine.template(&acme, id).unwrap().state(),
            &TemplateState::Finished
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Create now
// ---------------------------------------------------------------------------------------------

#[test]
fn create_now_does_not_shift_the_schedule_nor_use_up_the_count() {
    let (engine, clock) = engine_at(utc(2026, 3, 1, 0, 0));
    let acme = tenant("acme");
    let schedule = daily(local(2026, 3, 1, 9, 0), Zone::UTC)
        .end(End::Count(3))
        .build()
        .unwrap();
    let template = engine
        .create_template(&acme, TemplateDraft::new(deal("Three", 100), schedule))
        .unwrap();
    let id = template.id();
    clock.set(utc(2026, 3, 1, 3, 0));
    let manual = engine.create_now(&acme, id).unwrap();
    assert_eq!(
        manual.key,
        DealKey::Manual {
            template: id,
            number: 0
        }
    );
    assert_eq!(manual.nominal_date, date(2026, 3, 1));
    assert_eq!(manual.created_at, utc(2026, 3, 1, 3, 0));
    // The schedule still wakes at the first occurrence.
    let after = engine.template(&acme, id).unwrap();
    assert_eq!(after.next_run(), Some(utc(2026, 3, 1, 9, 0)));
    assert_eq!(engine.next_wake().unwrap(), Some(utc(2026, 3, 1, 9, 0)));
    tick_every(&engine, &clock, TimeDelta::hours(3), utc(2026, 3, 10, 0, 0));
    let deals = scheduled_deals(&engine, &acme, id);
    assert_eq!(
        deals.iter().map(|d| d.nominal_date).collect::<Vec<_>>(),
        [date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)]
    );
    assert_eq!(deals[0].nominal_at, utc(2026, 3, 1, 9, 0));
    let finished = engine.template(&acme, id).unwrap();
    assert_eq!(finished.state(), &TemplateState::Finished);
    // A finished template can still create a deal by hand.
    let again = engine.create_now(&acme, id).unwrap();
    assert_eq!(
        again.key,
        DealKey::Manual {
            template: id,
            number: 1
        }
    );
    let counters = engine.template(&acme, id).unwrap().counters();
    assert_eq!(
        (counters.created_by_schedule, counters.created_manually),
        (3, 2)
    );
    assert_eq!(engine.deals(&acme, Some(id)).unwrap().len(), 5);
    assert_eq!(
        engine.template(&acme, id).unwrap().state(),
        &TemplateState::Finished
    );
}

// ---------------------------------------------------------------------------------------------
// Pause and resume
// ---------------------------------------------------------------------------------------------

/// A daily 09:00 UTC template from Mar 1 2026 with `resume`, ticked at noon on Mar 1 and 2.
fn two_days_in(resume: ResumePolicy) -> (MemEngine, ManualClock, TenantId, TemplateId) {
    let (engine, clock) = engine_at(utc(2026, 3, 1, 0, 0));
    let acme = tenant("acme");
    let schedule = daily(local(2026, 3, 1, 9, 0), Zone::UTC).build().unwrap();
    let mut draft = TemplateDraft::new(deal("Daily", 100), schedule);
    draft.resume = resume;
    let id = engine.create_template(&acme, draft).unwrap().id();
    clock.set(utc(2026, 3, 1, 12, 0));
    engine.tick().unwrap();
    clock.set(utc(2026, 3, 2, 12, 0));
    engine.tick().unwrap();
    (engine, clock, acme, id)
}

/// A resume date resumes on that date: a daily 00:00 schedule (midnight billing) paused
/// until Mar 6 creates Mar 6's deal, at the resume date's first instant, with either resume
/// policy and whether the tick comes at 00:00 or later; Mar 3 to 5 are skipped as paused
/// (or caught up). The same walk answers the preview.
#[test]
fn a_resume_date_at_an_occurrences_midnight_resumes_with_it() {
    for (policy, tick_at) in [
        (ResumePolicy::SkipPausedSpan, utc(2026, 3, 6, 0, 0)),
        (ResumePolicy::SkipPausedSpan, utc(2026, 3, 6, 0, 1)),
        (ResumePolicy::CatchUpPausedSpan, utc(2026, 3, 6, 0, 0)),
    ] {
        let (engine, clock) = engine_at(utc(2026, 3, 1, 0, 0));
        let acme = tenant("acme");
        let schedule = daily(local(2026, 3, 1, 0, 0), Zone::UTC).build().unwrap();
        let mut draft = TemplateDraft::new(deal("Midnight", 100), schedule);
        draft.resume = policy;
        let id = engine.create_template(&acme, draft).unwrap().id();
        clock.set(utc(2026, 3, 2, 12, 0));
        engine.tick().unwrap();
        engine
            .pause(&acme, id, "hold", Some(date(2026, 3, 6)))
            .unwrap();
        if policy == ResumePolicy::SkipPausedSpan {
            let preview = engine.preview(&acme, id, 1).unwrap();
            assert_eq!(preview[0].date, date(2026, 3, 6));
        }
        clock.set(tick_at);
        while engine.tick().unwrap().more_due {}
        let dates: Vec<NaiveDate> = scheduled_deals(&engine, &acme, id)
            .iter()
            .map(|d| d.nominal_date)
            .collect();
        let expected: Vec<NaiveDate> = match policy {
            ResumePolicy::SkipPausedSpan => {
                vec![date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 6)]
            }
            _ => (1..=6).map(|d| date(2026, 3, d)).collect(),
        };
        assert_eq!(dates, expected, "{policy:?} ticked at {tick_at}");
        let skipped: Vec<NaiveDate> = engine
            .skipped(&acme, Some(id))
            .unwrap()
            .iter()
            .map(|s| s.nominal_date)
            .collect();
        assert!(
            !skipped.contains(&date(2026, 3, 6)),
            "{policy:?}: {skipped:?}"
        );
    }
}

#[test]
fn pause_with_a_resume_date_skips_the_paused_span_and_continues() {
    let (engine, clock, acme, id) = two_days_in(ResumePolicy::SkipPausedSpan);
    let paused = engine
        .pause(&acme, id, "vacation", Some(date(2026, 3, 6)))
        .unwrap();
    assert!(matches!(paused.state(), TemplateState::Paused { .. }));
    let reports = tick_daily(&engine, &clock, utc(2026, 3, 10, 12, 0));
    // Mar 3, 4 and 5 fall in the pause; it resumes at the start of Mar 6.
    assert!(reports[..3].iter().all(|r| r.created.is_empty()));
    let seqs: Vec<u64> = scheduled_deals(&engine, &acme, id)
        .iter()
        .map(|d| seq_of(&d.key))
        .collect();
    assert_eq!(seqs, [0, 1, 5, 6, 7, 8, 9]);
    let skipped = engine.skipped(&acme, Some(id)).unwrap();
    assert_eq!(
        skipped
            .iter()
            .map(|s| (s.nominal_date, s.reason))
            .collect::<Vec<_>>(),
        [
            (date(2026, 3, 3), SkipReason::Paused),
            (date(2026, 3, 4), SkipReason::Paused),
            (date(2026, 3, 5), SkipReason::Paused)
        ]
    );
    assert!(
        !engine
            .deal(&acme, scheduled(id, 0, 5))
            .unwrap()
            .unwrap()
            .catch_up
    );
    assert_eq!(
        engine.template(&acme, id).unwrap().state(),
        &TemplateState::Active
    );
}

#[test]
fn resume_by_hand_with_catch_up_policy_creates_the_paused_span() {
    let (engine, clock, acme, id) = two_days_in(ResumePolicy::CatchUpPausedSpan);
    engine.pause(&acme, id, "hold", None).unwrap();
    let reports = tick_daily(&engine, &clock, utc(2026, 3, 5, 12, 0));
    assert!(
        reports
            .iter()
            .all(|r| r.created.is_empty() && r.skipped.is_empty())
    );
    engine.resume(&acme, id).unwrap();
    let report = engine.tick().unwrap();
    assert_eq!(
        report.created,
        (2..5).map(|s| scheduled(id, 0, s)).collect::<Vec<_>>()
    );
    let catch_up: Vec<bool> = (2..5)
        .map(|s| {
            engine
                .deal(&acme, scheduled(id, 0, s))
                .unwrap()
                .unwrap()
                .catch_up
        })
        .collect();
    // Mar 3 and 4 are late; Mar 5 is today's.
    assert_eq!(catch_up, [true, true, false]);
    assert!(engine.skipped(&acme, Some(id)).unwrap().is_empty());
}

#[test]
fn resume_by_hand_with_skip_policy_skips_the_paused_span() {
    let (engine, clock, acme, id) = two_days_in(ResumePolicy::SkipPausedSpan);
    engine.pause(&acme, id, "hold", None).unwrap();
    tick_daily(&engine, &clock, utc(2026, 3, 5, 12, 0));
    engine.resume(&acme, id).unwrap();
    tick_daily(&engine, &clock, utc(2026, 3, 7, 12, 0));
    let seqs: Vec<u64> = scheduled_deals(&engine, &acme, id)
        .iter()
        .map(|d| seq_of(&d.key))
        .collect();
    assert_eq!(seqs, [0, 1, 5, 6]);
    let skipped: Vec<(u64, SkipReason)> = engine
        .skipped(&acme, Some(id))
        .unwrap()
        .iter()
        .map(|s| (seq_of(&s.key), s.reason))
        .collect();
    assert_eq!(
        skipped,
        [
            (2, SkipReason::Paused),
            (3, SkipReason::Paused),
            (4, SkipReason::Paused)
        ]
    );
}

#[test]
fn pausing_a_paused_template_and_resuming_an_active_one_change_nothing() {
    let (engine, _clock, acme, id) = two_days_in(ResumePolicy::SkipPausedSpan);
    let active = engine.template(&acme, id).unwrap();
    let resumed = engine.resume(&acme, id).unwrap();
    assert_eq!(resumed, active);
    assert_eq!(
        engine.template(&acme, id).unwrap().version(),
        active.version()
    );
    let paused = engine
        .pause(&acme, id, "first", Some(date(2026, 3, 9)))
        .unwrap();
    let again = engine.pause(&acme, id, "second", None).unwrap();
    assert_eq!(again, paused);
    let stored = engine.template(&acme, id).unwrap();
    assert_eq!(stored.version(), paused.version());
    assert_eq!(
        stored.state(),
        &TemplateState::Paused {
            note: "first".into(),
            resume_on: Some(date(2026, 3, 9))
        }
    );
}

#[test]
fn preview_after_an_unticked_resume_date_matches_the_tick() {
    let (engine, clock, acme, id) = two_days_in(ResumePolicy::SkipPausedSpan);
    engine
        .pause(&acme, id, "vacation", Some(date(2026, 3, 5)))
        .unwrap();
    // The host was down from Mar 2 noon to Mar 7 noon: the resume date passed unticked.
    clock.set(utc(2026, 3, 7, 12, 0));
    let preview = engine.preview(&acme, id, 3).unwrap();
    let report = engine.tick().unwrap();
    // The pause ended at the start of Mar 5: Mar 3 and 4 are skipped, Mar 5, 6 and 7 are
    // caught up by this tick.
    let expected: Vec<DealKey> = (4..7).map(|s| scheduled(id, 0, s)).collect();
    assert_eq!(report.created, expected);
    let previewed: Vec<DealKey> = preview.iter().map(|p| p.key).collect();
    assert_eq!(previewed, expected, "the preview promised other deals");
}

// ---------------------------------------------------------------------------------------------
// Schedule edits and moved occurrences
// ---------------------------------------------------------------------------------------------

fn edited(new_end: End) -> (MemEngine, TenantId, TemplateId) {
    let (engine, clock) = engine_at(utc(2026, 3, 1, 0, 0));
    let acme = tenant("acme");
    let schedule = daily(local(2026, 3, 1, 9, 0), Zone::UTC)
        .end(End::Count(10))
        .build()
        .unwrap();
    let id = engine
        .create_template(&acme, TemplateDraft::new(deal("Ten", 100), schedule))
        .unwrap()
        .id();
    clock.set(utc(2026, 3, 1, 12, 0));
    engine.tick().unwrap();
    tick_daily(&engine, &clock, utc(2026, 3, 3, 12, 0));
    assert_eq!(scheduled_deals(&engine, &acme, id).len(), 3);
    // From Mar 4 at 15:00 instead of 09:00.
    let later = daily(local(2026, 3, 4, 15, 0), Zone::UTC)
        .end(new_end)
        .build()
        .unwrap();
    let template = engine.edit_schedule(&acme, id, later).unwrap();
    assert_eq!(template.revision(), 1);
    tick_daily(&engine, &clock, utc(2026, 3, 31, 12, 0));
    (engine, acme, id)
}

#[test]
fn edit_schedule_keeps_created_deals_starts_a_revision_and_carries_the_count() {
    let (engine, acme, id) = edited(End::Never);
    let deals = scheduled_deals(&engine, &acme, id);
    let mut expected: Vec<(DealKey, DateTime<Utc>)> = (0..3)
        .map(|s| (scheduled(id, 0, s), utc(2026, 3, 1 + s as u32, 9, 0)))
        .collect();
    // 10 - 3 = 7 more, Mar 4 to Mar 10 at 15:00, numbered from 0 in revision 1.
    expected.extend((0..7).map(|s| (scheduled(id, 1, s), utc(2026, 3, 4 + s as u32, 15, 0))));
    assert_eq!(
        deals
            .iter()
            .map(|d| (d.key, d.nominal_at))
            .collect::<Vec<_>>(),
        expected
    );
    let template = engine.template(&acme, id).unwrap();
    assert_eq!(template.state(), &TemplateState::Finished);
    assert_eq!(template.counters().created_by_schedule, 10);
}

#[test]
fn edit_schedule_with_a_count_sets_how_many_are_still_to_create() {
    let (engine, acme, id) = edited(End::Count(2));
    let keys: Vec<DealKey> = scheduled_deals(&engine, &acme, id)
        .iter()
        .map(|d| d.key)
        .collect();
    let expected = vec![
        scheduled(id, 0, 0),
        scheduled(id, 0, 1),
        scheduled(id, 0, 2),
        scheduled(id, 1, 0),
        scheduled(id, 1, 1),
    ];
    assert_eq!(keys, expected);
}

#[test]
fn edit_schedule_does_not_lose_due_occurrences() {
    let (engine, clock) = engine_at(utc(2026, 3, 1, 0, 0));
    let acme = tenant("acme");
    let schedule = daily(local(2026, 3, 1, 9, 0), Zone::UTC).build().unwrap();
    let id = engine
        .create_template(&acme, TemplateDraft::new(deal("Daily", 100), schedule))
        .unwrap()
        .id();
    // No tick until Mar 4 noon: Mar 1 to 4 are due when the schedule is edited.
    clock.set(utc(2026, 3, 4, 12, 0));
    let later = daily(local(2026, 3, 5, 15, 0), Zone::UTC).build().unwrap();
    engine.edit_schedule(&acme, id, later).unwrap();
    clock.set(utc(2026, 3, 6, 0, 0));
    tick_all(&engine);
    // Every occurrence that came due is accounted for: created, or skipped with a reason.
    let revision_0 = |key: &DealKey| matches!(key, DealKey::Scheduled { revision: 0, .. });
    let created = engine
        .deals(&acme, Some(id))
        .unwrap()
        .iter()
        .filter(|d| revision_0(&d.key))
        .count();
    let skipped = engine
        .skipped(&acme, Some(id))
        .unwrap()
        .iter()
        .filter(|s| revision_0(&s.key))
        .count();
    assert_eq!(created + skipped, 4, "{created} created, {skipped} skipped");
}

/// A one-off on Mar 1 and a daily series until Mar 5, both made on Mar 10.
fn past_series() -> [Schedule; 2] {
    let once = Schedule::builder(
        Recurrence::Once {
            date: date(2026, 3, 1),
            lead: Lead::None,
        },
        local(2026, 3, 1, 9, 0),
        Zone::UTC,
    )
    .build()
    .unwrap();
    let until = daily(local(2026, 3, 1, 9, 0), Zone::UTC)
        .end(End::Until(date(2026, 3, 5)))
        .build()
        .unwrap();
    [once, until]
}

#[test]
fn an_exhausted_template_finishes_by_the_next_tick_and_says_so() {
    let (engine, clock) = engine_at(utc(2026, 3, 10, 0, 0));
    let acme = tenant("acme");
    let mut exhausted = Vec::new();
    // Past days are not back-filled, so nothing is left of these.
    for schedule in past_series() {
        let template = engine
            .create_template(&acme, TemplateDraft::new(deal("Past", 100), schedule))
            .unwrap();
        // Finished already, or due now to be finished: not active with nothing to do.
        assert!(
            template.state() == &TemplateState::Finished
                || template.next_run().is_some_and(|t| t <= clock.now()),
            "{:?} {:?}",
            template.state(),
            template.next_run()
        );
        exhausted.push(template.id());
    }
    // An edit whose new schedule has nothing left ends a running template.
    let running = engine.create_template(&acme, daily_draft()).unwrap().id();
    let [_, ended] = past_series();
    engine.edit_schedule(&acme, running, ended).unwrap();
    exhausted.push(running);
    clock.advance(TimeDelta::hours(1));
    let report = engine.tick().unwrap();
    assert!(report.created.is_empty());
    for id in &exhausted {
        let template = engine.template(&acme, *id).unwrap();
        assert_eq!(template.state(), &TemplateState::Finished, "{id}");
        assert_eq!(template.next_run(), None);
    }
    let announced: Vec<TemplateId> = drain_outbox(&engine)
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::TemplateFinished { template } => Some(template),
            _ => None,
        })
        .collect();
    assert_eq!(announced, exhausted);
    // Finished templates do not count against a limit.
    assert_eq!(engine.count_live(&acme).unwrap(), 0);
    assert_eq!(engine.next_wake().unwrap(), None);
}

#[test]
fn move_occurrence_keeps_its_key() {
    let (engine, clock) = engine_at(utc(2026, 3, 1, 0, 0));
    let acme = tenant("acme");
    let schedule = daily(local(2026, 3, 1, 9, 0), Zone::UTC).build().unwrap();
    let id = engine
        .create_template(&acme, TemplateDraft::new(deal("Daily", 100), schedule))
        .unwrap()
        .id();
    // Mar 5 (seq 4) moves to Mar 6 13:00, after Mar 6's own 09:00 (seq 5).
    engine
        .move_occurrence(&acme, id, date(2026, 3, 5), local(2026, 3, 6, 13, 0))
        .unwrap();
    let reports = tick_every(&engine, &clock, TimeDelta::hours(1), utc(2026, 3, 8, 0, 0));
    let deals = scheduled_deals(&engine, &acme, id);
    assert_eq!(
        deals
            .iter()
            .map(|d| seq_of(&d.key))
            .collect::<BTreeSet<_>>(),
        (0..7).collect::<BTreeSet<_>>()
    );
    let moved = engine.deal(&acme, scheduled(id, 0, 4)).unwrap().unwrap();
    assert_eq!(moved.nominal_at, utc(2026, 3, 6, 13, 0));
    assert_eq!(moved.created_at, utc(2026, 3, 6, 13, 0));
    assert!(deals.iter().all(|d| d.nominal_date != date(2026, 3, 5)));
    let created_on_mar_5: usize = reports
        .iter()
        .filter(|r| r.at.date_naive() == date(2026, 3, 5))
        .map(|r| r.created.len())
        .sum();
    assert_eq!(created_on_mar_5, 0);
}

#[test]
fn moving_an_occurrence_already_created_does_not_cost_a_deal_of_the_count() {
    let (engine, clock) = engine_at(utc(2026, 3, 1, 0, 0));
    let acme = tenant("acme");
    let schedule = daily(local(2026, 3, 1, 9, 0), Zone::UTC)
        .end(End::Count(3))
        .build()
        .unwrap();
    let id = engine
        .create_template(&acme, TemplateDraft::new(deal("Three", 100), schedule))
        .unwrap()
        .id();
    clock.set(utc(2026, 3, 1, 12, 0));
    assert_eq!(engine.tick().unwrap().created, [scheduled(id, 0, 0)]);
    // Mar 1's deal exists: moving its occurrence is refused (moving it later would make the
    // engine meet it, and count it, a second time).
    let moved = engine.move_occurrence(&acme, id, date(2026, 3, 1), local(2026, 3, 2, 12, 0));
    assert!(
        matches!(moved, Err(EngineError::AlreadyProcessed { template, .. }) if template == id),
        "{moved:?}"
    );
    tick_every(&engine, &clock, TimeDelta::hours(1), utc(2026, 3, 10, 0, 0));
    let seqs: Vec<u64> = scheduled_deals(&engine, &acme, id)
        .iter()
        .map(|d| seq_of(&d.key))
        .collect();
    assert_eq!(seqs, [0, 1, 2]);
}

// ---------------------------------------------------------------------------------------------
// Tenant limits and typed errors
// ---------------------------------------------------------------------------------------------

fn limited(limits: &[(&str, u64)], default: Option<u64>) -> (MemEngine, ManualClock) {
    let clock = ManualClock::new(utc(2026, 3, 1, 0, 0));
    let mut config = EngineConfig::builder();
    for (t, n) in limits {
        config = config.tenant_limit(tenant(t), *n);
    }
    if let Some(default) = default {
        config = config.default_tenant_limit(default);
    }
    let config = config.build().unwrap();
    (
        Engine::with_config(InMemoryRepository::new(), clock.clone(), config).unwrap(),
        clock,
    )
}

fn daily_draft() -> TemplateDraft {
    TemplateDraft::new(
        deal("Daily", 100),
        daily(local(2026, 3, 1, 9, 0), Zone::UTC).build().unwrap(),
    )
}

/// Refused input writes nothing: refused drafts take no template id, so the next template
/// gets the id after the last one stored.
#[test]
fn refused_drafts_use_up_no_template_id() {
    let (engine, _clock) = engine_at(utc(2026, 3, 1, 0, 0));
    let acme = tenant("acme");
    let first = engine.create_template(&acme, daily_draft()).unwrap().id();
    for _ in 0..4 {
        let mut draft = daily_draft();
        draft.begin_offset = Some(DateOffset::Days(3651));
        assert!(matches!(
            engine.create_template(&acme, draft),
            Err(EngineError::Invalid(_))
        ));
    }
    let next = engine.create_template(&acme, daily_draft()).unwrap().id();
    assert_eq!(next, TemplateId(first.0 + 1));
}

#[test]
fn tenant_limit_counts_live_templates() {
    let (engine, _clock) = limited(&[("acme", 2)], Some(1));
    let acme = tenant("acme");
    let first = engine.create_template(&acme, daily_draft()).unwrap();
    engine.create_template(&acme, daily_draft()).unwrap();
    assert_eq!(
        engine.create_template(&acme, daily_draft()),
        Err(EngineError::TenantLimit {
            tenant: acme.clone(),
            limit: 2
        })
    );
    // Tenants not listed use the default limit.
    let globex = tenant("globex");
    engine.create_template(&globex, daily_draft()).unwrap();
    assert_eq!(
        engine.create_template(&globex, daily_draft()),
        Err(EngineError::TenantLimit {
            tenant: globex.clone(),
            limit: 1
        })
    );
    // An inactive template does not count; activating it again does.
    engine.deactivate(&acme, first.id()).unwrap();
    engine.create_template(&acme, daily_draft()).unwrap();
    assert_eq!(
        engine.activate(&acme, first.id()),
        Err(EngineError::TenantLimit {
            tenant: acme.clone(),
            limit: 2
        })
    );
    assert_eq!(
        engine.template(&acme, first.id()).unwrap().state(),
        &TemplateState::Inactive
    );
}

#[test]
fn pausing_an_inactive_template_respects_the_tenant_limit() {
    let (engine, _clock) = limited(&[("acme", 1)], None);
    let acme = tenant("acme");
    let first = engine.create_template(&acme, daily_draft()).unwrap();
    engine.deactivate(&acme, first.id()).unwrap();
    engine.create_template(&acme, daily_draft()).unwrap();
    // The tenant is at its limit; a paused template is live (it counts), so turning the
    // inactive one into a paused one, then resuming it, must not give two live templates.
    assert_eq!(
        engine.pause(&acme, first.id(), "hold", None),
        Err(EngineError::TenantLimit {
            tenant: acme.clone(),
            limit: 1
        })
    );
    let _ = engine.resume(&acme, first.id());
    let live = engine.count_live(&acme).unwrap();
    assert!(live <= 1, "{live} live templates with a limit of 1");
}

#[test]
fn unknown_and_foreign_templates_are_reported_unknown() {
    let (engine, _clock) = engine_at(utc(2026, 3, 1, 0, 0));
    let acme = tenant("acme");
    let globex = tenant("globex");
    let id = engine.create_template(&acme, daily_draft()).unwrap().id();
    let missing = TemplateId(id.0 + 100);
    let unknown = |t: &TenantId, id| EngineError::UnknownTemplate {
        tenant: t.clone(),
        id,
    };
    assert_eq!(
        engine.template(&acme, missing),
        Err(unknown(&acme, missing))
    );
    assert_eq!(
        engine.pause(&acme, missing, "x", None),
        Err(unknown(&acme, missing))
    );
    // Another tenant's template looks exactly like a missing one.
    assert_eq!(engine.template(&globex, id), Err(unknown(&globex, id)));
    assert_eq!(engine.create_now(&globex, id), Err(unknown(&globex, id)));
    assert_eq!(engine.delete(&globex, id), Err(unknown(&globex, id)));
    assert_eq!(engine.preview(&globex, id, 3), Err(unknown(&globex, id)));
    assert!(engine.deals(&globex, Some(id)).unwrap().is_empty());
    assert_eq!(engine.template(&acme, id).unwrap().version(), 0);
}

#[test]
fn a_finished_template_cannot_be_edited() {
    let (engine, clock) = engine_at(utc(2026, 3, 1, 0, 0));
    let acme = tenant("acme");
    let schedule = daily(local(2026, 3, 1, 9, 0), Zone::UTC)
        .end(End::Count(1))
        .build()
        .unwrap();
    let id = engine
        .create_template(&acme, TemplateDraft::new(deal("One", 100), schedule))
        .unwrap()
        .id();
    clock.set(utc(2026, 3, 1, 12, 0));
    engine.tick().unwrap();
    assert_eq!(
        engine.template(&acme, id).unwrap().state(),
        &TemplateState::Finished
    );
    let finished = Err(EngineError::Finished(id));
    let new_schedule = daily(local(2026, 4, 1, 9, 0), Zone::UTC).build().unwrap();
    assert_eq!(
        engine.edit_schedule(&acme, id, new_schedule).map(|_| ()),
        finished
    );
    assert_eq!(
        engine.edit_deal(&acme, id, deal("Other", 5)).map(|_| ()),
        finished
    );
    assert_eq!(engine.pause(&acme, id, "x", None).map(|_| ()), finished);
    assert_eq!(engine.resume(&acme, id).map(|_| ()), finished);
    assert_eq!(engine.deactivate(&acme, id).map(|_| ()), finished);
    assert_eq!(engine.skip_occurrence(&acme, id, 5).map(|_| ()), finished);
}

#[test]
fn invalid_drafts_give_typed_errors() {
    let (engine, _clock) = engine_at(utc(2026, 3, 1, 0, 0));
    let acme = tenant("acme");
    let usd = Currency::new("USD").unwrap();
    let row = ProductRow {
        name: "Licence".into(),
        price: Money::new(100, usd),
        quantity_milli: 1000,
        discount: 0,
        tax_rate_bp: 2000,
    };
    assert_eq!(
        deal("Daily", 100).with_products(vec![row.clone()]),
        Err(ValidationError::CurrencyMismatch {
            expected: rub(),
            got: usd
        })
    );
    // A deal read from JSON is checked when the template is created.
    let mut json = serde_json::to_value(deal("Daily", 100)).unwrap();
    json["products"] = serde_json::to_value(vec![row]).unwrap();
    let mut draft = daily_draft();
    draft.deal = serde_json::from_value(json).unwrap();
    assert_eq!(
        engine.create_template(&acme, draft),
        Err(EngineError::Invalid(ValidationError::CurrencyMismatch {
            expected: rub(),
            got: usd
        }))
    );

    for shares in [
        vec![5000, 4999],
        vec![10_000],
        vec![0, 10_000],
        vec![6000, 5000],
    ] {
        assert_eq!(
            InstallmentSplit::new(shares.clone()),
            Err(ValidationError::SplitShares { shares })
        );
    }
    // A split needs a one-off schedule.
    let mut draft = daily_draft();
    draft.split = Some(InstallmentSplit::new(vec![5000, 5000]).unwrap());
    assert_eq!(
        engine.create_template(&acme, draft),
        Err(EngineError::Invalid(ValidationError::SplitShares {
            shares: vec![5000, 5000]
        }))
    );

    let out_of_range = |what, value, max, unit| {
        Err(EngineError::Invalid(ValidationError::OffsetOutOfRange {
            what,
            value,
            max,
            unit,
        }))
    };
    let mut draft = daily_draft();
    draft.begin_offset = Some(DateOffset::Days(3651));
    assert_eq!(
        engine.create_template(&acme, draft),
        out_of_range("begin offset", 3651, 3650, "days")
    );
    let mut draft = daily_draft();
    draft.close_offset = Some(DateOffset::Months(121));
    assert_eq!(
        engine.create_template(&acme, draft),
        out_of_range("close offset", 121, 120, "months")
    );
    let mut draft = daily_draft();
    draft.close_offset = Some(DateOffset::Weeks(521));
    assert_eq!(
        engine.create_template(&acme, draft),
        out_of_range("close offset", 521, 520, "weeks")
    );
    let mut draft = daily_draft();
    draft.upcoming_notice_days = vec![366];
    assert_eq!(
        engine.create_template(&acme, draft),
        out_of_range("upcoming notice", 366, 365, "days")
    );
    let mut draft = daily_draft();
    draft.invoice = Some(InvoiceOptions {
        payment_due: PaymentDue::Days(10),
        send_to: vec![],
        mail_template: None,
        document_template: None,
        remind_before_days: vec![3],
        remind_after_days: vec![366],
        dunning: vec![],
    });
    assert_eq!(
        engine.create_template(&acme, draft),
        out_of_range("reminder", 366, 365, "days")
    );
    let mut draft = daily_draft();
    draft.catch_up.max_per_tick = 0;
    let refused = engine.create_template(&acme, draft).unwrap_err();
    assert!(
        matches!(
            refused,
            EngineError::Invalid(ValidationError::OutOfRange {
                what: "catch_up.max_per_tick",
                value: 0,
                min: 1,
                max: 100_000,
                ..
            })
        ),
        "{refused}"
    );
    assert_eq!(
        refused.to_string(),
        "catch_up.max_per_tick must be 1 ..= 100000 occurrences, got 0"
    );
    // The boundaries themselves are accepted.
    let mut draft = daily_draft();
    draft.begin_offset = Some(DateOffset::Days(3650));
    draft.close_offset = Some(DateOffset::Months(120));
    draft.upcoming_notice_days = vec![365];
    engine.create_template(&acme, draft).unwrap();
    // Nothing invalid was stored.
    let all = engine.list(&acme, &TemplateQuery::default()).unwrap();
    assert_eq!(all.total, 1);
}

// ---------------------------------------------------------------------------------------------
// A failing repository
// ---------------------------------------------------------------------------------------------

type FaultyEngine = Engine<Faulty<InMemoryRepository>, ManualClock>;

/// An engine whose repository fails the commits that create deals of template `T1` while
/// `failing` is set (the failure record itself, a commit without deals, goes through).
fn failing_engine(config: EngineConfig) -> (FaultyEngine, ManualClock, Arc<AtomicBool>) {
    let failing = Arc::new(AtomicBool::new(true));
    let flag = Arc::clone(&failing);
    let repository = Faulty::new(InMemoryRepository::new(), move |call| match call {
        Call::Commit(commit)
            if flag.load(Ordering::SeqCst)
                && commit.template.id() == TemplateId(1)
                && !commit.deals.is_empty() =>
        {
            Fault::Before
        }
        _ => Fault::None,
    });
    let clock = ManualClock::new(utc(2026, 3, 1, 0, 0));
    (
        Engine::with_config(repository, clock.clone(), config).unwrap(),
        clock,
        failing,
    )
}

#[test]
fn a_failing_commit_is_recorded_and_retried_with_backoff_while_others_proceed() {
    let (engine, clock, failing) = failing_engine(EngineConfig::default());
    let acme = tenant("acme");
    let a = engine.create_template(&acme, daily_draft()).unwrap().id();
    let b = engine.create_template(&acme, daily_draft()).unwrap().id();
    assert_eq!(a, TemplateId(1));
    let first = utc(2026, 3, 1, 9, 0);
    clock.set(first);
    let report = engine.tick().unwrap();
    // B gets its deal in the very tick A fails.
    assert_eq!(report.created, [scheduled(b, 0, 0)]);
    assert_eq!(report.failures.len(), 1);
    assert_eq!(report.failures[0].template, a);
    // Retries after 1, 2, 4, 8 minutes (the default base, doubled per failure).
    let mut now = first;
    for attempt in 1..=4u32 {
        let template = engine.template(&acme, a).unwrap();
        let failure = template.failure().expect("failure recorded");
        let delay = TimeDelta::minutes(1 << (attempt - 1));
        assert_eq!(failure.attempts, attempt);
        assert_eq!(failure.retry_at, now + delay);
        assert_eq!(template.next_run(), Some(now + delay));
        assert_eq!(template.counters().failed, u64::from(attempt));
        assert_eq!(template.state(), &TemplateState::Active);
        // Not retried before its time.
        clock.set(now + delay - TimeDelta::seconds(1));
        let early = engine.tick().unwrap();
        assert!(early.failures.is_empty() && early.created.is_empty());
        now += delay;
        clock.set(now);
        if attempt < 4 {
            assert_eq!(engine.tick().unwrap().failures.len(), 1);
        }
    }
    failing.store(false, Ordering::SeqCst);
    let report = engine.tick().unwrap();
    assert_eq!(report.created, [scheduled(a, 0, 0)]);
    assert!(report.failures.is_empty());
    let template = engine.template(&acme, a).unwrap();
    assert_eq!(template.failure(), None);
    assert_eq!(template.state(), &TemplateState::Active);
    assert_eq!(template.counters().failed, 4);
    assert_eq!(template.next_run(), Some(utc(2026, 3, 2, 9, 0)));
    let late = engine.deal(&acme, scheduled(a, 0, 0)).unwrap().unwrap();
    assert_eq!(late.nominal_at, first);
    assert_eq!(late.created_at, now);
    // Each deal exactly once.
    assert_eq!(engine.deals(&acme, None).unwrap().len(), 2);
}

#[test]
fn retry_delay_is_capped_and_the_template_is_never_switched_off() {
    let (engine, clock, failing) = failing_engine(
        EngineConfig::builder()
            .failure_retry(TimeDelta::hours(1), TimeDelta::hours(6))
            .build()
            .unwrap(),
    );
    let acme = tenant("acme");
    let a = engine.create_template(&acme, daily_draft()).unwrap().id();
    let mut now = utc(2026, 3, 1, 9, 0);
    clock.set(now);
    let mut delays = Vec::new();
    for _ in 0..8 {
        assert_eq!(engine.tick().unwrap().failures.len(), 1);
        let template = engine.template(&acme, a).unwrap();
        assert_eq!(template.state(), &TemplateState::Active);
        let retry_at = template.failure().unwrap().retry_at;
        delays.push((retry_at - now).num_hours());
        now = retry_at;
        clock.set(now);
    }
    assert_eq!(delays, [1, 2, 4, 6, 6, 6, 6, 6]);
    failing.store(false, Ordering::SeqCst);
    // 1+2+4+6*5 = 37 hours after Mar 1 09:00: Mar 2 22:00, so Mar 1 and Mar 2 are created.
    let report = engine.tick().unwrap();
    assert_eq!(report.created, [scheduled(a, 0, 0), scheduled(a, 0, 1)]);
    assert_eq!(engine.template(&acme, a).unwrap().counters().failed, 8);
}

// ---------------------------------------------------------------------------------------------
// Upcoming-deal notices
// ---------------------------------------------------------------------------------------------

/// Notices only for deals that will be created: a monthly template with a count of 2 and a
/// 30-day notice announces Jan 1 and Feb 1, never Mar 1 (which the count never creates),
/// and its next wake-up never points at that notice either.
#[test]
fn no_notice_for_an_occurrence_past_the_count() {
    let (engine, clock) = engine_at(utc(2025, 11, 15, 0, 0));
    let acme = tenant("acme");
    let monthly = Schedule::builder(
        Recurrence::monthly(Interval::ONE, MonthDay::Day(DayOfMonth::new(1).unwrap())),
        local(2026, 1, 1, 9, 0),
        Zone::UTC,
    )
    .end(End::Count(2))
    .build()
    .unwrap();
    let mut draft = TemplateDraft::new(deal("Monthly", 100), monthly);
    draft.upcoming_notice_days = vec![30];
    let id = engine.create_template(&acme, draft).unwrap().id();
    let mut notices = Vec::new();
    let mut wakes = Vec::new();
    while clock.now() < utc(2026, 3, 15, 0, 0) {
        clock.advance(TimeDelta::hours(6));
        let report = engine.tick().unwrap();
        wakes.extend(report.next_wake);
        for event in drain_outbox(&engine) {
            if let EventKind::UpcomingDeal { template, at, .. } = event.kind {
                assert_eq!(template, id);
                notices.push(at);
            }
        }
    }
    assert_eq!(notices, [utc(2026, 1, 1, 9, 0), utc(2026, 2, 1, 9, 0)]);
    // After Jan 2's notice the next wake-up is Feb 1's deal, not Mar 1's notice on Jan 30.
    assert!(!wakes.contains(&utc(2026, 1, 30, 9, 0)), "{wakes:?}");
    let dates: Vec<DateTime<Utc>> = scheduled_deals(&engine, &acme, id)
        .iter()
        .map(|d| d.nominal_at)
        .collect();
    assert_eq!(dates, [utc(2026, 1, 1, 9, 0), utc(2026, 2, 1, 9, 0)]);
}

#[test]
fn upcoming_notices_go_out_once_the_given_days_before() {
    let (engine, clock) = engine_at(utc(2026, 3, 1, 0, 0));
    let acme = tenant("acme");
    let weekly = Schedule::builder(
        Recurrence::weekly(Interval::ONE, WeekdaySet::single(Weekday::Mon)),
        local(2026, 3, 2, 9, 0),
        Zone::UTC,
    )
    .end(End::Count(3))
    .build()
    .unwrap();
    let mut draft = TemplateDraft::new(deal("Weekly", 100), weekly);
    draft.upcoming_notice_days = vec![2];
    let id = engine.create_template(&acme, draft).unwrap().id();
    let mut notices = BTreeMap::new();
    while clock.now() < utc(2026, 3, 31, 0, 0) {
        clock.advance(TimeDelta::hours(1));
        engine.tick().unwrap();
        for event in drain_outbox(&engine) {
            if let EventKind::UpcomingDeal { template, at, .. } = event.kind {
                assert_eq!(template, id);
                assert!(
                    notices.insert(at, event.at).is_none(),
                    "second notice for {at}"
                );
            }
        }
    }
    // Mondays Mar 2, 9, 16 at 09:00; notices on the Saturdays before at 09:00. Mar 2's
    // (Feb 28) was already past when the template was made (Mar 1 00:00): skipped, not sent
    // late.
    let expected: BTreeMap<DateTime<Utc>, DateTime<Utc>> = [
        (utc(2026, 3, 9, 9, 0), utc(2026, 3, 7, 9, 0)),
        (utc(2026, 3, 16, 9, 0), utc(2026, 3, 14, 9, 0)),
    ]
    .into_iter()
    .collect();
    assert_eq!(notices, expected);
}

/// Issue #20, kind 7: re-applying the same schedule at the exact instant a notice fell due
/// (after the tick that sent it), as a host does on every deploy, sends nothing again: not
/// under the new revision's key, nor after the clock is set back an hour and the schedule
/// applied once more.
#[test]
fn re_applying_a_schedule_when_a_notice_fell_due_sends_it_once() {
    let (engine, clock) = engine_at(utc(2026, 3, 1, 0, 0));
    let acme = tenant("acme");
    let weekly = Schedule::builder(
        Recurrence::weekly(Interval::ONE, WeekdaySet::single(Weekday::Mon)),
        local(2026, 3, 2, 9, 0),
        Zone::UTC,
    )
    .build()
    .unwrap();
    let mut draft = TemplateDraft::new(deal("Weekly", 100), weekly.clone());
    draft.upcoming_notice_days = vec![2];
    let id = engine.create_template(&acme, draft).unwrap().id();
    // Mar 9's notice falls due on Mar 7 at 09:00.
    clock.set(utc(2026, 3, 7, 9, 0));
    engine.tick().unwrap();
    let mut keys = Vec::new();
    let take = |engine: &MemEngine, keys: &mut Vec<(DateTime<Utc>, String)>| {
        for event in drain_outbox(engine) {
            if let EventKind::UpcomingDeal { at, .. } = event.kind {
                keys.push((at, event.idempotency_key));
            }
        }
    };
    take(&engine, &mut keys);
    engine.edit_schedule(&acme, id, weekly.clone()).unwrap();
    engine.tick().unwrap();
    clock.set(utc(2026, 3, 7, 8, 0));
    engine.edit_schedule(&acme, id, weekly).unwrap();
    clock.set(utc(2026, 3, 7, 9, 0));
    engine.tick().unwrap();
    take(&engine, &mut keys);
    assert_eq!(
        keys,
        [(
            utc(2026, 3, 9, 9, 0),
            "upcoming:T1/r0/1@1773046800/2d".to_owned()
        )]
    );
    // The next notice still goes out, once, under the latest revision.
    clock.set(utc(2026, 3, 14, 9, 0));
    while engine.tick().unwrap().more_due {}
    take(&engine, &mut keys);
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert_eq!(keys[1].0, utc(2026, 3, 16, 9, 0));
    assert!(keys[1].1.contains("/r2/"), "{keys:?}");
}

/// Monthly on the 15th at 09:00 UTC with notices 30, 7 and 1 days ahead, ticking hourly.
fn monthly_with_three_notices(now: DateTime<Utc>) -> (MemEngine, ManualClock, TemplateId) {
    let (engine, clock) = engine_at(now);
    let schedule = Schedule::builder(
        Recurrence::monthly(Interval::ONE, MonthDay::Day(DayOfMonth::new(15).unwrap())),
        local(2026, 1, 15, 9, 0),
        Zone::UTC,
    )
    .build()
    .unwrap();
    let mut draft = TemplateDraft::new(deal("Renewal", 100), schedule);
    draft.upcoming_notice_days = vec![7, 30, 1];
    let id = engine.create_template(&tenant("acme"), draft).unwrap().id();
    (engine, clock, id)
}

/// ((deal instant, lead days), sent at).
type SentNotice = ((DateTime<Utc>, u32), DateTime<Utc>);

/// (deal instant, lead days) → (sent at, idempotency key), failing on a second notice.
type Notices = BTreeMap<(DateTime<Utc>, u32), (DateTime<Utc>, String)>;

fn collect_notices(engine: &MemEngine, into: &mut Notices) {
    for event in drain_outbox(engine) {
        if let EventKind::UpcomingDeal { at, lead_days, .. } = event.kind {
            let sent = (event.at, event.idempotency_key);
            assert!(
                into.insert((at, lead_days), sent).is_none(),
                "second notice {lead_days} days before {at}"
            );
        }
    }
}

fn tick_hourly_until(
    engine: &MemEngine,
    clock: &ManualClock,
    end: DateTime<Utc>,
    into: &mut Notices,
) {
    while clock.now() < end {
        clock.advance(TimeDelta::hours(1));
        engine.tick().unwrap();
        collect_notices(engine, into);
    }
}

/// Several leads: each goes out once, on time, with its own idempotency key; a lead already
/// past when the template is made is skipped, not sent late.
#[test]
fn several_notice_leads_each_go_out_once_with_their_own_key() {
    let (engine, clock, id) = monthly_with_three_notices(utc(2026, 1, 1, 0, 0));
    assert_eq!(
        engine
            .template(&tenant("acme"), id)
            .unwrap()
            .upcoming_notice_days(),
        [30, 7, 1]
    );
    let mut notices = Notices::new();
    tick_hourly_until(&engine, &clock, utc(2026, 3, 1, 0, 0), &mut notices);
    let jan15 = utc(2026, 1, 15, 9, 0);
    let feb15 = utc(2026, 2, 15, 9, 0);
    let expected: Vec<SentNotice> = vec![
        // Jan 15's 30-day notice (Dec 16) was past at creation: skipped.
        ((jan15, 1), utc(2026, 1, 14, 9, 0)),
        ((jan15, 7), utc(2026, 1, 8, 9, 0)),
        ((feb15, 1), utc(2026, 2, 14, 9, 0)),
        ((feb15, 7), utc(2026, 2, 8, 9, 0)),
        ((feb15, 30), utc(2026, 1, 16, 9, 0)),
        // Mar 15's 30-day notice falls before Feb 15's deal (February is short): on time
        // all the same.
        ((utc(2026, 3, 15, 9, 0), 30), utc(2026, 2, 13, 9, 0)),
    ];
    let got: Vec<_> = notices.iter().map(|(k, (at, _))| (*k, *at)).collect();
    assert_eq!(got, expected);
    let keys: BTreeSet<&String> = notices.values().map(|(_, key)| key).collect();
    assert_eq!(keys.len(), notices.len(), "one key per notice");
    assert!(
        notices[&(feb15, 7)].1.ends_with("/7d"),
        "{}",
        notices[&(feb15, 7)].1
    );
}

/// A lead longer than the interval: every daily deal's 3-day notice goes out on time, three
/// occurrences ahead of the deals being created.
#[test]
fn notice_leads_longer_than_the_interval_go_out_on_time() {
    let (engine, clock) = engine_at(utc(2026, 1, 1, 0, 0));
    let mut draft = TemplateDraft::new(
        deal("Daily", 100),
        daily(local(2026, 1, 1, 9, 0), Zone::UTC).build().unwrap(),
    );
    draft.upcoming_notice_days = vec![3];
    engine.create_template(&tenant("acme"), draft).unwrap();
    let mut notices = Notices::new();
    tick_hourly_until(&engine, &clock, utc(2026, 1, 20, 0, 0), &mut notices);
    // Jan 1 to 3: their notices were due before the template existed. From Jan 4 on, each
    // three days before, up to Jan 22's (sent Jan 19 09:00).
    let expected: Vec<SentNotice> = (4..=22)
        .map(|d| ((utc(2026, 1, d, 9, 0), 3), utc(2026, 1, d - 3, 9, 0)))
        .collect();
    let got: Vec<_> = notices.iter().map(|(k, (at, _))| (*k, *at)).collect();
    assert_eq!(got, expected);
}

/// A lead that passed while the template was paused is skipped at resume, not sent late;
/// the leads still ahead go out.
#[test]
fn notice_leads_past_at_resume_are_skipped_not_sent_late() {
    let (engine, clock, id) = monthly_with_three_notices(utc(2026, 1, 1, 0, 0));
    let acme = tenant("acme");
    let mut notices = Notices::new();
    tick_hourly_until(&engine, &clock, utc(2026, 1, 15, 12, 0), &mut notices);
    engine.pause(&acme, id, "holiday", None).unwrap();
    tick_hourly_until(&engine, &clock, utc(2026, 2, 10, 12, 0), &mut notices);
    engine.resume(&acme, id).unwrap();
    tick_hourly_until(&engine, &clock, utc(2026, 2, 16, 0, 0), &mut notices);
    let feb15 = utc(2026, 2, 15, 9, 0);
    let after_jan: Vec<_> = notices
        .iter()
        .filter(|((at, _), _)| *at == feb15)
        .map(|((_, lead), (sent, _))| (*lead, *sent))
        .collect();
    // 30 days (Jan 16) and 7 days (Feb 8) before fell in the pause.
    assert_eq!(after_jan, [(1, utc(2026, 2, 14, 9, 0))]);
}

/// After downtime, of the leads due at once only the shortest goes out (the longer ones
/// are late); the next one goes out on time.
#[test]
fn after_downtime_only_the_shortest_due_lead_goes_out() {
    let (engine, clock, _) = monthly_with_three_notices(utc(2026, 1, 1, 0, 0));
    let mut notices = Notices::new();
    tick_hourly_until(&engine, &clock, utc(2026, 1, 16, 0, 0), &mut notices);
    // Down from Jan 16 00:00 to Feb 9 00:00: Feb 15's 30-day (Jan 16 09:00) and 7-day
    // (Feb 8 09:00) notices both fall due.
    clock.set(utc(2026, 2, 9, 0, 0));
    engine.tick().unwrap();
    collect_notices(&engine, &mut notices);
    tick_hourly_until(&engine, &clock, utc(2026, 2, 16, 0, 0), &mut notices);
    let feb15 = utc(2026, 2, 15, 9, 0);
    let got: Vec<_> = notices
        .iter()
        .filter(|((at, _), _)| *at == feb15)
        .map(|((_, lead), (sent, _))| (*lead, *sent))
        .collect();
    assert_eq!(
        got,
        [(1, utc(2026, 2, 14, 9, 0)), (7, utc(2026, 2, 9, 0, 0))]
    );
}

/// Notice leads in JSON: a list, one number (the earlier form) or null; repeated leads,
/// more than eight, or one over 365 days are refused, naming them.
#[test]
fn notice_leads_in_json_and_their_limits() {
    let (engine, _) = engine_at(utc(2026, 1, 1, 0, 0));
    let base = serde_json::json!({
        "deal": serde_json::to_value(deal("Renewal", 100)).unwrap(),
        "schedule": {"rule": {"every": "day", "interval": 1}, "start": "2026-02-01T09:00:00", "zone": "UTC"},
    });
    let draft = |leads: serde_json::Value| -> TemplateDraft {
        let mut value = base.clone();
        value["upcoming_notice_days"] = leads;
        serde_json::from_value(value).unwrap()
    };
    assert_eq!(
        draft(serde_json::json!([30, 7, 1])).upcoming_notice_days,
        [30, 7, 1]
    );
    assert_eq!(draft(serde_json::json!(2)).upcoming_notice_days, [2]);
    assert!(
        draft(serde_json::Value::Null)
            .upcoming_notice_days
            .is_empty()
    );
    let mut value = base.clone();
    value["upcoming_notice_days"] = serde_json::json!("soon");
    let error = serde_json::from_value::<TemplateDraft>(value)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("a list of day counts such as [30, 7, 1]"),
        "{error}"
    );
    let acme = tenant("acme");
    let refused = |leads: serde_json::Value| {
        engine
            .create_template(&acme, draft(leads))
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        refused(serde_json::json!([7, 30, 7])),
        "upcoming notice leads must be at most 8 distinct day counts (each 0 ..= 365), got [7, 30, 7]"
    );
    assert!(refused(serde_json::json!([1, 2, 3, 4, 5, 6, 7, 8, 9])).contains("at most 8"));
    assert!(
        refused(serde_json::json!([366]))
            .contains("upcoming notice must be at most 365 days, got 366")
    );
}

#[test]
fn no_upcoming_notice_for_a_skipped_occurrence() {
    let (engine, clock) = engine_at(utc(2026, 3, 3, 0, 0));
    let acme = tenant("acme");
    let weekly = Schedule::builder(
        Recurrence::weekly(Interval::ONE, WeekdaySet::single(Weekday::Mon)),
        local(2026, 3, 2, 9, 0),
        Zone::UTC,
    )
    .build()
    .unwrap();
    let mut draft = TemplateDraft::new(deal("Weekly", 100), weekly);
    draft.upcoming_notice_days = vec![2];
    let id = engine.create_template(&acme, draft).unwrap().id();
    // Monday Mar 9 is skipped: its notice (Saturday Mar 7) must not go out; Mar 16's does.
    let skipped = engine.skip_next(&acme, id).unwrap();
    assert_eq!(skipped.date(), date(2026, 3, 9));
    let mut notices = Vec::new();
    while clock.now() < utc(2026, 3, 17, 0, 0) {
        clock.advance(TimeDelta::hours(1));
        engine.tick().unwrap();
        for event in drain_outbox(&engine) {
            if let EventKind::UpcomingDeal { at, .. } = event.kind {
                notices.push((event.at, at));
            }
        }
    }
    assert_eq!(notices, [(utc(2026, 3, 14, 9, 0), utc(2026, 3, 16, 9, 0))]);
}

#[test]
fn moving_an_occurrence_into_the_past_does_not_lose_it() {
    let (engine, clock) = engine_at(utc(2026, 3, 1, 0, 0));
    let acme = tenant("acme");
    let schedule = daily(local(2026, 3, 1, 9, 0), Zone::UTC).build().unwrap();
    let id = engine
        .create_template(&acme, TemplateDraft::new(deal("Daily", 100), schedule))
        .unwrap()
        .id();
    tick_every(&engine, &clock, TimeDelta::hours(6), utc(2026, 3, 5, 12, 0));
    // Mar 10 (seq 9) moved to Mar 4 18:00, already behind the engine, would never be met:
    // the move is refused and Mar 10 stays.
    let moved = engine.move_occurrence(&acme, id, date(2026, 3, 10), local(2026, 3, 4, 18, 0));
    assert_eq!(
        moved.map(|_| ()),
        Err(EngineError::AlreadyProcessed {
            template: id,
            local: local(2026, 3, 4, 18, 0)
        })
    );
    tick_every(&engine, &clock, TimeDelta::hours(6), utc(2026, 3, 15, 0, 0));
    let seqs: BTreeSet<u64> = scheduled_deals(&engine, &acme, id)
        .iter()
        .map(|d| seq_of(&d.key))
        .collect();
    assert!(engine.skipped(&acme, Some(id)).unwrap().is_empty());
    assert_eq!(seqs, (0..14).collect::<BTreeSet<_>>());
    let mar_10 = engine.deal(&acme, scheduled(id, 0, 9)).unwrap().unwrap();
    assert_eq!(mar_10.nominal_at, utc(2026, 3, 10, 9, 0));
}

#[test]
fn preview_at_is_when_the_deal_will_be_created() {
    // A daily template after 3 days of downtime: the overdue deals will be created by the
    // next tick, now, not at their nominal instants in the past.
    let (engine, acme, id) = after_downtime(policy(CatchUpMode::All), utc(2026, 3, 4, 12, 0));
    let preview = engine.preview(&acme, id, 5).unwrap();
    let report = engine.tick().unwrap();
    assert_eq!(report.created.len(), 4);
    for p in &preview {
        let deal = engine.deal(&acme, p.key).unwrap();
        if let Some(deal) = deal {
            assert_eq!(p.at, deal.created_at, "{}", p.key);
        }
    }
}

#[test]
fn a_moved_occurrence_is_not_announced_twice_under_one_key() {
    let (engine, clock) = engine_at(utc(2026, 3, 1, 0, 0));
    let acme = tenant("acme");
    let schedule = daily(local(2026, 3, 1, 0, 0), Zone::UTC).build().unwrap();
    let mut draft = TemplateDraft::new(deal("Daily", 100), schedule);
    draft.upcoming_notice_days = vec![1];
    let id = engine.create_template(&acme, draft).unwrap().id();
    // Mar 2 02:00: Mar 1 and 2 are created and Mar 3's notice has gone out.
    clock.set(utc(2026, 3, 2, 2, 0));
    engine.tick().unwrap();
    engine
        .move_occurrence(&acme, id, date(2026, 3, 3), local(2026, 3, 3, 1, 0))
        .unwrap();
    tick_every(&engine, &clock, TimeDelta::hours(1), utc(2026, 3, 3, 12, 0));
    // A host deduplicates deliveries by key: one key must mean one event. Either the moved
    // occurrence is not announced again, or its new notice has a key of its own.
    let mut seen: BTreeMap<String, EventKind> = BTreeMap::new();
    for event in engine.outbox(usize::MAX).unwrap() {
        if let Some(first) = seen.insert(event.idempotency_key.clone(), event.kind.clone()) {
            assert_eq!(
                first, event.kind,
                "two events under {}",
                event.idempotency_key
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// "Today" is the zone's; dates and fields of created deals; lifecycle odds and ends
// ---------------------------------------------------------------------------------------------

#[test]
fn catch_up_none_uses_the_schedule_zones_today() {
    // Tokyo is UTC+9 without DST: 08:00 there is 23:00 UTC the day before.
    let tokyo = Zone::get("Asia/Tokyo").unwrap();
    let (engine, clock) = engine_at(utc(2026, 3, 1, 0, 0));
    let acme = tenant("acme");
    let mut draft = TemplateDraft::new(
        deal("Daily", 100),
        daily(local(2026, 3, 2, 8, 0), tokyo).build().unwrap(),
    );
    draft.catch_up = policy(CatchUpMode::None);
    let id = engine.create_template(&acme, draft).unwrap().id();
    // Mar 10 20:00 UTC is Mar 11 05:00 in Tokyo: Mar 10 08:00 Tokyo (Mar 9 23:00 UTC) is
    // yesterday there, though the UTC date is still Mar 10; Mar 11's is not due yet.
    clock.set(utc(2026, 3, 10, 20, 0));
    let report = engine.tick().unwrap();
    assert!(report.created.is_empty());
    assert_eq!(report.skipped.len(), 9); // Mar 2 to Mar 10
    assert!(
        report
            .skipped
            .iter()
            .all(|s| s.reason == SkipReason::Missed)
    );
    // Mar 10 23:30 UTC is Mar 11 08:30 in Tokyo: today's occurrence, created on time.
    clock.set(utc(2026, 3, 10, 23, 30));
    let report = engine.tick().unwrap();
    assert_eq!(report.created, [scheduled(id, 0, 9)]);
    let deal = engine.deal(&acme, scheduled(id, 0, 9)).unwrap().unwrap();
    assert_eq!(deal.nominal_date, date(2026, 3, 11));
    assert_eq!(deal.nominal_at, utc(2026, 3, 10, 23, 0));
    assert!(!deal.catch_up);
}

#[test]
fn payment_due_dates_follow_the_calendar() {
    // Monthly on the last day from Jan 31: Jan 31, Feb 28, Mar 31.
    let expectations = [
        // (terms, due dates of the three invoices)
        (
            PaymentDue::Days(10),
            [date(2026, 2, 10), date(2026, 3, 10), date(2026, 4, 10)],
        ),
        (
            PaymentDue::Weeks(2),
            [date(2026, 2, 14), date(2026, 3, 14), date(2026, 4, 14)],
        ),
        // One month after Jan 31 is clamped to Feb 28; after Feb 28 it is Mar 28.
        (
            PaymentDue::Months(1),
            [date(2026, 2, 28), date(2026, 3, 28), date(2026, 4, 30)],
        ),
        (
            PaymentDue::EndOfMonth,
            [date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31)],
        ),
        (
            PaymentDue::EndOfNextMonth,
            [date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30)],
        ),
    ];
    for (terms, due) in expectations {
        let (engine, clock) = engine_at(utc(2026, 1, 1, 0, 0));
        let acme = tenant("acme");
        let schedule = Schedule::builder(
            Recurrence::monthly(Interval::ONE, MonthDay::LastDay),
            local(2026, 1, 31, 9, 0),
            Zone::UTC,
        )
        .end(End::Count(3))
        .build()
        .unwrap();
        let mut draft = TemplateDraft::new(deal("Rent", 100), schedule);
        draft.invoice = Some(InvoiceOptions {
            payment_due: terms,
            send_to: vec![],
            mail_template: None,
            document_template: None,
            remind_before_days: vec![],
            remind_after_days: vec![],
            dunning: vec![],
        });
        let id = engine.create_template(&acme, draft).unwrap().id();
        clock.set(utc(2026, 4, 1, 0, 0));
        engine.tick().unwrap();
        let got: Vec<NaiveDate> = (0..3)
            .map(|s| engine.invoice(&acme, scheduled(id, 0, s)).unwrap().due_on)
            .collect();
        assert_eq!(got, due, "{terms:?}");
    }
}

#[test]
fn created_deals_copy_the_template_with_their_own_dates_and_target() {
    let (engine, clock) = engine_at(utc(2026, 1, 1, 0, 0));
    let acme = tenant("acme");
    let template_deal = deal("Service", 5_000)
        .with_pipeline(1, "OLD")
        .with_assignee(17)
        .with_company(3)
        .with_contacts([4, 5])
        .with_observers([6])
        .with_comments("monthly")
        .with_custom("tier", CustomValue::Text("gold".into()))
        .with_dates(Some(date(2025, 1, 1)), Some(date(2025, 2, 1)));
    let schedule = Schedule::builder(
        Recurrence::monthly(Interval::ONE, MonthDay::LastDay),
        local(2026, 1, 31, 9, 0),
        Zone::UTC,
    )
    .build()
    .unwrap();
    let mut draft = TemplateDraft::new(template_deal.clone(), schedule);
    draft.target = Some(Target {
        pipeline: 2,
        stage: "NEW".into(),
    });
    draft.begin_offset = Some(DateOffset::Weeks(1));
    draft.close_offset = Some(DateOffset::Months(1));
    draft.based_on = Some(4242);
    let template = engine.create_template(&acme, draft).unwrap();
    assert_eq!(template.based_on(), Some(4242));
    clock.set(utc(2026, 2, 28, 12, 0));
    engine.tick().unwrap();
    let deals = scheduled_deals(&engine, &acme, template.id());
    assert_eq!(deals.len(), 2);
    let jan = &deals[0].deal;
    assert_eq!((jan.pipeline(), jan.stage()), (2, "NEW"));
    assert_eq!(
        (
            jan.assignee(),
            jan.company(),
            jan.contacts(),
            jan.observers()
        ),
        (Some(17), Some(3), &[4, 5][..], &[6][..])
    );
    assert_eq!(jan.comments(), "monthly");
    assert_eq!(jan.custom(), template_deal.custom());
    assert_eq!(jan.amount(), Money::new(5_000, rub()));
    // Jan 31 + 1 week = Feb 7; + 1 month = Feb 28 (clamped).
    assert_eq!(jan.begin_date(), Some(date(2026, 2, 7)));
    assert_eq!(jan.close_date(), Some(date(2026, 2, 28)));
    // Feb 28 + 1 month = Mar 28.
    assert_eq!(deals[1].deal.close_date(), Some(date(2026, 3, 28)));
    // A deal edit applies to the deals created after it only.
    engine
        .edit_deal(&acme, template.id(), deal("Service v2", 6_000))
        .unwrap();
    clock.set(utc(2026, 3, 31, 12, 0));
    engine.tick().unwrap();
    let deals = scheduled_deals(&engine, &acme, template.id());
    let titles: Vec<&str> = deals.iter().map(|d| d.deal.title()).collect();
    assert_eq!(titles, ["Service", "Service", "Service v2"]);
    assert_eq!(deals[2].deal.amount().minor, 6_000);
    // Without offsets the template deal's own dates are kept.
    let mut draft = daily_draft();
    draft.deal = template_deal.clone();
    draft.close_offset = None;
    let plain = engine.create_template(&acme, draft).unwrap().id();
    clock.set(utc(2026, 4, 1, 12, 0));
    engine.tick().unwrap();
    let made = &scheduled_deals(&engine, &acme, plain)[0].deal;
    assert_eq!(
        (made.begin_date(), made.close_date(), made.pipeline()),
        (Some(date(2025, 1, 1)), Some(date(2025, 2, 1)), 1)
    );
}

#[test]
fn delete_keeps_the_deals_and_stops_the_template() {
    let (engine, clock) = engine_at(utc(2026, 3, 1, 0, 0));
    let acme = tenant("acme");
    let id = engine.create_template(&acme, daily_draft()).unwrap().id();
    clock.set(utc(2026, 3, 2, 12, 0));
    engine.tick().unwrap();
    engine.delete(&acme, id).unwrap();
    assert_eq!(
        engine.template(&acme, id),
        Err(EngineError::UnknownTemplate {
            tenant: acme.clone(),
            id
        })
    );
    tick_daily(&engine, &clock, utc(2026, 3, 10, 12, 0));
    let deals = engine.deals(&acme, Some(id)).unwrap();
    assert_eq!(deals.len(), 2);
    assert_eq!(engine.next_wake().unwrap(), None);
    assert_eq!(
        engine.list(&acme, &TemplateQuery::default()).unwrap().total,
        0
    );
}

#[test]
fn skipping_an_occurrence_already_processed_is_refused() {
    let (engine, clock) = engine_at(utc(2026, 3, 1, 0, 0));
    let acme = tenant("acme");
    let id = engine.create_template(&acme, daily_draft()).unwrap().id();
    clock.set(utc(2026, 3, 3, 12, 0));
    engine.tick().unwrap();
    // Mar 2 (seq 1) is created already; Mar 5 (seq 4) is ahead.
    assert_eq!(
        engine.skip_occurrence(&acme, id, 1).map(|_| ()),
        Err(EngineError::NoSuchOccurrence {
            template: id,
            seq: 1
        })
    );
    engine.skip_occurrence(&acme, id, 4).unwrap();
    tick_daily(&engine, &clock, utc(2026, 3, 6, 12, 0));
    let seqs: Vec<u64> = scheduled_deals(&engine, &acme, id)
        .iter()
        .map(|d| seq_of(&d.key))
        .collect();
    assert_eq!(seqs, [0, 1, 2, 3, 5]);
}

#[test]
fn list_sorts_by_next_run_filters_by_state_and_pages() {
    let (engine, _clock) = engine_at(utc(2026, 3, 1, 0, 0));
    let acme = tenant("acme");
    // Daily at 12:00, 09:00 and 15:00: next runs in that order are 09:00, 12:00, 15:00.
    let mut ids = Vec::new();
    for hour in [12, 9, 15] {
        let schedule = daily(local(2026, 3, 1, hour, 0), Zone::UTC)
            .build()
            .unwrap();
        let draft = TemplateDraft::new(deal("Daily", 100), schedule);
        ids.push(engine.create_template(&acme, draft).unwrap().id());
    }
    engine.pause(&acme, ids[2], "hold", None).unwrap();
    let all = engine.list(&acme, &TemplateQuery::default()).unwrap();
    // The paused one has no next run: last.
    assert_eq!(
        all.items.iter().map(|t| t.id()).collect::<Vec<_>>(),
        [ids[1], ids[0], ids[2]]
    );
    let paused = engine
        .list(
            &acme,
            &TemplateQuery {
                state: Some(StateFilter::Paused),
                ..TemplateQuery::default()
            },
        )
        .unwrap();
    assert_eq!(paused.total, 1);
    assert_eq!(paused.items[0].id(), ids[2]);
    let page = engine
        .list(
            &acme,
            &TemplateQuery {
                state: None,
                offset: 1,
                limit: 1,
                ..TemplateQuery::default()
            },
        )
        .unwrap();
    assert_eq!((page.total, page.items.len()), (3, 1));
    assert_eq!(page.items[0].id(), ids[0]);
}

#[test]
fn half_hour_and_midnight_dst_gaps_give_one_deal_a_day_at_the_documented_instant() {
    // Lord Howe moves from +10:30 to +11 at 02:00 on the first Sunday of October; Santiago
    // skips midnight in early September. Each case's range must contain its gap.
    let cases = [
        (
            Zone::get("Australia/Lord_Howe").unwrap(),
            (2, 15),
            date(2026, 10, 1),
            date(2026, 10, 8),
        ),
        (
            Zone::get("America/Santiago").unwrap(),
            (0, 30),
            date(2026, 9, 2),
            date(2026, 9, 10),
        ),
    ];
    for (zone, (h, m), first, last) in cases {
        let days: Vec<NaiveDate> = first.iter_days().take_while(|d| *d <= last).collect();
        let in_gap = |d: &NaiveDate| {
            matches!(
                zone.from_local_datetime(&d.and_hms_opt(h, m, 0).unwrap()),
                chrono::LocalResult::None
            )
        };
        assert_eq!(days.iter().filter(|d| in_gap(d)).count(), 1, "{zone}");
        let start = first.and_hms_opt(h, m, 0).unwrap();
        let (engine, clock) = engine_at(documented_instant(zone, start) - TimeDelta::hours(1));
        let acme = tenant("acme");
        let schedule = daily(start, zone).end(End::Until(last)).build().unwrap();
        let id = engine
            .create_template(&acme, TemplateDraft::new(deal("Daily", 100), schedule))
            .unwrap()
            .id();
        let end = documented_instant(zone, last.and_hms_opt(23, 0, 0).unwrap());
        tick_every(&engine, &clock, TimeDelta::minutes(15), end);
        let deals = scheduled_deals(&engine, &acme, id);
        assert_eq!(
            deals.iter().map(|d| d.nominal_date).collect::<Vec<_>>(),
            days,
            "{zone}"
        );
        for deal in &deals {
            let wall = deal.nominal_date.and_hms_opt(h, m, 0).unwrap();
            assert_eq!(
                deal.nominal_at,
                documented_instant(zone, wall),
                "{zone} {wall}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Batched commits and several workers
// ---------------------------------------------------------------------------------------------

/// A store whose batch transaction fails whenever it holds template `T3`'s deals (as a real
/// transaction fails on one bad row): the engine retries that batch template by template,
/// so only `T3` fails and the others get their deals in the same tick.
#[test]
fn a_failed_batch_is_retried_one_by_one_so_only_the_bad_template_fails() {
    let poisoned = TemplateId(3);
    let batches = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&batches);
    let repository = Faulty::new(InMemoryRepository::new(), move |call| match call {
        Call::Batch(commits) => {
            seen.fetch_add(1, Ordering::SeqCst);
            if commits.iter().any(|c| c.template.id() == poisoned) {
                Fault::Before
            } else {
                Fault::None
            }
        }
        Call::Commit(commit) if commit.template.id() == poisoned && !commit.deals.is_empty() => {
            Fault::Before
        }
        _ => Fault::None,
    });
    let clock = ManualClock::new(utc(2026, 3, 1, 0, 0));
    let config = EngineConfig::builder().commit_batch(4).build().unwrap();
    let engine = Engine::with_config(repository, clock.clone(), config).unwrap();
    let acme = tenant("acme");
    let ids: Vec<TemplateId> = (0..6)
        .map(|_| engine.create_template(&acme, daily_draft()).unwrap().id())
        .collect();
    assert!(ids.contains(&poisoned));
    clock.set(utc(2026, 3, 1, 9, 0));
    let report = engine.tick().unwrap();
    // Two batches (4 + 2 templates); the first failed whole and was retried one by one.
    assert_eq!(batches.load(Ordering::SeqCst), 2);
    let mut created: Vec<DealKey> = report.created.clone();
    created.sort();
    let expected: Vec<DealKey> = ids
        .iter()
        .filter(|&&id| id != poisoned)
        .map(|&id| scheduled(id, 0, 0))
        .collect();
    assert_eq!(created, expected);
    assert_eq!(report.failures.len(), 1);
    assert_eq!(report.failures[0].template, poisoned);
    assert_eq!(
        engine
            .template(&acme, poisoned)
            .unwrap()
            .failure()
            .unwrap()
            .attempts,
        1
    );
    assert_eq!(engine.deals(&acme, None).unwrap().len(), 5);
}

/// A tick whose reads fail after it committed (loading due invoices, reading the next
/// wake-up) still reports what it committed: the deals are in `created`, the failed reads
/// in `read_failures`, and the next tick goes on (issue #21, reports under faults).
#[test]
fn reads_failing_after_the_commits_lose_nothing_from_the_report() {
    let failing = Arc::new(AtomicBool::new(true));
    let flag = Arc::clone(&failing);
    let repository = Faulty::new(InMemoryRepository::new(), move |call| match call {
        Call::Read(_) if flag.load(Ordering::SeqCst) => Fault::Before,
        _ => Fault::None,
    });
    let clock = ManualClock::new(utc(2026, 3, 1, 0, 0));
    let engine = Engine::new(repository, clock.clone()).unwrap();
    let acme = tenant("acme");
    for _ in 0..3 {
        engine.create_template(&acme, daily_draft()).unwrap();
    }
    clock.set(utc(2026, 3, 1, 9, 0));
    let report = engine.tick().unwrap();
    assert_eq!(report.created.len(), 3, "{report:?}");
    assert_eq!(
        report.read_failures.len(),
        2,
        "due invoices and the next wake-up"
    );
    assert_eq!(report.next_wake, None);
    let stored: std::collections::BTreeSet<DealKey> = engine
        .deals(&acme, None)
        .unwrap()
        .iter()
        .map(|d| d.key)
        .collect();
    let reported: std::collections::BTreeSet<DealKey> = report.created.iter().copied().collect();
    assert_eq!(stored, reported);
    failing.store(false, Ordering::SeqCst);
    let next = engine.tick().unwrap();
    assert!(next.created.is_empty() && next.read_failures.is_empty());
    assert_eq!(next.next_wake, Some(utc(2026, 3, 2, 9, 0)));
}

/// A batch that landed but whose reply was lost: the retries find every template changed,
/// nothing is created twice, and the next ticks carry on.
#[test]
fn a_batch_whose_reply_was_lost_creates_nothing_twice() {
    let lose_once = Arc::new(AtomicBool::new(true));
    let flag = Arc::clone(&lose_once);
    let repository = Faulty::new(InMemoryRepository::new(), move |call| match call {
        Call::Batch(_) if flag.swap(false, Ordering::SeqCst) => Fault::After,
        _ => Fault::None,
    });
    let clock = ManualClock::new(utc(2026, 3, 1, 0, 0));
    let engine = Engine::new(repository, clock.clone()).unwrap();
    let acme = tenant("acme");
    for _ in 0..5 {
        engine.create_template(&acme, daily_draft()).unwrap();
    }
    clock.set(utc(2026, 3, 1, 9, 0));
    let report = engine.tick().unwrap();
    // The batch landed and its reply was lost: each template's retry finds it moved on,
    // reads its deals back (stored by this tick) and reports them created, not as a
    // conflict: the report equals the store.
    assert_eq!(report.batch_failures.len(), 1);
    assert!(report.failures.is_empty());
    assert_eq!((report.created.len(), report.conflicts), (5, 0));
    let stored: std::collections::BTreeSet<DealKey> = engine
        .deals(&acme, None)
        .unwrap()
        .iter()
        .map(|d| d.key)
        .collect();
    let reported: std::collections::BTreeSet<DealKey> = report.created.iter().copied().collect();
    assert_eq!(stored, reported);
    assert!(engine.tick().unwrap().created.is_empty());
    clock.set(utc(2026, 3, 3, 9, 0));
    assert_eq!(engine.tick().unwrap().created.len(), 10);
    let deals = engine.deals(&acme, None).unwrap();
    let keys: std::collections::BTreeSet<DealKey> = deals.iter().map(|d| d.key).collect();
    assert_eq!((deals.len(), keys.len()), (15, 15));
}

/// Workers with their own share start at different places of the due list, and together
/// create exactly the deals one engine alone creates, each once.
#[test]
fn workers_with_shares_create_every_due_deal_once() {
    let acme = tenant("acme");
    let start = utc(2026, 3, 1, 0, 0);
    let now = utc(2026, 3, 10, 9, 0);
    let populate = |store: &InMemoryRepository| {
        let setup = Engine::new(store, ManualClock::new(start)).unwrap();
        for _ in 0..50 {
            setup.create_template(&acme, daily_draft()).unwrap();
        }
    };
    let reference = InMemoryRepository::new();
    populate(&reference);
    let alone = Engine::new(&reference, ManualClock::new(now)).unwrap();
    while alone.tick().unwrap().more_due {}

    let store = InMemoryRepository::new();
    populate(&store);
    let workers: Vec<_> = (0..3)
        .map(|index| {
            let config = EngineConfig::builder()
                .commit_batch(8)
                .worker(index, 3)
                .build()
                .unwrap();
            Engine::with_config(&store, ManualClock::new(now), config).unwrap()
        })
        .collect();
    // The last worker starts two thirds into the due list, not at its first template.
    let first = workers[2].tick().unwrap();
    assert!(!first.created.is_empty());
    assert_ne!(first.created[0].template(), TemplateId(1));
    let mut rounds = 0;
    while !workers[0]
        .block_on(store.due_templates(now, 1))
        .unwrap()
        .unwrap()
        .is_empty()
    {
        for worker in &workers {
            worker.tick().unwrap();
        }
        rounds += 1;
        assert!(rounds < 100);
    }
    let keys = |store: &InMemoryRepository| -> Vec<DealKey> {
        workers[0]
            .block_on(store.deals(&acme, None))
            .unwrap()
            .unwrap()
            .iter()
            .map(|d| d.key)
            .collect()
    };
    let mut shared = keys(&store);
    let mut expected = keys(&reference);
    assert!(expected.len() >= 50);
    shared.sort();
    expected.sort();
    assert_eq!(shared, expected);
}

/// A lifecycle change that loses races to another writer waits before each retry (the
/// engine's conflict-retry policy: 1, 2, 4 ... ms, at most 50), then lands. Tokio's paused
/// clock measures the waits exactly.
#[tokio::test(start_paused = true)]
async fn a_lifecycle_change_waits_before_retrying_a_conflict() {
    let conflicts_left = Arc::new(AtomicUsize::new(0));
    let left = Arc::clone(&conflicts_left);
    let repository = Faulty::new(InMemoryRepository::new(), move |call| match call {
        Call::Commit(_)
            if left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok() =>
        {
            Fault::Lose
        }
        _ => Fault::None,
    });
    let clock = ManualClock::new(utc(2026, 3, 1, 0, 0));
    let engine = recurring_deals::Engine::new(repository, clock.clone());
    let acme = tenant("acme");
    let id = engine
        .create_template(&acme, daily_draft())
        .await
        .unwrap()
        .id();
    conflicts_left.store(3, Ordering::SeqCst);
    let started = tokio::time::Instant::now();
    engine.pause(&acme, id, "holiday", None).await.unwrap();
    // Waits of 1, 2 and 4 ms before tries 2, 3 and 4.
    assert_eq!(started.elapsed(), std::time::Duration::from_millis(7));
    assert!(matches!(
        engine.template(&acme, id).await.unwrap().state(),
        TemplateState::Paused { .. }
    ));
    // Eight lost races in a row: the change reports the conflict (no wait after the last).
    conflicts_left.store(8, Ordering::SeqCst);
    let started = tokio::time::Instant::now();
    assert!(matches!(
        engine.resume(&acme, id).await,
        Err(EngineError::Conflict(_))
    ));
    assert_eq!(
        started.elapsed(),
        std::time::Duration::from_millis(1 + 2 + 4 + 8 + 16 + 32 + 50)
    );
}

/// An edit on a template far behind (daily since 1976, one occurrence per tick, the clock 50
/// years on) does a bounded amount of catch-up inside itself and then says so plainly,
/// instead of committing thousands of deals and reporting a race that did not happen.
#[test]
fn an_edit_far_behind_settles_a_bounded_amount_and_says_why_it_stops() {
    let (engine, clock) = engine_at(utc(1976, 1, 1, 0, 0));
    let acme = tenant("acme");
    let mut draft = TemplateDraft::new(
        deal("Daily", 100),
        daily(local(1976, 1, 1, 9, 0), Zone::UTC).build().unwrap(),
    );
    draft.catch_up.max_per_tick = 1;
    let id = engine.create_template(&acme, draft).unwrap().id();
    clock.set(utc(2026, 1, 1, 0, 0));
    let schedule = daily(local(2026, 1, 1, 10, 0), Zone::UTC).build().unwrap();
    assert_eq!(
        engine.edit_schedule(&acme, id, schedule.clone()),
        Err(EngineError::Behind(id))
    );
    // It settled a few ticks' worth, not ten thousand deals.
    let created = engine.deals(&acme, Some(id)).unwrap().len();
    assert!(
        (1..=8).contains(&created),
        "{created} deals created by the edit"
    );
    // Nothing else changed: the old schedule, revision 0, still catching up by ticks.
    let template = engine.template(&acme, id).unwrap();
    assert_eq!(template.revision(), 0);
    assert!(template.next_run().is_some_and(|t| t <= clock.now()));
    // A template that is not behind is edited at once.
    let fresh = engine.create_template(&acme, daily_draft()).unwrap().id();
    assert_eq!(
        engine
            .edit_schedule(&acme, fresh, schedule)
            .unwrap()
            .revision(),
        1
    );
}

/// Issue #20, kind 9: every bound of `limits` is refused with a typed error naming the part,
/// its size and the bound (the store-level cases are in `tests/conformance/refusals.rs`).
#[test]
fn every_bound_of_the_limits_is_refused_naming_it() {
    fn too_long(error: impl std::fmt::Debug + std::fmt::Display, what: &str, max: usize) {
        let text = error.to_string();
        assert!(
            text.contains(what) && text.contains(&format!("at most {max}")),
            "{text} ({error:?})"
        );
    }
    // Installments, reminders.
    too_long(
        InstallmentSplit::new(vec![1; 10_000]).unwrap_err(),
        "installment shares",
        limits::INSTALLMENTS,
    );
    let mut invoice = InvoiceOptions::new(PaymentDue::Days(10));
    invoice.remind_after_days = (1..=17).collect();
    too_long(
        invoice.validate().unwrap_err(),
        "reminders after the due date",
        limits::INVOICE_REMINDERS,
    );
    // RFC 5545 text and exceptions.
    let exdates: Vec<String> = (0..=limits::SCHEDULE_EXCEPTIONS)
        .map(|d| {
            let day = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + TimeDelta::days(d as i64);
            format!("{}T090000Z", day.format("%Y%m%d"))
        })
        .collect();
    let text = format!(
        "DTSTART:20260101T090000Z\nRRULE:FREQ=DAILY\nEXDATE:{}",
        exdates.join(",")
    );
    too_long(
        Schedule::from_rrule(&text).unwrap_err(),
        "schedule exceptions",
        limits::SCHEDULE_EXCEPTIONS,
    );
    let huge = format!("{text}\nX-NOTE:{}", "x".repeat(limits::RRULE_BYTES));
    assert!(matches!(
        Schedule::from_rrule(&huge),
        Err(ScheduleError::TooLarge {
            what: "RFC 5545 text",
            ..
        })
    ));
    // Terms changes: the effective date and the filter.
    let id = ChangeId::new("price-9999").unwrap();
    let far = TermsChange::builder(id.clone(), NaiveDate::from_ymd_opt(9999, 1, 1).unwrap())
        .amount(AmountChange::Percent {
            basis_points: 500,
            rounding: Rounding::HalfUp,
        })
        .build()
        .unwrap_err();
    assert!(
        far.to_string().contains("effective date 9999-01-01"),
        "{far}"
    );
    let many = TermsChange::builder(id, NaiveDate::from_ymd_opt(2027, 1, 1).unwrap())
        .amount(AmountChange::Percent {
            basis_points: 500,
            rounding: Rounding::HalfUp,
        })
        .filter(TermsFilter::default().ids((0..=limits::TERMS_FILTER_IDS as u64).map(TemplateId)))
        .build()
        .unwrap_err();
    too_long(many, "terms filter ids", limits::TERMS_FILTER_IDS);
    // A deal's dates, a draft's target stage, and skip requests.
    let (engine, _clock) = engine_at(utc(2026, 3, 1, 0, 0));
    let acme = tenant("acme");
    let schedule = daily(local(2026, 3, 1, 9, 0), Zone::UTC).build().unwrap();
    let dated = deal("Dated", 100).with_dates(NaiveDate::from_ymd_opt(9999, 12, 31), None);
    let refused = engine
        .create_template(&acme, TemplateDraft::new(dated, schedule.clone()))
        .unwrap_err();
    assert!(
        refused.to_string().contains("deal begin date 9999-12-31"),
        "{refused}"
    );
    let mut draft = TemplateDraft::new(deal("Staged", 100), schedule.clone());
    draft.target = Some(Target {
        pipeline: 1,
        stage: "s".repeat(101),
    });
    assert!(matches!(
        engine.create_template(&acme, draft),
        Err(EngineError::DealTooLarge { max: 100, .. })
    ));
    let id = engine
        .create_template(&acme, TemplateDraft::new(deal("Skips", 100), schedule))
        .unwrap()
        .id();
    for seq in 0..limits::SKIP_REQUESTS as u64 {
        engine.skip_occurrence(&acme, id, seq).unwrap();
    }
    let refused = engine
        .skip_occurrence(&acme, id, limits::SKIP_REQUESTS as u64)
        .unwrap_err();
    too_long(
        refused,
        "occurrences waiting to be skipped",
        limits::SKIP_REQUESTS,
    );
}
