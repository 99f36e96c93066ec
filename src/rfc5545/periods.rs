//! Arithmetic over the periods of a general rule, so that seeking, counting, checking an
//! exception and finding out that a rule never occurs cost what one period costs, not a walk
//! from DTSTART.
//!
//! A rule's expansion works period by period (a day, a week from `WKST`, a month, a year,
//! every `INTERVAL`-th one from DTSTART's): which days of a period match depends only on the
//! period itself, and the `BYSETPOS`/time-of-day expansion only on how many days match. So:
//!
//! * **Listing.** With the parts RFC 5545 derives from DTSTART written out (`BYMONTHDAY`,
//!   `BYMONTH`, `BYDAY`, `BYHOUR`...), a period's occurrences are its matching days (read from
//!   the masks below) each at every time of day, or the positions `BYSETPOS` picks among
//!   those: the series from any period on is listed without reading anything before it. A
//!   `BYDAY` list mixing plain and numbered weekdays is a union of both kinds of day, as RFC
//!   5545 means it. The tests compare the listing with the rrule crate's walk.
//! * **Counting.** Which days of a month pass the day filters (`BYMONTH`, `BYMONTHDAY`,
//!   `BYYEARDAY`, `BYWEEKNO`, `BYDAY`: a day passes `BYDAY` when it matches any entry) depends
//!   only on the month's shape: its number, whether its year and the year before are leap
//!   years, and the weekday of its first day (which also fixes the weekday of January 1st).
//!   Those masks, at most 336, are evaluated once; the number of occurrences in a period is
//!   `by_days[D]`, `D` the period's matching days read from the masks. Daily and weekly rules
//!   without `BYSETPOS` count a run of periods month by month (a month's matching days on the
//!   grid of the interval, one mask operation). Counts before every so many periods are kept
//!   (`checkpoints`), so the `seq` of any point is a look-up plus less than a year of periods.
//! * **Week numbers.** `BYWEEKNO` is read as the rrule crate (python-dateutil's algorithm)
//!   reads it, year by year: week 1 is the first week from `WKST` with at least 4 days in the
//!   year, negative numbers count from the year's last week, the days of week 1 of the next
//!   year at the end of December match week 1, and the days before this year's week 1 match
//!   the previous year's last week number (or -1) as dateutil computes it.
//! * **Ending.** The last occurrence in the supported years is found once; a rule with none is
//!   known at once, instead of after the rrule crate's 100,000 empty periods.
//!
//! Period 0 (DTSTART's own) is listed whole: the walk drops its occurrences before DTSTART.

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
    /// Matching days of each month shape (see [`DayFilter::key`]): bit `d - 1` for day `d`,
    /// [`KNOWN`] once evaluated.
    month_masks: Vec<u32>,
    /// Occurrences in a period with `D` matching days, indexed by `D`.
    by_days: Vec<u64>,
    /// Whether `by_days[D]` is `D * by_days[1]` (no `BYSETPOS`, or a daily rule): then a run
    /// of daily or weekly periods is counted by its matching days.
    linear: bool,
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
    /// The times of day of every matching day (seconds from midnight), in order.
    times: Vec<i64>,
}

/// The bit of a month mask that says it was evaluated (days use bits 0 to 30).
const KNOWN: u32 = 1 << 31;

/// The day filters of RFC 5545 (`BYMONTH`, `BYMONTHDAY`, `BYYEARDAY`, `BYWEEKNO`, `BYDAY`) as
/// bit masks.
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
    /// Bit w (0 = Monday) for plain weekdays.
    weekdays: u8,
    /// Per weekday, bit n for the n-th and for the n-th from the end (`1MO`, `-1FR`).
    nth: [u64; 7],
    nth_back: [u64; 7],
    numbered: bool,
    /// Numbered weekdays count within the month (monthly, or yearly with `BYMONTH`) rather
    /// than the year.
    nth_in_month: bool,
    /// `BYWEEKNO` values (empty = every week) and `WKST` (0 = Monday).
    week_nos: Vec<i8>,
    week_start: u32,
}

