//! Schedule expansion against the rrule crate (0.14), both built by the same bench profile
//! (LTO) and timed in the same run:
//!
//! * `next_12_after_100k_schedules_{never,count,until,mix}`: the next 12 occurrences after
//!   2031-06-15T00:00Z for 100,000 schedules parsed from RRULE text (daily, weekly, monthly;
//!   interval 1 to 4; UTC, Europe/Moscow, America/New_York; starts 2020 to 2030), one group
//!   per end: none, `COUNT` leaving 1 to 24 occurrences after the instant, `UNTIL` 1 to 400
//!   days after it, and a third of each. rrule has no seek, so it walks from DTSTART; this
//!   crate seeks by arithmetic.
//! * `stream_*`: occurrences yielded per second when iterating from the start.
//! * `parse_1000_texts`: `Schedule::from_rrule` against `RRuleSet::from_str`.
//! * `general_*`: general rules started in 1900 (`FREQ=DAILY;BYHOUR=0,12`, filtered daily and
//!   weekly rules, `BYWEEKNO`, `BYDAY` mixing plain and numbered weekdays): parsing with 100
//!   EXDATEs in 2199 (target <= 1 ms), the next 12 after 2026-11-29 against the same rule
//!   started a year before (target: within 10x), the same for `COUNT` with two times a day in
//!   America/New_York (whose end is found at parse), and rules that never occur (target
//!   <= 1 ms).
//!
//! Before anything is timed, each group asserts that both implementations produce the same
//! instants, so the comparison is between equal work.
//!
//! `cargo bench --bench schedules` (3 to 4 minutes on 2 shared cores).

use std::hint::black_box;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use recurring_deals::Schedule;
use rrule::RRuleSet;

/// The instant the 100k-schedule group asks about: after every generated start, so rrule walks
/// from DTSTART for each schedule.
fn query_instant() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2031, 6, 15, 0, 0, 0).unwrap()
}

/// Deterministic pseudo-random numbers (Knuth's MMIX LCG, high bits), so every run benches the
/// same schedules.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

const WEEKDAYS: [&str; 7] = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];

/// `count` DTSTART+RRULE texts. Times of day are 07:00 to 20:45, away from the night-time DST
/// gaps that rrule mishandles; weekly BYDAY sets contain the start's weekday, so DTSTART is an
/// occurrence under every reading of RFC 5545.
fn generated_texts(count: usize) -> Vec<String> {
    let first = NaiveDate::from_ymd_opt(2020, 1, 1).unwrap();
    generated_texts_between(count, first, NaiveDate::from_ymd_opt(2030, 12, 31).unwrap())
}

/// `generated_texts` with starts from `first` to `last`.
fn generated_texts_between(count: usize, first: NaiveDate, last: NaiveDate) -> Vec<String> {
    let mut rng = Lcg(0x5eed_2026);
    let days = (last - first).num_days() as u64 + 1;
    (0..count)
        .map(|_| {
            let date = first + chrono::Days::new(rng.below(days));
            let hour = 7 + rng.below(14);
            let minute = 15 * rng.below(4);
            let stamp = format!("{}T{hour:02}{minute:02}00", date.format("%Y%m%d"));
            let dtstart = match rng.below(3) {
                0 => format!("DTSTART:{stamp}Z"),
                1 => format!("DTSTART;TZID=Europe/Moscow:{stamp}"),
                _ => format!("DTSTART;TZID=America/New_York:{stamp}"),
            };
            let interval = 1 + rng.below(4);
            let rule = match rng.below(3) {
                0 => format!("FREQ=DAILY;INTERVAL={interval}"),
                1 => {
                    // Half plain weekly (DTSTART's weekday), half a random set with it.
                    let own = chrono::Datelike::weekday(&date).num_days_from_monday() as usize;
                    let mut rule = format!("FREQ=WEEKLY;INTERVAL={interval}");
                    if rng.below(2) == 1 {
                        let mask = rng.below(128) | (1 << own);
                        let days: Vec<&str> = (0..7)
                            .filter(|d| mask & (1 << d) != 0)
                            .map(|d| WEEKDAYS[d])
                            .collect();
                        rule.push_str(&format!(";BYDAY={}", days.join(",")));
                    }
                    rule
                }
                // DTSTART's day of month; 29 to 31 skip the months lacking it in both crates.
                _ => format!("FREQ=MONTHLY;INTERVAL={interval}"),
            };
            format!("{dtstart}\nRRULE:{rule}")
        })
        .collect()
}

