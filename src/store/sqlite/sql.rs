//! The SQLite store's statements, spliced with its table names once, at open.

use super::*;

/// The store's statements, with its table names.
pub(super) struct Sql {
    /// The reads written once for both stores.
    pub(super) reads: Reads,
    pub(super) names: Names,
    pub(super) batch: BatchSql,
    pub(super) allocate: Stmt,
    pub(super) insert_template: Stmt,
    pub(super) bump_ids: Stmt,
    pub(super) due: Stmt,
    pub(super) next_wake: Stmt,
    pub(super) delete: Stmt,
    pub(super) exists: Stmt,
    pub(super) list_count: Stmt,
    pub(super) list: Stmt,
    pub(super) deals: Stmt,
    pub(super) skipped: Stmt,
    pub(super) overdue_invoices: Stmt,
    pub(super) update_invoice: Stmt,
    pub(super) invoice_exists: Stmt,
    pub(super) ack: Stmt,
    pub(super) tenant_ack: Stmt,
}

impl Sql {
    pub(super) fn new(names: &Names) -> Sql {
        let templates = names.table("templates");
        let meta = names.table("meta");
        let deals = names.table("deals");
        let skipped = names.table("skipped");
        let invoices = names.table("invoices");
        let outbox = names.table("outbox");
        let key = "template_id = ?1 AND kind = ?2 AND revision = ?3 AND num = ?4";
        Sql {
            reads: Reads::new::<Sqlite>(names),
            names: names.clone(),
            batch: BatchSql::new(names),
            allocate: stmt!(
                "UPDATE {meta} SET value = value + 1 WHERE name = 'last_template_id' \
                 RETURNING value"
            ),
            insert_template: stmt!(
                "INSERT INTO {templates} (id, tenant, version, state, next_run_ns, body, zone) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (id) DO NOTHING"
            ),
            bump_ids: stmt!(
                "UPDATE {meta} SET value = max(value, ?1) WHERE name = 'last_template_id'"
            ),
            // Keyset paging over the due index: after (?2, ?3), at or before ?1, in share ?6
            // of ?5.
            due: stmt!(
                "SELECT {TEMPLATE_COLUMNS}, next_run_ns FROM {templates} \
                 WHERE next_run_ns <= ?1 AND next_run_ns >= ?2 \
                 AND (next_run_ns > ?2 OR id > ?3) AND id % ?5 = ?6 \
                 ORDER BY next_run_ns, id LIMIT ?4"
            ),
            next_wake: stmt!(
                "SELECT (SELECT next_run_ns FROM {templates} WHERE next_run_ns IS NOT NULL \
                 AND id % ?1 = ?2 ORDER BY next_run_ns LIMIT 1), \
                 (SELECT next_reminder_ns FROM {invoices} WHERE next_reminder_ns IS NOT NULL \
                 ORDER BY next_reminder_ns LIMIT 1)"
            ),
            delete: stmt!("DELETE FROM {templates} WHERE id = ?1 AND tenant = ?2 AND version = ?3"),
            exists: stmt!("SELECT 1 FROM {templates} WHERE id = ?1 AND tenant = ?2"),
            list_count: stmt!(
                "SELECT count(*) FROM {templates} WHERE tenant = ?1 AND (?2 IS NULL OR state = ?2)"
            ),
            list: stmt!(
                "SELECT {TEMPLATE_COLUMNS} FROM {templates} \
                 WHERE tenant = ?1 AND (?2 IS NULL OR state = ?2) \
                 AND (?5 = 0 \
                      OR (?6 IS NULL AND next_run_ns IS NULL AND id > ?7) \
                      OR (?6 IS NOT NULL AND (next_run_ns IS NULL OR next_run_ns > ?6 \
                          OR (next_run_ns = ?6 AND id > ?7)))) \
                 ORDER BY next_run_ns IS NULL, next_run_ns, id LIMIT ?3 OFFSET ?4"
            ),
            deals: stmt!(
                "SELECT {KEYED_COLUMNS} FROM {deals} \
                 WHERE tenant = ?1 AND (?2 IS NULL OR template_id = ?2) \
                 ORDER BY template_id, nominal_at_ns, kind, revision, num"
            ),
            skipped: stmt!(
                "SELECT {KEYED_COLUMNS} FROM {skipped} \
                 WHERE tenant = ?1 AND (?2 IS NULL OR template_id = ?2) \
                 ORDER BY kind, template_id, revision, num"
            ),
            // A tenant's overdue invoices after the place (?2, ?3 .. ?6), at most ?7.
            overdue_invoices: stmt!(
                "SELECT {INVOICE_COLUMNS} FROM {invoices} \
                 WHERE tenant = ?1 AND overdue_ns IS NOT NULL AND (?2 IS NULL \
                 OR (overdue_ns, template_id, kind, revision, num) > (?2, ?3, ?4, ?5, ?6)) \
                 ORDER BY overdue_ns, template_id, kind, revision, num LIMIT ?7"
            ),
            update_invoice: stmt!(
                "UPDATE {invoices} SET version = ?6, next_reminder_ns = ?7, body = ?8, \
                 overdue_ns = ?10 WHERE {key} AND tenant = ?5 AND version = ?9"
            ),
            invoice_exists: stmt!("SELECT 1 FROM {invoices} WHERE {key} AND tenant = ?5"),
            ack: stmt!("DELETE FROM {outbox} WHERE id IN (SELECT value FROM json_each(?1))"),
            tenant_ack: stmt!(
                "DELETE FROM {outbox} WHERE tenant = ?2 \
                 AND id IN (SELECT value FROM json_each(?1))"
            ),
        }
    }

