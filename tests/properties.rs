//! Property tests of the schedule engine.
//!
//! Arbitrary valid structured schedules (every recurrence, month-day kind, end, overflow
//! policy, working calendar, adjustment, skipped and moved occurrences, the 27 zones of
//! `recurring_deals::strategies::ZONES`: DST gaps at 02:00 and at midnight, 30- and 120-minute
//! DST, 15- and 45-minute offsets, offset changes, skipped and repeated civil days; zones,
//! starts, recurrences, calendars and adjustments drawn by `recurring_deals::strategies`) are
//! checked against:
//!
//! * a brute-force model written here from the documentation: chrono date arithmetic day by
//!   day, and the documented DST policy computed with chrono-tz directly (a gap moves the time
//!   forward by its length, an overlap takes the earlier instant, a civil day the zone skipped
//!   has no occurrence). The one rule taken from `src/schedule/cursor.rs` rather than the docs
//!   is when an occurrence is dropped: an adjustment that lands on the previous occurrence's
//!   day (or not after its instant);
//! * the engine against itself by other routes: seeking against walking, a schedule with an
//!   end against the same schedule without, JSON and RFC 5545 text read back against the
//!   original.
//!
//! Schedules of every kind from `strategies::schedule()` (general rules, extra dates) and
//! texts from `strategies::rrule_text()` are checked against themselves the same way.
//!
//! Invalid builder values, arbitrary and mutated RFC 5545 texts and mutated JSON forms must
//! give a typed error with a lowercase message, never a panic; what they are accepted as must
//! round-trip too.
//!
//! Bugs the properties found have a regression test of their own at the end.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{
    DateTime, Datelike, Days, LocalResult, Month, Months, NaiveDate, NaiveDateTime, NaiveTime,
    Offset, TimeDelta, TimeZone, Utc, Weekday,
};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::FileFailurePersistence;
use recurring_deals::Zone;
use recurring_deals::strategies;
use recurring_deals::{
    Adjustment, DayOfMonth, End, Interval, Lead, MonthDay, Ordinal, Overflow, Recurrence, Schedule,
    ScheduleError, WeekdaySet, WorkingCalendar, WorkingDayNumber, parse_zone,
};

/// `cases` cases, failures kept in `tests/properties.proptest-regressions` (the default place
/// needs a `lib.rs` beside the test file).
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Generated schedules
// ---------------------------------------------------------------------------------------------

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a valid literal date")
}

/// The last civil date the crate supports (series end there).
fn last_supported() -> NaiveDate {
    date(2199, 12, 31)
}

/// How a generated schedule ends; dates are relative to the start.
#[derive(Debug, Clone, Copy)]
enum EndGen {
    Never,
    Count(u32),
    /// Until the start date plus this many days.
    Until(u64),
    /// Until the start's wall clock read as UTC plus this many seconds.
    UntilInstant(i64),
}

/// An exception to add: an index into the first occurrences of the schedule without it.
#[derive(Debug, Clone, Copy)]
enum ExceptionGen {
    /// Skip by local date, or (when true) by the occurrence's instant.
    Skip(prop::sample::Index, bool),
    /// Move by this many minutes; kept between its neighbours (which are not moved) so the
    /// series stays ordered by `seq`.
    Move(prop::sample::Index, i64),
}

/// A working calendar as plain data: the model reads this, the engine gets the
/// [`WorkingCalendar`] built from it.
#[derive(Debug, Clone)]
struct CalendarSpec {
    /// Monday first.
    weekend: [bool; 7],
    holidays: BTreeSet<NaiveDate>,
    working: BTreeSet<NaiveDate>,
}

impl CalendarSpec {
    /// The plain data of a generated calendar.
    fn of(calendar: &WorkingCalendar) -> CalendarSpec {
        let mut weekend = [false; 7];
        for day in calendar.weekend() {
            weekend[day.num_days_from_monday() as usize] = true;
        }
        CalendarSpec {
            weekend,
            holidays: calendar.holidays().collect(),
            working: calendar.working_days().collect(),
        }
    }

    fn calendar(&self) -> WorkingCalendar {
        let weekend = (0..7u8)
            .filter(|&i| self.weekend[usize::from(i)])
            .map(|i| Weekday::try_from(i).expect("0..7 is a weekday"));
        WorkingCalendar::new(
            weekend,
            self.holidays.iter().copied(),
            self.working.iter().copied(),
        )
        .expect("generated calendars are valid")
    }

    fn is_working(&self, day: NaiveDate) -> bool {
        if self.weekend[day.weekday().num_days_from_monday() as usize] {
            self.working.contains(&day)
        } else {
            !self.holidays.contains(&day)
        }
    }

    fn following(&self, day: NaiveDate) -> NaiveDate {
        let mut d = day.succ_opt().expect("dates stay far from chrono's limits");
        while !self.is_working(d) {
            d = d.succ_opt().expect("dates stay far from chrono's limits");
        }
        d
    }

    fn preceding(&self, day: NaiveDate) -> NaiveDate {
        let mut d = day.pred_opt().expect("dates stay far from chrono's limits");
        while !self.is_working(d) {
            d = d.pred_opt().expect("dates stay far from chrono's limits");
        }
        d
    }

    /// The documented meaning of each [`Adjustment`].
    fn adjust(&self, day: NaiveDate, adjustment: Adjustment) -> NaiveDate {
        if adjustment == Adjustment::None || self.is_working(day) {
            return day;
        }
        let same_month =
            |a: NaiveDate, b: NaiveDate| (a.year(), a.month()) == (b.year(), b.month());
        match adjustment {
            Adjustment::Following => self.following(day),
            Adjustment::Preceding => self.preceding(day),
            Adjustment::None => day,
            Adjustment::ModifiedFollowing => {
                let next = self.following(day);
                if same_month(next, day) {
                    return next;
                }
                let previous = self.preceding(day);
                // In a month without any working day neither stays in the month; the next
                // working day is the one that keeps the series moving forward.
                if same_month(previous, day) {
                    previous
                } else {
                    next
                }
            }
            other => panic!("the model does not know {other:?}"),
        }
    }
}

/// A valid structured schedule as plain data.
#[derive(Debug, Clone)]
struct Spec {
    recurrence: Recurrence,
    start: NaiveDateTime,
    zone: Zone,
    end: End,
    overflow: Overflow,
    calendar: CalendarSpec,
    adjustment: Adjustment,
    exceptions: Vec<ExceptionGen>,
}

impl Spec {
    fn builder(&self, end: End) -> recurring_deals::ScheduleBuilder {
        Schedule::builder(self.recurrence, self.start, self.zone)
            .end(end)
            .overflow(self.overflow)
            .calendar(self.calendar.calendar())
            .adjustment(self.adjustment)
    }
}

fn end_strategy() -> impl Strategy<Value = EndGen> {
    prop_oneof![
        2 => Just(EndGen::Never),
        2 => (1u32..=50).prop_map(EndGen::Count),
        2 => prop_oneof![0u64..40, 0u64..3000].prop_map(EndGen::Until),
        1 => (-86_400i64..3000 * 86_400).prop_map(EndGen::UntilInstant),
    ]
}

fn exceptions_strategy() -> impl Strategy<Value = Vec<ExceptionGen>> {
    let one = prop_oneof![
        (any::<prop::sample::Index>(), any::<bool>())
            .prop_map(|(i, by_instant)| ExceptionGen::Skip(i, by_instant)),
        (
            any::<prop::sample::Index>(),
            prop_oneof![-300i64..300, -5i64..5, -2880i64..2880]
        )
            .prop_map(|(i, minutes)| ExceptionGen::Move(i, minutes)),
    ];
    prop_oneof![
        2 => Just(Vec::new()),
        3 => prop::collection::vec(one, 1..=3),
    ]
}

/// Valid schedules whose end is drawn from `end`: the zone, start, recurrence, calendar,
/// overflow and adjustment come from `recurring_deals::strategies` (every recurrence kind,
/// the zones of `strategies::ZONES` with starts near their transitions, calendars with
/// holidays in the years after the start); the end and the exceptions are drawn here, in
/// the terms the model reads.
fn spec_with(end: impl Strategy<Value = EndGen>) -> impl Strategy<Value = Spec> {
    (
        strategies::zone_and_start(),
        end,
        strategies::overflow(),
        strategies::adjustment(),
        exceptions_strategy(),
    )
        .prop_flat_map(|((zone, start), end, overflow, adjustment, exceptions)| {
            (
                strategies::recurrence_from(start.date()),
                strategies::calendar_from(start.date()),
            )
                .prop_map(move |(recurrence, calendar)| {
                    let day = start.date();
                    let end = match end {
                        EndGen::Never => End::Never,
                        EndGen::Count(n) => End::Count(n),
                        EndGen::Until(k) => End::Until((day + Days::new(k)).min(last_supported())),
                        EndGen::UntilInstant(s) => {
                            // An instant end must fall on a date of the supported years in
                            // the zone: the last is the last second of 2199-12-31 there.
                            let last = resolve(
                                zone,
                                last_supported()
                                    .and_hms_opt(23, 59, 59)
                                    .expect("a valid time"),
                            )
                            .0;
                            End::UntilInstant((start.and_utc() + TimeDelta::seconds(s)).min(last))
                        }
                    };
                    Spec {
                        recurrence,
                        start,
                        zone,
                        end,
                        overflow,
                        calendar: CalendarSpec::of(&calendar),
                        adjustment,
                        exceptions: exceptions.clone(),
                    }
                })
        })
}

fn spec_strategy() -> impl Strategy<Value = Spec> {
    spec_with(end_strategy())
}

// ---------------------------------------------------------------------------------------------
// Building, with exceptions taken from the schedule's own occurrences
// ---------------------------------------------------------------------------------------------

/// A built schedule and the exceptions it was given (local date-times, as the model reads them).
struct Built {
    schedule: Schedule,
    skipped: BTreeSet<NaiveDateTime>,
    skipped_at: BTreeSet<DateTime<Utc>>,
    moved: BTreeMap<NaiveDateTime, NaiveDateTime>,
}

