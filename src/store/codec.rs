//! The row codec both durable stores share: how a value becomes the columns and JSON body of
//! its row, and how a stored row becomes a value again (or a [`RepositoryError::CorruptRow`]
//! naming it). The backends only move these rows.
//!
//! * Instants are `i64` nanoseconds since the Unix epoch (UTC): one exact, ordered column.
//!   That covers 1677-09-21 to 2262-04-11, which holds every instant the crate produces
//!   (schedules run from 1900 to 2199); an instant outside it is refused, never clamped.
//! * Ids, versions and counters are `u64` in the API and `BIGINT` (SQLite `INTEGER`) in the
//!   tables; a value above `i64::MAX` is refused.
//! * A deal key is four columns, [`DealKey::columns`]: `template_id`, `kind` (0 scheduled, 1
//!   manual), `revision` (0 for manual deals) and `num` (the occurrence's `seq`, or the manual
//!   number), so SQL orders keys as the in-memory store does.
//! * Bodies are the types' serde JSON, as text: templates, deals, skipped occurrences,
//!   invoices whole; an outbox row keeps its tenant, idempotency key and instant as columns
//!   and its [`EventKind`] as the body.
//! * On read, a body must agree with its row's key columns and tenant (a template body naming
//!   another tenant is corrupt, not another tenant's template).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Commit, CommitOutcome, RepositoryError, StateFilter};
use crate::event::{EventKind, NewEvent, OutboxEvent};
use crate::ids::{DealKey, TemplateId, TenantId};
use crate::invoice::{Invoice, OverduePosition};
use crate::planner::{CreatedDeal, SkippedOccurrence};
use crate::template::Template;

/// Table names (without the prefix or schema), as [`RepositoryError::CorruptRow`] names them.
pub(crate) mod table {
    pub(crate) const TEMPLATES: &str = "templates";
    pub(crate) const DEALS: &str = "deals";
    pub(crate) const SKIPPED: &str = "skipped";
    pub(crate) const INVOICES: &str = "invoices";
    pub(crate) const OUTBOX: &str = "outbox";
    pub(crate) const ZONE_RULES: &str = "zone_rules";
}

/// Reports a stored row that a listing skipped because it cannot be decoded. The one place
/// where the stores log corrupt rows.
pub(crate) fn skipped_corrupt_row(error: &RepositoryError) {
    // Written straight to stderr until the crate logs through `tracing`.
    eprintln!("recurring-deals: skipped {error}");
}

/// Decodes a listing's rows, skipping (and reporting) the corrupt ones.
pub(crate) fn decode_all<R, T>(
    rows: impl IntoIterator<Item = R>,
    decode: impl Fn(R) -> Result<T, RepositoryError>,
) -> Vec<T> {
    rows.into_iter()
        .filter_map(|row| match decode(row) {
            Ok(value) => Some(value),
            Err(error) => {
                skipped_corrupt_row(&error);
                None
            }
        })
        .collect()
}

/// Decodes up to `limit` rows of a page read `want` rows long, skipping corrupt ones (and
/// reporting them). `Err(longer)` when corrupt rows were skipped from a full page, so a
/// longer page (`longer` rows) may hold more readable ones: read it and call again.
pub(crate) fn readable<R, T>(
    rows: Vec<R>,
    want: usize,
    limit: usize,
    decode: impl Fn(R) -> Result<T, RepositoryError>,
) -> Result<Vec<T>, usize> {
    let fetched = rows.len();
    let mut bad = Vec::new();
    let mut good = Vec::with_capacity(fetched);
    for row in rows {
        match decode(row) {
            Ok(value) => good.push(value),
            Err(e) => bad.push(e),
        }
    }
    if good.len() >= limit || fetched < want || bad.is_empty() {
        bad.iter().for_each(skipped_corrupt_row);
        good.truncate(limit);
        return Ok(good);
    }
    Err(want.saturating_add(bad.len()))
}

/// An instant as stored: nanoseconds since the Unix epoch.
///
/// # Errors
/// [`RepositoryError::Refused`] for an instant outside 1677-09-21..2262-04-11.
pub(crate) fn instant(at: DateTime<Utc>) -> Result<i64, RepositoryError> {
    at.timestamp_nanos_opt()
        .ok_or_else(|| RepositoryError::Refused {
            reason: format!("instant {at} is outside the storable years 1677 to 2262"),
        })
}