    pub(super) fn insert_templates(&self, rows: usize) -> Stmt {
        stmt!(
            "INSERT INTO {} (id, tenant, version, state, next_run_ns, body, zone) VALUES {}",
            self.names.table("templates"),
            values(rows, 7)
        )
    }
}

/// A multi-row statement for each chunk size [`chunk_sizes`] produces (the powers of two up
/// to [`CHUNK`]), built once: the text is also the key of sqlx's prepared-statement cache.
pub(super) struct Sized {
    pub(super) by_log2: Vec<Stmt>,
}

impl Sized {
    pub(super) fn new(statement: impl Fn(usize) -> String) -> Sized {
        Sized {
            by_log2: (0..=CHUNK.trailing_zeros())
                .map(|k| Stmt::new(statement(1 << k)))
                .collect(),
        }
    }

    /// The statement for `rows`, a power of two up to [`CHUNK`].
    pub(super) fn get(&self, rows: usize) -> &Stmt {
        let k = rows.trailing_zeros() as usize;
        debug_assert!(rows.is_power_of_two() && k < self.by_log2.len());
        &self.by_log2[k.min(self.by_log2.len() - 1)]
    }
}

/// The batch statements, by chunk size.
pub(super) struct BatchSql {
    /// The conditional update of templates; returns the ids updated.
    pub(super) update_templates: Sized,
    /// The same, returning nothing.
    pub(super) update_templates_quiet: Sized,
    pub(super) present: Sized,
    /// Deals; returns the keys inserted.
    pub(super) insert_deals: Sized,
    /// The same, returning nothing.
    pub(super) insert_deals_quiet: Sized,
    pub(super) insert_skipped: Sized,
    pub(super) insert_invoices: Sized,
    pub(super) insert_events: Sized,
}

impl BatchSql {
    pub(super) fn new(names: &Names) -> BatchSql {
        let t = names.table("templates");
        let update = |returning: &'static str| {
            let t = t.clone();
            Sized::new(move |rows| {
                format!(
                    "WITH i (id, tenant, expected, version, state, next_run_ns, body, zone) AS \
                     (VALUES {}) \
                     UPDATE {t} SET version = i.version, state = i.state, \
                     next_run_ns = i.next_run_ns, body = i.body, zone = i.zone FROM i \
                     WHERE {t}.id = i.id AND {t}.tenant = i.tenant AND {t}.version = i.expected\
                     {returning}",
                    values(rows, 8)
                )
            })
        };
        let deals = |returning: &'static str| {
            let table = names.table("deals");
            Sized::new(move |rows| {
                format!(
                    "INSERT INTO {table} (template_id, kind, revision, num, tenant, \
                     nominal_at_ns, body) VALUES {} ON CONFLICT DO NOTHING{returning}",
                    values(rows, 7)
                )
            })
        };
        let skipped = names.table("skipped");
        let invoices = names.table("invoices");
        let outbox = names.table("outbox");
        BatchSql {
            update_templates: update(" RETURNING id"),
            update_templates_quiet: update(""),
            present: Sized::new(|rows| {
                format!(
                    "SELECT id, tenant FROM {t} WHERE id IN ({})",
                    vec!["?"; rows].join(", ")
                )
            }),
            insert_deals: deals(" RETURNING template_id, kind, revision, num"),
            insert_deals_quiet: deals(""),
            insert_skipped: Sized::new(|rows| {
                format!(
                    "INSERT INTO {skipped} (template_id, kind, revision, num, tenant, body) \
                     VALUES {} ON CONFLICT DO NOTHING",
                    values(rows, 6)
                )
            }),
            insert_invoices: Sized::new(|rows| {
                format!(
                    "INSERT INTO {invoices} (template_id, kind, revision, num, tenant, version, \
                     next_reminder_ns, body, overdue_ns) VALUES {} ON CONFLICT DO NOTHING",
                    values(rows, 9)
                )
            }),
            insert_events: Sized::new(|rows| {
                format!(
                    "INSERT INTO {outbox} (tenant, idempotency_key, at_ns, body) VALUES {}",
                    values(rows, 4)
                )
            }),
        }
    }
}

/// `(?, ?, ...), ...`: `rows` rows of `columns` placeholders.
pub(super) fn values(rows: usize, columns: usize) -> String {
    let row = format!("({})", vec!["?"; columns].join(", "));
    vec![row; rows].join(", ")
}

/// Splits `n` rows into chunks of at most [`CHUNK`] whose sizes are powers of two, so few
/// distinct statements (and prepared-statement cache entries) serve every batch size.
pub(super) fn chunk_sizes(mut n: usize) -> Vec<usize> {
    let mut sizes = Vec::new();
    while n > 0 {
        let size = if n >= CHUNK {
            CHUNK
        } else {
            // The largest power of two not above n (n > 0 here).
            1 << (usize::BITS - 1 - n.leading_zeros())
        };
        sizes.push(size);
        n -= size;
    }
    sizes
}
