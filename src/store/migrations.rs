//! The durable stores' schema, as the migrations that create it: one design for SQLite and
//! PostgreSQL (same tables, columns and indexes; only the names' prefix or schema and the
//! column types' spelling differ).
//!
//! The stores apply these on open. A host that runs its migrations itself takes the SQL from
//! [`sqlite`] or [`postgres`], applies the versions its database lacks in order (each
//! migration's text records its own version in the crate's version table), and opens the
//! store with [`Migrate::Check`], which only checks the version.
//!
//! With sqlx 0.9 a host that runs [`Migration::sql`] through sqlx wraps it in
//! `sqlx::AssertSqlSafe` (the text is the crate's own, with the validated prefix or schema
//! spliced in), or hands it to its own migration tool as a file.
//!
//! The version table is the crate's own (`{prefix}schema_version` in SQLite,
//! `{schema}.schema_version` in PostgreSQL), never sqlx's `_sqlx_migrations`, so the host's
//! own migrator is not disturbed.
//!
//! # Version 1
//!
//! | table | key | columns beside the body | indexes | body |
//! |---|---|---|---|---|
//! | `schema_version` | `version` | `applied_at` | | |
//! | `templates` | `id` | `tenant`, `version`, `state`, `next_run_ns` | `templates_due (next_run_ns, id)` where set; `templates_tenant (tenant, next_run_ns, id, state)` | [`crate::Template`] |
//! | `deals` | `(template_id, kind, revision, num)` | `tenant`, `nominal_at_ns` | `deals_tenant (tenant, template_id, nominal_at_ns)` | [`crate::CreatedDeal`] |
//! | `skipped` | `(template_id, kind, revision, num)` | `tenant` | `skipped_tenant (tenant, template_id)` | [`crate::SkippedOccurrence`] |
//! | `invoices` | its deal's key | `tenant`, `version`, `next_reminder_ns` | `invoices_due (next_reminder_ns)` where set | [`crate::Invoice`] |
//! | `outbox` | `id` (ascending, never reused) | `tenant`, `idempotency_key`, `at_ns` | `outbox_tenant (tenant, id)` | [`crate::EventKind`] |
//!
//! # Version 2
//!
//! Adds the index `templates_scan (tenant, id)` on `templates`, for scans of a tenant's
//! templates in id order.
//!
//! # Version 3
//!
//! Adds the column `overdue_ns` to `invoices` (when an open invoice became overdue: its
//! first dunning step; `NULL` otherwise) and the index `invoices_overdue (tenant,
//! overdue_ns, template_id, kind, revision, num)` where set, for a tenant's overdue invoices.
//!
//! # Version 4
//!
//! Adds the column `zone` to `templates` (the IANA name of the schedule's zone, written with
//! every template; `NULL` in rows written before it) with the index `templates_zone (zone,
//! id)` where `next_run_ns` is set, and the table `zone_rules (zone, fingerprint, tzdb,
//! recorded_at_ns)`: per zone, a fingerprint of the zone rules the stored next runs were
//! planned with, the tzdb release those rules came from, and when it was recorded. An engine
//! whose rules differ plans those zones' next runs again before its first tick
//! ([`crate::Engine::replan_zones`]).
//!
//! # Version 5
//!
//! Adds to `outbox` the columns `attempts` (refused deliveries so far, default 0),
//! `retry_at_ns` (when a refused event may go again), `last_error` (the handler's last
//! error) and `dead_at_ns` (when it became a dead letter: out of the outbox reads), with the
//! index `outbox_dead (tenant, id)` where `dead_at_ns` is set, for a tenant's dead letters.
//!
//! `state` is `active`, `paused`, `inactive` or `finished` ([`super::StateFilter::name`]).
//! Instants (`*_ns`) are nanoseconds since the Unix epoch; `NULL` where there is none. A deal
//! key is `kind` (0 scheduled, 1 manual), `template_id`, `revision` (0 for manual deals) and
//! `num` (the occurrence's seq, or the manual number). Bodies are the values' serde JSON, as
//! text. Template ids come from the row `meta ('last_template_id', value)` in SQLite and the
//! sequence `template_ids` in PostgreSQL.

