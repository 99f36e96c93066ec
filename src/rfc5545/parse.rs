//! Reading RFC 5545 text.

use std::collections::BTreeSet;

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Weekday};
use chrono_tz::Tz;

use crate::calendar::{Adjustment, WorkingCalendar};
use crate::civil;
use crate::error::ScheduleError;
use crate::rfc5545::rule::{Frequency, Parts, RfcRule, WeekdayNum};
use crate::schedule::builder::{finish, validate_end};
use crate::schedule::plan::Plan;
use crate::schedule::recurrence::{
    DayOfMonth, Interval, MonthDay, Ordinal, Overflow, Recurrence, WorkingDayNumber,
};
use crate::schedule::{End, Exceptions, Given, Rule, Schedule};
use crate::zone;

/// A date or date-time value as written.
#[derive(Debug, Clone, Copy)]
enum Value {
    Date(NaiveDate),
    Local(NaiveDateTime),
    Utc(NaiveDateTime),
}

/// An EXDATE or RDATE value: a local time in the schedule's zone, or an instant.
enum Named {
    Local(NaiveDateTime),
    Instant(chrono::DateTime<chrono::Utc>),
}

/// One content line: name, parameters, value, and its 1-based line number.
struct Line<'a> {
    number: usize,
    name: String,
    params: Vec<(String, &'a str)>,
    value: &'a str,
}

/// Extensions written by [`super::write`] for what RFC 5545 cannot say.
#[derive(Default)]
struct Extensions {
    working_days: Option<Interval>,
    working_day_of_month: Option<WorkingDayNumber>,
    calendar: Option<WorkingCalendar>,
    adjustment: Adjustment,
    moves: Vec<(NaiveDateTime, NaiveDateTime)>,
    until_date: Option<(NaiveDate, usize)>,
}

