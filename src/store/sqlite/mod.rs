//! The SQLite store (feature `sqlite`), on sqlx; see [`SqliteStore`].

mod schema;
mod sql;
mod write;

use schema::*;
use sql::*;
use write::*;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous,
};
use sqlx::{Connection as _, Sqlite};
use tokio::sync::{Mutex, MutexGuard};

use super::codec::{self, EncodedCommit, EncodedInvoice, EventRow, Key, no_outcome, table};
use super::dialect::{Reads, Stmt, finish, stmt};
use super::migrations::{self, LEGACY_VERSION, Migrate, Names};
use super::read;
use super::read::{
    INVOICE_COLUMNS, KEYED_COLUMNS, Reader, TEMPLATE_COLUMNS, col, deal_of, event_of, head_of,
    invoice_of, key_at, skipped_of, template_of,
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

/// How [`SqliteStore::open`] treats the host's pool and database.
///
/// ```
/// use recurring_deals::store::{Migrate, SqliteOptions};
///
/// let options = SqliteOptions::new().prefix("crm_rd_")?.migrate(Migrate::Check);
/// assert_eq!(options.table_prefix(), "crm_rd_");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteOptions {
    prefix: String,
    migrate: Migrate,
    durability: Durability,
}

/// Whether the store accepts a pool weaker than WAL with `synchronous=FULL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Durability {
    Required,
    WeakerAccepted,
}

impl Default for SqliteOptions {
    fn default() -> SqliteOptions {
        SqliteOptions {
            prefix: "rd_".to_owned(),
            migrate: Migrate::OnOpen,
            durability: Durability::Required,
        }
    }
}

impl SqliteOptions {
    /// The defaults: tables prefixed `rd_`, migrations applied on open, durability checked.
    pub fn new() -> SqliteOptions {
        SqliteOptions::default()
    }

    /// Names the tables `{prefix}templates`, `{prefix}deals` and so on (default `rd_`).
    ///
    /// # Errors
    /// [`RepositoryError::Refused`] unless `prefix` is 1 to 32 lowercase ASCII letters,
    /// digits and `_`, not starting with a digit.
    pub fn prefix(mut self, prefix: &str) -> Result<SqliteOptions, RepositoryError> {
        migrations::check_name(prefix, 32, "table prefix")?;
        prefix.clone_into(&mut self.prefix);
        Ok(self)
    }

    /// Whether opening applies missing migrations (the default) or only checks the version.
    pub fn migrate(mut self, migrate: Migrate) -> SqliteOptions {
        self.migrate = migrate;
        self
    }

    /// Accepts a pool whose connections are not in WAL mode with `synchronous=FULL` (or
    /// `EXTRA`): commits may then be lost on power failure (`synchronous=NORMAL`), or readers
    /// block the writer (other journal modes). Without it, opening such a pool fails with
    /// [`RepositoryError::Durability`].
    pub fn accept_weaker_durability(mut self) -> SqliteOptions {
        self.durability = Durability::WeakerAccepted;
        self
    }

    /// The table prefix.
    pub fn table_prefix(&self) -> &str {
        &self.prefix
    }
}

