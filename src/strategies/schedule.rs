//! Recurrences, calendars and whole schedules.

use std::collections::BTreeSet;

use crate::zone::Zone;
use chrono::{
    DateTime, Datelike, Days, Month, Months, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Utc,
    Weekday,
};
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::strategy::Union;

use super::text;
use super::zones::{
    self, Edges, FIRST_YEAR, LAST_YEAR, ZONES, day_in, first_supported, last_supported,
};
use crate::{
    Adjustment, DayOfMonth, End, Interval, Lead, MonthDay, Occurrence, Ordinal, Overflow,
    Recurrence, Schedule, ScheduleError, WeekdaySet, WorkingCalendar, WorkingDayNumber,
    resolve_local,
};

/// An interval: mostly 1 to 12, sometimes anything up to [`Interval::MAX`]. Shrinks toward 1.
pub fn interval() -> impl Strategy<Value = Interval> {
    prop_oneof![9 => 1u32..=12, 1 => 1u32..=Interval::MAX].prop_map(|n| {
        // 1..=Interval::MAX is the accepted range.
        Interval::new(n).expect("a valid interval")
    })
}

/// A weekday, Monday to Sunday. Shrinks toward Monday.
pub fn weekday() -> impl Strategy<Value = Weekday> {
    (0u8..7).prop_map(weekday_from)
}

/// A non-empty set of weekdays, any of the 127. Shrinks toward Monday alone.
pub fn weekday_set() -> impl Strategy<Value = WeekdaySet> {
    (1u8..=127).prop_map(|bits| {
        let days = (0..7u8).filter(|i| bits & (1 << i) != 0).map(weekday_from);
        // At least one bit of 1..=127 is set.
        WeekdaySet::new(days).expect("a non-empty set")
    })
}

/// A day of a monthly or yearly rule, every [`MonthDay`] variant: a day 1 to 31 (often 28 to
/// 31, where months differ), the last day, the first to fourth or last weekday, the first to
/// 23rd working day (often 20 to 23, more than some months have). Shrinks toward day 1.
pub fn month_day() -> impl Strategy<Value = MonthDay> {
    prop_oneof![
        4 => prop_oneof![1u32..=31, 28u32..=31].prop_map(|d| {
            // 1..=31 is the accepted range.
            MonthDay::Day(DayOfMonth::new(d).expect("a valid day of month"))
        }),
        1 => Just(MonthDay::LastDay),
        2 => (select(vec![1, 2, 3, 4, -1]), weekday()).prop_map(|(n, weekday)| {
            MonthDay::Weekday {
                // 1..=4 and -1 are the accepted ordinals.
                ordinal: Ordinal::from_number(n).expect("a valid ordinal"),
                weekday,
            }
        }),
        2 => prop_oneof![1u32..=23, 20u32..=23].prop_map(|n| {
            // 1..=23 is the accepted range.
            MonthDay::WorkingDay(WorkingDayNumber::new(n).expect("a valid working-day number"))
        }),
    ]
}

/// A lead time of a one-off rule, every [`Lead`] variant within its accepted range (days up
/// to 3650, weeks up to 520, months up to 120). Shrinks toward no lead.
pub fn lead() -> impl Strategy<Value = Lead> {
    prop_oneof![
        Just(Lead::None),
        (0u32..=3650).prop_map(Lead::Days),
        (0u32..=520).prop_map(Lead::Weeks),
        (0u32..=120).prop_map(Lead::Months),
    ]
}

/// A structured recurrence, every [`Recurrence`] variant with valid parameters: every N days
/// or working days, weeks on any weekdays with any week start, months or years on any
/// [`MonthDay`] (a yearly day that exists in its month, February 29 included), or once on a
/// date from 1950 to 2155 with any lead. Shrinks toward every day.
///
/// A one-off date can be before a schedule's start, which the builder refuses: for a
/// schedule, use [`recurrence_from`].
pub fn recurrence() -> impl Strategy<Value = Recurrence> {
    (
        recurrence_parts(&all_structured()),
        day_in(
            zones::date(FIRST_YEAR, 1, 1),
            zones::date(LAST_YEAR, 12, 31),
        ),
    )
        .prop_map(|(parts, day)| parts.for_start(day))
}

