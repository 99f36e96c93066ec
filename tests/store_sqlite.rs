//! The SQLite store: the conformance suite on database files, and what is SQLite's own:
//! schema versions and migrations (the earlier store's files included), durability checks of
//! a host's pool, corrupt rows, the host's transaction, concurrent callers.
#![cfg(feature = "sqlite")]

mod conformance;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::TimeDelta;
use conformance::{Make, create_daily, engine_at, local, t0, tenant, utc};
use recurring_deals::store::{Migrate, migrations};
use recurring_deals::{
    Clock, Deal, DealKey, Engine, EngineConfig, EventKind, ManualClock, NewEvent, Repository,
    RepositoryError, SqliteOptions, SqliteStore, TemplateId, TemplateQuery,
};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

/// A directory of its own under the system's temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(what: &str) -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "recurring-deals-{what}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs a conformance case on fresh database files.
async fn run(case: &'static str) -> Option<(Arc<TempDir>, Box<Make<SqliteStore>>)> {
    let dir = Arc::new(TempDir::new(case));
    let files = Arc::clone(&dir);
    let next = Arc::new(AtomicU64::new(0));
    let make = conformance::make(move || {
        let path = files
            .path()
            .join(format!("store-{}.db", next.fetch_add(1, Ordering::Relaxed)));
        async move { SqliteStore::connect(path).await.unwrap() }
    });
    Some((dir, make))
}

conformance::conformance_tests!(run);

/// The in-memory database runs the same schema and queries.
#[tokio::test]
async fn conformance_in_memory() {
    conformance::run_all(&*conformance::make(|| async {
        SqliteStore::in_memory().await.unwrap()
    }))
    .await;
}

/// A pool of one file with the store's settings, as a host would build it.
async fn host_pool(path: &Path) -> SqlitePool {
    SqlitePoolOptions::new()
        .max_connections(2)
        .connect_with(SqliteStore::connect_options(path))
        .await
        .unwrap()
}

/// A plain connection pool to a file, for editing it behind the store's back.
async fn editor(path: &Path) -> SqlitePool {
    SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            SqliteConnectOptions::new()
                .filename(path)
                .busy_timeout(std::time::Duration::from_secs(5)),
        )
        .await
        .unwrap()
}

async fn exec(pool: &SqlitePool, sql: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(pool)
        .await
        .unwrap();
}

/// A new file gets the current schema, in WAL mode; reopening keeps the data and applies
/// nothing twice; the id allocator continues.
#[tokio::test]
async fn reopening_keeps_data_and_schema() {
    let dir = TempDir::new("reopen");
    let path = dir.path().join("deals.db");
    let acme = tenant("acme");
    let first = {
        let store = SqliteStore::connect(&path).await.unwrap();
        assert_eq!(store.schema_version().await.unwrap(), migrations::LATEST);
        let t = create_daily(&store, &acme, t0(), local(2026, 3, 1, 9, 0)).await;
        store.pool().close().await;
        t
    };
    let edit = editor(&path).await;
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&edit)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM rd_schema_version")
        .fetch_all(&edit)
        .await
        .unwrap();
    assert_eq!(versions, (1..=migrations::LATEST).collect::<Vec<_>>());

    let store = SqliteStore::connect(&path).await.unwrap();
    assert_eq!(
        store.template(&acme, first.id()).await.unwrap(),
        Some(first.clone())
    );
    let second = create_daily(&store, &acme, t0(), local(2026, 3, 1, 9, 0)).await;
    assert!(second.id() > first.id());
    let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM rd_schema_version")
        .fetch_all(&edit)
        .await
        .unwrap();
    assert_eq!(versions, (1..=migrations::LATEST).collect::<Vec<_>>());
}

