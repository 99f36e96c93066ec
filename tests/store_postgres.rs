//! The PostgreSQL store: the conformance suite, each store in a schema of its own, and what is
//! PostgreSQL's own: migrations under concurrent openers (the earlier store's tables
//! included), corrupt rows, claims of rows another worker holds, the host's transaction,
//! `NOTIFY` on changes, error kinds, concurrent callers. Skipped (with a notice) unless
//! `RECURRING_DEALS_PG_URL` names a server.
#![cfg(feature = "postgres")]

mod conformance;
mod pg;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use conformance::{Make, create_daily, engine_at, local, t0, tenant, utc};
use pg::TestSchemas;
use recurring_deals::store::{Migrate, migrations};
use recurring_deals::{
    CommitOutcome, Deal, DealKey, Engine, EventKind, ManualClock, PostgresOptions, PostgresStore,
    Repository, RepositoryError, TemplateId, TemplateQuery,
};
use sqlx::postgres::{PgListener, PgPoolOptions};

/// Runs a conformance case, each store it makes in a schema of its own.
async fn run(case: &'static str) -> Option<(Arc<TestSchemas>, Box<Make<PostgresStore>>)> {
    let url = pg::pg_url(case)?;
    let schemas = Arc::new(TestSchemas::new(&url));
    let mine = Arc::clone(&schemas);
    let make = conformance::make(move || {
        let schemas = Arc::clone(&mine);
        async move { schemas.store("conf", 2).await }
    });
    Some((schemas, make))
}

conformance::conformance_tests!(run);

/// The schemas of a test, or `None` (skipped) without a server.
fn schemas(test: &str) -> Option<TestSchemas> {
    pg::pg_url(test).map(|url| TestSchemas::new(&url))
}

async fn exec(pool: &sqlx::PgPool, sql: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(pool)
        .await
        .unwrap();
}

/// Workers opening a fresh schema at once apply each migration exactly once (the advisory
/// lock), and reopening applies nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_openers_migrate_once() {
    let Some(schemas) = schemas("concurrent_openers_migrate_once") else {
        return;
    };
    let schema = schemas.fresh("open");
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let url = schemas.url.clone();
        let schema = schema.clone();
        tasks.push(tokio::spawn(async move {
            let options = PostgresOptions::new()
                .schema(&schema)
                .unwrap()
                .legacy_schema(None)
                .unwrap();
            PostgresStore::connect_with(&url, options, 1).await.unwrap()
        }));
    }
    for task in tasks {
        let store = task.await.unwrap();
        assert_eq!(store.schema_version().await.unwrap(), migrations::LATEST);
    }
    let pool = schemas.pool().await;
    let versions: Vec<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT version FROM \"{schema}\".schema_version ORDER BY version"
    )))
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(versions, (1..=migrations::LATEST).collect::<Vec<_>>());
    // Nothing of sqlx's migrator, nothing in the host's schema.
    let stray: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_tables WHERE tablename = '_sqlx_migrations' \
         OR (schemaname = 'public' AND tablename IN ('templates', 'deals', 'outbox'))",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(stray, 0);
}

/// A schema of a newer version is refused with both versions; with `Migrate::Check`, one
/// not yet migrated is refused too, and one migrated by the host (from the public SQL) opens.
#[tokio::test]
async fn schema_versions_are_checked() {
    let Some(schemas) = schemas("schema_versions_are_checked") else {
        return;
    };
    let store = schemas.store("newer", 1).await;
    let pool = store.pool().clone();
    let schema = pool_schema(&store);
    exec(
        &pool,
        &format!("INSERT INTO \"{schema}\".schema_version (version) VALUES (9)"),
    )
    .await;
    let options = PostgresOptions::new().schema(&schema).unwrap();
    assert_eq!(
        PostgresStore::open(pool.clone(), options)
            .await
            .unwrap_err(),
        RepositoryError::SchemaVersion {
            found: 9,
            expected: migrations::LATEST
        }
    );

    let host = schemas.fresh("host");
    let check = PostgresOptions::new()
        .schema(&host)
        .unwrap()
        .migrate(Migrate::Check);
    assert_eq!(
        PostgresStore::open(pool.clone(), check.clone())
            .await
            .unwrap_err(),
        RepositoryError::SchemaVersion {
            found: 0,
            expected: migrations::LATEST
        }
    );
    for step in migrations::postgres(&host).unwrap() {
        let mut tx = pool.begin().await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(step.sql()))
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    let store = PostgresStore::open(pool.clone(), check).await.unwrap();
    let acme = tenant("acme");
    let t = create_daily(&store, &acme, t0(), local(2026, 3, 1, 9, 0)).await;
    assert_eq!(store.template(&acme, t.id()).await.unwrap(), Some(t));

    for bad in ["", "Public", "a-b", "x\"; DROP SCHEMA public; --", "1abc"] {
        assert!(
            matches!(
                PostgresOptions::new().schema(bad),
                Err(RepositoryError::Refused { .. })
            ),
            "{bad:?}"
        );
    }
}

