//! The RECUR value of an `RRULE` line (RFC 5545 §3.3.10): its parts, their ranges and
//! the combinations the grammar and the rrule crate allow; and the crate's `X-RD-*` calendar.

use super::*;

/// The rule parts RFC 5545 §3.3.10 defines (`recur-rule-part`).
pub(super) const RULE_PARTS: [&str; 14] = [
    "FREQ",
    "UNTIL",
    "COUNT",
    "INTERVAL",
    "BYSECOND",
    "BYMINUTE",
    "BYHOUR",
    "BYDAY",
    "BYMONTHDAY",
    "BYYEARDAY",
    "BYWEEKNO",
    "BYMONTH",
    "BYSETPOS",
    "WKST",
];

/// Parses the RRULE value (RFC 5545 §3.3.10 `recur`: `recur-rule-part *(";" recur-rule-part)`,
/// each part once, in any order) into parts and an end.
pub(super) fn rule_parts(line: &Line, zone: Zone) -> Result<(Parts, End), ScheduleError> {
    let mut seen = BTreeSet::new();
    let mut frequency = None;
    let mut parts = Parts {
        frequency: Frequency::Daily,
        interval: 1,
        by_second: Vec::new(),
        by_minute: Vec::new(),
        by_hour: Vec::new(),
        by_day: Vec::new(),
        by_month_day: Vec::new(),
        by_year_day: Vec::new(),
        by_week_no: Vec::new(),
        by_month: Vec::new(),
        by_set_pos: Vec::new(),
        week_start: Weekday::Mon,
    };
    let mut count = None;
    let mut until = None;
    for piece in line.value.split(';') {
        if piece.is_empty() {
            return Err(err(
                line,
                "RRULE",
                format!(
                    "empty rule part in {:?}: expected NAME=VALUE parts separated by single semicolons",
                    line.value
                ),
            ));
        }
        let Some((key, value)) = piece.split_once('=') else {
            return Err(err(
                line,
                "RRULE",
                format!("expected NAME=VALUE, got {piece:?}"),
            ));
        };
        let key = key.to_ascii_uppercase();
        let part = format!("RRULE {key}");
        if !seen.insert(key.clone()) {
            return Err(err(
                line,
                &part,
                format!("{key} appears twice: each rule part may be given once"),
            ));
        }
        if value.is_empty() {
            return Err(err(line, &part, format!("{key} has an empty value")));
        }
        match key.as_str() {
            "FREQ" => {
                frequency = Some(match value.to_ascii_uppercase().as_str() {
                    "DAILY" => Frequency::Daily,
                    "WEEKLY" => Frequency::Weekly,
                    "MONTHLY" => Frequency::Monthly,
                    "YEARLY" => Frequency::Yearly,
                    f @ ("HOURLY" | "MINUTELY" | "SECONDLY") => {
                        return Err(ScheduleError::UnsupportedFrequency(f.to_owned()));
                    }
                    _ => {
                        return Err(err(
                            line,
                            &part,
                            format!(
                                "unknown frequency {value:?}: expected DAILY, WEEKLY, MONTHLY or YEARLY"
                            ),
                        ));
                    }
                })
            }
            "INTERVAL" => {
                let n = count_value(line, &part, value, "a positive integer")?;
                if n == 0 {
                    return Err(err(
                        line,
                        &part,
                        "interval must be a positive integer, got 0",
                    ));
                }
                let n = u32::try_from(n).unwrap_or(u32::MAX);
                parts.interval = Interval::new(n)?.get();
            }
            "COUNT" => {
                let n = count_value(line, &part, value, "a positive integer")?;
                if n == 0 {
                    return Err(err(line, &part, "count must be at least 1, got 0"));
                }
                let n = u32::try_from(n).map_err(|_| {
                    err(
                        line,
                        &part,
                        format!("count {value} is above the supported {}", u32::MAX),
                    )
                })?;
                count = Some(n);
            }
            "UNTIL" => {
                let parsed = date_time(value).ok_or_else(|| {
                    err(
                        line,
                        &part,
                        format!(
                            "invalid UNTIL {value:?}: expected YYYYMMDD, YYYYMMDDTHHMMSS or YYYYMMDDTHHMMSSZ"
                        ),
                    )
                })?;
                until = Some(match parsed {
                    Value::Date(d) => End::Until(d),
                    Value::Utc(t) => End::UntilInstant(t.and_utc()),
                    Value::Local(t) => {
                        // A local UNTIL outside the supported years has no instant to resolve.
                        if !civil::in_range(t.date()) {
                            return Err(ScheduleError::UntilOutOfRange(value.to_owned()));
                        }
                        End::UntilInstant(zone::resolve_local(zone, t))
                    }
                });
            }
            "BYSECOND" => parts.by_second = list(line, &part, value, SECOND)?,
            "BYMINUTE" => parts.by_minute = list(line, &part, value, MINUTE)?,
            "BYHOUR" => parts.by_hour = list(line, &part, value, HOUR)?,
            "BYMONTHDAY" => parts.by_month_day = list(line, &part, value, MONTH_DAY)?,
            "BYYEARDAY" => parts.by_year_day = list(line, &part, value, YEAR_DAY)?,
            "BYWEEKNO" => parts.by_week_no = list(line, &part, value, WEEK_NO)?,
            "BYMONTH" => parts.by_month = list(line, &part, value, MONTH)?,
            "BYSETPOS" => parts.by_set_pos = list(line, &part, value, SET_POS)?,
            "WKST" => {
                parts.week_start = weekday(value).ok_or_else(|| {
                    err(
                        line,
                        &part,
                        format!("invalid weekday {value:?}: expected SU, MO, TU, WE, TH, FR or SA"),
                    )
                })?
            }
            "BYDAY" => {
                for item in items(line, &part, value, "weekdays like MO or -1FR")? {
                    parts.by_day.push(weekday_num(line, &part, item)?);
                }
            }
            _ => {
                return Err(err(
                    line,
                    "RRULE",
                    format!(
                        "unknown rule part {key:?}: expected one of {}",
                        RULE_PARTS.join(", ")
                    ),
                ));
            }
        }
    }
    parts.frequency = frequency.ok_or_else(|| err(line, "RRULE FREQ", "missing FREQ"))?;
    check_combination(&parts)?;
    let end = match (count, until) {
        (Some(_), Some(_)) => {
            return Err(ScheduleError::Contradictory(
                "COUNT and UNTIL cannot both be given".into(),
            ));
        }
        (Some(n), None) => End::Count(n),
        (None, Some(until)) => until,
        (None, None) => End::Never,
    };
    Ok((parts, end))
}

