//! A terms change interrupted by a crash: a child process applies a change to 50 templates
//! (of 60; 10 are in another pipeline) and aborts (`std::process::abort`) right after the
//! 17th template's commit, before the 18th. The parent then runs the same change again: it
//! finishes the other 33, reports the 17 as already applied, and every matched template holds
//! the change exactly once (one revision, one remembered id); the unmatched ones hold none.
//! Then ticking creates each template's deals on the old terms before the effective date and
//! the new ones from it.
//!
//! On an SQLite file always (feature `sqlite`), and on PostgreSQL with
//! `RECURRING_DEALS_PG_URL` (feature `postgres`; a schema of its own, skipped with a notice
//! otherwise). The child is this test binary re-run with `RECURRING_DEALS_TERMS_CRASH` set
//! (see [`child_process`]), the pattern of `tests/sqlite_crash.rs`.
#![cfg(all(any(feature = "sqlite", feature = "postgres"), unix))]

mod common;
mod pg;

use recurring_deals::Zone;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use common::{Call, Fault, Faulty};
use recurring_deals::{
    AmountChange, ChangeId, Currency, Deal, Engine, Interval, ManualClock, Money, Recurrence,
    Repository, Rounding, Schedule, TemplateDraft, TemplateId, TenantId, TermsChange, TermsFilter,
    TermsOutcome,
};

const CHILD_VAR: &str = "RECURRING_DEALS_TERMS_CRASH";
const MATCHED: usize = 50;
const UNMATCHED: usize = 10;
/// The child commits this many templates, then aborts before the next commit.
const COMMITS_BEFORE_CRASH: usize = 17;

fn utc(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
}

fn acme() -> TenantId {
    TenantId::new("acme").unwrap()
}

fn effective() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 4).unwrap()
}

/// +7.5 % from Mar 4, for pipeline 1.
fn the_change() -> TermsChange {
    TermsChange::builder(ChangeId::new("raise-2026-03").unwrap(), effective())
        .amount(AmountChange::percent(750, Rounding::HalfUp))
        .filter(TermsFilter::default().pipeline(1))
        .build()
        .unwrap()
}

/// Template `i`: daily at 09:00 UTC from Mar 1, 100.00 + i kopecks; the first `MATCHED` in
/// pipeline 1, the rest in pipeline 2.
fn draft(i: usize) -> TemplateDraft {
    let schedule = Schedule::builder(
        Recurrence::daily(Interval::ONE),
        NaiveDate::from_ymd_opt(2026, 3, 1)
            .unwrap()
            .and_hms_opt(9, 0, 0)
            .unwrap(),
        Zone::UTC,
    )
    .build()
    .unwrap();
    let pipeline = if i < MATCHED { 1 } else { 2 };
    let deal = Deal::new("Service", Money::new(10_000 + i as i64, rub()))
        .unwrap()
        .with_pipeline(pipeline, "NEW");
    TemplateDraft::new(deal, schedule)
}

fn rub() -> Currency {
    Currency::new("RUB").unwrap()
}

/// 100.00 + i kopecks raised by 7.5 %, rounded half up, worked out by hand:
/// (10000 + i) × 1.075 = 10750 + 1.075 i.
fn raised(i: usize) -> i64 {
    let thousandths = 10_750_000 + 1_075 * i as i64;
    (thousandths + 500) / 1_000
}

async fn populate(store: &impl Repository) -> Vec<TemplateId> {
    let engine = Engine::new(store, ManualClock::new(utc(2026, 2, 28, 0)));
    let mut ids = Vec::new();
    for i in 0..MATCHED + UNMATCHED {
        ids.push(
            engine
                .create_template(&acme(), draft(i))
                .await
                .unwrap()
                .id(),
        );
    }
    ids
}

/// Wraps `store` so that the process aborts right before the commit after the
/// `COMMITS_BEFORE_CRASH`th: between the commits of two templates.
fn aborting<R>(store: R) -> Faulty<R> {
    let commits = AtomicUsize::new(0);
    Faulty::new(store, move |call| {
        if let Call::Commit(_) = call
            && commits.fetch_add(1, Ordering::SeqCst) == COMMITS_BEFORE_CRASH
        {
            std::process::abort();
        }
        Fault::None
    })
}

/// The child's entry point: a no-op unless the parent started this binary as a child.
#[tokio::test]
async fn child_process() {
    let Ok(spec) = std::env::var(CHILD_VAR) else {
        return;
    };
    let clock = ManualClock::new(utc(2026, 3, 2, 10));
    let change = the_change();
    match spec.split_once(':') {
        #[cfg(feature = "sqlite")]
        Some(("sqlite", path)) => {
            let store = recurring_deals::SqliteStore::connect(path).await.unwrap();
            let engine = Engine::new(aborting(store), clock);
            engine.apply_terms_change(&acme(), &change).await.unwrap();
        }
        #[cfg(feature = "postgres")]
        Some(("postgres", schema)) => {
            let url = std::env::var(pg::URL_VAR).unwrap();
            let options = recurring_deals::PostgresOptions::new()
                .schema(schema)
                .unwrap()
                .legacy_schema(None)
                .unwrap();
            let store = recurring_deals::PostgresStore::connect_with(&url, options, 2)
                .await
                .unwrap();
            let engine = Engine::new(aborting(store), clock);
            engine.apply_terms_change(&acme(), &change).await.unwrap();
        }
        _ => panic!("unknown child spec {spec:?}"),
    }
    panic!("the child should have aborted before finishing the change");
}