fn ours(text: &str) -> Schedule {
    Schedule::from_rrule(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn theirs(text: &str) -> RRuleSet {
    text.parse()
        .unwrap_or_else(|e| panic!("rrule refuses {text}: {e}"))
}

/// This crate's next `n` instants strictly after `after`, as Unix seconds.
fn ours_after(schedule: &Schedule, after: DateTime<Utc>, n: usize) -> Vec<i64> {
    schedule
        .occurrences_after(after)
        .take(n)
        .map(|o| o.at().timestamp())
        .collect()
}

/// rrule's next `n` instants strictly after `after`: its iterator walked from DTSTART, dropping
/// what is at or before `after` (rrule's own `after` filter does the same walk inside `all`,
/// and is inclusive).
fn theirs_after(set: &RRuleSet, after: i64, n: usize) -> Vec<i64> {
    set.into_iter()
        .map(|d| d.timestamp())
        .skip_while(|&t| t <= after)
        .take(n)
        .collect()
}

/// How the 100k schedules of a `next_12_after_100k_schedules_*` group end.
#[derive(Clone, Copy)]
enum EndKind {
    /// No end.
    Never,
    /// `COUNT`, set so that 1 to 24 occurrences remain after the query instant: some schedules
    /// end within the 12 asked for, as real series do.
    Count,
    /// `UNTIL`, 1 to 400 days after the query instant (UTC, as RFC 5545 asks with `TZID`).
    Until,
    /// A third of each, chosen per schedule.
    Mix,
}

/// The texts of `generated_texts` given ends of `kind`. Counts are taken from the rrule crate's
/// walk of the same rule without an end, so the bound does not come from the crate measured.
fn with_ends(texts: &[String], kind: EndKind, after: DateTime<Utc>) -> Vec<String> {
    let mut rng = Lcg(0xe2d5_2026);
    let after_secs = after.timestamp();
    texts
        .iter()
        .map(|text| {
            let kind = match kind {
                EndKind::Mix => {
                    [EndKind::Never, EndKind::Count, EndKind::Until][rng.below(3) as usize]
                }
                kind => kind,
            };
            match kind {
                EndKind::Count => {
                    let before = theirs(text)
                        .into_iter()
                        .take_while(|d| d.timestamp() <= after_secs)
                        .count() as u64;
                    format!("{text};COUNT={}", before + 1 + rng.below(24))
                }
                EndKind::Until => {
                    let until = after + chrono::Days::new(1 + rng.below(400));
                    format!("{text};UNTIL={}", until.format("%Y%m%dT%H%M%SZ"))
                }
                _ => text.clone(),
            }
        })
        .collect()
}

fn next_12_after_100k(c: &mut Criterion) {
    const SCHEDULES: usize = 100_000;
    let after = query_instant();
    let after_secs = after.timestamp();
    let day_before = after.date_naive().pred_opt().unwrap();
    let old = generated_texts(SCHEDULES);
    // Started within the year before the instant (a CRM's usual case): rrule walks at most a
    // year, so the seek's fixed costs weigh most here.
    let recent =
        generated_texts_between(SCHEDULES, day_before - chrono::Days::new(364), day_before);
    for (name, base, kind) in [
        ("never", &old, EndKind::Never),
        ("count", &old, EndKind::Count),
        ("until", &old, EndKind::Until),
        ("mix", &old, EndKind::Mix),
        ("started_last_year_never", &recent, EndKind::Never),
        ("started_last_year_count", &recent, EndKind::Count),
        ("started_last_year_until", &recent, EndKind::Until),
        ("started_last_year_mix", &recent, EndKind::Mix),
    ] {
        let texts = with_ends(base, kind, after);
        let schedules: Vec<Schedule> = texts.iter().map(|t| ours(t)).collect();
        let sets: Vec<RRuleSet> = texts.iter().map(|t| theirs(t)).collect();

        // Same instants for every schedule, before anything is timed; without an end every
        // schedule has 12.
        let mut instants = 0;
        for ((text, schedule), set) in texts.iter().zip(&schedules).zip(&sets) {
            let expected = theirs_after(set, after_secs, 12);
            if matches!(kind, EndKind::Never) {
                assert_eq!(expected.len(), 12, "{text}");
            }
            assert_eq!(ours_after(schedule, after, 12), expected, "{text}");
            instants += expected.len();
        }
        assert!(instants > SCHEDULES * 6, "{name}: {instants} instants");

        let mut group = c.benchmark_group(format!("next_12_after_100k_schedules_{name}"));
        group
            .sample_size(10)
            .sampling_mode(SamplingMode::Flat)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(5))
            .throughput(Throughput::Elements(SCHEDULES as u64));
        group.bench_function("recurring_deals", |b| {
            b.iter(|| {
                let mut sum = 0i64;
                for schedule in &schedules {
                    for o in black_box(schedule).occurrences_after(after).take(12) {
                        sum = sum.wrapping_add(o.timestamp());
                    }
                }
                black_box(sum)
            })
        });
        group.bench_function("rrule", |b| {
            b.iter(|| {
                let mut sum = 0i64;
                for set in &sets {
                    for t in black_box(set)
                        .into_iter()
                        .map(|d| d.timestamp())
                        .skip_while(|&t| t <= after_secs)
                        .take(12)
                    {
                        sum = sum.wrapping_add(t);
                    }
                }
                black_box(sum)
            })
        });
        group.finish();
    }
}

/// Iterating from the start: (group, text, occurrences per iteration).
const STREAMS: [(&str, &str, usize); 5] = [
    (
        "stream_daily",
        "DTSTART;TZID=America/New_York:20240101T090000\nRRULE:FREQ=DAILY",
        1000,
    ),
    (
        "stream_weekly_mo_we_fr",
        "DTSTART;TZID=America/New_York:20240101T090000\nRRULE:FREQ=WEEKLY;BYDAY=MO,WE,FR",
        1000,
    ),
    (
        "stream_monthly_day_31",
        "DTSTART;TZID=America/New_York:20240131T090000\nRRULE:FREQ=MONTHLY;BYMONTHDAY=31",
        1000,
    ),
    (
        "stream_monthly_last_friday",
        "DTSTART;TZID=America/New_York:20240126T090000\nRRULE:FREQ=MONTHLY;BYDAY=-1FR",
        1000,
    ),
    (
        "stream_yearly_feb_29",
        "DTSTART;TZID=America/New_York:20240229T090000\nRRULE:FREQ=YEARLY",
        40,
    ),
];

fn streaming(c: &mut Criterion) {
    for (name, text, n) in STREAMS {
        let schedule = ours(text);
        let set = theirs(text);
        let mine: Vec<i64> = schedule
            .occurrences()
            .take(n)
            .map(|o| o.at().timestamp())
            .collect();
        let expected: Vec<i64> = set.into_iter().take(n).map(|d| d.timestamp()).collect();
        assert_eq!(expected.len(), n, "{name}");
        // rrule resolves zones with chrono-tz, which lists no DST after 2099: the instants
        // are the same work, and equal up to then.
        let until_2100 = |t: &&i64| **t < 4_102_444_800;
        assert_eq!(mine.len(), n, "{name}");
        assert!(
            mine.iter()
                .take_while(until_2100)
                .eq(expected.iter().take_while(until_2100)),
            "{name}"
        );

        let mut group = c.benchmark_group(name);
        group
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(4))
            .throughput(Throughput::Elements(n as u64));
        group.bench_function("recurring_deals", |b| {
            b.iter(|| {
                black_box(&schedule)
                    .occurrences()
                    .take(n)
                    .fold(0i64, |sum, o| sum.wrapping_add(o.at().timestamp()))
            })
        });
        group.bench_function("rrule", |b| {
            b.iter(|| {
                black_box(&set)
                    .into_iter()
                    .take(n)
                    .fold(0i64, |sum, d| sum.wrapping_add(d.timestamp()))
            })
        });
        group.finish();
    }
}