use super::RepositoryError;

/// The schema version this crate writes, and the newest it opens.
pub const LATEST: i64 = 5;

/// The schema version of the crate's earlier stores (rusqlite; the `postgres` crate) that
/// the stores import on open.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) const LEGACY_VERSION: i64 = 1;

/// One step of the schema: the SQL that brings a database from `version - 1` to `version`,
/// recording `version` in the crate's version table.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Migration {
    version: i64,
    sql: String,
}

impl Migration {
    /// The version the migration brings the schema to (from 1).
    pub fn version(&self) -> i64 {
        self.version
    }

    /// Its SQL: several statements, `;`-separated, to run in one transaction.
    pub fn sql(&self) -> &str {
        &self.sql
    }
}

/// The steps of `steps` that a database at version `current` lacks, in order.
///
/// # Errors
/// [`RepositoryError::SchemaVersion`] for a database newer than [`LATEST`].
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn pending(
    current: i64,
    steps: Vec<Migration>,
) -> Result<Vec<Migration>, RepositoryError> {
    if current > LATEST {
        return Err(RepositoryError::SchemaVersion {
            found: current,
            expected: LATEST,
        });
    }
    Ok(steps.into_iter().filter(|s| s.version > current).collect())
}

/// Checks that a database is at [`LATEST`] (opening with [`Migrate::Check`]).
///
/// # Errors
/// [`RepositoryError::SchemaVersion`] for any other version.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn latest(found: i64) -> Result<(), RepositoryError> {
    if found != LATEST {
        return Err(RepositoryError::SchemaVersion {
            found,
            expected: LATEST,
        });
    }
    Ok(())
}

/// Whether opening a store applies the migrations its database lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Migrate {
    /// Apply them (under a lock, so concurrent openers apply each once). The default.
    #[default]
    OnOpen,
    /// Apply nothing: the host runs the migrations ([`sqlite`], [`postgres`]); opening only
    /// checks that the database has [`LATEST`], and fails with
    /// [`RepositoryError::SchemaVersion`] otherwise.
    Check,
}

/// The SQLite migrations for tables named `{prefix}templates` and so on.
///
/// ```
/// use recurring_deals::store::migrations;
///
/// let steps = migrations::sqlite("rd_")?;
/// assert_eq!(steps[0].version(), 1);
/// assert!(steps[0].sql().contains("CREATE TABLE rd_templates"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`RepositoryError::Refused`] when `prefix` is not 1 to 32 lowercase ASCII letters, digits
/// and `_`, starting with a letter or `_`.
pub fn sqlite(prefix: &str) -> Result<Vec<Migration>, RepositoryError> {
    check_name(prefix, 32, "table prefix")?;
    Ok(steps(&Names::sqlite(prefix)))
}

/// The PostgreSQL migrations for tables in `schema` (created by the first migration).
///
/// ```
/// use recurring_deals::store::migrations;
///
/// let steps = migrations::postgres("recurring_deals")?;
/// assert!(steps[0].sql().contains("CREATE SCHEMA IF NOT EXISTS \"recurring_deals\""));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`RepositoryError::Refused`] when `schema` is not 1 to 48 lowercase ASCII letters, digits
/// and `_`, starting with a letter or `_`.
pub fn postgres(schema: &str) -> Result<Vec<Migration>, RepositoryError> {
    check_name(schema, 48, "schema name")?;
    Ok(steps(&Names::postgres(schema)))
}

/// Names are spliced into SQL (DDL takes no parameters), so only plain identifiers pass.
pub(crate) fn check_name(name: &str, max: usize, what: &str) -> Result<(), RepositoryError> {
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= max;
    if valid {
        Ok(())
    } else {
        Err(RepositoryError::Refused {
            reason: format!(
                "{what} {name:?} must be 1 to {max} lowercase ASCII letters, digits and _, \
                 not starting with a digit"
            ),
        })
    }
}

/// How one backend spells the shared design.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Names {
    postgres: bool,
    /// Prepended to table names: `rd_` or `"schema".`.
    table_prefix: String,
    /// Prepended to index names: the prefix in SQLite (one namespace per database), nothing
    /// in PostgreSQL (indexes live in their table's schema).
    index_prefix: String,
    schema: String,
}

