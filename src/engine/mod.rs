//! The engine: ticks that create deals on schedule, and the lifecycle of templates.
//!
//! The run loop of a host: read the clock, load what is due, plan (pure), commit (a batch of
//! templates per store transaction), sleep until the next wake-up. [`Engine::tick`] does one
//! round; lifecycle operations load a template, apply a pure transition
//! ([`Template::pause`], ...) and commit it with a version check, retrying lost races.

mod config;
mod error;
mod limits;
mod terms;

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

/// What one tick did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct TickReport {
    /// The tick's instant.
    pub at: DateTime<Utc>,
    /// Deals created.
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
    /// Templates another worker changed first (they will be seen again).
    pub conflicts: usize,
    /// Deals found already created (a retried commit that had landed).
    pub already_created: usize,
    /// Whether more work was due than one tick takes: tick again now.
    pub more_due: bool,
    /// When the engine next has work.
    pub next_wake: Option<DateTime<Utc>>,
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
///     chrono_tz::Europe::Moscow,
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
        Engine {
            repository,
            clock,
            config,
            changes: Arc::new(Notify::new()),
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

    /// One round: reads the clock once, loads the due templates and invoices, plans each and
    /// commits them in batches. A template whose commit fails gets the failure recorded and
    /// is retried with back-off; it never blocks the others and is never switched off.
    ///
    /// # Errors
    /// [`EngineError::Repository`] only when the due work cannot even be loaded.
    pub async fn tick(&self) -> Result<TickReport, EngineError> {
        let now = self.clock.now();
        instrumented!(self.tick_at(now), tracing::Level::INFO, "tick", at = %now).await
    }

    async fn tick_at(&self, now: DateTime<Utc>) -> Result<TickReport, EngineError> {
        let timer = observe::tick_started();
        let mut report = TickReport {
            at: now,
            ..TickReport::default()
        };
        let batch_size = self.config.batch_size();
        let share = self.config.share();
        let due = self.repository.due_share(now, share, batch_size).await?;
        report.more_due = due.len() >= batch_size;
        for batch in due.chunks(self.config.commit_batch()) {
            self.run_batch(batch, now, &mut report).await;
        }
        let mut loaded = due.len();
        let waiting_since = now.checked_sub_signed(self.config.steal_after());
        if let (false, Some(since)) = (share == Share::ALL || report.more_due, waiting_since) {
            // This worker's share is done: take what the other shares have left waiting.
            let want = batch_size - due.len();
            let waiting = self.repository.due_templates(since, want).await?;
            report.more_due = waiting.len() >= want;
            loaded += waiting.len();
            let theirs: Vec<Template> = waiting
                .into_iter()
                .filter(|template| !share.contains(template.id))
                .collect();
            self.run_stolen(&theirs, now, &mut report).await;
        }
        let invoices = self.repository.due_invoices(now, batch_size).await?;
        report.more_due |= invoices.len() >= batch_size;
        for invoice in invoices {
            self.run_invoice(invoice, now, &mut report).await;
        }
        report.next_wake = self.wake_of(share).await?;
        timer.finished(&report, loaded);
        Ok(report)
    }

    /// Sends what is due of one invoice and carries out a pending final action. A conflict
    /// means another worker did it; a failure is retried on the next tick (the invoice stays
    /// due), and a final action recorded but not carried out survives a crash the same way.
    async fn run_invoice(&self, invoice: Invoice, now: DateTime<Utc>, report: &mut TickReport) {
        let plan = invoice::plan_invoice(&invoice, now);
        let mut current = plan.invoice;
        if current != invoice {
            let sent = plan.events.len();
            match self
                .repository
                .commit_invoice(current.clone(), plan.events)
                .await
            {
                Ok(CommitOutcome::Committed { version, .. }) => {
                    current.version = version;
                    report.reminders += plan.reminders;
                    report.dunning_steps += plan.dunning_steps;
                    report.events += sent;
                }
                _ => return,
            }
        }
        let Some(pending) = current.pending_action else {
            return;
        };
        let changed = match pending.action {
            DunningAction::StopTemplate => {
                match self
                    .stop_template(&current.tenant, current.deal.template())
                    .await
                {
                    Ok(changed) => changed,
                    Err(_) => return,
                }
            }
            // Carried out by the host on the step's event.
            DunningAction::HandOver => false,
        };
        let done = invoice::action_done(&current, changed, now);
        if let Ok(CommitOutcome::Committed { .. }) =
            self.repository.commit_invoice(done, Vec::new()).await
        {
            report.dunning_actions += 1;
        }
    }

    /// Deactivates a template for a dunning ladder's final action: whether it changed
    /// anything (`false` when it was already inactive, finished or deleted).
    async fn stop_template(&self, tenant: &TenantId, id: TemplateId) -> Result<bool, EngineError> {
        let Some(template) = self.repository.template(tenant, id).await? else {
            return Ok(false);
        };
        if matches!(
            template.state,
            TemplateState::Inactive | TemplateState::Finished
        ) {
            return Ok(false);
        }
        match self.deactivate(tenant, id).await {
            Ok(_) => Ok(true),
            Err(EngineError::UnknownTemplate { .. } | EngineError::Finished(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Commits other shares' templates, starting at this worker's place in the list so that
    /// the workers taking them do not all reach for the same ones first.
    async fn run_stolen(&self, due: &[Template], now: DateTime<Utc>, report: &mut TickReport) {
        let batches: Vec<&[Template]> = due.chunks(self.config.commit_batch()).collect();
        // Both are below 10,000 (checked by the config), so the product cannot overflow.
        let first = self.config.worker_index() * batches.len() / self.config.worker_count();
        for k in 0..batches.len() {
            let batch = batches[(first + k) % batches.len()];
            let result = self.run_batch(batch, now, report).await;
            if result == BatchResult::AllConflicted && batch.len() > 1 && k + 1 < batches.len() {
                // Another worker got there first: the rest of this list is likely taken too.
                // A fresh list (next tick) no longer holds what it committed.
                report.more_due = true;
                break;
            }
        }
    }

    /// Plans `templates` and commits them as one batch. A batch the store failed as a whole is
    /// retried template by template, so one bad template cannot fail the others.
    async fn run_batch(
        &self,
        templates: &[Template],
        now: DateTime<Utc>,
        report: &mut TickReport,
    ) -> BatchResult {
        let mut summaries = Vec::with_capacity(templates.len());
        let mut commits = Vec::with_capacity(templates.len());
        for template in templates {
            #[cfg(feature = "tracing")]
            let _span =
                tracing::trace_span!("plan", tenant = %template.tenant, template = %template.id)
                    .entered();
            let (summary, commit) = planned_commit(template, now);
            summaries.push(summary);
            commits.push(commit);
        }
        let mut conflicts = 0;
        let mut batch_failed = false;
        let outcomes = instrumented!(
            self.repository.commit_batch(commits),
            tracing::Level::DEBUG,
            "commit",
            templates = templates.len()
        );
        let mut outcomes = outcomes.await.into_iter();
        for (template, summary) in templates.iter().zip(summaries) {
            let outcome = outcomes.next().unwrap_or_else(|| {
                Err(RepositoryError::Refused {
                    reason: "the store returned fewer outcomes than commits".into(),
                })
            });
            match outcome {
                Err(error) if templates.len() > 1 => {
                    if !batch_failed {
                        batch_failed = true;
                        observe::commit_failed(&template.tenant, template.id, &error);
                        report.batch_failures.push(error);
                    }
                    let (summary, commit) = planned_commit(template, now);
                    let outcome = self.repository.commit(commit).await;
                    self.apply_outcome(template, summary, outcome, now, report)
                        .await;
                }
                outcome => {
                    conflicts += usize::from(matches!(outcome, Ok(CommitOutcome::Conflict)));
                    self.apply_outcome(template, summary, outcome, now, report)
                        .await;
                }
            }
        }
        if conflicts == templates.len() {
            BatchResult::AllConflicted
        } else {
            BatchResult::Progress
        }
    }

    /// Reports a commit's outcome; a failure is recorded on the template.
    async fn apply_outcome(
        &self,
        template: &Template,
        summary: PlanSummary,
        outcome: Result<CommitOutcome, RepositoryError>,
        now: DateTime<Utc>,
        report: &mut TickReport,
    ) {
        match outcome {
            Ok(CommitOutcome::Committed {
                already_created, ..
            }) => {
                report.already_created += already_created.len();
                report.created.extend(
                    summary
                        .created
                        .into_iter()
                        .filter(|k| !already_created.contains(k)),
                );
                report.skipped.extend(summary.skipped);
                report.events += summary.events;
                report.more_due |= summary.more;
            }
            Ok(CommitOutcome::Conflict) => report.conflicts += 1,
            Ok(CommitOutcome::Missing) => {}
            Err(error) => {
                observe::commit_failed(&template.tenant, template.id, &error);
                self.record_failure(template, &error, now).await;
                report.failures.push(TickFailure {
                    template: template.id,
                    error,
                });
            }
        }
    }

    /// Records a failed attempt on the template and schedules a retry with exponential
    /// back-off. If even this write fails, the template stays due and is retried next tick.
    async fn record_failure(
        &self,
        template: &Template,
        error: &RepositoryError,
        now: DateTime<Utc>,
    ) {
        let attempts = template
            .failure
            .as_ref()
            .map_or(1, |f| f.attempts.saturating_add(1));
        let delay = self.config.failure_delay(attempts);
        let retry_at = now.checked_add_signed(delay).unwrap_or(now);
        let mut failed = template.clone();
        failed.counters.failed += 1;
        failed.failure = Some(Failure {
            attempts,
            error: error.chain(),
            retry_at,
        });
        failed.next_run = Some(retry_at);
        let _ = self.repository.commit(Commit::template_only(failed)).await;
    }

    /// When the engine next has work (for the host's sleep): the earliest next run or
    /// reminder; for one of several workers ([`EngineConfigBuilder::worker`]), its own
    /// share's earliest next run, or another share's once that has waited
    /// [`EngineConfig::steal_after`].
    ///
    /// # Errors
    /// [`EngineError::Repository`] when the store fails.
    pub async fn next_wake(&self) -> Result<Option<DateTime<Utc>>, EngineError> {
        Ok(self.wake_of(self.config.share()).await?)
    }

    async fn wake_of(&self, share: Share) -> Result<Option<DateTime<Utc>>, RepositoryError> {
        if share == Share::ALL {
            return self.repository.next_wake().await;
        }
        let own = self.repository.next_wake_share(share).await?;
        let any = self.repository.next_wake().await?;
        let theirs = any.and_then(|at| at.checked_add_signed(self.config.steal_after()));
        Ok(own.into_iter().chain(theirs).min())
    }

    /// Builds a template as [`Engine::create_template`] does (checking the tenant's limit and
    /// allocating its id) without storing it: for a host that inserts it inside its own
    /// database transaction (`SqliteStore::insert_template_in`,
    /// `PostgresStore::insert_template_in`), so the template commits or rolls back with the
    /// host's rows. A template whose series is already over is finished by its first tick.
    ///
    /// # Errors
    /// As [`Engine::create_template`].
    pub async fn new_template(
        &self,
        tenant: &TenantId,
        draft: TemplateDraft,
    ) -> Result<Template, EngineError> {
        self.config.deal_limits().check(&draft.deal)?;
        self.check_limit(tenant).await?;
        let now = self.clock.now();
        let id = self.repository.allocate_template_id().await?;
        let mut template = draft.into_template(tenant.clone(), id)?;
        let today = template.schedule.today(now);
        let midnight = resolve_local(template.schedule.zone(), today.and_time(NaiveTime::MIN));
        if template
            .schedule
            .occurrences()
            .next()
            .is_some_and(|first| first.at() < midnight)
        {
            template.cursor = Some(midnight - TimeDelta::seconds(1));
        }
        planner::skip_past_notices(&mut template, now);
        template.next_run = lifecycle::next_run(&template);
        Ok(template)
    }

    /// Creates a template: from a new deal, or from an existing one (set
    /// [`TemplateDraft::based_on`]; the original stays an ordinary deal). Past days of the
    /// schedule are not back-filled: the first deal is today's occurrence (in the schedule's
    /// zone) or the first after it.
    ///
    /// # Errors
    /// [`EngineError::TenantLimit`] when the tenant's plan allows no more templates; the
    /// validation errors of the draft as [`EngineError::Invalid`]
    /// ([`crate::ValidationError::OffsetOutOfRange`], [`crate::ValidationError::SplitShares`],
    /// [`crate::ValidationError::CurrencyMismatch`], ...); [`EngineError::DealTooLarge`].
    pub async fn create_template(
        &self,
        tenant: &TenantId,
        draft: TemplateDraft,
    ) -> Result<Template, EngineError> {
        let template = self.new_template(tenant, draft).await?;
        let (id, now) = (template.id, self.clock.now());
        self.repository.insert_template(&template).await?;
        self.notify();
        if template.finish_if_over(now).is_some() {
            // Its series is already over: finish it through a commit, which announces it.
            return self
                .change(tenant, id, |template, now| Ok(template.finish_if_over(now)))
                .await;
        }
        Ok(template)
    }

    /// A template of the tenant.
    ///
    /// # Errors
    /// [`EngineError::UnknownTemplate`].
    pub async fn template(
        &self,
        tenant: &TenantId,
        id: TemplateId,
    ) -> Result<Template, EngineError> {
        self.repository
            .template(tenant, id)
            .await?
            .ok_or_else(|| EngineError::UnknownTemplate {
                tenant: tenant.clone(),
                id,
            })
    }

    /// Creates one deal now, by hand. It does not shift the schedule and does not use up the
    /// count (a limited series still creates all its scheduled deals); it works on finished
    /// templates too.
    ///
    /// # Errors
    /// [`EngineError::UnknownTemplate`]; [`EngineError::Conflict`] after repeated concurrent
    /// changes; [`EngineError::Repository`].
    pub async fn create_now(
        &self,
        tenant: &TenantId,
        id: TemplateId,
    ) -> Result<CreatedDeal, EngineError> {
        self.retry(tenant, id, || async {
            let template = self.template(tenant, id).await?;
            let plan = planner::plan_manual(&template, self.clock.now());
            let Some(deal) = plan.deals.first().cloned() else {
                return Ok(Attempt::Missing);
            };
            Ok(match self.repository.commit(Commit::from(plan)).await? {
                CommitOutcome::Committed { .. } => {
                    self.notify();
                    Attempt::Done(deal)
                }
                CommitOutcome::Missing => Attempt::Missing,
                _ => Attempt::Conflict,
            })
        })
        .await
    }

    /// Pauses a template: nothing is created until it is resumed, by hand or on `resume_on`
    /// (a civil date in the schedule's zone). What fell due before the pause is created (or
    /// skipped by the catch-up policy) first. Pausing a paused template changes nothing.
    ///
    /// # Errors
    /// [`EngineError::UnknownTemplate`]; [`EngineError::Finished`];
    /// [`EngineError::TenantLimit`] for an inactive template over the tenant's limit.
    pub async fn pause(
        &self,
        tenant: &TenantId,
        id: TemplateId,
        note: &str,
        resume_on: Option<NaiveDate>,
    ) -> Result<Template, EngineError> {
        // A paused template is live (it counts against the tenant's limit); an inactive one
        // is not.
        if self.template(tenant, id).await?.state == TemplateState::Inactive {
            self.check_limit(tenant).await?;
        }
        self.settle(tenant, id).await?;
        self.change(tenant, id, |template, now| {
            Ok(template.pause(note, resume_on, now)?)
        })
        .await
    }

    /// Resumes a paused or inactive template. By its [`crate::ResumePolicy`], the occurrences
    /// of the paused span are skipped (recorded with reason `paused`) or caught up. Resuming
    /// an active template changes nothing.
    ///
    /// # Errors
    /// [`EngineError::UnknownTemplate`]; [`EngineError::Finished`];
    /// [`EngineError::TenantLimit`] for an inactive template over the tenant's limit.
    pub async fn resume(&self, tenant: &TenantId, id: TemplateId) -> Result<Template, EngineError> {
        if self.template(tenant, id).await?.state == TemplateState::Inactive {
            self.check_limit(tenant).await?;
        }
        self.change(tenant, id, |template, now| Ok(template.resume(now)?))
            .await
    }

    /// Switches a template off until [`Engine::activate`]. What fell due before is created
    /// (or skipped by the catch-up policy) first.
    ///
    /// # Errors
    /// [`EngineError::UnknownTemplate`]; [`EngineError::Finished`].
    pub async fn deactivate(
        &self,
        tenant: &TenantId,
        id: TemplateId,
    ) -> Result<Template, EngineError> {
        self.settle(tenant, id).await?;
        self.change(tenant, id, |template, now| Ok(template.deactivate(now)?))
            .await
    }

    /// Switches an inactive template on again (as [`Engine::resume`]).
    ///
    /// # Errors
    /// As [`Engine::resume`].
    pub async fn activate(
        &self,
        tenant: &TenantId,
        id: TemplateId,
    ) -> Result<Template, EngineError> {
        self.resume(tenant, id).await
    }

    /// Replaces the schedule from the next occurrence on ([`Template::edit_schedule`]):
    /// what the old schedule made due is settled first, deals already created are
    /// untouched, and the count carries over.
    ///
    /// # Errors
    /// [`EngineError::UnknownTemplate`]; [`EngineError::Finished`]; [`EngineError::Schedule`].
    pub async fn edit_schedule(
        &self,
        tenant: &TenantId,
        id: TemplateId,
        schedule: Schedule,
    ) -> Result<Template, EngineError> {
        self.settle(tenant, id).await?;
        self.change(tenant, id, |template, now| {
            Ok(Some(template.edit_schedule(&schedule, now)?))
        })
        .await
    }

    /// Replaces the template deal; deals already created are untouched.
    ///
    /// # Errors
    /// [`EngineError::UnknownTemplate`]; [`EngineError::Finished`]; the deal's validation
    /// errors.
    pub async fn edit_deal(
        &self,
        tenant: &TenantId,
        id: TemplateId,
        deal: Deal,
    ) -> Result<Template, EngineError> {
        deal.validate()?;
        self.config.deal_limits().check(&deal)?;
        self.change(tenant, id, |template, now| {
            Ok(Some(template.edit_deal(&deal, now)?))
        })
        .await
    }

    /// Skips the next occurrence (recorded with reason `requested`; it does not use up the
    /// count) and returns it.
    ///
    /// # Errors
    /// [`EngineError::UnknownTemplate`]; [`EngineError::Finished`];
    /// [`EngineError::NoSuchOccurrence`] when no occurrence is left.
    pub async fn skip_next(
        &self,
        tenant: &TenantId,
        id: TemplateId,
    ) -> Result<Occurrence, EngineError> {
        let template = self.template(tenant, id).await?;
        let next = template
            .next_occurrence()
            .ok_or(EngineError::NoSuchOccurrence {
                template: id,
                seq: 0,
            })?;
        self.skip_occurrence(tenant, id, next.seq()).await?;
        Ok(next)
    }

    /// Skips the occurrence `seq` of the current schedule revision.
    ///
    /// # Errors
    /// [`EngineError::UnknownTemplate`]; [`EngineError::Finished`];
    /// [`EngineError::NoSuchOccurrence`] when it is not a coming occurrence.
    pub async fn skip_occurrence(
        &self,
        tenant: &TenantId,
        id: TemplateId,
        seq: u64,
    ) -> Result<Template, EngineError> {
        self.change(tenant, id, |template, now| {
            Ok(template.skip_occurrence(seq, now)?)
        })
        .await
    }

    /// Moves the occurrence on `date` to another local date and time; it keeps its key.
    ///
    /// # Errors
    /// [`EngineError::UnknownTemplate`]; [`EngineError::Finished`];
    /// [`EngineError::AlreadyProcessed`]; [`EngineError::Schedule`] when `date` is not an
    /// occurrence or `to` collides with one.
    pub async fn move_occurrence(
        &self,
        tenant: &TenantId,
        id: TemplateId,
        date: NaiveDate,
        to: NaiveDateTime,
    ) -> Result<Template, EngineError> {
        self.change(tenant, id, |template, now| {
            Ok(Some(template.move_occurrence(date, to, now)?))
        })
        .await
    }

    /// Deletes a template; the deals it created stay.
    ///
    /// # Errors
    /// [`EngineError::UnknownTemplate`]; [`EngineError::Conflict`].
    pub async fn delete(&self, tenant: &TenantId, id: TemplateId) -> Result<(), EngineError> {
        self.retry(tenant, id, || async {
            let template = self.template(tenant, id).await?;
            Ok(
                match self
                    .repository
                    .delete_template(tenant, id, template.version)
                    .await?
                {
                    CommitOutcome::Committed { .. } => {
                        self.notify();
                        Attempt::Done(())
                    }
                    CommitOutcome::Missing => Attempt::Missing,
                    _ => Attempt::Conflict,
                },
            )
        })
        .await
    }

    /// The forecast of `tenant`'s templates over the forecaster's range, by its period and
    /// grouping ([`Forecaster`]): what ticking at each wake-up over the range creates. The
    /// templates are read a page of 1,000 at a time ([`Repository::scan_templates`]), never
    /// all at once.
    ///
    /// # Errors
    /// [`EngineError::Repository`] when the store fails.
    pub async fn forecast(
        &self,
        tenant: &TenantId,
        forecaster: &Forecaster,
    ) -> Result<Forecast, EngineError> {
        const PAGE: usize = 1_000;
        let mut forecast = Forecast::default();
        let mut after = None;
        loop {
            let scan = self.repository.scan_templates(tenant, after, PAGE).await?;
            for template in &scan.items {
                forecaster.add(template, &mut forecast);
            }
            match scan.next {
                Some(next) => after = Some(next),
                None => return Ok(forecast),
            }
        }
    }

    /// The next `count` deals the template will create (dates, amounts): the planner's own
    /// decisions, exactly what ticking now and then on time will do.
    ///
    /// # Errors
    /// [`EngineError::UnknownTemplate`]; [`EngineError::PreviewTooLong`] when `count` is
    /// over [`EngineConfig::max_preview`].
    pub async fn preview(
        &self,
        tenant: &TenantId,
        id: TemplateId,
        count: usize,
    ) -> Result<Vec<PreviewDeal>, EngineError> {
        let max = self.config.max_preview();
        if count > max {
            return Err(EngineError::PreviewTooLong { count, max });
        }
        Ok(planner::preview(
            &self.template(tenant, id).await?,
            self.clock.now(),
            count,
        ))
    }

    /// Records that an invoice was paid or voided (no more reminders), or reopened.
    ///
    /// # Errors
    /// [`EngineError::UnknownInvoice`]; [`EngineError::Conflict`].
    pub async fn set_invoice_status(
        &self,
        tenant: &TenantId,
        deal: DealKey,
        status: InvoiceStatus,
    ) -> Result<Invoice, EngineError> {
        let unknown = || EngineError::UnknownInvoice {
            tenant: tenant.clone(),
            deal,
        };
        let outcome = self
            .retry(tenant, deal.template(), || async {
                let Some(mut invoice) = self.repository.invoice(tenant, deal).await? else {
                    return Ok(Attempt::Missing);
                };
                // Pending reminders are kept: a paid or voided invoice is not reminded of (it
                // has no next reminder), and a reopened one gets its remaining reminders.
                if invoice.status != status {
                    let entry = InvoiceEntry::StatusChanged {
                        from: invoice.status,
                        to: status,
                    };
                    invoice.record(self.clock.now(), entry);
                }
                invoice.status = status;
                Ok(
                    match self
                        .repository
                        .commit_invoice(invoice.clone(), Vec::new())
                        .await?
                    {
                        CommitOutcome::Committed { version, .. } => {
                            invoice.version = version;
                            self.notify();
                            Attempt::Done(invoice)
                        }
                        CommitOutcome::Missing => Attempt::Missing,
                        _ => Attempt::Conflict,
                    },
                )
            })
            .await;
        match outcome {
            Err(EngineError::UnknownTemplate { .. }) => Err(unknown()),
            other => other,
        }
    }

    /// A tenant's overdue invoices (open, past their first dunning step), longest overdue
    /// first (then by deal key), after `after` (from the first when `None`; pass
    /// [`OverduePosition::of`] the last invoice of the previous page), at most `limit` (0
    /// means 50; more than 1,000 reads 1,000).
    ///
    /// # Errors
    /// [`EngineError::Repository`].
    pub async fn overdue_invoices(
        &self,
        tenant: &TenantId,
        after: Option<OverduePosition>,
        limit: usize,
    ) -> Result<Vec<Invoice>, EngineError> {
        let limit = match limit {
            0 => 50,
            n => n.min(1000),
        };
        Ok(self
            .repository
            .overdue_invoices(tenant, after, limit)
            .await?)
    }

    /// What happened to the invoice of a created deal, oldest first: issued, reminders and
    /// dunning steps sent or skipped (with the reason), final actions, status changes.
    ///
    /// # Errors
    /// [`EngineError::UnknownInvoice`]; [`EngineError::Repository`].
    pub async fn invoice_history(
        &self,
        tenant: &TenantId,
        deal: DealKey,
    ) -> Result<Vec<InvoiceRecord>, EngineError> {
        Ok(self.invoice(tenant, deal).await?.history)
    }

    /// The invoice of a created deal.
    ///
    /// # Errors
    /// [`EngineError::UnknownInvoice`]; [`EngineError::Repository`].
    pub async fn invoice(&self, tenant: &TenantId, deal: DealKey) -> Result<Invoice, EngineError> {
        self.repository
            .invoice(tenant, deal)
            .await?
            .ok_or_else(|| EngineError::UnknownInvoice {
                tenant: tenant.clone(),
                deal,
            })
    }

    /// The tenant's templates for the "recurring deal templates" view, sorted by next run.
    ///
    /// # Errors
    /// [`EngineError::Repository`].
    pub async fn list(
        &self,
        tenant: &TenantId,
        query: &TemplateQuery,
    ) -> Result<Page<Template>, EngineError> {
        Ok(self.repository.list_templates(tenant, query).await?)
    }

    /// Number of the tenant's live (active or paused) templates: what plan limits count.
    ///
    /// # Errors
    /// [`EngineError::Repository`].
    pub async fn count_live(&self, tenant: &TenantId) -> Result<u64, EngineError> {
        Ok(self.repository.count_live(tenant).await?)
    }

    /// The tenant's created deals (of one template, or all).
    ///
    /// # Errors
    /// [`EngineError::Repository`].
    pub async fn deals(
        &self,
        tenant: &TenantId,
        template: Option<TemplateId>,
    ) -> Result<Vec<CreatedDeal>, EngineError> {
        Ok(self.repository.deals(tenant, template).await?)
    }

    /// A created deal by key.
    ///
    /// # Errors
    /// [`EngineError::Repository`].
    pub async fn deal(
        &self,
        tenant: &TenantId,
        key: DealKey,
    ) -> Result<Option<CreatedDeal>, EngineError> {
        Ok(self.repository.deal(tenant, key).await?)
    }

    /// The tenant's skipped occurrences (of one template, or all).
    ///
    /// # Errors
    /// [`EngineError::Repository`].
    pub async fn skipped(
        &self,
        tenant: &TenantId,
        template: Option<TemplateId>,
    ) -> Result<Vec<SkippedOccurrence>, EngineError> {
        Ok(self.repository.skipped(tenant, template).await?)
    }

    /// Unacknowledged outbox events of every tenant, oldest first. The outbox is global:
    /// a host delivering per tenant uses [`Engine::tenant_outbox`].
    ///
    /// # Errors
    /// [`EngineError::Repository`].
    pub async fn outbox(&self, limit: usize) -> Result<Vec<OutboxEvent>, EngineError> {
        Ok(self.repository.outbox(limit).await?)
    }

    /// Unacknowledged outbox events of one tenant, oldest first.
    ///
    /// # Errors
    /// [`EngineError::Repository`].
    pub async fn tenant_outbox(
        &self,
        tenant: &TenantId,
        limit: usize,
    ) -> Result<Vec<OutboxEvent>, EngineError> {
        Ok(self.repository.tenant_outbox(tenant, limit).await?)
    }

    /// Acknowledges delivered events of any tenant.
    ///
    /// # Errors
    /// [`EngineError::Repository`].
    pub async fn ack(&self, ids: &[u64]) -> Result<(), EngineError> {
        Ok(self.repository.ack(ids).await?)
    }

    /// Acknowledges delivered events of one tenant (other tenants' ids are ignored).
    ///
    /// # Errors
    /// [`EngineError::Repository`].
    pub async fn tenant_ack(&self, tenant: &TenantId, ids: &[u64]) -> Result<(), EngineError> {
        Ok(self.repository.tenant_ack(tenant, ids).await?)
    }

    /// Processes what is due for one template now, as a tick would, so that a change after it
    /// starts from a settled state. Bounded: at most one tick's budget of the template's
    /// occurrences ([`crate::CatchUpPolicy::max_per_tick`]) per round, and a handful of
    /// rounds; a template further behind than that is left to the ticks
    /// ([`EngineError::Behind`]), which are where catch-up work belongs.
    async fn settle(&self, tenant: &TenantId, id: TemplateId) -> Result<(), EngineError> {
        const ROUNDS: u32 = 8;
        let mut conflicts = 0;
        let mut rounds = 0;
        loop {
            let template = self.template(tenant, id).await?;
            let now = self.clock.now();
            if template.next_run.is_none_or(|t| t > now) {
                return Ok(());
            }
            if rounds == ROUNDS {
                return Err(EngineError::Behind(id));
            }
            let (summary, commit) = planned_commit(&template, now);
            match self.repository.commit(commit).await? {
                CommitOutcome::Committed { .. } if !summary.more => return Ok(()),
                CommitOutcome::Committed { .. } => rounds += 1,
                CommitOutcome::Conflict => {
                    conflicts += 1;
                    let retry = self.config.conflict_retry();
                    if conflicts >= retry.attempts {
                        return Err(EngineError::Conflict(id));
                    }
                    tokio::time::sleep(retry.wait(conflicts)).await;
                }
                CommitOutcome::Missing => {
                    return Err(EngineError::UnknownTemplate {
                        tenant: tenant.clone(),
                        id,
                    });
                }
            }
        }
    }

    async fn check_limit(&self, tenant: &TenantId) -> Result<(), EngineError> {
        if let Some(limit) = self.config.tenant_limit(tenant)
            && self.repository.count_live(tenant).await? >= limit
        {
            return Err(EngineError::TenantLimit {
                tenant: tenant.clone(),
                limit,
            });
        }
        Ok(())
    }

    /// Loads a template, applies a pure transition and commits the change with a version
    /// check, retrying lost races. A transition that changes nothing writes nothing.
    async fn change(
        &self,
        tenant: &TenantId,
        id: TemplateId,
        transition: impl Fn(&Template, DateTime<Utc>) -> Result<Option<Change>, EngineError>,
    ) -> Result<Template, EngineError> {
        let transition = &transition;
        let attempts = self.retry(tenant, id, || async move {
            let template = self.template(tenant, id).await?;
            let Some(change) = transition(&template, self.clock.now())? else {
                return Ok(Attempt::Done(template));
            };
            let mut next = change.template.clone();
            let commit = Commit {
                events: change.events,
                ..Commit::template_only(change.template)
            };
            Ok(match self.repository.commit(commit).await? {
                CommitOutcome::Committed { version, .. } => {
                    next.version = version;
                    self.notify();
                    Attempt::Done(next)
                }
                CommitOutcome::Missing => Attempt::Missing,
                _ => Attempt::Conflict,
            })
        });
        instrumented!(
            attempts,
            tracing::Level::DEBUG,
            "change",
            tenant = %tenant,
            template = %id
        )
        .await
    }

    /// Runs `attempt` until it is done, the row is missing ([`EngineError::UnknownTemplate`])
    /// or the conflict-retry policy gives up ([`EngineError::Conflict`]), waiting between
    /// tries as the policy says.
    async fn retry<T, F, Fut>(
        &self,
        tenant: &TenantId,
        id: TemplateId,
        mut attempt: F,
    ) -> Result<T, EngineError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Attempt<T>, EngineError>>,
    {
        let policy = self.config.conflict_retry();
        for n in 1..=policy.attempts {
            match attempt().await? {
                Attempt::Done(value) => return Ok(value),
                Attempt::Missing => {
                    return Err(EngineError::UnknownTemplate {
                        tenant: tenant.clone(),
                        id,
                    });
                }
                Attempt::Conflict if n < policy.attempts => {
                    tokio::time::sleep(policy.wait(n)).await;
                }
                Attempt::Conflict => {}
            }
        }
        Err(EngineError::Conflict(id))
    }
}

/// Whether a batch moved anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BatchResult {
    /// Every template of the batch had been changed by someone else.
    AllConflicted,
    /// Anything else.
    Progress,
}

/// What a tick reports of a committed plan.
struct PlanSummary {
    created: Vec<DealKey>,
    skipped: Vec<SkippedOccurrence>,
    events: usize,
    more: bool,
}

/// Plans `template` at `now`: the commit to write and what to report once it lands.
fn planned_commit(template: &Template, now: DateTime<Utc>) -> (PlanSummary, Commit) {
    let plan = planner::plan(template, now);
    let summary = PlanSummary {
        created: plan.deals.iter().map(|d| d.key).collect(),
        skipped: plan.skipped.clone(),
        events: plan.events.len(),
        more: plan.more,
    };
    let mut commit = Commit::from(plan);
    // A successful plan clears the record of earlier failed attempts.
    commit.template.failure = None;
    (summary, commit)
}
