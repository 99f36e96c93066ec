//! General RFC 5545 rules (outside the structured vocabulary) cost what one period costs:
//! seeking far from DTSTART, checking exceptions, and finding out that a rule never occurs
//! (issue #10, kind 5).
//!
//! * A table computed with python-dateutil 2.9 (`rrulestr(text)`, `len(between(..., after,
//!   inc=True))` for the `seq`, `xafter(after, count=3)` for the instants), an implementation
//!   independent of the rrule crate this crate walks with.
//! * Properties: rules started from 1900 seek like the rrule crate walking from DTSTART (UTC),
//!   and in DST zones seeking gives what walking gives, with COUNT and UNTIL; rules with
//!   `BYWEEKNO` or a `BYDAY` list mixing plain and numbered weekdays, started anywhere from
//!   1900 to 2199, give the rrule crate's series (merged for a mixed list) or, for
//!   `BYWEEKNO`, a brute-force walk over every day numbered by ISO 8601 weeks; seeks, `nth`
//!   and EXDATEs.
//! * ISO 8601 week numbers (issue #20, kind 2): every `BYWEEKNO` from -53 to 53 under every
//!   `WKST`, 1900–2199, against a week model built from chrono's dates (checked against
//!   chrono's own ISO week date for `WKST=MO`). The rrule crate and python-dateutil number the
//!   previous year's last week with the wrong year's length, so neither can serve here.

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveDateTime, TimeDelta, Timelike, Utc};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::FileFailurePersistence;
use recurring_deals::{Schedule, ScheduleError};

fn utc(text: &str) -> DateTime<Utc> {
    NaiveDateTime::parse_from_str(text, "%Y%m%dT%H%M%S")
        .unwrap()
        .and_utc()
}

/// (rule, after, seq of the first occurrence after, the next three instants) from dateutil;
/// instants past 2199-12-31 are outside the supported years and not expected.
const DATEUTIL: [(&str, &str, u64, [&str; 3]); 7] = [
    (
        "DTSTART:19000101T000000\nRRULE:FREQ=DAILY;BYHOUR=0,12",
        "20261129T100000",
        92707,
        ["20261129T120000", "20261130T000000", "20261130T120000"],
    ),
    (
        "DTSTART:19000115T093000\nRRULE:FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
        "20261129T100000",
        1522,
        ["20261130T093000", "20261231T093000", "20270129T093000"],
    ),
    (
        "DTSTART:19000101T090000\nRRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO",
        "20261129T100000",
        5,
        ["20440229T090000", "20720229T090000", "21120229T090000"],
    ),
    (
        "DTSTART:19030704T080000\nRRULE:FREQ=WEEKLY;INTERVAL=3;BYDAY=TU,SA;BYMONTH=1,7;BYHOUR=8,20",
        "21500101T000000",
        2908,
        ["21500113T080000", "21500113T200000", "21500117T080000"],
    ),
    (
        "DTSTART:19000101T000000\nRRULE:FREQ=YEARLY;BYYEARDAY=-1,100;BYHOUR=6,18;BYSETPOS=2,-1",
        "21990601T000000",
        599,
        ["21991231T180000", "", ""],
    ),
    (
        "DTSTART:19101231T230000\nRRULE:FREQ=MONTHLY;INTERVAL=5;BYMONTHDAY=-1,15;BYHOUR=23;BYMINUTE=0,30",
        "20991231T233000",
        1814,
        ["21000215T230000", "21000215T233000", "21000228T230000"],
    ),
    (
        "DTSTART:19000101T120000\nRRULE:FREQ=YEARLY;BYDAY=20MO,-1SU",
        "21000301T000000",
        400,
        ["21000517T120000", "21001226T120000", "21010516T120000"],
    ),
];

#[test]
fn seeks_far_from_dtstart_match_dateutil() {
    for (text, after, seq, next) in DATEUTIL {
        let schedule = Schedule::from_rrule(text).unwrap();
        let expected: Vec<DateTime<Utc>> = next
            .iter()
            .filter(|t| !t.is_empty())
            .map(|t| utc(t))
            .collect();
        let got: Vec<_> = schedule.occurrences_after(utc(after)).take(3).collect();
        let instants: Vec<_> = got.iter().map(|o| o.at()).collect();
        assert_eq!(instants, expected, "{text}");
        let seqs: Vec<u64> = got.iter().map(|o| o.seq()).collect();
        let expected_seqs: Vec<u64> = (seq..).take(expected.len()).collect();
        assert_eq!(seqs, expected_seqs, "{text}");
    }
}

