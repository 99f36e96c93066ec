//! The engine: ticks that create deals on schedule, and the lifecycle of templates.
//!
//! The run loop of a host: read the clock, load what is due, plan (pure), commit (a batch of
//! templates per store transaction), sleep until the next wake-up. [`Engine::tick`] does one
//! round.

mod error;

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Utc};

use crate::clock::Clock;
use crate::deal::Deal;
use crate::event::{NewEvent, OutboxEvent};
use crate::ids::{DealKey, TemplateId, TenantId};
use crate::invoice::{Invoice, InvoiceStatus};
use crate::planner::{self, CreatedDeal, PreviewDeal, SkippedOccurrence};
use crate::repository::{Commit, CommitOutcome, Page, Repository, RepositoryError, TemplateQuery};
use crate::schedule::{End, Occurrence, Schedule};
use crate::template::{Failure, Template, TemplateDraft, TemplateState};
use crate::zone::resolve_local;

pub use error::EngineError;

/// Engine settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// At most this many templates (and as many invoices) are processed per tick.
    pub batch_size: usize,
    /// Live (active or paused) templates allowed per tenant; tenants not listed use
    /// `default_tenant_limit` (`None`: unlimited).
    pub tenant_limits: BTreeMap<TenantId, u64>,
    /// The limit of tenants not in `tenant_limits`.
    pub default_tenant_limit: Option<u64>,
    /// First retry delay after a failure; doubled per consecutive failure.
    pub retry_base: TimeDelta,
    /// Longest retry delay.
    pub retry_max: TimeDelta,
    /// Templates written per store transaction (see [`Repository::commit_batch`]): one
    /// durable flush for this many templates. 1 commits each template on its own.
    pub commit_batch: usize,
    /// This engine's place among `worker_count` engines ticking one store (0-based; default
    /// 0 of 1). Each tick starts its walk through the due templates at its own share, so the
    /// workers do not all reach for the same templates first and skip each other's locked
    /// rows. Only the order within a tick changes: every due template is still processed,
    /// whatever the count, and a worker that stops leaves nothing behind.
    pub worker_index: usize,
    /// How many engines tick the store (see `worker_index`).
    pub worker_count: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            batch_size: 10_000,
            tenant_limits: BTreeMap::new(),
            default_tenant_limit: None,
            retry_base: TimeDelta::minutes(1),
            retry_max: TimeDelta::hours(6),
            commit_batch: 64,
            worker_index: 0,
            worker_count: 1,
        }
    }
}

/// What one tick did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TickReport {
    /// The tick's instant.
    pub at: DateTime<Utc>,
    /// Deals created.
    pub created: Vec<DealKey>,
    /// Occurrences skipped, with reasons.
    pub skipped: Vec<SkippedOccurrence>,
    /// Payment reminders sent.
    pub reminders: usize,
    /// Events written to the outbox.
    pub events: usize,
    /// Templates whose commit failed (recorded on them, retried with backoff).
    pub failures: Vec<(TemplateId, String)>,
    /// Templates another worker changed first (they will be seen again).
    pub conflicts: usize,
    /// Deals found already created (a retried commit that had landed).
    pub already_created: usize,
    /// Whether more work was due than one tick takes: tick again now.
    pub more_due: bool,
    /// When the engine next has work.
    pub next_wake: Option<DateTime<Utc>>,
}

/// The recurring deals engine over a repository and a clock.
///
/// ```
/// use chrono::{NaiveDate, TimeDelta, TimeZone, Utc};
/// use recurring_deals::*;
///
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
/// engine.create_template(&tenant, TemplateDraft::new(deal, schedule))?;
/// clock.advance(TimeDelta::days(120));
/// let report = engine.tick()?;
/// assert_eq!(report.created.len(), 3); // Jan 31, Feb 28, Mar 31: caught up
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Engine<R: Repository, C: Clock> {
    repository: R,
    clock: C,
    config: EngineConfig,
}

