//! Working-day calendars: weekends, holidays and transferred working days.

use std::collections::BTreeSet;

use chrono::{NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

use crate::civil;
use crate::error::ScheduleError;

/// Which days are working days: a weekly pattern of days off, holiday dates, and extra working
/// days (the Saturdays a production calendar turns into working days).
///
/// Used by the working-day rules ("every 2 working days", "the 3rd working day of the month")
/// and by an [`Adjustment`] of occurrences that fall on a day off.
///
/// ```
/// use chrono::{NaiveDate, Weekday};
/// use recurring_deals::WorkingCalendar;
///
/// let d = |m, d| NaiveDate::from_ymd_opt(2026, m, d).unwrap();
/// let calendar = WorkingCalendar::new([Weekday::Sat, Weekday::Sun], [d(1, 1), d(1, 2)], [d(1, 3)])?;
/// assert!(!calendar.is_working_day(d(1, 2)));  // a holiday
/// assert!(calendar.is_working_day(d(1, 3)));   // a working Saturday
/// assert!(!calendar.is_working_day(d(1, 4)));  // Sunday
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "CalendarForm", into = "CalendarForm")]
pub struct WorkingCalendar {
    /// Bit i set: weekday i (0 = Monday) is a day off.
    weekend: u8,
    /// Holidays that fall on otherwise working weekdays, as sorted day numbers (a holiday on a
    /// weekend changes nothing, so it is kept only in `form`).
    holidays: Vec<i32>,
    /// Extra working days that fall on weekend days, sorted day numbers.
    extra: Vec<i32>,
    /// The dates as given, for serialization.
    form: CalendarForm,
}

/// The JSON form of a calendar.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct CalendarForm {
    weekend: Vec<Weekday>,
    #[serde(default)]
    holidays: BTreeSet<NaiveDate>,
    #[serde(default)]
    working_days: BTreeSet<NaiveDate>,
}

impl Default for WorkingCalendar {
    /// Saturday and Sunday off, no holidays.
    fn default() -> Self {
        WorkingCalendar::weekends_only([Weekday::Sat, Weekday::Sun])
            .unwrap_or_else(|_| unreachable!("saturday and sunday leave working weekdays"))
    }
}

impl WorkingCalendar {
    /// A calendar with the given days off, holidays and extra working days.
    ///
    /// # Errors
    /// [`ScheduleError::NoWorkingWeekday`] when all seven weekdays are days off;
    /// [`ScheduleError::Contradictory`] when a date is both a holiday and a working day;
    /// [`ScheduleError::DateOutOfRange`] for a date outside 1900..=2199.
    pub fn new(
        weekend: impl IntoIterator<Item = Weekday>,
        holidays: impl IntoIterator<Item = NaiveDate>,
        working_days: impl IntoIterator<Item = NaiveDate>,
    ) -> Result<WorkingCalendar, ScheduleError> {
        WorkingCalendar::try_from(CalendarForm {
            weekend: weekend.into_iter().collect(),
            holidays: holidays.into_iter().collect(),
            working_days: working_days.into_iter().collect(),
        })
    }

    /// A calendar with only weekly days off.
    ///
    /// # Errors
    /// [`ScheduleError::NoWorkingWeekday`] when all seven weekdays are days off.
    pub fn weekends_only(
        weekend: impl IntoIterator<Item = Weekday>,
    ) -> Result<WorkingCalendar, ScheduleError> {
        WorkingCalendar::new(weekend, [], [])
    }

