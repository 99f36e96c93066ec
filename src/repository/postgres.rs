//! The PostgreSQL store (feature `postgres`); the design is documented on
//! [`PostgresRepository`], where users see it.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::str::FromStr;
use std::sync::{Mutex, MutexGuard, TryLockError};

use chrono::{DateTime, Utc};
use postgres::types::ToSql;
use postgres::{Client, Config, NoTls, Row, Statement};
use serde::Serialize;

use crate::event::{EventKind, NewEvent, OutboxEvent};
use crate::ids::{DealKey, TemplateId, TenantId};
use crate::invoice::Invoice;
use crate::planner::{CreatedDeal, SkippedOccurrence};
use crate::repository::{
    Commit, CommitOutcome, Page, Repository, RepositoryError, StateFilter, TemplateQuery,
};
use crate::template::Template;

/// A [`Repository`] in a PostgreSQL database, for several workers (threads or processes)
/// ticking one database at once.
///
/// ```no_run
/// use recurring_deals::{Engine, PostgresRepository, SystemClock};
/// let repository = PostgresRepository::connect("host=127.0.0.1 user=postgres dbname=crm")?;
/// let engine = Engine::new(repository, SystemClock);
/// engine.tick()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Why the synchronous `postgres` crate
///
/// [`Repository`] is a synchronous trait (the engine plans in plain code and calls the store
/// in between), so a blocking client fits it without an async runtime leaking into the API.
/// The `postgres` crate is the blocking face of `tokio-postgres`: the same protocol code,
/// prepared statements and binary parameters, driven by a private current-thread runtime per
/// connection. Async hosts call ticks through `spawn_blocking` (see the `tokio_service`
/// example).
///
/// # Connections
///
/// A [`PostgresRepository`] owns a small pool: a fixed number of slots, each a mutex around
/// one lazily opened connection with its prepared statements. A call takes the first free
/// slot (one thread keeps reusing slot 0; `n` threads sharing the store through an `Arc` use
/// up to `n` connections), and waits for a slot only when all are busy. A connection that
/// broke (server restart, network) is dropped and reopened on the next call. Every statement
/// is prepared once per connection and run with bound parameters; no SQL is built from data.
///
/// # Claiming templates across workers
///
/// [`Repository::commit_batch`] is one SQL statement, hence one transaction, one round trip
/// and one WAL flush for a whole batch of templates ([`Repository::commit`] is a batch of
/// one). Its first step claims the batch's template rows:
/// `SELECT ... WHERE id = ANY($ids) AND (tenant, id, version) IN (...) FOR UPDATE SKIP
/// LOCKED`. A row that another worker's commit holds is skipped, and a row with another
/// version does not match; either way that template's outcome is a
/// [`CommitOutcome::Conflict`] at once (the engine moves on and sees it again on a later
/// tick), without waiting and without writing anything for it. Only the claimed templates get
/// their deals, skipped occurrences, invoices, outbox events and new state written, all in
/// that transaction, so a worker that dies mid-tick leaves nothing behind: its transaction
/// rolls back and the row locks go with it. The primary key on the deal key (template, kind,
/// revision, sequence number) is the second guard: a key already present is reported in
/// `already_created`, and its invoice and events are not written again. There is no leader
/// election and no lock table; the row lock is the claim.
///
/// Several workers ticking at once all load the same earliest due templates (the trait's
/// `due_templates` is a plain read). Give each engine its share with
/// `EngineConfig::worker_index` and `worker_count`: each then starts its tick at its own part
/// of the list, and stops a tick early when a whole batch was taken by others, so conflicts
/// stay few. Without shares the result is the same, only slower.
///
/// A commit is durable when it returns (with the server's default `synchronous_commit`); a
/// batch of 64 templates shares one WAL flush. Where flushes are slow, a host may add
/// `options='-c synchronous_commit=off'` to the connection string: a server crash can then
/// lose the last fraction of a second of commits, but never part of one (the deals, the
/// template's state and the outbox events go together), and the next tick creates the same
/// deals again under the same keys and idempotency keys.
///
/// Deletes and invoice commits wait for a row lock instead of skipping it (they are rare and
/// mostly done on a user's request, which should not fail because a tick is writing), then
/// check the version like the in-memory store.
///
/// # Schema and migrations
///
/// Tables live in the connection's schema (`public`, or the one given to
/// [`PostgresRepository::connect_with_schema`], which is created if missing and put on the
/// `search_path` of every connection). Opening the store applies the migrations it lacks in
/// one transaction, under `pg_advisory_xact_lock` keyed by the schema name, so several
/// processes opening a fresh database at once apply each migration exactly once. Applied
/// versions are rows of `rd_schema_version`; a database whose version is newer than
/// [`PostgresRepository::SCHEMA_VERSION`] is refused with an error naming both versions.
///
/// Version 1 (the current one) creates:
///
/// | table | key | columns beside the body | other indexes | body |
/// |---|---|---|---|---|
/// | `rd_templates` | `id` | tenant, version, state, `next_run_ns` | `(next_run_ns, id)` where set (the due index); `(tenant, next_run_ns, id)` | [`Template`] |
/// | `rd_deals` | the deal key (unique) | tenant, `nominal_at_ns` | `(tenant, template_id)` | [`CreatedDeal`] |
/// | `rd_skipped` | the deal key (unique) | tenant | `(tenant, template_id)` | [`SkippedOccurrence`] |
/// | `rd_invoices` | its deal's key (unique) | tenant, version, `next_reminder_ns` | `next_reminder_ns` where set | [`Invoice`] |
/// | `rd_events` | `id` (identity: the outbox order) | tenant, idempotency key, `at_ns` | | [`EventKind`] |
///
/// Bodies are the types' serde JSON, stored as `TEXT` (`body::jsonb` queries them): `JSONB`
/// would refuse strings holding `\u0000`, which the types allow, and would cost a parse on
/// every write. Outbox ids come from an identity column, so a commit that finishes later may
/// hold smaller ids than one already read; ids order events, they do not mark progress.
///
/// and the sequence `rd_template_ids`. Instants are `BIGINT` nanoseconds since the Unix epoch
/// (exact, ordered; `to_timestamp(next_run_ns / 1e9)` shows them), because the crate does not
/// enable the `postgres` crate's chrono conversions. A deal key is stored as `kind` (0
/// scheduled, 1 manual), `template_id`, `revision` (0 for manual deals) and `num` (the
/// occurrence's seq, or the manual number), so the SQL order is the order of [`DealKey`].
///
/// Every query about a tenant's data filters on the tenant; the cross-tenant ones are those
/// the trait defines so (due templates and invoices, the wake-up time, the outbox).
///
/// [`PostgresRepository::insert_templates`] loads many templates in one transaction (imports,
/// tests, benchmarks).
///
/// # Corrupted rows
///
/// A template whose stored body no longer reads as a [`Template`] is an error naming it from
/// [`Repository::template`] (and [`Repository::list_templates`]); [`Repository::due_templates`]
/// leaves it out, so the other templates keep being processed.
pub struct PostgresRepository {
    config: Config,
    schema: Option<String>,
    slots: Box<[Mutex<Option<Connection>>]>,
}