impl Names {
    pub(crate) fn sqlite(prefix: &str) -> Names {
        Names {
            postgres: false,
            table_prefix: prefix.to_owned(),
            index_prefix: prefix.to_owned(),
            schema: String::new(),
        }
    }

    pub(crate) fn postgres(schema: &str) -> Names {
        Names {
            postgres: true,
            table_prefix: format!("\"{schema}\"."),
            index_prefix: String::new(),
            schema: schema.to_owned(),
        }
    }

    /// A table's name as SQL uses it.
    pub(crate) fn table(&self, name: &str) -> String {
        format!("{}{name}", self.table_prefix)
    }

    fn index(&self, name: &str) -> String {
        format!("{}{name}", self.index_prefix)
    }
}

fn steps(names: &Names) -> Vec<Migration> {
    vec![
        Migration {
            version: 1,
            sql: version_1(names),
        },
        Migration {
            version: 2,
            sql: version_2(names),
        },
        Migration {
            version: 3,
            sql: version_3(names),
        },
        Migration {
            version: 4,
            sql: version_4(names),
        },
        Migration {
            version: 5,
            sql: version_5(names),
        },
    ]
}

/// Version 2: scans of a tenant's templates in id order ([`super::Repository::scan_templates`]).
fn version_2(n: &Names) -> String {
    format!(
        "CREATE INDEX {templates_scan} ON {templates} (tenant, id);
INSERT INTO {version} (version) VALUES (2);
",
        templates_scan = n.index("templates_scan"),
        templates = n.table("templates"),
        version = n.table("schema_version"),
    )
}

/// Version 3: a tenant's overdue invoices ([`super::Repository::overdue_invoices`]).
fn version_3(n: &Names) -> String {
    let int = if n.postgres { "BIGINT" } else { "INTEGER" };
    format!(
        "ALTER TABLE {invoices} ADD COLUMN overdue_ns {int};
CREATE INDEX {invoices_overdue} ON {invoices} \
(tenant, overdue_ns, template_id, kind, revision, num) WHERE overdue_ns IS NOT NULL;
INSERT INTO {version} (version) VALUES (3);
",
        invoices = n.table("invoices"),
        invoices_overdue = n.index("invoices_overdue"),
        version = n.table("schema_version"),
    )
}

/// Version 4: the zone rules next runs were planned with ([`crate::Engine::replan_zones`]).
fn version_4(n: &Names) -> String {
    let int = if n.postgres { "BIGINT" } else { "INTEGER" };
    format!(
        "ALTER TABLE {templates} ADD COLUMN zone TEXT;
CREATE INDEX {templates_zone} ON {templates} (zone, id) WHERE next_run_ns IS NOT NULL;
CREATE TABLE {zone_rules} (
    zone TEXT PRIMARY KEY,
    fingerprint {int} NOT NULL,
    tzdb TEXT NOT NULL,
    recorded_at_ns {int} NOT NULL
);
INSERT INTO {version} (version) VALUES (4);
",
        templates = n.table("templates"),
        templates_zone = n.index("templates_zone"),
        zone_rules = n.table("zone_rules"),
        version = n.table("schema_version"),
    )
}

/// Version 5: refused deliveries and dead letters ([`super::Repository::record_failures`]).
fn version_5(n: &Names) -> String {
    let int = if n.postgres { "BIGINT" } else { "INTEGER" };
    format!(
        "ALTER TABLE {outbox} ADD COLUMN attempts {int} NOT NULL DEFAULT 0;
ALTER TABLE {outbox} ADD COLUMN retry_at_ns {int};
ALTER TABLE {outbox} ADD COLUMN last_error TEXT;
ALTER TABLE {outbox} ADD COLUMN dead_at_ns {int};
CREATE INDEX {outbox_dead} ON {outbox} (tenant, id) WHERE dead_at_ns IS NOT NULL;
INSERT INTO {version} (version) VALUES (5);
",
        outbox = n.table("outbox"),
        outbox_dead = n.index("outbox_dead"),
        version = n.table("schema_version"),
    )
}