/// The schema a test store lives in (its channel is `{schema}_changed`).
fn pool_schema(store: &PostgresStore) -> String {
    store
        .listen_channel()
        .strip_suffix("_changed")
        .unwrap()
        .to_owned()
}

/// A corrupt template is a `CorruptRow` naming it when read, and skipped by the tenant's list
/// and due loading, so ticks keep running; a row whose body is another tenant's template is
/// corrupt (the tenant check on read).
#[tokio::test]
async fn corrupt_rows_are_named_and_skipped() {
    let Some(schemas) = schemas("corrupt_rows_are_named_and_skipped") else {
        return;
    };
    let store = schemas.store("corrupt", 2).await;
    let schema = pool_schema(&store);
    let acme = tenant("acme");
    let bad = create_daily(&store, &acme, t0(), local(2026, 3, 1, 8, 0)).await;
    let mut good = Vec::new();
    for h in 9..12 {
        good.push(create_daily(&store, &acme, t0(), local(2026, 3, 1, h, 0)).await);
    }
    let other = tenant("other");
    let wrong = create_daily(&store, &other, t0(), local(2026, 3, 1, 8, 30)).await;
    let pool = store.pool().clone();
    exec(
        &pool,
        &format!(
            "UPDATE \"{schema}\".templates SET body = left(body, 40) WHERE id = {}",
            bad.id().0
        ),
    )
    .await;
    exec(
        &pool,
        &format!(
            "UPDATE \"{schema}\".templates SET body = \
             (SELECT body FROM \"{schema}\".templates WHERE id = {}) WHERE id = {}",
            good[0].id().0,
            wrong.id().0
        ),
    )
    .await;

    match store.template(&acme, bad.id()).await.unwrap_err() {
        RepositoryError::CorruptRow { table, key, .. } => {
            assert_eq!(table, "templates");
            assert!(key.contains(&bad.id().to_string()), "{key}");
        }
        other => panic!("{other:?}"),
    }
    match store.template(&other, wrong.id()).await.unwrap_err() {
        RepositoryError::CorruptRow { reason, .. } => assert!(reason.contains("acme"), "{reason}"),
        other => panic!("{other:?}"),
    }
    let page = store
        .list_templates(&acme, &TemplateQuery::default())
        .await
        .unwrap();
    assert_eq!(
        page.items.iter().map(|t| t.id()).collect::<Vec<_>>(),
        good.iter().map(|t| t.id()).collect::<Vec<_>>()
    );
    let noon = utc(2026, 3, 1, 12, 0);
    let due: Vec<TemplateId> = store
        .due_templates(noon, 2)
        .await
        .unwrap()
        .iter()
        .map(|t| t.id())
        .collect();
    assert_eq!(due, vec![good[0].id(), good[1].id()]);
    let report = engine_at(&store, noon).tick().await.unwrap();
    assert_eq!(report.created.len(), 3);
    assert!(report.failures.is_empty(), "{:?}", report.failures);

    // A corrupt deal: named by key, skipped by the list.
    let k0 = conformance::key(good[0].id(), 0);
    exec(
        &pool,
        &format!(
            "UPDATE \"{schema}\".deals SET body = 'garbage' WHERE template_id = {}",
            good[0].id().0
        ),
    )
    .await;
    assert!(matches!(
        store.deal(&acme, k0).await.unwrap_err(),
        RepositoryError::CorruptRow { table: "deals", .. }
    ));
    assert_eq!(store.deals(&acme, None).await.unwrap().len(), 2);
}

