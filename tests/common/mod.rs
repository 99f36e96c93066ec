//! Helpers shared by the engine's scenario and property tests: short constructors for dates
//! and deals, and a repository wrapper that injects faults.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::sync::Mutex;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use recurring_deals::{
    Commit, CommitOutcome, CreatedDeal, Currency, Deal, DealKey, Invoice, Money, NewEvent,
    OutboxEvent, OverduePosition, Page, Repository, RepositoryError, SkippedOccurrence, Template,
    TemplateId, TemplateQuery, TenantId, store,
    store::{PlannedZone, RecordedRules, Scan, Share},
};

/// An instant in UTC.
pub fn utc(y: i32, m: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, mi, 0).unwrap()
}

/// A civil date.
pub fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// A local wall-clock date and time.
pub fn local(y: i32, m: u32, d: u32, h: u32, mi: u32) -> NaiveDateTime {
    date(y, m, d).and_hms_opt(h, mi, 0).unwrap()
}

pub fn rub() -> Currency {
    Currency::new("RUB").unwrap()
}

/// A deal in roubles.
pub fn deal(title: &str, minor: i64) -> Deal {
    Deal::new(title, Money::new(minor, rub())).unwrap()
}

pub fn tenant(name: &str) -> TenantId {
    TenantId::new(name).unwrap()
}

/// The occurrence slot of a scheduled deal key.
pub fn seq_of(key: &DealKey) -> u64 {
    match key {
        DealKey::Scheduled { seq, .. } => *seq,
        DealKey::Manual { .. } => panic!("expected a scheduled key, got {key}"),
    }
}

/// A scheduled deal key.
pub fn scheduled(template: TemplateId, revision: u32, seq: u64) -> DealKey {
    DealKey::Scheduled {
        template,
        revision,
        seq,
    }
}

