//! The run loop for services: tick, deliver the outbox, sleep until the next wake-up, stop
//! gracefully.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::watch;

use crate::clock::Clock;
use crate::engine::{Engine, EngineError, TickReport};
use crate::event::OutboxEvent;
use crate::ids::TenantId;
use crate::observe;
use crate::store::{DeliveryFailure, Repository};

/// What a [`Runner`] hands each outbox event to: the host's delivery (a message bus, a
/// webhook, a mailer). An event is acknowledged only after its handler succeeded (the
/// accepted events of a batch together, in one store call), so delivery is at least once:
/// handlers deduplicate by [`OutboxEvent::idempotency_key`].
///
/// Any `Fn(OutboxEvent) -> impl Future<Output = Result<(), E>>` is a handler. A handler for
/// a bus that publishes many messages at once (and awaits their acknowledgements together)
/// also overrides [`OutboxHandler::handle_batch`].
pub trait OutboxHandler: Send + Sync {
    /// The handler's error.
    type Error: std::fmt::Display + Send;

    /// Delivers one event.
    ///
    /// # Errors
    /// Any failure: the event stays in the outbox and is handed over again later, after a
    /// back-off ([`RunnerConfig::retry_delay`]); its tenant's later events wait with it (a
    /// tenant's order is kept), other tenants' events go on. After
    /// [`RunnerConfig::max_attempts`] refusals it becomes a dead letter
    /// ([`crate::Engine::dead_letters`]) and the tenant's later events go on without it.
    fn handle(&self, event: OutboxEvent) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Delivers a batch: events of one or more tenants, each tenant's in outbox order
    /// (at most [`RunnerConfig::outbox_batch`]). Returns what became of each event, in the
    /// same order; a missing entry counts as [`Handed::NotTried`]. Of a tenant, the runner
    /// acknowledges only the events before its first refused or untried one: the later ones
    /// are handed over again with it, after its back-off ([`RunnerConfig::retry_delay`]; for
    /// an untried one, [`RunnerConfig::handler_retry`]), even when this call delivered them (at least once; the idempotency key deduplicates, and a receiver
    /// that dropped the repeat has the later event before the earlier one). A handler that
    /// keeps a tenant's order stops a tenant at its first failure and answers
    /// [`Handed::NotTried`] for the rest, as the default does.
    ///
    /// The default hands the events to [`OutboxHandler::handle`] one at a time and does not
    /// try a tenant's later events after its refusal.
    ///
    /// ```
    /// use recurring_deals::{Handed, OutboxEvent, OutboxHandler};
    ///
    /// /// Publishes a batch at once (a bus's batch publish, here a log line).
    /// struct Bus;
    ///
    /// impl OutboxHandler for Bus {
    ///     type Error = std::io::Error;
    ///
    ///     async fn handle(&self, event: OutboxEvent) -> Result<(), Self::Error> {
    ///         println!("{}", event.idempotency_key);
    ///         Ok(())
    ///     }
    ///
    ///     async fn handle_batch(&self, events: &[OutboxEvent]) -> Vec<Handed<Self::Error>> {
    ///         println!("{} events", events.len());
    ///         events.iter().map(|_| Handed::Delivered).collect()
    ///     }
    /// }
    /// ```
    fn handle_batch(
        &self,
        events: &[OutboxEvent],
    ) -> impl Future<Output = Vec<Handed<Self::Error>>> + Send {
        async move {
            let mut handed = Vec::with_capacity(events.len());
            let mut refused: Vec<&crate::ids::TenantId> = Vec::new();
            for event in events {
                if refused.contains(&&event.tenant) {
                    handed.push(Handed::NotTried);
                    continue;
                }
                match self.handle(event.clone()).await {
                    Ok(()) => handed.push(Handed::Delivered),
                    Err(error) => {
                        refused.push(&event.tenant);
                        handed.push(Handed::Refused(error));
                    }
                }
            }
            handed
        }
    }
}

