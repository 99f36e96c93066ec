//! The validating builder, and the final assembly shared with RFC 5545 parsing.

use std::collections::{BTreeMap, BTreeSet};

use crate::zone::Zone;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use crate::calendar::{Adjustment, WorkingCalendar};
use crate::civil;
use crate::error::ScheduleError;
use crate::schedule::cursor::{BaseItem, Cursor};
use crate::schedule::exceptions::{Exceptions, Given, Inserted};
use crate::schedule::plan::Plan;
use crate::schedule::recurrence::{Overflow, Recurrence};
use crate::schedule::{End, Rule, Schedule};
use crate::zone::ZoneTable;

/// Builds a [`Schedule`], validating everything in [`ScheduleBuilder::build`].
///
/// ```
/// use chrono::{NaiveDate, Weekday};
/// use recurring_deals::{Adjustment, End, Interval, Recurrence, Schedule, WeekdaySet, Zone};
///
/// let start = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap().and_hms_opt(9, 0, 0).unwrap();
/// let schedule = Schedule::builder(
///     Recurrence::weekly(Interval::new(2)?, WeekdaySet::new([Weekday::Mon, Weekday::Fri])?),
///     start,
///     Zone::get("Europe/Moscow")?,
/// )
/// .end(End::Count(10))
/// .skip(NaiveDate::from_ymd_opt(2026, 1, 9).unwrap())
/// .build()?;
/// assert_eq!(schedule.occurrences().count(), 9);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct ScheduleBuilder {
    recurrence: Recurrence,
    start: NaiveDateTime,
    zone: Zone,
    end: End,
    overflow: Overflow,
    calendar: WorkingCalendar,
    adjustment: Adjustment,
    skipped: BTreeSet<NaiveDate>,
    skipped_at: BTreeSet<DateTime<Utc>>,
    moved: BTreeMap<NaiveDate, NaiveDateTime>,
    extra: BTreeSet<NaiveDateTime>,
    extra_at: BTreeSet<DateTime<Utc>>,
}

impl ScheduleBuilder {
    pub(crate) fn new(recurrence: Recurrence, start: NaiveDateTime, zone: Zone) -> Self {
        ScheduleBuilder {
            recurrence,
            start,
            zone,
            end: End::Never,
            overflow: Overflow::Clamp,
            calendar: WorkingCalendar::default(),
            adjustment: Adjustment::None,
            skipped: BTreeSet::new(),
            skipped_at: BTreeSet::new(),
            moved: BTreeMap::new(),
            extra: BTreeSet::new(),
            extra_at: BTreeSet::new(),
        }
    }

    /// When the series ends (default: never).
    pub fn end(mut self, end: End) -> Self {
        self.end = end;
        self
    }

    /// What monthly and yearly rules do in months that lack their day (default: clamp).
    pub fn overflow(mut self, overflow: Overflow) -> Self {
        self.overflow = overflow;
        self
    }

    /// The working-day calendar (default: Saturday and Sunday off, no holidays).
    pub fn calendar(mut self, calendar: WorkingCalendar) -> Self {
        self.calendar = calendar;
        self
    }

    /// Moves occurrences that fall on days off (default: they stay).
    pub fn adjustment(mut self, adjustment: Adjustment) -> Self {
        self.adjustment = adjustment;
        self
    }

    /// Removes the occurrence on `date`; its `seq` stays unused.
    ///
    /// The date names the occurrence by its nominal date and the schedule's time of day, as
    /// the rule gives it before DST is applied (an occurrence moved out of a gap is still
    /// named by its own date).
    pub fn skip(mut self, date: NaiveDate) -> Self {
        self.skipped.insert(date);
        self
    }