/// Builds `spec` with `end`. `Ok(None)` when the engine reports that the rule has no
/// occurrence at all and the model agrees; any other refusal of a valid spec fails the case.
fn build(spec: &Spec, end: End) -> Result<Option<Built>, TestCaseError> {
    let none = BTreeSet::new();
    let base = match spec.builder(end).build() {
        Ok(schedule) => schedule,
        Err(ScheduleError::NoOccurrence) => {
            let model = model(spec, end, &none, &BTreeSet::new(), &BTreeMap::new(), 1);
            prop_assert!(
                model.emitted(spec.zone).is_empty(),
                "the engine found no occurrence, the model found {:?}",
                model.emitted(spec.zone)
            );
            return Ok(None);
        }
        Err(e) => {
            return Err(TestCaseError::fail(format!(
                "a valid spec was refused: {e}"
            )));
        }
    };
    let time = spec.start.time();
    let first: Vec<_> = base.occurrences().take(8).collect();
    let mut touched = BTreeSet::new();
    let mut moved_at = BTreeSet::new();
    let mut skipped = BTreeSet::new();
    let mut skipped_at = BTreeSet::new();
    let mut moved = BTreeMap::new();
    let mut builder = spec.builder(end);
    for exception in &spec.exceptions {
        match *exception {
            ExceptionGen::Skip(index, by_instant) if !first.is_empty() => {
                let i = index.index(first.len().min(6));
                if touched.insert(i) {
                    if by_instant {
                        skipped_at.insert(first[i].at());
                        builder = builder.skip_instant(first[i].at());
                    } else {
                        skipped.insert(first[i].date().and_time(time));
                        builder = builder.skip(first[i].date());
                    }
                }
            }
            ExceptionGen::Move(index, minutes) if first.len() >= 3 => {
                let j = 1 + index.index(first.len() - 2);
                let (previous, next) = (&first[j - 1], &first[j + 1]);
                if touched.contains(&j)
                    || moved_at.contains(&(j - 1))
                    || moved_at.contains(&(j + 1))
                {
                    continue;
                }
                let from = first[j].date().and_time(time);
                let to = from + TimeDelta::minutes(minutes);
                let at = resolve(spec.zone, to).0;
                let keeps_order = minutes != 0
                    && previous.at() < at
                    && at < next.at()
                    && (previous.date()..=next.date()).contains(&to.date());
                if keeps_order {
                    touched.insert(j);
                    moved_at.insert(j);
                    moved.insert(from, to);
                    builder = builder.move_occurrence(from.date(), to);
                }
            }
            _ => {}
        }
    }
    if skipped.is_empty() && skipped_at.is_empty() && moved.is_empty() {
        return Ok(Some(Built {
            schedule: base,
            skipped,
            skipped_at,
            moved,
        }));
    }
    let schedule = builder.build().map_err(|e| {
        TestCaseError::fail(format!(
            "exceptions on occurrences were refused: {e}; skipped {skipped:?} {skipped_at:?}, moved {moved:?}"
        ))
    })?;
    Ok(Some(Built {
        schedule,
        skipped,
        skipped_at,
        moved,
    }))
}

/// Builds `spec` with the same exceptions as `built` but another end.
fn rebuild(spec: &Spec, built: &Built, end: End) -> Result<Schedule, ScheduleError> {
    let mut builder = spec.builder(end);
    for skipped in &built.skipped {
        builder = builder.skip(skipped.date());
    }
    for at in &built.skipped_at {
        builder = builder.skip_instant(*at);
    }
    for (from, to) in &built.moved {
        builder = builder.move_occurrence(from.date(), *to);
    }
    builder.build()
}

type Item = (u64, NaiveDate, DateTime<Utc>);

fn items(occurrences: impl Iterator<Item = recurring_deals::Occurrence>) -> Vec<Item> {
    occurrences.map(|o| (o.seq(), o.date(), o.at())).collect()
}

// ---------------------------------------------------------------------------------------------
// The brute-force model
// ---------------------------------------------------------------------------------------------

/// The documented DST policy, computed with chrono-tz directly: the instant of a local time,
/// and whether its whole civil day is missing from the zone.
///
/// chrono-tz lists no transition after 2099 (it keeps the last offset). A zone that still
/// changes offsets in 2098 has kept its rule since before 2072 (every zone of
/// `strategies::ZONES` that does), so a local time from 2100 on is resolved in the year of
/// 2072..=2099 with the same calendar (leap year, weekday of January 1st), where chrono-tz
/// lists the same rule, and moved back by the days between. A zone without changes in 2098
/// keeps its last offset, as chrono-tz does (Casablanca's listed Ramadan changes end in 2087).
fn resolve(zone: Zone, local: NaiveDateTime) -> (DateTime<Utc>, bool) {
    if local.year() >= 2100 && changes_in_2098(zone) {
        let same_calendar = |y: i32| {
            let first = |y: i32| NaiveDate::from_ymd_opt(y, 1, 1).unwrap();
            first(y).leap_year() == first(local.year()).leap_year()
                && first(y).weekday() == first(local.year()).weekday()
        };
        let year = (2072..2100)
            .find(|&y| same_calendar(y))
            .expect("28 years hold every calendar");
        let moved = local
            .with_year(year)
            .expect("same calendar: the date exists");
        let (at, missing) = resolve(zone, moved);
        return (at + (local - moved), missing);
    }
    match zone.from_local_datetime(&local) {
        LocalResult::Single(t) => (t.with_timezone(&Utc), false),
        LocalResult::Ambiguous(a, b) => (a.min(b).with_timezone(&Utc), false),
        LocalResult::None => {
            // In a gap the offset in force before it applies: the time moves forward by the
            // gap's length. The last existing minute before the local time carries it.
            let mut probe = local;
            let before = loop {
                probe -= TimeDelta::minutes(1);
                match zone.from_local_datetime(&probe) {
                    LocalResult::Single(t) | LocalResult::Ambiguous(_, t) => {
                        break t.offset().fix().local_minus_utc();
                    }
                    LocalResult::None => {}
                }
            };
            let at = (local - TimeDelta::seconds(i64::from(before))).and_utc();
            (at, day_missing(zone, local.date()))
        }
    }
}

/// Whether `zone` has different offsets in January and July 2098: an ongoing DST rule.
fn changes_in_2098(zone: Zone) -> bool {
    let offset = |m| {
        let t = date(2098, m, 15).and_hms_opt(12, 0, 0).expect("noon");
        zone.offset_from_utc_datetime(&t).fix().local_minus_utc()
    };
    offset(1) != offset(7)
}

/// Whether no local time of `day` exists in `zone` (a gap shorter than a day cannot hide all
/// of these half-hour points).
fn day_missing(zone: Zone, day: NaiveDate) -> bool {
    (0..48)
        .map(|k| day.and_time(NaiveTime::MIN) + TimeDelta::minutes(30 * k))
        .chain(day.and_hms_opt(23, 59, 59))
        .all(|t| matches!(zone.from_local_datetime(&t), LocalResult::None))
}

/// Month `index` counted from year 0 (index = year * 12 + month - 1).
fn month_of(index: i64) -> (i32, u32) {
    (
        i32::try_from(index.div_euclid(12)).expect("years stay small"),
        index.rem_euclid(12) as u32 + 1,
    )
}

fn month_index(day: NaiveDate) -> i64 {
    i64::from(day.year()) * 12 + i64::from(day.month0())
}

fn days_in_month(year: i32, month: u32) -> u32 {
    let first = date(year, month, 1);
    (first + Months::new(1) - first).num_days() as u32
}

/// The day a month-day rule falls on in a month, per the overflow policy (`None`: no
/// occurrence that month).
fn day_in_month(
    year: i32,
    month: u32,
    on: MonthDay,
    overflow: Overflow,
    calendar: &CalendarSpec,
) -> Option<NaiveDate> {
    let length = days_in_month(year, month);
    let first = date(year, month, 1);
    let all = || first.iter_days().take(length as usize);
    match on {
        MonthDay::Day(d) if d.get() <= length => Some(date(year, month, d.get())),
        MonthDay::Day(_) if overflow == Overflow::Skip => None,
        MonthDay::Day(_) | MonthDay::LastDay => Some(date(year, month, length)),
        MonthDay::Weekday { ordinal, weekday } => {
            let matching: Vec<NaiveDate> = all().filter(|d| d.weekday() == weekday).collect();
            Some(match ordinal {
                Ordinal::Last => *matching.last().expect("every weekday occurs 4 times"),
                n => matching[(n.number() - 1) as usize],
            })
        }
        MonthDay::WorkingDay(n) => {
            let working: Vec<NaiveDate> = all().filter(|d| calendar.is_working(*d)).collect();
            let n = (n.get() as usize).min(working.len());
            (n > 0).then(|| working[n - 1])
        }
    }
}