/// Rules that never occur are refused at once, as never occurring (not after the rrule crate
/// looked through 100,000 empty periods).
#[test]
fn rules_that_never_occur_are_refused() {
    for rule in [
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
        "FREQ=MONTHLY;BYMONTHDAY=31;BYMONTH=4,6,9,11",
        "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=-30",
        "FREQ=YEARLY;BYMONTH=4;BYDAY=5MO,5TU;BYMONTHDAY=1,2,3",
        "FREQ=WEEKLY;BYMONTH=6;BYDAY=MO;BYSETPOS=2",
        "FREQ=YEARLY;BYYEARDAY=366;BYMONTH=1",
    ] {
        let text = format!("DTSTART:19000101T090000\nRRULE:{rule}");
        let started = std::time::Instant::now();
        assert_eq!(
            Schedule::from_rrule(&text).unwrap_err(),
            ScheduleError::NoOccurrence,
            "{rule}"
        );
        // Generous for a debug build on a shared machine; the bench measures the real cost.
        assert!(
            started.elapsed().as_millis() < 500,
            "{rule}: {:?}",
            started.elapsed()
        );
    }
    // A rule that occurs, but only past 2199, does not occur in the supported years either.
    assert_eq!(
        Schedule::from_rrule("DTSTART:21990301T090000\nRRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29")
            .unwrap_err(),
        ScheduleError::NoOccurrence
    );
}