/// A [`Repository`] in an SQLite database (feature `sqlite`, bundled SQLite: nothing to
/// install), on an sqlx pool: the host's own, or one [`SqliteStore::connect`] builds.
///
/// ```
/// use recurring_deals::{Repository, SqliteStore};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// let path = std::env::temp_dir().join(format!("rd-doc-{}.db", std::process::id()));
/// let store = SqliteStore::connect(&path).await?;
/// assert!(store.outbox(10).await?.is_empty());
/// # store.pool().close().await;
/// # for suffix in ["", "-wal", "-shm"] {
/// #     let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Concurrency and durability
///
/// Reads run on any connection of the pool, concurrently (WAL mode: readers never block the
/// writer). Writes of one store take turns on an async mutex, each in one `BEGIN IMMEDIATE`
/// transaction (the write lock up front, so two writers never deadlock upgrading a read
/// lock); other processes on the same file wait for SQLite's busy timeout.
/// [`Repository::commit_batch`] writes a whole batch of templates in one transaction, with a
/// few multi-row statements, so a tick pays one `fsync` per batch. The statements expect the
/// usual case (every template at its expected version, none of the deals stored) and return
/// only counts; when a count says otherwise, the transaction is rolled back and the batch
/// written again with statements that return the templates claimed and the deals inserted,
/// and [`Commit::drop_already_created`] applies. Every commit is conditional on the
/// template's version and deal keys are unique, so exactly-once never depends on the
/// locking.
///
/// [`SqliteStore::open`] checks that the pool's connections use WAL with
/// `synchronous=FULL` (a committed deal survives a power loss) and refuses a weaker pool
/// with [`RepositoryError::Durability`] unless [`SqliteOptions::accept_weaker_durability`]
/// says otherwise. [`SqliteStore::connect_options`] gives the right settings for a host's
/// own pool.
///
/// # Schema
///
/// Tables `{prefix}templates`, `{prefix}deals`, ... as described in
/// [`migrations`](super::migrations), applied on open in one transaction; a database with a
/// newer version is refused with [`RepositoryError::SchemaVersion`]. A database written by
/// the crate's earlier rusqlite store (tables `templates`, `deals`, `skipped`, `invoices`,
/// `outbox`, `meta`, `schema_version` version 1) is copied into the new tables when the
/// store first migrates it (the old tables are left as they were; drop them once done).
///
/// # Corrupt rows
///
/// A row that does not decode (or whose body names another key or tenant than its columns)
/// is a [`RepositoryError::CorruptRow`] from single-row reads, and is skipped (and reported)
/// by listings, due loading and the outbox, so one bad row never stops the others.
///
/// # The host's transaction
///
/// [`SqliteStore::insert_template_in`] and [`SqliteStore::commit_in`] write through a
/// connection the host holds, typically inside its own transaction, so "make this deal
/// recurring" commits or rolls back with the host's rows.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: SqlitePool,
    prefix: String,
    sql: Sql,
    write: Mutex<()>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("prefix", &self.inner.prefix)
            .finish_non_exhaustive()
    }
}

/// How long a connection waits for another process's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The largest number of rows one multi-row statement carries.
const CHUNK: usize = 256;

impl SqliteStore {
    /// Opens (or creates) the database file at `path` with [`SqliteStore::connect_options`]
    /// on a pool of 4 connections, and opens the store with the default [`SqliteOptions`].
    ///
    /// # Errors
    /// [`RepositoryError::Connection`] when the file cannot be opened; the errors of
    /// [`SqliteStore::open`].
    pub async fn connect(path: impl AsRef<Path>) -> Result<SqliteStore, RepositoryError> {
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(SqliteStore::connect_options(path))
            .await
            .map_err(error)?;
        SqliteStore::open(pool, SqliteOptions::new()).await
    }

    /// A private in-memory database on one connection (tests and simulations): durability
    /// is not checked, since there is nothing durable.
    ///
    /// # Errors
    /// As [`SqliteStore::open`].
    pub async fn in_memory() -> Result<SqliteStore, RepositoryError> {
        let options = SqliteConnectOptions::new()
            .in_memory(true)
            .statement_cache_capacity(256);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(error)?;
        SqliteStore::open(pool, SqliteOptions::new().accept_weaker_durability()).await
    }

    /// The connection settings the store needs, for a host building its own pool: the file
    /// created if missing, WAL, `synchronous=FULL`, a busy timeout of 5 seconds, room for
    /// the store's prepared statements.
    pub fn connect_options(path: impl AsRef<Path>) -> SqliteConnectOptions {
        SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .statement_cache_capacity(256)
    }

