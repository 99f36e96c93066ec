//! The heavy sweep: every zone of the bundled tz database, a daily rule from 1970-01-01 to
//! 2037-12-31 at several local times of day, each occurrence checked against jiff's own reading
//! of the zone's local times (its `AmbiguousOffset`, not the crate's flattened tables).
//!
//! For occurrence on civil date D at rule time T (local L = D T):
//! * L is unambiguous with offset o: the occurrence is at L − o;
//! * L is in an overlap (a fold): the earlier instant, L − offset_before;
//! * L is in a gap: the offset in force just before the gap applies, so the occurrence is at
//!   L − offset_before and its wall clock reads L + (offset_after − offset_before), the rule
//!   time moved forward by the gap's length.
//!
//! Every civil date from the start to the end has exactly one occurrence, `seq` = days since
//! the start, except dates a zone skipped entirely (Pacific/Apia 2011-12-30), which jiff
//! must confirm: no local time of that date exists. Instants strictly increase. Seeking from
//! one second before an occurrence finds it (every DST case, the date after a skipped one,
//! and every January 1st).
//!
//! Zones are spread over `available_parallelism` threads; the whole sweep is 74 million
//! occurrences.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};
use jiff::tz::{AmbiguousOffset, TimeZone};
use recurring_deals::Zone;
use recurring_deals::{End, Interval, Recurrence, Schedule};

/// Local times of day swept: midnight and half past (gaps at midnight in Santiago, Havana,
/// Asia/Tehran...; Monrovia's 44.5-minute gap), the usual 01:00-03:00 change hours, and an
/// ordinary business hour.
const TIMES: [(u32, u32); 5] = [(0, 0), (0, 30), (1, 30), (2, 30), (9, 0)];

/// Failure messages kept per zone and time (the rest are counted).
const KEEP: usize = 5;

#[derive(Default)]
struct Report {
    failures: Vec<String>,
    failure_count: usize,
    occurrences: u64,
    gaps: u64,
    overlaps: u64,
    missing_days: BTreeSet<(String, NaiveDate)>,
}

impl Report {
    fn fail(&mut self, message: String) {
        self.failure_count += 1;
        if self.failures.len() < 200 {
            self.failures.push(message);
        }
    }

    fn merge(&mut self, other: Report) {
        self.failure_count += other.failure_count;
        for message in other.failures {
            if self.failures.len() < 200 {
                self.failures.push(message);
            }
        }
        self.occurrences += other.occurrences;
        self.gaps += other.gaps;
        self.overlaps += other.overlaps;
        self.missing_days.extend(other.missing_days);
    }
}

#[test]
fn every_zone_daily_1970_to_2037() {
    let started = Instant::now();
    // The bundled release (the crate's default rules), not jiff's pick of the system folder.
    let db = jiff::tz::TimeZoneDatabase::bundled();
    let zones: Vec<String> = db
        .available()
        .map(|name| name.as_str().to_owned())
        .collect();
    assert!(zones.len() > 500, "{} zones", zones.len());
    let next = AtomicUsize::new(0);
    let total = Mutex::new(Report::default());
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut report = Report::default();
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(name) = zones.get(index) else {
                        break;
                    };
                    let zone = Zone::get(name).unwrap();
                    let oracle = db.get(name).unwrap();
                    for (h, m) in TIMES {
                        sweep(
                            zone,
                            &oracle,
                            NaiveTime::from_hms_opt(h, m, 0).unwrap(),
                            &mut report,
                        );
                    }
                }
                total.lock().unwrap().merge(report);
            });
        }
    });
    let report = total.into_inner().unwrap();
    eprintln!(
        "zone sweep: {} zones, {} occurrences ({} in gaps, {} in overlaps), {:?} on {threads} threads",
        zones.len(),
        report.occurrences,
        report.gaps,
        report.overlaps,
        started.elapsed(),
    );
    eprintln!("civil dates skipped by a zone: {:?}", report.missing_days);
    assert!(
        report.failure_count == 0,
        "{} failures, first ones:\n{}",
        report.failure_count,
        report.failures.join("\n")
    );
    // The sweep would pass vacuously if no zone's rule ever hit a gap, an overlap or a missing
    // day; these are known to exist in the range.
    assert!(report.gaps > 1000 && report.overlaps > 1000);
    // The dates whole zones jumped over in these years, per Python's zoneinfo (no instant
    // has a local date of the skipped day); aliases such as "Kwajalein" count on their own.
    let skipped: BTreeSet<(String, NaiveDate)> = [
        ("Kwajalein", (1993, 8, 21)),
        ("Pacific/Kwajalein", (1993, 8, 21)),
        ("Pacific/Enderbury", (1994, 12, 31)),
        ("Pacific/Kanton", (1994, 12, 31)),
        ("Pacific/Kiritimati", (1994, 12, 31)),
        ("Pacific/Apia", (2011, 12, 30)),
        ("Pacific/Fakaofo", (2011, 12, 30)),
    ]
    .into_iter()
    .map(|(zone, (y, m, d))| (zone.to_string(), NaiveDate::from_ymd_opt(y, m, d).unwrap()))
    .collect();
    assert_eq!(report.missing_days, skipped);
}

