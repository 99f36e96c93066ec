//! Template changes: creating, pausing, resuming, editing, skipping, moving and deleting,
//! each a pure transition committed with a version check (lost races retried), after
//! settling what fell due.

use super::*;

impl<R: Repository, C: Clock> Engine<R, C> {
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
        let limits = self.config.deal_limits();
        limits.check(&draft.deal)?;
        if let Some(target) = &draft.target
            && target.stage.len() > limits.stage_bytes
        {
            return Err(EngineError::DealTooLarge {
                what: "target stage".into(),
                size: target.stage.len(),
                max: limits.stage_bytes,
                unit: "bytes",
            });
        }
        self.check_limit(tenant).await?;
        let now = self.clock.now();
        // Validated before an id is taken: a refused draft uses up none.
        let mut template = draft.into_template(tenant.clone(), TemplateId(0))?;
        template.id = self.bounded(self.repository.allocate_template_id()).await?;
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
        self.bounded(self.repository.insert_template(&template))
            .await?;
        self.notify();
        // Best effort: the template is stored, so a failure here must not report the creation
        // as failed; an unrecorded zone is checked by the next engine's first tick.
        let _ = self.record_new_zone(template.schedule.zone(), now).await;
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
        self.bounded(self.repository.template(tenant, id))
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
            Ok(
                match self
                    .bounded(self.repository.commit(Commit::from(plan)))
                    .await?
                {
                    CommitOutcome::Committed { .. } => {
                        self.notify();
                        Attempt::Done(deal)
                    }
                    CommitOutcome::Missing => Attempt::Missing,
                    _ => Attempt::Conflict,
                },
            )
        })
        .await
    }

    /// Pauses a template: nothing is created until it is resumed, by hand or on `resume_on`
    /// (a civil date in the schedule's zone). What fell due before the pause is created (or
    /// skipped by the catch-up policy) first. Pausing a paused template changes nothing.
    ///
    /// # Errors
    /// [`EngineError::UnknownTemplate`]; [`EngineError::Finished`];
    /// [`EngineError::TenantLimit`] for an inactive template over the tenant's limit;
    /// [`EngineError::Invalid`] with [`crate::ValidationError::TooLong`] for a note over
    /// [`crate::limits::NOTE_BYTES`] or [`crate::ValidationError::DateOutOfRange`] for a
    /// resume date outside 1900..=2199, before anything is read or written.
    pub async fn pause(
        &self,
        tenant: &TenantId,
        id: TemplateId,
        note: &str,
        resume_on: Option<NaiveDate>,
    ) -> Result<Template, EngineError> {
        lifecycle::check_pause(note, resume_on)?;
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
    /// [`EngineError::NoSuchOccurrence`] when it is not a coming occurrence;
    /// [`EngineError::Invalid`] with [`crate::ValidationError::TooLong`] when
    /// [`crate::limits::SKIP_REQUESTS`] occurrences already wait to be skipped.
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
    /// occurrence or `to` collides with one; [`EngineError::Invalid`] with
    /// [`crate::ValidationError::DateOutOfRange`] for a date outside 1900..=2199.
    pub async fn move_occurrence(
        &self,
        tenant: &TenantId,
        id: TemplateId,
        date: NaiveDate,
        to: NaiveDateTime,
    ) -> Result<Template, EngineError> {
        lifecycle::check_move(date, to)?;
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
                    .bounded(
                        self.repository
                            .delete_template(tenant, id, template.version),
                    )
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
            match self.bounded(self.repository.commit(commit)).await? {
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
            && self.bounded(self.repository.count_live(tenant)).await? >= limit
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
    pub(super) async fn change(
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
            Ok(match self.bounded(self.repository.commit(commit)).await? {
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
    pub(super) async fn retry<T, F, Fut>(
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