    /// Opens the store on the host's `pool`: checks durability, applies (or checks) the
    /// migrations.
    ///
    /// # Errors
    /// [`RepositoryError::Durability`] for a pool weaker than WAL with `synchronous=FULL`
    /// (unless accepted); [`RepositoryError::SchemaVersion`] for a database of a newer
    /// version, an earlier store's database this version cannot import, or (with
    /// [`Migrate::Check`]) one not at [`LATEST`](migrations::LATEST); any other kind when the
    /// database fails.
    pub async fn open(
        pool: SqlitePool,
        options: SqliteOptions,
    ) -> Result<SqliteStore, RepositoryError> {
        let mut conn = pool.acquire().await.map_err(error)?;
        if options.durability == Durability::Required {
            check_durability(&mut conn).await?;
        }
        let names = Names::sqlite(&options.prefix);
        match options.migrate {
            Migrate::OnOpen => migrate(&mut conn, &options.prefix, &names).await?,
            Migrate::Check => migrations::latest(schema_version(&mut conn, &names).await?)?,
        }
        drop(conn);
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                pool,
                sql: Sql::new(&names),
                prefix: options.prefix,
                write: Mutex::new(()),
            }),
        })
    }

    /// The pool the store runs on.
    pub fn pool(&self) -> &SqlitePool {
        &self.inner.pool
    }

    /// The schema version of the database.
    ///
    /// # Errors
    /// A [`RepositoryError`] when the database fails.
    pub async fn schema_version(&self) -> Result<i64, RepositoryError> {
        let mut conn = self.inner.pool.acquire().await.map_err(error)?;
        schema_version(&mut conn, &Names::sqlite(&self.inner.prefix)).await
    }

    /// Inserts a new template through the host's connection (inside the host's transaction,
    /// if it began one): as [`Repository::insert_template`], committed or rolled back with
    /// the host's own writes. Build the template with
    /// [`Engine::new_template`](crate::Engine::new_template).
    ///
    /// ```
    /// use recurring_deals::{Repository, SqliteStore};
    /// # use recurring_deals::*;
    /// # use chrono::{NaiveDate, TimeZone, Utc};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
    /// let store = SqliteStore::in_memory().await?;
    /// let engine = Engine::new(store.clone(), SystemClock);
    /// # let start = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap().and_hms_opt(9, 0, 0).unwrap();
    /// # let schedule = Schedule::builder(Recurrence::daily(Interval::ONE), start, Zone::UTC).build()?;
    /// # let deal = Deal::new("Support", Money::new(100, Currency::new("EUR")?))?;
    /// let tenant = TenantId::new("acme")?;
    /// let template = engine.new_template(&tenant, TemplateDraft::new(deal, schedule)).await?;
    ///
    /// let mut tx = store.pool().begin().await?;
    /// // ... the host's own writes in `tx` ...
    /// store.insert_template_in(&mut tx, &template).await?;
    /// tx.commit().await?;
    /// assert!(store.template(&tenant, template.id()).await?.is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`RepositoryError::Refused`] when the id is taken; any other kind when the database
    /// fails (the host should then roll back).
    pub async fn insert_template_in(
        &self,
        conn: &mut SqliteConnection,
        template: &Template,
    ) -> Result<(), RepositoryError> {
        insert_template(&self.inner.sql, conn, template).await
    }

    /// Commits through the host's connection (inside its transaction, if it began one): as
    /// [`Repository::commit`], committed or rolled back with the host's writes.
    ///
    /// # Errors
    /// As [`Repository::commit`].
    pub async fn commit_in(
        &self,
        conn: &mut SqliteConnection,
        commit: Commit,
    ) -> Result<CommitOutcome, RepositoryError> {
        let mut encoded = [EncodedCommit::new(commit)?];
        let mut outcomes = write_commits(&self.inner.sql.batch, conn, &mut encoded).await?;
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
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use recurring_deals::*;
    /// # use chrono::NaiveDate;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
    /// let store = SqliteStore::in_memory().await?;
    /// let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
    /// let engine = Engine::new(store.clone(), clock.clone());
    /// # let start = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap().and_hms_opt(9, 0, 0).unwrap();
    /// # let schedule = Schedule::builder(Recurrence::daily(Interval::ONE), start, Zone::UTC).build()?;
    /// # let deal = Deal::new("Support", Money::new(100, Currency::new("EUR")?))?;
    /// let acme = TenantId::new("acme")?;
    /// engine.create_template(&acme, TemplateDraft::new(deal, schedule)).await?;
    /// clock.set(Utc.with_ymd_and_hms(2026, 1, 3, 12, 0, 0).unwrap());
    /// engine.tick().await?; // three deals, three events
    /// sqlx::query("CREATE TABLE host_deals (key TEXT PRIMARY KEY)")
    ///     .execute(store.pool())
    ///     .await?;
    ///
    /// let events = engine.worker_outbox(100).await?;
    /// let mut tx = store.pool().begin().await?;
    /// for event in &events {
    ///     if let EventKind::DealCreated { deal, .. } = &event.kind {
    ///         sqlx::query("INSERT INTO host_deals (key) VALUES (?1)")
    ///             .bind(deal.to_string())
    ///             .execute(&mut *tx)
    ///             .await?;
    ///     }
    /// }
    /// let ids: Vec<u64> = events.iter().map(|event| event.id).collect();
    /// assert_eq!(store.ack_in(&mut tx, &ids).await?, 3);
    /// tx.commit().await?;
    /// assert!(engine.outbox(10).await?.is_empty());
    /// let copied: i64 = sqlx::query_scalar("SELECT count(*) FROM host_deals")
    ///     .fetch_one(store.pool())
    ///     .await?;
    /// assert_eq!(copied, 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// A [`RepositoryError`] when the database fails (the host should then roll back).
    pub async fn ack_in(
        &self,
        conn: &mut SqliteConnection,
        ids: &[u64],
    ) -> Result<u64, RepositoryError> {
        let Some(list) = id_list(ids)? else {
            return Ok(0);
        };
        let done = sqlx::query(&self.inner.sql.ack)
            .bind(list)
            .execute(&mut *conn)
            .await
            .map_err(error)?;
        Ok(done.rows_affected())
    }

    /// Inserts many templates in one transaction (imports, tests, benchmarks). Each id must
    /// be new; the id allocator moves past the largest.
    ///
    /// Records no zone rules: the first tick of the next engine checks the zones of the
    /// inserted templates ([`crate::Engine::replan_zones`]), one read of them.
    ///
    /// # Errors
    /// [`RepositoryError::Refused`] when an id is taken (nothing is inserted); any other kind
    /// when the database fails.
    pub async fn insert_templates<'a>(
        &self,
        templates: impl IntoIterator<Item = &'a Template>,
    ) -> Result<u64, RepositoryError> {
        let rows = templates
            .into_iter()
            .map(codec::TemplateRow::encode)
            .collect::<Result<Vec<_>, _>>()?;
        let (_guard, mut tx) = self.write().await?;
        let result = async {
            for chunk in rows.chunks(CHUNK) {
                let sql = self.inner.sql.insert_templates(chunk.len());
                let mut query = sqlx::query(&sql);
                for row in chunk {
                    query = query
                        .bind(row.id)
                        .bind(&row.tenant)
                        .bind(row.version)
                        .bind(row.state)
                        .bind(row.next_run_ns)
                        .bind(&row.body)
                        .bind(row.zone);
                }
                let inserted = query.execute(&mut *tx).await.map_err(error)?;
                if inserted.rows_affected() != chunk.len() as u64 {
                    return Err(RepositoryError::Refused {
                        reason: "a template id of the bulk insert is taken".into(),
                    });
                }
            }
            if let Some(max) = rows.iter().map(|r| r.id).max() {
                sqlx::query(&self.inner.sql.bump_ids)
                    .bind(max)
                    .execute(&mut *tx)
                    .await
                    .map_err(error)?;
            }
            Ok(rows.len() as u64)
        }
        .await;
        finish(tx, result).await
    }

    /// The write lock of this store and a `BEGIN IMMEDIATE` transaction.
    async fn write(
        &self,
    ) -> Result<(MutexGuard<'_, ()>, sqlx::Transaction<'static, Sqlite>), RepositoryError> {
        let guard = self.inner.write.lock().await;
        Ok((guard, self.begin_immediate().await?))
    }

    /// A `BEGIN IMMEDIATE` transaction; the caller holds the write lock.
    async fn begin_immediate(&self) -> Result<sqlx::Transaction<'static, Sqlite>, RepositoryError> {
        self.inner
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(error)
    }
}

