//! Planning an invoice's life, purely: issuing it with its reminders and dunning ladder, and
//! what each tick sends. The engine commits what these return.

use crate::zone::Zone;
use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, Utc};

use super::{
    DunningAction, Invoice, InvoiceEntry, InvoiceOptions, InvoiceStatus, PendingAction,
    PendingDunning, PendingReminder, StepSkipReason,
};
use crate::deal::Money;
use crate::event::{EventKind, NewEvent};
use crate::ids::{DealKey, TenantId};
use crate::zone::resolve_local;

/// Where and when an invoice is issued: the deal it belongs to and the template's zone and
/// time of day, at which its reminders and dunning steps fall.
pub(crate) struct Issue<'a> {
    pub(crate) tenant: &'a TenantId,
    pub(crate) deal: DealKey,
    pub(crate) amount: Money,
    /// The deal's nominal date (the invoice's issue date).
    pub(crate) date: NaiveDate,
    pub(crate) zone: Zone,
    pub(crate) time: NaiveTime,
}

impl Issue<'_> {
    /// The invoice issued at `now`, with what is already past recorded as skipped.
    pub(crate) fn invoice(&self, options: &InvoiceOptions, now: DateTime<Utc>) -> Invoice {
        let due_on = options.payment_due.due_date(self.date);
        let at = |offset: i64| {
            let day = due_on.checked_add_signed(TimeDelta::days(offset))?;
            Some(resolve_local(self.zone, day.and_time(self.time)))
        };
        let mut invoice = Invoice {
            tenant: self.tenant.clone(),
            deal: self.deal,
            amount: self.amount,
            issued_on: self.date,
            due_on,
            send_to: options.send_to.clone(),
            mail_template: options.mail_template,
            document_template: options.document_template,
            status: InvoiceStatus::Open,
            pending_reminders: Vec::new(),
            pending_dunning: Vec::new(),
            dunning_level: 0,
            overdue_since: None,
            pending_action: None,
            history: Vec::new(),
            history_dropped: 0,
            version: 0,
        };
        invoice.record(now, InvoiceEntry::Issued { due_on });
        for offset_days in options.reminder_offsets() {
            let Some(scheduled) = at(i64::from(offset_days)) else {
                continue;
            };
            if scheduled > now {
                invoice.pending_reminders.push(PendingReminder {
                    at: scheduled,
                    offset_days,
                });
            } else {
                let reason = StepSkipReason::PastAtIssue;
                invoice.record(
                    now,
                    InvoiceEntry::ReminderSkipped {
                        offset_days,
                        scheduled,
                        reason,
                    },
                );
            }
        }
        for &step in &options.dunning {
            let Some(scheduled) = at(i64::from(step.after_days)) else {
                continue;
            };
            if scheduled > now {
                invoice.pending_dunning.push(PendingDunning {
                    at: scheduled,
                    step,
                });
            } else {
                // Overdue since its first step, even one that was never sent.
                invoice.overdue_since.get_or_insert(scheduled);
                let reason = StepSkipReason::PastAtIssue;
                invoice.record(
                    now,
                    InvoiceEntry::DunningSkipped {
                        step,
                        scheduled,
                        reason,
                    },
                );
            }
        }
        invoice
    }
}

/// What a tick does with a due invoice: its new state and the events to send with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoicePlan {
    /// The invoice's new state.
    pub invoice: Invoice,
    /// Outbox events (a reminder, a dunning step).
    pub events: Vec<NewEvent>,
    /// Payment reminders sent (0 or 1).
    pub reminders: usize,
    /// Dunning steps sent (0 or 1).
    pub dunning_steps: usize,
}

