//! An embeddable engine for CRM recurring deals: templates that create deals on drift-free,
//! DST-correct schedules, exactly once, with recurring invoices and payment reminders.
//!
//! ```
//! use chrono::{NaiveDate, TimeDelta, TimeZone, Utc};
//! use recurring_deals::*;
//!
//! let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 6, 0, 0).unwrap());
//! let engine = Engine::new(InMemoryRepository::new(), clock.clone());
//! let start = NaiveDate::from_ymd_opt(2026, 1, 31).unwrap().and_hms_opt(9, 0, 0).unwrap();
//! let monthly = Recurrence::monthly(Interval::ONE, MonthDay::Day(DayOfMonth::new(31)?));
//! let schedule = Schedule::builder(monthly, start, chrono_tz::Europe::Moscow).build()?;
//! let deal = Deal::new("Support", Money::new(1_500_00, Currency::new("RUB")?))?;
//! let tenant = TenantId::new("acme")?;
//! engine.create_template(&tenant, TemplateDraft::new(deal, schedule))?;
//! clock.advance(TimeDelta::days(80)); // the host was down: missed months are caught up
//! assert_eq!(engine.tick()?.created.len(), 2); // Jan 31 and Feb 28, not Mar 3
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Overview
//!
//! * [`Schedule`]: when is each occurrence? A recurrence ([`Recurrence`]: every N days,
//!   working days, weeks on weekdays, months or years on a day, the Nth or last weekday, the
//!   Dth working day, or once with a lead time), a start date and time of day in an IANA zone,
//!   an [`End`], a [`WorkingCalendar`] with an optional [`Adjustment`] of days off, and
//!   exceptions. Built by [`Schedule::builder`], read from RFC 5545 text by
//!   [`Schedule::from_rrule`], or deserialized from its JSON form; all three validate and
//!   report a [`ScheduleError`] naming the bad value.
//! * [`Template`]: a deal made recurring ([`TemplateDraft`]), with offsets for created deals'
//!   dates, a [`CatchUpPolicy`], [`InvoiceOptions`], and its state and counters.
//! * [`plan`] and [`preview`]: the pure planner. Given a template and `now`, it returns the
//!   deals to create, the occurrences skipped and why, invoices, outbox events and the
//!   template's new state; no I/O, no clock.
//! * [`Repository`]: storage, a trait: `SqliteRepository` (feature `sqlite`, the embedded
//!   durable store), `PostgresRepository` (feature `postgres`, several workers on one
//!   database), [`InMemoryRepository`] (always there; tests and simulations);
//!   [`Clock`]: time, a trait ([`SystemClock`], [`ManualClock`]).
//! * [`Engine`]: ticks and the template lifecycle over a repository and a clock.
//!
//! # The run loop
//!
//! A host calls [`Engine::tick`] in a loop: the engine reads the clock once, loads the
//! templates whose next run is due, plans each (pure), commits each atomically with a version
//! check (a batch of templates per store transaction, [`Repository::commit_batch`]), and
//! reports [`TickReport::next_wake`]; the host delivers the outbox
//! ([`Engine::outbox`], [`Engine::ack`]) and sleeps until the next wake-up (or until a template
//! changes). Nothing in the crate but the [`clock`](SystemClock) reads the wall clock.
//!
//! # Time and DST
//!
//! Occurrence n is computed from the anchor and n, never from occurrence n − 1: a monthly
//! schedule on the 31st gives Jan 31, Feb 28, Mar 31, Apr 30 ([`Overflow::Clamp`], the default
//! for structured schedules) or skips short months ([`Overflow::Skip`], RFC 5545's meaning).
//! Local times are resolved by [`resolve_local`]: in a DST gap the time moves forward by the
//! gap, in an overlap the earlier instant is taken; a civil day a zone skipped entirely
//! (Pacific/Apia, 2011-12-30) has no occurrence. "Until" and "today" are the schedule zone's.
//! Only dates from 1900-01-01 to 2199-12-31 are supported; series end there. Zone offsets
//! come from chrono-tz up to 2099 and from each zone's ongoing tzdb rule after (chrono-tz
//! alone lists no daylight saving time past 2099).
//! [`Schedule::occurrences_after`] seeks by arithmetic, so "the next run" costs the same for a
//! schedule started yesterday or in 1990.
//!
//! # Idempotency and catch-up
//!
//! Every created deal has a unique [`DealKey`] (template, schedule revision, occurrence
//! `seq`); the repository refuses a second insert of a key and every commit is conditional on
//! the template's version, so retries, crashes and concurrent workers never create a deal
//! twice. What was due while nothing ran is created, or skipped and recorded with a
//! [`SkipReason`], per the template's [`CatchUpPolicy`]; skipped occurrences never use up a
//! count. A failed commit is recorded on the template ([`Template::failure`]) and retried with
//! backoff; a template is never switched off by a failure.
//!
//! # Crate features
//!
//! * `sqlite`: [`SqliteRepository`](crate::Repository), an SQLite store (bundled SQLite).
//! * `postgres`: a PostgreSQL store for several workers.
//!
//! The core depends on neither.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod blocking;
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
mod lifecycle;
mod planner;
mod rfc5545;
mod runner;
mod schedule;
pub mod store;
mod template;
mod zone;

pub use calendar::{Adjustment, WorkingCalendar};
pub use clock::{Clock, ManualClock, SystemClock};
pub use deal::{Currency, CustomValue, Deal, Money, ProductRow};
pub use describe::Locale;
pub use engine::{
    ConfigError, ConflictRetry, Engine, EngineConfig, EngineConfigBuilder, EngineError,
    RuntimeError, TickFailure, TickReport,
};
pub use error::ScheduleError;
pub use event::{EventKind, NewEvent, OutboxEvent};
pub use ids::{DealKey, TemplateId, TenantId};
pub use invoice::{Invoice, InvoiceOptions, InvoiceStatus, PaymentDue, PendingReminder};
pub use lifecycle::{Change, LifecycleError};
pub use planner::{
    CreatedDeal, PreviewDeal, SkippedOccurrence, TemplatePlan, plan, plan_reminders, preview,
};
pub use runner::{
    NoWakeSource, OutboxHandler, Runner, RunnerConfig, RunnerStatus, Wake, WakeSource,
};
pub use schedule::recurrence::{
    DayOfMonth, Interval, Lead, MonthDay, Ordinal, Overflow, Recurrence, WeekdaySet,
    WorkingDayNumber,
};
pub use schedule::{End, Occurrence, Occurrences, Schedule, ScheduleBuilder, parse_zone};
pub use store::{
    Commit, CommitOutcome, DynRepository, InMemoryRepository, Page, Repository, RepositoryError,
    StateFilter, TemplateQuery,
};
pub use template::{
    CatchUpMode, CatchUpPolicy, Counters, DateOffset, Failure, InstallmentSplit, ResumePolicy,
    SkipReason, Target, Template, TemplateDraft, TemplateState,
};
pub use zone::resolve_local;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