impl SqliteStore {
    /// The store's pool, read through the codec.
    fn read(&self) -> Reader<'_, Sqlite> {
        Reader::new(&self.inner.pool)
    }
}

fn error(e: sqlx::Error) -> RepositoryError {
    repository_error(e, Backend::Sqlite)
}

impl Repository for SqliteStore {
    async fn allocate_template_id(&self) -> Result<TemplateId, RepositoryError> {
        let _guard = self.inner.write.lock().await;
        let id: i64 = sqlx::query_scalar(&self.inner.sql.allocate)
            .fetch_one(&self.inner.pool)
            .await
            .map_err(error)?;
        u64::try_from(id)
            .map(TemplateId)
            .map_err(|_| RepositoryError::CorruptRow {
                table: "meta",
                key: "last_template_id".into(),
                reason: format!("negative id {id}"),
            })
    }

    async fn insert_template(&self, template: &Template) -> Result<(), RepositoryError> {
        let (_guard, mut tx) = self.write().await?;
        let result = insert_template(&self.inner.sql, &mut tx, template).await;
        finish(tx, result).await
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
        let (template, reminder): (Option<i64>, Option<i64>) =
            sqlx::query_as(&self.inner.sql.next_wake)
                .bind(i64::from(share.count()))
                .bind(i64::from(share.index()))
                .fetch_one(&self.inner.pool)
                .await
                .map_err(error)?;
        Ok(template
            .into_iter()
            .chain(reminder)
            .min()
            .map(codec::instant_from))
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
        let (_guard, mut tx) = self.write().await?;
        let result = async {
            let deleted = sqlx::query(&self.inner.sql.delete)
                .bind(id)
                .bind(tenant.as_str())
                .bind(expected)
                .execute(&mut *tx)
                .await
                .map_err(error)?;
            if deleted.rows_affected() == 0 {
                let exists = sqlx::query(&self.inner.sql.exists)
                    .bind(id)
                    .bind(tenant.as_str())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(error)?
                    .is_some();
                return Ok(if exists {
                    CommitOutcome::Conflict
                } else {
                    CommitOutcome::Missing
                });
            }
            Ok(CommitOutcome::Committed {
                version: version + 1,
                already_created: Vec::new(),
            })
        }
        .await;
        finish(tx, result).await
    }

