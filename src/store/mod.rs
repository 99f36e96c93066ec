//! Storage: the [`Repository`] trait the engine needs, its error type, and the stores.
//!
//! The trait is asynchronous and storage-agnostic: every method returns a `Send` future, so
//! an engine over any store runs on a multi-threaded runtime. Two guarantees carry the
//! engine's exactly-once promise, and every store must give both: a commit is atomic (deals,
//! skipped occurrences, invoices, the template's new state and the outbox events all land, or
//! none do), and it is conditional on the template's version (optimistic concurrency), with
//! the deal key unique as a second guard. A lost version check is a value
//! ([`CommitOutcome::Conflict`]), never an error.
//!
//! Stores: [`InMemoryRepository`] (always there; tests and simulations), the SQLite store
//! (feature `sqlite`, the embedded durable default) and the PostgreSQL store (feature
//! `postgres`, several workers on one database). [`DynRepository`] picks one at run time.

#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod codec;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod dialect;
mod dynamic;
mod error;
#[cfg(feature = "postgres")]
mod listen;
mod memory;
pub mod migrations;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod read;
#[cfg(feature = "sqlite")]
mod sqlite;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sqlx_error;

use std::future::Future;

use serde::{Deserialize, Serialize};

use chrono::{DateTime, Utc};

use crate::event::{EventKind, NewEvent, OutboxEvent};
use crate::ids::{DealKey, TemplateId, TenantId};
use crate::invoice::{Invoice, OverduePosition};
use crate::planner::{CreatedDeal, SkippedOccurrence, TemplatePlan};
use crate::template::{Template, TemplateState};

pub use dynamic::DynRepository;
pub use error::{BoxError, RepositoryError};
#[cfg(feature = "postgres")]
pub use listen::PostgresWakeSource;
pub use memory::InMemoryRepository;
pub use migrations::{Migrate, Migration};
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::{PostgresOptions, PostgresStore};
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sqlite::{SqliteOptions, SqliteStore};

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

impl From<TemplatePlan> for Commit {
    /// The write that carries out a plan.
    fn from(plan: TemplatePlan) -> Commit {
        Commit {
            template: plan.template,
            deals: plan.deals,
            skipped: plan.skipped,
            invoices: plan.invoices,
            events: plan.events,
        }
    }
}

impl Commit {
    /// A commit of the template's new state alone.
    pub fn template_only(template: Template) -> Commit {
        Commit {
            template,
            deals: Vec::new(),
            skipped: Vec::new(),
            invoices: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Checks that every row belongs to the commit's template: deals, skipped occurrences and
    /// invoices keyed to it and of its tenant, events of its tenant. Every store refuses a
    /// commit that fails this (writing nothing of it), so a batch can never attach one
    /// commit's rows to another template's claim.
    ///
    /// # Errors
    /// [`RepositoryError::Refused`] naming the first row of another template or tenant.
    pub fn check_rows(&self) -> Result<(), RepositoryError> {
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
                return Err(RepositoryError::Refused {
                    reason: format!(
                        "commit of template {id} (tenant {tenant}) holds {what} {key} of tenant \
                         {row_tenant}: a commit writes rows of its own template only"
                    ),
                });
            }
        }
        match self.events.iter().find(|e| &e.tenant != tenant) {
            Some(event) => Err(RepositoryError::Refused {
                reason: format!(
                    "commit of template {id} (tenant {tenant}) holds an event of tenant {}",
                    event.tenant
                ),
            }),
            None => Ok(()),
        }
    }

    /// The rule every store applies once it knows which of the commit's deal keys already
    /// exist (a retried commit that had landed): those deals are not written again, and
    /// neither are their invoices nor their `deal_created` / `invoice_issued` events. The
    /// template's state, skipped occurrences and other events are written as usual.
    pub fn drop_already_created(&mut self, already_created: &[DealKey]) {
        if already_created.is_empty() {
            return;
        }
        self.deals.retain(|d| !already_created.contains(&d.key));
        self.invoices.retain(|i| !already_created.contains(&i.deal));
        self.events.retain(|event| match &event.kind {
            EventKind::DealCreated { deal, .. } => !already_created.contains(deal),
            EventKind::InvoiceIssued { invoice } => !already_created.contains(&invoice.deal),
            _ => true,
        });
    }
}

