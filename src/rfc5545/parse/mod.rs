//! Reading RFC 5545 text.

use std::collections::BTreeSet;

use crate::zone::Zone;
use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Weekday};

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

mod lines;
mod recur;
mod structured;

use lines::*;
use recur::*;
use structured::*;

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
    let mut start: Option<(NaiveDateTime, Zone, usize)> = None;
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
                let zone = zone.unwrap_or(Zone::UTC);
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
