//! Recurring invoices: payment terms, reminders before and after the due date, the dunning
//! ladder, and each invoice's history.

mod plan;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::civil;
use crate::deal::Money;
use crate::ids::{DealKey, TenantId};
use crate::validation::ValidationError;

pub use plan::{InvoicePlan, plan_invoice};
pub(crate) use plan::{Issue, action_done};

/// When an invoice must be paid, counted from the creation date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentDue {
    /// N days after creation.
    Days(u32),
    /// N weeks after creation.
    Weeks(u32),
    /// N months after creation (clamped to the month's length).
    Months(u32),
    /// The last day of the creation month.
    EndOfMonth,
    /// The last day of the month after the creation month.
    EndOfNextMonth,
}

impl PaymentDue {
    /// The due date of an invoice created on `created`. Any terms are computed, validated or
    /// not ([`InvoiceOptions::validate`] bounds them for templates); a due date past the end
    /// of chrono's calendar (year 262143) is `created` itself.
    ///
    /// ```
    /// use chrono::NaiveDate;
    /// use recurring_deals::PaymentDue;
    ///
    /// let jan31 = NaiveDate::from_ymd_opt(2026, 1, 31).unwrap();
    /// assert_eq!(PaymentDue::Months(1).due_date(jan31).to_string(), "2026-02-28");
    /// assert_eq!(PaymentDue::Weeks(u32::MAX).due_date(jan31), jan31);
    /// ```
    pub fn due_date(self, created: NaiveDate) -> NaiveDate {
        let day = civil::days_of(created);
        let due = match self {
            PaymentDue::Days(n) => day.checked_add_unsigned(n),
            PaymentDue::Weeks(n) => n.checked_mul(7).and_then(|d| day.checked_add_unsigned(d)),
            PaymentDue::Months(n) => civil::add_months_clamped(day, i64::from(n)),
            PaymentDue::EndOfMonth | PaymentDue::EndOfNextMonth => {
                let (y, m, _) = civil::civil_from_days(day);
                let extra = i32::from(self == PaymentDue::EndOfNextMonth);
                let (ty, tm) = civil::month_from_index(civil::month_index(y, m) + extra);
                Some(civil::days_from_civil(ty, tm, civil::days_in_month(ty, tm)))
            }
        };
        due.and_then(civil::date_of).unwrap_or(created)
    }

    fn validate(self) -> Result<(), ValidationError> {
        let (value, max, unit) = match self {
            PaymentDue::Days(n) => (n, 3650, "days"),
            PaymentDue::Weeks(n) => (n, 520, "weeks"),
            PaymentDue::Months(n) => (n, 120, "months"),
            PaymentDue::EndOfMonth | PaymentDue::EndOfNextMonth => return Ok(()),
        };
        if value > max {
            return Err(ValidationError::OffsetOutOfRange {
                what: "payment due",
                value: i64::from(value),
                max: i64::from(max),
                unit,
            });
        }
        Ok(())
    }
}

/// Invoice options of a template: an invoice is issued with each created deal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct InvoiceOptions {
    /// The payment due date.
    #[serde(deserialize_with = "crate::json_enum::tagged")]
    pub payment_due: PaymentDue,
    /// Client e-mail ids to send the invoice to (the host sends the mail).
    #[serde(default)]
    pub send_to: Vec<u64>,
    /// Mail template id.
    #[serde(default)]
    pub mail_template: Option<u64>,
    /// Document (invoice form) template id.
    #[serde(default)]
    pub document_template: Option<u64>,
    /// Reminders N days before the due date (e.g. 7, 3, 1).
    #[serde(default)]
    pub remind_before_days: Vec<u32>,
    /// Overdue reminders N days after the due date (e.g. 1, 7).
    #[serde(default)]
    pub remind_after_days: Vec<u32>,
    /// The dunning ladder: escalation steps after the due date, earliest first
    /// ([`DunningStep`]; at most [`MAX_DUNNING_STEPS`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dunning: Vec<DunningStep>,
}

/// The most steps a dunning ladder may have.
pub const MAX_DUNNING_STEPS: usize = 12;

