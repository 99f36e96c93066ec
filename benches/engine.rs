//! Engine benchmarks: tick cost against the number of due templates, deal materialization
//! throughput, and previews against bare schedule expansion.
//!
//! `cargo bench --bench engine`

// Amounts are written as units_cents (150_000_00 = 150,000.00), the grouping is on purpose.
#![allow(clippy::inconsistent_digit_grouping)]

use std::hint::black_box;

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, TimeZone, Utc};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use recurring_deals::*;

fn tenant() -> TenantId {
    TenantId::new("bench").expect("valid tenant")
}

fn deal() -> Deal {
    let rub = Currency::new("RUB").expect("valid currency");
    Deal::new("Support", Money::new(1_000_00, rub))
        .expect("valid deal")
        .with_assignee(7)
        .with_contacts([1, 2])
}

fn schedule(recurrence: Recurrence, start: NaiveDate, zone: Zone) -> Schedule {
    Schedule::builder(
        recurrence,
        start.and_hms_opt(9, 0, 0).expect("valid time"),
        zone,
    )
    .build()
    .expect("valid schedule")
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

/// An engine with `due` daily templates and `idle - due` yearly ones (not due in the bench
/// window), clock on 2026-01-01 12:00 UTC (the daily ones are due at 09:00).
fn engine_with(
    total: usize,
    due: usize,
) -> (
    blocking::Engine<InMemoryRepository, ManualClock>,
    ManualClock,
) {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap());
    let engine = blocking::Engine::new(InMemoryRepository::new(), clock.clone()).expect("engine");
    let tenant = tenant();
    for i in 0..total {
        let recurrence = if i < due {
            Recurrence::daily(Interval::ONE)
        } else {
            Recurrence::yearly(Interval::ONE, chrono::Month::December, MonthDay::LastDay)
        };
        let draft = TemplateDraft::new(deal(), schedule(recurrence, day(2026, 1, 2), Zone::UTC));
        engine
            .create_template(&tenant, draft)
            .expect("template created");
    }
    (engine, clock)
}

/// A tick over 1,000,000 templates of which 10,000 are due, against a tick over 10,000
/// templates all due: the cost must follow the due ones. The naive alternative (scan every
/// template's next run, as a cron job over a table would) runs beside it.
fn tick_cost(c: &mut Criterion) {
    let mut group = c.benchmark_group("tick_10k_due");
    group.sample_size(10);
    group.throughput(Throughput::Elements(10_000));
    for (name, total) in [("of_10k_templates", 10_000), ("of_1m_templates", 1_000_000)] {
        let (engine, clock) = engine_with(total, 10_000);
        group.bench_function(name, |b| {
            b.iter(|| {
                clock.advance(TimeDelta::days(1));
                let report = engine.tick().expect("tick");
                assert_eq!(report.created.len(), 10_000);
                black_box(report);
            })
        });
    }
    // The naive due scan over all templates: what a job without a due index pays per tick
    // before it plans anything.
    let (engine, _) = engine_with(1_000_000, 10_000);
    let all = engine
        .list(
            &tenant(),
            &TemplateQuery {
                limit: usize::MAX,
                ..TemplateQuery::default()
            },
        )
        .expect("list")
        .items;
    let now = Utc.with_ymd_and_hms(2026, 1, 3, 6, 0, 0).unwrap();
    group.bench_function("naive_scan_of_1m_templates", |b| {
        b.iter(|| {
            let due = all
                .iter()
                .filter(|t| t.next_run().is_some_and(|r| r <= now))
                .count();
            assert_eq!(due, 10_000);
            black_box(due)
        })
    });
    group.finish();
}

