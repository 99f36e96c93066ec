//! Schedules: when is each occurrence of a recurrence?

pub(crate) mod builder;
mod cursor;
mod exceptions;
mod form;
mod occurrences;
pub(crate) mod plan;
pub(crate) mod recurrence;

use crate::zone::Zone;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

use crate::calendar::{Adjustment, WorkingCalendar};
use crate::error::ScheduleError;
use crate::rfc5545::RfcRule;
use crate::zone::{self, ZoneTable};

pub use builder::ScheduleBuilder;
pub(crate) use exceptions::{Exceptions, Given};
pub use occurrences::{Occurrence, Occurrences};
use plan::Plan;
use recurrence::{Overflow, Recurrence};

/// When a series ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum End {
    /// Never (series still stop at the end of the supported years, 2199-12-31).
    #[default]
    Never,
    /// After the last occurrence on or before this civil date, in the schedule's zone.
    Until(NaiveDate),
    /// After the last occurrence at or before this instant (RFC 5545 `UNTIL` in UTC). It must
    /// fall on a date of the supported years in the schedule's zone
    /// ([`ScheduleError::UntilOutOfRange`] otherwise).
    UntilInstant(DateTime<Utc>),
    /// After this many occurrences of the rule. As in RFC 5545, occurrences removed by an
    /// exception count (the count bounds the rule, exceptions apply after it), while positions
    /// that produce no instant do not (RFC 5545 §3.3.10: such instances "MUST NOT be counted"):
    /// a civil day the zone skipped, and an occurrence an adjustment drops onto an earlier
    /// one's day. `Count(n)` thus ends after the n-th existing instant of the rule; `seq`
    /// numbering is unaffected (a position without an instant leaves its `seq` unused).
    Count(u32),
}

/// A validated recurrence schedule: a rule, a start, a time of day in an IANA zone, an end,
/// and exceptions.
///
/// Build one with [`Schedule::builder`], read one from RFC 5545 text with
/// [`Schedule::from_rrule`], or deserialize its JSON form; all three validate.
///
/// ```
/// use chrono::{NaiveDate, Utc, TimeZone};
/// use recurring_deals::{End, Interval, MonthDay, DayOfMonth, Recurrence, Schedule, Zone};
///
/// let start = NaiveDate::from_ymd_opt(2026, 1, 31).unwrap().and_hms_opt(9, 0, 0).unwrap();
/// let schedule = Schedule::builder(
///     Recurrence::monthly(Interval::ONE, MonthDay::Day(DayOfMonth::new(31)?)),
///     start,
///     Zone::get("Europe/Moscow")?,
/// )
/// .end(End::Count(4))
/// .build()?;
/// let dates: Vec<String> = schedule.occurrences().map(|o| o.date().to_string()).collect();
/// assert_eq!(dates, ["2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30"]);
///
/// // Seek: occurrences strictly after an instant, numbered as in the full series.
/// let after = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
/// let next = schedule.occurrences_after(after).next().unwrap();
/// assert_eq!((next.seq(), next.date().to_string()), (2, "2026-03-31".to_string()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    rule: Rule,
    start: NaiveDateTime,
    zone: Zone,
    end: End,
    overflow: Overflow,
    calendar: WorkingCalendar,
    adjustment: Adjustment,
    exceptions: Exceptions,
    /// Rule positions (`rule_seq`) the end admits: with [`End::Count`], the position after the
    /// n-th existing instant; otherwise `u64::MAX`. Derived from the fields above by
    /// `builder::finish`.
    count_bound: u64,
}

/// The rule of a schedule: the structured vocabulary (fast, arithmetic) or a general RFC 5545
/// rule (listed period by period from its day masks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rule {
    Structured {
        recurrence: Recurrence,
        plan: Plan,
        /// Candidates before the start, derived from `plan`.
        head: i64,
    },
    Rfc(Box<RfcRule>),
}

