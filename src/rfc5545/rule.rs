//! A general RFC 5545 rule: the parts as read, vetted by the rrule crate, and the period
//! arithmetic that lists and counts their expansion.

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
/// The expansion is listed period by period from the day masks of [`Periods`]; the rrule
/// crate checks the parts once (what it refuses is refused here too) and is the independent
/// walk the tests compare the listing with. Two readings of rrule 0.14 (shared with
/// python-dateutil) differ from RFC 5545; the expansion follows RFC 5545:
/// * a `BYDAY` list mixing plain and numbered weekdays (`MO,-1WE`) means every Monday plus the
///   last Wednesday, but rrule intersects the two (with `BYSETPOS` the positions would span
///   both, so that combination is refused);
/// * `FREQ=WEEKLY` with `BYSETPOS` counts positions in the whole week of DTSTART, but rrule
///   builds the first week from DTSTART on: the expansion starts at the week's start and the
///   occurrences before DTSTART are dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RfcRule {
    pub(crate) parts: Parts,
    /// Occurrences before this local time are not part of the series (see the week fix).
    not_before: NaiveDateTime,
    /// Period arithmetic and listing (see [`Periods`]).
    periods: Periods,
    /// Local seconds of the last occurrence in the supported years, `None` when the rule has
    /// none.
    last_local: Option<i64>,
}

impl RfcRule {
    /// Prepares the expansion of `parts` from `start`, in floating time: the local wall clock
    /// is expanded as if it were UTC (no DST here), and this crate resolves each local time.
    ///
    /// # Errors
    /// [`ScheduleError::Contradictory`] for `BYSETPOS` over a mixed `BYDAY` list and for what
    /// the rrule crate refuses; [`ScheduleError::NoOccurrence`] when every `BYSECOND` is 60.
    pub(crate) fn new(parts: Parts, start: NaiveDateTime) -> Result<RfcRule, ScheduleError> {
        let (plain, numbered): (Vec<WeekdayNum>, Vec<WeekdayNum>) =
            parts.by_day.iter().partition(|d| d.ordinal == 0);
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
        // rrule checks each kind of weekday of a mixed list on its own, as it would walk it.
        let kinds = if mixed {
            vec![plain, numbered]
        } else {
            vec![expansion.by_day.clone()]
        };
        for by_day in kinds {
            let kind = Parts {
                by_day: vetted(parts.frequency, by_day),
                ..periods.explicit().clone()
            };
            build_set(&kind, naive(periods.grid_start_local(0)))?;
        }
        let not_before = start.and_utc().timestamp();
        let last_local = periods
            .last_nonempty()
            .and_then(|grid| periods.listing(grid).filter(|&l| l >= not_before).last());
        // Occurrences of period 0 at or after DTSTART: the checkpoints count from period 1.
        let in_first = periods.period_count(0) as usize;
        let first_count = periods
            .listing(0)
            .take(in_first)
            .filter(|&local| local >= not_before)
            .count();
        periods.set_first_count(first_count as u64);
        Ok(RfcRule {
            parts,
            not_before: start,
            periods,
            last_local,
        })
    }

    /// The period arithmetic.
    pub(crate) fn periods(&self) -> &Periods {
        &self.periods
    }

    /// Local seconds of the last occurrence in the supported years, `None` for a rule that
    /// has none.
    pub(crate) fn last_local(&self) -> Option<i64> {
        self.last_local
    }

    /// Local times before this are not occurrences.
    pub(crate) fn not_before(&self) -> NaiveDateTime {
        self.not_before
    }
}

/// The `BYDAY` entries the rrule crate is shown when it vets a rule: it takes ordinals only
/// within -4..=5 in a month and -52..=53 in a year, where RFC 5545 allows ±53 (an ordinal
/// no month or year has matches nothing; -5 and -53 match in months and years that have
/// that many). The others are left out of the vetting only; the expansion keeps them.
fn vetted(frequency: Frequency, by_day: Vec<WeekdayNum>) -> Vec<WeekdayNum> {
    let range = match frequency {
        Frequency::Monthly => -4..=5,
        Frequency::Yearly => -52..=53,
        _ => return by_day,
    };
    by_day
        .into_iter()
        .filter(|d| d.ordinal == 0 || range.contains(&d.ordinal))
        .collect()
}