/// 100 EXDATEs in 2199 on a rule started in 1900: each is checked by a seek, not a walk.
#[test]
fn exdates_far_from_dtstart() {
    let mut text = String::from("DTSTART:19000101T000000\nRRULE:FREQ=DAILY;BYHOUR=0,12\n");
    for day in 0..100 {
        let date = chrono::NaiveDate::from_ymd_opt(2199, 1, 1).unwrap() + chrono::Days::new(day);
        text.push_str(&format!("EXDATE:{}T120000\n", date.format("%Y%m%d")));
    }
    let schedule = Schedule::from_rrule(&text).unwrap();
    assert_eq!(schedule.skipped().count(), 100);
    let after = utc("21981231T235959");
    let next: Vec<_> = schedule.occurrences_after(after).take(3).collect();
    // 2199-01-01 00:00 (seq 218,190 = 2 × 109,095 days since 1900-01-01), then the noon
    // occurrences are skipped: their seq stays unused.
    let days = (chrono::NaiveDate::from_ymd_opt(2199, 1, 1).unwrap()
        - chrono::NaiveDate::from_ymd_opt(1900, 1, 1).unwrap())
    .num_days() as u64;
    let seqs: Vec<u64> = next.iter().map(|o| o.seq()).collect();
    assert_eq!(seqs, [2 * days, 2 * days + 2, 2 * days + 4]);
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

/// General rules of every shape the period arithmetic covers.
fn rule() -> impl Strategy<Value = String> {
    let rules = vec![
        "FREQ=DAILY;BYHOUR=0,12",
        "FREQ=DAILY;BYMONTH=2,3;BYMONTHDAY=1,-1;BYHOUR=9,21;BYSETPOS=-1",
        "FREQ=DAILY;BYDAY=MO,FR;BYHOUR=1,2,3",
        "FREQ=WEEKLY;BYDAY=MO,WE;BYHOUR=2,14",
        "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=1,-1",
        "FREQ=WEEKLY;BYMONTH=1,12;BYDAY=SA,SU;WKST=SU",
        "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
        "FREQ=MONTHLY;BYMONTHDAY=1,15,-1;BYHOUR=2,3",
        "FREQ=MONTHLY;BYDAY=2SU,-1FR",
        "FREQ=MONTHLY;BYMONTHDAY=29,30,31;BYSETPOS=1",
        "FREQ=YEARLY;BYMONTH=3,10;BYDAY=-1SU;BYHOUR=1,2,3",
        "FREQ=YEARLY;BYYEARDAY=1,100,-1;BYSETPOS=-2",
        "FREQ=YEARLY;BYDAY=1MO,-1SU",
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",
        "FREQ=YEARLY;BYMONTH=6;BYDAY=MO,TU;BYSETPOS=3,-3",
        "FREQ=YEARLY;BYWEEKNO=1,-1;BYDAY=MO,FR;WKST=SU",
        "FREQ=YEARLY;BYWEEKNO=20,53;BYHOUR=1,2,3",
    ];
    (select(rules), 1..=5u32, 0..3u8, 1..300u32).prop_map(|(rule, interval, end, n)| {
        let end = match end {
            0 => String::new(),
            1 => format!(";COUNT={n}"),
            _ => format!(";UNTIL={}0101T000000Z", 1961 + n % 239),
        };
        format!("{rule};INTERVAL={interval}{end}")
    })
}

fn start(years: std::ops::RangeInclusive<i32>) -> impl Strategy<Value = NaiveDateTime> {
    (years, 1..=365u32, 0..24u32, select(vec![0u32, 30])).prop_map(|(y, d, h, m)| {
        chrono::NaiveDate::from_yo_opt(y, d)
            .unwrap()
            .and_hms_opt(h, m, 0)
            .unwrap()
    })
}

proptest! {
    #![proptest_config(config(2000))]

    /// In UTC, seeking anywhere gives the rrule crate's walk from DTSTART (the ISO week walk
    /// for `BYWEEKNO`): the same instants and the `seq` they have in the whole series.
    #[test]
    fn seeks_from_1900_match_the_rrule_walk(
        rule in rule(),
        start in start(1900..=1960),
        at in 0..300 * 366 * 86_400i64,
    ) {
        // rrule (like dateutil) builds a weekly BYSETPOS rule's first week from DTSTART, not
        // from the week's start as RFC 5545 says: compare where both readings agree.
        let start = if rule.starts_with("FREQ=WEEKLY") && rule.contains("BYSETPOS") {
            start - chrono::Days::new(u64::from(chrono::Datelike::weekday(&start).num_days_from_monday()))
        } else {
            start
        };
        let text = format!("DTSTART:{}Z\nRRULE:{rule}", start.format("%Y%m%dT%H%M%S"));
        let schedule = match Schedule::from_rrule(&text) {
            Ok(s) => s,
            Err(ScheduleError::NoOccurrence | ScheduleError::UntilBeforeStart { .. }) => {
                return Ok(());
            }
            Err(e) => return Err(TestCaseError::fail(format!("{text}: {e}"))),
        };
        let after = start.and_utc() + TimeDelta::seconds(at);
        let horizon = utc("21991231T235959");
        // The rrule crate numbers some early-January days into a week 53 that year does
        // not have (issue #20, kind 2): week numbers are walked by the ISO week model.
        let walk: Vec<DateTime<Utc>> = if rule.contains("BYWEEKNO=") {
            byweekno_oracle(&text, horizon)
        } else {
            let set: rrule::RRuleSet = text.parse().unwrap();
            set.into_iter().map(|d| d.with_timezone(&Utc)).take_while(|d| *d <= horizon).collect()
        };
        let mut expected = Vec::new();
        for (seq, d) in walk.into_iter().enumerate() {
            if d > horizon || expected.len() == 5 {
                break;
            }
            if d > after {
                expected.push((seq as u64, d));
            }
        }
        let got: Vec<(u64, DateTime<Utc>)> = schedule
            .occurrences_after(after)
            .take(5)
            .map(|o| (o.seq(), o.at()))
            .collect();
        prop_assert_eq!(got, expected, "{}\nafter {}", text, after);
    }
}

proptest! {
    #![proptest_config(config(1000))]

    /// In zones with DST (gaps, overlaps, Apia's skipped day), seeking gives what walking from
    /// the start gives.
    #[test]
    fn seeks_match_the_walk_across_dst(
        rule in rule(),
        zone in select(vec!["America/New_York", "Europe/Berlin", "Australia/Sydney",
            "America/Santiago", "Pacific/Apia", "Australia/Lord_Howe"]),
        start in start(1990..=2040),
        at in 0..40 * 366 * 86_400i64,
    ) {
        let text = format!("DTSTART;TZID={zone}:{}\nRRULE:{rule}", start.format("%Y%m%dT%H%M%S"));
        let Ok(schedule) = Schedule::from_rrule(&text) else {
            return Ok(());
        };
        let after = start.and_utc() + TimeDelta::seconds(at);
        let walked: Vec<(u64, DateTime<Utc>)> = schedule
            .occurrences()
            .skip_while(|o| o.at() <= after)
            .take(5)
            .map(|o| (o.seq(), o.at()))
            .collect();
        let sought: Vec<(u64, DateTime<Utc>)> = schedule
            .occurrences_after(after)
            .take(5)
            .map(|o| (o.seq(), o.at()))
            .collect();
        prop_assert_eq!(sought, walked, "{}\nafter {}", text, after);
    }
}

// ---------------------------------------------------------------------------------------------
// BYWEEKNO and BYDAY lists mixing plain and numbered weekdays
// ---------------------------------------------------------------------------------------------

/// Rules with `BYWEEKNO` (±1..53, any `WKST`, with `BYMONTH`, `BYMONTHDAY`, `BYYEARDAY`, plain
/// `BYDAY`, `BYSETPOS`) or a `BYDAY` list mixing plain and numbered weekdays (MONTHLY and
/// YEARLY, in the month or the year), `INTERVAL` 1 to 5, COUNT, UNTIL or neither.
fn covered_rule() -> impl Strategy<Value = String> {
    let weekday = || select(vec!["MO", "TU", "WE", "TH", "FR", "SA", "SU"]);
    let week_no = prop_oneof![
        (1..=53i32).prop_map(|n| n.to_string()),
        (1..=53i32).prop_map(|n| (-n).to_string()),
        select(vec!["1", "-1", "52", "53", "-53", "1,53", "-1,1"]).prop_map(str::to_owned),
    ];
    let byweekno = (
        prop::collection::vec(week_no, 1..=2),
        prop::option::of(prop::collection::btree_set(weekday(), 1..=3)),
        select(vec![
            "",
            ";BYMONTH=1",
            ";BYMONTH=12,1",
            ";BYMONTH=6",
            ";BYMONTHDAY=1,-1,31",
            ";BYYEARDAY=1,2,3,-1,-2",
            ";BYSETPOS=1,-1",
            ";BYHOUR=0,12;BYSETPOS=-2",
        ]),
        weekday(),
    )
        .prop_map(|(weeks, days, extra, wkst)| {
            let days = days.map_or(String::new(), |d| {
                format!(";BYDAY={}", d.into_iter().collect::<Vec<_>>().join(","))
            });
            format!(
                "FREQ=YEARLY;BYWEEKNO={}{days}{extra};WKST={wkst}",
                weeks.join(",")
            )
        });
    let mixed = (
        select(vec!["MONTHLY", "YEARLY"]),
        prop::collection::btree_set(weekday(), 1..=2),
        prop::collection::vec((prop_oneof![-4..=-1i32, 1..=4i32], weekday()), 1..=2),
        select(vec![
            "",
            ";BYMONTH=2,8",
            ";BYMONTHDAY=1,2,3,4,5,6,7,-1",
            ";BYHOUR=8,20",
        ]),
        0..=1u8,
    )
        .prop_map(|(freq, plain, numbered, extra, year_scope)| {
            // YEARLY ordinals count in the year without BYMONTH: let them reach further.
            let scale = if freq == "YEARLY" && !extra.contains("BYMONTH=") && year_scope == 1 {
                10
            } else {
                1
            };
            let mut days: Vec<String> = plain.into_iter().map(str::to_owned).collect();
            days.extend(numbered.iter().map(|(n, d)| format!("{}{d}", n * scale)));
            format!("FREQ={freq};BYDAY={}{extra}", days.join(","))
        });
    (prop_oneof![byweekno, mixed], 1..=5u32, 0..3u8, 1..300u32).prop_map(
        |(rule, interval, end, n)| {
            let end = match end {
                0 => String::new(),
                1 => format!(";COUNT={n}"),
                // Years after DTSTART's, filled in by the test.
                _ => format!(";UNTIL=+{}", n % 60),
            };
            format!("{rule};INTERVAL={interval}{end}")
        },
    )
}

/// The week number of `day` for weeks starting `wkst` days after Monday, and how many weeks
/// its week-year has: week 1 is the week holding January 4th (so at least four days of its
/// year), and the week's fourth day names the week-year (ISO 8601; RFC 5545 §3.3.10 with
/// `WKST`).
fn week_of(day: NaiveDate, wkst: u32) -> (i64, i64) {
    let week_start = |d: NaiveDate| {
        d - Days::new(u64::from(
            (d.weekday().num_days_from_monday() + 7 - wkst) % 7,
        ))
    };
    let week_one = |year: i32| week_start(NaiveDate::from_ymd_opt(year, 1, 4).unwrap());
    let start = week_start(day);
    let year = (start + Days::new(3)).year();
    let n = (start - week_one(year)).num_days() / 7 + 1;
    let total = (week_one(year + 1) - week_one(year)).num_days() / 7;
    (n, total)
}

const WEEKDAYS: [&str; 7] = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];

