//! Errors of schedule construction and parsing.

use chrono::{NaiveDate, NaiveDateTime};

/// Why a schedule could not be built, parsed or deserialized.
///
/// Every variant names the offending value; messages are lowercase without a trailing period.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScheduleError {
    /// An interval of 0 or above [`Interval::MAX`](crate::Interval::MAX).
    #[error("interval must be between 1 and {max}, got {got}")]
    Interval {
        /// The value given.
        got: i64,
        /// The largest accepted interval.
        max: u32,
    },
    /// A weekly rule without weekdays.
    #[error("weekday set must not be empty")]
    EmptyWeekdays,
    /// A day of month outside 1..=31.
    #[error("day of month must be between 1 and 31, got {0}")]
    DayOfMonth(i64),
    /// A weekday ordinal other than 1..=4 or -1 (last).
    #[error("weekday ordinal must be 1, 2, 3, 4 or -1 (last), got {0}")]
    Ordinal(i64),
    /// A working-day number outside 1..=23.
    #[error("working day of month must be between 1 and 23, got {0}")]
    WorkingDayOfMonth(i64),
    /// A month outside 1..=12.
    #[error("month must be between 1 and 12, got {0}")]
    Month(i64),
    /// A yearly day that never exists in its month (April 31).
    #[error("day {day} never occurs in month {month}")]
    DayNeverInMonth {
        /// The day of month.
        day: u32,
        /// The month (1..=12).
        month: u32,
    },
    /// `count` of 0.
    #[error("count must be at least 1, got 0")]
    ZeroCount,
    /// A lead time out of range.
    #[error("lead time must be between 0 and {max} {unit}, got {got}")]
    Lead {
        /// The value given.
        got: u32,
        /// The largest accepted value for the unit.
        max: u32,
        /// The unit (`days`, `weeks`, `months`).
        unit: &'static str,
    },
    /// An end date before the start date.
    #[error("until {until} is before the start {start}")]
    UntilBeforeStart {
        /// The end date.
        until: NaiveDate,
        /// The start date.
        start: NaiveDate,
    },
    /// A date outside the supported years.
    #[error("date {0} is outside the supported years 1900 to 2199")]
    DateOutOfRange(NaiveDate),
    /// An end (RFC 5545 `UNTIL`, [`End::UntilInstant`](crate::End::UntilInstant)) that does not
    /// fall on a date of the supported years in the schedule's zone, as written.
    #[error(
        "until {0} is outside the supported years: it must fall between 1900-01-01 and 2199-12-31 in the schedule's zone"
    )]
    UntilOutOfRange(String),
    /// A zone name the zone rules in use do not have ([`crate::tz`]).
    #[error(
        "unknown time zone {0:?}: not in the tz database in use; IANA names such as \"Europe/Berlin\" are accepted"
    )]
    UnknownZone(String),
    /// A frequency this crate does not expand (HOURLY, MINUTELY, SECONDLY).
    #[error("unsupported frequency {0}: only DAILY, WEEKLY, MONTHLY and YEARLY are expanded")]
    UnsupportedFrequency(String),
    /// Rule parts that cannot be combined.
    #[error("contradictory rule: {0}")]
    Contradictory(String),
    /// A calendar whose every weekday is a weekend day.
    #[error("a working-day calendar needs at least one working weekday")]
    NoWorkingWeekday,
    /// A rule that needs a working-day calendar date that does not exist (no working day left
    /// in the supported years).
    #[error("schedule has no occurrence in the supported years")]
    NoOccurrence,
    /// An exception that names a date that is not an occurrence of the schedule.
    #[error("{0} is not an occurrence of the schedule")]
    NotAnOccurrence(NaiveDateTime),
    /// An exception that names an instant at which no occurrence of the schedule happens.
    #[error("{0} is not the instant of an occurrence of the schedule")]
    NotAnOccurrenceAt(chrono::DateTime<chrono::Utc>),
    /// An exception that would put two occurrences at the same instant.
    #[error("moving the occurrence of {from} to {to} collides with another occurrence")]
    MoveCollides {
        /// The occurrence moved.
        from: NaiveDateTime,
        /// Where it was moved to.
        to: NaiveDateTime,
    },
    /// A time with a fraction of a second or a leap second.
    #[error("time {0} must be a whole second")]
    SubsecondTime(NaiveDateTime),
    /// RFC 5545 text that could not be parsed.
    #[error("invalid rrule text at line {line}, {part}: {reason}")]
    Parse {
        /// 1-based line number.
        line: usize,
        /// The property or rule part where the problem is (`RRULE BYMONTHDAY`, `DTSTART`).
        part: String,
        /// What is wrong, naming the value.
        reason: String,
    },
    /// Text or a list larger than its bound ([`crate::limits`]).
    #[error("{what} must be at most {max} {unit}, got {size}")]
    TooLarge {
        /// Which text or list.
        what: &'static str,
        /// Its size.
        size: usize,
        /// The most accepted.
        max: usize,
        /// The unit (`bytes`, `items`).
        unit: &'static str,
    },
    /// The rrule crate refused a rule this crate accepted (a bug worth reporting).
    #[error("rrule expansion failed: {0}")]
    Expansion(String),
}

impl ScheduleError {
    pub(crate) fn parse(line: usize, part: impl Into<String>, reason: impl Into<String>) -> Self {
        ScheduleError::Parse {
            line,
            part: part.into(),
            reason: reason.into(),
        }
    }
}