pub(crate) fn parse(text: &str) -> Result<Schedule, ScheduleError> {
    let lines = split_lines(text)?;
    let mut start: Option<(NaiveDateTime, Tz, usize)> = None;
    let mut rule: Option<&Line> = None;
    let mut exdates = Vec::new();
    let mut rdates = Vec::new();
    let mut extensions = Extensions::default();
    for line in &lines {
        match line.name.as_str() {
            "DTSTART" => {
                if start.is_some() {
                    return Err(err(line, "DTSTART", "DTSTART appears twice"));
                }
                let (value, zone) = date_value(line, "DTSTART")?;
                let local = match value {
                    Value::Date(d) => d.and_time(NaiveTime::MIN),
                    Value::Local(t) | Value::Utc(t) => t,
                };
                let zone = zone.unwrap_or(chrono_tz::UTC);
                start = Some((local, zone, line.number));
            }
            "RRULE" => {
                if rule.is_some() {
                    return Err(err(line, "RRULE", "only one RRULE is supported"));
                }
                rule = Some(line);
            }
            "EXDATE" => exdates.push(line),
            "RDATE" => rdates.push(line),
            "X-RD-WORKDAYS" => {
                let value = single_param(line, "INTERVAL")?;
                let interval = value.parse::<u32>().map_err(|_| {
                    err(line, "X-RD-WORKDAYS", format!("invalid interval {value:?}"))
                })?;
                extensions.working_days = Some(Interval::new(interval)?);
            }
            "X-RD-MONTHDAY" => {
                let value = single_param(line, "WORKDAY")?;
                let n = value
                    .parse::<u32>()
                    .map_err(|_| err(line, "X-RD-MONTHDAY", format!("invalid number {value:?}")))?;
                extensions.working_day_of_month = Some(WorkingDayNumber::new(n)?);
            }
            "X-RD-CALENDAR" => extensions.calendar = Some(calendar(line)?),
            "X-RD-ADJUST" => {
                extensions.adjustment = match line.value.to_ascii_uppercase().as_str() {
                    "NONE" => Adjustment::None,
                    "FOLLOWING" => Adjustment::Following,
                    "PRECEDING" => Adjustment::Preceding,
                    "MODIFIED-FOLLOWING" => Adjustment::ModifiedFollowing,
                    other => {
                        return Err(err(
                            line,
                            "X-RD-ADJUST",
                            format!("unknown adjustment {other:?}"),
                        ));
                    }
                }
            }
            "X-RD-UNTIL" => {
                if extensions.until_date.is_some() {
                    return Err(err(line, "X-RD-UNTIL", "X-RD-UNTIL appears twice"));
                }
                let date = match date_time(line.value) {
                    Some(Value::Date(d)) => d,
                    _ => {
                        return Err(err(
                            line,
                            "X-RD-UNTIL",
                            format!("invalid date {:?}: expected YYYYMMDD", line.value),
                        ));
                    }
                };
                extensions.until_date = Some((date, line.number));
            }
            "X-RD-MOVE" => {
                let Some((from, to)) = line.value.split_once('/') else {
                    return Err(err(line, "X-RD-MOVE", "expected FROM/TO"));
                };
                let local = |text: &str| match date_time(text) {
                    Some(Value::Local(t)) => Ok(t),
                    _ => Err(err(
                        line,
                        "X-RD-MOVE",
                        format!("invalid local date-time {text:?}"),
                    )),
                };
                extensions.moves.push((local(from)?, local(to)?));
            }
            name if name.starts_with("X-") => {}
            other => {
                return Err(err(line, other, format!("unsupported property {other:?}")));
            }
        }
    }
    let Some((start, zone, start_line)) = start else {
        return Err(ScheduleError::parse(1, "DTSTART", "missing DTSTART line"));
    };
    if !civil::in_range(start.date()) {
        return Err(ScheduleError::DateOutOfRange(start.date()));
    }
    let (parts, end) = match rule {
        Some(line) => {
            let (parts, end) = rule_parts(line, zone)?;
            (Some(parts), end)
        }
        None => (None, End::Count(1)),
    };
    // The writer gives other tools an UNTIL in UTC (the last second of the date in the zone)
    // and this crate the civil date the schedule ends on.
    let end = match (extensions.until_date, end) {
        (None, end) => end,
        (Some((date, _)), End::UntilInstant(_)) => End::Until(date),
        (Some((_, number)), _) => {
            return Err(ScheduleError::parse(
                number,
                "X-RD-UNTIL",
                "X-RD-UNTIL needs an RRULE with UNTIL",
            ));
        }
    };
    validate_end(end, start.date(), zone).map_err(|e| match e {
        ScheduleError::ZeroCount => {
            ScheduleError::parse(start_line, "RRULE COUNT", "count must be at least 1, got 0")
        }
        other => other,
    })?;
    // An exception in the schedule's own terms (floating, or the schedule's TZID) is a local
    // time; one in UTC or another zone's TZID names an instant and stays one.
    let named = |line: &Line, part: &str| -> Result<Vec<Named>, ScheduleError> {
        list_values(line, part)?
            .into_iter()
            .map(|(value, value_zone)| {
                Ok(match value {
                    Value::Date(d) => Named::Local(d.and_time(start.time())),
                    Value::Local(t) => match value_zone {
                        Some(other) if other != zone => {
                            Named::Instant(zone::resolve_local(other, t))
                        }
                        _ => Named::Local(t),
                    },
                    Value::Utc(t) => Named::Instant(t.and_utc()),
                })
            })
            .collect()
    };
    let mut given = Given::default();
    for line in exdates {
        for value in named(line, "EXDATE")? {
            match value {
                Named::Local(t) => given.skipped.insert(t),
                Named::Instant(t) => given.skipped_at.insert(t),
            };
        }
    }
    for line in rdates {
        for value in named(line, "RDATE")? {
            match value {
                Named::Local(t) => given.extra.insert(t),
                Named::Instant(t) => given.extra_at.insert(t),
            };
        }
    }
    for (from, to) in extensions.moves {
        // The writer also lists a move as EXDATE + RDATE for other tools.
        given.skipped.remove(&from);
        given.extra.remove(&to);
        given.moved.insert(from, to);
    }

    let calendar = extensions.calendar.unwrap_or_default();
    let structured = match (&parts, extensions.working_days) {
        (_, Some(interval)) => Some((Recurrence::WorkingDay { interval }, Overflow::Skip)),
        (None, None) => Some((
            Recurrence::Once {
                date: start.date(),
                lead: crate::Lead::None,
            },
            Overflow::Skip,
        )),
        (Some(parts), None) if extensions.working_day_of_month.is_some() => {
            // The writer gives other tools `BYDAY=MO,...,FR;BYSETPOS=N` beside the extension;
            // the extension is the meaning.
            let mut parts = parts.clone();
            parts.by_day.clear();
            parts.by_set_pos.clear();
            // Any day that every month has: the extension replaces it.
            parts.by_month_day = vec![1];
            structured(&parts, start)
        }
        (Some(parts), None) => structured(parts, start),
    };
    let rule = match structured {
        Some((mut recurrence, overflow)) => {
            if let Some(n) = extensions.working_day_of_month {
                match &mut recurrence {
                    Recurrence::Month { on, .. } | Recurrence::Year { on, .. } => {
                        *on = MonthDay::WorkingDay(n);
                    }
                    _ => {
                        return Err(ScheduleError::Contradictory(
                            "X-RD-MONTHDAY needs a monthly or yearly rule".into(),
                        ));
                    }
                }
            }
            let start_day = civil::days_of(start.date());
            let plan = Plan::compile(&recurrence, start_day, overflow, &calendar);
            let head = plan.head(start_day, &calendar);
            (
                Rule::Structured {
                    recurrence,
                    plan,
                    head,
                },
                overflow,
            )
        }
        None => {
            let Some(parts) = parts else {
                unreachable!("a missing RRULE is handled as a one-off above")
            };
            if extensions.adjustment != Adjustment::None {
                // The general walk does not move occurrences: accepting it would describe and
                // store an adjustment that never applies.
                return Err(ScheduleError::Contradictory(
                    "X-RD-ADJUST needs a rule of the structured vocabulary (daily, working-day, weekly, or one monthly or yearly day)".into(),
                ));
            }
            (
                Rule::Rfc(Box::new(RfcRule::new(parts, start)?)),
                Overflow::Skip,
            )
        }
    };
    let schedule = Schedule::assemble(
        rule.0,
        start,
        zone,
        end,
        rule.1,
        calendar,
        extensions.adjustment,
        Exceptions::default(),
    );
    finish(schedule, given, false)
}