fn parsing(c: &mut Criterion) {
    const TEXTS: usize = 1000;
    let mut texts = generated_texts(TEXTS - STREAMS.len());
    texts.extend(STREAMS.iter().map(|(_, text, _)| text.to_string()));
    // Both read every text, and agree on its first occurrences.
    for text in &texts {
        let mine: Vec<i64> = ours(text)
            .occurrences()
            .take(5)
            .map(|o| o.at().timestamp())
            .collect();
        let expected: Vec<i64> = theirs(text)
            .into_iter()
            .take(5)
            .map(|d| d.timestamp())
            .collect();
        assert_eq!(mine, expected, "{text}");
    }

    let mut group = c.benchmark_group("parse_1000_texts");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(TEXTS as u64));
    group.bench_function("recurring_deals", |b| {
        b.iter(|| {
            for text in &texts {
                black_box(Schedule::from_rrule(black_box(text)).is_ok());
            }
        })
    });
    group.bench_function("rrule", |b| {
        b.iter(|| {
            for text in &texts {
                black_box(black_box(text).parse::<RRuleSet>().is_ok());
            }
        })
    });
    group.finish();
}

/// General rules (outside the structured vocabulary, listed from their day masks) started in
/// 1900 (issue #10, kind 5): parsing with 100 EXDATEs in 2199, the next 12 after "now" for a
/// rule started in 1900 and for the same rule started last year, and rules that never occur.
///
/// The rules: `FREQ=DAILY;BYHOUR=0,12`; filtered daily and weekly rules (whose periods are
/// counted at parse); a `BYWEEKNO` rule (weeks 1 and -1 reach into the adjacent years); `BYDAY`
/// lists mixing plain and numbered weekdays, which rrule intersects where RFC 5545 means the
/// union: rrule's side walks one set per kind of weekday and merges them (this crate lists the
/// union from one mask).
fn general_rules(c: &mut Criterion) {
    const RULES: [(&str, &str); 6] = [
        ("", "FREQ=DAILY;BYHOUR=0,12"),
        ("_daily_filtered", "FREQ=DAILY;BYMONTH=2,5;BYDAY=MO,WE"),
        (
            "_weekly_filtered",
            "FREQ=WEEKLY;INTERVAL=3;BYDAY=TU,TH;BYMONTH=1,7",
        ),
        (
            "_byweekno",
            "FREQ=YEARLY;BYWEEKNO=1,26,-1;BYDAY=MO,FR;WKST=SU",
        ),
        ("_mixed_monthly", "FREQ=MONTHLY;BYDAY=MO,1TU"),
        ("_mixed_yearly", "FREQ=YEARLY;BYDAY=FR,-1MO"),
    ];
    let now = Utc.with_ymd_and_hms(2026, 11, 29, 10, 0, 0).unwrap();
    for (label, rule) in RULES {
        // 100 EXDATEs naming occurrences in 2199: the rule's first 100 of that year, or its
        // last 100 when it has fewer there.
        let text = format!("DTSTART:19000101T000000\nRRULE:{rule}");
        let year_2199 = Utc.with_ymd_and_hms(2199, 1, 1, 0, 0, 0).unwrap();
        let mut named: Vec<i64> = ours_after(&ours(&text), year_2199, 100);
        if named.len() < 100 {
            let all: Vec<i64> = ours_after(&ours(&text), now, usize::MAX);
            named = all[all.len().saturating_sub(100)..].to_vec();
        }
        let mut with_exdates = format!("{text}\n");
        for at in &named {
            let at = DateTime::from_timestamp(*at, 0).unwrap();
            with_exdates.push_str(&format!("EXDATE:{}\n", at.format("%Y%m%dT%H%M%S")));
        }
        assert_eq!(ours(&with_exdates).skipped().count(), 100, "{rule}");
        let mut group = c.benchmark_group(format!("general_parse_100_exdates{label}"));
        group
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3));
        group.bench_function("recurring_deals", |b| {
            b.iter(|| black_box(Schedule::from_rrule(black_box(&with_exdates)).is_ok()))
        });
        group.bench_function("rrule", |b| {
            b.iter(|| {
                for text in split_mixed(&with_exdates) {
                    black_box(black_box(&text).parse::<RRuleSet>().is_ok());
                }
            })
        });
        group.finish();

        for (name, start) in [
            ("general_next_12_started_1900", "19000101T000000"),
            ("general_next_12_started_last_year", "20251129T000000"),
        ] {
            let text = format!("DTSTART:{start}Z\nRRULE:{rule}");
            let sets: Vec<RRuleSet> = split_mixed(&text).iter().map(|t| theirs(t)).collect();
            next_12_group(c, &format!("{name}{label}"), &text, &sets, now);
        }
    }

    // COUNT with two times a day in a DST zone: the count's end is found at parse (the days
    // around each offset change before it are walked), so a seek from 1900 is arithmetic.
    let count_rule = "RRULE:FREQ=DAILY;BYHOUR=0,12;COUNT=200000";
    let started_1900 = format!("DTSTART;TZID=America/New_York:19000101T000000\n{count_rule}");
    let mut group = c.benchmark_group("general_parse_count_new_york");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    group.bench_function("recurring_deals", |b| {
        b.iter(|| black_box(Schedule::from_rrule(black_box(&started_1900)).is_ok()))
    });
    group.bench_function("rrule", |b| {
        b.iter(|| black_box(black_box(&started_1900).parse::<RRuleSet>().is_ok()))
    });
    group.finish();
    for (name, start) in [
        (
            "general_next_12_started_1900_count_new_york",
            "19000101T000000",
        ),
        (
            "general_next_12_started_last_year_count_new_york",
            "20251129T000000",
        ),
    ] {
        let text = format!("DTSTART;TZID=America/New_York:{start}\n{count_rule}");
        next_12_group(c, name, &text, &[theirs(&text)], now);
    }

    // Never occur: refused as such by this crate; rrule looks through its loop limit.
    for (label, rule) in [
        ("", "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"),
        ("_byweekno", "FREQ=YEARLY;BYWEEKNO=53;BYMONTH=6"),
        (
            "_mixed",
            "FREQ=MONTHLY;BYMONTH=2;BYMONTHDAY=30,31;BYDAY=MO,1TU",
        ),
    ] {
        let empty = format!("DTSTART:19000101T090000\nRRULE:{rule}");
        assert!(Schedule::from_rrule(&empty).is_err(), "{rule}");
        let mut group = c.benchmark_group(format!("general_empty_rule{label}"));
        group
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3));
        group.bench_function("recurring_deals", |b| {
            b.iter(|| black_box(Schedule::from_rrule(black_box(&empty)).is_err()))
        });
        group.sample_size(10);
        group.bench_function("rrule", |b| {
            b.iter(|| {
                for text in split_mixed(black_box(&empty)) {
                    black_box(theirs(&text).into_iter().next().is_none());
                }
            })
        });
        group.finish();
    }
}

