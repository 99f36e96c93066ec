//! Writing commits: multi-row statements in power-of-two chunks, and the batch's steps.

use super::*;

pub(super) type Query<'q> = sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments>;

/// Runs `statement` over `rows` in power-of-two chunks, binding each row with `bind`;
/// returns the rows the statements return.
pub(super) async fn chunked<'r, T: 'r>(
    conn: &mut SqliteConnection,
    rows: &'r [T],
    statement: &Sized,
    bind: impl for<'q> Fn(Query<'q>, &'q T) -> Query<'q>,
) -> Result<Vec<SqliteRow>, RepositoryError> {
    let mut returned = Vec::new();
    let mut start = 0;
    for size in chunk_sizes(rows.len()) {
        let mut query = sqlx::query(statement.get(size));
        for row in &rows[start..start + size] {
            query = bind(query, row);
        }
        returned.extend(query.fetch_all(&mut *conn).await.map_err(error)?);
        start += size;
    }
    Ok(returned)
}

/// As [`chunked`], for statements that return no rows: the number of rows they changed.
pub(super) async fn chunked_count<'r, T: 'r>(
    conn: &mut SqliteConnection,
    rows: &'r [T],
    statement: &Sized,
    bind: impl for<'q> Fn(Query<'q>, &'q T) -> Query<'q>,
) -> Result<u64, RepositoryError> {
    let mut changed = 0;
    let mut start = 0;
    for size in chunk_sizes(rows.len()) {
        let mut query = sqlx::query(statement.get(size));
        for row in &rows[start..start + size] {
            query = bind(query, row);
        }
        changed += query
            .execute(&mut *conn)
            .await
            .map_err(error)?
            .rows_affected();
        start += size;
    }
    Ok(changed)
}

pub(super) fn bind_update<'q>(q: Query<'q>, c: &'q EncodedCommit) -> Query<'q> {
    q.bind(c.template.id)
        .bind(&c.template.tenant)
        .bind(c.expected)
        .bind(c.template.version)
        .bind(c.template.state)
        .bind(c.template.next_run_ns)
        .bind(&c.template.body)
        .bind(c.template.zone)
}

pub(super) fn bind_deal<'q>(q: Query<'q>, d: &'q &codec::DealRow) -> Query<'q> {
    q.bind(d.key.template)
        .bind(d.key.kind)
        .bind(d.key.revision)
        .bind(d.key.num)
        .bind(&d.tenant)
        .bind(d.nominal_at_ns)
        .bind(&d.body)
}

pub(super) fn bind_skipped<'q>(q: Query<'q>, s: &'q &codec::SkippedRow) -> Query<'q> {
    q.bind(s.key.template)
        .bind(s.key.kind)
        .bind(s.key.revision)
        .bind(s.key.num)
        .bind(&s.tenant)
        .bind(&s.body)
}

pub(super) fn bind_invoice<'q>(q: Query<'q>, v: &'q &codec::InvoiceRow) -> Query<'q> {
    q.bind(v.key.template)
        .bind(v.key.kind)
        .bind(v.key.revision)
        .bind(v.key.num)
        .bind(&v.tenant)
        .bind(v.version)
        .bind(v.next_reminder_ns)
        .bind(&v.body)
        .bind(v.overdue_ns)
}

pub(super) fn bind_event<'q>(q: Query<'q>, e: &'q &EventRow) -> Query<'q> {
    q.bind(&e.tenant)
        .bind(&e.idempotency_key)
        .bind(e.at_ns)
        .bind(&e.body)
}

pub(super) async fn insert_template(
    sql: &Sql,
    conn: &mut SqliteConnection,
    template: &Template,
) -> Result<(), RepositoryError> {
    let row = codec::TemplateRow::encode(template)?;
    let inserted = sqlx::query(&sql.insert_template)
        .bind(row.id)
        .bind(&row.tenant)
        .bind(row.version)
        .bind(row.state)
        .bind(row.next_run_ns)
        .bind(&row.body)
        .bind(row.zone)
        .execute(&mut *conn)
        .await
        .map_err(error)?;
    if inserted.rows_affected() == 0 {
        return Err(RepositoryError::Refused {
            reason: format!("template {} already exists", template.id),
        });
    }
    // An id the allocator has not handed out yet (an import) must not be handed out later.
    sqlx::query(&sql.bump_ids)
        .bind(row.id)
        .execute(&mut *conn)
        .await
        .map_err(error)?;
    Ok(())
}

