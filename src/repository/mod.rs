//! Storage: the trait the engine needs, and the in-memory store.
//!
//! The trait is storage-agnostic and synchronous; durable stores implement it without change.
//! Two guarantees carry the engine's exactly-once promise, and every implementation must give
//! both: a commit is atomic (deals, skipped occurrences, invoices, the template's new state and
//! the outbox events all land, or none do), and it is conditional on the template's version
//! (optimistic concurrency), with the deal key unique as a second guard.

mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::event::{NewEvent, OutboxEvent};
use crate::ids::{DealKey, TemplateId, TenantId};
use crate::invoice::Invoice;
use crate::planner::{CreatedDeal, SkippedOccurrence};
use crate::template::{Template, TemplateState};

pub use memory::InMemoryRepository;
#[cfg(feature = "postgres")]
pub use postgres::PostgresRepository;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteRepository;

/// A storage failure (I/O, connection, corrupted data). The engine records it on the template
/// and retries with backoff.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("repository failure: {message}")]
pub struct RepositoryError {
    /// What failed.
    pub message: String,
}

impl RepositoryError {
    /// An error with a message.
    pub fn new(message: impl Into<String>) -> RepositoryError {
        RepositoryError {
            message: message.into(),
        }
    }
}

/// Everything one planning step of one template changes, committed atomically.
#[derive(Debug, Clone, PartialEq)]
pub struct Commit {
    /// The template's new state. Its `version` must equal the stored version; the store writes
    /// it with `version + 1`.
    pub template: Template,
    /// Deals to insert (a key already present is reported, not inserted again).
    pub deals: Vec<CreatedDeal>,
    /// Occurrences skipped, with reasons.
    pub skipped: Vec<SkippedOccurrence>,
    /// Invoices issued.
    pub invoices: Vec<Invoice>,
    /// Outbox events.
    pub events: Vec<NewEvent>,
}

impl Commit {
    /// Checks that every row belongs to the commit's template: deals, skipped occurrences and
    /// invoices keyed to it and of its tenant, events of its tenant. Every store refuses a
    /// commit that fails this (writing nothing of it), so a batch can never attach one
    /// commit's rows to another template's claim.
    pub(crate) fn check_rows(&self) -> Result<(), RepositoryError> {
        let (id, tenant) = (self.template.id, &self.template.tenant);
        let keyed = self
            .deals
            .iter()
            .map(|d| ("deal", d.key, &d.tenant))
            .chain(
                self.skipped
                    .iter()
                    .map(|s| ("skipped occurrence", s.key, &s.tenant)),
            )
            .chain(self.invoices.iter().map(|i| ("invoice", i.deal, &i.tenant)));
        for (what, key, row_tenant) in keyed {
            if key.template() != id || row_tenant != tenant {
                return Err(RepositoryError::new(format!(
                    "commit of template {id} (tenant {tenant}) holds {what} {key} of tenant \
                     {row_tenant}: a commit writes rows of its own template only"
                )));
            }
        }
        match self.events.iter().find(|e| &e.tenant != tenant) {
            Some(event) => Err(RepositoryError::new(format!(
                "commit of template {id} (tenant {tenant}) holds an event of tenant {}",
                event.tenant
            ))),
            None => Ok(()),
        }
    }
}

/// The result of a conditional write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitOutcome {
    /// Written; the template's new version, and the deal keys that already existed (their
    /// deals and events were not written again).
    Committed {
        /// The stored version after the commit.
        version: u64,
        /// Keys that were already created.
        already_created: Vec<DealKey>,
    },
    /// Someone else changed the template first; nothing was written.
    Conflict,
    /// The template no longer exists; nothing was written.
    Missing,
}

/// Which templates to list, for the "recurring deal templates" view.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TemplateQuery {
    /// Only templates in this kind of state (`None`: all).
    pub state: Option<StateFilter>,
    /// Skip this many (pagination).
    pub offset: usize,
    /// At most this many (0 means 50, Bitrix24's page size).
    pub limit: usize,
}

/// A filter on template states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateFilter {
    /// Active ones.
    Active,
    /// Paused ones.
    Paused,
    /// Inactive ones.
    Inactive,
    /// Finished ones.
    Finished,
}

impl StateFilter {
    /// The filter `state` passes (each state passes exactly one).
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    pub(crate) fn of(state: &TemplateState) -> StateFilter {
        match state {
            TemplateState::Active => StateFilter::Active,
            TemplateState::Paused { .. } => StateFilter::Paused,
            TemplateState::Inactive => StateFilter::Inactive,
            TemplateState::Finished => StateFilter::Finished,
        }
    }

