//! SQLite store throughput: deals committed durably per second by an engine tick, against a
//! bare-insert baseline measured in the same rounds.
//!
//! `cargo bench --features sqlite --bench sqlite`
//!
//! The store runs as shipped (`SqliteStore::connect`: WAL, `synchronous = FULL`, a file under
//! the system's temp directory, fresh for every round); the engine commits 64 templates per
//! transaction:
//!
//! * `catch_up`: 1,000 templates with 100 missed daily occurrences each, one tick;
//! * `steady`: 20,000 templates with one occurrence due each, one tick.
//!
//! Criterion times the tick (`iter_custom`: the database is created and filled outside the
//! timing). Each round then writes the same rows the tick wrote (read back from its database,
//! already serialized: deals, skipped occurrences, invoices, outbox events and the templates'
//! new rows) into a fresh database migrated by the store (same tables and indexes, same
//! durability), in transactions of the same 64 templates: once with a prepared statement per
//! row and once with multi-row statements. After each group a line gives the medians of the
//! rounds (the warm-up round left out) and the engine's share of the faster baseline.
//! `RD_BENCH_NO_BASELINE=1` times the engine alone (for profiling).
//!
//! `sqlite_delivery`: 20,000 templates with one occurrence due each; a round ticks them
//! (deals created per second) and then drains the outbox through a `Runner` with a handler
//! that only records each event (events delivered per second, duplicates counted); the line
//! after the group gives both medians and their ratio (issue #18's target: ≥ 80 %).

use recurring_deals::Zone;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use recurring_deals::{
    CatchUpPolicy, Currency, Deal, Engine, EngineConfig, InMemoryRepository, Interval, ManualClock,
    Money, Recurrence, Schedule, SqliteStore, Template, TemplateDraft, TenantId,
};
use sqlx::{Row, SqlitePool};
use tokio::runtime::Runtime;

#[path = "delivery/mod.rs"]
mod delivery;

const BATCH: usize = 64;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