/// One step of a dunning ladder: what goes out `after_days` after an unpaid invoice's due
/// date, at the template's time of day in its zone.
///
/// An invoice becomes overdue at its first step; each step goes out once (an
/// [`crate::EventKind::DunningStep`] event, and an entry in the invoice's history); paying or
/// voiding the invoice stops the ladder. Steps already past when the invoice is issued (a
/// deal created late, catching up) are recorded as skipped, not sent; after downtime only
/// the latest due step goes out and the earlier ones are recorded as skipped.
///
/// ```
/// use recurring_deals::{DunningAction, DunningStep, InvoiceOptions, PaymentDue};
///
/// let options = InvoiceOptions::new(PaymentDue::Days(14)).dunning([
///     DunningStep::new(3, 1).mail_template(71),
///     DunningStep::new(10, 2).mail_template(72),
///     DunningStep::new(30, 3).action(DunningAction::StopTemplate),
/// ]);
/// assert!(options.validate().is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DunningStep {
    /// Days after the due date (1 ..= 365), strictly increasing along the ladder.
    pub after_days: u32,
    /// The escalation level (1 ..= 255), never decreasing along the ladder.
    pub level: u8,
    /// The mail template of this step (the host sends the mail).
    #[serde(default)]
    pub mail_template: Option<u64>,
    /// What happens with the step besides the mail; only the ladder's last step may have one.
    #[serde(default, deserialize_with = "crate::json_enum::optional")]
    pub action: Option<DunningAction>,
}

impl DunningStep {
    /// A step `after_days` after the due date at `level`, without mail template or action.
    pub fn new(after_days: u32, level: u8) -> DunningStep {
        DunningStep {
            after_days,
            level,
            mail_template: None,
            action: None,
        }
    }

    /// The step's mail template id.
    pub fn mail_template(mut self, id: u64) -> Self {
        self.mail_template = Some(id);
        self
    }

    /// The step's final action.
    pub fn action(mut self, action: DunningAction) -> Self {
        self.action = Some(action);
        self
    }
}

/// The final action of a dunning ladder's last step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DunningAction {
    /// Hand the invoice over (to collections, a manager): the host acts on the step's event.
    HandOver,
    /// Stop the template: the engine deactivates it (no more deals until it is activated
    /// again), exactly once, even if the process dies in between.
    StopTemplate,
}

impl Default for InvoiceOptions {
    /// Due in 10 days, sent to nobody, no reminders.
    fn default() -> Self {
        InvoiceOptions::new(PaymentDue::Days(10))
    }
}

impl InvoiceOptions {
    /// Invoices due by `payment_due`, sent to nobody, without reminders; the other methods
    /// add what is needed.
    ///
    /// ```
    /// use recurring_deals::{InvoiceOptions, PaymentDue};
    ///
    /// let options = InvoiceOptions::new(PaymentDue::EndOfMonth)
    ///     .send_to([501])
    ///     .remind_before([3, 1])
    ///     .remind_after([7]);
    /// assert_eq!(options.remind_before_days, [3, 1]);
    /// assert!(options.validate().is_ok());
    /// ```
    pub fn new(payment_due: PaymentDue) -> InvoiceOptions {
        InvoiceOptions {
            payment_due,
            send_to: Vec::new(),
            mail_template: None,
            document_template: None,
            remind_before_days: Vec::new(),
            remind_after_days: Vec::new(),
            dunning: Vec::new(),
        }
    }

    /// Client e-mail ids to send each invoice to.
    pub fn send_to(mut self, recipients: impl IntoIterator<Item = u64>) -> Self {
        self.send_to = recipients.into_iter().collect();
        self
    }

    /// The mail template id.
    pub fn mail_template(mut self, id: u64) -> Self {
        self.mail_template = Some(id);
        self
    }

    /// The document (invoice form) template id.
    pub fn document_template(mut self, id: u64) -> Self {
        self.document_template = Some(id);
        self
    }

    /// Reminders this many days before the due date.
    pub fn remind_before(mut self, days: impl IntoIterator<Item = u32>) -> Self {
        self.remind_before_days = days.into_iter().collect();
        self
    }

