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
        .bind(row.zone)
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
    let templates = TemplateArrays::of(commits.iter());
    let deals = DealArrays::of(commits.iter().flat_map(|c| c.deals.iter()));
    let skipped = SkippedArrays::of(commits.iter().flat_map(|c| c.skipped.iter()));
    let invoices = InvoiceArrays::of(commits.iter().flat_map(|c| c.invoices.iter()));
    let owners: Vec<i64> = commits
        .iter()
        .flat_map(|c| c.events.iter().map(|_| c.template.id))
        .collect();
    let events = EventArrays::of(commits.iter().flat_map(|c| c.events.iter()));
    let query = sqlx::query(&sql.batch);
    let query = templates.bind_state(templates.bind_claim(query));
    let query = invoices.bind(skipped.bind(deals.bind(query)));
    let rows = events
        .bind(query.bind(&owners))
        .bind(channel)
        .bind(&templates.zone)
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
    let templates = TemplateArrays::of(commits.iter());
    let deals = DealArrays::of(commits.iter().flat_map(|c| c.deals.iter()));
    let rows = deals
        .bind(templates.bind_claim(sqlx::query(&sql.claim)))
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
        already.insert(i, commit.keep_inserted(&inserted)?);
    }

    if !claimed.is_empty() {
        let mine: Vec<&EncodedCommit> = commits
            .iter()
            .filter(|c| claimed.contains_key(&c.template.id))
            .collect();
        let skipped = SkippedArrays::of(mine.iter().flat_map(|c| c.skipped.iter()));
        let invoices = InvoiceArrays::of(mine.iter().flat_map(|c| c.invoices.iter()));
        let events = EventArrays::of(mine.iter().flat_map(|c| c.events.iter()));
        let templates = TemplateArrays::of(mine.iter().copied());
        let query = events.bind(invoices.bind(skipped.bind(sqlx::query(&sql.write))));
        templates
            .bind_state(query.bind(&templates.id))
            .bind(channel)
            .bind(notify)
            .bind(&templates.zone)
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

type PgQuery<'q> = sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>;

/// Templates of a batch as `unnest` arrays: the claim's `id, tenant, expected` and the new
/// state's `version, state, next_run_ns, body`.
pub(super) struct TemplateArrays<'a> {
    id: Vec<i64>,
    tenant: Vec<&'a str>,
    expected: Vec<i64>,
    version: Vec<i64>,
    state: Vec<&'a str>,
    next_run_ns: Vec<Option<i64>>,
    body: Vec<&'a str>,
    /// Bound last, after the statement's other parameters.
    zone: Vec<&'a str>,
}

impl<'a> TemplateArrays<'a> {
    pub(super) fn of(commits: impl Iterator<Item = &'a EncodedCommit>) -> TemplateArrays<'a> {
        let mut arrays = TemplateArrays {
            id: Vec::new(),
            tenant: Vec::new(),
            expected: Vec::new(),
            version: Vec::new(),
            state: Vec::new(),
            next_run_ns: Vec::new(),
            body: Vec::new(),
            zone: Vec::new(),
        };
        for c in commits {
            arrays.id.push(c.template.id);
            arrays.tenant.push(&c.template.tenant);
            arrays.expected.push(c.expected);
            arrays.version.push(c.template.version);
            arrays.state.push(c.template.state);
            arrays.next_run_ns.push(c.template.next_run_ns);
            arrays.body.push(&c.template.body);
            arrays.zone.push(c.template.zone);
        }
        arrays
    }

    /// Binds `id, tenant, expected`.
    pub(super) fn bind_claim<'q>(&'q self, query: PgQuery<'q>) -> PgQuery<'q> {
        query.bind(&self.id).bind(&self.tenant).bind(&self.expected)
    }

    /// Binds `version, state, next_run_ns, body`.
    pub(super) fn bind_state<'q>(&'q self, query: PgQuery<'q>) -> PgQuery<'q> {
        query
            .bind(&self.version)
            .bind(&self.state)
            .bind(&self.next_run_ns)
            .bind(&self.body)
    }
}

/// Deal keys as `unnest` arrays: `template_id, kind, revision, num`.
#[derive(Default)]
pub(super) struct KeyArrays {
    template: Vec<i64>,
    kind: Vec<i16>,
    revision: Vec<i64>,
    num: Vec<i64>,
}

impl KeyArrays {
    fn push(&mut self, key: Key) {
        self.template.push(key.template);
        self.kind.push(key.kind);
        self.revision.push(key.revision);
        self.num.push(key.num);
    }

