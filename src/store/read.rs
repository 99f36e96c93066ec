//! The reads both durable stores share, generic over the sqlx database: running a query on
//! the pool, decoding its rows with the codec (listings skip and report corrupt rows,
//! single-row reads return them as errors), and the paging loops. Each backend keeps only its
//! SQL text and binds, handing the reader a built [`Query`].

use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Type};

use super::codec::{
    self, Key, decode_all, decode_deal, decode_event, decode_invoice, decode_skipped,
    decode_template, table,
};
use super::dialect::{Dialect, Reads};
use super::sqlx_error::repository_error;
use super::{
    DeadLetter, DeliveryFailure, OutboxHead, PlannedZone, RecordedRules, RepositoryError, Scan,
};
use crate::event::OutboxEvent;
use crate::ids::{TemplateId, TenantId};
use crate::invoice::Invoice;
use crate::planner::{CreatedDeal, SkippedOccurrence};
use crate::template::Template;

/// The columns [`template_of`] reads, in order.
pub(crate) const TEMPLATE_COLUMNS: &str = "id, tenant, version, body";
/// The columns [`deal_of`] and [`skipped_of`] read, in order.
pub(crate) const KEYED_COLUMNS: &str = "template_id, kind, revision, num, tenant, body";
/// The columns [`invoice_of`] reads, in order.
pub(crate) const INVOICE_COLUMNS: &str = "template_id, kind, revision, num, tenant, version, body";
/// The columns [`event_of`] reads, in order.
pub(crate) const EVENT_COLUMNS: &str =
    "id, tenant, idempotency_key, at_ns, body, attempts, retry_at_ns";

/// A statement of `DB` with its parameters bound.
pub(crate) type Query<'q, DB> = sqlx::query::Query<'q, DB, <DB as Database>::Arguments>;

/// A column of a row, or a [`RepositoryError::CorruptRow`] naming it.
pub(crate) fn col<'r, T, R>(
    row: &'r R,
    index: usize,
    table: &'static str,
) -> Result<T, RepositoryError>
where
    R: Row,
    usize: ColumnIndex<R>,
    T: Decode<'r, R::Database> + Type<R::Database>,
{
    row.try_get(index).map_err(|e| RepositoryError::CorruptRow {
        table,
        key: "(unreadable)".into(),
        reason: format!("column {index}: {e}"),
    })
}