/// The combinations RFC 5545 §3.3.10 forbids (and the rrule crate would misread).
pub(super) fn check_combination(parts: &Parts) -> Result<(), ScheduleError> {
    let contradictory = |reason: &str| Err(ScheduleError::Contradictory(reason.to_owned()));
    let f = parts.frequency;
    let ordinal_days = parts.by_day.iter().any(|d| d.ordinal != 0);
    if ordinal_days && !matches!(f, Frequency::Monthly | Frequency::Yearly) {
        return contradictory("a BYDAY ordinal (like 1MO) needs FREQ=MONTHLY or FREQ=YEARLY");
    }
    if ordinal_days && f == Frequency::Yearly && !parts.by_week_no.is_empty() {
        return contradictory("a BYDAY ordinal cannot be combined with BYWEEKNO");
    }
    // Ordinals run to ±53 whatever the frequency (RFC 5545 `ordwk`); one that no month or
    // year has (6WE in a month) matches nothing, and is accepted.
    if f == Frequency::Weekly && !parts.by_month_day.is_empty() {
        return contradictory("BYMONTHDAY cannot be used with FREQ=WEEKLY");
    }
    if matches!(f, Frequency::Daily | Frequency::Weekly | Frequency::Monthly)
        && !parts.by_year_day.is_empty()
    {
        return contradictory("BYYEARDAY needs FREQ=YEARLY");
    }
    if f != Frequency::Yearly && !parts.by_week_no.is_empty() {
        return contradictory("BYWEEKNO needs FREQ=YEARLY");
    }
    let has_other = !(parts.by_second.is_empty()
        && parts.by_minute.is_empty()
        && parts.by_hour.is_empty()
        && parts.by_day.is_empty()
        && parts.by_month_day.is_empty()
        && parts.by_year_day.is_empty()
        && parts.by_week_no.is_empty()
        && parts.by_month.is_empty());
    if !parts.by_set_pos.is_empty() && !has_other {
        return contradictory("BYSETPOS needs another BYxxx rule part");
    }
    Ok(())
}

