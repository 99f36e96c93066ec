//! Four workers ticking one PostgreSQL database at once, as tasks on a multi-threaded runtime
//! (four threads) and as separate processes (`examples/pg_worker.rs`): every due deal is
//! created exactly once.
//!
//! 20,000 templates by default; `RECURRING_DEALS_HEAVY=1` runs the full 200,000 (as `.ci/run`
//! does). Each template is daily at 09:00 UTC from 2026-03-01 (its start hour varies, so due
//! templates interleave) with an end count of 1, 2 or 3, and every occurrence is due at the
//! workers' instant: template `i` must end with exactly the deals `Ti/r0/0 ..
//! Ti/r0/{count-1}`, which follows from the schedule's definition alone.
//!
//! Set `RECURRING_DEALS_PG_URL` to run; without it the tests print a notice and pass.
#![cfg(feature = "postgres")]

mod pg;

use recurring_deals::Zone;
use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::Instant;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use pg::{TestSchemas, build_worker, pg_url};
use recurring_deals::{
    Currency, Deal, End, Engine, EngineConfig, InMemoryRepository, Interval, ManualClock, Money,
    PostgresStore, Recurrence, Repository, Schedule, Template, TemplateDraft, TemplateQuery,
    TenantId,
};

const WORKERS: usize = 4;
const TENANTS: usize = 8;

fn template_count() -> usize {
    if std::env::var("RECURRING_DEALS_HEAVY").is_ok_and(|v| v == "1") {
        200_000
    } else {
        20_000
    }
}

/// The two tests each load a large data set: one at a time keeps the machine responsive and
/// the timings meaningful.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn utc(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
}

/// When the workers run: every occurrence of every template (at most the 3rd, on 2026-03-03)
/// is due.
fn workers_now() -> DateTime<Utc> {
    utc(2026, 3, 10, 0)
}

/// Creates `n` templates (through an engine over the in-memory store, which numbers them 1..n)
/// and bulk-loads them into the schema. Returns the end count of each template id.
async fn load_templates(store: &PostgresStore, n: usize) -> HashMap<u64, u64> {
    let started = Instant::now();
    let clock = ManualClock::new(utc(2026, 3, 1, 0));
    let scratch = InMemoryRepository::new();
    let engine = Engine::new(&scratch, clock);
    let tenants: Vec<TenantId> = (0..TENANTS)
        .map(|t| TenantId::new(format!("tenant-{t}")).unwrap())
        .collect();
    let rub = Currency::new("RUB").unwrap();
    let mut counts = HashMap::with_capacity(n);
    for i in 0..n {
        let count = 1 + (i % 3) as u32;
        let start = NaiveDate::from_ymd_opt(2026, 3, 1)
            .unwrap()
            .and_hms_opt(1 + (i % 23) as u32, 0, 0)
            .unwrap();
        let schedule = Schedule::builder(Recurrence::daily(Interval::ONE), start, Zone::UTC)
            .end(End::Count(count))
            .build()
            .unwrap();
        let deal = Deal::new(format!("Service {i}"), Money::new(10_000, rub)).unwrap();
        let template = engine
            .create_template(&tenants[i % TENANTS], TemplateDraft::new(deal, schedule))
            .await
            .unwrap();
        counts.insert(template.id().0, u64::from(count));
    }
    let mut templates: Vec<Template> = Vec::with_capacity(n);
    for tenant in &tenants {
        let query = TemplateQuery {
            limit: n,
            ..TemplateQuery::default()
        };
        templates.extend(scratch.list_templates(tenant, &query).await.unwrap().items);
    }
    assert_eq!(templates.len(), n);
    assert_eq!(store.insert_templates(&templates).await.unwrap(), n as u64);
    eprintln!(
        "loaded {n} templates in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    counts
}

/// Checks the database: exactly the expected deal keys, one deal-created event each, every
/// template finished with counters matching its rows. `reported` is the workers' total of
/// created deals, which must match too (no deal counted by two workers).
async fn verify(store: &PostgresStore, counts: &HashMap<u64, u64>, reported: u64) {
    let pool = store.pool();
    let s = store.listen_channel().trim_end_matches("_changed");
    let expected_total: u64 = counts.values().sum();
    let mut seqs: HashMap<u64, Vec<u64>> = HashMap::with_capacity(counts.len());
    let mut rows = 0u64;
    let deal_rows: Vec<(i64, i16, i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT template_id, kind, revision, num FROM \"{s}\".deals"
    )))
    .fetch_all(pool)
    .await
    .unwrap();
    for (template, kind, revision, num) in deal_rows {
        assert_eq!((kind, revision), (0, 0), "unexpected key of T{template}");
        seqs.entry(template as u64).or_default().push(num as u64);
        rows += 1;
    }
    assert_eq!(rows, expected_total, "deal rows");
    for (template, &count) in counts {
        let mut got = seqs.remove(template).unwrap_or_default();
        got.sort_unstable();
        let want: Vec<u64> = (0..count).collect();
        assert_eq!(got, want, "deals of T{template}");
    }
    assert!(seqs.is_empty(), "deals of unknown templates: {seqs:?}");
    assert_eq!(reported, expected_total, "deals the workers reported");

    let (created, finished, all, distinct): (i64, i64, i64, i64) =
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FILTER (WHERE body::jsonb->>'type' = 'deal_created'),
                        count(*) FILTER (WHERE body::jsonb->>'type' = 'template_finished'),
                        count(*), count(DISTINCT idempotency_key)
                 FROM \"{s}\".outbox"
        )))
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(created as u64, expected_total, "deal-created events");
    assert_eq!(finished as usize, counts.len(), "template-finished events");
    assert_eq!(all, distinct, "an event was written twice");

    // Counters and state agree with the rows, template by template.
    let inconsistent: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM \"{s}\".templates t
                 WHERE t.state <> 'finished' OR t.next_run_ns IS NOT NULL
                    OR (t.body::jsonb->'counters'->>'created_by_schedule')::bigint
                       <> (SELECT count(*) FROM \"{s}\".deals d WHERE d.template_id = t.id)
                    OR (t.body::jsonb->'counters'->>'failed')::bigint <> 0"
    )))
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(
        inconsistent, 0,
        "templates whose counters disagree with their rows"
    );
}