/// What became of one event of a batch ([`OutboxHandler::handle_batch`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handed<E> {
    /// Delivered: acknowledged unless an earlier event of its tenant was not.
    Delivered,
    /// Refused: it stays in the outbox, and its tenant's later events wait with it.
    Refused(E),
    /// Not tried: it stays in the outbox, and its tenant's later events wait with it.
    NotTried,
}

impl<F, Fut, E> OutboxHandler for F
where
    F: Fn(OutboxEvent) -> Fut + Send + Sync,
    Fut: Future<Output = Result<(), E>> + Send,
    E: std::fmt::Display + Send,
{
    type Error = E;

    fn handle(&self, event: OutboxEvent) -> impl Future<Output = Result<(), E>> + Send {
        self(event)
    }
}

/// A source of wake-ups other than the engine's own changes: a PostgreSQL `LISTEN`
/// connection, say. [`WakeSource::wait`] completes when the runner should tick.
pub trait WakeSource: Send {
    /// Waits for the next wake-up. [`Wake::Reconnected`] after a lost connection, since
    /// what was signalled meanwhile is lost: the runner ticks either way.
    fn wait(&mut self) -> impl Future<Output = Wake> + Send;
}

/// Why a [`WakeSource`] woke the runner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Wake {
    /// Something changed.
    Notified,
    /// The source reconnected: signals may have been lost.
    Reconnected,
}

/// No wake source besides the engine's own notifications.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoWakeSource;

impl WakeSource for NoWakeSource {
    fn wait(&mut self) -> impl Future<Output = Wake> + Send {
        std::future::pending()
    }
}

/// Settings of a [`Runner`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunnerConfig {
    /// The longest sleep between ticks, for what no signal covers (another process on the
    /// same SQLite file). Default: one minute.
    pub max_sleep: TimeDelta,
    /// Outbox events handed over per round. Default: 256.
    pub outbox_batch: usize,
    /// The first back-off after a refused event ([`RunnerConfig::retry_delay`]), and how
    /// long a tenant whose events a batch handler did not try waits. Default: 5 s.
    pub handler_retry: TimeDelta,
    /// The longest back-off between two attempts of one event. Default: one hour.
    pub max_retry: TimeDelta,
    /// Refusals after which an event becomes a dead letter: out of the outbox, its last
    /// error kept, listed and requeued through [`crate::Engine::dead_letters`] and
    /// [`crate::Engine::requeue_dead_letters`]. Default: 10 (with the default back-off,
    /// about 40 minutes of refusals); 0 counts as 1.
    pub max_attempts: u32,
    /// How long to wait after a tick that could not even load its work (the store is down).
    /// Default: 5 s.
    pub error_retry: TimeDelta,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            max_sleep: TimeDelta::minutes(1),
            outbox_batch: 256,
            handler_retry: TimeDelta::seconds(5),
            max_retry: TimeDelta::hours(1),
            max_attempts: 10,
            error_retry: TimeDelta::seconds(5),
        }
    }
}

impl RunnerConfig {
    /// The defaults with another `max_sleep` (at least one millisecond).
    pub fn with_max_sleep(mut self, max_sleep: TimeDelta) -> Self {
        self.max_sleep = max_sleep.max(TimeDelta::milliseconds(1));
        self
    }

