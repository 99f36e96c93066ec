//! Recurring invoices: payment terms, reminders before and after the due date.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::civil;
use crate::deal::Money;
use crate::ids::{DealKey, TenantId};
use crate::validation::ValidationError;

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

    /// Checks ranges: due offsets and reminder offsets (at most 365 days).
    ///
    /// # Errors
    /// [`ValidationError::OffsetOutOfRange`].
    pub fn validate(&self) -> Result<(), ValidationError> {
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
    /// Optimistic-concurrency version, bumped by every commit.
    pub version: u64,
}

/// A reminder scheduled for an invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PendingReminder {
    /// When it is due.
    pub at: DateTime<Utc>,
    /// Days relative to the due date (negative: before).
    pub offset_days: i32,
}

impl Invoice {
    /// When the next reminder is due, if the invoice is open.
    pub fn next_reminder(&self) -> Option<DateTime<Utc>> {
        match self.status {
            InvoiceStatus::Open => self.pending_reminders.first().map(|r| r.at),
            InvoiceStatus::Paid | InvoiceStatus::Voided => None,
        }
    }
}
