//! Conformance cases of next runs planned under other zone rules: a store whose rows were
//! written by a process with older rules (tzdb 2025b, before British Columbia kept UTC−7 all
//! year) is planned again by the first tick of an engine with the current rules, once across
//! workers, and the deals come at the current instants, each once.
//!
//! Instants are written out from the rules: under 2025b, 09:00 in America/Vancouver on
//! 2026-11-01 and after is PST, 17:00Z; under tzdb 2026b and later it is UTC−7, 16:00Z. The
//! rows "as 2025b wrote them" are the engine's own rows with those instants put back, through
//! the template's JSON form (its fields are private) and a commit.

use chrono::{DateTime, Utc};
use recurring_deals::store::RecordedRules;
use recurring_deals::{
    Commit, Deal, Engine, ManualClock, Recurrence, Repository, Schedule, Template, TemplateDraft,
    TenantId, Zone, tz,
};

use super::{Make, local, rub, tenant, utc};

const VANCOUVER: &str = "America/Vancouver";

/// A daily 09:00 America/Vancouver template from 2026-10-31, created on 2026-10-30 and
/// ticked at 2026-11-01 18:00Z under the rules in use: deals on Oct 31 and Nov 1.
async fn vancouver_daily<R: Repository>(repository: &R, tenant: &TenantId) -> Template {
    let zone = Zone::get(VANCOUVER).unwrap();
    let schedule = Schedule::builder(
        Recurrence::daily(recurring_deals::Interval::ONE),
        local(2026, 10, 31, 9, 0),
        zone,
    )
    .build()
    .unwrap();
    let engine = Engine::new(repository, ManualClock::new(utc(2026, 10, 30, 12, 0)));
    let template = engine
        .create_template(
            tenant,
            TemplateDraft::new(Deal::new("Vancouver", rub(10_000)).unwrap(), schedule),
        )
        .await
        .unwrap();
    engine.clock().set(utc(2026, 11, 1, 18, 0));
    let report = engine.tick().await.unwrap();
    assert_eq!(report.created.len(), 2, "Oct 31 and Nov 1");
    // Creating the template recorded its zone's rules: the first tick has nothing to check.
    let replanned = report
        .replanned
        .expect("an engine's first tick compares the rules");
    assert!(replanned.is_empty(), "{replanned:?}");
    assert_eq!(replanned.checked, 0);
    let template = repository
        .template(tenant, template.id())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        template.next_run(),
        Some(utc(2026, 11, 2, 16, 0)),
        "UTC−7 all year under the rules in use (tzdb {})",
        tz::tzdb_version()
    );
    template
}

/// Writes `template` back with its cursor and next run set as other rules computed them,
/// and records those rules (a fingerprint other than the current one, under `tzdb`) for its
/// zone.
async fn as_planned_under<R: Repository>(
    repository: &R,
    template: &Template,
    cursor: DateTime<Utc>,
    next_run: DateTime<Utc>,
    tzdb: &str,
) {
    let mut json = serde_json::to_value(template).unwrap();
    json["cursor"] = serde_json::to_value(cursor).unwrap();
    json["next_run"] = serde_json::to_value(next_run).unwrap();
    let stale: Template = serde_json::from_value(json).unwrap();
    repository
        .commit(Commit::template_only(stale))
        .await
        .unwrap();
    let recorded = repository
        .planned_zones()
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.zone.as_deref() == Some(VANCOUVER))
        .and_then(|p| p.recorded)
        .expect("the first engine recorded the zone's rules");
    let other = RecordedRules {
        fingerprint: recorded.fingerprint ^ 0x5a5a,
        tzdb: tzdb.to_owned(),
        at: utc(2025, 6, 1, 0, 0),
    };
    assert!(
        repository
            .record_zone_rules(VANCOUVER, Some(recorded.fingerprint), &other)
            .await
            .unwrap()
    );
    // A stale compare-and-set loses.
    assert!(
        !repository
            .record_zone_rules(VANCOUVER, Some(recorded.fingerprint), &other)
            .await
            .unwrap()
    );
}

