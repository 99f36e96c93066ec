//! Faults on PostgreSQL: during a run of three workers (each an engine on its own pool, with
//! its own `LISTEN` connection), every backend of every worker is terminated from a second
//! session (`pg_terminate_backend`), at least three times, while commits are in flight. The
//! workers see typed, retryable errors, recover without a restart, and in the end every due
//! deal exists exactly once and every deal's event was written once and delivered.
//! Needs `RECURRING_DEALS_PG_URL` (skips with a notice otherwise).

#![cfg(feature = "postgres")]

mod common;
mod pg;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::TimeDelta;
use common::*;
use recurring_deals::store::{PostgresOptions, PostgresStore, PostgresWakeSource};
use recurring_deals::*;

const WORKERS: usize = 3;
const TEMPLATES: usize = 400;
const DAYS: i64 = 24;
const KILLS: usize = 4;

#[derive(Default)]
struct Seen {
    /// Error kinds the workers saw, by kind.
    errors: Mutex<BTreeMap<&'static str, u64>>,
    /// Idempotency keys delivered, with how often.
    delivered: Mutex<BTreeMap<String, u64>>,
    /// Listener reconnects.
    reconnects: AtomicU64,
}

impl Seen {
    fn error(&self, error: &EngineError) {
        let kind = match error {
            EngineError::Repository(e) => e.kind(),
            _ => "other",
        };
        *self.errors.lock().unwrap().entry(kind).or_default() += 1;
    }
}