/// The column types the stores read, for a row of either backend (the bounds are written
/// once here instead of on every decoder).
pub(crate) trait Columns: Row {
    /// An `INTEGER`/`BIGINT` column.
    fn int(&self, index: usize, table: &'static str) -> Result<i64, RepositoryError>;
    /// The key's `kind` column.
    fn small(&self, index: usize, table: &'static str) -> Result<i16, RepositoryError>;
    /// A `TEXT` column.
    fn text(&self, index: usize, table: &'static str) -> Result<&str, RepositoryError>;
    /// An `INTEGER`/`BIGINT` column that may be `NULL`.
    fn opt_int(&self, index: usize, table: &'static str) -> Result<Option<i64>, RepositoryError>;
    /// A `TEXT` column that may be `NULL`.
    fn opt_text(&self, index: usize, table: &'static str) -> Result<Option<&str>, RepositoryError>;
}

impl<R> Columns for R
where
    R: Row,
    usize: ColumnIndex<R>,
    i64: Type<R::Database> + for<'r> Decode<'r, R::Database>,
    i16: Type<R::Database> + for<'r> Decode<'r, R::Database>,
    str: Type<R::Database>,
    for<'r> &'r str: Decode<'r, R::Database>,
{
    fn int(&self, index: usize, table: &'static str) -> Result<i64, RepositoryError> {
        col(self, index, table)
    }

    fn small(&self, index: usize, table: &'static str) -> Result<i16, RepositoryError> {
        col(self, index, table)
    }

    fn text(&self, index: usize, table: &'static str) -> Result<&str, RepositoryError> {
        col(self, index, table)
    }

    fn opt_int(&self, index: usize, table: &'static str) -> Result<Option<i64>, RepositoryError> {
        col(self, index, table)
    }

    fn opt_text(&self, index: usize, table: &'static str) -> Result<Option<&str>, RepositoryError> {
        col(self, index, table)
    }
}

/// A durable store's pool, read through the codec.
pub(crate) struct Reader<'a, DB: Database> {
    pool: &'a Pool<DB>,
}

impl<'a, DB> Reader<'a, DB>
where
    DB: Dialect,
    DB::Row: Columns,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
{
    /// Reads `pool`.
    pub(crate) fn new(pool: &'a Pool<DB>) -> Reader<'a, DB> {
        Reader { pool }
    }

    /// The row `query` finds, decoded: `None` without one, a
    /// [`RepositoryError::CorruptRow`] when it does not decode.
    pub(crate) async fn one<T>(
        &self,
        query: Query<'_, DB>,
        decode: impl FnOnce(DB::Row) -> Result<T, RepositoryError>,
    ) -> Result<Option<T>, RepositoryError> {
        let row = query
            .fetch_optional(self.pool)
            .await
            .map_err(|e| repository_error(e, DB::BACKEND))?;
        row.map(decode).transpose()
    }

    /// The rows `query` finds, decoded; corrupt ones are skipped (and reported).
    pub(crate) async fn all<T>(
        &self,
        query: Query<'_, DB>,
        decode: impl Fn(DB::Row) -> Result<T, RepositoryError>,
    ) -> Result<Vec<T>, RepositoryError> {
        Ok(decode_all(self.rows(query).await?, decode))
    }

    /// A page of a template scan: `query` reads at most `limit` templates in id order,
    /// `id, tenant, version, body`; the next page starts after the last id read, readable
    /// or not, when the page is full.
    pub(crate) async fn scan(
        &self,
        query: Query<'_, DB>,
        limit: usize,
    ) -> Result<Scan, RepositoryError> {
        let rows = self.rows(query).await?;
        let next = match rows.last() {
            Some(row) if rows.len() == limit => {
                let id = row.int(0, table::TEMPLATES)?;
                u64::try_from(id).ok().map(TemplateId)
            }
            _ => None,
        };
        Ok(Scan {
            items: decode_all(rows, template_of),
            next,
        })
    }

    /// Up to `limit` due templates: `query(after, want)` reads `want` rows of
    /// `id, tenant, version, body, next_run_ns` after the keyset position `after`
    /// (`next_run_ns, id`), and is asked again past corrupt rows until `limit` decode or the
    /// rows run out.
    pub(crate) async fn due_templates<'q>(
        &self,
        limit: usize,
        query: impl Fn((i64, i64), i64) -> Query<'q, DB>,
    ) -> Result<Vec<Template>, RepositoryError> {
        let mut due = Vec::new();
        let mut after = (i64::MIN, i64::MIN);
        while due.len() < limit {
            let want = limit - due.len();
            let rows = self.rows(query(after, codec::count(want))).await?;
            let last = rows.len() < want;
            for row in &rows {
                after = (row.int(4, table::TEMPLATES)?, row.int(0, table::TEMPLATES)?);
            }
            due.extend(decode_all(rows, template_of));
            if last {
                break;
            }
        }
        Ok(due)
    }

    /// Up to `limit` readable invoices of a listing: `query(want)` reads its first `want`
    /// rows, asked again for a longer page while corrupt rows were skipped from a full one
    /// ([`codec::readable`]).
    pub(crate) async fn invoices<'q>(
        &self,
        limit: usize,
        query: impl Fn(i64) -> Query<'q, DB>,
    ) -> Result<Vec<Invoice>, RepositoryError> {
        let mut want = limit;
        loop {
            let rows = self.rows(query(codec::count(want))).await?;
            match codec::readable(rows, want, limit, invoice_of) {
                Ok(invoices) => return Ok(invoices),
                Err(longer) => want = longer,
            }
        }
    }

    /// [`super::Repository::planned_zones`].
    pub(crate) async fn planned_zones(
        &self,
        reads: &Reads,
    ) -> Result<Vec<PlannedZone>, RepositoryError> {
        let rows = self.rows(sqlx::query(&reads.planned_zones)).await?;
        rows.iter().map(planned_zone_of).collect()
    }

    /// [`super::Repository::zone_templates`].
    pub(crate) async fn zone_templates(
        &self,
        reads: &Reads,
        zone: Option<&str>,
        after: Option<TemplateId>,
        limit: usize,
    ) -> Result<Scan, RepositoryError>
    where
        for<'q> i64: Encode<'q, DB> + Type<DB>,
        for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    {
        // Ids are stored as non-negative `i64`s: -1 is before all of them.
        let after = match after.map(|id| i64::try_from(id.0)) {
            None => -1,
            Some(Ok(id)) => id,
            Some(Err(_)) => return Ok(Scan::default()),
        };
        let limit_arg = codec::count(limit);
        let query = match zone {
            Some(zone) => sqlx::query(&reads.zone_templates)
                .bind(zone)
                .bind(after)
                .bind(limit_arg),
            None => sqlx::query(&reads.unzoned_templates)
                .bind(after)
                .bind(limit_arg),
        };
        self.scan(query, limit).await
    }

    async fn rows(&self, query: Query<'_, DB>) -> Result<Vec<DB::Row>, RepositoryError> {
        query
            .fetch_all(self.pool)
            .await
            .map_err(|e| repository_error(e, DB::BACKEND))
    }
}

/// [`Reads::record_zone_rules`] with its parameters bound.
pub(crate) fn record_zone_rules<'q, DB: Database>(
    reads: &'q Reads,
    zone: &'q str,
    expected: Option<u64>,
    rules: &'q RecordedRules,
) -> Result<Query<'q, DB>, RepositoryError>
where
    i64: Encode<'q, DB> + Type<DB>,
    Option<i64>: Encode<'q, DB> + Type<DB>,
    &'q str: Encode<'q, DB> + Type<DB>,
    DB::Arguments: IntoArguments<DB>,
{
    // Fingerprints are stored as the `i64` of the same bits.
    let fingerprint = i64::from_ne_bytes(rules.fingerprint.to_ne_bytes());
    let expected = expected.map(|f| i64::from_ne_bytes(f.to_ne_bytes()));
    Ok(sqlx::query(&reads.record_zone_rules)
        .bind(zone)
        .bind(fingerprint)
        .bind(rules.tzdb.as_str())
        .bind(codec::instant(rules.at)?)
        .bind(expected))
}

/// `zone, fingerprint, tzdb, recorded_at_ns, count` of [`Reads::planned_zones`].
fn planned_zone_of<R: Columns>(row: &R) -> Result<PlannedZone, RepositoryError> {
    let t = table::ZONE_RULES;
    let recorded = match (row.opt_int(1, t)?, row.opt_text(2, t)?, row.opt_int(3, t)?) {
        (Some(fingerprint), Some(tzdb), Some(at)) => Some(RecordedRules {
            fingerprint: u64::from_ne_bytes(fingerprint.to_ne_bytes()),
            tzdb: tzdb.to_owned(),
            at: codec::instant_from(at),
        }),
        _ => None,
    };
    Ok(PlannedZone {
        zone: row.opt_text(0, t)?.map(str::to_owned),
        recorded,
        templates: u64::try_from(row.int(4, t)?).unwrap_or(0),
    })
}

/// The key columns from column `at`: `template_id, kind, revision, num`.
pub(crate) fn key_at<R: Columns>(
    row: &R,
    at: usize,
    table: &'static str,
) -> Result<Key, RepositoryError> {
    Ok(Key {
        template: row.int(at, table)?,
        kind: row.small(at + 1, table)?,
        revision: row.int(at + 2, table)?,
        num: row.int(at + 3, table)?,
    })
}

/// `id, tenant, version, body` from column 0.
pub(crate) fn template_of<R: Columns>(row: R) -> Result<Template, RepositoryError> {
    let t = table::TEMPLATES;
    let id = row.int(0, t)?;
    let tenant = row.text(1, t)?;
    let version = row.int(2, t)?;
    // An unreadable body is named by its row's id (SQLite columns hold any type).
    let body = row.text(3, t).map_err(|e| rename(e, format!("T{id}")))?;
    decode_template(id, tenant, version, body)
}

fn rename(error: RepositoryError, key: String) -> RepositoryError {
    match error {
        RepositoryError::CorruptRow { table, reason, .. } => {
            RepositoryError::CorruptRow { table, key, reason }
        }
        other => other,
    }
}

/// Key, `tenant, body`.
pub(crate) fn deal_of<R: Columns>(row: R) -> Result<CreatedDeal, RepositoryError> {
    let t = table::DEALS;
    decode_deal(key_at(&row, 0, t)?, row.text(4, t)?, row.text(5, t)?)
}

/// Key, `tenant, body`.
pub(crate) fn skipped_of<R: Columns>(row: R) -> Result<SkippedOccurrence, RepositoryError> {
    let t = table::SKIPPED;
    decode_skipped(key_at(&row, 0, t)?, row.text(4, t)?, row.text(5, t)?)
}

/// Key, `tenant, version, body`.
pub(crate) fn invoice_of<R: Columns>(row: R) -> Result<Invoice, RepositoryError> {
    let t = table::INVOICES;
    decode_invoice(
        key_at(&row, 0, t)?,
        row.text(4, t)?,
        row.int(5, t)?,
        row.text(6, t)?,
    )
}

/// `tenant, id, at_ns, retry_at_ns` of a tenant's oldest event.
pub(crate) fn head_of<R: Columns>(row: R) -> Result<OutboxHead, RepositoryError> {
    let t = table::OUTBOX;
    let id = row.int(1, t)?;
    Ok(OutboxHead {
        tenant: TenantId::new(row.text(0, t)?).map_err(|e| codec::corrupt(t, id, e))?,
        id: u64::try_from(id).map_err(|_| codec::corrupt(t, id, "negative id"))?,
        at: codec::instant_from(row.int(2, t)?),
        retry_at: row.opt_int(3, t)?.map(codec::instant_from),
    })
}

/// [`EVENT_COLUMNS`]: `id, tenant, idempotency_key, at_ns, body, attempts, retry_at_ns`.
pub(crate) fn event_of<R: Columns>(row: R) -> Result<OutboxEvent, RepositoryError> {
    event_at(&row)
}

fn event_at<R: Columns>(row: &R) -> Result<OutboxEvent, RepositoryError> {
    let t = table::OUTBOX;
    let id = row.int(0, t)?;
    let mut event = decode_event(
        id,
        row.text(1, t)?.to_owned(),
        row.text(2, t)?.to_owned(),
        row.int(3, t)?,
        row.text(4, t)?,
    )?;
    event.attempts = u32::try_from(row.int(5, t)?)
        .map_err(|_| codec::corrupt(t, id, "attempts out of range"))?;
    event.retry_at = row.opt_int(6, t)?.map(codec::instant_from);
    Ok(event)
}

/// [`EVENT_COLUMNS`], then `last_error, dead_at_ns`.
pub(crate) fn dead_letter_of<R: Columns>(row: R) -> Result<DeadLetter, RepositoryError> {
    let t = table::OUTBOX;
    let event = event_at(&row)?;
    Ok(DeadLetter {
        last_error: row.opt_text(7, t)?.unwrap_or_default().to_owned(),
        dead_at: codec::instant_from(row.int(8, t)?),
        event,
    })
}

/// [`super::Repository::record_failures`] on `conn` (in a transaction the backend opened):
/// one statement per failure, as failures are one per refused tenant and round.
pub(crate) async fn record_failures<DB>(
    conn: &mut DB::Connection,
    reads: &Reads,
    failures: &[DeliveryFailure],
) -> Result<(), RepositoryError>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
{
    for failure in failures {
        // Ids beyond the stores' integers were never handed out: unknown, ignored.
        let Ok(id) = i64::try_from(failure.id) else {
            continue;
        };
        let at = codec::instant(failure.at)?;
        let retry = failure.retry_at.map(codec::instant).transpose()?;
        let dead = if retry.is_none() { Some(at) } else { None };
        sqlx::query(&reads.record_failure)
            .bind(id)
            .bind(failure.tenant.as_str())
            .bind(failure.stored_error())
            .bind(retry)
            .bind(dead)
            .execute(&mut *conn)
            .await
            .map_err(|e| repository_error(e, DB::BACKEND))?;
    }
    Ok(())
}

/// [`super::Repository::requeue_dead_letters`] on `conn` (in a transaction the backend
/// opened).
pub(crate) async fn requeue_dead_letters<DB>(
    conn: &mut DB::Connection,
    reads: &Reads,
    tenant: &TenantId,
    ids: &[u64],
) -> Result<u64, RepositoryError>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
{
    let mut requeued = 0;
    for id in ids.iter().filter_map(|&id| i64::try_from(id).ok()) {
        let done = sqlx::query(&reads.requeue_dead_letter)
            .bind(id)
            .bind(tenant.as_str())
            .execute(&mut *conn)
            .await
            .map_err(|e| repository_error(e, DB::BACKEND))?;
        requeued += DB::rows_affected(&done);
    }
    Ok(requeued)
}