    /// Overdue reminders this many days after the due date.
    pub fn remind_after(mut self, days: impl IntoIterator<Item = u32>) -> Self {
        self.remind_after_days = days.into_iter().collect();
        self
    }

    /// The dunning ladder, earliest step first ([`DunningStep`]).
    pub fn dunning(mut self, steps: impl IntoIterator<Item = DunningStep>) -> Self {
        self.dunning = steps.into_iter().collect();
        self
    }

    /// Checks ranges: due offsets and reminder offsets (at most 365 days), and the dunning
    /// ladder (at most [`MAX_DUNNING_STEPS`] steps, 1 ..= 365 days after the due date and
    /// strictly increasing, levels 1 ..= 255 never decreasing, an action on the last step
    /// only).
    ///
    /// # Errors
    /// [`ValidationError::OffsetOutOfRange`]; [`ValidationError::Dunning`] naming the step;
    /// [`ValidationError::TooLong`] for more than [`crate::limits::INVOICE_RECIPIENTS`]
    /// recipients or [`crate::limits::INVOICE_REMINDERS`] reminders on either side.
    pub fn validate(&self) -> Result<(), ValidationError> {
        use crate::limits::{INVOICE_RECIPIENTS, INVOICE_REMINDERS};
        use crate::validation::at_most;
        at_most(
            "invoice recipients",
            self.send_to.len(),
            INVOICE_RECIPIENTS,
            "items",
        )?;
        at_most(
            "reminders before the due date",
            self.remind_before_days.len(),
            INVOICE_REMINDERS,
            "items",
        )?;
        at_most(
            "reminders after the due date",
            self.remind_after_days.len(),
            INVOICE_REMINDERS,
            "items",
        )?;
        self.validate_dunning()?;
        self.payment_due.validate()?;
        for &days in self
            .remind_before_days
            .iter()
            .chain(&self.remind_after_days)
        {
            if days > 365 {
                return Err(ValidationError::OffsetOutOfRange {
                    what: "reminder",
                    value: i64::from(days),
                    max: 365,
                    unit: "days",
                });
            }
        }
        Ok(())
    }

    fn validate_dunning(&self) -> Result<(), ValidationError> {
        let refuse = |step: usize, reason: String| Err(ValidationError::Dunning { step, reason });
        if self.dunning.len() > MAX_DUNNING_STEPS {
            return refuse(
                self.dunning.len(),
                format!(
                    "a ladder has at most {MAX_DUNNING_STEPS} steps, got {}",
                    self.dunning.len()
                ),
            );
        }
        let last = self.dunning.len().saturating_sub(1);
        let mut previous: Option<&DunningStep> = None;
        for (i, step) in self.dunning.iter().enumerate() {
            if !(1..=365).contains(&step.after_days) {
                return refuse(
                    i,
                    format!(
                        "after_days must be 1 ..= 365 days after the due date, got {}",
                        step.after_days
                    ),
                );
            }
            if step.level == 0 {
                return refuse(i, "level must be 1 ..= 255, got 0".to_owned());
            }
            if let Some(before) = previous {
                if step.after_days <= before.after_days {
                    return refuse(
                        i,
                        format!(
                            "after_days must increase along the ladder: {} follows {}",
                            step.after_days, before.after_days
                        ),
                    );
                }
                if step.level < before.level {
                    return refuse(
                        i,
                        format!(
                            "levels must not decrease along the ladder: {} follows {}",
                            step.level, before.level
                        ),
                    );
                }
            }
            if let (Some(action), true) = (step.action, i != last) {
                return refuse(
                    i,
                    format!("only the last step may have an action, got {action:?} before it"),
                );
            }
            previous = Some(step);
        }
        Ok(())
    }

    /// Reminder offsets relative to the due date, in days (negative: before), earliest first.
    pub(crate) fn reminder_offsets(&self) -> Vec<i32> {
        // Validated offsets are at most 365 days; a stored row read back is not validated
        // again, so larger ones saturate rather than wrap.
        let days = |d: u32| i32::try_from(d).unwrap_or(i32::MAX);
        let mut offsets: Vec<i32> = self
            .remind_before_days
            .iter()
            .map(|&d| -days(d))
            .chain(self.remind_after_days.iter().map(|&d| days(d)))
            .collect();
        offsets.sort_unstable();
        offsets.dedup();
        offsets
    }
}