impl fmt::Debug for PostgresRepository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresRepository")
            .field("schema", &self.schema)
            .field("pool_size", &self.slots.len())
            .finish_non_exhaustive()
    }
}

/// One pooled connection and the statements prepared on it.
struct Connection {
    client: Client,
    statements: HashMap<(usize, usize), Statement>,
}

impl Connection {
    /// The prepared statement for `sql` (prepared on first use; the text's address and
    /// length are the key, as every statement is a `&'static str` constant).
    fn statement(&mut self, sql: &'static str) -> Result<Statement, postgres::Error> {
        let key = (sql.as_ptr() as usize, sql.len());
        if let Some(statement) = self.statements.get(&key) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql)?;
        self.statements.insert(key, statement.clone());
        Ok(statement)
    }

    fn query(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, postgres::Error> {
        let statement = self.statement(sql)?;
        self.client.query(&statement, params)
    }

    fn query_one(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, postgres::Error> {
        let statement = self.statement(sql)?;
        self.client.query_one(&statement, params)
    }

    fn execute(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, postgres::Error> {
        let statement = self.statement(sql)?;
        self.client.execute(&statement, params)
    }
}

/// An error of the store: the driver's message with the server's detail.
fn db_error(context: &str, error: &postgres::Error) -> RepositoryError {
    match error.as_db_error() {
        Some(db) => RepositoryError::new(format!(
            "postgres: {context}: {}: {}{}",
            db.severity(),
            db.message(),
            db.detail().map(|d| format!(" ({d})")).unwrap_or_default()
        )),
        None => RepositoryError::new(format!("postgres: {context}: {error}")),
    }
}

/// Why work on a connection failed: the server or driver, or the store's own checks.
enum Failure {
    Db(postgres::Error),
    Store(RepositoryError),
}

impl From<postgres::Error> for Failure {
    fn from(error: postgres::Error) -> Self {
        Failure::Db(error)
    }
}

impl From<RepositoryError> for Failure {
    fn from(error: RepositoryError) -> Self {
        Failure::Store(error)
    }
}

/// The applied migrations, in order: `(version, SQL)`. A released migration never changes;
/// a schema change is a new entry.
const MIGRATIONS: &[(i32, &str)] = &[(
    1,
    "CREATE SEQUENCE rd_template_ids;
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
     );",
)];

/// First key of the advisory lock that serializes migrations (ASCII "RDmg"); the second is
/// the schema name's hash.
const MIGRATION_LOCK: i32 = 0x5244_6d67;

const SQL_ALLOCATE: &str = "SELECT nextval('rd_template_ids')";

const SQL_INSERT_TEMPLATE: &str =
    "INSERT INTO rd_templates (id, tenant, version, state, next_run_ns, body)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (id) DO NOTHING";

const SQL_INSERT_TEMPLATES: &str =
    "INSERT INTO rd_templates (id, tenant, version, state, next_run_ns, body)
     SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::bigint[],
                          $6::text[])";

/// Moves the id sequence past bulk-inserted ids, so `nextval` never hands one out again.
const SQL_BUMP_IDS: &str = "SELECT setval('rd_template_ids',
         GREATEST($1::bigint, (SELECT last_value FROM rd_template_ids)))";

const SQL_TEMPLATE: &str = "SELECT version, body FROM rd_templates WHERE tenant = $1 AND id = $2";

/// The due templates after a `(next_run_ns, id)` position (keyset paging, so corrupted rows
/// skipped on one page do not shrink the result).
const SQL_DUE: &str = "SELECT id, tenant, version, next_run_ns, body FROM rd_templates
     WHERE next_run_ns <= $1 AND (next_run_ns, id) > ($2, $3)
     ORDER BY next_run_ns, id
     LIMIT $4";

const SQL_NEXT_WAKE: &str = "SELECT LEAST(
         (SELECT min(next_run_ns) FROM rd_templates WHERE next_run_ns IS NOT NULL),
         (SELECT min(next_reminder_ns) FROM rd_invoices WHERE next_reminder_ns IS NOT NULL))";

/// A batch of commits, as one statement (one transaction, one round trip, one WAL flush).
/// `ok` holds the templates of the batch whose row has the expected version and that no other
/// transaction holds, and locks them; every write is of a template in `ok`, so a template that
/// failed its claim writes nothing. One result row per template of the batch: its id, whether
/// it exists (in the statement's snapshot, so a row locked by another worker still counts),
/// the new version if written, and the deal keys inserted for it.
///
/// Parameters: the templates as parallel arrays, $1 tenant, $2 id, $3 expected version,
/// $4 state, $5 next run, $6 body; then the rows to insert, also as parallel arrays: deals
/// $7..$13, skipped occurrences $14..$19, invoices $20..$28, events $29..$37 (the last is the
/// template each event belongs to). An invoice row with `gated` is written only if its deal
/// was inserted; an event row with a dependency (`dt`, `dk`, `dr`, `dn`) likewise.
const SQL_COMMIT: &str = "WITH input AS (
         SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[],
                              $5::bigint[], $6::text[])
             AS i(tenant, id, expected, state, next_run, body)
     ), ok AS MATERIALIZED (
         SELECT t.id FROM rd_templates t
         WHERE t.id = ANY($2::bigint[])
             AND (t.tenant, t.id, t.version) IN (SELECT tenant, id, expected FROM input)
         ORDER BY t.id
         FOR UPDATE OF t SKIP LOCKED
     ), deals AS (
         INSERT INTO rd_deals (template_id, kind, revision, num, tenant, nominal_at_ns, body)
         SELECT d.t, d.k, d.r, d.n, d.tenant, d.at, d.body
         FROM unnest($7::bigint[], $8::smallint[], $9::bigint[], $10::bigint[],
                     $11::text[], $12::bigint[], $13::text[])
             AS d(t, k, r, n, tenant, at, body)
         WHERE d.t IN (SELECT id FROM ok)
         ON CONFLICT ON CONSTRAINT rd_deals_key DO NOTHING
         RETURNING template_id, kind, revision, num
     ), skipped AS (
         INSERT INTO rd_skipped (template_id, kind, revision, num, tenant, body)
         SELECT s.t, s.k, s.r, s.n, s.tenant, s.body
         FROM unnest($14::bigint[], $15::smallint[], $16::bigint[], $17::bigint[],
                     $18::text[], $19::text[])
             AS s(t, k, r, n, tenant, body)
         WHERE s.t IN (SELECT id FROM ok)
         ON CONFLICT ON CONSTRAINT rd_skipped_key DO NOTHING
     ), invoices AS (
         INSERT INTO rd_invoices
             (template_id, kind, revision, num, tenant, version, next_reminder_ns, body)
         SELECT v.t, v.k, v.r, v.n, v.tenant, v.version, v.remind, v.body
         FROM unnest($20::bigint[], $21::smallint[], $22::bigint[], $23::bigint[],
                     $24::text[], $25::bigint[], $26::bigint[], $27::boolean[], $28::text[])
             AS v(t, k, r, n, tenant, version, remind, gated, body)
         WHERE v.t IN (SELECT id FROM ok) AND (NOT v.gated OR EXISTS (
             SELECT 1 FROM deals x
             WHERE x.template_id = v.t AND x.kind = v.k AND x.revision = v.r AND x.num = v.n))
         ON CONFLICT ON CONSTRAINT rd_invoices_key DO NOTHING
     ), events AS (
         INSERT INTO rd_events (tenant, idempotency_key, at_ns, body)
         SELECT e.tenant, e.idem, e.at, e.body
         FROM unnest($29::text[], $30::text[], $31::bigint[], $32::bigint[],
                     $33::smallint[], $34::bigint[], $35::bigint[], $36::text[], $37::bigint[])
                  WITH ORDINALITY AS e(tenant, idem, at, dt, dk, dr, dn, body, owner, ord)
         WHERE e.owner IN (SELECT id FROM ok) AND (e.dt IS NULL OR EXISTS (
             SELECT 1 FROM deals x
             WHERE x.template_id = e.dt AND x.kind = e.dk AND x.revision = e.dr AND x.num = e.dn))
         ORDER BY e.ord
     ), updated AS (
         UPDATE rd_templates t
         SET version = i.expected + 1, state = i.state, next_run_ns = i.next_run, body = i.body
         FROM input i
         WHERE t.id = ANY($2::bigint[]) AND t.id IN (SELECT id FROM ok)
             AND t.tenant = i.tenant AND t.id = i.id
         RETURNING t.id, t.version
     )
     SELECT i.id,
         EXISTS (SELECT 1 FROM rd_templates x WHERE x.tenant = i.tenant AND x.id = i.id),
         u.version,
         ARRAY(SELECT d.template_id || ':' || d.kind || ':' || d.revision || ':' || d.num
               FROM deals d WHERE d.template_id = i.id)
     FROM input i LEFT JOIN updated u ON u.id = i.id";

