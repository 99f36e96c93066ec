//! RFC 5545 text the crate reads: `DTSTART`, an `RRULE`, `EXDATE` and `RDATE` lines.

use std::collections::BTreeSet;

use crate::zone::Zone;
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeDelta, Utc, Weekday};
use proptest::prelude::*;
use proptest::sample::{Index, select};

use super::schedule::{EndKind, ExceptionKind, ScheduleOptions, schedule_with, weekday};
use super::zones::{self, Edges, ZONES, first_supported, last_supported};
use crate::{Occurrence, Schedule, resolve_local};

/// RFC 5545 text that [`Schedule::from_rrule`] accepts.
///
/// Mostly a general rule written from parts (three in four): a `DTSTART` with a `TZID` of
/// [`ZONES`] (sometimes in UTC, floating or a `VALUE=DATE`), then an `RRULE` with `FREQ`
/// `DAILY`, `WEEKLY`, `MONTHLY` or `YEARLY`, an `INTERVAL`, `BYMONTH`, `BYMONTHDAY`, `BYDAY`
/// (plain, numbered, or both), `BYYEARDAY`, `BYWEEKNO`, `BYHOUR`, `BYMINUTE`, `BYSECOND`,
/// `BYSETPOS` and `WKST` in the combinations RFC 5545 allows, with `COUNT`, or `UNTIL` as a
/// DATE, a local or a UTC date-time, placed at or after one of the rule's first occurrences;
/// then `EXDATE` and `RDATE` lines (UTC, local, floating, `VALUE=DATE`, another zone's
/// `TZID`) naming occurrences or times near them. Parts come in any order, names sometimes in
/// lower case, lines sometimes end with CRLF. The parts are drawn so that every rule has an
/// occurrence in the supported years: `tests/strategies.rs` reads thousands of them.
///
/// Otherwise (one in four) the text [`Schedule::to_rrule`] writes for a drawn
/// [`schedule`](super::schedule), with its `X-RD-*` extensions (working-day rules,
/// calendars, adjustments, moved occurrences).
///
/// Shrinks toward a daily rule from 1950-01-01 at midnight in UTC, without end or
/// exceptions, written plainly.
///
/// ```
/// use proptest::prelude::*;
/// use recurring_deals::Schedule;
///
/// proptest! {
///     #![proptest_config(ProptestConfig::with_cases(32))]
///     fn reads_back(text in recurring_deals::strategies::rrule_text()) {
///         let schedule = Schedule::from_rrule(&text)?;
///         let again = Schedule::from_rrule(&schedule.to_rrule())?;
///         prop_assert_eq!(
///             again.occurrences().take(10).collect::<Vec<_>>(),
///             schedule.occurrences().take(10).collect::<Vec<_>>()
///         );
///     }
/// }
/// reads_back();
/// ```
pub fn rrule_text() -> impl Strategy<Value = String> {
    let options = ScheduleOptions::default();
    prop_oneof![
        3 => general_text(&zones::zones_of(&ZONES), &EndKind::ALL.into_iter().collect(), &ExceptionKind::ALL.into_iter().collect()),
        1 => schedule_with(options).prop_map(|s| s.to_rrule()),
    ]
}