impl Periods {
    /// The arithmetic for `parts` expanded from `start` (the expansion's own start: the week's
    /// first day for a weekly rule with `BYSETPOS`).
    pub(crate) fn new(parts: &Parts, start: NaiveDateTime) -> Periods {
        let explicit = explicit(parts, start);
        let mut times = Vec::new();
        for &h in &explicit.by_hour {
            for &m in &explicit.by_minute {
                // Second 60 (a leap second) has no local time: no occurrence.
                for &s in explicit.by_second.iter().filter(|&&s| s < 60) {
                    times.push(i64::from(h) * 3_600 + i64::from(m) * 60 + i64::from(s));
                }
            }
        }
        times.sort_unstable();
        times.dedup();
        let day_times = times.len() as u64;
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
            .map(|d| positions(d * day_times, &explicit.by_set_pos))
            .collect();
        let interval = i64::from(parts.interval.max(1));
        let per_year = match frequency {
            Frequency::Daily => 366,
            Frequency::Weekly => 53,
            Frequency::Monthly => 12,
            Frequency::Yearly => 1,
        };
        let filter = DayFilter::new(&explicit);
        let mut periods = Periods {
            frequency,
            interval,
            origin,
            month_masks: vec![0; filter.keys()],
            filter,
            by_days,
            linear: frequency == Frequency::Daily || explicit.by_set_pos.is_empty(),
            explicit,
            stride: (per_year / interval).max(1),
            first_count: 0,
            checkpoints: Vec::new(),
            last_grid: 0,
            last_nonempty: None,
            one_per_day: day_times == 1,
            times,
        };
        let end_day = i64::from(civil::max_days());
        periods.last_grid = periods.period_of_day(end_day).div_euclid(interval);
        periods.evaluate_masks();
        let mut before = 0;
        let mut last_block = None;
        let mut from = 1;
        while from <= periods.last_grid {
            periods.checkpoints.push(before);
            let to = (from + periods.stride).min(periods.last_grid + 1);
            let count = periods.count_range(from, to);
            if count > 0 {
                last_block = Some((from, to));
            }
            before += count;
            from = to;
        }
        periods.last_nonempty = match last_block {
            Some((from, to)) => (from..to).rev().find(|&r| periods.grid_count(r) > 0),
            None => (periods.grid_count(0) > 0).then_some(0),
        };
        periods
    }

    /// Occurrences of the whole of grid period `grid`, before DTSTART's filter.
    pub(crate) fn period_count(&self, grid: i64) -> u64 {
        self.grid_count(grid)
    }

    /// Sets the number of occurrences of period 0 at or after DTSTART (counted by the caller's
    /// walk): the checkpoints count from period 1 until then.
    pub(crate) fn set_first_count(&mut self, count: u64) {
        self.first_count = count;
    }

