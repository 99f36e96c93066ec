//! The SQLite store (feature `sqlite`); see [`SqliteRepository`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::event::{EventKind, NewEvent, OutboxEvent};
use crate::ids::{DealKey, TemplateId, TenantId};
use crate::invoice::Invoice;
use crate::planner::{CreatedDeal, SkippedOccurrence};
use crate::repository::{
    Commit, CommitOutcome, Page, Repository, RepositoryError, StateFilter, TemplateQuery,
};
use crate::template::Template;

/// The newest schema version this crate knows.
const SCHEMA_VERSION: i64 = 1;

/// Migration `n` (from 1) brings the schema from version `n - 1` to `n`.
const MIGRATIONS: [&str; 1] = [r"
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
"];

/// The due templates, earliest first: a range of the `templates_due` index, so the cost grows
/// with the number due. (`?1`, `?2`: `now` as seconds and nanoseconds.)
const DUE_TEMPLATES: &str = "SELECT id, tenant, version, body FROM templates \
     WHERE next_run <= ?1 AND (next_run < ?1 OR next_run_nanos <= ?2) \
     ORDER BY next_run, next_run_nanos, id";

/// The open invoices with a reminder due, earliest first (the `invoices_reminders` index).
const DUE_INVOICES: &str = "SELECT template, kind, revision, seq, version, body FROM invoices \
     WHERE next_reminder <= ?1 AND (next_reminder < ?1 OR next_reminder_nanos <= ?2) \
     ORDER BY next_reminder, next_reminder_nanos, kind, template, revision, seq";

/// The earliest next run: the first entry of the `templates_due` index.
const NEXT_TEMPLATE_RUN: &str = "SELECT next_run, next_run_nanos FROM templates \
     WHERE next_run IS NOT NULL ORDER BY next_run, next_run_nanos LIMIT 1";

/// The earliest reminder: the first entry of the `invoices_reminders` index.
const NEXT_REMINDER: &str = "SELECT next_reminder, next_reminder_nanos FROM invoices \
     WHERE next_reminder IS NOT NULL ORDER BY next_reminder, next_reminder_nanos LIMIT 1";

/// How long a writer waits for another process's transaction before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A [`Repository`] in an SQLite database file (feature `sqlite`): bundled SQLite, nothing to
/// install.
///
/// ```
/// use recurring_deals::{Repository, SqliteRepository};
/// let repository = SqliteRepository::open_in_memory()?;
/// assert!(repository.outbox(10)?.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Concurrency
///
/// One [`rusqlite::Connection`] behind a [`Mutex`]: the threads of one process take turns on
/// it. SQLite admits one writer at a time anyway, and the engine holds the store only for
/// look-ups and commits, never while planning, so a connection pool would buy parallel reads
/// at the price of a second locking layer; a single connection also makes
/// [`SqliteRepository::open_in_memory`] behave exactly like a file. Several *processes* may
/// open the same file: the database runs in WAL mode (readers never block the writer), every
/// write is a `BEGIN IMMEDIATE` transaction (it takes the write lock up front, so two writers
/// never deadlock upgrading a read lock), and a busy timeout of 5 seconds makes a writer wait
/// for another process's transaction instead of failing. Exactly-once does not depend on the
/// locking: every commit is conditional on the template's version and the deal key is unique.
///
/// # Durability
///
/// `PRAGMA synchronous = FULL`: the WAL is synced at every commit, so a committed deal
/// survives a power loss, not only a crash of the process. (With WAL, `NORMAL` keeps the
/// database consistent but may lose the last commits on power loss; the host may already have
/// delivered their outbox events, and re-created deals would carry new creation times.)
/// [`Repository::commit_batch`] writes a whole batch of templates (the engine's
/// `commit_batch`, 64 by default) in one transaction, so a tick pays one sync per batch, not
/// per template or per deal; if that transaction fails, nothing of the batch is written.
///
/// # Schema
///
/// Rows keep the fields the store queries as indexed columns and the value itself as JSON
/// (`body`, the type's serde form), so new fields need no migration. Instants are stored as
/// unix seconds plus a nanoseconds column: chrono instants have nanosecond precision and the
/// contract compares them exactly (a template due at `t` is not due at `t - 1ns`).
///
/// The schema is versioned by the `schema_version` table (one row per applied version);
/// [`SqliteRepository::open`] applies the missing migrations in one transaction and refuses a
/// database whose version is newer than this crate knows.
///
/// * **Version 1**:
///   * `meta (name, value)`: `last_template_id`, the id allocator.
///   * `templates (id, tenant, version, state, next_run, next_run_nanos, body)`: `state` is
///     `active`, `paused`, `inactive` or `finished`; `next_run` is NULL when nothing is
///     planned. Index `templates_due (next_run, next_run_nanos, id)` over planned templates:
///     due loading reads only the due rows. Index `templates_tenant (tenant, next_run,
///     next_run_nanos, state)` covers listing and counting a tenant's templates.
///   * `deals (template, kind, revision, seq, tenant, nominal_at, nominal_at_nanos, body)`:
///     the deal key is `(template, kind, revision, seq)` (`kind` 0 scheduled, 1 manual, whose
///     revision is 0 and `seq` the manual number), with a `UNIQUE` constraint. Index
///     `deals_tenant (tenant, template, nominal_at, nominal_at_nanos)`.
///   * `skipped (template, kind, revision, seq, tenant, body)`: `UNIQUE` key; index
///     `skipped_tenant (tenant, kind, template, revision, seq)` (the key's order).
///   * `invoices (template, kind, revision, seq, tenant, version, next_reminder,
///     next_reminder_nanos, body)`: keyed by the deal; `next_reminder` is the next pending
///     reminder of an open invoice (else NULL), indexed by `invoices_reminders`.
///   * `outbox (id, tenant, body)`: `id` is `AUTOINCREMENT`, so ids are never reused, even
///     after every event was acknowledged.
///
/// Every query is parameterized. The queries that serve one tenant (`template`, `commit`,
/// `delete_template`, `list_templates`, `count_live`, `deals`, `deal`, `skipped`, `invoice`,
/// `commit_invoice`) all filter on the tenant column; the worker's queries (`due_templates`,
/// `due_invoices`, `next_wake`, `outbox`, `ack`) are across tenants by the trait's design.
///
/// # Corrupted rows
///
/// A template row whose body cannot be read (unreadable JSON, or a body naming another id or
/// tenant than its columns) makes [`Repository::template`] and
/// [`Repository::list_templates`] fail with an error naming the template. The worker path
/// keeps going: [`Repository::due_templates`] skips such rows (still returning up to `limit`
/// readable ones), so one bad row never stops the other templates; the skipped rows are listed
/// by [`SqliteRepository::corrupt_templates`]. Invoices are treated the same way in
/// [`Repository::due_invoices`]; an unreadable deal, skipped occurrence or outbox event is an
/// error naming it.
pub struct SqliteRepository {
    connection: Mutex<Connection>,
    /// Templates found unreadable since the store was opened, with the reason.
    corrupt: Mutex<BTreeMap<TemplateId, String>>,
}

impl fmt::Debug for SqliteRepository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteRepository")
            .field("path", &self.lock().path().map(str::to_owned))
            .finish_non_exhaustive()
    }
}

