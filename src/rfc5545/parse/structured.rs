//! Recognising rules that fit the structured vocabulary (arithmetic seek).

use super::*;

/// The structured form of an RFC 5545 rule, when there is one: with the parts RFC 5545
/// derives from DTSTART filled in, and its overflow policy (months without the day are
/// skipped, except for the clamp idiom `BYMONTHDAY=28,...,D;BYSETPOS=-1`).
pub(super) fn structured(parts: &Parts, start: NaiveDateTime) -> Option<(Recurrence, Overflow)> {
    let time_matches = |values: &[u8], actual: u32| match values {
        [] => true,
        [v] => u32::from(*v) == actual,
        _ => false,
    };
    let time_from_start = time_matches(&parts.by_hour, start.hour())
        && time_matches(&parts.by_minute, start.minute())
        && time_matches(&parts.by_second, start.second());
    if !time_from_start || !parts.by_year_day.is_empty() || !parts.by_week_no.is_empty() {
        return None;
    }
    let interval = Interval::new(parts.interval).ok()?;
    match parts.frequency {
        Frequency::Daily => {
            let plain = parts.by_day.is_empty()
                && parts.by_month_day.is_empty()
                && parts.by_month.is_empty()
                && parts.by_set_pos.is_empty();
            plain.then_some((Recurrence::Day { interval }, Overflow::Skip))
        }
        Frequency::Weekly => {
            if !parts.by_month.is_empty() || !parts.by_set_pos.is_empty() {
                return None;
            }
            let on = if parts.by_day.is_empty() {
                crate::WeekdaySet::single(start.weekday())
            } else {
                crate::WeekdaySet::new(parts.by_day.iter().map(|d| d.weekday)).ok()?
            };
            Some((
                Recurrence::Week {
                    interval,
                    on,
                    week_start: parts.week_start,
                },
                Overflow::Skip,
            ))
        }
        Frequency::Monthly => {
            if !parts.by_month.is_empty() {
                return None;
            }
            let (on, overflow) = month_day(parts, start)?;
            Some((Recurrence::Month { interval, on }, overflow))
        }
        Frequency::Yearly => {
            let month = match parts.by_month.as_slice() {
                [] if parts.by_month_day.is_empty() && parts.by_day.is_empty() => start.month(),
                [m] => u32::from(*m),
                _ => return None,
            };
            let month = chrono::Month::try_from(u8::try_from(month).ok()?).ok()?;
            let (on, overflow) = month_day(parts, start)?;
            if let MonthDay::Day(d) = on
                && d.get() > civil::days_in_month(2000, month.number_from_month())
            {
                return None;
            }
            Some((
                Recurrence::Year {
                    interval,
                    month,
                    on,
                },
                overflow,
            ))
        }
    }
}

pub(super) fn month_day(parts: &Parts, start: NaiveDateTime) -> Option<(MonthDay, Overflow)> {
    match (
        parts.by_month_day.as_slice(),
        parts.by_day.as_slice(),
        parts.by_set_pos.as_slice(),
    ) {
        ([], [], []) => Some((
            MonthDay::Day(DayOfMonth::new(start.day()).ok()?),
            Overflow::Skip,
        )),
        ([-1], [], []) => Some((MonthDay::LastDay, Overflow::Skip)),
        ([d], [], []) if *d > 0 => Some((
            MonthDay::Day(DayOfMonth::new(u32::try_from(*d).ok()?).ok()?),
            Overflow::Skip,
        )),
        (days, [], [-1])
            if days.len() >= 2 && days[0] == 28 && days.windows(2).all(|w| w[1] == w[0] + 1) =>
        {
            let last = u32::try_from(*days.last()?).ok()?;
            Some((MonthDay::Day(DayOfMonth::new(last).ok()?), Overflow::Clamp))
        }
        ([], [day], []) if day.ordinal != 0 => Some((
            MonthDay::Weekday {
                ordinal: Ordinal::from_number(i32::from(day.ordinal)).ok()?,
                weekday: day.weekday,
            },
            Overflow::Skip,
        )),
        _ => None,
    }
}