fn err(line: &Line, part: &str, reason: impl Into<String>) -> ScheduleError {
    ScheduleError::parse(line.number, part, reason)
}

/// Splits text into content lines (RFC 5545 §3.1: `name *(";" param) ":" value`). A bare
/// `FREQ=...` line is read as an RRULE. Names and parameters follow §3.1 and §3.2: names are
/// letters, digits and hyphens; a parameter is `name=value`, the value plain or in double
/// quotes; control characters are refused.
fn split_lines(text: &str) -> Result<Vec<Line<'_>>, ScheduleError> {
    let mut lines: Vec<Line> = Vec::new();
    for (index, raw) in text.split('\n').enumerate() {
        let number = index + 1;
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if raw.starts_with(' ') || raw.starts_with('\t') {
            return Err(ScheduleError::parse(
                number,
                "line",
                "folded continuation lines are not supported",
            ));
        }
        if raw.trim().is_empty() {
            continue;
        }
        if let Some(c) = raw.chars().find(|c| c.is_control() && *c != '\t') {
            return Err(ScheduleError::parse(
                number,
                "line",
                format!("control character {c:?} in {raw:?}: RFC 5545 text allows none"),
            ));
        }
        if raw
            .get(..5)
            .is_some_and(|head| head.eq_ignore_ascii_case("FREQ="))
        {
            lines.push(Line {
                number,
                name: "RRULE".into(),
                params: Vec::new(),
                value: raw,
            });
            continue;
        }
        // The name and parameters end at the first colon outside double quotes.
        let Some(colon) = first_unquoted(raw, ':') else {
            return Err(ScheduleError::parse(
                number,
                "line",
                format!("expected NAME:VALUE with balanced double quotes, got {raw:?}"),
            ));
        };
        let (head, value) = (&raw[..colon], &raw[colon + 1..]);
        let mut pieces = split_unquoted(head);
        let name_text = pieces.next().unwrap_or_default();
        if !is_name(name_text) {
            return Err(ScheduleError::parse(
                number,
                "line",
                format!(
                    "invalid property name {name_text:?}: expected letters, digits and hyphens"
                ),
            ));
        }
        let name = name_text.to_ascii_uppercase();
        let mut params: Vec<(String, &str)> = Vec::new();
        for piece in pieces {
            let Some((key, value)) = piece.split_once('=') else {
                return Err(ScheduleError::parse(
                    number,
                    name.clone(),
                    format!("invalid parameter {piece:?}: expected NAME=VALUE"),
                ));
            };
            if !is_name(key) {
                return Err(ScheduleError::parse(
                    number,
                    name.clone(),
                    format!("invalid parameter name {key:?}: expected letters, digits and hyphens"),
                ));
            }
            let key = key.to_ascii_uppercase();
            let value = match value.strip_prefix('"') {
                Some(quoted) => match quoted.strip_suffix('"') {
                    Some(inner) if !inner.contains('"') => inner,
                    _ => {
                        return Err(ScheduleError::parse(
                            number,
                            name.clone(),
                            format!("invalid quoted parameter value {value:?}"),
                        ));
                    }
                },
                None if value.contains('"') => {
                    return Err(ScheduleError::parse(
                        number,
                        name.clone(),
                        format!(
                            "invalid parameter value {value:?}: a double quote must enclose the whole value"
                        ),
                    ));
                }
                None => value,
            };
            if matches!(key.as_str(), "TZID" | "VALUE") {
                if params.iter().any(|(k, _)| *k == key) {
                    return Err(ScheduleError::parse(
                        number,
                        name.clone(),
                        format!("parameter {key} appears twice"),
                    ));
                }
                if value.contains(',') {
                    return Err(ScheduleError::parse(
                        number,
                        name.clone(),
                        format!("{key} takes one value, got {value:?}"),
                    ));
                }
            }
            params.push((key, value));
        }
        lines.push(Line {
            number,
            name,
            params,
            value,
        });
    }
    Ok(lines)
}