/// The result of a conditional write.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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
    /// Only templates after this place in the listing order (keyset pagination: pass the
    /// place of the last item of the previous page, [`ListPosition::of`]). Stable while
    /// templates are added or removed, unlike `offset`.
    pub after: Option<ListPosition>,
    /// Skip this many (counted after `after`).
    pub offset: usize,
    /// At most this many (0 means 50, Bitrix24's page size).
    pub limit: usize,
}

/// A template's place in the listing order: by next run, templates with none last, then by
/// id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListPosition {
    /// The template's next run.
    pub next_run: Option<DateTime<Utc>>,
    /// The template's id.
    pub id: TemplateId,
}

impl ListPosition {
    /// The place of `template`.
    pub fn of(template: &Template) -> ListPosition {
        ListPosition {
            next_run: template.next_run,
            id: template.id,
        }
    }

    /// The listing order as a sortable key.
    pub fn sort_key(&self) -> (bool, Option<DateTime<Utc>>, TemplateId) {
        (self.next_run.is_none(), self.next_run, self.id)
    }
}

/// A filter on template states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
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
    pub fn of(state: &TemplateState) -> StateFilter {
        match state {
            TemplateState::Active => StateFilter::Active,
            TemplateState::Paused { .. } => StateFilter::Paused,
            TemplateState::Inactive => StateFilter::Inactive,
            TemplateState::Finished => StateFilter::Finished,
        }
    }

    /// The filter's name, as in the JSON form and the durable stores' `state` column.
    pub fn name(self) -> &'static str {
        match self {
            StateFilter::Active => "active",
            StateFilter::Paused => "paused",
            StateFilter::Inactive => "inactive",
            StateFilter::Finished => "finished",
        }
    }

    /// Whether `state` passes.
    pub fn matches(self, state: &TemplateState) -> bool {
        StateFilter::of(state) == self
    }
}

/// One worker's share of the due templates: those whose id leaves `index` as the remainder
/// of division by `count` ([`Share::contains`]). [`Share::ALL`] is every template.
///
/// Several engines ticking one store each read their own share first
/// ([`Repository::due_share`]), so a template is loaded and decoded by one worker, not by all
/// of them; `EngineConfigBuilder::worker` says what happens to a share whose worker is gone.
///
/// ```
/// use recurring_deals::{store::Share, TemplateId};
/// let share = Share::new(1, 4).unwrap();
/// assert!(share.contains(TemplateId(5)) && !share.contains(TemplateId(6)));
/// assert!(Share::ALL.contains(TemplateId(6)));
/// assert!(Share::new(4, 4).is_none());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Share {
    index: u32,
    count: u32,
}

impl Share {
    /// Every template.
    pub const ALL: Share = Share { index: 0, count: 1 };

    /// Share `index` of `count` (0-based); `None` unless `index < count`.
    pub fn new(index: u32, count: u32) -> Option<Share> {
        (index < count).then_some(Share { index, count })
    }

    /// The 0-based index.
    pub fn index(self) -> u32 {
        self.index
    }

    /// How many shares there are.
    pub fn count(self) -> u32 {
        self.count
    }

    /// Whether template `id` is in this share: `id % count == index`.
    pub fn contains(self, id: TemplateId) -> bool {
        id.0 % u64::from(self.count) == u64::from(self.index)
    }

    /// Whether `tenant`'s outbox events are this share's to deliver: the 64-bit FNV-1a hash
    /// of the tenant id's UTF-8 bytes leaves `index` as the remainder of division by
    /// `count`. The hash is fixed (not Rust's per-process `Hash`), so every process agrees.
    ///
    /// ```
    /// use recurring_deals::{store::Share, TenantId};
    /// let acme = TenantId::new("acme").unwrap();
    /// let owners = (0..3).filter(|i| Share::new(*i, 3).unwrap().contains_tenant(&acme));
    /// assert_eq!(owners.count(), 1);
    /// assert!(Share::ALL.contains_tenant(&acme));
    /// ```
    pub fn contains_tenant(self, tenant: &TenantId) -> bool {
        let hash = tenant
            .as_str()
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
                (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
            });
        hash % u64::from(self.count) == u64::from(self.index)
    }
}