    fn bind<'q>(&'q self, query: PgQuery<'q>) -> PgQuery<'q> {
        query
            .bind(&self.template)
            .bind(&self.kind)
            .bind(&self.revision)
            .bind(&self.num)
    }
}

/// Deals as `unnest` arrays: the key, `tenant, nominal_at_ns, body`.
#[derive(Default)]
pub(super) struct DealArrays<'a> {
    key: KeyArrays,
    tenant: Vec<&'a str>,
    nominal_at_ns: Vec<i64>,
    body: Vec<&'a str>,
}

impl<'a> DealArrays<'a> {
    pub(super) fn of(rows: impl Iterator<Item = &'a codec::DealRow>) -> DealArrays<'a> {
        let mut arrays = DealArrays::default();
        for row in rows {
            arrays.key.push(row.key);
            arrays.tenant.push(&row.tenant);
            arrays.nominal_at_ns.push(row.nominal_at_ns);
            arrays.body.push(&row.body);
        }
        arrays
    }

    pub(super) fn bind<'q>(&'q self, query: PgQuery<'q>) -> PgQuery<'q> {
        self.key
            .bind(query)
            .bind(&self.tenant)
            .bind(&self.nominal_at_ns)
            .bind(&self.body)
    }
}

/// Skipped occurrences as `unnest` arrays: the key, `tenant, body`.
#[derive(Default)]
pub(super) struct SkippedArrays<'a> {
    key: KeyArrays,
    tenant: Vec<&'a str>,
    body: Vec<&'a str>,
}

impl<'a> SkippedArrays<'a> {
    pub(super) fn of(rows: impl Iterator<Item = &'a codec::SkippedRow>) -> SkippedArrays<'a> {
        let mut arrays = SkippedArrays::default();
        for row in rows {
            arrays.key.push(row.key);
            arrays.tenant.push(&row.tenant);
            arrays.body.push(&row.body);
        }
        arrays
    }

    pub(super) fn bind<'q>(&'q self, query: PgQuery<'q>) -> PgQuery<'q> {
        self.key.bind(query).bind(&self.tenant).bind(&self.body)
    }
}

/// Invoices as `unnest` arrays: the key, `tenant, version, next_reminder_ns, body,
/// overdue_ns`.
#[derive(Default)]
pub(super) struct InvoiceArrays<'a> {
    key: KeyArrays,
    tenant: Vec<&'a str>,
    version: Vec<i64>,
    next_reminder_ns: Vec<Option<i64>>,
    body: Vec<&'a str>,
    overdue_ns: Vec<Option<i64>>,
}

impl<'a> InvoiceArrays<'a> {
    pub(super) fn of(rows: impl Iterator<Item = &'a codec::InvoiceRow>) -> InvoiceArrays<'a> {
        let mut arrays = InvoiceArrays::default();
        for row in rows {
            arrays.key.push(row.key);
            arrays.tenant.push(&row.tenant);
            arrays.version.push(row.version);
            arrays.next_reminder_ns.push(row.next_reminder_ns);
            arrays.body.push(&row.body);
            arrays.overdue_ns.push(row.overdue_ns);
        }
        arrays
    }

    pub(super) fn bind<'q>(&'q self, query: PgQuery<'q>) -> PgQuery<'q> {
        self.key
            .bind(query)
            .bind(&self.tenant)
            .bind(&self.version)
            .bind(&self.next_reminder_ns)
            .bind(&self.body)
            .bind(&self.overdue_ns)
    }
}

/// Outbox events as `unnest` arrays: `tenant, idempotency_key, at_ns, body`.
#[derive(Default)]
pub(super) struct EventArrays<'a> {
    tenant: Vec<&'a str>,
    idempotency_key: Vec<&'a str>,
    at_ns: Vec<i64>,
    body: Vec<&'a str>,
}

impl<'a> EventArrays<'a> {
    pub(super) fn of(rows: impl Iterator<Item = &'a EventRow>) -> EventArrays<'a> {
        let mut arrays = EventArrays::default();
        for row in rows {
            arrays.tenant.push(&row.tenant);
            arrays.idempotency_key.push(&row.idempotency_key);
            arrays.at_ns.push(row.at_ns);
            arrays.body.push(&row.body);
        }
        arrays
    }

    pub(super) fn bind<'q>(&'q self, query: PgQuery<'q>) -> PgQuery<'q> {
        query
            .bind(&self.tenant)
            .bind(&self.idempotency_key)
            .bind(&self.at_ns)
            .bind(&self.body)
    }
}