impl Schedule {
    /// Starts building a schedule of `recurrence` from `start` (local wall-clock date and time
    /// in `zone`; the time is the time of day of every occurrence).
    pub fn builder(recurrence: Recurrence, start: NaiveDateTime, zone: Zone) -> ScheduleBuilder {
        ScheduleBuilder::new(recurrence, start, zone)
    }

    /// All occurrences from the first, in increasing order.
    ///
    /// ```
    /// # use recurring_deals::*;
    /// # use chrono::NaiveDate;
    /// let start = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap().and_hms_opt(9, 0, 0).unwrap();
    /// let schedule = Schedule::builder(Recurrence::daily(Interval::new(2)?), start, Zone::UTC)
    ///     .end(End::Count(3))
    ///     .build()?;
    /// assert_eq!(schedule.occurrences().count(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn occurrences(&self) -> Occurrences<'_> {
        Occurrences::new(self, None)
    }

    /// The occurrences strictly after `after`, with the `seq` they have in the full series.
    ///
    /// Structured rules find the position by arithmetic: the cost does not grow with how long
    /// ago the schedule started. General RFC 5545 rules outside the structured vocabulary
    /// restart their expansion on the day near `after` and number it by counting matching
    /// days per period (`BYWEEKNO` and `BYDAY` lists mixing plain and numbered weekdays
    /// included), so they cost the same wherever they started; a `COUNT` over several times
    /// of day (or in a zone that skipped a day) is turned into a position bound when the
    /// schedule is built, walking only the days around each offset change before it.
    pub fn occurrences_after(&self, after: DateTime<Utc>) -> Occurrences<'_> {
        Occurrences::new(self, Some(after.timestamp()))
    }

    /// The civil date of `now` in the schedule's zone ("today" is always the zone's).
    pub fn today(&self, now: DateTime<Utc>) -> NaiveDate {
        let local = self.table().to_local(now.timestamp());
        let day = i32::try_from(local.div_euclid(86_400)).ok();
        // Instants at the ends of chrono's range have no local date: saturate.
        day.and_then(crate::civil::date_of).unwrap_or(if local < 0 {
            NaiveDate::MIN
        } else {
            NaiveDate::MAX
        })
    }

    /// The structured recurrence, or `None` for a general RFC 5545 rule.
    pub fn recurrence(&self) -> Option<&Recurrence> {
        match &self.rule {
            Rule::Structured { recurrence, .. } => Some(recurrence),
            Rule::Rfc(_) => None,
        }
    }

    /// The start: local date and time of day.
    pub fn start(&self) -> NaiveDateTime {
        self.start
    }

    /// The time of day of occurrences.
    pub fn time(&self) -> NaiveTime {
        self.start.time()
    }

    /// The IANA zone.
    pub fn zone(&self) -> Zone {
        self.zone
    }

    /// When the series ends.
    pub fn end(&self) -> End {
        self.end
    }

    /// The month-day overflow policy.
    pub fn overflow(&self) -> Overflow {
        self.overflow
    }

    /// The working-day calendar.
    pub fn calendar(&self) -> &WorkingCalendar {
        &self.calendar
    }

    /// What happens to occurrences on days off.
    pub fn adjustment(&self) -> Adjustment {
        self.adjustment
    }

    /// Occurrences removed from the series, named by local date and time (RFC 5545 `EXDATE`
    /// floating or with the schedule's `TZID`).
    ///
    /// A local time names an occurrence by its *nominal* time, the one the rule gives before
    /// DST is applied: on the day Berlin springs forward, `02:30` names the occurrence that
    /// happens at 03:30 CEST. See [`Schedule::skipped_instants`] for the other form.
    pub fn skipped(&self) -> impl Iterator<Item = NaiveDateTime> + '_ {
        self.exceptions.given().skipped.iter().copied()
    }

    /// Occurrences removed from the series, named by instant (RFC 5545 `EXDATE` in UTC or
    /// with another zone's `TZID`): the occurrence that happens at that instant, whatever its
    /// nominal time.
    pub fn skipped_instants(&self) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        self.exceptions.given().skipped_at.iter().copied()
    }

    /// Occurrences moved elsewhere: `(original local date-time, new local date-time)`.
    pub fn moved(&self) -> impl Iterator<Item = (NaiveDateTime, NaiveDateTime)> + '_ {
        self.exceptions
            .given()
            .moved
            .iter()
            .map(|(from, to)| (*from, *to))
    }

    /// Extra local date-times added to the series (RFC 5545 `RDATE` floating or with the
    /// schedule's `TZID`), each resolved with the crate's DST policy.
    pub fn extra(&self) -> impl Iterator<Item = NaiveDateTime> + '_ {
        self.exceptions.given().extra.iter().copied()
    }

    /// Extra instants added to the series (RFC 5545 `RDATE` in UTC or with another zone's
    /// `TZID`): in a repeated hour, either of the two.
    pub fn extra_instants(&self) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        self.exceptions.given().extra_at.iter().copied()
    }

    pub(crate) fn rule(&self) -> &Rule {
        &self.rule
    }

    pub(crate) fn table(&self) -> &'static ZoneTable {
        zone::table(self.zone)
    }

    pub(crate) fn exceptions(&self) -> &Exceptions {
        &self.exceptions
    }

    /// The rule positions the end admits (see the field).
    pub(crate) fn count_bound(&self) -> u64 {
        self.count_bound
    }

    /// Seconds after local midnight of each occurrence.
    pub(crate) fn time_seconds(&self) -> i64 {
        i64::from(chrono::Timelike::num_seconds_from_midnight(
            &self.start.time(),
        ))
    }
}