/// One page of [`Repository::scan_templates`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Scan {
    /// The templates, in id order.
    pub items: Vec<Template>,
    /// Where the next page starts (the last id read), or `None` when the scan is over.
    pub next: Option<TemplateId>,
}

/// The zone rules a store recorded for a zone: what its next runs were planned with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRules {
    /// A fingerprint of the zone's offsets over 1900–2199 (equal rules, equal fingerprints).
    pub fingerprint: u64,
    /// The tzdb release the rules came from ([`crate::tz::tzdb_version`]), e.g. `2026f`.
    pub tzdb: String,
    /// When they were recorded.
    pub at: DateTime<Utc>,
}

/// A zone the templates with a next run use, and the rules recorded for it
/// ([`Repository::planned_zones`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedZone {
    /// The zone's IANA name as stored; `None` for templates written before the store kept
    /// zones (schema version 4), whose rules are unknown.
    pub zone: Option<String>,
    /// The rules recorded for the zone, if any.
    pub recorded: Option<RecordedRules>,
    /// How many templates with a next run use it.
    pub templates: u64,
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
///
/// Every method returns a `Send` future (so engines run on multi-threaded runtimes) and fails
/// with a [`RepositoryError`] whose kind says whether retrying may help
/// ([`RepositoryError::is_retryable`]). Lookups are scoped by tenant: another tenant's row is
/// reported absent. Implement it for a store of your own and run the crate's conformance
/// suite (`tests/conformance`) against it.
///
/// ```
/// use recurring_deals::{InMemoryRepository, Repository};
///
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let store = InMemoryRepository::new();
/// assert!(store.outbox(10).await?.is_empty());
/// assert_eq!(store.next_wake().await?, None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Repository: Send + Sync {
    /// A fresh template id.
    fn allocate_template_id(
        &self,
    ) -> impl Future<Output = Result<TemplateId, RepositoryError>> + Send;

    /// Stores a new template (version 0).
    ///
    /// # Errors
    /// [`RepositoryError::Refused`] when the id is taken; any other kind when the store fails.
    fn insert_template(
        &self,
        template: &Template,
    ) -> impl Future<Output = Result<(), RepositoryError>> + Send;

    /// The template `id` of `tenant` (`None` if missing or another tenant's).
    fn template(
        &self,
        tenant: &TenantId,
        id: TemplateId,
    ) -> impl Future<Output = Result<Option<Template>, RepositoryError>> + Send;

    /// The templates of `share` ([`Share::contains`]) whose next run is at or before `now`,
    /// earliest first (ties by id), at most `limit`. The cost must grow with the number due,
    /// not the number stored.
    fn due_share(
        &self,
        now: DateTime<Utc>,
        share: Share,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Template>, RepositoryError>> + Send;

    /// Every template whose next run is at or before `now`, earliest first, at most `limit`:
    /// [`Repository::due_share`] of [`Share::ALL`].
    fn due_templates(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Template>, RepositoryError>> + Send {
        self.due_share(now, Share::ALL, limit)
    }

    /// The earliest next run of any template of `share`, or of any invoice reminder
    /// (reminders are not shared out).
    fn next_wake_share(
        &self,
        share: Share,
    ) -> impl Future<Output = Result<Option<DateTime<Utc>>, RepositoryError>> + Send;

    /// The earliest next run of any template or invoice reminder:
    /// [`Repository::next_wake_share`] of [`Share::ALL`].
    fn next_wake(
        &self,
    ) -> impl Future<Output = Result<Option<DateTime<Utc>>, RepositoryError>> + Send {
        self.next_wake_share(Share::ALL)
    }

    /// Commits atomically, if the stored template still has `commit.template.version`. The
    /// commit's deals, skipped occurrences and invoices must be keyed to its template, and
    /// every row must be of the template's tenant (as the planner makes them); a commit that
    /// is not is refused ([`Commit::check_rows`]) and writes nothing. Deal keys already
    /// present are reported in [`CommitOutcome::Committed`] and handled by
    /// [`Commit::drop_already_created`].
    ///
    /// # Errors
    /// A [`RepositoryError`] when the store fails (then nothing was written).
    fn commit(
        &self,
        commit: Commit,
    ) -> impl Future<Output = Result<CommitOutcome, RepositoryError>> + Send;

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
    fn commit_batch(
        &self,
        commits: Vec<Commit>,
    ) -> impl Future<Output = Vec<Result<CommitOutcome, RepositoryError>>> + Send {
        async move {
            let mut outcomes = Vec::with_capacity(commits.len());
            for commit in commits {
                outcomes.push(self.commit(commit).await);
            }
            outcomes
        }
    }

    /// Deletes a template (its deals stay), if it still has `version`.
    fn delete_template(
        &self,
        tenant: &TenantId,
        id: TemplateId,
        version: u64,
    ) -> impl Future<Output = Result<CommitOutcome, RepositoryError>> + Send;

    /// Lists a tenant's templates, sorted by next run (templates with none last), then id;
    /// [`Page::total`] counts every template passing the state filter, wherever the page
    /// starts.
    fn list_templates(
        &self,
        tenant: &TenantId,
        query: &TemplateQuery,
    ) -> impl Future<Output = Result<Page<Template>, RepositoryError>> + Send;

    /// A tenant's templates in id order, those after `after` (from the first when `None`),
    /// at most `limit` rows: a scan of every template (forecasts, changes across templates)
    /// that holds one page at a time. Pass [`Scan::next`] as `after` until it is `None`. Each
    /// call's cost grows with `limit`, not with the tenant's templates. A row that cannot be
    /// decoded is logged and left out ([`RepositoryError::CorruptRow`]), never ending the scan.
    fn scan_templates(
        &self,
        tenant: &TenantId,
        after: Option<TemplateId>,
        limit: usize,
    ) -> impl Future<Output = Result<Scan, RepositoryError>> + Send;

    /// Number of a tenant's templates that are active or paused (what plan limits count).
    fn count_live(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<u64, RepositoryError>> + Send;

    /// The zones of all tenants' templates that have a next run, each with the rules
    /// recorded for it ([`Repository::record_zone_rules`]): what
    /// [`crate::Engine::replan_zones`] compares with the rules in use. One row per zone.
    fn planned_zones(
        &self,
    ) -> impl Future<Output = Result<Vec<PlannedZone>, RepositoryError>> + Send;

    /// The templates of every tenant with a next run whose zone is `zone` (`None`: rows
    /// written before the store kept zones), in id order after `after`, at most `limit`:
    /// pages as [`Repository::scan_templates`] gives them.
    fn zone_templates(
        &self,
        zone: Option<&str>,
        after: Option<TemplateId>,
        limit: usize,
    ) -> impl Future<Output = Result<Scan, RepositoryError>> + Send;

    /// Records `rules` for `zone` if the recorded fingerprint is `expected` (`None`: nothing
    /// recorded yet): a compare-and-set, so of several workers re-planning a zone one
    /// records it. Returns whether this call recorded them.
    fn record_zone_rules(
        &self,
        zone: &str,
        expected: Option<u64>,
        rules: &RecordedRules,
    ) -> impl Future<Output = Result<bool, RepositoryError>> + Send;

    /// A tenant's created deals (of one template, or all), by template, nominal instant, key.
    fn deals(
        &self,
        tenant: &TenantId,
        template: Option<TemplateId>,
    ) -> impl Future<Output = Result<Vec<CreatedDeal>, RepositoryError>> + Send;

    /// A created deal by key.
    fn deal(
        &self,
        tenant: &TenantId,
        key: DealKey,
    ) -> impl Future<Output = Result<Option<CreatedDeal>, RepositoryError>> + Send;

    /// A tenant's skipped occurrences (of one template, or all), by key.
    fn skipped(
        &self,
        tenant: &TenantId,
        template: Option<TemplateId>,
    ) -> impl Future<Output = Result<Vec<SkippedOccurrence>, RepositoryError>> + Send;

    /// The invoice of a deal.
    fn invoice(
        &self,
        tenant: &TenantId,
        deal: DealKey,
    ) -> impl Future<Output = Result<Option<Invoice>, RepositoryError>> + Send;

    /// Open invoices with a reminder due at or before `now`, earliest first, at most `limit`.
    fn due_invoices(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Invoice>, RepositoryError>> + Send;

    /// A tenant's overdue invoices ([`Invoice::is_overdue`]: open, past the first dunning
    /// step), by the instant they became overdue and then deal key
    /// ([`OverduePosition::sort_key`]), those after `after` (from the first when `None`), at
    /// most `limit`. Each call's cost grows with `limit`, not with the tenant's invoices.
    fn overdue_invoices(
        &self,
        tenant: &TenantId,
        after: Option<OverduePosition>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Invoice>, RepositoryError>> + Send;

    /// Writes an invoice with its events, if the stored one still has `invoice.version`.
    fn commit_invoice(
        &self,
        invoice: Invoice,
        events: Vec<NewEvent>,
    ) -> impl Future<Output = Result<CommitOutcome, RepositoryError>> + Send;

    /// Unacknowledged outbox events of every tenant in order, at most `limit`.
    fn outbox(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<OutboxEvent>, RepositoryError>> + Send;

    /// Unacknowledged outbox events of one tenant in order, at most `limit`.
    fn tenant_outbox(
        &self,
        tenant: &TenantId,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<OutboxEvent>, RepositoryError>> + Send;

    /// Acknowledges delivered events of any tenant (unknown ids are ignored).
    fn ack(&self, ids: &[u64]) -> impl Future<Output = Result<(), RepositoryError>> + Send;

    /// Acknowledges delivered events of one tenant (ids of other tenants' events, and
    /// unknown ids, are ignored).
    fn tenant_ack(
        &self,
        tenant: &TenantId,
        ids: &[u64],
    ) -> impl Future<Output = Result<(), RepositoryError>> + Send;

    /// The oldest unacknowledged event of each tenant that has one, oldest first, at most
    /// `limit` (one per tenant): how several runners split the outbox by tenant
    /// ([`Share::contains_tenant`]) without each reading every event.
    fn outbox_heads(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<OutboxHead>, RepositoryError>> + Send;

    /// Unacknowledged outbox events of the given tenants in order, at most `limit`.
    fn tenants_outbox(
        &self,
        tenants: &[TenantId],
        limit: usize,
    ) -> impl Future<Output = Result<Vec<OutboxEvent>, RepositoryError>> + Send;

    /// Unacknowledged outbox events of every tenant except `tenants`, in order, at most
    /// `limit`: how a lone runner goes on past tenants it holds back (a refused event
    /// waiting for its retry) without a pass over every tenant's oldest event.
    fn outbox_except(
        &self,
        tenants: &[TenantId],
        limit: usize,
    ) -> impl Future<Output = Result<Vec<OutboxEvent>, RepositoryError>> + Send;

    /// Records refused deliveries in one commit: each event's
    /// [`OutboxEvent::attempts`] grows by one and it keeps the error; an event with a
    /// [`DeliveryFailure::retry_at`] waits until then, one without becomes a dead letter
    /// (out of the outbox reads, listed by [`Repository::dead_letters`]). Failures naming an
    /// unknown id, or an id of another tenant, are ignored.
    fn record_failures(
        &self,
        failures: &[DeliveryFailure],
    ) -> impl Future<Output = Result<(), RepositoryError>> + Send;

    /// A tenant's dead letters in outbox order, those with an id above `after` (from the
    /// first when `None`), at most `limit`. Each call's cost grows with `limit`.
    fn dead_letters(
        &self,
        tenant: &TenantId,
        after: Option<u64>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<DeadLetter>, RepositoryError>> + Send;

    /// Puts a tenant's dead letters `ids` back in the outbox at their old place, with no
    /// attempts and no error; returns how many were dead letters (other ids are ignored).
    fn requeue_dead_letters(
        &self,
        tenant: &TenantId,
        ids: &[u64],
    ) -> impl Future<Output = Result<u64, RepositoryError>> + Send;
}

/// A refused delivery to record ([`Repository::record_failures`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryFailure {
    /// The event's id.
    pub id: u64,
    /// The event's tenant.
    pub tenant: TenantId,
    /// The handler's error, as text (the stores keep at most 2,000 characters).
    pub error: String,
    /// When the refusal happened.
    pub at: DateTime<Utc>,
    /// When to hand the event over again; `None` makes it a dead letter.
    pub retry_at: Option<DateTime<Utc>>,
}

/// The most characters of a handler's error a store keeps ([`DeliveryFailure::error`]).
pub const MAX_ERROR_CHARS: usize = 2_000;

/// An event whose deliveries failed [`crate::RunnerConfig::max_attempts`] times: out of the
/// outbox until requeued ([`Repository::requeue_dead_letters`]) or discarded (acknowledged).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The event, with its [`OutboxEvent::attempts`].
    pub event: OutboxEvent,
    /// The handler's last error.
    pub last_error: String,
    /// When it became a dead letter.
    pub dead_at: DateTime<Utc>,
}

impl DeliveryFailure {
    /// The error as stored: at most [`MAX_ERROR_CHARS`] characters.
    pub(crate) fn stored_error(&self) -> &str {
        match self.error.char_indices().nth(MAX_ERROR_CHARS) {
            Some((end, _)) => &self.error[..end],
            None => &self.error,
        }
    }
}

/// A tenant's oldest unacknowledged outbox event ([`Repository::outbox_heads`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxHead {
    /// The tenant.
    pub tenant: TenantId,
    /// The event's id.
    pub id: u64,
    /// When the event was produced.
    pub at: DateTime<Utc>,
    /// When it may be handed over again after a refusal ([`OutboxEvent::retry_at`]).
    pub retry_at: Option<DateTime<Utc>>,
}

/// Shared and boxed repositories are repositories: several engines (threads, or a service's
/// tasks) can use one store through an `Arc`.
macro_rules! forward_repository {
    ($($wrapper:ty),*) => {$(
        impl<R: Repository + ?Sized> Repository for $wrapper {
            fn allocate_template_id(&self) -> impl Future<Output = Result<TemplateId, RepositoryError>> + Send {
                (**self).allocate_template_id()
            }
            fn insert_template(&self, template: &Template) -> impl Future<Output = Result<(), RepositoryError>> + Send {
                (**self).insert_template(template)
            }
            fn template(&self, tenant: &TenantId, id: TemplateId) -> impl Future<Output = Result<Option<Template>, RepositoryError>> + Send {
                (**self).template(tenant, id)
            }
            fn due_share(&self, now: DateTime<Utc>, share: Share, limit: usize) -> impl Future<Output = Result<Vec<Template>, RepositoryError>> + Send {
                (**self).due_share(now, share, limit)
            }
            fn next_wake_share(&self, share: Share) -> impl Future<Output = Result<Option<DateTime<Utc>>, RepositoryError>> + Send {
                (**self).next_wake_share(share)
            }
            fn commit(&self, commit: Commit) -> impl Future<Output = Result<CommitOutcome, RepositoryError>> + Send {
                (**self).commit(commit)
            }
            fn commit_batch(&self, commits: Vec<Commit>) -> impl Future<Output = Vec<Result<CommitOutcome, RepositoryError>>> + Send {
                (**self).commit_batch(commits)
            }
            fn delete_template(&self, tenant: &TenantId, id: TemplateId, version: u64) -> impl Future<Output = Result<CommitOutcome, RepositoryError>> + Send {
                (**self).delete_template(tenant, id, version)
            }
            fn list_templates(&self, tenant: &TenantId, query: &TemplateQuery) -> impl Future<Output = Result<Page<Template>, RepositoryError>> + Send {
                (**self).list_templates(tenant, query)
            }
            fn scan_templates(&self, tenant: &TenantId, after: Option<TemplateId>, limit: usize) -> impl Future<Output = Result<Scan, RepositoryError>> + Send {
                (**self).scan_templates(tenant, after, limit)
            }
            fn count_live(&self, tenant: &TenantId) -> impl Future<Output = Result<u64, RepositoryError>> + Send {
                (**self).count_live(tenant)
            }
            fn deals(&self, tenant: &TenantId, template: Option<TemplateId>) -> impl Future<Output = Result<Vec<CreatedDeal>, RepositoryError>> + Send {
                (**self).deals(tenant, template)
            }
            fn deal(&self, tenant: &TenantId, key: DealKey) -> impl Future<Output = Result<Option<CreatedDeal>, RepositoryError>> + Send {
                (**self).deal(tenant, key)
            }
            fn skipped(&self, tenant: &TenantId, template: Option<TemplateId>) -> impl Future<Output = Result<Vec<SkippedOccurrence>, RepositoryError>> + Send {
                (**self).skipped(tenant, template)
            }
            fn invoice(&self, tenant: &TenantId, deal: DealKey) -> impl Future<Output = Result<Option<Invoice>, RepositoryError>> + Send {
                (**self).invoice(tenant, deal)
            }
            fn due_invoices(&self, now: DateTime<Utc>, limit: usize) -> impl Future<Output = Result<Vec<Invoice>, RepositoryError>> + Send {
                (**self).due_invoices(now, limit)
            }
            fn overdue_invoices(&self, tenant: &TenantId, after: Option<OverduePosition>, limit: usize) -> impl Future<Output = Result<Vec<Invoice>, RepositoryError>> + Send {
                (**self).overdue_invoices(tenant, after, limit)
            }
            fn commit_invoice(&self, invoice: Invoice, events: Vec<NewEvent>) -> impl Future<Output = Result<CommitOutcome, RepositoryError>> + Send {
                (**self).commit_invoice(invoice, events)
            }
            fn outbox(&self, limit: usize) -> impl Future<Output = Result<Vec<OutboxEvent>, RepositoryError>> + Send {
                (**self).outbox(limit)
            }
            fn tenant_outbox(&self, tenant: &TenantId, limit: usize) -> impl Future<Output = Result<Vec<OutboxEvent>, RepositoryError>> + Send {
                (**self).tenant_outbox(tenant, limit)
            }
            fn ack(&self, ids: &[u64]) -> impl Future<Output = Result<(), RepositoryError>> + Send {
                (**self).ack(ids)
            }
            fn planned_zones(&self) -> impl Future<Output = Result<Vec<PlannedZone>, RepositoryError>> + Send {
                (**self).planned_zones()
            }
            fn zone_templates(&self, zone: Option<&str>, after: Option<TemplateId>, limit: usize) -> impl Future<Output = Result<Scan, RepositoryError>> + Send {
                (**self).zone_templates(zone, after, limit)
            }
            fn record_zone_rules(&self, zone: &str, expected: Option<u64>, rules: &RecordedRules) -> impl Future<Output = Result<bool, RepositoryError>> + Send {
                (**self).record_zone_rules(zone, expected, rules)
            }
            fn tenant_ack(&self, tenant: &TenantId, ids: &[u64]) -> impl Future<Output = Result<(), RepositoryError>> + Send {
                (**self).tenant_ack(tenant, ids)
            }
            fn outbox_heads(&self, limit: usize) -> impl Future<Output = Result<Vec<OutboxHead>, RepositoryError>> + Send {
                (**self).outbox_heads(limit)
            }
            fn tenants_outbox(&self, tenants: &[TenantId], limit: usize) -> impl Future<Output = Result<Vec<OutboxEvent>, RepositoryError>> + Send {
                (**self).tenants_outbox(tenants, limit)
            }
            fn outbox_except(&self, tenants: &[TenantId], limit: usize) -> impl Future<Output = Result<Vec<OutboxEvent>, RepositoryError>> + Send {
                (**self).outbox_except(tenants, limit)
            }
            fn record_failures(&self, failures: &[DeliveryFailure]) -> impl Future<Output = Result<(), RepositoryError>> + Send {
                (**self).record_failures(failures)
            }
            fn dead_letters(&self, tenant: &TenantId, after: Option<u64>, limit: usize) -> impl Future<Output = Result<Vec<DeadLetter>, RepositoryError>> + Send {
                (**self).dead_letters(tenant, after, limit)
            }
            fn requeue_dead_letters(&self, tenant: &TenantId, ids: &[u64]) -> impl Future<Output = Result<u64, RepositoryError>> + Send {
                (**self).requeue_dead_letters(tenant, ids)
            }
        }
    )*};
}

forward_repository!(std::sync::Arc<R>, Box<R>, &R);
