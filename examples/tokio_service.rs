//! Running the engine inside an async (tokio) service.
//!
//! The engine is synchronous: its repository calls block (a database round trip), so ticks
//! run on tokio's blocking pool with `spawn_blocking`, never on the async workers. One task
//! ticks and sleeps until the engine's next wake-up (bounded, so a template created meanwhile
//! is seen soon); another delivers the outbox. A watch channel stops both.
//!
//! This demo compresses time: a `ManualClock` moves one simulated hour per loop so a month
//! passes in a second; a real service passes `SystemClock` and real sleeps.
//!
//! Run: `cargo run --release --example tokio_service`

// Amounts are written as units_cents (150_000_00 = 150,000.00), the grouping is on purpose.
#![allow(clippy::inconsistent_digit_grouping)]

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDate, TimeDelta, TimeZone, Utc, Weekday};
use recurring_deals::*;
use tokio::sync::watch;

type SharedEngine = Arc<Engine<InMemoryRepository, ManualClock>>;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error + Send + Sync>> {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap());
    let engine: SharedEngine = Arc::new(Engine::new(InMemoryRepository::new(), clock.clone()));
    let tenant = TenantId::new("acme")?;
    let start = NaiveDate::from_ymd_opt(2026, 3, 2)
        .unwrap()
        .and_hms_opt(9, 0, 0)
        .unwrap();
    let schedule = Schedule::builder(
        Recurrence::weekly(
            Interval::ONE,
            WeekdaySet::new([Weekday::Mon, Weekday::Thu])?,
        ),
        start,
        chrono_tz::Europe::Berlin,
    )
    .end(End::Count(8))
    .build()?;
    let deal = Deal::new("Weekly delivery", Money::new(420_00, Currency::new("EUR")?))?;
    {
        // Creating a template is a repository write: blocking work too.
        let engine = engine.clone();
        let tenant = tenant.clone();
        tokio::task::spawn_blocking(move || {
            engine.create_template(&tenant, TemplateDraft::new(deal, schedule))
        })
        .await??;
    }

    let (stop, stopped) = watch::channel(false);
    let ticker = tokio::spawn(tick_loop(engine.clone(), clock.clone(), stopped.clone()));
    let delivery = tokio::spawn(deliver_loop(engine.clone(), stopped));

    // Let a simulated month pass, then shut down gracefully.
    while clock.now() < Utc.with_ymd_and_hms(2026, 4, 1, 0, 0, 0).unwrap() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send(true)?;
    let created = ticker.await??;
    let delivered = delivery.await??;
    println!("ticked through March 2026: {created} deals created, {delivered} events delivered");
    Ok(())
}

/// Ticks on the blocking pool, then sleeps until the next wake-up (at most an hour).
async fn tick_loop(
    engine: SharedEngine,
    clock: ManualClock,
    mut stopped: watch::Receiver<bool>,
) -> Result<usize, Box<dyn Error + Send + Sync>> {
    let mut created = 0;
    while !*stopped.borrow() {
        let engine_for_tick = engine.clone();
        let report = tokio::task::spawn_blocking(move || engine_for_tick.tick()).await??;
        created += report.created.len();
        for key in &report.created {
            println!("{}  created {key}", report.at.format("%Y-%m-%d %H:%M"));
        }
        // A real service sleeps `next_wake - now` (capped); the demo advances its clock
        // instead and yields briefly.
        let step = report
            .next_wake
            .map(|wake| (wake - clock.now()).clamp(TimeDelta::minutes(1), TimeDelta::hours(1)))
            .unwrap_or(TimeDelta::hours(1));
        clock.advance(step);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(1)) => {}
            _ = stopped.changed() => {}
        }
    }
    Ok(created)
}

/// Delivers outbox events (here: prints them) and acknowledges them.
async fn deliver_loop(
    engine: SharedEngine,
    mut stopped: watch::Receiver<bool>,
) -> Result<usize, Box<dyn Error + Send + Sync>> {
    let mut delivered = 0;
    loop {
        let engine_for_read = engine.clone();
        let events = tokio::task::spawn_blocking(move || engine_for_read.outbox(100)).await??;
        if !events.is_empty() {
            // Sending mail or calling webhooks would happen here, keyed by idempotency_key.
            let ids: Vec<u64> = events.iter().map(|e| e.id).collect();
            delivered += ids.len();
            let engine_for_ack = engine.clone();
            tokio::task::spawn_blocking(move || engine_for_ack.ack(&ids)).await??;
            continue;
        }
        if *stopped.borrow() {
            return Ok(delivered);
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(5)) => {}
            _ = stopped.changed() => {}
        }
    }
}
