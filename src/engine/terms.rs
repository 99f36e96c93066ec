//! Terms changes across a tenant's templates: [`Engine::apply_terms_change`] commits a
//! [`TermsChange`] template by template, each atomically with a version check;
//! [`Engine::dry_run_terms_change`] forecasts before and after without writing.

use std::sync::Mutex;

use crate::clock::Clock;
use crate::deal::{Deal, Money};
use crate::engine::{Engine, EngineError};
use crate::forecast::{Forecast, Forecaster};
use crate::ids::{TemplateId, TenantId};
use crate::observe::{self, instrumented};
use crate::store::Repository;
use crate::template::Template;
use crate::terms::{ChangeId, TermsChange, TermsError, TermsStep};

/// Templates read per page while scanning a tenant's templates.
const PAGE: usize = 1_000;

/// What a terms change did, template by template ([`Engine::apply_terms_change`]), or would
/// do ([`Engine::dry_run_terms_change`]).
///
/// Every template the filter matched is listed, in id order; those it did not match are only
/// counted. Re-running a change lists the templates done before as
/// [`TermsOutcome::AlreadyApplied`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TermsReport {
    /// The change.
    pub change: ChangeId,
    /// The outcome for every template the filter matched.
    pub templates: Vec<TemplateTerms>,
    /// How many of the tenant's templates the filter did not match.
    pub not_matched: u64,
}

/// The outcome of a terms change for one template.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TemplateTerms {
    /// The template.
    pub template: TemplateId,
    /// What happened to it.
    pub outcome: TermsOutcome,
}

/// What a terms change did to one template.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TermsOutcome {
    /// Applied now (in a dry run: would be), as terms revision `revision`.
    Applied {
        /// The template's new terms revision number.
        revision: u32,
    },
    /// Applied by an earlier run of the same change, as terms revision `revision`: nothing
    /// written.
    AlreadyApplied {
        /// The revision that run made.
        revision: u32,
    },
    /// The template is finished (it creates no more scheduled deals): nothing written.
    Finished,
    /// The change does not fit the template (another currency, an amount that would be
    /// negative or overflow, too many revisions to come): nothing written.
    Refused(TermsError),
    /// The commit failed (the store failed, or concurrent changes kept winning): nothing
    /// written; running the change again retries it.
    Failed(EngineError),
}

impl TermsReport {
    fn new(change: ChangeId) -> TermsReport {
        TermsReport {
            change,
            templates: Vec::new(),
            not_matched: 0,
        }
    }

    fn count(&self, what: impl Fn(&TermsOutcome) -> bool) -> usize {
        self.templates.iter().filter(|t| what(&t.outcome)).count()
    }

    /// Templates applied by this run.
    pub fn applied(&self) -> usize {
        self.count(|o| matches!(o, TermsOutcome::Applied { .. }))
    }

    /// Templates an earlier run had applied.
    pub fn already_applied(&self) -> usize {
        self.count(|o| matches!(o, TermsOutcome::AlreadyApplied { .. }))
    }

    /// Finished templates left as they are.
    pub fn finished(&self) -> usize {
        self.count(|o| matches!(o, TermsOutcome::Finished))
    }

    /// Templates the change does not fit.
    pub fn refused(&self) -> usize {
        self.count(|o| matches!(o, TermsOutcome::Refused(_)))
    }

    /// Templates whose commit failed: run the change again.
    pub fn failed(&self) -> usize {
        self.count(|o| matches!(o, TermsOutcome::Failed(_)))
    }

    /// Whether every matched template has the change (none refused or failed; finished
    /// ones aside).
    pub fn is_complete(&self) -> bool {
        self.refused() == 0 && self.failed() == 0
    }

    fn push(&mut self, template: TemplateId, outcome: TermsOutcome) {
        self.templates.push(TemplateTerms { template, outcome });
    }
}

/// A dry run of a terms change ([`Engine::dry_run_terms_change`]): what it would do, and
/// the forecast of the templates it would change, before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TermsDryRun {
    /// What the change would do to each template ([`TermsOutcome::Applied`]: would apply).
    pub report: TermsReport,
    /// The forecast of the templates the change would apply to, with their terms now.
    pub before: Forecast,
    /// The forecast of the same templates with the change applied.
    pub after: Forecast,
}