    /// The back-off before the next attempt of an event refused `attempts` times (from 1),
    /// whose idempotency key is `key`: exponential from [`RunnerConfig::handler_retry`]
    /// (at least 1 ms), doubling per refusal up to [`RunnerConfig::max_retry`], with "equal
    /// jitter": half of it fixed, the other half spread by a hash of `key` and `attempts`,
    /// so events refused together (a receiver down) do not all come back at once, and the
    /// same event gets the same delay on every worker and in tests.
    ///
    /// ```
    /// use chrono::TimeDelta;
    /// use recurring_deals::RunnerConfig;
    ///
    /// let config = RunnerConfig::default(); // 5 s, doubling, at most one hour
    /// let first = config.retry_delay(1, "deal:17:3");
    /// assert!(first >= TimeDelta::milliseconds(2_500) && first <= TimeDelta::seconds(5));
    /// let fourth = config.retry_delay(4, "deal:17:3");
    /// assert!(fourth >= TimeDelta::seconds(20) && fourth <= TimeDelta::seconds(40));
    /// assert!(config.retry_delay(30, "deal:17:3") <= TimeDelta::hours(1));
    /// ```
    pub fn retry_delay(&self, attempts: u32, key: &str) -> TimeDelta {
        let base = self.handler_retry.max(TimeDelta::milliseconds(1));
        let cap = self.max_retry.max(base);
        let doublings = attempts.saturating_sub(1).min(40);
        let full = base
            .checked_mul(1 << doublings.min(30))
            .and_then(|d| d.checked_mul(1 << doublings.saturating_sub(30)))
            .map_or(cap, |d| d.min(cap));
        let half = full / 2;
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in key.bytes().chain(attempts.to_le_bytes()) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        let spread = (full - half).num_microseconds().unwrap_or(i64::MAX).max(0);
        let fraction = (hash >> 11) as f64 / (1u64 << 53) as f64;
        half + TimeDelta::microseconds((spread as f64 * fraction) as i64)
    }
}

/// What a runner is doing, for health checks and tests ([`Runner::status`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RunnerStatus {
    /// Ticks done.
    pub ticks: u64,
    /// Outbox events delivered (handler succeeded, acknowledged).
    pub delivered: u64,
    /// Handler failures.
    pub handler_failures: u64,
    /// Events this runner made dead letters ([`RunnerConfig::max_attempts`]).
    pub dead_letters: u64,
    /// When the oldest event the last outbox round read was produced (`None` when it read
    /// none): the delivery lag is the clock's now minus this.
    pub oldest_waiting: Option<DateTime<Utc>>,
    /// Ticks that failed to load their work.
    pub tick_errors: u64,
    /// The deadline of the current sleep; `None` while working.
    pub sleeping_until: Option<DateTime<Utc>>,
    /// Whether the loop has stopped.
    pub stopped: bool,
    /// When (by the engine's clock) the last tick completed; `None` before the first.
    pub last_tick_at: Option<DateTime<Utc>>,
    /// When the last outbox round completed with the outbox emptied.
    pub last_delivery_at: Option<DateTime<Utc>>,
    /// The last error of a tick, a handler or an acknowledgement, with when it happened
    /// (kept after later successes, for the record).
    pub last_error: Option<(DateTime<Utc>, String)>,
}

impl RunnerStatus {
    /// Whether the runner is working: not stopped, and a tick completed within `within` of
    /// `now`. A worker stuck in a call that never returns, or failing every tick, stops
    /// being healthy once `within` has passed; pass a bound above the runner's
    /// [`RunnerConfig::max_sleep`] and the longest tick expected.
    ///
    /// ```
    /// use chrono::{TimeDelta, TimeZone, Utc};
    /// use recurring_deals::RunnerStatus;
    ///
    /// let now = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
    /// let status = RunnerStatus::default();
    /// assert!(!status.is_healthy(now, TimeDelta::minutes(3))); // no tick yet
    /// ```
    pub fn is_healthy(&self, now: DateTime<Utc>, within: TimeDelta) -> bool {
        !self.stopped && self.last_tick_at.is_some_and(|at| now - at <= within)
    }
}

