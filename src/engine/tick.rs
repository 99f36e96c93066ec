//! One tick: the due templates and invoices loaded, planned and committed in batches, and
//! when to wake up next.

use super::*;

impl<R: Repository, C: Clock> Engine<R, C> {
    /// One round: reads the clock once, loads the due templates and invoices, plans each and
    /// commits them in batches. A template whose commit fails gets the failure recorded and
    /// is retried with back-off; it never blocks the others and is never switched off.
    ///
    /// The first tick of an engine, and the first after the zone rules in use changed
    /// ([`crate::tz::load`]), first plans again the next runs the store holds under other
    /// rules ([`Engine::replan_zones`], reported in [`TickReport::replanned`]).
    ///
    /// # Errors
    /// [`EngineError::Repository`] only when the due work cannot even be loaded (or the
    /// next runs under changed zone rules cannot be planned again: the next tick tries again).
    pub async fn tick(&self) -> Result<TickReport, EngineError> {
        let replanned = self.replan_if_rules_changed().await?;
        let now = self.clock.now();
        let mut report =
            instrumented!(self.tick_at(now), tracing::Level::INFO, "tick", at = %now).await?;
        report.replanned = replanned;
        Ok(report)
    }

    async fn tick_at(&self, now: DateTime<Utc>) -> Result<TickReport, EngineError> {
        let timer = observe::tick_started();
        let mut report = TickReport {
            at: now,
            ..TickReport::default()
        };
        let batch_size = self.config.batch_size();
        let share = self.config.share();
        let due = (self.bounded(self.repository.due_share(now, share, batch_size))).await?;
        // Past the only read whose failure fails the tick: from here on what the tick
        // commits or learns is reported, and later read failures are recorded in the report.
        self.resolve_unresolved(&mut report).await;
        report.more_due = due.len() >= batch_size;
        for batch in due.chunks(self.config.commit_batch()) {
            self.run_batch(batch, now, &mut report).await;
        }
        let mut loaded = due.len();
        let waiting_since = now.checked_sub_signed(self.config.steal_after());
        if let (false, Some(since)) = (share == Share::ALL || report.more_due, waiting_since) {
            // This worker's share is done: take what the other shares have left waiting.
            let want = batch_size - due.len();
            match self
                .bounded(self.repository.due_templates(since, want))
                .await
            {
                Ok(waiting) => {
                    report.more_due = waiting.len() >= want;
                    loaded += waiting.len();
                    let theirs: Vec<Template> = waiting
                        .into_iter()
                        .filter(|template| !share.contains(template.id))
                        .collect();
                    self.run_stolen(&theirs, now, &mut report).await;
                }
                Err(error) => report.read_failures.push(error),
            }
        }
        match self
            .bounded(self.repository.due_invoices(now, batch_size))
            .await
        {
            Ok(invoices) => {
                report.more_due |= invoices.len() >= batch_size;
                for invoice in invoices {
                    self.run_invoice(invoice, now, &mut report).await;
                }
            }
            Err(error) => report.read_failures.push(error),
        }
        match self.wake_of(share).await {
            Ok(next) => report.next_wake = next,
            Err(error) => report.read_failures.push(error),
        }
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
            let commit = self.repository.commit_invoice(current.clone(), plan.events);
            match self.bounded(commit).await {
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
            (self.bounded(self.repository.commit_invoice(done, Vec::new()))).await
        {
            report.dunning_actions += 1;
        }
    }

    /// Deactivates a template for a dunning ladder's final action: whether it changed
    /// anything (`false` when it was already inactive, finished or deleted).
    async fn stop_template(&self, tenant: &TenantId, id: TemplateId) -> Result<bool, EngineError> {
        let Some(template) = self.bounded(self.repository.template(tenant, id)).await? else {
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
            self.bounded_batch(commits),
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
                    let outcome = self.bounded(self.repository.commit(commit)).await;
                    // The batch may have landed before its reply was lost: then this commit
                    // finds the template moved on (a conflict) and its deals stored.
                    let outcome = match outcome {
                        Ok(CommitOutcome::Conflict) => self.resolve(template, &summary, now).await,
                        outcome => outcome,
                    };
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

    /// The outcome of a commit whose reply was lost or that came after one: committed when
    /// the template's planned deals are all stored with this tick's instant (the commit
    /// landed), else a conflict. A plan without deals cannot be told apart: a conflict.
    async fn resolve(
        &self,
        template: &Template,
        summary: &PlanSummary,
        now: DateTime<Utc>,
    ) -> Result<CommitOutcome, RepositoryError> {
        if summary.created.is_empty()
            || !self.landed(&template.tenant, &summary.created, now).await?
        {
            return Ok(CommitOutcome::Conflict);
        }
        Ok(CommitOutcome::Committed {
            version: template.version + 1,
            already_created: Vec::new(),
        })
    }

    /// Whether every deal of `keys` is stored with `created_at` equal to `at`: the commit of
    /// the tick at `at` that planned them landed.
    async fn landed(
        &self,
        tenant: &TenantId,
        keys: &[DealKey],
        at: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        for key in keys {
            match self.bounded(self.repository.deal(tenant, *key)).await? {
                Some(deal) if deal.created_at == at => {}
                _ => return Ok(false),
            }
        }
        Ok(true)
    }

    /// Keeps a commit whose outcome is unknown for [`Engine::resolve_unresolved`].
    fn keep_unresolved(&self, template: &Template, summary: &PlanSummary, now: DateTime<Utc>) {
        if summary.created.is_empty() {
            return;
        }
        let mut kept = self.unresolved.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() >= UNRESOLVED_KEPT {
            // Bounded: the oldest goes unreported (its deals stay stored and delivered).
            kept.pop_front();
        }
        kept.push_back(Unresolved {
            tenant: template.tenant.clone(),
            created: summary.created.clone(),
            skipped: summary.skipped.clone(),
            events: summary.events,
            at: now,
        });
    }

    /// Reads back the commits kept by [`Engine::keep_unresolved`]: one that landed (every
    /// deal stored with its tick's instant) is reported in `report`; one that did not is
    /// dropped (its template is still due); one the store does not answer for is kept.
    async fn resolve_unresolved(&self, report: &mut TickReport) {
        let pending =
            std::mem::take(&mut *self.unresolved.lock().unwrap_or_else(|e| e.into_inner()));
        let mut still = std::collections::VecDeque::new();
        let mut pending = pending.into_iter();
        for entry in pending.by_ref() {
            match self.landed(&entry.tenant, &entry.created, entry.at).await {
                Ok(true) => {
                    report.created.extend(entry.created);
                    report.skipped.extend(entry.skipped);
                    report.events += entry.events;
                }
                Ok(false) => {}
                Err(_) => {
                    // The store is not answering: keep this and the rest for the next tick.
                    still.push_back(entry);
                    break;
                }
            }
        }
        still.extend(pending);
        if !still.is_empty() {
            // Older first, then what this tick's commits kept meanwhile; still bounded.
            let mut kept = self.unresolved.lock().unwrap_or_else(|e| e.into_inner());
            still.append(&mut kept);
            let over = still.len().saturating_sub(UNRESOLVED_KEPT);
            still.drain(..over);
            *kept = still;
        }
    }

    /// Reports a commit's outcome; a failure is recorded on the template, unless the commit
    /// is found to have landed (its reply lost).
    async fn apply_outcome(
        &self,
        template: &Template,
        summary: PlanSummary,
        outcome: Result<CommitOutcome, RepositoryError>,
        now: DateTime<Utc>,
        report: &mut TickReport,
    ) {
        let outcome = match outcome {
            Err(error) => match self.resolve(template, &summary, now).await {
                Ok(landed @ CommitOutcome::Committed { .. }) => Ok(landed),
                Ok(_) => Err(error),
                // Neither the commit's reply nor the read-back came: learn it next tick.
                Err(_) => {
                    self.keep_unresolved(template, &summary, now);
                    Err(error)
                }
            },
            outcome => outcome,
        };
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
        let _ = (self.bounded(self.repository.commit(Commit::template_only(failed)))).await;
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
            return self.bounded(self.repository.next_wake()).await;
        }
        let own = (self.bounded(self.repository.next_wake_share(share))).await?;
        let any = (self.bounded(self.repository.next_wake())).await?;
        let theirs = any.and_then(|at| at.checked_add_signed(self.config.steal_after()));
        Ok(own.into_iter().chain(theirs).min())
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

/// The most commits of unknown outcome an engine keeps to read back.
pub(super) const UNRESOLVED_KEPT: usize = 10_000;

/// A commit whose reply was lost and whose read-back failed: what to report once it is found
/// to have landed.
#[derive(Debug)]
pub(super) struct Unresolved {
    tenant: TenantId,
    created: Vec<DealKey>,
    skipped: Vec<SkippedOccurrence>,
    events: usize,
    /// The tick's instant, which the commit's deals carry as `created_at`.
    at: DateTime<Utc>,
}

/// What a tick reports of a committed plan.
pub(super) struct PlanSummary {
    pub(super) created: Vec<DealKey>,
    pub(super) skipped: Vec<SkippedOccurrence>,
    pub(super) events: usize,
    pub(super) more: bool,
}

/// Plans `template` at `now`: the commit to write and what to report once it lands.
pub(super) fn planned_commit(template: &Template, now: DateTime<Utc>) -> (PlanSummary, Commit) {
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