/// Runs the child on `spec` and checks it died by the abort.
fn crash_child(spec: &str) {
    let status = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_process", "--test-threads=1", "-q"])
        .env(CHILD_VAR, spec)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        Some(6),
        "the child must die by SIGABRT, got {status:?}"
    );
}

/// The checks after the crash, on the store the child crashed on.
async fn resume_and_check(store: impl Repository, ids: &[TemplateId]) {
    let engine = Engine::new(store, ManualClock::new(utc(2026, 3, 2, 12)));
    let change = the_change();
    let has_change = |t: &recurring_deals::Template| {
        t.applied_terms_changes()
            .iter()
            .filter(|a| &a.id == change.id())
            .count()
    };
    // What the child committed before it died: exactly the first 17 matched templates.
    let mut done_by_child = Vec::new();
    for &id in ids {
        let template = engine.template(&acme(), id).await.unwrap();
        if has_change(&template) == 1 {
            done_by_child.push(id);
        }
    }
    assert_eq!(done_by_child, ids[..COMMITS_BEFORE_CRASH]);

    let report = engine.apply_terms_change(&acme(), &change).await.unwrap();
    assert_eq!(report.already_applied(), COMMITS_BEFORE_CRASH);
    assert_eq!(report.applied(), MATCHED - COMMITS_BEFORE_CRASH);
    assert_eq!(report.not_matched, UNMATCHED as u64);
    assert!(report.is_complete());
    assert_eq!(
        report.already_applied() + report.applied() + report.not_matched as usize,
        ids.len()
    );
    for (n, t) in report.templates.iter().enumerate() {
        assert_eq!(t.template, ids[n]);
        let expected = if n < COMMITS_BEFORE_CRASH {
            TermsOutcome::AlreadyApplied { revision: 1 }
        } else {
            TermsOutcome::Applied { revision: 1 }
        };
        assert_eq!(t.outcome, expected, "{}", t.template);
    }
    // A third run finds everything done.
    let again = engine.apply_terms_change(&acme(), &change).await.unwrap();
    assert_eq!(again.already_applied(), MATCHED);
    assert_eq!(again.applied(), 0);

    for (i, &id) in ids.iter().enumerate() {
        let template = engine.template(&acme(), id).await.unwrap();
        let matched = i < MATCHED;
        assert_eq!(has_change(&template), usize::from(matched), "{id}");
        assert_eq!(
            template.terms_revisions().len(),
            usize::from(matched),
            "{id}"
        );
        assert_eq!(template.terms_revision(), u32::from(matched), "{id}");
    }
    // Deals from Mar 1 to Mar 5: old terms before Mar 4, new from it.
    engine.clock().set(utc(2026, 3, 5, 10));
    loop {
        let report = engine.tick().await.unwrap();
        assert!(report.failures.is_empty());
        if !report.more_due {
            break;
        }
    }
    for (i, &id) in ids.iter().enumerate() {
        let mut deals = engine.deals(&acme(), Some(id)).await.unwrap();
        deals.sort_by_key(|d| d.nominal_at);
        let amounts: Vec<i64> = deals.iter().map(|d| d.deal.amount().minor).collect();
        let old = 10_000 + i as i64;
        let new = if i < MATCHED { raised(i) } else { old };
        assert_eq!(amounts, [old, old, old, new, new], "template {i}");
    }
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn a_crash_between_two_templates_on_sqlite_is_finished_by_a_rerun() {
    let dir = std::env::temp_dir().join(format!(
        "recurring-deals-terms-crash-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("deals.db");
    let ids = {
        let store = recurring_deals::SqliteStore::connect(&path).await.unwrap();
        let ids = populate(&store).await;
        store.pool().close().await;
        ids
    };
    crash_child(&format!("sqlite:{}", path.display()));
    let store = recurring_deals::SqliteStore::connect(&path).await.unwrap();
    resume_and_check(store, &ids).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn a_crash_between_two_templates_on_postgres_is_finished_by_a_rerun() {
    let Some(url) = pg::pg_url("a_crash_between_two_templates_on_postgres_is_finished_by_a_rerun")
    else {
        return;
    };
    let schemas = pg::TestSchemas::new(&url);
    let schema = schemas.fresh("terms_crash");
    let open = || async {
        let options = recurring_deals::PostgresOptions::new()
            .schema(&schema)
            .unwrap()
            .legacy_schema(None)
            .unwrap();
        recurring_deals::PostgresStore::connect_with(&url, options, 2)
            .await
            .unwrap()
    };
    let ids = {
        let store = open().await;
        let ids = populate(&store).await;
        store.pool().close().await;
        ids
    };
    crash_child(&format!("postgres:{schema}"));
    resume_and_check(open().await, &ids).await;
}

#[test]
fn the_expected_amounts_are_those_of_the_rule() {
    // 10000 × 1.075 = 10750 exactly; 10001 × 1.075 = 10751.075 → 10751;
    // 10002 × 1.075 = 10752.15 → 10752; (10000 + 20) × 1.075 = 10771.5 → 10772 (half up).
    assert_eq!(
        [raised(0), raised(1), raised(2), raised(20)],
        [10_750, 10_751, 10_752, 10_772]
    );
    let _ = Money::new(0, rub());
}