/// The run loop of a service: ticks the engine, hands each outbox event to a handler,
/// sleeps until the next wake-up, and stops gracefully on a shutdown signal after finishing
/// the work in flight. With several workers (`EngineConfigBuilder::worker`) each runner
/// hands over its own tenants' events ([`Engine::worker_outbox`]): an event once, a
/// tenant's events in order.
///
/// It wakes early on every change the engine itself commits (share the engine through an
/// `Arc` between the runner and the code that edits templates), on [`Engine::notify`],
/// and on a [`WakeSource`]; otherwise it sleeps until the store's next wake-up, at most
/// [`RunnerConfig::max_sleep`]. It sleeps through [`Clock::sleep_until`], so a
/// [`crate::ManualClock`] drives it deterministically.
///
/// ```
/// use std::sync::Arc;
/// use chrono::{TimeZone, Utc};
/// use recurring_deals::*;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
/// let engine = Arc::new(Engine::new(InMemoryRepository::new(), clock));
/// let runner = Runner::new(Arc::clone(&engine), RunnerConfig::default());
/// let deliver = |event: OutboxEvent| async move {
///     println!("{}: {:?}", event.idempotency_key, event.kind);
///     Ok::<(), std::io::Error>(())
/// };
/// // Stops at once here; a service passes its shutdown signal (ctrl-c, a token).
/// runner.run(deliver, async {}).await?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Runner<R: Repository, C: Clock, W: WakeSource = NoWakeSource> {
    engine: Arc<Engine<R, C>>,
    config: RunnerConfig,
    wake: W,
    status: watch::Sender<RunnerStatus>,
}

impl<R: Repository, C: Clock> Runner<R, C, NoWakeSource> {
    /// A runner over `engine`.
    pub fn new(engine: Arc<Engine<R, C>>, config: RunnerConfig) -> Self {
        Runner {
            engine,
            config,
            wake: NoWakeSource,
            status: watch::Sender::new(RunnerStatus::default()),
        }
    }
}

impl<R: Repository, C: Clock, W: WakeSource> Runner<R, C, W> {
    /// The same runner, also woken by `wake` (a PostgreSQL listener, say).
    pub fn with_wake_source<V: WakeSource>(self, wake: V) -> Runner<R, C, V> {
        Runner {
            engine: self.engine,
            config: self.config,
            wake,
            status: self.status,
        }
    }

    /// The engine.
    pub fn engine(&self) -> &Arc<Engine<R, C>> {
        &self.engine
    }

    /// A live view of what the runner is doing.
    pub fn status(&self) -> watch::Receiver<RunnerStatus> {
        self.status.subscribe()
    }

    /// Runs until `shutdown` completes: tick, deliver, sleep, repeat. The work in flight (a
    /// tick, an outbox round) is finished before it returns; a sleep is cut short.
    ///
    /// # Errors
    /// None today: a tick that fails to load its work is counted in
    /// [`RunnerStatus::tick_errors`] and retried after [`RunnerConfig::error_retry`]; a
    /// refused event is retried after its back-off ([`RunnerConfig::retry_delay`]) and
    /// becomes a dead letter after [`RunnerConfig::max_attempts`] refusals. The `Result`
    /// leaves room for errors that must stop the loop.
    pub async fn run<H: OutboxHandler>(
        mut self,
        handler: H,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<RunnerStatus, EngineError> {
        tokio::pin!(shutdown);
        // The first tick sees every change made before it: a notification left from then
        // would only cause a second tick.
        {
            let pending = self.engine.changes().notified();
            tokio::pin!(pending);
            poll_once(pending);
        }
        // Tenants whose delivery failed, and until when their later events wait.
        let mut held: HashMap<TenantId, DateTime<Utc>> = HashMap::new();
        loop {
            self.set(|s| s.sleeping_until = None);
            let tick = self.engine.tick().await;
            let now = self.engine.clock().now();
            self.set(|s| {
                s.ticks += 1;
                if tick.is_ok() {
                    s.last_tick_at = Some(now);
                }
            });
            let deadline = match tick {
                Ok(report) => {
                    let delivered = self.deliver(&handler, &mut held).await;
                    if delivered == Delivery::Done {
                        let at = self.engine.clock().now();
                        self.set(|s| s.last_delivery_at = Some(at));
                    }
                    if let Some(error) = report.read_failures.first() {
                        self.failed(&format_args!("tick: {error}"));
                    }
                    if report.more_due {
                        // More is due than one tick takes: go on at once (after a yield, so
                        // a shutdown or another task gets its turn).
                        tokio::task::yield_now().await;
                        if poll_once(shutdown.as_mut()) {
                            break;
                        }
                        continue;
                    }
                    if !report.read_failures.is_empty() {
                        // Committed work is reported; what the failed reads would have found
                        // waits for the next tick, soon.
                        self.wake_at(&report, delivered, now)
                            .min(now + self.config.error_retry)
                    } else {
                        self.wake_at(&report, delivered, now)
                    }
                }
                Err(error) => {
                    observe::event!(
                        tracing::Level::ERROR,
                        error = %error,
                        "tick failed to load its work; retrying"
                    );
                    self.set(|s| {
                        s.tick_errors += 1;
                        s.last_error = Some((now, error.to_string()));
                    });
                    now + self.config.error_retry
                }
            };
            self.set(|s| s.sleeping_until = Some(deadline));
            let clock = self.engine.clock();
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                () = self.engine.changes().notified() => {}
                _ = self.wake.wait() => {}
                () = clock.sleep_until(deadline) => {}
            }
        }
        self.set(|s| {
            s.sleeping_until = None;
            s.stopped = true;
        });
        Ok(self.status.borrow().clone())
    }

