//! Recurring deal templates: a deal made recurring, its schedule, and its state.

mod draft;
mod split;
mod summary;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::deal::Deal;
use crate::ids::{TemplateId, TenantId};
use crate::invoice::InvoiceOptions;
use crate::schedule::Schedule;

pub use draft::{MAX_CATCH_UP_WINDOW_DAYS, TemplateDraft};
pub use split::InstallmentSplit;

/// A date offset for created deals' begin and close dates, counted from the creation date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DateOffset {
    /// N days (0 ..= 3650).
    Days(u32),
    /// N weeks (0 ..= 520).
    Weeks(u32),
    /// N months, clamped to the month's length (0 ..= 120).
    Months(u32),
}

impl DateOffset {
    /// The date `self` after `date`. Any offset is computed, validated or not (templates
    /// bound theirs); a date past the end of chrono's calendar (year 262143) is `date` itself.
    ///
    /// ```
    /// use chrono::NaiveDate;
    /// use recurring_deals::DateOffset;
    ///
    /// let jan31 = NaiveDate::from_ymd_opt(2026, 1, 31).unwrap();
    /// assert_eq!(DateOffset::Months(1).after(jan31).to_string(), "2026-02-28");
    /// assert_eq!(DateOffset::Months(u32::MAX).after(jan31), jan31);
    /// ```
    pub fn after(self, date: NaiveDate) -> NaiveDate {
        // chrono adds days within a year without leaving its packed form: the common case of
        // a close date a week on stays cheap for bulk previews.
        let shifted = match self {
            DateOffset::Days(n) => date.checked_add_days(chrono::Days::new(u64::from(n))),
            DateOffset::Weeks(n) => date.checked_add_days(chrono::Days::new(7 * u64::from(n))),
            DateOffset::Months(n) => {
                crate::civil::add_months_clamped(crate::civil::days_of(date), i64::from(n))
                    .and_then(crate::civil::date_of)
            }
        };
        shifted.unwrap_or(date)
    }

    pub(crate) fn validate(
        self,
        what: &'static str,
    ) -> Result<(), crate::validation::ValidationError> {
        let (value, max, unit) = match self {
            DateOffset::Days(n) => (n, 3650, "days"),
            DateOffset::Weeks(n) => (n, 520, "weeks"),
            DateOffset::Months(n) => (n, 120, "months"),
        };
        if value > max {
            return Err(crate::ValidationError::OffsetOutOfRange {
                what,
                value: i64::from(value),
                max: i64::from(max),
                unit,
            });
        }
        Ok(())
    }
}

/// What to do with occurrences that came due while nothing ran (downtime, a late tick).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CatchUpMode {
    /// Create every missed occurrence (marked as catch-up).
    #[default]
    All,
    /// Create only the most recent missed occurrence; skip the older ones.
    Latest,
    /// Create only occurrences of the current civil day (in the schedule's zone); skip older.
    None,
}

/// The catch-up policy of a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CatchUpPolicy {
    /// Which missed occurrences to create.
    #[serde(default, deserialize_with = "crate::json_enum::tagged")]
    pub mode: CatchUpMode,
    /// Occurrences older than this many days are skipped whatever the mode (0 ..=
    /// [`MAX_CATCH_UP_WINDOW_DAYS`]; `None`: no window).
    #[serde(default)]
    pub window_days: Option<u32>,
    /// At most this many occurrences are processed (created or skipped) per tick, the rest on
    /// the next ticks (1 ..= 100,000).
    #[serde(default = "default_max_per_tick")]
    pub max_per_tick: u32,
}

fn default_max_per_tick() -> u32 {
    100
}

impl Default for CatchUpPolicy {
    fn default() -> Self {
        CatchUpPolicy {
            mode: CatchUpMode::All,
            window_days: None,
            max_per_tick: default_max_per_tick(),
        }
    }
}

/// What resuming a paused template does with the occurrences of the paused span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ResumePolicy {
    /// Skip them, recording each with the reason "paused" (Stripe's and Temporal's default).
    #[default]
    SkipPausedSpan,
    /// Create them, as catch-up.
    CatchUpPausedSpan,
}

