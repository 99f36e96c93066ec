//! A repository chosen at run time: [`Repository`]'s futures are `impl Trait`, so the trait
//! is not object-safe; [`DynRepository`] erases a store behind boxed futures (the pattern of
//! the `dynosaur` crate) and is itself a [`Repository`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{
    Commit, CommitOutcome, DeadLetter, DeliveryFailure, OutboxHead, Page, PlannedZone,
    RecordedRules, Repository, RepositoryError, Scan, Share, TemplateQuery,
};
use crate::event::{NewEvent, OutboxEvent};
use crate::ids::{DealKey, TemplateId, TenantId};
use crate::invoice::{Invoice, OverduePosition};
use crate::planner::{CreatedDeal, SkippedOccurrence};
use crate::template::Template;

type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
type Res<T> = Result<T, RepositoryError>;

/// Any [`Repository`], chosen at run time: for hosts and examples that pick SQLite or
/// PostgreSQL from a flag. Each call costs one boxed future; clones share the store.
///
/// ```
/// use recurring_deals::{DynRepository, InMemoryRepository, Repository};
///
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let store = DynRepository::new(InMemoryRepository::new());
/// assert!(store.outbox(10).await?.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct DynRepository {
    inner: Arc<dyn Erased>,
}

impl DynRepository {
    /// Erases `store`.
    pub fn new(store: impl Repository + 'static) -> DynRepository {
        DynRepository {
            inner: Arc::new(store),
        }
    }
}

impl std::fmt::Debug for DynRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynRepository").finish_non_exhaustive()
    }
}

