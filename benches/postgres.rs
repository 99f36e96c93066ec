//! PostgreSQL store throughput: deals committed durably per second by 1, 2 and 4 engines
//! (tasks on a multi-threaded runtime, each with its share of the due list) ticking one
//! database, against a bare-insert baseline measured in the same rounds.
//!
//! `RECURRING_DEALS_PG_URL=postgres://postgres@127.0.0.1:5432/DB \
//! cargo bench --features postgres --bench postgres`
//!
//! * `steady`: 20,000 templates with one occurrence due each;
//! * `catch_up`: 1,000 templates with 100 missed daily occurrences each.
//!
//! The engines commit 64 templates per transaction (durable: the server's
//! `synchronous_commit`, left at its default) and tick until nothing is due. Criterion times
//! that (`iter_custom`: the schema is created and filled outside the timing). Each round then
//! writes the same rows the engines wrote (read back, already serialized: deals, skipped
//! occurrences, invoices, outbox events, the templates' new rows) into a fresh schema
//! migrated by the store (same tables and indexes), in transactions of 64 templates split
//! between as many connections as engines: with `unnest` arrays and (in rounds 1 to 3 only:
//! it is several times slower, and long) with a prepared statement per row. After each benchmark a line gives the medians of the rounds (the warm-up
//! round left out) and the engines' share of the faster baseline. `RD_BENCH_NO_BASELINE=1`
//! times the engines alone (for profiling).
//!
//! `postgres_delivery`: 20,000 templates with one occurrence due each; a round ticks them with
//! 1, 2 or 4 engines (deals created per second), then drains the outbox with as many
//! `Runner`s, each on an engine and pool of its own, with a handler that only records each
//! event (events delivered per second, duplicates counted by idempotency key); the line after
//! each benchmark gives both medians and their ratio (issue #18's target: ≥ 80 %, and no
//! event handed over twice).

use recurring_deals::Zone;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use recurring_deals::{
    CatchUpPolicy, Currency, Deal, Engine, EngineConfig, InMemoryRepository, Interval, ManualClock,
    Money, PostgresOptions, PostgresStore, Recurrence, Repository, Schedule, Template,
    TemplateDraft, TenantId,
};
use sqlx::PgPool;
use tokio::runtime::Runtime;

#[path = "delivery/mod.rs"]
mod delivery;

const BATCH: usize = 64;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

// The wall clock only makes schema names of runs differ.
#[allow(clippy::disallowed_methods)]
fn schema(what: &str) -> String {
    format!(
        "rd_bench_{what}_{}_{}",
        std::process::id(),
        Utc::now().timestamp_subsec_nanos()
    )
}

async fn open(url: &str, schema: &str, workers: usize) -> PostgresStore {
    let options = PostgresOptions::new()
        .schema(schema)
        .unwrap()
        .legacy_schema(None)
        .unwrap();
    PostgresStore::connect_with(url, options, workers as u32 + 1)
        .await
        .unwrap()
}

async fn drop_schema(pool: &PgPool, schema: &str) {
    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
    )))
    .execute(pool)
    .await;
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

/// A template's rows as the ticks left them.
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

/// `workers` engines ticking a fresh schema holding `initial` (all due at `now`) until
/// nothing is due: the deals created, the time, the rows written (when `read`).
async fn engine_run(
    url: &str,
    initial: &[Template],
    now: DateTime<Utc>,
    workers: usize,
    read: bool,
) -> (usize, Duration, Vec<TemplateRows>) {
    let name = schema("engine");
    let store = open(url, &name, workers).await;
    store.insert_templates(initial).await.unwrap();
    // Opening: the inserted templates' zones are checked once, before the timed ticks (each
    // worker's first tick then only reads the zones in use).
    Engine::new(store.clone(), ManualClock::new(now))
        .replan_zones()
        .await
        .unwrap();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for index in 0..workers {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let config = EngineConfig::builder()
                .batch_size(2_000)
                .commit_batch(BATCH)
                .worker(index, workers)
                .build()
                .unwrap();
            let engine = Engine::with_config(store, ManualClock::new(now), config);
            let mut created = 0;
            loop {
                let report = engine.tick().await.unwrap();
                assert!(report.failures.is_empty(), "{:?}", report.failures);
                created += report.created.len();
                if !report.more_due {
                    return created;
                }
            }
        }));
    }
    let mut created = 0;
    for task in tasks {
        created += task.await.unwrap();
    }
    let elapsed = started.elapsed();
    let written = if read {
        read_back(store.pool(), &name, initial).await
    } else {
        Vec::new()
    };
    drop_schema(store.pool(), &name).await;
    store.pool().close().await;
    (created, elapsed, written)
}