/// An optional instant as stored.
pub(crate) fn optional_instant(at: Option<DateTime<Utc>>) -> Result<Option<i64>, RepositoryError> {
    at.map(instant).transpose()
}

/// A keyset position of the template listing as SQL parameters: whether there is one (1 or
/// 0), its next run in nanoseconds (NULL: none) and its id.
pub(crate) fn list_position(
    after: Option<crate::store::ListPosition>,
) -> Result<(i64, Option<i64>, i64), RepositoryError> {
    let Some(after) = after else {
        return Ok((0, None, 0));
    };
    let id = i64::try_from(after.id.0).unwrap_or(i64::MAX);
    Ok((1, optional_instant(after.next_run)?, id))
}

/// A stored instant.
pub(crate) fn instant_from(nanos: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(nanos)
}

/// A count, limit or offset as SQL's integer (large ones saturate: "all").
pub(crate) fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A `u64` as a `BIGINT` column.
///
/// # Errors
/// [`RepositoryError::Refused`] above `i64::MAX`.
pub(crate) fn int(value: u64, what: &str) -> Result<i64, RepositoryError> {
    i64::try_from(value).map_err(|_| RepositoryError::Refused {
        reason: format!("{what} {value} does not fit a BIGINT column"),
    })
}

fn to_json<T: Serialize + ?Sized>(value: &T, what: &str) -> Result<String, RepositoryError> {
    serde_json::to_string(value).map_err(|e| RepositoryError::Refused {
        reason: format!("cannot encode {what} as JSON: {e}"),
    })
}

pub(crate) fn corrupt(
    table: &'static str,
    key: impl ToString,
    reason: impl ToString,
) -> RepositoryError {
    RepositoryError::CorruptRow {
        table,
        key: key.to_string(),
        reason: reason.to_string(),
    }
}

fn from_json<T: DeserializeOwned>(
    body: &str,
    table: &'static str,
    key: &dyn std::fmt::Display,
) -> Result<T, RepositoryError> {
    serde_json::from_str(body).map_err(|e| corrupt(table, key, format!("unreadable body: {e}")))
}

fn version_of(
    version: i64,
    table: &'static str,
    key: &dyn std::fmt::Display,
) -> Result<u64, RepositoryError> {
    u64::try_from(version).map_err(|_| corrupt(table, key, format!("negative version {version}")))
}

/// The key columns of a deal, skipped occurrence or invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Key {
    pub(crate) template: i64,
    pub(crate) kind: i16,
    pub(crate) revision: i64,
    pub(crate) num: i64,
}

impl Key {
    /// The columns of `key`.
    ///
    /// # Errors
    /// [`RepositoryError::Refused`] when a number does not fit a `BIGINT`.
    pub(crate) fn of(key: DealKey) -> Result<Key, RepositoryError> {
        let (template, kind, revision, num) = key.columns();
        let num_name = match key {
            DealKey::Scheduled { .. } => "occurrence seq",
            DealKey::Manual { .. } => "manual number",
        };
        Ok(Key {
            template: int(template, "template id")?,
            kind: i16::from(kind),
            revision: i64::from(revision),
            num: int(num, num_name)?,
        })
    }

    /// The deal key of stored columns.
    pub(crate) fn decode(self, table: &'static str) -> Result<DealKey, RepositoryError> {
        let bad = |what: &str| {
            corrupt(
                table,
                format_args!(
                    "{}:{}:{}:{}",
                    self.template, self.kind, self.revision, self.num
                ),
                format!("bad key column {what}"),
            )
        };
        let template = TemplateId(u64::try_from(self.template).map_err(|_| bad("template_id"))?);
        let num = u64::try_from(self.num).map_err(|_| bad("num"))?;
        match self.kind {
            0 => Ok(DealKey::Scheduled {
                template,
                revision: u32::try_from(self.revision).map_err(|_| bad("revision"))?,
                seq: num,
            }),
            1 => Ok(DealKey::Manual {
                template,
                number: num,
            }),
            _ => Err(bad("kind")),
        }
    }
}