/// Whether an invoice still wants reminders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum InvoiceStatus {
    /// Not paid yet: reminders go out.
    Open,
    /// Paid (reported by the host): no more reminders.
    Paid,
    /// Voided (reported by the host): no more reminders.
    Voided,
}

/// An invoice issued with a created deal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Invoice {
    /// The tenant.
    pub tenant: TenantId,
    /// The deal it belongs to (also the invoice's key).
    pub deal: DealKey,
    /// Amount.
    pub amount: Money,
    /// Creation date (the deal's nominal date).
    pub issued_on: NaiveDate,
    /// Payment due date.
    pub due_on: NaiveDate,
    /// Where to send it.
    pub send_to: Vec<u64>,
    /// Mail template id.
    pub mail_template: Option<u64>,
    /// Document template id.
    pub document_template: Option<u64>,
    /// Status.
    pub status: InvoiceStatus,
    /// Reminders still to send, earliest first.
    pub pending_reminders: Vec<PendingReminder>,
    /// Dunning steps still to send, earliest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending_dunning: Vec<PendingDunning>,
    /// The level of the last dunning step sent (0: none sent).
    #[serde(default)]
    pub dunning_level: u8,
    /// When the invoice became overdue: the instant of its first dunning step (sent or
    /// skipped). `None` while it is not, or has no ladder.
    #[serde(default)]
    pub overdue_since: Option<DateTime<Utc>>,
    /// A final action of a sent step the engine has still to carry out (set and cleared by
    /// the engine; it survives a crash in between).
    #[serde(default)]
    pub pending_action: Option<PendingAction>,
    /// What happened to the invoice, oldest first, at most [`MAX_HISTORY`] entries (the
    /// oldest are dropped first; [`Invoice::history_dropped`] counts them).
    #[serde(default)]
    pub history: Vec<InvoiceRecord>,
    /// How many of the oldest history entries were dropped to keep [`MAX_HISTORY`].
    #[serde(default)]
    pub history_dropped: u32,
    /// Optimistic-concurrency version, bumped by every commit.
    pub version: u64,
}

/// The most history entries an invoice keeps.
pub const MAX_HISTORY: usize = 256;

/// A reminder scheduled for an invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PendingReminder {
    /// When it is due.
    pub at: DateTime<Utc>,
    /// Days relative to the due date (negative: before).
    pub offset_days: i32,
}

/// A dunning step scheduled for an invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PendingDunning {
    /// When it is due.
    pub at: DateTime<Utc>,
    /// The step, as the template's ladder had it when the invoice was issued.
    pub step: DunningStep,
}

/// A final action the engine has still to carry out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PendingAction {
    /// The action.
    pub action: DunningAction,
    /// When its step was sent.
    pub since: DateTime<Utc>,
}

/// One entry of an invoice's history: when, and what.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct InvoiceRecord {
    /// When it was recorded (the tick's or the call's instant).
    pub at: DateTime<Utc>,
    /// What happened.
    pub entry: InvoiceEntry,
}

/// What happened to an invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
#[non_exhaustive]
pub enum InvoiceEntry {
    /// Issued with its deal (an `invoice_issued` event went out).
    Issued {
        /// The due date.
        due_on: NaiveDate,
    },
    /// A payment reminder went out.
    ReminderSent {
        /// Days relative to the due date (negative: before).
        offset_days: i32,
        /// When it was scheduled.
        scheduled: DateTime<Utc>,
    },
    /// A payment reminder was not sent.
    ReminderSkipped {
        /// Days relative to the due date (negative: before).
        offset_days: i32,
        /// When it was scheduled.
        scheduled: DateTime<Utc>,
        /// Why.
        reason: StepSkipReason,
    },
    /// A dunning step went out.
    DunningSent {
        /// The step.
        step: DunningStep,
        /// When it was scheduled.
        scheduled: DateTime<Utc>,
    },
    /// A dunning step was not sent.
    DunningSkipped {
        /// The step.
        step: DunningStep,
        /// When it was scheduled.
        scheduled: DateTime<Utc>,
        /// Why.
        reason: StepSkipReason,
    },
    /// The final action of a sent step was carried out.
    ActionTaken {
        /// The action.
        action: DunningAction,
        /// Whether it changed anything (`false`: the template was already stopped, finished
        /// or deleted).
        changed: bool,
    },
    /// The host reported a new status.
    StatusChanged {
        /// The status before.
        from: InvoiceStatus,
        /// The status after.
        to: InvoiceStatus,
    },
}

