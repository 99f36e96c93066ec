//! Delivery through the [`Runner`], measured against the ticks that created the events, in
//! the same round: shared by the SQLite and PostgreSQL benchmarks (issue #18).
//!
//! A round ticks every due template (timed: deals created per second), then starts one
//! `Runner` per worker, each on an engine of its own over the same database, with a handler
//! that only records the event's idempotency key (timed from the runners' start until every
//! event was handed over at least once: events delivered per second). Hand-overs of a key
//! beyond its first are counted as duplicates.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use recurring_deals::{Clock, Engine, OutboxEvent, Repository, Runner, RunnerConfig};

/// One round's delivery.
pub struct Delivered {
    /// From the runners' start until every event had been handed over.
    pub took: Duration,
    /// Hand-overs, duplicates included.
    pub handed: u64,
    /// Distinct events handed over.
    pub distinct: usize,
}

impl Delivered {
    /// Hand-overs beyond each event's first.
    pub fn duplicates(&self) -> u64 {
        self.handed - self.distinct as u64
    }
}

#[derive(Default)]
struct Seen {
    keys: HashMap<String, u32>,
    handed: u64,
    all_at: Option<Instant>,
}

/// Runs one runner per engine until `expected` distinct events were handed over.
pub async fn drain<R, C>(engines: Vec<Arc<Engine<R, C>>>, expected: usize) -> Delivered
where
    R: Repository + Send + Sync + 'static,
    C: Clock + Send + Sync + 'static,
{
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let stop = Arc::new(stop);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for engine in engines {
        let (seen, stop) = (Arc::clone(&seen), Arc::clone(&stop));
        let handler = move |event: OutboxEvent| {
            let (seen, stop) = (Arc::clone(&seen), Arc::clone(&stop));
            async move {
                let mut seen = seen.lock().unwrap();
                seen.handed += 1;
                let count = seen.keys.entry(event.idempotency_key).or_default();
                *count += 1;
                if *count == 1 && seen.keys.len() == expected {
                    seen.all_at = Some(Instant::now());
                    let _ = stop.send(true);
                }
                Ok::<(), Infallible>(())
            }
        };
        let mut stopped = stopped.clone();
        let shutdown = async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        let runner = Runner::new(engine, RunnerConfig::default());
        tasks.push(tokio::spawn(runner.run(handler, shutdown)));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let seen = seen.lock().unwrap();
    Delivered {
        took: seen.all_at.expect("every event handed over") - started,
        handed: seen.handed,
        distinct: seen.keys.len(),
    }
}

/// The median of `values` (0 for none).
pub fn median_of(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