/// The nominal dates of the rule's occurrences from the start, in order (the rule's own
/// definition: the first matching date on or after the start, the interval counted from the
/// start's day, week, month or year), up to the last supported date.
fn nominal_dates(spec: &Spec) -> Box<dyn Iterator<Item = NaiveDate> + '_> {
    let start = spec.start.date();
    let last = last_supported();
    match spec.recurrence {
        Recurrence::Day { interval } => {
            let step = u64::from(interval.get());
            Box::new(
                (0u64..)
                    .map_while(move |k| start.checked_add_days(Days::new(k * step)))
                    .take_while(move |d| *d <= last),
            )
        }
        Recurrence::WorkingDay { interval } => Box::new(
            start
                .iter_days()
                .take_while(move |d| *d <= last)
                .filter(move |d| spec.calendar.is_working(*d))
                .step_by(interval.get() as usize),
        ),
        Recurrence::Week {
            interval,
            on,
            week_start,
        } => {
            let back = (7 + start.weekday().num_days_from_monday()
                - week_start.num_days_from_monday())
                % 7;
            let week0 = start - Days::new(u64::from(back));
            let step = 7 * u64::from(interval.get());
            Box::new(
                (0u64..)
                    .map_while(move |w| week0.checked_add_days(Days::new(w * step)))
                    .take_while(move |w| *w <= last)
                    .flat_map(|w| (0..7).map(move |o| w + Days::new(o)))
                    .filter(move |d| on.contains(d.weekday()) && *d >= start)
                    .take_while(move |d| *d <= last),
            )
        }
        Recurrence::Month { interval, on } => {
            months(spec, month_index(start), i64::from(interval.get()), on)
        }
        Recurrence::Year {
            interval,
            month,
            on,
        } => months(
            spec,
            i64::from(start.year()) * 12 + i64::from(month.number_from_month()) - 1,
            12 * i64::from(interval.get()),
            on,
        ),
        Recurrence::Once { date, lead } => {
            let created = match lead {
                Lead::None => date,
                Lead::Days(n) => date - Days::new(u64::from(n)),
                Lead::Weeks(n) => date - Days::new(7 * u64::from(n)),
                Lead::Months(n) => date - Months::new(n),
            };
            Box::new(std::iter::once(created.max(start)).filter(move |d| *d <= last))
        }
    }
}

fn months(
    spec: &Spec,
    first: i64,
    step: i64,
    on: MonthDay,
) -> Box<dyn Iterator<Item = NaiveDate> + '_> {
    let start = spec.start.date();
    let last = month_index(last_supported());
    Box::new(
        (0i64..)
            .map(move |k| first + k * step)
            .take_while(move |index| *index <= last)
            .filter_map(move |index| {
                let (y, m) = month_of(index);
                day_in_month(y, m, on, spec.overflow, &spec.calendar)
            })
            .filter(move |d| *d >= start),
    )
}

/// What became of a rule occurrence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Emitted,
    Skipped,
    Moved(NaiveDateTime),
    /// Its civil day does not exist in the zone.
    DayMissing,
    /// Adjusted onto the day (or not after the instant) of the previous occurrence.
    Collision,
}

#[derive(Debug, Clone, Copy)]
struct Candidate {
    seq: u64,
    day: NaiveDate,
    at: DateTime<Utc>,
    fate: Fate,
}

struct Model {
    candidates: Vec<Candidate>,
}

impl Model {
    /// The occurrences a schedule emits, in order of instant.
    fn emitted(&self, zone: Zone) -> Vec<Item> {
        let mut out: Vec<Item> = self
            .candidates
            .iter()
            .filter_map(|c| match c.fate {
                Fate::Emitted => Some((c.seq, c.day, c.at)),
                Fate::Moved(to) => Some((c.seq, to.date(), resolve(zone, to).0)),
                _ => None,
            })
            .collect();
        out.sort_by_key(|item| item.2);
        out
    }

    fn count(&self, fate: Fate) -> usize {
        self.candidates.iter().filter(|c| c.fate == fate).count()
    }
}

/// The series of `spec` with `end` and the given exceptions, numbered as documented: every
/// rule occurrence takes the next `seq`, including those that are dropped or skipped; a count
/// counts the occurrences that have an instant (skipped ones included, dropped ones not, as
/// RFC 5545 §3.3.10 says); walks until `want` occurrences are emitted or the series ends.
fn model(
    spec: &Spec,
    end: End,
    skipped: &BTreeSet<NaiveDateTime>,
    skipped_at: &BTreeSet<DateTime<Utc>>,
    moved: &BTreeMap<NaiveDateTime, NaiveDateTime>,
    want: usize,
) -> Model {
    let (count, until_day, until_instant) = match end {
        End::Count(n) => (u64::from(n), last_supported(), None),
        End::Until(d) => (u64::MAX, d.min(last_supported()), None),
        End::UntilInstant(t) => (u64::MAX, last_supported(), Some(t)),
        _ => (u64::MAX, last_supported(), None),
    };
    let time = spec.start.time();
    let mut candidates = Vec::new();
    let mut emitted = 0;
    let mut counted = 0u64;
    let mut previous: Option<(NaiveDate, DateTime<Utc>)> = None;
    for (seq, nominal) in (0u64..).zip(nominal_dates(spec)) {
        if emitted >= want {
            break;
        }
        let day = spec.calendar.adjust(nominal, spec.adjustment);
        if day > until_day {
            break;
        }
        let local = day.and_time(time);
        let (at, missing) = resolve(spec.zone, local);
        // A day adjusted out of the supported years has no occurrence, like a missing day.
        let missing = missing || day < date(1900, 1, 1);
        if until_instant.is_some_and(|t| at > t) {
            break;
        }
        let fate = if missing {
            Fate::DayMissing
        } else if previous.is_some_and(|(d, t)| d == day || t >= at) {
            Fate::Collision
        } else {
            if counted >= count {
                break;
            }
            counted += 1;
            previous = Some((day, at));
            if skipped.contains(&local) || skipped_at.contains(&at) {
                Fate::Skipped
            } else if let Some(to) = moved.get(&local) {
                emitted += 1;
                Fate::Moved(*to)
            } else {
                emitted += 1;
                Fate::Emitted
            }
        };
        candidates.push(Candidate { seq, day, at, fate });
    }
    Model { candidates }
}

// ---------------------------------------------------------------------------------------------
// Properties of valid schedules
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(40_000))]

    /// Instants and `seq` strictly increase; the first `seq` is 0 unless that occurrence was
    /// skipped (or its civil day does not exist in the zone).
    #[test]
    fn occurrences_are_ordered_and_numbered(spec in spec_strategy()) {
        let Some(built) = build(&spec, spec.end)? else { return Ok(()) };
        let got = items(built.schedule.occurrences().take(200));
        for pair in got.windows(2) {
            prop_assert!(pair[0].2 < pair[1].2, "instants not increasing: {pair:?}");
            prop_assert!(pair[0].0 < pair[1].0, "seq not increasing: {pair:?}");
        }
        let model = model(&spec, spec.end, &built.skipped, &built.skipped_at, &built.moved, 1);
        if let Some(first) = got.first() {
            let zero = model.candidates.first().map(|c| c.fate);
            match zero {
                Some(Fate::Skipped | Fate::DayMissing) => prop_assert!(first.0 > 0),
                _ => prop_assert_eq!(first.0, 0, "seq 0 was neither skipped nor missing: {:?}", zero),
            }
        }
    }

    /// The engine's expansion equals the brute-force model's: same `seq`, date and instant.
    #[test]
    fn expansion_matches_the_model(spec in spec_strategy()) {
        let Some(built) = build(&spec, spec.end)? else { return Ok(()) };
        let got = items(built.schedule.occurrences().take(80));
        let expected = model(&spec, spec.end, &built.skipped, &built.skipped_at, &built.moved, 80).emitted(spec.zone);
        prop_assert_eq!(got, expected);
    }

    /// `Count(n)`: exactly n occurrences minus the skipped ones among them and minus those
    /// the supported years cut off; civil days the zone skipped and adjustments onto an
    /// earlier occurrence's day do not use up the count.
    #[test]
    fn count_gives_n_minus_the_skipped(spec in spec_with((1u32..=50).prop_map(EndGen::Count))) {
        let Some(built) = build(&spec, spec.end)? else { return Ok(()) };
        let End::Count(n) = spec.end else { unreachable!("the strategy makes counts") };
        let got = items(built.schedule.occurrences());
        let model = model(&spec, spec.end, &built.skipped, &built.skipped_at, &built.moved, usize::MAX);
        let counted = model.candidates.len()
            - model.count(Fate::DayMissing)
            - model.count(Fate::Collision);
        prop_assert!(counted <= n as usize);
        let cut_by_the_years = n as usize - counted;
        let drops = model.count(Fate::Skipped) + cut_by_the_years;
        prop_assert_eq!(got.len(), n as usize - drops);
        prop_assert_eq!(got, model.emitted(spec.zone));
    }

    /// `Count(n)` is the first n occurrences of the same schedule without an end, whenever
    /// that series has n: checked against a walk of the unbounded series, no model involved.
    #[test]
    fn count_takes_the_first_n_of_the_unbounded_series(
        spec in spec_with((1u32..=60).prop_map(EndGen::Count)),
    ) {
        // Without exceptions: they apply after the count.
        let Ok(never) = spec.builder(End::Never).build() else { return Ok(()) };
        let End::Count(n) = spec.end else { unreachable!("the strategy makes counts") };
        let counted = spec.builder(End::Count(n)).build()
            .map_err(|e| TestCaseError::fail(format!("the same schedule with a count: {e}")))?;
        let unbounded = items(never.occurrences().take(n as usize));
        prop_assert_eq!(items(counted.occurrences()), unbounded.clone());
        // Seeking from just before each one finds the same tail.
        for item in &unbounded {
            let t = item.2 - TimeDelta::seconds(1);
            let sought = items(counted.occurrences_after(t));
            let walked: Vec<Item> = unbounded.iter().copied().filter(|i| i.2 > t).collect();
            prop_assert_eq!(sought, walked, "after {}", t);
        }
    }

    /// `Until(d)` (and `UntilInstant(t)`): nothing after the end, and the same schedule
    /// without end has the same occurrences up to it and its next one after it.
    #[test]
    fn until_stops_at_its_end(
        spec in spec_with(prop_oneof![
            3 => prop_oneof![0u64..40, 0u64..3000].prop_map(EndGen::Until),
            1 => (-86_400i64..3000 * 86_400).prop_map(EndGen::UntilInstant),
        ])
    ) {
        let Some(built) = build(&spec, spec.end)? else { return Ok(()) };
        let got = items(built.schedule.occurrences());
        let never = rebuild(&spec, &built, End::Never)
            .map_err(|e| TestCaseError::fail(format!("the same schedule without end: {e}")))?;
        let unbounded = items(never.occurrences().take(got.len() + 1));
        prop_assert_eq!(&unbounded[..got.len()], &got[..]);
        let next = unbounded.get(got.len());
        match spec.end {
            End::Until(d) => {
                prop_assert!(got.iter().all(|item| item.1 <= d), "an occurrence after {d}");
                if let Some(next) = next {
                    prop_assert!(next.1 > d, "the next occurrence {next:?} is not after {d}");
                }
            }
            End::UntilInstant(t) => {
                prop_assert!(got.iter().all(|item| item.2 <= t), "an occurrence after {t}");
                if let Some(next) = next {
                    prop_assert!(next.2 > t, "the next occurrence {next:?} is not after {t}");
                }
            }
            other => unreachable!("the strategy makes no {other:?}"),
        }
    }

    /// Seeking equals walking: `occurrences_after(t)` is `occurrences()` filtered on `at > t`,
    /// for instants before the start, around occurrences, after the end and far away.
    #[test]
    fn seek_equals_walk(
        spec in spec_strategy(),
        probes in prop::collection::vec(
            (0u8..4, any::<prop::sample::Index>(), prop_oneof![
                Just(-1i64), Just(0), Just(1), -3 * 86_400i64..3 * 86_400
            ]),
            6,
        ),
        far in -2_000_000_000i64..7_300_000_000,
    ) {
        let Some(built) = build(&spec, spec.end)? else { return Ok(()) };
        let schedule = &built.schedule;
        let walked = items(schedule.occurrences().take(400));
        let start = resolve(spec.zone, spec.start).0;
        // Anywhere from 1906 to 2201, walked from the start for the comparison.
        let mut instants: Vec<DateTime<Utc>> = DateTime::from_timestamp(far, 0).into_iter().collect();
        for (kind, index, delta) in probes {
            let delta = TimeDelta::seconds(delta);
            let t = match kind {
                0 => start - TimeDelta::seconds(delta.num_seconds().abs()),
                1 if !walked.is_empty() => walked[index.index(walked.len())].2 + delta,
                2 if !walked.is_empty() => walked[walked.len() - 1].2 + delta,
                _ => start + delta,
            };
            instants.push(t);
        }
        for t in instants {
            let sought = items(schedule.occurrences_after(t).take(30));
            let filtered = items(schedule.occurrences().filter(|o| o.at() > t).take(30));
            prop_assert_eq!(sought, filtered, "after {}", t);
        }
    }

    /// JSON round trip: the same schedule, expanding identically.
    #[test]
    fn serde_round_trip(spec in spec_strategy()) {
        let Some(built) = build(&spec, spec.end)? else { return Ok(()) };
        let json = serde_json::to_string(&built.schedule)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back: Schedule = serde_json::from_str(&json)
            .map_err(|e| TestCaseError::fail(format!("{e} reading {json}")))?;
        prop_assert_eq!(&back, &built.schedule, "{}", json);
        prop_assert_eq!(
            items(back.occurrences().take(60)),
            items(built.schedule.occurrences().take(60))
        );
    }

    /// RFC 5545 round trip: the text read back expands identically.
    #[test]
    fn rrule_round_trip(spec in spec_strategy()) {
        let Some(built) = build(&spec, spec.end)? else { return Ok(()) };
        let text = built.schedule.to_rrule();
        let back = Schedule::from_rrule(&text)
            .map_err(|e| TestCaseError::fail(format!("{e} reading {text}")))?;
        prop_assert_eq!(
            items(back.occurrences().take(60)),
            items(built.schedule.occurrences().take(60)),
            "{}", text
        );
    }
}