/// Why a reminder or dunning step was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StepSkipReason {
    /// Already past when the invoice was issued (a deal created late).
    PastAtIssue,
    /// A later step was due at the same time (the engine was down); it went out instead.
    Superseded,
}

impl Invoice {
    /// When the invoice next needs the engine, if ever: its next reminder or dunning step
    /// while it is open, or a final action still to carry out. The stores index it.
    pub fn next_reminder(&self) -> Option<DateTime<Utc>> {
        let open = match self.status {
            InvoiceStatus::Open => {
                let reminder = self.pending_reminders.first().map(|r| r.at);
                let step = self.pending_dunning.first().map(|d| d.at);
                reminder.into_iter().chain(step).min()
            }
            InvoiceStatus::Paid | InvoiceStatus::Voided => None,
        };
        // An action is carried out whatever the status: its step went out.
        let action = self.pending_action.map(|a| a.since);
        open.into_iter().chain(action).min()
    }

    /// Whether the invoice is overdue: open, and past its first dunning step.
    pub fn is_overdue(&self) -> bool {
        self.status == InvoiceStatus::Open && self.overdue_since.is_some()
    }

    /// Appends to the history, dropping the oldest entries beyond [`MAX_HISTORY`].
    pub(crate) fn record(&mut self, at: DateTime<Utc>, entry: InvoiceEntry) {
        if self.history.len() >= MAX_HISTORY {
            let excess = self.history.len() + 1 - MAX_HISTORY;
            self.history.drain(..excess);
            self.history_dropped = self
                .history_dropped
                .saturating_add(u32::try_from(excess).unwrap_or(u32::MAX));
        }
        self.history.push(InvoiceRecord { at, entry });
    }
}

/// Where a page of a tenant's overdue invoices starts: after the invoice at this place
/// ([`OverduePosition::of`]). Overdue invoices are listed by the instant they became overdue,
/// then by deal key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OverduePosition {
    /// When the invoice became overdue.
    pub overdue_since: DateTime<Utc>,
    /// Its deal.
    pub deal: DealKey,
}

impl OverduePosition {
    /// The place of `invoice` in the overdue list (`None` if it has never been overdue).
    pub fn of(invoice: &Invoice) -> Option<OverduePosition> {
        invoice.overdue_since.map(|overdue_since| OverduePosition {
            overdue_since,
            deal: invoice.deal,
        })
    }