    /// Removes the occurrence that happens at instant `at` (RFC 5545 `EXDATE` in UTC); its
    /// `seq` stays unused. Unlike [`ScheduleBuilder::skip`], this names the resolved instant:
    /// on a spring-forward day the occurrence of 02:30 is named by the instant of 03:30.
    ///
    /// ```
    /// use chrono::{NaiveDate, TimeZone, Utc};
    /// use recurring_deals::{End, Interval, Recurrence, Schedule, Zone};
    ///
    /// // 02:30 does not exist in Berlin on 2026-03-29: the occurrence is at 03:30+02:00.
    /// let start = NaiveDate::from_ymd_opt(2026, 3, 29).unwrap().and_hms_opt(2, 30, 0).unwrap();
    /// let schedule = Schedule::builder(Recurrence::daily(Interval::ONE), start, Zone::get("Europe/Berlin")?)
    ///     .end(End::Count(2))
    ///     .skip_instant(Utc.with_ymd_and_hms(2026, 3, 29, 1, 30, 0).unwrap())
    ///     .build()?;
    /// let dates: Vec<String> = schedule.occurrences().map(|o| o.date().to_string()).collect();
    /// assert_eq!(dates, ["2026-03-30"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn skip_instant(mut self, at: DateTime<Utc>) -> Self {
        self.skipped_at.insert(at);
        self
    }

    /// Moves the occurrence on `date` to another local date and time; it keeps its `seq`.
    pub fn move_occurrence(mut self, date: NaiveDate, to: NaiveDateTime) -> Self {
        self.moved.insert(date, to);
        self
    }

    /// Adds an occurrence outside the rule at a local date and time (RFC 5545 `RDATE`); it
    /// takes the `seq` of its place in the series.
    pub fn extra(mut self, local: NaiveDateTime) -> Self {
        self.extra.insert(local);
        self
    }

    /// Adds an occurrence outside the rule at instant `at` (RFC 5545 `RDATE` in UTC): in a
    /// repeated hour, this can be the later of the two local times. Its date is the local date
    /// of `at` in the schedule's zone.
    pub fn extra_instant(mut self, at: DateTime<Utc>) -> Self {
        self.extra_at.insert(at);
        self
    }

    /// Validates and builds the schedule.
    ///
    /// # Errors
    /// A [`ScheduleError`] naming the first invalid value: a date outside 1900..=2199, a count
    /// of 0, an end before the start, a yearly day that never occurs, a one-off date before the
    /// start, an exception that is not an occurrence or collides with another, a rule with no
    /// occurrence at all.
    pub fn build(self) -> Result<Schedule, ScheduleError> {
        self.recurrence.validate()?;
        check_range(self.start.date())?;
        check_whole_seconds(self.start)?;
        for to in self.moved.values().chain(&self.extra) {
            check_whole_seconds(*to)?;
        }
        for at in self.skipped_at.iter().chain(&self.extra_at) {
            check_whole_seconds(at.naive_utc())?;
        }
        validate_end(self.end, self.start.date(), self.zone)?;
        if let Recurrence::Once { date, .. } = self.recurrence
            && date < self.start.date()
        {
            return Err(ScheduleError::Contradictory(format!(
                "the one-off date {date} is before the start {}",
                self.start.date()
            )));
        }
        let start_day = civil::days_of(self.start.date());
        let plan = Plan::compile(&self.recurrence, start_day, self.overflow, &self.calendar);
        let head = plan.head(start_day, &self.calendar);
        let time = self.start.time();
        let given = Given {
            skipped: self.skipped.iter().map(|d| d.and_time(time)).collect(),
            skipped_at: self.skipped_at,
            moved: self
                .moved
                .iter()
                .map(|(d, to)| (d.and_time(time), *to))
                .collect(),
            extra: self.extra,
            extra_at: self.extra_at,
        };
        let schedule = Schedule {
            rule: Rule::Structured {
                recurrence: self.recurrence,
                plan,
                head,
            },
            start: self.start,
            zone: self.zone,
            end: self.end,
            overflow: self.overflow,
            calendar: self.calendar,
            adjustment: self.adjustment,
            exceptions: Exceptions::default(),
            count_bound: u64::MAX,
        };
        finish(schedule, given, true)
    }
}

/// Times are whole seconds: RFC 5545 has no fractions, and a leap second has no instant.
pub(crate) fn check_whole_seconds(local: NaiveDateTime) -> Result<(), ScheduleError> {
    if chrono::Timelike::nanosecond(&local) == 0 {
        Ok(())
    } else {
        Err(ScheduleError::SubsecondTime(local))
    }
}