impl<R: Repository, C: Clock> Engine<R, C> {
    /// Applies a terms change to every template of `tenant` its filter matches, each
    /// committed atomically with a version check (retried on a lost race, as every lifecycle
    /// change): from the change's effective date (a civil date in each template's zone) on,
    /// created deals have the new terms; deals already created, and occurrences before the
    /// date even when created late, keep the old ones ([`Template::apply_terms`]).
    ///
    /// Idempotent and resumable: a template remembers the change's id, so running the same
    /// change again (after a crash, or after failures in the report) applies it to the
    /// templates not done yet and reports the others as [`TermsOutcome::AlreadyApplied`].
    /// Templates are scanned a page of 1,000 at a time ([`Repository::scan_templates`]).
    ///
    /// # Errors
    /// [`EngineError::DealTooLarge`] for product rows or a stage over the engine's
    /// [`crate::DealLimits`] (nothing written); [`EngineError::Repository`] when a page of
    /// templates cannot be read (the templates committed before stay committed: run the
    /// change again). A template the change does not fit, or whose commit fails, is reported
    /// in the [`TermsReport`], not as an error.
    ///
    /// ```
    /// use chrono::{NaiveDate, TimeZone, Utc};
    /// use recurring_deals::*;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
    /// let engine = Engine::new(
    ///     InMemoryRepository::new(),
    ///     ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()),
    /// );
    /// let acme = TenantId::new("acme")?;
    /// let start = NaiveDate::from_ymd_opt(2026, 1, 15).unwrap().and_hms_opt(9, 0, 0).unwrap();
    /// let monthly = Recurrence::monthly(Interval::ONE, MonthDay::Day(DayOfMonth::new(15)?));
    /// let schedule = Schedule::builder(monthly, start, Zone::get("Europe/Berlin")?).build()?;
    /// let deal = Deal::new("Support", Money::new(100_00, Currency::new("EUR")?))?;
    /// let template = engine.create_template(&acme, TemplateDraft::new(deal, schedule)).await?;
    ///
    /// let change = TermsChange::builder(
    ///     ChangeId::new("raise-2026-03")?,
    ///     NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
    /// )
    /// .amount(AmountChange::percent(250, Rounding::HalfEven))
    /// .build()?;
    /// let report = engine.apply_terms_change(&acme, &change).await?;
    /// assert_eq!(report.applied(), 1);
    /// let amounts: Vec<i64> =
    ///     engine.preview(&acme, template.id(), 3).await?.iter().map(|d| d.amount.minor).collect();
    /// assert_eq!(amounts, [100_00, 100_00, 102_50]); // Jan 15, Feb 15, Mar 15
    /// // Again: nothing more happens.
    /// assert_eq!(engine.apply_terms_change(&acme, &change).await?.already_applied(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn apply_terms_change(
        &self,
        tenant: &TenantId,
        change: &TermsChange,
    ) -> Result<TermsReport, EngineError> {
        self.check_terms_limits(change)?;
        let run = instrumented!(
            self.apply_terms_in(tenant, change),
            tracing::Level::INFO,
            "terms_change",
            tenant = %tenant,
            change = %change.id()
        );
        let report = run.await?;
        observe::terms_changed(tenant, &report);
        Ok(report)
    }

    /// What [`Engine::apply_terms_change`] would do, and the forecast over `forecaster`'s
    /// range of the templates it would change, before and after; nothing is written.
    ///
    /// # Errors
    /// As [`Engine::apply_terms_change`].
    ///
    /// ```
    /// # use chrono::{NaiveDate, TimeZone, Utc};
    /// # use recurring_deals::*;
    /// use recurring_deals::forecast::{Forecaster, Period};
    /// # fn f(engine: &blocking::Engine<InMemoryRepository, ManualClock>, change: &TermsChange) -> Result<(), Box<dyn std::error::Error>> {
    /// let year = Forecaster::new(
    ///     Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
    ///     Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap(),
    ///     Period::Month,
    /// )?;
    /// let dry = engine.dry_run_terms_change(&TenantId::new("acme")?, change, &year)?;
    /// for ((month, currency, before), (_, _, after)) in
    ///     dry.before.by_period().iter().zip(dry.after.by_period().iter())
    /// {
    ///     println!("{month} {currency}: {} -> {}", before.amount, after.amount);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn dry_run_terms_change(
        &self,
        tenant: &TenantId,
        change: &TermsChange,
        forecaster: &Forecaster,
    ) -> Result<TermsDryRun, EngineError> {
        self.check_terms_limits(change)?;
        let mut dry = TermsDryRun {
            report: TermsReport::new(change.id().clone()),
            before: Forecast::default(),
            after: Forecast::default(),
        };
        let mut after = None;
        loop {
            let scan = self
                .bounded(self.repository.scan_templates(tenant, after, PAGE))
                .await?;
            for template in &scan.items {
                let outcome = match template.apply_terms(change) {
                    Ok(TermsStep::Apply { revision, change }) => {
                        forecaster.add(template, &mut dry.before);
                        forecaster.add(&change.template, &mut dry.after);
                        TermsOutcome::Applied { revision }
                    }
                    step => match outcome_of(step) {
                        Some(outcome) => outcome,
                        None => {
                            dry.report.not_matched += 1;
                            continue;
                        }
                    },
                };
                dry.report.push(template.id, outcome);
            }
            match scan.next {
                Some(next) => after = Some(next),
                None => return Ok(dry),
            }
        }
    }

    async fn apply_terms_in(
        &self,
        tenant: &TenantId,
        change: &TermsChange,
    ) -> Result<TermsReport, EngineError> {
        let mut report = TermsReport::new(change.id().clone());
        let mut after = None;
        loop {
            let scan = self
                .bounded(self.repository.scan_templates(tenant, after, PAGE))
                .await?;
            for template in &scan.items {
                // A look at the scanned copy first: most templates need no write.
                let outcome = match template.apply_terms(change) {
                    Ok(TermsStep::Apply { .. }) => self.commit_terms(template, change).await,
                    step => outcome_of(step),
                };
                let Some(outcome) = outcome else {
                    report.not_matched += 1;
                    continue;
                };
                report.push(template.id, outcome);
            }
            match scan.next {
                Some(next) => after = Some(next),
                None => return Ok(report),
            }
        }
    }

    /// Applies the change to one template and commits it, reloading and retrying on a lost
    /// race (the template may have changed since the scan: it is decided again each time).
    /// `None` when it no longer matches the filter.
    async fn commit_terms(&self, scanned: &Template, change: &TermsChange) -> Option<TermsOutcome> {
        let decided = Mutex::new(None);
        let committed = self
            .change(&scanned.tenant, scanned.id, |template, _now| {
                let step = template.apply_terms(change);
                let (outcome, commit) = match step {
                    Ok(TermsStep::Apply { revision, change }) => {
                        (Some(TermsOutcome::Applied { revision }), Some(*change))
                    }
                    step => (outcome_of(step), None),
                };
                *decided.lock().unwrap_or_else(|e| e.into_inner()) = outcome;
                Ok(commit)
            })
            .await;
        match committed {
            Err(error) => Some(TermsOutcome::Failed(error)),
            // As the last try found the template (it may have changed since the scan).
            Ok(_) => decided.into_inner().unwrap_or_else(|e| e.into_inner()),
        }
    }

    /// Checks the change's product rows and stage against the engine's deal limits.
    fn check_terms_limits(&self, change: &TermsChange) -> Result<(), EngineError> {
        let limits = self.config.deal_limits();
        if let Some(rows) = change.products()
            && let Some(first) = rows.first()
        {
            let probe = Deal::new("terms", Money::new(0, first.price.currency))?
                .with_products(rows.to_vec())?;
            limits.check(&probe)?;
        }
        if let Some(target) = change.target()
            && target.stage.len() > limits.stage_bytes
        {
            return Err(EngineError::DealTooLarge {
                what: "stage".into(),
                size: target.stage.len(),
                max: limits.stage_bytes,
                unit: "bytes",
            });
        }
        Ok(())
    }
}

/// The outcome of a step that writes nothing; `None` for a template the filter does not
/// match.
fn outcome_of(step: Result<TermsStep, TermsError>) -> Option<TermsOutcome> {
    match step {
        Ok(TermsStep::Apply { revision, .. }) => Some(TermsOutcome::Applied { revision }),
        Ok(TermsStep::AlreadyApplied { revision }) => {
            Some(TermsOutcome::AlreadyApplied { revision })
        }
        Ok(TermsStep::Finished) => Some(TermsOutcome::Finished),
        Ok(TermsStep::NotMatched) => None,
        Err(error) => Some(TermsOutcome::Refused(error)),
    }
}
