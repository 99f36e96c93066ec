//! Forecast benchmarks (feature `parallel`), each beside its comparison in the same run:
//!
//! * `forecast_12_months_of_100k_templates`: the forecast per occurrence against bare
//!   expansion of the same schedules over the same range, reading each occurrence's date
//!   (target: within 1.5x);
//! * `forecast_threads`: the same forecast on a rayon pool of 1 and of 2 threads (target:
//!   1.7x from 1 to 2);
//! * `forecast_1m_templates`: a 12-month forecast of the engine bench's 1,000,000 templates
//!   (10,000 daily, 990,000 yearly), already in memory, on 2 threads (target: 1 s), and the
//!   same through `Engine::forecast`, scanning them from the in-memory store and from a
//!   SQLite file, for what streaming adds.
//!
//! `cargo bench --features parallel,sqlite --bench forecast`

use std::hint::black_box;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use recurring_deals::forecast::{Forecaster, Period};
use recurring_deals::*;

fn tenant() -> TenantId {
    TenantId::new("bench").expect("valid tenant")
}

fn deal() -> Deal {
    let rub = Currency::new("RUB").expect("valid currency");
    Deal::new("Support", Money::new(100_000, rub))
        .expect("valid deal")
        .with_assignee(7)
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

fn from() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2031, 1, 1, 0, 0, 0).unwrap()
}

fn to() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2032, 1, 1, 0, 0, 0).unwrap()
}

/// 100,000 templates: daily, weekly (two days) and monthly rules with intervals 1 to 4, in
/// three zones, started 2020 to 2029 (the preview bench's mix), made at `from`.
fn mixed_templates() -> Vec<Template> {
    let clock = ManualClock::new(from());
    let engine = blocking::Engine::new(InMemoryRepository::new(), clock).expect("engine");
    let zones = [
        Zone::UTC,
        Zone::get("Europe/Moscow").unwrap(),
        Zone::get("America/New_York").unwrap(),
    ];
    (0..100_000u32)
        .map(|i| {
            let interval = Interval::new(i % 4 + 1).expect("interval");
            let recurrence = match i % 3 {
                0 => Recurrence::daily(interval),
                1 => Recurrence::weekly(
                    interval,
                    WeekdaySet::new([chrono::Weekday::Mon, chrono::Weekday::Thu])
                        .expect("weekdays"),
                ),
                _ => Recurrence::monthly(
                    interval,
                    MonthDay::Day(DayOfMonth::new(i % 31 + 1).expect("day")),
                ),
            };
            let start = day(2020 + (i % 10) as i32, i % 12 + 1, i % 28 + 1);
            let draft =
                TemplateDraft::new(deal(), schedule(recurrence, start, zones[i as usize % 3]));
            engine.create_template(&tenant(), draft).expect("template")
        })
        .collect()
}

/// Bare expansion over `[from, to)`, reading each occurrence's date: what a forecast must at
/// least do.
fn bare_expansion(templates: &[Template]) -> u64 {
    let (from, to) = (from(), to());
    let mut n = 0u64;
    for template in templates {
        let mut occurrences = template.schedule().occurrences_after(from);
        for occurrence in occurrences.by_ref() {
            if occurrence.at() >= to {
                break;
            }
            n = n.wrapping_add(u64::from(chrono::Datelike::day(&occurrence.date())));
        }
    }
    n
}

fn per_occurrence(c: &mut Criterion) {
    let templates = mixed_templates();
    let forecaster = Forecaster::new(from(), to(), Period::Month).expect("range");
    let occurrences: u64 = forecaster
        .templates(&templates)
        .rows()
        .iter()
        .map(|(_, t)| t.deals)
        .sum();
    let mut group = c.benchmark_group("forecast_12_months_of_100k_templates");
    group.sample_size(10);
    group.throughput(Throughput::Elements(occurrences));
    group.bench_function("bare_expansion_with_dates", |b| {
        b.iter(|| black_box(bare_expansion(&templates)))
    });
    group.bench_function("forecast_by_month", |b| {
        b.iter(|| black_box(forecaster.templates(&templates)))
    });
    group.finish();

    let mut group = c.benchmark_group("forecast_threads");
    group.sample_size(10);
    group.throughput(Throughput::Elements(occurrences));
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool");
        group.bench_function(format!("{threads}_threads"), |b| {
            b.iter(|| pool.install(|| black_box(forecaster.templates_parallel(&templates))))
        });
    }
    group.finish();
}

/// The engine bench's 1,000,000 templates: 10,000 daily, 990,000 yearly on December's last day.
fn million<R: Repository>(engine: &blocking::Engine<R, ManualClock>) -> Vec<Template> {
    (0..1_000_000)
        .map(|i| {
            let recurrence = if i < 10_000 {
                Recurrence::daily(Interval::ONE)
            } else {
                Recurrence::yearly(Interval::ONE, chrono::Month::December, MonthDay::LastDay)
            };
            let draft =
                TemplateDraft::new(deal(), schedule(recurrence, day(2031, 1, 2), Zone::UTC));
            engine.create_template(&tenant(), draft).expect("template")
        })
        .collect()
}

fn million_templates(c: &mut Criterion) {
    let clock = ManualClock::new(from());
    let engine = blocking::Engine::new(InMemoryRepository::new(), clock.clone()).expect("engine");
    let templates = million(&engine);
    let forecaster = Forecaster::new(from(), to(), Period::Month).expect("range");
    let mut group = c.benchmark_group("forecast_1m_templates");
    group.sample_size(10);
    group.throughput(Throughput::Elements(1_000_000));
    group.bench_function("in_memory_slice_2_threads", |b| {
        b.iter(|| black_box(forecaster.templates_parallel(&templates)))
    });
    group.bench_function("in_memory_slice_1_thread", |b| {
        b.iter(|| black_box(forecaster.templates(&templates)))
    });
    group.bench_function("engine_scan_in_memory_store", |b| {
        b.iter(|| black_box(engine.forecast(&tenant(), &forecaster).expect("forecast")))
    });
    drop(engine);

    // The same templates in a SQLite file, scanned a page at a time.
    let path = std::env::temp_dir().join(format!("rd_forecast_bench_{}.db", std::process::id()));
    let store = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            let store = SqliteStore::connect(&path).await.expect("store");
            store.insert_templates(&templates).await.expect("insert");
            store
        });
    let engine = blocking::Engine::new(store, clock).expect("engine");
    group.bench_function("engine_scan_sqlite_store", |b| {
        b.iter(|| black_box(engine.forecast(&tenant(), &forecaster).expect("forecast")))
    });
    group.finish();
    drop(engine);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

criterion_group!(benches, per_occurrence, million_templates);
criterion_main!(benches);
