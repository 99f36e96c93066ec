//! Faults on PostgreSQL: during a run of three workers (each an engine on its own pool, with
//! its own `LISTEN` connection), every backend of every worker is terminated from a second
//! session (`pg_terminate_backend`), at least three times, while commits are in flight. The
//! workers see typed, retryable errors, recover without a restart, and in the end every due
//! deal exists exactly once and every deal's event was written once and delivered.
//! Needs `RECURRING_DEALS_PG_URL` (skips with a notice otherwise).

#![cfg(feature = "postgres")]

mod common;
mod pg;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::TimeDelta;
use common::*;
use pg::fleet;
use recurring_deals::store::{PostgresOptions, PostgresStore, PostgresWakeSource};
use recurring_deals::*;

const WORKERS: usize = 3;
const TEMPLATES: usize = 400;
const DAYS: i64 = 24;
const KILLS: usize = 4;

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
    fleet::seed_daily(
        &Engine::new(setup.clone(), clock.clone()),
        &acme,
        TEMPLATES,
        date(2026, 3, 1),
    )
    .await;

    let seen = fleet::Seen::new(WORKERS);
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
        tasks.push(tokio::spawn(fleet::worker(
            index,
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
            let in_flight = fleet::wait_in_flight(&admin, &app).await;
            let killed: Vec<bool> = sqlx::query_scalar(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE application_name = $1",
            )
            .bind(&app)
            .fetch_all(&admin)
            .await
            .unwrap();
            killed_rounds += 1;
            mid_commit_rounds += usize::from(in_flight);
            killed_backends += killed.iter().filter(|k| **k).count();
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    // The last round's listeners reconnect before the run stops.
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Let the workers finish what is due, then stop them.
    let expected_deals = TEMPLATES * DAYS as usize;
    let settled = fleet::settled(&setup, &acme, expected_deals).await;
    stop.store(true, Ordering::SeqCst);
    for task in tasks {
        task.await.unwrap();
    }
    for listener in listeners {
        listener.abort();
    }
    assert!(settled, "the workers recovered and finished every due deal");

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
    let errors = seen.error_kinds();
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

    // Every due deal exactly once, and its event delivered (at least once; a kill between
    // the handler and the acknowledgement may deliver one again, which the idempotency key
    // absorbs); no event was written twice: each key was delivered once per write.
    fleet::assert_exactly_once(&setup, &acme, expected_deals, &seen).await;
    let delivered = seen.delivered.lock().unwrap().clone();
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