const SQL_DELETE: &str = "WITH deleted AS (
         DELETE FROM rd_templates WHERE tenant = $1 AND id = $2 AND version = $3
         RETURNING version
     )
     SELECT EXISTS (SELECT 1 FROM rd_templates WHERE tenant = $1 AND id = $2),
         EXISTS (SELECT 1 FROM deleted)";

const SQL_LIST: &str = "SELECT id, version, body FROM rd_templates
     WHERE tenant = $1 AND ($2::text IS NULL OR state = $2)
     ORDER BY next_run_ns, id
     OFFSET $3 LIMIT $4";

const SQL_LIST_COUNT: &str = "SELECT count(*) FROM rd_templates
     WHERE tenant = $1 AND ($2::text IS NULL OR state = $2)";

const SQL_COUNT_LIVE: &str = "SELECT count(*) FROM rd_templates
     WHERE tenant = $1 AND state IN ('active', 'paused')";

const SQL_DEALS: &str = "SELECT body FROM rd_deals WHERE tenant = $1
     ORDER BY template_id, nominal_at_ns, kind, revision, num";

const SQL_DEALS_OF: &str = "SELECT body FROM rd_deals WHERE tenant = $1 AND template_id = $2
     ORDER BY nominal_at_ns, kind, revision, num";

const SQL_DEAL: &str = "SELECT body FROM rd_deals
     WHERE tenant = $1 AND template_id = $2 AND kind = $3 AND revision = $4 AND num = $5";

const SQL_SKIPPED: &str = "SELECT body FROM rd_skipped WHERE tenant = $1
     ORDER BY kind, template_id, revision, num";

const SQL_SKIPPED_OF: &str = "SELECT body FROM rd_skipped
     WHERE tenant = $1 AND template_id = $2
     ORDER BY kind, revision, num";

const SQL_INVOICE: &str = "SELECT version, body FROM rd_invoices
     WHERE tenant = $1 AND template_id = $2 AND kind = $3 AND revision = $4 AND num = $5";

const SQL_DUE_INVOICES: &str = "SELECT version, body FROM rd_invoices
     WHERE next_reminder_ns <= $1
     ORDER BY next_reminder_ns, kind, template_id, revision, num
     LIMIT $2";

/// A conditional invoice write with its events, as one statement. Parameters: $1 tenant,
/// $2..$5 the deal key, $6 expected version, $7 next reminder, $8 body, $9..$16 the event
/// rows (as in [`SQL_COMMIT`]; their dependencies are unused).
const SQL_COMMIT_INVOICE: &str = "WITH updated AS (
         UPDATE rd_invoices
         SET version = $6 + 1, next_reminder_ns = $7, body = $8
         WHERE tenant = $1 AND template_id = $2 AND kind = $3 AND revision = $4 AND num = $5
             AND version = $6
         RETURNING version
     ), events AS (
         INSERT INTO rd_events (tenant, idempotency_key, at_ns, body)
         SELECT e.tenant, e.idem, e.at, e.body
         FROM updated, unnest($9::text[], $10::text[], $11::bigint[], $12::bigint[],
                              $13::smallint[], $14::bigint[], $15::bigint[], $16::text[])
                       WITH ORDINALITY AS e(tenant, idem, at, dt, dk, dr, dn, body, ord)
         ORDER BY e.ord
     )
     SELECT EXISTS (SELECT 1 FROM rd_invoices
             WHERE tenant = $1 AND template_id = $2 AND kind = $3 AND revision = $4
                 AND num = $5),
         (SELECT version FROM updated)";

const SQL_OUTBOX: &str = "SELECT id, tenant, idempotency_key, at_ns, body FROM rd_events
     ORDER BY id LIMIT $1";

const SQL_ACK: &str = "DELETE FROM rd_events WHERE id = ANY($1)";

impl PostgresRepository {
    /// The schema version this build creates and understands.
    pub const SCHEMA_VERSION: u32 = 1;

    /// Connects to `url` (a libpq-style string such as `host=127.0.0.1 user=postgres
    /// dbname=crm`, or a `postgresql://` URL), applies the missing migrations and returns the
    /// store, with a pool of 4 connections opened on demand.
    ///
    /// # Errors
    /// A [`RepositoryError`] when the server cannot be reached, a migration fails, or the
    /// database's schema is newer than this build ([`PostgresRepository::SCHEMA_VERSION`]).
    pub fn connect(url: &str) -> Result<PostgresRepository, RepositoryError> {
        PostgresRepository::connect_with(url, None, 4)
    }

    /// As [`PostgresRepository::connect`], with the tables in `schema` (created if missing).
    /// Tests give each case its own schema.
    ///
    /// # Errors
    /// As [`PostgresRepository::connect_with`].
    pub fn connect_with_schema(
        url: &str,
        schema: &str,
    ) -> Result<PostgresRepository, RepositoryError> {
        PostgresRepository::connect_with(url, Some(schema), 4)
    }