/// A template row another worker's transaction holds is not waited for: the commit is a
/// conflict at once and writes nothing.
#[tokio::test]
async fn a_template_locked_by_another_worker_is_a_conflict_at_once() {
    let Some(schemas) = schemas("a_template_locked_by_another_worker_is_a_conflict_at_once") else {
        return;
    };
    let store = schemas.store("locked", 2).await;
    let schema = pool_schema(&store);
    let acme = tenant("acme");
    let t = create_daily(&store, &acme, t0(), local(2026, 3, 1, 9, 0)).await;
    let holder = schemas.pool().await;
    let mut tx = holder.begin().await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT id FROM \"{schema}\".templates WHERE id = $1 FOR UPDATE"
    )))
    .bind(t.id().0 as i64)
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    let planned = recurring_deals::plan(&t, utc(2026, 3, 1, 12, 0));
    let started = std::time::Instant::now();
    let outcome = store
        .commit(recurring_deals::Commit::from(planned.clone()))
        .await
        .unwrap();
    assert_eq!(outcome, CommitOutcome::Conflict);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(store.deals(&acme, None).await.unwrap().is_empty());
    tx.rollback().await.unwrap();
    assert!(matches!(
        store
            .commit(recurring_deals::Commit::from(planned))
            .await
            .unwrap(),
        CommitOutcome::Committed { version: 1, .. }
    ));
}

/// "Make this deal recurring" in the host's transaction: rolled back, no template;
/// committed, there. `commit_in` likewise.
#[tokio::test]
async fn the_host_transaction_decides() {
    let Some(schemas) = schemas("the_host_transaction_decides") else {
        return;
    };
    let store = schemas.store("hosttx", 2).await;
    let pool = store.pool().clone();
    let crm = schemas.fresh("crm");
    exec(
        &pool,
        &format!("CREATE SCHEMA \"{crm}\"; CREATE TABLE \"{crm}\".deals (id BIGINT PRIMARY KEY)"),
    )
    .await;
    let acme = tenant("acme");
    let engine = engine_at(&store, t0());
    let draft = || conformance::draft("Support", conformance::daily(local(2026, 3, 1, 9, 0), 1));

    for commit in [false, true] {
        let template = engine.new_template(&acme, draft()).await.unwrap();
        let mut tx = pool.begin().await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO \"{crm}\".deals (id) VALUES ($1)"
        )))
        .bind(template.id().0 as i64)
        .execute(&mut *tx)
        .await
        .unwrap();
        store.insert_template_in(&mut tx, &template).await.unwrap();
        if commit {
            tx.commit().await.unwrap();
            assert_eq!(
                store.template(&acme, template.id()).await.unwrap(),
                Some(template.clone())
            );
            let mut tx = pool.begin().await.unwrap();
            assert!(matches!(
                store
                    .commit_in(&mut tx, conformance::bare(&template))
                    .await
                    .unwrap(),
                CommitOutcome::Committed { version: 1, .. }
            ));
            tx.rollback().await.unwrap();
            assert_eq!(
                store
                    .template(&acme, template.id())
                    .await
                    .unwrap()
                    .unwrap()
                    .version(),
                0
            );
        } else {
            tx.rollback().await.unwrap();
            assert_eq!(store.template(&acme, template.id()).await.unwrap(), None);
        }
    }
    let rows: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM \"{crm}\".deals"
    )))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(rows, 1);
}