/// `weekdaynum = [[plus / minus] ordwk] weekday`, `ordwk = 1*2DIGIT ; 1 to 53`.
pub(super) fn weekday_num(
    line: &Line,
    part: &str,
    item: &str,
) -> Result<WeekdayNum, ScheduleError> {
    let invalid = || {
        err(
            line,
            part,
            format!(
                "invalid weekday {item:?}: expected SU, MO, TU, WE, TH, FR or SA, optionally after an ordinal 1 to 53 or -53 to -1 (like 2MO or -1FR)"
            ),
        )
    };
    let split = item.len().checked_sub(2).ok_or_else(invalid)?;
    let (ordinal, day) = item.split_at_checked(split).ok_or_else(invalid)?;
    let weekday = weekday(day).ok_or_else(invalid)?;
    let ordinal = match ordinal {
        "" => 0,
        text => {
            let n = signed_digits(text, 2).ok_or_else(invalid)?;
            if !(1..=53).contains(&n.abs()) {
                return Err(invalid());
            }
            // In -53..=53: fits.
            i8::try_from(n).map_err(|_| invalid())?
        }
    };
    Ok(WeekdayNum { ordinal, weekday })
}

/// The grammar of a numeric list item: a sign allowed or not, how many digits, which values.
pub(super) struct NumberRule {
    signed: bool,
    digits: usize,
    min: i64,
    max: i64,
    what: &'static str,
}

/// `seconds = 1*2DIGIT ; 0 to 60`
pub(super) const SECOND: NumberRule = NumberRule {
    signed: false,
    digits: 2,
    min: 0,
    max: 60,
    what: "a second 0 to 60",
};
/// `minutes = 1*2DIGIT ; 0 to 59`
pub(super) const MINUTE: NumberRule = NumberRule {
    signed: false,
    digits: 2,
    min: 0,
    max: 59,
    what: "a minute 0 to 59",
};
/// `hour = 1*2DIGIT ; 0 to 23`
pub(super) const HOUR: NumberRule = NumberRule {
    signed: false,
    digits: 2,
    min: 0,
    max: 23,
    what: "an hour 0 to 23",
};
/// `monthdaynum = [plus / minus] ordmoday`, `ordmoday = 1*2DIGIT ; 1 to 31`
pub(super) const MONTH_DAY: NumberRule = NumberRule {
    signed: true,
    digits: 2,
    min: 1,
    max: 31,
    what: "a day of month 1 to 31 or -31 to -1",
};
/// `yeardaynum = [plus / minus] ordyrday`, `ordyrday = 1*3DIGIT ; 1 to 366`
pub(super) const YEAR_DAY: NumberRule = NumberRule {
    signed: true,
    digits: 3,
    min: 1,
    max: 366,
    what: "a day of year 1 to 366 or -366 to -1",
};
/// `weeknum = [plus / minus] ordwk`, `ordwk = 1*2DIGIT ; 1 to 53`
pub(super) const WEEK_NO: NumberRule = NumberRule {
    signed: true,
    digits: 2,
    min: 1,
    max: 53,
    what: "a week number 1 to 53 or -53 to -1",
};
/// `monthnum = 1*2DIGIT ; 1 to 12`
pub(super) const MONTH: NumberRule = NumberRule {
    signed: false,
    digits: 2,
    min: 1,
    max: 12,
    what: "a month 1 to 12",
};
/// `setposday = yeardaynum`
pub(super) const SET_POS: NumberRule = NumberRule {
    signed: true,
    digits: 3,
    min: 1,
    max: 366,
    what: "a position 1 to 366 or -366 to -1",
};

