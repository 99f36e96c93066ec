//! The PostgreSQL store (feature `postgres`), on sqlx; see [`PostgresStore`].

mod schema;
mod sql;
mod write;

use schema::*;
use sql::*;
use write::*;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::Postgres;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};

use super::codec::{self, EncodedCommit, EncodedInvoice, EventRow, Key, no_outcome, table};
use super::dialect::{Reads, Stmt, finish, stmt};
use super::migrations::{self, LEGACY_VERSION, Migrate, Names};
use super::read;
use super::read::{
    INVOICE_COLUMNS, KEYED_COLUMNS, Reader, TEMPLATE_COLUMNS, col, deal_of, event_of, head_of,
    invoice_of, skipped_of, template_of,
};
use super::sqlx_error::{Backend, repository_error};
use super::{
    Commit, CommitOutcome, DeadLetter, DeliveryFailure, OutboxHead, Page, PlannedZone,
    RecordedRules, Repository, RepositoryError, Scan, Share, TemplateQuery,
};
use crate::event::{NewEvent, OutboxEvent};
use crate::ids::{DealKey, TemplateId, TenantId};
use crate::invoice::{Invoice, OverduePosition};
use crate::planner::{CreatedDeal, SkippedOccurrence};
use crate::template::Template;

/// How [`PostgresStore::open`] treats the host's database.
///
/// ```
/// use recurring_deals::PostgresOptions;
///
/// let options = PostgresOptions::new().schema("crm_recurring")?;
/// assert_eq!(options.schema_name(), "crm_recurring");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresOptions {
    schema: String,
    migrate: Migrate,
    legacy_schema: Option<String>,
}

impl Default for PostgresOptions {
    fn default() -> PostgresOptions {
        PostgresOptions {
            schema: "recurring_deals".to_owned(),
            migrate: Migrate::OnOpen,
            legacy_schema: Some("public".to_owned()),
        }
    }
}

impl PostgresOptions {
    /// The defaults: schema `recurring_deals`, migrations applied on open, the earlier
    /// store's tables looked for in `public`.
    pub fn new() -> PostgresOptions {
        PostgresOptions::default()
    }

    /// Puts the tables in `schema` (created by the first migration; default
    /// `recurring_deals`).
    ///
    /// # Errors
    /// [`RepositoryError::Refused`] unless `schema` is 1 to 48 lowercase ASCII letters,
    /// digits and `_`, not starting with a digit.
    pub fn schema(mut self, schema: &str) -> Result<PostgresOptions, RepositoryError> {
        migrations::check_name(schema, 48, "schema name")?;
        schema.clone_into(&mut self.schema);
        Ok(self)
    }

    /// Whether opening applies missing migrations (the default) or only checks the version.
    pub fn migrate(mut self, migrate: Migrate) -> PostgresOptions {
        self.migrate = migrate;
        self
    }

    /// Where the crate's earlier store kept its `rd_*` tables (default `public`, its default
    /// too); `None` to never import. Their rows are copied into the new schema when it is
    /// created.
    ///
    /// # Errors
    /// [`RepositoryError::Refused`] for a name that is not a plain identifier.
    pub fn legacy_schema(
        mut self,
        schema: Option<&str>,
    ) -> Result<PostgresOptions, RepositoryError> {
        if let Some(schema) = schema {
            migrations::check_name(schema, 63, "legacy schema name")?;
        }
        self.legacy_schema = schema.map(str::to_owned);
        Ok(self)
    }

    /// The schema's name.
    pub fn schema_name(&self) -> &str {
        &self.schema
    }
}