    /// As [`PostgresRepository::connect`], with the tables in `schema` (the connection's
    /// default when `None`) and at most `pool_size` connections (at least 1: give each worker
    /// thread sharing the store one).
    ///
    /// The schema name must be lowercase ASCII letters, digits and `_`, not starting with a
    /// digit, at most 63 characters: it is spliced into DDL, which takes no parameters.
    ///
    /// # Errors
    /// As [`PostgresRepository::connect`]; also a schema name that is not such a plain
    /// identifier.
    pub fn connect_with(
        url: &str,
        schema: Option<&str>,
        pool_size: usize,
    ) -> Result<PostgresRepository, RepositoryError> {
        if let Some(schema) = schema {
            check_identifier(schema)?;
        }
        let mut config = Config::from_str(url).map_err(|e| {
            RepositoryError::new(format!("postgres: invalid connection string: {e}"))
        })?;
        if config.get_application_name().is_none() {
            config.application_name("recurring-deals");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(std::time::Duration::from_secs(10));
        }
        let repository = PostgresRepository {
            config,
            schema: schema.map(str::to_owned),
            slots: (0..pool_size.max(1)).map(|_| Mutex::new(None)).collect(),
        };
        let connection = repository.open_connection(true)?;
        // The connection that migrated stays in the pool.
        *repository.slot(0) = Some(connection);
        Ok(repository)
    }

    /// The schema version of the database (after the migrations applied on open).
    ///
    /// # Errors
    /// A [`RepositoryError`] when the store fails.
    pub fn schema_version(&self) -> Result<u32, RepositoryError> {
        const SQL: &str = "SELECT COALESCE(max(version), 0) FROM rd_schema_version";
        let version: i32 = self
            .with_connection("schema version", |c| c.query_one(SQL, &[]))?
            .get(0);
        Ok(u32::try_from(version).unwrap_or(0))
    }

    /// Inserts many templates in one transaction (a bulk load: imports, tests, benchmarks),
    /// 2,000 rows per statement. Each template's id must be new, as with
    /// [`Repository::insert_template`]; ids may come from anywhere (e.g. an engine over an
    /// [`crate::InMemoryRepository`]), and the id sequence is moved past the largest, so
    /// [`Repository::allocate_template_id`] never returns one of them. All or nothing.
    ///
    /// # Errors
    /// A [`RepositoryError`] when an id exists already or the store fails (nothing is
    /// inserted).
    pub fn insert_templates<'a>(
        &self,
        templates: impl IntoIterator<Item = &'a Template>,
    ) -> Result<u64, RepositoryError> {
        let templates: Vec<&Template> = templates.into_iter().collect();
        if templates.is_empty() {
            return Ok(0);
        }
        self.with_connection_or("bulk insert templates", |c| {
            let insert = c.statement(SQL_INSERT_TEMPLATES)?;
            let bump = c.statement(SQL_BUMP_IDS)?;
            let mut tx = c.client.transaction()?;
            let mut max_id = 0i64;
            for chunk in templates.chunks(2_000) {
                let mut ids = Vec::with_capacity(chunk.len());
                let mut tenants = Vec::with_capacity(chunk.len());
                let mut versions = Vec::with_capacity(chunk.len());
                let mut states = Vec::with_capacity(chunk.len());
                let mut next_runs = Vec::with_capacity(chunk.len());
                let mut bodies = Vec::with_capacity(chunk.len());
                for template in chunk {
                    let id = to_i64(template.id.0, "template id")?;
                    max_id = max_id.max(id);
                    ids.push(id);
                    tenants.push(template.tenant.as_str());
                    versions.push(to_i64(template.version, "version")?);
                    states.push(StateFilter::of(&template.state).column_name());
                    next_runs.push(template.next_run.map(nanos));
                    bodies.push(to_json(template)?);
                }
                tx.execute(
                    &insert,
                    &[&ids, &tenants, &versions, &states, &next_runs, &bodies],
                )?;
            }
            tx.query_one(&bump, &[&max_id])?;
            tx.commit()?;
            Ok(templates.len() as u64)
        })
    }

    /// The stored JSON bodies of a tenant's rows (`all`: `$1` tenant) or of one of its
    /// templates (`of_template`: `$1` tenant, `$2` template), read as `T`.
    fn bodies<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        tenant: &TenantId,
        template: Option<TemplateId>,
        all: &'static str,
        of_template: &'static str,
    ) -> Result<Vec<T>, RepositoryError> {
        let context = format!("list {what}");
        let rows = match template {
            None => self.with_connection(&context, |c| c.query(all, &[&tenant.as_str()]))?,
            Some(id) => {
                let Ok(id) = i64::try_from(id.0) else {
                    return Ok(Vec::new());
                };
                self.with_connection(&context, |c| c.query(of_template, &[&tenant.as_str(), &id]))?
            }
        };
        rows.iter().map(|row| read_json(what, row.get(0))).collect()
    }

    /// Runs [`SQL_COMMIT`] for a batch; the result rows by template id.
    fn write_batch(&self, rows: &BatchRows) -> Result<HashMap<i64, BatchResult>, RepositoryError> {
        let e = &rows.events;
        let result = self.with_connection("commit", |c| {
            c.query(
                SQL_COMMIT,
                &[
                    &rows.tenant,
                    &rows.id,
                    &rows.expected,
                    &rows.state,
                    &rows.next_run,
                    &rows.body,
                    &rows.deal_keys.t,
                    &rows.deal_keys.k,
                    &rows.deal_keys.r,
                    &rows.deal_keys.n,
                    &rows.deal_tenants,
                    &rows.deal_at,
                    &rows.deal_bodies,
                    &rows.skip_keys.t,
                    &rows.skip_keys.k,
                    &rows.skip_keys.r,
                    &rows.skip_keys.n,
                    &rows.skip_tenants,
                    &rows.skip_bodies,
                    &rows.invoice_keys.t,
                    &rows.invoice_keys.k,
                    &rows.invoice_keys.r,
                    &rows.invoice_keys.n,
                    &rows.invoice_tenants,
                    &rows.invoice_versions,
                    &rows.invoice_reminders,
                    &rows.invoice_gated,
                    &rows.invoice_bodies,
                    &e.tenant,
                    &e.idem,
                    &e.at,
                    &e.dt,
                    &e.dk,
                    &e.dr,
                    &e.dn,
                    &e.body,
                    &e.owner,
                ],
            )
        })?;
        Ok(result
            .iter()
            .map(|row| {
                let outcome = BatchResult {
                    present: row.get(1),
                    version: row.get(2),
                    inserted: row.get::<_, Vec<String>>(3).into_iter().collect(),
                };
                (row.get(0), outcome)
            })
            .collect())
    }

    /// The pool slot `index`, locked.
    fn slot(&self, index: usize) -> MutexGuard<'_, Option<Connection>> {
        // A panic while a slot was held may have left its connection mid-protocol: drop it.
        self.slots[index].lock().unwrap_or_else(|poisoned| {
            let mut guard = poisoned.into_inner();
            *guard = None;
            guard
        })
    }

    /// A free slot, or the first one once it is free.
    fn free_slot(&self) -> MutexGuard<'_, Option<Connection>> {
        for slot in self.slots.iter() {
            match slot.try_lock() {
                Ok(guard) => return guard,
                Err(TryLockError::Poisoned(poisoned)) => {
                    let mut guard = poisoned.into_inner();
                    *guard = None;
                    return guard;
                }
                Err(TryLockError::WouldBlock) => {}
            }
        }
        // All busy: wait on the slot of this thread's choice, spreading the waiters.
        let index = thread_slot_hint() % self.slots.len();
        self.slot(index)
    }

    /// Runs `work` on a pooled connection (opened or reopened as needed). A connection the
    /// error closed is dropped, so the next call reconnects.
    fn with_connection<T>(
        &self,
        context: &str,
        work: impl FnOnce(&mut Connection) -> Result<T, postgres::Error>,
    ) -> Result<T, RepositoryError> {
        self.with_connection_or(context, |c| work(c).map_err(Failure::Db))
    }

    /// As [`PostgresRepository::with_connection`], for work that may also fail on its own.
    fn with_connection_or<T>(
        &self,
        context: &str,
        work: impl FnOnce(&mut Connection) -> Result<T, Failure>,
    ) -> Result<T, RepositoryError> {
        let mut slot = self.free_slot();
        if slot.as_ref().is_none_or(|c| c.client.is_closed()) {
            *slot = Some(self.open_connection(false)?);
        }
        let Some(connection) = slot.as_mut() else {
            return Err(RepositoryError::new("postgres: no connection"));
        };
        match work(connection) {
            Ok(value) => Ok(value),
            Err(Failure::Store(error)) => Err(error),
            Err(Failure::Db(error)) => {
                if connection.client.is_closed() {
                    *slot = None;
                }
                Err(db_error(context, &error))
            }
        }
    }

    /// Opens a connection: sets the schema, and with `migrate` applies the migrations.
    fn open_connection(&self, migrate: bool) -> Result<Connection, RepositoryError> {
        let mut client = self
            .config
            .connect(NoTls)
            .map_err(|e| db_error("connect", &e))?;
        if let Some(schema) = &self.schema {
            // Quoted, so the validated name is used as written.
            client
                .execute(
                    "SELECT set_config('search_path', $1, false)",
                    &[&format!("\"{schema}\"")],
                )
                .map_err(|e| db_error("set search_path", &e))?;
        }
        // The commit statement is large and its cost hardly depends on the batch's size:
        // planning it again for each execution (PostgreSQL's choice when a generic plan's
        // estimate looks worse) would cost more than running it. Every statement here is a
        // keyed look-up or a small batch, which the generic plan serves well. A server older
        // than PostgreSQL 12 lacks the setting and keeps its own choice.
        let _ = client.batch_execute("SET plan_cache_mode = force_generic_plan");
        if migrate {
            apply_migrations(&mut client, self.schema.as_deref())?;
        }
        Ok(Connection {
            client,
            statements: HashMap::new(),
        })
    }
}

