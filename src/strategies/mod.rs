//! Strategies for property tests (feature `proptest`): valid schedules, RFC 5545 text, deals,
//! invoice options and template drafts, drawn the way the crate's own property tests draw
//! them, for a host to test its code against the crate.
//!
//! Every function returns a [`proptest`] [`Strategy`](proptest::strategy::Strategy) whose
//! values the crate accepts: schedules built by [`Schedule::builder`](crate::Schedule::builder)
//! or read by [`Schedule::from_rrule`](crate::Schedule::from_rrule), text that
//! `from_rrule` reads, drafts that [`Engine::create_template`](crate::Engine::create_template)
//! accepts (`tests/strategies.rs` checks thousands of each). Values lean toward the hard
//! cases: the 27 [`ZONES`] with odd DST history (Apia's skipped day, midnight transitions in
//! Santiago and Havana, Lord Howe's 30-minute DST, Moscow's offset changes and more), starts
//! just before their transitions, month ends, calendars with a month without working days,
//! exceptions on the first occurrences. Failures shrink toward simple values (a daily rule in
//! UTC, no end, no exceptions), each function's docs say how.
//!
//! | strategy | values |
//! |---|---|
//! | [`zone`], [`time_of_day`], [`zone_and_start`] | zones of [`ZONES`], times of day that DST makes missing or repeated, starts near transitions |
//! | [`interval`], [`weekday`], [`weekday_set`], [`month_day`], [`lead`] | the parts of a recurrence |
//! | [`recurrence`], [`recurrence_from`] | every [`Recurrence`](crate::Recurrence) variant |
//! | [`calendar`], [`calendar_from`], [`adjustment`], [`overflow`] | working calendars and what happens on days off |
//! | [`schedule`], [`schedule_with`] | whole schedules: rule, zone, start, end, calendar, adjustment, exceptions |
//! | [`rrule_text`] | RFC 5545 `DTSTART` / `RRULE` / `EXDATE` / `RDATE` text |
//! | [`currency`], [`tenant`], [`deal`] | deals the engine accepts |
//! | [`payment_due`], [`invoice_options`] | invoice options, every [`PaymentDue`](crate::PaymentDue) variant |
//! | [`date_offset`], [`catch_up_policy`], [`template_draft`] | template drafts |
//!
//! # Example: every occurrence falls on a working day
//!
//! A property a host might check before relying on adjustments: with a working calendar and
//! a following or preceding adjustment, every occurrence falls on a working day (moved
//! occurrences and extra dates are left out: they go where they are told).
//!
//! ```
//! use proptest::prelude::*;
//! use recurring_deals::Adjustment;
//! use recurring_deals::strategies::{ExceptionKind, ScheduleOptions, schedule_with};
//!
//! proptest! {
//!     #![proptest_config(ProptestConfig::with_cases(64))]
//!
//!     // In a test file, mark it #[test]; here it is called below.
//!     fn every_occurrence_falls_on_a_working_day(
//!         schedule in schedule_with(
//!             ScheduleOptions::default()
//!                 .adjustments([Adjustment::Following, Adjustment::Preceding])
//!                 .exceptions([ExceptionKind::Skip, ExceptionKind::SkipInstant]),
//!         ),
//!     ) {
//!         for occurrence in schedule.occurrences().take(100) {
//!             prop_assert!(
//!                 schedule.calendar().is_working_day(occurrence.date()),
//!                 "{} is a day off: {}",
//!                 occurrence.date(),
//!                 schedule.to_rrule()
//!             );
//!         }
//!     }
//! }
//! # every_occurrence_falls_on_a_working_day();
//! ```

mod schedule;
mod template;
mod text;
mod zones;

pub use schedule::{
    EndKind, ExceptionKind, RuleKind, ScheduleOptions, adjustment, calendar, calendar_from,
    interval, lead, month_day, overflow, recurrence, recurrence_from, schedule, schedule_with,
    weekday, weekday_set,
};
pub use template::{
    catch_up_policy, currency, date_offset, deal, dunning_ladder, invoice_options, payment_due,
    template_draft, tenant,
};
pub use text::rrule_text;
pub use zones::{ZONES, time_of_day, zone, zone_and_start};