async fn read_back(pool: &PgPool, s: &str, initial: &[Template]) -> Vec<TemplateRows> {
    let templates: Vec<(i64, i64, String, Option<i64>, String)> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT id, version, state, next_run_ns, body FROM \"{s}\".templates"
        )))
        .fetch_all(pool)
        .await
        .unwrap();
    let mut templates: HashMap<i64, _> = templates.into_iter().map(|t| (t.0, t)).collect();
    let deals: Vec<(i64, i16, i64, i64, String, i64, String)> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT template_id, kind, revision, num, tenant, nominal_at_ns, body \
         FROM \"{s}\".deals ORDER BY template_id, kind, revision, num"
        )))
        .fetch_all(pool)
        .await
        .unwrap();
    let skipped: Vec<(i64, i16, i64, i64, String, String)> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT template_id, kind, revision, num, tenant, body \
         FROM \"{s}\".skipped ORDER BY template_id, kind, revision, num"
        )))
        .fetch_all(pool)
        .await
        .unwrap();
    let invoices: Vec<InvoiceRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT template_id, kind, revision, num, tenant, version, next_reminder_ns, body \
         FROM \"{s}\".invoices ORDER BY template_id, kind, revision, num"
    )))
    .fetch_all(pool)
    .await
    .unwrap();
    let mut deals = group(deals, |d| d.0);
    let mut skipped = group(skipped, |k| k.0);
    let mut invoices = group(invoices, |v| v.0);
    let mut per_template: Vec<TemplateRows> = initial
        .iter()
        .map(|template| {
            let id = template.id().0 as i64;
            TemplateRows {
                template: templates.remove(&id).unwrap(),
                deals: deals.remove(&id).unwrap_or_default(),
                skipped: skipped.remove(&id).unwrap_or_default(),
                invoices: invoices.remove(&id).unwrap_or_default(),
                events: Vec::new(),
            }
        })
        .collect();
    let events: Vec<(String, String, i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT tenant, idempotency_key, at_ns, body FROM \"{s}\".outbox ORDER BY id"
    )))
    .fetch_all(pool)
    .await
    .unwrap();
    // Every template of a scenario writes as many events: each gets its share.
    let per = (events.len() / per_template.len().max(1)).max(1);
    for (i, chunk) in events.chunks(per).enumerate() {
        if let Some(rows) = per_template.get_mut(i) {
            rows.events.extend(chunk.iter().cloned());
        }
    }
    per_template
}

/// `rows` by template id, in their order.
fn group<T>(rows: Vec<T>, id: impl Fn(&T) -> i64) -> HashMap<i64, Vec<T>> {
    let mut by_id: HashMap<i64, Vec<T>> = HashMap::new();
    for row in rows {
        by_id.entry(id(&row)).or_default().push(row);
    }
    by_id
}

#[derive(Clone, Copy)]
enum Style {
    PerRow,
    Unnest,
}