/// A per-thread number spreading threads over the pool's slots when all are busy.
fn thread_slot_hint() -> usize {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    std::thread::current().id().hash(&mut hasher);
    hasher.finish() as usize
}

/// Schema names are spliced into DDL (which takes no parameters), so only plain identifiers
/// pass.
fn check_identifier(name: &str) -> Result<(), RepositoryError> {
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 63;
    if valid {
        Ok(())
    } else {
        Err(RepositoryError::new(format!(
            "postgres: schema name {name:?} must be lowercase ASCII letters, digits and _, \
             not starting with a digit, at most 63 characters"
        )))
    }
}

/// Applies the migrations the database lacks, in one transaction under an advisory lock.
fn apply_migrations(client: &mut Client, schema: Option<&str>) -> Result<(), RepositoryError> {
    let fail = |e: postgres::Error| db_error("migrate", &e);
    let mut tx = client.transaction().map_err(fail)?;
    // Serializes concurrent openers: the second waits, then finds the work done.
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2))",
        &[&MIGRATION_LOCK, &schema.unwrap_or("")],
    )
    .map_err(fail)?;
    if let Some(schema) = schema {
        tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
            .map_err(fail)?;
    }
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS rd_schema_version (
             version    INTEGER PRIMARY KEY,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )
    .map_err(fail)?;
    let current: i32 = tx
        .query_one(
            "SELECT COALESCE(max(version), 0) FROM rd_schema_version",
            &[],
        )
        .map_err(fail)?
        .get(0);
    let latest = PostgresRepository::SCHEMA_VERSION as i32;
    if current > latest {
        return Err(RepositoryError::new(format!(
            "postgres: the database schema is version {current}, newer than version {latest} \
             that this build of recurring-deals knows; upgrade recurring-deals to open it"
        )));
    }
    for &(version, sql) in MIGRATIONS {
        if version > current {
            tx.batch_execute(sql).map_err(fail)?;
            tx.execute(
                "INSERT INTO rd_schema_version (version) VALUES ($1)",
                &[&version],
            )
            .map_err(fail)?;
        }
    }
    tx.commit().map_err(fail)
}

/// Nanoseconds since the epoch; instants beyond `i64` nanoseconds (before 1677 or after
/// 2262, outside the supported years) clamp, which keeps their order.
fn nanos(at: DateTime<Utc>) -> i64 {
    at.timestamp_nanos_opt().unwrap_or(if at.timestamp() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

fn from_nanos(ns: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(ns)
}

fn to_i64(value: u64, what: &str) -> Result<i64, RepositoryError> {
    i64::try_from(value).map_err(|_| {
        RepositoryError::new(format!(
            "postgres: {what} {value} does not fit a BIGINT column"
        ))
    })
}

fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<String, RepositoryError> {
    serde_json::to_string(value)
        .map_err(|e| RepositoryError::new(format!("postgres: cannot encode JSON: {e}")))
}

/// The columns of a deal key: template, kind, revision, number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct KeyColumns {
    t: i64,
    k: i16,
    r: i64,
    n: i64,
}

impl KeyColumns {
    fn of(key: DealKey) -> Result<KeyColumns, RepositoryError> {
        Ok(match key {
            DealKey::Scheduled {
                template,
                revision,
                seq,
            } => KeyColumns {
                t: to_i64(template.0, "template id")?,
                k: 0,
                r: i64::from(revision),
                n: to_i64(seq, "occurrence seq")?,
            },
            DealKey::Manual { template, number } => KeyColumns {
                t: to_i64(template.0, "template id")?,
                k: 1,
                r: 0,
                n: to_i64(number, "manual number")?,
            },
        })
    }

    /// The text the commit statement returns for an inserted key.
    fn text(self) -> String {
        format!("{}:{}:{}:{}", self.t, self.k, self.r, self.n)
    }
}

/// The key columns of rows to insert, as parallel arrays (one statement parameter each).
#[derive(Default)]
struct KeyArrays {
    t: Vec<i64>,
    k: Vec<i16>,
    r: Vec<i64>,
    n: Vec<i64>,
}

impl KeyArrays {
    fn push(&mut self, key: KeyColumns) {
        self.t.push(key.t);
        self.k.push(key.k);
        self.r.push(key.r);
        self.n.push(key.n);
    }

    fn append(&mut self, other: KeyArrays) {
        self.t.extend(other.t);
        self.k.extend(other.k);
        self.r.extend(other.r);
        self.n.extend(other.n);
    }
}

/// Outbox events to insert, as parallel arrays. An event about a deal of the commit carries
/// the deal's key as a dependency (`dt`, `dk`, `dr`, `dn`): it is written only if the deal is.
/// `owner` is the template whose commit the event belongs to (unused by invoice commits).
#[derive(Default)]
struct EventArrays {
    tenant: Vec<String>,
    idem: Vec<String>,
    at: Vec<i64>,
    dt: Vec<Option<i64>>,
    dk: Vec<Option<i16>>,
    dr: Vec<Option<i64>>,
    dn: Vec<Option<i64>>,
    body: Vec<String>,
    owner: Vec<i64>,
}

impl EventArrays {
    /// The events of `owner`; one about a deal in `gate` depends on that deal being inserted.
    fn of<'a>(
        events: impl IntoIterator<Item = &'a NewEvent>,
        gate: &HashSet<DealKey>,
        owner: i64,
    ) -> Result<EventArrays, RepositoryError> {
        let mut arrays = EventArrays::default();
        for event in events {
            let dep = event_deal(&event.kind)
                .filter(|key| gate.contains(key))
                .map(KeyColumns::of)
                .transpose()?;
            arrays.tenant.push(event.tenant.as_str().to_owned());
            arrays.idem.push(event.idempotency_key.clone());
            arrays.at.push(nanos(event.at));
            arrays.dt.push(dep.map(|k| k.t));
            arrays.dk.push(dep.map(|k| k.k));
            arrays.dr.push(dep.map(|k| k.r));
            arrays.dn.push(dep.map(|k| k.n));
            arrays.body.push(to_json(&event.kind)?);
            arrays.owner.push(owner);
        }
        Ok(arrays)
    }

    fn append(&mut self, other: EventArrays) {
        self.tenant.extend(other.tenant);
        self.idem.extend(other.idem);
        self.at.extend(other.at);
        self.dt.extend(other.dt);
        self.dk.extend(other.dk);
        self.dr.extend(other.dr);
        self.dn.extend(other.dn);
        self.body.extend(other.body);
        self.owner.extend(other.owner);
    }
}