    /// Whether `date` is a working day.
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        self.is_working(civil::days_of(date))
    }

    /// The weekly days off, Monday first.
    pub fn weekend(&self) -> impl Iterator<Item = Weekday> + '_ {
        self.form.weekend.iter().copied()
    }

    /// The holidays as given.
    pub fn holidays(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        self.form.holidays.iter().copied()
    }

    /// The extra working days as given.
    pub fn working_days(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        self.form.working_days.iter().copied()
    }

    /// Whether day number `days` is a working day.
    pub(crate) fn is_working(&self, days: i32) -> bool {
        let off = self.weekend & (1 << civil::weekday_index(days)) != 0;
        if off {
            self.extra.binary_search(&days).is_ok()
        } else {
            self.holidays.binary_search(&days).is_err()
        }
    }

    /// Number of working days in `[from, to)`.
    pub(crate) fn count_working(&self, from: i32, to: i32) -> i64 {
        if to <= from {
            return 0;
        }
        let pattern = self.weekday_count(from, to);
        let holidays = count_in(&self.holidays, from, to);
        let extra = count_in(&self.extra, from, to);
        pattern - holidays + extra
    }

    /// The working day with exactly `n` working days before it counting from `from` (n = 0:
    /// the first working day on or after `from`).
    pub(crate) fn nth_working_from(&self, from: i32, n: i64) -> i32 {
        // Jump by whole weeks while far away, then walk the last few days. A week holds at
        // most 7 working days (extra working days can fill a weekend), so a jump of
        // `missing / 7 - 1` weeks never passes the target; the distance shrinks geometrically.
        let mut day = from;
        let mut before = 0i64; // working days in [from, day)
        loop {
            let missing = n - before;
            if missing < 14 {
                break;
            }
            let jump = (missing / 7 - 1) * 7;
            let next = day.saturating_add(jump as i32);
            before += self.count_working(day, next);
            day = next;
        }
        loop {
            if self.is_working(day) {
                if before == n {
                    return day;
                }
                before += 1;
            }
            day += 1;
        }
    }

    /// The `n`th (1-based) working day of a month, or its last working day when it has fewer;
    /// `None` when the month has no working day at all.
    pub(crate) fn nth_working_day_of_month(&self, year: i32, month: u32, n: u32) -> Option<i32> {
        let first = civil::days_from_civil(year, month, 1);
        let end = first + civil::days_in_month(year, month) as i32;
        let total = self.count_working(first, end);
        if total == 0 {
            return None;
        }
        Some(self.nth_working_from(first, i64::from(n).min(total) - 1))
    }

    /// Month indices (see [`civil::month_index`]) that have no working day at all. Only months
    /// holding holidays can qualify, because every week has a working weekday.
    pub(crate) fn months_without_working_days(&self) -> Vec<i32> {
        let mut months: Vec<i32> = self
            .holidays
            .iter()
            .map(|&d| {
                let (y, m, _) = civil::civil_from_days(d);
                civil::month_index(y, m)
            })
            .collect();
        months.dedup();
        months
            .into_iter()
            .filter(|&index| {
                let (y, m) = civil::month_from_index(index);
                let first = civil::days_from_civil(y, m, 1);
                self.count_working(first, first + civil::days_in_month(y, m) as i32) == 0
            })
            .collect()
    }

    /// Moves a day off to a working day per `adjustment`.
    #[inline]
    pub(crate) fn adjust(&self, days: i32, adjustment: Adjustment) -> i32 {
        // Most schedules have no adjustment: keep that case a compare in the caller's loop.
        if adjustment == Adjustment::None {
            days
        } else {
            self.adjust_off_day(days, adjustment)
        }
    }

    fn adjust_off_day(&self, days: i32, adjustment: Adjustment) -> i32 {
        if self.is_working(days) {
            return days;
        }
        let following = || {
            let mut d = days + 1;
            while !self.is_working(d) {
                d += 1;
            }
            d
        };
        let preceding = || {
            let mut d = days - 1;
            while !self.is_working(d) {
                d -= 1;
            }
            d
        };
        match adjustment {
            Adjustment::None => days,
            Adjustment::Following => following(),
            Adjustment::Preceding => preceding(),
            Adjustment::ModifiedFollowing => {
                let next = following();
                let month = |d| {
                    let (y, m, _) = civil::civil_from_days(d);
                    (y, m)
                };
                if month(next) == month(days) {
                    return next;
                }
                let previous = preceding();
                if month(previous) == month(days) {
                    previous
                } else {
                    next
                }
            }
        }
    }

    /// Working weekdays (ignoring holidays) in `[from, to)`.
    fn weekday_count(&self, from: i32, to: i32) -> i64 {
        let span = i64::from(to - from);
        let per_week = i64::from(7 - self.weekend.count_ones());
        let mut count = span / 7 * per_week;
        let first_weekday = civil::weekday_index(from);
        for k in 0..(span % 7) as u32 {
            if self.weekend & (1 << ((first_weekday + k) % 7)) == 0 {
                count += 1;
            }
        }
        count
    }
}

fn count_in(sorted: &[i32], from: i32, to: i32) -> i64 {
    (sorted.partition_point(|&d| d < to) - sorted.partition_point(|&d| d < from)) as i64
}

impl TryFrom<CalendarForm> for WorkingCalendar {
    type Error = ScheduleError;