/// A `templates` row: `id, tenant, version, state, next_run_ns, body`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TemplateRow {
    pub(crate) id: i64,
    pub(crate) tenant: String,
    pub(crate) version: i64,
    pub(crate) state: &'static str,
    pub(crate) next_run_ns: Option<i64>,
    pub(crate) body: String,
    /// The IANA name of the schedule's zone (the `zone` column).
    pub(crate) zone: &'static str,
}

impl TemplateRow {
    /// The row of `template`, as it is (its version included).
    pub(crate) fn encode(template: &Template) -> Result<TemplateRow, RepositoryError> {
        Ok(TemplateRow {
            id: int(template.id.0, "template id")?,
            tenant: template.tenant.as_str().to_owned(),
            version: int(template.version, "template version")?,
            state: StateFilter::of(&template.state).name(),
            next_run_ns: optional_instant(template.next_run)?,
            body: to_json(template, "a template")?,
            zone: template.schedule.zone().name(),
        })
    }
}

/// Decodes a stored template row `(id, tenant, version, body)`: the body must be the row's
/// template (same id, same tenant); the version column wins over the body's.
///
/// # Errors
/// [`RepositoryError::CorruptRow`] naming the template.
pub(crate) fn decode_template(
    id: i64,
    tenant: &str,
    version: i64,
    body: &str,
) -> Result<Template, RepositoryError> {
    let key = format_args!("T{id} of tenant {tenant}");
    let mut template: Template = from_json(body, table::TEMPLATES, &key)?;
    if i64::try_from(template.id.0).ok() != Some(id) || template.tenant.as_str() != tenant {
        return Err(corrupt(
            table::TEMPLATES,
            key,
            format!(
                "its body is template {} of tenant {}",
                template.id, template.tenant
            ),
        ));
    }
    template.version = version_of(version, table::TEMPLATES, &key)?;
    Ok(template)
}

/// A `deals` row: the key, `tenant, nominal_at_ns, body`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DealRow {
    pub(crate) key: Key,
    pub(crate) tenant: String,
    pub(crate) nominal_at_ns: i64,
    pub(crate) body: String,
}

impl DealRow {
    pub(crate) fn encode(deal: &CreatedDeal) -> Result<DealRow, RepositoryError> {
        Ok(DealRow {
            key: Key::of(deal.key)?,
            tenant: deal.tenant.as_str().to_owned(),
            nominal_at_ns: instant(deal.nominal_at)?,
            body: to_json(deal, "a deal")?,
        })
    }
}

/// Checks that a keyed body is its row's: same key, same tenant.
fn keyed<T>(
    value: T,
    table: &'static str,
    row_key: DealKey,
    row_tenant: &str,
    body_key: DealKey,
    body_tenant: &TenantId,
) -> Result<T, RepositoryError> {
    if body_key != row_key || body_tenant.as_str() != row_tenant {
        return Err(corrupt(
            table,
            row_key,
            format!("its body is {body_key} of tenant {body_tenant}"),
        ));
    }
    Ok(value)
}

/// Decodes a stored deal row `(key, tenant, body)`.
pub(crate) fn decode_deal(
    key: Key,
    tenant: &str,
    body: &str,
) -> Result<CreatedDeal, RepositoryError> {
    let row_key = key.decode(table::DEALS)?;
    let deal: CreatedDeal = from_json(body, table::DEALS, &row_key)?;
    let (k, t) = (deal.key, deal.tenant.clone());
    keyed(deal, table::DEALS, row_key, tenant, k, &t)
}

/// A `skipped` row: the key, `tenant, body`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SkippedRow {
    pub(crate) key: Key,
    pub(crate) tenant: String,
    pub(crate) body: String,
}

impl SkippedRow {
    pub(crate) fn encode(skip: &SkippedOccurrence) -> Result<SkippedRow, RepositoryError> {
        Ok(SkippedRow {
            key: Key::of(skip.key)?,
            tenant: skip.tenant.as_str().to_owned(),
            body: to_json(skip, "a skipped occurrence")?,
        })
    }
}

