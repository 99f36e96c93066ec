//! Whatever the engine accepts round-trips through every store (issue "every accepted
//! input served right", kind 4): a template made from any draft of
//! `recurring_deals::strategies::template_draft()` (every rule kind, 27 zones, calendars,
//! exceptions, ends, invoices, notices, splits) is read back equal from the in-memory store,
//! an SQLite file and PostgreSQL (when `RECURRING_DEALS_PG_URL` is set), lists and scans,
//! and expands exactly as the template made from it.

mod pg;

use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use recurring_deals::store::{PostgresOptions, PostgresStore, Repository, SqliteStore};
use recurring_deals::*;

/// The first occurrences of a template's schedule, as instants and sequence numbers.
fn expansion(template: &Template) -> Vec<(chrono::DateTime<Utc>, u64)> {
    template
        .schedule()
        .occurrences()
        .take(40)
        .map(|o| (o.at(), o.seq()))
        .collect()
}

/// Makes each draft a template on an engine over `store`, then reads it back every way.
async fn round_trips<R: Repository>(store: &R, drafts: &[TemplateDraft]) -> Result<(), String> {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap());
    let engine = Engine::new(store, clock);
    let tenant = TenantId::new("acme").unwrap();
    let mut made = Vec::new();
    for draft in drafts {
        let template = engine
            .create_template(&tenant, draft.clone())
            .await
            .map_err(|e| format!("the engine refused a valid draft: {e}"))?;
        made.push(template);
    }
    for template in &made {
        let read = store
            .template(&tenant, template.id())
            .await
            .map_err(|e| format!("{}: unreadable: {e}", template.id()))?;
        let Some(read) = read else {
            return Err(format!("{}: missing after create", template.id()));
        };
        if &read != template {
            return Err(format!("{}: read back differs", template.id()));
        }
        if expansion(&read) != expansion(template) {
            return Err(format!("{}: expands differently", template.id()));
        }
    }
    let scan = store
        .scan_templates(&tenant, None, 1_000)
        .await
        .map_err(|e| e.to_string())?;
    let mut ids: Vec<TemplateId> = made.iter().map(|t| t.id()).collect();
    ids.sort();
    if scan.items.iter().map(|t| t.id()).collect::<Vec<_>>() != ids {
        return Err("the scan does not list every template".into());
    }
    let page = store
        .list_templates(
            &tenant,
            &TemplateQuery {
                limit: 1_000,
                ..TemplateQuery::default()
            },
        )
        .await
        .map_err(|e| e.to_string())?;
    if page.total != made.len() {
        return Err(format!("listed {} of {}", page.total, made.len()));
    }
    Ok(())
}

fn drafts() -> impl Strategy<Value = Vec<TemplateDraft>> {
    proptest::collection::vec(strategies::template_draft(), 1..6)
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(150)
}

fn run_property(cases: u32, check: impl Fn(&[TemplateDraft]) -> Result<(), String>) {
    let mut runner = TestRunner::new(Config::with_cases(cases));
    runner
        .run(&drafts(), |drafts| {
            check(&drafts).map_err(proptest::test_runner::TestCaseError::fail)
        })
        .unwrap();
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn accepted_drafts_round_trip_through_the_in_memory_store() {
    let runtime = runtime();
    run_property(cases(), |drafts| {
        runtime.block_on(round_trips(&InMemoryRepository::new(), drafts))
    });
}

#[test]
fn accepted_drafts_round_trip_through_sqlite() {
    let runtime = runtime();
    run_property(cases(), |drafts| {
        runtime.block_on(async {
            let store = SqliteStore::in_memory().await.map_err(|e| e.to_string())?;
            round_trips(&store, drafts).await
        })
    });
}

#[test]
fn accepted_drafts_round_trip_through_postgres() {
    let Some(url) = pg::pg_url("accepted_drafts_round_trip_through_postgres") else {
        return;
    };
    let runtime = runtime();
    let schemas = pg::TestSchemas::new(&url);
    let pool = runtime.block_on(sqlx::PgPool::connect(&url)).unwrap();
    // A schema per case (its migrations take most of the time): fewer cases.
    run_property(cases() / 4, |drafts| {
        runtime.block_on(async {
            let options = PostgresOptions::new()
                .schema(&schemas.fresh("round_trip"))
                .map_err(|e| e.to_string())?
                .legacy_schema(None)
                .map_err(|e| e.to_string())?;
            let store = PostgresStore::open(pool.clone(), options)
                .await
                .map_err(|e| e.to_string())?;
            round_trips(&store, drafts).await
        })
    });
}
