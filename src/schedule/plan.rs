//! The arithmetic behind structured schedules: candidate `c` of a series is computed from the
//! anchor and `c` alone, never from candidate `c - 1`, so a short month or a late query never
//! shifts the series, and any position is reached in O(1) (O(log holidays) with a calendar).
//!
//! A *candidate* is a slot of the rule's grid: the k-th day step, the k-th weekday slot of the
//! counted weeks, the k-th month step. Slots before the start and slots whose month lacks the
//! day (under [`Overflow::Skip`]) are *invalid*; the others are occurrences, numbered by `seq`.

use crate::calendar::WorkingCalendar;
use crate::civil;
use crate::schedule::recurrence::{MonthDay, Ordinal, Overflow, Recurrence};

/// A structured rule compiled to the numbers its arithmetic needs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Plan {
    /// Candidate c is `first + c * step`.
    Days { first: i32, step: i32 },
    /// Candidate c is the working day with `c * step` working days before it from `first`.
    WorkingDays { first: i32, step: i64 },
    /// Candidate c is in counted week `c / per_week` at `offsets[c % per_week]` days from its
    /// week start; counted week k starts at `week0 + k * step`.
    Weeks {
        week0: i32,
        step: i32,
        offsets: [u8; 7],
        per_week: u8,
    },
    /// Candidate c is in month `month0 + c * step` on `day`.
    Months {
        month0: i32,
        step: i32,
        day: MonthDay,
        skip: bool,
        /// Invalid-month counting for [`Overflow::Skip`]: residues modulo `modulus` of month
        /// indices that lack the day (see `invalid_between`).
        missing: MissingMonths,
    },
    /// A single candidate.
    Once { day: i32 },
}

/// Where a candidate falls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    /// On this day number.
    Day(i32),
    /// In a month that lacks the day: no occurrence.
    Missing,
    /// After the supported years: the series is over.
    Beyond,
}

/// Which month indices lack a rule's day.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum MissingMonths {
    /// Every month has the day.
    None,
    /// The 30th: February.
    Day30,
    /// The 31st: February, April, June, September, November.
    Day31,
    /// The 29th: February of common years.
    Day29,
    /// Months of the calendar without any working day (sorted month indices).
    Dead(Vec<i32>),
}

impl Plan {
    /// Compiles `recurrence` started on day number `start`.
    pub(crate) fn compile(
        recurrence: &Recurrence,
        start: i32,
        overflow: Overflow,
        calendar: &WorkingCalendar,
    ) -> Plan {
        let (sy, sm, _) = civil::civil_from_days(start);
        match *recurrence {
            Recurrence::Day { interval } => Plan::Days {
                first: start,
                step: interval.get() as i32,
            },
            Recurrence::WorkingDay { interval } => Plan::WorkingDays {
                first: start,
                step: i64::from(interval.get()),
            },
            Recurrence::Week {
                interval,
                on,
                week_start,
            } => {
                let wkst = civil::weekday_number(week_start);
                let week0 = start - ((civil::weekday_index(start) + 7 - wkst) % 7) as i32;
                let mut offsets = [0u8; 7];
                let mut per_week = 0u8;
                for offset in 0..7u8 {
                    if on.bits() & (1 << ((wkst + u32::from(offset)) % 7)) != 0 {
                        offsets[per_week as usize] = offset;
                        per_week += 1;
                    }
                }
                Plan::Weeks {
                    week0,
                    step: 7 * interval.get() as i32,
                    offsets,
                    per_week,
                }
            }
            Recurrence::Month { interval, on } => Plan::months(
                civil::month_index(sy, sm),
                interval.get() as i32,
                on,
                overflow,
                calendar,
            ),
            Recurrence::Year {
                interval,
                month,
                on,
            } => Plan::months(
                civil::month_index(sy, month.number_from_month()),
                12 * interval.get() as i32,
                on,
                overflow,
                calendar,
            ),
            Recurrence::Once { date, lead } => Plan::Once {
                day: lead.before(civil::days_of(date)).max(start),
            },
        }
    }

    fn months(
        month0: i32,
        step: i32,
        day: MonthDay,
        overflow: Overflow,
        calendar: &WorkingCalendar,
    ) -> Plan {
        let skip = overflow == Overflow::Skip;
        let missing = match day {
            MonthDay::Day(d) if skip => match d.get() {
                29 => MissingMonths::Day29,
                30 => MissingMonths::Day30,
                31 => MissingMonths::Day31,
                _ => MissingMonths::None,
            },
            MonthDay::WorkingDay(_) => {
                let dead = calendar.months_without_working_days();
                if dead.is_empty() {
                    MissingMonths::None
                } else {
                    MissingMonths::Dead(dead)
                }
            }
            _ => MissingMonths::None,
        };
        Plan::Months {
            month0,
            step,
            day,
            skip,
            missing,
        }
    }

    /// The slot of candidate `c`: its nominal day number, a month lacking the day, or past the
    /// supported years. Candidates before the start are not filtered here (see [`Plan::head`]).
    #[inline(always)]
    pub(crate) fn slot(&self, c: i64, calendar: &WorkingCalendar) -> Slot {
        let day = match self {
            Plan::Months { month0, step, .. } => {
                let month = i64::from(*month0) + c * i64::from(*step);
                if month > i64::from(civil::month_index(civil::MAX_YEAR, 12)) {
                    return Slot::Beyond;
                }
                match self.nominal(c, calendar) {
                    Some(day) => day,
                    None => return Slot::Missing,
                }
            }
            _ => match self.nominal(c, calendar) {
                Some(day) => day,
                None => return Slot::Beyond,
            },
        };
        if day > civil::max_days() {
            Slot::Beyond
        } else {
            Slot::Day(day)
        }
    }

