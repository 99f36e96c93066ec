//! What the host reads: forecasts, previews, the template listing, created deals and
//! skipped occurrences.

use super::*;

impl<R: Repository, C: Clock> Engine<R, C> {
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
            let scan = self
                .bounded(self.repository.scan_templates(tenant, after, PAGE))
                .await?;
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

    /// The tenant's templates for the "recurring deal templates" view, sorted by next run.
    ///
    /// # Errors
    /// [`EngineError::Repository`].
    pub async fn list(
        &self,
        tenant: &TenantId,
        query: &TemplateQuery,
    ) -> Result<Page<Template>, EngineError> {
        Ok(self
            .bounded(self.repository.list_templates(tenant, query))
            .await?)
    }

    /// Number of the tenant's live (active or paused) templates: what plan limits count.
    ///
    /// # Errors
    /// [`EngineError::Repository`].
    pub async fn count_live(&self, tenant: &TenantId) -> Result<u64, EngineError> {
        Ok(self.bounded(self.repository.count_live(tenant)).await?)
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
        Ok(self
            .bounded(self.repository.deals(tenant, template))
            .await?)
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
        Ok(self.bounded(self.repository.deal(tenant, key)).await?)
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
        Ok(self
            .bounded(self.repository.skipped(tenant, template))
            .await?)
    }
}
