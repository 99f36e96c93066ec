//! Arithmetic over the periods of a general rule, so that seeking, checking an exception and
//! finding out that a rule never occurs cost what one period costs, not a walk from DTSTART.
//!
//! A rule's expansion works period by period (a day, a week from `WKST`, a month, a year,
//! every `INTERVAL`-th one from DTSTART's): which days of a period match depends only on the
//! period itself, and the `BYSETPOS`/time-of-day expansion only on how many days match. So:
//!
//! * **Restarting.** With the parts RFC 5545 derives from DTSTART written out (`BYMONTHDAY`,
//!   `BYMONTH`, `BYDAY`, `BYHOUR`...), the rrule crate started at the first second of any
//!   period of the grid yields exactly the original series from there on: nothing else of
//!   DTSTART is read.
//! * **Counting.** The number of occurrences in a period is `by_days[D]`, `D` the number of
//!   days of the period that pass the day filters (evaluated here, not by walking); counts
//!   before every so many periods are kept (`checkpoints`), so the `seq` of any point is a
//!   look-up plus less than a year of periods.
//! * **Ending.** The last occurrence in the supported years is found once; a rule with none is
//!   known at once, instead of after the rrule crate's 100,000 empty periods.
//!
//! Period 0 (DTSTART's own) is always walked: occurrences before DTSTART are dropped there.
//! Rules this does not cover (`BYWEEKNO`, a `BYDAY` list mixing plain and numbered weekdays)
//! keep the plain walk.

use chrono::{Datelike, NaiveDateTime, Timelike};

use crate::civil;
use crate::rfc5545::rule::{Frequency, Parts, WeekdayNum};

/// The period arithmetic of one rule (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Periods {
    frequency: Frequency,
    interval: i64,
    /// Period 0 in the frequency's unit: a day number (daily), the day number of the week's
    /// first day (weekly), a month index (monthly), a year (yearly).
    origin: i64,
    filter: DayFilter,
    /// Occurrences in a period with `D` matching days, indexed by `D`.
    by_days: Vec<u64>,
    /// The expansion's parts with DTSTART's contributions written out.
    explicit: Parts,
    /// Grid periods between checkpoints.
    stride: i64,
    /// Occurrences of period 0 at or after DTSTART.
    first_count: u64,
    /// `checkpoints[k]`: occurrences in grid periods 1 to `k * stride`, both included.
    checkpoints: Vec<u64>,
    /// The last grid period that starts in the supported years.
    last_grid: i64,
    /// The last grid period with an occurrence, if any.
    last_nonempty: Option<i64>,
    /// Whether each occurrence has its own day (one time of day): then counting positions
    /// also counts instants, in a zone without day jumps.
    one_per_day: bool,
}

/// The day filters of RFC 5545 (`BYMONTH`, `BYMONTHDAY`, `BYYEARDAY`, `BYDAY`) as bit masks.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DayFilter {
    /// Bit m (1..=12); 0 = every month.
    months: u16,
    /// Bit d for day d (1..=31) and for day -d counted from the end; both 0 = every day.
    month_days: u64,
    month_days_back: u64,
    /// Bit d for day d (1..=366) and for day -d; empty = every day.
    year_days: [u64; 6],
    year_days_back: [u64; 6],
    any_year_day: bool,
    /// Bit w (0 = Monday) for plain weekdays; 0 = every weekday (unless numbered ones).
    weekdays: u8,
    /// Per weekday, bit n for the n-th and for the n-th from the end (`1MO`, `-1FR`).
    nth: [u64; 7],
    nth_back: [u64; 7],
    numbered: bool,
    /// Numbered weekdays count within the month (monthly, or yearly with `BYMONTH`) rather
    /// than the year.
    nth_in_month: bool,
}