/// A [`Repository`] in a PostgreSQL database (feature `postgres`), for several workers
/// (tasks, threads or processes) ticking one database at once, on an sqlx pool: the host's
/// own, or one [`PostgresStore::connect`] builds.
///
/// ```no_run
/// use recurring_deals::{Engine, PostgresStore, SystemClock};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// let store = PostgresStore::connect("postgres://postgres@127.0.0.1/crm").await?;
/// let engine = Engine::new(store, SystemClock);
/// engine.tick().await?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Claiming templates across workers
///
/// [`Repository::commit_batch`] writes a batch of templates in one statement, which is its
/// own transaction (one round trip, one WAL flush): it claims the batch's template rows
/// (`FOR UPDATE SKIP LOCKED`, matching tenant and expected version) and writes the claimed
/// templates' deals, skipped occurrences, invoices, outbox events and new state. Every row
/// travels in array parameters (`unnest`), so the statement is the same whatever the batch's
/// size. The deals go in without `ON CONFLICT`: when one is stored already (a retried commit
/// that had landed), the statement fails and writes nothing, and the batch is written again
/// in a transaction of four round trips: `BEGIN`; the claim with the deals
/// (`ON CONFLICT DO NOTHING RETURNING` their keys); the rest of the claimed templates' rows,
/// after [`Commit::drop_already_created`] for the keys that were already there; `COMMIT`.
/// In the one-statement batch, a template row another worker holds, or of another version,
/// is not claimed: its outcome is [`CommitOutcome::Conflict`] at once, without waiting and
/// without writing anything for it. The second attempt's claim waits for a held row instead
/// (the failed statement's own locks may outlive its error report by a moment) and then
/// claims it only at the expected version. A worker that dies mid-tick leaves nothing behind:
/// its transaction rolls back and the row locks go with it. Give each engine
/// its share of the due list with `EngineConfig::builder().worker(index, count)`.
///
/// A commit is durable when it returns (the server's `synchronous_commit`); a batch shares
/// one WAL flush.
///
/// # Wake-ups
///
/// A transaction that changes a template's next run (a commit, a new template) sends
/// `NOTIFY` on [`PostgresStore::listen_channel`] (`{schema}_changed`, empty payload), once
/// per transaction, delivered when it commits: a run loop `LISTEN`s and re-reads
/// [`Repository::next_wake`] instead of polling.
///
/// # Schema and migrations
///
/// Tables live in their own schema (default `recurring_deals`), as described in
/// [`migrations`](super::migrations); nothing else of the host's database or connections is
/// touched (every statement names the schema; the `search_path` is left alone). Opening the
/// store applies the migrations it lacks in one transaction under
/// `pg_advisory_xact_lock`, so workers opening a fresh database at once apply each exactly
/// once; a newer version is refused with [`RepositoryError::SchemaVersion`]. A database of
/// the crate's earlier store (`rd_templates`, ... and `rd_schema_version` version 1, in
/// [`PostgresOptions::legacy_schema`]) is copied into the new schema when it is created; the
/// old tables are left as they were.
///
/// [`PostgresStore::connect`] sets `plan_cache_mode = force_generic_plan` on its
/// connections (the batch statements' plans hardly depend on their arrays, and re-planning
/// them costs more than running them); a host's pool may do the same.
///
/// # Corrupt rows
///
/// A row that does not decode (or whose body names another key or tenant than its columns)
/// is a [`RepositoryError::CorruptRow`] from single-row reads and is skipped (and reported)
/// by listings, due loading and the outbox.
///
/// # The host's transaction
///
/// [`PostgresStore::insert_template_in`] and [`PostgresStore::commit_in`] write through the
/// host's connection, typically inside its transaction (`&mut *tx`), so "make this deal
/// recurring" commits or rolls back with the host's rows.
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    schema: String,
    channel: String,
    sql: Sql,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("schema", &self.inner.schema)
            .finish_non_exhaustive()
    }
}

/// First key of the advisory lock that serializes migrations (ASCII "RDmg"); the second is
/// the schema name's hash.
const MIGRATION_LOCK: i32 = 0x5244_6d67;

