//! Proleptic Gregorian calendar arithmetic on day numbers.
//!
//! Schedules do their date arithmetic on plain integers (days since 1970-01-01 and months since
//! year 0) because it is exact, branch-light and several times cheaper than going through
//! `chrono::NaiveDate` for every candidate; dates become `NaiveDate` only at the API edge.

use chrono::{Datelike, NaiveDate, Weekday};

/// First civil year a schedule may touch.
pub(crate) const MIN_YEAR: i32 = 1900;
/// Last civil year a schedule may touch; series end at the close of this year.
pub(crate) const MAX_YEAR: i32 = 2199;

/// Days from 0001-01-01 (chrono's "days from CE", day 1) to 1970-01-01.
const UNIX_EPOCH_FROM_CE: i32 = 719_163;

/// Days since 1970-01-01 of a civil date (Howard Hinnant's `days_from_civil`).
pub(crate) fn days_from_civil(year: i32, month: u32, day: u32) -> i32 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = month as i32;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i32 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Civil date `(year, month, day)` of a day number (Howard Hinnant's `civil_from_days`).
pub(crate) fn civil_from_days(days: i32) -> (i32, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i32::from(month <= 2);
    (year, month, day)
}

/// Whether `year` is a Gregorian leap year.
pub(crate) fn is_leap(year: i32) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// Number of days in `month` (1..=12) of `year`.
pub(crate) fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Weekday of a day number, 0 = Monday .. 6 = Sunday (1970-01-01 was a Thursday).
pub(crate) fn weekday_index(days: i32) -> u32 {
    (days + 3).rem_euclid(7) as u32
}

/// A month counted from year 0: `year * 12 + (month - 1)`.
pub(crate) fn month_index(year: i32, month: u32) -> i32 {
    year * 12 + month as i32 - 1
}

/// `(year, month)` of a month index.
pub(crate) fn month_from_index(index: i32) -> (i32, u32) {
    (index.div_euclid(12), index.rem_euclid(12) as u32 + 1)
}

/// Day number of a `NaiveDate`.
pub(crate) fn days_of(date: NaiveDate) -> i32 {
    date.num_days_from_ce() - UNIX_EPOCH_FROM_CE
}

/// `NaiveDate` of a day number, or `None` outside chrono's range.
pub(crate) fn date_of(days: i32) -> Option<NaiveDate> {
    NaiveDate::from_num_days_from_ce_opt(days.checked_add(UNIX_EPOCH_FROM_CE)?)
}

/// Day number of the first day of the supported range.
pub(crate) fn min_days() -> i32 {
    days_from_civil(MIN_YEAR, 1, 1)
}

/// Day number of the last day of the supported range.
pub(crate) fn max_days() -> i32 {
    days_from_civil(MAX_YEAR, 12, 31)
}

/// Whether a date lies in the supported range.
pub(crate) fn in_range(date: NaiveDate) -> bool {
    (MIN_YEAR..=MAX_YEAR).contains(&date.year())
}

/// Index 0 = Monday of a chrono weekday.
pub(crate) fn weekday_number(weekday: Weekday) -> u32 {
    weekday.num_days_from_monday()
}

/// Chrono weekday of an index 0 = Monday .. 6 = Sunday.
pub(crate) fn weekday_from_number(index: u32) -> Weekday {
    match index % 7 {
        0 => Weekday::Mon,
        1 => Weekday::Tue,
        2 => Weekday::Wed,
        3 => Weekday::Thu,
        4 => Weekday::Fri,
        5 => Weekday::Sat,
        _ => Weekday::Sun,
    }
}

/// Adds `months` to a civil date, clamping the day to the target month's length; `None` when
/// the result falls outside chrono's years. Any count is taken: payment terms and offsets
/// reach here from hosts' values before (or without) validation.
pub(crate) fn add_months_clamped(days: i32, months: i64) -> Option<i32> {
    let (y, m, d) = civil_from_days(days);
    let index = i64::from(month_index(y, m)).checked_add(months)?;
    let year = i32::try_from(index.div_euclid(12)).ok()?;
    if !(NaiveDate::MIN.year()..=NaiveDate::MAX.year()).contains(&year) {
        return None;
    }
    // rem_euclid(12) is 0..=11.
    let month = index.rem_euclid(12) as u32 + 1;
    Some(days_from_civil(
        year,
        month,
        d.min(days_in_month(year, month)),
    ))
}

/// Number of `j` in `0..count` with `first + j * step ≡ residue (mod modulus)`.
///
/// Used to count, without walking, how many candidate months of a schedule fall in months that
/// lack the wanted day (February, 30-day months, common years).
pub(crate) fn count_congruent(
    first: i64,
    step: i64,
    count: i64,
    residue: i64,
    modulus: i64,
) -> i64 {
    if count <= 0 {
        return 0;
    }
    // Solve step * j ≡ residue - first (mod modulus).
    let target = (residue - first).rem_euclid(modulus);
    let g = gcd(step.rem_euclid(modulus), modulus);
    if target % g != 0 {
        return 0;
    }
    let m = modulus / g;
    let s = (step.rem_euclid(modulus) / g).rem_euclid(m);
    let t = (target / g).rem_euclid(m);
    let j0 = if m == 1 {
        0
    } else {
        (t * mod_inverse(s, m)).rem_euclid(m)
    };
    if j0 >= count {
        0
    } else {
        (count - 1 - j0) / m + 1
    }
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 { a.abs() } else { gcd(b, a % b) }
}

/// Inverse of `a` modulo `m` for coprime `a`, `m` (extended Euclid).
fn mod_inverse(a: i64, m: i64) -> i64 {
    let (mut old_r, mut r) = (a, m);
    let (mut old_s, mut s) = (1i64, 0i64);
    while r != 0 {
        let q = old_r / r;
        (old_r, r) = (r, old_r - q * r);
        (old_s, s) = (s, old_s - q * s);
    }
    old_s.rem_euclid(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_numbers_match_chrono_over_the_supported_range() {
        let mut date = NaiveDate::from_ymd_opt(MIN_YEAR - 1, 1, 1).unwrap();
        let end = NaiveDate::from_ymd_opt(MAX_YEAR + 1, 12, 31).unwrap();
        while date <= end {
            let days = days_of(date);
            assert_eq!(days_from_civil(date.year(), date.month(), date.day()), days);
            assert_eq!(
                civil_from_days(days),
                (date.year(), date.month(), date.day())
            );
            assert_eq!(weekday_index(days), date.weekday().num_days_from_monday());
            assert_eq!(date_of(days), Some(date));
            date = date.succ_opt().unwrap();
        }
    }

    #[test]
    fn congruence_counts_match_brute_force() {
        for first in -30i64..30 {
            for step in 1..30 {
                for modulus in [12, 48, 1200, 4800, 7] {
                    for residue in [0, 1, 5] {
                        for count in [0, 1, 2, 13, 100] {
                            let brute = (0..count)
                                .filter(|j| (first + j * step - residue).rem_euclid(modulus) == 0)
                                .count() as i64;
                            assert_eq!(
                                count_congruent(first, step, count, residue, modulus),
                                brute,
                                "first {first} step {step} count {count} residue {residue} mod {modulus}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn month_addition_clamps() {
        let jan31 = days_from_civil(2024, 1, 31);
        let add = |months| add_months_clamped(jan31, months).map(civil_from_days);
        assert_eq!(add(1), Some((2024, 2, 29)));
        assert_eq!(add(13), Some((2025, 2, 28)));
        assert_eq!(add(-2), Some((2023, 11, 30)));
    }

    #[test]
    fn month_addition_past_chronos_years_is_none_not_an_overflow() {
        let jan31 = days_from_civil(2024, 1, 31);
        for months in [i64::MAX, i64::MIN, i64::from(u32::MAX), i64::from(i32::MIN)] {
            assert_eq!(add_months_clamped(jan31, months), None, "{months}");
        }
        let last = days_of(NaiveDate::MAX);
        assert_eq!(add_months_clamped(last, 1), None);
        assert_eq!(add_months_clamped(last, 0), Some(last));
    }
}

/// Months in a 400-year Gregorian cycle (the calendar repeats exactly after it).
const CYCLE_MONTHS: usize = 4800;
/// Days in a 400-year cycle.
const CYCLE_DAYS: i32 = 146_097;

/// `MONTH_STARTS[k]`: days from year 0 January 1 to the first day of month `k` of the cycle
/// (`k = year * 12 + month - 1`), for `k` in `0..=4800`. Built at compile time; it makes the
/// first day and the length of any month a division-free look-up, the core of monthly and
/// yearly series.
static MONTH_STARTS: [i32; CYCLE_MONTHS + 1] = month_starts();

/// `FIRST_WEEKDAYS[k]`: weekday (0 = Monday) of the first day of month `k` of the cycle. A
/// cycle is exactly 20,871 weeks, so the weekday of a month's first day is the same in every
/// cycle: "last Friday" and "second Monday" need no division by 7 per month.
static FIRST_WEEKDAYS: [u8; CYCLE_MONTHS] = first_weekdays();

/// Weekday of year 0 January 1 (a Saturday in the proleptic Gregorian calendar).
const YEAR_ZERO_WEEKDAY: i32 = 5;

const fn month_starts() -> [i32; CYCLE_MONTHS + 1] {
    let mut table = [0i32; CYCLE_MONTHS + 1];
    let mut k = 0;
    while k < CYCLE_MONTHS {
        let year = (k / 12) as i32;
        let month = (k % 12) as u32 + 1;
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
        let length = match month {
            2 if leap => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        table[k + 1] = table[k] + length;
        k += 1;
    }
    table
}

const fn first_weekdays() -> [u8; CYCLE_MONTHS] {
    let starts = month_starts();
    let mut table = [0u8; CYCLE_MONTHS];
    let mut k = 0;
    while k < CYCLE_MONTHS {
        table[k] = ((starts[k] + YEAR_ZERO_WEEKDAY) % 7) as u8;
        k += 1;
    }
    table
}

/// A month of the calendar, as the month-based rules need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MonthInfo {
    /// Day number of the first day.
    pub(crate) first: i32,
    /// Days in the month, 28..=31.
    pub(crate) length: u32,
    /// Weekday of the first day, 0 = Monday .. 6 = Sunday.
    pub(crate) first_weekday: u32,
}

impl MonthInfo {
    /// Day number of the last day.
    pub(crate) fn last(&self) -> i32 {
        self.first + self.length as i32 - 1
    }

    /// Weekday of the last day, 0 = Monday .. 6 = Sunday.
    pub(crate) fn last_weekday(&self) -> u32 {
        // The last day is `length - 1` (27..=30) days on: 6, 0, 1 or 2 weekdays modulo 7.
        const SHIFT: [u32; 4] = [6, 0, 1, 2];
        wrap_week(self.first_weekday + SHIFT[(self.length - 28) as usize & 3])
    }
}

/// `value` modulo 7 for `value` in `0..14`, without a division.
pub(crate) fn wrap_week(value: u32) -> u32 {
    if value >= 7 { value - 7 } else { value }
}

/// The month `index` (see [`month_index`]): first day, length and weekday of its first day.
#[inline(always)]
pub(crate) fn month_info(index: i32) -> MonthInfo {
    let era = index.div_euclid(CYCLE_MONTHS as i32);
    let k = index.rem_euclid(CYCLE_MONTHS as i32) as usize;
    // Year 0 January 1 is day -719_528 from 1970-01-01.
    let first = era * CYCLE_DAYS + MONTH_STARTS[k] - 719_528;
    MonthInfo {
        first,
        length: (MONTH_STARTS[k + 1] - MONTH_STARTS[k]) as u32,
        first_weekday: u32::from(FIRST_WEEKDAYS[k]),
    }
}

#[cfg(test)]
mod month_start_tests {
    use super::*;

    #[test]
    fn month_starts_match_civil_arithmetic() {
        for index in month_index(1200, 1)..month_index(2801, 1) {
            let (y, m) = month_from_index(index);
            let month = month_info(index);
            let first = days_from_civil(y, m, 1);
            assert_eq!(
                (month.first, month.length, month.first_weekday),
                (first, days_in_month(y, m), weekday_index(first)),
                "{y}-{m}"
            );
            assert_eq!(month.last_weekday(), weekday_index(month.last()), "{y}-{m}");
        }
    }
}
