//! An embeddable engine for CRM recurring deals: templates that create deals on drift-free,
//! DST-correct schedules, exactly once, with recurring invoices, payment reminders and a
//! transactional outbox. Async-first (tokio), with a blocking facade.
//!
//! ```
//! use chrono::{NaiveDate, TimeDelta, TimeZone, Utc};
//! use recurring_deals::*;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 6, 0, 0).unwrap());
//! let engine = Engine::new(InMemoryRepository::new(), clock.clone());
//! let start = NaiveDate::from_ymd_opt(2026, 1, 31).unwrap().and_hms_opt(9, 0, 0).unwrap();
//! let monthly = Recurrence::monthly(Interval::ONE, MonthDay::Day(DayOfMonth::new(31)?));
//! let schedule = Schedule::builder(monthly, start, Zone::get("Europe/Moscow")?).build()?;
//! let deal = Deal::new("Support", Money::new(1_500_00, Currency::new("RUB")?))?;
//! let tenant = TenantId::new("acme")?;
//! engine.create_template(&tenant, TemplateDraft::new(deal, schedule)).await?;
//! clock.advance(TimeDelta::days(80)); // the host was down: missed months are caught up
//! assert_eq!(engine.tick().await?.created.len(), 2); // Jan 31 and Feb 28, not Mar 3
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
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
//!   dates, a [`CatchUpPolicy`], [`InvoiceOptions`], and its state and counters. Its
//!   lifecycle ([`Template::pause`], [`Template::edit_schedule`], ...) is a set of pure
//!   transitions that take `now` and return the [`Change`] to commit.
//! * [`TermsChange`]: new amounts, product rows, pipeline and stage or assignee for a
//!   tenant's templates from a civil date on ([`Template::apply_terms`], pure;
//!   [`Engine::apply_terms_change`], atomic per template and resumable;
//!   [`Engine::dry_run_terms_change`], the forecast before and after).
//! * [`Invoice`]: issued with each deal of an invoiced template, with reminders and a
//!   dunning ladder ([`DunningStep`]: levels, mail templates, a final [`DunningAction`]) after
//!   the due date; [`plan_invoice`] is the pure step, each invoice keeps its history
//!   ([`Engine::invoice_history`]) and [`Engine::overdue_invoices`] lists a tenant's overdue
//!   ones.
//! * [`plan`] and [`preview`]: the pure planner. Given a template and `now`, it returns the
//!   deals to create, the occurrences skipped and why, invoices, outbox events and the
//!   template's new state; no I/O, no clock.
//! * [`Repository`]: storage, an async trait. [`InMemoryRepository`] is always there; the
//!   SQLite store (feature `sqlite`, the embedded durable default) and the PostgreSQL store
//!   (feature `postgres`, several workers on one database) live in [`store`], on sqlx, and
//!   take the host's own pool. [`DynRepository`] picks one at run time.
//! * [`Clock`]: time, a trait ([`SystemClock`], [`ManualClock`]); the only reader of the
//!   wall clock, and the timer the run loop sleeps on.
//! * [`Engine`]: ticks and the template lifecycle over a repository and a clock, every
//!   operation `async` with a `Send` future; [`Runner`]: the run loop of a service;
//!   [`blocking::Engine`]: the same operations for synchronous hosts.
//!
//! # The run loop
//!
//! A service shares one [`Engine`] (in an `Arc`) between its request handlers and a
//! [`Runner`], which ticks, hands each outbox event to the host's handler (acknowledged only
//! after the handler succeeded: at least once, deduplicated by the events' idempotency keys),
//! and sleeps until the next wake-up:
//!
//! ```no_run
//! use std::sync::Arc;
//! use recurring_deals::*;
//!
//! # async fn service() -> Result<(), Box<dyn std::error::Error>> {
//! let engine = Arc::new(Engine::new(InMemoryRepository::new(), SystemClock));
//! let runner = Runner::new(Arc::clone(&engine), RunnerConfig::default());
//! let deliver = |event: OutboxEvent| async move {
//!     // publish to the bus, call the webhook, send the mail...
//!     println!("{} {:?}", event.idempotency_key, event.kind);
//!     Ok::<(), std::io::Error>(())
//! };
//! let shutdown = async { tokio::signal::ctrl_c().await.ok(); };
//! tokio::spawn(runner.run(deliver, shutdown));
//! // ... request handlers call engine.create_template(..).await, engine.pause(..).await ...
//! # Ok(())
//! # }
//! ```
//!
//! Each tick reads the clock once, loads the templates whose next run is due, plans each
//! (pure), and commits them in batches ([`Repository::commit_batch`]: one transaction per
//! batch in the durable stores), each conditional on the template's version. The runner
//! wakes early on every change the engine commits, on [`Engine::notify`] (a template changed
//! in the host's own transaction), and on a [`WakeSource`] (PostgreSQL's `LISTEN`); it
//! sleeps at most [`RunnerConfig::max_sleep`] and stops on the shutdown signal after the
//! work in flight. A host may also call [`Engine::tick`] itself.
//!
//! Synchronous hosts and command-line tools use [`blocking::Engine`]: the same operations,
//! on a runtime of its own.
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
//! come from jiff's copy of the IANA tz database, bundled by default ([`tz::BUNDLED_VERSION`])
//! or a zoneinfo folder the host loads and reloads ([`tz::load`]); past a zone's last listed
//! transition its ongoing rule applies. [`tz::tzdb_version`] says which release is in use.
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
//! count. A lifecycle change (pause, deactivate, a schedule edit) first settles what fell due
//! while the template was active. A failed commit is recorded on the template
//! ([`Template::failure`]) and retried with back-off; a template is never switched off by a
//! failure.
//!
//! # Crate features
//!
//! * `sqlite`: the SQLite store, [`store::SqliteStore`] (sqlx, bundled SQLite).
//! * `postgres`: the PostgreSQL store, [`store::PostgresStore`] (sqlx).
//! * `tracing`: spans for tick, plan, commit and lifecycle changes, events for failures.
//! * `metrics`: counters, a histogram and a gauge through the `metrics` facade.
//! * `proptest`: [`strategies`], proptest strategies of valid schedules, RFC 5545 text, deals
//!   and template drafts for the host's own property tests.
//!
//! The core depends on none of them.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod blocking;
mod calendar;
mod civil;
pub mod clock;
mod deal;
mod describe;
mod engine;
mod error;
mod event;
pub mod forecast;
mod ids;
mod invoice;
pub mod json_enum;
mod lifecycle;
pub mod limits;
mod observe;
mod planner;
mod rfc5545;
mod runner;
mod schedule;
pub mod store;
#[cfg(feature = "proptest")]
#[cfg_attr(docsrs, doc(cfg(feature = "proptest")))]
pub mod strategies;
mod template;
mod terms;
mod validation;
mod zone;