async fn write_batch(pool: &PgPool, s: &str, batch: &[TemplateRows], style: Style) {
    let mut tx = pool.begin().await.unwrap();
    match style {
        Style::PerRow => {
            let update = format!(
                "UPDATE \"{s}\".templates SET version = $1, state = $2, next_run_ns = $3, \
                 body = $4 WHERE id = $5 AND version = $6"
            );
            let insert_deal = format!(
                "INSERT INTO \"{s}\".deals (template_id, kind, revision, num, tenant, \
                 nominal_at_ns, body) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            );
            let insert_skipped = format!(
                "INSERT INTO \"{s}\".skipped (template_id, kind, revision, num, tenant, body) \
                 VALUES ($1, $2, $3, $4, $5, $6)"
            );
            let insert_invoice = format!(
                "INSERT INTO \"{s}\".invoices (template_id, kind, revision, num, tenant, \
                 version, next_reminder_ns, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            );
            let insert_event = format!(
                "INSERT INTO \"{s}\".outbox (tenant, idempotency_key, at_ns, body) \
                 VALUES ($1, $2, $3, $4)"
            );
            for t in batch {
                let (id, version, state, next, body) = &t.template;
                sqlx::query(sqlx::AssertSqlSafe(update.as_str()))
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
                    sqlx::query(sqlx::AssertSqlSafe(insert_deal.as_str()))
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
                for k in &t.skipped {
                    sqlx::query(sqlx::AssertSqlSafe(insert_skipped.as_str()))
                        .bind(k.0)
                        .bind(k.1)
                        .bind(k.2)
                        .bind(k.3)
                        .bind(&k.4)
                        .bind(&k.5)
                        .execute(&mut *tx)
                        .await
                        .unwrap();
                }
                for v in &t.invoices {
                    sqlx::query(sqlx::AssertSqlSafe(insert_invoice.as_str()))
                        .bind(v.0)
                        .bind(v.1)
                        .bind(v.2)
                        .bind(v.3)
                        .bind(&v.4)
                        .bind(v.5)
                        .bind(v.6)
                        .bind(&v.7)
                        .execute(&mut *tx)
                        .await
                        .unwrap();
                }
                for e in &t.events {
                    sqlx::query(sqlx::AssertSqlSafe(insert_event.as_str()))
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
        Style::Unnest => {
            let deals: Vec<_> = batch.iter().flat_map(|t| &t.deals).collect();
            let skipped: Vec<_> = batch.iter().flat_map(|t| &t.skipped).collect();
            let invoices: Vec<_> = batch.iter().flat_map(|t| &t.invoices).collect();
            let events: Vec<_> = batch.iter().flat_map(|t| &t.events).collect();
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "WITH d AS (INSERT INTO \"{s}\".deals (template_id, kind, revision, num, \
                     tenant, nominal_at_ns, body) \
                     SELECT * FROM unnest($1::bigint[], $2::smallint[], $3::bigint[], \
                         $4::bigint[], $5::text[], $6::bigint[], $7::text[])), \
                 e AS (INSERT INTO \"{s}\".outbox (tenant, idempotency_key, at_ns, body) \
                     SELECT * FROM unnest($8::text[], $9::text[], $10::bigint[], $11::text[])), \
                 k AS (INSERT INTO \"{s}\".skipped (template_id, kind, revision, num, tenant, \
                     body) SELECT * FROM unnest($17::bigint[], $18::smallint[], $19::bigint[], \
                         $20::bigint[], $21::text[], $22::text[])), \
                 v AS (INSERT INTO \"{s}\".invoices (template_id, kind, revision, num, tenant, \
                     version, next_reminder_ns, body) \
                     SELECT * FROM unnest($23::bigint[], $24::smallint[], $25::bigint[], \
                         $26::bigint[], $27::text[], $28::bigint[], $29::bigint[], $30::text[])) \
                 UPDATE \"{s}\".templates t SET version = i.version, state = i.state, \
                     next_run_ns = i.next_run_ns, body = i.body \
                 FROM unnest($12::bigint[], $13::bigint[], $14::text[], $15::bigint[], \
                     $16::text[]) AS i(id, version, state, next_run_ns, body) \
                 WHERE t.id = i.id AND t.version = i.version - 1"
            )))
            .bind(deals.iter().map(|d| d.0).collect::<Vec<_>>())
            .bind(deals.iter().map(|d| d.1).collect::<Vec<_>>())
            .bind(deals.iter().map(|d| d.2).collect::<Vec<_>>())
            .bind(deals.iter().map(|d| d.3).collect::<Vec<_>>())
            .bind(deals.iter().map(|d| d.4.as_str()).collect::<Vec<_>>())
            .bind(deals.iter().map(|d| d.5).collect::<Vec<_>>())
            .bind(deals.iter().map(|d| d.6.as_str()).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.0.as_str()).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.1.as_str()).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.2).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.3.as_str()).collect::<Vec<_>>())
            .bind(batch.iter().map(|t| t.template.0).collect::<Vec<_>>())
            .bind(batch.iter().map(|t| t.template.1).collect::<Vec<_>>())
            .bind(
                batch
                    .iter()
                    .map(|t| t.template.2.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(batch.iter().map(|t| t.template.3).collect::<Vec<_>>())
            .bind(
                batch
                    .iter()
                    .map(|t| t.template.4.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(skipped.iter().map(|k| k.0).collect::<Vec<_>>())
            .bind(skipped.iter().map(|k| k.1).collect::<Vec<_>>())
            .bind(skipped.iter().map(|k| k.2).collect::<Vec<_>>())
            .bind(skipped.iter().map(|k| k.3).collect::<Vec<_>>())
            .bind(skipped.iter().map(|k| k.4.as_str()).collect::<Vec<_>>())
            .bind(skipped.iter().map(|k| k.5.as_str()).collect::<Vec<_>>())
            .bind(invoices.iter().map(|v| v.0).collect::<Vec<_>>())
            .bind(invoices.iter().map(|v| v.1).collect::<Vec<_>>())
            .bind(invoices.iter().map(|v| v.2).collect::<Vec<_>>())
            .bind(invoices.iter().map(|v| v.3).collect::<Vec<_>>())
            .bind(invoices.iter().map(|v| v.4.as_str()).collect::<Vec<_>>())
            .bind(invoices.iter().map(|v| v.5).collect::<Vec<_>>())
            .bind(invoices.iter().map(|v| v.6).collect::<Vec<_>>())
            .bind(invoices.iter().map(|v| v.7.as_str()).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await
            .unwrap();
        }
    }
    tx.commit().await.unwrap();
}

/// The baseline: the same rows into a fresh migrated schema, batches of 64 templates split
/// between `workers` connections.
async fn baseline(
    url: &str,
    initial: &[Template],
    written: &[TemplateRows],
    workers: usize,
    style: Style,
) -> Duration {
    let name = schema("base");
    let store = open(url, &name, workers).await;
    store.insert_templates(initial).await.unwrap();
    let batches: Vec<&[TemplateRows]> = written.chunks(BATCH).collect();
    let pool = store.pool();
    let started = Instant::now();
    let lanes = (0..workers).map(|lane| {
        let batches = &batches;
        let name = &name;
        async move {
            for batch in batches.iter().skip(lane).step_by(workers) {
                write_batch(pool, name, batch, style).await;
            }
        }
    });
    futures_join(lanes.collect()).await;
    let elapsed = started.elapsed();
    drop_schema(pool, &name).await;
    pool.close().await;
    elapsed
}

/// Runs futures concurrently (on this task) to completion.
async fn futures_join<F: std::future::Future<Output = ()>>(futures: Vec<F>) {
    let mut futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
    std::future::poll_fn(move |cx| {
        futures.retain_mut(|f| f.as_mut().poll(cx).is_pending());
        if futures.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
}

/// One round's times.
struct Round {
    deals: usize,
    engine: Duration,
    per_row: Option<Duration>,
    unnest: Duration,
}

/// How many rounds also run the per-row baseline.
const PER_ROW_ROUNDS: usize = 3;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

fn scenario(c: &mut Criterion, runtime: &Runtime, url: &str, name: &str, count: usize, days: u32) {
    let with_baseline = std::env::var_os("RD_BENCH_NO_BASELINE").is_none();
    let initial = runtime.block_on(templates(count, days));
    let now = due_at(days);
    let mut group = c.benchmark_group(format!("postgres_{name}"));
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(20))
        .throughput(Throughput::Elements(count as u64 * u64::from(days)));
    for workers in [1, 2, 4] {
        let mut rounds: Vec<Round> = Vec::new();
        group.bench_function(format!("{workers}_workers"), |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    let (deals, engine, written) =
                        runtime.block_on(engine_run(url, &initial, now, workers, with_baseline));
                    assert_eq!(deals, count * days as usize);
                    timed += engine;
                    if !with_baseline {
                        continue;
                    }
                    // Rounds 1 to 3 (after the warm-up) also run the per-row baseline: it is
                    // several times slower than unnest in every measurement, and long.
                    let per_row = (1..=PER_ROW_ROUNDS).contains(&rounds.len()).then(|| {
                        runtime.block_on(baseline(url, &initial, &written, workers, Style::PerRow))
                    });
                    let unnest =
                        runtime.block_on(baseline(url, &initial, &written, workers, Style::Unnest));
                    rounds.push(Round {
                        deals,
                        engine,
                        per_row,
                        unnest,
                    });
                }
                timed
            });
        });
        if rounds.is_empty() {
            continue;
        }
        // The first round is criterion's warm-up.
        let measured = if rounds.len() > 1 {
            &rounds[1..]
        } else {
            &rounds[..]
        };
        let rate = |f: fn(&Round) -> Option<Duration>| {
            median(
                measured
                    .iter()
                    .filter_map(|r| Some(r.deals as f64 / f(r)?.as_secs_f64()))
                    .collect(),
            )
        };
        let (engine, per_row, unnest) = (
            rate(|r| Some(r.engine)),
            rate(|r| r.per_row),
            rate(|r| Some(r.unnest)),
        );
        println!(
            "postgres {name} ({count} templates x {days} deals, {BATCH} templates per \
             transaction), {workers} workers, medians of {} rounds: engines {engine:.0} \
             deals/s; bare inserts: per-row {per_row:.0} (rounds 1 to {PER_ROW_ROUNDS}), \
             unnest {unnest:.0} deals/s; \
             engines / faster baseline = {:.0} %",
            measured.len(),
            engine / per_row.max(unnest) * 100.0
        );
    }
    group.finish();
}