/// Monthly and yearly rules on day D, clamped, with the month of candidate k.
#[derive(Debug, Clone)]
struct ClampSpec {
    yearly: Option<Month>,
    day: u32,
    interval: u32,
    start: NaiveDateTime,
    zone: Zone,
}

fn clamp_strategy() -> impl Strategy<Value = ClampSpec> {
    (
        prop::option::of((1u8..=12).prop_map(|m| Month::try_from(m).expect("1..=12"))),
        prop_oneof![1u32..=31, 28u32..=31],
        prop_oneof![9 => 1u32..=12, 1 => 1u32..=1000],
        strategies::zone_and_start(),
    )
        .prop_map(|(yearly, day, interval, (zone, start))| {
            // A yearly day that never occurs in its month is refused; keep the longest one.
            let day = match yearly.map(|m| m.number_from_month()) {
                Some(2) => day.min(29),
                Some(4 | 6 | 9 | 11) => day.min(30),
                _ => day,
            };
            ClampSpec {
                yearly,
                day,
                interval,
                start,
                zone,
            }
        })
}

proptest! {
    #![proptest_config(config(20_000))]

    /// No drift: the occurrence of candidate k is on min(D, month length) of the month
    /// start + k × interval, whatever the months before it were (chrono's own month
    /// arithmetic, not the crate's).
    #[test]
    fn clamped_month_days_do_not_drift(spec in clamp_strategy()) {
        let interval = Interval::new(spec.interval).expect("1..=1000");
        let on = MonthDay::Day(DayOfMonth::new(spec.day).expect("1..=31"));
        let (recurrence, first_month, months_per_step) = match spec.yearly {
            None => (
                Recurrence::monthly(interval, on),
                spec.start.date().with_day(1).expect("day 1"),
                spec.interval,
            ),
            Some(month) => (
                Recurrence::yearly(interval, month, on),
                date(spec.start.year(), month.number_from_month(), 1),
                12 * spec.interval,
            ),
        };
        let built = Schedule::builder(recurrence, spec.start, spec.zone)
            .overflow(Overflow::Clamp)
            .build();
        let candidate = |k: u64| -> Option<NaiveDate> {
            let month = first_month.checked_add_months(Months::new(
                u32::try_from(k * u64::from(months_per_step)).ok()?,
            ))?;
            let length = days_in_month(month.year(), month.month());
            (month <= last_supported()).then(|| date(month.year(), month.month(), spec.day.min(length)))
        };
        // Candidate 0 falls before the start when the start is past the day in its month.
        let head = u64::from(candidate(0).is_some_and(|d| d < spec.start.date()));
        let schedule = match built {
            Ok(schedule) => schedule,
            Err(ScheduleError::NoOccurrence) => {
                // Only when every candidate from the start falls on a civil day the zone
                // skipped, or past the supported years.
                let mut k = head;
                while let Some(day) = candidate(k) {
                    prop_assert!(day_missing(spec.zone, day), "{} is an occurrence", day);
                    k += 1;
                }
                return Ok(());
            }
            Err(e) => return Err(TestCaseError::fail(e.to_string())),
        };
        let got = items(schedule.occurrences().take(100));
        let mut expected_seq = 0u64;
        for (seq, day, _) in &got {
            // Only a civil day the zone skipped may leave a seq unused.
            while expected_seq < *seq {
                let missing = candidate(expected_seq + head).map(|d| day_missing(spec.zone, d));
                prop_assert_eq!(missing, Some(true), "seq {} left out", expected_seq);
                expected_seq += 1;
            }
            prop_assert_eq!(Some(*day), candidate(seq + head), "seq {}", seq);
            expected_seq = seq + 1;
        }
        if got.len() < 100 {
            // The series ended: the next candidate is past the supported years.
            prop_assert_eq!(candidate(expected_seq + head), None);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// General RFC 5545 rules (expanded through the rrule crate)
// ---------------------------------------------------------------------------------------------

/// Rules outside the structured vocabulary, plus structured ones written other ways.
const GENERAL_RULES: [&str; 14] = [
    "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
    "FREQ=MONTHLY;BYDAY=SA,SU;BYSETPOS=1,2",
    "FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO",
    "FREQ=YEARLY;BYYEARDAY=1,100,-1",
    "FREQ=DAILY;BYHOUR=9,17",
    "FREQ=DAILY;INTERVAL=3;BYMONTH=1,7",
    "FREQ=MONTHLY;BYMONTHDAY=-3,15",
    "FREQ=MONTHLY;INTERVAL=2;BYDAY=2TU,-1FR",
    "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH;WKST=SU;BYMONTH=3,4,10,11",
    "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",
    "FREQ=MONTHLY;BYMONTHDAY=31",
    "FREQ=YEARLY;BYMONTH=3,10;BYDAY=-1SU",
    "FREQ=DAILY;BYMINUTE=0,30",
    "FREQ=WEEKLY;BYDAY=MO;BYHOUR=2;BYMINUTE=30",
];

fn general_text_strategy() -> impl Strategy<Value = String> {
    (
        select(GENERAL_RULES.to_vec()),
        strategies::zone_and_start(),
        prop_oneof![
            Just(String::new()),
            (1u32..40).prop_map(|n| format!(";COUNT={n}")),
        ],
    )
        .prop_map(|(rule, (zone, start), end)| {
            let start = start.format("%Y%m%dT%H%M%S");
            format!("DTSTART;TZID={}:{start}\nRRULE:{rule}{end}", zone.name())
        })
}

proptest! {
    #![proptest_config(config(5_000))]

    /// General rules (the list above, and `strategies::rrule_text`: rule parts in every
    /// allowed combination, with COUNT or UNTIL, EXDATE and RDATE, and the crate's own text
    /// with its extensions): text and JSON round trips expand identically, and seeking equals
    /// walking.
    #[test]
    fn general_rules_round_trip(
        text in prop_oneof![general_text_strategy(), strategies::rrule_text()],
        probe in 0usize..40,
    ) {
        let schedule = match Schedule::from_rrule(&text) {
            Ok(schedule) => schedule,
            // A rule whose every occurrence falls on a civil day the zone skipped (COUNT=1 on
            // the last weekday of December 2011 in Apia).
            Err(ScheduleError::NoOccurrence) => return Ok(()),
            Err(e) => return Err(TestCaseError::fail(format!("{e} reading {text}"))),
        };
        let expected = items(schedule.occurrences().take(40));
        let back = Schedule::from_rrule(&schedule.to_rrule())
            .map_err(|e| TestCaseError::fail(format!("{e} reading {}", schedule.to_rrule())))?;
        prop_assert_eq!(&items(back.occurrences().take(40)), &expected);
        let json = serde_json::to_string(&schedule).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back: Schedule = serde_json::from_str(&json)
            .map_err(|e| TestCaseError::fail(format!("{e} reading {json}")))?;
        prop_assert_eq!(&items(back.occurrences().take(40)), &expected);
        if let Some(item) = expected.get(probe.min(expected.len().saturating_sub(1))) {
            for t in [item.2 - TimeDelta::seconds(1), item.2] {
                prop_assert_eq!(
                    items(schedule.occurrences_after(t).take(10)),
                    items(schedule.occurrences().filter(|o| o.at() > t).take(10))
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(config(5_000))]

    /// Schedules of every kind from `strategies::schedule` (general rules and extra dates
    /// included, which the model does not cover): instants and `seq` increase, seeking equals
    /// walking, and the JSON form and RFC 5545 text read back with the same occurrences.
    #[test]
    fn any_schedule_seeks_and_round_trips(
        schedule in strategies::schedule(),
        probes in prop::collection::vec(
            (any::<prop::sample::Index>(), prop_oneof![Just(-1i64), Just(0), -2 * 86_400i64..2 * 86_400]),
            4,
        ),
    ) {
        let walked = items(schedule.occurrences().take(60));
        for pair in walked.windows(2) {
            prop_assert!(pair[0].2 < pair[1].2, "instants not increasing: {pair:?}");
            prop_assert!(pair[0].0 < pair[1].0, "seq not increasing: {pair:?}");
        }
        if !walked.is_empty() {
            for (index, delta) in probes {
                let t = walked[index.index(walked.len())].2 + TimeDelta::seconds(delta);
                prop_assert_eq!(
                    items(schedule.occurrences_after(t).take(20)),
                    items(schedule.occurrences().filter(|o| o.at() > t).take(20)),
                    "after {} in {}", t, schedule.to_rrule()
                );
            }
        }
        round_trips(&schedule)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Arbitrary and invalid input: typed errors, never a panic
// ---------------------------------------------------------------------------------------------

/// A raw date and a raw date-time: numbers that may not make one.
type RawDate = (i32, u32, u32);
type RawDateTime = (i32, u32, u32, u32, u32);

/// Builder input as raw numbers, many of them invalid.
#[derive(Debug, Clone)]
struct RawSpec {
    kind: u8,
    interval: u32,
    weekdays: u8,
    week_start: Weekday,
    month: u8,
    day_kind: u8,
    day: u32,
    ordinal: i32,
    weekday: Weekday,
    once: RawDate,
    lead: (u8, u32),
    start: RawDateTime,
    zone: String,
    end: (u8, u32, RawDate, i64),
    overflow: bool,
    adjustment: u8,
    weekend: u8,
    holidays: Vec<RawDate>,
    working: Vec<RawDate>,
    skips: Vec<RawDate>,
    moves: Vec<(RawDate, RawDateTime)>,
    near: Vec<(u8, u64, i64)>,
}

fn raw_date() -> impl Strategy<Value = RawDate> {
    prop_oneof![
        (1000i32..3000, 1u32..=12, 0u32..=32),
        (
            select(vec![1899, 1900, 2199, 2200]),
            select(vec![1, 2, 12]),
            select(vec![1, 28, 29, 30, 31])
        ),
        (1950i32..2150, 1u32..=12, 1u32..=28),
    ]
}

fn raw_time() -> impl Strategy<Value = (u32, u32)> {
    prop_oneof![
        (0u32..=24, 0u32..=60),
        Just((0, 0)),
        Just((2, 30)),
        Just((23, 59))
    ]
}

fn zone_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(
            strategies::ZONES
                .iter()
                .copied()
                .chain([
                    "europe/moscow",
                    "Mars/Olympus",
                    "",
                    "Etc/GMT+12",
                    "Etc/GMT-14",
                    "Pacific/Kiritimati",
                    "America/St_Johns",
                    "Asia/Kathmandu",
                    "Antarctica/Troll",
                    "EST5EDT",
                ])
                .collect::<Vec<_>>()
        )
        .prop_map(str::to_owned),
        1 => "\\PC{0,24}",
    ]
}

fn raw_spec_strategy() -> impl Strategy<Value = RawSpec> {
    let numbers = (
        0u8..7,
        prop_oneof![
            0u32..=13,
            select(vec![0, 1000, 1001, u32::MAX]),
            any::<u32>()
        ],
        any::<u8>(),
        strategies::weekday(),
        0u8..=13,
        0u8..4,
        prop_oneof![0u32..=32, any::<u32>()],
        prop_oneof![-6i32..=6, any::<i32>()],
        strategies::weekday(),
    );
    let dates = (
        raw_date(),
        (
            0u8..4,
            prop_oneof![
                0u32..5000,
                select(vec![120, 121, 520, 521, 3650, 3651, u32::MAX])
            ],
        ),
        (raw_date(), raw_time()).prop_map(|((y, m, d), (h, min))| (y, m, d, h, min)),
        zone_name(),
        (
            0u8..4,
            prop_oneof![0u32..60, Just(u32::MAX)],
            raw_date(),
            any::<i64>(),
        ),
        any::<bool>(),
        0u8..4,
    );
    let exceptions = (
        any::<u8>(),
        prop::collection::vec(raw_date(), 0..4),
        prop::collection::vec(raw_date(), 0..4),
        prop::collection::vec(raw_date(), 0..3),
        prop::collection::vec(
            (
                raw_date(),
                (raw_date(), raw_time()).prop_map(|((y, m, d), (h, min))| (y, m, d, h, min)),
            ),
            0..3,
        ),
        prop::collection::vec((0u8..2, 0u64..20, -1500i64..1500), 0..3),
    );
    (numbers, dates, exceptions).prop_map(
        |(
            (kind, interval, weekdays, week_start, month, day_kind, day, ordinal, weekday),
            (once, lead, start, zone, end, overflow, adjustment),
            (weekend, holidays, working, skips, moves, near),
        )| RawSpec {
            kind,
            interval,
            weekdays,
            week_start,
            month,
            day_kind,
            day,
            ordinal,
            weekday,
            once,
            lead,
            start,
            zone,
            end,
            overflow,
            adjustment,
            weekend,
            holidays,
            working,
            skips,
            moves,
            near,
        },
    )
}

fn raw_ymd((y, m, d): RawDate) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(y, m, d)
}

fn raw_ymdhm((y, m, d, h, min): RawDateTime) -> Option<NaiveDateTime> {
    NaiveDate::from_ymd_opt(y, m, d)?.and_hms_opt(h, min, 0)
}

/// Runs the builder on raw input; every error met on the way is handed to `seen`. When the
/// schedule builds, it is expanded, sought, written and read back.
fn exercise_builder(raw: &RawSpec, seen: &mut dyn FnMut(ScheduleError)) -> Option<Schedule> {
    fn or<T>(
        result: Result<T, ScheduleError>,
        fallback: T,
        seen: &mut dyn FnMut(ScheduleError),
    ) -> T {
        result.unwrap_or_else(|e| {
            seen(e);
            fallback
        })
    }
    let interval = or(Interval::new(raw.interval), Interval::ONE, seen);
    let weekdays = (0..8u8)
        .filter(|i| raw.weekdays & (1 << i) != 0)
        .filter_map(|i| Weekday::try_from(i).ok());
    let on_weekdays = or(
        WeekdaySet::new(weekdays),
        WeekdaySet::single(Weekday::Mon),
        seen,
    );
    let month_day = match raw.day_kind {
        0 => MonthDay::Day(or(
            DayOfMonth::new(raw.day),
            DayOfMonth::new(1).expect("1 is a day"),
            seen,
        )),
        1 => MonthDay::LastDay,
        2 => MonthDay::Weekday {
            ordinal: or(Ordinal::from_number(raw.ordinal), Ordinal::First, seen),
            weekday: raw.weekday,
        },
        _ => MonthDay::WorkingDay(or(
            WorkingDayNumber::new(raw.day),
            WorkingDayNumber::new(1).expect("1 is a working-day number"),
            seen,
        )),
    };
    let month = Month::try_from(raw.month).unwrap_or(Month::January);
    let lead = match raw.lead.0 {
        0 => Lead::None,
        1 => Lead::Days(raw.lead.1),
        2 => Lead::Weeks(raw.lead.1),
        _ => Lead::Months(raw.lead.1),
    };
    let start = raw_ymdhm(raw.start)?;
    let recurrence = match raw.kind {
        0 => Recurrence::daily(interval),
        1 => Recurrence::WorkingDay { interval },
        2 => Recurrence::Week {
            interval,
            on: on_weekdays,
            week_start: raw.week_start,
        },
        3 => Recurrence::monthly(interval, month_day),
        4 => Recurrence::yearly(interval, month, month_day),
        _ => Recurrence::Once {
            date: raw_ymd(raw.once).unwrap_or(start.date()),
            lead,
        },
    };
    let zone = or(parse_zone(&raw.zone), Zone::UTC, seen);
    let end = match raw.end.0 {
        0 => End::Never,
        1 => End::Count(raw.end.1),
        2 => raw_ymd(raw.end.2).map_or(End::Never, End::Until),
        _ => DateTime::from_timestamp(raw.end.3 % 10_000_000_000, 0)
            .map_or(End::Never, End::UntilInstant),
    };
    let weekend = (0..7u8)
        .filter(|i| raw.weekend & (1 << i) != 0)
        .filter_map(|i| Weekday::try_from(i).ok());
    let calendar = or(
        WorkingCalendar::new(
            weekend,
            raw.holidays.iter().copied().filter_map(raw_ymd),
            raw.working.iter().copied().filter_map(raw_ymd),
        ),
        WorkingCalendar::default(),
        seen,
    );
    let adjustment = match raw.adjustment {
        0 => Adjustment::None,
        1 => Adjustment::Following,
        2 => Adjustment::Preceding,
        _ => Adjustment::ModifiedFollowing,
    };
    let mut builder = Schedule::builder(recurrence, start, zone)
        .end(end)
        .overflow(if raw.overflow {
            Overflow::Skip
        } else {
            Overflow::Clamp
        })
        .calendar(calendar)
        .adjustment(adjustment);
    for skip in raw.skips.iter().copied().filter_map(raw_ymd) {
        builder = builder.skip(skip);
    }
    for (from, to) in &raw.moves {
        if let (Some(from), Some(to)) = (raw_ymd(*from), raw_ymdhm(*to)) {
            builder = builder.move_occurrence(from, to);
        }
    }
    // Exceptions on dates near the start, which may be occurrences.
    for &(kind, days, minutes) in &raw.near {
        let day = start.date() + Days::new(days);
        builder = match kind {
            0 => builder.skip(day),
            _ => {
                builder.move_occurrence(day, start + Days::new(days) + TimeDelta::minutes(minutes))
            }
        };
    }
    match builder.build() {
        Ok(schedule) => {
            exercise(&schedule, seen);
            Some(schedule)
        }
        Err(e) => {
            seen(e);
            None
        }
    }
}

/// Expands, seeks, writes and reads back a schedule that was accepted.
fn exercise(schedule: &Schedule, seen: &mut dyn FnMut(ScheduleError)) {
    let first: Vec<_> = schedule.occurrences().take(20).collect();
    let mut instants = vec![
        DateTime::<Utc>::MIN_UTC,
        DateTime::<Utc>::MAX_UTC,
        DateTime::UNIX_EPOCH,
    ];
    instants.extend(first.iter().map(|o| o.at()));
    for t in instants {
        let _ = schedule.occurrences_after(t).take(3).count();
    }
    for o in &first {
        let _ = schedule.today(o.at());
    }
    if let Err(e) = Schedule::from_rrule(&schedule.to_rrule()) {
        seen(e);
    }
    if let Ok(json) = serde_json::to_string(schedule) {
        let _ = serde_json::from_str::<Schedule>(&json);
    }
}

/// Characters that make mutations interesting for RFC 5545 text and JSON: separators, digits,
/// letters of the keywords, line breaks, multi-byte characters; and any character.
fn mutation_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => select(
            "0123456789;=,:-+/TZ\n\r \"{}[]FREQDAILYWKMONTHBYSPUCXé€𝄞\u{0}"
                .chars()
                .collect::<Vec<_>>()
        ),
        1 => any::<char>(),
    ]
}

/// An edit: at a position (an index into the characters), insert, delete or replace.
type Edit = (prop::sample::Index, u8, char);

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    prop::collection::vec(
        (any::<prop::sample::Index>(), 0u8..3, mutation_char()),
        1..6,
    )
}

fn mutate(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for (index, op, c) in edits {
        let at = index.index(chars.len() + 1);
        match op {
            0 => chars.insert(at, *c),
            1 if at < chars.len() => {
                chars.remove(at);
            }
            _ if at < chars.len() => chars[at] = *c,
            _ => chars.push(*c),
        }
    }
    chars.into_iter().collect()
}

/// Valid RFC 5545 texts to mutate: written by the crate from generated schedules, or general
/// rules with exceptions.
fn rrule_source() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => spec_strategy().prop_map(|spec| {
            build(&spec, spec.end)
                .ok()
                .flatten()
                .map(|built| built.schedule.to_rrule())
                .unwrap_or_default()
        }),
        1 => general_text_strategy(),
        1 => general_text_strategy().prop_map(|text| {
            format!("{text}\nEXDATE:20260105T090000Z\nRDATE;VALUE=DATE:20260107,20300101")
        }),
        1 => Just(
            "DTSTART;VALUE=DATE:20260131\nRRULE:FREQ=MONTHLY;BYMONTHDAY=28,29,30,31;BYSETPOS=-1;UNTIL=20270101"
                .to_owned()
        ),
        2 => strategies::rrule_text(),
    ]
}