/// [`recurrence`] for a schedule starting on `start`: a one-off date is on `start` or up to
/// 2000 days after it (at most 2199-12-31).
pub fn recurrence_from(start: NaiveDate) -> impl Strategy<Value = Recurrence> {
    recurrence_parts(&all_structured()).prop_map(move |parts| parts.for_start(start))
}

/// A working calendar: Saturday and Sunday off (most often), no day off, Friday and
/// Saturday, Sunday alone, or any other pattern that leaves a working weekday; up to 12
/// holidays and 6 extra working days in the 800 days after a date from 1950 to 2150, and
/// sometimes a whole month of holidays (a month without any working day). Shrinks toward
/// Saturday and Sunday off without holidays.
pub fn calendar() -> impl Strategy<Value = WorkingCalendar> {
    (
        day_in(
            zones::date(FIRST_YEAR, 1, 1),
            zones::date(LAST_YEAR, 12, 31),
        ),
        calendar_parts(),
    )
        .prop_map(|(from, parts)| parts.build(from))
}

/// [`calendar`] with its holidays and extra working days in the 800 days from `from` (those
/// past 2199-12-31 left out), where a schedule starting on `from` meets them.
pub fn calendar_from(from: NaiveDate) -> impl Strategy<Value = WorkingCalendar> {
    calendar_parts().prop_map(move |parts| parts.build(from))
}

/// An adjustment of occurrences on days off, every [`Adjustment`] variant (none most often).
/// Shrinks toward none.
pub fn adjustment() -> impl Strategy<Value = Adjustment> {
    prop_oneof![
        3 => Just(Adjustment::None),
        1 => Just(Adjustment::Following),
        1 => Just(Adjustment::Preceding),
        1 => Just(Adjustment::ModifiedFollowing),
    ]
}

/// A month-day overflow policy. Shrinks toward clamp.
pub fn overflow() -> impl Strategy<Value = Overflow> {
    prop_oneof![Just(Overflow::Clamp), Just(Overflow::Skip)]
}

/// A valid schedule of any kind: [`schedule_with`] with every option.
///
/// ```
/// use proptest::prelude::*;
/// use recurring_deals::Schedule;
///
/// proptest! {
///     #![proptest_config(ProptestConfig::with_cases(32))]
///     fn json_round_trip(schedule in recurring_deals::strategies::schedule()) {
///         let json = serde_json::to_string(&schedule)?;
///         let back: Schedule = serde_json::from_str(&json)?;
///         prop_assert_eq!(
///             back.occurrences().take(10).collect::<Vec<_>>(),
///             schedule.occurrences().take(10).collect::<Vec<_>>()
///         );
///     }
/// }
/// json_round_trip();
/// ```
pub fn schedule() -> impl Strategy<Value = Schedule> {
    schedule_with(ScheduleOptions::default())
}

/// Valid schedules with what `options` allows.
///
/// A structured schedule has a [`recurrence_from`] its start, a zone and start from
/// [`zone_and_start`](super::zone_and_start), an end, an [`overflow`] policy, a
/// [`calendar_from`] its start and an [`adjustment`], and exceptions taken from its own first
/// occurrences:
///
/// * an end after 1 to 50 occurrences, or until the date or the instant of one of its first
///   20 occurrences (exactly, or a little later), so it always has an occurrence;
/// * skipped occurrences (by date or by instant) among the first six;
/// * moved occurrences among the first eight, by up to two days but kept strictly between
///   their neighbours, so `seq` still increases with the instant;
/// * extra dates (local or instant) near the first occurrences, which may fall on a day off
///   (never between a moved occurrence's rule time and its new time, where its `seq` would
///   come after the moved occurrence's).
///
/// A general schedule is read from RFC 5545 text outside the structured vocabulary (see
/// [`rrule_text`](super::rrule_text)); RFC 5545 cannot adjust it, so it is drawn only when
/// [`Adjustment::None`] is allowed.
///
/// A drawn schedule that the builder refuses because its rule has no occurrence at all in
/// the supported years (a one-off on a civil day the zone skipped) is rejected and drawn
/// again; nothing else is ever refused (`tests/strategies.rs` checks it).
///
/// Shrinks toward a structured schedule with the simplest parts: every day from 1950-01-01
/// at midnight in UTC, no end, no holidays, no exceptions.
pub fn schedule_with(options: ScheduleOptions) -> impl Strategy<Value = Schedule> {
    let options = options.normalized();
    let structured_kinds: BTreeSet<RuleKind> = options
        .rules
        .iter()
        .copied()
        .filter(|k| *k != RuleKind::General)
        .collect();
    let mut arms: Vec<(u32, BoxedStrategy<Schedule>)> = Vec::new();
    if !structured_kinds.is_empty() {
        let strategy = structured(&options, &structured_kinds)
            .prop_filter_map("a rule without an occurrence", |parts| {
                assemble(&parts).ok()
            });
        arms.push((6, strategy.boxed()));
    }
    if options.rules.contains(&RuleKind::General) {
        let strategy = text::general_text(&options.zones, &options.ends, &options.exceptions)
            .prop_filter_map("a text the crate refuses", |text| {
                Schedule::from_rrule(&text).ok()
            });
        arms.push((1, strategy.boxed()));
    }
    Union::new_weighted(arms)
}