/// Zone rules: the crate's [`Zone`] type, which tz database release is in use, and loading
/// another (the system's zoneinfo folder, or a folder of the host's own) while running.
pub mod tz {
    pub use crate::zone::Zone;
    pub use crate::zone::name::ZoneOffset;
    pub use crate::zone::resolve_local;
    pub use crate::zone::rules::{
        BUNDLED_VERSION, LoadedRules, ZoneError, ZoneSource, load, source, tzdb_version,
    };
}

pub use calendar::{Adjustment, WorkingCalendar};
pub use clock::{Clock, ManualClock, SystemClock};
pub use deal::{Currency, CustomValue, Deal, Money, ProductRow};
pub use describe::Locale;
pub use engine::{
    ConfigError, ConflictRetry, DealLimits, Engine, EngineConfig, EngineConfigBuilder, EngineError,
    RuntimeError, TemplateTerms, TermsDryRun, TermsOutcome, TermsReport, TickFailure, TickReport,
    ZoneReplan, ZoneReplanned,
};
pub use error::ScheduleError;
pub use event::{EventKind, NewEvent, OutboxEvent};
pub use ids::{DealKey, TemplateId, TenantId};
pub use invoice::{
    DunningAction, DunningStep, Invoice, InvoiceEntry, InvoiceOptions, InvoicePlan, InvoiceRecord,
    InvoiceStatus, MAX_DUNNING_STEPS, MAX_HISTORY, OverduePosition, PaymentDue, PendingAction,
    PendingDunning, PendingReminder, StepSkipReason, plan_invoice,
};
pub use lifecycle::{Change, LifecycleError};
pub use planner::{CreatedDeal, PreviewDeal, SkippedOccurrence, TemplatePlan, plan, preview};
pub use runner::{
    Handed, NoWakeSource, OutboxHandler, Runner, RunnerConfig, RunnerStatus, Wake, WakeSource,
};
pub use schedule::recurrence::{
    DayOfMonth, Interval, Lead, MonthDay, Ordinal, Overflow, Recurrence, WeekdaySet,
    WorkingDayNumber,
};
pub use schedule::{End, Occurrence, Occurrences, Schedule, ScheduleBuilder, parse_zone};
pub use store::{
    Commit, CommitOutcome, DynRepository, InMemoryRepository, ListPosition, Page, Repository,
    RepositoryError, StateFilter, TemplateQuery,
};
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use store::{PostgresOptions, PostgresStore};
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use store::{SqliteOptions, SqliteStore};
pub use template::{
    CatchUpMode, CatchUpPolicy, Counters, DateOffset, Failure, InstallmentSplit,
    MAX_CATCH_UP_WINDOW_DAYS, ResumePolicy, SkipReason, Target, Template, TemplateDraft,
    TemplateState,
};
pub use terms::{
    AmountChange, AppliedChange, ChangeId, MAX_REMEMBERED_CHANGES, MAX_TERMS_REVISIONS,
    PERCENT_RANGE, Rounding, TermsChange, TermsChangeBuilder, TermsError, TermsFilter,
    TermsRevision, TermsStep,
};
pub use validation::ValidationError;
pub use zone::rules::{ZoneError, tzdb_version};
pub use zone::{Zone, resolve_local};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
