//! The engine: ticks that create deals on schedule, and the lifecycle of templates.
//!
//! The run loop of a host: read the clock, load what is due, plan (pure), commit (a batch of
//! templates per store transaction), sleep until the next wake-up. [`Engine::tick`] does one
//! round; lifecycle operations load a template, apply a pure transition
//! ([`Template::pause`], ...) and commit it with a version check, retrying lost races.

mod changes;
mod config;
mod error;
mod invoices;
mod limits;
mod outbox;
mod terms;
mod tick;
mod views;
mod zones;

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Utc};
use tokio::sync::Notify;

use crate::clock::Clock;
use crate::deal::Deal;
use crate::event::OutboxEvent;
use crate::forecast::{Forecast, Forecaster};
use crate::ids::{DealKey, TemplateId, TenantId};
use crate::invoice::{
    self, DunningAction, Invoice, InvoiceEntry, InvoiceRecord, InvoiceStatus, OverduePosition,
};
use crate::lifecycle::{self, Change};
use crate::observe::{self, instrumented};
use crate::planner::{self, CreatedDeal, PreviewDeal, SkippedOccurrence};
use crate::schedule::{Occurrence, Schedule};
use crate::store::{
    Commit, CommitOutcome, Page, Repository, RepositoryError, Share, TemplateQuery,
};
use crate::template::{Failure, Template, TemplateDraft, TemplateState};
use crate::zone::resolve_local;

pub use config::{ConfigError, ConflictRetry, EngineConfig, EngineConfigBuilder};
pub use error::{EngineError, RuntimeError};
pub use limits::DealLimits;
pub use terms::{TemplateTerms, TermsDryRun, TermsOutcome, TermsReport};
pub use zones::{ZoneReplan, ZoneReplanned};

use tick::planned_commit;

/// What one tick did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct TickReport {
    /// The tick's instant.
    pub at: DateTime<Utc>,
    /// Deals created. Also the deals of an earlier tick's commit whose outcome could not be
    /// learned then (its reply was lost and the store did not answer the read-back either):
    /// they are read back at the start of a later tick and reported there, once, so the
    /// reports of an engine add up to what it stored.
    pub created: Vec<DealKey>,
    /// Occurrences skipped, with reasons.
    pub skipped: Vec<SkippedOccurrence>,
    /// Payment reminders sent.
    pub reminders: usize,
    /// Dunning steps sent.
    pub dunning_steps: usize,
    /// Final actions of dunning steps carried out (templates stopped).
    pub dunning_actions: usize,
    /// Events written to the outbox.
    pub events: usize,
    /// Templates whose commit failed (recorded on them, retried with back-off).
    pub failures: Vec<TickFailure>,
    /// Batches the store failed as a whole (a lost connection, say), each then committed
    /// template by template: the first error of each. A template that still failed is in
    /// `failures` too.
    pub batch_failures: Vec<RepositoryError>,
    /// Store reads after the tick had committed work that failed: taking over other
    /// workers' waiting templates, loading due invoices, or reading the next wake-up. The
    /// tick's report stands (what it committed is reported, not lost with an error); the
    /// work these reads would have found is left to the next tick, and
    /// [`TickReport::next_wake`] is `None` if its read failed (a runner then retries after
    /// its `error_retry`).
    pub read_failures: Vec<RepositoryError>,
    /// Templates another worker changed first (they will be seen again).
    pub conflicts: usize,
    /// Deals found already created (a retried commit that had landed).
    pub already_created: usize,
    /// Whether more work was due than one tick takes: tick again now.
    pub more_due: bool,
    /// When the engine next has work.
    pub next_wake: Option<DateTime<Utc>>,
    /// What planning next runs again under changed zone rules did, when the tick did it
    /// first (its first run, or the first after [`crate::tz::load`]):
    /// [`Engine::replan_zones`].
    pub replanned: Option<ZoneReplan>,
}

/// A template whose commit failed during a tick.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TickFailure {
    /// The template.
    pub template: TemplateId,
    /// What the store said.
    pub error: RepositoryError,
}