/// The object-safe twin of [`Repository`], implemented for every repository.
trait Erased: Send + Sync {
    fn allocate_template_id(&self) -> Boxed<'_, Res<TemplateId>>;
    fn insert_template<'a>(&'a self, template: &'a Template) -> Boxed<'a, Res<()>>;
    fn template<'a>(
        &'a self,
        tenant: &'a TenantId,
        id: TemplateId,
    ) -> Boxed<'a, Res<Option<Template>>>;
    fn due_share(
        &self,
        now: DateTime<Utc>,
        share: Share,
        limit: usize,
    ) -> Boxed<'_, Res<Vec<Template>>>;
    fn next_wake_share(&self, share: Share) -> Boxed<'_, Res<Option<DateTime<Utc>>>>;
    fn commit(&self, commit: Commit) -> Boxed<'_, Res<CommitOutcome>>;
    fn commit_batch(&self, commits: Vec<Commit>) -> Boxed<'_, Vec<Res<CommitOutcome>>>;
    fn delete_template<'a>(
        &'a self,
        tenant: &'a TenantId,
        id: TemplateId,
        version: u64,
    ) -> Boxed<'a, Res<CommitOutcome>>;
    fn list_templates<'a>(
        &'a self,
        tenant: &'a TenantId,
        query: &'a TemplateQuery,
    ) -> Boxed<'a, Res<Page<Template>>>;
    fn scan_templates<'a>(
        &'a self,
        tenant: &'a TenantId,
        after: Option<TemplateId>,
        limit: usize,
    ) -> Boxed<'a, Res<Scan>>;
    fn count_live<'a>(&'a self, tenant: &'a TenantId) -> Boxed<'a, Res<u64>>;
    fn planned_zones(&self) -> Boxed<'_, Res<Vec<PlannedZone>>>;
    fn zone_templates<'a>(
        &'a self,
        zone: Option<&'a str>,
        after: Option<TemplateId>,
        limit: usize,
    ) -> Boxed<'a, Res<Scan>>;
    fn record_zone_rules<'a>(
        &'a self,
        zone: &'a str,
        expected: Option<u64>,
        rules: &'a RecordedRules,
    ) -> Boxed<'a, Res<bool>>;
    fn deals<'a>(
        &'a self,
        tenant: &'a TenantId,
        template: Option<TemplateId>,
    ) -> Boxed<'a, Res<Vec<CreatedDeal>>>;
    fn deal<'a>(
        &'a self,
        tenant: &'a TenantId,
        key: DealKey,
    ) -> Boxed<'a, Res<Option<CreatedDeal>>>;
    fn skipped<'a>(
        &'a self,
        tenant: &'a TenantId,
        template: Option<TemplateId>,
    ) -> Boxed<'a, Res<Vec<SkippedOccurrence>>>;
    fn invoice<'a>(
        &'a self,
        tenant: &'a TenantId,
        deal: DealKey,
    ) -> Boxed<'a, Res<Option<Invoice>>>;
    fn due_invoices(&self, now: DateTime<Utc>, limit: usize) -> Boxed<'_, Res<Vec<Invoice>>>;
    fn overdue_invoices<'a>(
        &'a self,
        tenant: &'a TenantId,
        after: Option<OverduePosition>,
        limit: usize,
    ) -> Boxed<'a, Res<Vec<Invoice>>>;
    fn commit_invoice(
        &self,
        invoice: Invoice,
        events: Vec<NewEvent>,
    ) -> Boxed<'_, Res<CommitOutcome>>;
    fn outbox(&self, limit: usize) -> Boxed<'_, Res<Vec<OutboxEvent>>>;
    fn tenant_outbox<'a>(
        &'a self,
        tenant: &'a TenantId,
        limit: usize,
    ) -> Boxed<'a, Res<Vec<OutboxEvent>>>;
    fn ack<'a>(&'a self, ids: &'a [u64]) -> Boxed<'a, Res<()>>;
    fn tenant_ack<'a>(&'a self, tenant: &'a TenantId, ids: &'a [u64]) -> Boxed<'a, Res<()>>;
    fn outbox_heads(&self, limit: usize) -> Boxed<'_, Res<Vec<OutboxHead>>>;
    fn tenants_outbox<'a>(
        &'a self,
        tenants: &'a [TenantId],
        limit: usize,
    ) -> Boxed<'a, Res<Vec<OutboxEvent>>>;
    fn outbox_except<'a>(
        &'a self,
        tenants: &'a [TenantId],
        limit: usize,
    ) -> Boxed<'a, Res<Vec<OutboxEvent>>>;
    fn record_failures<'a>(&'a self, failures: &'a [DeliveryFailure]) -> Boxed<'a, Res<()>>;
    fn dead_letters<'a>(
        &'a self,
        tenant: &'a TenantId,
        after: Option<u64>,
        limit: usize,
    ) -> Boxed<'a, Res<Vec<DeadLetter>>>;
    fn requeue_dead_letters<'a>(
        &'a self,
        tenant: &'a TenantId,
        ids: &'a [u64],
    ) -> Boxed<'a, Res<u64>>;
}