/// A `FREQ=YEARLY;BYWEEKNO=…` rule of [`covered_rule`] walked by brute force: every day of
/// every `INTERVAL`-th year, kept when it passes each part (week numbers by [`week_of`]),
/// times from `BYHOUR` or DTSTART, `BYSETPOS` over the year's set, then DTSTART, UNTIL, the
/// horizon and COUNT.
fn byweekno_oracle(text: &str, horizon: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let (head, rule) = text.split_once("\nRRULE:").unwrap();
    let start = utc(head.trim_start_matches("DTSTART:").trim_end_matches('Z'));
    let part = |name: &str| {
        rule.split(';')
            .find_map(|p| p.strip_prefix(name)?.strip_prefix('='))
    };
    let numbers = |name: &str| -> Vec<i64> {
        part(name).map_or(Vec::new(), |v| {
            v.split(',').map(|n| n.parse().unwrap()).collect()
        })
    };
    let weeks = numbers("BYWEEKNO");
    let months = numbers("BYMONTH");
    let month_days = numbers("BYMONTHDAY");
    let year_days = numbers("BYYEARDAY");
    let set_pos = numbers("BYSETPOS");
    let hours = numbers("BYHOUR");
    let interval = numbers("INTERVAL").first().copied().unwrap_or(1);
    let count = numbers("COUNT").first().map(|&n| n as usize);
    let until = part("UNTIL").map(|u| utc(u.trim_end_matches('Z')));
    let days: Vec<u32> = part("BYDAY").map_or(Vec::new(), |v| {
        v.split(',')
            .map(|d| WEEKDAYS.iter().position(|w| *w == d).unwrap() as u32)
            .collect()
    });
    let wkst = WEEKDAYS
        .iter()
        .position(|w| *w == part("WKST").unwrap_or("MO"))
        .unwrap() as u32;
    let times: Vec<(u32, u32, u32)> = if hours.is_empty() {
        vec![(start.hour(), start.minute(), start.second())]
    } else {
        hours
            .iter()
            .map(|&h| (h as u32, start.minute(), start.second()))
            .collect()
    };
    let mut all = Vec::new();
    let mut year = start.year();
    while year <= horizon.year() {
        let first = NaiveDate::from_ymd_opt(year, 1, 1).unwrap();
        let year_len = NaiveDate::from_ymd_opt(year + 1, 1, 1)
            .unwrap()
            .signed_duration_since(first)
            .num_days();
        let mut set = Vec::new();
        for offset in 0..year_len {
            let day = first + Days::new(offset as u64);
            let month_len =
                NaiveDate::from_ymd_opt(year + (day.month() / 12) as i32, day.month() % 12 + 1, 1)
                    .unwrap()
                    .pred_opt()
                    .unwrap()
                    .day() as i64;
            let (n, total) = week_of(day, wkst);
            let month_day = i64::from(day.day());
            let year_day = offset + 1;
            let pass = weeks.iter().any(|&k| k == n || k == n - total - 1)
                && (months.is_empty() || months.contains(&i64::from(day.month())))
                && (month_days.is_empty()
                    || month_days
                        .iter()
                        .any(|&k| k == month_day || k == month_day - month_len - 1))
                && (year_days.is_empty()
                    || year_days
                        .iter()
                        .any(|&k| k == year_day || k == year_day - year_len - 1))
                && (days.is_empty() || days.contains(&day.weekday().num_days_from_monday()));
            if pass {
                for &(h, m, s) in &times {
                    set.push(day.and_hms_opt(h, m, s).unwrap().and_utc());
                }
            }
        }
        if !set_pos.is_empty() {
            let len = set.len() as i64;
            let mut picked: Vec<DateTime<Utc>> = set_pos
                .iter()
                .filter_map(|&p| {
                    let i = if p > 0 { p - 1 } else { len + p };
                    (0..len).contains(&i).then(|| set[i as usize])
                })
                .collect();
            picked.sort_unstable();
            picked.dedup();
            set = picked;
        }
        all.extend(
            set.into_iter()
                .filter(|t| *t >= start && *t <= horizon && until.is_none_or(|u| *t <= u)),
        );
        if count.is_some_and(|n| all.len() >= n) {
            break;
        }
        year += interval as i32;
    }
    if let Some(n) = count {
        all.truncate(n);
    }
    all
}

