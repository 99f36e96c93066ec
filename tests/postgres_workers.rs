//! Four workers ticking one PostgreSQL database at once, as threads and as separate processes
//! (`examples/pg_worker.rs`): every due deal is created exactly once.
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

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use pg::{TestSchema, build_worker, pg_url};
use recurring_deals::{
    Currency, Deal, End, Engine, EngineConfig, InMemoryRepository, Interval, ManualClock, Money,
    PostgresRepository, Recurrence, Repository, Schedule, Template, TemplateDraft, TemplateQuery,
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
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

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
fn load_templates(url: &str, schema: &str, n: usize) -> HashMap<u64, u64> {
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
        let schedule = Schedule::builder(Recurrence::daily(Interval::ONE), start, chrono_tz::UTC)
            .end(End::Count(count))
            .build()
            .unwrap();
        let deal = Deal::new(format!("Service {i}"), Money::new(10_000, rub)).unwrap();
        let template = engine
            .create_template(&tenants[i % TENANTS], TemplateDraft::new(deal, schedule))
            .unwrap();
        counts.insert(template.id().0, u64::from(count));
    }
    let templates: Vec<Template> = tenants
        .iter()
        .flat_map(|tenant| {
            scratch
                .list_templates(
                    tenant,
                    &TemplateQuery {
                        limit: n,
                        ..TemplateQuery::default()
                    },
                )
                .unwrap()
                .items
        })
        .collect();
    assert_eq!(templates.len(), n);
    let store = PostgresRepository::connect_with(url, Some(schema), 1).unwrap();
    assert_eq!(store.insert_templates(&templates).unwrap(), n as u64);
    eprintln!(
        "loaded {n} templates in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    counts
}

/// Checks the database: exactly the expected deal keys, one deal-created event each, every
/// template finished with counters matching its rows. `reported` is the workers' total of
/// created deals, which must match too (no deal counted by two workers).
fn verify(schema: &TestSchema, counts: &HashMap<u64, u64>, reported: u64) {
    let mut client = schema.client();
    let s = &schema.name;
    let expected_total: u64 = counts.values().sum();
    let mut seqs: HashMap<u64, Vec<u64>> = HashMap::with_capacity(counts.len());
    let mut rows = 0u64;
    for row in client
        .query(
            &format!("SELECT template_id, kind, revision, num FROM \"{s}\".rd_deals"),
            &[],
        )
        .unwrap()
    {
        let (template, kind, revision, num): (i64, i16, i64, i64) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
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

    let events = client
        .query_one(
            &format!(
                "SELECT count(*) FILTER (WHERE body::jsonb->>'type' = 'deal_created'),
                        count(*) FILTER (WHERE body::jsonb->>'type' = 'template_finished'),
                        count(*), count(DISTINCT idempotency_key)
                 FROM \"{s}\".rd_events"
            ),
            &[],
        )
        .unwrap();
    let (created, finished, all, distinct): (i64, i64, i64, i64) =
        (events.get(0), events.get(1), events.get(2), events.get(3));
    assert_eq!(created as u64, expected_total, "deal-created events");
    assert_eq!(finished as usize, counts.len(), "template-finished events");
    assert_eq!(all, distinct, "an event was written twice");

    // Counters and state agree with the rows, template by template.
    let inconsistent: i64 = client
        .query_one(
            &format!(
                "SELECT count(*) FROM \"{s}\".rd_templates t
                 WHERE t.state <> 'finished' OR t.next_run_ns IS NOT NULL
                    OR (t.body::jsonb->'counters'->>'created_by_schedule')::bigint
                       <> (SELECT count(*) FROM \"{s}\".rd_deals d WHERE d.template_id = t.id)
                    OR (t.body::jsonb->'counters'->>'failed')::bigint <> 0"
            ),
            &[],
        )
        .unwrap()
        .get(0);
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

#[test]
fn four_worker_threads_create_every_due_deal_exactly_once() {
    let Some(url) = pg_url("four_worker_threads_create_every_due_deal_exactly_once") else {
        return;
    };
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let n = template_count();
    let schema = TestSchema::new(&url, "threads");
    let counts = load_templates(&url, &schema.name, n);
    let store =
        Arc::new(PostgresRepository::connect_with(&url, Some(&schema.name), WORKERS).unwrap());
    let started = Instant::now();
    let handles: Vec<_> = (0..WORKERS)
        .map(|index| {
            let store = store.clone();
            std::thread::spawn(move || {
                let config = EngineConfig {
                    batch_size: 500,
                    worker_index: index,
                    worker_count: WORKERS,
                    ..EngineConfig::default()
                };
                let engine = Engine::with_config(store, ManualClock::new(workers_now()), config);
                let mut totals = Totals::default();
                loop {
                    let report = engine.tick().unwrap();
                    assert!(report.failures.is_empty(), "{:?}", report.failures);
                    totals.created += report.created.len() as u64;
                    totals.conflicts += report.conflicts as u64;
                    if engine
                        .repository()
                        .due_templates(workers_now(), 1)
                        .unwrap()
                        .is_empty()
                    {
                        return totals;
                    }
                }
            })
        })
        .collect();
    let totals: Vec<Totals> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    eprintln!(
        "{WORKERS} threads: {n} templates in {:.1} s, {totals:?}",
        started.elapsed().as_secs_f64()
    );
    // Each thread did part of the work: the claims spread it.
    assert!(totals.iter().all(|t| t.created > 0), "{totals:?}");
    verify(&schema, &counts, totals.iter().map(|t| t.created).sum());
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

#[test]
fn four_worker_processes_create_every_due_deal_exactly_once() {
    let Some(url) = pg_url("four_worker_processes_create_every_due_deal_exactly_once") else {
        return;
    };
    let worker = build_worker();
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let n = template_count();
    let schema = TestSchema::new(&url, "procs");
    let counts = load_templates(&url, &schema.name, n);
    let started = Instant::now();
    let children: Vec<_> = (0..WORKERS)
        .map(|index| {
            Command::new(&worker)
                .args([
                    url.as_str(),
                    schema.name.as_str(),
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
        &schema,
        &counts,
        summaries.iter().map(|s| s["created"]).sum(),
    );
}
