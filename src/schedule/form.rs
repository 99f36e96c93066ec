//! The JSON form of a schedule: readable, and validated on the way in (an invalid schedule is
//! an error, never a half-valid value).

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::calendar::{Adjustment, WorkingCalendar};
use crate::error::ScheduleError;
use crate::schedule::recurrence::{Overflow, Recurrence};
use crate::schedule::{End, Rule, Schedule, parse_zone};

/// What a schedule looks like in JSON. Structured schedules write their parts; general RFC
/// 5545 rules write their text under `rrule`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleForm {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rule: Option<Recurrence>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rrule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    start: Option<NaiveDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    zone: Option<String>,
    /// `null` reads as no end, as an absent field does.
    #[serde(
        default,
        skip_serializing_if = "is_never",
        deserialize_with = "end_or_null"
    )]
    end: End,
    /// `None` when absent: an `rrule` schedule refuses the field even at its default value.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::json_enum::optional"
    )]
    overflow: Option<Overflow>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    calendar: Option<WorkingCalendar>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::json_enum::optional"
    )]
    adjustment: Option<Adjustment>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    skip: Vec<NaiveDate>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    skip_instants: Vec<DateTime<Utc>>,
    #[serde(default, rename = "move", skip_serializing_if = "Vec::is_empty")]
    moves: Vec<Move>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    extra: Vec<NaiveDateTime>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    extra_instants: Vec<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Move {
    from: NaiveDate,
    to: NaiveDateTime,
}

fn end_or_null<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<End, D::Error> {
    Ok(crate::json_enum::optional(deserializer)?.unwrap_or_default())
}

fn is_never(end: &End) -> bool {
    *end == End::Never
}

impl From<&Schedule> for ScheduleForm {
    fn from(schedule: &Schedule) -> ScheduleForm {
        match schedule.rule() {
            Rule::Rfc(_) => ScheduleForm {
                rule: None,
                rrule: Some(schedule.to_rrule()),
                start: None,
                zone: None,
                end: End::Never,
                overflow: None,
                calendar: None,
                adjustment: None,
                skip: Vec::new(),
                skip_instants: Vec::new(),
                moves: Vec::new(),
                extra: Vec::new(),
                extra_instants: Vec::new(),
            },
            Rule::Structured { recurrence, .. } => ScheduleForm {
                rule: Some(*recurrence),
                rrule: None,
                start: Some(schedule.start()),
                zone: Some(schedule.zone().name().to_owned()),
                end: schedule.end(),
                overflow: (schedule.overflow() != Overflow::Clamp).then(|| schedule.overflow()),
                calendar: (*schedule.calendar() != WorkingCalendar::default())
                    .then(|| schedule.calendar().clone()),
                adjustment: (schedule.adjustment() != Adjustment::None)
                    .then(|| schedule.adjustment()),
                skip: schedule.skipped().map(|t| t.date()).collect(),
                skip_instants: schedule.skipped_instants().collect(),
                moves: schedule
                    .moved()
                    .map(|(from, to)| Move {
                        from: from.date(),
                        to,
                    })
                    .collect(),
                extra: schedule.extra().collect(),
                extra_instants: schedule.extra_instants().collect(),
            },
        }
    }
}

impl TryFrom<ScheduleForm> for Schedule {
    type Error = ScheduleError;

