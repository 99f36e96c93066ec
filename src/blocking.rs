//! A blocking facade over the async [`crate::Engine`], for synchronous hosts, scripts and
//! command-line tools (the pattern of `reqwest::blocking`, or `postgres` over
//! `tokio-postgres`).
//!
//! [`Engine`] owns a small tokio runtime and runs each operation of the async engine on it
//! to completion. It offers the same operations with the same errors, plus one:
//! [`EngineError::BlockingInAsync`] when it is called on a thread that drives async tasks (a
//! runtime's worker thread, or inside `block_on`), where blocking would stall every task of
//! that runtime: there, `.await` the async engine instead. Inside
//! `tokio::task::spawn_blocking` it works. Dropping it never panics, on any thread.
//!
//! ```
//! use chrono::{NaiveDate, TimeDelta, TimeZone, Utc};
//! use recurring_deals::{blocking, *};
//!
//! let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
//! let engine = blocking::Engine::new(InMemoryRepository::new(), clock.clone())?;
//! let start = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap().and_hms_opt(9, 0, 0).unwrap();
//! let mondays = WeekdaySet::new([chrono::Weekday::Mon])?;
//! let weekly = Schedule::builder(Recurrence::weekly(Interval::ONE, mondays), start, Zone::UTC)
//!     .end(End::Count(3))
//!     .build()?;
//! let tenant = TenantId::new("acme")?;
//! let deal = Deal::new("Weekly check", Money::new(100_00, Currency::new("EUR")?))?;
//! engine.create_template(&tenant, TemplateDraft::new(deal, weekly))?;
//! clock.advance(TimeDelta::days(30));
//! assert_eq!(engine.tick()?.created.len(), 3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::future::Future;
use std::task::{Context, Poll, Waker};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use crate::clock::Clock;
use crate::deal::Deal;
use crate::engine::{EngineConfig, EngineError, RuntimeError, TickReport};
use crate::event::OutboxEvent;
use crate::ids::{DealKey, TemplateId, TenantId};
use crate::invoice::{Invoice, InvoiceRecord, InvoiceStatus, OverduePosition};
use crate::planner::{CreatedDeal, PreviewDeal, SkippedOccurrence};
use crate::schedule::{Occurrence, Schedule};
use crate::store::{Page, Repository, RepositoryError, TemplateQuery};
use crate::template::{Template, TemplateDraft};

