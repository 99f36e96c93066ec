//! The fixed bounds on what the crate takes, beside the host-set [`crate::DealLimits`] of a
//! template's deal. Each is checked before anything is stored or allocated for the input, and
//! refused with a typed error naming the part, its size and the bound:
//! [`ValidationError::TooLong`](crate::ValidationError::TooLong) (through
//! [`EngineError::Invalid`](crate::EngineError::Invalid) or
//! [`LifecycleError::Invalid`](crate::LifecycleError::Invalid)) or
//! [`ScheduleError::TooLarge`](crate::ScheduleError::TooLarge). Dates everywhere are
//! 1900-01-01 ..= 2199-12-31 ([`ValidationError::DateOutOfRange`](crate::ValidationError::DateOutOfRange),
//! [`ScheduleError::DateOutOfRange`](crate::ScheduleError::DateOutOfRange)).
//!
//! ```
//! use chrono::{NaiveDate, TimeZone, Utc};
//! use recurring_deals::{limits, LifecycleError, ValidationError};
//! # use recurring_deals::*;
//! # let schedule = Schedule::builder(Recurrence::daily(Interval::ONE),
//! #     NaiveDate::from_ymd_opt(2026, 3, 1).unwrap().and_hms_opt(9, 0, 0).unwrap(), Zone::UTC).build()?;
//! # let engine = blocking::Engine::new(InMemoryRepository::new(),
//! #     ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()))?;
//! # let acme = TenantId::new("acme")?;
//! # let id = engine.create_template(&acme, TemplateDraft::new(
//! #     Deal::new("Support", Money::new(100, Currency::new("EUR")?))?, schedule))?.id();
//! let note = "x".repeat(limits::NOTE_BYTES + 1);
//! let refused = engine.pause(&acme, id, &note, None).unwrap_err();
//! assert!(refused.to_string().contains("pause note must be at most 4096 bytes"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

/// The longest pause note, in bytes of UTF-8.
pub const NOTE_BYTES: usize = 4_096;

/// The most client e-mail ids an invoice is sent to ([`crate::InvoiceOptions::send_to`]).
pub const INVOICE_RECIPIENTS: usize = 100;

/// The most reminders before the due date, and the most after it
/// ([`crate::InvoiceOptions::remind_before_days`], `remind_after_days`), each.
pub const INVOICE_REMINDERS: usize = 16;

/// The most occurrences of a template waiting to be skipped on request
/// ([`crate::Engine::skip_occurrence`]).
pub const SKIP_REQUESTS: usize = 1_000;

/// The most installments of a one-off ([`crate::InstallmentSplit`]).
pub const INSTALLMENTS: usize = 120;

/// The most exceptions of a schedule: skipped, moved and extra occurrences together
/// (`EXDATE` and `RDATE` values, `X-RD-MOVE` lines; the JSON form's lists).
pub const SCHEDULE_EXCEPTIONS: usize = 10_000;

/// The longest RFC 5545 text [`crate::Schedule::from_rrule`] reads, in bytes.
pub const RRULE_BYTES: usize = 1 << 20;

/// The longest pipeline stage of a [`crate::Target`] or a terms filter, in bytes of UTF-8.
pub const STAGE_BYTES: usize = 100;

/// The most template ids a terms filter names ([`crate::TermsFilter::ids`]).
pub const TERMS_FILTER_IDS: usize = 10_000;
