//! SQLite store throughput: deals committed durably per second.
//!
//! `cargo bench --features sqlite --bench sqlite`
//!
//! The store runs as shipped: WAL, `synchronous = FULL` (every commit is synced to disk, so a
//! committed deal survives a power loss), files under the system's temp directory. The engine
//! commits each template's planning step in one transaction, so deals are batched per template:
//!
//! * catch-up: 1,000 templates with 100 missed daily occurrences each, one tick (100 deals per
//!   transaction), the batched case the target is about;
//! * steady: 20,000 templates with one occurrence each, one tick (1 deal per transaction).
//!
//! Each scenario runs `RUNS` times (default 5) on a fresh database; the median is reported.

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use recurring_deals::{
    CatchUpPolicy, Currency, Deal, Engine, EngineConfig, Interval, ManualClock, Money, Recurrence,
    Schedule, SqliteRepository, TemplateDraft, TenantId,
};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

struct Run {
    deals: usize,
    transactions: usize,
    elapsed: Duration,
}

/// One tick over `templates` templates that each have `days` daily occurrences due.
fn run(templates: usize, days: u32, commit_batch: usize) -> Run {
    let path = std::env::temp_dir().join(format!(
        "recurring-deals-bench-{}-{templates}-{days}.db",
        std::process::id()
    ));
    remove(&path);
    let repository = SqliteRepository::open(&path).unwrap();
    let clock = ManualClock::new(t0());
    let config = EngineConfig {
        batch_size: templates,
        commit_batch,
        ..EngineConfig::default()
    };
    let engine = Engine::with_config(&repository, clock.clone(), config);
    let rub = Currency::new("RUB").unwrap();
    let deal = Deal::new("Support", Money::new(100_000, rub))
        .unwrap()
        .with_assignee(7)
        .with_contacts([1, 2]);
    for i in 0..templates {
        let tenant = TenantId::new(format!("tenant-{}", i % 50)).unwrap();
        let start = t0().naive_utc() + TimeDelta::hours(9) + TimeDelta::seconds((i % 3600) as i64);
        let schedule = Schedule::builder(Recurrence::daily(Interval::ONE), start, chrono_tz::UTC)
            .build()
            .unwrap();
        let mut draft = TemplateDraft::new(deal.clone(), schedule);
        draft.catch_up = CatchUpPolicy {
            max_per_tick: days,
            ..CatchUpPolicy::default()
        };
        engine.create_template(&tenant, draft).unwrap();
    }
    // Occurrences on days 0 .. days-1 between 09:00 and 10:00 are due; day `days`'s are not.
    clock.set(t0() + TimeDelta::days(i64::from(days) - 1) + TimeDelta::hours(12));
    let started = Instant::now();
    let report = engine.tick().unwrap();
    let elapsed = started.elapsed();
    assert!(report.failures.is_empty() && report.conflicts == 0);
    assert_eq!(report.created.len(), templates * days as usize);
    drop(engine);
    drop(repository);
    remove(&path);
    Run {
        deals: report.created.len(),
        transactions: templates.div_ceil(commit_batch),
        elapsed,
    }
}

fn remove(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let _ = std::fs::remove_file(name);
    }
}

fn scenario(name: &str, templates: usize, days: u32, commit_batch: usize, runs: usize) {
    let mut rates: Vec<(f64, Run)> = (0..runs)
        .map(|_| {
            let run = run(templates, days, commit_batch);
            (run.deals as f64 / run.elapsed.as_secs_f64(), run)
        })
        .collect();
    rates.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (median, run) = &rates[rates.len() / 2];
    let all: Vec<String> = rates.iter().map(|(r, _)| format!("{r:.0}")).collect();
    println!(
        "{name}: median {median:.0} deals/s ({} deals in {} transactions, {:.1} ms, {:.0} \
         transactions/s); all runs: {}",
        run.deals,
        run.transactions,
        run.elapsed.as_secs_f64() * 1e3,
        run.transactions as f64 / run.elapsed.as_secs_f64(),
        all.join(", ")
    );
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    let runs = std::env::var("RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    println!("SQLite store, WAL, synchronous = FULL; median of {runs} runs");
    scenario("catch-up (100 deals per template)", 1_000, 100, 64, runs);
    scenario("steady (1 deal per template)", 20_000, 1, 64, runs);
    scenario("steady, 1 template per transaction", 20_000, 1, 1, runs);
}