/// What [`schedule_with`] generates: which rule kinds, zones, ends, adjustments and
/// exceptions. The default allows everything; each method narrows one choice.
///
/// An empty list leaves that choice as it was, except for
/// [`ScheduleOptions::exceptions`], where it means no exceptions.
///
/// ```
/// use recurring_deals::Adjustment;
/// use recurring_deals::strategies::{ExceptionKind, ScheduleOptions, schedule_with};
///
/// // Schedules whose occurrences all fall on working days: an adjustment that moves them
/// // there, and no moved occurrences or extra dates (which may land on days off).
/// let strategy = schedule_with(
///     ScheduleOptions::default()
///         .adjustments([Adjustment::Following, Adjustment::Preceding])
///         .exceptions([ExceptionKind::Skip, ExceptionKind::SkipInstant]),
/// );
/// # let _ = strategy;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct ScheduleOptions {
    rules: BTreeSet<RuleKind>,
    zones: Vec<Zone>,
    ends: BTreeSet<EndKind>,
    adjustments: Vec<Adjustment>,
    exceptions: BTreeSet<ExceptionKind>,
}

impl Default for ScheduleOptions {
    /// Every rule kind, every zone of [`ZONES`], every end, adjustment and exception.
    fn default() -> Self {
        ScheduleOptions {
            rules: RuleKind::ALL.into_iter().collect(),
            zones: zones::zones_of(&ZONES),
            ends: EndKind::ALL.into_iter().collect(),
            adjustments: ADJUSTMENTS.to_vec(),
            exceptions: ExceptionKind::ALL.into_iter().collect(),
        }
    }
}

impl ScheduleOptions {
    /// Only these kinds of rule.
    pub fn rules(mut self, rules: impl IntoIterator<Item = RuleKind>) -> Self {
        let rules: BTreeSet<RuleKind> = rules.into_iter().collect();
        if !rules.is_empty() {
            self.rules = rules;
        }
        self
    }

    /// Only these zones (any IANA zone, not only those of [`ZONES`]).
    pub fn zones(mut self, zones: impl IntoIterator<Item = Zone>) -> Self {
        let mut distinct: Vec<Zone> = Vec::new();
        for zone in zones {
            if !distinct.contains(&zone) {
                distinct.push(zone);
            }
        }
        if !distinct.is_empty() {
            self.zones = distinct;
        }
        self
    }

    /// Only these kinds of end.
    pub fn ends(mut self, ends: impl IntoIterator<Item = EndKind>) -> Self {
        let ends: BTreeSet<EndKind> = ends.into_iter().collect();
        if !ends.is_empty() {
            self.ends = ends;
        }
        self
    }

    /// Only these adjustments of occurrences on days off.
    pub fn adjustments(mut self, adjustments: impl IntoIterator<Item = Adjustment>) -> Self {
        let given: Vec<Adjustment> = adjustments.into_iter().collect();
        if !given.is_empty() {
            // In a fixed order, so failures shrink toward the first allowed one.
            self.adjustments = ADJUSTMENTS
                .into_iter()
                .filter(|a| given.contains(a))
                .collect();
        }
        self
    }

