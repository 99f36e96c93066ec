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