/// Valid JSON forms to mutate.
fn json_source() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => spec_strategy().prop_map(|spec| {
            build(&spec, spec.end)
                .ok()
                .flatten()
                .and_then(|built| serde_json::to_string(&built.schedule).ok())
                .unwrap_or_default()
        }),
        1 => general_text_strategy()
            .prop_map(|text| serde_json::json!({ "rrule": text }).to_string()),
        2 => strategies::schedule()
            .prop_map(|schedule| serde_json::to_string(&schedule).unwrap_or_default()),
    ]
}

/// Replacement values for JSON leaves: boundaries of every field's range, wrong types.
fn json_values() -> Vec<serde_json::Value> {
    use serde_json::json;
    vec![
        json!(0),
        json!(1),
        json!(-1),
        json!(23),
        json!(24),
        json!(29),
        json!(31),
        json!(32),
        json!(1000),
        json!(1001),
        json!(u32::MAX),
        json!(u64::MAX),
        json!(i64::MIN),
        json!(1.5),
        json!("1899-12-31"),
        json!("1900-01-01"),
        json!("2199-12-31"),
        json!("2200-01-01"),
        json!("1900-01-01T00:00:00"),
        json!("2199-12-31T23:59:59"),
        json!("+262142-12-31T23:59:59"),
        json!("2011-12-30T12:00:00"),
        json!("Pacific/Apia"),
        json!("Mars/Olympus"),
        json!("mon"),
        json!("sun"),
        json!("last"),
        json!("following"),
        json!("skip"),
        json!(""),
        json!(null),
        json!(true),
        json!([]),
        json!({}),
        json!(["mon", "mon"]),
        json!({"day": 31}),
        json!({"working_day": 23}),
        json!({"weekday": {"ordinal": -1, "weekday": "fri"}}),
        json!({"count": 0}),
        json!({"until": "1950-01-01"}),
        json!({"until_instant": "2199-12-31T23:59:59Z"}),
        json!({"every": "once", "date": "2199-12-31", "lead": {"months": 120}}),
        json!({"every": "week", "interval": 1000, "on": ["sun"], "week_start": "sun"}),
        json!({"weekend": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}),
        json!({"weekend": [], "holidays": ["2026-01-01"], "working_days": ["2026-01-01"]}),
    ]
}

