//! A general RFC 5545 rule: the parts as read, and the rrule crate's expansion of them.

use chrono::{Datelike, NaiveDateTime, Weekday};

use crate::error::ScheduleError;
use crate::rfc5545::periods::Periods;

/// RFC 5545 `FREQ` values this crate expands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Frequency {
    Daily,
    Weekly,
    Monthly,
    Yearly,
}

/// A `BYDAY` entry: an optional ordinal (0 = none) and a weekday.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct WeekdayNum {
    pub(crate) ordinal: i8,
    pub(crate) weekday: Weekday,
}

/// The rule parts of an RRULE line (COUNT and UNTIL live in the schedule's end).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Parts {
    pub(crate) frequency: Frequency,
    pub(crate) interval: u32,
    pub(crate) by_second: Vec<u8>,
    pub(crate) by_minute: Vec<u8>,
    pub(crate) by_hour: Vec<u8>,
    pub(crate) by_day: Vec<WeekdayNum>,
    pub(crate) by_month_day: Vec<i8>,
    pub(crate) by_year_day: Vec<i16>,
    pub(crate) by_week_no: Vec<i8>,
    pub(crate) by_month: Vec<u8>,
    pub(crate) by_set_pos: Vec<i32>,
    pub(crate) week_start: Weekday,
}

/// A rule outside the structured vocabulary, with its floating-time expansion.
///
/// Two readings of rrule 0.14 (shared with python-dateutil) differ from RFC 5545 and are
/// neutralised here:
/// * a `BYDAY` list mixing plain and numbered weekdays (`MO,-1WE`) means every Monday plus the
///   last Wednesday, but rrule intersects the two: such a rule is expanded as two rules whose
///   occurrences are merged (with `BYSETPOS` the positions would span both, so that
///   combination is refused);
/// * `FREQ=WEEKLY` with `BYSETPOS` counts positions in the whole week of DTSTART, but rrule
///   builds the first week from DTSTART on: the expansion starts at the week's start and the
///   occurrences before DTSTART are dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RfcRule {
    pub(crate) parts: Parts,
    sets: Vec<rrule::RRuleSet>,
    /// Occurrences before this local time are not part of the series (see the week fix).
    not_before: NaiveDateTime,
    /// Period arithmetic, for the rules it covers (see [`Periods`]).
    periods: Option<Periods>,
    /// With `periods`: local seconds of the last occurrence in the supported years, `None`
    /// when the rule has none.
    last_local: Option<i64>,
}

impl RfcRule {
    /// Prepares the rrule crate's expansion of `parts` from `start`, in floating time: the
    /// local wall clock is expanded as if it were UTC (no DST inside rrule), and this crate
    /// resolves each local time.
    pub(crate) fn new(parts: Parts, start: NaiveDateTime) -> Result<RfcRule, ScheduleError> {
        let plain: Vec<WeekdayNum> = parts
            .by_day
            .iter()
            .copied()
            .filter(|d| d.ordinal == 0)
            .collect();
        let numbered: Vec<WeekdayNum> = parts
            .by_day
            .iter()
            .copied()
            .filter(|d| d.ordinal != 0)
            .collect();
        let mixed = !plain.is_empty() && !numbered.is_empty();
        if mixed && !parts.by_set_pos.is_empty() {
            return Err(ScheduleError::Contradictory(
                "BYSETPOS over a BYDAY list mixing plain and numbered weekdays is not supported"
                    .into(),
            ));
        }
        let mut expansion = parts.clone();
        let mut expansion_start = start;
        if parts.frequency == Frequency::Weekly && !parts.by_set_pos.is_empty() {
            if expansion.by_day.is_empty() {
                expansion.by_day.push(WeekdayNum {
                    ordinal: 0,
                    weekday: start.weekday(),
                });
            }
            let back = (start.weekday().num_days_from_monday() + 7
                - parts.week_start.num_days_from_monday())
                % 7;
            expansion_start = start - chrono::TimeDelta::days(i64::from(back));
        }
        let mut periods = Periods::new(&expansion, expansion_start);
        let sets = if mixed {
            vec![
                build_set(
                    &Parts {
                        by_day: plain,
                        ..expansion.clone()
                    },
                    expansion_start,
                )?,
                build_set(
                    &Parts {
                        by_day: numbered,
                        ..expansion
                    },
                    expansion_start,
                )?,
            ]
        } else {
            vec![build_set(&expansion, expansion_start)?]
        };
        let not_before = start.and_utc().timestamp();
        let mut last_local = None;
        if let Some(periods) = &mut periods {
            // Period 0 walked from its first second, taking the occurrences it has (so the walk
            // never runs past it), counting those at or after DTSTART.
            let in_first = periods.period_count(0);
            let mut first_count = 0;
            for local in restart(periods, 0)?.take(in_first as usize) {
                if local >= not_before {
                    first_count += 1;
                    last_local = Some(local);
                }
            }
            periods.set_first_count(first_count);
            if let Some(grid) = periods.last_nonempty().filter(|&g| g > 0) {
                let count = periods.period_count(grid) as usize;
                last_local = restart(periods, grid)?.take(count).last();
            }
        }
        Ok(RfcRule {
            parts,
            sets,
            not_before: start,
            periods,
            last_local,
        })
    }