    fn try_from(form: ScheduleForm) -> Result<Schedule, ScheduleError> {
        match (form.rule, form.rrule) {
            (Some(_), Some(_)) => Err(ScheduleError::Contradictory(
                "a schedule has either \"rule\" or \"rrule\", not both".into(),
            )),
            (None, None) => Err(ScheduleError::Contradictory(
                "a schedule needs \"rule\" or \"rrule\"".into(),
            )),
            (None, Some(text)) => {
                let structured_only = form.start.is_some()
                    || form.zone.is_some()
                    || form.end != End::Never
                    || form.calendar.is_some()
                    || form.overflow.is_some()
                    || form.adjustment.is_some()
                    || !form.skip.is_empty()
                    || !form.skip_instants.is_empty()
                    || !form.moves.is_empty()
                    || !form.extra.is_empty()
                    || !form.extra_instants.is_empty();
                if structured_only {
                    return Err(ScheduleError::Contradictory(
                        "an \"rrule\" schedule carries its start, zone, end, exceptions, overflow \
                         and adjustment in the text (BYSETPOS, X-RD-ADJUST); remove the fields \
                         or use \"rule\""
                            .into(),
                    ));
                }
                Schedule::from_rrule(&text)
            }
            (Some(rule), None) => {
                let start = form.start.ok_or_else(|| {
                    ScheduleError::Contradictory("a schedule needs \"start\"".into())
                })?;
                let zone = parse_zone(form.zone.as_deref().unwrap_or("UTC"))?;
                let mut builder = Schedule::builder(rule, start, zone)
                    .end(form.end)
                    .overflow(form.overflow.unwrap_or(Overflow::Clamp))
                    .adjustment(form.adjustment.unwrap_or(Adjustment::None))
                    .calendar(form.calendar.unwrap_or_default());
                for date in form.skip {
                    builder = builder.skip(date);
                }
                for at in form.skip_instants {
                    builder = builder.skip_instant(at);
                }
                for Move { from, to } in form.moves {
                    builder = builder.move_occurrence(from, to);
                }
                for local in form.extra {
                    builder = builder.extra(local);
                }
                for at in form.extra_instants {
                    builder = builder.extra_instant(at);
                }
                builder.build()
            }
        }
    }
}

impl Serialize for Schedule {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        ScheduleForm::from(self).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Schedule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Schedule, D::Error> {
        let form = ScheduleForm::deserialize(deserializer)?;
        Schedule::try_from(form).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod rrule_form_tests {
    use super::*;

    #[test]
    fn an_rrule_schedule_refuses_structured_only_fields_instead_of_dropping_them() {
        let text = "DTSTART;TZID=Europe/Berlin:20260105T090000\nRRULE:FREQ=MONTHLY;BYMONTHDAY=31";
        for extra in [
            r#""adjustment": "following""#,
            r#""overflow": "skip""#,
            r#""overflow": "clamp""#,
        ] {
            let json = format!(r#"{{"rrule": {text:?}, {extra}}}"#);
            let error = serde_json::from_str::<Schedule>(&json)
                .unwrap_err()
                .to_string();
            assert!(
                error.contains("overflow") && error.contains("adjustment"),
                "{extra}: {error}"
            );
        }
        // Without them it reads (a rule the structured vocabulary takes is written back in
        // that form, with RFC 5545's overflow); a general rule writes back as text alone.
        let general = "DTSTART;TZID=Europe/Berlin:20260105T090000\nRRULE:FREQ=DAILY;BYHOUR=9,12";
        let schedule: Schedule =
            serde_json::from_str(&format!(r#"{{"rrule": {general:?}}}"#)).unwrap();
        let json = serde_json::to_value(&schedule).unwrap();
        assert!(
            json.get("overflow").is_none() && json.get("adjustment").is_none(),
            "{json}"
        );
    }

    #[test]
    fn a_rule_schedule_keeps_its_overflow_and_adjustment() {
        let json = r#"{"rule": {"every": "month", "interval": 1, "on": {"day": 31}},
            "start": "2026-01-31T09:00:00", "zone": "UTC", "overflow": "skip",
            "adjustment": "following"}"#;
        let schedule: Schedule = serde_json::from_str(json).unwrap();
        assert_eq!(schedule.overflow(), Overflow::Skip);
        assert_eq!(schedule.adjustment(), Adjustment::Following);
        let again: Schedule =
            serde_json::from_value(serde_json::to_value(&schedule).unwrap()).unwrap();
        assert_eq!(again, schedule);
    }

    #[test]
    fn a_null_end_is_no_end() {
        let with_null: Schedule = serde_json::from_str(
            r#"{"rule": {"every": "day", "interval": 1}, "start": "2026-01-05T09:00:00",
                "zone": "UTC", "end": null}"#,
        )
        .unwrap();
        let without: Schedule = serde_json::from_str(
            r#"{"rule": {"every": "day", "interval": 1}, "start": "2026-01-05T09:00:00",
                "zone": "UTC"}"#,
        )
        .unwrap();
        assert_eq!(with_null, without);
        assert_eq!(with_null.end(), End::Never);
    }
}