/// The rows of a batch of template commits, as the parallel arrays [`SQL_COMMIT`] binds.
#[derive(Default)]
struct BatchRows {
    tenant: Vec<String>,
    id: Vec<i64>,
    expected: Vec<i64>,
    state: Vec<&'static str>,
    next_run: Vec<Option<i64>>,
    body: Vec<String>,
    deal_keys: KeyArrays,
    deal_tenants: Vec<String>,
    deal_at: Vec<i64>,
    deal_bodies: Vec<String>,
    skip_keys: KeyArrays,
    skip_tenants: Vec<String>,
    skip_bodies: Vec<String>,
    invoice_keys: KeyArrays,
    invoice_tenants: Vec<String>,
    invoice_versions: Vec<i64>,
    invoice_reminders: Vec<Option<i64>>,
    invoice_gated: Vec<bool>,
    invoice_bodies: Vec<String>,
    events: EventArrays,
}

/// A template of a batch, and what its result row needs to become its outcome.
struct BatchMember {
    id: i64,
    /// Each deal of the commit in order, with its key as the statement returns it.
    deals: Vec<(DealKey, String)>,
}

/// A template's result row: whether it exists, its new version if written, the deal keys
/// inserted for it.
struct BatchResult {
    present: bool,
    version: Option<i64>,
    inserted: HashSet<String>,
}

impl BatchRows {
    /// The rows of one commit.
    fn of(commit: Commit) -> Result<(BatchRows, BatchMember), RepositoryError> {
        // Rows are matched to the claimed templates by the template in their key: a row keyed
        // to another template would follow that template's claim, not its commit's.
        commit.check_rows()?;
        let Commit {
            mut template,
            deals,
            skipped,
            invoices,
            events,
        } = commit;
        let id = to_i64(template.id.0, "template id")?;
        let expected = to_i64(template.version, "version")?;
        template.version = template.version.checked_add(1).ok_or_else(|| {
            RepositoryError::new(format!("template {} version overflows", template.id))
        })?;
        let mut rows = BatchRows {
            tenant: vec![template.tenant.as_str().to_owned()],
            id: vec![id],
            expected: vec![expected],
            state: vec![StateFilter::of(&template.state).column_name()],
            next_run: vec![template.next_run.map(nanos)],
            body: vec![to_json(&template)?],
            ..BatchRows::default()
        };

        // A key repeated within the commit is inserted once and reported as already created
        // (as the in-memory store does), and its invoice and events are not written.
        let mut sent: HashSet<DealKey> = HashSet::with_capacity(deals.len());
        let mut repeated: HashSet<DealKey> = HashSet::new();
        let mut member_deals = Vec::with_capacity(deals.len());
        for deal in &deals {
            let key = KeyColumns::of(deal.key)?;
            member_deals.push((deal.key, key.text()));
            if sent.insert(deal.key) {
                rows.deal_keys.push(key);
                rows.deal_tenants.push(deal.tenant.as_str().to_owned());
                rows.deal_at.push(nanos(deal.nominal_at));
                rows.deal_bodies.push(to_json(deal)?);
            } else {
                repeated.insert(deal.key);
            }
        }
        for skip in &skipped {
            rows.skip_keys.push(KeyColumns::of(skip.key)?);
            rows.skip_tenants.push(skip.tenant.as_str().to_owned());
            rows.skip_bodies.push(to_json(skip)?);
        }
        for invoice in invoices.iter().filter(|i| !repeated.contains(&i.deal)) {
            rows.invoice_keys.push(KeyColumns::of(invoice.deal)?);
            rows.invoice_tenants
                .push(invoice.tenant.as_str().to_owned());
            rows.invoice_versions
                .push(to_i64(invoice.version, "invoice version")?);
            rows.invoice_reminders
                .push(invoice.next_reminder().map(nanos));
            rows.invoice_gated.push(sent.contains(&invoice.deal));
            rows.invoice_bodies.push(to_json(invoice)?);
        }
        rows.events = EventArrays::of(
            events
                .iter()
                .filter(|event| event_deal(&event.kind).is_none_or(|key| !repeated.contains(&key))),
            &sent,
            id,
        )?;
        let member = BatchMember {
            id,
            deals: member_deals,
        };
        Ok((rows, member))
    }

    fn append(&mut self, other: BatchRows) {
        self.tenant.extend(other.tenant);
        self.id.extend(other.id);
        self.expected.extend(other.expected);
        self.state.extend(other.state);
        self.next_run.extend(other.next_run);
        self.body.extend(other.body);
        self.deal_keys.append(other.deal_keys);
        self.deal_tenants.extend(other.deal_tenants);
        self.deal_at.extend(other.deal_at);
        self.deal_bodies.extend(other.deal_bodies);
        self.skip_keys.append(other.skip_keys);
        self.skip_tenants.extend(other.skip_tenants);
        self.skip_bodies.extend(other.skip_bodies);
        self.invoice_keys.append(other.invoice_keys);
        self.invoice_tenants.extend(other.invoice_tenants);
        self.invoice_versions.extend(other.invoice_versions);
        self.invoice_reminders.extend(other.invoice_reminders);
        self.invoice_gated.extend(other.invoice_gated);
        self.invoice_bodies.extend(other.invoice_bodies);
        self.events.append(other.events);
    }
}