impl<R: Repository> Erased for R {
    fn allocate_template_id(&self) -> Boxed<'_, Res<TemplateId>> {
        Box::pin(Repository::allocate_template_id(self))
    }
    fn insert_template<'a>(&'a self, template: &'a Template) -> Boxed<'a, Res<()>> {
        Box::pin(Repository::insert_template(self, template))
    }
    fn template<'a>(
        &'a self,
        tenant: &'a TenantId,
        id: TemplateId,
    ) -> Boxed<'a, Res<Option<Template>>> {
        Box::pin(Repository::template(self, tenant, id))
    }
    fn due_share(
        &self,
        now: DateTime<Utc>,
        share: Share,
        limit: usize,
    ) -> Boxed<'_, Res<Vec<Template>>> {
        Box::pin(Repository::due_share(self, now, share, limit))
    }
    fn next_wake_share(&self, share: Share) -> Boxed<'_, Res<Option<DateTime<Utc>>>> {
        Box::pin(Repository::next_wake_share(self, share))
    }
    fn commit(&self, commit: Commit) -> Boxed<'_, Res<CommitOutcome>> {
        Box::pin(Repository::commit(self, commit))
    }
    fn commit_batch(&self, commits: Vec<Commit>) -> Boxed<'_, Vec<Res<CommitOutcome>>> {
        Box::pin(Repository::commit_batch(self, commits))
    }
    fn delete_template<'a>(
        &'a self,
        tenant: &'a TenantId,
        id: TemplateId,
        version: u64,
    ) -> Boxed<'a, Res<CommitOutcome>> {
        Box::pin(Repository::delete_template(self, tenant, id, version))
    }
    fn list_templates<'a>(
        &'a self,
        tenant: &'a TenantId,
        query: &'a TemplateQuery,
    ) -> Boxed<'a, Res<Page<Template>>> {
        Box::pin(Repository::list_templates(self, tenant, query))
    }
    fn scan_templates<'a>(
        &'a self,
        tenant: &'a TenantId,
        after: Option<TemplateId>,
        limit: usize,
    ) -> Boxed<'a, Res<Scan>> {
        Box::pin(Repository::scan_templates(self, tenant, after, limit))
    }
    fn count_live<'a>(&'a self, tenant: &'a TenantId) -> Boxed<'a, Res<u64>> {
        Box::pin(Repository::count_live(self, tenant))
    }
    fn planned_zones(&self) -> Boxed<'_, Res<Vec<PlannedZone>>> {
        Box::pin(Repository::planned_zones(self))
    }
    fn zone_templates<'a>(
        &'a self,
        zone: Option<&'a str>,
        after: Option<TemplateId>,
        limit: usize,
    ) -> Boxed<'a, Res<Scan>> {
        Box::pin(Repository::zone_templates(self, zone, after, limit))
    }
    fn record_zone_rules<'a>(
        &'a self,
        zone: &'a str,
        expected: Option<u64>,
        rules: &'a RecordedRules,
    ) -> Boxed<'a, Res<bool>> {
        Box::pin(Repository::record_zone_rules(self, zone, expected, rules))
    }
    fn deals<'a>(
        &'a self,
        tenant: &'a TenantId,
        template: Option<TemplateId>,
    ) -> Boxed<'a, Res<Vec<CreatedDeal>>> {
        Box::pin(Repository::deals(self, tenant, template))
    }
    fn deal<'a>(
        &'a self,
        tenant: &'a TenantId,
        key: DealKey,
    ) -> Boxed<'a, Res<Option<CreatedDeal>>> {
        Box::pin(Repository::deal(self, tenant, key))
    }
    fn skipped<'a>(
        &'a self,
        tenant: &'a TenantId,
        template: Option<TemplateId>,
    ) -> Boxed<'a, Res<Vec<SkippedOccurrence>>> {
        Box::pin(Repository::skipped(self, tenant, template))
    }
    fn invoice<'a>(
        &'a self,
        tenant: &'a TenantId,
        deal: DealKey,
    ) -> Boxed<'a, Res<Option<Invoice>>> {
        Box::pin(Repository::invoice(self, tenant, deal))
    }
    fn due_invoices(&self, now: DateTime<Utc>, limit: usize) -> Boxed<'_, Res<Vec<Invoice>>> {
        Box::pin(Repository::due_invoices(self, now, limit))
    }
    fn overdue_invoices<'a>(
        &'a self,
        tenant: &'a TenantId,
        after: Option<OverduePosition>,
        limit: usize,
    ) -> Boxed<'a, Res<Vec<Invoice>>> {
        Box::pin(Repository::overdue_invoices(self, tenant, after, limit))
    }
    fn commit_invoice(
        &self,
        invoice: Invoice,
        events: Vec<NewEvent>,
    ) -> Boxed<'_, Res<CommitOutcome>> {
        Box::pin(Repository::commit_invoice(self, invoice, events))
    }
    fn outbox(&self, limit: usize) -> Boxed<'_, Res<Vec<OutboxEvent>>> {
        Box::pin(Repository::outbox(self, limit))
    }
    fn tenant_outbox<'a>(
        &'a self,
        tenant: &'a TenantId,
        limit: usize,
    ) -> Boxed<'a, Res<Vec<OutboxEvent>>> {
        Box::pin(Repository::tenant_outbox(self, tenant, limit))
    }
    fn ack<'a>(&'a self, ids: &'a [u64]) -> Boxed<'a, Res<()>> {
        Box::pin(Repository::ack(self, ids))
    }
    fn tenant_ack<'a>(&'a self, tenant: &'a TenantId, ids: &'a [u64]) -> Boxed<'a, Res<()>> {
        Box::pin(Repository::tenant_ack(self, tenant, ids))
    }
    fn outbox_heads(&self, limit: usize) -> Boxed<'_, Res<Vec<OutboxHead>>> {
        Box::pin(Repository::outbox_heads(self, limit))
    }
    fn tenants_outbox<'a>(
        &'a self,
        tenants: &'a [TenantId],
        limit: usize,
    ) -> Boxed<'a, Res<Vec<OutboxEvent>>> {
        Box::pin(Repository::tenants_outbox(self, tenants, limit))
    }
    fn outbox_except<'a>(
        &'a self,
        tenants: &'a [TenantId],
        limit: usize,
    ) -> Boxed<'a, Res<Vec<OutboxEvent>>> {
        Box::pin(Repository::outbox_except(self, tenants, limit))
    }
    fn record_failures<'a>(&'a self, failures: &'a [DeliveryFailure]) -> Boxed<'a, Res<()>> {
        Box::pin(Repository::record_failures(self, failures))
    }
    fn dead_letters<'a>(
        &'a self,
        tenant: &'a TenantId,
        after: Option<u64>,
        limit: usize,
    ) -> Boxed<'a, Res<Vec<DeadLetter>>> {
        Box::pin(Repository::dead_letters(self, tenant, after, limit))
    }
    fn requeue_dead_letters<'a>(
        &'a self,
        tenant: &'a TenantId,
        ids: &'a [u64],
    ) -> Boxed<'a, Res<u64>> {
        Box::pin(Repository::requeue_dead_letters(self, tenant, ids))
    }
}

