//! Differential tests against the rrule crate 0.14 (python-dateutil's algorithm in Rust).
//!
//! Random RFC 5545 rules (FREQ DAILY/WEEKLY/MONTHLY/YEARLY, INTERVAL 1..=4, BYMONTH,
//! BYMONTHDAY, BYDAY with and without ordinals, BYYEARDAY, BYWEEKNO, BYSETPOS, BYHOUR, WKST,
//! COUNT or UNTIL) are expanded by `Schedule::from_rrule` and by `rrule::RRuleSet` from the
//! same text, and the first occurrences must be the same instants.
//!
//! The rules stay where rrule 0.14 is a trustworthy oracle:
//!
//! * DTSTART in UTC (1990..=2040), or in Europe/Moscow from 2015 (no DST since 2014-10-26):
//!   rrule's own handling of DST gaps is not exercised.
//! * No ordinal BYDAY under DAILY or WEEKLY, no COUNT with UNTIL, no INTERVAL=0 (RFC 5545
//!   forbids them; rrule 0.14 misreads them).
//! * BYDAY either all plain or all with ordinals: rrule (like dateutil) intersects the plain
//!   weekdays with the ordinal ones, so `FREQ=MONTHLY;BYDAY=MO,-1WE` has no occurrence,
//!   where RFC 5545 means every Monday and the last Wednesday. See
//!   `byday_mixes_plain_and_ordinal_weekdays` in `tests/rfc5545_examples.rs`.
//! * rrule 0.14's validator refuses `-5` as a MONTHLY BYDAY ordinal and `±53` as a YEARLY one
//!   (it divides the day ranges by 7); RFC 5545 allows them, they are not generated.
//! * WEEKLY with BYSETPOS only with DTSTART on the WKST day: rrule (like dateutil) builds the
//!   first week's set from DTSTART instead of from the week's start, against RFC 5545
//!   §3.3.10 ("A set of recurrence instances starts at the beginning of the interval defined
//!   by the FREQ rule part"). See `weekly_bysetpos_counts_the_whole_first_week` in
//!   `tests/rfc5545_examples.rs`.
//!
//! * BYWEEKNO from -51 to 51: rrule (like dateutil) numbers the days before week 1 into the
//!   previous year's week 52 or 53 with the current year's length (1–2 Jan 2022 in a week 53
//!   2021 does not have), and gives next year's week 1 no negative number. Every week
//!   number is checked against an ISO 8601 week model in `tests/general_rules.rs`.
//!
//! The crate's supported years end at 2199-12-31, so rrule's occurrences are compared up to
//! that date.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeDelta, Timelike, Utc, Weekday};
use proptest::prelude::*;
use proptest::sample::{select, subsequence};
use proptest::test_runner::FileFailurePersistence;
use recurring_deals::Zone;
use recurring_deals::{Schedule, ScheduleError};

/// How many occurrences are compared from the start of a series.
const FIRST: usize = 50;

/// How many occurrences are compared after a seek.
const AFTER: usize = 10;

/// `cases` cases, failures kept in `tests/differential.proptest-regressions` (the default
/// place needs a `lib.rs` beside the test file).
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Generated rules
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Freq {
    Daily,
    Weekly,
    Monthly,
    Yearly,
}

#[derive(Debug, Clone)]
enum EndPart {
    Never,
    Count(u32),
    /// UNTIL as a UTC date-time.
    Until(NaiveDateTime),
}

/// One RRULE, in the parts RFC 5545 allows for its frequency.
#[derive(Debug, Clone)]
struct Rule {
    freq: Freq,
    interval: u32,
    by_month: Vec<u32>,
    by_month_day: Vec<i32>,
    /// `(ordinal, weekday)`, ordinal 0 for none.
    by_day: Vec<(i32, Weekday)>,
    by_year_day: Vec<i32>,
    by_week_no: Vec<i32>,
    by_set_pos: Vec<i32>,
    by_hour: Vec<u32>,
    week_start: Option<Weekday>,
    end: EndPart,
}

