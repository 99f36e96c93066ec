//! Delivery through the [`Runner`], measured against the ticks that created the events, in
//! the same round: shared by the SQLite and PostgreSQL benchmarks (issue #18).
//!
//! A round ticks every due template (timed: deals created per second), then starts one
//! `Runner` per worker, each on an engine of its own over the same database, with a handler
//! that only records the event's idempotency key (timed from the runners' start until every
//! event was handed over at least once: events delivered per second). Hand-overs of a key
//! beyond its first are counted as duplicates. With a failing tenant, the handler refuses
//! every event of that tenant, and the round ends when every other tenant's event was
//! handed over: how much one failing tenant slows the others.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use recurring_deals::{Clock, Engine, OutboxEvent, Repository, Runner, RunnerConfig, TenantId};

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

/// Runs one runner per engine until `expected` distinct events were handed over; the
/// events of `failing` are refused (and not counted).
pub async fn drain<R, C>(
    engines: Vec<Arc<Engine<R, C>>>,
    expected: usize,
    failing: Option<&TenantId>,
) -> Delivered
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
        let failing = failing.cloned();
        let handler = move |event: OutboxEvent| {
            let (seen, stop) = (Arc::clone(&seen), Arc::clone(&stop));
            let refuse = failing.as_ref() == Some(&event.tenant);
            async move {
                if refuse {
                    return Err("this tenant's endpoint is down");
                }
                let mut seen = seen.lock().unwrap();
                seen.handed += 1;
                let count = seen.keys.entry(event.idempotency_key).or_default();
                *count += 1;
                if *count == 1 && seen.keys.len() == expected {
                    seen.all_at = Some(Instant::now());
                    let _ = stop.send(true);
                }
                Ok(())
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

/// What a benchmark reports of its rounds: `(deals created, tick time, delivered)` each.
pub struct Summary {
    /// Rounds summarised (the first, a warm-up, left out when there are more).
    pub rounds: usize,
    /// Median deals created per second by the ticks.
    pub created: f64,
    /// Median events delivered per second (distinct events counted).
    pub delivered: f64,
    /// Hand-overs beyond each event's first, in all rounds.
    pub duplicates: u64,
    /// Hand-overs in all rounds.
    pub handed: u64,
}

impl Summary {
    /// Summarises `rounds`.
    pub fn of(rounds: &[(usize, Duration, Delivered)]) -> Summary {
        let measured = if rounds.len() > 1 {
            &rounds[1..]
        } else {
            rounds
        };
        Summary {
            rounds: measured.len(),
            created: median_of(
                measured
                    .iter()
                    .map(|r| r.0 as f64 / r.1.as_secs_f64())
                    .collect(),
            ),
            delivered: median_of(
                measured
                    .iter()
                    .map(|r| r.2.distinct as f64 / r.2.took.as_secs_f64())
                    .collect(),
            ),
            duplicates: measured.iter().map(|r| r.2.duplicates()).sum(),
            handed: measured.iter().map(|r| r.2.handed).sum(),
        }
    }

    /// The line a failing-tenant comparison prints: the others' delivery rate against the
    /// healthy rounds' (`self`), and whether it stays within 10 %.
    pub fn compare_failing(&self, failing: &Summary, what: &str) -> String {
        let ratio = failing.delivered / self.delivered;
        format!(
            "{what}: with one tenant always failing, the other tenants' events delivered at \
             {:.0}/s against {:.0}/s with none failing ({:.0} %; target ≥ 90 %: {}); \
             duplicates: {}",
            failing.delivered,
            self.delivered,
            ratio * 100.0,
            if ratio >= 0.9 { "met" } else { "missed" },
            failing.duplicates,
        )
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