/// The byte index of the first `sep` outside double quotes, if there is one before any quote
/// is left open.
fn first_unquoted(text: &str, sep: char) -> Option<usize> {
    let mut quoted = false;
    for (at, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            c if c == sep && !quoted => return Some(at),
            _ => {}
        }
    }
    None
}

/// The pieces of a line's head between semicolons outside double quotes (the head holds no
/// open quote: it ends at a colon outside quotes).
fn split_unquoted(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let current = rest?;
        match first_unquoted(current, ';') {
            Some(at) => {
                rest = Some(&current[at + 1..]);
                Some(&current[..at])
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

/// RFC 5545 `iana-token` / `x-name`: letters, digits and hyphens.
fn is_name(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn param<'a>(line: &Line<'a>, key: &str) -> Option<&'a str> {
    line.params.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
}

fn single_param<'a>(line: &Line<'a>, key: &str) -> Result<&'a str, ScheduleError> {
    line.value
        .split(';')
        .find_map(|piece| {
            let (k, v) = piece.split_once('=')?;
            k.trim().eq_ignore_ascii_case(key).then_some(v.trim())
        })
        .ok_or_else(|| err(line, &line.name, format!("missing {key}")))
}

/// The TZID parameter of a line, if any, as a zone.
fn zone_param(line: &Line) -> Result<Option<Tz>, ScheduleError> {
    match param(line, "TZID") {
        None => Ok(None),
        Some(name) => name
            .parse::<Tz>()
            .map(Some)
            .map_err(|_| ScheduleError::UnknownZone(name.to_owned())),
    }
}

/// The value type a line declares (RFC 5545 §3.2.20 `VALUE`; DATE-TIME when absent), among
/// `allowed`.
fn value_type(line: &Line, part: &str, allowed: &[&str]) -> Result<String, ScheduleError> {
    let declared = param(line, "VALUE")
        .unwrap_or("DATE-TIME")
        .to_ascii_uppercase();
    if allowed.contains(&declared.as_str()) {
        Ok(declared)
    } else {
        Err(err(
            line,
            part,
            format!(
                "unsupported VALUE={declared}: expected {}",
                allowed.join(" or ")
            ),
        ))
    }
}

/// One DATE or DATE-TIME value of a line, as its VALUE parameter declares it (§3.8.2.4,
/// §3.8.5.1, §3.8.5.2: the value "MUST match value type"), with its zone. A TZID applies to
/// local date-times only (§3.2.19: not to DATE values nor to UTC times).
fn typed_value(
    line: &Line,
    part: &str,
    kind: &str,
    text: &str,
) -> Result<(Value, Option<Tz>), ScheduleError> {
    let zone = zone_param(line)?;
    let value = match (kind, date_time(text)) {
        ("DATE", Some(value @ Value::Date(_))) => value,
        ("DATE-TIME", Some(value @ (Value::Local(_) | Value::Utc(_)))) => value,
        ("DATE", _) => {
            return Err(err(
                line,
                part,
                format!("invalid date {text:?}: expected YYYYMMDD (VALUE=DATE)"),
            ));
        }
        _ => {
            return Err(err(
                line,
                part,
                format!(
                    "invalid date-time {text:?}: expected YYYYMMDDTHHMMSS or YYYYMMDDTHHMMSSZ (a date needs VALUE=DATE)"
                ),
            ));
        }
    };
    match (value, zone) {
        (Value::Utc(_), Some(_)) => Err(err(
            line,
            part,
            format!("a UTC time cannot have a TZID, got {text:?}"),
        )),
        (Value::Date(_), Some(_)) => Err(err(
            line,
            part,
            format!("a DATE value cannot have a TZID, got {text:?}"),
        )),
        _ => Ok((value, zone)),
    }
}