/// Decodes a stored skipped-occurrence row `(key, tenant, body)`.
pub(crate) fn decode_skipped(
    key: Key,
    tenant: &str,
    body: &str,
) -> Result<SkippedOccurrence, RepositoryError> {
    let row_key = key.decode(table::SKIPPED)?;
    let skip: SkippedOccurrence = from_json(body, table::SKIPPED, &row_key)?;
    let (k, t) = (skip.key, skip.tenant.clone());
    keyed(skip, table::SKIPPED, row_key, tenant, k, &t)
}

/// An `invoices` row: its deal's key, `tenant, version, next_reminder_ns, body`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InvoiceRow {
    pub(crate) key: Key,
    pub(crate) tenant: String,
    pub(crate) version: i64,
    pub(crate) next_reminder_ns: Option<i64>,
    pub(crate) body: String,
    /// When it became overdue, while it is open (schema version 3).
    pub(crate) overdue_ns: Option<i64>,
}

impl InvoiceRow {
    pub(crate) fn encode(invoice: &Invoice) -> Result<InvoiceRow, RepositoryError> {
        Ok(InvoiceRow {
            key: Key::of(invoice.deal)?,
            tenant: invoice.tenant.as_str().to_owned(),
            version: int(invoice.version, "invoice version")?,
            next_reminder_ns: optional_instant(invoice.next_reminder())?,
            body: to_json(invoice, "an invoice")?,
            overdue_ns: optional_instant(invoice.overdue_since.filter(|_| invoice.is_overdue()))?,
        })
    }
}

/// A place in a tenant's overdue invoices, as columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OverdueKey {
    pub(crate) overdue_ns: i64,
    pub(crate) key: Key,
}

impl OverdueKey {
    pub(crate) fn of(place: OverduePosition) -> Result<OverdueKey, RepositoryError> {
        Ok(OverdueKey {
            overdue_ns: instant(place.overdue_since)?,
            key: Key::of(place.deal)?,
        })
    }
}

/// Decodes a stored invoice row `(key, tenant, version, body)`; the version column wins.
pub(crate) fn decode_invoice(
    key: Key,
    tenant: &str,
    version: i64,
    body: &str,
) -> Result<Invoice, RepositoryError> {
    let row_key = key.decode(table::INVOICES)?;
    let mut invoice: Invoice = from_json(body, table::INVOICES, &row_key)?;
    invoice.version = version_of(version, table::INVOICES, &row_key)?;
    let (k, t) = (invoice.deal, invoice.tenant.clone());
    keyed(invoice, table::INVOICES, row_key, tenant, k, &t)
}

/// An `outbox` row before the store numbers it: `tenant, idempotency_key, at_ns, body` (the
/// body is the [`EventKind`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EventRow {
    pub(crate) tenant: String,
    pub(crate) idempotency_key: String,
    pub(crate) at_ns: i64,
    pub(crate) body: String,
}

impl EventRow {
    pub(crate) fn encode(event: &NewEvent) -> Result<EventRow, RepositoryError> {
        Ok(EventRow {
            tenant: event.tenant.as_str().to_owned(),
            idempotency_key: event.idempotency_key.clone(),
            at_ns: instant(event.at)?,
            body: to_json(&event.kind, "an event")?,
        })
    }
}

/// Decodes a stored outbox row `(id, tenant, idempotency_key, at_ns, body)`.
pub(crate) fn decode_event(
    id: i64,
    tenant: String,
    idempotency_key: String,
    at_ns: i64,
    body: &str,
) -> Result<OutboxEvent, RepositoryError> {
    let tenant = TenantId::new(tenant).map_err(|e| corrupt(table::OUTBOX, id, e))?;
    let kind: EventKind = from_json(body, table::OUTBOX, &id)?;
    Ok(OutboxEvent {
        id: u64::try_from(id).map_err(|_| corrupt(table::OUTBOX, id, "negative id"))?,
        tenant,
        idempotency_key,
        at: instant_from(at_ns),
        kind,
        attempts: 0,
        retry_at: None,
    })
}

/// A template commit encoded for writing: the rows of [`Commit`], the template row carrying
/// its new version, and the expected (stored) version.
#[derive(Debug, Clone)]
pub(crate) struct EncodedCommit {
    commit: Commit,
    pub(crate) expected: i64,
    pub(crate) version: u64,
    pub(crate) template: TemplateRow,
    pub(crate) deals: Vec<DealRow>,
    pub(crate) skipped: Vec<SkippedRow>,
    pub(crate) invoices: Vec<InvoiceRow>,
    pub(crate) events: Vec<EventRow>,
}