/// Whether a template runs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
#[non_exhaustive]
pub enum TemplateState {
    /// Creates deals on schedule.
    Active,
    /// Creates nothing until resumed (by hand, or on `resume_on` in the schedule's zone).
    Paused {
        /// Why.
        note: String,
        /// The civil date it resumes by itself.
        resume_on: Option<NaiveDate>,
    },
    /// Switched off by hand; [`crate::Engine::activate`] switches it on again.
    Inactive,
    /// The series is over (count reached, until passed, once done).
    Finished,
}

/// Why an occurrence was not created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SkipReason {
    /// The template was paused or inactive then.
    Paused,
    /// Older than the catch-up window.
    OutsideWindow,
    /// A later missed occurrence was created instead (catch-up mode `latest`).
    Superseded,
    /// Missed, and catch-up mode `none`.
    Missed,
    /// Skipped on request.
    Requested,
}

/// How many deals a template made and missed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Counters {
    /// Deals created by the schedule (what an end count limits).
    pub created_by_schedule: u64,
    /// Deals created by hand ("create now").
    pub created_manually: u64,
    /// Occurrences skipped (each recorded with its reason).
    pub skipped: u64,
    /// Failed attempts to commit (each retried).
    pub failed: u64,
}

/// The last failure of a template, retried with backoff (a failure never switches a
/// template off).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Failure {
    /// Consecutive failed attempts.
    pub attempts: u32,
    /// The error, as text.
    pub error: String,
    /// When the next attempt is due.
    pub retry_at: DateTime<Utc>,
}

/// Pipeline and stage for created deals.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Target {
    /// Pipeline (category).
    pub pipeline: u32,
    /// Stage.
    pub stage: String,
}

