//! PostgreSQL store throughput: deals per second committed by 1, 2 and 4 workers (threads, each
//! with its own engine and connection) ticking one database, on loopback.
//!
//! `RECURRING_DEALS_PG_URL='host=127.0.0.1 user=postgres dbname=recurring_deals_test'
//! cargo bench --features postgres --bench postgres`
//!
//! Each run loads templates into a fresh schema, then times the workers ticking until nothing
//! is due, and checks the number of deal rows. Each worker has its share of the due list
//! (`EngineConfig::worker_index`). Four scenarios:
//!
//! * durable commits (the server's `synchronous_commit`), one deal due per template, 64
//!   templates per transaction (the engine's default `commit_batch`): the steady state;
//! * the same with one template per transaction, one WAL flush per deal (the engine before
//!   batched commits, for comparison);
//! * durable commits, ten deals due per template: catching up;
//! * `synchronous_commit=off` (set through the connection string), one deal per template.
//!
//! `BENCH_RUNS` runs (default 3) per scenario and worker count, the median reported;
//! `BENCH_WORKERS` (default `1,2,4`); `BENCH_SCALE` multiplies the template counts (default
//! 1).

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use recurring_deals::{
    Currency, Deal, End, Engine, EngineConfig, InMemoryRepository, Interval, ManualClock, Money,
    PostgresRepository, Recurrence, Repository, Schedule, Template, TemplateDraft, TemplateQuery,
    TenantId,
};

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn utc(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
}

/// `n` templates, each with `deals` daily occurrences due by 2026-03-31.
fn templates(n: usize, deals: u32) -> Vec<Template> {
    let scratch = InMemoryRepository::new();
    let engine = Engine::new(&scratch, ManualClock::new(utc(2026, 3, 1, 0)));
    let tenant = TenantId::new("bench").unwrap();
    let rub = Currency::new("RUB").unwrap();
    for i in 0..n {
        let start = NaiveDate::from_ymd_opt(2026, 3, 1)
            .unwrap()
            .and_hms_opt(1 + (i % 23) as u32, 0, 0)
            .unwrap();
        let schedule = Schedule::builder(Recurrence::daily(Interval::ONE), start, chrono_tz::UTC)
            .end(End::Count(deals))
            .build()
            .unwrap();
        let deal = Deal::new(format!("Service {i}"), Money::new(10_000, rub))
            .unwrap()
            .with_assignee(7)
            .with_contacts([1, 2]);
        engine
            .create_template(&tenant, TemplateDraft::new(deal, schedule))
            .unwrap();
    }
    scratch
        .list_templates(
            &tenant,
            &TemplateQuery {
                limit: n,
                ..TemplateQuery::default()
            },
        )
        .unwrap()
        .items
}

/// One timed run: `workers` threads tick a fresh schema holding `templates` until nothing is
/// due. Returns the wall time.
fn run(
    url: &str,
    workers: usize,
    templates: &[Template],
    deals: u64,
    commit_batch: usize,
) -> Duration {
    let schema = format!(
        "rd_bench_{}_{}",
        std::process::id(),
        Utc::now().timestamp_nanos_opt().unwrap_or_default()
    );
    let loader = PostgresRepository::connect_with(url, Some(&schema), 1).unwrap();
    loader.insert_templates(templates).unwrap();
    // Fresh statistics, so the planner uses the due index as it would on a live table.
    let mut admin = postgres::Client::connect(url, postgres::NoTls).unwrap();
    admin
        .batch_execute(&format!("ANALYZE \"{schema}\".rd_templates"))
        .unwrap();
    let now = utc(2026, 3, 31, 0);
    let stores: Vec<PostgresRepository> = (0..workers)
        .map(|_| PostgresRepository::connect_with(url, Some(&schema), 1).unwrap())
        .collect();
    let barrier = Arc::new(Barrier::new(workers + 1));
    let handles: Vec<_> = stores
        .into_iter()
        .enumerate()
        .map(|(index, store)| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let config = EngineConfig {
                    batch_size: 500,
                    commit_batch,
                    worker_index: index,
                    worker_count: workers,
                    ..EngineConfig::default()
                };
                let engine = Engine::with_config(store, ManualClock::new(now), config);
                barrier.wait();
                let mut created = 0;
                loop {
                    let report = engine.tick().unwrap();
                    assert!(report.failures.is_empty(), "{:?}", report.failures);
                    created += report.created.len() as u64;
                    if engine
                        .repository()
                        .due_templates(now, 1)
                        .unwrap()
                        .is_empty()
                    {
                        return created;
                    }
                }
            })
        })
        .collect();
    barrier.wait();
    let started = Instant::now();
    let created: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let elapsed = started.elapsed();
    let rows: i64 = admin
        .query_one(&format!("SELECT count(*) FROM \"{schema}\".rd_deals"), &[])
        .unwrap()
        .get(0);
    assert_eq!((created, rows as u64), (deals, deals));
    admin
        .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .unwrap();
    elapsed
}

/// `url` with one more connection parameter, in the URL's own form (`key=value` string or
/// `postgresql://` URI).
fn with_param(url: &str, key: &str, value: &str) -> String {
    if url.contains("://") {
        let separator = if url.contains('?') { '&' } else { '?' };
        let value = value.replace(' ', "%20").replace('=', "%3D");
        format!("{url}{separator}{key}={value}")
    } else {
        format!("{url} {key}='{value}'")
    }
}

fn main() {
    let Ok(url) = std::env::var("RECURRING_DEALS_PG_URL") else {
        eprintln!(
            "postgres bench skipped: set RECURRING_DEALS_PG_URL (e.g. 'host=127.0.0.1 \
             user=postgres dbname=recurring_deals_test')"
        );
        return;
    };
    let runs = env_number("BENCH_RUNS", 3).max(1);
    let scale = env_number("BENCH_SCALE", 1).max(1);
    let worker_counts: Vec<usize> = std::env::var("BENCH_WORKERS")
        .ok()
        .map(|v| v.split(',').filter_map(|w| w.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 2, 4]);
    let async_url = with_param(&url, "options", "-c synchronous_commit=off");
    let scenarios = [
        (
            "durable, 1 deal per template, 64 templates per commit",
            url.as_str(),
            20_000,
            1,
            64,
        ),
        (
            "durable, 1 deal per template, 1 template per commit",
            url.as_str(),
            4_000,
            1,
            1,
        ),
        (
            "durable, 10 deals per template, 64 templates per commit",
            url.as_str(),
            4_000,
            10,
            64,
        ),
        (
            "synchronous_commit=off, 1 deal per template, 64 templates per commit",
            async_url.as_str(),
            20_000,
            1,
            64,
        ),
    ];
    println!("{runs} runs per line, median first");
    for (name, url, n, per, commit_batch) in scenarios {
        let n = n * scale;
        let templates = templates(n, per);
        let deals = n as u64 * u64::from(per);
        println!("{name}: {n} templates, {deals} deals per run");
        for &workers in &worker_counts {
            let mut rates: Vec<f64> = (0..runs)
                .map(|_| {
                    let elapsed = run(url, workers, &templates, deals, commit_batch);
                    deals as f64 / elapsed.as_secs_f64()
                })
                .collect();
            rates.sort_by(f64::total_cmp);
            println!(
                "  {workers} worker(s): {:>6.0} deals/s (runs: {})",
                rates[rates.len() / 2],
                rates
                    .iter()
                    .map(|r| format!("{r:.0}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
}