    /// Only these kinds of exception; none for an empty list.
    pub fn exceptions(mut self, exceptions: impl IntoIterator<Item = ExceptionKind>) -> Self {
        self.exceptions = exceptions.into_iter().collect();
        self
    }

    /// General rules need [`Adjustment::None`]; without it they are left out, and when that
    /// leaves no rule kind, every structured kind is allowed.
    fn normalized(mut self) -> Self {
        if !self.adjustments.contains(&Adjustment::None) {
            self.rules.remove(&RuleKind::General);
            if self.rules.is_empty() {
                self.rules = all_structured();
            }
        }
        self
    }
}

/// A kind of rule [`schedule_with`] generates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum RuleKind {
    /// [`Recurrence::Day`].
    Day,
    /// [`Recurrence::WorkingDay`].
    WorkingDay,
    /// [`Recurrence::Week`].
    Week,
    /// [`Recurrence::Month`].
    Month,
    /// [`Recurrence::Year`].
    Year,
    /// [`Recurrence::Once`].
    Once,
    /// A rule read from RFC 5545 text with the parts of [`rrule_text`](super::rrule_text):
    /// mostly outside the structured vocabulary ([`Schedule::recurrence`] is `None`); a text
    /// the vocabulary covers (`FREQ=WEEKLY;BYDAY=MO`) is read as a structured rule.
    General,
}

impl RuleKind {
    /// Every kind.
    pub const ALL: [RuleKind; 7] = [
        RuleKind::Day,
        RuleKind::WorkingDay,
        RuleKind::Week,
        RuleKind::Month,
        RuleKind::Year,
        RuleKind::Once,
        RuleKind::General,
    ];
}

/// A kind of [`End`] [`schedule_with`] generates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum EndKind {
    /// [`End::Never`].
    Never,
    /// [`End::Count`].
    Count,
    /// [`End::Until`].
    Until,
    /// [`End::UntilInstant`].
    UntilInstant,
}

impl EndKind {
    /// Every kind.
    pub const ALL: [EndKind; 4] = [
        EndKind::Never,
        EndKind::Count,
        EndKind::Until,
        EndKind::UntilInstant,
    ];
}

/// A kind of exception [`schedule_with`] adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ExceptionKind {
    /// An occurrence skipped by its date ([`ScheduleBuilder::skip`](crate::ScheduleBuilder::skip),
    /// RFC 5545 `EXDATE` in local time).
    Skip,
    /// An occurrence skipped by its instant
    /// ([`ScheduleBuilder::skip_instant`](crate::ScheduleBuilder::skip_instant), `EXDATE` in UTC).
    SkipInstant,
    /// An occurrence moved to another local time
    /// ([`ScheduleBuilder::move_occurrence`](crate::ScheduleBuilder::move_occurrence)).
    Move,
    /// An extra local date-time ([`ScheduleBuilder::extra`](crate::ScheduleBuilder::extra),
    /// `RDATE` in local time).
    Extra,
    /// An extra instant ([`ScheduleBuilder::extra_instant`](crate::ScheduleBuilder::extra_instant),
    /// `RDATE` in UTC).
    ExtraInstant,
}

impl ExceptionKind {
    /// Every kind.
    pub const ALL: [ExceptionKind; 5] = [
        ExceptionKind::Skip,
        ExceptionKind::SkipInstant,
        ExceptionKind::Move,
        ExceptionKind::Extra,
        ExceptionKind::ExtraInstant,
    ];
}

const ADJUSTMENTS: [Adjustment; 4] = [
    Adjustment::None,
    Adjustment::Following,
    Adjustment::Preceding,
    Adjustment::ModifiedFollowing,
];

fn all_structured() -> BTreeSet<RuleKind> {
    RuleKind::ALL
        .into_iter()
        .filter(|k| *k != RuleKind::General)
        .collect()
}

fn weekday_from(i: u8) -> Weekday {
    // Callers pass 0..7.
    Weekday::try_from(i % 7).expect("0..7 is a weekday")
}

// ---------------------------------------------------------------------------------------------
// Parts drawn before the start is known
// ---------------------------------------------------------------------------------------------

/// A recurrence whose one-off date is an offset from the start.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecurrenceParts {
    recurrence: Recurrence,
    once_after: u64,
}