/// A database at schema version 1 (as the first sqlx release wrote it) is migrated forward on
/// open, keeping its rows: version 2 adds the scan index, version 3 the invoices' overdue
/// column and index (rows written before it are not overdue).
#[tokio::test]
async fn a_version_1_database_is_migrated_forward() {
    let dir = TempDir::new("v1");
    let path = dir.path().join("deals.db");
    let acme = tenant("acme");
    let first = {
        let store = SqliteStore::connect(&path).await.unwrap();
        let t = create_daily(&store, &acme, t0(), local(2026, 3, 1, 9, 0)).await;
        store.pool().close().await;
        t
    };
    // Back to version 1: what the first release left.
    let edit = editor(&path).await;
    exec(&edit, "DROP INDEX rd_templates_scan").await;
    exec(&edit, "DROP INDEX rd_invoices_overdue").await;
    exec(&edit, "ALTER TABLE rd_invoices DROP COLUMN overdue_ns").await;
    exec(&edit, "DROP INDEX rd_templates_zone").await;
    exec(&edit, "ALTER TABLE rd_templates DROP COLUMN zone").await;
    exec(&edit, "DROP TABLE rd_zone_rules").await;
    exec(&edit, "DROP INDEX rd_outbox_dead").await;
    for column in ["attempts", "retry_at_ns", "last_error", "dead_at_ns"] {
        exec(
            &edit,
            &format!("ALTER TABLE rd_outbox DROP COLUMN {column}"),
        )
        .await;
    }
    exec(&edit, "DELETE FROM rd_schema_version WHERE version > 1").await;
    let store = SqliteStore::connect(&path).await.unwrap();
    assert_eq!(store.schema_version().await.unwrap(), migrations::LATEST);
    let index: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'rd_templates_scan'",
    )
    .fetch_one(&edit)
    .await
    .unwrap();
    assert_eq!(index, 1);
    let overdue: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'rd_invoices_overdue'",
    )
    .fetch_one(&edit)
    .await
    .unwrap();
    assert_eq!(overdue, 1);
    // Version 5: refused deliveries and dead letters.
    let dead_index: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'rd_outbox_dead'",
    )
    .fetch_one(&edit)
    .await
    .unwrap();
    assert_eq!(dead_index, 1);
    assert!(
        store
            .dead_letters(&acme, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .overdue_invoices(&acme, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let scan = store.scan_templates(&acme, None, 10).await.unwrap();
    assert_eq!(scan.items, vec![first.clone()]);
    assert_eq!(scan.next, None);
    // Version 4: the row has no zone yet and no rules are recorded; the first tick plans it
    // again, writes its zone and records the zone's rules.
    let zones = store.planned_zones().await.unwrap();
    assert_eq!(zones.len(), 1);
    assert_eq!((zones[0].zone.as_deref(), zones[0].templates), (None, 1));
    let report = engine_at(&store, t0()).tick().await.unwrap();
    let replanned = report.replanned.unwrap();
    assert_eq!(replanned.unzoned, 1, "{replanned:?}");
    assert_eq!(
        replanned.moved, 1,
        "the row is written again, with its zone"
    );
    assert_eq!(replanned.zones.len(), 1);
    assert_eq!(replanned.zones[0].zone, "UTC");
    assert_eq!(replanned.zones[0].previous, None);
    let zone: Option<String> = sqlx::query_scalar("SELECT zone FROM rd_templates WHERE id = ?1")
        .bind(i64::try_from(first.id().0).unwrap())
        .fetch_one(&edit)
        .await
        .unwrap();
    assert_eq!(zone.as_deref(), Some("UTC"));
    let recorded: (String, String) = sqlx::query_as("SELECT zone, tzdb FROM rd_zone_rules")
        .fetch_one(&edit)
        .await
        .unwrap();
    assert_eq!(
        recorded,
        ("UTC".into(), recurring_deals::tz::tzdb_version())
    );
}

/// A database written by a newer release is refused with both versions, and left as is.
#[tokio::test]
async fn newer_schema_version_is_refused() {
    let dir = TempDir::new("schema");
    let path = dir.path().join("deals.db");
    SqliteStore::connect(&path)
        .await
        .unwrap()
        .pool()
        .close()
        .await;
    exec(
        &editor(&path).await,
        "INSERT INTO rd_schema_version (version) VALUES (7)",
    )
    .await;
    let refused = SqliteStore::connect(&path).await.unwrap_err();
    assert_eq!(
        refused,
        RepositoryError::SchemaVersion {
            found: 7,
            expected: migrations::LATEST
        }
    );
    let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM rd_schema_version")
        .fetch_all(&editor(&path).await)
        .await
        .unwrap();
    let mut expected: Vec<i64> = (1..=migrations::LATEST).collect();
    expected.push(7);
    assert_eq!(versions, expected);
}

/// A file that is not a database is an error, not a panic.
#[tokio::test]
async fn a_file_that_is_not_a_database_is_an_error() {
    let dir = TempDir::new("garbage");
    let path = dir.path().join("notes.db");
    std::fs::write(&path, vec![b'x'; 4096]).unwrap();
    assert!(SqliteStore::connect(&path).await.is_err());
}

/// A host's pool weaker than WAL with `synchronous=FULL` is refused, naming the setting,
/// unless the host accepts it.
#[tokio::test]
async fn weak_durability_of_a_host_pool_is_refused_unless_accepted() {
    let dir = TempDir::new("durability");
    let weak = |journal, synchronous| {
        let path = dir.path().join("deals.db");
        async move {
            SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(
                    SqliteConnectOptions::new()
                        .filename(path)
                        .create_if_missing(true)
                        .journal_mode(journal)
                        .synchronous(synchronous),
                )
                .await
                .unwrap()
        }
    };
    let pool = weak(SqliteJournalMode::Delete, SqliteSynchronous::Full).await;
    let refused = SqliteStore::open(pool, SqliteOptions::new())
        .await
        .unwrap_err();
    assert!(
        matches!(
            &refused,
            RepositoryError::Durability { setting: "journal_mode", found, required: "wal" }
                if found == "delete"
        ),
        "{refused:?}"
    );
    let pool = weak(SqliteJournalMode::Wal, SqliteSynchronous::Normal).await;
    let refused = SqliteStore::open(pool.clone(), SqliteOptions::new())
        .await
        .unwrap_err();
    assert!(
        matches!(
            &refused,
            RepositoryError::Durability { setting: "synchronous", found, required: "full" }
                if found == "normal"
        ),
        "{refused:?}"
    );
    assert!(!refused.is_retryable());
    let store = SqliteStore::open(pool, SqliteOptions::new().accept_weaker_durability())
        .await
        .unwrap();
    assert!(store.outbox(1).await.unwrap().is_empty());
    // The store's own settings pass.
    let dir = TempDir::new("durable");
    let pool = host_pool(&dir.path().join("deals.db")).await;
    SqliteStore::open(pool, SqliteOptions::new()).await.unwrap();
}

/// The migrations' SQL is public: a host applies it itself (here with its own prefix), then
/// opens with `Migrate::Check`, which refuses a database not at the latest version.
#[tokio::test]
async fn migrations_run_by_the_host() {
    let dir = TempDir::new("host-migrations");
    let pool = host_pool(&dir.path().join("deals.db")).await;
    let options = SqliteOptions::new()
        .prefix("crm_rd_")
        .unwrap()
        .migrate(Migrate::Check);
    let refused = SqliteStore::open(pool.clone(), options.clone())
        .await
        .unwrap_err();
    assert_eq!(
        refused,
        RepositoryError::SchemaVersion {
            found: 0,
            expected: migrations::LATEST
        }
    );
    let steps = migrations::sqlite("crm_rd_").unwrap();
    assert_eq!(
        steps.iter().map(|m| m.version()).collect::<Vec<_>>(),
        (1..=migrations::LATEST).collect::<Vec<_>>()
    );
    for step in &steps {
        let mut tx = pool.begin().await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(step.sql()))
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    let store = SqliteStore::open(pool.clone(), options).await.unwrap();
    let acme = tenant("acme");
    let t = create_daily(&store, &acme, t0(), local(2026, 3, 1, 9, 0)).await;
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM crm_rd_templates")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, 1);
    assert_eq!(store.template(&acme, t.id()).await.unwrap(), Some(t));
    // No sqlx migration table: the host's own migrator is not disturbed.
    let sqlx_table: Option<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE name = '_sqlx_migrations'")
            .fetch_optional(&pool)
            .await
            .unwrap();
    assert_eq!(sqlx_table, None);
}

/// A template row with unreadable JSON, or with a body of another tenant, is a
/// `CorruptRow` naming the table and the template when read; listings and due loading skip
/// it, so the tenant's list and the ticks keep working.
#[tokio::test]
async fn corrupt_templates_are_named_and_skipped() {
    let dir = TempDir::new("corrupt");
    let path = dir.path().join("deals.db");
    let store = SqliteStore::connect(&path).await.unwrap();
    let acme = tenant("acme");
    // The corrupt one is due first, so it would take the first slot of a batch.
    let bad = create_daily(&store, &acme, t0(), local(2026, 3, 1, 8, 0)).await;
    let mut good = Vec::new();
    for h in 9..12 {
        good.push(create_daily(&store, &acme, t0(), local(2026, 3, 1, h, 0)).await);
    }
    let other = tenant("other");
    let wrong = create_daily(&store, &other, t0(), local(2026, 3, 1, 8, 30)).await;

    let edit = editor(&path).await;
    let original: String = sqlx::query_scalar("SELECT body FROM rd_templates WHERE id = ?1")
        .bind(bad.id().0 as i64)
        .fetch_one(&edit)
        .await
        .unwrap();
    sqlx::query("UPDATE rd_templates SET body = ?1 WHERE id = ?2")
        .bind(&original[..original.len() / 2])
        .bind(bad.id().0 as i64)
        .execute(&edit)
        .await
        .unwrap();
    // A readable body of acme's template in a row of tenant `other`.
    sqlx::query(
        "UPDATE rd_templates SET body = (SELECT body FROM rd_templates WHERE id = ?1) \
         WHERE id = ?2",
    )
    .bind(good[0].id().0 as i64)
    .bind(wrong.id().0 as i64)
    .execute(&edit)
    .await
    .unwrap();

    match store.template(&acme, bad.id()).await.unwrap_err() {
        RepositoryError::CorruptRow { table, key, .. } => {
            assert_eq!(table, "templates");
            assert!(key.contains(&bad.id().to_string()), "{key}");
        }
        other => panic!("{other:?}"),
    }
    // The tenant check on read: the body names acme, the row is other's.
    match store.template(&other, wrong.id()).await.unwrap_err() {
        RepositoryError::CorruptRow { table, key, reason } => {
            assert_eq!(table, "templates");
            assert!(key.contains(&wrong.id().to_string()), "{key}");
            assert!(reason.contains("acme"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(store.template(&acme, wrong.id()).await.unwrap(), None);
    let page = store
        .list_templates(&acme, &TemplateQuery::default())
        .await
        .unwrap();
    assert_eq!(
        page.items.iter().map(|t| t.id()).collect::<Vec<_>>(),
        good.iter().map(|t| t.id()).collect::<Vec<_>>()
    );
    assert_eq!(page.total, 4);

    // A batch of 2 still gets 2 readable templates; a tick runs the readable ones.
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
    let expected: BTreeSet<DealKey> = good.iter().map(|t| conformance::key(t.id(), 0)).collect();
    assert_eq!(
        report.created.iter().copied().collect::<BTreeSet<_>>(),
        expected
    );
    assert!(report.failures.is_empty(), "{:?}", report.failures);

    // Repaired, it runs again.
    sqlx::query("UPDATE rd_templates SET body = ?1 WHERE id = ?2")
        .bind(&original)
        .bind(bad.id().0 as i64)
        .execute(&edit)
        .await
        .unwrap();
    let report = engine_at(&store, noon).tick().await.unwrap();
    assert_eq!(report.created, vec![conformance::key(bad.id(), 0)]);
}

/// An unreadable deal or invoice is a `CorruptRow` naming its key when read by key, and is
/// skipped by listings and due loading (the other reminders still go out).
#[tokio::test]
async fn corrupt_deals_and_invoices_are_named_or_skipped() {
    let dir = TempDir::new("corrupt-rows");
    let path = dir.path().join("deals.db");
    let store = SqliteStore::connect(&path).await.unwrap();
    let acme = tenant("acme");
    let t = create_daily(&store, &acme, t0(), local(2026, 3, 1, 9, 0)).await;
    let k0 = conformance::key(t.id(), 0);
    let k1 = conformance::key(t.id(), 1);
    let noon = utc(2026, 3, 2, 12, 0);
    let mut commit = conformance::bare(&t);
    commit.deals = vec![
        conformance::created_deal(&acme, k0, "d", utc(2026, 3, 1, 9, 0)),
        conformance::created_deal(&acme, k1, "e", utc(2026, 3, 2, 9, 0)),
    ];
    commit.invoices = vec![
        conformance::open_invoice(&acme, k0, &[noon]),
        conformance::open_invoice(&acme, k1, &[noon]),
    ];
    store.commit(commit).await.unwrap();

    let edit = editor(&path).await;
    exec(&edit, "UPDATE rd_deals SET body = 'garbage' WHERE num = 0").await;
    exec(&edit, "UPDATE rd_invoices SET body = '{}' WHERE num = 0").await;
    let listed: Vec<DealKey> = store
        .deals(&acme, None)
        .await
        .unwrap()
        .iter()
        .map(|d| d.key)
        .collect();
    assert_eq!(listed, vec![k1]);
    for error in [
        store.deal(&acme, k0).await.unwrap_err(),
        store.invoice(&acme, k0).await.unwrap_err(),
    ] {
        match error {
            RepositoryError::CorruptRow { key, .. } => assert_eq!(key, k0.to_string()),
            other => panic!("{other:?}"),
        }
    }
    let due: Vec<DealKey> = store
        .due_invoices(noon, 10)
        .await
        .unwrap()
        .iter()
        .map(|i| i.deal)
        .collect();
    assert_eq!(due, vec![k1]);
    assert_eq!(store.due_invoices(noon, 1).await.unwrap().len(), 1);
}

/// "Make this deal recurring" inside the host's transaction: rolled back, no template;
/// committed, the template is there. `commit_in` likewise.
#[tokio::test]
async fn the_host_transaction_decides() {
    let dir = TempDir::new("host-tx");
    let pool = host_pool(&dir.path().join("deals.db")).await;
    exec(
        &pool,
        "CREATE TABLE crm_deals (id INTEGER PRIMARY KEY, recurring INTEGER)",
    )
    .await;
    let store = SqliteStore::open(pool.clone(), SqliteOptions::new())
        .await
        .unwrap();
    let acme = tenant("acme");
    let engine = engine_at(&store, t0());
    let draft = || conformance::draft("Support", conformance::daily(local(2026, 3, 1, 9, 0), 1));

    let template = engine.new_template(&acme, draft()).await.unwrap();
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("INSERT INTO crm_deals (id, recurring) VALUES (1, 1)")
        .execute(&mut *tx)
        .await
        .unwrap();
    store.insert_template_in(&mut tx, &template).await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(store.template(&acme, template.id()).await.unwrap(), None);
    let crm: i64 = sqlx::query_scalar("SELECT count(*) FROM crm_deals")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(crm, 0);

    let template = engine.new_template(&acme, draft()).await.unwrap();
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("INSERT INTO crm_deals (id, recurring) VALUES (1, 1)")
        .execute(&mut *tx)
        .await
        .unwrap();
    store.insert_template_in(&mut tx, &template).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        store.template(&acme, template.id()).await.unwrap(),
        Some(template.clone())
    );

    // An edit in the host's transaction, rolled back then committed.
    let mut tx = pool.begin().await.unwrap();
    let outcome = store
        .commit_in(&mut tx, conformance::bare(&template))
        .await
        .unwrap();
    assert!(matches!(
        outcome,
        recurring_deals::CommitOutcome::Committed { version: 1, .. }
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
    let mut conn = pool.acquire().await.unwrap();
    store
        .commit_in(&mut conn, conformance::bare(&template))
        .await
        .unwrap();
    drop(conn);
    assert_eq!(
        store
            .template(&acme, template.id())
            .await
            .unwrap()
            .unwrap()
            .version(),
        1
    );
}

/// The previous (rusqlite) store's schema, version 1, as it created it.
const LEGACY_SCHEMA: &str = r"
CREATE TABLE schema_version (version INTEGER PRIMARY KEY);
INSERT INTO schema_version (version) VALUES (1);
CREATE TABLE meta (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO meta (name, value) VALUES ('last_template_id', 0);
CREATE TABLE templates (
    id INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    version INTEGER NOT NULL,
    state TEXT NOT NULL,
    next_run INTEGER,
    next_run_nanos INTEGER,
    body TEXT NOT NULL
);
CREATE INDEX templates_due ON templates (next_run, next_run_nanos, id)
    WHERE next_run IS NOT NULL;
CREATE INDEX templates_tenant ON templates (tenant, next_run, next_run_nanos, state);
CREATE TABLE deals (
    template INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    revision INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    tenant TEXT NOT NULL,
    nominal_at INTEGER NOT NULL,
    nominal_at_nanos INTEGER NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (template, kind, revision, seq)
);
CREATE INDEX deals_tenant ON deals (tenant, template, nominal_at, nominal_at_nanos);
CREATE TABLE skipped (
    template INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    revision INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    tenant TEXT NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (template, kind, revision, seq)
);
CREATE INDEX skipped_tenant ON skipped (tenant, kind, template, revision, seq);
CREATE TABLE invoices (
    template INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    revision INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    tenant TEXT NOT NULL,
    version INTEGER NOT NULL,
    next_reminder INTEGER,
    next_reminder_nanos INTEGER,
    body TEXT NOT NULL,
    PRIMARY KEY (template, kind, revision, seq)
);
CREATE INDEX invoices_reminders
    ON invoices (next_reminder, next_reminder_nanos, kind, template, revision, seq)
    WHERE next_reminder IS NOT NULL;
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    body TEXT NOT NULL
);
";

/// Seconds and nanoseconds of an instant, as the previous store kept them.
fn split(at: chrono::DateTime<chrono::Utc>) -> (i64, i64) {
    (at.timestamp(), i64::from(at.timestamp_subsec_nanos()))
}

fn key_columns(key: DealKey) -> (i64, i64, i64, i64) {
    match key {
        DealKey::Scheduled {
            template,
            revision,
            seq,
        } => (template.0 as i64, 0, i64::from(revision), seq as i64),
        DealKey::Manual { template, number } => (template.0 as i64, 1, 0, number as i64),
    }
}

/// A database written by the previous store (its schema and rows as it wrote them) opens:
/// every row is copied into the new tables and reads back equal; the id allocator and the
/// outbox numbering continue after the old ones. An unknown legacy version is refused.
#[tokio::test]
async fn a_database_of_the_previous_store_is_migrated_forward() {
    // The data: made by the engine on a reference store, then written in the old layout.
    let reference = recurring_deals::InMemoryRepository::new();
    let acme = tenant("acme");
    let mut draft = conformance::draft("Support", conformance::daily(local(2026, 3, 1, 9, 0), 1));
    draft.invoice = Some(recurring_deals::InvoiceOptions {
        payment_due: recurring_deals::PaymentDue::Days(10),
        send_to: vec![1],
        mail_template: None,
        document_template: None,
        remind_before_days: vec![1],
        remind_after_days: vec![],
        dunning: vec![],
    });
    let t = engine_at(&reference, t0())
        .create_template(&acme, draft)
        .await
        .unwrap();
    let u = create_daily(&reference, &tenant("beta"), t0(), local(2026, 3, 1, 10, 0)).await;
    let noon = utc(2026, 3, 3, 12, 0);
    engine_at(&reference, noon).tick().await.unwrap();
    engine_at(&reference, t0())
        .skip_next(&acme, t.id())
        .await
        .unwrap();
    let templates = vec![
        reference.template(&acme, t.id()).await.unwrap().unwrap(),
        reference
            .template(&tenant("beta"), u.id())
            .await
            .unwrap()
            .unwrap(),
    ];
    let deals = reference.deals(&acme, None).await.unwrap();
    let invoice = reference
        .invoice(&acme, deals[0].key)
        .await
        .unwrap()
        .unwrap();
    let outbox = reference.outbox(100).await.unwrap();
    assert!(deals.len() >= 3 && outbox.len() >= 4);

    let dir = TempDir::new("legacy");
    let path = dir.path().join("old.db");
    let old = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true),
        )
        .await
        .unwrap();
    exec(&old, LEGACY_SCHEMA).await;
    for template in &templates {
        let (s, n) = template.next_run().map(split).unzip();
        sqlx::query(
            "INSERT INTO templates (id, tenant, version, state, next_run, next_run_nanos, body) \
             VALUES (?1, ?2, ?3, 'active', ?4, ?5, ?6)",
        )
        .bind(template.id().0 as i64)
        .bind(template.tenant().as_str())
        .bind(template.version() as i64)
        .bind(s)
        .bind(n)
        .bind(serde_json::to_string(template).unwrap())
        .execute(&old)
        .await
        .unwrap();
    }
    exec(
        &old,
        "UPDATE meta SET value = 40 WHERE name = 'last_template_id'",
    )
    .await;
    for deal in &deals {
        let (t, k, r, s) = key_columns(deal.key);
        let (at, nanos) = split(deal.nominal_at);
        sqlx::query(
            "INSERT INTO deals (template, kind, revision, seq, tenant, nominal_at, \
             nominal_at_nanos, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .bind(t)
        .bind(k)
        .bind(r)
        .bind(s)
        .bind(deal.tenant.as_str())
        .bind(at)
        .bind(nanos)
        .bind(serde_json::to_string(deal).unwrap())
        .execute(&old)
        .await
        .unwrap();
    }
    let skip = conformance::skipped_occurrence(
        &acme,
        conformance::key(t.id(), 17),
        utc(2026, 3, 18, 9, 0),
        recurring_deals::SkipReason::Missed,
    );
    let (st, sk, sr, ss) = key_columns(skip.key);
    sqlx::query(
        "INSERT INTO skipped (template, kind, revision, seq, tenant, body) \
         VALUES (?1, ?2, ?3, ?4, 'acme', ?5)",
    )
    .bind(st)
    .bind(sk)
    .bind(sr)
    .bind(ss)
    .bind(serde_json::to_string(&skip).unwrap())
    .execute(&old)
    .await
    .unwrap();
    let (it, ik, ir, is) = key_columns(invoice.deal);
    let (rs, rn) = invoice.next_reminder().map(split).unzip();
    sqlx::query(
        "INSERT INTO invoices (template, kind, revision, seq, tenant, version, next_reminder, \
         next_reminder_nanos, body) VALUES (?1, ?2, ?3, ?4, 'acme', ?5, ?6, ?7, ?8)",
    )
    .bind(it)
    .bind(ik)
    .bind(ir)
    .bind(is)
    .bind(invoice.version as i64)
    .bind(rs)
    .bind(rn)
    .bind(serde_json::to_string(&invoice).unwrap())
    .execute(&old)
    .await
    .unwrap();
    for event in &outbox {
        let body = NewEvent {
            tenant: event.tenant.clone(),
            idempotency_key: event.idempotency_key.clone(),
            at: event.at,
            kind: event.kind.clone(),
        };
        sqlx::query("INSERT INTO outbox (id, tenant, body) VALUES (?1, ?2, ?3)")
            .bind(event.id as i64 + 100)
            .bind(event.tenant.as_str())
            .bind(serde_json::to_string(&body).unwrap())
            .execute(&old)
            .await
            .unwrap();
    }
    // An acknowledged event numbered 500: its id is never handed out again.
    exec(
        &old,
        "UPDATE sqlite_sequence SET seq = 500 WHERE name = 'outbox'",
    )
    .await;
    old.close().await;

    let store = SqliteStore::connect(&path).await.unwrap();
    for template in &templates {
        assert_eq!(
            store
                .template(template.tenant(), template.id())
                .await
                .unwrap()
                .as_ref(),
            Some(template)
        );
    }
    assert_eq!(store.deals(&acme, None).await.unwrap(), deals);
    assert_eq!(store.skipped(&acme, None).await.unwrap(), vec![skip]);
    assert_eq!(
        store.invoice(&acme, invoice.deal).await.unwrap(),
        Some(invoice)
    );
    let migrated = store.outbox(100).await.unwrap();
    assert_eq!(migrated.len(), outbox.len());
    for (new, old) in migrated.iter().zip(&outbox) {
        assert_eq!(new.id, old.id + 100);
        assert_eq!(
            (&new.tenant, &new.idempotency_key, new.at, &new.kind),
            (&old.tenant, &old.idempotency_key, old.at, &old.kind)
        );
    }
    assert_eq!(
        store
            .due_templates(utc(2030, 1, 1, 0, 0), 10)
            .await
            .unwrap()
            .len(),
        2
    );
    assert!(store.allocate_template_id().await.unwrap().0 > 40);
    // Ticking on: new deals and events after the old ones.
    let report = engine_at(&store, utc(2026, 3, 5, 12, 0))
        .tick()
        .await
        .unwrap();
    assert!(!report.created.is_empty());
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    let after = store.outbox(1000).await.unwrap();
    assert!(after.iter().skip(migrated.len()).all(|e| e.id > 500));

    // A legacy database of a version this crate never knew is refused.
    let path = dir.path().join("odd.db");
    let odd = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true),
        )
        .await
        .unwrap();
    exec(&odd, LEGACY_SCHEMA).await;
    exec(&odd, "INSERT INTO schema_version (version) VALUES (2)").await;
    odd.close().await;
    assert_eq!(
        SqliteStore::connect(&path).await.unwrap_err(),
        RepositoryError::SchemaVersion {
            found: 2,
            expected: 1
        }
    );
}

/// Tasks ticking one store race tasks editing its templates: every occurrence is created
/// exactly once and announced once, no edit is lost (each template ends with the last title
/// written to it), and counters agree with the deals.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_ticks_and_edits_lose_nothing() {
    const TEMPLATES: u32 = 60;
    const DAYS: i64 = 15;
    const TICKERS: usize = 3;
    const EDITS: usize = 40;
    let dir = TempDir::new("tasks");
    let store = SqliteStore::connect(dir.path().join("deals.db"))
        .await
        .unwrap();
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
            let mut conflicts = 0;
            for day in 0..DAYS {
                clock.set(t0() + TimeDelta::days(day) + TimeDelta::hours(12));
                barrier.wait().await;
                let report = engine.tick().await.unwrap();
                assert!(report.failures.is_empty(), "{:?}", report.failures);
                created += report.created.len();
                conflicts += report.conflicts;
            }
            (created, conflicts)
        }));
    }
    let editor_task = {
        let store = store.clone();
        let ids = ids.clone();
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
                tokio::task::yield_now().await;
            }
            last
        })
    };
    let mut reported = 0;
    for task in tasks {
        reported += task.await.unwrap().0;
    }
    let last_titles = editor_task.await.unwrap();
    // A template an edit took from the last day's ticks is caught up by the next tick.
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
    let rows: i64 = sqlx::query("SELECT count(*) FROM rd_deals")
        .fetch_one(store.pool())
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows as usize, deals.len());
}