/// General rule text with what the options allow: ends (COUNT for [`EndKind::Count`], a
/// DATE UNTIL for [`EndKind::Until`], a date-time UNTIL for [`EndKind::UntilInstant`]),
/// EXDATE (local for [`ExceptionKind::Skip`], UTC for [`ExceptionKind::SkipInstant`]) and
/// RDATE (local for [`ExceptionKind::Extra`], UTC for [`ExceptionKind::ExtraInstant`]).
pub(crate) fn general_text(
    zones: &[Zone],
    ends: &BTreeSet<EndKind>,
    exceptions: &BTreeSet<ExceptionKind>,
) -> BoxedStrategy<String> {
    let utc_allowed = zones.contains(&Zone::UTC);
    let start_form = if utc_allowed {
        prop_oneof![6 => Just(StartForm::Zone), 1 => Just(StartForm::Utc), 1 => Just(StartForm::Floating), 1 => Just(StartForm::Date)].boxed()
    } else {
        Just(StartForm::Zone).boxed()
    };
    let mut end_forms: Vec<EndForm> = Vec::new();
    for kind in ends {
        match kind {
            EndKind::Never => end_forms.push(EndForm::Never),
            EndKind::Count => end_forms.push(EndForm::Count),
            EndKind::Until => end_forms.push(EndForm::UntilDate),
            EndKind::UntilInstant => {
                end_forms.extend([EndForm::UntilLocal, EndForm::UntilUtc]);
            }
        }
    }
    let skip_forms = value_forms(
        exceptions.contains(&ExceptionKind::Skip),
        exceptions.contains(&ExceptionKind::SkipInstant),
    );
    let extra_forms = value_forms(
        exceptions.contains(&ExceptionKind::Extra),
        exceptions.contains(&ExceptionKind::ExtraInstant),
    );
    let named = |forms: Vec<ValueForm>, deltas: BoxedStrategy<i64>, most: usize| {
        if forms.is_empty() {
            return Just(Vec::new()).boxed();
        }
        prop::collection::vec(
            (any::<Index>(), select(forms), deltas, any::<Index>()),
            0..=most,
        )
        .boxed()
    };
    (
        (
            zones::zone_and_start_among(zones, Edges::Excluded),
            start_form,
            rule_material(),
        ),
        (
            select(end_forms),
            prop_oneof![1u32..=12, 1u32..=60],
            any::<Index>(),
            prop_oneof![Just(0i64), 0i64..3, 0i64..86_400 * 3],
        ),
        (
            named(skip_forms, Just(0i64).boxed(), 3),
            named(
                extra_forms,
                prop_oneof![-1440i64..1440, -2i64..2].boxed(),
                2,
            ),
        ),
        (
            any::<bool>(),
            prop::collection::vec(any::<Index>(), 14),
            any::<bool>(),
            any::<bool>(),
        ),
    )
        .prop_map(
            |((zone_start, start_form, material), end, (skips, extras), style)| {
                let (zone, start) = zone_start;
                let (zone, start) = match start_form {
                    StartForm::Zone => (zone, start),
                    StartForm::Date => (Zone::UTC, start.date().and_time(chrono::NaiveTime::MIN)),
                    StartForm::Utc | StartForm::Floating => (Zone::UTC, start),
                };
                let text = Text {
                    zone,
                    start,
                    start_form,
                    rule: material.rule(start),
                    end: EndPlan {
                        form: end.0,
                        count: end.1,
                        nth: end.2,
                        slack: end.3,
                    },
                    skips,
                    extras,
                    style: Style {
                        shuffle: style.0,
                        order: style.1,
                        lower: style.2,
                        crlf: style.3,
                    },
                };
                text.write()
            },
        )
        .boxed()
}