/// A rule with its DTSTART (local wall clock in the zone of the text).
#[derive(Debug, Clone)]
struct Case {
    start: NaiveDateTime,
    rule: Rule,
}

impl Case {
    /// The DTSTART and RRULE lines, read by both implementations.
    fn text(&self, zone: Zone) -> String {
        let start = self.start.format("%Y%m%dT%H%M%S");
        let dtstart = if zone == Zone::UTC {
            format!("DTSTART:{start}Z")
        } else {
            format!("DTSTART;TZID={}:{start}", zone.name())
        };
        format!("{dtstart}\nRRULE:{}", self.rule.text())
    }
}

impl Rule {
    fn text(&self) -> String {
        fn list<T: ToString>(values: &[T]) -> String {
            values
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        }
        let freq = match self.freq {
            Freq::Daily => "DAILY",
            Freq::Weekly => "WEEKLY",
            Freq::Monthly => "MONTHLY",
            Freq::Yearly => "YEARLY",
        };
        let mut parts = vec![format!("FREQ={freq}")];
        if self.interval != 1 {
            parts.push(format!("INTERVAL={}", self.interval));
        }
        match &self.end {
            EndPart::Never => {}
            EndPart::Count(n) => parts.push(format!("COUNT={n}")),
            EndPart::Until(t) => parts.push(format!("UNTIL={}Z", t.format("%Y%m%dT%H%M%S"))),
        }
        let mut by = |name: &str, values: String| {
            if !values.is_empty() {
                parts.push(format!("{name}={values}"));
            }
        };
        by("BYMONTH", list(&self.by_month));
        by("BYWEEKNO", list(&self.by_week_no));
        by("BYYEARDAY", list(&self.by_year_day));
        by("BYMONTHDAY", list(&self.by_month_day));
        let days: Vec<String> = self
            .by_day
            .iter()
            .map(|&(n, d)| match n {
                0 => weekday_code(d).to_owned(),
                n => format!("{n}{}", weekday_code(d)),
            })
            .collect();
        by("BYDAY", days.join(","));
        by("BYHOUR", list(&self.by_hour));
        by("BYSETPOS", list(&self.by_set_pos));
        if let Some(w) = self.week_start {
            parts.push(format!("WKST={}", weekday_code(w)));
        }
        parts.join(";")
    }

    fn has_other_by_part(&self) -> bool {
        !(self.by_month.is_empty()
            && self.by_month_day.is_empty()
            && self.by_day.is_empty()
            && self.by_year_day.is_empty()
            && self.by_week_no.is_empty()
            && self.by_hour.is_empty())
    }
}

fn weekday_code(day: Weekday) -> &'static str {
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

const WEEKDAYS: [Weekday; 7] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];

/// A rule part present one time in `1 / every`.
fn sometimes<T: std::fmt::Debug + Clone + 'static>(
    every: u32,
    values: impl Strategy<Value = Vec<T>> + 'static,
) -> BoxedStrategy<Vec<T>> {
    prop_oneof![
        every.saturating_sub(1) => Just(Vec::new()),
        1 => values,
    ]
    .boxed()
}

/// Sorted distinct values (the order in the text does not matter to either side).
fn set_of<T: Ord + std::fmt::Debug + Clone + 'static>(
    item: impl Strategy<Value = T> + 'static,
    max: usize,
) -> BoxedStrategy<Vec<T>> {
    prop::collection::btree_set(item, 1..=max)
        .prop_map(|s| s.into_iter().collect())
        .boxed()
}

fn month_day() -> impl Strategy<Value = i32> {
    // Month ends and the days some months lack are where implementations differ.
    prop_oneof![
        3 => 1..=31i32,
        2 => 28..=31i32,
        2 => -31..=-1i32,
        2 => -3..=-1i32,
    ]
}

fn nonzero(range: std::ops::RangeInclusive<i32>) -> impl Strategy<Value = i32> {
    range.prop_filter("0 is not a position", |n| *n != 0)
}