fn sweep(zone: Zone, oracle: &TimeZone, time: NaiveTime, report: &mut Report) {
    let first = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    let last = NaiveDate::from_ymd_opt(2037, 12, 31).unwrap();
    let schedule = Schedule::builder(Recurrence::daily(Interval::ONE), first.and_time(time), zone)
        .end(End::Until(last))
        .build()
        .unwrap_or_else(|e| panic!("{zone} {time}: {e}"));

    let mut failures = 0usize;
    let mut fail = |report: &mut Report, message: String| {
        failures += 1;
        if failures <= KEEP {
            report.fail(format!("{zone} {time}: {message}"));
        } else {
            report.failure_count += 1;
        }
    };
    let mut date = first;
    let mut previous: Option<DateTime<Utc>> = None;
    let mut after_missing = false;
    for occurrence in schedule.occurrences() {
        report.occurrences += 1;
        // Dates passed over must be dates the zone skipped entirely.
        while date < occurrence.date() {
            if day_missing(oracle, date) {
                report.missing_days.insert((zone.name().to_string(), date));
                after_missing = true;
            } else {
                fail(report, format!("no occurrence on {date}, which exists"));
            }
            date = date.succ_opt().unwrap();
        }
        if occurrence.date() != date {
            fail(
                report,
                format!("{occurrence:?} after {date} (two on one date?)"),
            );
            continue;
        }
        let seq = (date - first).num_days() as u64;
        if occurrence.seq() != seq {
            fail(report, format!("{occurrence:?}: seq should be {seq}"));
        }
        if previous.is_some_and(|p| p >= occurrence.at()) {
            fail(report, format!("{occurrence:?} not after {previous:?}"));
        }
        previous = Some(occurrence.at());

        let local = date.and_time(time);
        let mut seek = date.ordinal() == 1 || std::mem::take(&mut after_missing);
        let (expected, expected_wall) = match offsets(oracle, local) {
            AmbiguousOffset::Unambiguous { offset } => (
                (local - Duration::seconds(seconds(offset))).and_utc(),
                local,
            ),
            AmbiguousOffset::Fold { before, .. } => {
                report.overlaps += 1;
                seek = true;
                (
                    (local - Duration::seconds(seconds(before))).and_utc(),
                    local,
                )
            }
            AmbiguousOffset::Gap { before, after } => {
                report.gaps += 1;
                seek = true;
                if day_missing(oracle, date) {
                    fail(report, format!("{occurrence:?} on a date the zone skipped"));
                    date = date.succ_opt().unwrap();
                    continue;
                }
                let gap = seconds(after) - seconds(before);
                (
                    (local - Duration::seconds(seconds(before))).and_utc(),
                    local + Duration::seconds(gap),
                )
            }
        };
        if occurrence.at() != expected {
            fail(
                report,
                format!("{occurrence:?}: expected {expected} for {local}"),
            );
        }
        let wall = wall_of(oracle, occurrence.at());
        if wall != expected_wall {
            fail(
                report,
                format!("{occurrence:?} reads {wall}, expected {expected_wall}"),
            );
        }
        // Seeking from just before an occurrence (all DST ones, a sample of the rest) lands on
        // it with the same seq.
        if seek {
            let found = schedule
                .occurrences_after(occurrence.at() - Duration::seconds(1))
                .next();
            if found != Some(occurrence) {
                fail(
                    report,
                    format!("seek before {occurrence:?} found {found:?}"),
                );
            }
        }
        date = date.succ_opt().unwrap();
    }
    // The series runs to the end date (trailing skipped dates excepted).
    while date <= last {
        if day_missing(oracle, date) {
            report.missing_days.insert((zone.name().to_string(), date));
        } else {
            fail(report, format!("series ended before {date}"));
            break;
        }
        date = date.succ_opt().unwrap();
    }
}

/// jiff's reading of local time `local` in `tz`.
fn offsets(tz: &TimeZone, local: NaiveDateTime) -> AmbiguousOffset {
    tz.to_ambiguous_timestamp(civil(local)).offset()
}

fn civil(t: NaiveDateTime) -> jiff::civil::DateTime {
    jiff::civil::DateTime::new(
        t.year() as i16,
        t.month() as i8,
        t.day() as i8,
        t.hour() as i8,
        t.minute() as i8,
        t.second() as i8,
        0,
    )
    .unwrap()
}

fn seconds(offset: jiff::tz::Offset) -> i64 {
    i64::from(offset.seconds())
}

/// The wall clock of instant `at` in `tz`, as jiff reads it.
fn wall_of(tz: &TimeZone, at: DateTime<Utc>) -> NaiveDateTime {
    let offset = tz.to_offset(jiff::Timestamp::from_second(at.timestamp()).unwrap());
    at.naive_utc() + Duration::seconds(seconds(offset))
}

/// Whether no local time of `date` exists in `tz` (the zone jumped over the whole day).
fn day_missing(tz: &TimeZone, date: NaiveDate) -> bool {
    let midnight = date.and_time(NaiveTime::MIN);
    (0..24 * 60).all(|minute| {
        matches!(
            offsets(tz, midnight + Duration::minutes(minute)),
            AmbiguousOffset::Gap { .. }
        )
    }) && matches!(
        offsets(tz, date.and_hms_opt(23, 59, 59).unwrap()),
        AmbiguousOffset::Gap { .. }
    )
}
