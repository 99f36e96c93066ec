//! What the two durable stores' SQL shares when only the dialect differs: the sqlx database
//! each runs on (its error codes, its parameters' spelling), the reads whose text is the same
//! in both, the statements' text as sqlx takes it, and ending a transaction. Statements that
//! differ in more than spelling stay in each backend's `sql.rs`.

use std::fmt;
use std::sync::Arc;

use sqlx::{AssertSqlSafe, Database, SqlSafeStr, SqlStr, Transaction};

use super::RepositoryError;
use super::migrations::Names;
use super::read::{EVENT_COLUMNS, INVOICE_COLUMNS, KEYED_COLUMNS, TEMPLATE_COLUMNS};
use super::sqlx_error::{Backend, repository_error};

/// The sqlx database a durable store runs on.
pub(crate) trait Dialect: Database {
    /// Whose error codes the database reports.
    const BACKEND: Backend;

    /// The rows a statement changed.
    fn rows_affected(result: &Self::QueryResult) -> u64;

    /// `sql`, written with SQLite's numbered parameters (`?1`), in this dialect: PostgreSQL
    /// spells them `$1`. Only for statements without a `?` of their own (PostgreSQL's JSON
    /// operators).
    fn params(sql: String) -> String {
        match Self::BACKEND {
            Backend::Sqlite => sql,
            Backend::Postgres => {
                let mut out = String::with_capacity(sql.len());
                let mut chars = sql.chars().peekable();
                while let Some(c) = chars.next() {
                    let numbered = c == '?' && chars.peek().is_some_and(char::is_ascii_digit);
                    out.push(if numbered { '$' } else { c });
                }
                out
            }
        }
    }
}

#[cfg(feature = "sqlite")]
impl Dialect for sqlx::Sqlite {
    const BACKEND: Backend = Backend::Sqlite;

    fn rows_affected(result: &sqlx::sqlite::SqliteQueryResult) -> u64 {
        result.rows_affected()
    }
}

#[cfg(feature = "postgres")]
impl Dialect for sqlx::Postgres {
    const BACKEND: Backend = Backend::Postgres;

    fn rows_affected(result: &sqlx::postgres::PgQueryResult) -> u64 {
        result.rows_affected()
    }
}

/// A statement's text, built at run time and handed to sqlx's `query*` and `raw_sql` (which
/// take only literals, or text asserted safe: this is where the stores assert it). Shared, so
/// running it again copies nothing.
#[derive(Debug, Clone)]
pub(crate) struct Stmt(SqlStr);

impl Stmt {
    pub(crate) fn new(sql: impl Into<Arc<str>>) -> Stmt {
        // Audited: besides literals, the stores splice in only names built by `Names` from a
        // prefix or schema (and the legacy schema) that `migrations::check_name` accepted
        // (lowercase ASCII letters, digits and `_`); values are always bound parameters.
        Stmt(AssertSqlSafe(sql.into()).into_sql_str())
    }