/// Weekdays: all plain, or (when `ordinals` are given, one case out of two) all with an
/// ordinal from `ordinals`.
fn by_day(ordinals: Option<std::ops::RangeInclusive<i32>>) -> BoxedStrategy<Vec<(i32, Weekday)>> {
    let day = select(WEEKDAYS.to_vec());
    let entries = match ordinals {
        None => prop::collection::vec(day.prop_map(|d| (0, d)), 1..=3).boxed(),
        Some(range) => (
            prop::bool::ANY,
            prop::collection::vec((nonzero(range), day), 1..=3),
        )
            .prop_map(|(with_ordinals, mut v)| {
                if !with_ordinals {
                    v.iter_mut().for_each(|(n, _)| *n = 0);
                }
                v
            })
            .boxed(),
    };
    entries
        .prop_map(|mut v| {
            v.sort_by_key(|(n, d)| (*n, d.num_days_from_monday()));
            v.dedup();
            v
        })
        .boxed()
}

fn end_part() -> impl Strategy<Value = (u8, u32, i64, u32)> {
    // (kind, count, days to UNTIL, seconds of day of UNTIL)
    (0..5u8, 1..=60u32, 0..4000i64, 0..86_400u32)
}

fn start_in(years: std::ops::RangeInclusive<i32>) -> impl Strategy<Value = NaiveDateTime> {
    (
        years,
        1..=366u32,
        0..24u32,
        prop_oneof![3 => Just(0u32), 1 => Just(30u32), 1 => 0..60u32],
        prop_oneof![4 => Just(0u32), 1 => 0..60u32],
    )
        .prop_map(|(y, ordinal, h, m, s)| {
            let date = NaiveDate::from_yo_opt(y, ordinal)
                .unwrap_or_else(|| NaiveDate::from_yo_opt(y, 365).unwrap());
            date.and_hms_opt(h, m, s).unwrap()
        })
}

fn case(years: std::ops::RangeInclusive<i32>) -> impl Strategy<Value = Case> {
    let freq = select(vec![Freq::Daily, Freq::Weekly, Freq::Monthly, Freq::Yearly]);
    (freq, prop::bool::ANY).prop_flat_map(move |(freq, month_scoped)| {
        // YEARLY ordinals count in the year, or in the month when BYMONTH is given.
        let month_day_part = match freq {
            Freq::Weekly => Just(Vec::new()).boxed(),
            _ => sometimes(3, set_of(month_day(), 3)),
        };
        let day_part = match freq {
            Freq::Daily | Freq::Weekly => sometimes(2, by_day(None)),
            // rrule 0.14 refuses -5 for MONTHLY (its range is -4..=5).
            Freq::Monthly => sometimes(2, by_day(Some(-4..=5))),
            Freq::Yearly if month_scoped => sometimes(2, by_day(Some(-4..=5))),
            // And ±53 for YEARLY (-52..=53; 53 exists only in some years).
            Freq::Yearly => sometimes(2, by_day(Some(-52..=52))),
        };
        let by_month = match freq {
            Freq::Yearly if month_scoped => set_of(1..=12u32, 3),
            // Ordinals in the year only mean that without BYMONTH.
            Freq::Yearly => Just(Vec::new()).boxed(),
            _ => sometimes(3, set_of(1..=12u32, 3)),
        };
        let yearly_only = |strategy: BoxedStrategy<Vec<i32>>| match freq {
            Freq::Yearly => sometimes(4, strategy),
            _ => Just(Vec::new()).boxed(),
        };
        let year_day = prop_oneof![nonzero(-366..=366), 58..=61i32, -3..=-1i32];
        // Not ±52/±53: there rrule 0.14 numbers weeks with the wrong year's length (see
        // the module notes).
        let week_no = prop_oneof![nonzero(-51..=51), Just(51), Just(1), Just(-1)];
        (
            (
                start_in(years.clone()),
                prop_oneof![3 => Just(1u32), 2 => 2..=4u32],
                by_month,
                month_day_part,
                day_part,
            ),
            (
                yearly_only(set_of(year_day, 3)),
                yearly_only(set_of(week_no, 2)),
                sometimes(
                    3,
                    set_of(prop_oneof![3 => nonzero(-3..=3), 1 => nonzero(-10..=10)], 2),
                ),
                sometimes(4, set_of(0..24u32, 3)),
                prop::option::weighted(0.4, select(WEEKDAYS.to_vec())),
                end_part(),
            ),
        )
            .prop_map(
                move |(
                    (start, interval, by_month, by_month_day, by_day),
                    (by_year_day, by_week_no, by_set_pos, by_hour, week_start, end),
                )| {
                    let mut rule = Rule {
                        freq,
                        interval,
                        by_month,
                        by_month_day,
                        by_day,
                        by_year_day,
                        by_week_no,
                        by_set_pos,
                        by_hour,
                        week_start,
                        end: EndPart::Never,
                    };
                    // RFC 5545: no BYDAY ordinal with BYWEEKNO; BYSETPOS only with another
                    // BYxxx part.
                    if !rule.by_week_no.is_empty() {
                        for (n, _) in &mut rule.by_day {
                            *n = 0;
                        }
                        rule.by_day.dedup();
                    }
                    if !rule.has_other_by_part() {
                        rule.by_set_pos.clear();
                    }
                    // rrule's first WEEKLY set starts at DTSTART (see the module docs).
                    if freq == Freq::Weekly && !rule.by_set_pos.is_empty() {
                        rule.week_start = Some(start.weekday());
                    }
                    let (kind, count, days, seconds) = end;
                    rule.end = match kind {
                        0 | 1 => EndPart::Never,
                        2 | 3 => EndPart::Count(count),
                        _ => EndPart::Until(
                            start + TimeDelta::days(days) + TimeDelta::seconds(i64::from(seconds)),
                        ),
                    };
                    Case { start, rule }
                },
            )
    })
}