/// A recurring deal template, as stored. Changed only through the [`crate::Engine`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Template {
    pub(crate) tenant: TenantId,
    pub(crate) id: TemplateId,
    pub(crate) version: u64,
    pub(crate) deal: Deal,
    /// The schedule without a count end: the count lives in `limit`, because skipped
    /// occurrences must not use it up.
    pub(crate) schedule: Schedule,
    pub(crate) revision: u32,
    pub(crate) limit: Option<u64>,
    pub(crate) target: Option<Target>,
    pub(crate) begin_offset: Option<DateOffset>,
    pub(crate) close_offset: Option<DateOffset>,
    pub(crate) catch_up: CatchUpPolicy,
    pub(crate) resume: ResumePolicy,
    pub(crate) invoice: Option<InvoiceOptions>,
    /// Notice leads in days, longest first.
    #[serde(default, deserialize_with = "notice_leads")]
    pub(crate) upcoming_notice_days: Vec<u32>,
    pub(crate) split: Option<InstallmentSplit>,
    pub(crate) based_on: Option<u64>,
    pub(crate) state: TemplateState,
    pub(crate) counters: Counters,
    /// Instant of the last occurrence processed (created or skipped) in this revision.
    pub(crate) cursor: Option<DateTime<Utc>>,
    /// Occurrences up to this instant are skipped as `paused` (set on resume).
    pub(crate) skip_through: Option<DateTime<Utc>>,
    /// Occurrence seqs of this revision to skip on request.
    pub(crate) skip_requests: std::collections::BTreeSet<u64>,
    /// Every notice lead is handled for the occurrences up to this instant.
    pub(crate) noticed_through: Option<DateTime<Utc>>,
    /// Per notice lead (days), the instant of the last occurrence whose notice of that lead
    /// was handled (sent or skipped); `noticed_through` is a floor for every lead (the form
    /// of earlier releases, which had one lead).
    #[serde(default)]
    pub(crate) noticed: std::collections::BTreeMap<u32, DateTime<Utc>>,
    pub(crate) last_run: Option<DateTime<Utc>>,
    pub(crate) next_run: Option<DateTime<Utc>>,
    pub(crate) failure: Option<Failure>,
    /// Terms revisions by effective date ([`crate::TermsRevision`]): the one in force and
    /// those to come (absent in rows written before terms changes existed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) terms: Vec<crate::terms::TermsRevision>,
    /// The last terms changes applied, oldest first, at most
    /// [`crate::terms::MAX_REMEMBERED_CHANGES`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) terms_applied: Vec<crate::terms::AppliedChange>,
    /// The number of the last terms revision made (0: none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(crate) terms_revision: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Template {
    /// The tenant.
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }
    /// The id.
    pub fn id(&self) -> TemplateId {
        self.id
    }
    /// Optimistic-concurrency version, bumped by every commit.
    pub fn version(&self) -> u64 {
        self.version
    }
    /// The template deal created deals copy.
    pub fn deal(&self) -> &Deal {
        &self.deal
    }
    /// The schedule (its count end, if any, is [`Template::limit`]).
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }
    /// The schedule revision (bumped by schedule edits).
    pub fn revision(&self) -> u32 {
        self.revision
    }
    /// How many deals the schedule creates in all, if limited.
    pub fn limit(&self) -> Option<u64> {
        self.limit
    }
    /// The state.
    pub fn state(&self) -> &TemplateState {
        &self.state
    }
    /// The counters.
    pub fn counters(&self) -> Counters {
        self.counters
    }
    /// When the engine last created a deal from it.
    pub fn last_run(&self) -> Option<DateTime<Utc>> {
        self.last_run
    }
    /// When the engine next has work for it (a creation, a notice, a retry); `None` when
    /// nothing more will happen by itself.
    pub fn next_run(&self) -> Option<DateTime<Utc>> {
        self.next_run
    }
    /// The last failure, while retrying.
    pub fn failure(&self) -> Option<&Failure> {
        self.failure.as_ref()
    }
    /// The ordinary deal the template was made from, if any.
    pub fn based_on(&self) -> Option<u64> {
        self.based_on
    }
    /// Invoice options.
    pub fn invoice(&self) -> Option<&InvoiceOptions> {
        self.invoice.as_ref()
    }
    /// Catch-up policy.
    pub fn catch_up(&self) -> CatchUpPolicy {
        self.catch_up
    }
    /// Pipeline and stage for created deals.
    pub fn target(&self) -> Option<&Target> {
        self.target.as_ref()
    }
    /// Begin-date offset of created deals.
    pub fn begin_offset(&self) -> Option<DateOffset> {
        self.begin_offset
    }
    /// Close-date offset of created deals.
    pub fn close_offset(&self) -> Option<DateOffset> {
        self.close_offset
    }
    /// Upcoming-deal notice leads in days, longest first.
    pub fn upcoming_notice_days(&self) -> &[u32] {
        &self.upcoming_notice_days
    }
    /// The number of the template's last terms revision (0 before any terms change;
    /// [`Template::apply_terms`]).
    pub fn terms_revision(&self) -> u32 {
        self.terms_revision
    }
}

/// Notice leads in JSON: a list of day counts, one number, or `null` (none); the single
/// number is the form of earlier releases.
pub(crate) fn notice_leads<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<u32>, D::Error> {
    struct Leads;
    impl<'de> serde::de::Visitor<'de> for Leads {
        type Value = Vec<u32>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a list of day counts such as [30, 7, 1], one day count, or null")
        }
        fn visit_u64<E: serde::de::Error>(self, days: u64) -> Result<Vec<u32>, E> {
            u32::try_from(days)
                .map(|days| vec![days])
                .map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(days), &self))
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Vec<u32>, E> {
            Ok(Vec::new())
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Vec<u32>, E> {
            Ok(Vec::new())
        }
        fn visit_some<D2: serde::Deserializer<'de>>(self, d: D2) -> Result<Vec<u32>, D2::Error> {
            d.deserialize_any(Leads)
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u32>, A::Error> {
            let mut leads = Vec::new();
            while let Some(days) = seq.next_element::<u32>()? {
                if leads.len() == 64 {
                    return Err(serde::de::Error::invalid_length(65, &self));
                }
                leads.push(days);
            }
            Ok(leads)
        }
    }
    deserializer.deserialize_option(Leads)
}