impl EncodedCommit {
    /// Checks ([`Commit::check_rows`]) and encodes a commit. A deal key repeated within the
    /// commit is written once.
    ///
    /// # Errors
    /// [`RepositoryError::Refused`] for rows of another template or tenant, or values the
    /// tables cannot hold.
    pub(crate) fn new(commit: Commit) -> Result<EncodedCommit, RepositoryError> {
        commit.check_rows()?;
        let expected = int(commit.template.version, "template version")?;
        let version =
            commit
                .template
                .version
                .checked_add(1)
                .ok_or_else(|| RepositoryError::Refused {
                    reason: format!("template {} version overflows", commit.template.id),
                })?;
        let mut template = commit.template.clone();
        template.version = version;
        let mut encoded = EncodedCommit {
            expected,
            version,
            template: TemplateRow::encode(&template)?,
            deals: Vec::new(),
            skipped: Vec::new(),
            invoices: Vec::new(),
            events: Vec::new(),
            commit,
        };
        encoded.encode_rows()?;
        Ok(encoded)
    }

    /// The commit's deal keys, in order.
    fn deal_keys(&self) -> impl Iterator<Item = DealKey> + '_ {
        self.commit.deals.iter().map(|d| d.key)
    }

    /// Applies [`Commit::drop_already_created`] for keys found stored, and re-encodes the
    /// rows that remain (nothing happens when `already_created` is empty, the usual case).
    fn drop_already_created(&mut self, already_created: &[DealKey]) -> Result<(), RepositoryError> {
        if already_created.is_empty() {
            return Ok(());
        }
        self.commit.drop_already_created(already_created);
        self.encode_rows()
    }

    /// Keeps the deals the store just inserted (`inserted`, their key columns) and drops
    /// the others, stored already, with [`Commit::drop_already_created`]: their keys, each
    /// once, in the commit's order.
    pub(crate) fn keep_inserted(
        &mut self,
        inserted: &std::collections::HashSet<Key>,
    ) -> Result<Vec<DealKey>, RepositoryError> {
        let mut seen = std::collections::BTreeSet::new();
        let keys: Vec<DealKey> = self
            .deal_keys()
            .filter(|&k| seen.insert(k))
            .filter(|&k| Key::of(k).is_ok_and(|cols| !inserted.contains(&cols)))
            .collect();
        self.drop_already_created(&keys)?;
        Ok(keys)
    }

    /// The outcome once written.
    pub(crate) fn committed(&self, already_created: Vec<DealKey>) -> CommitOutcome {
        CommitOutcome::Committed {
            version: self.version,
            already_created,
        }
    }

    fn encode_rows(&mut self) -> Result<(), RepositoryError> {
        let mut seen = std::collections::HashSet::with_capacity(self.commit.deals.len());
        self.deals = self
            .commit
            .deals
            .iter()
            .filter(|d| seen.insert(d.key))
            .map(DealRow::encode)
            .collect::<Result<_, _>>()?;
        self.skipped = self
            .commit
            .skipped
            .iter()
            .map(SkippedRow::encode)
            .collect::<Result<_, _>>()?;
        self.invoices = self
            .commit
            .invoices
            .iter()
            .map(InvoiceRow::encode)
            .collect::<Result<_, _>>()?;
        self.events = self
            .commit
            .events
            .iter()
            .map(EventRow::encode)
            .collect::<Result<_, _>>()?;
        Ok(())
    }
}

/// A batch of commits on its way to a store: those that encoded, to write together, and a
/// slot for each commit's outcome (one that could not be encoded has failed, alone).
#[derive(Debug)]
pub(crate) struct Batch {
    pub(crate) ready: Vec<EncodedCommit>,
    outcomes: Vec<Option<Result<CommitOutcome, RepositoryError>>>,
    slots: Vec<usize>,
}