/// An optional sign (when `signed`... by the caller) and 1 to `digits` ASCII digits.
pub(super) fn signed_digits(text: &str, digits: usize) -> Option<i64> {
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'+') => (false, &text[1..]),
        Some(b'-') => (true, &text[1..]),
        _ => (false, text),
    };
    let n = unsigned_digits(unsigned, digits)?;
    Some(if negative { -n } else { n })
}

/// 1 to `digits` ASCII digits.
pub(super) fn unsigned_digits(text: &str, digits: usize) -> Option<i64> {
    if text.is_empty() || text.len() > digits || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// `1*DIGIT` (COUNT, INTERVAL), saturating far past any accepted value.
pub(super) fn count_value(
    line: &Line,
    part: &str,
    text: &str,
    what: &str,
) -> Result<u64, ScheduleError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err(
            line,
            part,
            format!("invalid number {text:?}: expected {what} (digits only)"),
        ));
    }
    Ok(text.parse::<u64>().unwrap_or(u64::MAX))
}

/// A comma-separated list of numbers per `rule`, sorted and without repeats.
pub(super) fn list<T: TryFrom<i64> + Ord + Copy>(
    line: &Line,
    part: &str,
    value: &str,
    rule: NumberRule,
) -> Result<Vec<T>, ScheduleError> {
    let mut values = Vec::new();
    for text in items(line, part, value, rule.what)? {
        let parsed = if rule.signed {
            signed_digits(text, rule.digits)
        } else {
            unsigned_digits(text, rule.digits)
        };
        let accepted = parsed.filter(|n| (rule.min..=rule.max).contains(&n.abs()));
        let value = accepted.and_then(|n| T::try_from(n).ok()).ok_or_else(|| {
            let form = if rule.signed {
                format!("1 to {} digits with an optional sign", rule.digits)
            } else {
                format!("1 to {} digits", rule.digits)
            };
            err(
                line,
                part,
                format!("invalid value {text:?}: expected {} ({form})", rule.what),
            )
        })?;
        values.push(value);
    }
    values.sort_unstable();
    values.dedup();
    Ok(values)
}

pub(crate) fn weekday(text: &str) -> Option<Weekday> {
    Some(match text.to_ascii_uppercase().as_str() {
        "MO" => Weekday::Mon,
        "TU" => Weekday::Tue,
        "WE" => Weekday::Wed,
        "TH" => Weekday::Thu,
        "FR" => Weekday::Fri,
        "SA" => Weekday::Sat,
        "SU" => Weekday::Sun,
        _ => return None,
    })
}

pub(super) fn calendar(line: &Line) -> Result<WorkingCalendar, ScheduleError> {
    let mut weekend = Vec::new();
    let mut holidays = Vec::new();
    let mut working = Vec::new();
    let dates = |text: &str| -> Result<Vec<NaiveDate>, ScheduleError> {
        text.split(',')
            .filter(|s| !s.is_empty())
            .map(|s| match date_time(s) {
                Some(Value::Date(d)) => Ok(d),
                _ => Err(err(line, "X-RD-CALENDAR", format!("invalid date {s:?}"))),
            })
            .collect()
    };
    for piece in line.value.split(';').filter(|p| !p.is_empty()) {
        let Some((key, value)) = piece.split_once('=') else {
            return Err(err(
                line,
                "X-RD-CALENDAR",
                format!("expected NAME=VALUE, got {piece:?}"),
            ));
        };
        match key.to_ascii_uppercase().as_str() {
            "WEEKEND" => {
                for day in value.split(',').filter(|s| !s.is_empty()) {
                    weekend.push(weekday(day).ok_or_else(|| {
                        err(line, "X-RD-CALENDAR", format!("invalid weekday {day:?}"))
                    })?);
                }
            }
            "HOLIDAYS" => holidays = dates(value)?,
            "WORKDAYS" => working = dates(value)?,
            other => {
                return Err(err(
                    line,
                    "X-RD-CALENDAR",
                    format!("unknown part {other:?}"),
                ));
            }
        }
    }
    WorkingCalendar::new(weekend, holidays, working)
}
