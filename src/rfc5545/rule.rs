//! A general RFC 5545 rule: the parts as read, and the rrule crate's expansion of them.

use chrono::{NaiveDateTime, Weekday};

use crate::error::ScheduleError;

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RfcRule {
    pub(crate) parts: Parts,
    set: rrule::RRuleSet,
}

impl RfcRule {
    /// Prepares the rrule crate's expansion of `parts` from `start`, in floating time: the
    /// local wall clock is expanded as if it were UTC (no DST inside rrule), and this crate
    /// resolves each local time.
    pub(crate) fn new(parts: Parts, start: NaiveDateTime) -> Result<RfcRule, ScheduleError> {
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
        // rrule derives missing BYHOUR/BYMINUTE/BYSECOND from DTSTART like RFC 5545 does;
        // give only the parts that were written.
        if !parts.by_hour.is_empty() {
            rule = rule.by_hour(parts.by_hour.clone());
        }
        if !parts.by_minute.is_empty() {
            rule = rule.by_minute(parts.by_minute.clone());
        }
        if !parts.by_second.is_empty() {
            rule = rule.by_second(parts.by_second.clone());
        }
        let set = rule
            .build(dt_start)
            .map_err(|e| {
                // rrule refuses a few combinations RFC 5545 allows (BYSETPOS beyond its
                // limits): report them as contradictory parts, in this crate's style.
                let message = e.to_string();
                let message = message.trim().trim_end_matches('.');
                let mut chars = message.chars();
                let message = chars
                    .next()
                    .map(|c| c.to_lowercase().chain(chars).collect::<String>())
                    .unwrap_or_default();
                ScheduleError::Contradictory(format!("the rule is not expandable: {message}"))
            })?
            .limit();
        Ok(RfcRule { parts, set })
    }

    /// The rrule crate's set, in floating time.
    pub(crate) fn floating_set(&self) -> &rrule::RRuleSet {
        &self.set
    }
}
