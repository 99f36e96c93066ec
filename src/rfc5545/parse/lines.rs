//! Content lines of RFC 5545 text: unfolding, parameters (`TZID`, `VALUE`), and the
//! DATE / DATE-TIME values of `DTSTART`, `EXDATE` and `RDATE`.

use super::*;

/// Splits text into content lines (RFC 5545 §3.1: `name *(";" param) ":" value`). A bare
/// `FREQ=...` line is read as an RRULE. Names and parameters follow §3.1 and §3.2: names are
/// letters, digits and hyphens; a parameter is `name=value`, the value plain or in double
/// quotes; control characters are refused.
pub(super) fn split_lines(text: &str) -> Result<Vec<Line<'_>>, ScheduleError> {
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
pub(super) fn first_unquoted(text: &str, sep: char) -> Option<usize> {
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
pub(super) fn split_unquoted(text: &str) -> impl Iterator<Item = &str> {
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
pub(super) fn is_name(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

pub(super) fn param<'a>(line: &Line<'a>, key: &str) -> Option<&'a str> {
    line.params.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
}

pub(super) fn single_param<'a>(line: &Line<'a>, key: &str) -> Result<&'a str, ScheduleError> {
    line.value
        .split(';')
        .find_map(|piece| {
            let (k, v) = piece.split_once('=')?;
            k.trim().eq_ignore_ascii_case(key).then_some(v.trim())
        })
        .ok_or_else(|| err(line, &line.name, format!("missing {key}")))
}

/// The TZID parameter of a line, if any, as a zone.
pub(super) fn zone_param(line: &Line) -> Result<Option<Zone>, ScheduleError> {
    match param(line, "TZID") {
        None => Ok(None),
        Some(name) => name
            .parse::<Zone>()
            .map(Some)
            .map_err(|_| ScheduleError::UnknownZone(name.to_owned())),
    }
}

/// The value type a line declares (RFC 5545 §3.2.20 `VALUE`; DATE-TIME when absent), among
/// `allowed`.
pub(super) fn value_type(
    line: &Line,
    part: &str,
    allowed: &[&str],
) -> Result<String, ScheduleError> {
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
pub(super) fn typed_value(
    line: &Line,
    part: &str,
    kind: &str,
    text: &str,
) -> Result<(Value, Option<Zone>), ScheduleError> {
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

pub(super) fn date_value(line: &Line, part: &str) -> Result<(Value, Option<Zone>), ScheduleError> {
    let kind = value_type(line, part, &["DATE-TIME", "DATE"])?;
    let (value, zone) = typed_value(line, part, &kind, line.value)?;
    check_value(line, part, value)?;
    Ok((value, zone))
}

pub(super) fn list_values(
    line: &Line,
    part: &str,
) -> Result<Vec<(Value, Option<Zone>)>, ScheduleError> {
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
pub(super) fn check_value(line: &Line, part: &str, value: Value) -> Result<(), ScheduleError> {
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
pub(super) fn date_time(text: &str) -> Option<Value> {
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
pub(super) fn items<'a>(
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