/// How many times a lifecycle operation re-reads and retries after a concurrent change.
const ATTEMPTS: u32 = 8;

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
        }
    }

    /// The repository.
    pub fn repository(&self) -> &R {
        &self.repository
    }

    /// The clock.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// One round: reads the clock once, loads the due templates and invoices, plans each and
    /// commits it. A template whose commit fails gets the failure recorded and is retried with
    /// backoff; it never blocks the others and is never switched off.
    ///
    /// # Errors
    /// [`EngineError::Repository`] only when the due work cannot even be loaded.
    pub fn tick(&self) -> Result<TickReport, EngineError> {
        let now = self.clock.now();
        let mut report = TickReport {
            at: now,
            ..TickReport::default()
        };
        let due = self.repository.due_templates(now, self.config.batch_size)?;
        report.more_due = due.len() >= self.config.batch_size;
        let batches: Vec<&[Template]> = due.chunks(self.config.commit_batch.max(1)).collect();
        let first = self.first_batch(batches.len());
        for k in 0..batches.len() {
            let batch = batches[(first + k) % batches.len()];
            if self.run_batch(batch, now, &mut report) == BatchResult::AllConflicted
                && self.config.worker_count > 1
                && batch.len() > 1
                && k + 1 < batches.len()
            {
                // Another worker got there first: the rest of this list is likely taken too.
                // A fresh list (next tick) no longer holds what it committed. (A single
                // conflict, say a user's edit, or a lone engine, goes on with the list.)
                report.more_due = true;
                break;
            }
        }
        let invoices = self.repository.due_invoices(now, self.config.batch_size)?;
        report.more_due |= invoices.len() >= self.config.batch_size;
        for invoice in invoices {
            let (next, events) = planner::plan_reminders(&invoice, now);
            let sent = events.len();
            // A conflict means another worker sent it; a failure is retried next tick.
            if let Ok(CommitOutcome::Committed { .. }) =
                self.repository.commit_invoice(next, events)
            {
                report.reminders += sent;
                report.events += sent;
            }
        }
        report.next_wake = self.repository.next_wake()?;
        Ok(report)
    }

    /// The batch this worker starts its tick with: its share of the due list.
    fn first_batch(&self, batches: usize) -> usize {
        let workers = self.config.worker_count.max(1);
        let index = self.config.worker_index % workers;
        index * batches / workers
    }

    /// Plans `templates` and commits them as one batch. A batch the store failed as a whole is
    /// retried template by template, so one bad template cannot fail the others.
    fn run_batch(
        &self,
        templates: &[Template],
        now: DateTime<Utc>,
        report: &mut TickReport,
    ) -> BatchResult {
        let mut summaries = Vec::with_capacity(templates.len());
        let mut commits = Vec::with_capacity(templates.len());
        for template in templates {
            let (summary, commit) = planned_commit(template, now);
            summaries.push(summary);
            commits.push(commit);
        }
        let mut conflicts = 0;
        let mut outcomes = self.repository.commit_batch(commits).into_iter();
        for (template, summary) in templates.iter().zip(summaries) {
            let outcome = outcomes.next().unwrap_or_else(|| {
                Err(RepositoryError::new(
                    "the store returned fewer outcomes than commits",
                ))
            });
            match outcome {
                Err(_) if templates.len() > 1 => self.run_template(template, now, report),
                outcome => {
                    conflicts += usize::from(matches!(outcome, Ok(CommitOutcome::Conflict)));
                    self.apply_outcome(template, summary, outcome, now, report);
                }
            }
        }
        if conflicts == templates.len() {
            BatchResult::AllConflicted
        } else {
            BatchResult::Progress
        }
    }

    fn run_template(&self, template: &Template, now: DateTime<Utc>, report: &mut TickReport) {
        let (summary, commit) = planned_commit(template, now);
        let outcome = self.repository.commit(commit);
        self.apply_outcome(template, summary, outcome, now, report);
    }

    /// Reports a commit's outcome; a failure is recorded on the template.
    fn apply_outcome(
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
                report.failures.push((template.id, error.to_string()));
                self.record_failure(template, &error.to_string(), now);
            }
        }
    }

    /// Records a failed attempt on the template and schedules a retry with exponential
    /// backoff. If even this write fails, the template stays due and is retried next tick.
    fn record_failure(&self, template: &Template, error: &str, now: DateTime<Utc>) {
        let attempts = template
            .failure
            .as_ref()
            .map_or(1, |f| f.attempts.saturating_add(1));
        let factor = 1i32
            .checked_shl(attempts.saturating_sub(1).min(20))
            .unwrap_or(i32::MAX);
        let delay = (self.config.retry_base * factor).min(self.config.retry_max);
        let mut failed = template.clone();
        failed.counters.failed += 1;
        failed.failure = Some(Failure {
            attempts,
            error: error.to_owned(),
            retry_at: now + delay,
        });
        failed.next_run = Some(now + delay);
        let _ = self.repository.commit(Commit {
            template: failed,
            deals: Vec::new(),
            skipped: Vec::new(),
            invoices: Vec::new(),
            events: Vec::new(),
        });
    }

    /// When the engine next has work (for the host's sleep).
    ///
    /// # Errors
    /// [`EngineError::Repository`] when the store fails.
    pub fn next_wake(&self) -> Result<Option<DateTime<Utc>>, EngineError> {
        Ok(self.repository.next_wake()?)
    }

    /// Creates a template: from a new deal, or from an existing one (set
    /// [`TemplateDraft::based_on`]; the original stays an ordinary deal). Past days of the
    /// schedule are not back-filled: the first deal is today's occurrence (in the schedule's
    /// zone) or the first after it.
    ///
    /// # Errors
    /// [`EngineError::TenantLimit`] when the tenant's plan allows no more templates; the
    /// validation errors of the draft ([`EngineError::OffsetOutOfRange`],
    /// [`EngineError::SplitShares`], [`EngineError::CurrencyMismatch`], ...).
    pub fn create_template(
        &self,
        tenant: &TenantId,
        draft: TemplateDraft,
    ) -> Result<Template, EngineError> {
        self.check_limit(tenant)?;
        let now = self.clock.now();
        let id = self.repository.allocate_template_id()?;
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
        template.next_run = next_run(&template);
        self.repository.insert_template(&template)?;
        if template.state == TemplateState::Active && template.next_run.is_none() {
            // Its series is already over: finish it through a commit, which announces it.
            return self.update(tenant, template.id, |_, _| Ok(true));
        }
        Ok(template)
    }

    /// A template of the tenant.
    ///
    /// # Errors
    /// [`EngineError::UnknownTemplate`].
    pub fn template(&self, tenant: &TenantId, id: TemplateId) -> Result<Template, EngineError> {
        self.repository
            .template(tenant, id)?
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
    pub fn create_now(
        &self,
        tenant: &TenantId,
        id: TemplateId,
    ) -> Result<CreatedDeal, EngineError> {
        for attempt in 1..=ATTEMPTS {
            let template = self.template(tenant, id)?;
            let plan = planner::plan_manual(&template, self.clock.now());
            let Some(deal) = plan.deals.first().cloned() else {
                break;
            };
            let outcome = self.repository.commit(plan.into_commit())?;
            match outcome {
                CommitOutcome::Committed { .. } => return Ok(deal),
                CommitOutcome::Conflict if attempt < ATTEMPTS => {
                    self.clock.wait_before_retry(attempt)
                }
                CommitOutcome::Conflict => {}
                CommitOutcome::Missing => break,
            }
        }
        Err(EngineError::Conflict(id))
    }

    /// Pauses a template: nothing is created until it is resumed, by hand or on `resume_on`
    /// (a civil date in the schedule's zone). Pausing a paused template changes nothing.
    ///
    /// # Errors
    /// [`EngineError::UnknownTemplate`]; [`EngineError::Finished`].
    pub fn pause(
        &self,
        tenant: &TenantId,
        id: TemplateId,
        note: &str,
        resume_on: Option<NaiveDate>,
    ) -> Result<Template, EngineError> {
        // A paused template is live (it counts against the tenant's limit); an inactive one
        // is not.
        if self.template(tenant, id)?.state == TemplateState::Inactive {
            self.check_limit(tenant)?;
        }
        self.update(tenant, id, |template, _| {
            match template.state {
                TemplateState::Finished => return Err(EngineError::Finished(id)),
                TemplateState::Paused { .. } => return Ok(false),
                TemplateState::Active | TemplateState::Inactive => {}
            }
            template.state = TemplateState::Paused {
                note: note.to_owned(),
                resume_on,
            };
            Ok(true)
        })
    }

    /// Resumes a paused or inactive template. By its [`crate::ResumePolicy`], the occurrences
    /// of the paused span are skipped (recorded with reason `paused`) or caught up. Resuming
    /// an active template changes nothing.
    ///
    /// # Errors
    /// [`EngineError::UnknownTemplate`]; [`EngineError::Finished`];
    /// [`EngineError::TenantLimit`] for an inactive template over the tenant's limit.
    pub fn resume(&self, tenant: &TenantId, id: TemplateId) -> Result<Template, EngineError> {
        let current = self.template(tenant, id)?;
        if current.state == TemplateState::Inactive {
            self.check_limit(tenant)?;
        }
        self.update(tenant, id, |template, now| {
            match template.state {
                TemplateState::Finished => return Err(EngineError::Finished(id)),
                TemplateState::Active => return Ok(false),
                TemplateState::Paused { .. } | TemplateState::Inactive => {}
            }
            planner::resume(template, now);
            Ok(true)
        })
    }

    /// Switches a template off until [`Engine::activate`].
    ///
    /// # Errors
    /// [`EngineError::UnknownTemplate`]; [`EngineError::Finished`].
    pub fn deactivate(&self, tenant: &TenantId, id: TemplateId) -> Result<Template, EngineError> {
        self.update(tenant, id, |template, _| match template.state {
            TemplateState::Finished => Err(EngineError::Finished(id)),
            TemplateState::Inactive => Ok(false),
            _ => {
                template.state = TemplateState::Inactive;
                Ok(true)
            }
        })
    }

    /// Switches an inactive template on again (as [`Engine::resume`]).
    ///
    /// # Errors
    /// As [`Engine::resume`].
    pub fn activate(&self, tenant: &TenantId, id: TemplateId) -> Result<Template, EngineError> {
        self.resume(tenant, id)
    }

    /// Replaces the schedule from the next occurrence on: deals already created are untouched,
    /// the new schedule's occurrences after now are numbered in a new revision, and the count
    /// carries over (a count on the new schedule is the number of deals still to create).
    ///
    /// # Errors
    /// [`EngineError::UnknownTemplate`]; [`EngineError::Finished`]; [`EngineError::Schedule`].
    pub fn edit_schedule(
        &self,
        tenant: &TenantId,
        id: TemplateId,
        schedule: Schedule,
    ) -> Result<Template, EngineError> {
        let (schedule, count) = match schedule.end() {
            End::Count(n) => (schedule.with_end(End::Never)?, Some(u64::from(n))),
            _ => (schedule, None),
        };
        // What the old schedule made due must be created or skipped first, not dropped.
        self.settle(tenant, id)?;
        self.update(tenant, id, |template, now| {
            if template.state == TemplateState::Finished {
                return Err(EngineError::Finished(id));
            }
            if let Some(count) = count {
                template.limit = Some(template.counters.created_by_schedule + count);
            }
            template.schedule = schedule.clone();
            template.revision += 1;
            template.cursor = Some(now);
            template.skip_requests.clear();
            template.skip_through = None;
            template.noticed_through = None;
            Ok(true)
        })
    }

    /// Replaces the template deal; deals already created are untouched.
    ///
    /// # Errors
    /// [`EngineError::UnknownTemplate`]; [`EngineError::Finished`]; the deal's validation
    /// errors.
    pub fn edit_deal(
        &self,
        tenant: &TenantId,
        id: TemplateId,
        deal: Deal,
    ) -> Result<Template, EngineError> {
        deal.validate()?;
        self.update(tenant, id, |template, _| {
            if template.state == TemplateState::Finished {
                return Err(EngineError::Finished(id));
            }
            template.deal = deal.clone();
            Ok(true)
        })
    }

    /// Skips the next occurrence (recorded with reason `requested`; it does not use up the
    /// count) and returns it.
    ///
    /// # Errors
    /// [`EngineError::UnknownTemplate`]; [`EngineError::Finished`];
    /// [`EngineError::NoSuchOccurrence`] when no occurrence is left.
    pub fn skip_next(&self, tenant: &TenantId, id: TemplateId) -> Result<Occurrence, EngineError> {
        let template = self.template(tenant, id)?;
        let next = template
            .schedule
            .occurrences_after(template.cursor.unwrap_or(DateTime::<Utc>::MIN_UTC))
            .find(|o| !template.skip_requests.contains(&o.seq()))
            .ok_or(EngineError::NoSuchOccurrence {
                template: id,
                seq: 0,
            })?;
        self.skip_occurrence(tenant, id, next.seq())?;
        Ok(next)
    }

    /// Skips the occurrence `seq` of the current schedule revision.
    ///
    /// # Errors
    /// [`EngineError::UnknownTemplate`]; [`EngineError::Finished`];
    /// [`EngineError::NoSuchOccurrence`] when it is not a future occurrence.
    pub fn skip_occurrence(
        &self,
        tenant: &TenantId,
        id: TemplateId,
        seq: u64,
    ) -> Result<Template, EngineError> {
        self.update(tenant, id, |template, _| {
            if template.state == TemplateState::Finished {
                return Err(EngineError::Finished(id));
            }
            let after = template.cursor.unwrap_or(DateTime::<Utc>::MIN_UTC);
            // Bounded look-ahead: skipping is for occurrences in sight.
            let exists = template
                .schedule
                .occurrences_after(after)
                .take(100_000)
                .take_while(|o| o.seq() <= seq)
                .any(|o| o.seq() == seq);
            if !exists {
                return Err(EngineError::NoSuchOccurrence { template: id, seq });
            }
            Ok(template.skip_requests.insert(seq))
        })
    }

    /// Moves the occurrence on `date` to another local date and time; it keeps its key.
    ///
    /// # Errors
    /// [`EngineError::UnknownTemplate`]; [`EngineError::Finished`]; [`EngineError::Schedule`]
    /// when `date` is not an occurrence or `to` collides with one.
    pub fn move_occurrence(
        &self,
        tenant: &TenantId,
        id: TemplateId,
        date: NaiveDate,
        to: NaiveDateTime,
    ) -> Result<Template, EngineError> {
        self.update(tenant, id, |template, _| {
            if template.state == TemplateState::Finished {
                return Err(EngineError::Finished(id));
            }
            // The engine has passed everything up to its cursor: an occurrence there was
            // already created or skipped, and one moved there would never be seen.
            if let Some(cursor) = template.cursor {
                let zone = template.schedule.zone();
                let from = date.and_time(template.schedule.time());
                for local in [from, to] {
                    if resolve_local(zone, local) <= cursor {
                        return Err(EngineError::AlreadyProcessed {
                            template: id,
                            local,
                        });
                    }
                }
            }
            template.schedule = template.schedule.with_move(date, to)?;
            Ok(true)
        })
    }

    /// Deletes a template; the deals it created stay.
    ///
    /// # Errors
    /// [`EngineError::UnknownTemplate`]; [`EngineError::Conflict`].
    pub fn delete(&self, tenant: &TenantId, id: TemplateId) -> Result<(), EngineError> {
        for attempt in 1..=ATTEMPTS {
            let template = self.template(tenant, id)?;
            match self
                .repository
                .delete_template(tenant, id, template.version)?
            {
                CommitOutcome::Committed { .. } => return Ok(()),
                CommitOutcome::Conflict if attempt < ATTEMPTS => {
                    self.clock.wait_before_retry(attempt)
                }
                CommitOutcome::Conflict => {}
                CommitOutcome::Missing => break,
            }
        }
        Err(EngineError::UnknownTemplate {
            tenant: tenant.clone(),
            id,
        })
    }

    /// The next `count` deals the template will create (dates, amounts): the planner's own
    /// decisions, exactly what ticking now and then on time will do.
    ///
    /// # Errors
    /// [`EngineError::UnknownTemplate`].
    pub fn preview(
        &self,
        tenant: &TenantId,
        id: TemplateId,
        count: usize,
    ) -> Result<Vec<PreviewDeal>, EngineError> {
        Ok(planner::preview(
            &self.template(tenant, id)?,
            self.clock.now(),
            count,
        ))
    }

    /// Records that an invoice was paid or voided (no more reminders), or reopened.
    ///
    /// # Errors
    /// [`EngineError::UnknownInvoice`]; [`EngineError::Conflict`].
    pub fn set_invoice_status(
        &self,
        tenant: &TenantId,
        deal: DealKey,
        status: InvoiceStatus,
    ) -> Result<Invoice, EngineError> {
        for attempt in 1..=ATTEMPTS {
            let mut invoice = self.repository.invoice(tenant, deal)?.ok_or_else(|| {
                EngineError::UnknownInvoice {
                    tenant: tenant.clone(),
                    deal,
                }
            })?;
            // Pending reminders are kept: a paid or voided invoice is not reminded of (it has no
            // next reminder), and a reopened one gets its remaining reminders again.
            invoice.status = status;
            match self
                .repository
                .commit_invoice(invoice.clone(), Vec::new())?
            {
                CommitOutcome::Committed { version, .. } => {
                    invoice.version = version;
                    return Ok(invoice);
                }
                CommitOutcome::Conflict if attempt < ATTEMPTS => {
                    self.clock.wait_before_retry(attempt)
                }
                CommitOutcome::Conflict => {}
                CommitOutcome::Missing => break,
            }
        }
        Err(EngineError::Conflict(deal.template()))
    }

    /// The tenant's templates for the "recurring deal templates" view, sorted by next run.
    ///
    /// # Errors
    /// [`EngineError::Repository`].
    pub fn list(
        &self,
        tenant: &TenantId,
        query: &TemplateQuery,
    ) -> Result<Page<Template>, EngineError> {
        Ok(self.repository.list_templates(tenant, query)?)
    }

    /// The tenant's created deals (of one template, or all).
    ///
    /// # Errors
    /// [`EngineError::Repository`].
    pub fn deals(
        &self,
        tenant: &TenantId,
        template: Option<TemplateId>,
    ) -> Result<Vec<CreatedDeal>, EngineError> {
        Ok(self.repository.deals(tenant, template)?)
    }

    /// A created deal by key.
    ///
    /// # Errors
    /// [`EngineError::Repository`].
    pub fn deal(
        &self,
        tenant: &TenantId,
        key: DealKey,
    ) -> Result<Option<CreatedDeal>, EngineError> {
        Ok(self.repository.deal(tenant, key)?)
    }

    /// The tenant's skipped occurrences (of one template, or all).
    ///
    /// # Errors
    /// [`EngineError::Repository`].
    pub fn skipped(
        &self,
        tenant: &TenantId,
        template: Option<TemplateId>,
    ) -> Result<Vec<SkippedOccurrence>, EngineError> {
        Ok(self.repository.skipped(tenant, template)?)
    }

    /// Unacknowledged outbox events, oldest first.
    ///
    /// # Errors
    /// [`EngineError::Repository`].
    pub fn outbox(&self, limit: usize) -> Result<Vec<OutboxEvent>, EngineError> {
        Ok(self.repository.outbox(limit)?)
    }

    /// Acknowledges delivered events.
    ///
    /// # Errors
    /// [`EngineError::Repository`].
    pub fn ack(&self, ids: &[u64]) -> Result<(), EngineError> {
        Ok(self.repository.ack(ids)?)
    }

    /// Processes what is due for one template now, as a tick would, so that a change after it
    /// starts from a settled state.
    fn settle(&self, tenant: &TenantId, id: TemplateId) -> Result<(), EngineError> {
        let mut conflicts = 0;
        // Bounded: each round processes up to the template's per-tick budget.
        for _ in 0..10_000 {
            let template = self.template(tenant, id)?;
            let now = self.clock.now();
            if template.next_run.is_none_or(|t| t > now) {
                return Ok(());
            }
            let (summary, commit) = planned_commit(&template, now);
            let outcome = self.repository.commit(commit)?;
            let more = summary.more;
            match outcome {
                CommitOutcome::Committed { .. } if !more => return Ok(()),
                CommitOutcome::Committed { .. } => {}
                CommitOutcome::Conflict => {
                    conflicts += 1;
                    if conflicts == ATTEMPTS {
                        break;
                    }
                    self.clock.wait_before_retry(conflicts);
                }
                CommitOutcome::Missing => {
                    return Err(EngineError::UnknownTemplate {
                        tenant: tenant.clone(),
                        id,
                    });
                }
            }
        }
        Err(EngineError::Conflict(id))
    }

    fn check_limit(&self, tenant: &TenantId) -> Result<(), EngineError> {
        let limit = self
            .config
            .tenant_limits
            .get(tenant)
            .copied()
            .or(self.config.default_tenant_limit);
        if let Some(limit) = limit
            && self.repository.count_live(tenant)? >= limit
        {
            return Err(EngineError::TenantLimit {
                tenant: tenant.clone(),
                limit,
            });
        }
        Ok(())
    }

    /// Reads, changes and conditionally writes a template, retrying on concurrent changes.
    /// `change` returns whether it changed anything (an unchanged template is not written).
    fn update(
        &self,
        tenant: &TenantId,
        id: TemplateId,
        change: impl Fn(&mut Template, DateTime<Utc>) -> Result<bool, EngineError>,
    ) -> Result<Template, EngineError> {
        for attempt in 1..=ATTEMPTS {
            let mut template = self.template(tenant, id)?;
            let now = self.clock.now();
            if !change(&mut template, now)? {
                return Ok(template);
            }
            template.next_run = next_run(&template);
            let events = finish_if_exhausted(&mut template, now);
            let outcome = self.repository.commit(Commit {
                template: template.clone(),
                deals: Vec::new(),
                skipped: Vec::new(),
                invoices: Vec::new(),
                events,
            })?;
            match outcome {
                CommitOutcome::Committed { version, .. } => {
                    template.version = version;
                    return Ok(template);
                }
                CommitOutcome::Conflict if attempt < ATTEMPTS => {
                    self.clock.wait_before_retry(attempt)
                }
                CommitOutcome::Conflict => {}
                CommitOutcome::Missing => break,
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
    let mut commit = plan.into_commit();
    // A successful plan clears the record of earlier failed attempts.
    commit.template.failure = None;
    (summary, commit)
}

/// An active template whose schedule has nothing left (a series entirely in the past, an edit
/// that ends it) is finished now, with its announcement, rather than left active with no next
/// run forever.
fn finish_if_exhausted(template: &mut Template, now: DateTime<Utc>) -> Vec<NewEvent> {
    if template.state != TemplateState::Active || template.next_run.is_some() {
        return Vec::new();
    }
    template.state = TemplateState::Finished;
    vec![planner::finished_event(template, now)]
}

/// When a template next has work, from its state alone (after a lifecycle change).
fn next_run(template: &Template) -> Option<DateTime<Utc>> {
    match &template.state {
        TemplateState::Active => planner::first_run(template),
        TemplateState::Paused {
            resume_on: Some(date),
            ..
        } => Some(resolve_local(
            template.schedule.zone(),
            date.and_time(NaiveTime::MIN),
        )),
        _ => None,
    }
}
