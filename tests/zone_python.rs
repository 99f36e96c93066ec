//! Offsets across the whole supported range, 1900 to 2199, against an implementation this
//! crate does not use: python's `zoneinfo` over the system tzdb (`tests/data/zone_offsets.py`),
//! which applies each zone's POSIX TZ rule past its last listed transition, as the tzdb
//! intends. chrono-tz alone stops daylight saving time after 2099 (issue #10, kind 9).
//!
//! Samples: every 17th local date at 00:30, 01:30, 02:30, 09:00 and 23:30, in 44 zones (the
//! usual ones, southern-hemisphere DST, DST at midnight, negative DST, half-hour DST, a skipped
//! day). A local time resolves to local − offset, with python's fold=0 offset: the one before
//! the transition in a gap and in an overlap, which is the crate's policy.
//!
//! Skips with a notice when python3 or the system tzdb is missing. Zones whose rules changed
//! between the tzdb releases of the system and of chrono-tz/jiff would differ; none of the
//! sample's did when this was written (system tzdata 2025b).

use std::process::Command;

use chrono::{Days, NaiveDate, NaiveDateTime};
use recurring_deals::Zone;
use recurring_deals::resolve_local;

const ZONES: [&str; 44] = [
    "America/New_York",
    "Europe/Berlin",
    "Australia/Sydney",
    "America/Santiago",
    "Pacific/Auckland",
    "Asia/Tehran",
    "Africa/Casablanca",
    "America/Havana",
    "Australia/Lord_Howe",
    "Pacific/Apia",
    "Europe/London",
    "Europe/Dublin",
    "Europe/Moscow",
    "Europe/Paris",
    "Europe/Kyiv",
    "Europe/Lisbon",
    "Europe/Chisinau",
    "Atlantic/Azores",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Phoenix",
    "America/Halifax",
    "America/St_Johns",
    "America/Sao_Paulo",
    "America/Asuncion",
    "America/Mexico_City",
    "America/Nuuk",
    "America/Scoresbysund",
    "Pacific/Easter",
    "Asia/Jerusalem",
    "Asia/Beirut",
    "Asia/Amman",
    "Asia/Kolkata",
    "Asia/Tokyo",
    "Asia/Shanghai",
    "Africa/Cairo",
    "Pacific/Chatham",
    "Pacific/Norfolk",
    "Australia/Adelaide",
    "Antarctica/Troll",
    "Antarctica/Macquarie",
    "America/Nome",
    "UTC",
];

const STEP_DAYS: u64 = 17;
const TIMES: [(u32, u32); 5] = [(0, 30), (1, 30), (2, 30), (9, 0), (23, 30)];

/// The sample local times, in the script's order.
fn samples() -> Vec<NaiveDateTime> {
    let last = NaiveDate::from_ymd_opt(2199, 12, 31).unwrap();
    let mut day = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap();
    let mut out = Vec::new();
    while day <= last {
        for (h, m) in TIMES {
            out.push(day.and_hms_opt(h, m, 0).unwrap());
        }
        day = day + Days::new(STEP_DAYS);
    }
    out
}

#[test]
fn offsets_agree_with_python_zoneinfo_from_1900_to_2199() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/zone_offsets.py");
    let output = match Command::new("python3").arg(script).args(ZONES).output() {
        Ok(output) if output.status.success() => output,
        Ok(output) => {
            eprintln!(
                "zone_python skipped: python3 has no zoneinfo or no system tzdb (status {:?})",
                output.status.code()
            );
            return;
        }
        Err(e) => {
            eprintln!("zone_python skipped: no python3 ({e})");
            return;
        }
    };
    let text = String::from_utf8(output.stdout).expect("the script prints ASCII");
    let mut lines = text.lines();
    let samples = samples();
    let mut failures = Vec::new();
    let mut checked = 0usize;
    let first_rule_day = NaiveDate::from_ymd_opt(2100, 1, 1).unwrap();
    let mut seasonal_past_2099 = 0usize;
    for name in ZONES {
        let mut offsets_past_2099 = std::collections::BTreeSet::new();
        let header = lines.next().expect("a header per zone");
        assert_eq!(header, format!("zone {name} {}", samples.len()));
        let zone: Zone = name.parse().expect("chrono-tz knows every sampled zone");
        for local in &samples {
            let offset: i64 = lines
                .next()
                .and_then(|l| l.parse().ok())
                .expect("one offset per sample");
            let expected = local.and_utc().timestamp() - offset;
            let got = resolve_local(zone, *local).timestamp();
            checked += 1;
            if got != expected
                && failures
                    .iter()
                    .filter(|f: &&String| f.starts_with(name))
                    .count()
                    < 3
            {
                failures.push(format!(
                    "{name} {local}: got UTC offset {}, zoneinfo {offset}",
                    local.and_utc().timestamp() - got
                ));
            }
            if local.date() >= first_rule_day {
                offsets_past_2099.insert(offset);
            }
        }
        if offsets_past_2099.len() > 1 {
            seasonal_past_2099 += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} samples:\n{}",
        checked,
        failures.join("\n")
    );
    // Daylight saving time goes on past 2099 in most of the sampled zones.
    assert!(seasonal_past_2099 >= 20, "{seasonal_past_2099}");
}