/// The rrule crate's reading of `text` as RFC 5545 means it: a `BYDAY` list mixing plain and
/// numbered weekdays is walked as two rules and merged (rrule alone intersects them), and a
/// COUNT counts the merged occurrences.
fn rrule_oracle(text: &str, horizon: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let (head, rule) = text.split_once("RRULE:").unwrap();
    let parts: Vec<&str> = rule.split(';').collect();
    let count: Option<usize> = parts
        .iter()
        .find_map(|p| p.strip_prefix("COUNT="))
        .map(|n| n.parse().unwrap());
    let without_count: Vec<&str> = parts
        .iter()
        .copied()
        .filter(|p| !p.starts_with("COUNT="))
        .collect();
    let days = without_count
        .iter()
        .find_map(|p| p.strip_prefix("BYDAY="))
        .unwrap_or("");
    let (numbered, plain): (Vec<&str>, Vec<&str>) = days
        .split(',')
        .filter(|d| !d.is_empty())
        .partition(|d| d.len() > 2);
    let kinds = if numbered.is_empty() || plain.is_empty() {
        vec![days.to_owned()]
    } else {
        vec![plain.join(","), numbered.join(",")]
    };
    let mut all = Vec::new();
    for kind in kinds {
        let rule: Vec<String> = without_count
            .iter()
            .map(|p| {
                if p.starts_with("BYDAY=") {
                    format!("BYDAY={kind}")
                } else {
                    (*p).to_owned()
                }
            })
            .collect();
        let set: rrule::RRuleSet = format!("{head}RRULE:{}", rule.join(";")).parse().unwrap();
        all.extend(
            set.into_iter()
                .map(|d| d.with_timezone(&Utc))
                .take_while(|d| *d <= horizon)
                .take(count.unwrap_or(usize::MAX)),
        );
    }
    all.sort_unstable();
    all.dedup();
    if let Some(n) = count {
        all.truncate(n);
    }
    all
}