impl Repository for DynRepository {
    async fn allocate_template_id(&self) -> Res<TemplateId> {
        self.inner.allocate_template_id().await
    }
    async fn insert_template(&self, template: &Template) -> Res<()> {
        self.inner.insert_template(template).await
    }
    async fn template(&self, tenant: &TenantId, id: TemplateId) -> Res<Option<Template>> {
        self.inner.template(tenant, id).await
    }
    async fn due_share(
        &self,
        now: DateTime<Utc>,
        share: Share,
        limit: usize,
    ) -> Res<Vec<Template>> {
        self.inner.due_share(now, share, limit).await
    }
    async fn next_wake_share(&self, share: Share) -> Res<Option<DateTime<Utc>>> {
        self.inner.next_wake_share(share).await
    }
    async fn commit(&self, commit: Commit) -> Res<CommitOutcome> {
        self.inner.commit(commit).await
    }
    async fn commit_batch(&self, commits: Vec<Commit>) -> Vec<Res<CommitOutcome>> {
        self.inner.commit_batch(commits).await
    }
    async fn delete_template(
        &self,
        tenant: &TenantId,
        id: TemplateId,
        version: u64,
    ) -> Res<CommitOutcome> {
        self.inner.delete_template(tenant, id, version).await
    }
    async fn list_templates(
        &self,
        tenant: &TenantId,
        query: &TemplateQuery,
    ) -> Res<Page<Template>> {
        self.inner.list_templates(tenant, query).await
    }
    async fn scan_templates(
        &self,
        tenant: &TenantId,
        after: Option<TemplateId>,
        limit: usize,
    ) -> Res<Scan> {
        self.inner.scan_templates(tenant, after, limit).await
    }
    async fn count_live(&self, tenant: &TenantId) -> Res<u64> {
        self.inner.count_live(tenant).await
    }
    async fn planned_zones(&self) -> Res<Vec<PlannedZone>> {
        self.inner.planned_zones().await
    }
    async fn zone_templates(
        &self,
        zone: Option<&str>,
        after: Option<TemplateId>,
        limit: usize,
    ) -> Res<Scan> {
        self.inner.zone_templates(zone, after, limit).await
    }
    async fn record_zone_rules(
        &self,
        zone: &str,
        expected: Option<u64>,
        rules: &RecordedRules,
    ) -> Res<bool> {
        self.inner.record_zone_rules(zone, expected, rules).await
    }
    async fn deals(
        &self,
        tenant: &TenantId,
        template: Option<TemplateId>,
    ) -> Res<Vec<CreatedDeal>> {
        self.inner.deals(tenant, template).await
    }
    async fn deal(&self, tenant: &TenantId, key: DealKey) -> Res<Option<CreatedDeal>> {
        self.inner.deal(tenant, key).await
    }
    async fn skipped(
        &self,
        tenant: &TenantId,
        template: Option<TemplateId>,
    ) -> Res<Vec<SkippedOccurrence>> {
        self.inner.skipped(tenant, template).await
    }
    async fn invoice(&self, tenant: &TenantId, deal: DealKey) -> Res<Option<Invoice>> {
        self.inner.invoice(tenant, deal).await
    }
    async fn due_invoices(&self, now: DateTime<Utc>, limit: usize) -> Res<Vec<Invoice>> {
        self.inner.due_invoices(now, limit).await
    }
    async fn overdue_invoices(
        &self,
        tenant: &TenantId,
        after: Option<OverduePosition>,
        limit: usize,
    ) -> Res<Vec<Invoice>> {
        self.inner.overdue_invoices(tenant, after, limit).await
    }
    async fn commit_invoice(&self, invoice: Invoice, events: Vec<NewEvent>) -> Res<CommitOutcome> {
        self.inner.commit_invoice(invoice, events).await
    }
    async fn outbox(&self, limit: usize) -> Res<Vec<OutboxEvent>> {
        self.inner.outbox(limit).await
    }
    async fn tenant_outbox(&self, tenant: &TenantId, limit: usize) -> Res<Vec<OutboxEvent>> {
        self.inner.tenant_outbox(tenant, limit).await
    }
    async fn ack(&self, ids: &[u64]) -> Res<()> {
        self.inner.ack(ids).await
    }
    async fn tenant_ack(&self, tenant: &TenantId, ids: &[u64]) -> Res<()> {
        self.inner.tenant_ack(tenant, ids).await
    }
    async fn outbox_heads(&self, limit: usize) -> Res<Vec<OutboxHead>> {
        self.inner.outbox_heads(limit).await
    }
    async fn tenants_outbox(&self, tenants: &[TenantId], limit: usize) -> Res<Vec<OutboxEvent>> {
        self.inner.tenants_outbox(tenants, limit).await
    }
    async fn outbox_except(&self, tenants: &[TenantId], limit: usize) -> Res<Vec<OutboxEvent>> {
        self.inner.outbox_except(tenants, limit).await
    }
    async fn record_failures(&self, failures: &[DeliveryFailure]) -> Res<()> {
        self.inner.record_failures(failures).await
    }
    async fn dead_letters(
        &self,
        tenant: &TenantId,
        after: Option<u64>,
        limit: usize,
    ) -> Res<Vec<DeadLetter>> {
        self.inner.dead_letters(tenant, after, limit).await
    }
    async fn requeue_dead_letters(&self, tenant: &TenantId, ids: &[u64]) -> Res<u64> {
        self.inner.requeue_dead_letters(tenant, ids).await
    }
}