/// The example: next runs as 2025b computed them (17:00Z) move to 16:00Z on the
/// first tick of a new engine, which then creates the 2026-11-02 deal at 16:00Z, once.
pub async fn next_runs_planned_under_other_rules_move_on_the_first_tick<R: Repository>(
    make: &Make<R>,
) {
    let repository = make().await;
    let acme = tenant("acme");
    let template = vancouver_daily(&repository, &acme).await;
    as_planned_under(
        &repository,
        &template,
        utc(2026, 11, 1, 17, 0),
        utc(2026, 11, 2, 17, 0),
        "2025b",
    )
    .await;

    // A process with the current rules opens the store at 16:30Z on Nov 2: under 2025b's
    // next run nothing would be due yet.
    let engine = Engine::new(&repository, ManualClock::new(utc(2026, 11, 2, 16, 30)));
    let report = engine.tick().await.unwrap();
    let replanned = report.replanned.expect("the first tick plans again");
    assert_eq!(replanned.tzdb, tz::tzdb_version());
    assert_eq!(replanned.zones.len(), 1, "{replanned:?}");
    assert_eq!(replanned.zones[0].zone, VANCOUVER);
    assert_eq!(replanned.zones[0].previous.as_deref(), Some("2025b"));
    assert_eq!(replanned.zones[0].moved, 1);
    assert_eq!(replanned.moved, 1);
    assert_eq!(report.created.len(), 1, "the Nov 2 deal, due at 16:00Z");

    let deals = repository.deals(&acme, Some(template.id())).await.unwrap();
    let at: Vec<DateTime<Utc>> = deals.iter().map(|d| d.nominal_at).collect();
    assert_eq!(
        at,
        [
            utc(2026, 10, 31, 16, 0),
            utc(2026, 11, 1, 16, 0),
            utc(2026, 11, 2, 16, 0)
        ]
    );
    let stored = repository
        .template(&acme, template.id())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.next_run(), Some(utc(2026, 11, 3, 16, 0)));

    // Later ticks plan nothing again and create nothing twice.
    let again = engine.tick().await.unwrap();
    assert_eq!(again.replanned, None);
    assert!(again.created.is_empty());
    // Another engine opening the store finds the rules recorded: nothing to move.
    let other = Engine::new(&repository, ManualClock::new(utc(2026, 11, 2, 16, 45)));
    let report = other.tick().await.unwrap();
    let replanned = report.replanned.unwrap();
    assert!(replanned.is_empty(), "{replanned:?}");
    assert!(report.created.is_empty());
}

/// Rules under which instants come later than the stored ones (a zone that left summer
/// time): the occurrence the cursor stood on comes after it again at its new instant; its
/// deal is found created, so it is passed, not created twice.
pub async fn an_occurrence_moved_later_is_not_created_twice<R: Repository>(make: &Make<R>) {
    let repository = make().await;
    let acme = tenant("acme");
    let template = vancouver_daily(&repository, &acme).await;
    // As if the old rules had 09:00 at UTC−6: Nov 1 at 15:00Z (created), Nov 2 at 15:00Z.
    as_planned_under(
        &repository,
        &template,
        utc(2026, 11, 1, 15, 0),
        utc(2026, 11, 2, 15, 0),
        "1999z",
    )
    .await;
    // At 16:30Z on Nov 2, stored next run 15:00Z (due): planned again, the next run is
    // Nov 2 at 16:00Z, past Nov 1 (created), and due.
    let engine = Engine::new(&repository, ManualClock::new(utc(2026, 11, 2, 16, 30)));
    let report = engine.tick().await.unwrap();
    assert_eq!(report.replanned.as_ref().map(|r| r.moved), Some(1));
    assert_eq!(report.created.len(), 1, "{report:?}");
    assert_eq!(
        report.already_created, 0,
        "Nov 1 was passed, not tried again"
    );
    let mut report = report;
    while report.more_due {
        report = engine.tick().await.unwrap();
    }
    let deals = repository.deals(&acme, Some(template.id())).await.unwrap();
    let at: Vec<DateTime<Utc>> = deals.iter().map(|d| d.nominal_at).collect();
    assert_eq!(
        at,
        [
            utc(2026, 10, 31, 16, 0),
            utc(2026, 11, 1, 16, 0),
            utc(2026, 11, 2, 16, 0)
        ],
        "Nov 1 once, Nov 2 at its instant under the rules in use"
    );
    let stored = repository
        .template(&acme, template.id())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.next_run(), Some(utc(2026, 11, 3, 16, 0)));
}

/// Workers re-planning at once: each template moved by one, the zone reported by one.
pub async fn workers_replan_each_zone_once<R: Repository>(make: &Make<R>) {
    let repository = make().await;
    let acme = tenant("acme");
    let template = vancouver_daily(&repository, &acme).await;
    as_planned_under(
        &repository,
        &template,
        utc(2026, 11, 1, 17, 0),
        utc(2026, 11, 2, 17, 0),
        "2025b",
    )
    .await;
    let now = utc(2026, 11, 2, 12, 0);
    let engine = || Engine::new(&repository, ManualClock::new(now));
    let (a, b, c) = (engine(), engine(), engine());
    let (a, b, c) = tokio::join!(a.replan_zones(), b.replan_zones(), c.replan_zones());
    let reports = [a.unwrap(), b.unwrap(), c.unwrap()];
    let zones: usize = reports.iter().map(|r| r.zones.len()).sum();
    let moved: usize = reports.iter().map(|r| r.moved).sum();
    assert_eq!(zones, 1, "{reports:?}");
    assert_eq!(moved, 1, "{reports:?}");
    let stored = repository
        .template(&acme, template.id())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.next_run(), Some(utc(2026, 11, 2, 16, 0)));
}