    fn try_from(form: CalendarForm) -> Result<Self, Self::Error> {
        let weekend = form
            .weekend
            .iter()
            .fold(0u8, |bits, &day| bits | 1 << civil::weekday_number(day));
        if weekend == 0x7f {
            return Err(ScheduleError::NoWorkingWeekday);
        }
        if let Some(date) = form
            .holidays
            .iter()
            .chain(&form.working_days)
            .find(|d| !civil::in_range(**d))
        {
            return Err(ScheduleError::DateOutOfRange(*date));
        }
        if let Some(both) = form.holidays.intersection(&form.working_days).next() {
            return Err(ScheduleError::Contradictory(format!(
                "{both} is both a holiday and a working day"
            )));
        }
        let is_off = |d: i32| weekend & (1 << civil::weekday_index(d)) != 0;
        let holidays = form
            .holidays
            .iter()
            .map(|&d| civil::days_of(d))
            .filter(|&d| !is_off(d))
            .collect();
        let extra = form
            .working_days
            .iter()
            .map(|&d| civil::days_of(d))
            .filter(|&d| is_off(d))
            .collect();
        let mut form = form;
        form.weekend = (0..7)
            .filter(|i| weekend & (1 << i) != 0)
            .map(civil::weekday_from_number)
            .collect();
        Ok(WorkingCalendar {
            weekend,
            holidays,
            extra,
            form,
        })
    }
}

impl From<WorkingCalendar> for CalendarForm {
    fn from(calendar: WorkingCalendar) -> CalendarForm {
        calendar.form
    }
}

/// What to do with an occurrence that falls on a day off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Adjustment {
    /// Keep it on the day off.
    #[default]
    None,
    /// Move it to the next working day.
    Following,
    /// Move it to the previous working day.
    Preceding,
    /// Move it to the next working day, unless that is in the next month: then to the
    /// previous working day.
    ModifiedFollowing,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute_count(calendar: &WorkingCalendar, from: i32, to: i32) -> i64 {
        (from..to).filter(|&d| calendar.is_working(d)).count() as i64
    }

    fn russian_2026() -> WorkingCalendar {
        let d = |m, d| NaiveDate::from_ymd_opt(2026, m, d).unwrap();
        let holidays = [
            d(1, 1),
            d(1, 2),
            d(1, 5),
            d(1, 6),
            d(1, 7),
            d(1, 8),
            d(1, 9),
            d(2, 23),
            d(3, 9),
            d(5, 1),
            d(5, 11),
            d(6, 12),
            d(11, 4),
            d(12, 31),
        ];
        WorkingCalendar::new([Weekday::Sat, Weekday::Sun], holidays, [d(12, 26)]).unwrap()
    }

    #[test]
    fn counting_and_nth_agree_with_walking() {
        let calendar = russian_2026();
        let from = civil::days_from_civil(2025, 12, 20);
        for len in 0..420 {
            assert_eq!(
                calendar.count_working(from, from + len),
                brute_count(&calendar, from, from + len)
            );
        }
        for start in from..from + 30 {
            for n in 0..300 {
                let day = calendar.nth_working_from(start, n);
                assert!(calendar.is_working(day));
                assert_eq!(brute_count(&calendar, start, day), n);
            }
        }
    }

    #[test]
    fn nth_working_day_of_january_2026() {
        let calendar = russian_2026();
        // January 2026 in Russia: first working day is the 12th.
        let first = calendar.nth_working_day_of_month(2026, 1, 1).unwrap();
        assert_eq!(civil::civil_from_days(first), (2026, 1, 12));
        let last = calendar.nth_working_day_of_month(2026, 1, 23).unwrap();
        assert_eq!(civil::civil_from_days(last), (2026, 1, 30));
    }

    #[test]
    fn adjustments() {
        let calendar = WorkingCalendar::default();
        let sat = civil::days_from_civil(2026, 1, 31);
        assert_eq!(calendar.adjust(sat, Adjustment::Following), sat + 2);
        assert_eq!(calendar.adjust(sat, Adjustment::Preceding), sat - 1);
        assert_eq!(calendar.adjust(sat, Adjustment::ModifiedFollowing), sat - 1);
        assert_eq!(
            calendar.adjust(sat - 7, Adjustment::ModifiedFollowing),
            sat - 5
        );
    }

    #[test]
    fn contradictions_are_errors() {
        let day = NaiveDate::from_ymd_opt(2026, 1, 3).unwrap();
        assert!(matches!(
            WorkingCalendar::new([], [day], [day]),
            Err(ScheduleError::Contradictory(_))
        ));
        assert_eq!(
            WorkingCalendar::weekends_only([
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
                Weekday::Sat,
                Weekday::Sun
            ]),
            Err(ScheduleError::NoWorkingWeekday)
        );
    }
}