/// A database file of its own for every call: a connection sqlx closes on its worker thread
/// after the pool is gone may still unlink its `-wal` and `-shm` files by name, which must
/// never be the next round's.
fn path(what: &str) -> PathBuf {
    static ROUND: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let round = ROUND.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!(
        "recurring-deals-bench-{}-{what}-{round}.db",
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

/// `templates` daily templates whose first `days` occurrences are due at [`due_at`].
async fn templates(templates: usize, days: u32) -> Vec<Template> {
    let rub = Currency::new("RUB").unwrap();
    let deal = Deal::new("Support", Money::new(100_000, rub))
        .unwrap()
        .with_assignee(7)
        .with_contacts([1, 2]);
    let scratch = InMemoryRepository::new();
    let creator = Engine::new(&scratch, ManualClock::new(t0()));
    let mut made = Vec::with_capacity(templates);
    for i in 0..templates {
        let tenant = TenantId::new(format!("tenant-{}", i % 50)).unwrap();
        let start = t0().naive_utc() + TimeDelta::hours(9) + TimeDelta::seconds((i % 3600) as i64);
        let schedule = Schedule::builder(Recurrence::daily(Interval::ONE), start, Zone::UTC)
            .build()
            .unwrap();
        let mut draft = TemplateDraft::new(deal.clone(), schedule);
        draft.catch_up = CatchUpPolicy {
            max_per_tick: days,
            ..CatchUpPolicy::default()
        };
        made.push(creator.create_template(&tenant, draft).await.unwrap());
    }
    made
}

fn due_at(days: u32) -> DateTime<Utc> {
    t0() + TimeDelta::days(i64::from(days) - 1) + TimeDelta::hours(12)
}

/// An invoice row: key, tenant, version, next_reminder_ns, body.
type InvoiceRow = (i64, i16, i64, i64, String, i64, Option<i64>, String);

/// A template's rows as the tick left them.
struct TemplateRows {
    /// id, version, state, next_run_ns, body
    template: (i64, i64, String, Option<i64>, String),
    /// key, tenant, nominal_at_ns, body
    deals: Vec<(i64, i16, i64, i64, String, i64, String)>,
    /// key, tenant, body
    skipped: Vec<(i64, i16, i64, i64, String, String)>,
    invoices: Vec<InvoiceRow>,
    /// tenant, idempotency_key, at_ns, body
    events: Vec<(String, String, i64, String)>,
}

/// One tick over `initial` (all due at `now`) on a fresh database: the deals created, the
/// tick's time, the rows it wrote.
async fn engine_run(
    initial: &[Template],
    now: DateTime<Utc>,
    read: bool,
) -> (usize, Duration, Vec<TemplateRows>) {
    let file = path("engine");
    remove(&file);
    let store = SqliteStore::connect(&file).await.unwrap();
    store.insert_templates(initial).await.unwrap();
    let config = EngineConfig::builder()
        .batch_size(initial.len())
        .commit_batch(BATCH)
        .build()
        .unwrap();
    let engine = Engine::with_config(store.clone(), ManualClock::new(now), config);
    // Opening: the inserted templates' zones are checked once, before the timed tick.
    engine.replan_zones().await.unwrap();
    let started = Instant::now();
    let report = engine.tick().await.unwrap();
    let elapsed = started.elapsed();
    assert!(report.failures.is_empty() && report.conflicts == 0);
    let written = if read {
        read_back(store.pool(), initial).await
    } else {
        Vec::new()
    };
    store.pool().close().await;
    remove(&file);
    (report.created.len(), elapsed, written)
}

async fn read_back(pool: &SqlitePool, initial: &[Template]) -> Vec<TemplateRows> {
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
        let deals = sqlx::query_as(
            "SELECT template_id, kind, revision, num, tenant, nominal_at_ns, body FROM rd_deals \
             WHERE template_id = ?1 ORDER BY kind, revision, num",
        )
        .bind(id)
        .fetch_all(pool)
        .await
        .unwrap();
        let skipped = sqlx::query_as(
            "SELECT template_id, kind, revision, num, tenant, body FROM rd_skipped \
             WHERE template_id = ?1 ORDER BY kind, revision, num",
        )
        .bind(id)
        .fetch_all(pool)
        .await
        .unwrap();
        let invoices = sqlx::query_as(
            "SELECT template_id, kind, revision, num, tenant, version, next_reminder_ns, body \
             FROM rd_invoices WHERE template_id = ?1 ORDER BY kind, revision, num",
        )
        .bind(id)
        .fetch_all(pool)
        .await
        .unwrap();
        per_template.push(TemplateRows {
            template: (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4)),
            deals,
            skipped,
            invoices,
            events: Vec::new(),
        });
    }
    // Every template of a scenario writes as many events, in due order: each gets its share.
    let events: Vec<(String, String, i64, String)> =
        sqlx::query_as("SELECT tenant, idempotency_key, at_ns, body FROM rd_outbox ORDER BY id")
            .fetch_all(pool)
            .await
            .unwrap();
    let per = (events.len() / per_template.len().max(1)).max(1);
    for (i, chunk) in events.chunks(per).enumerate() {
        if let Some(rows) = per_template.get_mut(i) {
            rows.events.extend(chunk.iter().cloned());
        }
    }
    per_template
}

#[derive(Clone, Copy)]
enum Style {
    PerRow,
    MultiRow,
}

/// `(?, ?, ...), ...`: `rows` rows of `columns` placeholders.
fn values(rows: usize, columns: usize) -> String {
    let row = format!("({})", vec!["?"; columns].join(", "));
    vec![row; rows].join(", ")
}