impl RecurrenceParts {
    /// The recurrence for a schedule starting on `start`.
    pub(crate) fn for_start(self, start: NaiveDate) -> Recurrence {
        match self.recurrence {
            Recurrence::Once { lead, .. } => Recurrence::Once {
                date: start
                    .checked_add_days(Days::new(self.once_after))
                    .unwrap_or(start)
                    .min(last_supported()),
                lead,
            },
            other => other,
        }
    }
}

pub(crate) fn recurrence_parts(kinds: &BTreeSet<RuleKind>) -> BoxedStrategy<RecurrenceParts> {
    let plain = |recurrence| RecurrenceParts {
        recurrence,
        once_after: 0,
    };
    let mut arms: Vec<(u32, BoxedStrategy<RecurrenceParts>)> = Vec::new();
    for kind in kinds {
        let arm = match kind {
            RuleKind::Day => (
                3,
                interval()
                    .prop_map(move |interval| plain(Recurrence::Day { interval }))
                    .boxed(),
            ),
            RuleKind::WorkingDay => (
                2,
                interval()
                    .prop_map(move |interval| plain(Recurrence::WorkingDay { interval }))
                    .boxed(),
            ),
            RuleKind::Week => (
                3,
                (interval(), weekday_set(), weekday())
                    .prop_map(move |(interval, on, week_start)| {
                        plain(Recurrence::Week {
                            interval,
                            on,
                            week_start,
                        })
                    })
                    .boxed(),
            ),
            RuleKind::Month => (
                4,
                (interval(), month_day())
                    .prop_map(move |(interval, on)| plain(Recurrence::Month { interval, on }))
                    .boxed(),
            ),
            RuleKind::Year => (
                3,
                (interval(), 1u8..=12, month_day())
                    .prop_map(move |(interval, month, on)| {
                        // 1..=12 is a month.
                        let month = Month::try_from(month).expect("a valid month");
                        plain(Recurrence::Year {
                            interval,
                            month,
                            on: existing_day(month, on),
                        })
                    })
                    .boxed(),
            ),
            RuleKind::Once => (
                1,
                (lead(), 0u64..2000)
                    .prop_map(|(lead, once_after)| RecurrenceParts {
                        recurrence: Recurrence::Once {
                            date: zones::date(2000, 1, 1),
                            lead,
                        },
                        once_after,
                    })
                    .boxed(),
            ),
            RuleKind::General => continue,
        };
        arms.push(arm);
    }
    Union::new_weighted(arms).boxed()
}