/// How long a connection given back to the pool may take to answer its test ping
/// ([`PostgresStore::pool_options`]).
const RELEASE_PING: Duration = Duration::from_secs(5);

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host/db`) with a pool of 8 connections (opened on
    /// demand, `application_name` `recurring-deals`, generic plans) and opens the store with
    /// the default [`PostgresOptions`].
    ///
    /// # Errors
    /// [`RepositoryError::Connection`] when the server cannot be reached; the errors of
    /// [`PostgresStore::open`].
    pub async fn connect(url: &str) -> Result<PostgresStore, RepositoryError> {
        PostgresStore::connect_with(url, PostgresOptions::new(), 8).await
    }

    /// As [`PostgresStore::connect`], with `options` and at most `pool_size` connections.
    ///
    /// # Errors
    /// As [`PostgresStore::connect`]; [`RepositoryError::Refused`] for a malformed URL.
    pub async fn connect_with(
        url: &str,
        options: PostgresOptions,
        pool_size: u32,
    ) -> Result<PostgresStore, RepositoryError> {
        let pool = PostgresStore::pool_options(pool_size)
            .connect_with(PostgresStore::connect_options(url)?)
            .await
            .map_err(error)?;
        PostgresStore::open(pool, options).await
    }

    /// The pool settings [`PostgresStore::connect_with`] uses, for a host's own pool: at most
    /// `pool_size` connections (at least 1), 30 s to acquire one, and a bounded test of a
    /// connection given back to the pool.
    ///
    /// sqlx tests a connection given back with a ping that has no time limit. A call the
    /// engine drops for taking too long ([`crate::EngineConfigBuilder::store_timeout`]) gives
    /// its connection back mid-statement; if the server or the network stopped answering,
    /// that ping would wait forever and the connection would hold its pool slot for good, so
    /// a few such calls would leave the worker a pool with no connection to hand out. Here the
    /// connection is pinged within 5 s first and closed without further I/O when it does not
    /// answer. The cost is a second ping when a connection goes back to the pool.
    ///
    /// One window is left, in sqlx 0.9.1 itself (its issue #4349): after this test passes,
    /// sqlx pings the connection once more without a bound, so a connection that stops
    /// answering in the round trip between the two pings still holds its slot for good.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use recurring_deals::{PostgresOptions, PostgresStore};
    ///
    /// let url = "postgres://postgres@127.0.0.1:5432/test";
    /// let pool = PostgresStore::pool_options(16)
    ///     .connect_with(PostgresStore::connect_options(url)?)
    ///     .await?;
    /// let store = PostgresStore::open(pool, PostgresOptions::new()).await?;
    /// # Ok(()) }
    /// ```
    pub fn pool_options(pool_size: u32) -> PgPoolOptions {
        PgPoolOptions::new()
            .max_connections(pool_size.max(1))
            .acquire_timeout(Duration::from_secs(30))
            .after_release(|conn, _| {
                Box::pin(async move {
                    match tokio::time::timeout(RELEASE_PING, sqlx::Connection::ping(conn)).await {
                        Ok(Ok(())) => Ok(true),
                        Ok(Err(error)) => Err(error),
                        // An error (not `false`) makes sqlx drop the socket without a goodbye
                        // message that could wait as long.
                        Err(_) => Err(sqlx::Error::PoolTimedOut),
                    }
                })
            })
    }

    /// The connection settings [`PostgresStore::connect`] uses, for a host's own pool.
    ///
    /// Besides `application_name` and generic plans, each session gets time limits so that a
    /// connection that stops answering cannot hold a worker or its locks for long:
    ///
    /// * `statement_timeout` 30 s: the server cancels a statement running longer (the
    ///   engine's own bound, [`crate::EngineConfigBuilder::store_timeout`], drops the
    ///   connection on the client side after the same 30 s by default);
    /// * `idle_in_transaction_session_timeout` 60 s: a session whose client went away inside a
    ///   transaction is ended and its row locks released;
    /// * `tcp_keepalives_idle` 30 s, `tcp_keepalives_interval` 10 s, `tcp_keepalives_count` 3:
    ///   the server notices a vanished client in about a minute.
    ///
    /// A host overrides any of them by appending its own value (the last one given wins):
    /// `PostgresStore::connect_options(url)?.options([("statement_timeout", "5min")])`; `0`
    /// turns a limit off.
    ///
    /// # Errors
    /// [`RepositoryError::Refused`] for a malformed URL.
    pub fn connect_options(url: &str) -> Result<PgConnectOptions, RepositoryError> {
        let options: PgConnectOptions = url.parse().map_err(|e| RepositoryError::Refused {
            reason: format!("invalid PostgreSQL URL: {e}"),
        })?;
        // A name the URL gives (`?application_name=...`) is kept.
        let options = match options.get_application_name() {
            Some(_) => options,
            None => options.application_name("recurring-deals"),
        };
        Ok(options.options([
            ("plan_cache_mode", "force_generic_plan"),
            ("statement_timeout", "30s"),
            ("idle_in_transaction_session_timeout", "60s"),
            ("tcp_keepalives_idle", "30"),
            ("tcp_keepalives_interval", "10"),
            ("tcp_keepalives_count", "3"),
        ]))
    }

    /// Opens the store on the host's `pool`: applies (or checks) the migrations.
    ///
    /// # Errors
    /// [`RepositoryError::SchemaVersion`] for a database of a newer version, an earlier
    /// store's tables this version cannot import, or (with [`Migrate::Check`]) a schema not
    /// at [`LATEST`](migrations::LATEST); any other kind when the database fails.
    pub async fn open(
        pool: PgPool,
        options: PostgresOptions,
    ) -> Result<PostgresStore, RepositoryError> {
        let names = Names::postgres(&options.schema);
        let mut conn = pool.acquire().await.map_err(error)?;
        match options.migrate {
            Migrate::OnOpen => migrate(&mut conn, &options, &names).await?,
            Migrate::Check => migrations::latest(schema_version(&mut conn, &names).await?)?,
        }
        drop(conn);
        let channel = format!("{}_changed", options.schema);
        Ok(PostgresStore {
            inner: Arc::new(Inner {
                pool,
                sql: Sql::new(&names),
                schema: options.schema,
                channel,
            }),
        })
    }

    /// The pool the store runs on.
    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    /// The channel every transaction that changes a template's next run notifies:
    /// `{schema}_changed` (`recurring_deals_changed` by default), with an empty payload.
    /// `LISTEN` on it (sqlx's `PgListener::listen`) to wake a run loop.
    pub fn listen_channel(&self) -> &str {
        &self.inner.channel
    }

    /// The schema version of the database.
    ///
    /// # Errors
    /// A [`RepositoryError`] when the database fails.
    pub async fn schema_version(&self) -> Result<i64, RepositoryError> {
        let mut conn = self.inner.pool.acquire().await.map_err(error)?;
        schema_version(&mut conn, &Names::postgres(&self.inner.schema)).await
    }

    /// Inserts a new template through the host's connection (inside the host's transaction,
    /// if it began one): as [`Repository::insert_template`], committed or rolled back with
    /// the host's own writes. Build the template with
    /// [`Engine::new_template`](crate::Engine::new_template).
    ///
    /// ```no_run
    /// # use recurring_deals::*;
    /// # async fn f(store: PostgresStore, engine: Engine<PostgresStore, SystemClock>, draft: TemplateDraft)
    /// # -> Result<(), Box<dyn std::error::Error>> {
    /// let tenant = TenantId::new("acme")?;
    /// let template = engine.new_template(&tenant, draft).await?;
    /// let mut tx = store.pool().begin().await?;
    /// // ... the host's own writes in `tx` ...
    /// store.insert_template_in(&mut tx, &template).await?;
    /// tx.commit().await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`RepositoryError::Refused`] when the id is taken; any other kind when the database
    /// fails (the host should then roll back).
    pub async fn insert_template_in(
        &self,
        conn: &mut PgConnection,
        template: &Template,
    ) -> Result<(), RepositoryError> {
        insert_template(&self.inner.sql, &self.inner.channel, conn, template).await
    }

    /// Commits through the host's connection (inside its transaction, if it began one): as
    /// [`Repository::commit`], committed or rolled back with the host's writes.
    ///
    /// # Errors
    /// As [`Repository::commit`].
    pub async fn commit_in(
        &self,
        conn: &mut PgConnection,
        commit: Commit,
    ) -> Result<CommitOutcome, RepositoryError> {
        let mut encoded = [EncodedCommit::new(commit)?];
        let mut outcomes =
            write_commits(&self.inner.sql, &self.inner.channel, conn, &mut encoded).await?;
        outcomes.pop().ok_or_else(no_outcome)
    }

    /// Acknowledges outbox events of any tenant through the host's connection (inside its
    /// transaction, if it began one): as [`Repository::ack`], committed or rolled back with
    /// the host's writes. A host that copies created deals into its own tables in the same
    /// database does it in the transaction that acknowledges them, so each is copied exactly
    /// once: a crash before the commit leaves both undone, the events still in the outbox.
    /// Returns how many of `ids` were still in the outbox (dead letters included): fewer
    /// than the host named means another worker acknowledged some first, and the host rolls
    /// back.
    /// With several workers, each reads its own tenants' events
    /// ([`crate::Engine::worker_outbox`]); a taken-over tenant's events may be read by two
    /// workers at once. The second one's acknowledgement waits for the first's commit and
    /// then finds fewer events than it names: it rolls back, and the copies are made once.
    ///
    /// ```no_run
    /// # use recurring_deals::*;
    /// # async fn f(store: PostgresStore, engine: Engine<PostgresStore, SystemClock>)
    /// # -> Result<(), Box<dyn std::error::Error>> {
    /// let events = engine.worker_outbox(256).await?;
    /// let mut tx = store.pool().begin().await?;
    /// for event in &events {
    ///     if let EventKind::DealCreated { deal, .. } = &event.kind {
    ///         sqlx::query("INSERT INTO host_deals (key) VALUES ($1)")
    ///             .bind(deal.to_string())
    ///             .execute(&mut *tx)
    ///             .await?;
    ///     }
    /// }
    /// let ids: Vec<u64> = events.iter().map(|event| event.id).collect();
    /// if store.ack_in(&mut tx, &ids).await? == ids.len() as u64 {
    ///     tx.commit().await?; // the copies and the acknowledgement, or neither
    /// } // else another worker copied them first: dropping `tx` rolls back
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// A [`RepositoryError`] when the database fails (the host should then roll back).
    pub async fn ack_in(
        &self,
        conn: &mut PgConnection,
        ids: &[u64],
    ) -> Result<u64, RepositoryError> {
        // Ids beyond BIGINT were never handed out: unknown, ignored.
        let ids: Vec<i64> = ids
            .iter()
            .filter_map(|&id| i64::try_from(id).ok())
            .collect();
        if ids.is_empty() {
            return Ok(0);
        }
        let done = sqlx::query(&self.inner.sql.ack)
            .bind(ids)
            .bind(None::<&str>)
            .execute(&mut *conn)
            .await
            .map_err(error)?;
        Ok(done.rows_affected())
    }

    /// Inserts many templates in one transaction, 2,000 rows per statement (imports, tests,
    /// benchmarks). Each id must be new; the id sequence moves past the largest.
    ///
    /// Records no zone rules: the first tick of the next engine checks the zones of the
    /// inserted templates ([`crate::Engine::replan_zones`]), one read of them.
    ///
    /// # Errors
    /// A [`RepositoryError`] when an id is taken or the database fails (nothing is
    /// inserted).
    pub async fn insert_templates<'a>(
        &self,
        templates: impl IntoIterator<Item = &'a Template>,
    ) -> Result<u64, RepositoryError> {
        let rows = templates
            .into_iter()
            .map(codec::TemplateRow::encode)
            .collect::<Result<Vec<_>, _>>()?;
        let mut tx = self.inner.pool.begin().await.map_err(error)?;
        let result = async {
            for chunk in rows.chunks(2_000) {
                sqlx::query(&self.inner.sql.insert_templates)
                    .bind(chunk.iter().map(|r| r.id).collect::<Vec<_>>())
                    .bind(chunk.iter().map(|r| r.tenant.as_str()).collect::<Vec<_>>())
                    .bind(chunk.iter().map(|r| r.version).collect::<Vec<_>>())
                    .bind(chunk.iter().map(|r| r.state).collect::<Vec<_>>())
                    .bind(chunk.iter().map(|r| r.next_run_ns).collect::<Vec<_>>())
                    .bind(chunk.iter().map(|r| r.body.as_str()).collect::<Vec<_>>())
                    .bind(chunk.iter().map(|r| r.zone).collect::<Vec<_>>())
                    .execute(&mut *tx)
                    .await
                    .map_err(error)?;
            }
            if let Some(max) = rows.iter().map(|r| r.id).max() {
                sqlx::query(&self.inner.sql.bump_ids)
                    .bind(max)
                    .execute(&mut *tx)
                    .await
                    .map_err(error)?;
            }
            sqlx::query("SELECT pg_notify($1, '')")
                .bind(&self.inner.channel)
                .execute(&mut *tx)
                .await
                .map_err(error)?;
            Ok(rows.len() as u64)
        }
        .await;
        finish(tx, result).await
    }

    /// Writes commits of distinct templates in one transaction.
    async fn write_batch(
        &self,
        commits: Vec<Commit>,
    ) -> Vec<Result<CommitOutcome, RepositoryError>> {
        let mut batch = codec::Batch::encode(commits);
        if batch.ready.is_empty() {
            return batch.outcomes(Ok(Vec::new()));
        }
        let ready = &mut batch.ready;
        let written = async {
            let sql = &self.inner.sql;
            let channel = &self.inner.channel;
            match write_expected(sql, channel, &self.inner.pool, ready).await {
                Expected::Written(outcomes) => return Ok(outcomes),
                Expected::DealStored => {}
                Expected::Failed(e) => return Err(e),
            }
            // A deal of the batch is stored already: again, reading back what was written.
            let mut tx = self.inner.pool.begin().await.map_err(error)?;
            let result = write_commits(sql, channel, &mut tx, ready).await;
            finish(tx, result).await
        }
        .await;
        batch.outcomes(written)
    }

    async fn delete_events(
        &self,
        tenant: Option<&TenantId>,
        ids: &[u64],
    ) -> Result<(), RepositoryError> {
        // Ids beyond BIGINT were never handed out: unknown, ignored.
        let ids: Vec<i64> = ids
            .iter()
            .filter_map(|&id| i64::try_from(id).ok())
            .collect();
        if ids.is_empty() {
            return Ok(());
        }
        sqlx::query(&self.inner.sql.ack)
            .bind(ids)
            .bind(tenant.map(TenantId::as_str))
            .execute(&self.inner.pool)
            .await
            .map_err(error)?;
        Ok(())
    }
}