/// Looks up an IANA zone by name (any case) in the zone rules in use: [`Zone::get`] with
/// the schedule error.
///
/// # Errors
/// [`ScheduleError::UnknownZone`] for a name the rules in use do not have.
///
/// ```
/// use recurring_deals::{Zone, parse_zone};
///
/// assert_eq!(parse_zone("Europe/Moscow")?, Zone::get("Europe/Moscow")?);
/// assert!(parse_zone("Mars/Olympus").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn parse_zone(name: &str) -> Result<Zone, ScheduleError> {
    Zone::get(name).map_err(|_| ScheduleError::UnknownZone(name.to_owned()))
}

impl Schedule {
    /// Puts a schedule together from validated parts (RFC 5545 parsing; exceptions are
    /// attached afterwards by `builder::finish`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn assemble(
        rule: Rule,
        start: NaiveDateTime,
        zone: Zone,
        end: End,
        overflow: Overflow,
        calendar: WorkingCalendar,
        adjustment: Adjustment,
        exceptions: Exceptions,
    ) -> Schedule {
        Schedule {
            rule,
            start,
            zone,
            end,
            overflow,
            calendar,
            adjustment,
            exceptions,
            count_bound: u64::MAX,
        }
    }
}

impl Schedule {
    /// The same schedule with another end.
    ///
    /// # Errors
    /// As [`ScheduleBuilder::build`] for the new end (a count of 0, an end before the start).
    pub fn with_end(&self, end: End) -> Result<Schedule, ScheduleError> {
        builder::validate_end(end, self.start.date(), self.zone)?;
        let mut schedule = self.clone();
        schedule.end = end;
        schedule.exceptions = Exceptions::default();
        builder::finish(schedule, self.exceptions.given().clone(), false)
    }

    /// The same schedule with the occurrence on `date` moved to local date-time `to` (it keeps
    /// its `seq`).
    ///
    /// # Errors
    /// [`ScheduleError::NotAnOccurrence`] when no occurrence falls on `date`;
    /// [`ScheduleError::MoveCollides`] when `to` is another occurrence's time.
    pub fn with_move(&self, date: NaiveDate, to: NaiveDateTime) -> Result<Schedule, ScheduleError> {
        let mut schedule = self.clone();
        schedule.exceptions = Exceptions::default();
        builder::check_whole_seconds(to)?;
        let mut given = self.exceptions.given().clone();
        given.moved.insert(date.and_time(self.time()), to);
        builder::finish(schedule, given, true)
    }
}