/// Times the next 12 occurrences after `now` of `text`: this crate's seek against rrule's
/// `sets` walked from DTSTART and merged, after checking that both give the same instants.
fn next_12_group(c: &mut Criterion, name: &str, text: &str, sets: &[RRuleSet], now: DateTime<Utc>) {
    let schedule = ours(text);
    assert_eq!(
        ours_after(&schedule, now, 12),
        theirs_merged_after(sets, now.timestamp(), 12),
        "{text}"
    );
    let mut group = c.benchmark_group(name);
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    group.bench_function("recurring_deals", |b| {
        b.iter(|| ours_after(black_box(&schedule), now, 12))
    });
    group.sample_size(10);
    group.bench_function("rrule", |b| {
        b.iter(|| theirs_merged_after(black_box(sets), now.timestamp(), 12))
    });
    group.finish();
}

/// The text as rrule must read it for RFC 5545's meaning: a `BYDAY` list mixing plain and
/// numbered weekdays becomes two texts, one per kind (rrule would intersect them).
fn split_mixed(text: &str) -> Vec<String> {
    let Some(at) = text.find("BYDAY=") else {
        return vec![text.to_owned()];
    };
    let rest = &text[at + 6..];
    let end = rest.find([';', '\n']).unwrap_or(rest.len());
    let days: Vec<&str> = rest[..end].split(',').collect();
    let (numbered, plain): (Vec<&str>, Vec<&str>) = days.iter().partition(|d| d.len() > 2);
    if numbered.is_empty() || plain.is_empty() {
        return vec![text.to_owned()];
    }
    [plain, numbered]
        .iter()
        .map(|days| format!("{}BYDAY={}{}", &text[..at], days.join(","), &rest[end..]))
        .collect()
}

/// rrule's next `n` instants strictly after `after` of several sets merged (each instant once).
fn theirs_merged_after(sets: &[RRuleSet], after: i64, n: usize) -> Vec<i64> {
    let mut all: Vec<i64> = sets
        .iter()
        .flat_map(|set| theirs_after(set, after, n))
        .collect();
    all.sort_unstable();
    all.dedup();
    all.truncate(n);
    all
}

criterion_group!(
    benches,
    next_12_after_100k,
    streaming,
    parsing,
    general_rules
);
criterion_main!(benches);