impl PostgresStore {
    /// The store's pool, read through the codec.
    fn read(&self) -> Reader<'_, Postgres> {
        Reader::new(&self.inner.pool)
    }
}

fn error(e: sqlx::Error) -> RepositoryError {
    repository_error(e, Backend::Postgres)
}

impl Repository for PostgresStore {
    async fn allocate_template_id(&self) -> Result<TemplateId, RepositoryError> {
        let id: i64 = sqlx::query_scalar(&self.inner.sql.allocate)
            .fetch_one(&self.inner.pool)
            .await
            .map_err(error)?;
        u64::try_from(id)
            .map(TemplateId)
            .map_err(|_| RepositoryError::CorruptRow {
                table: "template_ids",
                key: "nextval".into(),
                reason: format!("negative id {id}"),
            })
    }

    async fn insert_template(&self, template: &Template) -> Result<(), RepositoryError> {
        let mut conn = self.inner.pool.acquire().await.map_err(error)?;
        insert_template(&self.inner.sql, &self.inner.channel, &mut conn, template).await
    }

    async fn template(
        &self,
        tenant: &TenantId,
        id: TemplateId,
    ) -> Result<Option<Template>, RepositoryError> {
        let Ok(id) = i64::try_from(id.0) else {
            return Ok(None);
        };
        let query = sqlx::query(&self.inner.sql.reads.template)
            .bind(id)
            .bind(tenant.as_str());
        self.read().one(query, template_of).await
    }

