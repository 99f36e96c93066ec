//! An embeddable engine for CRM recurring deals: drift-free, DST-correct recurrence schedules.
//!
//! ```
//! use chrono::{NaiveDate, TimeZone, Utc};
//! use recurring_deals::{DayOfMonth, End, Interval, MonthDay, Recurrence, Schedule};
//!
//! // A monthly deal on the 31st, 09:00 Moscow time: it never drifts to the 28th.
//! let start = NaiveDate::from_ymd_opt(2026, 1, 31).unwrap().and_hms_opt(9, 0, 0).unwrap();
//! let monthly = Recurrence::monthly(Interval::ONE, MonthDay::Day(DayOfMonth::new(31)?));
//! let schedule = Schedule::builder(monthly, start, chrono_tz::Europe::Moscow)
//!     .end(End::Count(12))
//!     .build()?;
//! let now = Utc.with_ymd_and_hms(2026, 4, 15, 0, 0, 0).unwrap();
//! let next = schedule.occurrences_after(now).next().unwrap();
//! assert_eq!((next.seq(), next.date()), (3, NaiveDate::from_ymd_opt(2026, 4, 30).unwrap()));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Overview
//!
//! A [`Schedule`] is a recurrence ([`Recurrence`]: every N days, working days, weeks on
//! weekdays, months or years on a day, or once), a start date and time of day in an IANA
//! zone, an [`End`], a [`WorkingCalendar`] with an optional [`Adjustment`] of days off, and
//! exceptions (skipped and moved occurrences). It is built by [`Schedule::builder`], read from
//! RFC 5545 text by [`Schedule::from_rrule`], or deserialized from its JSON form; all three
//! validate and report a [`ScheduleError`] naming the bad value.
//!
//! # Time and DST
//!
//! Occurrence n is computed from the anchor and n, never from occurrence n − 1: a monthly
//! schedule on the 31st gives Jan 31, Feb 28, Mar 31, Apr 30 ([`Overflow::Clamp`], the default
//! for structured schedules) or skips short months ([`Overflow::Skip`], RFC 5545's meaning).
//! Local times are resolved by [`resolve_local`]: in a DST gap the time moves forward by the
//! gap, in an overlap the earlier instant is taken; a civil day a zone skipped entirely
//! (Pacific/Apia, 2011-12-30) has no occurrence. "Until" and "today" are the schedule zone's.
//! Only dates from 1900-01-01 to 2199-12-31 are supported; series end there.
//!
//! # Seek
//!
//! [`Schedule::occurrences_after`] jumps to the first occurrence after an instant by arithmetic
//! for every structured rule, so asking for "the next run" costs the same for a schedule
//! started yesterday or in 1990. `seq` numbers are stable under seek and exceptions.

#![deny(missing_docs)]

mod calendar;
mod civil;
mod clock;
mod deal;
mod describe;
mod engine;
mod error;
mod event;
mod ids;
mod invoice;
mod planner;
mod repository;
mod rfc5545;
mod schedule;
mod template;
mod zone;

pub use calendar::{Adjustment, WorkingCalendar};
pub use clock::{Clock, ManualClock, SystemClock};
pub use deal::{Currency, CustomValue, Deal, Money, ProductRow};
pub use describe::Locale;
pub use engine::{Engine, EngineConfig, EngineError, TickReport};
pub use error::ScheduleError;
pub use event::{EventKind, NewEvent, OutboxEvent};
pub use ids::{DealKey, TemplateId, TenantId};
pub use invoice::{Invoice, InvoiceOptions, InvoiceStatus, PaymentDue, PendingReminder};
pub use planner::{
    CreatedDeal, PreviewDeal, SkippedOccurrence, TemplatePlan, plan, plan_reminders, preview,
};
#[cfg(feature = "postgres")]
pub use repository::PostgresRepository;
#[cfg(feature = "sqlite")]
pub use repository::SqliteRepository;
pub use repository::{
    Commit, CommitOutcome, InMemoryRepository, Page, Repository, RepositoryError, StateFilter,
    TemplateQuery,
};
pub use schedule::recurrence::{
    DayOfMonth, Interval, Lead, MonthDay, Ordinal, Overflow, Recurrence, WeekdaySet,
    WorkingDayNumber,
};
pub use schedule::{End, Occurrence, Occurrences, Schedule, ScheduleBuilder, parse_zone};
pub use template::{
    CatchUpMode, CatchUpPolicy, Counters, DateOffset, Failure, InstallmentSplit, ResumePolicy,
    SkipReason, Target, Template, TemplateDraft, TemplateState,
};
pub use zone::resolve_local;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