/// One worker: tick, deliver the outbox, repeat, until told to stop; every error is counted
/// and the loop goes on (no restart).
async fn worker(
    engine: Arc<Engine<PostgresStore, ManualClock>>,
    seen: Arc<Seen>,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::SeqCst) {
        match engine.tick().await {
            Ok(report) => {
                for failure in &report.failures {
                    seen.error(&EngineError::Repository(failure.error.clone()));
                }
                for error in &report.batch_failures {
                    seen.error(&EngineError::Repository(error.clone()));
                }
            }
            Err(error) => seen.error(&error),
        }
        match engine.outbox(500).await {
            Ok(events) => {
                let ids: Vec<u64> = events.iter().map(|e| e.id).collect();
                {
                    let mut delivered = seen.delivered.lock().unwrap();
                    for event in &events {
                        *delivered.entry(event.idempotency_key.clone()).or_default() += 1;
                    }
                }
                if let Err(error) = engine.ack(&ids).await {
                    seen.error(&error);
                }
            }
            Err(error) => seen.error(&error),
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_survive_their_backends_being_killed_mid_commit() {
    let Some(url) = pg::pg_url("workers_survive_their_backends_being_killed_mid_commit") else {
        return;
    };
    let schemas = pg::TestSchemas::new(&url);
    let schema = schemas.fresh("faults");
    let app = format!("rd_faults_{}", std::process::id());
    let worker_url = format!(
        "{url}{}application_name={app}",
        if url.contains('?') { '&' } else { '?' }
    );
    let options = || {
        PostgresOptions::new()
            .schema(&schema)
            .unwrap()
            .legacy_schema(None)
            .unwrap()
    };
    let clock = ManualClock::new(utc(2026, 3, 1, 0, 0));
    // Setup through a store of its own (not killed).
    let setup = PostgresStore::connect_with(&url, options(), 2)
        .await
        .unwrap();
    let acme = tenant("acme");
    {
        let engine = Engine::new(setup.clone(), clock.clone());
        for i in 0..TEMPLATES {
            let draft = TemplateDraft::new(
                deal(&format!("Daily {i}"), 100),
                Schedule::builder(
                    Recurrence::daily(Interval::ONE),
                    local(2026, 3, 1, 9, 0),
                    Zone::UTC,
                )
                .build()
                .unwrap(),
            );
            engine.create_template(&acme, draft).await.unwrap();
        }
    }

    let seen = Arc::new(Seen::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    let mut listeners = Vec::new();
    let mut engines = Vec::new();
    for index in 0..WORKERS {
        let store = PostgresStore::connect_with(&worker_url, options(), 3)
            .await
            .unwrap();
        let mut wake = PostgresWakeSource::listen(&store).await.unwrap();
        let config = EngineConfig::builder()
            .worker(index, WORKERS)
            .commit_batch(16)
            .failure_retry(TimeDelta::seconds(1), TimeDelta::seconds(1))
            .build()
            .unwrap();
        let engine = Arc::new(Engine::with_config(store, clock.clone(), config));
        engines.push(Arc::clone(&engine));
        tasks.push(tokio::spawn(worker(
            engine,
            Arc::clone(&seen),
            Arc::clone(&stop),
        )));
        let seen = Arc::clone(&seen);
        listeners.push(tokio::spawn(async move {
            loop {
                if wake.wait().await == Wake::Reconnected {
                    seen.reconnects.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }

    // The killer: a second session terminating every backend of the workers (their pools and
    // their listeners), at several points of the run.
    let admin = schemas.pool().await;
    let mut killed_rounds = 0;
    let mut mid_commit_rounds = 0;
    let mut killed_backends = 0;
    for day in 1..=DAYS {
        clock.advance(TimeDelta::days(1));
        if killed_rounds < KILLS && day % (DAYS / KILLS as i64) == 2 {
            // Wait until a worker is inside a transaction (its commit in flight), then kill
            // every backend of every worker: pools and listeners.
            let mut in_flight = 0;
            for _ in 0..2_000 {
                in_flight = sqlx::query_scalar::<_, i64>(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 \
                     AND (state = 'idle in transaction' OR (state = 'active' \
                          AND query NOT ILIKE 'listen%'))",
                )
                .bind(&app)
                .fetch_one(&admin)
                .await
                .unwrap();
                if in_flight > 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_micros(500)).await;
            }
            let killed: Vec<bool> = sqlx::query_scalar(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE application_name = $1",
            )
            .bind(&app)
            .fetch_all(&admin)
            .await
            .unwrap();
            killed_rounds += 1;
            mid_commit_rounds += usize::from(in_flight > 0);
            killed_backends += killed.iter().filter(|k| **k).count();
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    // The last round's listeners reconnect before the run stops.
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Let the workers finish what is due, then stop them.
    let expected_deals = TEMPLATES * DAYS as usize;
    let settled = tokio::time::timeout(Duration::from_secs(120), async {
        loop {
            let deals = setup.deals(&acme, None).await.unwrap().len();
            let outbox = setup.outbox(1).await.unwrap().len();
            if deals >= expected_deals && outbox == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    for task in tasks {
        task.await.unwrap();
    }
    for listener in listeners {
        listener.abort();
    }
    settled.expect("the workers recovered and finished every due deal");

    assert!(killed_rounds >= 3, "{killed_rounds} kill rounds");
    assert!(
        mid_commit_rounds >= 3,
        "{mid_commit_rounds} of {killed_rounds} kill rounds hit a commit in flight"
    );
    assert!(
        killed_backends >= killed_rounds * WORKERS,
        "{killed_backends} backends killed in {killed_rounds} rounds"
    );
    // The listeners were among them, and came back.
    assert!(
        seen.reconnects.load(Ordering::SeqCst) >= (killed_rounds * WORKERS) as u64,
        "listener reconnects: {}",
        seen.reconnects.load(Ordering::SeqCst)
    );
    // Typed, retryable errors were seen, and nothing else went wrong.
    let errors = seen.errors.lock().unwrap().clone();
    assert!(
        errors.get("connection").copied().unwrap_or(0) > 0,
        "connection errors seen: {errors:?}"
    );
    assert!(
        errors
            .keys()
            .all(|kind| ["connection", "busy"].contains(kind)),
        "only retryable kinds: {errors:?}"
    );

    // Every due deal exactly once: one per template and day.
    let deals = setup.deals(&acme, None).await.unwrap();
    assert_eq!(deals.len(), expected_deals);
    let per_date: BTreeSet<_> = deals
        .iter()
        .map(|d| (d.key.template(), d.nominal_date))
        .collect();
    assert_eq!(
        per_date.len(),
        expected_deals,
        "no template got a date twice"
    );
    // Every deal's event was delivered (at least once; a kill between the handler and the
    // acknowledgement may deliver one again, which the idempotency key absorbs), and no
    // event was written twice: each key was delivered once per write.
    let delivered = seen.delivered.lock().unwrap().clone();
    for deal in &deals {
        assert!(
            delivered
                .keys()
                .any(|key| key.contains(&deal.key.to_string())),
            "the event of {} was delivered",
            deal.key
        );
    }
    let created_events = delivered
        .keys()
        .filter(|key| key.contains("deal_created") || key.starts_with("deal:"))
        .count();
    assert!(
        created_events >= expected_deals,
        "{created_events} distinct deal events"
    );
    for engine in &engines {
        assert!(engine.repository().outbox(1).await.unwrap().is_empty());
    }
    admin.close().await;
}