/// Replaces the `target`-th node (in depth-first order) of `value` with `with`.
fn replace_node(
    value: &mut serde_json::Value,
    target: &mut usize,
    with: &serde_json::Value,
) -> bool {
    if *target == 0 {
        *value = with.clone();
        return true;
    }
    *target -= 1;
    match value {
        serde_json::Value::Array(items) => items.iter_mut().any(|v| replace_node(v, target, with)),
        serde_json::Value::Object(map) => map.values_mut().any(|v| replace_node(v, target, with)),
        _ => false,
    }
}

fn count_nodes(value: &serde_json::Value) -> usize {
    1 + match value {
        serde_json::Value::Array(items) => items.iter().map(count_nodes).sum(),
        serde_json::Value::Object(map) => map.values().map(count_nodes).sum(),
        _ => 0,
    }
}

proptest! {
    #![proptest_config(config(40_000))]

    /// Arbitrary builder values, valid or not, give a schedule or a typed error.
    #[test]
    fn builder_never_panics(raw in raw_spec_strategy()) {
        let _ = exercise_builder(&raw, &mut |_| {});
    }

    /// Mutated RFC 5545 texts and arbitrary strings never make `from_rrule` panic, nor the
    /// expansion of what it accepts.
    #[test]
    fn rrule_text_never_panics(
        source in rrule_source(),
        edits in edits(),
        noise in "\\PC{0,60}",
        keywords in "[A-Z0-9=;:,\\n+TZ-]{0,80}",
    ) {
        for text in [mutate(&source, &edits), noise, keywords, format!("{source}\n{}", mutate("RRULE:FREQ=DAILY", &edits))] {
            if let Ok(schedule) = Schedule::from_rrule(&text) {
                exercise(&schedule, &mut |_| {});
            }
        }
    }

    /// Mutated JSON forms never make deserialization panic, nor the expansion of what it
    /// accepts.
    #[test]
    fn json_never_panics(
        source in json_source(),
        edits in edits(),
        replacements in prop::collection::vec(
            (any::<prop::sample::Index>(), select(json_values())),
            1..4,
        ),
    ) {
        for text in json_texts(&source, &edits, &replacements) {
            if let Ok(schedule) = serde_json::from_str::<Schedule>(&text) {
                exercise(&schedule, &mut |_| {});
            }
        }
    }
}

/// A schedule that was accepted, whatever its source, reads back from its JSON form and its
/// RFC 5545 text with the same occurrences.
fn round_trips(schedule: &Schedule) -> Result<(), TestCaseError> {
    let expected = items(schedule.occurrences().take(20));
    {
        let json =
            serde_json::to_string(schedule).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back: Schedule = match serde_json::from_str(&json) {
            Ok(back) => back,
            Err(e) => return Err(TestCaseError::fail(format!("{e} reading {json}"))),
        };
        if schedule.recurrence().is_some() {
            prop_assert_eq!(&back, schedule, "{}", json);
        }
        prop_assert_eq!(&items(back.occurrences().take(20)), &expected, "{}", json);
    }
    let text = schedule.to_rrule();
    let back = Schedule::from_rrule(&text)
        .map_err(|e| TestCaseError::fail(format!("{e} reading {text}")))?;
    prop_assert_eq!(&items(back.occurrences().take(20)), &expected, "{}", text);
    Ok(())
}

/// The JSON texts of `json_never_panics`: the source mutated character by character, and
/// with some nodes replaced.
fn json_texts(
    source: &str,
    edits: &[Edit],
    replacements: &[(prop::sample::Index, serde_json::Value)],
) -> Vec<String> {
    let mut texts = vec![mutate(source, edits)];
    if let Ok(mut value) = serde_json::from_str::<serde_json::Value>(source) {
        for (index, with) in replacements {
            let mut target = index.index(count_nodes(&value));
            replace_node(&mut value, &mut target, with);
        }
        texts.push(value.to_string());
    }
    texts
}