    /// The listing order as a sortable key: the instant, then the deal key's columns
    /// (template, kind, revision, number), as the durable stores sort them.
    pub fn sort_key(&self) -> (DateTime<Utc>, u64, u8, u32, u64) {
        let (template, kind, revision, num) = self.deal.columns();
        (self.overdue_since, template, kind, revision, num)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deal::Currency;
    use crate::ids::TemplateId;
    use chrono::TimeZone;

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, day, hour, 0, 0).unwrap()
    }

    fn invoice() -> Invoice {
        let date = |d| NaiveDate::from_ymd_opt(2026, 3, d).unwrap();
        Invoice {
            tenant: TenantId::new("acme").unwrap(),
            deal: DealKey::Scheduled {
                template: TemplateId(1),
                revision: 0,
                seq: 0,
            },
            amount: Money::new(100, Currency::new("EUR").unwrap()),
            issued_on: date(1),
            due_on: date(11),
            send_to: Vec::new(),
            mail_template: None,
            document_template: None,
            status: InvoiceStatus::Open,
            pending_reminders: Vec::new(),
            pending_dunning: Vec::new(),
            dunning_level: 0,
            overdue_since: None,
            pending_action: None,
            history: Vec::new(),
            history_dropped: 0,
            version: 0,
        }
    }

    #[test]
    fn ladders_are_checked_step_by_step() {
        let refused =
            |ladder: Vec<DunningStep>| match InvoiceOptions::default().dunning(ladder).validate() {
                Err(ValidationError::Dunning { step, reason }) => (step, reason),
                other => panic!("expected a dunning refusal, got {other:?}"),
            };
        let step = DunningStep::new;
        assert_eq!(refused(vec![step(0, 1)]).0, 0);
        assert!(refused(vec![step(366, 1)]).1.contains("1 ..= 365"));
        assert!(refused(vec![step(3, 0)]).1.contains("1 ..= 255"));
        let (at, reason) = refused(vec![step(3, 1), step(3, 2)]);
        assert_eq!(at, 1);
        assert!(reason.contains("3 follows 3"), "{reason}");
        assert!(
            refused(vec![step(3, 2), step(5, 1)])
                .1
                .contains("1 follows 2")
        );
        let early_action = vec![step(3, 1).action(DunningAction::HandOver), step(5, 2)];
        assert_eq!(refused(early_action).0, 0);
        let long: Vec<DunningStep> = (1..=13).map(|d| step(d, 1)).collect();
        assert!(refused(long).1.contains("at most 12"));
        // What is accepted: equal levels, an action on the last step, days up to a year.
        let ladder = vec![
            step(1, 1),
            step(2, 1).mail_template(5),
            step(365, 255).action(DunningAction::StopTemplate),
        ];
        assert!(InvoiceOptions::default().dunning(ladder).validate().is_ok());
    }

    #[test]
    fn the_next_call_is_the_earliest_of_reminder_step_and_pending_action() {
        let mut invoice = invoice();
        assert_eq!(invoice.next_reminder(), None);
        invoice.pending_reminders = vec![PendingReminder {
            at: at(10, 9),
            offset_days: -1,
        }];
        invoice.pending_dunning = vec![PendingDunning {
            at: at(14, 9),
            step: DunningStep::new(3, 1),
        }];
        assert_eq!(invoice.next_reminder(), Some(at(10, 9)));
        invoice.pending_reminders.clear();
        assert_eq!(invoice.next_reminder(), Some(at(14, 9)));
        // Paid: nothing more is sent, but a final action still to carry out is due.
        invoice.status = InvoiceStatus::Paid;
        assert_eq!(invoice.next_reminder(), None);
        invoice.pending_action = Some(PendingAction {
            action: DunningAction::StopTemplate,
            since: at(20, 9),
        });
        assert_eq!(invoice.next_reminder(), Some(at(20, 9)));
        assert!(!invoice.is_overdue());
        invoice.status = InvoiceStatus::Open;
        invoice.overdue_since = Some(at(14, 9));
        assert!(invoice.is_overdue());
        assert_eq!(invoice.next_reminder(), Some(at(14, 9)));
    }

    #[test]
    fn the_history_keeps_the_newest_entries() {
        let mut invoice = invoice();
        let due_on = invoice.due_on;
        for n in 0..(MAX_HISTORY as i64 + 44) {
            invoice.record(
                at(1, 0) + chrono::TimeDelta::minutes(n),
                InvoiceEntry::Issued { due_on },
            );
        }
        assert_eq!(invoice.history.len(), MAX_HISTORY);
        assert_eq!(invoice.history_dropped, 44);
        assert_eq!(
            invoice.history[0].at,
            at(1, 0) + chrono::TimeDelta::minutes(44)
        );
    }

    #[test]
    fn stored_invoices_without_a_ladder_still_read() {
        let mut json = serde_json::to_value(invoice()).unwrap();
        for field in [
            "pending_dunning",
            "dunning_level",
            "overdue_since",
            "pending_action",
            "history",
            "history_dropped",
        ] {
            json.as_object_mut().unwrap().remove(field);
        }
        let read: Invoice = serde_json::from_value(json).unwrap();
        assert_eq!(read, invoice());
    }
}