    async fn list_templates(
        &self,
        tenant: &TenantId,
        query: &TemplateQuery,
    ) -> Result<Page<Template>, RepositoryError> {
        let limit = if query.limit == 0 { 50 } else { query.limit };
        let state = query.state.map(|s| s.name());
        let (after, after_next, after_id) = codec::list_position(query.after)?;
        // One read transaction: the count and the page are of one snapshot.
        let mut tx = self.inner.pool.begin().await.map_err(error)?;
        let result = async {
            let total: i64 = sqlx::query_scalar(&self.inner.sql.list_count)
                .bind(tenant.as_str())
                .bind(state)
                .fetch_one(&mut *tx)
                .await
                .map_err(error)?;
            let rows = sqlx::query(&self.inner.sql.list)
                .bind(tenant.as_str())
                .bind(state)
                .bind(codec::count(limit))
                .bind(codec::count(query.offset))
                .bind(after)
                .bind(after_next)
                .bind(after_id)
                .fetch_all(&mut *tx)
                .await
                .map_err(error)?;
            Ok((total, rows))
        }
        .await;
        let (total, rows) = finish(tx, result).await?;
        Ok(Page {
            items: codec::decode_all(rows, template_of),
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
        let _guard = self.inner.write.lock().await;
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
        let (_guard, mut tx) = self.write().await?;
        let result = async {
            let updated = sqlx::query(&self.inner.sql.update_invoice)
                .bind(row.key.template)
                .bind(row.key.kind)
                .bind(row.key.revision)
                .bind(row.key.num)
                .bind(&row.tenant)
                .bind(row.version)
                .bind(row.next_reminder_ns)
                .bind(&row.body)
                .bind(encoded.expected)
                .bind(row.overdue_ns)
                .execute(&mut *tx)
                .await
                .map_err(error)?;
            if updated.rows_affected() == 0 {
                let exists = sqlx::query(&self.inner.sql.invoice_exists)
                    .bind(row.key.template)
                    .bind(row.key.kind)
                    .bind(row.key.revision)
                    .bind(row.key.num)
                    .bind(&row.tenant)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(error)?
                    .is_some();
                return Ok(if exists {
                    CommitOutcome::Conflict
                } else {
                    CommitOutcome::Missing
                });
            }
            let events: Vec<&EventRow> = encoded.events.iter().collect();
            insert_events(&self.inner.sql.batch, &mut tx, &events).await?;
            Ok(CommitOutcome::Committed {
                version: encoded.version,
                already_created: Vec::new(),
            })
        }
        .await;
        finish(tx, result).await
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
        self.delete_events(&self.inner.sql.ack, None, ids).await
    }

    async fn tenant_ack(&self, tenant: &TenantId, ids: &[u64]) -> Result<(), RepositoryError> {
        self.delete_events(&self.inner.sql.tenant_ack, Some(tenant), ids)
            .await
    }

    async fn tenants_outbox(
        &self,
        tenants: &[TenantId],
        limit: usize,
    ) -> Result<Vec<OutboxEvent>, RepositoryError> {
        let list = tenant_list(tenants)?;
        let query = sqlx::query(&self.inner.sql.reads.tenants_outbox)
            .bind(list)
            .bind(codec::count(limit));
        self.read().all(query, event_of).await
    }

    async fn outbox_except(
        &self,
        tenants: &[TenantId],
        limit: usize,
    ) -> Result<Vec<OutboxEvent>, RepositoryError> {
        let list = tenant_list(tenants)?;
        let query = sqlx::query(&self.inner.sql.reads.outbox_except)
            .bind(list)
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
        let (_guard, mut tx) = self.write().await?;
        let result =
            read::record_failures::<Sqlite>(&mut tx, &self.inner.sql.reads, failures).await;
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
        let (_guard, mut tx) = self.write().await?;
        let result =
            read::requeue_dead_letters::<Sqlite>(&mut tx, &self.inner.sql.reads, tenant, ids).await;
        finish(tx, result).await
    }
}

impl SqliteStore {
    /// Writes commits of distinct templates in one transaction.
    async fn write_batch(
        &self,
        commits: Vec<Commit>,
    ) -> Vec<Result<CommitOutcome, RepositoryError>> {
        // Encoded before the write lock is taken.
        let mut batch = codec::Batch::encode(commits);
        if batch.ready.is_empty() {
            return batch.outcomes(Ok(Vec::new()));
        }
        let ready = &mut batch.ready;
        let written = async {
            let sql = &self.inner.sql.batch;
            let (_guard, mut tx) = self.write().await?;
            match write_expected(sql, &mut tx, ready).await {
                Ok(Some(outcomes)) => return finish(tx, Ok(outcomes)).await,
                Ok(None) => tx.rollback().await.map_err(error)?,
                Err(e) => return finish(tx, Err(e)).await,
            }
            // A conflict or a deal already stored: again, reading back what was written.
            let mut tx = self.begin_immediate().await?;
            let result = write_commits(sql, &mut tx, ready).await;
            finish(tx, result).await
        }
        .await;
        batch.outcomes(written)
    }

    async fn delete_events(
        &self,
        sql: &Stmt,
        tenant: Option<&TenantId>,
        ids: &[u64],
    ) -> Result<(), RepositoryError> {
        let Some(list) = id_list(ids)? else {
            return Ok(());
        };
        let _guard = self.inner.write.lock().await;
        let mut query = sqlx::query(sql).bind(list);
        if let Some(tenant) = tenant {
            query = query.bind(tenant.as_str());
        }
        query.execute(&self.inner.pool).await.map_err(error)?;
        Ok(())
    }
}

/// Tenant ids as the JSON array the statements take.
fn tenant_list(tenants: &[TenantId]) -> Result<String, RepositoryError> {
    let names: Vec<&str> = tenants.iter().map(TenantId::as_str).collect();
    serde_json::to_string(&names).map_err(|e| RepositoryError::Refused {
        reason: format!("tenant list: {e}"),
    })
}

/// Event ids as the JSON array the statements take; `None` when none is a stored id (ids
/// beyond SQLite's integers were never handed out: unknown, ignored).
fn id_list(ids: &[u64]) -> Result<Option<String>, RepositoryError> {
    let ids: Vec<i64> = ids
        .iter()
        .filter_map(|&id| i64::try_from(id).ok())
        .collect();
    if ids.is_empty() {
        return Ok(None);
    }
    let list = serde_json::to_string(&ids).map_err(|e| RepositoryError::Refused {
        reason: format!("cannot encode event ids: {e}"),
    })?;
    Ok(Some(list))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Row;

    #[test]
    fn chunks_are_powers_of_two_up_to_the_limit() {
        assert_eq!(chunk_sizes(0), Vec::<usize>::new());
        assert_eq!(chunk_sizes(1), vec![1]);
        assert_eq!(chunk_sizes(7), vec![4, 2, 1]);
        assert_eq!(chunk_sizes(600), vec![256, 256, 64, 16, 8]);
        for n in 0..1000 {
            assert_eq!(chunk_sizes(n).iter().sum::<usize>(), n);
        }
    }

    /// The worker's queries search their partial indexes (cost by the number due, whatever
    /// the number stored).
    #[tokio::test]
    async fn due_queries_search_their_indexes() {
        let store = SqliteStore::in_memory().await.unwrap();
        let sql = &store.inner.sql;
        for (statement, params, index) in [
            (&sql.due, 6, "rd_templates_due"),
            (&sql.reads.due_invoices, 2, "rd_invoices_due"),
            (&sql.next_wake, 2, "rd_templates_due"),
            (&sql.next_wake, 2, "rd_invoices_due"),
        ] {
            let explain = stmt!("EXPLAIN QUERY PLAN {statement}");
            let mut query = sqlx::query(&explain);
            for _ in 0..params {
                query = query.bind(0i64);
            }
            let plan: Vec<String> = query
                .fetch_all(store.pool())
                .await
                .unwrap()
                .iter()
                .map(|row| row.get::<String, _>(3))
                .collect();
            assert!(
                plan.iter()
                    .any(|step| step.starts_with("SEARCH") && step.contains(index)),
                "{statement}: {plan:?}"
            );
        }
    }
}
