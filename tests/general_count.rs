//! COUNT on general rules (several times a day, or zones that skip a civil day) against an
//! independent model, walking from DTSTART and seeking from anywhere.
//!
//! The model expands the rule with the rrule crate in floating time, resolves each local time
//! with jiff's bundled tzdb (a gap moves a time forward, an overlap takes the earlier instant:
//! jiff's `compatible`), drops the times that have no instant of their own (a civil day the
//! zone skipped, a time a gap moved onto or before the previous instant) and takes `COUNT` of
//! the rest, as RFC 5545 §3.3.10 counts. The crate counts positions arithmetically and walks
//! only the days around offset changes; a bound off by one anywhere shows as a missing or
//! extra last occurrence, a seek numbered wrongly as a different series after it.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Timelike, Utc};
use proptest::prelude::*;
use proptest::sample::select;
use recurring_deals::Schedule;

/// Zones with DST gaps (some of 30 minutes), and zones that skipped a civil day.
const ZONES: [&str; 7] = [
    "America/New_York",
    "Europe/Berlin",
    "Australia/Lord_Howe",
    "America/Sao_Paulo",
    "Asia/Tehran",
    "Pacific/Apia",
    "Pacific/Kiritimati",
];

/// Rules with several times a day around the hours DST changes happen at, and one-a-day
/// rules for the zones that skipped a day.
const RULES: [&str; 7] = [
    "FREQ=DAILY;BYHOUR=0,2,3;BYMINUTE=0,30",
    "FREQ=DAILY;BYHOUR=1,2",
    "FREQ=WEEKLY;BYDAY=SA,SU;BYHOUR=0,1,2,3",
    "FREQ=MONTHLY;BYDAY=SU,FR;BYHOUR=2,3;BYMINUTE=30",
    "FREQ=YEARLY;BYMONTH=3,4,9,10,11,12;BYDAY=SU,SA;BYHOUR=1,2,3",
    "FREQ=DAILY;BYMONTH=12,1",
    "FREQ=DAILY;INTERVAL=3;BYHOUR=0,23",
];

/// The last supported civil date.
fn last_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2199, 12, 31).unwrap()
}

/// The model's series: up to `count` instants of `rule` from `start` in `zone`.
fn model(zone: &str, start: NaiveDateTime, rule: &str, count: usize) -> Vec<DateTime<Utc>> {
    let text = format!("DTSTART:{}Z\nRRULE:{rule}", start.format("%Y%m%dT%H%M%S"));
    let set: rrule::RRuleSet = text.parse().unwrap();
    let tz = jiff::tz::TimeZoneDatabase::bundled().get(zone).unwrap();
    let offset_of = |local: NaiveDateTime| {
        let civil = jiff::civil::DateTime::new(
            local.year() as i16,
            local.month() as i8,
            local.day() as i8,
            local.hour() as i8,
            local.minute() as i8,
            local.second() as i8,
            0,
        )
        .unwrap();
        tz.to_ambiguous_timestamp(civil).offset()
    };
    let in_gap =
        |local: NaiveDateTime| matches!(offset_of(local), jiff::tz::AmbiguousOffset::Gap { .. });
    let mut out: Vec<DateTime<Utc>> = Vec::new();
    for t in &set {
        if out.len() == count {
            break;
        }
        let local = t.naive_utc();
        if local.date() > last_day() {
            break;
        }
        let offset = match offset_of(local) {
            jiff::tz::AmbiguousOffset::Unambiguous { offset } => offset,
            // A gap moves the time forward by its length: the offset before it applies.
            jiff::tz::AmbiguousOffset::Gap { before, .. } => before,
            jiff::tz::AmbiguousOffset::Fold { before, .. } => before,
        };
        let day = local.date();
        let day_missing = in_gap(day.and_hms_opt(0, 0, 0).unwrap())
            && in_gap(day.and_hms_opt(23, 59, 59).unwrap());
        if day_missing {
            continue;
        }
        let at = local.and_utc() - chrono::TimeDelta::seconds(i64::from(offset.seconds()));
        if out.last().is_some_and(|&previous| previous >= at) {
            continue;
        }
        out.push(at);
    }
    out
}

fn start() -> impl Strategy<Value = NaiveDateTime> {
    let any_day =
        (1900..=2199i32, 1..=365u32).prop_map(|(y, d)| NaiveDate::from_yo_opt(y, d).unwrap());
    // Next to the days Apia (2011) and Kiritimati (1994) skipped.
    let near_jump = (select(vec![1994, 2011]), 340..=365u32)
        .prop_map(|(y, d)| NaiveDate::from_yo_opt(y, d).unwrap());
    (
        prop_oneof![3 => any_day, 1 => near_jump],
        select(vec![0u32, 1, 2, 3, 23]),
        select(vec![0u32, 30]),
    )
        .prop_map(|(day, h, m)| day.and_hms_opt(h, m, 0).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if std::env::var("RECURRING_DEALS_HEAVY").is_ok_and(|v| v == "1") { 1_500 } else { 150 },
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn count_matches_the_model_from_the_start_and_from_anywhere(
        zone in select(ZONES.to_vec()),
        rule in select(RULES.to_vec()),
        start in start(),
        count in prop_oneof![3 => 1..=40usize, 2 => 41..=3_000usize],
        picks in prop::collection::vec(any::<u64>(), 3),
    ) {
        let text = format!(
            "DTSTART;TZID={zone}:{}\nRRULE:{rule};COUNT={count}",
            start.format("%Y%m%dT%H%M%S")
        );
        let expected = model(zone, start, rule, count);
        let schedule = match Schedule::from_rrule(&text) {
            Ok(schedule) => schedule,
            Err(error) => {
                // Only a rule without an occurrence in the supported years is refused.
                prop_assert!(expected.is_empty(), "{text}: {error}");
                return Ok(());
            }
        };
        let walked: Vec<(u64, DateTime<Utc>)> =
            schedule.occurrences().map(|o| (o.seq(), o.at())).collect();
        let instants: Vec<DateTime<Utc>> = walked.iter().map(|&(_, at)| at).collect();
        prop_assert_eq!(&instants, &expected, "{}", text);
        for pick in picks {
            let Some(&anchor) = expected.get((pick % expected.len() as u64) as usize) else {
                continue;
            };
            // Just before, at, and a little after an occurrence.
            let after = anchor + chrono::TimeDelta::seconds((pick >> 40) as i64 % 7_200 - 3_600);
            // The same occurrences, numbered as the walk from the start numbers them.
            let sought: Vec<(u64, DateTime<Utc>)> =
                schedule.occurrences_after(after).map(|o| (o.seq(), o.at())).take(30).collect();
            let want: Vec<(u64, DateTime<Utc>)> =
                walked.iter().copied().filter(|&(_, t)| t > after).take(30).collect();
            prop_assert_eq!(&sought, &want, "{} after {}", text, after);
        }
    }
}