    async fn due_share(
        &self,
        now: DateTime<Utc>,
        share: Share,
        limit: usize,
    ) -> Result<Vec<Template>, RepositoryError> {
        let now = codec::instant(now)?;
        let sql = &self.inner.sql.due;
        self.read()
            .due_templates(limit, |after, want| {
                sqlx::query(sql)
                    .bind(now)
                    .bind(after.0)
                    .bind(after.1)
                    .bind(want)
                    .bind(i64::from(share.count()))
                    .bind(i64::from(share.index()))
            })
            .await
    }

    async fn next_wake_share(
        &self,
        share: Share,
    ) -> Result<Option<DateTime<Utc>>, RepositoryError> {
        let next: Option<i64> = sqlx::query_scalar(&self.inner.sql.next_wake)
            .bind(i64::from(share.count()))
            .bind(i64::from(share.index()))
            .fetch_one(&self.inner.pool)
            .await
            .map_err(error)?;
        Ok(next.map(codec::instant_from))
    }

    async fn commit(&self, commit: Commit) -> Result<CommitOutcome, RepositoryError> {
        self.write_batch(vec![commit])
            .await
            .pop()
            .unwrap_or_else(|| Err(no_outcome()))
    }

    async fn commit_batch(
        &self,
        commits: Vec<Commit>,
    ) -> Vec<Result<CommitOutcome, RepositoryError>> {
        let mut ids = HashSet::with_capacity(commits.len());
        if commits.iter().all(|c| ids.insert(c.template.id)) {
            return self.write_batch(commits).await;
        }
        // The statements claim each template once: repeated templates go one by one.
        let mut outcomes = Vec::with_capacity(commits.len());
        for commit in commits {
            outcomes.extend(self.write_batch(vec![commit]).await);
        }
        outcomes
    }

