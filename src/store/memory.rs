//! The in-memory repository: the embedded default and the test double.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Utc};

use super::{
    Commit, CommitOutcome, DeadLetter, DeliveryFailure, ListPosition, OutboxHead, Page,
    PlannedZone, RecordedRules, Repository, RepositoryError, Scan, Share, TemplateQuery,
};
use crate::event::{NewEvent, OutboxEvent};
use crate::ids::{DealKey, TemplateId, TenantId};
use crate::invoice::{Invoice, OverduePosition};
use crate::planner::{CreatedDeal, SkippedOccurrence};
use crate::template::{Template, TemplateState};

/// A thread-safe repository in memory. One mutex guards everything, which makes every commit
/// trivially atomic; ticks hold it only for index look-ups and writes, never while planning.
///
/// ```
/// use recurring_deals::{InMemoryRepository, Repository};
///
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let repository = InMemoryRepository::new();
/// assert!(repository.outbox(10).await?.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct InMemoryRepository {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    last_template_id: u64,
    templates: HashMap<TemplateId, Template>,
    /// `(next_run, id)` of every template with a next run: the due index.
    due: BTreeSet<(DateTime<Utc>, TemplateId)>,
    by_tenant: HashMap<TenantId, BTreeSet<TemplateId>>,
    deals: HashMap<DealKey, CreatedDeal>,
    skipped: HashMap<DealKey, SkippedOccurrence>,
    invoices: HashMap<DealKey, Invoice>,
    /// `(next reminder, deal)` of every open invoice with one pending.
    reminders: BTreeSet<(DateTime<Utc>, DealKey)>,
    /// Every overdue invoice by tenant and place in the overdue list.
    overdue: BTreeSet<(TenantId, OverdueOrder, DealKey)>,
    outbox: BTreeMap<u64, OutboxEvent>,
    /// Dead letters, out of `outbox`, by id.
    dead: BTreeMap<u64, DeadLetter>,
    last_event_id: u64,
    /// The templates with a next run, by their schedule's zone: the zone index.
    by_zone: BTreeMap<&'static str, BTreeSet<TemplateId>>,
    /// The zone rules recorded per zone.
    zone_rules: HashMap<String, RecordedRules>,
}