/// Copying created deals into the host's tables in the transaction that acknowledges their
/// events (`ack_in`): rolled back, neither; two workers copying the same events at once,
/// the second's acknowledgement waits for the first's commit, finds none left and rolls
/// back; each deal is copied once (issue #18).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_acknowledged_in_the_host_transaction_are_copied_once() {
    let Some(schemas) = schemas("events_acknowledged_in_the_host_transaction_are_copied_once")
    else {
        return;
    };
    let store = schemas.store("ackin", 4).await;
    let pool = store.pool().clone();
    let crm = schemas.fresh("crm");
    exec(
        &pool,
        &format!("CREATE SCHEMA \"{crm}\"; CREATE TABLE \"{crm}\".copies (deal TEXT NOT NULL)"),
    )
    .await;
    let acme = tenant("acme");
    create_daily(&store, &acme, t0(), local(2026, 3, 1, 9, 0)).await;
    let engine = engine_at(&store, utc(2026, 3, 3, 12, 0));
    engine.tick().await.unwrap(); // three deals, three events
    let events = engine.outbox(100).await.unwrap();
    assert_eq!(events.len(), 3);
    let ids: Vec<u64> = events.iter().map(|e| e.id).collect();
    let insert = format!("INSERT INTO \"{crm}\".copies (deal) VALUES ($1)");
    // Rolled back: no copy, the events still waiting.
    let mut tx = pool.begin().await.unwrap();
    copy_deals(&mut tx, &events, &insert).await;
    assert_eq!(store.ack_in(&mut tx, &ids).await.unwrap(), 3);
    tx.rollback().await.unwrap();
    assert_eq!(engine.outbox(100).await.unwrap().len(), 3);
    // Two workers at once: the first commits, the second finds nothing left.
    let mut first = pool.begin().await.unwrap();
    copy_deals(&mut first, &events, &insert).await;
    assert_eq!(store.ack_in(&mut first, &ids).await.unwrap(), 3);
    let second = {
        let (store, pool, ids) = (store.clone(), pool.clone(), ids.clone());
        let (events, insert) = (events.clone(), insert.clone());
        tokio::spawn(async move {
            let mut tx = pool.begin().await.unwrap();
            copy_deals(&mut tx, &events, &insert).await;
            let acknowledged = store.ack_in(&mut tx, &ids).await.unwrap();
            if acknowledged == ids.len() as u64 {
                tx.commit().await.unwrap();
            } else {
                tx.rollback().await.unwrap();
            }
            acknowledged
        })
    };
    // The second waits on the first's row locks.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!second.is_finished());
    first.commit().await.unwrap();
    assert_eq!(second.await.unwrap(), 0);
    assert!(engine.outbox(100).await.unwrap().is_empty());
    let copied: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT deal FROM \"{crm}\".copies ORDER BY deal"
    )))
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut expected: Vec<String> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::DealCreated { deal, .. } => Some(deal.to_string()),
            _ => None,
        })
        .collect();
    expected.sort();
    assert_eq!(copied, expected);
    assert_eq!(copied.len(), 3);
    assert_eq!(
        store
            .ack_in(&mut pool.acquire().await.unwrap(), &[])
            .await
            .unwrap(),
        0
    );
}

/// Copies the deals of `events` into the host's table with `insert`.
async fn copy_deals(
    tx: &mut sqlx::PgConnection,
    events: &[recurring_deals::OutboxEvent],
    insert: &str,
) {
    for event in events {
        if let EventKind::DealCreated { deal, .. } = &event.kind {
            sqlx::query(sqlx::AssertSqlSafe(insert.to_owned()))
                .bind(deal.to_string())
                .execute(&mut *tx)
                .await
                .unwrap();
        }
    }
}

/// Commits that move a template's next run notify the store's channel once per transaction
/// (a batch of three: one notification); a commit that leaves it notifies nothing.
#[tokio::test]
async fn changes_of_next_runs_notify_once_per_transaction() {
    let Some(schemas) = schemas("changes_of_next_runs_notify_once_per_transaction") else {
        return;
    };
    let store = schemas.store("notify", 2).await;
    let acme = tenant("acme");
    let mut templates = Vec::new();
    for h in 9..12 {
        templates.push(create_daily(&store, &acme, t0(), local(2026, 3, 1, h, 0)).await);
    }
    let mut listener = PgListener::connect(&schemas.url).await.unwrap();
    listener.listen(store.listen_channel()).await.unwrap();
    let next = async |listener: &mut PgListener| {
        tokio::time::timeout(Duration::from_millis(500), listener.recv())
            .await
            .ok()
            .map(|n| n.unwrap().channel().to_owned())
    };
    // Unchanged next runs: nothing.
    let outcomes = store
        .commit_batch(templates.iter().map(conformance::bare).collect())
        .await;
    assert!(outcomes.iter().all(|o| o.is_ok()));
    assert_eq!(next(&mut listener).await, None);
    // A tick moves all three: one notification.
    let report = engine_at(&store, utc(2026, 3, 1, 12, 0))
        .tick()
        .await
        .unwrap();
    assert_eq!(report.created.len(), 3);
    assert_eq!(
        next(&mut listener).await.as_deref(),
        Some(store.listen_channel())
    );
    assert_eq!(next(&mut listener).await, None);
    // A new template notifies too.
    create_daily(&store, &acme, t0(), local(2026, 3, 2, 9, 0)).await;
    assert_eq!(
        next(&mut listener).await.as_deref(),
        Some(store.listen_channel())
    );
}

