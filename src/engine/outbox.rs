//! The outbox: events for the host to deliver, globally or per tenant, and their
//! acknowledgement.

use super::*;

impl<R: Repository, C: Clock> Engine<R, C> {
    /// Unacknowledged outbox events of every tenant, oldest first. The outbox is global:
    /// a host delivering per tenant uses [`Engine::tenant_outbox`].
    ///
    /// # Errors
    /// [`EngineError::Repository`].
    pub async fn outbox(&self, limit: usize) -> Result<Vec<OutboxEvent>, EngineError> {
        Ok(self.bounded(self.repository.outbox(limit)).await?)
    }

    /// The unacknowledged outbox events this engine delivers, oldest first, at most `limit`:
    /// every tenant's for a lone engine (as [`Engine::outbox`]); for worker `index` of
    /// `count` ([`EngineConfigBuilder::worker`](crate::EngineConfigBuilder::worker)), the
    /// events of its tenants ([`Share::contains_tenant`]), plus those of any tenant whose
    /// oldest event has waited longer than
    /// [`steal_after`](crate::EngineConfigBuilder::steal_after) (its worker gone or behind).
    /// So with several runners each event is handed over by one of them, and a tenant's
    /// events stay in order, in normal operation; a tenant taken over after `steal_after`
    /// may be handed over by its own worker too, if that worker was only behind.
    ///
    /// Costs two store reads: the oldest event of up to 10,000 tenants with events waiting
    /// ([`Repository::outbox_heads`]), then the events of the chosen tenants. A tenant past
    /// the 10,000 oldest waits until the others drain.
    ///
    /// # Errors
    /// [`EngineError::Repository`].
    ///
    /// ```
    /// use recurring_deals::{Engine, EngineConfig, InMemoryRepository, ManualClock};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
    /// let store = std::sync::Arc::new(InMemoryRepository::new());
    /// let clock = ManualClock::new(chrono::Utc::now());
    /// let worker = |index| {
    ///     let config = EngineConfig::builder().worker(index, 2).build().unwrap();
    ///     Engine::with_config(store.clone(), clock.clone(), config)
    /// };
    /// assert!(worker(0).worker_outbox(100).await?.is_empty());
    /// assert!(worker(1).worker_outbox(100).await?.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn worker_outbox(&self, limit: usize) -> Result<Vec<OutboxEvent>, EngineError> {
        /// Tenants considered per call.
        const HEADS: usize = 10_000;
        let share = self.config.share();
        if share == Share::ALL {
            return self.outbox(limit).await;
        }
        let heads = self.bounded(self.repository.outbox_heads(HEADS)).await?;
        let stale = self.clock.now() - self.config.steal_after();
        let tenants: Vec<TenantId> = heads
            .into_iter()
            .filter(|head| share.contains_tenant(&head.tenant) || head.at <= stale)
            .map(|head| head.tenant)
            .collect();
        if tenants.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self
            .bounded(self.repository.tenants_outbox(&tenants, limit))
            .await?)
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
        Ok((self.bounded(self.repository.tenant_outbox(tenant, limit))).await?)
    }

    /// Acknowledges delivered events of any tenant.
    ///
    /// # Errors
    /// [`EngineError::Repository`].
    pub async fn ack(&self, ids: &[u64]) -> Result<(), EngineError> {
        Ok(self.bounded(self.repository.ack(ids)).await?)
    }

    /// Acknowledges delivered events of one tenant (other tenants' ids are ignored).
    ///
    /// # Errors
    /// [`EngineError::Repository`].
    pub async fn tenant_ack(&self, tenant: &TenantId, ids: &[u64]) -> Result<(), EngineError> {
        Ok((self.bounded(self.repository.tenant_ack(tenant, ids))).await?)
    }
}