impl Batch {
    /// Encodes each commit on its own.
    pub(crate) fn encode(commits: Vec<Commit>) -> Batch {
        let mut batch = Batch {
            ready: Vec::with_capacity(commits.len()),
            outcomes: Vec::with_capacity(commits.len()),
            slots: Vec::with_capacity(commits.len()),
        };
        for commit in commits {
            match EncodedCommit::new(commit) {
                Ok(commit) => {
                    batch.slots.push(batch.outcomes.len());
                    batch.outcomes.push(None);
                    batch.ready.push(commit);
                }
                Err(e) => batch.outcomes.push(Some(Err(e))),
            }
        }
        batch
    }

    /// Every commit's outcome, in the batch's order, given what writing [`Batch::ready`]
    /// gave: an outcome each, or one error for all (the transaction rolled back: nothing of
    /// the batch was written).
    pub(crate) fn outcomes(
        mut self,
        written: Result<Vec<CommitOutcome>, RepositoryError>,
    ) -> Vec<Result<CommitOutcome, RepositoryError>> {
        match written {
            Ok(written) => {
                for (slot, outcome) in self.slots.into_iter().zip(written) {
                    self.outcomes[slot] = Some(Ok(outcome));
                }
            }
            Err(e) => {
                for slot in self.slots {
                    self.outcomes[slot] = Some(Err(e.clone()));
                }
            }
        }
        self.outcomes
            .into_iter()
            .map(|o| o.unwrap_or_else(|| Err(no_outcome())))
            .collect()
    }
}

/// The error for a commit the store wrote but gave no outcome for (a bug).
pub(crate) fn no_outcome() -> RepositoryError {
    RepositoryError::Database(std::sync::Arc::new(std::io::Error::other(
        "the store produced no outcome for a commit",
    )))
}

/// An invoice commit encoded for writing: the row with the new version, the expected one,
/// and the events.
#[derive(Debug, Clone)]
pub(crate) struct EncodedInvoice {
    pub(crate) expected: i64,
    pub(crate) version: u64,
    pub(crate) row: InvoiceRow,
    pub(crate) events: Vec<EventRow>,
}

impl EncodedInvoice {
    pub(crate) fn new(
        mut invoice: Invoice,
        events: &[NewEvent],
    ) -> Result<EncodedInvoice, RepositoryError> {
        let expected = int(invoice.version, "invoice version")?;
        let version = invoice
            .version
            .checked_add(1)
            .ok_or_else(|| RepositoryError::Refused {
                reason: format!("invoice of deal {} version overflows", invoice.deal),
            })?;
        invoice.version = version;
        Ok(EncodedInvoice {
            expected,
            version,
            row: InvoiceRow::encode(&invoice)?,
            events: events
                .iter()
                .map(EventRow::encode)
                .collect::<Result<_, _>>()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn instants_of_the_supported_years_fit_and_round_trip() {
        for at in [
            Utc.with_ymd_and_hms(1900, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2199, 12, 31, 23, 59, 59).unwrap()
                + chrono::TimeDelta::nanoseconds(999_999_999),
            Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0).unwrap(),
        ] {
            let stored = instant(at).unwrap();
            assert_eq!(instant_from(stored), at);
        }
        let early = Utc.with_ymd_and_hms(1900, 1, 1, 0, 0, 0).unwrap();
        let late = Utc.with_ymd_and_hms(2199, 1, 1, 0, 0, 0).unwrap();
        assert!(instant(early).unwrap() < instant(late).unwrap());
        let beyond = Utc.with_ymd_and_hms(2300, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(instant(beyond).unwrap_err().kind(), "refused");
    }

    #[test]
    fn keys_round_trip_and_bad_columns_are_corrupt() {
        let keys = [
            DealKey::Scheduled {
                template: TemplateId(7),
                revision: 3,
                seq: 11,
            },
            DealKey::Manual {
                template: TemplateId(7),
                number: 2,
            },
        ];
        for key in keys {
            assert_eq!(Key::of(key).unwrap().decode("deals").unwrap(), key);
        }
        let bad = Key {
            template: 1,
            kind: 5,
            revision: 0,
            num: 0,
        };
        assert_eq!(bad.decode("deals").unwrap_err().kind(), "corrupt_row");
        assert!(
            Key::of(DealKey::Manual {
                template: TemplateId(u64::MAX),
                number: 0
            })
            .is_err()
        );
    }
}