fn date_value(line: &Line, part: &str) -> Result<(Value, Option<Tz>), ScheduleError> {
    let kind = value_type(line, part, &["DATE-TIME", "DATE"])?;
    let (value, zone) = typed_value(line, part, &kind, line.value)?;
    check_value(line, part, value)?;
    Ok((value, zone))
}

fn list_values(line: &Line, part: &str) -> Result<Vec<(Value, Option<Tz>)>, ScheduleError> {
    let kind = value_type(line, part, &["DATE-TIME", "DATE", "PERIOD"])?;
    if kind == "PERIOD" {
        return Err(err(line, part, "PERIOD values are not supported"));
    }
    items(line, part, line.value, "dates or date-times")?
        .into_iter()
        .map(|text| typed_value(line, part, &kind, text))
        .collect()
}

/// A local date or date-time must fall in the supported years; instants are checked in the
/// schedule's zone when the schedule is assembled.
fn check_value(line: &Line, part: &str, value: Value) -> Result<(), ScheduleError> {
    let date = match value {
        Value::Date(d) => d,
        Value::Local(t) => t.date(),
        Value::Utc(_) => return Ok(()),
    };
    if civil::in_range(date) {
        Ok(())
    } else {
        Err(err(
            line,
            part,
            format!("date {date} is outside the supported years 1900 to 2199"),
        ))
    }
}

/// `YYYYMMDD`, `YYYYMMDDTHHMMSS` or `YYYYMMDDTHHMMSSZ`.
fn date_time(text: &str) -> Option<Value> {
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let date = |s: &str| -> Option<NaiveDate> {
        if s.len() != 8 || !digits(s) {
            return None;
        }
        NaiveDate::from_ymd_opt(
            s[..4].parse().ok()?,
            s[4..6].parse().ok()?,
            s[6..].parse().ok()?,
        )
    };
    match text.len() {
        8 => Some(Value::Date(date(text)?)),
        15 | 16 => {
            let (d, rest) = text.split_at_checked(8)?;
            let rest = rest.strip_prefix(['T', 't'])?;
            let (time, utc) = match rest.strip_suffix(['Z', 'z']) {
                Some(time) => (time, true),
                None => (rest, false),
            };
            if time.len() != 6 || !digits(time) {
                return None;
            }
            let time = NaiveTime::from_hms_opt(
                time[..2].parse().ok()?,
                time[2..4].parse().ok()?,
                time[4..].parse().ok()?,
            )?;
            let t = date(d)?.and_time(time);
            Some(if utc { Value::Utc(t) } else { Value::Local(t) })
        }
        _ => None,
    }
}

/// The items of a comma-separated list; an empty item (`MO,,TU`, a trailing comma) is not in
/// the grammar.
fn items<'a>(
    line: &Line,
    part: &str,
    value: &'a str,
    what: &str,
) -> Result<Vec<&'a str>, ScheduleError> {
    let items: Vec<&str> = value.split(',').collect();
    if items.iter().any(|item| item.is_empty()) {
        return Err(err(
            line,
            part,
            format!("empty item in {value:?}: expected {what} separated by single commas"),
        ));
    }
    Ok(items)
}