/// What is due of `invoice` at `now`, while it is open: the latest due reminder and the
/// latest due dunning step go out (after downtime the earlier ones are recorded as
/// superseded rather than sent in a burst). A sent step with
/// [`DunningAction::StopTemplate`] leaves the action pending for the engine; a paid or
/// voided invoice sends nothing, and keeps what is pending in case it is reopened.
///
/// ```
/// use chrono::{NaiveDate, TimeZone, Utc};
/// use recurring_deals::{
///     Currency, DealKey, DunningStep, EventKind, Invoice, InvoiceStatus, Money,
///     PendingDunning, TemplateId, TenantId, plan_invoice,
/// };
///
/// let at = |d| Utc.with_ymd_and_hms(2026, 3, d, 9, 0, 0).unwrap();
/// let invoice = Invoice {
///     tenant: TenantId::new("acme")?,
///     deal: DealKey::Scheduled { template: TemplateId(1), revision: 0, seq: 0 },
///     amount: Money::new(10_000, Currency::new("EUR")?),
///     issued_on: NaiveDate::from_ymd_opt(2026, 2, 1).unwrap(),
///     due_on: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
///     send_to: vec![],
///     mail_template: None,
///     document_template: None,
///     status: InvoiceStatus::Open,
///     pending_reminders: vec![],
///     pending_dunning: vec![
///         PendingDunning { at: at(4), step: DunningStep::new(3, 1) },
///         PendingDunning { at: at(11), step: DunningStep::new(10, 2) },
///     ],
///     dunning_level: 0,
///     overdue_since: None,
///     pending_action: None,
///     history: vec![],
///     history_dropped: 0,
///     version: 0,
/// };
/// let plan = plan_invoice(&invoice, at(5));
/// assert_eq!(plan.dunning_steps, 1);
/// assert!(matches!(plan.events[0].kind, EventKind::DunningStep { step, .. } if step.level == 1));
/// assert_eq!(plan.invoice.overdue_since, Some(at(4)));
/// assert_eq!(plan.invoice.pending_dunning.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn plan_invoice(invoice: &Invoice, now: DateTime<Utc>) -> InvoicePlan {
    let mut next = invoice.clone();
    let mut events = Vec::new();
    let (mut reminders, mut dunning_steps) = (0, 0);
    if next.status == InvoiceStatus::Open {
        let due = next.pending_reminders.partition_point(|r| r.at <= now);
        let sent: Vec<PendingReminder> = next.pending_reminders.drain(..due).collect();
        if let Some((last, earlier)) = sent.split_last() {
            for r in earlier {
                let entry = InvoiceEntry::ReminderSkipped {
                    offset_days: r.offset_days,
                    scheduled: r.at,
                    reason: StepSkipReason::Superseded,
                };
                next.record(now, entry);
            }
            let entry = InvoiceEntry::ReminderSent {
                offset_days: last.offset_days,
                scheduled: last.at,
            };
            next.record(now, entry);
            events.push(NewEvent {
                tenant: next.tenant.clone(),
                idempotency_key: format!("reminder:{}:{}", next.deal, last.offset_days),
                at: now,
                kind: EventKind::PaymentReminder {
                    deal: next.deal,
                    offset_days: last.offset_days,
                    due_on: next.due_on,
                },
            });
            reminders = 1;
        }
        let due = next.pending_dunning.partition_point(|d| d.at <= now);
        let steps: Vec<PendingDunning> = next.pending_dunning.drain(..due).collect();
        if let Some((last, earlier)) = steps.split_last() {
            next.overdue_since
                .get_or_insert(earlier.first().unwrap_or(last).at);
            for d in earlier {
                let entry = InvoiceEntry::DunningSkipped {
                    step: d.step,
                    scheduled: d.at,
                    reason: StepSkipReason::Superseded,
                };
                next.record(now, entry);
            }
            let entry = InvoiceEntry::DunningSent {
                step: last.step,
                scheduled: last.at,
            };
            next.record(now, entry);
            next.dunning_level = last.step.level;
            if last.step.action == Some(DunningAction::StopTemplate) {
                next.pending_action = Some(PendingAction {
                    action: DunningAction::StopTemplate,
                    since: now,
                });
            }
            events.push(NewEvent {
                tenant: next.tenant.clone(),
                idempotency_key: format!("dunning:{}:{}", next.deal, last.step.after_days),
                at: now,
                kind: EventKind::DunningStep {
                    deal: next.deal,
                    step: last.step,
                    due_on: next.due_on,
                },
            });
            dunning_steps = 1;
        }
    }
    InvoicePlan {
        invoice: next,
        events,
        reminders,
        dunning_steps,
    }
}

/// `invoice` once its pending action was carried out at `now` (`changed`: whether it changed
/// anything).
pub(crate) fn action_done(invoice: &Invoice, changed: bool, now: DateTime<Utc>) -> Invoice {
    let mut next = invoice.clone();
    if let Some(pending) = next.pending_action.take() {
        let entry = InvoiceEntry::ActionTaken {
            action: pending.action,
            changed,
        };
        next.record(now, entry);
    }
    next
}