proptest! {
    #![proptest_config(config(20_000))]

    /// Whatever the builder accepts round-trips.
    #[test]
    fn accepted_builder_values_round_trip(raw in raw_spec_strategy()) {
        if let Some(schedule) = exercise_builder(&raw, &mut |_| {}) {
            round_trips(&schedule)?;
        }
    }

    /// Whatever mutated RFC 5545 text is accepted round-trips.
    #[test]
    fn accepted_rrule_text_round_trips(source in rrule_source(), edits in edits()) {
        if let Ok(schedule) = Schedule::from_rrule(&mutate(&source, &edits)) {
            round_trips(&schedule)?;
        }
    }

    /// Whatever mutated JSON is accepted round-trips.
    #[test]
    fn accepted_json_round_trips(
        source in json_source(),
        edits in edits(),
        replacements in prop::collection::vec(
            (any::<prop::sample::Index>(), select(json_values())),
            1..4,
        ),
    ) {
        for text in json_texts(&source, &edits, &replacements) {
            if let Ok(schedule) = serde_json::from_str::<Schedule>(&text) {
                round_trips(&schedule)?;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Regressions: minimal inputs the properties found
// ---------------------------------------------------------------------------------------------

#[test]
fn multibyte_line_start_is_an_error() {
    // "FREQ" + 'é' (2 bytes): byte 5 is inside 'é'.
    for text in [
        "FREQé",
        "aݍ￼",
        "DTSTART:20260105T090000Z\nRRULEé:FREQ=DAILY",
    ] {
        assert!(Schedule::from_rrule(text).is_err(), "{text:?}");
    }
}

#[test]
fn multibyte_date_time_is_an_error() {
    // "2026010" + 'é' (bytes 7..9) + "T090000": 16 bytes, split after byte 8.
    for text in [
        "DTSTART:2026010éT090000\nRRULE:FREQ=DAILY",
        "DTSTART:20260105T090000Z\nRRULE:FREQ=DAILY;UNTIL=2026010éT090000",
        "DTSTART:20260105T090000Z\nRRULE:FREQ=DAILY\nEXDATE:2026010éT09000",
    ] {
        assert!(Schedule::from_rrule(text).is_err(), "{text:?}");
    }
}

/// A one-off past its end, with an adjustment, that holds only an extra date: the text named
/// the one-off as DTSTART and excluded it by its adjusted instant, and that `EXDATE` removed
/// the extra date at the same instant too (RFC 5545: an EXDATE removes every instance it
/// names), leaving nothing; an extra date a second later came back as `seq` 1. The extra
/// date is DTSTART now, as without an adjustment, when the adjustment leaves its day alone.
/// Found by `accepted_json_round_trips`.
#[test]
fn a_one_off_past_its_end_moved_onto_an_extra_date_keeps_the_extra_date() {
    let json = r#"{"rule":{"every":"once","date":"2022-06-04"},"start":"2022-03-05T00:00:00",
        "zone":"Asia/Tehran","end":{"until_instant":"2022-06-01T00:00:00Z"},"overflow":"skip",
        "calendar":{"weekend":["Sat","Sun"],"holidays":[],
        "working_days":["2022-03-05","2022-03-06","2022-03-07","2022-03-08"]},
        "adjustment":"modified_following","extra_instants":["2022-06-05T19:30:00Z"]}"#;
    let schedule: Schedule = serde_json::from_str(json).unwrap();
    // The one-off (Saturday 4 June, moved to Monday 6 June 00:00 +04:30) is past the end;
    // the extra date at that same instant is the only occurrence.
    let expected = vec![(
        0,
        date(2022, 6, 6),
        Utc.with_ymd_and_hms(2022, 6, 5, 19, 30, 0).unwrap(),
    )];
    assert_eq!(items(schedule.occurrences().take(5)), expected);
    let text = schedule.to_rrule();
    assert!(
        text.starts_with("DTSTART;TZID=Asia/Tehran:20220606T000000"),
        "{text}"
    );
    let back = Schedule::from_rrule(&text).unwrap();
    assert_eq!(items(back.occurrences().take(5)), expected, "{text}");
    // The extra date a second later: still the only occurrence, still `seq` 0 (the text
    // named the one-off as DTSTART, whose unused `seq` 0 shifted the extra date to 1).
    let later = json.replace("19:30:00Z", "19:30:01Z");
    let schedule: Schedule = serde_json::from_str(&later).unwrap();
    let expected = vec![(
        0,
        date(2022, 6, 6),
        Utc.with_ymd_and_hms(2022, 6, 5, 19, 30, 1).unwrap(),
    )];
    assert_eq!(items(schedule.occurrences().take(5)), expected);
    let text = schedule.to_rrule();
    let back = Schedule::from_rrule(&text).unwrap();
    assert_eq!(items(back.occurrences().take(5)), expected, "{text}");
}

/// A one-off past its end with extra dates, an adjustment and the extra dates on days it
/// would move or not, before and after the one-off: the text numbers the extra dates as the
/// schedule does (in time order from `seq` 0), whichever form it takes.
#[test]
fn a_one_off_past_its_end_keeps_its_extra_dates_numbered() {
    let base = r#"{"rule":{"every":"once","date":"2022-06-04"},"start":"2022-03-05T00:00:00",
        "zone":"Asia/Tehran","end":{"until_instant":"2022-06-01T00:00:00Z"},
        "calendar":{"weekend":["Sat","Sun"],"holidays":[],"working_days":[]},
        "adjustment":"modified_following","extra_instants":[EXTRA]}"#;
    let at = |d, h, m, s| Utc.with_ymd_and_hms(2022, 6, d, h, m, s).unwrap();
    // (extra instants, expected (seq, local date, instant)); the one-off, moved to Monday
    // 6 June 00:00 +04:30, is past the end.
    let cases = [
        // Saturday 4 June only (a day the adjustment would move): before the one-off.
        (
            vec!["2022-06-03T19:30:01Z"],
            vec![(0, date(2022, 6, 4), at(3, 19, 30, 1))],
        ),
        // Saturday 4 June and Friday 10 June: the one-off falls between them.
        (
            vec!["2022-06-03T19:30:01Z", "2022-06-10T10:00:00Z"],
            vec![
                (0, date(2022, 6, 4), at(3, 19, 30, 1)),
                (1, date(2022, 6, 10), at(10, 10, 0, 0)),
            ],
        ),
        // Both on Saturdays, the one-off between them.
        (
            vec!["2022-06-03T19:30:01Z", "2022-06-10T19:30:01Z"],
            vec![
                (0, date(2022, 6, 4), at(3, 19, 30, 1)),
                (1, date(2022, 6, 11), at(10, 19, 30, 1)),
            ],
        ),
        // Friday and Saturday after the one-off.
        (
            vec!["2022-06-10T10:00:00Z", "2022-06-11T10:00:00Z"],
            vec![
                (0, date(2022, 6, 10), at(10, 10, 0, 0)),
                (1, date(2022, 6, 11), at(11, 10, 0, 0)),
            ],
        ),
    ];
    for (extras, expected) in cases {
        let list: Vec<String> = extras.iter().map(|e| format!("\"{e}\"")).collect();
        let json = base.replace("EXTRA", &list.join(","));
        let schedule: Schedule = serde_json::from_str(&json).unwrap();
        assert_eq!(items(schedule.occurrences().take(5)), expected, "{json}");
        let text = schedule.to_rrule();
        let back = Schedule::from_rrule(&text).unwrap();
        assert_eq!(items(back.occurrences().take(5)), expected, "{text}");
    }
}

#[test]
fn one_off_round_trips_through_rrule() {
    let start = date(1950, 1, 2).and_time(NaiveTime::MIN);
    for (day, lead) in [
        (date(1950, 1, 3), Lead::None),
        (date(1950, 3, 1), Lead::Days(10)),
    ] {
        let schedule = Schedule::builder(Recurrence::Once { date: day, lead }, start, Zone::UTC)
            .build()
            .expect("a one-off after the start");
        // The occurrence is created `lead` before the date (RFC-independent: the rule's doc).
        let created = match lead {
            Lead::Days(n) => day - Days::new(u64::from(n)),
            _ => day,
        };
        assert_eq!(
            items(schedule.occurrences()).first().map(|o| o.1),
            Some(created)
        );
        let back = Schedule::from_rrule(&schedule.to_rrule()).expect("its own text reads back");
        assert_eq!(
            items(back.occurrences().take(5)),
            items(schedule.occurrences().take(5)),
            "{}",
            schedule.to_rrule()
        );
    }
}

#[test]
fn a_one_off_past_its_end_round_trips_through_rrule() {
    // Found by `accepted_json_round_trips` on a mutated `strategies::schedule()`: a one-off
    // created on 2189-12-31 (120 months before 2199-12-31) with an end in 1950 has no
    // occurrence of its own; its extra dates make it a schedule. Its text (DTSTART alone,
    // which RFC 5545 counts as an occurrence) must not bring the one-off back.
    let start = date(1950, 1, 1).and_time(NaiveTime::MIN);
    let once = Recurrence::Once {
        date: date(2199, 12, 31),
        lead: Lead::Months(120),
    };
    let ends = [
        End::Until(date(1950, 1, 7)),
        End::UntilInstant(Utc.with_ymd_and_hms(1950, 1, 7, 0, 0, 0).unwrap()),
    ];
    for end in ends {
        for adjustment in [Adjustment::None, Adjustment::Preceding] {
            let schedule = Schedule::builder(once, start, Zone::get("America/Havana").unwrap())
                .end(end)
                .adjustment(adjustment)
                .extra(date(1950, 1, 7).and_time(NaiveTime::MIN))
                .extra(date(1950, 1, 7).and_hms_opt(0, 1, 0).expect("00:01"))
                .build()
                .expect("extra dates make it a schedule");
            assert_eq!(
                items(schedule.occurrences()).len(),
                2,
                "{end:?}, {adjustment:?}"
            );
            let text = schedule.to_rrule();
            let back = Schedule::from_rrule(&text).expect("its own text reads back");
            assert_eq!(
                items(back.occurrences()),
                items(schedule.occurrences()),
                "{text}"
            );
        }
    }
}

#[test]
fn today_never_panics() {
    let start = date(2026, 1, 5).and_hms_opt(9, 0, 0).expect("09:00");
    for zone in [
        Zone::get("Asia/Kolkata").unwrap(),
        Zone::get("America/New_York").unwrap(),
    ] {
        let schedule = Schedule::builder(Recurrence::daily(Interval::ONE), start, zone)
            .build()
            .expect("a daily schedule");
        // Kolkata is east of UTC: MAX_UTC's local date is past chrono's last date; New York is
        // west: MIN_UTC's is before its first.
        let _ = schedule.today(DateTime::<Utc>::MAX_UTC);
        let _ = schedule.today(DateTime::<Utc>::MIN_UTC);
    }
}

// ---------------------------------------------------------------------------------------------
// Error messages
// ---------------------------------------------------------------------------------------------

#[test]
fn yearly_working_day_round_trips_whatever_the_start_day() {
    // Every day is a working day: the first working day of February is February 1.
    let calendar = WorkingCalendar::new([], [], []).expect("no days off");
    let rule = Recurrence::yearly(
        Interval::ONE,
        Month::February,
        MonthDay::WorkingDay(WorkingDayNumber::new(1).expect("1")),
    );
    let start = date(1964, 3, 30).and_time(NaiveTime::MIN);
    let schedule = Schedule::builder(rule, start, Zone::UTC)
        .calendar(calendar)
        .build()
        .expect("a valid schedule");
    let expected: Vec<NaiveDate> = (1965..1975).map(|y| date(y, 2, 1)).collect();
    let dates = |s: &Schedule| {
        s.occurrences()
            .take(10)
            .map(|o| o.date())
            .collect::<Vec<_>>()
    };
    assert_eq!(dates(&schedule), expected);
    let text = schedule.to_rrule();
    let back = Schedule::from_rrule(&text).expect("its own text reads back");
    // Read back as "the first Monday to Friday of February": 1969-02-03, 1970-02-02, ...
    assert_eq!(dates(&back), expected, "{text}");
}

#[test]
fn extra_dates_survive_json() {
    let text = "DTSTART:20260105T090000Z\nRRULE:FREQ=DAILY;COUNT=3\nRDATE:20260110T090000Z";
    let schedule = Schedule::from_rrule(text).expect("a valid text");
    let dates = |s: &Schedule| s.occurrences().map(|o| o.date()).collect::<Vec<_>>();
    // RFC 5545: the RDATE joins the three occurrences of the rule.
    let expected = [5, 6, 7, 10].map(|d| date(2026, 1, d));
    assert_eq!(dates(&schedule), expected);
    let json = serde_json::to_string(&schedule).expect("serializes");
    let back: Schedule = serde_json::from_str(&json).expect("reads back");
    assert_eq!(dates(&back), expected, "{json}");
}

#[test]
fn exceptions_that_are_not_occurrences_survive_json() {
    // RFC 5545 lets an EXDATE name a date the rule does not produce (January 6 here: the rule
    // gives the 5th, 7th and 9th); the JSON form's `skip` must name occurrences.
    // An EXDATE at 10:00 does not remove the 09:00 occurrence of its date either.
    for text in [
        "DTSTART:20260105T090000Z\nRRULE:FREQ=DAILY;INTERVAL=2;COUNT=3\nEXDATE:20260106T090000Z",
        "DTSTART:20260105T090000Z\nRRULE:FREQ=DAILY;COUNT=3\nEXDATE:20260106T100000Z",
    ] {
        let schedule = Schedule::from_rrule(text).expect("a valid text");
        assert_eq!(schedule.occurrences().count(), 3, "{text}");
        let json = serde_json::to_string(&schedule).expect("serializes");
        let back: Schedule = serde_json::from_str(&json).expect("its own JSON reads back");
        assert_eq!(
            items(back.occurrences()),
            items(schedule.occurrences()),
            "{json}"
        );
    }
}

#[test]
fn until_a_skipped_day_round_trips() {
    // Apia skipped 2011-12-30: a daily rule until that day has only December 29.
    let start = date(2011, 12, 29).and_time(NaiveTime::MIN);
    let schedule = Schedule::builder(
        Recurrence::daily(Interval::ONE),
        start,
        Zone::get("Pacific/Apia").unwrap(),
    )
    .end(End::Until(date(2011, 12, 30)))
    .build()
    .expect("a valid schedule");
    let dates = |s: &Schedule| s.occurrences().map(|o| o.date()).collect::<Vec<_>>();
    assert_eq!(dates(&schedule), [date(2011, 12, 29)]);
    let text = schedule.to_rrule();
    let back = Schedule::from_rrule(&text).expect("its own text reads back");
    // UNTIL=20111231T095959Z is 2011-12-31 23:59:59 in Apia: December 31 comes back too.
    assert_eq!(dates(&back), [date(2011, 12, 29)], "{text}");
}

#[test]
fn leap_seconds_in_json_round_trip() {
    let forms = [
        r#"{"rule":{"every":"day","interval":1},"start":"2026-01-05T09:00:60","zone":"UTC","end":{"count":3}}"#,
        r#"{"rule":{"every":"day","interval":1},"start":"2026-01-05T09:00:00","zone":"UTC","end":{"count":3},"move":[{"from":"2026-01-06","to":"2026-01-06T10:00:60"}]}"#,
    ];
    for json in forms {
        // Refusing a leap second is as good as carrying it through; accepting it and then
        // writing text that does not read back is not.
        let Ok(schedule) = serde_json::from_str::<Schedule>(json) else {
            continue;
        };
        let text = schedule.to_rrule();
        let back = Schedule::from_rrule(&text)
            .unwrap_or_else(|e| panic!("{json} was accepted, its text {text:?} is refused: {e}"));
        assert_eq!(
            items(back.occurrences()),
            items(schedule.occurrences()),
            "{text}"
        );
    }
}

#[test]
fn no_occurrence_before_1900() {
    // 1900-01-01 was a Monday; Mondays are off, so Preceding moves it to Sunday 1899-12-31.
    let start = date(1900, 1, 1).and_time(NaiveTime::MIN);
    let calendar = WorkingCalendar::weekends_only([Weekday::Mon]).expect("a calendar");
    let builder = Schedule::builder(Recurrence::daily(Interval::ONE), start, Zone::UTC)
        .calendar(calendar)
        .adjustment(Adjustment::Preceding);
    let schedule = builder.clone().build().expect("a valid schedule");
    let first = schedule.occurrences().next().expect("an occurrence").date();
    // Series stay within 1900-01-01 ..= 2199-12-31 (the crate docs); the end already cuts
    // adjusted occurrences past 2199-12-31.
    assert!(first >= date(1900, 1, 1), "first occurrence on {first}");
    builder
        .skip(first)
        .build()
        .expect("skipping the first occurrence");
}

/// The crate's convention: a message starts lowercase (a value it names, such as a date, may
/// come first) and has no trailing period.
fn check_message(error: &ScheduleError) -> Result<(), TestCaseError> {
    let message = error.to_string();
    let first = message.chars().next();
    prop_assert!(
        first.is_some_and(|c| c.is_lowercase() || c.is_ascii_digit()),
        "{error:?} displays as {message:?}"
    );
    prop_assert!(!message.ends_with('.'), "{error:?} displays as {message:?}");
    Ok(())
}

#[test]
fn bysetpos_out_of_the_rrule_crate_range_is_refused_as_a_rule() {
    // RFC 5545 allows BYSETPOS in -366..=366; within a month only -31..=31 can select
    // anything, and the rrule crate refuses the rest.
    let text = "DTSTART;VALUE=DATE:20260131\nRRULE:FREQ=MONTHLY;BYMONTHDAY=28,29,30,31;BYSETPOS=41";
    let error = Schedule::from_rrule(text).expect_err("BYSETPOS=41 selects nothing");
    let message = error.to_string();
    // `Expansion` is documented as "a bug worth reporting": it must be refused as a rule.
    assert!(!matches!(error, ScheduleError::Expansion(_)), "{error:?}");
    assert!(!message.ends_with('.'), "{message:?}");
}

#[test]
fn unknown_names_are_quoted() {
    for text in [
        "DTSTART:20260105T090000Z\nRRULE:FREQ=DAILY;BYMONTHDAY.=1",
        "DTSTART:20260105T090000Z\nRRULE:FREQ=DAILY\nSUMMARY.:x",
        "DTSTART:20260105T090000Z\nRRULE:FREQ=MONTHLY;BYMONTHDAY=3\nX-RD-ADJUST:FOLLOWING\nX-RD-CALENDAR:WEEKEND.=SA",
    ] {
        let error = Schedule::from_rrule(text).expect_err("an unknown name");
        let message = error.to_string();
        assert!(!message.ends_with('.'), "{text:?} gives {message:?}");
    }
}

proptest! {
    #![proptest_config(config(20_000))]

    /// Every error met building from raw values or reading mutated text is lowercase without
    /// a trailing period.
    #[test]
    fn error_messages_are_lowercase(
        raw in raw_spec_strategy(),
        source in rrule_source(),
        edits in edits(),
    ) {
        let mut errors = Vec::new();
        let _ = exercise_builder(&raw, &mut |e| errors.push(e));
        let text = mutate(&source, &edits);
        if let Err(e) = Schedule::from_rrule(&text) {
            errors.push(e);
        }
        for error in &errors {
            check_message(error)?;
        }
    }
}
