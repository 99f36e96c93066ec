//! The structured recurrence vocabulary: every option Bitrix24 offers for deals and invoices.
//!
//! Each part is a small validated type, so an invalid rule cannot be represented: an
//! [`Interval`] is never 0, a [`DayOfMonth`] is never 32, a [`WeekdaySet`] is never empty.

use chrono::{Month, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

use crate::civil;
use crate::error::ScheduleError;

/// How often a schedule repeats, in its own unit: 1 ..= [`Interval::MAX`].
///
/// ```
/// use recurring_deals::Interval;
/// assert_eq!(Interval::new(2)?.get(), 2);
/// assert!(Interval::new(0).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct Interval(u32);

impl Interval {
    /// The largest interval accepted (every 1000 days, weeks, months or years).
    pub const MAX: u32 = 1000;
    /// Every period.
    pub const ONE: Interval = Interval(1);

    /// Validates an interval.
    ///
    /// # Errors
    /// [`ScheduleError::Interval`] for 0 or a value above [`Interval::MAX`].
    pub fn new(value: u32) -> Result<Interval, ScheduleError> {
        if (1..=Self::MAX).contains(&value) {
            Ok(Interval(value))
        } else {
            Err(ScheduleError::Interval {
                got: i64::from(value),
                max: Self::MAX,
            })
        }
    }

    /// The interval as a number.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for Interval {
    type Error = ScheduleError;
    fn try_from(value: u32) -> Result<Self, Self::Error> {
        Interval::new(value)
    }
}

impl From<Interval> for u32 {
    fn from(value: Interval) -> u32 {
        value.0
    }
}

/// A day of the month, 1 ..= 31.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct DayOfMonth(u8);

impl DayOfMonth {
    /// Validates a day of month.
    ///
    /// # Errors
    /// [`ScheduleError::DayOfMonth`] outside 1..=31.
    ///
    /// ```
    /// use recurring_deals::DayOfMonth;
    /// assert_eq!(DayOfMonth::new(31)?.get(), 31);
    /// assert!(DayOfMonth::new(32).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(day: u32) -> Result<DayOfMonth, ScheduleError> {
        match u8::try_from(day) {
            Ok(d @ 1..=31) => Ok(DayOfMonth(d)),
            _ => Err(ScheduleError::DayOfMonth(i64::from(day))),
        }
    }

    /// The day as a number.
    pub fn get(self) -> u32 {
        u32::from(self.0)
    }
}

impl TryFrom<u32> for DayOfMonth {
    type Error = ScheduleError;
    fn try_from(value: u32) -> Result<Self, Self::Error> {
        DayOfMonth::new(value)
    }
}

impl From<DayOfMonth> for u32 {
    fn from(value: DayOfMonth) -> u32 {
        value.get()
    }
}

/// Which weekday of the month: the first to the fourth, or the last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "i32", into = "i32")]
pub enum Ordinal {
    /// The first such weekday of the month.
    First,
    /// The second.
    Second,
    /// The third.
    Third,
    /// The fourth.
    Fourth,
    /// The last (the fourth or the fifth).
    Last,
}

impl Ordinal {
    /// Reads 1..=4 or -1 (last), the RFC 5545 numbering.
    ///
    /// # Errors
    /// [`ScheduleError::Ordinal`] for any other number.
    pub fn from_number(n: i32) -> Result<Ordinal, ScheduleError> {
        match n {
            1 => Ok(Ordinal::First),
            2 => Ok(Ordinal::Second),
            3 => Ok(Ordinal::Third),
            4 => Ok(Ordinal::Fourth),
            -1 => Ok(Ordinal::Last),
            other => Err(ScheduleError::Ordinal(i64::from(other))),
        }
    }

    /// 1..=4, or -1 for the last.
    pub fn number(self) -> i32 {
        match self {
            Ordinal::First => 1,
            Ordinal::Second => 2,
            Ordinal::Third => 3,
            Ordinal::Fourth => 4,
            Ordinal::Last => -1,
        }
    }
}

impl TryFrom<i32> for Ordinal {
    type Error = ScheduleError;
    fn try_from(value: i32) -> Result<Self, Self::Error> {
        Ordinal::from_number(value)
    }
}

impl From<Ordinal> for i32 {
    fn from(value: Ordinal) -> i32 {
        value.number()
    }
}

/// A non-empty set of weekdays.
///
/// ```
/// use chrono::Weekday;
/// use recurring_deals::WeekdaySet;
/// let set = WeekdaySet::new([Weekday::Fri, Weekday::Mon])?;
/// assert_eq!(set.iter().collect::<Vec<_>>(), [Weekday::Mon, Weekday::Fri]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "Vec<Weekday>", into = "Vec<Weekday>")]
pub struct WeekdaySet(u8);