/// The local date-time of local seconds `local`.
fn naive(local: i64) -> NaiveDateTime {
    chrono::DateTime::from_timestamp(local, 0)
        .map(|t| t.naive_utc())
        .unwrap_or_default()
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

#[cfg(test)]
mod tests {
    //! The period arithmetic and listing against an independent walk: the rrule crate walking
    //! the rule from DTSTART (one walk per kind of weekday of a mixed `BYDAY` list, merged), for
    //! rules of every shape, the ones with `BYWEEKNO` and mixed `BYDAY` lists included.

    use chrono::NaiveDate;
    use proptest::prelude::*;
    use proptest::sample::{select, subsequence};

    use super::*;
    use crate::civil;

    const WEEKDAYS: [Weekday; 7] = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ];

    /// How many occurrences the plain walk reads at most per case.
    const WALKED: usize = 20_000;

    /// Local seconds before the first grid period after the last that starts in the
    /// supported years (whose occurrences may run into 2200).
    fn walk_end(periods: &Periods) -> i64 {
        periods.grid_start_local(periods.grid_of_day(i64::from(civil::max_days())) + 1) - 1
    }

    /// The plain walk: rrule from DTSTART (the week's start for a weekly rule with
    /// `BYSETPOS`), occurrences before DTSTART dropped, up to local second `end` or `WALKED`
    /// occurrences of a walk; and up to which local second the list is complete (`end` when
    /// no walk stopped early).
    fn plain_walk(parts: &Parts, start: NaiveDateTime, end: i64) -> (Vec<i64>, i64) {
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
        let (plain, numbered): (Vec<WeekdayNum>, Vec<WeekdayNum>) =
            expansion.by_day.iter().partition(|d| d.ordinal == 0);
        let kinds = if plain.is_empty() || numbered.is_empty() {
            vec![expansion.clone()]
        } else {
            vec![
                Parts {
                    by_day: plain,
                    ..expansion.clone()
                },
                Parts {
                    by_day: numbered,
                    ..expansion.clone()
                },
            ]
        };
        let not_before = start.and_utc().timestamp();
        let mut all = Vec::new();
        let mut reached = end;
        for kind in kinds {
            let set = build_set(&kind, expansion_start).unwrap();
            for (n, t) in (&set).into_iter().enumerate() {
                let local = t.naive_utc().and_utc().timestamp();
                if local > end {
                    break;
                }
                if n == WALKED {
                    reached = reached.min(local - 1);
                    break;
                }
                if local >= not_before {
                    all.push(local);
                }
            }
        }
        all.sort_unstable();
        all.dedup();
        all.retain(|&local| local <= reached);
        (all, reached)
    }

    /// The rrule crate's walk restarted at the first second of grid period `grid`, up to
    /// local second `end` (excluded): one walk per kind of weekday of a mixed `BYDAY` list,
    /// merged.
    fn rrule_run(rule: &RfcRule, grid: i64, end: i64) -> u64 {
        let explicit = rule.periods().explicit();
        let (plain, numbered): (Vec<WeekdayNum>, Vec<WeekdayNum>) =
            explicit.by_day.iter().partition(|d| d.ordinal == 0);
        let kinds = if plain.is_empty() || numbered.is_empty() {
            vec![explicit.by_day.clone()]
        } else {
            vec![plain, numbered]
        };
        let start = naive(rule.periods().grid_start_local(grid));
        let mut all = Vec::new();
        for by_day in kinds {
            let kind = Parts {
                by_day,
                ..explicit.clone()
            };
            let set = build_set(&kind, start).unwrap();
            all.extend(
                (&set)
                    .into_iter()
                    .map(|t| t.naive_utc().and_utc().timestamp())
                    .take_while(|&l| l < end),
            );
        }
        all.sort_unstable();
        all.dedup();
        all.len() as u64
    }

    fn set_of<T: std::fmt::Debug + Clone + Ord + 'static>(
        values: Vec<T>,
        max: usize,
    ) -> BoxedStrategy<Vec<T>> {
        prop_oneof![
            2 => Just(Vec::new()),
            1 => subsequence(values, 1..=max),
        ]
        .boxed()
    }

    fn nonzero<T: Copy + std::fmt::Debug + TryFrom<i32> + 'static>(
        range: std::ops::RangeInclusive<i32>,
    ) -> Vec<T> {
        range
            .filter(|&n| n != 0)
            .filter_map(|n| T::try_from(n).ok())
            .collect()
    }

    /// Parts of every shape RFC 5545 allows, weighted towards `BYWEEKNO` and `BYDAY` lists
    /// mixing plain and numbered weekdays.
    fn parts() -> impl Strategy<Value = Parts> {
        let frequency = select(vec![
            Frequency::Daily,
            Frequency::Weekly,
            Frequency::Monthly,
            Frequency::Monthly,
            Frequency::Yearly,
            Frequency::Yearly,
            Frequency::Yearly,
        ]);
        (
            frequency,
            prop_oneof![3 => Just(1u32), 2 => 2..=5u32, 1 => 6..=60u32],
            set_of((1..=12u8).collect(), 3),
            set_of(nonzero::<i8>(-31..=31), 3),
            set_of(nonzero::<i16>(-366..=366), 3),
            // Weeks ±52 and ±53 are left out: the rrule crate numbers the days before week 1
            // into the previous year's week 52 or 53 with the wrong year's length, and puts
            // no day in the next year's week -52/-53; `tests/general_rules.rs` checks every
            // week number against an ISO 8601 week model instead.
            prop_oneof![
                Just(Vec::new()),
                subsequence(nonzero::<i8>(-51..=51), 1..=3),
                subsequence(vec![1i8, -1, 51, -51, 2, -2], 1..=3),
            ],
            (
                subsequence(WEEKDAYS.to_vec(), 0..=3),
                subsequence(WEEKDAYS.to_vec(), 0..=2),
                // In the month (rrule refuses -5) and in the year (rrule refuses ±53).
                prop::collection::vec(
                    (
                        select(nonzero::<i8>(-4..=5)),
                        select(nonzero::<i8>(-52..=52)),
                    ),
                    2,
                ),
            ),
            set_of(nonzero::<i32>(-4..=4), 2),
            set_of(vec![0u8, 9, 23], 2),
            select(WEEKDAYS.to_vec()),
        )
            .prop_map(
                |(
                    frequency,
                    interval,
                    by_month,
                    by_month_day,
                    by_year_day,
                    by_week_no,
                    (plain, numbered, ordinals),
                    by_set_pos,
                    by_hour,
                    week_start,
                )| {
                    let yearly = frequency == Frequency::Yearly;
                    let monthly_or_yearly = matches!(frequency, Frequency::Monthly) || yearly;
                    let mut by_day: Vec<WeekdayNum> = plain
                        .into_iter()
                        .map(|weekday| WeekdayNum {
                            ordinal: 0,
                            weekday,
                        })
                        .collect();
                    let by_week_no = if yearly { by_week_no } else { Vec::new() };
                    if monthly_or_yearly && by_week_no.is_empty() {
                        let in_month = frequency == Frequency::Monthly || !by_month.is_empty();
                        for (weekday, (month, year)) in numbered.into_iter().zip(ordinals) {
                            let ordinal = if in_month { month } else { year };
                            by_day.push(WeekdayNum { ordinal, weekday });
                        }
                    }
                    let mixed = by_day.iter().any(|d| d.ordinal == 0)
                        && by_day.iter().any(|d| d.ordinal != 0);
                    let mut parts = Parts {
                        frequency,
                        interval,
                        by_second: Vec::new(),
                        by_minute: Vec::new(),
                        by_hour,
                        by_day,
                        by_month_day: if frequency == Frequency::Weekly {
                            Vec::new()
                        } else {
                            by_month_day
                        },
                        by_year_day: if yearly { by_year_day } else { Vec::new() },
                        by_week_no,
                        by_month,
                        by_set_pos: if mixed { Vec::new() } else { by_set_pos },
                        week_start,
                    };
                    let has_other = !(parts.by_hour.is_empty()
                        && parts.by_day.is_empty()
                        && parts.by_month_day.is_empty()
                        && parts.by_year_day.is_empty()
                        && parts.by_week_no.is_empty()
                        && parts.by_month.is_empty());
                    if !has_other {
                        parts.by_set_pos.clear();
                    }
                    parts
                },
            )
    }

    fn start() -> impl Strategy<Value = NaiveDateTime> {
        (
            1900..=2199i32,
            1..=366u32,
            select(vec![0u32, 9, 23]),
            select(vec![0u32, 30]),
        )
            .prop_map(|(y, d, h, m)| {
                NaiveDate::from_yo_opt(y, d)
                    .or_else(|| NaiveDate::from_yo_opt(y, 365))
                    .unwrap()
                    .and_hms_opt(h, m, 0)
                    .unwrap()
            })
    }

    proptest! {
        // `RECURRING_DEALS_HEAVY=1` (as `.ci/run` sets) runs 4,000 cases.
        #![proptest_config(ProptestConfig {
            cases: if std::env::var("RECURRING_DEALS_HEAVY").is_ok_and(|v| v == "1") { 4_000 } else { 400 },
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        /// Counting before every grid period, restarting at a grid period and the last
        /// occurrence are what the plain walk from DTSTART gives; far from DTSTART, the count
        /// over a run of periods is what the restarted rrule walk gives.
        #[test]
        fn periods_match_the_plain_walk(
            parts in parts(),
            start in start(),
            picks in prop::collection::vec(any::<u64>(), 4),
        ) {
            let Ok(rule) = RfcRule::new(parts.clone(), start) else {
                return Ok(()); // refused by rrule (its narrower ordinal ranges)
            };
            let periods = rule.periods();
            let end = walk_end(periods);
            let (walked, reached) = plain_walk(&parts, start, end);
            let complete = reached == end;
            prop_assert_eq!(rule.last_local().is_none(), walked.is_empty() && complete);
            if complete {
                prop_assert_eq!(rule.last_local(), walked.last().copied());
            }
            let last_grid = periods.grid_of_day(i64::from(civil::max_days()));
            // Every grid period the plain walk reached.
            let mut before = walked.iter().filter(|&&l| l < periods.grid_start_local(1)).count();
            for grid in 1..=last_grid {
                let grid_start = periods.grid_start_local(grid);
                if grid_start > reached {
                    break;
                }
                while before < walked.len() && walked[before] < grid_start {
                    before += 1;
                }
                prop_assert_eq!(periods.count_before(grid), before as u64, "grid {}", grid);
            }
            for &pick in &picks {
                let grid = (pick % (last_grid as u64 + 1)) as i64;
                let grid_start = periods.grid_start_local(grid);
                let not_before = start.and_utc().timestamp();
                let restarted: Vec<i64> = rule
                    .periods()
                    .listing(grid)
                    .filter(|&l| l >= not_before)
                    .take(20)
                    .collect();
                if grid_start <= reached {
                    let expected: Vec<i64> = walked
                        .iter()
                        .copied()
                        .filter(|&l| l >= grid_start)
                        .take(20)
                        .collect();
                    let upto = if complete { restarted.len() } else { expected.len() };
                    prop_assert_eq!(&restarted[..upto.min(restarted.len())], &expected[..upto.min(expected.len())], "restart at {}", grid);
                }
                // A run of up to three years of periods from anywhere.
                let to = (grid.max(1) + 1 + (pick >> 32) as i64 % (3 * 366)).min(last_grid + 1);
                let end = periods.grid_start_local(to);
                let walked_run = rrule_run(&rule, grid.max(1), end);
                let listed_run = rule.periods().listing(grid.max(1)).take_while(|&l| l < end).count() as u64;
                prop_assert_eq!(listed_run, walked_run, "listed grids {} to {}", grid.max(1), to);
                prop_assert_eq!(
                    periods.count_before(to) - periods.count_before(grid.max(1)),
                    walked_run,
                    "grids {} to {}", grid.max(1), to
                );
            }
        }
    }
}
