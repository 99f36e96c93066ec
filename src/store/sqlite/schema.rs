//! The SQLite store's schema on open: durability checks, migrations, and the import of the
//! earlier rusqlite store's tables.

use super::*;

/// The database's durability settings, as the store requires them.
pub(super) async fn check_durability(conn: &mut SqliteConnection) -> Result<(), RepositoryError> {
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut *conn)
        .await
        .map_err(error)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(RepositoryError::Durability {
            setting: "journal_mode",
            found: mode,
            required: "wal",
        });
    }
    let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(&mut *conn)
        .await
        .map_err(error)?;
    if synchronous < 2 {
        let found = match synchronous {
            0 => "off".to_owned(),
            1 => "normal".to_owned(),
            other => other.to_string(),
        };
        return Err(RepositoryError::Durability {
            setting: "synchronous",
            found,
            required: "full",
        });
    }
    Ok(())
}

pub(super) async fn table_exists(
    conn: &mut SqliteConnection,
    name: &str,
) -> Result<bool, RepositoryError> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1")
            .bind(name)
            .fetch_optional(&mut *conn)
            .await
            .map_err(error)?;
    Ok(found.is_some())
}

/// The version recorded in the crate's version table (0 without one).
pub(super) async fn schema_version(
    conn: &mut SqliteConnection,
    names: &Names,
) -> Result<i64, RepositoryError> {
    let version_table = names.table("schema_version");
    if !table_exists(conn, &version_table).await? {
        return Ok(0);
    }
    sqlx::query_scalar(&stmt!(
        "SELECT coalesce(max(version), 0) FROM {version_table}"
    ))
    .fetch_one(&mut *conn)
    .await
    .map_err(error)
}

/// The tables of the crate's earlier (rusqlite) store, whose version 1 this store imports.
pub(super) const LEGACY_TABLES: [&str; 7] = [
    "schema_version",
    "meta",
    "templates",
    "deals",
    "skipped",
    "invoices",
    "outbox",
];

/// Applies the missing migrations (and the import of an earlier store's tables) in one
/// `BEGIN IMMEDIATE` transaction, so concurrent openers apply each once.
pub(super) async fn migrate(
    conn: &mut SqliteConnection,
    prefix: &str,
    names: &Names,
) -> Result<(), RepositoryError> {
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(error)?;
    let result = async {
        let current = schema_version(&mut tx, names).await?;
        let pending = migrations::pending(current, migrations::sqlite(prefix)?)?;
        let mut legacy = true;
        for name in LEGACY_TABLES {
            legacy &= table_exists(&mut tx, name).await?;
        }
        for step in pending {
            // Through the executor (not `RawSql::execute`), whose future is `Send`.
            sqlx::Executor::execute(&mut *tx, sqlx::raw_sql(&Stmt::new(step.sql())))
                .await
                .map_err(error)?;
        }
        if current == 0 && legacy {
            import_legacy(&mut tx, names).await?;
        }
        Ok(())
    }
    .await;
    finish(tx, result).await
}

/// Copies the tables of the crate's earlier store (schema version 1) into the new ones.
pub(super) async fn import_legacy(
    conn: &mut SqliteConnection,
    names: &Names,
) -> Result<(), RepositoryError> {
    let found: i64 = sqlx::query_scalar("SELECT coalesce(max(version), 0) FROM schema_version")
        .fetch_one(&mut *conn)
        .await
        .map_err(error)?;
    if found != LEGACY_VERSION {
        return Err(RepositoryError::SchemaVersion {
            found,
            expected: LEGACY_VERSION,
        });
    }
    let ns = |seconds: &str, nanos: &str| {
        format!("CASE WHEN {seconds} IS NULL THEN NULL ELSE {seconds} * 1000000000 + {nanos} END")
    };
    let statements = [
        format!(
            "UPDATE {meta} SET value = (SELECT value FROM meta WHERE name = 'last_template_id') \
             WHERE name = 'last_template_id'",
            meta = names.table("meta")
        ),
        format!(
            "INSERT INTO {} (id, tenant, version, state, next_run_ns, body) \
             SELECT id, tenant, version, state, {}, body FROM templates",
            names.table("templates"),
            ns("next_run", "next_run_nanos")
        ),
        format!(
            "INSERT INTO {} (template_id, kind, revision, num, tenant, nominal_at_ns, body) \
             SELECT template, kind, revision, seq, tenant, {}, body FROM deals",
            names.table("deals"),
            ns("nominal_at", "nominal_at_nanos")
        ),
        format!(
            "INSERT INTO {} (template_id, kind, revision, num, tenant, body) \
             SELECT template, kind, revision, seq, tenant, body FROM skipped",
            names.table("skipped")
        ),
        format!(
            "INSERT INTO {} (template_id, kind, revision, num, tenant, version, \
             next_reminder_ns, body) \
             SELECT template, kind, revision, seq, tenant, version, {}, body FROM invoices",
            names.table("invoices"),
            ns("next_reminder", "next_reminder_nanos")
        ),
    ];
    for sql in statements {
        sqlx::query(&Stmt::new(sql))
            .execute(&mut *conn)
            .await
            .map_err(error)?;
    }
    // Outbox rows held the whole event as JSON: decoded and re-encoded, ids kept.
    let rows = sqlx::query("SELECT id, tenant, body FROM outbox ORDER BY id")
        .fetch_all(&mut *conn)
        .await
        .map_err(error)?;
    let outbox = names.table("outbox");
    let insert = stmt!(
        "INSERT INTO {outbox} (id, tenant, idempotency_key, at_ns, body) VALUES (?1, ?2, ?3, ?4, ?5)"
    );
    for row in rows {
        let id: i64 = col(&row, 0, table::OUTBOX)?;
        let body: String = col(&row, 2, table::OUTBOX)?;
        let event: NewEvent =
            serde_json::from_str(&body).map_err(|e| RepositoryError::CorruptRow {
                table: table::OUTBOX,
                key: id.to_string(),
                reason: format!("unreadable body of the earlier store: {e}"),
            })?;
        let encoded = EventRow::encode(&event)?;
        sqlx::query(&insert)
            .bind(id)
            .bind(&encoded.tenant)
            .bind(&encoded.idempotency_key)
            .bind(encoded.at_ns)
            .bind(&encoded.body)
            .execute(&mut *conn)
            .await
            .map_err(error)?;
    }
    // Acknowledged events' ids are never handed out again.
    let last: Option<i64> =
        sqlx::query_scalar("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'")
            .fetch_optional(&mut *conn)
            .await
            .map_err(error)?;
    if let Some(last) = last {
        sqlx::query("DELETE FROM sqlite_sequence WHERE name = ?1")
            .bind(&outbox)
            .execute(&mut *conn)
            .await
            .map_err(error)?;
        sqlx::query("INSERT INTO sqlite_sequence (name, seq) VALUES (?1, ?2)")
            .bind(&outbox)
            .bind(last)
            .execute(&mut *conn)
            .await
            .map_err(error)?;
    }
    Ok(())
}