/// A yearly day must exist in its month in some year (February 29 does).
fn existing_day(month: Month, on: MonthDay) -> MonthDay {
    let longest = match month.number_from_month() {
        2 => 29,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    match on {
        MonthDay::Day(d) if d.get() > longest => {
            // 29..=31 are days of month.
            MonthDay::Day(DayOfMonth::new(longest).expect("a valid day of month"))
        }
        other => other,
    }
}

/// A calendar whose dates are offsets from a date.
#[derive(Debug, Clone)]
pub(crate) struct CalendarParts {
    /// Bit i: weekday i (0 = Monday) is a day off; never all seven.
    weekend: u8,
    holidays: Vec<u64>,
    /// A whole month of holidays, this many months after the date's month.
    dead_month: Option<u32>,
    working: Vec<u64>,
}

impl CalendarParts {
    pub(crate) fn build(&self, from: NaiveDate) -> WorkingCalendar {
        let supported = |d: &NaiveDate| (first_supported()..=last_supported()).contains(d);
        let mut holidays: BTreeSet<NaiveDate> = self
            .holidays
            .iter()
            .filter_map(|&k| from.checked_add_days(Days::new(k)))
            .collect();
        if let Some(k) = self.dead_month {
            let first = from
                .with_day(1)
                .and_then(|d| d.checked_add_months(Months::new(k)));
            if let Some(first) = first {
                let next = first.checked_add_months(Months::new(1)).unwrap_or(first);
                holidays.extend(first.iter_days().take_while(|d| *d < next));
            }
        }
        holidays.retain(supported);
        let working: BTreeSet<NaiveDate> = self
            .working
            .iter()
            .filter_map(|&k| from.checked_add_days(Days::new(k)))
            .filter(|d| supported(d) && !holidays.contains(d))
            .collect();
        let weekend = (0..7u8)
            .filter(|i| self.weekend & (1 << i) != 0)
            .map(weekday_from);
        // Never all seven weekdays off, dates in the supported years, no date both a holiday
        // and a working day: the calendar is valid.
        WorkingCalendar::new(weekend, holidays, working).expect("a valid calendar")
    }
}

pub(crate) fn calendar_parts() -> impl Strategy<Value = CalendarParts> {
    let weekend = prop_oneof![
        4 => Just(0b110_0000u8), // Saturday and Sunday
        1 => Just(0u8),
        1 => Just(0b011_0000u8), // Friday and Saturday
        1 => Just(0b100_0000u8), // Sunday
        3 => 0u8..127,
    ];
    (
        weekend,
        prop::collection::vec(0u64..800, 0..12),
        prop::option::weighted(0.1, 0u32..24),
        prop::collection::vec(0u64..800, 0..6),
    )
        .prop_map(|(weekend, holidays, dead_month, working)| CalendarParts {
            weekend,
            holidays,
            dead_month,
            working,
        })
}

/// An end, placed after the series has been seen.
#[derive(Debug, Clone, Copy)]
pub(crate) enum EndParts {
    Never,
    Count(u32),
    /// The date of one of the first occurrences, plus days.
    Until(Index, u64),
    /// The instant of one of the first occurrences, plus seconds (-1: just before it).
    UntilInstant(Index, i64),
}

impl EndParts {
    /// The end, given the first occurrences of the unbounded series (at least one) and its
    /// start. An until is never before the start's date, which the builder refuses, even
    /// where a preceding adjustment puts the first occurrence before it.
    fn place(self, first: &[Occurrence], start: NaiveDate, zone: Zone) -> End {
        match self {
            EndParts::Never => End::Never,
            EndParts::Count(n) => End::Count(n),
            EndParts::Until(index, days) => {
                let day = first[index.index(first.len())].date().max(start);
                End::Until(
                    day.checked_add_days(Days::new(days))
                        .unwrap_or(day)
                        .min(last_supported()),
                )
            }
            EndParts::UntilInstant(index, seconds) => {
                let at = first[index.index(first.len())].at() + TimeDelta::seconds(seconds);
                // At or after the first occurrence and the start's date (in UTC), and on a
                // date of the supported years in the zone: at most the last second of
                // 2199-12-31 there.
                let earliest = first[0].at().max(start.and_time(NaiveTime::MIN).and_utc());
                let last = resolve_local(
                    zone,
                    last_supported().and_hms_opt(23, 59, 59).unwrap_or_default(),
                );
                End::UntilInstant(at.max(earliest).min(last))
            }
        }
    }
}

fn end_parts(ends: &BTreeSet<EndKind>) -> BoxedStrategy<EndParts> {
    let mut arms: Vec<(u32, BoxedStrategy<EndParts>)> = Vec::new();
    for kind in ends {
        let arm = match kind {
            EndKind::Never => Just(EndParts::Never).boxed(),
            EndKind::Count => prop_oneof![1u32..=12, 1u32..=50]
                .prop_map(EndParts::Count)
                .boxed(),
            EndKind::Until => (
                any::<Index>(),
                prop_oneof![Just(0u64), 0u64..40, 0u64..3000],
            )
                .prop_map(|(i, days)| EndParts::Until(i, days))
                .boxed(),
            EndKind::UntilInstant => (
                any::<Index>(),
                prop_oneof![Just(0i64), Just(-1i64), 1i64..86_400 * 40],
            )
                .prop_map(|(i, seconds)| EndParts::UntilInstant(i, seconds))
                .boxed(),
        };
        arms.push((1, arm));
    }
    Union::new_weighted(arms).boxed()
}

/// An exception, placed after the series has been seen: indices into its first occurrences.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ExceptionParts {
    Skip(Index),
    SkipInstant(Index),
    /// Move by this many minutes.
    Move(Index, i64),
    /// An extra local time this many minutes from an occurrence's nominal time.
    Extra(Index, i64),
    /// An extra instant this many seconds from an occurrence's.
    ExtraInstant(Index, i64),
}