pub(crate) fn check_range(date: NaiveDate) -> Result<(), ScheduleError> {
    if civil::in_range(date) {
        Ok(())
    } else {
        Err(ScheduleError::DateOutOfRange(date))
    }
}

/// Checks an end against the start and the supported years. An instant end must fall on a
/// civil date of the supported years in the schedule's zone (1900-01-01 to 2199-12-31): every
/// form of the schedule (RFC 5545 text, JSON) can then write it and read it back, and none is
/// needed past them (series end there).
pub(crate) fn validate_end(end: End, start: NaiveDate, zone: Zone) -> Result<(), ScheduleError> {
    match end {
        End::Count(0) => Err(ScheduleError::ZeroCount),
        End::Until(until) if until < start => Err(ScheduleError::UntilBeforeStart { until, start }),
        End::Until(until) => check_range(until),
        End::UntilInstant(t) if t.date_naive() < start - chrono::Days::new(1) => {
            Err(ScheduleError::UntilBeforeStart {
                until: t.date_naive(),
                start,
            })
        }
        End::UntilInstant(t) if !instant_in_range(crate::zone::table(zone), t.timestamp()) => Err(
            ScheduleError::UntilOutOfRange(t.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        ),
        _ => Ok(()),
    }
}

/// Whether instant `at` falls on a civil date of the supported years in the zone of `table`.
fn instant_in_range(table: &ZoneTable, at: i64) -> bool {
    let day = table.to_local(at).div_euclid(86_400);
    (i64::from(civil::min_days())..=i64::from(civil::max_days())).contains(&day)
}

/// Checks that the rule has an occurrence, then attaches the exceptions: skipped and moved
/// occurrences must be occurrences of the rule (when `strict`; RFC 5545 EXDATEs need not be),
/// moved and extra ones must not collide with others.
pub(crate) fn finish(
    mut schedule: Schedule,
    mut given: Given,
    strict: bool,
) -> Result<Schedule, ScheduleError> {
    let exceptions = given.skipped.len()
        + given.skipped_at.len()
        + given.moved.len()
        + given.extra.len()
        + given.extra_at.len();
    if exceptions > crate::limits::SCHEDULE_EXCEPTIONS {
        return Err(ScheduleError::TooLarge {
            what: "schedule exceptions (skipped, moved and extra occurrences)",
            size: exceptions,
            max: crate::limits::SCHEDULE_EXCEPTIONS,
            unit: "items",
        });
    }
    schedule.count_bound = count_bound(&schedule);
    let table = schedule.table();
    if Cursor::new(&schedule, None).next_item().is_none()
        && given.extra.is_empty()
        && given.extra_at.is_empty()
    {
        return Err(ScheduleError::NoOccurrence);
    }
    for local in given
        .skipped
        .iter()
        .chain(given.moved.keys())
        .chain(given.extra.iter())
        .chain(given.moved.values())
    {
        check_range(local.date())?;
    }
    // An instant is in the supported years when its local date in the schedule's zone is.
    for at in given.skipped_at.iter().chain(&given.extra_at) {
        if !instant_in_range(table, at.timestamp()) {
            return Err(ScheduleError::DateOutOfRange(at.date_naive()));
        }
    }
    // A local skip names a rule occurrence by its nominal time; one that names none names
    // the occurrence whose actual wall-clock time it is (a daily 02:30 happens at 03:30 on a
    // spring-forward day, and a user copies the time shown to them), kept as that instant.
    let by_wall_clock: Vec<(NaiveDateTime, i64)> = given
        .skipped
        .iter()
        .filter(|local| rule_occurrence_at(&schedule, **local).is_none())
        .filter_map(|local| {
            let resolved = table.resolve(local.and_utc().timestamp(), &mut 0);
            (!resolved.in_gap && rule_occurrence_at_instant(&schedule, resolved.utc).is_some())
                .then_some((*local, resolved.utc))
        })
        .collect();
    for (local, at) in by_wall_clock {
        if let Some(at) = DateTime::from_timestamp(at, 0) {
            given.skipped.remove(&local);
            given.skipped_at.insert(at);
        }
    }
    // RFC 5545 §3.8.5.1: the set is the rule's and RDATE's instances less those EXDATE names,
    // so a skip removes an extra date it names too (by nominal time or by instant). A skip
    // that named only extra dates has done its work and is not kept.
    let resolve_utc =
        |local: &NaiveDateTime| table.resolve(local.and_utc().timestamp(), &mut 0).utc;
    let skipped_instants: BTreeSet<i64> = given
        .skipped
        .iter()
        .map(resolve_utc)
        .chain(given.skipped_at.iter().map(DateTime::timestamp))
        .collect();
    let mut named_extra: BTreeSet<i64> = BTreeSet::new();
    given.extra.retain(|local| {
        let at = resolve_utc(local);
        let named = given.skipped.contains(local) || skipped_instants.contains(&at);
        if named {
            named_extra.insert(at);
        }
        !named
    });
    given.extra_at.retain(|at| {
        let named = skipped_instants.contains(&at.timestamp());
        if named {
            named_extra.insert(at.timestamp());
        }
        !named
    });
    if !named_extra.is_empty() {
        given.skipped.retain(|local| {
            !named_extra.contains(&resolve_utc(local))
                || rule_occurrence_at(&schedule, *local).is_some()
        });
        given.skipped_at.retain(|at| {
            !named_extra.contains(&at.timestamp())
                || rule_occurrence_at_instant(&schedule, at.timestamp()).is_some()
        });
    }
    if strict {
        for local in given.skipped.iter().chain(given.moved.keys()) {
            if rule_occurrence_at(&schedule, *local).is_none() {
                return Err(ScheduleError::NotAnOccurrence(*local));
            }
        }
        for at in &given.skipped_at {
            if rule_occurrence_at_instant(&schedule, at.timestamp()).is_none() {
                return Err(ScheduleError::NotAnOccurrenceAt(*at));
            }
        }
    } else {
        // RFC 5545 lets an EXDATE name a time that is not an occurrence; it changes nothing,
        // so it is not kept (and every form of the schedule can hold what is kept).
        given
            .skipped
            .retain(|local| rule_occurrence_at(&schedule, *local).is_some());
        given
            .skipped_at
            .retain(|at| rule_occurrence_at_instant(&schedule, at.timestamp()).is_some());
        given
            .moved
            .retain(|from, _| rule_occurrence_at(&schedule, *from).is_some());
    }
    if given.is_empty() {
        return Ok(schedule);
    }
    let moved = given.moved.clone();
    let mut exceptions = Exceptions::new(given);
    let resolve = |local: NaiveDateTime| table.resolve(local.and_utc().timestamp(), &mut 0).utc;

    // Extra dates first: they shift the seq of later rule occurrences. A local one keeps its
    // nominal local time (its date); an instant takes the local time it has in the zone.
    let given = exceptions.given();
    let mut extras = Vec::new();
    let locals = given
        .extra
        .iter()
        .map(|local| (resolve(*local), local.and_utc().timestamp()));
    let instants = given
        .extra_at
        .iter()
        .map(|at| (at.timestamp(), table.to_local(at.timestamp())));
    for (at, local) in locals.chain(instants) {
        if first_rule_item_from(&schedule, at).is_some_and(|item| item.at == at) {
            continue; // already a rule occurrence: a set holds it once
        }
        extras.push((at, local));
    }
    extras.sort_unstable();
    extras.dedup_by_key(|(at, _)| *at);
    exceptions.extra_instants = extras.iter().map(|(at, _)| *at).collect();
    let mut inserted = Vec::new();
    for (index, (at, local)) in extras.iter().enumerate() {
        let rule_before = match first_rule_item_from(&schedule, *at) {
            Some(item) => item.rule_seq,
            None => Cursor::new(&schedule, None)
                .last_rule_seq()
                .map_or(0, |last| last + 1),
        };
        inserted.push(Inserted {
            at: *at,
            local: *local,
            seq: rule_before + index as u64,
        });
    }
    // A template keeps a count apart from its rule (the count limits deals created, and
    // `with_end(End::Never)` is what it stores): a move onto the time of the rule's next
    // occurrence past the count would collide there, so it collides here too.
    let uncounted = matches!(schedule.end, End::Count(_)).then(|| {
        let mut rule = schedule.clone();
        rule.end = End::Never;
        rule
    });
    let rule_only = uncounted.as_ref().unwrap_or(&schedule);
    for (from, to) in &moved {
        let Some(item) = rule_occurrence_at(&schedule, *from) else {
            if strict {
                return Err(ScheduleError::NotAnOccurrence(*from));
            }
            continue;
        };
        let at = resolve(*to);
        let collides = first_rule_item_from(rule_only, at).is_some_and(|other| {
            other.at == at
                && other.local != item.local
                && !exceptions.is_removed(other.local, other.at)
        });
        if collides {
            return Err(ScheduleError::MoveCollides {
                from: *from,
                to: *to,
            });
        }
        inserted.push(Inserted {
            at,
            local: to.and_utc().timestamp(),
            seq: item.rule_seq + exceptions.extra_before(item.at),
        });
    }
    inserted.sort_unstable_by_key(|i| i.at);
    if let Some(pair) = inserted.windows(2).find(|pair| pair[0].at == pair[1].at) {
        let when = local_of(table, pair[1].at);
        return Err(ScheduleError::MoveCollides {
            from: when,
            to: when,
        });
    }
    exceptions.inserted = inserted;
    schedule.exceptions = exceptions;
    Ok(schedule)
}

/// The local date-time of instant `at` in the zone of `table`.
fn local_of(table: &ZoneTable, at: i64) -> NaiveDateTime {
    // Instants come from chrono values or from local times of the supported years: the local
    // time is representable; the default is never reached.
    DateTime::from_timestamp(table.to_local(at), 0)
        .map(|t| t.naive_utc())
        .unwrap_or_default()
}

/// The rule positions `End::Count(n)` admits: all positions up to the n-th one that has an
/// instant. Positions without one (a civil day the zone skipped, an adjustment onto an earlier
/// occurrence's day) are not counted, as RFC 5545 §3.3.10 says of instances that do not exist.
/// Computed once so that seeking stays arithmetic. A structured rule is walked only where such
/// positions can occur (an adjustment, or a zone that crossed the date line), up to the n-th
/// instant or the end of the supported years; a general rule only around the offset changes
/// before its bound ([`general_count_bound`](crate::schedule::cursor::general_count_bound)).
fn count_bound(schedule: &Schedule) -> u64 {
    let End::Count(n) = schedule.end() else {
        return u64::MAX;
    };
    if let Rule::Rfc(rule) = schedule.rule() {
        return crate::schedule::cursor::general_count_bound(schedule, rule, u64::from(n));
    }
    if schedule.adjustment() == Adjustment::None && !schedule.table().has_day_jumps() {
        // Structured dates strictly increase and keep their time of day: every position has
        // its own instant.
        return u64::from(n);
    }
    let mut unbounded = schedule.clone();
    unbounded.count_bound = u64::MAX;
    let mut cursor = Cursor::new(&unbounded, None);
    let mut last = None;
    for _ in 0..n {
        match cursor.next_item() {
            Some(item) => last = Some(item.rule_seq),
            // Fewer instants than the count: the supported years end the series first.
            None => return u64::MAX,
        }
    }
    last.map_or(u64::MAX, |seq| seq + 1)
}

/// The rule occurrence (before exceptions) at local date-time `local`, if there is one.
fn rule_occurrence_at(schedule: &Schedule, local: NaiveDateTime) -> Option<BaseItem> {
    let at = schedule
        .table()
        .resolve(local.and_utc().timestamp(), &mut 0)
        .utc;
    first_rule_item_from(schedule, at).filter(|item| item.local == local.and_utc().timestamp())
}

/// The rule occurrence (before exceptions) that happens at instant `at`, if there is one.
fn rule_occurrence_at_instant(schedule: &Schedule, at: i64) -> Option<BaseItem> {
    first_rule_item_from(schedule, at).filter(|item| item.at == at)
}

/// The first rule occurrence at or after instant `at`.
fn first_rule_item_from(schedule: &Schedule, at: i64) -> Option<BaseItem> {
    Cursor::new(schedule, Some(at - 1)).next_item()
}