impl SqliteRepository {
    /// Opens (or creates) the database file at `path`, in WAL mode, and migrates its schema to
    /// the current version.
    ///
    /// # Errors
    /// A [`RepositoryError`] when the file cannot be opened or is not an SQLite database, or
    /// when its schema version is newer than this crate knows.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteRepository, RepositoryError> {
        let path = path.as_ref();
        let context =
            |e: RepositoryError| RepositoryError::new(format!("{}: {}", path.display(), e.message));
        let connection = Connection::open(path).map_err(|e| context(failure(e)))?;
        SqliteRepository::setup(connection, true).map_err(context)
    }

    /// A private in-memory database (for tests): the same schema and queries as a file.
    ///
    /// # Errors
    /// A [`RepositoryError`] when SQLite fails.
    pub fn open_in_memory() -> Result<SqliteRepository, RepositoryError> {
        SqliteRepository::setup(Connection::open_in_memory().map_err(failure)?, false)
    }

    /// The templates found unreadable (and skipped by due loading) since the store was opened,
    /// with the reason. A repaired row drops off when it is read successfully again.
    pub fn corrupt_templates(&self) -> Vec<(TemplateId, String)> {
        self.corrupt_log()
            .iter()
            .map(|(id, why)| (*id, why.clone()))
            .collect()
    }

    /// The schema version this crate writes and the newest it can open.
    pub const SCHEMA_VERSION: u32 = SCHEMA_VERSION as u32;

    fn setup(mut connection: Connection, file: bool) -> Result<SqliteRepository, RepositoryError> {
        connection.busy_timeout(BUSY_TIMEOUT).map_err(failure)?;
        if file {
            let mode: String = connection
                .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
                .map_err(failure)?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(RepositoryError::new(format!(
                    "cannot switch the database to WAL mode (it stays in {mode} mode)"
                )));
            }
        }
        connection
            .pragma_update(None, "synchronous", "FULL")
            .map_err(failure)?;
        connection.set_prepared_statement_cache_capacity(64);
        migrate(&mut connection)?;
        Ok(SqliteRepository {
            connection: Mutex::new(connection),
            corrupt: Mutex::new(BTreeMap::new()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock dropped its transaction, which rolled back: the
        // connection is still consistent.
        self.connection.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn corrupt_log(&self) -> MutexGuard<'_, BTreeMap<TemplateId, String>> {
        self.corrupt.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads a template row, logging (or clearing) its corruption.
    fn read_template(&self, row: TemplateRow) -> Result<Template, RepositoryError> {
        let id = row.id;
        match row.decode() {
            Ok(template) => {
                let mut log = self.corrupt_log();
                if !log.is_empty() {
                    log.remove(&id);
                }
                Ok(template)
            }
            Err(error) => {
                self.corrupt_log().insert(id, error.message.clone());
                Err(error)
            }
        }
    }

    /// Runs a tenant's `(template, kind, revision, seq, body)` query (`?1` tenant, `?2` the
    /// template or NULL); decoding happens after the lock is released.
    fn keyed_bodies(
        &self,
        sql: &str,
        tenant: &TenantId,
        template: Option<TemplateId>,
    ) -> Result<Vec<(DealKey, String)>, RepositoryError> {
        let connection = self.lock();
        let mut select = connection.prepare_cached(sql).map_err(failure)?;
        let rows = select
            .query_map(params![tenant.as_str(), template.map(|t| t.0)], |row| {
                Ok((
                    key_of(row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?),
                    row.get(4)?,
                ))
            })
            .and_then(Iterator::collect)
            .map_err(failure)?;
        Ok(rows)
    }
}

/// Applies the missing migrations, in one transaction.
fn migrate(connection: &mut Connection) -> Result<(), RepositoryError> {
    let tx = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(failure)?;
    tx.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY)")
        .map_err(failure)?;
    let current: i64 = tx
        .query_row(
            "SELECT coalesce(max(version), 0) FROM schema_version",
            [],
            |row| row.get(0),
        )
        .map_err(failure)?;
    if current > SCHEMA_VERSION {
        return Err(RepositoryError::new(format!(
            "the database has schema version {current}, newer than version {SCHEMA_VERSION} \
             that this version of recurring-deals knows; open it with a newer release"
        )));
    }
    for version in current + 1..=SCHEMA_VERSION {
        tx.execute_batch(MIGRATIONS[(version - 1) as usize])
            .map_err(|e| {
                RepositoryError::new(format!("migration to schema version {version}: {e}"))
            })?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES (?1)",
            params![version],
        )
        .map_err(failure)?;
    }
    tx.commit().map_err(failure)
}

