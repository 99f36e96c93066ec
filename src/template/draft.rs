//! The input form of a template, validated by the engine when the template is created.

use serde::{Deserialize, Serialize};

use crate::Recurrence;
use crate::deal::Deal;
use crate::ids::{TemplateId, TenantId};
use crate::invoice::InvoiceOptions;
use crate::schedule::{End, Schedule};
use crate::template::{
    CatchUpPolicy, Counters, DateOffset, InstallmentSplit, ResumePolicy, Target, Template,
    TemplateState,
};
use crate::validation::ValidationError;

/// What a new template is made of: the deal to copy, the schedule, and the options. Also the
/// JSON form of templates files (see `examples/templates.json`).
///
/// ```
/// use chrono::NaiveDate;
/// use recurring_deals::*;
///
/// let rub = Currency::new("RUB")?;
/// let start = NaiveDate::from_ymd_opt(2026, 1, 31).unwrap().and_hms_opt(9, 0, 0).unwrap();
/// let schedule = Schedule::builder(
///     Recurrence::monthly(Interval::ONE, MonthDay::LastDay),
///     start,
///     Zone::get("Europe/Moscow")?,
/// )
/// .build()?;
/// let draft = TemplateDraft::new(Deal::new("Rent", Money::new(5_000_000, rub))?, schedule);
/// assert_eq!(draft.close_offset, Some(DateOffset::Days(7)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateDraft {
    /// The deal created deals copy.
    pub deal: Deal,
    /// When deals are created. An end count limits deals created by the schedule (skipped
    /// occurrences do not use it up).
    pub schedule: Schedule,
    /// Pipeline and stage of created deals (default: the template deal's).
    #[serde(default)]
    pub target: Option<Target>,
    /// Created deals' begin date = creation date + this (default: the template deal's).
    #[serde(default, deserialize_with = "crate::json_enum::optional")]
    pub begin_offset: Option<DateOffset>,
    /// Created deals' close date = creation date + this (default: 7 days, as Bitrix24).
    #[serde(
        default = "default_close_offset",
        deserialize_with = "crate::json_enum::optional"
    )]
    pub close_offset: Option<DateOffset>,
    /// Catch-up after downtime.
    #[serde(default)]
    pub catch_up: CatchUpPolicy,
    /// What resuming does with the paused span.
    #[serde(default, deserialize_with = "crate::json_enum::tagged")]
    pub resume: ResumePolicy,
    /// Issue an invoice with each created deal.
    #[serde(default)]
    pub invoice: Option<InvoiceOptions>,
    /// Emit an "upcoming deal" event this many days before each creation, once per lead:
    /// e.g. `[30, 7, 1]` (at most 8 distinct leads, each 0 ..= 365). A lead already past
    /// when the template is created, resumed or its schedule edited is skipped, not sent
    /// late. JSON: a list, a single number, or `null` (none).
    #[serde(default, deserialize_with = "super::notice_leads")]
    pub upcoming_notice_days: Vec<u32>,
    /// For a one-off schedule: split the amount, the created deal taking the last share
    /// (the first shares stay with the original deal: 50 % now, 50 % later).
    #[serde(default)]
    pub split: Option<InstallmentSplit>,
    /// The ordinary deal this template was made from (it stays an ordinary deal).
    #[serde(default)]
    pub based_on: Option<u64>,
}

fn default_close_offset() -> Option<DateOffset> {
    Some(DateOffset::Days(7))
}

/// The longest catch-up window a template takes, in days (100 years); no window is `None`.
pub const MAX_CATCH_UP_WINDOW_DAYS: u32 = 36_500;

/// The most upcoming-deal notice leads a template takes.
const MAX_NOTICE_LEADS: usize = 8;

impl TemplateDraft {
    /// A draft with default options.
    pub fn new(deal: Deal, schedule: Schedule) -> TemplateDraft {
        TemplateDraft {
            deal,
            schedule,
            target: None,
            begin_offset: None,
            close_offset: default_close_offset(),
            catch_up: CatchUpPolicy::default(),
            resume: ResumePolicy::default(),
            invoice: None,
            upcoming_notice_days: Vec::new(),
            split: None,
            based_on: None,
        }
    }

    /// Validates the draft into a template with the given identity.
    pub(crate) fn into_template(
        self,
        tenant: TenantId,
        id: TemplateId,
    ) -> Result<Template, crate::engine::EngineError> {
        self.deal.validate()?;
        if let Some(offset) = self.begin_offset {
            offset.validate("begin offset")?;
        }
        if let Some(offset) = self.close_offset {
            offset.validate("close offset")?;
        }
        if let Some(invoice) = &self.invoice {
            invoice.validate()?;
        }
        if let Some(&days) = self.upcoming_notice_days.iter().find(|&&d| d > 365) {
            return Err(ValidationError::OffsetOutOfRange {
                what: "upcoming notice",
                value: i64::from(days),
                max: 365,
                unit: "days",
            }
            .into());
        }
        let mut leads = self.upcoming_notice_days.clone();
        leads.sort_unstable_by(|a, b| b.cmp(a));
        leads.dedup();
        if leads.len() != self.upcoming_notice_days.len() || leads.len() > MAX_NOTICE_LEADS {
            return Err(ValidationError::NoticeLeads {
                leads: self.upcoming_notice_days,
                max: MAX_NOTICE_LEADS,
            }
            .into());
        }
        if !(1..=100_000).contains(&self.catch_up.max_per_tick) {
            return Err(ValidationError::OutOfRange {
                what: "catch_up.max_per_tick",
                value: i64::from(self.catch_up.max_per_tick),
                min: 1,
                max: 100_000,
                unit: "occurrences",
            }
            .into());
        }
        if let Some(window) = self.catch_up.window_days
            && window > MAX_CATCH_UP_WINDOW_DAYS
        {
            return Err(ValidationError::OutOfRange {
                what: "catch_up.window_days",
                value: i64::from(window),
                min: 0,
                max: i64::from(MAX_CATCH_UP_WINDOW_DAYS),
                unit: "days",
            }
            .into());
        }
        if let Some(split) = &self.split {
            let once = matches!(self.schedule.recurrence(), Some(Recurrence::Once { .. }));
            if !once || split.shares().len() != 2 {
                return Err(ValidationError::SplitShares {
                    shares: split.shares().to_vec(),
                }
                .into());
            }
        }
        let (schedule, limit) = match self.schedule.end() {
            End::Count(n) => (self.schedule.with_end(End::Never)?, Some(u64::from(n))),
            _ => (self.schedule, None),
        };
        Ok(Template {
            tenant,
            id,
            version: 0,
            deal: self.deal,
            schedule,
            revision: 0,
            limit,
            target: self.target,
            begin_offset: self.begin_offset,
            close_offset: self.close_offset,
            catch_up: self.catch_up,
            resume: self.resume,
            invoice: self.invoice,
            upcoming_notice_days: leads,
            split: self.split,
            based_on: self.based_on,
            state: TemplateState::Active,
            counters: Counters::default(),
            cursor: None,
            skip_through: None,
            skip_requests: Default::default(),
            noticed_through: None,
            noticed: Default::default(),
            last_run: None,
            next_run: None,
            failure: None,
            terms: Vec::new(),
            terms_applied: Vec::new(),
            terms_revision: 0,
        })
    }
}