/// The shape of the day in a monthly or yearly rule of `structured_case`.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// No BYxxx day: the day of DTSTART.
    FromStart,
    Day(i32),
    Last,
    /// `BYMONTHDAY=28,...,D;BYSETPOS=-1`: day D, or the month's last day when shorter.
    Clamp(i32),
    Nth(i32, Weekday),
}

/// Rules of the shapes the crate expands by arithmetic rather than through rrule: a plain
/// interval, weekdays of the week, one day of the month (or the last, or the clamp idiom) or
/// one weekday of the month, in one month for YEARLY; DTSTART anywhere (it need not be an
/// occurrence).
fn structured_case(years: std::ops::RangeInclusive<i32>) -> impl Strategy<Value = Case> {
    let shape = prop_oneof![
        Just(Shape::FromStart),
        (1..=31i32).prop_map(Shape::Day),
        (28..=31i32).prop_map(Shape::Day),
        Just(Shape::Last),
        (29..=31i32).prop_map(Shape::Clamp),
        (
            prop_oneof![Just(-1i32), 1..=4i32],
            select(WEEKDAYS.to_vec())
        )
            .prop_map(|(n, w)| Shape::Nth(n, w)),
    ];
    (
        (
            select(vec![Freq::Daily, Freq::Weekly, Freq::Monthly, Freq::Yearly]),
            start_in(years),
            prop_oneof![2 => Just(1u32), 3 => 2..=4u32],
            shape,
        ),
        (
            sometimes(4, subsequence(WEEKDAYS.to_vec(), 1..=7)),
            prop::option::weighted(0.8, 1..=12u32),
            prop::option::weighted(0.5, select(WEEKDAYS.to_vec())),
            prop::bool::weighted(0.2),
            end_part(),
        ),
    )
        .prop_map(
            |((freq, start, interval, shape), (weekdays, month, week_start, hour, end))| {
                let mut rule = Rule {
                    freq,
                    interval,
                    by_month: Vec::new(),
                    by_month_day: Vec::new(),
                    by_day: Vec::new(),
                    by_year_day: Vec::new(),
                    by_week_no: Vec::new(),
                    by_set_pos: Vec::new(),
                    by_hour: Vec::new(),
                    week_start,
                    end: EndPart::Never,
                };
                if freq == Freq::Weekly {
                    rule.by_day = weekdays.into_iter().map(|d| (0, d)).collect();
                }
                if matches!(freq, Freq::Monthly | Freq::Yearly) {
                    match shape {
                        Shape::FromStart => {}
                        Shape::Day(d) => rule.by_month_day = vec![d],
                        Shape::Last => rule.by_month_day = vec![-1],
                        Shape::Clamp(d) => {
                            rule.by_month_day = (28..=d).collect();
                            rule.by_set_pos = vec![-1];
                        }
                        Shape::Nth(n, w) => rule.by_day = vec![(n, w)],
                    }
                }
                if freq == Freq::Yearly {
                    rule.by_month = month.into_iter().collect();
                    // Without BYMONTH an ordinal counts in the year: keep it in the month.
                    if rule.by_month.is_empty() && !rule.by_day.is_empty() {
                        rule.by_month = vec![start.month()];
                    }
                }
                if hour {
                    rule.by_hour = vec![start.hour()];
                }
                let (kind, count, days, seconds) = end;
                rule.end = match kind {
                    0 | 1 => EndPart::Never,
                    2 | 3 => EndPart::Count(count),
                    _ => EndPart::Until(
                        start + TimeDelta::days(days) + TimeDelta::seconds(i64::from(seconds)),
                    ),
                };
                Case { start, rule }
            },
        )
}