impl Periods {
    /// The arithmetic for `parts` expanded from `start` (the expansion's own start: the week's
    /// first day for a weekly rule with `BYSETPOS`), or `None` for rules it does not cover.
    pub(crate) fn new(parts: &Parts, start: NaiveDateTime) -> Option<Periods> {
        let numbered = parts.by_day.iter().any(|d| d.ordinal != 0);
        let plain = parts.by_day.iter().any(|d| d.ordinal == 0);
        if !parts.by_week_no.is_empty() || (numbered && plain) {
            return None;
        }
        let explicit = explicit(parts, start);
        let times = explicit.by_hour.len() as u64
            * explicit.by_minute.len() as u64
            * explicit.by_second.iter().filter(|&&s| s < 60).count() as u64;
        let frequency = parts.frequency;
        let start_day = i64::from(civil::days_of(start.date()));
        let origin = match frequency {
            Frequency::Daily => start_day,
            Frequency::Weekly => {
                let back = (i64::from(civil::weekday_index(civil::days_of(start.date()))) + 7
                    - i64::from(civil::weekday_number(parts.week_start)))
                    % 7;
                start_day - back
            }
            Frequency::Monthly => i64::from(civil::month_index(start.year(), start.month())),
            Frequency::Yearly => i64::from(start.year()),
        };
        let max_days = match frequency {
            Frequency::Daily => 1,
            Frequency::Weekly => 7,
            Frequency::Monthly => 31,
            Frequency::Yearly => 366,
        };
        let by_days = (0..=max_days)
            .map(|d| positions(d * times, &explicit.by_set_pos))
            .collect();
        let interval = i64::from(parts.interval.max(1));
        let per_year = match frequency {
            Frequency::Daily => 366,
            Frequency::Weekly => 53,
            Frequency::Monthly => 12,
            Frequency::Yearly => 1,
        };
        let mut periods = Periods {
            frequency,
            interval,
            origin,
            filter: DayFilter::new(&explicit),
            by_days,
            explicit,
            stride: (per_year / interval).max(1),
            first_count: 0,
            checkpoints: Vec::new(),
            last_grid: 0,
            last_nonempty: None,
            one_per_day: times == 1,
        };
        let end_day = i64::from(civil::max_days());
        periods.last_grid = periods.period_of_day(end_day).div_euclid(interval);
        let mut memo = Memo::default();
        if periods.grid_count(0, &mut memo) > 0 {
            periods.last_nonempty = Some(0);
        }
        let mut before = 0;
        for r in 1..=periods.last_grid {
            if (r - 1) % periods.stride == 0 {
                periods.checkpoints.push(before);
            }
            let count = periods.grid_count(r, &mut memo);
            if count > 0 {
                periods.last_nonempty = Some(r);
            }
            before += count;
        }
        Some(periods)
    }

    /// Occurrences of the whole of grid period `grid`, before DTSTART's filter.
    pub(crate) fn period_count(&self, grid: i64) -> u64 {
        self.grid_count(grid, &mut Memo::default())
    }

    /// Sets the number of occurrences of period 0 at or after DTSTART (counted by the caller's
    /// walk): the checkpoints count from period 1 until then.
    pub(crate) fn set_first_count(&mut self, count: u64) {
        self.first_count = count;
    }

    /// The parts to restart the expansion with at a period start.
    pub(crate) fn explicit(&self) -> &Parts {
        &self.explicit
    }

    /// Whether each occurrence falls on a day of its own.
    pub(crate) fn one_per_day(&self) -> bool {
        self.one_per_day
    }

    /// The last grid period with an occurrence in the supported years.
    pub(crate) fn last_nonempty(&self) -> Option<i64> {
        self.last_nonempty
    }

    /// The grid period (index in steps of the interval) holding local day `day`, rounded down.
    pub(crate) fn grid_of_day(&self, day: i64) -> i64 {
        self.period_of_day(day).div_euclid(self.interval)
    }

    /// Local seconds of the first second of grid period `grid`.
    pub(crate) fn grid_start_local(&self, grid: i64) -> i64 {
        self.period_start_local(grid * self.interval)
    }

    /// Occurrences (at or after DTSTART) before grid period `grid`, which is at least 1.
    pub(crate) fn count_before(&self, grid: i64) -> u64 {
        let grid = grid.clamp(1, self.last_grid + 1);
        let Ok(k) =
            usize::try_from(((grid - 1) / self.stride).min(self.checkpoints.len() as i64 - 1))
        else {
            return self.first_count; // no period after period 0 in the supported years
        };
        let from = 1 + k as i64 * self.stride;
        let mut count = self.first_count + self.checkpoints.get(k).copied().unwrap_or(0);
        let mut memo = Memo::default();
        for r in from..grid {
            count += self.grid_count(r, &mut memo);
        }
        count
    }

    /// Occurrences in the whole of grid period `r`.
    fn grid_count(&self, r: i64, memo: &mut Memo) -> u64 {
        let days = self.matching_days(r * self.interval, memo);
        self.by_days.get(days as usize).copied().unwrap_or(0)
    }