/// A connection the server terminated (`pg_terminate_backend`) is a retryable
/// `Connection` error, and the pool reconnects for the next call.
#[tokio::test]
async fn a_terminated_connection_is_a_connection_error() {
    let Some(schemas) = schemas("a_terminated_connection_is_a_connection_error") else {
        return;
    };
    let schema = schemas.fresh("terminated");
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .test_before_acquire(false)
        .connect(&schemas.url)
        .await
        .unwrap();
    let options = PostgresOptions::new()
        .schema(&schema)
        .unwrap()
        .legacy_schema(None)
        .unwrap();
    let store = PostgresStore::open(pool.clone(), options).await.unwrap();
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&pool)
        .await
        .unwrap();
    let admin = schemas.pool().await;
    sqlx::query("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .execute(&admin)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let error = store.outbox(1).await.unwrap_err();
    assert_eq!(error.kind(), "connection", "{error:?}");
    assert!(error.is_retryable());
    assert!(store.outbox(1).await.unwrap().is_empty());
}

/// The previous store's tables (`rd_*` in its schema, version 1; its CREATE statements and
/// rows as it wrote them) are copied into the new schema when it is created; ids continue.
#[tokio::test]
async fn a_database_of_the_previous_store_is_migrated_forward() {
    let Some(schemas) = schemas("a_database_of_the_previous_store_is_migrated_forward") else {
        return;
    };
    // The data, made by the engine on a reference store.
    let reference = recurring_deals::InMemoryRepository::new();
    let acme = tenant("acme");
    let t = create_daily(&reference, &acme, t0(), local(2026, 3, 1, 9, 0)).await;
    engine_at(&reference, utc(2026, 3, 3, 12, 0))
        .tick()
        .await
        .unwrap();
    let template = reference.template(&acme, t.id()).await.unwrap().unwrap();
    let deals = reference.deals(&acme, None).await.unwrap();
    let outbox = reference.outbox(100).await.unwrap();
    let skip = conformance::skipped_occurrence(
        &acme,
        conformance::key(t.id(), 9),
        utc(2026, 3, 10, 9, 0),
        recurring_deals::SkipReason::Missed,
    );
    let invoice = conformance::open_invoice(&acme, deals[0].key, &[utc(2026, 3, 9, 0, 0)]);

    let legacy = schemas.fresh("legacy");
    let pool = schemas.pool().await;
    exec(&pool, &format!("CREATE SCHEMA \"{legacy}\"")).await;
    let mut conn = pool.acquire().await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "SET search_path TO \"{legacy}\";
         CREATE TABLE rd_schema_version (
             version    INTEGER PRIMARY KEY,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         );
         INSERT INTO rd_schema_version (version) VALUES (1);
         CREATE SEQUENCE rd_template_ids;
         CREATE TABLE rd_templates (
             id          BIGINT PRIMARY KEY,
             tenant      TEXT NOT NULL,
             version     BIGINT NOT NULL,
             state       TEXT NOT NULL,
             next_run_ns BIGINT,
             body        TEXT NOT NULL
         );
         CREATE INDEX rd_templates_due ON rd_templates (next_run_ns, id)
             WHERE next_run_ns IS NOT NULL;
         CREATE INDEX rd_templates_tenant ON rd_templates (tenant, next_run_ns, id);
         CREATE TABLE rd_deals (
             template_id   BIGINT NOT NULL,
             kind          SMALLINT NOT NULL,
             revision      BIGINT NOT NULL,
             num           BIGINT NOT NULL,
             tenant        TEXT NOT NULL,
             nominal_at_ns BIGINT NOT NULL,
             body          TEXT NOT NULL,
             CONSTRAINT rd_deals_key PRIMARY KEY (template_id, kind, revision, num)
         );
         CREATE INDEX rd_deals_tenant ON rd_deals (tenant, template_id);
         CREATE TABLE rd_skipped (
             template_id BIGINT NOT NULL,
             kind        SMALLINT NOT NULL,
             revision    BIGINT NOT NULL,
             num         BIGINT NOT NULL,
             tenant      TEXT NOT NULL,
             body        TEXT NOT NULL,
             CONSTRAINT rd_skipped_key PRIMARY KEY (template_id, kind, revision, num)
         );
         CREATE INDEX rd_skipped_tenant ON rd_skipped (tenant, template_id);
         CREATE TABLE rd_invoices (
             template_id      BIGINT NOT NULL,
             kind             SMALLINT NOT NULL,
             revision         BIGINT NOT NULL,
             num              BIGINT NOT NULL,
             tenant           TEXT NOT NULL,
             version          BIGINT NOT NULL,
             next_reminder_ns BIGINT,
             body             TEXT NOT NULL,
             CONSTRAINT rd_invoices_key PRIMARY KEY (template_id, kind, revision, num)
         );
         CREATE INDEX rd_invoices_due ON rd_invoices (next_reminder_ns)
             WHERE next_reminder_ns IS NOT NULL;
         CREATE TABLE rd_events (
             id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
             tenant          TEXT NOT NULL,
             idempotency_key TEXT NOT NULL,
             at_ns           BIGINT NOT NULL,
             body            TEXT NOT NULL
         );
         SELECT setval('rd_template_ids', 40);
         SET search_path TO public;"
    )))
    .execute(&mut *conn)
    .await
    .unwrap();
    drop(conn);
    let ns = |at: chrono::DateTime<chrono::Utc>| at.timestamp_nanos_opt().unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO \"{legacy}\".rd_templates VALUES ($1, 'acme', $2, 'active', $3, $4)"
    )))
    .bind(template.id().0 as i64)
    .bind(template.version() as i64)
    .bind(template.next_run().map(ns))
    .bind(serde_json::to_string(&template).unwrap())
    .execute(&pool)
    .await
    .unwrap();
    for deal in &deals {
        let DealKey::Scheduled {
            template,
            revision,
            seq,
        } = deal.key
        else {
            unreachable!()
        };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO \"{legacy}\".rd_deals VALUES ($1, 0, $2, $3, 'acme', $4, $5)"
        )))
        .bind(template.0 as i64)
        .bind(i64::from(revision))
        .bind(seq as i64)
        .bind(ns(deal.nominal_at))
        .bind(serde_json::to_string(deal).unwrap())
        .execute(&pool)
        .await
        .unwrap();
    }
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO \"{legacy}\".rd_skipped VALUES ($1, 0, 0, 9, 'acme', $2)"
    )))
    .bind(t.id().0 as i64)
    .bind(serde_json::to_string(&skip).unwrap())
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO \"{legacy}\".rd_invoices VALUES ($1, 0, 0, 0, 'acme', 0, $2, $3)"
    )))
    .bind(t.id().0 as i64)
    .bind(invoice.next_reminder().map(ns))
    .bind(serde_json::to_string(&invoice).unwrap())
    .execute(&pool)
    .await
    .unwrap();
    for event in &outbox {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO \"{legacy}\".rd_events (tenant, idempotency_key, at_ns, body) \
             VALUES ($1, $2, $3, $4)"
        )))
        .bind(event.tenant.as_str())
        .bind(&event.idempotency_key)
        .bind(ns(event.at))
        .bind(serde_json::to_string(&event.kind).unwrap())
        .execute(&pool)
        .await
        .unwrap();
    }

    let options = PostgresOptions::new()
        .schema(&schemas.fresh("new"))
        .unwrap()
        .legacy_schema(Some(&legacy))
        .unwrap();
    let store = PostgresStore::open(pool.clone(), options).await.unwrap();
    assert_eq!(store.template(&acme, t.id()).await.unwrap(), Some(template));
    assert_eq!(store.deals(&acme, None).await.unwrap(), deals);
    assert_eq!(store.skipped(&acme, None).await.unwrap(), vec![skip]);
    assert_eq!(
        store.invoice(&acme, invoice.deal).await.unwrap(),
        Some(invoice)
    );
    let migrated = store.outbox(100).await.unwrap();
    assert_eq!(migrated.len(), outbox.len());
    for (new, old) in migrated.iter().zip(&outbox) {
        assert_eq!(
            (&new.tenant, &new.idempotency_key, new.at, &new.kind),
            (&old.tenant, &old.idempotency_key, old.at, &old.kind)
        );
    }
    assert!(store.allocate_template_id().await.unwrap().0 > 40);
    let report = engine_at(&store, utc(2026, 3, 5, 12, 0))
        .tick()
        .await
        .unwrap();
    assert_eq!(report.created.len(), 2);
    let after = store.outbox(100).await.unwrap();
    assert!(
        after
            .iter()
            .skip(migrated.len())
            .all(|e| e.id > migrated.last().unwrap().id)
    );

    // An earlier store's schema of a version this crate never knew is refused.
    exec(
        &pool,
        &format!("INSERT INTO \"{legacy}\".rd_schema_version (version) VALUES (2)"),
    )
    .await;
    let options = PostgresOptions::new()
        .schema(&schemas.fresh("refused"))
        .unwrap()
        .legacy_schema(Some(&legacy))
        .unwrap();
    assert_eq!(
        PostgresStore::open(pool.clone(), options)
            .await
            .unwrap_err(),
        RepositoryError::SchemaVersion {
            found: 2,
            expected: 1
        }
    );
}