proptest! {
    #![proptest_config(config(1500))]

    /// `BYWEEKNO` and mixed `BYDAY` rules started anywhere from 1900 to 2199, in UTC: the
    /// whole series (instants and `seq`) is the brute-force ISO week walk's (`BYWEEKNO`) or
    /// the rrule crate's (merged for a mixed list), a
    /// seek anywhere gives the rrule occurrences after it with the `seq` they have in the
    /// series, `nth` from the start gives the same occurrence, and an EXDATE on one
    /// occurrence removes exactly that one, leaving every other `seq` unchanged.
    #[test]
    fn byweekno_and_mixed_byday_match_rrule(
        rule in covered_rule(),
        start in start(1900..=2199),
        picks in (any::<u64>(), any::<u64>(), any::<u64>()),
    ) {
        let rule = match rule.split_once(";UNTIL=+") {
            Some((rule, years)) => {
                let year = (chrono::Datelike::year(&start) + years.parse::<i32>().unwrap()).min(2199);
                format!("{rule};UNTIL={year}0101T000000Z")
            }
            None => rule,
        };
        let text = format!("DTSTART:{}Z\nRRULE:{rule}", start.format("%Y%m%dT%H%M%S"));
        let horizon = utc("21991231T235959");
        if rule.contains("UNTIL=") && utc(&format!("{}T000000", &rule[rule.len() - 16..rule.len() - 8])) < start.and_utc() {
            return Ok(()); // UNTIL before DTSTART: refused by both
        }
        let expected = if rule.contains("BYWEEKNO=") {
            byweekno_oracle(&text, horizon)
        } else {
            rrule_oracle(&text, horizon)
        };
        let schedule = match Schedule::from_rrule(&text) {
            Ok(s) => s,
            Err(ScheduleError::NoOccurrence) => {
                prop_assert!(expected.is_empty(), "{}: refused, rrule has {:?}", text, expected.first());
                return Ok(());
            }
            Err(ScheduleError::UntilBeforeStart { .. }) => return Ok(()),
            Err(ScheduleError::Contradictory(e)) if e.contains("beyond what the rrule crate") => {
                return Ok(()); // ordinals rrule's validator refuses
            }
            Err(e) => return Err(TestCaseError::fail(format!("{text}: {e}"))),
        };
        let all: Vec<(u64, DateTime<Utc>)> =
            schedule.occurrences().map(|o| (o.seq(), o.at())).collect();
        let numbered: Vec<(u64, DateTime<Utc>)> =
            expected.iter().enumerate().map(|(i, d)| (i as u64, *d)).collect();
        prop_assert_eq!(&all, &numbered, "{}", text);
        if expected.is_empty() {
            return Ok(());
        }
        // Seeks: anywhere from DTSTART to the horizon, and exactly on an occurrence.
        let span = (horizon - start.and_utc()).num_seconds().max(1) as u64;
        let on = expected[(picks.1 % expected.len() as u64) as usize];
        for after in [start.and_utc() + TimeDelta::seconds((picks.0 % span) as i64), on] {
            let sought: Vec<(u64, DateTime<Utc>)> = schedule
                .occurrences_after(after)
                .take(5)
                .map(|o| (o.seq(), o.at()))
                .collect();
            let want: Vec<(u64, DateTime<Utc>)> =
                numbered.iter().copied().filter(|(_, d)| *d > after).take(5).collect();
            prop_assert_eq!(sought, want, "{}\nafter {}", text, after);
        }
        let k = (picks.2 % expected.len() as u64) as usize;
        prop_assert_eq!(schedule.occurrences().nth(k).map(|o| o.at()), Some(expected[k]), "{}", text);
        // An EXDATE on occurrence k.
        let with_exdate = format!("{text}\nEXDATE:{}Z", expected[k].format("%Y%m%dT%H%M%S"));
        let excepted = Schedule::from_rrule(&with_exdate).unwrap();
        let left: Vec<(u64, DateTime<Utc>)> =
            excepted.occurrences().map(|o| (o.seq(), o.at())).collect();
        let mut want = numbered.clone();
        want.remove(k);
        prop_assert_eq!(left, want, "{}", with_exdate);
    }
}