/// One delivery round in a fresh schema: `workers` engines tick every due template (the
/// deals created and how long it took), then as many runners drain the outbox.
async fn delivery_run(
    url: &str,
    initial: &[Template],
    now: DateTime<Utc>,
    workers: usize,
    failing: Option<&TenantId>,
) -> (usize, Duration, delivery::Delivered) {
    let name = schema("delivery");
    let setup = open(url, &name, 1).await;
    setup.insert_templates(initial).await.unwrap();
    Engine::new(setup.clone(), ManualClock::new(now))
        .replan_zones()
        .await
        .unwrap();
    let mut engines = Vec::new();
    for index in 0..workers {
        let config = EngineConfig::builder()
            .batch_size(2_000)
            .commit_batch(BATCH)
            .worker(index, workers)
            .build()
            .unwrap();
        let store = open(url, &name, 1).await;
        engines.push(Arc::new(Engine::with_config(
            store,
            ManualClock::new(now),
            config,
        )));
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for engine in &engines {
        let engine = Arc::clone(engine);
        tasks.push(tokio::spawn(async move {
            let mut created = 0;
            loop {
                let report = engine.tick().await.unwrap();
                assert!(report.failures.is_empty(), "{:?}", report.failures);
                created += report.created.len();
                if !report.more_due {
                    return created;
                }
            }
        }));
    }
    let mut created = 0;
    for task in tasks {
        created += task.await.unwrap();
    }
    let tick = started.elapsed();
    let events = setup.outbox(10_000_000).await.unwrap();
    assert!(events.len() >= created);
    let expected = events.iter().filter(|e| Some(&e.tenant) != failing).count();
    let delivered = delivery::drain(engines.clone(), expected, failing).await;
    for engine in engines {
        engine.repository().pool().close().await;
    }
    drop_schema(setup.pool(), &name).await;
    setup.pool().close().await;
    (created, tick, delivered)
}

fn delivery_scenario(c: &mut Criterion, runtime: &Runtime, url: &str, count: usize) {
    let initial = runtime.block_on(templates(count, 1));
    let now = due_at(1);
    let failing_tenant = TenantId::new("tenant-0").unwrap();
    let mut group = c.benchmark_group("postgres_delivery");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(20))
        .throughput(Throughput::Elements(count as u64));
    let runs = [(1, false), (2, false), (4, false), (1, true), (2, true)];
    let mut healthy: Vec<(usize, delivery::Summary)> = Vec::new();
    for (workers, fails) in runs {
        let failing = fails.then_some(&failing_tenant);
        let mut rounds = Vec::new();
        let name = if fails {
            format!("runners_{workers}_workers_one_tenant_failing")
        } else {
            format!("runners_{workers}_workers")
        };
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    let round =
                        runtime.block_on(delivery_run(url, &initial, now, workers, failing));
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
            "postgres delivery ({count} templates, {workers} workers{}), medians of {} \
             rounds: ticks created {:.0} deals/s; the runners delivered {:.0} events/s; \
             delivered / created = {:.0} %; duplicates in all rounds: {} of {} hand-overs",
            if fails {
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
        if !fails {
            healthy.push((workers, summary));
        } else if let Some((_, base)) = healthy.iter().find(|(w, _)| *w == workers) {
            let what = format!("postgres delivery, {workers} workers");
            println!("{}", base.compare_failing(&summary, &what));
        }
    }
    group.finish();
}

fn benches(c: &mut Criterion) {
    let Ok(url) = std::env::var("RECURRING_DEALS_PG_URL") else {
        println!("set RECURRING_DEALS_PG_URL to run the PostgreSQL benchmark");
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    scenario(c, &runtime, &url, "steady", 20_000, 1);
    scenario(c, &runtime, &url, "catch_up", 1_000, 100);
    delivery_scenario(c, &runtime, &url, 20_000);
}

criterion_group!(postgres, benches);
criterion_main!(postgres);
