//! Writing RFC 5545 text with the crate's own writer (the rrule crate's `Display` drops
//! negative BYMONTHDAY values and bakes DTSTART-derived parts into the rule).

use std::fmt::Write;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc, Weekday};

use crate::calendar::Adjustment;
use crate::rfc5545::rule::{Frequency, Parts};
use crate::schedule::recurrence::{MonthDay, Overflow, Recurrence};
use crate::schedule::{End, Rule, Schedule};
use crate::zone;
use crate::zone::Zone;

pub(crate) fn write(schedule: &Schedule) -> String {
    let mut out = String::new();
    let zone = schedule.zone();
    // A one-off is written as its single occurrence: DTSTART alone.
    let start = match schedule.recurrence() {
        Some(Recurrence::Once { date, lead }) => {
            let start_day = crate::civil::days_of(schedule.start().date());
            let day = lead.before(crate::civil::days_of(*date)).max(start_day);
            crate::civil::date_of(day).map_or(schedule.start(), |d| d.and_time(schedule.time()))
        }
        _ => schedule.start(),
    };
    // A one-off past its end holds only its extra dates, numbered in time order. One of them
    // (the earliest that qualifies) is written as DTSTART when its local time names it and
    // the adjustment leaves its day where it is (read back, DTSTART is the one-off, which
    // the adjustment would move). Otherwise DTSTART is a one-off excluded by an EXDATE,
    // whose unused `seq` would shift the extra dates after it: so it is placed after the
    // last of them (the first day after it that the adjustment leaves alone).
    let mut one_off = one_off_past_end(schedule, start);
    let mut extra: Vec<NaiveDateTime> = schedule.extra().collect();
    let mut extra_at: Vec<DateTime<Utc>> = schedule.extra_instants().collect();
    let mut start = start;
    let stays = |local: NaiveDateTime| {
        let day = crate::civil::days_of(local.date());
        schedule.calendar().adjust(day, schedule.adjustment()) == day
    };
    if let Some(excluded) = one_off {
        let locals = extra
            .iter()
            .map(|local| (zone::resolve_local(zone, *local), *local, true));
        let instants = extra_at
            .iter()
            .map(|at| (*at, at.with_timezone(&zone).naive_local(), false));
        let mut candidates: Vec<(DateTime<Utc>, NaiveDateTime, bool)> =
            locals.chain(instants).collect();
        candidates.sort_by_key(|(at, ..)| *at);
        let last = candidates.last().map(|(at, ..)| *at);
        let named = candidates
            .iter()
            .copied()
            .find(|(at, local, _)| zone::resolve_local(zone, *local) == *at && stays(*local));
        if let Some((at, local, is_local)) = named {
            if is_local {
                extra.retain(|t| *t != local);
            } else {
                extra_at.retain(|t| *t != at);
            }
            start = local;
            one_off = None;
        } else if let Some(last) = last.filter(|last| excluded <= *last) {
            let mut day = last.with_timezone(&zone).naive_local().date();
            for _ in 0..366 {
                let Some(next) = day.succ_opt() else { break };
                day = next;
                let local = day.and_time(schedule.time());
                let at = zone::resolve_local(zone, local);
                if stays(local) && at > last {
                    start = local;
                    one_off = Some(at);
                    break;
                }
            }
        }
    }
    if zone == Zone::UTC {
        let _ = write!(out, "DTSTART:{}Z", date_time(start));
    } else {
        let _ = write!(out, "DTSTART;TZID={}:{}", zone.name(), date_time(start));
    }
    let mut extensions = Vec::new();
    let mut rule = String::from("RRULE:");
    match schedule.rule() {
        Rule::Structured { recurrence, .. } => {
            structured(&mut rule, recurrence, schedule, &mut extensions);
        }
        Rule::Rfc(rfc) => general(&mut rule, &rfc.parts),
    }
    match schedule.end() {
        End::Never => {}
        End::Count(n) => {
            let _ = write!(rule, ";COUNT={n}");
        }
        End::Until(date) => {
            // The last second of the until date in the zone, as UTC (RFC 5545 wants UTC with a
            // TZID): one second before the next day starts, which a gap cannot push past it.
            let next_day = date
                .succ_opt()
                .unwrap_or(date)
                .and_time(chrono::NaiveTime::MIN);
            let last = zone::resolve_local(zone, next_day) - chrono::TimeDelta::seconds(1);
            let _ = write!(rule, ";UNTIL={}Z", date_time(last.naive_utc()));
            // The civil date itself, which the instant only approximates (a gap that crosses
            // midnight can move the date's last occurrence past it).
            if !matches!(schedule.recurrence(), Some(Recurrence::Once { .. })) {
                extensions.push(format!("X-RD-UNTIL:{}", self::date(date)));
            }
        }
        End::UntilInstant(t) => {
            let _ = write!(rule, ";UNTIL={}Z", date_time(t.naive_utc()));
        }
    }
    if !matches!(schedule.recurrence(), Some(Recurrence::Once { .. })) {
        out.push('\n');
        out.push_str(&rule);
    }
    let calendar = schedule.calendar();
    // A calendar other than the default is written even where the rule does not use it, as
    // the JSON form keeps it: what was given comes back.
    if *calendar != crate::WorkingCalendar::default() {
        let weekend: Vec<&str> = calendar.weekend().map(weekday).collect();
        let holidays: Vec<String> = calendar.holidays().map(date).collect();
        let working: Vec<String> = calendar.working_days().map(date).collect();
        extensions.push(format!(
            "X-RD-CALENDAR:WEEKEND={};HOLIDAYS={};WORKDAYS={}",
            weekend.join(","),
            holidays.join(","),
            working.join(",")
        ));
    }
    if schedule.recurrence().is_some_and(Recurrence::uses_calendar)
        || schedule.adjustment() != Adjustment::None
    {
        let adjustment = match schedule.adjustment() {
            Adjustment::None => None,
            Adjustment::Following => Some("FOLLOWING"),
            Adjustment::Preceding => Some("PRECEDING"),
            Adjustment::ModifiedFollowing => Some("MODIFIED-FOLLOWING"),
        };
        if let Some(adjustment) = adjustment {
            extensions.push(format!("X-RD-ADJUST:{adjustment}"));
        }
    }
    let dates = |times: Vec<NaiveDateTime>| {
        times
            .into_iter()
            .map(date_time)
            .collect::<Vec<_>>()
            .join(",")
    };
    // The one-off's EXDATE removes every instance it names (RFC 5545 §3.8.5.1), extra dates
    // included: when an extra date happens at the one-off's instant (an adjustment moved the
    // one-off onto it), the one-off is named by its nominal local time (DTSTART) instead.
    let mut one_off_local = None;
    if let Some(at) = one_off {
        let collides = extra_at.contains(&at)
            || extra
                .iter()
                .any(|local| zone::resolve_local(zone, *local) == at);
        let start_at = zone::resolve_local(zone, start);
        let local_collides = extra_at.contains(&start_at)
            || extra
                .iter()
                .any(|local| *local == start || zone::resolve_local(zone, *local) == start_at);
        if collides && !local_collides {
            one_off_local = Some(start);
            one_off = None;
        }
    }
    let moved: Vec<(NaiveDateTime, NaiveDateTime)> = schedule.moved().collect();
    let mut exdates: Vec<NaiveDateTime> = schedule.skipped().collect();
    exdates.extend(one_off_local);
    exdates.extend(moved.iter().map(|(from, _)| *from));
    exdates.sort_unstable();
    let mut rdates: Vec<NaiveDateTime> = extra;
    rdates.extend(moved.iter().map(|(_, to)| *to));
    rdates.sort_unstable();
    let tzid = if zone == Zone::UTC {
        String::new()
    } else {
        format!(";TZID={}", zone.name())
    };
    if !exdates.is_empty() {
        let _ = write!(out, "\nEXDATE{tzid}:{}", dates(exdates));
    }
    // Exceptions given as instants are written as instants, in UTC.
    let instants = |times: Vec<DateTime<Utc>>| {
        times
            .into_iter()
            .map(|t| format!("{}Z", date_time(t.naive_utc())))
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut skipped_at: Vec<DateTime<Utc>> = schedule.skipped_instants().collect();
    skipped_at.extend(one_off);
    skipped_at.sort_unstable();
    skipped_at.dedup();
    if !skipped_at.is_empty() {
        let _ = write!(out, "\nEXDATE:{}", instants(skipped_at));
    }
    if !rdates.is_empty() {
        let _ = write!(out, "\nRDATE{tzid}:{}", dates(rdates));
    }
    if !extra_at.is_empty() {
        let _ = write!(out, "\nRDATE:{}", instants(extra_at));
    }
    for (from, to) in moved {
        extensions.push(format!("X-RD-MOVE:{}/{}", date_time(from), date_time(to)));
    }
    for line in extensions {
        out.push('\n');
        out.push_str(&line);
    }
    out
}

/// The instant of a one-off's occurrence when the schedule's end excludes it (the schedule
/// then holds only extra dates). A one-off is written as DTSTART alone, which RFC 5545
/// always counts as an occurrence, so it is written as skipped too.
fn one_off_past_end(schedule: &Schedule, start: NaiveDateTime) -> Option<DateTime<Utc>> {
    let Some(Recurrence::Once { .. }) = schedule.recurrence() else {
        return None;
    };
    let day = schedule
        .calendar()
        .adjust(crate::civil::days_of(start.date()), schedule.adjustment());
    let date = crate::civil::date_of(day)?;
    let at = zone::resolve_local(schedule.zone(), date.and_time(schedule.time()));
    let past = match schedule.end() {
        End::Until(until) => date > until,
        End::UntilInstant(t) => at > t,
        End::Never | End::Count(_) => false,
    };
    past.then_some(at)
}

fn structured(
    rule: &mut String,
    recurrence: &Recurrence,
    schedule: &Schedule,
    extensions: &mut Vec<String>,
) {
    let interval = |rule: &mut String, n: u32| {
        if n != 1 {
            let _ = write!(rule, ";INTERVAL={n}");
        }
    };
    match *recurrence {
        Recurrence::Day { interval: n } => {
            rule.push_str("FREQ=DAILY");
            interval(rule, n.get());
        }
        Recurrence::WorkingDay { interval: n } => {
            // Other tools see the working weekdays; this crate reads the extension.
            let working: Vec<&str> = (0..7)
                .map(crate::civil::weekday_from_number)
                .filter(|d| !schedule.calendar().weekend().any(|w| w == *d))
                .map(weekday)
                .collect();
            let _ = write!(rule, "FREQ=DAILY;BYDAY={}", working.join(","));
            extensions.push(format!("X-RD-WORKDAYS:INTERVAL={}", n.get()));
        }
        Recurrence::Week {
            interval: n,
            on,
            week_start,
        } => {
            rule.push_str("FREQ=WEEKLY");
            interval(rule, n.get());
            let days: Vec<&str> = on.iter().map(weekday).collect();
            let _ = write!(rule, ";BYDAY={}", days.join(","));
            if week_start != Weekday::Mon {
                let _ = write!(rule, ";WKST={}", weekday(week_start));
            }
        }
        Recurrence::Month { interval: n, on } => {
            rule.push_str("FREQ=MONTHLY");
            interval(rule, n.get());
            month_day(rule, on, schedule.overflow(), extensions);
        }
        Recurrence::Year {
            interval: n,
            month,
            on,
        } => {
            rule.push_str("FREQ=YEARLY");
            interval(rule, n.get());
            let _ = write!(rule, ";BYMONTH={}", month.number_from_month());
            month_day(rule, on, schedule.overflow(), extensions);
        }
        Recurrence::Once { .. } => {}
    }
}

fn month_day(rule: &mut String, on: MonthDay, overflow: Overflow, extensions: &mut Vec<String>) {
    match on {
        MonthDay::Day(d) if overflow == Overflow::Clamp && d.get() > 28 => {
            let days: Vec<String> = (28..=d.get()).map(|d| d.to_string()).collect();
            let _ = write!(rule, ";BYMONTHDAY={};BYSETPOS=-1", days.join(","));
        }
        MonthDay::Day(d) => {
            let _ = write!(rule, ";BYMONTHDAY={}", d.get());
        }
        MonthDay::LastDay => rule.push_str(";BYMONTHDAY=-1"),
        MonthDay::Weekday {
            ordinal,
            weekday: w,
        } => {
            let _ = write!(rule, ";BYDAY={}{}", ordinal.number(), weekday(w));
        }
        MonthDay::WorkingDay(n) => {
            // Other tools see the Nth weekday Monday to Friday; this crate reads the extension.
            let _ = write!(rule, ";BYDAY=MO,TU,WE,TH,FR;BYSETPOS={}", n.get());
            extensions.push(format!("X-RD-MONTHDAY:WORKDAY={}", n.get()));
        }
    }
}

fn general(rule: &mut String, parts: &Parts) {
    let frequency = match parts.frequency {
        Frequency::Daily => "DAILY",
        Frequency::Weekly => "WEEKLY",
        Frequency::Monthly => "MONTHLY",
        Frequency::Yearly => "YEARLY",
    };
    let _ = write!(rule, "FREQ={frequency}");
    if parts.interval != 1 {
        let _ = write!(rule, ";INTERVAL={}", parts.interval);
    }
    fn join<T: ToString>(values: &[T]) -> String {
        values
            .iter()
            .map(T::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }
    let mut part = |name: &str, values: String| {
        if !values.is_empty() {
            let _ = write!(rule, ";{name}={values}");
        }
    };
    part("BYMONTH", join(&parts.by_month));
    part("BYWEEKNO", join(&parts.by_week_no));
    part("BYYEARDAY", join(&parts.by_year_day));
    part("BYMONTHDAY", join(&parts.by_month_day));
    let days: Vec<String> = parts
        .by_day
        .iter()
        .map(|d| {
            if d.ordinal == 0 {
                weekday(d.weekday).to_owned()
            } else {
                format!("{}{}", d.ordinal, weekday(d.weekday))
            }
        })
        .collect();
    part("BYDAY", days.join(","));
    part("BYHOUR", join(&parts.by_hour));
    part("BYMINUTE", join(&parts.by_minute));
    part("BYSECOND", join(&parts.by_second));
    part("BYSETPOS", join(&parts.by_set_pos));
    if parts.week_start != Weekday::Mon {
        part("WKST", weekday(parts.week_start).to_owned());
    }
}

fn weekday(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "MO",
        Weekday::Tue => "TU",
        Weekday::Wed => "WE",
        Weekday::Thu => "TH",
        Weekday::Fri => "FR",
        Weekday::Sat => "SA",
        Weekday::Sun => "SU",
    }
}

fn date_time(t: NaiveDateTime) -> String {
    t.format("%Y%m%dT%H%M%S").to_string()
}

fn date(d: NaiveDate) -> String {
    d.format("%Y%m%d").to_string()
}
