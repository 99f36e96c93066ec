//! SQLite store throughput: deals committed durably per second by an engine tick, against a
//! bare-insert baseline in the same run.
//!
//! `cargo bench --features sqlite --bench sqlite`
//!
//! The store runs as shipped (`SqliteStore::connect`: WAL, `synchronous = FULL`, files under
//! the system's temp directory); the engine commits 64 templates per transaction:
//!
//! * catch-up: 1,000 templates with 100 missed daily occurrences each, one tick;
//! * steady: 20,000 templates with one occurrence each, one tick.
//!
//! The baseline writes the same rows the tick wrote (read back from its database: the deals,
//! the outbox events and the templates' new rows, already serialized before timing starts)
//! into a fresh database migrated by the store (same tables and indexes, same durability),
//! in transactions of the same 64 templates: once with a prepared statement per row and once
//! with multi-row statements; the faster counts. Each scenario runs `RUNS` times (default 5);
//! medians are reported, and their ratio.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use recurring_deals::{
    CatchUpPolicy, Currency, Deal, Engine, EngineConfig, Interval, ManualClock, Money, Recurrence,
    Repository, Schedule, SqliteStore, Template, TemplateDraft, TenantId,
};
use sqlx::{Row, SqlitePool};

const BATCH: usize = 64;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

fn path(what: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "recurring-deals-bench-{}-{what}.db",
        std::process::id()
    ))
}

fn remove(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let _ = std::fs::remove_file(name);
    }
}

/// The rows a tick wrote, per template, in commit order.
struct Written {
    initial: Vec<Template>,
    /// Per template: its new row (id, version, state, next_run_ns, body), its deals and events.
    per_template: Vec<TemplateRows>,
}

struct TemplateRows {
    template: (i64, i64, String, Option<i64>, String),
    deals: Vec<(i64, i16, i64, i64, String, i64, String)>,
    events: Vec<(String, String, i64, String)>,
}

/// One tick over `templates` templates with `days` daily occurrences due each: deals/s, and
/// the rows written.
async fn engine_run(templates: usize, days: u32) -> (usize, Duration, Written) {
    let file = path("engine");
    remove(&file);
    let store = SqliteStore::connect(&file).await.unwrap();
    let clock = ManualClock::new(t0());
    let config = EngineConfig::builder()
        .batch_size(templates)
        .commit_batch(BATCH)
        .build()
        .unwrap();
    let engine = Engine::with_config(store.clone(), clock.clone(), config);
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
        engine.create_template(&tenant, draft).await.unwrap();
    }
    let now = t0() + TimeDelta::days(i64::from(days) - 1) + TimeDelta::hours(12);
    let initial = store.due_templates(now, usize::MAX).await.unwrap();
    clock.set(now);
    let started = Instant::now();
    let report = engine.tick().await.unwrap();
    let elapsed = started.elapsed();
    assert!(report.failures.is_empty() && report.conflicts == 0);
    assert_eq!(report.created.len(), templates * days as usize);
    let written = read_back(store.pool(), &initial).await;
    store.pool().close().await;
    remove(&file);
    (report.created.len(), elapsed, written)
}

async fn read_back(pool: &SqlitePool, initial: &[Template]) -> Written {
    let mut per_template = Vec::with_capacity(initial.len());
    for template in initial {
        let id = template.id().0 as i64;
        let row = sqlx::query(
            "SELECT id, version, state, next_run_ns, body FROM rd_templates WHERE id = ?1",
        )
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap();
        let deals: Vec<(i64, i16, i64, i64, String, i64, String)> = sqlx::query_as(
            "SELECT template_id, kind, revision, num, tenant, nominal_at_ns, body FROM rd_deals \
             WHERE template_id = ?1 ORDER BY num",
        )
        .bind(id)
        .fetch_all(pool)
        .await
        .unwrap();
        per_template.push(TemplateRows {
            template: (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4)),
            deals,
            events: Vec::new(),
        });
    }
    // Events in outbox order belong to the templates in due order (a deal event names its
    // template); the baseline writes each template's with it.
    let events: Vec<(String, String, i64, String)> =
        sqlx::query_as("SELECT tenant, idempotency_key, at_ns, body FROM rd_outbox ORDER BY id")
            .fetch_all(pool)
            .await
            .unwrap();
    let per = events.len() / per_template.len().max(1);
    for (i, chunk) in events.chunks(per.max(1)).enumerate() {
        if let Some(rows) = per_template.get_mut(i) {
            rows.events.extend(chunk.iter().cloned());
        }
    }
    Written {
        initial: initial.to_vec(),
        per_template,
    }
}

#[derive(Clone, Copy)]
enum Style {
    PerRow,
    MultiRow,
}

