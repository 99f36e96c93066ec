//! The PostgreSQL store: the conformance suite (each case in schemas of its own), and what is
//! PostgreSQL's own: schema versions and concurrent migrations, corrupted rows, row claiming
//! with `SKIP LOCKED`, atomicity of a failing commit, the pool and reconnection.
//!
//! Set `RECURRING_DEALS_PG_URL` (e.g. `host=127.0.0.1 user=postgres dbname=recurring_deals_test`)
//! to run them; without it every test prints a notice and passes.
#![cfg(feature = "postgres")]

mod conformance;
mod pg;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use pg::pg_url;
use recurring_deals::{
    CommitOutcome, Currency, Deal, DealKey, Engine, Interval, ManualClock, Money,
    PostgresRepository, Recurrence, Repository, Schedule, TemplateDraft, TemplateId, TemplateQuery,
    TenantId,
};

/// `url` with one more connection parameter, in the URL's own form (`key=value` string or
/// `postgresql://` URI).
fn with_param(url: &str, key: &str, value: &str) -> String {
    if url.contains("://") {
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}{key}={value}")
    } else {
        format!("{url} {key}={value}")
    }
}

/// Schemas created by a test, dropped when it ends (also when it panics).
struct Schemas {
    url: String,
    names: Mutex<Vec<String>>,
}

impl Schemas {
    fn new(url: &str) -> Schemas {
        Schemas {
            url: url.to_owned(),
            names: Mutex::new(Vec::new()),
        }
    }

    /// A fresh schema name, unique across processes and runs.
    fn fresh(&self, what: &str) -> String {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = Utc::now().timestamp_subsec_nanos();
        let name = format!(
            "rd_t_{what}_{}_{}_{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        self.names.lock().unwrap().push(name.clone());
        name
    }

    /// A store in a fresh schema.
    fn store(&self, what: &str) -> PostgresRepository {
        PostgresRepository::connect_with_schema(&self.url, &self.fresh(what)).unwrap()
    }

    /// A plain client for poking at the tables behind the store's back.
    fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).unwrap()
    }
}

impl Drop for Schemas {
    fn drop(&mut self) {
        let names = std::mem::take(&mut *self.names.lock().unwrap_or_else(|e| e.into_inner()));
        if names.is_empty() {
            return;
        }
        if let Ok(mut client) = postgres::Client::connect(&self.url, postgres::NoTls) {
            for name in names {
                let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"));
            }
        }
    }
}

/// Runs a conformance case, each store it makes in a schema of its own.
fn run(case: fn(&dyn Fn() -> PostgresRepository)) {
    let Some(url) = pg_url("conformance") else {
        return;
    };
    let schemas = Schemas::new(&url);
    case(&|| schemas.store("conf"));
}

conformance::conformance_tests!(run);

fn utc(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
}

fn tenant(name: &str) -> TenantId {
    TenantId::new(name).unwrap()
}

/// A daily template at 09:00 UTC from 2026-03-01, created at 2026-03-01 00:00.
fn daily_draft(title: &str) -> TemplateDraft {
    let schedule = Schedule::builder(
        Recurrence::daily(Interval::ONE),
        chrono::NaiveDate::from_ymd_opt(2026, 3, 1)
            .unwrap()
            .and_hms_opt(9, 0, 0)
            .unwrap(),
        chrono_tz::UTC,
    )
    .build()
    .unwrap();
    let deal = Deal::new(title, Money::new(100_000, Currency::new("RUB").unwrap())).unwrap();
    TemplateDraft::new(deal, schedule)
}

