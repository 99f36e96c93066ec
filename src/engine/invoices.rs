//! Invoices: their status as the host's payment records say, the overdue listing and each
//! invoice's history.

use super::*;

impl<R: Repository, C: Clock> Engine<R, C> {
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
                let Some(mut invoice) = self.bounded(self.repository.invoice(tenant, deal)).await?
                else {
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
                        .bounded(self.repository.commit_invoice(invoice.clone(), Vec::new()))
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
            .bounded(self.repository.overdue_invoices(tenant, after, limit))
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
        self.bounded(self.repository.invoice(tenant, deal))
            .await?
            .ok_or_else(|| EngineError::UnknownInvoice {
                tenant: tenant.clone(),
                deal,
            })
    }
}