/// Tasks ticking one store (on a pool of 4) race tasks editing its templates: every
/// occurrence is created once and announced once, no edit is lost, counters agree.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_ticks_and_edits_lose_nothing() {
    const TEMPLATES: u32 = 60;
    const DAYS: i64 = 12;
    const TICKERS: usize = 3;
    const EDITS: usize = 40;
    let Some(schemas) = schemas("concurrent_ticks_and_edits_lose_nothing") else {
        return;
    };
    let store = schemas.store("tasks", 4).await;
    let acme = tenant("acme");
    let mut starts = BTreeMap::new();
    for i in 0..TEMPLATES {
        let start = local(2026, 3, 1, 9, 0) + TimeDelta::minutes(i64::from(i));
        let t = create_daily(&store, &acme, t0(), start).await;
        starts.insert(t.id(), start.and_utc());
    }
    let ids: Vec<TemplateId> = starts.keys().copied().collect();
    let barrier = Arc::new(tokio::sync::Barrier::new(TICKERS));
    let mut tasks = Vec::new();
    for _ in 0..TICKERS {
        let store = store.clone();
        let barrier = Arc::clone(&barrier);
        tasks.push(tokio::spawn(async move {
            let clock = ManualClock::new(t0());
            let engine = Engine::new(store, clock.clone());
            let mut created = 0;
            for day in 0..DAYS {
                clock.set(t0() + TimeDelta::days(day) + TimeDelta::hours(12));
                barrier.wait().await;
                let report = engine.tick().await.unwrap();
                assert!(report.failures.is_empty(), "{:?}", report.failures);
                created += report.created.len();
            }
            created
        }));
    }
    let editor = {
        let store = store.clone();
        let acme = acme.clone();
        tokio::spawn(async move {
            let engine = Engine::new(store, ManualClock::new(t0()));
            let mut last = BTreeMap::new();
            for n in 0..EDITS {
                let id = ids[n * 7 % ids.len()];
                let title = format!("edit {n}");
                let deal = Deal::new(&title, conformance::rub(100_000)).unwrap();
                engine.edit_deal(&acme, id, deal).await.unwrap();
                last.insert(id, title);
            }
            last
        })
    };
    let mut reported = 0;
    for task in tasks {
        reported += task.await.unwrap();
    }
    let last_titles = editor.await.unwrap();
    let last_day = t0() + TimeDelta::days(DAYS - 1) + TimeDelta::hours(12);
    reported += engine_at(&store, last_day)
        .tick()
        .await
        .unwrap()
        .created
        .len();

    let deals = store.deals(&acme, None).await.unwrap();
    assert_eq!(deals.len(), TEMPLATES as usize * DAYS as usize);
    assert_eq!(reported, deals.len(), "a deal was reported by two workers");
    let mut by_template: BTreeMap<TemplateId, Vec<_>> = BTreeMap::new();
    for deal in &deals {
        by_template
            .entry(deal.key.template())
            .or_default()
            .push(deal.nominal_at);
    }
    for (id, start) in &starts {
        let expected: Vec<_> = (0..DAYS).map(|d| *start + TimeDelta::days(d)).collect();
        assert_eq!(by_template[id], expected, "{id}");
        let template = store.template(&acme, *id).await.unwrap().unwrap();
        assert_eq!(template.counters().created_by_schedule, DAYS as u64);
        if let Some(title) = last_titles.get(id) {
            assert_eq!(template.deal().title(), title, "edit of {id} lost");
        }
    }
    let mut announced = BTreeSet::new();
    for event in store.outbox(usize::MAX).await.unwrap() {
        if let EventKind::DealCreated { deal, .. } = event.kind {
            assert!(announced.insert(deal), "{deal} announced twice");
        }
    }
    assert_eq!(announced.len(), deals.len());
}