impl InMemoryRepository {
    /// An empty repository.
    pub fn new() -> InMemoryRepository {
        InMemoryRepository::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every write completes before the guard drops, so a poisoned state is still whole.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// [`OverduePosition::sort_key`].
type OverdueOrder = (DateTime<Utc>, u64, u8, u32, u64);

fn overdue_place(invoice: &Invoice) -> Option<(TenantId, OverdueOrder, DealKey)> {
    let place = OverduePosition::of(invoice).filter(|_| invoice.is_overdue())?;
    Some((invoice.tenant.clone(), place.sort_key(), invoice.deal))
}

impl State {
    fn index(&mut self, template: &Template) {
        if let Some(at) = template.next_run {
            self.due.insert((at, template.id));
            let zone = template.schedule.zone().name();
            self.by_zone.entry(zone).or_default().insert(template.id);
        }
    }

    fn unindex(&mut self, template: &Template) {
        if let Some(at) = template.next_run {
            self.due.remove(&(at, template.id));
            let zone = template.schedule.zone().name();
            if let Some(ids) = self.by_zone.get_mut(zone) {
                ids.remove(&template.id);
                if ids.is_empty() {
                    self.by_zone.remove(zone);
                }
            }
        }
    }

    fn push_events(&mut self, events: Vec<NewEvent>) {
        for event in events {
            self.last_event_id += 1;
            let id = self.last_event_id;
            self.outbox.insert(id, event.into_outbox(id));
        }
    }

    fn put_invoice(&mut self, invoice: Invoice) {
        if let Some(old) = self.invoices.get(&invoice.deal)
            && let Some(at) = old.next_reminder()
        {
            self.reminders.remove(&(at, old.deal));
        }
        if let Some(old) = self.invoices.get(&invoice.deal)
            && let Some(place) = overdue_place(old)
        {
            self.overdue.remove(&place);
        }
        if let Some(at) = invoice.next_reminder() {
            self.reminders.insert((at, invoice.deal));
        }
        if let Some(place) = overdue_place(&invoice) {
            self.overdue.insert(place);
        }
        self.invoices.insert(invoice.deal, invoice);
    }

    fn owned(&self, tenant: &TenantId, id: TemplateId) -> Option<&Template> {
        self.templates.get(&id).filter(|t| &t.tenant == tenant)
    }
}

impl Repository for InMemoryRepository {
    async fn allocate_template_id(&self) -> Result<TemplateId, RepositoryError> {
        let mut state = self.lock();
        state.last_template_id += 1;
        Ok(TemplateId(state.last_template_id))
    }

    async fn insert_template(&self, template: &Template) -> Result<(), RepositoryError> {
        let mut state = self.lock();
        if state.templates.contains_key(&template.id) {
            return Err(RepositoryError::Refused {
                reason: format!("template {} already exists", template.id),
            });
        }
        state.index(template);
        state
            .by_tenant
            .entry(template.tenant.clone())
            .or_default()
            .insert(template.id);
        state.templates.insert(template.id, template.clone());
        Ok(())
    }

    async fn template(
        &self,
        tenant: &TenantId,
        id: TemplateId,
    ) -> Result<Option<Template>, RepositoryError> {
        Ok(self.lock().owned(tenant, id).cloned())
    }

    async fn due_share(
        &self,
        now: DateTime<Utc>,
        share: Share,
        limit: usize,
    ) -> Result<Vec<Template>, RepositoryError> {
        let state = self.lock();
        Ok(state
            .due
            .iter()
            .take_while(|(at, _)| *at <= now)
            .filter(|(_, id)| share.contains(*id))
            .take(limit)
            .filter_map(|(_, id)| state.templates.get(id).cloned())
            .collect())
    }

    async fn next_wake_share(
        &self,
        share: Share,
    ) -> Result<Option<DateTime<Utc>>, RepositoryError> {
        let state = self.lock();
        let template = (state.due.iter())
            .find(|(_, id)| share.contains(*id))
            .map(|(at, _)| *at);
        let reminder = state.reminders.first().map(|(at, _)| *at);
        Ok(template.into_iter().chain(reminder).min())
    }

    async fn commit(&self, commit: Commit) -> Result<CommitOutcome, RepositoryError> {
        commit.check_rows()?;
        let mut state = self.lock();
        let Commit {
            mut template,
            deals,
            skipped,
            invoices,
            events,
        } = commit;
        let Some(stored) = state.owned(&template.tenant, template.id).cloned() else {
            return Ok(CommitOutcome::Missing);
        };
        if stored.version != template.version {
            return Ok(CommitOutcome::Conflict);
        }
        let already_created: Vec<DealKey> = deals
            .iter()
            .map(|d| d.key)
            .filter(|key| state.deals.contains_key(key))
            .collect();
        let mut rows = Commit {
            template: template.clone(),
            deals,
            skipped,
            invoices,
            events,
        };
        rows.drop_already_created(&already_created);
        for deal in rows.deals {
            state.deals.insert(deal.key, deal);
        }
        for skip in rows.skipped {
            state.skipped.entry(skip.key).or_insert(skip);
        }
        for invoice in rows.invoices {
            if !state.invoices.contains_key(&invoice.deal) {
                state.put_invoice(invoice);
            }
        }
        state.push_events(rows.events);
        state.unindex(&stored);
        template.version = stored.version + 1;
        state.index(&template);
        let version = template.version;
        state.templates.insert(template.id, template);
        Ok(CommitOutcome::Committed {
            version,
            already_created,
        })
    }

    async fn delete_template(
        &self,
        tenant: &TenantId,
        id: TemplateId,
        version: u64,
    ) -> Result<CommitOutcome, RepositoryError> {
        let mut state = self.lock();
        let Some(stored) = state.owned(tenant, id).cloned() else {
            return Ok(CommitOutcome::Missing);
        };
        if stored.version != version {
            return Ok(CommitOutcome::Conflict);
        }
        state.unindex(&stored);
        state.templates.remove(&id);
        if let Some(ids) = state.by_tenant.get_mut(tenant) {
            ids.remove(&id);
        }
        Ok(CommitOutcome::Committed {
            version: version + 1,
            already_created: Vec::new(),
        })
    }

    async fn list_templates(
        &self,
        tenant: &TenantId,
        query: &TemplateQuery,
    ) -> Result<Page<Template>, RepositoryError> {
        let state = self.lock();
        let mut matching: Vec<&Template> = state
            .by_tenant
            .get(tenant)
            .into_iter()
            .flatten()
            .filter_map(|id| state.templates.get(id))
            .filter(|t| query.state.is_none_or(|f| f.matches(&t.state)))
            .collect();
        matching.sort_by_key(|t| ListPosition::of(t).sort_key());
        let limit = if query.limit == 0 { 50 } else { query.limit };
        Ok(Page {
            total: matching.len(),
            items: matching
                .into_iter()
                .filter(|t| {
                    query
                        .after
                        .is_none_or(|after| ListPosition::of(t).sort_key() > after.sort_key())
                })
                .skip(query.offset)
                .take(limit)
                .cloned()
                .collect(),
        })
    }

    async fn scan_templates(
        &self,
        tenant: &TenantId,
        after: Option<TemplateId>,
        limit: usize,
    ) -> Result<Scan, RepositoryError> {
        let state = self.lock();
        let Some(ids) = state.by_tenant.get(tenant) else {
            return Ok(Scan::default());
        };
        let start = match after {
            Some(after) => std::ops::Bound::Excluded(after),
            None => std::ops::Bound::Unbounded,
        };
        let ids: Vec<TemplateId> = ids
            .range((start, std::ops::Bound::Unbounded))
            .take(limit)
            .copied()
            .collect();
        Ok(Scan {
            next: ids.last().copied().filter(|_| ids.len() == limit),
            items: (ids.iter())
                .filter_map(|id| state.templates.get(id).cloned())
                .collect(),
        })
    }

    async fn count_live(&self, tenant: &TenantId) -> Result<u64, RepositoryError> {
        let state = self.lock();
        Ok(state
            .by_tenant
            .get(tenant)
            .into_iter()
            .flatten()
            .filter_map(|id| state.templates.get(id))
            .filter(|t| {
                matches!(
                    t.state,
                    TemplateState::Active | TemplateState::Paused { .. }
                )
            })
            .count() as u64)
    }

    async fn planned_zones(&self) -> Result<Vec<PlannedZone>, RepositoryError> {
        let state = self.lock();
        Ok(state
            .by_zone
            .iter()
            .map(|(zone, ids)| PlannedZone {
                zone: Some((*zone).to_owned()),
                recorded: state.zone_rules.get(*zone).cloned(),
                templates: ids.len() as u64,
            })
            .collect())
    }

    async fn zone_templates(
        &self,
        zone: Option<&str>,
        after: Option<TemplateId>,
        limit: usize,
    ) -> Result<Scan, RepositoryError> {
        let state = self.lock();
        // Every template here has its zone: none was written before zones were kept.
        let Some(ids) = zone.and_then(|zone| state.by_zone.get(zone)) else {
            return Ok(Scan::default());
        };
        let start = match after {
            Some(after) => std::ops::Bound::Excluded(after),
            None => std::ops::Bound::Unbounded,
        };
        let ids: Vec<TemplateId> = ids
            .range((start, std::ops::Bound::Unbounded))
            .take(limit)
            .copied()
            .collect();
        Ok(Scan {
            next: ids.last().copied().filter(|_| ids.len() == limit),
            items: (ids.iter())
                .filter_map(|id| state.templates.get(id).cloned())
                .collect(),
        })
    }

    async fn record_zone_rules(
        &self,
        zone: &str,
        expected: Option<u64>,
        rules: &RecordedRules,
    ) -> Result<bool, RepositoryError> {
        let mut state = self.lock();
        let recorded = state.zone_rules.get(zone).map(|r| r.fingerprint);
        if recorded != expected {
            return Ok(false);
        }
        state.zone_rules.insert(zone.to_owned(), rules.clone());
        Ok(true)
    }

    async fn deals(
        &self,
        tenant: &TenantId,
        template: Option<TemplateId>,
    ) -> Result<Vec<CreatedDeal>, RepositoryError> {
        let state = self.lock();
        let mut deals: Vec<CreatedDeal> = state
            .deals
            .values()
            .filter(|d| &d.tenant == tenant && template.is_none_or(|t| d.key.template() == t))
            .cloned()
            .collect();
        deals.sort_by_key(|d| (d.key.template(), d.nominal_at, d.key));
        Ok(deals)
    }

    async fn deal(
        &self,
        tenant: &TenantId,
        key: DealKey,
    ) -> Result<Option<CreatedDeal>, RepositoryError> {
        Ok(self
            .lock()
            .deals
            .get(&key)
            .filter(|d| &d.tenant == tenant)
            .cloned())
    }

    async fn skipped(
        &self,
        tenant: &TenantId,
        template: Option<TemplateId>,
    ) -> Result<Vec<SkippedOccurrence>, RepositoryError> {
        let state = self.lock();
        let mut skipped: Vec<SkippedOccurrence> = state
            .skipped
            .values()
            .filter(|s| &s.tenant == tenant && template.is_none_or(|t| s.key.template() == t))
            .cloned()
            .collect();
        skipped.sort_by_key(|s| s.key);
        Ok(skipped)
    }

    async fn invoice(
        &self,
        tenant: &TenantId,
        deal: DealKey,
    ) -> Result<Option<Invoice>, RepositoryError> {
        Ok(self
            .lock()
            .invoices
            .get(&deal)
            .filter(|i| &i.tenant == tenant)
            .cloned())
    }

    async fn due_invoices(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Invoice>, RepositoryError> {
        let state = self.lock();
        Ok(state
            .reminders
            .iter()
            .take_while(|(at, _)| *at <= now)
            .take(limit)
            .filter_map(|(_, key)| state.invoices.get(key).cloned())
            .collect())
    }

    async fn overdue_invoices(
        &self,
        tenant: &TenantId,
        after: Option<OverduePosition>,
        limit: usize,
    ) -> Result<Vec<Invoice>, RepositoryError> {
        use std::ops::Bound;
        let state = self.lock();
        let start = match after {
            Some(place) => Bound::Excluded((tenant.clone(), place.sort_key(), place.deal)),
            None => {
                let first = (DateTime::<Utc>::MIN_UTC, 0, 0, 0, 0);
                let key = DealKey::Manual {
                    template: TemplateId(0),
                    number: 0,
                };
                Bound::Included((tenant.clone(), first, key))
            }
        };
        Ok(state
            .overdue
            .range((start, Bound::Unbounded))
            .take_while(|(t, _, _)| t == tenant)
            .take(limit)
            .filter_map(|(_, _, key)| state.invoices.get(key).cloned())
            .collect())
    }

    async fn commit_invoice(
        &self,
        mut invoice: Invoice,
        events: Vec<NewEvent>,
    ) -> Result<CommitOutcome, RepositoryError> {
        let mut state = self.lock();
        let Some(stored) = state
            .invoices
            .get(&invoice.deal)
            .filter(|i| i.tenant == invoice.tenant)
        else {
            return Ok(CommitOutcome::Missing);
        };
        if stored.version != invoice.version {
            return Ok(CommitOutcome::Conflict);
        }
        invoice.version += 1;
        let version = invoice.version;
        state.put_invoice(invoice);
        state.push_events(events);
        Ok(CommitOutcome::Committed {
            version,
            already_created: Vec::new(),
        })
    }

    async fn outbox(&self, limit: usize) -> Result<Vec<OutboxEvent>, RepositoryError> {
        Ok(self.lock().outbox.values().take(limit).cloned().collect())
    }

    async fn tenant_outbox(
        &self,
        tenant: &TenantId,
        limit: usize,
    ) -> Result<Vec<OutboxEvent>, RepositoryError> {
        Ok(self
            .lock()
            .outbox
            .values()
            .filter(|e| &e.tenant == tenant)
            .take(limit)
            .cloned()
            .collect())
    }

    async fn ack(&self, ids: &[u64]) -> Result<(), RepositoryError> {
        let mut state = self.lock();
        for id in ids {
            state.outbox.remove(id);
            state.dead.remove(id);
        }
        Ok(())
    }

    async fn tenant_ack(&self, tenant: &TenantId, ids: &[u64]) -> Result<(), RepositoryError> {
        let mut state = self.lock();
        for id in ids {
            if state.outbox.get(id).is_some_and(|e| &e.tenant == tenant) {
                state.outbox.remove(id);
            }
            if state
                .dead
                .get(id)
                .is_some_and(|d| &d.event.tenant == tenant)
            {
                state.dead.remove(id);
            }
        }
        Ok(())
    }

    async fn tenants_outbox(
        &self,
        tenants: &[TenantId],
        limit: usize,
    ) -> Result<Vec<OutboxEvent>, RepositoryError> {
        Ok(self
            .lock()
            .outbox
            .values()
            .filter(|e| tenants.contains(&e.tenant))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn outbox_heads(&self, limit: usize) -> Result<Vec<OutboxHead>, RepositoryError> {
        let state = self.lock();
        let mut seen = std::collections::HashSet::new();
        Ok(state
            .outbox
            .values()
            .filter(|e| seen.insert(&e.tenant))
            .take(limit)
            .map(|e| OutboxHead {
                tenant: e.tenant.clone(),
                id: e.id,
                at: e.at,
                retry_at: e.retry_at,
            })
            .collect())
    }

    async fn outbox_except(
        &self,
        tenants: &[TenantId],
        limit: usize,
    ) -> Result<Vec<OutboxEvent>, RepositoryError> {
        Ok(self
            .lock()
            .outbox
            .values()
            .filter(|e| !tenants.contains(&e.tenant))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn record_failures(&self, failures: &[DeliveryFailure]) -> Result<(), RepositoryError> {
        let mut state = self.lock();
        for failure in failures {
            let Some(event) = state
                .outbox
                .get_mut(&failure.id)
                .filter(|e| e.tenant == failure.tenant)
            else {
                continue;
            };
            event.attempts = event.attempts.saturating_add(1);
            event.retry_at = failure.retry_at;
            if failure.retry_at.is_none()
                && let Some(event) = state.outbox.remove(&failure.id)
            {
                let letter = DeadLetter {
                    event,
                    last_error: failure.stored_error().to_owned(),
                    dead_at: failure.at,
                };
                state.dead.insert(failure.id, letter);
            }
        }
        Ok(())
    }

    async fn dead_letters(
        &self,
        tenant: &TenantId,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, RepositoryError> {
        let start = after.map_or(0, |a| a.saturating_add(1));
        if after == Some(u64::MAX) {
            return Ok(Vec::new());
        }
        Ok(self
            .lock()
            .dead
            .range(start..)
            .map(|(_, d)| d)
            .filter(|d| &d.event.tenant == tenant)
            .take(limit)
            .cloned()
            .collect())
    }

    async fn requeue_dead_letters(
        &self,
        tenant: &TenantId,
        ids: &[u64],
    ) -> Result<u64, RepositoryError> {
        let mut state = self.lock();
        let mut requeued = 0;
        for id in ids {
            if state
                .dead
                .get(id)
                .is_some_and(|d| &d.event.tenant == tenant)
                && let Some(letter) = state.dead.remove(id)
            {
                let mut event = letter.event;
                event.attempts = 0;
                event.retry_at = None;
                state.outbox.insert(*id, event);
                requeued += 1;
            }
        }
        Ok(requeued)
    }
}