fn version_1(n: &Names) -> String {
    let (int, now, id_column, allocator) = if n.postgres {
        (
            "BIGINT",
            "TIMESTAMPTZ NOT NULL DEFAULT now()",
            "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
            format!("CREATE SEQUENCE {};", n.table("template_ids")),
        )
    } else {
        (
            "INTEGER",
            "TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP",
            "INTEGER PRIMARY KEY AUTOINCREMENT",
            format!(
                "CREATE TABLE {meta} (name TEXT PRIMARY KEY, value INTEGER NOT NULL);\n\
                 INSERT INTO {meta} (name, value) VALUES ('last_template_id', 0);",
                meta = n.table("meta")
            ),
        )
    };
    let schema = if n.postgres {
        format!("CREATE SCHEMA IF NOT EXISTS \"{}\";\n", n.schema)
    } else {
        String::new()
    };
    let key = format!(
        "template_id {int} NOT NULL,\n    kind SMALLINT NOT NULL,\n    \
         revision {int} NOT NULL,\n    num {int} NOT NULL"
    );
    let pk = "PRIMARY KEY (template_id, kind, revision, num)";
    format!(
        "{schema}CREATE TABLE IF NOT EXISTS {version} (\n    version {int} PRIMARY KEY,\n    applied_at {now}\n);
{allocator}
CREATE TABLE {templates} (
    id {int} PRIMARY KEY,
    tenant TEXT NOT NULL,
    version {int} NOT NULL,
    state TEXT NOT NULL,
    next_run_ns {int},
    body TEXT NOT NULL
);
CREATE INDEX {templates_due} ON {templates} (next_run_ns, id) WHERE next_run_ns IS NOT NULL;
CREATE INDEX {templates_tenant} ON {templates} (tenant, next_run_ns, id, state);
CREATE TABLE {deals} (
    {key},
    tenant TEXT NOT NULL,
    nominal_at_ns {int} NOT NULL,
    body TEXT NOT NULL,
    {pk}
);
CREATE INDEX {deals_tenant} ON {deals} (tenant, template_id, nominal_at_ns);
CREATE TABLE {skipped} (
    {key},
    tenant TEXT NOT NULL,
    body TEXT NOT NULL,
    {pk}
);
CREATE INDEX {skipped_tenant} ON {skipped} (tenant, template_id);
CREATE TABLE {invoices} (
    {key},
    tenant TEXT NOT NULL,
    version {int} NOT NULL,
    next_reminder_ns {int},
    body TEXT NOT NULL,
    {pk}
);
CREATE INDEX {invoices_due} ON {invoices} (next_reminder_ns) WHERE next_reminder_ns IS NOT NULL;
CREATE TABLE {outbox} (
    id {id_column},
    tenant TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    at_ns {int} NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX {outbox_tenant} ON {outbox} (tenant, id);
INSERT INTO {version} (version) VALUES (1);
",
        version = n.table("schema_version"),
        templates = n.table("templates"),
        templates_due = n.index("templates_due"),
        templates_tenant = n.index("templates_tenant"),
        deals = n.table("deals"),
        deals_tenant = n.index("deals_tenant"),
        skipped = n.table("skipped"),
        skipped_tenant = n.index("skipped_tenant"),
        invoices = n.table("invoices"),
        invoices_due = n.index("invoices_due"),
        outbox = n.table("outbox"),
        outbox_tenant = n.index("outbox_tenant"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_spliced() {
        assert!(sqlite("").is_err());
        assert!(sqlite("Rd_").is_err());
        assert!(sqlite("rd_; DROP TABLE x; --").is_err());
        assert!(postgres("1abc").is_err());
        let sql = sqlite("crm_rd_").unwrap().remove(0).sql;
        assert!(sql.contains("CREATE TABLE crm_rd_deals"));
        assert!(sql.contains("CREATE INDEX crm_rd_deals_tenant ON crm_rd_deals"));
        let sql = postgres("rd").unwrap().remove(0).sql;
        assert!(sql.contains("CREATE TABLE \"rd\".deals"));
        assert!(sql.contains("CREATE INDEX deals_tenant ON \"rd\".deals"));
    }
}