    async fn delete_template(
        &self,
        tenant: &TenantId,
        id: TemplateId,
        version: u64,
    ) -> Result<CommitOutcome, RepositoryError> {
        let (Ok(id), Ok(expected)) = (i64::try_from(id.0), i64::try_from(version)) else {
            return Ok(CommitOutcome::Missing);
        };
        let (present, deleted): (bool, bool) = sqlx::query_as(&self.inner.sql.delete)
            .bind(tenant.as_str())
            .bind(id)
            .bind(expected)
            .fetch_one(&self.inner.pool)
            .await
            .map_err(error)?;
        Ok(match (present, deleted) {
            (_, true) => CommitOutcome::Committed {
                version: version + 1,
                already_created: Vec::new(),
            },
            (true, false) => CommitOutcome::Conflict,
            (false, false) => CommitOutcome::Missing,
        })
    }

    async fn list_templates(
        &self,
        tenant: &TenantId,
        query: &TemplateQuery,
    ) -> Result<Page<Template>, RepositoryError> {
        let limit = if query.limit == 0 { 50 } else { query.limit };
        let state = query.state.map(|s| s.name());
        let (after, after_next, after_id) = codec::list_position(query.after)?;
        let total: i64 = sqlx::query_scalar(&self.inner.sql.list_count)
            .bind(tenant.as_str())
            .bind(state)
            .fetch_one(&self.inner.pool)
            .await
            .map_err(error)?;
        let page = sqlx::query(&self.inner.sql.list)
            .bind(tenant.as_str())
            .bind(state)
            .bind(codec::count(query.offset))
            .bind(codec::count(limit))
            .bind(after != 0)
            .bind(after_next)
            .bind(after_id);
        Ok(Page {
            items: self.read().all(page, template_of).await?,
            total: usize::try_from(total).unwrap_or(0),
        })
    }