    pub(crate) fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl SqlSafeStr for &Stmt {
    fn into_sql_str(self) -> SqlStr {
        self.0.clone()
    }
}

impl fmt::Display for Stmt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `format!`, as a [`Stmt`].
macro_rules! stmt {
    ($($arg:tt)*) => {
        $crate::store::dialect::Stmt::new(format!($($arg)*))
    };
}
pub(crate) use stmt;

/// The reads whose SQL is the same in both dialects, with a store's table names.
pub(crate) struct Reads {
    /// A template by `?1` id and `?2` tenant.
    pub(crate) template: Stmt,
    /// A tenant's (`?1`) templates after id `?2`, in id order, at most `?3`.
    pub(crate) scan: Stmt,
    /// A tenant's (`?1`) active and paused templates.
    pub(crate) count_live: Stmt,
    /// A tenant's (`?1`) deal by key (`?2` .. `?5`).
    pub(crate) deal: Stmt,
    /// A tenant's (`?1`) invoice by its deal's key (`?2` .. `?5`).
    pub(crate) invoice: Stmt,
    /// Invoices whose reminder is due at `?1`, at most `?2`, in reminder order.
    pub(crate) due_invoices: Stmt,
    /// The outbox's first `?1` events.
    pub(crate) outbox: Stmt,
    /// A tenant's (`?1`) first `?2` events.
    pub(crate) tenant_outbox: Stmt,
    /// The first `?2` events of the tenants in `?1` (SQLite: a JSON array of strings;
    /// PostgreSQL: a `text[]`).
    pub(crate) tenants_outbox: Stmt,
    /// The first `?2` events of the tenants not in `?1` (spelt as for `tenants_outbox`).
    pub(crate) outbox_except: Stmt,
    /// Each tenant's oldest event (`tenant, id, at_ns, retry_at_ns`), oldest first, at most `?1`: one
    /// pass over the waiting events in `(tenant, id)` index order.
    pub(crate) outbox_heads: Stmt,
    /// A tenant's (`?1`) dead letters after id `?2`, at most `?3`.
    pub(crate) dead_letters: Stmt,
    /// Records a refused delivery of event `?1` of tenant `?2`: error `?3`, retry at `?4`
    /// or dead at `?5` (a write, kept here because its text is the same in both dialects).
    pub(crate) record_failure: Stmt,
    /// Puts dead letter `?1` of tenant `?2` back in the outbox.
    pub(crate) requeue_dead_letter: Stmt,
    /// The zones of the templates with a next run, with the rules recorded for each:
    /// `zone, fingerprint, tzdb, recorded_at_ns, count`.
    pub(crate) planned_zones: Stmt,
    /// Templates with a next run in zone `?1`, after id `?2`, in id order, at most `?3`.
    pub(crate) zone_templates: Stmt,
    /// The same for rows without a zone: after id `?1`, at most `?2`.
    pub(crate) unzoned_templates: Stmt,
    /// Records the rules of zone `?1` (`?2` fingerprint, `?3` tzdb, `?4` when) if the
    /// recorded fingerprint is `?5` or none is recorded (then `?5` is `NULL`): a write,
    /// kept here because its text is the same in both dialects.
    pub(crate) record_zone_rules: Stmt,
}

impl Reads {
    pub(crate) fn new<DB: Dialect>(names: &Names) -> Reads {
        let templates = names.table("templates");
        let deals = names.table("deals");
        let invoices = names.table("invoices");
        let outbox = names.table("outbox");
        let zone_rules = names.table("zone_rules");
        let key = "template_id = ?2 AND kind = ?3 AND revision = ?4 AND num = ?5";
        let sql = |text| Stmt::new(DB::params(text));
        Reads {
            template: sql(format!(
                "SELECT {TEMPLATE_COLUMNS} FROM {templates} WHERE id = ?1 AND tenant = ?2"
            )),
            scan: sql(format!(
                "SELECT {TEMPLATE_COLUMNS} FROM {templates} \
                 WHERE tenant = ?1 AND id > ?2 ORDER BY id LIMIT ?3"
            )),
            count_live: sql(format!(
                "SELECT count(*) FROM {templates} \
                 WHERE tenant = ?1 AND state IN ('active', 'paused')"
            )),
            deal: sql(format!(
                "SELECT {KEYED_COLUMNS} FROM {deals} WHERE tenant = ?1 AND {key}"
            )),
            invoice: sql(format!(
                "SELECT {INVOICE_COLUMNS} FROM {invoices} WHERE tenant = ?1 AND {key}"
            )),
            due_invoices: sql(format!(
                "SELECT {INVOICE_COLUMNS} FROM {invoices} \
                 WHERE next_reminder_ns <= ?1 \
                 ORDER BY next_reminder_ns, kind, template_id, revision, num LIMIT ?2"
            )),
            outbox: sql(format!(
                "SELECT {EVENT_COLUMNS} FROM {outbox} WHERE dead_at_ns IS NULL \
                 ORDER BY id LIMIT ?1"
            )),
            tenant_outbox: sql(format!(
                "SELECT {EVENT_COLUMNS} FROM {outbox} WHERE tenant = ?1 AND dead_at_ns IS NULL \
                 ORDER BY id LIMIT ?2"
            )),
            tenants_outbox: sql(match DB::BACKEND {
                Backend::Sqlite => format!(
                    "SELECT {EVENT_COLUMNS} FROM {outbox} \
                     WHERE tenant IN (SELECT value FROM json_each(?1)) AND dead_at_ns IS NULL \
                     ORDER BY id LIMIT ?2"
                ),
                Backend::Postgres => format!(
                    "SELECT {EVENT_COLUMNS} FROM {outbox} \
                     WHERE tenant = ANY(?1) AND dead_at_ns IS NULL ORDER BY id LIMIT ?2"
                ),
            }),
            outbox_except: sql(match DB::BACKEND {
                Backend::Sqlite => format!(
                    "SELECT {EVENT_COLUMNS} FROM {outbox} \
                     WHERE tenant NOT IN (SELECT value FROM json_each(?1)) \
                     AND dead_at_ns IS NULL ORDER BY id LIMIT ?2"
                ),
                Backend::Postgres => format!(
                    "SELECT {EVENT_COLUMNS} FROM {outbox} \
                     WHERE tenant <> ALL(?1) AND dead_at_ns IS NULL ORDER BY id LIMIT ?2"
                ),
            }),
            outbox_heads: sql(match DB::BACKEND {
                // SQLite takes the bare columns from the row that holds the group's `min`.
                Backend::Sqlite => format!(
                    "SELECT tenant, min(id) AS head, at_ns, retry_at_ns FROM {outbox} \
                     WHERE dead_at_ns IS NULL GROUP BY tenant ORDER BY head LIMIT ?1"
                ),
                Backend::Postgres => format!(
                    "SELECT tenant, id, at_ns, retry_at_ns FROM (SELECT DISTINCT ON (tenant) \
                     tenant, id, at_ns, retry_at_ns FROM {outbox} WHERE dead_at_ns IS NULL \
                     ORDER BY tenant, id) h ORDER BY id LIMIT ?1"
                ),
            }),
            dead_letters: sql(format!(
                "SELECT {EVENT_COLUMNS}, last_error, dead_at_ns FROM {outbox} \
                 WHERE tenant = ?1 AND dead_at_ns IS NOT NULL AND id > ?2 ORDER BY id LIMIT ?3"
            )),
            record_failure: sql(format!(
                "UPDATE {outbox} SET attempts = attempts + 1, last_error = ?3, \
                 retry_at_ns = ?4, dead_at_ns = ?5 \
                 WHERE id = ?1 AND tenant = ?2 AND dead_at_ns IS NULL"
            )),
            requeue_dead_letter: sql(format!(
                "UPDATE {outbox} SET attempts = 0, last_error = NULL, retry_at_ns = NULL, \
                 dead_at_ns = NULL WHERE id = ?1 AND tenant = ?2 AND dead_at_ns IS NOT NULL"
            )),
            planned_zones: sql(format!(
                "SELECT t.zone, r.fingerprint, r.tzdb, r.recorded_at_ns, count(*) \
                 FROM {templates} t LEFT JOIN {zone_rules} r ON r.zone = t.zone \
                 WHERE t.next_run_ns IS NOT NULL \
                 GROUP BY t.zone, r.fingerprint, r.tzdb, r.recorded_at_ns"
            )),
            zone_templates: sql(format!(
                "SELECT {TEMPLATE_COLUMNS} FROM {templates} \
                 WHERE zone = ?1 AND next_run_ns IS NOT NULL AND id > ?2 ORDER BY id LIMIT ?3"
            )),
            unzoned_templates: sql(format!(
                "SELECT {TEMPLATE_COLUMNS} FROM {templates} \
                 WHERE zone IS NULL AND next_run_ns IS NOT NULL AND id > ?1 ORDER BY id LIMIT ?2"
            )),
            record_zone_rules: sql(format!(
                "INSERT INTO {zone_rules} AS r (zone, fingerprint, tzdb, recorded_at_ns) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (zone) DO UPDATE \
                 SET fingerprint = excluded.fingerprint, tzdb = excluded.tzdb, \
                     recorded_at_ns = excluded.recorded_at_ns \
                 WHERE r.fingerprint = ?5"
            )),
        }
    }
}

/// Commits `tx` after `result`, or rolls it back at once after an error (not later, when
/// the connection is next used: a write lock or row locks must not outlive the call).
pub(crate) async fn finish<DB: Dialect, T>(
    tx: Transaction<'_, DB>,
    result: Result<T, RepositoryError>,
) -> Result<T, RepositoryError> {
    match result {
        Ok(value) => {
            tx.commit()
                .await
                .map_err(|e| repository_error(e, DB::BACKEND))?;
            Ok(value)
        }
        Err(e) => {
            // The error to report is the first one; a failed rollback closes the connection.
            let _ = tx.rollback().await;
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "postgres")]
    #[test]
    fn postgres_spells_numbered_parameters_with_a_dollar() {
        assert_eq!(
            sqlx::Postgres::params("WHERE a = ?1 AND b = ?12 AND c ? 'k'".into()),
            "WHERE a = $1 AND b = $12 AND c ? 'k'"
        );
    }

    #[cfg(feature = "sqlite")]
    #[test]
    fn sqlite_keeps_them() {
        assert_eq!(sqlx::Sqlite::params("a = ?1".into()), "a = ?1");
    }
}