/// What one worker did.
#[derive(Debug, Default, Clone, Copy)]
struct Totals {
    created: u64,
    conflicts: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_worker_threads_create_every_due_deal_exactly_once() {
    let Some(url) = pg_url("four_worker_threads_create_every_due_deal_exactly_once") else {
        return;
    };
    let _serial = ONE_AT_A_TIME.lock().await;
    let n = template_count();
    let schemas = TestSchemas::new(&url);
    let store = schemas.store("threads", WORKERS as u32).await;
    let counts = load_templates(&store, n).await;
    let started = Instant::now();
    let handles: Vec<_> = (0..WORKERS)
        .map(|index| {
            let store = store.clone();
            tokio::spawn(async move {
                let config = EngineConfig::builder()
                    .batch_size(500)
                    .worker(index, WORKERS)
                    .build()
                    .unwrap();
                let engine = Engine::with_config(store, ManualClock::new(workers_now()), config);
                let mut totals = Totals::default();
                loop {
                    let report = engine.tick().await.unwrap();
                    assert!(report.failures.is_empty(), "{:?}", report.failures);
                    totals.created += report.created.len() as u64;
                    totals.conflicts += report.conflicts as u64;
                    if engine
                        .repository()
                        .due_templates(workers_now(), 1)
                        .await
                        .unwrap()
                        .is_empty()
                    {
                        return totals;
                    }
                }
            })
        })
        .collect();
    let mut totals = Vec::new();
    for handle in handles {
        totals.push(handle.await.unwrap());
    }
    eprintln!(
        "{WORKERS} tasks on 4 threads: {n} templates in {:.1} s, {totals:?}",
        started.elapsed().as_secs_f64()
    );
    // Each worker did part of the work: the claims spread it.
    assert!(totals.iter().all(|t| t.created > 0), "{totals:?}");
    verify(&store, &counts, totals.iter().map(|t| t.created).sum()).await;
}

/// Parses the worker's summary line.
fn parse_summary(line: &str) -> HashMap<String, u64> {
    line.split_whitespace()
        .filter_map(|field| {
            let (name, value) = field.split_once('=')?;
            Some((name.to_owned(), value.parse().ok()?))
        })
        .collect()
}

#[tokio::test]
async fn four_worker_processes_create_every_due_deal_exactly_once() {
    let Some(url) = pg_url("four_worker_processes_create_every_due_deal_exactly_once") else {
        return;
    };
    let worker = build_worker();
    let _serial = ONE_AT_A_TIME.lock().await;
    let n = template_count();
    let schemas = TestSchemas::new(&url);
    let store = schemas.store("procs", 1).await;
    let schema = store
        .listen_channel()
        .trim_end_matches("_changed")
        .to_owned();
    let counts = load_templates(&store, n).await;
    let started = Instant::now();
    let children: Vec<_> = (0..WORKERS)
        .map(|index| {
            Command::new(&worker)
                .args([
                    url.as_str(),
                    schema.as_str(),
                    &workers_now().to_rfc3339(),
                    "500",
                    &index.to_string(),
                    &WORKERS.to_string(),
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("start pg_worker")
        })
        .collect();
    let summaries: Vec<HashMap<String, u64>> = children
        .into_iter()
        .map(|child| {
            let output = child.wait_with_output().unwrap();
            assert!(
                output.status.success(),
                "a worker failed: {:?}",
                output.status
            );
            parse_summary(&String::from_utf8_lossy(&output.stdout))
        })
        .collect();
    eprintln!(
        "{WORKERS} processes: {n} templates in {:.1} s, {summaries:?}",
        started.elapsed().as_secs_f64()
    );
    assert!(
        summaries.iter().all(|s| s["failures"] == 0),
        "{summaries:?}"
    );
    assert!(summaries.iter().all(|s| s["created"] > 0), "{summaries:?}");
    verify(
        &store,
        &counts,
        summaries.iter().map(|s| s["created"]).sum(),
    )
    .await;
}
