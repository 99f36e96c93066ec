//! PostgreSQL store throughput: deals committed durably per second by 2 engines (tasks on a
//! multi-threaded runtime, each with its share of the due list) ticking one database, against
//! a bare-insert baseline in the same run.
//!
//! `RECURRING_DEALS_PG_URL=postgres://postgres@127.0.0.1:5432/DB \
//! cargo bench --features postgres --bench postgres`
//!
//! * steady: 20,000 templates with one occurrence due each;
//! * catch-up: 1,000 templates with 100 missed daily occurrences each.
//!
//! The engines commit 64 templates per transaction (durable: the server's
//! `synchronous_commit`). The baseline writes the same rows the ticks wrote (read back, already
//! serialized before timing starts: deals, outbox events, the templates' new rows) into a
//! fresh schema migrated by the store (same tables and indexes), in transactions of 64
//! templates split between 2 connections: once with a prepared statement per row, once with
//! `unnest` arrays; the faster counts. `RUNS` runs (default 3); medians and their ratio.

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use recurring_deals::{
    CatchUpPolicy, Currency, Deal, Engine, EngineConfig, Interval, ManualClock, Money,
    PostgresOptions, PostgresStore, Recurrence, Repository, Schedule, Template, TemplateDraft,
    TenantId,
};
use sqlx::{PgPool, Row};

const BATCH: usize = 64;
const WORKERS: usize = 2;

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

async fn open(url: &str, schema: &str) -> PostgresStore {
    let options = PostgresOptions::new()
        .schema(schema)
        .unwrap()
        .legacy_schema(None)
        .unwrap();
    PostgresStore::connect_with(url, options, WORKERS as u32 + 1)
        .await
        .unwrap()
}

