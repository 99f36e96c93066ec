//! The zone rules a host chooses are the ones used: a zoneinfo folder written here by hand
//! (one zone, a rule no release has) replaces the bundled rules at run time, for zones and
//! schedules made before the switch too, and the bundled rules come back on request.
//!
//! One test function: the rules are process-wide, and the steps depend on their order.

use chrono::{NaiveDate, NaiveDateTime, TimeZone, Utc};
use recurring_deals::tz::{self, ZoneError, ZoneSource};
use recurring_deals::{
    Currency, Deal, End, Engine, InMemoryRepository, Interval, ManualClock, Money, Recurrence,
    Repository, Schedule, TemplateDraft, TenantId, Zone, resolve_local,
};

/// A TZif (version 2) file of one fixed offset, `offset` seconds east of UTC, named `abbr`.
fn tzif_fixed(offset: i32, abbr: &str, posix: &str) -> Vec<u8> {
    let mut block = Vec::new();
    // Header: magic, version, 15 reserved bytes, then isutcnt, isstdcnt, leapcnt, timecnt,
    // typecnt, charcnt.
    let header = |out: &mut Vec<u8>| {
        out.extend_from_slice(b"TZif2");
        out.extend_from_slice(&[0; 15]);
        for count in [0u32, 0, 0, 0, 1, abbr.len() as u32 + 1] {
            out.extend_from_slice(&count.to_be_bytes());
        }
    };
    let data = |out: &mut Vec<u8>| {
        out.extend_from_slice(&offset.to_be_bytes());
        out.push(0); // not DST
        out.push(0); // abbreviation index
        out.extend_from_slice(abbr.as_bytes());
        out.push(0);
    };
    header(&mut block);
    data(&mut block);
    header(&mut block);
    data(&mut block);
    block.extend_from_slice(format!("\n{posix}\n").as_bytes());
    block
}

fn nine_on(y: i32, m: u32, d: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(y, m, d)
        .unwrap()
        .and_hms_opt(9, 0, 0)
        .unwrap()
}