/// The week model of these tests is ISO 8601's: for `WKST=MO` it is chrono's ISO week date
/// on every day from 1900 to 2199.
#[test]
fn the_week_model_is_chronos_iso_week_date() {
    let mut day = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap();
    while day.year() < 2200 {
        let iso = day.iso_week();
        let (n, total) = week_of(day, 0);
        assert_eq!(n, i64::from(iso.week()), "{day}");
        let last = NaiveDate::from_isoywd_opt(iso.year(), 53, chrono::Weekday::Mon);
        assert_eq!(total, if last.is_some() { 53 } else { 52 }, "{day}");
        day = day.succ_opt().unwrap();
    }
}

/// Issue #20, kind 2: 2021 has no week 53, so 2 January 2022 (ISO 2021-W52-7) is not in
/// it; the next Sundays in a week 53 are in 2026-W53 and 2032-W53.
#[test]
fn week_53_is_iso_8601s() {
    let schedule = Schedule::from_rrule(
        "DTSTART:20210607T090000Z\nRRULE:FREQ=YEARLY;BYWEEKNO=53;BYDAY=SU;COUNT=2",
    )
    .unwrap();
    let dates: Vec<String> = schedule
        .occurrences()
        .map(|o| o.date().to_string())
        .collect();
    assert_eq!(dates, ["2027-01-03", "2033-01-02"]);
}