/// The case in Moscow or UTC; a Moscow start before 2015 (when Moscow still changed its
/// offset) moves 28 years later, which keeps the calendar.
fn place(case: Case, moscow: bool) -> (Zone, Case) {
    if !moscow {
        return (Zone::UTC, case);
    }
    let mut case = case;
    if case.start.year() < 2015 {
        let later = |t: NaiveDateTime| t.with_year(t.year() + 28).unwrap();
        case.start = later(case.start);
        if let EndPart::Until(t) = &mut case.rule.end {
            *t = later(*t);
        }
    }
    (Zone::get("Europe/Moscow").unwrap(), case)
}

// ---------------------------------------------------------------------------------------------
// The two expansions
// ---------------------------------------------------------------------------------------------

/// The last instant the crate schedules in `zone`: the end of 2199-12-31 there.
fn horizon(zone: Zone) -> DateTime<Utc> {
    let last = NaiveDate::from_ymd_opt(2199, 12, 31)
        .unwrap()
        .and_hms_opt(23, 59, 59)
        .unwrap();
    recurring_deals::resolve_local(zone, last)
}

/// rrule's occurrences of `text`: at most `limit` from `after` on (inclusive, as rrule's
/// `after` is), up to the crate's horizon; and whether the list is complete (`false` when
/// rrule gave up at its loop limit before `limit` occurrences: only the prefix it found can
/// be compared).
fn oracle(
    text: &str,
    zone: Zone,
    after: Option<DateTime<Utc>>,
    limit: usize,
) -> Result<(Vec<DateTime<Utc>>, bool), String> {
    let set: rrule::RRuleSet = text
        .parse()
        .map_err(|e| format!("rrule refuses {text:?}: {e}"))?;
    let set = match after {
        Some(t) => set.after(t.with_timezone(&rrule::Tz::UTC)),
        None => set,
    };
    let result = set.all(u16::try_from(limit).unwrap());
    let end = horizon(zone);
    let complete = !result.limited || result.dates.len() == limit;
    let dates: Vec<DateTime<Utc>> = result
        .dates
        .into_iter()
        .map(|d| d.with_timezone(&Utc))
        .take_while(|d| *d <= end)
        .collect();
    Ok((dates, complete))
}

/// How many rrule occurrences are at or before `t` (`None` when too many to count).
fn oracle_count_through(text: &str, t: DateTime<Utc>) -> Option<u64> {
    let set: rrule::RRuleSet = text.parse().ok()?;
    let mut n = 0u64;
    for d in set.limit().into_iter() {
        if d.with_timezone(&Utc) > t {
            return Some(n);
        }
        n += 1;
        if n > 200_000 {
            return None;
        }
    }
    Some(n)
}