    /// The period arithmetic, for rules it covers.
    pub(crate) fn periods(&self) -> Option<&Periods> {
        self.periods.as_ref()
    }

    /// With [`RfcRule::periods`]: local seconds of the last occurrence in the supported years,
    /// `None` for a rule that has none.
    pub(crate) fn last_local(&self) -> Option<i64> {
        self.last_local
    }

    /// The rrule crate's sets (merged by the caller), in floating time.
    pub(crate) fn floating_sets(&self) -> &[rrule::RRuleSet] {
        &self.sets
    }

    /// Local times before this are not occurrences.
    pub(crate) fn not_before(&self) -> NaiveDateTime {
        self.not_before
    }
}

/// The occurrences (local seconds) of the rule of `periods` from the first second of grid
/// period `grid` on.
pub(crate) fn restart(
    periods: &Periods,
    grid: i64,
) -> Result<impl Iterator<Item = i64> + use<>, ScheduleError> {
    let start = chrono::DateTime::from_timestamp(periods.grid_start_local(grid), 0)
        .map(|t| t.naive_utc())
        .unwrap_or_default();
    let set = build_set(periods.explicit(), start)?;
    Ok((&set)
        .into_iter()
        .map(|t| t.naive_utc().and_utc().timestamp()))
}

/// The rrule crate's set for `parts` from `start`, in floating time.
fn build_set(parts: &Parts, start: NaiveDateTime) -> Result<rrule::RRuleSet, ScheduleError> {
    let dt_start = start.and_utc().with_timezone(&rrule::Tz::UTC);
    let weekday = |w: WeekdayNum| {
        if w.ordinal == 0 {
            rrule::NWeekday::Every(w.weekday)
        } else {
            rrule::NWeekday::Nth(i16::from(w.ordinal), w.weekday)
        }
    };
    let months: Vec<chrono::Month> = parts
        .by_month
        .iter()
        .filter_map(|&m| chrono::Month::try_from(m).ok())
        .collect();
    let frequency = match parts.frequency {
        Frequency::Daily => rrule::Frequency::Daily,
        Frequency::Weekly => rrule::Frequency::Weekly,
        Frequency::Monthly => rrule::Frequency::Monthly,
        Frequency::Yearly => rrule::Frequency::Yearly,
    };
    let interval = u16::try_from(parts.interval).map_err(|_| ScheduleError::Interval {
        got: i64::from(parts.interval),
        max: crate::Interval::MAX,
    })?;
    let mut rule = rrule::RRule::new(frequency)
        .interval(interval)
        .week_start(parts.week_start)
        .by_set_pos(parts.by_set_pos.clone())
        .by_month(&months)
        .by_month_day(parts.by_month_day.clone())
        .by_year_day(parts.by_year_day.clone())
        .by_week_no(parts.by_week_no.clone())
        .by_weekday(parts.by_day.iter().copied().map(weekday).collect());
    // rrule derives missing BYHOUR/BYMINUTE/BYSECOND from DTSTART like RFC 5545 does; give
    // only the parts that were written.
    if !parts.by_hour.is_empty() {
        rule = rule.by_hour(parts.by_hour.clone());
    }
    if !parts.by_minute.is_empty() {
        rule = rule.by_minute(parts.by_minute.clone());
    }
    if !parts.by_second.is_empty() {
        // RFC 5545 allows second 60 for leap seconds; local times have none (chrono-tz counts
        // no leap seconds), so those instances do not exist and are not counted.
        let seconds: Vec<u8> = parts
            .by_second
            .iter()
            .copied()
            .filter(|&s| s < 60)
            .collect();
        if seconds.is_empty() {
            return Err(ScheduleError::NoOccurrence);
        }
        rule = rule.by_second(seconds);
    }
    Ok(rule
        .build(dt_start)
        .map_err(|e| {
            // rrule refuses a few combinations RFC 5545 allows (BYSETPOS beyond its limits):
            // report them as contradictory parts, in this crate's style.
            let message = e.to_string();
            let message = message.trim().trim_end_matches('.');
            ScheduleError::Contradictory(format!(
                "the rule is beyond what the rrule crate expands: {message}"
            ))
        })?
        .limit())
}