/// Writes commits of distinct templates through `conn` (inside a transaction the caller
/// owns and rolls back on `None`), expecting the usual case: every template still at its
/// expected version and none of the deals stored yet. The statements then return no rows,
/// only counts; `None` when a count shows otherwise, and the batch must be written again
/// with [`write_commits`].
pub(super) async fn write_expected(
    sql: &BatchSql,
    conn: &mut SqliteConnection,
    commits: &[EncodedCommit],
) -> Result<Option<Vec<CommitOutcome>>, RepositoryError> {
    let updated = chunked_count(conn, commits, &sql.update_templates_quiet, bind_update).await?;
    if updated != commits.len() as u64 {
        return Ok(None);
    }
    let deals: Vec<&codec::DealRow> = commits.iter().flat_map(|c| c.deals.iter()).collect();
    let inserted = chunked_count(conn, &deals, &sql.insert_deals_quiet, bind_deal).await?;
    if inserted != deals.len() as u64 {
        return Ok(None);
    }
    write_rest(sql, conn, commits.iter()).await?;
    Ok(Some(
        commits.iter().map(|c| c.committed(Vec::new())).collect(),
    ))
}

/// Writes commits of distinct templates through `conn` (inside a transaction the caller
/// owns): the conditional template updates first (the claim), then the rows of the claimed
/// commits, [`Commit::drop_already_created`] applied to keys found stored.
pub(super) async fn write_commits(
    sql: &BatchSql,
    conn: &mut SqliteConnection,
    commits: &mut [EncodedCommit],
) -> Result<Vec<CommitOutcome>, RepositoryError> {
    let updated: HashSet<i64> = chunked(conn, commits, &sql.update_templates, bind_update)
        .await?
        .iter()
        .map(|row| col::<i64, _>(row, 0, table::TEMPLATES))
        .collect::<Result<_, _>>()?;

    // Of the commits not written: which templates exist (a conflict) and which do not.
    let lost: Vec<&EncodedCommit> = commits
        .iter()
        .filter(|c| !updated.contains(&c.template.id))
        .collect();
    let mut present: HashSet<(i64, String)> = HashSet::new();
    if !lost.is_empty() {
        for row in chunked(conn, &lost, &sql.present, |q, c| q.bind(c.template.id)).await? {
            present.insert((
                col(&row, 0, table::TEMPLATES)?,
                col(&row, 1, table::TEMPLATES)?,
            ));
        }
    }

    let claimed: Vec<usize> = (0..commits.len())
        .filter(|&i| updated.contains(&commits[i].template.id))
        .collect();
    let deal_rows: Vec<&codec::DealRow> = claimed
        .iter()
        .flat_map(|&i| commits[i].deals.iter())
        .collect();
    let mut inserted: HashSet<Key> = HashSet::with_capacity(deal_rows.len());
    for row in chunked(conn, &deal_rows, &sql.insert_deals, bind_deal).await? {
        inserted.insert(key_at(&row, 0, table::DEALS)?);
    }
    let mut already: HashMap<usize, Vec<DealKey>> = HashMap::new();
    for &i in &claimed {
        let commit = &mut commits[i];
        already.insert(i, commit.keep_inserted(&inserted)?);
    }

    write_rest(sql, conn, claimed.iter().map(|&i| &commits[i])).await?;

    Ok(commits
        .iter()
        .enumerate()
        .map(|(i, c)| match already.remove(&i) {
            Some(keys) => c.committed(keys),
            None if present.contains(&(c.template.id, c.template.tenant.clone())) => {
                CommitOutcome::Conflict
            }
            None => CommitOutcome::Missing,
        })
        .collect())
}

/// The skipped occurrences, invoices and events of claimed commits.
pub(super) async fn write_rest<'c>(
    sql: &BatchSql,
    conn: &mut SqliteConnection,
    claimed: impl Iterator<Item = &'c EncodedCommit> + Clone,
) -> Result<(), RepositoryError> {
    let skipped: Vec<&codec::SkippedRow> = claimed.clone().flat_map(|c| c.skipped.iter()).collect();
    chunked_count(conn, &skipped, &sql.insert_skipped, bind_skipped).await?;
    let invoices: Vec<&codec::InvoiceRow> =
        claimed.clone().flat_map(|c| c.invoices.iter()).collect();
    chunked_count(conn, &invoices, &sql.insert_invoices, bind_invoice).await?;
    let events: Vec<&EventRow> = claimed.flat_map(|c| c.events.iter()).collect();
    insert_events(sql, conn, &events).await
}

pub(super) async fn insert_events(
    sql: &BatchSql,
    conn: &mut SqliteConnection,
    events: &[&EventRow],
) -> Result<(), RepositoryError> {
    chunked_count(conn, events, &sql.insert_events, bind_event).await?;
    Ok(())
}