    async fn scan_templates(
        &self,
        tenant: &TenantId,
        after: Option<TemplateId>,
        limit: usize,
    ) -> Result<Scan, RepositoryError> {
        // Ids are stored as non-negative `i64`s: -1 is before all of them.
        let after = match after {
            None => -1,
            Some(id) => match i64::try_from(id.0) {
                Ok(id) => id,
                Err(_) => return Ok(Scan::default()),
            },
        };
        let query = sqlx::query(&self.inner.sql.reads.scan)
            .bind(tenant.as_str())
            .bind(after)
            .bind(codec::count(limit));
        self.read().scan(query, limit).await
    }

    async fn count_live(&self, tenant: &TenantId) -> Result<u64, RepositoryError> {
        let count: i64 = sqlx::query_scalar(&self.inner.sql.reads.count_live)
            .bind(tenant.as_str())
            .fetch_one(&self.inner.pool)
            .await
            .map_err(error)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn planned_zones(&self) -> Result<Vec<PlannedZone>, RepositoryError> {
        self.read().planned_zones(&self.inner.sql.reads).await
    }

    async fn zone_templates(
        &self,
        zone: Option<&str>,
        after: Option<TemplateId>,
        limit: usize,
    ) -> Result<Scan, RepositoryError> {
        (self.read())
            .zone_templates(&self.inner.sql.reads, zone, after, limit)
            .await
    }

    async fn record_zone_rules(
        &self,
        zone: &str,
        expected: Option<u64>,
        rules: &RecordedRules,
    ) -> Result<bool, RepositoryError> {
        let query = read::record_zone_rules(&self.inner.sql.reads, zone, expected, rules)?;
        let done = query.execute(&self.inner.pool).await.map_err(error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn deals(
        &self,
        tenant: &TenantId,
        template: Option<TemplateId>,
    ) -> Result<Vec<CreatedDeal>, RepositoryError> {
        let Ok(template) = template.map(|t| i64::try_from(t.0)).transpose() else {
            return Ok(Vec::new());
        };
        let query = sqlx::query(&self.inner.sql.deals)
            .bind(tenant.as_str())
            .bind(template);
        self.read().all(query, deal_of).await
    }

    async fn deal(
        &self,
        tenant: &TenantId,
        key: DealKey,
    ) -> Result<Option<CreatedDeal>, RepositoryError> {
        let Ok(k) = Key::of(key) else {
            return Ok(None);
        };
        let query = sqlx::query(&self.inner.sql.reads.deal)
            .bind(tenant.as_str())
            .bind(k.template)
            .bind(k.kind)
            .bind(k.revision)
            .bind(k.num);
        self.read().one(query, deal_of).await
    }

    async fn skipped(
        &self,
        tenant: &TenantId,
        template: Option<TemplateId>,
    ) -> Result<Vec<SkippedOccurrence>, RepositoryError> {
        let Ok(template) = template.map(|t| i64::try_from(t.0)).transpose() else {
            return Ok(Vec::new());
        };
        let query = sqlx::query(&self.inner.sql.skipped)
            .bind(tenant.as_str())
            .bind(template);
        self.read().all(query, skipped_of).await
    }

    async fn invoice(
        &self,
        tenant: &TenantId,
        deal: DealKey,
    ) -> Result<Option<Invoice>, RepositoryError> {
        let Ok(k) = Key::of(deal) else {
            return Ok(None);
        };
        let query = sqlx::query(&self.inner.sql.reads.invoice)
            .bind(tenant.as_str())
            .bind(k.template)
            .bind(k.kind)
            .bind(k.revision)
            .bind(k.num);
        self.read().one(query, invoice_of).await
    }

    async fn due_invoices(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Invoice>, RepositoryError> {
        let now = codec::instant(now)?;
        let sql = &self.inner.sql.reads.due_invoices;
        self.read()
            .invoices(limit, |want| sqlx::query(sql).bind(now).bind(want))
            .await
    }

    async fn overdue_invoices(
        &self,
        tenant: &TenantId,
        after: Option<OverduePosition>,
        limit: usize,
    ) -> Result<Vec<Invoice>, RepositoryError> {
        let after = after.map(codec::OverdueKey::of).transpose()?;
        let sql = &self.inner.sql.overdue_invoices;
        self.read()
            .invoices(limit, |want| {
                sqlx::query(sql)
                    .bind(tenant.as_str())
                    .bind(after.map(|a| a.overdue_ns))
                    .bind(after.map(|a| a.key.template))
                    .bind(after.map(|a| a.key.kind))
                    .bind(after.map(|a| a.key.revision))
                    .bind(after.map(|a| a.key.num))
                    .bind(want)
            })
            .await
    }

    async fn commit_invoice(
        &self,
        invoice: Invoice,
        events: Vec<NewEvent>,
    ) -> Result<CommitOutcome, RepositoryError> {
        let encoded = EncodedInvoice::new(invoice, &events)?;
        let row = &encoded.row;
        let events = EventArrays::of(encoded.events.iter());
        let query = sqlx::query(&self.inner.sql.commit_invoice)
            .bind(&row.tenant)
            .bind(row.key.template)
            .bind(row.key.kind)
            .bind(row.key.revision)
            .bind(row.key.num)
            .bind(encoded.expected)
            .bind(row.version)
            .bind(row.next_reminder_ns)
            .bind(&row.body);
        let row = events
            .bind(query)
            .bind(row.overdue_ns)
            .fetch_one(&self.inner.pool)
            .await
            .map_err(error)?;
        let (present, version): (bool, Option<i64>) =
            sqlx::FromRow::from_row(&row).map_err(error)?;
        Ok(match version {
            Some(_) => CommitOutcome::Committed {
                version: encoded.version,
                already_created: Vec::new(),
            },
            None if present => CommitOutcome::Conflict,
            None => CommitOutcome::Missing,
        })
    }

    async fn outbox(&self, limit: usize) -> Result<Vec<OutboxEvent>, RepositoryError> {
        let query = sqlx::query(&self.inner.sql.reads.outbox).bind(codec::count(limit));
        self.read().all(query, event_of).await
    }

    async fn tenant_outbox(
        &self,
        tenant: &TenantId,
        limit: usize,
    ) -> Result<Vec<OutboxEvent>, RepositoryError> {
        let query = sqlx::query(&self.inner.sql.reads.tenant_outbox)
            .bind(tenant.as_str())
            .bind(codec::count(limit));
        self.read().all(query, event_of).await
    }

    async fn ack(&self, ids: &[u64]) -> Result<(), RepositoryError> {
        self.delete_events(None, ids).await
    }

    async fn tenant_ack(&self, tenant: &TenantId, ids: &[u64]) -> Result<(), RepositoryError> {
        self.delete_events(Some(tenant), ids).await
    }

    async fn tenants_outbox(
        &self,
        tenants: &[TenantId],
        limit: usize,
    ) -> Result<Vec<OutboxEvent>, RepositoryError> {
        let names: Vec<&str> = tenants.iter().map(TenantId::as_str).collect();
        let query = sqlx::query(&self.inner.sql.reads.tenants_outbox)
            .bind(names)
            .bind(codec::count(limit));
        self.read().all(query, event_of).await
    }

    async fn outbox_except(
        &self,
        tenants: &[TenantId],
        limit: usize,
    ) -> Result<Vec<OutboxEvent>, RepositoryError> {
        let names: Vec<&str> = tenants.iter().map(TenantId::as_str).collect();
        let query = sqlx::query(&self.inner.sql.reads.outbox_except)
            .bind(names)
            .bind(codec::count(limit));
        self.read().all(query, event_of).await
    }

    async fn outbox_heads(&self, limit: usize) -> Result<Vec<OutboxHead>, RepositoryError> {
        let query = sqlx::query(&self.inner.sql.reads.outbox_heads).bind(codec::count(limit));
        self.read().all(query, head_of).await
    }

    async fn record_failures(&self, failures: &[DeliveryFailure]) -> Result<(), RepositoryError> {
        if failures.is_empty() {
            return Ok(());
        }
        let mut tx = self.inner.pool.begin().await.map_err(error)?;
        let result =
            read::record_failures::<Postgres>(&mut tx, &self.inner.sql.reads, failures).await;
        finish(tx, result).await
    }

    async fn dead_letters(
        &self,
        tenant: &TenantId,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, RepositoryError> {
        // Ids are stored as positive `i64`s: -1 is before all of them.
        let Ok(after) = after.map_or(Ok(-1), i64::try_from) else {
            return Ok(Vec::new());
        };
        let query = sqlx::query(&self.inner.sql.reads.dead_letters)
            .bind(tenant.as_str())
            .bind(after)
            .bind(codec::count(limit));
        self.read().all(query, read::dead_letter_of).await
    }

    async fn requeue_dead_letters(
        &self,
        tenant: &TenantId,
        ids: &[u64],
    ) -> Result<u64, RepositoryError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let mut tx = self.inner.pool.begin().await.map_err(error)?;
        let result =
            read::requeue_dead_letters::<Postgres>(&mut tx, &self.inner.sql.reads, tenant, ids)
                .await;
        finish(tx, result).await
    }
}