/// What the fault injector sees.
#[derive(Debug)]
pub enum Call<'a> {
    /// `Repository::commit`.
    Commit(&'a Commit),
    /// `Repository::commit_batch`, as a whole (then each commit of it as `Commit`).
    Batch(&'a [Commit]),
    /// `Repository::ack`.
    Ack(&'a [u64]),
    /// A read: `due_invoices` or `next_wake_share` (only `Fault::Before` applies).
    Read(&'static str),
}

/// What the fault injector decides for one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Pass the call through.
    None,
    /// Fail before the store is touched: nothing is written.
    Before,
    /// Write, then report a failure (a lost reply, a timeout after the commit landed).
    After,
    /// Report success without doing anything (a lost acknowledgement).
    Lose,
}

type Decide = Box<dyn FnMut(Call<'_>) -> Fault + Send>;

/// A repository that delegates to `inner` and injects the faults `decide` chooses; counts of
/// injected faults are kept so tests can check the faults really happened.
pub struct Faulty<R> {
    pub inner: R,
    decide: Mutex<Decide>,
    injected: Mutex<[u64; 3]>,
    /// While set, loading due templates never returns (a connection that stopped
    /// answering).
    hang: std::sync::atomic::AtomicBool,
}

impl<R> Faulty<R> {
    pub fn new(inner: R, decide: impl FnMut(Call<'_>) -> Fault + Send + 'static) -> Self {
        Faulty {
            inner,
            decide: Mutex::new(Box::new(decide)),
            injected: Mutex::new([0; 3]),
            hang: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// From now on (while `hang`), loading due templates never returns.
    pub fn hang(&self, hang: bool) {
        self.hang.store(hang, std::sync::atomic::Ordering::SeqCst);
    }

    /// Replaces the fault policy.
    pub fn set(&self, decide: impl FnMut(Call<'_>) -> Fault + Send + 'static) {
        *self.decide.lock().unwrap() = Box::new(decide);
    }

    /// How many `Before`, `After` and `Lose` faults were injected.
    pub fn injected(&self) -> [u64; 3] {
        *self.injected.lock().unwrap()
    }

    fn fault(&self, call: Call<'_>) -> Fault {
        let fault = (self.decide.lock().unwrap())(call);
        let slot = match fault {
            Fault::None => None,
            Fault::Before => Some(0),
            Fault::After => Some(1),
            Fault::Lose => Some(2),
        };
        if let Some(slot) = slot {
            self.injected.lock().unwrap()[slot] += 1;
        }
        fault
    }
}

fn injected_error() -> RepositoryError {
    RepositoryError::Connection(std::sync::Arc::new(std::io::Error::other("injected fault")))
}

impl<R: Repository> Repository for Faulty<R> {
    async fn allocate_template_id(&self) -> Result<TemplateId, RepositoryError> {
        self.inner.allocate_template_id().await
    }
    async fn planned_zones(&self) -> Result<Vec<PlannedZone>, RepositoryError> {
        self.inner.planned_zones().await
    }
    async fn zone_templates(
        &self,
        zone: Option<&str>,
        after: Option<TemplateId>,
        limit: usize,
    ) -> Result<Scan, RepositoryError> {
        self.inner.zone_templates(zone, after, limit).await
    }
    async fn record_zone_rules(
        &self,
        zone: &str,
        expected: Option<u64>,
        rules: &RecordedRules,
    ) -> Result<bool, RepositoryError> {
        self.inner.record_zone_rules(zone, expected, rules).await
    }
    async fn insert_template(&self, template: &Template) -> Result<(), RepositoryError> {
        self.inner.insert_template(template).await
    }
    async fn template(
        &self,
        tenant: &TenantId,
        id: TemplateId,
    ) -> Result<Option<Template>, RepositoryError> {
        self.inner.template(tenant, id).await
    }
    async fn due_share(
        &self,
        now: DateTime<Utc>,
        share: Share,
        limit: usize,
    ) -> Result<Vec<Template>, RepositoryError> {
        if self.hang.load(std::sync::atomic::Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        self.inner.due_share(now, share, limit).await
    }
    async fn next_wake_share(
        &self,
        share: Share,
    ) -> Result<Option<DateTime<Utc>>, RepositoryError> {
        if self.fault(Call::Read("next_wake_share")) == Fault::Before {
            return Err(injected_error());
        }
        self.inner.next_wake_share(share).await
    }
    async fn commit(&self, commit: Commit) -> Result<CommitOutcome, RepositoryError> {
        match self.fault(Call::Commit(&commit)) {
            Fault::Before => Err(injected_error()),
            Fault::After => {
                self.inner.commit(commit).await?;
                Err(injected_error())
            }
            Fault::Lose => Ok(CommitOutcome::Conflict),
            Fault::None => self.inner.commit(commit).await,
        }
    }
    /// A batch is one transaction: a fault on it fails, lands or loses the whole batch.
    async fn commit_batch(
        &self,
        commits: Vec<Commit>,
    ) -> Vec<Result<CommitOutcome, RepositoryError>> {
        let failed = |n: usize| (0..n).map(|_| Err(injected_error())).collect();
        match self.fault(Call::Batch(&commits)) {
            Fault::Before => failed(commits.len()),
            Fault::After => {
                let n = commits.len();
                let _ = self.inner.commit_batch(commits).await;
                failed(n)
            }
            Fault::Lose => commits
                .iter()
                .map(|_| Ok(CommitOutcome::Conflict))
                .collect(),
            Fault::None => {
                let mut outcomes = Vec::with_capacity(commits.len());
                for commit in commits {
                    outcomes.push(self.commit(commit).await);
                }
                outcomes
            }
        }
    }
    async fn delete_template(
        &self,
        tenant: &TenantId,
        id: TemplateId,
        version: u64,
    ) -> Result<CommitOutcome, RepositoryError> {
        self.inner.delete_template(tenant, id, version).await
    }
    async fn list_templates(
        &self,
        tenant: &TenantId,
        query: &TemplateQuery,
    ) -> Result<Page<Template>, RepositoryError> {
        self.inner.list_templates(tenant, query).await
    }
    async fn scan_templates(
        &self,
        tenant: &TenantId,
        after: Option<TemplateId>,
        limit: usize,
    ) -> Result<store::Scan, RepositoryError> {
        self.inner.scan_templates(tenant, after, limit).await
    }
    async fn count_live(&self, tenant: &TenantId) -> Result<u64, RepositoryError> {
        self.inner.count_live(tenant).await
    }
    async fn deals(
        &self,
        tenant: &TenantId,
        template: Option<TemplateId>,
    ) -> Result<Vec<CreatedDeal>, RepositoryError> {
        self.inner.deals(tenant, template).await
    }
    async fn deal(
        &self,
        tenant: &TenantId,
        key: DealKey,
    ) -> Result<Option<CreatedDeal>, RepositoryError> {
        self.inner.deal(tenant, key).await
    }
    async fn skipped(
        &self,
        tenant: &TenantId,
        template: Option<TemplateId>,
    ) -> Result<Vec<SkippedOccurrence>, RepositoryError> {
        self.inner.skipped(tenant, template).await
    }
    async fn invoice(
        &self,
        tenant: &TenantId,
        deal: DealKey,
    ) -> Result<Option<Invoice>, RepositoryError> {
        self.inner.invoice(tenant, deal).await
    }
    async fn due_invoices(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Invoice>, RepositoryError> {
        if self.fault(Call::Read("due_invoices")) == Fault::Before {
            return Err(injected_error());
        }
        self.inner.due_invoices(now, limit).await
    }
    async fn overdue_invoices(
        &self,
        tenant: &TenantId,
        after: Option<OverduePosition>,
        limit: usize,
    ) -> Result<Vec<Invoice>, RepositoryError> {
        self.inner.overdue_invoices(tenant, after, limit).await
    }
    async fn commit_invoice(
        &self,
        invoice: Invoice,
        events: Vec<NewEvent>,
    ) -> Result<CommitOutcome, RepositoryError> {
        self.inner.commit_invoice(invoice, events).await
    }
    async fn outbox(&self, limit: usize) -> Result<Vec<OutboxEvent>, RepositoryError> {
        self.inner.outbox(limit).await
    }
    async fn tenant_outbox(
        &self,
        tenant: &TenantId,
        limit: usize,
    ) -> Result<Vec<OutboxEvent>, RepositoryError> {
        self.inner.tenant_outbox(tenant, limit).await
    }
    async fn tenant_ack(&self, tenant: &TenantId, ids: &[u64]) -> Result<(), RepositoryError> {
        self.inner.tenant_ack(tenant, ids).await
    }
    async fn outbox_heads(
        &self,
        limit: usize,
    ) -> Result<Vec<recurring_deals::store::OutboxHead>, RepositoryError> {
        self.inner.outbox_heads(limit).await
    }
    async fn tenants_outbox(
        &self,
        tenants: &[TenantId],
        limit: usize,
    ) -> Result<Vec<OutboxEvent>, RepositoryError> {
        self.inner.tenants_outbox(tenants, limit).await
    }
    async fn outbox_except(
        &self,
        tenants: &[TenantId],
        limit: usize,
    ) -> Result<Vec<OutboxEvent>, RepositoryError> {
        self.inner.outbox_except(tenants, limit).await
    }
    async fn record_failures(
        &self,
        failures: &[recurring_deals::store::DeliveryFailure],
    ) -> Result<(), RepositoryError> {
        self.inner.record_failures(failures).await
    }
    async fn dead_letters(
        &self,
        tenant: &TenantId,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<recurring_deals::store::DeadLetter>, RepositoryError> {
        self.inner.dead_letters(tenant, after, limit).await
    }
    async fn requeue_dead_letters(
        &self,
        tenant: &TenantId,
        ids: &[u64],
    ) -> Result<u64, RepositoryError> {
        self.inner.requeue_dead_letters(tenant, ids).await
    }
    async fn ack(&self, ids: &[u64]) -> Result<(), RepositoryError> {
        match self.fault(Call::Ack(ids)) {
            Fault::Lose => Ok(()),
            Fault::Before => Err(injected_error()),
            Fault::After => {
                self.inner.ack(ids).await?;
                Err(injected_error())
            }
            Fault::None => self.inner.ack(ids).await,
        }
    }
}

/// Builds example `name` with this test's cargo, profile and features (so the library the
/// tests were built with is reused, not built again with other features) and returns the
/// path of its executable.
pub fn build_example(name: &str) -> std::path::PathBuf {
    let features: Vec<&str> = [
        ("sqlite", cfg!(feature = "sqlite")),
        ("postgres", cfg!(feature = "postgres")),
        ("tracing", cfg!(feature = "tracing")),
        ("metrics", cfg!(feature = "metrics")),
        ("parallel", cfg!(feature = "parallel")),
    ]
    .into_iter()
    .filter_map(|(feature, on)| on.then_some(feature))
    .collect();
    let mut command = std::process::Command::new(env!("CARGO"));
    command.args([
        "build",
        "--release",
        "--example",
        name,
        "--message-format=json",
    ]);
    if !features.is_empty() {
        command.args(["--features", &features.join(",")]);
    }
    let output = command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("cargo runs");
    assert!(output.status.success(), "example {name} builds");
    String::from_utf8(output.stdout)
        .expect("cargo writes UTF-8")
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["target"]["name"] == name)
        .find_map(|message| message["executable"].as_str().map(std::path::PathBuf::from))
        .expect("cargo reports the example's executable")
}