#[test]
fn a_fresh_database_gets_the_current_schema_version_once() {
    let Some(url) = pg_url("a_fresh_database_gets_the_current_schema_version_once") else {
        return;
    };
    let schemas = Schemas::new(&url);
    let schema = schemas.fresh("fresh");
    let first = PostgresRepository::connect_with_schema(&url, &schema).unwrap();
    assert_eq!(first.schema_version().unwrap(), 1);
    // Opening again applies nothing new.
    let second = PostgresRepository::connect_with_schema(&url, &schema).unwrap();
    assert_eq!(second.schema_version().unwrap(), 1);
    let rows: Vec<i32> = schemas
        .client()
        .query(
            &format!("SELECT version FROM \"{schema}\".rd_schema_version ORDER BY version"),
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(rows, vec![1]);
    assert_eq!(PostgresRepository::SCHEMA_VERSION, 1);
}

#[test]
fn many_connections_opening_a_fresh_database_at_once_migrate_it_once() {
    let Some(url) = pg_url("many_connections_opening_a_fresh_database_at_once_migrate_it_once")
    else {
        return;
    };
    let schemas = Schemas::new(&url);
    let schema = schemas.fresh("race");
    // Eight openers released together: without the advisory lock, CREATE SCHEMA / CREATE
    // TABLE race and some fail with duplicate-object errors.
    let barrier = Arc::new(Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let (url, schema, barrier) = (url.clone(), schema.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                PostgresRepository::connect_with_schema(&url, &schema).map(|_| ())
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap().unwrap();
    }
    let count: i64 = schemas
        .client()
        .query_one(
            &format!("SELECT count(*) FROM \"{schema}\".rd_schema_version"),
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(count, 1);
}

#[test]
fn a_newer_schema_version_is_a_clear_error() {
    let Some(url) = pg_url("a_newer_schema_version_is_a_clear_error") else {
        return;
    };
    let schemas = Schemas::new(&url);
    let schema = schemas.fresh("newer");
    drop(PostgresRepository::connect_with_schema(&url, &schema).unwrap());
    // A later release migrated this database to version 7.
    schemas
        .client()
        .execute(
            &format!("INSERT INTO \"{schema}\".rd_schema_version (version) VALUES (7)"),
            &[],
        )
        .unwrap();
    let error = PostgresRepository::connect_with_schema(&url, &schema).unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("version 7") && message.contains("version 1"),
        "{message}"
    );
    assert!(message.contains("newer"), "{message}");
}

#[test]
fn schema_names_that_are_not_plain_identifiers_are_refused() {
    let Some(url) = pg_url("schema_names_that_are_not_plain_identifiers_are_refused") else {
        return;
    };
    for bad in [
        "",
        "Upper",
        "1abc",
        "a-b",
        "x\"; DROP TABLE y; --",
        &"a".repeat(64),
    ] {
        let error = PostgresRepository::connect_with_schema(&url, bad).unwrap_err();
        assert!(error.to_string().contains("schema name"), "{bad}: {error}");
    }
}

#[test]
fn a_corrupted_template_is_an_error_naming_it_and_the_others_keep_running() {
    let Some(url) =
        pg_url("a_corrupted_template_is_an_error_naming_it_and_the_others_keep_running")
    else {
        return;
    };
    let schemas = Schemas::new(&url);
    let schema = schemas.fresh("corrupt");
    let store = PostgresRepository::connect_with_schema(&url, &schema).unwrap();
    let acme = tenant("acme");
    let clock = ManualClock::new(utc(2026, 3, 1, 0));
    let engine = Engine::new(&store, clock.clone());
    let ids: Vec<TemplateId> = (0..5)
        .map(|i| {
            engine
                .create_template(&acme, daily_draft(&format!("Daily {i}")))
                .unwrap()
                .id()
        })
        .collect();
    // Three kinds of damage: text that is not JSON, JSON that is not a template, and a
    // template missing a field.
    let mut client = schemas.client();
    let damage = [
        (ids[1], "'{\"schedule\": {\"rule\": '"),
        (ids[2], "'{\"oops\": 1}'"),
        (ids[3], "(body::jsonb - 'schedule')::text"),
    ];
    for (id, body) in damage {
        client
            .execute(
                &format!("UPDATE \"{schema}\".rd_templates SET body = {body} WHERE id = $1"),
                &[&(id.0 as i64)],
            )
            .unwrap();
    }

    for id in [ids[1], ids[2], ids[3]] {
        let error = store.template(&acme, id).unwrap_err().to_string();
        assert!(error.contains(&format!("T{} ", id.0)), "{error}");
        assert!(error.contains("corrupted"), "{error}");
    }
    // Another tenant still cannot see it, corrupted or not.
    assert_eq!(store.template(&tenant("other"), ids[1]).unwrap(), None);

    let due = store.due_templates(utc(2026, 3, 1, 9), 10).unwrap();
    let due_ids: Vec<TemplateId> = due.iter().map(|t| t.id()).collect();
    assert_eq!(due_ids, vec![ids[0], ids[4]]);
    // A limit of 2 still gets both readable ones: the corrupted rows do not use it up.
    let due_ids: Vec<TemplateId> = store
        .due_templates(utc(2026, 3, 1, 9), 2)
        .unwrap()
        .iter()
        .map(|t| t.id())
        .collect();
    assert_eq!(due_ids, vec![ids[0], ids[4]]);

    clock.set(utc(2026, 3, 2, 10));
    let report = engine.tick().unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    let mut created = report.created.clone();
    created.sort();
    let expected: Vec<DealKey> = [ids[0], ids[4]]
        .into_iter()
        .flat_map(|template| {
            (0..2).map(move |seq| DealKey::Scheduled {
                template,
                revision: 0,
                seq,
            })
        })
        .collect();
    assert_eq!(created, expected);
    let listed = store.list_templates(&acme, &TemplateQuery::default());
    assert!(listed.unwrap_err().to_string().contains("corrupted"));
}

#[test]
fn a_template_locked_by_another_worker_is_a_conflict_at_once() {
    let Some(url) = pg_url("a_template_locked_by_another_worker_is_a_conflict_at_once") else {
        return;
    };
    let schemas = Schemas::new(&url);
    let schema = schemas.fresh("locked");
    let store = PostgresRepository::connect_with_schema(&url, &schema).unwrap();
    let acme = tenant("acme");
    let engine = Engine::new(&store, ManualClock::new(utc(2026, 3, 1, 0)));
    let template = engine.create_template(&acme, daily_draft("Daily")).unwrap();
    let plan = recurring_deals::plan(&template, utc(2026, 3, 1, 10));
    assert_eq!(plan.deals.len(), 1);
    let commit = recurring_deals::Commit {
        template: plan.template,
        deals: plan.deals,
        skipped: plan.skipped,
        invoices: plan.invoices,
        events: plan.events,
    };

    // Another worker's open transaction holds the row.
    let mut other = schemas.client();
    let mut tx = other.transaction().unwrap();
    tx.query(
        &format!("SELECT 1 FROM \"{schema}\".rd_templates WHERE id = $1 FOR UPDATE"),
        &[&(template.id().0 as i64)],
    )
    .unwrap();
    // The commit runs on another thread: if it waited for the lock (held until the rollback
    // below), the test fails after a timeout instead of hanging.
    let store = Arc::new(store);
    let (sender, receiver) = std::sync::mpsc::channel();
    {
        let (store, commit) = (store.clone(), commit.clone());
        std::thread::spawn(move || sender.send(store.commit(commit)));
    }
    let outcome = receiver.recv_timeout(Duration::from_secs(10));
    assert!(store.deals(&acme, None).unwrap().is_empty());
    tx.rollback().unwrap();
    assert_eq!(
        outcome.expect("the commit waited for the other worker's lock"),
        Ok(CommitOutcome::Conflict)
    );

    match store.commit(commit).unwrap() {
        CommitOutcome::Committed {
            version,
            already_created,
        } => {
            assert_eq!(version, template.version() + 1);
            assert!(already_created.is_empty());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(store.deals(&acme, None).unwrap().len(), 1);
}

#[test]
fn a_commit_that_fails_half_way_writes_nothing() {
    let Some(url) = pg_url("a_commit_that_fails_half_way_writes_nothing") else {
        return;
    };
    let schemas = Schemas::new(&url);
    let schema = schemas.fresh("atomic");
    let store = PostgresRepository::connect_with_schema(&url, &schema).unwrap();
    let acme = tenant("acme");
    let engine = Engine::new(&store, ManualClock::new(utc(2026, 3, 1, 0)));
    let template = engine.create_template(&acme, daily_draft("Daily")).unwrap();
    // The outbox refuses this template's events: the deals and the template's new state,
    // written by the same statement, must not stay either.
    schemas
        .client()
        .batch_execute(&format!(
            "ALTER TABLE \"{schema}\".rd_events ADD CONSTRAINT no_deals \
             CHECK (idempotency_key NOT LIKE 'deal:%')"
        ))
        .unwrap();
    let plan = recurring_deals::plan(&template, utc(2026, 3, 3, 10));
    assert_eq!(plan.deals.len(), 3);
    let error = store
        .commit(recurring_deals::Commit {
            template: plan.template,
            deals: plan.deals,
            skipped: plan.skipped,
            invoices: plan.invoices,
            events: plan.events,
        })
        .unwrap_err();
    assert!(error.to_string().contains("no_deals"), "{error}");
    assert!(store.deals(&acme, None).unwrap().is_empty());
    assert!(store.outbox(100).unwrap().is_empty());
    let stored = store.template(&acme, template.id()).unwrap().unwrap();
    assert_eq!(stored, template);
}

#[test]
fn the_deal_key_is_unique_in_the_table_itself() {
    let Some(url) = pg_url("the_deal_key_is_unique_in_the_table_itself") else {
        return;
    };
    let schemas = Schemas::new(&url);
    let schema = schemas.fresh("unique");
    drop(PostgresRepository::connect_with_schema(&url, &schema).unwrap());
    let mut client = schemas.client();
    let insert = format!(
        "INSERT INTO \"{schema}\".rd_deals \
         (template_id, kind, revision, num, tenant, nominal_at_ns, body) \
         VALUES (1, 0, 0, 5, $1, 0, '{{}}')"
    );
    client.execute(&insert, &[&"acme"]).unwrap();
    // Even another tenant's row with the same key is refused: keys are global.
    let error = client.execute(&insert, &[&"other"]).unwrap_err();
    assert_eq!(
        error.code(),
        Some(&postgres::error::SqlState::UNIQUE_VIOLATION)
    );
}

#[test]
fn threads_share_a_small_pool() {
    let Some(url) = pg_url("threads_share_a_small_pool") else {
        return;
    };
    let schemas = Schemas::new(&url);
    let schema = schemas.fresh("pool");
    let app = format!("rd-pool-{}", std::process::id());
    let store = Arc::new(
        PostgresRepository::connect_with(
            &with_param(&url, "application_name", &app),
            Some(&schema),
            2,
        )
        .unwrap(),
    );
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            std::thread::spawn(move || {
                (0..50)
                    .map(|_| store.allocate_template_id().unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all: Vec<TemplateId> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 400);
    // Two connections at most: the pool's, not one per thread.
    let connections: i64 = schemas
        .client()
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
            &[&app],
        )
        .unwrap()
        .get(0);
    assert!(connections <= 2, "{connections} connections");
}

#[test]
fn a_dropped_connection_is_reopened() {
    let Some(url) = pg_url("a_dropped_connection_is_reopened") else {
        return;
    };
    let schemas = Schemas::new(&url);
    let schema = schemas.fresh("reconnect");
    let app = format!("rd-reconnect-{}", std::process::id());
    let store = PostgresRepository::connect_with(
        &with_param(&url, "application_name", &app),
        Some(&schema),
        1,
    )
    .unwrap();
    let acme = tenant("acme");
    assert_eq!(store.count_live(&acme).unwrap(), 0);
    let killed: i64 = schemas
        .client()
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            &[&app],
        )
        .unwrap()
        .len() as i64;
    assert_eq!(killed, 1);
    // The first call may see the broken connection; a later one reconnects.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match store.count_live(&acme) {
            Ok(count) => {
                assert_eq!(count, 0);
                break;
            }
            Err(error) => assert!(Instant::now() < deadline, "{error}"),
        }
    }
    let engine = Engine::new(&store, ManualClock::new(utc(2026, 3, 1, 0)));
    engine.create_template(&acme, daily_draft("After")).unwrap();
    assert_eq!(store.count_live(&acme).unwrap(), 1);
}

#[test]
fn instants_keep_their_nanoseconds_and_order() {
    let Some(url) = pg_url("instants_keep_their_nanoseconds_and_order") else {
        return;
    };
    let schemas = Schemas::new(&url);
    let store = schemas.store("nanos");
    let acme = tenant("acme");
    let engine = Engine::new(&store, ManualClock::new(utc(2026, 3, 1, 0)));
    let template = engine.create_template(&acme, daily_draft("Daily")).unwrap();
    let next = template.next_run().unwrap();
    assert_eq!(next, utc(2026, 3, 1, 9));
    // Due exactly at its instant, not a nanosecond before.
    let before = next - TimeDelta::nanoseconds(1);
    assert!(store.due_templates(before, 10).unwrap().is_empty());
    assert_eq!(store.due_templates(next, 10).unwrap().len(), 1);
    assert_eq!(store.next_wake().unwrap(), Some(next));
}

#[test]
fn any_string_round_trips_also_nul_and_non_ascii() {
    let Some(url) = pg_url("any_string_round_trips_also_nul_and_non_ascii") else {
        return;
    };
    let schemas = Schemas::new(&url);
    let store = schemas.store("strings");
    let acme = tenant("acme");
    let clock = ManualClock::new(utc(2026, 3, 1, 0));
    let engine = Engine::new(&store, clock.clone());
    // PostgreSQL's TEXT holds no NUL byte and JSONB refuses the \u0000 escape; the store must
    // keep such strings anyway, as the in-memory store does.
    let odd = "NUL \u{0} here, «ёлка» 🎄, quote \" and backslash \\";
    let deal = Deal::new(odd, Money::new(100, Currency::new("RUB").unwrap()))
        .unwrap()
        .with_comments(odd)
        .with_pipeline(1, odd)
        .with_custom(odd, recurring_deals::CustomValue::Text(odd.to_owned()));
    let mut draft = daily_draft("unused");
    draft.deal = deal.clone();
    let template = engine.create_template(&acme, draft).unwrap();
    let stored = store.template(&acme, template.id()).unwrap().unwrap();
    assert_eq!(stored.deal(), &deal);
    clock.set(utc(2026, 3, 1, 10));
    let report = engine.tick().unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    let deals = store.deals(&acme, None).unwrap();
    assert_eq!(deals.len(), 1);
    assert_eq!(deals[0].deal.title(), odd);
    assert_eq!(deals[0].deal.comments(), odd);
}

#[test]
fn bulk_insert_is_all_or_nothing_and_moves_the_id_sequence() {
    let Some(url) = pg_url("bulk_insert_is_all_or_nothing_and_moves_the_id_sequence") else {
        return;
    };
    let schemas = Schemas::new(&url);
    let store = schemas.store("bulk");
    let acme = tenant("acme");
    // Templates numbered 1..=2500 by a scratch in-memory store (more than one 2,000-row
    // statement).
    let scratch = recurring_deals::InMemoryRepository::new();
    let engine = Engine::new(&scratch, ManualClock::new(utc(2026, 3, 1, 0)));
    for i in 0..2_500 {
        engine
            .create_template(&acme, daily_draft(&format!("Bulk {i}")))
            .unwrap();
    }
    let all = scratch
        .list_templates(
            &acme,
            &TemplateQuery {
                limit: 10_000,
                ..TemplateQuery::default()
            },
        )
        .unwrap()
        .items;
    assert_eq!(all.len(), 2_500);
    assert_eq!(store.insert_templates(&all[..1_000]).unwrap(), 1_000);
    // The second batch overlaps the first in one template: nothing of it is inserted.
    let error = store.insert_templates(&all[999..]).unwrap_err();
    assert!(error.to_string().contains("rd_templates_pkey"), "{error}");
    assert_eq!(store.count_live(&acme).unwrap(), 1_000);
    assert_eq!(store.insert_templates(&all[1_000..]).unwrap(), 1_500);
    assert_eq!(store.count_live(&acme).unwrap(), 2_500);
    for template in [&all[0], &all[1_999], &all[2_499]] {
        assert_eq!(
            store.template(&acme, template.id()).unwrap().as_ref(),
            Some(template)
        );
    }
    // New ids come after the loaded ones.
    assert_eq!(store.allocate_template_id().unwrap(), TemplateId(2_501));
    assert_eq!(store.insert_templates(&[]).unwrap(), 0);
}