/// Rows an earlier schema wrote (no zone column value, no rules recorded) are planned again
/// by the first tick, which writes each row's zone and records the zone's rules, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_without_a_zone_are_planned_again_and_given_one() {
    let Some(schemas) = schemas("rows_without_a_zone_are_planned_again_and_given_one") else {
        return;
    };
    let schema = schemas.fresh("unzoned");
    let pool = schemas.pool().await;
    let options = PostgresOptions::new().schema(&schema).unwrap();
    let store = PostgresStore::open(pool.clone(), options).await.unwrap();
    let acme = tenant("acme");
    let first = create_daily(&store, &acme, t0(), local(2026, 3, 1, 9, 0)).await;
    engine_at(&store, t0()).tick().await.unwrap();
    exec(
        &pool,
        &format!(
            "UPDATE \"{schema}\".templates SET zone = NULL; DELETE FROM \"{schema}\".zone_rules"
        ),
    )
    .await;
    let zones = store.planned_zones().await.unwrap();
    assert_eq!(zones.len(), 1);
    assert_eq!((zones[0].zone.as_deref(), zones[0].templates), (None, 1));
    let replanned = engine_at(&store, t0())
        .tick()
        .await
        .unwrap()
        .replanned
        .unwrap();
    assert_eq!(
        (replanned.unzoned, replanned.moved),
        (1, 1),
        "{replanned:?}"
    );
    assert_eq!(replanned.zones.len(), 1);
    assert_eq!(replanned.zones[0].zone, "UTC");
    let zone: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT zone FROM \"{schema}\".templates WHERE id = $1"
    )))
    .bind(i64::try_from(first.id().0).unwrap())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(zone.as_deref(), Some("UTC"));
    let again = engine_at(&store, t0())
        .tick()
        .await
        .unwrap()
        .replanned
        .unwrap();
    assert!(again.is_empty(), "{again:?}");
}