    fn period_of_day(&self, day: i64) -> i64 {
        match self.frequency {
            Frequency::Daily => day - self.origin,
            Frequency::Weekly => (day - self.origin).div_euclid(7),
            Frequency::Monthly | Frequency::Yearly => {
                let (y, m, _) = civil::civil_from_days(day as i32);
                match self.frequency {
                    Frequency::Monthly => i64::from(civil::month_index(y, m)) - self.origin,
                    _ => i64::from(y) - self.origin,
                }
            }
        }
    }

    /// Local seconds of the first second of period `p`.
    fn period_start_local(&self, p: i64) -> i64 {
        let day = match self.frequency {
            Frequency::Daily => self.origin + p,
            Frequency::Weekly => self.origin + 7 * p,
            Frequency::Monthly => {
                let (y, m) = civil::month_from_index((self.origin + p) as i32);
                i64::from(civil::days_from_civil(y, m, 1))
            }
            Frequency::Yearly => i64::from(civil::days_from_civil((self.origin + p) as i32, 1, 1)),
        };
        day * 86_400
    }

    /// Days of period `p` that pass the day filters.
    fn matching_days(&self, p: i64, memo: &mut Memo) -> u32 {
        if self.filter.passes_all() {
            return match self.frequency {
                Frequency::Daily => 1,
                Frequency::Weekly => 7,
                Frequency::Monthly => {
                    let (y, m) = civil::month_from_index((self.origin + p) as i32);
                    civil::days_in_month(y, m)
                }
                Frequency::Yearly => 365 + u32::from(civil::is_leap((self.origin + p) as i32)),
            };
        }
        match self.frequency {
            Frequency::Daily => {
                let (y, m, d) = civil::civil_from_days((self.origin + p) as i32);
                u32::from(self.filter.passes(y, m, d))
            }
            Frequency::Weekly => {
                let first = self.origin + 7 * p;
                (first..first + 7)
                    .filter(|&day| {
                        let (y, m, d) = civil::civil_from_days(day as i32);
                        self.filter.passes(y, m, d)
                    })
                    .count() as u32
            }
            Frequency::Monthly => {
                let (y, m) = civil::month_from_index((self.origin + p) as i32);
                let key = (m as usize - 1) * 14
                    + usize::from(civil::is_leap(y)) * 7
                    + civil::weekday_index(civil::days_from_civil(y, m, 1)) as usize;
                *memo.monthly[key].get_or_insert_with(|| {
                    (1..=civil::days_in_month(y, m))
                        .filter(|&d| self.filter.passes(y, m, d))
                        .count() as u32
                })
            }
            Frequency::Yearly => {
                let y = (self.origin + p) as i32;
                let key = usize::from(civil::is_leap(y)) * 7
                    + civil::weekday_index(civil::days_from_civil(y, 1, 1)) as usize;
                *memo.yearly[key].get_or_insert_with(|| {
                    (1..=12)
                        .map(|m| {
                            (1..=civil::days_in_month(y, m))
                                .filter(|&d| self.filter.passes(y, m, d))
                                .count() as u32
                        })
                        .sum()
                })
            }
        }
    }
}

/// Day counts of months and years by their shape (which is all the filters read).
struct Memo {
    monthly: [Option<u32>; 12 * 14],
    yearly: [Option<u32>; 14],
}

impl Default for Memo {
    fn default() -> Self {
        Memo {
            monthly: [None; 12 * 14],
            yearly: [None; 14],
        }
    }
}

impl DayFilter {
    fn new(parts: &Parts) -> DayFilter {
        let mut filter = DayFilter {
            months: 0,
            month_days: 0,
            month_days_back: 0,
            year_days: [0; 6],
            year_days_back: [0; 6],
            any_year_day: false,
            weekdays: 0,
            nth: [0; 7],
            nth_back: [0; 7],
            numbered: false,
            nth_in_month: parts.frequency == Frequency::Monthly || !parts.by_month.is_empty(),
        };
        for &m in &parts.by_month {
            filter.months |= 1 << m;
        }
        for &d in &parts.by_month_day {
            if d > 0 {
                filter.month_days |= 1 << d;
            } else if d < 0 {
                filter.month_days_back |= 1 << (-i32::from(d));
            }
        }
        for &d in &parts.by_year_day {
            let n = usize::from(d.unsigned_abs());
            filter.any_year_day = true;
            if d > 0 {
                filter.year_days[n / 64] |= 1 << (n % 64);
            } else if d < 0 {
                filter.year_days_back[n / 64] |= 1 << (n % 64);
            }
        }
        for &WeekdayNum { ordinal, weekday } in &parts.by_day {
            let w = civil::weekday_number(weekday) as usize;
            match ordinal {
                0 => filter.weekdays |= 1 << w,
                n if n > 0 => {
                    filter.numbered = true;
                    filter.nth[w] |= 1 << n;
                }
                n => {
                    filter.numbered = true;
                    filter.nth_back[w] |= 1 << (-i32::from(n));
                }
            }
        }
        filter
    }