fn value_forms(local: bool, instant: bool) -> Vec<ValueForm> {
    let mut forms = Vec::new();
    if instant {
        forms.extend([ValueForm::Utc, ValueForm::OtherZone]);
    }
    if local {
        forms.extend([ValueForm::Local, ValueForm::Floating, ValueForm::Date]);
    }
    forms
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StartForm {
    /// `DTSTART;TZID=zone:...`
    Zone,
    /// `DTSTART:...Z`
    Utc,
    /// `DTSTART:...` (read in UTC)
    Floating,
    /// `DTSTART;VALUE=DATE:...`
    Date,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EndForm {
    Never,
    Count,
    UntilDate,
    UntilLocal,
    UntilUtc,
}

/// How an EXDATE or RDATE value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ValueForm {
    /// `...Z`: an instant.
    Utc,
    /// With another zone's `TZID`: an instant.
    OtherZone,
    /// With the schedule's `TZID`: a local time.
    Local,
    /// No `TZID`: a local time.
    Floating,
    /// `VALUE=DATE`: the date at the start's time of day.
    Date,
}

struct EndPlan {
    form: EndForm,
    count: u32,
    /// Which of the first occurrences UNTIL is placed at.
    nth: Index,
    /// Seconds (days for a DATE) after it.
    slack: i64,
}

struct Style {
    shuffle: bool,
    order: Vec<Index>,
    lower: bool,
    crlf: bool,
}

/// An EXDATE or RDATE value: which occurrence, written how, moved by how many minutes, and
/// (for another zone) which zone.
type Named = (Index, ValueForm, i64, Index);

struct Text {
    zone: Zone,
    start: NaiveDateTime,
    start_form: StartForm,
    rule: Vec<(&'static str, String)>,
    end: EndPlan,
    skips: Vec<Named>,
    extras: Vec<Named>,
    style: Style,
}

impl Text {
    fn write(&self) -> String {
        let base = self.lines(&[], &[], &[]);
        // The end and exceptions are placed on the rule's own occurrences. A base text the
        // crate refuses is returned as it is, for the validity test to report.
        let Ok(schedule) = Schedule::from_rrule(&base) else {
            return base;
        };
        let first: Vec<Occurrence> = schedule.occurrences().take(12).collect();
        if first.is_empty() {
            return base;
        }
        let end = self.end_part(&first);
        let skips = self.values("EXDATE", &self.skips, &first);
        let extras = self.values("RDATE", &self.extras, &first);
        self.lines(&end, &skips, &extras)
    }

    fn lines(&self, end: &[(&'static str, String)], skips: &[String], extras: &[String]) -> String {
        let start = match self.start_form {
            StartForm::Zone => format!("DTSTART;TZID={}:{}", self.zone.name(), stamp(self.start)),
            StartForm::Utc => format!("DTSTART:{}Z", stamp(self.start)),
            StartForm::Floating => format!("DTSTART:{}", stamp(self.start)),
            StartForm::Date => format!("DTSTART;VALUE=DATE:{}", self.start.format("%Y%m%d")),
        };
        let mut parts: Vec<String> = self
            .rule
            .iter()
            .chain(end)
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        if self.style.shuffle {
            for i in (1..parts.len()).rev() {
                let j = self.style.order[i % self.style.order.len()].index(i + 1);
                parts.swap(i, j);
            }
        }
        let mut rule = parts.join(";");
        if self.style.lower {
            rule = rule.to_ascii_lowercase();
        }
        let mut lines = vec![start, format!("RRULE:{rule}")];
        lines.extend(skips.iter().cloned());
        lines.extend(extras.iter().cloned());
        lines.join(if self.style.crlf { "\r\n" } else { "\n" })
    }

    fn end_part(&self, first: &[Occurrence]) -> Vec<(&'static str, String)> {
        let occurrence = first[self.end.nth.index(first.len())];
        let slack = self.end.slack.max(0);
        let last_local = last_supported().and_hms_opt(23, 59, 59).unwrap_or_default();
        let last_instant = resolve_local(self.zone, last_local);
        let value = match self.end.form {
            EndForm::Never => return Vec::new(),
            EndForm::Count => return vec![("COUNT", self.end.count.to_string())],
            EndForm::UntilDate => {
                let days = u64::try_from(slack / 86_400).unwrap_or(0);
                let day = occurrence
                    .date()
                    .checked_add_days(chrono::Days::new(days))
                    .unwrap_or(occurrence.date())
                    .min(last_supported());
                day.format("%Y%m%d").to_string()
            }
            EndForm::UntilUtc => {
                let at = (occurrence.at() + TimeDelta::seconds(slack)).min(last_instant);
                format!("{}Z", stamp(at.naive_utc()))
            }
            EndForm::UntilLocal => {
                let mut local = local_of(occurrence.at(), self.zone) + TimeDelta::seconds(slack);
                // A local time in the later half of a repeated hour reads as the earlier
                // instant: move on until it reads at or after the occurrence.
                for _ in 0..48 {
                    if local >= last_local || resolve_local(self.zone, local) >= occurrence.at() {
                        break;
                    }
                    local += TimeDelta::hours(1);
                }
                stamp(local.min(last_local))
            }
        };
        vec![("UNTIL", value)]
    }

    /// EXDATE or RDATE lines, one per written form.
    fn values(&self, name: &str, named: &[Named], first: &[Occurrence]) -> Vec<String> {
        let mut lines = Vec::new();
        for (index, form, minutes, other) in named {
            let occurrence = first[index.index(first.len())];
            let at = occurrence.at() + TimeDelta::minutes(*minutes);
            let local = local_of(at, self.zone);
            let all = zones::zones_of(&ZONES);
            let other = all[other.index(all.len())];
            let supported = |day: NaiveDate| (first_supported()..=last_supported()).contains(&day);
            if !supported(local.date()) {
                continue;
            }
            lines.push(match form {
                ValueForm::Utc => format!("{name}:{}Z", stamp(at.naive_utc())),
                // The schedule's own zone would make it a local time: UTC instead.
                ValueForm::OtherZone if other == self.zone => {
                    format!("{name}:{}Z", stamp(at.naive_utc()))
                }
                ValueForm::OtherZone => {
                    let there = local_of(at, other);
                    if !supported(there.date()) {
                        continue;
                    }
                    format!("{name};TZID={}:{}", other.name(), stamp(there))
                }
                ValueForm::Local => format!("{name};TZID={}:{}", self.zone.name(), stamp(local)),
                ValueForm::Floating => format!("{name}:{}", stamp(local)),
                ValueForm::Date => {
                    format!("{name};VALUE=DATE:{}", occurrence.date().format("%Y%m%d"))
                }
            });
        }
        lines
    }
}

fn stamp(local: NaiveDateTime) -> String {
    local.format("%Y%m%dT%H%M%S").to_string()
}

fn local_of(at: DateTime<Utc>, zone: Zone) -> NaiveDateTime {
    zone.to_local(at)
}

// ---------------------------------------------------------------------------------------------
// Rule parts
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Freq {
    Daily,
    Weekly,
    Monthly,
    Yearly,
}

/// The raw material of a rule; [`RuleMaterial::rule`] picks what its frequency and variant
/// use, in combinations that always have an occurrence.
#[derive(Debug, Clone)]
struct RuleMaterial {
    freq: Freq,
    variant: u8,
    interval: u32,
    explicit_interval: bool,
    with_months: bool,
    months: Vec<u8>,
    /// The first is in ±1..=28 (in every month), the others in ±1..=31.
    month_days: Vec<i8>,
    weekdays: Vec<Weekday>,
    /// The first ordinal is in ±1..=4 (in every month), the others in -4..=5.
    ordinals: Vec<(i8, Weekday)>,
    /// Ordinals within a year, ±1..=52.
    year_ordinals: Vec<(i8, Weekday)>,
    year_days: Vec<i16>,
    week_nos: Vec<i8>,
    hours: Vec<u8>,
    minutes: Vec<u8>,
    seconds: Vec<u8>,
    set_pos: Option<(Index, Option<i32>)>,
    week_start: Option<Weekday>,
}

fn signed<T: Strategy<Value = i64>>(magnitude: T) -> impl Strategy<Value = i64> {
    (magnitude, any::<bool>()).prop_map(|(n, negative)| if negative { -n } else { n })
}

fn rule_material() -> impl Strategy<Value = RuleMaterial> {
    let freq = prop_oneof![
        Just(Freq::Daily),
        Just(Freq::Weekly),
        Just(Freq::Monthly),
        Just(Freq::Yearly)
    ];
    let month_days = (
        signed(1i64..=28),
        prop::collection::vec(signed(1i64..=31), 0..3),
    )
        .prop_map(|(first, rest)| {
            std::iter::once(first)
                .chain(rest)
                .map(|d| d as i8)
                .collect::<Vec<i8>>()
        });
    let ordinals = (
        signed(1i64..=4),
        weekday(),
        prop::collection::vec((-4i64..=5, weekday()), 0..2),
    )
        .prop_map(|(n, day, rest)| {
            std::iter::once((n, day))
                .chain(rest.into_iter().filter(|(n, _)| *n != 0))
                .map(|(n, d)| (n as i8, d))
                .collect::<Vec<_>>()
        });
    (
        (
            freq,
            0u8..7,
            prop_oneof![8 => 1u32..=4, 3 => 1u32..=30, 1 => 1u32..=1000],
            any::<bool>(),
            prop::bool::weighted(0.3),
            prop::collection::vec(1u8..=12, 1..=3),
            month_days,
            prop::collection::vec(weekday(), 1..=4),
        ),
        (
            ordinals,
            prop::collection::vec((signed(1i64..=52), weekday()), 1..=2),
            prop::collection::vec(signed(1i64..=365), 1..=3),
            prop::collection::vec(signed(1i64..=52), 1..=3),
        ),
        (
            prop::collection::vec(0u8..24, 0..=2),
            prop::collection::vec(0u8..60, 0..=2),
            prop_oneof![
                4 => Just(Vec::new()),
                2 => prop::collection::vec(0u8..60, 1..=1),
                1 => (0u8..60).prop_map(|s| vec![s, 60]),
            ],
            prop::option::weighted(0.3, (any::<Index>(), prop::option::of(1i32..=400))),
            prop::option::weighted(0.3, weekday()),
        ),
    )
        .prop_map(
            |(
                (
                    freq,
                    variant,
                    interval,
                    explicit_interval,
                    with_months,
                    months,
                    month_days,
                    weekdays,
                ),
                (ordinals, year_ordinals, year_days, week_nos),
                (hours, minutes, seconds, set_pos, week_start),
            )| RuleMaterial {
                freq,
                variant,
                interval,
                explicit_interval,
                with_months,
                months,
                month_days,
                weekdays,
                ordinals,
                year_ordinals: year_ordinals
                    .into_iter()
                    .map(|(n, d)| (n as i8, d))
                    .collect(),
                year_days: year_days.into_iter().map(|d| d as i16).collect(),
                week_nos: week_nos.into_iter().map(|w| w as i8).collect(),
                hours,
                minutes,
                seconds,
                set_pos,
                week_start,
            },
        )
}

/// Rule parts as chosen, before writing.
#[derive(Default)]
struct Parts {
    interval: u32,
    by_month: Vec<u8>,
    by_month_day: Vec<i8>,
    by_day: Vec<(i8, Weekday)>,
    by_year_day: Vec<i16>,
    by_week_no: Vec<i8>,
    /// Days each period is sure to match (when it matches at all) before times of day.
    sure_days: u64,
    /// BYDAY mixes plain and numbered weekdays (BYSETPOS is not allowed with it).
    mixed: bool,
}

impl RuleMaterial {
    /// The parts of the rule for a series starting at `start`.
    fn rule(&self, start: NaiveDateTime) -> Vec<(&'static str, String)> {
        let plain = |days: &[Weekday]| days.iter().map(|d| (0i8, *d)).collect::<Vec<_>>();
        let months = |with_start: bool| {
            let mut months = self.months.clone();
            if with_start {
                months.push(start.month() as u8);
            }
            months
        };
        // DTSTART's day exists in its own month; a month list without it may lack the day.
        let long_start = start.day() > 28;
        let mut p = Parts {
            interval: self.interval,
            sure_days: 1,
            ..Parts::default()
        };
        let name = match self.freq {
            Freq::Daily => {
                match self.variant % 4 {
                    1 => {
                        p.by_month = months(false);
                        p.interval = p.interval.min(28);
                    }
                    2 => {
                        p.by_day = plain(&self.weekdays);
                        if p.interval.is_multiple_of(7) {
                            p.interval += 1;
                        }
                    }
                    3 => {
                        p.by_month_day = self.month_days.clone();
                        p.interval = 1;
                    }
                    _ => {}
                }
                "DAILY"
            }
            Freq::Weekly => {
                match self.variant % 3 {
                    1 => {
                        p.by_day = plain(&self.weekdays);
                        p.sure_days = distinct(&self.weekdays);
                    }
                    2 => {
                        p.by_day = plain(&self.weekdays);
                        p.by_month = months(false);
                        p.interval = p.interval.min(4);
                    }
                    _ => {}
                }
                "WEEKLY"
            }
            Freq::Monthly => {
                let variant = self.variant % 6;
                match variant {
                    1 => p.by_month_day = self.month_days.clone(),
                    2 => {
                        p.by_day = plain(&self.weekdays);
                        p.sure_days = 4 * distinct(&self.weekdays);
                    }
                    3 => p.by_day = self.ordinals.clone(),
                    4 => {
                        p.by_day = plain(&self.weekdays[..1]);
                        p.by_day.extend(self.ordinals.iter().copied());
                        p.mixed = true;
                    }
                    5 => {
                        // "Friday the 13th": every year has each weekday on each of days
                        // 1 to 28 in some month.
                        p.by_month_day = vec![self.month_days[0].abs()];
                        p.by_day = plain(&self.weekdays[..self.weekdays.len().min(2)]);
                        p.interval = 1;
                    }
                    _ => {}
                }
                if self.with_months && variant <= 3 {
                    p.by_month = months(variant == 0 && long_start);
                    p.interval = 1;
                }
                if variant != 5 {
                    p.interval = p.interval.min(24);
                }
                "MONTHLY"
            }
            Freq::Yearly => {
                let variant = self.variant % 7;
                match variant {
                    1 => p.by_month = months(long_start),
                    2 => {
                        p.by_month = months(false);
                        p.by_month_day = self.month_days.clone();
                    }
                    3 => {
                        p.by_month = months(false);
                        p.by_day = self.ordinals.clone();
                    }
                    4 => p.by_year_day = self.year_days.clone(),
                    5 => {
                        p.by_week_no = self.week_nos.clone();
                        if self.with_months {
                            p.by_day = plain(&self.weekdays);
                        }
                    }
                    6 => {
                        if self.with_months {
                            p.by_day = plain(&self.weekdays);
                            p.sure_days = 52 * distinct(&self.weekdays);
                        } else {
                            p.by_day = self.year_ordinals.clone();
                        }
                    }
                    _ => {}
                }
                p.interval = p.interval.min(10);
                "YEARLY"
            }
        };
        let mut out: Vec<(&'static str, String)> = vec![("FREQ", name.to_owned())];
        if p.interval > 1 || self.explicit_interval {
            out.push(("INTERVAL", p.interval.to_string()));
        }
        let list = |values: Vec<String>| values.join(",");
        let mut by_month = p.by_month.clone();
        by_month.sort_unstable();
        by_month.dedup();
        if !by_month.is_empty() {
            out.push((
                "BYMONTH",
                list(by_month.iter().map(u8::to_string).collect()),
            ));
        }
        if !p.by_month_day.is_empty() {
            out.push((
                "BYMONTHDAY",
                list(dedup(&p.by_month_day).iter().map(i8::to_string).collect()),
            ));
        }
        if !p.by_day.is_empty() {
            let days = dedup(
                &p.by_day
                    .iter()
                    .map(|&(n, d)| (n, d.num_days_from_monday()))
                    .collect::<Vec<_>>(),
            );
            let written = days
                .iter()
                .map(|&(n, d)| {
                    let day = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"][d as usize];
                    if n == 0 {
                        day.to_owned()
                    } else {
                        format!("{n}{day}")
                    }
                })
                .collect();
            out.push(("BYDAY", list(written)));
        }
        if !p.by_year_day.is_empty() {
            out.push((
                "BYYEARDAY",
                list(dedup(&p.by_year_day).iter().map(i16::to_string).collect()),
            ));
        }
        if !p.by_week_no.is_empty() {
            out.push((
                "BYWEEKNO",
                list(dedup(&p.by_week_no).iter().map(i8::to_string).collect()),
            ));
        }
        let times = [
            ("BYHOUR", &self.hours),
            ("BYMINUTE", &self.minutes),
            ("BYSECOND", &self.seconds),
        ];
        let mut per_day = 1u64;
        for (name, values) in times {
            let values = dedup(values);
            if !values.is_empty() {
                per_day *= values.iter().filter(|&&v| v < 60).count() as u64;
                out.push((name, list(values.iter().map(u8::to_string).collect())));
            }
        }
        let has_by = out.len() > 1 + usize::from(out.iter().any(|(n, _)| *n == "INTERVAL"));
        if let Some((index, extra)) = self.set_pos
            && has_by
            && !p.mixed
        {
            // The first position is one every matching period has; another may select
            // nothing in some periods (or all).
            let sure = (p.sure_days * per_day).clamp(1, 8) as usize;
            let k = index.index(2 * sure);
            let first = if k < sure {
                k as i32 + 1
            } else {
                -((k - sure) as i32 + 1)
            };
            let limit = match self.freq {
                Freq::Monthly => 31,
                Freq::Weekly => 53,
                Freq::Daily | Freq::Yearly => 366,
            };
            let mut positions = vec![first];
            if let Some(n) = extra {
                let n = (n - 1) % limit + 1;
                positions.push(if n % 2 == 0 { -n } else { n });
            }
            out.push((
                "BYSETPOS",
                list(dedup(&positions).iter().map(i32::to_string).collect()),
            ));
        }
        if let Some(day) = self.week_start {
            let day =
                ["MO", "TU", "WE", "TH", "FR", "SA", "SU"][day.num_days_from_monday() as usize];
            out.push(("WKST", day.to_owned()));
        }
        out
    }
}

fn distinct(days: &[Weekday]) -> u64 {
    days.iter()
        .map(|d| d.num_days_from_monday())
        .collect::<BTreeSet<_>>()
        .len() as u64
}

/// Sorted, without repeats.
fn dedup<T: Ord + Copy>(values: &[T]) -> Vec<T> {
    values
        .iter()
        .copied()
        .collect::<BTreeSet<T>>()
        .into_iter()
        .collect()
}