fn failure(error: rusqlite::Error) -> RepositoryError {
    RepositoryError::new(format!("sqlite: {error}"))
}

fn to_json(value: &impl Serialize) -> Result<String, RepositoryError> {
    serde_json::to_string(value)
        .map_err(|e| RepositoryError::new(format!("cannot encode a row: {e}")))
}

fn from_json<T: DeserializeOwned>(
    body: &str,
    what: impl fmt::Display,
) -> Result<T, RepositoryError> {
    serde_json::from_str(body)
        .map_err(|e| RepositoryError::new(format!("{what} is unreadable: {e}")))
}

/// Unix seconds and the nanoseconds within the second: exact, and ordered as the instants.
fn instant(at: DateTime<Utc>) -> (i64, i64) {
    (at.timestamp(), i64::from(at.timestamp_subsec_nanos()))
}

fn optional_instant(at: Option<DateTime<Utc>>) -> (Option<i64>, Option<i64>) {
    match at.map(instant) {
        Some((seconds, nanos)) => (Some(seconds), Some(nanos)),
        None => (None, None),
    }
}

fn from_instant(seconds: i64, nanos: i64) -> Result<DateTime<Utc>, RepositoryError> {
    u32::try_from(nanos)
        .ok()
        .and_then(|nanos| DateTime::from_timestamp(seconds, nanos))
        .ok_or_else(|| RepositoryError::new(format!("bad stored instant {seconds}.{nanos}")))
}

/// The deal key's columns: `(template, kind, revision, seq)`.
fn key_columns(key: DealKey) -> (u64, i64, u32, u64) {
    match key {
        DealKey::Scheduled {
            template,
            revision,
            seq,
        } => (template.0, 0, revision, seq),
        DealKey::Manual { template, number } => (template.0, 1, 0, number),
    }
}

/// The deal key of columns `(template, kind, revision, seq)`.
fn key_of(template: u64, kind: i64, revision: u32, seq: u64) -> DealKey {
    let template = TemplateId(template);
    if kind == 0 {
        DealKey::Scheduled {
            template,
            revision,
            seq,
        }
    } else {
        DealKey::Manual {
            template,
            number: seq,
        }
    }
}

/// A row count or limit as SQLite's integer.
fn sql_count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A template row as read, before decoding.
struct TemplateRow {
    id: TemplateId,
    tenant: String,
    version: i64,
    body: String,
}

impl TemplateRow {
    const COLUMNS: &'static str = "id, tenant, version, body";

    fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<TemplateRow> {
        Ok(TemplateRow {
            id: TemplateId(row.get(0)?),
            tenant: row.get(1)?,
            version: row.get(2)?,
            body: row.get(3)?,
        })
    }