impl WeekdaySet {
    /// Builds a set from weekdays (duplicates are merged).
    ///
    /// # Errors
    /// [`ScheduleError::EmptyWeekdays`] when no weekday is given.
    pub fn new(days: impl IntoIterator<Item = Weekday>) -> Result<WeekdaySet, ScheduleError> {
        let bits = days
            .into_iter()
            .fold(0u8, |bits, day| bits | 1 << civil::weekday_number(day));
        if bits == 0 {
            Err(ScheduleError::EmptyWeekdays)
        } else {
            Ok(WeekdaySet(bits))
        }
    }

    /// A set of one weekday.
    pub fn single(day: Weekday) -> WeekdaySet {
        WeekdaySet(1 << civil::weekday_number(day))
    }

    /// Whether `day` is in the set.
    pub fn contains(self, day: Weekday) -> bool {
        self.0 & (1 << civil::weekday_number(day)) != 0
    }

    /// The weekdays, Monday first.
    pub fn iter(self) -> impl Iterator<Item = Weekday> {
        (0..7)
            .filter(move |i| self.0 & (1 << i) != 0)
            .map(civil::weekday_from_number)
    }

    /// Number of weekdays in the set.
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// Always false: the set is never empty.
    pub fn is_empty(self) -> bool {
        false
    }

    pub(crate) fn bits(self) -> u8 {
        self.0
    }
}

impl TryFrom<Vec<Weekday>> for WeekdaySet {
    type Error = ScheduleError;
    fn try_from(value: Vec<Weekday>) -> Result<Self, Self::Error> {
        WeekdaySet::new(value)
    }
}

impl From<WeekdaySet> for Vec<Weekday> {
    fn from(value: WeekdaySet) -> Vec<Weekday> {
        value.iter().collect()
    }
}

/// The Nth working day of a month, 1 ..= 23.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct WorkingDayNumber(u8);

impl WorkingDayNumber {
    /// Validates a working-day number.
    ///
    /// # Errors
    /// [`ScheduleError::WorkingDayOfMonth`] outside 1..=23.
    pub fn new(n: u32) -> Result<WorkingDayNumber, ScheduleError> {
        match u8::try_from(n) {
            Ok(d @ 1..=23) => Ok(WorkingDayNumber(d)),
            _ => Err(ScheduleError::WorkingDayOfMonth(i64::from(n))),
        }
    }

    /// The number.
    pub fn get(self) -> u32 {
        u32::from(self.0)
    }
}

impl TryFrom<u32> for WorkingDayNumber {
    type Error = ScheduleError;
    fn try_from(value: u32) -> Result<Self, Self::Error> {
        WorkingDayNumber::new(value)
    }
}

impl From<WorkingDayNumber> for u32 {
    fn from(value: WorkingDayNumber) -> u32 {
        value.get()
    }
}

/// Which day of a month a monthly or yearly schedule falls on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MonthDay {
    /// Day D; in months shorter than D the schedule's [`Overflow`] policy decides.
    Day(DayOfMonth),
    /// The last day of the month.
    LastDay,
    /// The Nth (or last) given weekday: "the last Friday".
    Weekday {
        /// Which one.
        ordinal: Ordinal,
        /// The weekday.
        weekday: Weekday,
    },
    /// The Dth working day of the month per the schedule's calendar; in a month with fewer
    /// working days, its last working day; a month without any working day has no occurrence.
    WorkingDay(WorkingDayNumber),
}

/// What a monthly or yearly rule does in a month that lacks its day (the 31st in April).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Overflow {
    /// Take the month's last day: Jan 31 → Feb 28/29 → Mar 31 → Apr 30 (billing's choice,
    /// RFC 7529 `BACKWARD`). The default for schedules built in code or JSON.
    #[default]
    Clamp,
    /// Skip the month, as RFC 5545 does (`BYMONTHDAY=31` occurs 7 times a year). The meaning
    /// of schedules read from RRULE text.
    Skip,
}

/// How long before its date a one-off occurrence is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lead {
    /// On the date itself.
    #[default]
    None,
    /// N days before (at most 3650).
    Days(u32),
    /// N weeks before (at most 520).
    Weeks(u32),
    /// N months before, clamped to the month's length (at most 120).
    Months(u32),
}

impl Lead {
    pub(crate) fn validate(self) -> Result<(), ScheduleError> {
        let (got, max, unit) = match self {
            Lead::None => return Ok(()),
            Lead::Days(n) => (n, 3650, "days"),
            Lead::Weeks(n) => (n, 520, "weeks"),
            Lead::Months(n) => (n, 120, "months"),
        };
        if got > max {
            Err(ScheduleError::Lead { got, max, unit })
        } else {
            Ok(())
        }
    }