/// The recurring deals engine over a repository and a clock. Every operation is `async` and
/// its future is `Send`: share one engine between a service's tasks through an `Arc`.
///
/// ```
/// use chrono::{NaiveDate, TimeDelta, TimeZone, Utc};
/// use recurring_deals::*;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
/// let engine = Engine::new(InMemoryRepository::new(), clock.clone());
/// let tenant = TenantId::new("acme")?;
/// let start = NaiveDate::from_ymd_opt(2026, 1, 31).unwrap().and_hms_opt(9, 0, 0).unwrap();
/// let schedule = Schedule::builder(
///     Recurrence::monthly(Interval::ONE, MonthDay::Day(DayOfMonth::new(31)?)),
///     start,
///     Zone::get("Europe/Moscow")?,
/// )
/// .end(End::Count(3))
/// .build()?;
/// let deal = Deal::new("Support", Money::new(1_000_00, Currency::new("RUB")?))?;
/// engine.create_template(&tenant, TemplateDraft::new(deal, schedule)).await?;
/// clock.advance(TimeDelta::days(120));
/// let report = engine.tick().await?;
/// assert_eq!(report.created.len(), 3); // Jan 31, Feb 28, Mar 31: caught up
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Engine<R: Repository, C: Clock> {
    repository: R,
    clock: C,
    config: EngineConfig,
    /// Signalled after every change this engine commits outside a tick (and by
    /// [`Engine::notify`]): what wakes a [`crate::Runner`] early.
    changes: Arc<Notify>,
    /// The zone rules generation [`Engine::replan_zones`] last ran under (`u64::MAX`:
    /// never).
    rules_seen: std::sync::atomic::AtomicU64,
    /// The zones whose rules this engine has recorded (or found recorded) for new
    /// templates, under the rules generation kept with them.
    zones_recorded: std::sync::Mutex<(u64, std::collections::HashSet<&'static str>)>,
    /// Commits whose outcome is unknown (see [`TickReport::created`]), read back next tick;
    /// at most [`tick::UNRESOLVED_KEPT`].
    unresolved: std::sync::Mutex<std::collections::VecDeque<tick::Unresolved>>,
}

/// One try of a read-change-write operation.
enum Attempt<T> {
    /// Done, with the result.
    Done(T),
    /// Another writer changed the row first: read again and retry.
    Conflict,
    /// The row is gone.
    Missing,
}

impl<R: Repository, C: Clock> Engine<R, C> {
    /// An engine with default settings.
    pub fn new(repository: R, clock: C) -> Self {
        Engine::with_config(repository, clock, EngineConfig::default())
    }

    /// An engine with settings.
    pub fn with_config(repository: R, clock: C, config: EngineConfig) -> Self {
        observe::engine_started();
        Engine {
            repository,
            clock,
            config,
            changes: Arc::new(Notify::new()),
            rules_seen: std::sync::atomic::AtomicU64::new(u64::MAX),
            zones_recorded: std::sync::Mutex::new((u64::MAX, std::collections::HashSet::new())),
            unresolved: std::sync::Mutex::new(std::collections::VecDeque::new()),
        }
    }

    /// Tells a [`crate::Runner`] of this engine that something changed which it cannot
    /// see by itself: a template created or edited in the host's own transaction, or by
    /// another process on the same SQLite file. The engine's own operations notify on
    /// their own. A notification while the runner is busy is kept, so none is lost.
    pub fn notify(&self) {
        self.changes.notify_one();
    }

    /// What [`Engine::notify`] signals.
    pub(crate) fn changes(&self) -> &Notify {
        &self.changes
    }

    /// The repository.
    pub fn repository(&self) -> &R {
        &self.repository
    }

    /// The clock.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// The settings.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// `call`, bounded by [`EngineConfig::store_timeout`]: past it the call is dropped
    /// (with its connection) and fails with [`RepositoryError::Timeout`].
    pub(crate) async fn bounded<T>(
        &self,
        call: impl Future<Output = Result<T, RepositoryError>>,
    ) -> Result<T, RepositoryError> {
        match self.config.store_timeout() {
            None => call.await,
            Some(after) => tokio::time::timeout(after, call)
                .await
                .unwrap_or(Err(RepositoryError::Timeout { after })),
        }
    }

    /// [`Engine::bounded`] for a batch of commits: past the bound, every commit of it fails.
    pub(crate) async fn bounded_batch(
        &self,
        commits: Vec<Commit>,
    ) -> Vec<Result<CommitOutcome, RepositoryError>> {
        let n = commits.len();
        let call = self.repository.commit_batch(commits);
        match self.config.store_timeout() {
            None => call.await,
            Some(after) => match tokio::time::timeout(after, call).await {
                Ok(outcomes) => outcomes,
                Err(_) => (0..n)
                    .map(|_| Err(RepositoryError::Timeout { after }))
                    .collect(),
            },
        }
    }
}