    /// Whether there is no day filter at all (`FREQ=DAILY;BYHOUR=0,12`).
    fn passes_all(&self) -> bool {
        self.months == 0
            && self.month_days == 0
            && self.month_days_back == 0
            && !self.any_year_day
            && self.weekdays == 0
            && !self.numbered
    }

    /// Whether civil date `y-m-d` passes every day filter.
    fn passes(&self, y: i32, m: u32, d: u32) -> bool {
        if self.months != 0 && self.months & (1 << m) == 0 {
            return false;
        }
        let month_len = civil::days_in_month(y, m);
        if (self.month_days | self.month_days_back) != 0
            && self.month_days & (1 << d) == 0
            && self.month_days_back & (1 << (month_len - d + 1)) == 0
        {
            return false;
        }
        let day = civil::days_from_civil(y, m, d);
        let year_len = if civil::is_leap(y) { 366 } else { 365 };
        let year_day = (day - civil::days_from_civil(y, 1, 1) + 1) as usize;
        if self.any_year_day {
            let back = year_len - year_day + 1;
            let hit = self.year_days[year_day / 64] & (1 << (year_day % 64)) != 0
                || self.year_days_back[back / 64] & (1 << (back % 64)) != 0;
            if !hit {
                return false;
            }
        }
        let weekday = civil::weekday_index(day) as usize;
        if self.weekdays != 0 && self.weekdays & (1 << weekday) == 0 {
            return false;
        }
        if self.numbered {
            let (index, len) = if self.nth_in_month {
                (d as usize, month_len as usize)
            } else {
                (year_day, year_len)
            };
            let nth = (index - 1) / 7 + 1;
            let nth_back = (len - index) / 7 + 1;
            if self.nth[weekday] & (1 << nth) == 0 && self.nth_back[weekday] & (1 << nth_back) == 0
            {
                return false;
            }
        }
        true
    }
}

/// The parts with what RFC 5545 (and the rrule crate) derive from DTSTART written out.
fn explicit(parts: &Parts, start: NaiveDateTime) -> Parts {
    let mut explicit = parts.clone();
    let no_day_parts = parts.by_week_no.is_empty()
        && parts.by_year_day.is_empty()
        && parts.by_month_day.is_empty()
        && parts.by_day.is_empty();
    if no_day_parts {
        match parts.frequency {
            Frequency::Yearly => {
                if explicit.by_month.is_empty() {
                    explicit.by_month = vec![start.month() as u8];
                }
                explicit.by_month_day = vec![start.day() as i8];
            }
            Frequency::Monthly => explicit.by_month_day = vec![start.day() as i8],
            Frequency::Weekly => {
                explicit.by_day = vec![WeekdayNum {
                    ordinal: 0,
                    weekday: start.weekday(),
                }];
            }
            Frequency::Daily => {}
        }
    }
    if explicit.by_hour.is_empty() {
        explicit.by_hour = vec![start.hour() as u8];
    }
    if explicit.by_minute.is_empty() {
        explicit.by_minute = vec![start.minute() as u8];
    }
    if explicit.by_second.is_empty() {
        explicit.by_second = vec![start.second() as u8];
    }
    explicit
}

/// Occurrences a period with `n` candidate times yields: all of them, or the distinct ones
/// `BYSETPOS` picks (1 is the first, -1 the last; positions past either end pick none).
fn positions(n: u64, set_pos: &[i32]) -> u64 {
    if set_pos.is_empty() {
        return n;
    }
    let n = n as i64;
    let mut picked: Vec<i64> = set_pos
        .iter()
        .map(|&p| {
            if p > 0 {
                i64::from(p) - 1
            } else {
                n + i64::from(p)
            }
        })
        .filter(|&i| (0..n).contains(&i))
        .collect();
    picked.sort_unstable();
    picked.dedup();
    picked.len() as u64
}