impl BatchMember {
    /// The outcome of this template's commit from its result row.
    fn outcome(self, row: Option<BatchResult>) -> Result<CommitOutcome, RepositoryError> {
        let Some(row) = row else {
            return Err(RepositoryError::new(format!(
                "postgres: the commit statement returned no row for template T{}",
                self.id
            )));
        };
        let Some(version) = row.version else {
            return Ok(if row.present {
                CommitOutcome::Conflict
            } else {
                CommitOutcome::Missing
            });
        };
        let mut created: HashSet<DealKey> = HashSet::with_capacity(self.deals.len());
        let mut already_created = Vec::new();
        for (key, text) in &self.deals {
            let fresh = row.inserted.contains(text);
            if !(fresh && created.insert(*key)) {
                already_created.push(*key);
            }
        }
        Ok(CommitOutcome::Committed {
            version: u64::try_from(version).unwrap_or_default(),
            already_created,
        })
    }
}

/// The deal an event announces (such events are not written again for a deal that exists).
fn event_deal(kind: &EventKind) -> Option<DealKey> {
    match kind {
        EventKind::DealCreated { deal, .. } => Some(*deal),
        EventKind::InvoiceIssued { invoice } => Some(invoice.deal),
        _ => None,
    }
}

/// A stored template's body, read back; `None` when it is unreadable or not the row's.
fn read_template(id: i64, version: i64, body: &str) -> Result<Template, String> {
    let mut template: Template = serde_json::from_str(body).map_err(|e| e.to_string())?;
    if i64::try_from(template.id.0).ok() != Some(id) {
        return Err(format!("its body is template {}", template.id));
    }
    template.version = u64::try_from(version).map_err(|_| format!("negative version {version}"))?;
    Ok(template)
}

fn corrupted_template(tenant: &str, id: i64, why: &str) -> RepositoryError {
    RepositoryError::new(format!(
        "postgres: template T{id} of tenant {tenant} is corrupted: its stored JSON does not \
         read as a template: {why}"
    ))
}

fn read_json<T: serde::de::DeserializeOwned>(what: &str, body: &str) -> Result<T, RepositoryError> {
    serde_json::from_str(body)
        .map_err(|e| RepositoryError::new(format!("postgres: unreadable stored {what}: {e}")))
}

fn read_invoice(version: i64, body: &str) -> Result<Invoice, RepositoryError> {
    let mut invoice: Invoice = read_json("invoice", body)?;
    invoice.version = u64::try_from(version).map_err(|_| {
        RepositoryError::new(format!("postgres: negative invoice version {version}"))
    })?;
    Ok(invoice)
}

impl Repository for PostgresRepository {
    fn allocate_template_id(&self) -> Result<TemplateId, RepositoryError> {
        let id: i64 = self
            .with_connection("allocate template id", |c| c.query_one(SQL_ALLOCATE, &[]))?
            .get(0);
        u64::try_from(id)
            .map(TemplateId)
            .map_err(|_| RepositoryError::new(format!("postgres: negative template id {id}")))
    }

    fn insert_template(&self, template: &Template) -> Result<(), RepositoryError> {
        let id = to_i64(template.id.0, "template id")?;
        let version = to_i64(template.version, "version")?;
        let body = to_json(template)?;
        let next = template.next_run.map(nanos);
        let inserted = self.with_connection("insert template", |c| {
            c.execute(
                SQL_INSERT_TEMPLATE,
                &[
                    &id,
                    &template.tenant.as_str(),
                    &version,
                    &StateFilter::of(&template.state).column_name(),
                    &next,
                    &body,
                ],
            )
        })?;
        if inserted == 0 {
            return Err(RepositoryError::new(format!(
                "template {} already exists",
                template.id
            )));
        }
        Ok(())
    }

    fn template(
        &self,
        tenant: &TenantId,
        id: TemplateId,
    ) -> Result<Option<Template>, RepositoryError> {
        let Ok(id) = i64::try_from(id.0) else {
            return Ok(None);
        };
        let rows = self.with_connection("read template", |c| {
            c.query(SQL_TEMPLATE, &[&tenant.as_str(), &id])
        })?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        read_template(id, row.get(0), row.get(1))
            .map(Some)
            .map_err(|why| corrupted_template(tenant.as_str(), id, &why))
    }

