//! Offsets against an implementation this crate does not use: python's `zoneinfo` over PyPI's
//! `tzdata` package of the same IANA release as the bundled database (`tests/data/
//! requirements.txt` pins it; `tests/data/zone_offsets.py` ignores the system's zoneinfo
//! folder, which may hold an older release). zoneinfo applies each zone's POSIX TZ rule past
//! its last listed transition, as the tzdb intends.
//!
//! Three sweeps: every zone daily over 2026–2030 (the rules in force now: British Columbia's
//! permanent UTC−7 since tzdb 2026b, Morocco, Cuba...); every zone every 97th day over
//! 1900–2199; and 44 zones chosen for their odd history every 17th day over 1900–2199. Local
//! times 00:30, 01:30, 02:30, 09:00 and 23:30. A local time resolves to local − offset, with
//! python's fold=0 offset: the one before the transition in a gap and in an overlap, which is
//! the crate's policy.
//!
//! The interpreter is `$RECURRING_DEALS_PYTHON` (`.ci/run` makes a virtualenv with the pinned
//! `tzdata`), else `python3`. With the variable set the test must run; without it, it skips
//! with a notice when python3 lacks the package or holds another release.

use std::process::Command;

use chrono::{Days, NaiveDate, NaiveDateTime, NaiveTime};
use recurring_deals::{Zone, resolve_local, tz};

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

const TIMES: &str = "00:30,01:30,02:30,09:00,23:30";

/// The sample local times, in the script's order.
fn samples(step: u64, first_year: i32, last_year: i32) -> Vec<NaiveDateTime> {
    let times: Vec<NaiveTime> = TIMES
        .split(',')
        .map(|t| NaiveTime::parse_from_str(t, "%H:%M").unwrap())
        .collect();
    let last = NaiveDate::from_ymd_opt(last_year, 12, 31).unwrap();
    let mut day = NaiveDate::from_ymd_opt(first_year, 1, 1).unwrap();
    let mut out = Vec::new();
    while day <= last {
        out.extend(times.iter().map(|t| day.and_time(*t)));
        day = day + Days::new(step);
    }
    out
}

/// What one sweep found.
#[derive(Default)]
struct Sweep {
    zones: usize,
    checked: usize,
    failures: Vec<String>,
    /// Zones with more than one offset past 2099 (daylight saving time goes on).
    seasonal_past_2099: usize,
}

/// Runs the script over `zones` (`["--all"]` for every zone of the package) and compares.
/// `None` when the sweep cannot run here (and need not).
fn sweep(step: u64, first_year: i32, last_year: i32, zones: &[&str]) -> Option<Sweep> {
    let required = std::env::var_os("RECURRING_DEALS_PYTHON");
    let python = required.clone().unwrap_or_else(|| "python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/zone_offsets.py");
    let output = Command::new(&python)
        .arg(script)
        .args([
            step.to_string(),
            first_year.to_string(),
            last_year.to_string(),
        ])
        .arg(TIMES)
        .args(zones)
        .output();
    let skip = |why: String| {
        assert!(
            required.is_none(),
            "RECURRING_DEALS_PYTHON is set but the sweep cannot run: {why}"
        );
        eprintln!("zone_python skipped: {why} (pip install -r tests/data/requirements.txt)");
        None
    };
    let output = match output {
        Ok(output) if output.status.success() => output,
        Ok(output) => {
            return skip(format!(
                "{python:?} has no zoneinfo or tzdata ({:?})",
                output.status.code()
            ));
        }
        Err(e) => return skip(format!("no {python:?} ({e})")),
    };
    let text = String::from_utf8(output.stdout).expect("the script prints ASCII");
    let mut lines = text.lines();
    let version = lines
        .next()
        .and_then(|l| l.strip_prefix("version "))
        .unwrap_or("?");
    if version != tz::BUNDLED_VERSION {
        return skip(format!(
            "python's tzdata is {version}, the bundled database is {}",
            tz::BUNDLED_VERSION
        ));
    }
    let samples = samples(step, first_year, last_year);
    let first_rule_day = NaiveDate::from_ymd_opt(2100, 1, 1).unwrap();
    let mut found = Sweep::default();
    while let Some(header) = lines.next() {
        let mut parts = header.split(' ');
        assert_eq!(parts.next(), Some("zone"), "{header}");
        let name = parts.next().expect("a zone name");
        assert_eq!(
            parts.next(),
            Some(samples.len().to_string().as_str()),
            "{header}"
        );
        let zone = Zone::get(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        let offsets = lines.next().expect("a line of offsets");
        let mut failed = 0;
        let mut offsets_past_2099 = std::collections::BTreeSet::new();
        for (local, offset) in samples.iter().zip(offsets.split(' ')) {
            let offset: i64 = offset.parse().expect("an offset in seconds");
            let expected = local.and_utc().timestamp() - offset;
            let got = resolve_local(zone, *local).timestamp();
            found.checked += 1;
            if got != expected {
                failed += 1;
                if failed <= 3 {
                    found.failures.push(format!(
                        "{name} {local}: got UTC offset {}, zoneinfo {offset}",
                        local.and_utc().timestamp() - got
                    ));
                }
            }
            if local.date() >= first_rule_day {
                offsets_past_2099.insert(offset);
            }
        }
        found.zones += 1;
        if offsets_past_2099.len() > 1 {
            found.seasonal_past_2099 += 1;
        }
    }
    eprintln!(
        "zone_python: {} zones, {} samples every {step} days over {first_year}–{last_year}, tzdata {version}",
        found.zones, found.checked
    );
    Some(found)
}

fn assert_clean(sweep: &Sweep) {
    assert!(
        sweep.failures.is_empty(),
        "{} of {} samples differ, first ones:\n{}",
        sweep.failures.len(),
        sweep.checked,
        sweep.failures.join("\n")
    );
}

#[test]
fn every_zone_daily_2026_to_2030_agrees_with_zoneinfo() {
    let Some(found) = sweep(1, 2026, 2030, &["--all"]) else {
        return;
    };
    assert_clean(&found);
    assert!(found.zones > 500, "{} zones", found.zones);
    // The example of the bug: a daily 09:00 in Vancouver on 2026-11-02 is at 16:00Z.
    let nine = NaiveDate::from_ymd_opt(2026, 11, 2)
        .unwrap()
        .and_hms_opt(9, 0, 0)
        .unwrap();
    let vancouver = Zone::get("America/Vancouver").unwrap();
    assert_eq!(
        resolve_local(vancouver, nine).to_rfc3339(),
        "2026-11-02T16:00:00+00:00"
    );
}

#[test]
fn every_zone_1900_to_2199_agrees_with_zoneinfo() {
    let step = if std::env::var_os("RECURRING_DEALS_HEAVY").is_some() {
        29
    } else {
        97
    };
    let Some(found) = sweep(step, 1900, 2199, &["--all"]) else {
        return;
    };
    assert_clean(&found);
    assert!(found.zones > 500, "{} zones", found.zones);
}

#[test]
fn odd_zones_1900_to_2199_agree_with_zoneinfo() {
    let Some(found) = sweep(17, 1900, 2199, &ZONES) else {
        return;
    };
    assert_clean(&found);
    // Daylight saving time goes on past 2099 in most of the sampled zones.
    assert!(
        found.seasonal_past_2099 >= 20,
        "{}",
        found.seasonal_past_2099
    );
}