/// Compares the first occurrences of `case` in `zone`.
fn compare_from_start(case: &Case, zone: Zone) -> Result<(), TestCaseError> {
    let text = case.text(zone);
    let (expected, complete) = oracle(&text, zone, None, FIRST).map_err(TestCaseError::fail)?;
    let schedule = match Schedule::from_rrule(&text) {
        Ok(schedule) => schedule,
        Err(ScheduleError::NoOccurrence) => {
            prop_assert!(
                expected.is_empty(),
                "{text}\ncrate: no occurrence; rrule: {expected:?}"
            );
            return Ok(());
        }
        Err(e) => return Err(TestCaseError::fail(format!("{text}\ncrate refuses: {e}"))),
    };
    let take = if complete { FIRST } else { expected.len() };
    let actual: Vec<_> = schedule.occurrences().take(take).collect();
    let instants: Vec<DateTime<Utc>> = actual.iter().map(|o| o.at()).collect();
    prop_assert!(
        instants == expected,
        "{text}\n{}",
        first_difference(&expected, &instants)
    );
    for (i, o) in actual.iter().enumerate() {
        // No exceptions and no skipped civil days in these zones: seq counts 0, 1, 2...
        prop_assert_eq!(o.seq(), i as u64, "{}", text);
        prop_assert_eq!(
            o.date(),
            o.at().with_timezone(&zone).date_naive(),
            "{}",
            text
        );
    }
    Ok(())
}

/// Compares the occurrences strictly after `t`.
fn compare_after(case: &Case, zone: Zone, t: DateTime<Utc>) -> Result<(), TestCaseError> {
    let text = case.text(zone);
    let Ok(schedule) = Schedule::from_rrule(&text) else {
        // Refusals are compared by the property from the start.
        return Ok(());
    };
    // rrule's `after` includes `t`; the crate's excludes it.
    let (mut expected, complete) =
        oracle(&text, zone, Some(t), AFTER + 1).map_err(TestCaseError::fail)?;
    expected.retain(|d| *d > t);
    expected.truncate(AFTER);
    let take = if complete { AFTER } else { expected.len() };
    let actual: Vec<_> = schedule.occurrences_after(t).take(take).collect();
    let instants: Vec<DateTime<Utc>> = actual.iter().map(|o| o.at()).collect();
    prop_assert!(
        instants == expected,
        "{text}\nafter {t}\n{}",
        first_difference(&expected, &instants)
    );
    // seq is the position in the whole series: the number of occurrences through `t`.
    if let Some(first) = actual.first()
        && let Some(before) = oracle_count_through(&text, t)
    {
        prop_assert_eq!(first.seq(), before, "{}\nafter {}", text, t);
    }
    Ok(())
}

fn first_difference(expected: &[DateTime<Utc>], actual: &[DateTime<Utc>]) -> String {
    let at = expected
        .iter()
        .zip(actual)
        .position(|(e, a)| e != a)
        .unwrap_or(expected.len().min(actual.len()));
    format!(
        "first difference at {at}: rrule {:?}, crate {:?} (rrule {} occurrences, crate {})",
        expected.get(at).map(ToString::to_string),
        actual.get(at).map(ToString::to_string),
        expected.len(),
        actual.len()
    )
}

/// A seek target: near the start of the series (where the first occurrences are), on an
/// occurrence itself, or anywhere up to the horizon.
fn seek_target(case: &Case, zone: Zone, pick: (u8, i64, usize)) -> DateTime<Utc> {
    let start = recurring_deals::resolve_local(zone, case.start);
    let (kind, offset, index) = pick;
    match kind {
        // Within the first years of the series, seconds resolution.
        0..=3 => start + TimeDelta::seconds(offset.rem_euclid(4 * 366 * 86_400) - 2 * 86_400),
        // Exactly on one of the first occurrences (or the start when there are none).
        4 | 5 => {
            let text = case.text(zone);
            let listed = oracle(&text, zone, None, FIRST)
                .map(|(dates, _)| dates)
                .unwrap_or_default();
            listed
                .get(index % listed.len().max(1))
                .copied()
                .unwrap_or(start)
        }
        // Anywhere up to 2199.
        _ => {
            let end = horizon(zone);
            let span = (end - start).num_seconds().max(1);
            start + TimeDelta::seconds(offset.rem_euclid(span))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(3000))]

    /// UTC starts from 1990 to 2040: the first 50 occurrences are rrule's.
    #[test]
    fn utc_matches_rrule(case in case(1990..=2040)) {
        compare_from_start(&case, Zone::UTC)?;
    }
}