fn exception_parts(kinds: &BTreeSet<ExceptionKind>) -> BoxedStrategy<Vec<ExceptionParts>> {
    let mut arms: Vec<BoxedStrategy<ExceptionParts>> = Vec::new();
    for kind in kinds {
        let arm = match kind {
            ExceptionKind::Skip => any::<Index>().prop_map(ExceptionParts::Skip).boxed(),
            ExceptionKind::SkipInstant => {
                any::<Index>().prop_map(ExceptionParts::SkipInstant).boxed()
            }
            ExceptionKind::Move => (
                any::<Index>(),
                prop_oneof![-300i64..300, -5i64..5, -2880i64..2880],
            )
                .prop_map(|(i, minutes)| ExceptionParts::Move(i, minutes))
                .boxed(),
            ExceptionKind::Extra => (any::<Index>(), prop_oneof![-1440i64..1440, -60i64..60])
                .prop_map(|(i, minutes)| ExceptionParts::Extra(i, minutes))
                .boxed(),
            ExceptionKind::ExtraInstant => (
                any::<Index>(),
                prop_oneof![-86_400i64..86_400, -3600i64..3600],
            )
                .prop_map(|(i, seconds)| ExceptionParts::ExtraInstant(i, seconds))
                .boxed(),
        };
        arms.push(arm);
    }
    if arms.is_empty() {
        return Just(Vec::new()).boxed();
    }
    prop_oneof![
        2 => Just(Vec::new()),
        3 => prop::collection::vec(Union::new(arms), 1..=3),
    ]
    .boxed()
}

/// Everything a structured schedule is drawn from.
#[derive(Debug, Clone)]
pub(crate) struct StructuredParts {
    recurrence: RecurrenceParts,
    zone: Zone,
    start: NaiveDateTime,
    end: EndParts,
    overflow: Overflow,
    calendar: CalendarParts,
    adjustment: Adjustment,
    exceptions: Vec<ExceptionParts>,
}

pub(crate) fn structured(
    options: &ScheduleOptions,
    kinds: &BTreeSet<RuleKind>,
) -> impl Strategy<Value = StructuredParts> + use<> {
    (
        recurrence_parts(kinds),
        zones::zone_and_start_among(&options.zones, Edges::Included),
        end_parts(&options.ends),
        overflow(),
        calendar_parts(),
        select(options.adjustments.clone()),
        exception_parts(&options.exceptions),
    )
        .prop_map(
            |(recurrence, (zone, start), end, overflow, calendar, adjustment, exceptions)| {
                StructuredParts {
                    recurrence,
                    zone,
                    start,
                    end,
                    overflow,
                    calendar,
                    adjustment,
                    exceptions,
                }
            },
        )
}