/// The rule parts RFC 5545 §3.3.10 defines (`recur-rule-part`).
const RULE_PARTS: [&str; 14] = [
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
fn rule_parts(line: &Line, zone: Tz) -> Result<(Parts, End), ScheduleError> {
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
fn check_combination(parts: &Parts) -> Result<(), ScheduleError> {
    let contradictory = |reason: &str| Err(ScheduleError::Contradictory(reason.to_owned()));
    let f = parts.frequency;
    let ordinal_days = parts.by_day.iter().any(|d| d.ordinal != 0);
    if ordinal_days && !matches!(f, Frequency::Monthly | Frequency::Yearly) {
        return contradictory("a BYDAY ordinal (like 1MO) needs FREQ=MONTHLY or FREQ=YEARLY");
    }
    if ordinal_days && f == Frequency::Yearly && !parts.by_week_no.is_empty() {
        return contradictory("a BYDAY ordinal cannot be combined with BYWEEKNO");
    }
    if f == Frequency::Monthly
        && ordinal_days
        && parts.by_day.iter().any(|d| !(-5..=5).contains(&d.ordinal))
    {
        return contradictory("a monthly BYDAY ordinal must be between -5 and 5");
    }
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
fn weekday_num(line: &Line, part: &str, item: &str) -> Result<WeekdayNum, ScheduleError> {
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
struct NumberRule {
    signed: bool,
    digits: usize,
    min: i64,
    max: i64,
    what: &'static str,
}

/// `seconds = 1*2DIGIT ; 0 to 60`
const SECOND: NumberRule = NumberRule {
    signed: false,
    digits: 2,
    min: 0,
    max: 60,
    what: "a second 0 to 60",
};
/// `minutes = 1*2DIGIT ; 0 to 59`
const MINUTE: NumberRule = NumberRule {
    signed: false,
    digits: 2,
    min: 0,
    max: 59,
    what: "a minute 0 to 59",
};
/// `hour = 1*2DIGIT ; 0 to 23`
const HOUR: NumberRule = NumberRule {
    signed: false,
    digits: 2,
    min: 0,
    max: 23,
    what: "an hour 0 to 23",
};
/// `monthdaynum = [plus / minus] ordmoday`, `ordmoday = 1*2DIGIT ; 1 to 31`
const MONTH_DAY: NumberRule = NumberRule {
    signed: true,
    digits: 2,
    min: 1,
    max: 31,
    what: "a day of month 1 to 31 or -31 to -1",
};
/// `yeardaynum = [plus / minus] ordyrday`, `ordyrday = 1*3DIGIT ; 1 to 366`
const YEAR_DAY: NumberRule = NumberRule {
    signed: true,
    digits: 3,
    min: 1,
    max: 366,
    what: "a day of year 1 to 366 or -366 to -1",
};
/// `weeknum = [plus / minus] ordwk`, `ordwk = 1*2DIGIT ; 1 to 53`
const WEEK_NO: NumberRule = NumberRule {
    signed: true,
    digits: 2,
    min: 1,
    max: 53,
    what: "a week number 1 to 53 or -53 to -1",
};
/// `monthnum = 1*2DIGIT ; 1 to 12`
const MONTH: NumberRule = NumberRule {
    signed: false,
    digits: 2,
    min: 1,
    max: 12,
    what: "a month 1 to 12",
};
/// `setposday = yeardaynum`
const SET_POS: NumberRule = NumberRule {
    signed: true,
    digits: 3,
    min: 1,
    max: 366,
    what: "a position 1 to 366 or -366 to -1",
};

/// An optional sign (when `signed`... by the caller) and 1 to `digits` ASCII digits.
fn signed_digits(text: &str, digits: usize) -> Option<i64> {
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'+') => (false, &text[1..]),
        Some(b'-') => (true, &text[1..]),
        _ => (false, text),
    };
    let n = unsigned_digits(unsigned, digits)?;
    Some(if negative { -n } else { n })
}

/// 1 to `digits` ASCII digits.
fn unsigned_digits(text: &str, digits: usize) -> Option<i64> {
    if text.is_empty() || text.len() > digits || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// `1*DIGIT` (COUNT, INTERVAL), saturating far past any accepted value.
fn count_value(line: &Line, part: &str, text: &str, what: &str) -> Result<u64, ScheduleError> {
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
fn list<T: TryFrom<i64> + Ord + Copy>(
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

fn calendar(line: &Line) -> Result<WorkingCalendar, ScheduleError> {
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

/// The structured form of an RFC 5545 rule, when there is one: with the parts RFC 5545
/// derives from DTSTART filled in, and its overflow policy (months without the day are
/// skipped, except for the clamp idiom `BYMONTHDAY=28,...,D;BYSETPOS=-1`).
fn structured(parts: &Parts, start: NaiveDateTime) -> Option<(Recurrence, Overflow)> {
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

fn month_day(parts: &Parts, start: NaiveDateTime) -> Option<(MonthDay, Overflow)> {
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