async fn drop_schema(pool: &PgPool, schema: &str) {
    let _ = sqlx::raw_sql(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .execute(pool)
        .await;
}

/// A template's rows as the tick left them: its new row, its deals, its events.
struct TemplateRows {
    template: (i64, i64, String, Option<i64>, String),
    deals: Vec<(i64, i16, i64, i64, String, i64, String)>,
    events: Vec<(String, String, i64, String)>,
}

struct Written {
    initial: Vec<Template>,
    per_template: Vec<TemplateRows>,
}

async fn engine_run(url: &str, templates: usize, days: u32) -> (usize, Duration, Written) {
    let name = schema("engine");
    let store = open(url, &name).await;
    let rub = Currency::new("RUB").unwrap();
    let deal = Deal::new("Support", Money::new(100_000, rub))
        .unwrap()
        .with_assignee(7)
        .with_contacts([1, 2]);
    let scratch = recurring_deals::InMemoryRepository::new();
    let creator = Engine::new(&scratch, ManualClock::new(t0()));
    let mut initial = Vec::with_capacity(templates);
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
        initial.push(creator.create_template(&tenant, draft).await.unwrap());
    }
    store.insert_templates(&initial).await.unwrap();
    let now = t0() + TimeDelta::days(i64::from(days) - 1) + TimeDelta::hours(12);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for index in 0..WORKERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let config = EngineConfig::builder()
                .batch_size(2_000)
                .commit_batch(BATCH)
                .worker(index, WORKERS)
                .build()
                .unwrap();
            let engine = Engine::with_config(store, ManualClock::new(now), config);
            let mut created = 0;
            loop {
                let report = engine.tick().await.unwrap();
                assert!(report.failures.is_empty(), "{:?}", report.failures);
                created += report.created.len();
                if engine
                    .repository()
                    .due_templates(now, 1)
                    .await
                    .unwrap()
                    .is_empty()
                {
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
    assert_eq!(created, templates * days as usize);
    let written = read_back(store.pool(), &name, initial).await;
    drop_schema(store.pool(), &name).await;
    (created, elapsed, written)
}

async fn read_back(pool: &PgPool, s: &str, initial: Vec<Template>) -> Written {
    let mut per_template = Vec::with_capacity(initial.len());
    for template in &initial {
        let id = template.id().0 as i64;
        let row = sqlx::query(&format!(
            "SELECT id, version, state, next_run_ns, body FROM \"{s}\".templates WHERE id = $1"
        ))
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap();
        let deals = sqlx::query_as(&format!(
            "SELECT template_id, kind, revision, num, tenant, nominal_at_ns, body \
             FROM \"{s}\".deals WHERE template_id = $1 ORDER BY num"
        ))
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
    let events: Vec<(String, String, i64, String)> = sqlx::query_as(&format!(
        "SELECT tenant, idempotency_key, at_ns, body FROM \"{s}\".outbox ORDER BY id"
    ))
    .fetch_all(pool)
    .await
    .unwrap();
    // Every template wrote as many events: give each its share.
    let per = (events.len() / per_template.len().max(1)).max(1);
    for (i, chunk) in events.chunks(per).enumerate() {
        if let Some(rows) = per_template.get_mut(i) {
            rows.events.extend(chunk.iter().cloned());
        }
    }
    Written {
        initial,
        per_template,
    }
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
            let insert_event = format!(
                "INSERT INTO \"{s}\".outbox (tenant, idempotency_key, at_ns, body) \
                 VALUES ($1, $2, $3, $4)"
            );
            for t in batch {
                let (id, version, state, next, body) = &t.template;
                sqlx::query(&update)
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
                    sqlx::query(&insert_deal)
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
                    sqlx::query(&insert_event)
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
            let events: Vec<_> = batch.iter().flat_map(|t| &t.events).collect();
            sqlx::query(&format!(
                "WITH d AS (INSERT INTO \"{s}\".deals (template_id, kind, revision, num, \
                     tenant, nominal_at_ns, body) \
                     SELECT * FROM unnest($1::bigint[], $2::smallint[], $3::bigint[], \
                         $4::bigint[], $5::text[], $6::bigint[], $7::text[])), \
                 e AS (INSERT INTO \"{s}\".outbox (tenant, idempotency_key, at_ns, body) \
                     SELECT * FROM unnest($8::text[], $9::text[], $10::bigint[], $11::text[])) \
                 UPDATE \"{s}\".templates t SET version = i.version, state = i.state, \
                     next_run_ns = i.next_run_ns, body = i.body \
                 FROM unnest($12::bigint[], $13::bigint[], $14::text[], $15::bigint[], \
                     $16::text[]) AS i(id, version, state, next_run_ns, body) \
                 WHERE t.id = i.id AND t.version = i.version - 1"
            ))
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
            .execute(&mut *tx)
            .await
            .unwrap();
        }
    }
    tx.commit().await.unwrap();
}

/// The baseline: the same rows into a fresh migrated schema, batches of 64 templates split
/// between 2 connections.
async fn baseline(url: &str, written: &Written, style: Style) -> Duration {
    let name = schema("base");
    let store = open(url, &name).await;
    store.insert_templates(&written.initial).await.unwrap();
    let batches: Vec<&[TemplateRows]> = written.per_template.chunks(BATCH).collect();
    let started = Instant::now();
    let pool = store.pool();
    let lanes = (0..WORKERS).map(|lane| {
        let batches = &batches;
        let name = &name;
        async move {
            for batch in batches.iter().skip(lane).step_by(WORKERS) {
                write_batch(pool, name, batch, style).await;
            }
        }
    });
    futures_join(lanes.collect()).await;
    let elapsed = started.elapsed();
    drop_schema(pool, &name).await;
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

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

async fn scenario(url: &str, name: &str, templates: usize, days: u32, runs: usize) {
    let (mut engine, mut per_row, mut unnest) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let (deals, elapsed, written) = engine_run(url, templates, days).await;
        engine.push(deals as f64 / elapsed.as_secs_f64());
        let base = baseline(url, &written, Style::PerRow).await;
        per_row.push(deals as f64 / base.as_secs_f64());
        let base = baseline(url, &written, Style::Unnest).await;
        unnest.push(deals as f64 / base.as_secs_f64());
    }
    let (engine, per_row, unnest) = (median(engine), median(per_row), median(unnest));
    let best = per_row.max(unnest);
    println!(
        "{name}: {WORKERS} engines median {engine:.0} deals/s; bare inserts: per-row \
         {per_row:.0}, unnest {unnest:.0} deals/s; engine / best baseline = {:.0} %",
        engine / best * 100.0
    );
}

fn main() {
    let Ok(url) = std::env::var("RECURRING_DEALS_PG_URL") else {
        println!("set RECURRING_DEALS_PG_URL to run the PostgreSQL benchmark");
        return;
    };
    let runs = std::env::var("RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!("PostgreSQL store, durable commits, 64 templates per transaction; {runs} runs");
    runtime.block_on(async {
        scenario(&url, "steady (1 deal per template)", 20_000, 1, runs).await;
        scenario(&url, "catch-up (100 deals per template)", 1_000, 100, runs).await;
    });
}