/// The baseline: the same rows into a fresh migrated database, 64 templates per
/// transaction.
async fn baseline(initial: &[Template], written: &[TemplateRows], style: Style) -> Duration {
    let file = path("baseline");
    remove(&file);
    let store = SqliteStore::connect(&file).await.unwrap();
    store.insert_templates(initial).await.unwrap();
    let pool = store.pool().clone();
    let update = "UPDATE rd_templates SET version = ?1, state = ?2, next_run_ns = ?3, body = ?4 \
                  WHERE id = ?5 AND version = ?6";
    let insert_deal = "INSERT INTO rd_deals (template_id, kind, revision, num, tenant, \
                       nominal_at_ns, body) VALUES ";
    let insert_skipped =
        "INSERT INTO rd_skipped (template_id, kind, revision, num, tenant, body) VALUES ";
    let insert_invoice = "INSERT INTO rd_invoices (template_id, kind, revision, num, tenant, \
                          version, next_reminder_ns, body) VALUES ";
    let insert_event = "INSERT INTO rd_outbox (tenant, idempotency_key, at_ns, body) VALUES ";
    let started = Instant::now();
    for batch in written.chunks(BATCH) {
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.unwrap();
        let per_statement = match style {
            Style::PerRow => 1,
            Style::MultiRow => 256,
        };
        let deals: Vec<_> = batch.iter().flat_map(|t| &t.deals).collect();
        for chunk in deals.chunks(per_statement) {
            let sql = format!("{insert_deal}{}", values(chunk.len(), 7));
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
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
        let skipped: Vec<_> = batch.iter().flat_map(|t| &t.skipped).collect();
        for chunk in skipped.chunks(per_statement) {
            let sql = format!("{insert_skipped}{}", values(chunk.len(), 6));
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for s in chunk {
                q = q
                    .bind(s.0)
                    .bind(s.1)
                    .bind(s.2)
                    .bind(s.3)
                    .bind(&s.4)
                    .bind(&s.5);
            }
            q.execute(&mut *tx).await.unwrap();
        }
        let invoices: Vec<_> = batch.iter().flat_map(|t| &t.invoices).collect();
        for chunk in invoices.chunks(per_statement) {
            let sql = format!("{insert_invoice}{}", values(chunk.len(), 8));
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for v in chunk {
                q = q
                    .bind(v.0)
                    .bind(v.1)
                    .bind(v.2)
                    .bind(v.3)
                    .bind(&v.4)
                    .bind(v.5)
                    .bind(v.6)
                    .bind(&v.7);
            }
            q.execute(&mut *tx).await.unwrap();
        }
        let events: Vec<_> = batch.iter().flat_map(|t| &t.events).collect();
        for chunk in events.chunks(per_statement) {
            let sql = format!("{insert_event}{}", values(chunk.len(), 4));
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for e in chunk {
                q = q.bind(&e.0).bind(&e.1).bind(e.2).bind(&e.3);
            }
            q.execute(&mut *tx).await.unwrap();
        }
        match style {
            Style::PerRow => {
                for t in batch {
                    let (id, version, state, next, body) = &t.template;
                    sqlx::query(update)
                        .bind(version)
                        .bind(state)
                        .bind(next)
                        .bind(body)
                        .bind(id)
                        .bind(version - 1)
                        .execute(&mut *tx)
                        .await
                        .unwrap();
                }
            }
            Style::MultiRow => {
                let sql = format!(
                    "WITH i (id, version, state, next_run_ns, body) AS (VALUES {}) \
                     UPDATE rd_templates SET version = i.version, state = i.state, \
                     next_run_ns = i.next_run_ns, body = i.body FROM i \
                     WHERE rd_templates.id = i.id AND rd_templates.version = i.version - 1",
                    values(batch.len(), 5)
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
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

/// One round's times.
struct Round {
    deals: usize,
    engine: Duration,
    per_row: Duration,
    multi_row: Duration,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn scenario(c: &mut Criterion, runtime: &Runtime, name: &str, count: usize, days: u32) {
    let with_baseline = std::env::var_os("RD_BENCH_NO_BASELINE").is_none();
    let initial = runtime.block_on(templates(count, days));
    let now = due_at(days);
    let mut rounds: Vec<Round> = Vec::new();
    let mut group = c.benchmark_group(format!("sqlite_{name}"));
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(20))
        .throughput(Throughput::Elements(count as u64 * u64::from(days)));
    group.bench_function("engine_tick", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                let (deals, engine, written) =
                    runtime.block_on(engine_run(&initial, now, with_baseline));
                assert_eq!(deals, count * days as usize);
                timed += engine;
                if !with_baseline {
                    continue;
                }
                let per_row = runtime.block_on(baseline(&initial, &written, Style::PerRow));
                let multi_row = runtime.block_on(baseline(&initial, &written, Style::MultiRow));
                rounds.push(Round {
                    deals,
                    engine,
                    per_row,
                    multi_row,
                });
            }
            timed
        });
    });
    group.finish();
    if !with_baseline || rounds.is_empty() {
        return;
    }
    // The first round is criterion's warm-up.
    let measured = if rounds.len() > 1 {
        &rounds[1..]
    } else {
        &rounds[..]
    };
    let rate = |f: fn(&Round) -> Duration| {
        median(
            measured
                .iter()
                .map(|r| r.deals as f64 / f(r).as_secs_f64())
                .collect(),
        )
    };
    let (engine, per_row, multi_row) = (
        rate(|r| r.engine),
        rate(|r| r.per_row),
        rate(|r| r.multi_row),
    );
    println!(
        "sqlite {name} ({count} templates x {days} deals, {BATCH} templates per transaction), \
         medians of {} rounds: engine tick {engine:.0} deals/s; bare inserts: per-row \
         {per_row:.0}, multi-row {multi_row:.0} deals/s; engine / faster baseline = {:.0} %",
        measured.len(),
        engine / per_row.max(multi_row) * 100.0
    );
}

/// One delivery round on a fresh database: the deals the tick created and how long it took,
/// then the outbox drained by a runner.
async fn delivery_run(
    initial: &[Template],
    now: DateTime<Utc>,
    failing: Option<&TenantId>,
) -> (usize, Duration, delivery::Delivered) {
    let file = path("delivery");
    remove(&file);
    let store = SqliteStore::connect(&file).await.unwrap();
    store.insert_templates(initial).await.unwrap();
    let config = EngineConfig::builder()
        .batch_size(initial.len())
        .commit_batch(BATCH)
        .build()
        .unwrap();
    let engine = Arc::new(Engine::with_config(
        store.clone(),
        ManualClock::new(now),
        config,
    ));
    engine.replan_zones().await.unwrap();
    let started = Instant::now();
    let report = engine.tick().await.unwrap();
    let tick = started.elapsed();
    assert!(report.failures.is_empty());
    let events = engine.outbox(10_000_000).await.unwrap();
    assert!(events.len() >= report.created.len());
    let expected = events.iter().filter(|e| Some(&e.tenant) != failing).count();
    let delivered = delivery::drain(vec![engine], expected, failing).await;
    store.pool().close().await;
    remove(&file);
    (report.created.len(), tick, delivered)
}

fn delivery_scenario(c: &mut Criterion, runtime: &Runtime, count: usize) {
    let initial = runtime.block_on(templates(count, 1));
    let now = due_at(1);
    let failing_tenant = TenantId::new("tenant-0").unwrap();
    let mut group = c.benchmark_group("sqlite_delivery");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(20))
        .throughput(Throughput::Elements(count as u64));
    let mut summaries = Vec::new();
    for failing in [None, Some(&failing_tenant)] {
        let mut rounds = Vec::new();
        let name = match failing {
            None => "runner_1_worker",
            Some(_) => "runner_1_worker_one_tenant_failing",
        };
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    let round = runtime.block_on(delivery_run(&initial, now, failing));
                    assert_eq!(round.0, count);
                    timed += round.2.took;
                    rounds.push(round);
                }
                timed
            });
        });
        if rounds.is_empty() {
            continue;
        }
        let summary = delivery::Summary::of(&rounds);
        println!(
            "sqlite delivery ({count} templates, 1 runner{}), medians of {} rounds: ticks \
             created {:.0} deals/s; the runner delivered {:.0} events/s; delivered / created \
             = {:.0} %; duplicates in all rounds: {} of {} hand-overs",
            if failing.is_some() {
                ", one of 50 tenants failing"
            } else {
                ""
            },
            summary.rounds,
            summary.created,
            summary.delivered,
            summary.delivered / summary.created * 100.0,
            summary.duplicates,
            summary.handed,
        );
        summaries.push(summary);
    }
    group.finish();
    if let [healthy, failing] = &summaries[..] {
        println!(
            "{}",
            healthy.compare_failing(failing, "sqlite delivery, 1 runner")
        );
    }
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    scenario(c, &runtime, "catch_up", 1_000, 100);
    scenario(c, &runtime, "steady", 20_000, 1);
    delivery_scenario(c, &runtime, 20_000);
}

criterion_group!(sqlite, benches);
criterion_main!(sqlite);
