//! Writing commits: the whole batch in one statement when no deal of it is stored yet,
//! claim-then-write otherwise.

use super::*;

pub(super) async fn insert_template(
    sql: &Sql,
    channel: &str,
    conn: &mut PgConnection,
    template: &Template,
) -> Result<(), RepositoryError> {
    let row = codec::TemplateRow::encode(template)?;
    let inserted: i64 = sqlx::query_scalar(&sql.insert_template)
        .bind(row.id)
        .bind(&row.tenant)
        .bind(row.version)
        .bind(row.state)
        .bind(row.next_run_ns)
        .bind(&row.body)
        .bind(channel)
        .fetch_one(&mut *conn)
        .await
        .map_err(error)?;
    if inserted == 0 {
        return Err(RepositoryError::Refused {
            reason: format!("template {} already exists", template.id),
        });
    }
    Ok(())
}

/// A claimed template's stored next run, by id.
pub(super) type Claimed = HashMap<i64, Option<i64>>;

/// What [`write_expected`] did.
pub(super) enum Expected {
    Written(Vec<CommitOutcome>),
    /// Nothing: a deal of a claimed template is stored already.
    DealStored,
    Failed(RepositoryError),
}

/// Writes commits of distinct templates in one statement, its own transaction, expecting
/// the usual case: no deal of a claimed template stored yet. A stored one fails the
/// statement (a unique violation on the deals' key), which writes nothing:
/// [`Expected::DealStored`], and the batch goes through [`write_commits`], where
/// [`Commit::drop_already_created`] applies.
pub(super) async fn write_expected(
    sql: &Sql,
    channel: &str,
    pool: &PgPool,
    commits: &[EncodedCommit],
) -> Expected {
    let deals = commits.iter().flat_map(|c| c.deals.iter());
    let skipped = commits.iter().flat_map(|c| c.skipped.iter());
    let invoices = commits.iter().flat_map(|c| c.invoices.iter());
    let mut events: Vec<(i64, &EventRow)> = Vec::new();
    for c in commits {
        events.extend(c.events.iter().map(|e| (c.template.id, e)));
    }
    let events = events.iter();
    let rows = sqlx::query(&sql.batch)
        .bind(commits.iter().map(|c| c.template.id).collect::<Vec<_>>())
        .bind(
            commits
                .iter()
                .map(|c| c.template.tenant.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(commits.iter().map(|c| c.expected).collect::<Vec<_>>())
        .bind(
            commits
                .iter()
                .map(|c| c.template.version)
                .collect::<Vec<_>>(),
        )
        .bind(commits.iter().map(|c| c.template.state).collect::<Vec<_>>())
        .bind(
            commits
                .iter()
                .map(|c| c.template.next_run_ns)
                .collect::<Vec<_>>(),
        )
        .bind(
            commits
                .iter()
                .map(|c| c.template.body.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(deals.clone().map(|d| d.key.template).collect::<Vec<_>>())
        .bind(deals.clone().map(|d| d.key.kind).collect::<Vec<_>>())
        .bind(deals.clone().map(|d| d.key.revision).collect::<Vec<_>>())
        .bind(deals.clone().map(|d| d.key.num).collect::<Vec<_>>())
        .bind(deals.clone().map(|d| d.tenant.as_str()).collect::<Vec<_>>())
        .bind(deals.clone().map(|d| d.nominal_at_ns).collect::<Vec<_>>())
        .bind(deals.map(|d| d.body.as_str()).collect::<Vec<_>>())
        .bind(skipped.clone().map(|s| s.key.template).collect::<Vec<_>>())
        .bind(skipped.clone().map(|s| s.key.kind).collect::<Vec<_>>())
        .bind(skipped.clone().map(|s| s.key.revision).collect::<Vec<_>>())
        .bind(skipped.clone().map(|s| s.key.num).collect::<Vec<_>>())
        .bind(
            skipped
                .clone()
                .map(|s| s.tenant.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(skipped.map(|s| s.body.as_str()).collect::<Vec<_>>())
        .bind(invoices.clone().map(|v| v.key.template).collect::<Vec<_>>())
        .bind(invoices.clone().map(|v| v.key.kind).collect::<Vec<_>>())
        .bind(invoices.clone().map(|v| v.key.revision).collect::<Vec<_>>())
        .bind(invoices.clone().map(|v| v.key.num).collect::<Vec<_>>())
        .bind(
            invoices
                .clone()
                .map(|v| v.tenant.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(invoices.clone().map(|v| v.version).collect::<Vec<_>>())
        .bind(
            invoices
                .clone()
                .map(|v| v.next_reminder_ns)
                .collect::<Vec<_>>(),
        )
        .bind(
            invoices
                .clone()
                .map(|v| v.body.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(events.clone().map(|&(owner, _)| owner).collect::<Vec<_>>())
        .bind(
            events
                .clone()
                .map(|(_, e)| e.tenant.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            events
                .clone()
                .map(|(_, e)| e.idempotency_key.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(events.clone().map(|(_, e)| e.at_ns).collect::<Vec<_>>())
        .bind(events.map(|(_, e)| e.body.as_str()).collect::<Vec<_>>())
        .bind(channel)
        .bind(invoices.map(|v| v.overdue_ns).collect::<Vec<_>>())
        .fetch_all(pool)
        .await;
    let rows = match rows {
        Ok(rows) => rows,
        Err(sqlx::Error::Database(db))
            if db.code().as_deref() == Some("23505")
                && db.constraint().is_some_and(|c| c.starts_with("deals")) =>
        {
            return Expected::DealStored;
        }
        Err(e) => return Expected::Failed(error(e)),
    };
    let t = table::TEMPLATES;
    let mut claimed = HashSet::with_capacity(rows.len());
    let mut present = HashSet::with_capacity(rows.len());
    for row in &rows {
        let read = || -> Result<(i64, bool, bool), RepositoryError> {
            Ok((col(row, 0, t)?, col(row, 1, t)?, col(row, 2, t)?))
        };
        let (id, is_claimed, is_present) = match read() {
            Ok(read) => read,
            Err(e) => return Expected::Failed(e),
        };
        if is_claimed {
            claimed.insert(id);
        }
        if is_present {
            present.insert(id);
        }
    }
    Expected::Written(
        commits
            .iter()
            .map(|c| {
                if claimed.contains(&c.template.id) {
                    c.committed(Vec::new())
                } else if present.contains(&c.template.id) {
                    CommitOutcome::Conflict
                } else {
                    CommitOutcome::Missing
                }
            })
            .collect(),
    )
}

/// Writes commits of distinct templates through `conn` (inside a transaction the caller
/// owns): the claim with the deals, then the rest of the claimed commits, with
/// [`Commit::drop_already_created`] applied to keys found stored.
pub(super) async fn write_commits(
    sql: &Sql,
    channel: &str,
    conn: &mut PgConnection,
    commits: &mut [EncodedCommit],
) -> Result<Vec<CommitOutcome>, RepositoryError> {
    let deals = commits.iter().flat_map(|c| c.deals.iter());
    let rows = sqlx::query(&sql.claim)
        .bind(commits.iter().map(|c| c.template.id).collect::<Vec<_>>())
        .bind(
            commits
                .iter()
                .map(|c| c.template.tenant.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(commits.iter().map(|c| c.expected).collect::<Vec<_>>())
        .bind(deals.clone().map(|d| d.key.template).collect::<Vec<_>>())
        .bind(deals.clone().map(|d| d.key.kind).collect::<Vec<_>>())
        .bind(deals.clone().map(|d| d.key.revision).collect::<Vec<_>>())
        .bind(deals.clone().map(|d| d.key.num).collect::<Vec<_>>())
        .bind(deals.clone().map(|d| d.tenant.as_str()).collect::<Vec<_>>())
        .bind(deals.clone().map(|d| d.nominal_at_ns).collect::<Vec<_>>())
        .bind(deals.map(|d| d.body.as_str()).collect::<Vec<_>>())
        .fetch_all(&mut *conn)
        .await
        .map_err(error)?;
    let t = table::TEMPLATES;
    let mut claimed: Claimed = HashMap::new();
    let mut present: HashSet<i64> = HashSet::new();
    let mut inserted: HashSet<Key> = HashSet::new();
    for row in &rows {
        let what: i16 = col(row, 0, t)?;
        let id: i64 = col(row, 1, t)?;
        if what == 0 {
            if col::<bool, _>(row, 2, t)? {
                claimed.insert(id, col(row, 4, t)?);
            }
            if col::<bool, _>(row, 3, t)? {
                present.insert(id);
            }
        } else {
            inserted.insert(Key {
                template: id,
                kind: col(row, 5, t)?,
                revision: col(row, 6, t)?,
                num: col(row, 7, t)?,
            });
        }
    }

    let mut already: HashMap<usize, Vec<DealKey>> = HashMap::new();
    let mut notify = false;
    for (i, commit) in commits.iter_mut().enumerate() {
        let Some(stored_next_run) = claimed.get(&commit.template.id) else {
            continue;
        };
        notify |= *stored_next_run != commit.template.next_run_ns;
        let mut seen = BTreeSet::new();
        let keys: Vec<DealKey> = commit
            .deal_keys()
            .filter(|&k| seen.insert(k))
            .filter(|&k| Key::of(k).is_ok_and(|cols| !inserted.contains(&cols)))
            .collect();
        commit.drop_already_created(&keys)?;
        already.insert(i, keys);
    }

    if !claimed.is_empty() {
        let mine: Vec<&EncodedCommit> = commits
            .iter()
            .filter(|c| claimed.contains_key(&c.template.id))
            .collect();
        let skipped = mine.iter().flat_map(|c| c.skipped.iter());
        let invoices = mine.iter().flat_map(|c| c.invoices.iter());
        let events = mine.iter().flat_map(|c| c.events.iter());
        sqlx::query(&sql.write)
            .bind(skipped.clone().map(|s| s.key.template).collect::<Vec<_>>())
            .bind(skipped.clone().map(|s| s.key.kind).collect::<Vec<_>>())
            .bind(skipped.clone().map(|s| s.key.revision).collect::<Vec<_>>())
            .bind(skipped.clone().map(|s| s.key.num).collect::<Vec<_>>())
            .bind(
                skipped
                    .clone()
                    .map(|s| s.tenant.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(skipped.map(|s| s.body.as_str()).collect::<Vec<_>>())
            .bind(invoices.clone().map(|v| v.key.template).collect::<Vec<_>>())
            .bind(invoices.clone().map(|v| v.key.kind).collect::<Vec<_>>())
            .bind(invoices.clone().map(|v| v.key.revision).collect::<Vec<_>>())
            .bind(invoices.clone().map(|v| v.key.num).collect::<Vec<_>>())
            .bind(
                invoices
                    .clone()
                    .map(|v| v.tenant.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(invoices.clone().map(|v| v.version).collect::<Vec<_>>())
            .bind(
                invoices
                    .clone()
                    .map(|v| v.next_reminder_ns)
                    .collect::<Vec<_>>(),
            )
            .bind(
                invoices
                    .clone()
                    .map(|v| v.body.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                events
                    .clone()
                    .map(|e| e.tenant.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                events
                    .clone()
                    .map(|e| e.idempotency_key.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(events.clone().map(|e| e.at_ns).collect::<Vec<_>>())
            .bind(events.map(|e| e.body.as_str()).collect::<Vec<_>>())
            .bind(mine.iter().map(|c| c.template.id).collect::<Vec<_>>())
            .bind(mine.iter().map(|c| c.template.version).collect::<Vec<_>>())
            .bind(mine.iter().map(|c| c.template.state).collect::<Vec<_>>())
            .bind(
                mine.iter()
                    .map(|c| c.template.next_run_ns)
                    .collect::<Vec<_>>(),
            )
            .bind(
                mine.iter()
                    .map(|c| c.template.body.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(channel)
            .bind(notify)
            .bind(invoices.map(|v| v.overdue_ns).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await
            .map_err(error)?;
    }

    Ok(commits
        .iter()
        .enumerate()
        .map(|(i, c)| match already.remove(&i) {
            Some(keys) => c.committed(keys),
            None if present.contains(&c.template.id) => CommitOutcome::Conflict,
            None => CommitOutcome::Missing,
        })
        .collect())
}
