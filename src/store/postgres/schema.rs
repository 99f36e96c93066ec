//! The PostgreSQL store's schema on open: migrations under an advisory lock, and the import
//! of the earlier `postgres`-crate store's tables.

use super::*;

/// The version recorded in the crate's version table (0 without one).
pub(super) async fn schema_version(
    conn: &mut PgConnection,
    names: &Names,
) -> Result<i64, RepositoryError> {
    let version_table = names.table("schema_version");
    let exists: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text")
        .bind(&version_table)
        .fetch_one(&mut *conn)
        .await
        .map_err(error)?;
    if exists.is_none() {
        return Ok(0);
    }
    sqlx::query_scalar(&stmt!(
        "SELECT coalesce(max(version), 0)::bigint FROM {version_table}"
    ))
    .fetch_one(&mut *conn)
    .await
    .map_err(error)
}

/// Applies the missing migrations (and the import of an earlier store's tables) in one
/// transaction under an advisory lock keyed by the schema, so concurrent openers apply each
/// once.
pub(super) async fn migrate(
    conn: &mut PgConnection,
    options: &PostgresOptions,
    names: &Names,
) -> Result<(), RepositoryError> {
    let mut tx = sqlx::Connection::begin(&mut *conn).await.map_err(error)?;
    let result = async {
        sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .bind(MIGRATION_LOCK)
            .bind(&options.schema)
            .execute(&mut *tx)
            .await
            .map_err(error)?;
        let current = schema_version(&mut tx, names).await?;
        for step in migrations::pending(current, migrations::postgres(&options.schema)?)? {
            // Through the executor (not `RawSql::execute`), whose future is `Send`.
            sqlx::Executor::execute(&mut *tx, sqlx::raw_sql(&Stmt::new(step.sql())))
                .await
                .map_err(error)?;
        }
        if current == 0
            && let Some(legacy) = &options.legacy_schema
            && legacy != &options.schema
        {
            import_legacy(&mut tx, legacy, names).await?;
        }
        Ok(())
    }
    .await;
    finish(tx, result).await
}

/// Copies the tables of the crate's earlier store (`rd_*`, version 1, in `legacy`) into the
/// new ones, if there are any.
pub(super) async fn import_legacy(
    conn: &mut PgConnection,
    legacy: &str,
    names: &Names,
) -> Result<(), RepositoryError> {
    let exists: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text")
        .bind(format!("\"{legacy}\".rd_schema_version"))
        .fetch_one(&mut *conn)
        .await
        .map_err(error)?;
    if exists.is_none() {
        return Ok(());
    }
    let l = |table: &str| format!("\"{legacy}\".{table}");
    let found: i64 = sqlx::query_scalar(&stmt!(
        "SELECT coalesce(max(version), 0)::bigint FROM {}",
        l("rd_schema_version")
    ))
    .fetch_one(&mut *conn)
    .await
    .map_err(error)?;
    if found != LEGACY_VERSION {
        return Err(RepositoryError::SchemaVersion {
            found,
            expected: LEGACY_VERSION,
        });
    }
    let statements = [
        format!(
            "INSERT INTO {} (id, tenant, version, state, next_run_ns, body) \
             SELECT id, tenant, version, state, next_run_ns, body FROM {}",
            names.table("templates"),
            l("rd_templates")
        ),
        format!(
            "INSERT INTO {} (template_id, kind, revision, num, tenant, nominal_at_ns, body) \
             SELECT template_id, kind, revision, num, tenant, nominal_at_ns, body FROM {}",
            names.table("deals"),
            l("rd_deals")
        ),
        format!(
            "INSERT INTO {} (template_id, kind, revision, num, tenant, body) \
             SELECT template_id, kind, revision, num, tenant, body FROM {}",
            names.table("skipped"),
            l("rd_skipped")
        ),
        format!(
            "INSERT INTO {} (template_id, kind, revision, num, tenant, version, \
             next_reminder_ns, body) \
             SELECT template_id, kind, revision, num, tenant, version, next_reminder_ns, body \
             FROM {}",
            names.table("invoices"),
            l("rd_invoices")
        ),
        format!(
            "INSERT INTO {} (id, tenant, idempotency_key, at_ns, body) OVERRIDING SYSTEM VALUE \
             SELECT id, tenant, idempotency_key, at_ns, body FROM {}",
            names.table("outbox"),
            l("rd_events")
        ),
        // Ids handed out before (acknowledged events, allocated templates) stay used.
        format!(
            "SELECT setval(pg_get_serial_sequence('{outbox}', 'id'), GREATEST(1, \
             coalesce(pg_sequence_last_value(pg_get_serial_sequence('{events}', 'id')::regclass), 0), \
             coalesce((SELECT max(id) FROM {outbox}), 0)))",
            outbox = names.table("outbox"),
            events = l("rd_events")
        ),
        format!(
            "SELECT setval('{ids}', GREATEST(1, \
             coalesce(pg_sequence_last_value('{old}'::regclass), 0), \
             coalesce((SELECT max(id) FROM {templates}), 0)))",
            ids = names.table("template_ids"),
            old = l("rd_template_ids"),
            templates = names.table("templates")
        ),
    ];
    for sql in statements {
        sqlx::query(&Stmt::new(sql))
            .execute(&mut *conn)
            .await
            .map_err(error)?;
    }
    Ok(())
}
