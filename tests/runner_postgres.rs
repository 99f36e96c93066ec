//! The run loop on PostgreSQL: a runner woken by `LISTEN` when another engine (another
//! process, in production) changes a template, and again after its listening connection is
//! killed. Needs `RECURRING_DEALS_PG_URL` (skips with a notice otherwise).

#![cfg(feature = "postgres")]

mod common;
mod pg;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use recurring_deals::store::PostgresWakeSource;
use recurring_deals::*;
use tokio::sync::watch;

fn daily_at_nine() -> TemplateDraft {
    TemplateDraft::new(
        deal("Daily", 100),
        Schedule::builder(
            Recurrence::daily(Interval::ONE),
            local(2026, 3, 1, 9, 0),
            Zone::UTC,
        )
        .build()
        .unwrap(),
    )
}

/// Waits (a few seconds at most) for the runner to reach `ticks` and sleep.
async fn asleep_after(status: &mut watch::Receiver<RunnerStatus>, ticks: u64) {
    let reached = tokio::time::timeout(
        Duration::from_secs(20),
        status.wait_for(|s| s.ticks >= ticks && s.sleeping_until.is_some()),
    )
    .await
    .is_ok_and(|waited| waited.is_ok());
    assert!(
        reached,
        "the runner did not reach {ticks} ticks: {:?}",
        *status.borrow()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_engines_change_and_a_lost_listener_wake_the_runner() {
    let Some(url) = pg::pg_url("another_engines_change_and_a_lost_listener_wake_the_runner") else {
        return;
    };
    let schemas = pg::TestSchemas::new(&url);
    let store = schemas.store("runner", 4).await;
    // The runner's clock never moves: only notifications can wake it.
    let clock = ManualClock::new(utc(2026, 3, 2, 10, 0));
    let wake = PostgresWakeSource::listen(&store).await.unwrap();
    let channel = wake.channel().to_owned();
    let engine = Arc::new(Engine::new(store.clone(), clock.clone()));
    let runner = Runner::new(Arc::clone(&engine), RunnerConfig::default()).with_wake_source(wake);
    let mut status = runner.status();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(runner.run(
        |_event: OutboxEvent| async { Ok::<(), std::convert::Infallible>(()) },
        async {
            let _ = stopped.await;
        },
    ));
    asleep_after(&mut status, 1).await;

    // Another engine over the same database (another worker process, in production)
    // creates a template whose Mar 2 occurrence is due: its transaction notifies.
    let other = Engine::new(store.clone(), clock.clone());
    let acme = tenant("acme");
    let id = other
        .create_template(&acme, daily_at_nine())
        .await
        .unwrap()
        .id();
    asleep_after(&mut status, 2).await;
    let deals = engine.deals(&acme, Some(id)).await.unwrap();
    assert_eq!(
        deals.iter().map(|d| d.nominal_date).collect::<Vec<_>>(),
        [date(2026, 3, 2)],
        "the runner, woken by the notification, created the due deal"
    );

    // Kill the listening connection: the listener reconnects and the runner ticks once
    // more, since what was signalled while it was down is lost.
    let pool = schemas.pool().await;
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE query ILIKE 'listen%' AND query LIKE '%' || $1 || '%'",
    )
    .bind(&channel)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(killed, [true], "one listening backend of this channel");
    let before = status.borrow().ticks;
    asleep_after(&mut status, before + 1).await;
    // And it hears again: a change after the reconnect wakes it.
    let before = status.borrow().ticks;
    other.pause(&acme, id, "hold", None).await.unwrap();
    asleep_after(&mut status, before + 1).await;

    stop.send(()).unwrap();
    let last = run.await.unwrap().unwrap();
    assert!(last.stopped);
    assert_eq!(last.tick_errors, 0);
    pool.close().await;
}