/// Every `BYWEEKNO` from -53 to 53 under every `WKST`, walked from 1900 to 2199: exactly
/// the days the week model numbers so, counted from either end of their week-year.
#[test]
fn every_week_number_under_every_wkst_is_iso_8601s() {
    let first = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap();
    let mut failures = Vec::new();
    for wkst in 0..7u32 {
        let mut expected: std::collections::BTreeMap<i64, Vec<NaiveDate>> = Default::default();
        let mut day = first;
        while day.year() < 2200 {
            let (n, total) = week_of(day, wkst);
            expected.entry(n).or_default().push(day);
            expected.entry(n - total - 1).or_default().push(day);
            day = day.succ_opt().unwrap();
        }
        for n in (-53..=53i64).filter(|&n| n != 0) {
            let text = format!(
                "DTSTART:19000101T000000Z\nRRULE:FREQ=YEARLY;BYWEEKNO={n};WKST={}",
                WEEKDAYS[wkst as usize]
            );
            let got: Vec<NaiveDate> = Schedule::from_rrule(&text)
                .unwrap()
                .occurrences()
                .map(|o| o.at().date_naive())
                .collect();
            let want = expected.remove(&n).unwrap_or_default();
            if got != want {
                let diff = got.iter().zip(&want).find(|(g, w)| g != w);
                failures.push(format!(
                    "{text}: {} days, want {}; first difference {diff:?}",
                    got.len(),
                    want.len()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Issue #20, kind 4: where RFC 5545 is silent, this crate reads as python-dateutil (and the
/// rrule crate, rrule.js) do, not as libical and ical.net do. RFC 5545 §3.3.10 derives from
/// DTSTART only "information, not contained in the rule"; its table marks `BYWEEKNO` and
/// `BYMONTHDAY` as *expanding* a YEARLY period, so the rule does contain the days:
///
/// * `BYWEEKNO` without `BYDAY` gives every day of the week (the RFC's own example,
///   `DTSTART:19970512` (a Monday) with `BYWEEKNO=20;BYDAY=MO`, spells out the weekday
///   DTSTART already has);
/// * YEARLY `BYMONTHDAY` without `BYMONTH` gives that day of every month;
/// * `INTERVAL` with `BYWEEKNO` counts calendar years (the YEARLY period), not ISO week-years.
///
/// Each choice keeps its meaning through `to_rrule` and back.
#[test]
fn where_rfc_5545_is_silent_the_choices_hold_and_round_trip() {
    let cases: [(&str, &[&str]); 3] = [
        (
            "DTSTART:20260105T090000Z\nRRULE:FREQ=YEARLY;BYWEEKNO=2;COUNT=7",
            &[
                "2026-01-05",
                "2026-01-06",
                "2026-01-07",
                "2026-01-08",
                "2026-01-09",
                "2026-01-10",
                "2026-01-11",
            ],
        ),
        (
            "DTSTART:20260115T090000Z\nRRULE:FREQ=YEARLY;BYMONTHDAY=15;COUNT=3",
            &["2026-01-15", "2026-02-15", "2026-03-15"],
        ),
        (
            // Calendar years 2026, 2028, 2030, 2032, 2034: the Mondays of their days in a
            // week 1 (2030-12-30 is in 2031-W01; 2026 and 2032 have none).
            "DTSTART:20261228T090000Z\nRRULE:FREQ=YEARLY;INTERVAL=2;BYWEEKNO=1;BYDAY=MO;COUNT=3",
            &["2028-01-03", "2030-12-30", "2034-01-02"],
        ),
    ];
    for (text, want) in cases {
        let schedule = Schedule::from_rrule(text).unwrap();
        let dates = |s: &Schedule| -> Vec<String> {
            s.occurrences().map(|o| o.date().to_string()).collect()
        };
        assert_eq!(dates(&schedule), want, "{text}");
        let written = schedule.to_rrule();
        let back = Schedule::from_rrule(&written).unwrap();
        assert_eq!(dates(&back), want, "{written}");
        assert_eq!(back.to_rrule(), written);
    }
}
