//! Outbox events: what the host must deliver (mails, notifications, webhooks).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::deal::Deal;
use crate::ids::{DealKey, TemplateId, TenantId};
use crate::invoice::{DunningStep, Invoice};

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
#[non_exhaustive]
pub enum EventKind {
    /// A deal was created.
    DealCreated {
        /// Its key.
        deal: DealKey,
        /// The date it was scheduled for.
        nominal_date: NaiveDate,
        /// Whether it was created late, catching up.
        catch_up: bool,
        /// The deal as created (title, amount, pipeline and stage, begin and close dates,
        /// parties, products, custom fields, its origin key), so a handler needs no read
        /// per event. `None` in events stored before it was added.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content: Option<Box<Deal>>,
    },
    /// The template will create no more deals.
    TemplateFinished {
        /// The template.
        template: TemplateId,
    },
    /// An invoice was issued (send it to the client).
    InvoiceIssued {
        /// The invoice.
        invoice: Box<Invoice>,
    },
    /// A payment reminder is due.
    PaymentReminder {
        /// The invoice's deal.
        deal: DealKey,
        /// Days relative to the due date (negative: before).
        offset_days: i32,
        /// The due date.
        due_on: NaiveDate,
    },
    /// A dunning step of an overdue invoice is due: send its mail, and act on its action
    /// (the engine carries out [`crate::DunningAction::StopTemplate`] itself).
    DunningStep {
        /// The invoice's deal.
        deal: DealKey,
        /// The step (its level, days after the due date, mail template and action).
        step: DunningStep,
        /// The due date.
        due_on: NaiveDate,
    },
    /// A deal will be created soon.
    UpcomingDeal {
        /// The template.
        template: TemplateId,
        /// When it will be created.
        at: DateTime<Utc>,
        /// The notice's lead: it is due this many days before `at` (one of the template's
        /// `upcoming_notice_days`).
        #[serde(default)]
        lead_days: u32,
    },
}

/// An event in the transactional outbox, committed with the change that caused it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OutboxEvent {
    /// Position in the outbox (assigned by the repository).
    pub id: u64,
    /// The tenant.
    pub tenant: TenantId,
    /// A key the host can deduplicate deliveries by: the same event always has the same key.
    pub idempotency_key: String,
    /// When it was produced (the tick's instant).
    pub at: DateTime<Utc>,
    /// What happened.
    pub kind: EventKind,
    /// How many times a handler refused it so far (0 for an event never refused; back to 0
    /// when a dead letter is requeued). Recorded by [`crate::Repository::record_failures`].
    #[serde(default)]
    pub attempts: u32,
    /// When it may be handed over again after a refusal (exponential back-off with jitter,
    /// [`crate::RunnerConfig::handler_retry`]); `None` when it may go now. Until then its
    /// tenant's later events wait with it.
    #[serde(default)]
    pub retry_at: Option<DateTime<Utc>>,
}

/// An event before the repository numbers it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NewEvent {
    /// The tenant.
    pub tenant: TenantId,
    /// See [`OutboxEvent::idempotency_key`].
    pub idempotency_key: String,
    /// When it was produced.
    pub at: DateTime<Utc>,
    /// What happened.
    pub kind: EventKind,
}

impl NewEvent {
    /// Numbers the event.
    pub fn into_outbox(self, id: u64) -> OutboxEvent {
        OutboxEvent {
            id,
            tenant: self.tenant,
            idempotency_key: self.idempotency_key,
            at: self.at,
            kind: self.kind,
            attempts: 0,
            retry_at: None,
        }
    }
}