    /// The template; its body must name the row's id and tenant.
    fn decode(self) -> Result<Template, RepositoryError> {
        let what = format!("template {} of tenant {}", self.id, self.tenant);
        let mut template: Template = from_json(&self.body, &what)?;
        if template.id != self.id || template.tenant.as_str() != self.tenant {
            return Err(RepositoryError::new(format!(
                "{what} is unreadable: its body is template {} of tenant {}",
                template.id, template.tenant
            )));
        }
        template.version = u64::try_from(self.version)
            .map_err(|_| RepositoryError::new(format!("{what} has version {}", self.version)))?;
        Ok(template)
    }
}

/// Reads an invoice row `(version, body)`.
fn decode_invoice(version: i64, body: &str, key: DealKey) -> Result<Invoice, RepositoryError> {
    let mut invoice: Invoice = from_json(body, format_args!("invoice of deal {key}"))?;
    invoice.version = u64::try_from(version).map_err(|_| {
        RepositoryError::new(format!("invoice of deal {key} has version {version}"))
    })?;
    Ok(invoice)
}

/// Inserts outbox events.
fn push_events(
    tx: &rusqlite::Transaction<'_>,
    events: &[(String, String)],
) -> Result<(), RepositoryError> {
    if events.is_empty() {
        return Ok(());
    }
    let mut insert = tx
        .prepare_cached("INSERT INTO outbox (tenant, body) VALUES (?1, ?2)")
        .map_err(failure)?;
    for (tenant, body) in events {
        insert.execute(params![tenant, body]).map_err(failure)?;
    }
    Ok(())
}

/// A commit with every row encoded, ready to be written under the lock.
struct EncodedCommit {
    template: Template,
    expected: u64,
    body: String,
    next_run: (Option<i64>, Option<i64>),
    deals: Vec<(CreatedDeal, String)>,
    skipped: Vec<(SkippedOccurrence, String)>,
    invoices: Vec<(Invoice, String)>,
    events: Vec<(NewEvent, String)>,
}

impl EncodedCommit {
    fn of(commit: Commit) -> Result<EncodedCommit, RepositoryError> {
        commit.check_rows()?;
        let Commit {
            mut template,
            deals,
            skipped,
            invoices,
            events,
        } = commit;
        let expected = template.version;
        template.version = expected
            .checked_add(1)
            .ok_or_else(|| RepositoryError::new("template version overflow"))?;
        fn encoded<T: Serialize>(rows: Vec<T>) -> Result<Vec<(T, String)>, RepositoryError> {
            rows.into_iter()
                .map(|row| {
                    let body = to_json(&row)?;
                    Ok((row, body))
                })
                .collect()
        }
        Ok(EncodedCommit {
            body: to_json(&template)?,
            next_run: optional_instant(template.next_run),
            template,
            expected,
            deals: encoded(deals)?,
            skipped: encoded(skipped)?,
            invoices: encoded(invoices)?,
            events: encoded(events)?,
        })
    }

    /// Writes the commit in `tx` if the stored template still has the expected version; a
    /// conflict writes nothing.
    fn write(&self, tx: &rusqlite::Transaction<'_>) -> Result<CommitOutcome, RepositoryError> {
        let template = &self.template;
        let (next_run, next_run_nanos) = self.next_run;
        let updated = tx
            .prepare_cached(
                "UPDATE templates SET version = ?1, state = ?2, next_run = ?3, \
                 next_run_nanos = ?4, body = ?5 \
                 WHERE id = ?6 AND tenant = ?7 AND version = ?8",
            )
            .and_then(|mut update| {
                update.execute(params![
                    template.version,
                    StateFilter::of(&template.state).column_name(),
                    next_run,
                    next_run_nanos,
                    self.body,
                    template.id.0,
                    template.tenant.as_str(),
                    self.expected,
                ])
            })
            .map_err(failure)?;
        if updated == 0 {
            let exists = tx
                .prepare_cached("SELECT 1 FROM templates WHERE id = ?1 AND tenant = ?2")
                .and_then(|mut select| {
                    select.exists(params![template.id.0, template.tenant.as_str()])
                })
                .map_err(failure)?;
            return Ok(if exists {
                CommitOutcome::Conflict
            } else {
                CommitOutcome::Missing
            });
        }

        let mut already_created = Vec::new();
        if !self.deals.is_empty() {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO deals (template, kind, revision, seq, tenant, nominal_at, \
                     nominal_at_nanos, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
                     ON CONFLICT (template, kind, revision, seq) DO NOTHING",
                )
                .map_err(failure)?;
            for (deal, body) in &self.deals {
                let (t, kind, revision, seq) = key_columns(deal.key);
                let (at, at_nanos) = instant(deal.nominal_at);
                let inserted = insert
                    .execute(params![
                        t,
                        kind,
                        revision,
                        seq,
                        deal.tenant.as_str(),
                        at,
                        at_nanos,
                        body
                    ])
                    .map_err(failure)?;
                if inserted == 0 {
                    already_created.push(deal.key);
                }
            }
        }
        if !self.skipped.is_empty() {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO skipped (template, kind, revision, seq, tenant, body) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                     ON CONFLICT (template, kind, revision, seq) DO NOTHING",
                )
                .map_err(failure)?;
            for (skip, body) in &self.skipped {
                let (t, kind, revision, seq) = key_columns(skip.key);
                insert
                    .execute(params![t, kind, revision, seq, skip.tenant.as_str(), body])
                    .map_err(failure)?;
            }
        }
        if !self.invoices.is_empty() {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO invoices (template, kind, revision, seq, tenant, version, \
                     next_reminder, next_reminder_nanos, body) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
                     ON CONFLICT (template, kind, revision, seq) DO NOTHING",
                )
                .map_err(failure)?;
            for (invoice, body) in &self.invoices {
                // An invoice of a deal created before was issued with it.
                if already_created.contains(&invoice.deal) {
                    continue;
                }
                let (t, kind, revision, seq) = key_columns(invoice.deal);
                let (at, at_nanos) = optional_instant(invoice.next_reminder());
                insert
                    .execute(params![
                        t,
                        kind,
                        revision,
                        seq,
                        invoice.tenant.as_str(),
                        invoice.version,
                        at,
                        at_nanos,
                        body
                    ])
                    .map_err(failure)?;
            }
        }
        // The events of a deal created before went out with it.
        let fresh: Vec<(String, String)> = self
            .events
            .iter()
            .filter(|(event, _)| match &event.kind {
                EventKind::DealCreated { deal, .. } => !already_created.contains(deal),
                EventKind::InvoiceIssued { invoice } => !already_created.contains(&invoice.deal),
                _ => true,
            })
            .map(|(event, body)| (event.tenant.as_str().to_owned(), body.clone()))
            .collect();
        push_events(tx, &fresh)?;
        Ok(CommitOutcome::Committed {
            version: template.version,
            already_created,
        })
    }
}