    /// The day number `lead` before `days`. Leads are validated (at most ten years) and dates
    /// of the supported years are far from the ends of `i32` and of chrono's years, so the
    /// saturation never applies; it keeps the arithmetic total.
    pub(crate) fn before(self, days: i32) -> i32 {
        match self {
            Lead::None => days,
            Lead::Days(n) => days.saturating_sub_unsigned(n),
            Lead::Weeks(n) => days.saturating_sub_unsigned(n.saturating_mul(7)),
            Lead::Months(n) => civil::add_months_clamped(days, -i64::from(n)).unwrap_or(i32::MIN),
        }
    }
}

/// The recurrence of a schedule in the structured vocabulary.
///
/// The first occurrence is the first matching date on or after the schedule's start; the
/// interval counts periods from the start's own day, week (from the week start), month or year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "every", rename_all = "snake_case")]
pub enum Recurrence {
    /// Every N calendar days.
    Day {
        /// N.
        interval: Interval,
    },
    /// Every N working days of the schedule's calendar.
    WorkingDay {
        /// N.
        interval: Interval,
    },
    /// Every N weeks on the given weekdays.
    Week {
        /// N.
        interval: Interval,
        /// The weekdays.
        on: WeekdaySet,
        /// The first day of a week (RFC 5545 `WKST`), which decides how weeks are counted when
        /// N > 1. Monday unless set.
        #[serde(default = "monday", skip_serializing_if = "is_monday")]
        week_start: Weekday,
    },
    /// Every N months on a day.
    Month {
        /// N.
        interval: Interval,
        /// The day.
        #[serde(deserialize_with = "crate::json_enum::tagged")]
        on: MonthDay,
    },
    /// Every N years in a month on a day.
    Year {
        /// N.
        interval: Interval,
        /// The month.
        month: Month,
        /// The day.
        #[serde(deserialize_with = "crate::json_enum::tagged")]
        on: MonthDay,
    },
    /// Once, on a date, created a lead time before it (Bitrix24's "single" mode).
    Once {
        /// The date the occurrence is for.
        date: NaiveDate,
        /// How long before `date` it is created.
        #[serde(
            default,
            skip_serializing_if = "is_no_lead",
            deserialize_with = "crate::json_enum::tagged"
        )]
        lead: Lead,
    },
}

fn monday() -> Weekday {
    Weekday::Mon
}

fn is_monday(day: &Weekday) -> bool {
    *day == Weekday::Mon
}

fn is_no_lead(lead: &Lead) -> bool {
    *lead == Lead::None
}

impl Recurrence {
    /// Every N days.
    pub fn daily(interval: Interval) -> Recurrence {
        Recurrence::Day { interval }
    }

    /// Every N weeks on the given weekdays, weeks starting on Monday.
    pub fn weekly(interval: Interval, on: WeekdaySet) -> Recurrence {
        Recurrence::Week {
            interval,
            on,
            week_start: Weekday::Mon,
        }
    }

    /// Every N months on a day.
    pub fn monthly(interval: Interval, on: MonthDay) -> Recurrence {
        Recurrence::Month { interval, on }
    }

    /// Every N years in `month` on a day.
    pub fn yearly(interval: Interval, month: Month, on: MonthDay) -> Recurrence {
        Recurrence::Year {
            interval,
            month,
            on,
        }
    }

    /// Checks the parts that depend on each other (a yearly day that never occurs in its
    /// month; a lead time out of range).
    pub(crate) fn validate(&self) -> Result<(), ScheduleError> {
        match *self {
            Recurrence::Year {
                month,
                on: MonthDay::Day(day),
                ..
            } => {
                let month = month.number_from_month();
                // Leap years give the longest February.
                if day.get() > civil::days_in_month(2000, month) {
                    return Err(ScheduleError::DayNeverInMonth {
                        day: day.get(),
                        month,
                    });
                }
                Ok(())
            }
            Recurrence::Once { date, lead } => {
                lead.validate()?;
                if !civil::in_range(date) {
                    return Err(ScheduleError::DateOutOfRange(date));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Whether the rule needs the working-day calendar to find its dates.
    pub(crate) fn uses_calendar(&self) -> bool {
        matches!(
            self,
            Recurrence::WorkingDay { .. }
                | Recurrence::Month {
                    on: MonthDay::WorkingDay(_),
                    ..
                }
                | Recurrence::Year {
                    on: MonthDay::WorkingDay(_),
                    ..
                }
        )
    }
}