/// Deals materialized per second by the pure planner: one template catching up 10,000 daily
/// occurrences.
fn materialization(c: &mut Criterion) {
    let mut group = c.benchmark_group("materialize");
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
    let engine = blocking::Engine::new(InMemoryRepository::new(), clock.clone()).expect("engine");
    // Timers on: the engine bounds each store call (EngineConfig::store_timeout).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let mut draft = TemplateDraft::new(
        deal(),
        schedule(
            Recurrence::daily(Interval::ONE),
            day(2026, 1, 1),
            Zone::get("Europe/Moscow").unwrap(),
        ),
    );
    draft.catch_up.max_per_tick = 10_000;
    let template = engine.create_template(&tenant(), draft).expect("template");
    let now: DateTime<Utc> = Utc.with_ymd_and_hms(2060, 1, 1, 0, 0, 0).unwrap();
    group.throughput(Throughput::Elements(10_000));
    group.bench_function("plan_10k_deals", |b| {
        b.iter(|| {
            let plan = plan(black_box(&template), now);
            assert_eq!(plan.deals.len(), 10_000);
            black_box(plan)
        })
    });
    group.bench_function("plan_and_commit_10k_deals", |b| {
        b.iter_batched(
            || {
                let repository = InMemoryRepository::new();
                runtime
                    .block_on(repository.insert_template(&template))
                    .expect("insert");
                repository
            },
            |repository| {
                let plan = plan(&template, now);
                let outcome = runtime
                    .block_on(repository.commit(Commit::from(plan)))
                    .expect("commit");
                black_box((outcome, repository))
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();

    // The async engine end to end on one core (a current-thread runtime): a catch-up tick of
    // 100 templates x 100 daily deals, loaded, planned, committed in batches of 64, with
    // its outbox events.
    let mut group = c.benchmark_group("async_engine_one_core");
    group.sample_size(20);
    group.throughput(Throughput::Elements(10_000));
    group.bench_function("catch_up_tick_10k_deals", |b| {
        b.iter_batched(
            || {
                let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
                let engine = Engine::new(InMemoryRepository::new(), clock.clone());
                runtime.block_on(async {
                    for _ in 0..100 {
                        let draft = TemplateDraft::new(
                            deal(),
                            schedule(Recurrence::daily(Interval::ONE), day(2026, 1, 1), Zone::UTC),
                        );
                        engine
                            .create_template(&tenant(), draft)
                            .await
                            .expect("template");
                    }
                });
                // 100 days later: 100 due occurrences each (the default per-tick budget).
                clock.set(Utc.with_ymd_and_hms(2026, 4, 10, 12, 0, 0).unwrap());
                engine
            },
            |engine| {
                let report = runtime.block_on(engine.tick()).expect("tick");
                assert_eq!(report.created.len(), 10_000);
                black_box((report, engine))
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

/// Preview of the next 12 deals for 100,000 templates against bare expansion of their
/// schedules (target: within 2x).
fn preview_cost(c: &mut Criterion) {
    let mut group = c.benchmark_group("next_12_for_100k_templates");
    group.sample_size(10);
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
    let engine = blocking::Engine::new(InMemoryRepository::new(), clock.clone()).expect("engine");
    let zones = [
        Zone::UTC,
        Zone::get("Europe/Moscow").unwrap(),
        Zone::get("America/New_York").unwrap(),
    ];
    let mut templates = Vec::with_capacity(100_000);
    for i in 0..100_000u32 {
        let interval = Interval::new(i % 4 + 1).expect("interval");
        let recurrence = match i % 3 {
            0 => Recurrence::daily(interval),
            1 => Recurrence::weekly(
                interval,
                WeekdaySet::new([chrono::Weekday::Mon, chrono::Weekday::Thu]).expect("weekdays"),
            ),
            _ => Recurrence::monthly(
                interval,
                MonthDay::Day(DayOfMonth::new(i % 31 + 1).expect("day")),
            ),
        };
        let start = day(2020 + (i % 10) as i32, i % 12 + 1, i % 28 + 1);
        let draft = TemplateDraft::new(deal(), schedule(recurrence, start, zones[i as usize % 3]));
        templates.push(engine.create_template(&tenant(), draft).expect("template"));
    }
    let now = Utc.with_ymd_and_hms(2031, 6, 15, 0, 0, 0).unwrap();
    group.throughput(Throughput::Elements(100_000));
    group.bench_function("bare_schedule_expansion", |b| {
        b.iter(|| {
            let mut n = 0;
            for template in &templates {
                n += template.schedule().occurrences_after(now).take(12).count();
            }
            black_box(n)
        })
    });
    // The same expansion, reading each occurrence's instant and date as any caller does (a
    // preview's deals carry both): the chrono values are built here too.
    group.bench_function("bare_expansion_with_dates", |b| {
        b.iter(|| {
            let mut n = 0i64;
            for template in &templates {
                for occurrence in template.schedule().occurrences_after(now).take(12) {
                    n = n.wrapping_add(occurrence.at().timestamp());
                    n = n.wrapping_add(i64::from(occurrence.date().day()));
                }
            }
            black_box(n)
        })
    });
    group.bench_function("preview", |b| {
        b.iter(|| {
            let mut n = 0;
            for template in &templates {
                n += preview(template, now, 12).len();
            }
            black_box(n)
        })
    });
    group.finish();
}

criterion_group!(benches, tick_cost, materialization, preview_cost);
criterion_main!(benches);