impl Repository for SqliteRepository {
    fn allocate_template_id(&self) -> Result<TemplateId, RepositoryError> {
        let connection = self.lock();
        let id: u64 = connection
            .prepare_cached(
                "UPDATE meta SET value = value + 1 WHERE name = 'last_template_id' \
                 RETURNING value",
            )
            .and_then(|mut statement| statement.query_row([], |row| row.get(0)))
            .map_err(failure)?;
        Ok(TemplateId(id))
    }

    fn insert_template(&self, template: &Template) -> Result<(), RepositoryError> {
        let body = to_json(template)?;
        let (next_run, next_run_nanos) = optional_instant(template.next_run);
        let mut connection = self.lock();
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(failure)?;
        let inserted = tx
            .prepare_cached(
                "INSERT INTO templates (id, tenant, version, state, next_run, next_run_nanos, body) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (id) DO NOTHING",
            )
            .and_then(|mut insert| {
                insert.execute(params![
                    template.id.0,
                    template.tenant.as_str(),
                    template.version,
                    StateFilter::of(&template.state).column_name(),
                    next_run,
                    next_run_nanos,
                    body,
                ])
            })
            .map_err(failure)?;
        if inserted == 0 {
            return Err(RepositoryError::new(format!(
                "template {} already exists",
                template.id
            )));
        }
        // A template inserted with an id the allocator has not handed out yet (an import)
        // must not collide with a later allocation.
        tx.prepare_cached("UPDATE meta SET value = max(value, ?1) WHERE name = 'last_template_id'")
            .and_then(|mut update| update.execute(params![template.id.0]))
            .map_err(failure)?;
        tx.commit().map_err(failure)
    }

    fn template(
        &self,
        tenant: &TenantId,
        id: TemplateId,
    ) -> Result<Option<Template>, RepositoryError> {
        let row = {
            let connection = self.lock();
            let mut select = connection
                .prepare_cached(&format!(
                    "SELECT {} FROM templates WHERE id = ?1 AND tenant = ?2",
                    TemplateRow::COLUMNS
                ))
                .map_err(failure)?;
            select
                .query_row(params![id.0, tenant.as_str()], TemplateRow::from_row)
                .optional()
                .map_err(failure)?
        };
        row.map(|row| self.read_template(row)).transpose()
    }