    fn due_templates(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Template>, RepositoryError> {
        let now = nanos(now);
        let mut due = Vec::new();
        let mut after = (i64::MIN, i64::MIN);
        while due.len() < limit {
            let page = i64::try_from(limit - due.len()).unwrap_or(i64::MAX);
            let rows = self.with_connection("due templates", |c| {
                c.query(SQL_DUE, &[&now, &after.0, &after.1, &page])
            })?;
            let last = rows.len() < usize::try_from(page).unwrap_or(usize::MAX);
            for row in &rows {
                let id: i64 = row.get(0);
                after = (row.get(3), id);
                // A corrupted row is left out, so it cannot stop the others; reading it
                // directly reports it.
                if let Ok(template) = read_template(id, row.get(2), row.get(4)) {
                    due.push(template);
                }
            }
            if last {
                break;
            }
        }
        Ok(due)
    }

    fn next_wake(&self) -> Result<Option<DateTime<Utc>>, RepositoryError> {
        let row = self.with_connection("next wake", |c| c.query_one(SQL_NEXT_WAKE, &[]))?;
        Ok(row.get::<_, Option<i64>>(0).map(from_nanos))
    }

    fn commit(&self, commit: Commit) -> Result<CommitOutcome, RepositoryError> {
        self.commit_batch(vec![commit])
            .pop()
            .unwrap_or_else(|| Err(RepositoryError::new("postgres: commit produced no outcome")))
    }

    fn commit_batch(&self, commits: Vec<Commit>) -> Vec<Result<CommitOutcome, RepositoryError>> {
        // The statement claims each template once: a template twice in one batch (which the
        // engine never sends) is committed one at a time instead.
        let mut ids = HashSet::with_capacity(commits.len());
        if !commits.iter().all(|c| ids.insert(c.template.id)) {
            return commits.into_iter().map(|c| self.commit(c)).collect();
        }
        let mut outcomes: Vec<Option<Result<CommitOutcome, RepositoryError>>> =
            Vec::with_capacity(commits.len());
        let mut rows = BatchRows::default();
        let mut members = Vec::with_capacity(commits.len());
        for commit in commits {
            // A commit that cannot be encoded fails alone; the others go ahead.
            match BatchRows::of(commit) {
                Ok((encoded, member)) => {
                    rows.append(encoded);
                    members.push((outcomes.len(), member));
                    outcomes.push(None);
                }
                Err(error) => outcomes.push(Some(Err(error))),
            }
        }
        if !members.is_empty() {
            match self.write_batch(&rows) {
                Ok(mut results) => {
                    for (index, member) in members {
                        let result = results.remove(&member.id);
                        let outcome = member.outcome(result);
                        outcomes[index] = Some(outcome);
                    }
                }
                Err(error) => {
                    // The transaction rolled back: nothing of the batch was written.
                    for (index, _) in members {
                        outcomes[index] = Some(Err(error.clone()));
                    }
                }
            }
        }
        outcomes
            .into_iter()
            .map(|o| o.unwrap_or_else(|| Err(RepositoryError::new("postgres: commit not run"))))
            .collect()
    }

    fn delete_template(
        &self,
        tenant: &TenantId,
        id: TemplateId,
        version: u64,
    ) -> Result<CommitOutcome, RepositoryError> {
        let (Ok(id), Ok(expected)) = (i64::try_from(id.0), i64::try_from(version)) else {
            return Ok(CommitOutcome::Missing);
        };
        let row = self.with_connection("delete template", |c| {
            c.query_one(SQL_DELETE, &[&tenant.as_str(), &id, &expected])
        })?;
        let (present, deleted): (bool, bool) = (row.get(0), row.get(1));
        Ok(match (present, deleted) {
            (_, true) => CommitOutcome::Committed {
                version: version + 1,
                already_created: Vec::new(),
            },
            (true, false) => CommitOutcome::Conflict,
            (false, false) => CommitOutcome::Missing,
        })
    }

    fn list_templates(
        &self,
        tenant: &TenantId,
        query: &TemplateQuery,
    ) -> Result<Page<Template>, RepositoryError> {
        let state = query.state.map(StateFilter::column_name);
        let limit = if query.limit == 0 { 50 } else { query.limit };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let offset = i64::try_from(query.offset).unwrap_or(i64::MAX);
        let (total, rows) = self.with_connection("list templates", |c| {
            let total: i64 = c
                .query_one(SQL_LIST_COUNT, &[&tenant.as_str(), &state])?
                .get(0);
            let rows = c.query(SQL_LIST, &[&tenant.as_str(), &state, &offset, &limit])?;
            Ok((total, rows))
        })?;
        let items = rows
            .iter()
            .map(|row| {
                let id: i64 = row.get(0);
                read_template(id, row.get(1), row.get(2))
                    .map_err(|why| corrupted_template(tenant.as_str(), id, &why))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page {
            items,
            total: usize::try_from(total).unwrap_or(0),
        })
    }

    fn count_live(&self, tenant: &TenantId) -> Result<u64, RepositoryError> {
        let count: i64 = self
            .with_connection("count live templates", |c| {
                c.query_one(SQL_COUNT_LIVE, &[&tenant.as_str()])
            })?
            .get(0);
        Ok(u64::try_from(count).unwrap_or(0))
    }

    fn deals(
        &self,
        tenant: &TenantId,
        template: Option<TemplateId>,
    ) -> Result<Vec<CreatedDeal>, RepositoryError> {
        self.bodies("deal", tenant, template, SQL_DEALS, SQL_DEALS_OF)
    }

    fn deal(
        &self,
        tenant: &TenantId,
        key: DealKey,
    ) -> Result<Option<CreatedDeal>, RepositoryError> {
        let Ok(k) = KeyColumns::of(key) else {
            return Ok(None);
        };
        let rows = self.with_connection("read deal", |c| {
            c.query(SQL_DEAL, &[&tenant.as_str(), &k.t, &k.k, &k.r, &k.n])
        })?;
        rows.first()
            .map(|row| read_json("deal", row.get(0)))
            .transpose()
    }

    fn skipped(
        &self,
        tenant: &TenantId,
        template: Option<TemplateId>,
    ) -> Result<Vec<SkippedOccurrence>, RepositoryError> {
        self.bodies(
            "skipped occurrence",
            tenant,
            template,
            SQL_SKIPPED,
            SQL_SKIPPED_OF,
        )
    }

    fn invoice(
        &self,
        tenant: &TenantId,
        deal: DealKey,
    ) -> Result<Option<Invoice>, RepositoryError> {
        let Ok(k) = KeyColumns::of(deal) else {
            return Ok(None);
        };
        let rows = self.with_connection("read invoice", |c| {
            c.query(SQL_INVOICE, &[&tenant.as_str(), &k.t, &k.k, &k.r, &k.n])
        })?;
        rows.first()
            .map(|row| read_invoice(row.get(0), row.get(1)))
            .transpose()
    }

    fn due_invoices(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Invoice>, RepositoryError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self.with_connection("due invoices", |c| {
            c.query(SQL_DUE_INVOICES, &[&nanos(now), &limit])
        })?;
        rows.iter()
            .map(|row| read_invoice(row.get(0), row.get(1)))
            .collect()
    }

    fn commit_invoice(
        &self,
        mut invoice: Invoice,
        events: Vec<NewEvent>,
    ) -> Result<CommitOutcome, RepositoryError> {
        let Ok(k) = KeyColumns::of(invoice.deal) else {
            return Ok(CommitOutcome::Missing);
        };
        let expected = to_i64(invoice.version, "invoice version")?;
        invoice.version = invoice
            .version
            .checked_add(1)
            .ok_or_else(|| RepositoryError::new("postgres: invoice version overflows"))?;
        let remind = invoice.next_reminder().map(nanos);
        let body = to_json(&invoice)?;
        let e = EventArrays::of(&events, &HashSet::new(), 0)?;
        let row = self.with_connection("commit invoice", |c| {
            c.query_one(
                SQL_COMMIT_INVOICE,
                &[
                    &invoice.tenant.as_str(),
                    &k.t,
                    &k.k,
                    &k.r,
                    &k.n,
                    &expected,
                    &remind,
                    &body,
                    &e.tenant,
                    &e.idem,
                    &e.at,
                    &e.dt,
                    &e.dk,
                    &e.dr,
                    &e.dn,
                    &e.body,
                ],
            )
        })?;
        let present: bool = row.get(0);
        let version: Option<i64> = row.get(1);
        Ok(match version {
            Some(version) => CommitOutcome::Committed {
                version: u64::try_from(version).unwrap_or_default(),
                already_created: Vec::new(),
            },
            None if present => CommitOutcome::Conflict,
            None => CommitOutcome::Missing,
        })
    }

    fn outbox(&self, limit: usize) -> Result<Vec<OutboxEvent>, RepositoryError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self.with_connection("read outbox", |c| c.query(SQL_OUTBOX, &[&limit]))?;
        rows.iter()
            .map(|row| {
                let id: i64 = row.get(0);
                let tenant = TenantId::new(row.get::<_, String>(1)).map_err(|e| {
                    RepositoryError::new(format!("postgres: outbox event {id}: {e}"))
                })?;
                Ok(OutboxEvent {
                    id: u64::try_from(id).unwrap_or_default(),
                    tenant,
                    idempotency_key: row.get(2),
                    at: from_nanos(row.get(3)),
                    kind: read_json("outbox event", row.get(4))?,
                })
            })
            .collect()
    }

    fn ack(&self, ids: &[u64]) -> Result<(), RepositoryError> {
        // Ids beyond BIGINT cannot exist, so they are ignored like other unknown ids.
        let ids: Vec<i64> = ids
            .iter()
            .filter_map(|&id| i64::try_from(id).ok())
            .collect();
        if ids.is_empty() {
            return Ok(());
        }
        self.with_connection("ack outbox events", |c| c.execute(SQL_ACK, &[&ids]))?;
        Ok(())
    }
}