    /// When to tick next: the store's next wake-up, at most `max_sleep` away; sooner when
    /// a handler failed (its event is handed over again).
    fn wake_at(
        &self,
        report: &TickReport,
        delivered: Delivery,
        now: DateTime<Utc>,
    ) -> DateTime<Utc> {
        let mut deadline = now + self.config.max_sleep;
        if let Some(next) = report.next_wake {
            deadline = deadline.min(next.max(now));
        }
        if delivered == Delivery::HandlerFailed {
            deadline = deadline.min(now + self.config.handler_retry);
        }
        deadline
    }

    /// Hands the outbox to `handler` in order, a batch at a time, until nothing deliverable
    /// is left. What the handler accepted of a batch is acknowledged in one store call (one
    /// commit), after the batch: a crash in between hands over again at most that batch's
    /// accepted events (delivery is at least once). An event the handler refuses holds back
    /// only its tenant's later events, until its back-off has passed (`held`: tenant →
    /// until when; [`RunnerConfig::retry_delay`], recorded in the store so every worker
    /// keeps it); after [`RunnerConfig::max_attempts`] refusals it becomes a dead letter and
    /// the tenant goes on in the next round. The other tenants' events go on.
    async fn deliver<H: OutboxHandler>(
        &self,
        handler: &H,
        held: &mut HashMap<TenantId, DateTime<Utc>>,
    ) -> Delivery {
        // Holds end between rounds, never within one: a tenant refused in this round is not
        // handed over again before the round ends (whatever the back-off is).
        let now = self.engine.clock().now();
        held.retain(|_, until| *until > now);
        let retry = self.config.handler_retry.max(TimeDelta::milliseconds(1));
        let max_attempts = self.config.max_attempts.max(1);
        let mut first_read = true;
        loop {
            let holding: Vec<TenantId> = held.keys().cloned().collect();
            let batch = self.config.outbox_batch.max(1);
            let events = match self.engine.worker_outbox_except(batch, &holding).await {
                Ok(events) => events,
                Err(error) => {
                    self.failed(&error);
                    return Delivery::HandlerFailed;
                }
            };
            let now = self.engine.clock().now();
            if first_read {
                first_read = false;
                let oldest = events.iter().map(|e| e.at).min();
                observe::outbox_lag(oldest.map(|at| now - at));
                self.set(|s| s.oldest_waiting = oldest);
            }
            // A tenant whose oldest event waits for its retry (recorded by any worker)
            // waits with it; the engine leaves such tenants out, this is the backstop.
            let events: Vec<OutboxEvent> = events
                .into_iter()
                .filter(|event| {
                    if held.contains_key(&event.tenant) {
                        return false;
                    }
                    match event.retry_at {
                        Some(at) if at > now => {
                            held.insert(event.tenant.clone(), at);
                            false
                        }
                        _ => true,
                    }
                })
                .collect();
            if events.is_empty() {
                if held.len() > holding.len() {
                    continue; // tenants newly held: read again without them
                }
                // A tenant still held waits for a retry: the runner wakes for it after
                // `handler_retry`, and the outbox is not reported emptied.
                return if held.is_empty() {
                    Delivery::Done
                } else {
                    Delivery::HandlerFailed
                };
            }
            let handed = handler.handle_batch(&events).await;
            let mut handed = handed.into_iter();
            let mut accepted = Vec::with_capacity(events.len());
            let mut failures = Vec::new();
            for event in &events {
                let result = handed.next().unwrap_or(Handed::NotTried);
                if held.contains_key(&event.tenant) {
                    continue; // an earlier event of its tenant was not delivered: it waits
                }
                let now = self.engine.clock().now();
                match result {
                    Handed::Delivered => accepted.push(event),
                    Handed::Refused(error) => {
                        observe::delivery(event, Some(&error));
                        let error = error.to_string();
                        let attempts = event.attempts.saturating_add(1);
                        let retry_at = (attempts < max_attempts).then(|| {
                            now + self.config.retry_delay(attempts, &event.idempotency_key)
                        });
                        if retry_at.is_none() {
                            observe::dead_letter(event, attempts, &error);
                        }
                        self.set(|s| {
                            s.handler_failures += 1;
                            s.dead_letters += u64::from(retry_at.is_none());
                        });
                        self.failed(&format_args!(
                            "handler refused event {} of tenant {} (attempt {attempts} of \
                             {max_attempts}): {error}",
                            event.id, event.tenant
                        ));
                        // A dead letter's tenant goes on in the next round.
                        held.insert(event.tenant.clone(), retry_at.unwrap_or(now));
                        failures.push(DeliveryFailure {
                            id: event.id,
                            tenant: event.tenant.clone(),
                            error,
                            at: now,
                            retry_at,
                        });
                    }
                    Handed::NotTried => {
                        held.insert(event.tenant.clone(), now + retry);
                    }
                }
            }
            if !accepted.is_empty() {
                let ids: Vec<u64> = accepted.iter().map(|e| e.id).collect();
                if let Err(error) = self.engine.ack(&ids).await {
                    observe::event!(tracing::Level::WARN, error = %error, events = ids.len(), "outbox acknowledgement failed");
                    self.failed(&error);
                    return Delivery::HandlerFailed;
                }
                for event in &accepted {
                    observe::delivery(event, None);
                }
                let n = accepted.len() as u64;
                self.set(|s| s.delivered += n);
            }
            if !failures.is_empty()
                && let Err(error) = self.engine.record_delivery_failures(&failures).await
            {
                // The holds above still apply in this runner; the attempts go uncounted.
                observe::event!(tracing::Level::WARN, error = %error, events = failures.len(), "recording refused deliveries failed");
                self.failed(&error);
            }
        }
    }

    /// Records `error` as the last one.
    fn failed(&self, error: &dyn std::fmt::Display) {
        let at = self.engine.clock().now();
        let text = error.to_string();
        self.set(|s| s.last_error = Some((at, text)));
    }

    fn set(&self, change: impl FnOnce(&mut RunnerStatus)) {
        self.status.send_modify(change);
    }
}

/// How an outbox round ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delivery {
    /// The outbox is empty.
    Done,
    /// The handler (or the store) failed; try again later.
    HandlerFailed,
}

/// Whether `future` is ready, polled once.
fn poll_once<F: Future<Output = ()>>(future: std::pin::Pin<&mut F>) -> bool {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    future.poll(&mut cx).is_ready()
}
