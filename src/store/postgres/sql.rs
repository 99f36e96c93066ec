//! The PostgreSQL store's statements, spliced with its schema's names once, at open.

use super::*;

/// The store's statements, with its schema.
pub(super) struct Sql {
    /// The reads written once for both stores.
    pub(super) reads: Reads,
    pub(super) allocate: Stmt,
    pub(super) insert_template: Stmt,
    pub(super) insert_templates: Stmt,
    pub(super) bump_ids: Stmt,
    pub(super) due: Stmt,
    pub(super) next_wake: Stmt,
    pub(super) claim: Stmt,
    pub(super) write: Stmt,
    pub(super) batch: Stmt,
    pub(super) delete: Stmt,
    pub(super) list_count: Stmt,
    pub(super) list: Stmt,
    pub(super) deals: Stmt,
    pub(super) skipped: Stmt,
    pub(super) overdue_invoices: Stmt,
    pub(super) commit_invoice: Stmt,
    pub(super) ack: Stmt,
}

impl Sql {
    pub(super) fn new(names: &Names) -> Sql {
        let templates = names.table("templates");
        let ids = names.table("template_ids");
        let deals = names.table("deals");
        let skipped = names.table("skipped");
        let invoices = names.table("invoices");
        let outbox = names.table("outbox");
        let key = "template_id = $2 AND kind = $3 AND revision = $4 AND num = $5";
        let events_insert = |arrays: &str| {
            format!(
                "INSERT INTO {outbox} (tenant, idempotency_key, at_ns, body) \
                 SELECT e.tenant, e.idem, e.at, e.body \
                 FROM {arrays} WITH ORDINALITY AS e(tenant, idem, at, body, ord) ORDER BY e.ord"
            )
        };
        Sql {
            reads: Reads::new::<Postgres>(names),
            allocate: stmt!("SELECT nextval('{ids}')"),
            // $7: the channel to notify when the template has a next run; $8 its zone.
            insert_template: stmt!(
                "WITH ins AS ( \
                     INSERT INTO {templates} (id, tenant, version, state, next_run_ns, body, \
                         zone) \
                     VALUES ($1, $2, $3, $4, $5, $6, $8) ON CONFLICT (id) DO NOTHING \
                     RETURNING id, next_run_ns), \
                 bump AS (SELECT setval('{ids}', $1) FROM ins \
                     WHERE $1 > (SELECT last_value FROM {ids})), \
                 notified AS (SELECT pg_notify($7, '') FROM ins WHERE next_run_ns IS NOT NULL) \
                 SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM bump), \
                     (SELECT count(*) FROM notified)"
            ),
            insert_templates: stmt!(
                "INSERT INTO {templates} (id, tenant, version, state, next_run_ns, body, zone) \
                 SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], \
                     $5::bigint[], $6::text[], $7::text[])"
            ),
            bump_ids: stmt!(
                "SELECT setval('{ids}', GREATEST($1::bigint, (SELECT last_value FROM {ids})))"
            ),
            due: stmt!(
                "SELECT {TEMPLATE_COLUMNS}, next_run_ns FROM {templates} \
                 WHERE next_run_ns <= $1 AND (next_run_ns, id) > ($2, $3) \
                 AND id % $5 = $6 \
                 ORDER BY next_run_ns, id LIMIT $4"
            ),
            next_wake: stmt!(
                "SELECT LEAST( \
                     (SELECT min(next_run_ns) FROM {templates} WHERE next_run_ns IS NOT NULL \
                         AND id % $1 = $2), \
                     (SELECT min(next_reminder_ns) FROM {invoices} \
                         WHERE next_reminder_ns IS NOT NULL))"
            ),
            // Claims the batch's templates ($1 id, $2 tenant, $3 expected version) and inserts
            // the deals of the claimed ones ($4..$10). It waits for row locks rather than
            // skipping them: it runs right after the one-statement batch failed, and the
            // server may report that failure before it has released the batch's own locks. Rows `what = 0`: a template, whether
            // it was claimed, whether it exists, its stored next run; `what = 1`: an inserted
            // deal key.
            claim: stmt!(
                "WITH input AS ( \
                     SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[]) \
                         AS i(id, tenant, expected)), \
                 claimed AS MATERIALIZED ( \
                     SELECT t.id, t.next_run_ns FROM {templates} t \
                     WHERE t.id = ANY($1::bigint[]) \
                         AND (t.tenant, t.id, t.version) IN \
                             (SELECT tenant, id, expected FROM input) \
                     ORDER BY t.id \
                     FOR UPDATE OF t), \
                 inserted AS ( \
                     INSERT INTO {deals} \
                         (template_id, kind, revision, num, tenant, nominal_at_ns, body) \
                     SELECT d.t, d.k, d.r, d.n, d.tenant, d.at, d.body \
                     FROM unnest($4::bigint[], $5::smallint[], $6::bigint[], $7::bigint[], \
                                 $8::text[], $9::bigint[], $10::text[]) \
                         AS d(t, k, r, n, tenant, at, body) \
                     WHERE d.t IN (SELECT id FROM claimed) \
                     ON CONFLICT DO NOTHING \
                     RETURNING template_id, kind, revision, num) \
                 SELECT 0::smallint, i.id, c.id IS NOT NULL, \
                     EXISTS (SELECT 1 FROM {templates} x WHERE x.id = i.id AND x.tenant = i.tenant), \
                     c.next_run_ns, NULL::smallint, NULL::bigint, NULL::bigint \
                 FROM input i LEFT JOIN claimed c ON c.id = i.id \
                 UNION ALL \
                 SELECT 1::smallint, template_id, NULL, NULL, NULL, kind, revision, num \
                 FROM inserted"
            ),
            // The rest of the claimed commits: skipped ($1..$6), invoices ($7..$15), events
            // ($16..$19), the templates' new state ($20..$24, $27 their zones), and $25 the
            // channel to notify when $26.
            write: stmt!(
                "WITH skipped AS ( \
                     INSERT INTO {skipped} (template_id, kind, revision, num, tenant, body) \
                     SELECT * FROM unnest($1::bigint[], $2::smallint[], $3::bigint[], \
                         $4::bigint[], $5::text[], $6::text[]) \
                     ON CONFLICT DO NOTHING), \
                 invoices AS ( \
                     INSERT INTO {invoices} (template_id, kind, revision, num, tenant, version, \
                         next_reminder_ns, body, overdue_ns) \
                     SELECT * FROM unnest($7::bigint[], $8::smallint[], $9::bigint[], \
                         $10::bigint[], $11::text[], $12::bigint[], $13::bigint[], $14::text[], \
                         $15::bigint[]) \
                     ON CONFLICT DO NOTHING), \
                 events AS ({events}), \
                 updated AS ( \
                     UPDATE {templates} t SET version = i.version, state = i.state, \
                         next_run_ns = i.next_run_ns, body = i.body, zone = i.zone \
                     FROM unnest($20::bigint[], $21::bigint[], $22::text[], $23::bigint[], \
                         $24::text[], $27::text[]) AS i(id, version, state, next_run_ns, body, zone) \
                     WHERE t.id = i.id \
                     RETURNING t.id), \
                 notified AS (SELECT pg_notify($25, '') WHERE $26::boolean) \
                 SELECT (SELECT count(*) FROM updated), (SELECT count(*) FROM notified)",
                events =
                    events_insert("unnest($16::text[], $17::text[], $18::bigint[], $19::text[])")
            ),
            // The whole batch in one statement, expecting the usual case (no deal of a
            // claimed template stored yet; the deals are inserted without ON CONFLICT, so a
            // stored one fails the statement, and the caller writes the batch again with
            // `claim` and `write`). Templates ($1 id, $2 tenant, $3 expected version, $4..$7
            // the new version, state, next run and body), deals ($8..$14), skipped
            // ($15..$20), invoices ($21..$29), events ($30 their template, $31..$34), $35 the
            // channel, $36 the templates' zones. One row per template: its id, whether it was claimed, whether it
            // exists.
            batch: stmt!(
                "WITH input AS ( \
                     SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], \
                         $4::bigint[], $5::text[], $6::bigint[], $7::text[], $36::text[]) \
                         AS i(id, tenant, expected, version, state, next_run_ns, body, zone)), \
                 claimed AS MATERIALIZED ( \
                     SELECT t.id, t.next_run_ns FROM {templates} t \
                     WHERE t.id = ANY($1::bigint[]) \
                         AND (t.tenant, t.id, t.version) IN \
                             (SELECT tenant, id, expected FROM input) \
                     ORDER BY t.id \
                     FOR UPDATE OF t SKIP LOCKED), \
                 deals AS ( \
                     INSERT INTO {deals} \
                         (template_id, kind, revision, num, tenant, nominal_at_ns, body) \
                     SELECT d.t, d.k, d.r, d.n, d.tenant, d.at, d.body \
                     FROM unnest($8::bigint[], $9::smallint[], $10::bigint[], $11::bigint[], \
                                 $12::text[], $13::bigint[], $14::text[]) \
                         AS d(t, k, r, n, tenant, at, body) \
                     WHERE d.t IN (SELECT id FROM claimed)), \
                 skipped AS ( \
                     INSERT INTO {skipped} (template_id, kind, revision, num, tenant, body) \
                     SELECT s.t, s.k, s.r, s.n, s.tenant, s.body \
                     FROM unnest($15::bigint[], $16::smallint[], $17::bigint[], \
                         $18::bigint[], $19::text[], $20::text[]) \
                         AS s(t, k, r, n, tenant, body) \
                     WHERE s.t IN (SELECT id FROM claimed) \
                     ON CONFLICT DO NOTHING), \
                 invoices AS ( \
                     INSERT INTO {invoices} (template_id, kind, revision, num, tenant, version, \
                         next_reminder_ns, body, overdue_ns) \
                     SELECT v.t, v.k, v.r, v.n, v.tenant, v.version, v.next, v.body, v.overdue \
                     FROM unnest($21::bigint[], $22::smallint[], $23::bigint[], \
                         $24::bigint[], $25::text[], $26::bigint[], $27::bigint[], $28::text[], \
                         $29::bigint[]) \
                         AS v(t, k, r, n, tenant, version, next, body, overdue) \
                     WHERE v.t IN (SELECT id FROM claimed) \
                     ON CONFLICT DO NOTHING), \
                 events AS ( \
                     INSERT INTO {outbox} (tenant, idempotency_key, at_ns, body) \
                     SELECT e.tenant, e.idem, e.at, e.body \
                     FROM unnest($30::bigint[], $31::text[], $32::text[], $33::bigint[], \
                         $34::text[]) WITH ORDINALITY AS e(owner, tenant, idem, at, body, ord) \
                     WHERE e.owner IN (SELECT id FROM claimed) \
                     ORDER BY e.ord), \
                 updated AS ( \
                     UPDATE {templates} t SET version = i.version, state = i.state, \
                         next_run_ns = i.next_run_ns, body = i.body, zone = i.zone \
                     FROM input i \
                     WHERE t.id = i.id AND i.id IN (SELECT id FROM claimed) \
                     RETURNING t.id), \
                 notified AS ( \
                     SELECT pg_notify($35, '') WHERE EXISTS ( \
                         SELECT 1 FROM input i JOIN claimed c ON c.id = i.id \
                         WHERE c.next_run_ns IS DISTINCT FROM i.next_run_ns)) \
                 SELECT i.id, c.id IS NOT NULL, \
                     EXISTS (SELECT 1 FROM {templates} x WHERE x.id = i.id AND x.tenant = i.tenant), \
                     (SELECT count(*) FROM updated), (SELECT count(*) FROM notified) \
                 FROM input i LEFT JOIN claimed c ON c.id = i.id"
            ),
            delete: stmt!(
                "WITH deleted AS ( \
                     DELETE FROM {templates} WHERE tenant = $1 AND id = $2 AND version = $3 \
                     RETURNING id) \
                 SELECT EXISTS (SELECT 1 FROM {templates} WHERE tenant = $1 AND id = $2), \
                     EXISTS (SELECT 1 FROM deleted)"
            ),
            list_count: stmt!(
                "SELECT count(*) FROM {templates} \
                 WHERE tenant = $1 AND ($2::text IS NULL OR state = $2)"
            ),
            list: stmt!(
                "SELECT {TEMPLATE_COLUMNS} FROM {templates} \
                 WHERE tenant = $1 AND ($2::text IS NULL OR state = $2) \
                 AND (NOT $5::boolean \
                      OR ($6::bigint IS NULL AND next_run_ns IS NULL AND id > $7::bigint) \
                      OR ($6::bigint IS NOT NULL AND (next_run_ns IS NULL OR next_run_ns > $6 \
                          OR (next_run_ns = $6 AND id > $7)))) \
                 ORDER BY next_run_ns NULLS LAST, id OFFSET $3 LIMIT $4"
            ),
            deals: stmt!(
                "SELECT {KEYED_COLUMNS} FROM {deals} \
                 WHERE tenant = $1 AND ($2::bigint IS NULL OR template_id = $2) \
                 ORDER BY template_id, nominal_at_ns, kind, revision, num"
            ),
            skipped: stmt!(
                "SELECT {KEYED_COLUMNS} FROM {skipped} \
                 WHERE tenant = $1 AND ($2::bigint IS NULL OR template_id = $2) \
                 ORDER BY kind, template_id, revision, num"
            ),
            // A tenant's overdue invoices after the place ($2, $3 .. $6), at most $7.
            overdue_invoices: stmt!(
                "SELECT {INVOICE_COLUMNS} FROM {invoices} \
                 WHERE tenant = $1 AND overdue_ns IS NOT NULL AND ($2::bigint IS NULL \
                 OR (overdue_ns, template_id, kind, revision, num) \
                     > ($2, $3::bigint, $4::smallint, $5::bigint, $6::bigint)) \
                 ORDER BY overdue_ns, template_id, kind, revision, num LIMIT $7"
            ),
            // $1 tenant, $2..$5 the key, $6 expected version, $7 new version, $8 next
            // reminder, $9 body, $10..$13 the events, $14 the overdue instant.
            commit_invoice: stmt!(
                "WITH updated AS ( \
                     UPDATE {invoices} SET version = $7, next_reminder_ns = $8, body = $9, \
                         overdue_ns = $14 \
                     WHERE tenant = $1 AND {key} AND version = $6 \
                     RETURNING version), \
                 events AS ({events}) \
                 SELECT EXISTS (SELECT 1 FROM {invoices} WHERE tenant = $1 AND {key}), \
                     (SELECT version FROM updated)",
                events = events_insert(
                    "updated, unnest($10::text[], $11::text[], $12::bigint[], $13::text[])"
                )
            ),
            ack: stmt!(
                "DELETE FROM {outbox} WHERE id = ANY($1) AND ($2::text IS NULL OR tenant = $2)"
            ),
        }
    }
}