/// A full disk stops writes only until space is freed: with the database capped
/// (`max_page_count`, SQLite's "database or disk is full") mid-catch-up, commits fail and
/// are retried; once space is freed the same process, the same pool, finishes the work.
/// Nothing lost, nothing doubled, and no connection left in a transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_stops_writes_only_until_space_is_freed() {
    let dir = TempDir::new("full");
    let path = dir.path().join("deals.db");
    const LIMIT: u64 = 3_000; // pages of 4 KiB
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(
            SqliteStore::connect_options(&path).pragma("max_page_count", LIMIT.to_string()),
        )
        .await
        .unwrap();
    let store = SqliteStore::open(pool, SqliteOptions::new()).await.unwrap();
    let acme = tenant("acme");
    let mut ids = Vec::new();
    for _ in 0..20 {
        let t = create_daily(
            &store,
            &acme,
            utc(2026, 1, 1, 0, 0),
            local(2026, 1, 1, 9, 0),
        )
        .await;
        ids.push(t.id());
    }
    // Another connection, without the cap, fills the file to 20 pages short of it.
    let edit = editor(&path).await;
    exec(&edit, "CREATE TABLE filler (b BLOB)").await;
    loop {
        let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
            .fetch_one(&edit)
            .await
            .unwrap();
        if pages as u64 >= LIMIT - 20 {
            break;
        }
        exec(&edit, "INSERT INTO filler VALUES (zeroblob(16000))").await;
    }
    exec(&edit, "PRAGMA wal_checkpoint(TRUNCATE)").await;

    // 201 days due (Jan 1 to Jul 20) for each of 20 templates: the file fills up.
    let clock = ManualClock::new(utc(2026, 7, 20, 12, 0));
    let config = EngineConfig::builder()
        .failure_retry(TimeDelta::seconds(1), TimeDelta::seconds(1))
        .build()
        .unwrap();
    let engine = Engine::with_config(&store, clock.clone(), config);
    let mut failed = Vec::new();
    for _ in 0..5 {
        let report = engine.tick().await.unwrap();
        failed.extend(report.failures.iter().map(|f| f.error.chain()));
        failed.extend(report.batch_failures.iter().map(|e| e.chain()));
        clock.advance(TimeDelta::seconds(2));
    }
    assert!(!failed.is_empty(), "the cap was reached");
    assert!(
        failed.iter().any(|e| e.contains("full")),
        "disk full, said: {failed:?}"
    );

    // Space freed: the same engine and pool finish the catch-up.
    exec(&edit, "DROP TABLE filler").await;
    let mut quiet = false;
    for _ in 0..200 {
        let report = engine.tick().await.unwrap();
        clock.advance(TimeDelta::seconds(2));
        if !report.more_due
            && report.failures.is_empty()
            && report.batch_failures.is_empty()
            && report.next_wake > Some(clock.now())
        {
            quiet = true;
            break;
        }
    }
    assert!(quiet, "the work finished after space was freed");
    for id in ids {
        let deals = store.deals(&acme, Some(id)).await.unwrap();
        let days: BTreeSet<_> = deals.iter().map(|d| d.nominal_at).collect();
        assert_eq!(deals.len(), 201, "{id}: every day from Jan 1 to Jul 20");
        assert_eq!(days.len(), 201, "{id}: each once");
    }
    // Every pooled connection is usable for a new write transaction.
    for _ in 0..4 {
        let mut tx = store.pool().begin_with("BEGIN IMMEDIATE").await.unwrap();
        sqlx::query("SELECT 1").execute(&mut *tx).await.unwrap();
        tx.rollback().await.unwrap();
    }
}