    fn due_templates(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Template>, RepositoryError> {
        let mut due = Vec::new();
        if limit == 0 {
            return Ok(due);
        }
        let (seconds, nanos) = instant(now);
        // Decoding happens under the lock: stepping the cursor lazily lets corrupted rows be
        // skipped while still returning `limit` readable ones, reading only as far as needed.
        let connection = self.lock();
        let mut select = connection.prepare_cached(DUE_TEMPLATES).map_err(failure)?;
        let mut rows = select.query(params![seconds, nanos]).map_err(failure)?;
        while due.len() < limit {
            let Some(row) = rows.next().map_err(failure)? else {
                break;
            };
            let row = TemplateRow::from_row(row).map_err(failure)?;
            // An unreadable template is logged and skipped: the others keep being processed.
            if let Ok(template) = self.read_template(row) {
                due.push(template);
            }
        }
        Ok(due)
    }

    fn next_wake(&self) -> Result<Option<DateTime<Utc>>, RepositoryError> {
        let connection = self.lock();
        let earliest = |sql: &str| -> Result<Option<DateTime<Utc>>, RepositoryError> {
            let row: Option<(i64, i64)> = connection
                .prepare_cached(sql)
                .and_then(|mut select| {
                    select
                        .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))
                        .optional()
                })
                .map_err(failure)?;
            row.map(|(seconds, nanos)| from_instant(seconds, nanos))
                .transpose()
        };
        let template = earliest(NEXT_TEMPLATE_RUN)?;
        let reminder = earliest(NEXT_REMINDER)?;
        Ok(template.into_iter().chain(reminder).min())
    }

    fn commit(&self, commit: Commit) -> Result<CommitOutcome, RepositoryError> {
        self.commit_batch(vec![commit])
            .pop()
            .unwrap_or_else(|| Err(RepositoryError::new("sqlite: commit produced no outcome")))
    }

    /// One `BEGIN IMMEDIATE` transaction for the whole batch: one fsync for all its templates.
    fn commit_batch(&self, commits: Vec<Commit>) -> Vec<Result<CommitOutcome, RepositoryError>> {
        // Everything is encoded before the lock is taken, to keep the write lock short; a
        // commit that cannot be encoded fails alone.
        let encoded: Vec<Result<EncodedCommit, RepositoryError>> =
            commits.into_iter().map(EncodedCommit::of).collect();
        let mut connection = self.lock();
        let written = (|| -> Result<Vec<Option<CommitOutcome>>, RepositoryError> {
            let tx = connection
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(failure)?;
            let mut outcomes = Vec::with_capacity(encoded.len());
            for commit in &encoded {
                outcomes.push(match commit {
                    Ok(commit) => Some(commit.write(&tx)?),
                    Err(_) => None,
                });
            }
            tx.commit().map_err(failure)?;
            Ok(outcomes)
        })();
        match written {
            Ok(outcomes) => encoded
                .into_iter()
                .zip(outcomes)
                .map(|(commit, outcome)| match (commit, outcome) {
                    (Err(error), _) => Err(error),
                    (Ok(_), Some(outcome)) => Ok(outcome),
                    (Ok(_), None) => Err(RepositoryError::new("sqlite: commit not written")),
                })
                .collect(),
            // The transaction rolled back: nothing of the batch was written.
            Err(error) => encoded
                .into_iter()
                .map(|commit| commit.and(Err(error.clone())))
                .collect(),
        }
    }

    fn delete_template(
        &self,
        tenant: &TenantId,
        id: TemplateId,
        version: u64,
    ) -> Result<CommitOutcome, RepositoryError> {
        let mut connection = self.lock();
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(failure)?;
        let deleted = tx
            .prepare_cached("DELETE FROM templates WHERE id = ?1 AND tenant = ?2 AND version = ?3")
            .and_then(|mut delete| delete.execute(params![id.0, tenant.as_str(), version]))
            .map_err(failure)?;
        if deleted == 0 {
            let exists = tx
                .prepare_cached("SELECT 1 FROM templates WHERE id = ?1 AND tenant = ?2")
                .and_then(|mut select| select.exists(params![id.0, tenant.as_str()]))
                .map_err(failure)?;
            return Ok(if exists {
                CommitOutcome::Conflict
            } else {
                CommitOutcome::Missing
            });
        }
        tx.commit().map_err(failure)?;
        self.corrupt_log().remove(&id);
        Ok(CommitOutcome::Committed {
            version: version + 1,
            already_created: Vec::new(),
        })
    }

    fn list_templates(
        &self,
        tenant: &TenantId,
        query: &TemplateQuery,
    ) -> Result<Page<Template>, RepositoryError> {
        let limit = if query.limit == 0 { 50 } else { query.limit };
        let state = query.state.map(StateFilter::column_name);
        let (total, rows) = {
            let mut connection = self.lock();
            // One read transaction: the count, the ids and the bodies are of one snapshot,
            // whatever other processes commit meanwhile.
            let connection = connection.transaction().map_err(failure)?;
            let total: i64 = connection
                .prepare_cached(
                    "SELECT count(*) FROM templates \
                     WHERE tenant = ?1 AND (?2 IS NULL OR state = ?2)",
                )
                .and_then(|mut count| {
                    count.query_row(params![tenant.as_str(), state], |row| row.get(0))
                })
                .map_err(failure)?;
            // Ids first, from the covering index; then the page's bodies.
            let ids: Vec<u64> = connection
                .prepare_cached(
                    "SELECT id FROM templates WHERE tenant = ?1 AND (?2 IS NULL OR state = ?2) \
                     ORDER BY next_run IS NULL, next_run, next_run_nanos, id \
                     LIMIT ?3 OFFSET ?4",
                )
                .and_then(|mut select| {
                    select
                        .query_map(
                            params![
                                tenant.as_str(),
                                state,
                                sql_count(limit),
                                sql_count(query.offset)
                            ],
                            |row| row.get(0),
                        )?
                        .collect()
                })
                .map_err(failure)?;
            let mut select = connection
                .prepare_cached(&format!(
                    "SELECT {} FROM templates WHERE id = ?1 AND tenant = ?2",
                    TemplateRow::COLUMNS
                ))
                .map_err(failure)?;
            let rows = ids
                .into_iter()
                .map(|id| select.query_row(params![id, tenant.as_str()], TemplateRow::from_row))
                .collect::<rusqlite::Result<Vec<TemplateRow>>>()
                .map_err(failure)?;
            (usize::try_from(total).unwrap_or(usize::MAX), rows)
        };
        Ok(Page {
            items: rows
                .into_iter()
                .map(|row| self.read_template(row))
                .collect::<Result<_, _>>()?,
            total,
        })
    }

    fn count_live(&self, tenant: &TenantId) -> Result<u64, RepositoryError> {
        let connection = self.lock();
        connection
            .prepare_cached(
                "SELECT count(*) FROM templates \
                 WHERE tenant = ?1 AND state IN ('active', 'paused')",
            )
            .and_then(|mut count| count.query_row(params![tenant.as_str()], |row| row.get(0)))
            .map_err(failure)
    }

    fn deals(
        &self,
        tenant: &TenantId,
        template: Option<TemplateId>,
    ) -> Result<Vec<CreatedDeal>, RepositoryError> {
        let rows = self.keyed_bodies(
            "SELECT template, kind, revision, seq, body FROM deals \
             WHERE tenant = ?1 AND (?2 IS NULL OR template = ?2) \
             ORDER BY template, nominal_at, nominal_at_nanos, kind, revision, seq",
            tenant,
            template,
        )?;
        rows.iter()
            .map(|(key, body)| from_json(body, format_args!("deal {key}")))
            .collect()
    }

    fn deal(
        &self,
        tenant: &TenantId,
        key: DealKey,
    ) -> Result<Option<CreatedDeal>, RepositoryError> {
        let (template, kind, revision, seq) = key_columns(key);
        let body: Option<String> = self
            .lock()
            .prepare_cached(
                "SELECT body FROM deals WHERE template = ?1 AND kind = ?2 AND revision = ?3 \
                 AND seq = ?4 AND tenant = ?5",
            )
            .and_then(|mut select| {
                select
                    .query_row(
                        params![template, kind, revision, seq, tenant.as_str()],
                        |row| row.get(0),
                    )
                    .optional()
            })
            .map_err(failure)?;
        body.map(|body| from_json(&body, format_args!("deal {key}")))
            .transpose()
    }

    fn skipped(
        &self,
        tenant: &TenantId,
        template: Option<TemplateId>,
    ) -> Result<Vec<SkippedOccurrence>, RepositoryError> {
        let rows = self.keyed_bodies(
            "SELECT template, kind, revision, seq, body FROM skipped \
             WHERE tenant = ?1 AND (?2 IS NULL OR template = ?2) \
             ORDER BY kind, template, revision, seq",
            tenant,
            template,
        )?;
        rows.iter()
            .map(|(key, body)| from_json(body, format_args!("skipped occurrence {key}")))
            .collect()
    }

    fn invoice(
        &self,
        tenant: &TenantId,
        deal: DealKey,
    ) -> Result<Option<Invoice>, RepositoryError> {
        let (template, kind, revision, seq) = key_columns(deal);
        let row: Option<(i64, String)> = self
            .lock()
            .prepare_cached(
                "SELECT version, body FROM invoices WHERE template = ?1 AND kind = ?2 \
                 AND revision = ?3 AND seq = ?4 AND tenant = ?5",
            )
            .and_then(|mut select| {
                select
                    .query_row(
                        params![template, kind, revision, seq, tenant.as_str()],
                        |row| Ok((row.get(0)?, row.get(1)?)),
                    )
                    .optional()
            })
            .map_err(failure)?;
        row.map(|(version, body)| decode_invoice(version, &body, deal))
            .transpose()
    }

    fn due_invoices(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Invoice>, RepositoryError> {
        let mut due = Vec::new();
        if limit == 0 {
            return Ok(due);
        }
        let (seconds, nanos) = instant(now);
        let connection = self.lock();
        let mut select = connection.prepare_cached(DUE_INVOICES).map_err(failure)?;
        let mut rows = select.query(params![seconds, nanos]).map_err(failure)?;
        while due.len() < limit {
            let Some(row) = rows.next().map_err(failure)? else {
                break;
            };
            let key = key_of(
                row.get(0).map_err(failure)?,
                row.get(1).map_err(failure)?,
                row.get(2).map_err(failure)?,
                row.get(3).map_err(failure)?,
            );
            let version: i64 = row.get(4).map_err(failure)?;
            let body: String = row.get(5).map_err(failure)?;
            // As with templates: an unreadable invoice must not stop the others' reminders.
            if let Ok(invoice) = decode_invoice(version, &body, key) {
                due.push(invoice);
            }
        }
        Ok(due)
    }

    fn commit_invoice(
        &self,
        mut invoice: Invoice,
        events: Vec<NewEvent>,
    ) -> Result<CommitOutcome, RepositoryError> {
        let expected = invoice.version;
        let version = expected
            .checked_add(1)
            .ok_or_else(|| RepositoryError::new("invoice version overflow"))?;
        invoice.version = version;
        let body = to_json(&invoice)?;
        let (at, at_nanos) = optional_instant(invoice.next_reminder());
        let event_rows = events
            .iter()
            .map(|event| Ok((event.tenant.as_str().to_owned(), to_json(event)?)))
            .collect::<Result<Vec<_>, RepositoryError>>()?;
        let (template, kind, revision, seq) = key_columns(invoice.deal);
        let tenant = invoice.tenant.as_str();

        let mut connection = self.lock();
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(failure)?;
        let updated = tx
            .prepare_cached(
                "UPDATE invoices SET version = ?1, next_reminder = ?2, \
                 next_reminder_nanos = ?3, body = ?4 \
                 WHERE template = ?5 AND kind = ?6 AND revision = ?7 AND seq = ?8 \
                 AND tenant = ?9 AND version = ?10",
            )
            .and_then(|mut update| {
                update.execute(params![
                    version, at, at_nanos, body, template, kind, revision, seq, tenant, expected
                ])
            })
            .map_err(failure)?;
        if updated == 0 {
            let exists = tx
                .prepare_cached(
                    "SELECT 1 FROM invoices WHERE template = ?1 AND kind = ?2 \
                     AND revision = ?3 AND seq = ?4 AND tenant = ?5",
                )
                .and_then(|mut select| {
                    select.exists(params![template, kind, revision, seq, tenant])
                })
                .map_err(failure)?;
            return Ok(if exists {
                CommitOutcome::Conflict
            } else {
                CommitOutcome::Missing
            });
        }
        push_events(&tx, &event_rows)?;
        tx.commit().map_err(failure)?;
        Ok(CommitOutcome::Committed {
            version,
            already_created: Vec::new(),
        })
    }

    fn outbox(&self, limit: usize) -> Result<Vec<OutboxEvent>, RepositoryError> {
        let rows: Vec<(u64, String)> = self
            .lock()
            .prepare_cached("SELECT id, body FROM outbox ORDER BY id LIMIT ?1")
            .and_then(|mut select| {
                select
                    .query_map(params![sql_count(limit)], |row| {
                        Ok((row.get(0)?, row.get(1)?))
                    })?
                    .collect()
            })
            .map_err(failure)?;
        rows.into_iter()
            .map(|(id, body)| {
                let event: NewEvent = from_json(&body, format_args!("outbox event {id}"))?;
                Ok(event.into_outbox(id))
            })
            .collect()
    }

    fn ack(&self, ids: &[u64]) -> Result<(), RepositoryError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut connection = self.lock();
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(failure)?;
        {
            let mut delete = tx
                .prepare_cached("DELETE FROM outbox WHERE id = ?1")
                .map_err(failure)?;
            // Ids beyond SQLite's integers were never handed out: unknown, ignored.
            for id in ids.iter().filter_map(|&id| i64::try_from(id).ok()) {
                delete.execute(params![id]).map_err(failure)?;
            }
        }
        tx.commit().map_err(failure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The query plan of `sql`, as SQLite's `EXPLAIN QUERY PLAN` details.
    fn plan(repository: &SqliteRepository, sql: &str) -> Vec<String> {
        let connection = repository.lock();
        let mut explain = connection
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap();
        let zeros = vec![0; explain.parameter_count()];
        explain
            .query_map(rusqlite::params_from_iter(zeros), |row| {
                row.get::<_, String>(3)
            })
            .unwrap()
            .collect::<rusqlite::Result<Vec<String>>>()
            .unwrap()
    }

    /// The worker's queries search their partial indexes (cost by the number due, whatever
    /// the number stored) and need no sorting step.
    #[test]
    fn due_queries_search_their_indexes() {
        let repository = SqliteRepository::open_in_memory().unwrap();
        for (sql, index) in [
            (DUE_TEMPLATES, "templates_due"),
            (NEXT_TEMPLATE_RUN, "templates_due"),
            (DUE_INVOICES, "invoices_reminders"),
            (NEXT_REMINDER, "invoices_reminders"),
        ] {
            let plan = plan(&repository, sql);
            assert!(
                plan.len() == 1 && plan[0].starts_with("SEARCH") && plan[0].contains(index),
                "{sql}: {plan:?}"
            );
        }
    }
}