proptest! {
    #![proptest_config(config(1000))]

    /// Europe/Moscow (UTC+3 since 2014-10-26, no DST) from 2015: the crate's zone handling
    /// gives rrule's instants.
    #[test]
    fn moscow_matches_rrule(case in case(2015..=2040)) {
        compare_from_start(&case, Zone::get("Europe/Moscow").unwrap())?;
    }
}

proptest! {
    #![proptest_config(config(1500))]

    /// `occurrences_after(t)` is rrule's `after(t)` without `t` itself, and numbers the
    /// occurrences as in the whole series.
    #[test]
    fn seek_matches_rrule(
        case in case(1990..=2040),
        moscow in prop::bool::weighted(0.3),
        pick in (0..8u8, any::<i64>(), any::<usize>()),
    ) {
        let (zone, case) = place(case, moscow);
        let t = seek_target(&case, zone, pick);
        compare_after(&case, zone, t)?;
    }
}

proptest! {
    #![proptest_config(config(1500))]

    /// The rules the crate expands by arithmetic (one day of the month, the clamp idiom, one
    /// weekday of the month, weekdays of the week, DTSTART not on the rule), from the start
    /// and after a seek.
    #[test]
    fn structured_shapes_match_rrule(
        case in structured_case(1990..=2040),
        moscow in prop::bool::weighted(0.3),
        pick in (0..8u8, any::<i64>(), any::<usize>()),
    ) {
        let (zone, case) = place(case, moscow);
        compare_from_start(&case, zone)?;
        let t = seek_target(&case, zone, pick);
        compare_after(&case, zone, t)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Checks of the harness itself
// ---------------------------------------------------------------------------------------------

#[test]
fn generated_text_is_what_rrule_reads() {
    // The text format both sides read: one RFC example (§3.8.5.3, "Monthly on the first
    // Friday for 10 occurrences") written by the generator's writer, in UTC.
    let case = Case {
        start: NaiveDate::from_ymd_opt(1997, 9, 5)
            .unwrap()
            .and_hms_opt(13, 0, 0)
            .unwrap(),
        rule: Rule {
            freq: Freq::Monthly,
            interval: 1,
            by_month: vec![],
            by_month_day: vec![],
            by_day: vec![(1, Weekday::Fri)],
            by_year_day: vec![],
            by_week_no: vec![],
            by_set_pos: vec![],
            by_hour: vec![],
            week_start: None,
            end: EndPart::Count(10),
        },
    };
    let text = case.text(Zone::UTC);
    assert_eq!(
        text,
        "DTSTART:19970905T130000Z\nRRULE:FREQ=MONTHLY;COUNT=10;BYDAY=1FR"
    );
    let (dates, complete) = oracle(&text, Zone::UTC, None, FIRST).unwrap();
    assert!(complete);
    let days: Vec<String> = dates.iter().map(|d| d.date_naive().to_string()).collect();
    assert_eq!(
        days,
        [
            "1997-09-05",
            "1997-10-03",
            "1997-11-07",
            "1997-12-05",
            "1998-01-02",
            "1998-02-06",
            "1998-03-06",
            "1998-04-03",
            "1998-05-01",
            "1998-06-05"
        ]
    );
    assert_eq!(
        case.text(Zone::get("Europe/Moscow").unwrap()),
        "DTSTART;TZID=Europe/Moscow:19970905T130000\nRRULE:FREQ=MONTHLY;COUNT=10;BYDAY=1FR"
    );
    compare_from_start(&case, Zone::UTC).unwrap();
}