    /// The name the durable stores keep in their indexed `state` column.
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    pub(crate) fn column_name(self) -> &'static str {
        match self {
            StateFilter::Active => "active",
            StateFilter::Paused => "paused",
            StateFilter::Inactive => "inactive",
            StateFilter::Finished => "finished",
        }
    }

    /// Whether `state` passes.
    pub fn matches(self, state: &TemplateState) -> bool {
        matches!(
            (self, state),
            (StateFilter::Active, TemplateState::Active)
                | (StateFilter::Paused, TemplateState::Paused { .. })
                | (StateFilter::Inactive, TemplateState::Inactive)
                | (StateFilter::Finished, TemplateState::Finished)
        )
    }
}

/// A page of results.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items, sorted by next run (templates with none last), then id.
    pub items: Vec<T>,
    /// How many match in all.
    pub total: usize,
}

/// Where templates, deals, invoices and events live.
pub trait Repository: Send + Sync {
    /// A fresh template id.
    ///
    /// # Errors
    /// A [`RepositoryError`] when the store fails.
    fn allocate_template_id(&self) -> Result<TemplateId, RepositoryError>;

    /// Stores a new template (version 0).
    ///
    /// # Errors
    /// A [`RepositoryError`] when the store fails or the id is taken.
    fn insert_template(&self, template: &Template) -> Result<(), RepositoryError>;

    /// The template `id` of `tenant` (`None` if missing or another tenant's).
    ///
    /// # Errors
    /// A [`RepositoryError`] when the store fails.
    fn template(
        &self,
        tenant: &TenantId,
        id: TemplateId,
    ) -> Result<Option<Template>, RepositoryError>;

