//! Schedule expansion against the rrule crate (0.14), both built by the same bench profile
//! (LTO) and timed in the same run:
//!
//! * `next_12_after_100k_schedules`: the next 12 occurrences after 2031-06-15T00:00Z for
//!   100,000 schedules parsed from RRULE text (daily, weekly, monthly; interval 1 to 4; UTC,
//!   Europe/Moscow, America/New_York; starts 2020 to 2030). rrule has no seek, so it walks
//!   from DTSTART; this crate seeks by arithmetic.
//! * `stream_*`: occurrences yielded per second when iterating from the start.
//! * `parse_1000_texts`: `Schedule::from_rrule` against `RRuleSet::from_str`.
//! * `general_*`: a general rule (`FREQ=DAILY;BYHOUR=0,12`) started in 1900: parsing with 100
//!   EXDATEs in 2199 (target <= 1 ms), the next 12 after 2026-11-29 against the same rule
//!   started a year before (target: within 10x), and a rule that never occurs (target <= 1 ms).
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
    let mut rng = Lcg(0x5eed_2026);
    let first = NaiveDate::from_ymd_opt(2020, 1, 1).unwrap();
    let days = (NaiveDate::from_ymd_opt(2030, 12, 31).unwrap() - first).num_days() as u64 + 1;
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

fn next_12_after_100k(c: &mut Criterion) {
    const SCHEDULES: usize = 100_000;
    let texts = generated_texts(SCHEDULES);
    let schedules: Vec<Schedule> = texts.iter().map(|t| ours(t)).collect();
    let sets: Vec<RRuleSet> = texts.iter().map(|t| theirs(t)).collect();
    let after = query_instant();
    let after_secs = after.timestamp();

    // Same instants for every schedule, before anything is timed.
    for ((text, schedule), set) in texts.iter().zip(&schedules).zip(&sets) {
        let expected = theirs_after(set, after_secs, 12);
        assert_eq!(expected.len(), 12, "{text}");
        assert_eq!(ours_after(schedule, after, 12), expected, "{text}");
    }

    let mut group = c.benchmark_group("next_12_after_100k_schedules");
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
                    sum = sum.wrapping_add(o.at().timestamp());
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

/// General rules (outside the structured vocabulary, expanded with the rrule crate) started in
/// 1900 (issue #10, kind 5): parsing with 100 EXDATEs in 2199, the next 12 after "now" for a
/// rule started in 1900 and for the same rule started last year, and a rule that never occurs.
fn general_rules(c: &mut Criterion) {
    const RULE: &str = "RRULE:FREQ=DAILY;BYHOUR=0,12";
    let now = Utc.with_ymd_and_hms(2026, 11, 29, 10, 0, 0).unwrap();
    let mut with_exdates = format!("DTSTART:19000101T000000\n{RULE}\n");
    for day in 0..100 {
        let date = NaiveDate::from_ymd_opt(2199, 1, 1).unwrap() + chrono::Days::new(day);
        with_exdates.push_str(&format!("EXDATE:{}T120000\n", date.format("%Y%m%d")));
    }
    assert_eq!(ours(&with_exdates).skipped().count(), 100);
    let mut group = c.benchmark_group("general_parse_100_exdates");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    group.bench_function("recurring_deals", |b| {
        b.iter(|| black_box(Schedule::from_rrule(black_box(&with_exdates)).is_ok()))
    });
    group.bench_function("rrule", |b| {
        b.iter(|| black_box(black_box(&with_exdates).parse::<RRuleSet>().is_ok()))
    });
    group.finish();

    for (name, start) in [
        ("general_next_12_started_1900", "19000101T000000"),
        ("general_next_12_started_last_year", "20251129T000000"),
    ] {
        let text = format!("DTSTART:{start}Z\n{RULE}");
        let schedule = ours(&text);
        let set = theirs(&text);
        assert_eq!(
            ours_after(&schedule, now, 12),
            theirs_after(&set, now.timestamp(), 12),
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
            b.iter(|| theirs_after(black_box(&set), now.timestamp(), 12))
        });
        group.finish();
    }

    // Never occurs: refused as such by this crate; rrule looks through its loop limit.
    let empty = "DTSTART:19000101T090000\nRRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30";
    assert!(Schedule::from_rrule(empty).is_err());
    let mut group = c.benchmark_group("general_empty_rule");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    group.bench_function("recurring_deals", |b| {
        b.iter(|| black_box(Schedule::from_rrule(black_box(empty)).is_err()))
    });
    group.sample_size(10);
    group.bench_function("rrule", |b| {
        b.iter(|| black_box(theirs(black_box(empty)).into_iter().next().is_none()))
    });
    group.finish();
}

criterion_group!(
    benches,
    next_12_after_100k,
    streaming,
    parsing,
    general_rules
);
criterion_main!(benches);