    /// The parts with DTSTART's contributions written out (what the rrule crate vets, and
    /// walks in the tests).
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
        self.period_start_day(grid * self.interval) * 86_400
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
        self.first_count
            + self.checkpoints.get(k).copied().unwrap_or(0)
            + self.count_range(from, grid)
    }

    /// The occurrences (local seconds, in order, before DTSTART's filter) from the first
    /// second of grid period `grid` on, up to the last grid period with one.
    pub(crate) fn listing(&self, grid: i64) -> Listing<'_> {
        let days_per_period = match self.frequency {
            Frequency::Daily => 1,
            Frequency::Weekly => 7,
            Frequency::Monthly => 31,
            Frequency::Yearly => 366,
        };
        // Allocated once here, so that listing allocates nothing per period or occurrence.
        Listing {
            periods: self,
            grid: grid.max(0),
            days: Vec::with_capacity(days_per_period),
            picks: Vec::with_capacity(self.explicit.by_set_pos.len()),
            next: 0,
            len: 0,
        }
    }

    /// The matching days (day numbers, in order) of grid period `grid`, into `days`.
    fn matching_days_of(&self, grid: i64, days: &mut Vec<i64>) {
        days.clear();
        let p = grid * self.interval;
        let first = self.period_start_day(p);
        let end = self.period_start_day(p + 1);
        let (mut y, mut m, _) = civil::civil_from_days(first as i32);
        let mut month_first = i64::from(civil::days_from_civil(y, m, 1));
        while month_first < end {
            let len = i64::from(civil::days_in_month(y, m));
            let lo = (first - month_first).max(0);
            let hi = (end - month_first).min(len);
            let mut bits = self.mask_at(y, m, month_first as i32) & ones(hi) & !ones(lo);
            while bits != 0 {
                days.push(month_first + i64::from(bits.trailing_zeros()));
                bits &= bits - 1;
            }
            month_first += len;
            (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        }
    }

    /// Evaluates the mask of every month shape the grid periods of the supported years touch.
    fn evaluate_masks(&mut self) {
        let first = self.period_start_day(0);
        let last = self.period_start_day(self.last_grid * self.interval + 1) - 1;
        let (first_year, _, _) = civil::civil_from_days(first as i32);
        let (last_year, _, _) = civil::civil_from_days(last as i32);
        for y in first_year..=last_year {
            let mut month_first = civil::days_from_civil(y, 1, 1);
            for m in 1..=12 {
                let key = self.filter.key(y, m, month_first);
                if let Some(slot) = self.month_masks.get_mut(key)
                    && *slot & KNOWN == 0
                {
                    *slot = self.filter.month_mask(y, m, month_first) | KNOWN;
                }
                month_first += civil::days_in_month(y, m) as i32;
            }
        }
    }

    /// The days of month `m` of year `y` that pass the day filters (bit `d - 1` for day `d`).
    fn month_mask(&self, y: i32, m: u32) -> u32 {
        self.mask_at(y, m, civil::days_from_civil(y, m, 1))
    }

    /// [`Periods::month_mask`] for a month whose first day is day number `first`.
    fn mask_at(&self, y: i32, m: u32, first: i32) -> u32 {
        match self.month_masks.get(self.filter.key(y, m, first)) {
            Some(&mask) if mask & KNOWN != 0 => mask & !KNOWN,
            _ => self.filter.month_mask(y, m, first),
        }
    }

    /// Occurrences in the whole of grid period `r`.
    fn grid_count(&self, r: i64) -> u64 {
        let days = self.matching_days(r * self.interval);
        self.by_days.get(days as usize).copied().unwrap_or(0)
    }

    /// Occurrences in grid periods `from` to `to`, `to` excluded.
    fn count_range(&self, from: i64, to: i64) -> u64 {
        if from >= to {
            return 0;
        }
        let (period, window) = match self.frequency {
            Frequency::Daily => (self.interval, 1),
            Frequency::Weekly => (7 * self.interval, 7),
            Frequency::Monthly | Frequency::Yearly => {
                return (from..to).map(|r| self.grid_count(r)).sum();
            }
        };
        if !self.linear {
            return (from..to).map(|r| self.grid_count(r)).sum();
        }
        let first = self.origin + from * period;
        let last = self.origin + to * period - 1;
        self.by_days.get(1).copied().unwrap_or(0) * self.grid_days(first, last, period, window)
    }

    /// Matching days from day `first` to day `last` (both included) that are among the first
    /// `window` days of every `period` days from the origin: the days of the grid periods of
    /// a daily or weekly rule, counted a month at a time.
    fn grid_days(&self, first: i64, last: i64, period: i64, window: i64) -> u64 {
        let (mut y, mut m, _) = civil::civil_from_days(first as i32);
        let mut month_first = i64::from(civil::days_from_civil(y, m, 1));
        let mut count = 0;
        while month_first <= last {
            let len = i64::from(civil::days_in_month(y, m));
            let lo = (first - month_first).max(0);
            let hi = (last - month_first).min(len - 1);
            let days = self.mask_at(y, m, month_first as i32) & ones(hi + 1) & !ones(lo);
            if days != 0 {
                let on_grid = on_grid(month_first - self.origin, period, window);
                count += u64::from((days & on_grid).count_ones());
            }
            month_first += len;
            (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        }
        count
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

    /// The day number of the first day of period `p`.
    fn period_start_day(&self, p: i64) -> i64 {
        match self.frequency {
            Frequency::Daily => self.origin + p,
            Frequency::Weekly => self.origin + 7 * p,
            Frequency::Monthly => {
                let (y, m) = civil::month_from_index((self.origin + p) as i32);
                i64::from(civil::days_from_civil(y, m, 1))
            }
            Frequency::Yearly => i64::from(civil::days_from_civil((self.origin + p) as i32, 1, 1)),
        }
    }

    /// Days of period `p` that pass the day filters.
    fn matching_days(&self, p: i64) -> u32 {
        match self.frequency {
            Frequency::Daily => {
                let (y, m, d) = civil::civil_from_days((self.origin + p) as i32);
                (self.month_mask(y, m) >> (d - 1)) & 1
            }
            Frequency::Weekly => {
                let (y, m, d) = civil::civil_from_days((self.origin + 7 * p) as i32);
                let here = i64::from(civil::days_in_month(y, m) - d + 1).min(7);
                let mut days = ((self.month_mask(y, m) >> (d - 1)) & ones(here)).count_ones();
                if here < 7 {
                    let (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                    days += (self.month_mask(y, m) & ones(7 - here)).count_ones();
                }
                days
            }
            Frequency::Monthly => {
                let (y, m) = civil::month_from_index((self.origin + p) as i32);
                self.month_mask(y, m).count_ones()
            }
            Frequency::Yearly => {
                let y = (self.origin + p) as i32;
                let mut month_first = civil::days_from_civil(y, 1, 1);
                (1..=12)
                    .map(|m| {
                        let days = self.mask_at(y, m, month_first).count_ones();
                        month_first += civil::days_in_month(y, m) as i32;
                        days
                    })
                    .sum()
            }
        }
    }
}

/// The occurrences of a rule from a grid period on, listed period by period from the day
/// masks: the matching days, each at every time of day, or the positions `BYSETPOS` picks
/// among those (RFC 5545 §3.3.10), without materialising a period's candidates.
pub(crate) struct Listing<'a> {
    periods: &'a Periods,
    /// The next grid period to list.
    grid: i64,
    /// The matching days of the period being listed.
    days: Vec<i64>,
    /// The candidate indices `BYSETPOS` picks in the period being listed, in order.
    picks: Vec<u64>,
    /// The next candidate (or pick) of the period being listed.
    next: u64,
    /// How many candidates (or picks) the period being listed has.
    len: u64,
}

impl Listing<'_> {
    /// Passes over the occurrences before local second `local`; returns how many.
    pub(crate) fn advance_to(&mut self, local: i64) -> u64 {
        let mut passed = 0;
        loop {
            if self.next >= self.len && !self.load() {
                return passed;
            }
            // Items are in order within a period: the first at or after `local` by bisection.
            let (mut lo, mut hi) = (self.next, self.len);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if self.item(mid).is_some_and(|item| item < local) {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            passed += lo - self.next;
            self.next = lo;
            if lo < self.len {
                return passed;
            }
        }
    }

    /// Loads the next grid period with an occurrence; `false` past the last one.
    fn load(&mut self) -> bool {
        let periods = self.periods;
        let times = periods.times.len() as u64;
        let Some(last) = periods.last_nonempty else {
            return false;
        };
        while self.next >= self.len {
            if self.grid > last {
                return false;
            }
            periods.matching_days_of(self.grid, &mut self.days);
            self.grid += 1;
            let candidates = self.days.len() as u64 * times;
            self.next = 0;
            if periods.explicit.by_set_pos.is_empty() {
                self.len = candidates;
            } else {
                picks(candidates, &periods.explicit.by_set_pos, &mut self.picks);
                self.len = self.picks.len() as u64;
            }
        }
        true
    }

    /// Candidate (or pick) `index` of the loaded period, as local seconds.
    fn item(&self, index: u64) -> Option<i64> {
        let periods = self.periods;
        let index = if periods.explicit.by_set_pos.is_empty() {
            index
        } else {
            *self.picks.get(index as usize)?
        };
        // A loaded period has at least one day and one time, so `times` is not zero, and
        // the index is below days × times: both look-ups succeed.
        let times = periods.times.len() as u64;
        let day = self.days.get((index / times) as usize)?;
        Some(day * 86_400 + periods.times.get((index % times) as usize)?)
    }
}

impl Iterator for Listing<'_> {
    type Item = i64;

    fn next(&mut self) -> Option<i64> {
        if self.next >= self.len && !self.load() {
            return None;
        }
        let item = self.item(self.next);
        self.next += 1;
        item
    }
}

/// Bits 0 to `n - 1`.
fn ones(n: i64) -> u32 {
    match n {
        ..=0 => 0,
        32.. => u32::MAX,
        n => (1 << n) - 1,
    }
}

/// The days `k` (bits 0 to 30) of a month whose first day is `offset` days from the origin
/// that fall among the first `window` days of every `period` days from the origin.
fn on_grid(offset: i64, period: i64, window: i64) -> u32 {
    if window >= period {
        return ones(31);
    }
    let o = offset.rem_euclid(period);
    // The window holding the month's first day, if it does; then every later one.
    let mut bits = if o < window { ones(window - o) } else { 0 };
    let mut k = period - o;
    while k < 31 {
        bits |= ones(k + window) & !ones(k);
        k += period;
    }
    bits & ones(31)
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
            week_nos: parts.by_week_no.clone(),
            week_start: civil::weekday_number(parts.week_start),
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

    /// How many month shapes there are: the month, whether its year is a leap year, the
    /// weekday of its first day, and (week numbers only) whether the years before and after
    /// are (they set how many weeks those week-years have).
    fn keys(&self) -> usize {
        if self.week_nos.is_empty() { 168 } else { 672 }
    }

    /// The shape of month `m` of year `y`, whose first day is day number `first`: everything
    /// the filters read (the weekday of January 1st follows from the month's).
    fn key(&self, y: i32, m: u32, first: i32) -> usize {
        let shape = (m as usize - 1) * 14
            + usize::from(civil::is_leap(y)) * 7
            + civil::weekday_index(first) as usize;
        if self.week_nos.is_empty() {
            shape
        } else {
            shape
                + 168 * usize::from(civil::is_leap(y - 1))
                + 336 * usize::from(civil::is_leap(y + 1))
        }
    }

    /// The days of month `m` of year `y` (first day: day number `first`) that pass every day
    /// filter, bit `d - 1` for day `d`. A day passes `BYDAY` when it matches any entry, plain
    /// or numbered.
    fn month_mask(&self, y: i32, m: u32, first: i32) -> u32 {
        if self.months != 0 && self.months & (1 << m) == 0 {
            return 0;
        }
        let len = civil::days_in_month(y, m);
        let mut mask = ones(i64::from(len));
        if (self.month_days | self.month_days_back) != 0 {
            mask &= (1..=len)
                .filter(|&d| {
                    self.month_days & (1 << d) != 0
                        || self.month_days_back & (1 << (len - d + 1)) != 0
                })
                .fold(0, |bits, d| bits | 1 << (d - 1));
        }
        if mask == 0 {
            return 0;
        }
        let year_len: usize = if civil::is_leap(y) { 366 } else { 365 };
        // 0-based day of the year of the month's first day.
        let year_day0 = (first - civil::days_from_civil(y, 1, 1)) as usize;
        if self.any_year_day {
            mask &= (1..=len as usize)
                .filter(|&d| {
                    let day = year_day0 + d;
                    let back = year_len - day + 1;
                    self.year_days[day / 64] & (1 << (day % 64)) != 0
                        || self.year_days_back[back / 64] & (1 << (back % 64)) != 0
                })
                .fold(0, |bits, d| bits | 1 << (d - 1));
        }
        if !self.week_nos.is_empty() {
            let weeks = self.week_no_days(y);
            mask &= (0..len as usize)
                .filter(|&k| {
                    let day = year_day0 + k;
                    weeks[day / 64] & (1 << (day % 64)) != 0
                })
                .fold(0, |bits, k| bits | 1 << k);
        }
        if self.weekdays != 0 || self.numbered {
            let weekday0 = civil::weekday_index(first) as usize;
            mask &= (1..=len as usize)
                .filter(|&d| {
                    let weekday = (weekday0 + d - 1) % 7;
                    if self.weekdays & (1 << weekday) != 0 {
                        return true;
                    }
                    if !self.numbered {
                        return false;
                    }
                    let (index, len) = if self.nth_in_month {
                        (d, len as usize)
                    } else {
                        (year_day0 + d, year_len)
                    };
                    let nth = (index - 1) / 7 + 1;
                    let nth_back = (len - index) / 7 + 1;
                    self.nth[weekday] & (1 << nth) != 0
                        || self.nth_back[weekday] & (1 << nth_back) != 0
                })
                .fold(0, |bits, d| bits | 1 << (d - 1));
        }
        mask
    }

    /// The days of year `y` in the weeks of `BYWEEKNO` (bit `i` for the 0-based day of the
    /// year `i`), by ISO 8601 week numbering with weeks starting on `WKST` (RFC 5545
    /// §3.3.10: week 1 is the first week with at least four days in the year). A day of `y`
    /// in a week of the previous or next week-year matches by that week's number there:
    /// 2022-01-02 is in week 52 of 2021 (2021 has no week 53), and in week -1 of 2021.
    ///
    /// python-dateutil and the rrule crate number the previous year's last week with this
    /// year's length and so put 1–2 Jan 2022 in week 53; this follows ISO 8601.
    fn week_no_days(&self, y: i32) -> [u64; 6] {
        let mut days = [0u64; 6];
        let wkst = i64::from(self.week_start);
        let jan1 = i64::from(civil::days_from_civil(y, 1, 1));
        let year_len: i64 = if civil::is_leap(y) { 366 } else { 365 };
        let starts = [y - 1, y, y + 1, y + 2].map(|y| week_one_start(y, wkst));
        // The number and the count of weeks of the week-year whose week 1 starts at
        // `starts[k]`, for the week starting on day `s`.
        let numbered = |s: i64| {
            let k = if s < starts[1] {
                0
            } else if s < starts[2] {
                1
            } else {
                2
            };
            ((s - starts[k]) / 7 + 1, (starts[k + 1] - starts[k]) / 7)
        };
        let first = jan1 - (i64::from(civil::weekday_index(jan1 as i32)) - wkst).rem_euclid(7);
        for s in (first..jan1 + year_len).step_by(7) {
            let (n, total) = numbered(s);
            let wanted = self.week_nos.iter().any(|&k| {
                let k = i64::from(k);
                k == n || k == n - total - 1
            });
            if wanted {
                for i in s.max(jan1)..(s + 7).min(jan1 + year_len) {
                    let i = (i - jan1) as usize;
                    days[i / 64] |= 1 << (i % 64);
                }
            }
        }
        days
    }
}

/// The first day (days from the epoch) of week 1 of year `y` for weeks starting on weekday
/// `wkst` (0 = Monday): the week holding at least four days of `y` (RFC 5545 §3.3.10).
fn week_one_start(y: i32, wkst: i64) -> i64 {
    let jan1 = i64::from(civil::days_from_civil(y, 1, 1));
    let into_week = (i64::from(civil::weekday_index(jan1 as i32)) - wkst).rem_euclid(7);
    if into_week <= 3 {
        jan1 - into_week
    } else {
        jan1 + 7 - into_week
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
    let mut picked = Vec::new();
    picks(n, set_pos, &mut picked);
    picked.len() as u64
}

/// The distinct candidate indices (0-based, in order) that `BYSETPOS` picks among `n`, into
/// `picked`.
fn picks(n: u64, set_pos: &[i32], picked: &mut Vec<u64>) {
    picked.clear();
    let n = n as i64;
    picked.extend(
        set_pos
            .iter()
            .map(|&p| {
                if p > 0 {
                    i64::from(p) - 1
                } else {
                    n + i64::from(p)
                }
            })
            .filter(|&i| (0..n).contains(&i))
            .map(|i| i as u64),
    );
    picked.sort_unstable();
    picked.dedup();
}
