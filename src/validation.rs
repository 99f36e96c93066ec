//! What the value types refuse: the errors of tenant ids, currencies, deals, offsets and
//! installment splits, checked when they are built (and when read from JSON).

use crate::deal::Currency;

/// A value refused by the value types' constructors, naming the value and what is accepted.
/// The engine reports it as [`crate::EngineError::Invalid`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// A tenant id that is empty, too long or has control characters.
    #[error(
        "invalid tenant id {}: expected 1 to 64 characters, none of them control characters",
        shown(.0)
    )]
    InvalidTenant(String),
    /// A deal key that is not in the form [`crate::DealKey`]'s `Display` writes.
    #[error(
        "invalid deal key {}: expected T<template>/r<revision>/<seq> or T<template>/manual/<number>, such as T12/r0/3",
        shown(.0)
    )]
    InvalidDealKey(String),
    /// A currency code that is not an ISO 4217 code (new input), or not three uppercase
    /// letters (stored data).
    #[error("invalid currency code {0:?}: expected an ISO 4217 code such as EUR, USD, RUB")]
    InvalidCurrency(String),
    /// A product row in another currency than the deal.
    #[error("product row currency {got} does not match the deal currency {expected}")]
    CurrencyMismatch {
        /// The deal's currency.
        expected: Currency,
        /// The row's.
        got: Currency,
    },
    /// A deal that breaks a rule (empty title, negative amount).
    #[error("invalid deal: {0}")]
    InvalidDeal(String),
    /// An offset out of its range.
    #[error("{what} must be at most {max} {unit}, got {value}")]
    OffsetOutOfRange {
        /// Which offset.
        what: &'static str,
        /// The value given.
        value: i64,
        /// The maximum.
        max: i64,
        /// The unit.
        unit: &'static str,
    },
    /// A template deal whose currency differs from the template's terms revisions
    /// ([`crate::Template::terms_revisions`]).
    #[error(
        "a deal in {deal} conflicts with the template's terms in {terms} from {effective}: a template keeps one currency (create a new template to change it)"
    )]
    TermsCurrency {
        /// The deal's currency.
        deal: Currency,
        /// The currency of the revision's amount or product rows.
        terms: Currency,
        /// The revision's effective date.
        effective: chrono::NaiveDate,
    },
    /// A number outside its accepted range.
    #[error("{what} must be {min} ..= {max} {unit}, got {value}")]
    OutOfRange {
        /// Which number.
        what: &'static str,
        /// The value given.
        value: i64,
        /// The minimum.
        min: i64,
        /// The maximum.
        max: i64,
        /// The unit.
        unit: &'static str,
    },
    /// Installment shares that do not sum to 100 % (10000 basis points), or a split on a
    /// schedule that is not a one-off.
    #[error(
        "installment shares must be two or more positive basis points summing to 10000 on a one-off schedule, got {shares:?}"
    )]
    SplitShares {
        /// The shares given.
        shares: Vec<u32>,
    },
    /// Upcoming-deal notice leads that repeat a day count or are too many.
    #[error(
        "upcoming notice leads must be at most {max} distinct day counts (each 0 ..= 365), got {leads:?}"
    )]
    NoticeLeads {
        /// The leads given.
        leads: Vec<u32>,
        /// The most accepted.
        max: usize,
    },
    /// A text or a list longer than its bound ([`crate::limits`]).
    #[error("{what} must be at most {max} {unit}, got {len}")]
    TooLong {
        /// Which text or list.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The most accepted.
        max: usize,
        /// The unit (`bytes`, `items`).
        unit: &'static str,
    },
    /// A date outside the supported years, 1900-01-01 ..= 2199-12-31.
    #[error("{what} {date} is outside the supported dates 1900-01-01 ..= 2199-12-31")]
    DateOutOfRange {
        /// Which date.
        what: &'static str,
        /// The date given.
        date: chrono::NaiveDate,
    },
    /// A dunning ladder that breaks a rule ([`crate::InvoiceOptions::validate`]).
    #[error("dunning step {step} (0-based): {reason}")]
    Dunning {
        /// The step at fault (0-based; the step count when there are too many).
        step: usize,
        /// What is wrong and what is accepted.
        reason: String,
    },
}

/// `Ok` when `len` is at most `max`, else [`ValidationError::TooLong`].
pub(crate) fn at_most(
    what: &'static str,
    len: usize,
    max: usize,
    unit: &'static str,
) -> Result<(), ValidationError> {
    if len > max {
        return Err(ValidationError::TooLong {
            what,
            len,
            max,
            unit,
        });
    }
    Ok(())
}

/// `Ok` when `date` is in the supported years, else [`ValidationError::DateOutOfRange`].
pub(crate) fn supported(
    what: &'static str,
    date: chrono::NaiveDate,
) -> Result<(), ValidationError> {
    if crate::civil::in_range(date) {
        Ok(())
    } else {
        Err(ValidationError::DateOutOfRange { what, date })
    }
}

/// A value as quoted text, cut after 80 characters so a huge input is not echoed whole.
fn shown(text: &str) -> String {
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(80).collect();
    if chars.next().is_some() {
        format!("{head:?}... ({} characters)", text.chars().count())
    } else {
        format!("{head:?}")
    }
}