/// The baseline: the same rows into a fresh migrated database, 64 templates per
/// transaction.
async fn baseline(written: &Written, style: Style) -> Duration {
    let file = path("baseline");
    remove(&file);
    let store = SqliteStore::connect(&file).await.unwrap();
    store.insert_templates(&written.initial).await.unwrap();
    let pool = store.pool().clone();
    let started = Instant::now();
    for batch in written.per_template.chunks(BATCH) {
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.unwrap();
        match style {
            Style::PerRow => {
                for t in batch {
                    let (id, version, state, next, body) = &t.template;
                    sqlx::query(
                        "UPDATE rd_templates SET version = ?1, state = ?2, next_run_ns = ?3, \
                         body = ?4 WHERE id = ?5 AND version = ?6",
                    )
                    .bind(version)
                    .bind(state)
                    .bind(next)
                    .bind(body)
                    .bind(id)
                    .bind(version - 1)
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                    for d in &t.deals {
                        sqlx::query(
                            "INSERT INTO rd_deals (template_id, kind, revision, num, tenant, \
                             nominal_at_ns, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                        )
                        .bind(d.0)
                        .bind(d.1)
                        .bind(d.2)
                        .bind(d.3)
                        .bind(&d.4)
                        .bind(d.5)
                        .bind(&d.6)
                        .execute(&mut *tx)
                        .await
                        .unwrap();
                    }
                    for e in &t.events {
                        sqlx::query(
                            "INSERT INTO rd_outbox (tenant, idempotency_key, at_ns, body) \
                             VALUES (?1, ?2, ?3, ?4)",
                        )
                        .bind(&e.0)
                        .bind(&e.1)
                        .bind(e.2)
                        .bind(&e.3)
                        .execute(&mut *tx)
                        .await
                        .unwrap();
                    }
                }
            }
            Style::MultiRow => {
                let deals: Vec<_> = batch.iter().flat_map(|t| &t.deals).collect();
                for chunk in deals.chunks(256) {
                    let sql = format!(
                        "INSERT INTO rd_deals (template_id, kind, revision, num, tenant, \
                         nominal_at_ns, body) VALUES {}",
                        vec!["(?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ")
                    );
                    let mut q = sqlx::query(&sql);
                    for d in chunk {
                        q = q
                            .bind(d.0)
                            .bind(d.1)
                            .bind(d.2)
                            .bind(d.3)
                            .bind(&d.4)
                            .bind(d.5)
                            .bind(&d.6);
                    }
                    q.execute(&mut *tx).await.unwrap();
                }
                let events: Vec<_> = batch.iter().flat_map(|t| &t.events).collect();
                for chunk in events.chunks(256) {
                    let sql = format!(
                        "INSERT INTO rd_outbox (tenant, idempotency_key, at_ns, body) VALUES {}",
                        vec!["(?, ?, ?, ?)"; chunk.len()].join(", ")
                    );
                    let mut q = sqlx::query(&sql);
                    for e in chunk {
                        q = q.bind(&e.0).bind(&e.1).bind(e.2).bind(&e.3);
                    }
                    q.execute(&mut *tx).await.unwrap();
                }
                let sql = format!(
                    "WITH i (id, version, state, next_run_ns, body) AS (VALUES {}) \
                     UPDATE rd_templates SET version = i.version, state = i.state, \
                     next_run_ns = i.next_run_ns, body = i.body FROM i \
                     WHERE rd_templates.id = i.id AND rd_templates.version = i.version - 1",
                    vec!["(?, ?, ?, ?, ?)"; batch.len()].join(", ")
                );
                let mut q = sqlx::query(&sql);
                for t in batch {
                    let (id, version, state, next, body) = &t.template;
                    q = q.bind(id).bind(version).bind(state).bind(next).bind(body);
                }
                q.execute(&mut *tx).await.unwrap();
            }
        }
        tx.commit().await.unwrap();
    }
    let elapsed = started.elapsed();
    pool.close().await;
    remove(&file);
    elapsed
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

async fn scenario(name: &str, templates: usize, days: u32, runs: usize) {
    let (mut engine, mut per_row, mut multi_row) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let (deals, elapsed, written) = engine_run(templates, days).await;
        engine.push(deals as f64 / elapsed.as_secs_f64());
        per_row.push(deals as f64 / baseline(&written, Style::PerRow).await.as_secs_f64());
        multi_row.push(deals as f64 / baseline(&written, Style::MultiRow).await.as_secs_f64());
    }
    let (engine, per_row, multi_row) = (median(engine), median(per_row), median(multi_row));
    let best = per_row.max(multi_row);
    println!(
        "{name}: engine tick median {engine:.0} deals/s; bare inserts: per-row {per_row:.0}, \
         multi-row {multi_row:.0} deals/s; engine / best baseline = {:.0} %",
        engine / best * 100.0
    );
}

fn main() {
    let runs = std::env::var("RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!("SQLite store, WAL, synchronous = FULL, 64 templates per transaction; {runs} runs");
    runtime.block_on(async {
        scenario("catch-up (100 deals per template)", 1_000, 100, runs).await;
        scenario("steady (1 deal per template)", 20_000, 1, runs).await;
    });
}