    /// Templates whose next run is at or before `now`, earliest first, at most `limit`. The
    /// cost must grow with the number due, not the number stored.
    ///
    /// # Errors
    /// A [`RepositoryError`] when the store fails.
    fn due_templates(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Template>, RepositoryError>;

    /// The earliest next run of any template or invoice reminder.
    ///
    /// # Errors
    /// A [`RepositoryError`] when the store fails.
    fn next_wake(&self) -> Result<Option<DateTime<Utc>>, RepositoryError>;

    /// Commits atomically, if the stored template still has `commit.template.version`. The
    /// commit's deals, skipped occurrences and invoices must be keyed to its template, and
    /// every row must be of the template's tenant (as the planner makes them); a commit that
    /// is not is refused with an error and writes nothing.
    ///
    /// # Errors
    /// A [`RepositoryError`] when the store fails (then nothing was written).
    fn commit(&self, commit: Commit) -> Result<CommitOutcome, RepositoryError>;

    /// Commits several templates' planning steps, each exactly as [`Repository::commit`]
    /// would, and returns their outcomes in order. This is how a tick writes many templates
    /// with one durable flush instead of one per template.
    ///
    /// A store may write the whole batch in one transaction. If that transaction fails, every
    /// commit of the batch reports the error and nothing of the batch was written, so the
    /// caller can retry the commits one by one to find the one at fault. The provided method
    /// commits them one by one; a store with cheaper transactions needs nothing more.
    ///
    /// The commits must be of distinct templates.
    ///
    /// ```
    /// use recurring_deals::{Commit, InMemoryRepository, Repository};
    ///
    /// let store = InMemoryRepository::new();
    /// let outcomes = store.commit_batch(Vec::<Commit>::new());
    /// assert!(outcomes.is_empty());
    /// ```
    fn commit_batch(&self, commits: Vec<Commit>) -> Vec<Result<CommitOutcome, RepositoryError>> {
        commits
            .into_iter()
            .map(|commit| self.commit(commit))
            .collect()
    }

    /// Deletes a template (its deals stay), if it still has `version`.
    ///
    /// # Errors
    /// A [`RepositoryError`] when the store fails.
    fn delete_template(
        &self,
        tenant: &TenantId,
        id: TemplateId,
        version: u64,
    ) -> Result<CommitOutcome, RepositoryError>;

    /// Lists a tenant's templates, sorted by next run.
    ///
    /// # Errors
    /// A [`RepositoryError`] when the store fails.
    fn list_templates(
        &self,
        tenant: &TenantId,
        query: &TemplateQuery,
    ) -> Result<Page<Template>, RepositoryError>;

    /// Number of a tenant's templates that are active or paused (what plan limits count).
    ///
    /// # Errors
    /// A [`RepositoryError`] when the store fails.
    fn count_live(&self, tenant: &TenantId) -> Result<u64, RepositoryError>;

    /// A tenant's created deals (of one template, or all), by key.
    ///
    /// # Errors
    /// A [`RepositoryError`] when the store fails.
    fn deals(
        &self,
        tenant: &TenantId,
        template: Option<TemplateId>,
    ) -> Result<Vec<CreatedDeal>, RepositoryError>;

    /// A created deal by key.
    ///
    /// # Errors
    /// A [`RepositoryError`] when the store fails.
    fn deal(&self, tenant: &TenantId, key: DealKey)
    -> Result<Option<CreatedDeal>, RepositoryError>;

    /// A tenant's skipped occurrences (of one template, or all), by key.
    ///
    /// # Errors
    /// A [`RepositoryError`] when the store fails.
    fn skipped(
        &self,
        tenant: &TenantId,
        template: Option<TemplateId>,
    ) -> Result<Vec<SkippedOccurrence>, RepositoryError>;

    /// The invoice of a deal.
    ///
    /// # Errors
    /// A [`RepositoryError`] when the store fails.
    fn invoice(&self, tenant: &TenantId, deal: DealKey)
    -> Result<Option<Invoice>, RepositoryError>;

    /// Open invoices with a reminder due at or before `now`, at most `limit`.
    ///
    /// # Errors
    /// A [`RepositoryError`] when the store fails.
    fn due_invoices(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Invoice>, RepositoryError>;

    /// Writes an invoice with its events, if the stored one still has `invoice.version`.
    ///
    /// # Errors
    /// A [`RepositoryError`] when the store fails.
    fn commit_invoice(
        &self,
        invoice: Invoice,
        events: Vec<NewEvent>,
    ) -> Result<CommitOutcome, RepositoryError>;

    /// Unacknowledged outbox events in order, at most `limit`.
    ///
    /// # Errors
    /// A [`RepositoryError`] when the store fails.
    fn outbox(&self, limit: usize) -> Result<Vec<OutboxEvent>, RepositoryError>;

    /// Acknowledges delivered events (unknown ids are ignored).
    ///
    /// # Errors
    /// A [`RepositoryError`] when the store fails.
    fn ack(&self, ids: &[u64]) -> Result<(), RepositoryError>;
}

/// Shared and boxed repositories are repositories: several engines (threads, or an async
/// service's tasks) can use one store through an `Arc`, and hosts can pick a store at run
/// time through a `Box<dyn Repository>`.
macro_rules! forward_repository {
    ($($wrapper:ty),*) => {$(
        impl<R: Repository + ?Sized> Repository for $wrapper {
            fn allocate_template_id(&self) -> Result<TemplateId, RepositoryError> {
                (**self).allocate_template_id()
            }
            fn insert_template(&self, template: &Template) -> Result<(), RepositoryError> {
                (**self).insert_template(template)
            }
            fn template(&self, tenant: &TenantId, id: TemplateId) -> Result<Option<Template>, RepositoryError> {
                (**self).template(tenant, id)
            }
            fn due_templates(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Template>, RepositoryError> {
                (**self).due_templates(now, limit)
            }
            fn next_wake(&self) -> Result<Option<DateTime<Utc>>, RepositoryError> {
                (**self).next_wake()
            }
            fn commit(&self, commit: Commit) -> Result<CommitOutcome, RepositoryError> {
                (**self).commit(commit)
            }
            fn commit_batch(&self, commits: Vec<Commit>) -> Vec<Result<CommitOutcome, RepositoryError>> {
                (**self).commit_batch(commits)
            }
            fn delete_template(&self, tenant: &TenantId, id: TemplateId, version: u64) -> Result<CommitOutcome, RepositoryError> {
                (**self).delete_template(tenant, id, version)
            }
            fn list_templates(&self, tenant: &TenantId, query: &TemplateQuery) -> Result<Page<Template>, RepositoryError> {
                (**self).list_templates(tenant, query)
            }
            fn count_live(&self, tenant: &TenantId) -> Result<u64, RepositoryError> {
                (**self).count_live(tenant)
            }
            fn deals(&self, tenant: &TenantId, template: Option<TemplateId>) -> Result<Vec<CreatedDeal>, RepositoryError> {
                (**self).deals(tenant, template)
            }
            fn deal(&self, tenant: &TenantId, key: DealKey) -> Result<Option<CreatedDeal>, RepositoryError> {
                (**self).deal(tenant, key)
            }
            fn skipped(&self, tenant: &TenantId, template: Option<TemplateId>) -> Result<Vec<SkippedOccurrence>, RepositoryError> {
                (**self).skipped(tenant, template)
            }
            fn invoice(&self, tenant: &TenantId, deal: DealKey) -> Result<Option<Invoice>, RepositoryError> {
                (**self).invoice(tenant, deal)
            }
            fn due_invoices(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Invoice>, RepositoryError> {
                (**self).due_invoices(now, limit)
            }
            fn commit_invoice(&self, invoice: Invoice, events: Vec<NewEvent>) -> Result<CommitOutcome, RepositoryError> {
                (**self).commit_invoice(invoice, events)
            }
            fn outbox(&self, limit: usize) -> Result<Vec<OutboxEvent>, RepositoryError> {
                (**self).outbox(limit)
            }
            fn ack(&self, ids: &[u64]) -> Result<(), RepositoryError> {
                (**self).ack(ids)
            }
        }
    )*};
}

forward_repository!(std::sync::Arc<R>, Box<R>, &R);