/// Why drawn parts gave no schedule.
#[derive(Debug)]
pub(crate) enum Unbuilt {
    /// The rule has no occurrence in the supported years: drawn again.
    NoOccurrence,
    /// The builder refused what the strategy made valid: a bug of the strategy or the crate
    /// (the message is read by the unit test that checks it never happens).
    Refused(#[allow(dead_code)] String),
}

/// Builds the schedule: the rule, then its end from its first occurrences, then the
/// exceptions from the first occurrences of the ended series.
pub(crate) fn assemble(parts: &StructuredParts) -> Result<Schedule, Unbuilt> {
    let zone = parts.zone;
    let start = parts.start;
    let builder = Schedule::builder(parts.recurrence.for_start(start.date()), start, zone)
        .overflow(parts.overflow)
        .calendar(parts.calendar.build(start.date()))
        .adjustment(parts.adjustment);
    let unbounded = match builder.clone().build() {
        Ok(schedule) => schedule,
        Err(ScheduleError::NoOccurrence) => return Err(Unbuilt::NoOccurrence),
        Err(e) => return Err(Unbuilt::Refused(format!("the rule: {e}"))),
    };
    let first: Vec<Occurrence> = unbounded.occurrences().take(20).collect();
    if first.is_empty() {
        return Err(Unbuilt::Refused(
            "a schedule without occurrences was built".into(),
        ));
    }
    let end = parts.end.place(&first, start.date(), zone);
    let bounded = builder
        .clone()
        .end(end)
        .build()
        .map_err(|e| Unbuilt::Refused(format!("the end {end:?}: {e}")))?;
    if parts.exceptions.is_empty() {
        return Ok(bounded);
    }
    let first: Vec<Occurrence> = bounded.occurrences().take(8).collect();
    if first.is_empty() {
        return Err(Unbuilt::Refused(
            "an ended schedule without occurrences".into(),
        ));
    }
    let time = start.time();
    let mut builder = builder.end(end);
    let mut touched = BTreeSet::new();
    let mut moved = BTreeSet::new();
    let mut taken: BTreeSet<DateTime<Utc>> = BTreeSet::new();
    // From a moved occurrence's instant to its new one: an extra date there would take a
    // `seq` after the moved occurrence's (which keeps its own) while happening before it.
    let mut spans: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    let in_range = |day: NaiveDate| (first_supported()..=last_supported()).contains(&day);
    let clear = |at: DateTime<Utc>, spans: &[(DateTime<Utc>, DateTime<Utc>)]| {
        spans.iter().all(|(from, to)| at < *from || at > *to)
    };
    // Moves first: extra dates then keep clear of their instants.
    for exception in &parts.exceptions {
        let ExceptionParts::Move(index, minutes) = *exception else {
            continue;
        };
        if first.len() < 3 {
            continue;
        }
        let j = 1 + index.index(first.len() - 2);
        let (previous, next) = (&first[j - 1], &first[j + 1]);
        if touched.contains(&j) || moved.contains(&(j - 1)) || moved.contains(&(j + 1)) {
            continue;
        }
        let from = first[j].date().and_time(time);
        let to = from + TimeDelta::minutes(minutes);
        let at = resolve_local(zone, to);
        let keeps_order = minutes != 0
            && previous.at() < at
            && at < next.at()
            && (previous.date()..=next.date()).contains(&to.date());
        if keeps_order {
            touched.insert(j);
            moved.insert(j);
            taken.insert(at);
            spans.push((first[j].at().min(at), first[j].at().max(at)));
            builder = builder.move_occurrence(from.date(), to);
        }
    }
    for exception in &parts.exceptions {
        match *exception {
            ExceptionParts::Skip(index) | ExceptionParts::SkipInstant(index) => {
                let i = index.index(first.len().min(6));
                if !touched.insert(i) {
                    continue;
                }
                builder = match exception {
                    ExceptionParts::Skip(_) => builder.skip(first[i].date()),
                    _ => builder.skip_instant(first[i].at()),
                };
            }
            ExceptionParts::Extra(index, minutes) => {
                let base = first[index.index(first.len())].date().and_time(time);
                let local = base + TimeDelta::minutes(minutes);
                let at = resolve_local(zone, local);
                if in_range(local.date()) && clear(at, &spans) && taken.insert(at) {
                    builder = builder.extra(local);
                }
            }
            ExceptionParts::ExtraInstant(index, seconds) => {
                let at = first[index.index(first.len())].at() + TimeDelta::seconds(seconds);
                if in_range(bounded.today(at)) && clear(at, &spans) && taken.insert(at) {
                    builder = builder.extra_instant(at);
                }
            }
            ExceptionParts::Move(..) => {}
        }
    }
    builder
        .build()
        .map_err(|e| Unbuilt::Refused(format!("exceptions {:?}: {e}", parts.exceptions)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::test_runner::{Config, TestRunner};

    /// Nothing the strategy draws is refused by the builder, except rules that never occur.
    #[test]
    fn drawn_parts_always_build() {
        let options = ScheduleOptions::default();
        let strategy = structured(&options, &all_structured());
        let mut runner = TestRunner::new(Config {
            failure_persistence: None,
            ..Config::with_cases(3000)
        });
        let built = std::cell::Cell::new(0u32);
        runner
            .run(&strategy, |parts| {
                match assemble(&parts) {
                    Ok(_) => built.set(built.get() + 1),
                    Err(Unbuilt::NoOccurrence) => {}
                    Err(Unbuilt::Refused(e)) => {
                        return Err(TestCaseError::fail(format!("{e} for {parts:?}")));
                    }
                }
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(built.get() > 2900, "only {} of 3000 built", built.get());
    }
}