/// Issue #21: every session of `PostgresStore::connect_options` has time limits (statement,
/// idle in transaction, server keepalives), a host can override them, and a statement the
/// server cancels for its time is a retryable `busy` error.
#[tokio::test]
async fn sessions_have_time_limits_a_host_can_override() {
    let Some(schemas) = schemas("sessions_have_time_limits_a_host_can_override") else {
        return;
    };
    let show = |pool: sqlx::PgPool, setting: &'static str| async move {
        sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(format!("SHOW {setting}")))
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    let options = PostgresStore::connect_options(&schemas.url).unwrap();
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options.clone())
        .await
        .unwrap();
    assert_eq!(show(pool.clone(), "statement_timeout").await, "30s");
    assert_eq!(
        show(pool.clone(), "idle_in_transaction_session_timeout").await,
        "1min"
    );
    assert_eq!(show(pool.clone(), "tcp_keepalives_idle").await, "30");
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options.options([("statement_timeout", "200ms")]))
        .await
        .unwrap();
    assert_eq!(show(pool.clone(), "statement_timeout").await, "200ms");
    let schema = schemas.fresh("limits");
    let store = PostgresStore::open(
        pool.clone(),
        PostgresOptions::new()
            .schema(&schema)
            .unwrap()
            .legacy_schema(None)
            .unwrap(),
    )
    .await
    .unwrap();
    // A store call waiting past the limit (another session holds the outbox table) is
    // cancelled by the server: a retryable `busy` error, and the next call works.
    let admin = schemas.pool().await;
    let mut holder = admin.begin().await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "LOCK TABLE {schema}.outbox IN ACCESS EXCLUSIVE MODE"
    )))
    .execute(&mut *holder)
    .await
    .unwrap();
    let error = store.outbox(1).await.unwrap_err();
    assert_eq!(error.kind(), "busy", "{error:?}");
    assert!(error.is_retryable());
    assert!(
        error.chain().contains("statement timeout"),
        "{}",
        error.chain()
    );
    holder.rollback().await.unwrap();
    assert!(store.outbox(1).await.unwrap().is_empty());
}