/// The recurring deals engine, blocking: each method runs the async [`crate::Engine`]'s
/// operation of the same name to completion. Share it between threads through an `Arc`.
pub struct Engine<R: Repository, C: Clock> {
    // Dropped inside the runtime's context (see `Drop`): sqlx pools return connections by
    // spawning onto the runtime that drives them.
    inner: Option<crate::Engine<R, C>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl<R: Repository, C: Clock> std::fmt::Debug for Engine<R, C>
where
    crate::Engine<R, C>: std::fmt::Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("blocking::Engine")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<R: Repository, C: Clock> Engine<R, C> {
    /// An engine with default settings over `repository`.
    ///
    /// # Errors
    /// [`EngineError::Runtime`] when the runtime cannot be started (the OS refused a thread
    /// or an event queue).
    pub fn new(repository: R, clock: C) -> Result<Self, EngineError> {
        Engine::with_config(repository, clock, EngineConfig::default())
    }

    /// An engine with settings.
    ///
    /// # Errors
    /// As [`Engine::new`].
    pub fn with_config(repository: R, clock: C, config: EngineConfig) -> Result<Self, EngineError> {
        let runtime = runtime()?;
        Ok(Engine {
            inner: Some(crate::Engine::with_config(repository, clock, config)),
            runtime: Some(runtime),
        })
    }

    /// An engine over a store that is opened on the engine's own runtime, as a store that
    /// keeps connections (an sqlx pool) must be: `open` is the store's async constructor.
    ///
    /// # Errors
    /// [`EngineError::Repository`] when opening fails; as [`Engine::new`].
    pub fn open<F>(open: F, clock: C, config: EngineConfig) -> Result<Self, EngineError>
    where
        F: Future<Output = Result<R, RepositoryError>>,
    {
        let runtime = runtime()?;
        check_blocking_allowed()?;
        let repository = runtime.block_on(open)?;
        Ok(Engine {
            inner: Some(crate::Engine::with_config(repository, clock, config)),
            runtime: Some(runtime),
        })
    }

    /// The async engine inside.
    pub fn engine(&self) -> &crate::Engine<R, C> {
        self.parts().0
    }

    /// The repository.
    pub fn repository(&self) -> &R {
        self.engine().repository()
    }

    /// The clock.
    pub fn clock(&self) -> &C {
        self.engine().clock()
    }

    /// Runs any future to completion on the engine's runtime, such as a direct read of the
    /// repository.
    ///
    /// # Errors
    /// [`EngineError::BlockingInAsync`].
    pub fn block_on<F: Future>(&self, future: F) -> Result<F::Output, EngineError> {
        check_blocking_allowed()?;
        Ok(self.parts().1.block_on(future))
    }

    /// See [`crate::Engine::tick`].
    ///
    /// # Errors
    /// As the async method, and [`EngineError::BlockingInAsync`].
    pub fn tick(&self) -> Result<TickReport, EngineError> {
        self.run(|e| e.tick())
    }

    /// See [`crate::Engine::next_wake`].
    ///
    /// # Errors
    /// As the async method, and [`EngineError::BlockingInAsync`].
    pub fn next_wake(&self) -> Result<Option<DateTime<Utc>>, EngineError> {
        self.run(|e| e.next_wake())
    }

    /// See [`crate::Engine::create_template`].
    ///
    /// # Errors
    /// As the async method, and [`EngineError::BlockingInAsync`].
    pub fn create_template(
        &self,
        tenant: &TenantId,
        draft: TemplateDraft,
    ) -> Result<Template, EngineError> {
        self.run(|e| e.create_template(tenant, draft))
    }

    /// See [`crate::Engine::template`].
    ///
    /// # Errors
    /// As the async method, and [`EngineError::BlockingInAsync`].
    pub fn template(&self, tenant: &TenantId, id: TemplateId) -> Result<Template, EngineError> {
        self.run(|e| e.template(tenant, id))
    }

    /// See [`crate::Engine::create_now`].
    ///
    /// # Errors
    /// As the async method, and [`EngineError::BlockingInAsync`].
    pub fn create_now(
        &self,
        tenant: &TenantId,
        id: TemplateId,
    ) -> Result<CreatedDeal, EngineError> {
        self.run(|e| e.create_now(tenant, id))
    }

    /// See [`crate::Engine::pause`].
    ///
    /// # Errors
    /// As the async method, and [`EngineError::BlockingInAsync`].
    pub fn pause(
        &self,
        tenant: &TenantId,
        id: TemplateId,
        note: &str,
        resume_on: Option<NaiveDate>,
    ) -> Result<Template, EngineError> {
        self.run(|e| e.pause(tenant, id, note, resume_on))
    }

    /// See [`crate::Engine::resume`].
    ///
    /// # Errors
    /// As the async method, and [`EngineError::BlockingInAsync`].
    pub fn resume(&self, tenant: &TenantId, id: TemplateId) -> Result<Template, EngineError> {
        self.run(|e| e.resume(tenant, id))
    }

    /// See [`crate::Engine::deactivate`].
    ///
    /// # Errors
    /// As the async method, and [`EngineError::BlockingInAsync`].
    pub fn deactivate(&self, tenant: &TenantId, id: TemplateId) -> Result<Template, EngineError> {
        self.run(|e| e.deactivate(tenant, id))
    }

    /// See [`crate::Engine::activate`].
    ///
    /// # Errors
    /// As the async method, and [`EngineError::BlockingInAsync`].
    pub fn activate(&self, tenant: &TenantId, id: TemplateId) -> Result<Template, EngineError> {
        self.run(|e| e.activate(tenant, id))
    }

    /// See [`crate::Engine::edit_schedule`].
    ///
    /// # Errors
    /// As the async method, and [`EngineError::BlockingInAsync`].
    pub fn edit_schedule(
        &self,
        tenant: &TenantId,
        id: TemplateId,
        schedule: Schedule,
    ) -> Result<Template, EngineError> {
        self.run(|e| e.edit_schedule(tenant, id, schedule))
    }

    /// See [`crate::Engine::edit_deal`].
    ///
    /// # Errors
    /// As the async method, and [`EngineError::BlockingInAsync`].
    pub fn edit_deal(
        &self,
        tenant: &TenantId,
        id: TemplateId,
        deal: Deal,
    ) -> Result<Template, EngineError> {
        self.run(|e| e.edit_deal(tenant, id, deal))
    }

    /// See [`crate::Engine::skip_next`].
    ///
    /// # Errors
    /// As the async method, and [`EngineError::BlockingInAsync`].
    pub fn skip_next(&self, tenant: &TenantId, id: TemplateId) -> Result<Occurrence, EngineError> {
        self.run(|e| e.skip_next(tenant, id))
    }

    /// See [`crate::Engine::skip_occurrence`].
    ///
    /// # Errors
    /// As the async method, and [`EngineError::BlockingInAsync`].
    pub fn skip_occurrence(
        &self,
        tenant: &TenantId,
        id: TemplateId,
        seq: u64,
    ) -> Result<Template, EngineError> {
        self.run(|e| e.skip_occurrence(tenant, id, seq))
    }

    /// See [`crate::Engine::move_occurrence`].
    ///
    /// # Errors
    /// As the async method, and [`EngineError::BlockingInAsync`].
    pub fn move_occurrence(
        &self,
        tenant: &TenantId,
        id: TemplateId,
        date: NaiveDate,
        to: NaiveDateTime,
    ) -> Result<Template, EngineError> {
        self.run(|e| e.move_occurrence(tenant, id, date, to))
    }

    /// See [`crate::Engine::delete`].
    ///
    /// # Errors
    /// As the async method, and [`EngineError::BlockingInAsync`].
    pub fn delete(&self, tenant: &TenantId, id: TemplateId) -> Result<(), EngineError> {
        self.run(|e| e.delete(tenant, id))
    }

    /// See [`crate::Engine::forecast`].
    ///
    /// # Errors
    /// As the async method, and [`EngineError::BlockingInAsync`].
    pub fn forecast(
        &self,
        tenant: &TenantId,
        forecaster: &crate::forecast::Forecaster,
    ) -> Result<crate::forecast::Forecast, EngineError> {
        self.run(|e| e.forecast(tenant, forecaster))
    }

    /// See [`crate::Engine::apply_terms_change`].
    ///
    /// # Errors
    /// As the async method, and [`EngineError::BlockingInAsync`].
    pub fn apply_terms_change(
        &self,
        tenant: &TenantId,
        change: &crate::terms::TermsChange,
    ) -> Result<crate::engine::TermsReport, EngineError> {
        self.run(|e| e.apply_terms_change(tenant, change))
    }

    /// See [`crate::Engine::dry_run_terms_change`].
    ///
    /// # Errors
    /// As the async method, and [`EngineError::BlockingInAsync`].
    pub fn dry_run_terms_change(
        &self,
        tenant: &TenantId,
        change: &crate::terms::TermsChange,
        forecaster: &crate::forecast::Forecaster,
    ) -> Result<crate::engine::TermsDryRun, EngineError> {
        self.run(|e| e.dry_run_terms_change(tenant, change, forecaster))
    }

    /// See [`crate::Engine::preview`].
    ///
    /// # Errors
    /// As the async method, and [`EngineError::BlockingInAsync`].
    pub fn preview(
        &self,
        tenant: &TenantId,
        id: TemplateId,
        count: usize,
    ) -> Result<Vec<PreviewDeal>, EngineError> {
        self.run(|e| e.preview(tenant, id, count))
    }

    /// See [`crate::Engine::set_invoice_status`].
    ///
    /// # Errors
    /// As the async method, and [`EngineError::BlockingInAsync`].
    pub fn set_invoice_status(
        &self,
        tenant: &TenantId,
        deal: DealKey,
        status: InvoiceStatus,
    ) -> Result<Invoice, EngineError> {
        self.run(|e| e.set_invoice_status(tenant, deal, status))
    }

    /// See [`crate::Engine::invoice`].
    ///
    /// # Errors
    /// As the async method, and [`EngineError::BlockingInAsync`].
    pub fn invoice(&self, tenant: &TenantId, deal: DealKey) -> Result<Invoice, EngineError> {
        self.run(|e| e.invoice(tenant, deal))
    }

    /// See [`crate::Engine::overdue_invoices`].
    ///
    /// # Errors
    /// As the async method, and [`EngineError::BlockingInAsync`].
    pub fn overdue_invoices(
        &self,
        tenant: &TenantId,
        after: Option<OverduePosition>,
        limit: usize,
    ) -> Result<Vec<Invoice>, EngineError> {
        self.run(|e| e.overdue_invoices(tenant, after, limit))
    }

    /// See [`crate::Engine::invoice_history`].
    ///
    /// # Errors
    /// As the async method, and [`EngineError::BlockingInAsync`].
    pub fn invoice_history(
        &self,
        tenant: &TenantId,
        deal: DealKey,
    ) -> Result<Vec<InvoiceRecord>, EngineError> {
        self.run(|e| e.invoice_history(tenant, deal))
    }

    /// See [`crate::Engine::list`].
    ///
    /// # Errors
    /// As the async method, and [`EngineError::BlockingInAsync`].
    pub fn list(
        &self,
        tenant: &TenantId,
        query: &TemplateQuery,
    ) -> Result<Page<Template>, EngineError> {
        self.run(|e| e.list(tenant, query))
    }

    /// See [`crate::Engine::count_live`].
    ///
    /// # Errors
    /// As the async method, and [`EngineError::BlockingInAsync`].
    pub fn count_live(&self, tenant: &TenantId) -> Result<u64, EngineError> {
        self.run(|e| e.count_live(tenant))
    }

    /// See [`crate::Engine::deals`].
    ///
    /// # Errors
    /// As the async method, and [`EngineError::BlockingInAsync`].
    pub fn deals(
        &self,
        tenant: &TenantId,
        template: Option<TemplateId>,
    ) -> Result<Vec<CreatedDeal>, EngineError> {
        self.run(|e| e.deals(tenant, template))
    }

    /// See [`crate::Engine::deal`].
    ///
    /// # Errors
    /// As the async method, and [`EngineError::BlockingInAsync`].
    pub fn deal(
        &self,
        tenant: &TenantId,
        key: DealKey,
    ) -> Result<Option<CreatedDeal>, EngineError> {
        self.run(|e| e.deal(tenant, key))
    }

    /// See [`crate::Engine::skipped`].
    ///
    /// # Errors
    /// As the async method, and [`EngineError::BlockingInAsync`].
    pub fn skipped(
        &self,
        tenant: &TenantId,
        template: Option<TemplateId>,
    ) -> Result<Vec<SkippedOccurrence>, EngineError> {
        self.run(|e| e.skipped(tenant, template))
    }

    /// See [`crate::Engine::outbox`].
    ///
    /// # Errors
    /// As the async method, and [`EngineError::BlockingInAsync`].
    pub fn outbox(&self, limit: usize) -> Result<Vec<OutboxEvent>, EngineError> {
        self.run(|e| e.outbox(limit))
    }

    /// See [`crate::Engine::tenant_outbox`].
    ///
    /// # Errors
    /// As the async method, and [`EngineError::BlockingInAsync`].
    pub fn tenant_outbox(
        &self,
        tenant: &TenantId,
        limit: usize,
    ) -> Result<Vec<OutboxEvent>, EngineError> {
        self.run(|e| e.tenant_outbox(tenant, limit))
    }

    /// See [`crate::Engine::ack`].
    ///
    /// # Errors
    /// As the async method, and [`EngineError::BlockingInAsync`].
    pub fn ack(&self, ids: &[u64]) -> Result<(), EngineError> {
        self.run(|e| e.ack(ids))
    }

    /// See [`crate::Engine::tenant_ack`].
    ///
    /// # Errors
    /// As the async method, and [`EngineError::BlockingInAsync`].
    pub fn tenant_ack(&self, tenant: &TenantId, ids: &[u64]) -> Result<(), EngineError> {
        self.run(|e| e.tenant_ack(tenant, ids))
    }

    fn parts(&self) -> (&crate::Engine<R, C>, &tokio::runtime::Runtime) {
        match (&self.inner, &self.runtime) {
            (Some(engine), Some(runtime)) => (engine, runtime),
            // Both are `Some` from construction until `drop` takes them.
            _ => unreachable!("the blocking engine is used after drop"),
        }
    }

    fn run<'a, T, F>(
        &'a self,
        operation: impl FnOnce(&'a crate::Engine<R, C>) -> F,
    ) -> Result<T, EngineError>
    where
        F: Future<Output = Result<T, EngineError>> + 'a,
    {
        check_blocking_allowed()?;
        let (engine, runtime) = self.parts();
        runtime.block_on(operation(engine))
    }
}

impl<R: Repository, C: Clock> Drop for Engine<R, C> {
    fn drop(&mut self) {
        let Some(runtime) = self.runtime.take() else {
            return;
        };
        {
            // Whatever the engine's store spawns while closing lands on its own runtime.
            let _context = runtime.enter();
            drop(self.inner.take());
        }
        if tokio::runtime::Handle::try_current().is_ok() {
            // Dropping a runtime waits for its threads, which a thread inside another
            // runtime must not do (tokio panics); let them finish in the background.
            runtime.shutdown_background();
        } else {
            drop(runtime);
        }
    }
}

/// The facade's runtime: one worker for what the store spawns (an sqlx pool's
/// maintenance); each call runs on the caller's thread inside `block_on`, so several threads
/// can call one engine at once.
fn runtime() -> Result<tokio::runtime::Runtime, EngineError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("recurring-deals-blocking")
        .enable_all()
        .build()
        .map_err(|error| EngineError::Runtime(RuntimeError::new(error)))
}

/// Refuses to block a thread that is driving async tasks.
///
/// tokio panics when `block_on` is called there, and has no public way to ask whether a
/// thread is such a thread rather than a `spawn_blocking` thread (both are inside a runtime's
/// context). What differs is the cooperative-scheduling budget: a runtime polls each task
/// (and each `block_on` future) with a limited budget, while `spawn_blocking` and threads
/// outside any runtime run unconstrained. Drawing on the budget until it says "yield" tells
/// which, and dropping the guards in reverse order gives every unit back.
fn check_blocking_allowed() -> Result<(), EngineError> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Ok(());
    }
    let mut cx = Context::from_waker(Waker::noop());
    let mut guards = Vec::new();
    let mut constrained = false;
    // A task's budget is 128 units per poll; an unconstrained one never runs out.
    for _ in 0..=256 {
        match tokio::task::coop::poll_proceed(&mut cx) {
            Poll::Ready(guard) => guards.push(guard),
            Poll::Pending => {
                constrained = true;
                break;
            }
        }
    }
    while let Some(guard) = guards.pop() {
        drop(guard);
    }
    if constrained {
        Err(EngineError::BlockingInAsync)
    } else {
        Ok(())
    }
}