#[test]
fn a_host_folder_replaces_the_bundled_rules_and_back() {
    let dir = std::env::temp_dir().join(format!("recurring-deals-zoneinfo-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("America")).unwrap();
    // "Vancouver" at a fixed UTC−3, which no tz release ever said.
    std::fs::write(
        dir.join("America/Vancouver"),
        tzif_fixed(-3 * 3600, "-03", "<-03>3"),
    )
    .unwrap();
    std::fs::write(
        dir.join("tzdata.zi"),
        "# version 2099z\n# a hand-made folder\n",
    )
    .unwrap();

    // Bundled: British Columbia keeps UTC−7 from 2026-11-01 on (tzdb 2026b).
    assert_eq!(tz::tzdb_version(), tz::BUNDLED_VERSION);
    assert_eq!(tz::source(), ZoneSource::Bundled);
    let vancouver = Zone::get("America/Vancouver").unwrap();
    let schedule = Schedule::builder(
        Recurrence::daily(Interval::ONE),
        nine_on(2026, 11, 1),
        vancouver,
    )
    .end(End::Count(3))
    .build()
    .unwrap();
    let bundled = Utc.with_ymd_and_hms(2026, 11, 2, 16, 0, 0).unwrap();
    assert_eq!(resolve_local(vancouver, nine_on(2026, 11, 2)), bundled);

    // An engine with a daily 09:00 Vancouver template, ticked on Nov 1 under these rules.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 10, 31, 12, 0, 0).unwrap());
    let engine = Engine::new(InMemoryRepository::new(), clock.clone());
    let acme = TenantId::new("acme").unwrap();
    let daily = Schedule::builder(
        Recurrence::daily(Interval::ONE),
        nine_on(2026, 11, 1),
        vancouver,
    )
    .build()
    .unwrap();
    let deal = Deal::new("Support", Money::new(100, Currency::new("CAD").unwrap())).unwrap();
    let template = runtime
        .block_on(engine.create_template(&acme, TemplateDraft::new(deal, daily)))
        .unwrap();
    clock.set(Utc.with_ymd_and_hms(2026, 11, 1, 18, 0, 0).unwrap());
    let report = runtime.block_on(engine.tick()).unwrap();
    assert_eq!(report.created.len(), 1);
    let next_run = || {
        runtime
            .block_on(engine.repository().template(&acme, template.id()))
            .unwrap()
            .unwrap()
            .next_run()
    };
    assert_eq!(next_run(), Some(bundled));

    // The host's folder: same zone value, new rules; the schedule built before follows.
    let loaded = tz::load(ZoneSource::Dir(dir.clone())).unwrap();
    assert_eq!(loaded.version, "2099z");
    assert_eq!(loaded.changed, ["America/Vancouver"]);
    assert_eq!(tz::tzdb_version(), "2099z");
    let host = Utc.with_ymd_and_hms(2026, 11, 2, 12, 0, 0).unwrap();
    assert_eq!(resolve_local(vancouver, nine_on(2026, 11, 2)), host);
    let at: Vec<_> = schedule.occurrences().map(|o| o.at()).collect();
    assert_eq!(at[1], host);
    assert_eq!(vancouver.to_local(host), nine_on(2026, 11, 2));
    // The engine's next tick plans the stored next run again under the new rules first,
    // then creates the Nov 2 deal at its new instant.
    clock.set(Utc.with_ymd_and_hms(2026, 11, 2, 12, 30, 0).unwrap());
    let report = runtime.block_on(engine.tick()).unwrap();
    let replanned = report
        .replanned
        .expect("the rules changed since the last tick");
    assert_eq!(replanned.tzdb, "2099z");
    assert_eq!(replanned.zones.len(), 1, "{replanned:?}");
    assert_eq!(replanned.zones[0].zone, "America/Vancouver");
    assert_eq!(
        replanned.zones[0].previous.as_deref(),
        Some(tz::BUNDLED_VERSION)
    );
    assert_eq!(replanned.moved, 1);
    assert_eq!(report.created.len(), 1);
    let deals = runtime
        .block_on(engine.repository().deals(&acme, Some(template.id())))
        .unwrap();
    assert_eq!(deals.last().unwrap().nominal_at, host);
    assert_eq!(
        next_run(),
        Some(Utc.with_ymd_and_hms(2026, 11, 3, 12, 0, 0).unwrap())
    );
    assert_eq!(runtime.block_on(engine.tick()).unwrap().replanned, None);
    // A zone the folder lacks is refused, naming the release in use.
    let error = Zone::get("Europe/Berlin").unwrap_err();
    assert!(matches!(error, ZoneError::Unknown { .. }), "{error}");
    assert!(error.to_string().contains("2099z"), "{error}");
    // Loading the same folder again changes nothing.
    assert!(
        tz::load(ZoneSource::Dir(dir.clone()))
            .unwrap()
            .changed
            .is_empty()
    );

    // Back to the bundled rules.
    let back = tz::load(ZoneSource::Bundled).unwrap();
    assert_eq!(back.changed, ["America/Vancouver"]);
    assert_eq!(resolve_local(vancouver, nine_on(2026, 11, 2)), bundled);
    // And the engine follows back: Nov 3 at 16:00Z (Nov 2's occurrence, now at 16:00Z,
    // after the cursor again, is found created and passed).
    let report = runtime.block_on(engine.tick()).unwrap();
    let replanned = report.replanned.expect("the rules changed back");
    assert_eq!(replanned.zones[0].previous.as_deref(), Some("2099z"));
    assert_eq!(replanned.moved, 1);
    assert_eq!(
        next_run(),
        Some(Utc.with_ymd_and_hms(2026, 11, 3, 16, 0, 0).unwrap())
    );

    // Now Berlin is in use: a folder without it is refused, and the rules in use are kept.
    let berlin = Zone::get("Europe/Berlin").unwrap();
    let error = tz::load(ZoneSource::Dir(dir.clone())).unwrap_err();
    match &error {
        ZoneError::Missing { missing, .. } => assert_eq!(missing, &["Europe/Berlin"]),
        other => panic!("{other}"),
    }
    assert!(error.to_string().contains("Europe/Berlin"), "{error}");
    assert_eq!(tz::tzdb_version(), tz::BUNDLED_VERSION);
    assert_eq!(
        resolve_local(berlin, nine_on(2026, 7, 1)),
        Utc.with_ymd_and_hms(2026, 7, 1, 7, 0, 0).unwrap()
    );

    // A folder that does not exist, or holds no zone, is a typed error.
    let nowhere = dir.join("nowhere");
    assert!(tz::load(ZoneSource::Dir(nowhere)).is_err());
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let error = tz::load(ZoneSource::Dir(empty)).unwrap_err();
    assert!(
        matches!(error, ZoneError::Empty(_) | ZoneError::Load { .. }),
        "{error}"
    );
    assert_eq!(tz::tzdb_version(), tz::BUNDLED_VERSION);
    std::fs::remove_dir_all(&dir).unwrap();
}