    /// Nominal day number of candidate `c`, or `None` when its month lacks the day (or the
    /// candidate is past anything representable).
    #[inline(always)]
    fn nominal(&self, c: i64, calendar: &WorkingCalendar) -> Option<i32> {
        match self {
            Plan::Days { first, step } => {
                i32::try_from(i64::from(*first) + c * i64::from(*step)).ok()
            }
            Plan::WorkingDays { first, step } => {
                // Each working day is at least one day further: past this, beyond the years.
                if c.saturating_mul(*step) > i64::from(civil::max_days() - first) {
                    return None;
                }
                Some(calendar.nth_working_from(*first, c * step))
            }
            Plan::Weeks {
                week0,
                step,
                offsets,
                per_week,
            } => {
                let per = i64::from(*per_week);
                let week = c / per;
                let offset = offsets[(c % per) as usize];
                i32::try_from(i64::from(*week0) + week * i64::from(*step) + i64::from(offset)).ok()
            }
            Plan::Months {
                month0,
                step,
                day,
                skip,
                ..
            } => {
                let month = i32::try_from(i64::from(*month0) + c * i64::from(*step)).ok()?;
                day_in_month(month, *day, *skip, calendar)
            }
            Plan::Once { day } => (c == 0).then_some(*day),
        }
    }

    /// Number of leading candidates that fall before the start.
    pub(crate) fn head(&self, start: i32, calendar: &WorkingCalendar) -> i64 {
        match self {
            Plan::Days { .. } | Plan::WorkingDays { .. } | Plan::Once { .. } => 0,
            Plan::Weeks {
                week0,
                offsets,
                per_week,
                ..
            } => offsets[..*per_week as usize]
                .iter()
                .filter(|&&o| week0 + i32::from(o) < start)
                .count() as i64,
            Plan::Months { .. } => match self.slot(0, calendar) {
                Slot::Day(day) if day >= start => 0,
                _ => 1,
            },
        }
    }

    /// Number of invalid candidates (months lacking the day) in `from..to`.
    pub(crate) fn invalid_between(&self, from: i64, to: i64) -> i64 {
        let Plan::Months {
            month0,
            step,
            missing,
            ..
        } = self
        else {
            return 0;
        };
        if to <= from {
            return 0;
        }
        let first = i64::from(*month0) + from * i64::from(*step);
        let step = i64::from(*step);
        let count = to - from;
        let months = |residue: i64, modulus: i64| {
            civil::count_congruent(first, step, count, residue, modulus)
        };
        match missing {
            MissingMonths::None => 0,
            MissingMonths::Day30 => months(1, 12),
            MissingMonths::Day31 => [1, 3, 5, 8, 10].iter().map(|&r| months(r, 12)).sum(),
            MissingMonths::Day29 => {
                let leap_februaries = months(1, 48) - months(1, 1200) + months(1, 4800);
                months(1, 12) - leap_februaries
            }
            MissingMonths::Dead(dead) => dead
                .iter()
                .filter(|&&index| {
                    let offset = i64::from(index) - first;
                    offset >= 0 && offset % step == 0 && offset / step < count
                })
                .count() as i64,
        }
    }

    /// A candidate index at or before the first candidate whose nominal day is `day` or later
    /// (never below `head`).
    pub(crate) fn lower_bound(&self, day: i32, head: i64, calendar: &WorkingCalendar) -> i64 {
        let c = match self {
            Plan::Days { first, step } => i64::from(day - first).div_euclid(i64::from(*step)),
            Plan::WorkingDays { first, step } => {
                calendar.count_working(*first, day).div_euclid(*step)
            }
            Plan::Weeks {
                week0,
                step,
                per_week,
                ..
            } => i64::from(day - week0).div_euclid(i64::from(*step)) * i64::from(*per_week),
            Plan::Months { month0, step, .. } => {
                let (y, m, _) = civil::civil_from_days(day);
                i64::from(civil::month_index(y, m) - month0).div_euclid(i64::from(*step))
            }
            Plan::Once { .. } => 0,
        };
        c.max(head)
    }

    /// Whether the rule can have at most one candidate.
    pub(crate) fn is_single(&self) -> bool {
        matches!(self, Plan::Once { .. })
    }
}

/// The day number of `day` in month `month_index` (see [`civil::month_index`]), per the overflow
/// policy.
#[inline(always)]
pub(crate) fn day_in_month(
    month_index: i32,
    day: MonthDay,
    skip: bool,
    calendar: &WorkingCalendar,
) -> Option<i32> {
    let month = civil::month_info(month_index);
    match day {
        MonthDay::Day(d) => {
            let d = d.get();
            if d <= month.length {
                Some(month.first + d as i32 - 1)
            } else if skip {
                None
            } else {
                Some(month.last())
            }
        }
        MonthDay::LastDay => Some(month.last()),
        MonthDay::Weekday { ordinal, weekday } => {
            // Weekdays from the month's table: no division by 7 per candidate.
            let wanted = civil::weekday_number(weekday);
            Some(match ordinal {
                Ordinal::Last => {
                    let back = civil::wrap_week(month.last_weekday() + 7 - wanted);
                    month.last() - back as i32
                }
                n => {
                    let ahead = civil::wrap_week(wanted + 7 - month.first_weekday);
                    month.first + ahead as i32 + 7 * (n.number() - 1)
                }
            })
        }
        MonthDay::WorkingDay(n) => {
            let (year, month) = civil::month_from_index(month_index);
            calendar.nth_working_day_of_month(year, month, n.get())
        }
    }
}
