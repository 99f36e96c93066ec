//! The repository conformance suite: every store must behave as the in-memory reference store
//! does, method by method.
//!
//! Use from a test file with `mod conformance;`, then
//! `conformance::conformance_tests!(runner);` to get one `#[tokio::test]` per case, where
//! `runner` is an `async fn(case: &'static str) -> Option<(G, Box<Make<R>>)>`: a store
//! factory for the case, with a guard `G` kept until the case ends (to drop temporary
//! databases), or `None` to skip (no server configured). [`run_all`] runs every case in one go.
//!
//! Every case takes `make: &Make<R>`; each `make().await` must return a fresh, empty and
//! independent store. Templates are built through the public API only (an [`Engine`] over the
//! store under test, and the pure [`plan`] function), since `Template`'s fields are private.
//! Expected dates, keys and orders are written out by hand from the schedules' definitions
//! ("daily at 09:00 UTC from 2026-03-01"), not taken from the crate's output.

#![allow(dead_code)]

mod dead_letters;
mod dunning;
mod refusals;
mod zones;

pub use dead_letters::*;
pub use dunning::*;
pub use refusals::*;
pub use zones::*;

use recurring_deals::Zone;
use recurring_deals::store::OutboxHead;
use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Utc};
use recurring_deals::{
    CatchUpMode, CatchUpPolicy, Commit, CommitOutcome, CreatedDeal, Currency, CustomValue,
    DateOffset, Deal, DealKey, End, Engine, EventKind, Interval, Invoice, InvoiceOptions,
    InvoiceStatus, ListPosition, ManualClock, Money, NewEvent, PaymentDue, PendingReminder,
    ProductRow, Recurrence, Repository, RepositoryError, Schedule, SkipReason, SkippedOccurrence,
    StateFilter, Target, Template, TemplateDraft, TemplateId, TemplatePlan, TemplateQuery,
    TemplateState, TenantId, plan, store, store::Share,
};

/// A store being made.
pub type StoreFuture<R> = Pin<Box<dyn Future<Output = R> + Send>>;

/// A factory of fresh, empty, independent stores.
pub type Make<R> = dyn Fn() -> StoreFuture<R> + Send + Sync;

/// Boxes a store factory.
pub fn make<R, F, Fut>(f: F) -> Box<Make<R>>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
{
    Box::new(move || Box::pin(f()))
}

/// Runs every case, each with its own fresh store from `make`.
pub async fn run_all<R: Repository>(make: &Make<R>) {
    macro_rules! all {
        // Each case's future on the heap: together, in a debug build, they outgrow the
        // test thread's stack.
        ($make:ident; $($case:ident),* $(,)?) => { $( Box::pin($case($make)).await; )* };
    }
    cases!(all, make);
}

/// Calls `$m!` with the list of every case.
macro_rules! cases {
    ($m:ident, $($arg:tt)*) => {
        $m! {$($arg)*;
            allocated_ids_are_distinct,
            template_round_trips_and_is_scoped_by_tenant,
            inserting_a_taken_id_fails,
            due_templates_are_ordered_limited_and_inclusive,
            due_shares_partition_the_due_list,
            scans_page_a_tenants_templates_in_id_order,
            instants_keep_their_nanoseconds,
            next_wake_covers_templates_and_reminders,
            commit_checks_the_version,
            commit_of_an_unknown_template_is_missing,
            commit_writes_deals_skipped_invoices_and_events,
            already_created_keys_are_reported_not_duplicated,
            drop_already_created_keeps_other_rows,
            commit_refuses_rows_of_another_template,
            commit_batch_gives_each_commit_its_own_outcome,
            skipped_occurrences_are_recorded_once,
            lookups_are_scoped_by_tenant_and_sorted,
            invoices_due_and_commit_invoice,
            outbox_keeps_order_and_ack_removes,
            tenant_outbox_and_tenant_ack_are_scoped,
            outbox_heads_and_tenants_outbox_split_the_outbox_by_tenant,
            refused_events_back_off_and_dead_letters_requeue,
            delete_checks_the_version_and_keeps_deals,
            list_templates_filters_sorts_and_pages,
            list_templates_default_page_size_is_50,
            list_templates_pages_by_keyset,
            count_live_counts_active_and_paused,
            engine_runs_as_on_the_reference_store,
            dunning_escalates_each_step_once_and_stops_when_paid,
            dunning_skips_past_steps_and_stops_the_template,
            a_pending_final_action_survives_a_crash,
            overdue_invoices_page_by_keyset,
            next_runs_planned_under_other_rules_move_on_the_first_tick,
            an_occurrence_moved_later_is_not_created_twice,
            workers_replan_each_zone_once,
            refused_input_is_typed_and_writes_nothing,
        }
    };
}
pub(crate) use cases;

/// One `#[tokio::test]` per case: `conformance_tests!(runner)`, `runner` as in the module's
/// docs.
macro_rules! conformance_tests {
    ($runner:path) => {
        use $crate::conformance::conformance_tests_of;
        $crate::conformance::cases!(conformance_tests_of, $runner);
    };
}
pub(crate) use conformance_tests;

/// The tests of [`conformance_tests`], given the case list.
macro_rules! conformance_tests_of {
    ($runner:path; $($case:ident),* $(,)?) => {
        mod conformance_cases {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some((_guard, make)) = $runner(stringify!($case)).await else {
                        return;
                    };
                    crate::conformance::$case(&*make).await;
                }
            )*
        }
    };
}
pub(crate) use conformance_tests_of;

// ---------------------------------------------------------------------------------------------
// Building blocks
// ---------------------------------------------------------------------------------------------

/// 2026-03-01 00:00 UTC, where every case starts.
pub fn t0() -> DateTime<Utc> {
    utc(2026, 3, 1, 0, 0)
}

/// An instant in UTC.
pub fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
}

/// A civil date.
pub fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// A local date and time.
pub fn local(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
    date(y, m, d).and_hms_opt(h, min, 0).unwrap()
}

/// A tenant.
pub fn tenant(name: &str) -> TenantId {
    TenantId::new(name).unwrap()
}

/// An amount in roubles.
pub fn rub(minor: i64) -> Money {
    Money::new(minor, Currency::new("RUB").unwrap())
}

/// Every `interval` days at the local time of `start`, in UTC (so occurrence n is simply
/// `start + n * interval days`).
pub fn daily(start: NaiveDateTime, interval: u32) -> Schedule {
    Schedule::builder(
        Recurrence::daily(Interval::new(interval).unwrap()),
        start,
        Zone::UTC,
    )
    .build()
    .unwrap()
}

/// A plain draft: a deal of 1000.00 RUB created by `schedule`.
pub fn draft(title: &str, schedule: Schedule) -> TemplateDraft {
    TemplateDraft::new(Deal::new(title, rub(100_000)).unwrap(), schedule)
}

/// An engine over `repository` whose clock shows `now`.
pub fn engine_at<R: Repository>(repository: &R, now: DateTime<Utc>) -> Engine<&R, ManualClock> {
    Engine::new(repository, ManualClock::new(now))
}

/// A template created at `now` with a daily schedule from `start`.
pub async fn create_daily<R: Repository>(
    repository: &R,
    tenant: &TenantId,
    now: DateTime<Utc>,
    start: NaiveDateTime,
) -> Template {
    engine_at(repository, now)
        .create_template(tenant, draft("Daily", daily(start, 1)))
        .await
        .unwrap()
}

/// A commit that writes the template and nothing else.
pub fn bare(template: &Template) -> Commit {
    Commit {
        template: template.clone(),
        deals: Vec::new(),
        skipped: Vec::new(),
        invoices: Vec::new(),
        events: Vec::new(),
    }
}

/// The commit of a plan.
pub fn commit_of(plan: TemplatePlan) -> Commit {
    Commit::from(plan)
}

/// `template` as the store should hold it after one more commit.
pub async fn bumped(template: &Template) -> Template {
    // The version is private: a commit of the template itself bumps it, through a scratch
    // in-memory store holding the same template.
    let scratch = recurring_deals::InMemoryRepository::new();
    scratch.insert_template(template).await.unwrap();
    let outcome = scratch.commit(bare(template)).await.unwrap();
    assert_eq!(
        outcome,
        CommitOutcome::Committed {
            version: template.version() + 1,
            already_created: Vec::new(),
        }
    );
    scratch
        .template(template.tenant(), template.id())
        .await
        .unwrap()
        .unwrap()
}

/// The scheduled key `seq` of revision 0 of `template`.
pub fn key(template: TemplateId, seq: u64) -> DealKey {
    DealKey::Scheduled {
        template,
        revision: 0,
        seq,
    }
}

/// A hand-made created deal.
pub fn created_deal(
    tenant: &TenantId,
    key: DealKey,
    title: &str,
    nominal_at: DateTime<Utc>,
) -> CreatedDeal {
    CreatedDeal {
        key,
        tenant: tenant.clone(),
        deal: Deal::new(title, rub(5_000)).unwrap(),
        nominal_date: nominal_at.date_naive(),
        nominal_at,
        created_at: nominal_at + TimeDelta::minutes(1),
        catch_up: false,
    }
}

/// A hand-made skipped occurrence.
pub fn skipped_occurrence(
    tenant: &TenantId,
    key: DealKey,
    nominal_at: DateTime<Utc>,
    reason: SkipReason,
) -> SkippedOccurrence {
    SkippedOccurrence {
        key,
        tenant: tenant.clone(),
        nominal_date: nominal_at.date_naive(),
        nominal_at,
        reason,
    }
}

/// A hand-made open invoice with reminders at `reminders`.
pub fn open_invoice(tenant: &TenantId, deal: DealKey, reminders: &[DateTime<Utc>]) -> Invoice {
    Invoice {
        tenant: tenant.clone(),
        deal,
        amount: rub(5_000),
        issued_on: date(2026, 3, 1),
        due_on: date(2026, 3, 11),
        send_to: vec![7, 8],
        mail_template: Some(3),
        document_template: None,
        status: InvoiceStatus::Open,
        pending_reminders: reminders
            .iter()
            .enumerate()
            .map(|(i, &at)| PendingReminder {
                at,
                offset_days: i as i32 - 1,
            })
            .collect(),
        pending_dunning: Vec::new(),
        dunning_level: 0,
        overdue_since: None,
        pending_action: None,
        history: Vec::new(),
        history_dropped: 0,
        version: 0,
    }
}

/// A hand-made event.
pub fn event(tenant: &TenantId, idempotency_key: &str, kind: EventKind) -> NewEvent {
    NewEvent {
        tenant: tenant.clone(),
        idempotency_key: idempotency_key.to_owned(),
        at: t0(),
        kind,
    }
}

/// A deal-created event.
pub fn deal_created(tenant: &TenantId, deal: DealKey) -> NewEvent {
    event(
        tenant,
        &format!("deal:{deal}"),
        EventKind::DealCreated {
            deal,
            nominal_date: date(2026, 3, 1),
            catch_up: false,
            content: None,
        },
    )
}

/// The outbox's events without their ids.
pub async fn outbox_events<R: Repository>(repository: &R) -> Vec<NewEvent> {
    repository
        .outbox(usize::MAX)
        .await
        .unwrap()
        .into_iter()
        .map(|e| NewEvent {
            tenant: e.tenant,
            idempotency_key: e.idempotency_key,
            at: e.at,
            kind: e.kind,
        })
        .collect()
}

fn committed(version: u64, already_created: Vec<DealKey>) -> CommitOutcome {
    CommitOutcome::Committed {
        version,
        already_created,
    }
}

fn ids(templates: &[Template]) -> Vec<TemplateId> {
    templates.iter().map(Template::id).collect()
}

async fn page_ids<R: Repository>(
    repository: &R,
    tenant: &TenantId,
    query: TemplateQuery,
) -> Vec<TemplateId> {
    ids(&repository
        .list_templates(tenant, &query)
        .await
        .unwrap()
        .items)
}

fn by_id(mut templates: Vec<&Template>) -> Vec<TemplateId> {
    templates.sort_by_key(|t| t.id());
    templates.into_iter().map(Template::id).collect()
}

// ---------------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------------

/// `allocate_template_id` never hands out the same id twice, also not across tenants' creates.
pub async fn allocated_ids_are_distinct<R: Repository>(make: &Make<R>) {
    let repository = make().await;
    let mut seen = BTreeSet::new();
    for _ in 0..5 {
        assert!(seen.insert(repository.allocate_template_id().await.unwrap()));
    }
    for name in ["a", "b", "a"] {
        let t = create_daily(&repository, &tenant(name), t0(), local(2026, 3, 1, 9, 0)).await;
        assert!(seen.insert(t.id()), "{} allocated twice", t.id());
    }
}

/// A stored template reads back equal (every option survives the store), only for its tenant.
pub async fn template_round_trips_and_is_scoped_by_tenant<R: Repository>(make: &Make<R>) {
    let repository = make().await;
    let acme = tenant("acme");
    let engine = engine_at(&repository, t0());
    let deal = Deal::new(
        "Всё включено \"quoted\" 'single' \\ ; DROP TABLE",
        rub(123_456),
    )
    .unwrap()
    .with_pipeline(2, "PREPARATION")
    .with_assignee(17)
    .with_company(4)
    .with_contacts([1, 2, 3])
    .with_observers([9])
    .with_products(vec![ProductRow {
        name: "Support".into(),
        price: rub(123_456),
        quantity_milli: 1_000,
        discount: 0,
        tax_rate_bp: 2_000,
    }])
    .unwrap()
    .with_comments("line 1\nline 2 \u{1F600}")
    .with_custom("UF_CRM_1", CustomValue::Date(date(2026, 5, 1)))
    .with_custom("UF_CRM_2", CustomValue::List(vec!["x".into(), "y".into()]));
    // A general RFC 5545 rule (expanded by the rrule crate) with an exception date.
    let schedule = Schedule::from_rrule(
        "DTSTART;TZID=Europe/Berlin:20260302T100000\n\
         RRULE:FREQ=MONTHLY;BYDAY=MO,TU;BYSETPOS=-1;COUNT=12\n\
         EXDATE;TZID=Europe/Berlin:20260331T100000",
    )
    .unwrap();
    let mut draft = TemplateDraft::new(deal, schedule);
    draft.target = Some(Target {
        pipeline: 3,
        stage: "NEW".into(),
    });
    draft.begin_offset = Some(DateOffset::Weeks(1));
    draft.close_offset = Some(DateOffset::Months(2));
    draft.catch_up = CatchUpPolicy {
        mode: CatchUpMode::Latest,
        window_days: Some(30),
        max_per_tick: 7,
    };
    draft.invoice = Some(InvoiceOptions {
        payment_due: PaymentDue::EndOfNextMonth,
        send_to: vec![5],
        mail_template: Some(11),
        document_template: Some(12),
        remind_before_days: vec![3, 1],
        remind_after_days: vec![7],
        dunning: vec![],
    });
    draft.upcoming_notice_days = vec![2];
    draft.based_on = Some(99);
    let created = engine.create_template(&acme, draft).await.unwrap();
    assert_eq!(created.version(), 0);
    assert_eq!(
        repository.template(&acme, created.id()).await.unwrap(),
        Some(created.clone())
    );

    // Lifecycle changes go through `commit`; each read must return what was written.
    let skipped = engine
        .skip_occurrence(&acme, created.id(), 2)
        .await
        .unwrap();
    assert_eq!(skipped.version(), 1);
    assert_eq!(
        repository.template(&acme, created.id()).await.unwrap(),
        Some(skipped)
    );
    let paused = engine
        .pause(
            &acme,
            created.id(),
            "holiday «notes»",
            Some(date(2026, 6, 1)),
        )
        .await
        .unwrap();
    assert_eq!(paused.version(), 2);
    assert_eq!(
        repository.template(&acme, created.id()).await.unwrap(),
        Some(paused.clone())
    );
    // The paused template resumes on 2026-06-01 00:00 in Berlin (UTC+2 in summer).
    assert_eq!(paused.next_run(), Some(utc(2026, 5, 31, 22, 0)));

    // Another tenant does not see it; an unknown id is nobody's.
    assert_eq!(
        repository
            .template(&tenant("other"), created.id())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        repository
            .template(&acme, TemplateId(created.id().0 + 1000))
            .await
            .unwrap(),
        None
    );
}

/// Inserting a template whose id is stored already is an error and changes nothing.
pub async fn inserting_a_taken_id_fails<R: Repository>(make: &Make<R>) {
    let repository = make().await;
    let acme = tenant("acme");
    let t = create_daily(&repository, &acme, t0(), local(2026, 3, 1, 9, 0)).await;
    let changed = engine_at(&repository, t0())
        .pause(&acme, t.id(), "x", None)
        .await
        .unwrap();
    let taken = repository.insert_template(&t).await.unwrap_err();
    assert!(
        matches!(taken, RepositoryError::Refused { .. }),
        "a taken id is refused, not {taken:?}"
    );
    assert!(!taken.is_retryable());
    assert_eq!(
        repository.template(&acme, t.id()).await.unwrap(),
        Some(changed)
    );
}

/// `due_templates`: next run at or before `now` (to the nanosecond), earliest first, ties by
/// id, all tenants, at most `limit`.
pub async fn due_templates_are_ordered_limited_and_inclusive<R: Repository>(make: &Make<R>) {
    let repository = make().await;
    let acme = tenant("acme");
    let beta = tenant("beta");
    let a3 = create_daily(&repository, &acme, t0(), local(2026, 3, 1, 3, 0)).await;
    let b1 = create_daily(&repository, &acme, t0(), local(2026, 3, 1, 1, 0)).await;
    let c2 = create_daily(&repository, &acme, t0(), local(2026, 3, 1, 2, 0)).await;
    let d2 = create_daily(&repository, &acme, t0(), local(2026, 3, 1, 2, 0)).await;
    let e130 = create_daily(&repository, &beta, t0(), local(2026, 3, 1, 1, 30)).await;
    let paused = create_daily(&repository, &acme, t0(), local(2026, 3, 1, 0, 30)).await;
    engine_at(&repository, t0())
        .pause(&acme, paused.id(), "", None)
        .await
        .unwrap();
    let _later = create_daily(&repository, &acme, t0(), local(2026, 3, 5, 0, 0)).await;
    assert_eq!(b1.next_run(), Some(utc(2026, 3, 1, 1, 0)));

    let ties = by_id(vec![&c2, &d2]);
    let two = utc(2026, 3, 1, 2, 0);
    let mut expected = vec![b1.id(), e130.id()];
    expected.extend(&ties);
    assert_eq!(
        ids(&repository.due_templates(two, 100).await.unwrap()),
        expected
    );
    // The templates come back whole.
    assert_eq!(
        repository.due_templates(two, 1).await.unwrap(),
        vec![b1.clone()]
    );
    assert_eq!(
        ids(&repository.due_templates(two, 3).await.unwrap()),
        expected[..3].to_vec()
    );
    assert!(repository.due_templates(two, 0).await.unwrap().is_empty());
    // One nanosecond before 02:00 the two 02:00 templates are not due yet.
    assert_eq!(
        ids(&repository
            .due_templates(two - TimeDelta::nanoseconds(1), 100)
            .await
            .unwrap()),
        vec![b1.id(), e130.id()]
    );
    assert!(
        repository
            .due_templates(t0(), 100)
            .await
            .unwrap()
            .is_empty()
    );
    let mut all_today = expected.clone();
    all_today.push(a3.id());
    assert_eq!(
        ids(&repository
            .due_templates(utc(2026, 3, 1, 23, 0), 100)
            .await
            .unwrap()),
        all_today
    );
}

/// `due_share`: the shares of any count partition the due list; each is the due list's
/// subsequence of its ids, with the same order, limit and `now`.
pub async fn due_shares_partition_the_due_list<R: Repository>(make: &Make<R>) {
    let repository = make().await;
    let acme = tenant("acme");
    let beta = tenant("beta");
    for (k, hour) in [3, 1, 2, 2, 1, 0, 5, 4, 2].into_iter().enumerate() {
        let owner = if k % 3 == 0 { &beta } else { &acme };
        create_daily(&repository, owner, t0(), local(2026, 3, 1, hour, 0)).await;
    }
    let now = utc(2026, 3, 1, 4, 0);
    let all = ids(&repository.due_templates(now, 100).await.unwrap());
    assert_eq!(all.len(), 8, "the 05:00 template is not due at 04:00");
    for count in 1..=4u32 {
        let mut union = Vec::new();
        for index in 0..count {
            let share = Share::new(index, count).unwrap();
            let got = ids(&repository.due_share(now, share, 100).await.unwrap());
            let expected: Vec<TemplateId> = all
                .iter()
                .copied()
                .filter(|id| share.contains(*id))
                .collect();
            assert_eq!(got, expected, "share {index} of {count}");
            let limited = ids(&repository.due_share(now, share, 1).await.unwrap());
            assert_eq!(limited, expected[..expected.len().min(1)].to_vec());
            union.extend(got);
        }
        union.sort();
        let mut sorted = all.clone();
        sorted.sort();
        assert_eq!(union, sorted, "the {count} shares cover the due list once");
    }
    assert_eq!(
        ids(&repository.due_share(now, Share::ALL, 100).await.unwrap()),
        all
    );
    // Each share's next wake-up is its own earliest next run; ALL's is everyone's.
    let templates = repository
        .due_templates(utc(2026, 3, 2, 0, 0), 100)
        .await
        .unwrap();
    for count in 1..=4u32 {
        for index in 0..count {
            let share = Share::new(index, count).unwrap();
            let expected = (templates.iter())
                .filter(|t| share.contains(t.id()))
                .filter_map(|t| t.next_run())
                .min();
            assert_eq!(
                repository.next_wake_share(share).await.unwrap(),
                expected,
                "share {index} of {count}"
            );
        }
    }
    assert_eq!(
        repository.next_wake().await.unwrap(),
        Some(utc(2026, 3, 1, 0, 0))
    );
}

/// `scan_templates`: a tenant's templates in id order, a page at a time, `next` naming where
/// the next page starts until the scan is over; other tenants' templates never appear.
pub async fn scans_page_a_tenants_templates_in_id_order<R: Repository>(make: &Make<R>) {
    let repository = make().await;
    let acme = tenant("acme");
    let beta = tenant("beta");
    let mut mine = Vec::new();
    for k in 0..7 {
        let t = create_daily(&repository, &acme, t0(), local(2026, 3, 1, 9 - k % 3, 0)).await;
        mine.push(t.id());
        create_daily(&repository, &beta, t0(), local(2026, 3, 1, 9, 0)).await;
    }
    mine.sort();
    for page in 1..=8 {
        let mut seen = Vec::new();
        let mut after = None;
        let mut calls = 0;
        loop {
            calls += 1;
            let scan = repository.scan_templates(&acme, after, page).await.unwrap();
            assert!(scan.items.len() <= page);
            assert!(scan.items.iter().all(|t| t.tenant() == &acme));
            seen.extend(scan.items.iter().map(|t| t.id()));
            match scan.next {
                Some(next) => {
                    assert_eq!(Some(next), seen.last().copied());
                    after = Some(next);
                }
                None => break,
            }
            assert!(calls <= 8, "the scan must end");
        }
        assert_eq!(seen, mine, "pages of {page}");
    }
    let whole = repository.scan_templates(&acme, None, 100).await.unwrap();
    assert_eq!(whole.next, None);
    assert_eq!(
        whole.items[0],
        repository.template(&acme, mine[0]).await.unwrap().unwrap()
    );
    let none = repository
        .scan_templates(&tenant("nobody"), None, 10)
        .await
        .unwrap();
    assert_eq!(none, store::Scan::default());
    let past_the_end = repository
        .scan_templates(&acme, mine.last().copied(), 10)
        .await
        .unwrap();
    assert!(past_the_end.items.is_empty() && past_the_end.next.is_none());
}

/// Instants are compared to the nanosecond: a template or reminder due at `t` is not due at
/// `t - 300ms`, and deals sort by their exact nominal instant.
pub async fn instants_keep_their_nanoseconds<R: Repository>(make: &Make<R>) {
    let repository = make().await;
    let acme = tenant("acme");
    let mut d = draft("One per tick", daily(local(2026, 3, 1, 9, 0), 1));
    d.catch_up.max_per_tick = 1;
    let t = engine_at(&repository, t0())
        .create_template(&acme, d)
        .await
        .unwrap();
    // Three occurrences are due, one is processed: the template is due again at once.
    let now = utc(2026, 3, 3, 10, 0) + TimeDelta::milliseconds(500);
    let planned = plan(&t, now);
    assert_eq!(planned.template.next_run(), Some(now));
    assert_eq!(
        repository.commit(commit_of(planned)).await.unwrap(),
        committed(1, vec![])
    );
    assert_eq!(repository.next_wake().await.unwrap(), Some(now));
    assert!(
        repository
            .due_templates(now - TimeDelta::milliseconds(300), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        ids(&repository.due_templates(now, 10).await.unwrap()),
        vec![t.id()]
    );

    let reminder = utc(2026, 3, 5, 12, 0) + TimeDelta::nanoseconds(500_000_001);
    let invoice = open_invoice(&acme, key(t.id(), 0), &[reminder]);
    let early = created_deal(
        &acme,
        key(t.id(), 7),
        "early",
        reminder - TimeDelta::nanoseconds(2),
    );
    let late = created_deal(&acme, key(t.id(), 3), "late", reminder);
    let current = repository.template(&acme, t.id()).await.unwrap().unwrap();
    let mut commit = bare(&current);
    commit.invoices.push(invoice.clone());
    commit.deals = vec![late.clone(), early.clone()];
    assert_eq!(
        repository.commit(commit).await.unwrap(),
        committed(2, vec![])
    );
    assert_eq!(
        repository.deal(&acme, early.key).await.unwrap(),
        Some(early.clone())
    );
    // Same second, 2ns apart: the earlier instant first, although its key is larger (the
    // planned deal of Mar 1 comes before both).
    assert_eq!(
        repository.deals(&acme, None).await.unwrap()[1..].to_vec(),
        vec![early, late]
    );
    assert!(
        repository
            .due_invoices(reminder - TimeDelta::nanoseconds(1), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        repository.due_invoices(reminder, 10).await.unwrap(),
        vec![invoice]
    );
}

/// `next_wake`: the earliest next run of a template or reminder of an open invoice.
pub async fn next_wake_covers_templates_and_reminders<R: Repository>(make: &Make<R>) {
    let repository = make().await;
    let acme = tenant("acme");
    assert_eq!(repository.next_wake().await.unwrap(), None);
    let paused = create_daily(&repository, &acme, t0(), local(2026, 3, 1, 1, 0)).await;
    engine_at(&repository, t0())
        .pause(&acme, paused.id(), "", None)
        .await
        .unwrap();
    assert_eq!(repository.next_wake().await.unwrap(), None);
    let t = create_daily(&repository, &acme, t0(), local(2026, 3, 1, 3, 0)).await;
    assert_eq!(
        repository.next_wake().await.unwrap(),
        Some(utc(2026, 3, 1, 3, 0))
    );

    // An invoice reminder at 02:00 comes first.
    let invoice = open_invoice(
        &acme,
        key(t.id(), 0),
        &[utc(2026, 3, 1, 2, 0), utc(2026, 3, 4, 0, 0)],
    );
    let mut commit = bare(&t);
    commit.invoices.push(invoice.clone());
    assert_eq!(
        repository.commit(commit).await.unwrap(),
        committed(1, vec![])
    );
    assert_eq!(
        repository.next_wake().await.unwrap(),
        Some(utc(2026, 3, 1, 2, 0))
    );

    // Once paid it wants no reminders, whatever is still listed.
    let mut paid = invoice;
    paid.status = InvoiceStatus::Paid;
    assert_eq!(
        repository.commit_invoice(paid, Vec::new()).await.unwrap(),
        committed(1, vec![])
    );
    assert_eq!(
        repository.next_wake().await.unwrap(),
        Some(utc(2026, 3, 1, 3, 0))
    );
}

/// `commit` writes only if the stored version matches, and bumps it.
pub async fn commit_checks_the_version<R: Repository>(make: &Make<R>) {
    let repository = make().await;
    let acme = tenant("acme");
    let t = create_daily(&repository, &acme, t0(), local(2026, 3, 1, 9, 0)).await;
    assert_eq!(t.version(), 0);
    assert_eq!(
        repository.commit(bare(&t)).await.unwrap(),
        committed(1, vec![])
    );
    let stored = repository.template(&acme, t.id()).await.unwrap().unwrap();
    assert_eq!(stored, bumped(&t).await);
    assert_eq!(stored.version(), 1);

    // A second writer still holding version 0 loses, and writes nothing at all.
    let mut stale = bare(&t);
    stale.deals.push(created_deal(
        &acme,
        key(t.id(), 0),
        "stale",
        utc(2026, 3, 1, 9, 0),
    ));
    stale.skipped.push(skipped_occurrence(
        &acme,
        key(t.id(), 1),
        utc(2026, 3, 2, 9, 0),
        SkipReason::Missed,
    ));
    stale.invoices.push(open_invoice(
        &acme,
        key(t.id(), 0),
        &[utc(2026, 3, 2, 0, 0)],
    ));
    stale.events.push(deal_created(&acme, key(t.id(), 0)));
    assert_eq!(
        repository.commit(stale).await.unwrap(),
        CommitOutcome::Conflict
    );
    assert_eq!(
        repository.template(&acme, t.id()).await.unwrap(),
        Some(stored.clone())
    );
    assert!(repository.deals(&acme, None).await.unwrap().is_empty());
    assert!(repository.skipped(&acme, None).await.unwrap().is_empty());
    assert_eq!(
        repository.invoice(&acme, key(t.id(), 0)).await.unwrap(),
        None
    );
    assert!(repository.outbox(10).await.unwrap().is_empty());
    assert_eq!(
        repository.next_wake().await.unwrap(),
        Some(utc(2026, 3, 1, 9, 0))
    );

    // The current version wins, and each commit bumps it by one.
    assert_eq!(
        repository.commit(bare(&stored)).await.unwrap(),
        committed(2, vec![])
    );
    let again = repository.template(&acme, t.id()).await.unwrap().unwrap();
    assert_eq!(
        repository.commit(bare(&again)).await.unwrap(),
        committed(3, vec![])
    );
    assert_eq!(
        repository
            .template(&acme, t.id())
            .await
            .unwrap()
            .unwrap()
            .version(),
        3
    );
}

/// A commit (or delete) of a template the store does not hold for that tenant is `Missing`.
pub async fn commit_of_an_unknown_template_is_missing<R: Repository>(make: &Make<R>) {
    let repository = make().await;
    let acme = tenant("acme");
    let mine = create_daily(&repository, &acme, t0(), local(2026, 3, 1, 9, 0)).await;
    // A template of another tenant, made in another store: its id is likely `mine`'s too, so
    // this also checks that a commit is matched on the tenant as well as the id.
    let scratch = make().await;
    let ghost_tenant = tenant("ghost");
    let ghost = create_daily(&scratch, &ghost_tenant, t0(), local(2026, 3, 1, 9, 0)).await;
    let mut commit = bare(&ghost);
    commit.deals.push(created_deal(
        &ghost_tenant,
        key(ghost.id(), 0),
        "ghost",
        utc(2026, 3, 1, 9, 0),
    ));
    commit
        .events
        .push(deal_created(&ghost_tenant, key(ghost.id(), 0)));
    assert_eq!(
        repository.commit(commit).await.unwrap(),
        CommitOutcome::Missing
    );
    assert_eq!(
        repository
            .delete_template(&ghost_tenant, ghost.id(), 0)
            .await
            .unwrap(),
        CommitOutcome::Missing
    );
    assert!(
        repository
            .deals(&ghost_tenant, None)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(repository.outbox(10).await.unwrap().is_empty());
    assert_eq!(
        repository
            .template(&ghost_tenant, ghost.id())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        repository.template(&acme, mine.id()).await.unwrap(),
        Some(mine)
    );
}

/// A planned commit lands whole: deals, skipped occurrences, invoices, events, new state.
pub async fn commit_writes_deals_skipped_invoices_and_events<R: Repository>(make: &Make<R>) {
    let repository = make().await;
    let acme = tenant("acme");
    let engine = engine_at(&repository, t0());
    let mut d = draft("Invoiced", daily(local(2026, 3, 1, 9, 0), 1));
    d.invoice = Some(InvoiceOptions {
        payment_due: PaymentDue::Days(10),
        send_to: vec![1],
        mail_template: None,
        document_template: None,
        remind_before_days: vec![3],
        remind_after_days: vec![1],
        dunning: vec![],
    });
    let t = engine.create_template(&acme, d).await.unwrap();
    let t = engine.skip_occurrence(&acme, t.id(), 1).await.unwrap();

    // Mar 1..4 at 09:00 are due at Mar 4 10:00; seq 1 (Mar 2) was skipped on request.
    let now = utc(2026, 3, 4, 10, 0);
    let plan = plan(&t, now);
    let expected_keys = vec![key(t.id(), 0), key(t.id(), 2), key(t.id(), 3)];
    assert_eq!(
        plan.deals.iter().map(|d| d.key).collect::<Vec<_>>(),
        expected_keys
    );
    let nominal: Vec<DateTime<Utc>> = plan.deals.iter().map(|d| d.nominal_at).collect();
    assert_eq!(
        nominal,
        vec![
            utc(2026, 3, 1, 9, 0),
            utc(2026, 3, 3, 9, 0),
            utc(2026, 3, 4, 9, 0)
        ]
    );
    let planned = plan.clone();
    let outcome = repository.commit(commit_of(plan)).await.unwrap();
    assert_eq!(outcome, committed(t.version() + 1, vec![]));

    let stored = repository.template(&acme, t.id()).await.unwrap().unwrap();
    assert_eq!(stored, bumped(&planned.template).await);
    assert_eq!(stored.next_run(), Some(utc(2026, 3, 5, 9, 0)));
    assert_eq!(stored.counters().created_by_schedule, 3);
    assert_eq!(
        repository.deals(&acme, Some(t.id())).await.unwrap(),
        planned.deals
    );
    assert_eq!(repository.deals(&acme, None).await.unwrap(), planned.deals);
    for deal in &planned.deals {
        assert_eq!(
            repository.deal(&acme, deal.key).await.unwrap().as_ref(),
            Some(deal)
        );
    }
    assert_eq!(
        repository.skipped(&acme, Some(t.id())).await.unwrap(),
        vec![skipped_occurrence(
            &acme,
            key(t.id(), 1),
            utc(2026, 3, 2, 9, 0),
            SkipReason::Requested
        )]
    );
    assert_eq!(planned.invoices.len(), 3);
    for invoice in &planned.invoices {
        assert_eq!(
            repository
                .invoice(&acme, invoice.deal)
                .await
                .unwrap()
                .as_ref(),
            Some(invoice)
        );
    }
    // Events in the order of the commit, numbered increasingly.
    let outbox = repository.outbox(100).await.unwrap();
    assert!(outbox.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(outbox_events(&repository).await, planned.events);
    // 3 deals and 3 invoices issued.
    assert_eq!(planned.events.len(), 6);
    assert!(repository.due_templates(now, 10).await.unwrap().is_empty());
}

/// A deal key already stored is reported in `already_created`; that deal, its invoice and its
/// events are not written again, while the rest of the commit is.
pub async fn already_created_keys_are_reported_not_duplicated<R: Repository>(make: &Make<R>) {
    let repository = make().await;
    let acme = tenant("acme");
    let t = create_daily(&repository, &acme, t0(), local(2026, 3, 1, 9, 0)).await;
    let k0 = key(t.id(), 0);
    let k1 = key(t.id(), 1);
    let k9 = key(t.id(), 9);
    let first = created_deal(&acme, k0, "first", utc(2026, 3, 1, 9, 0));
    let first_invoice = open_invoice(&acme, k0, &[utc(2026, 3, 8, 9, 0)]);
    // k5 is created without an invoice; a retry's invoice for it must not appear later.
    let k5 = key(t.id(), 5);
    let five = created_deal(&acme, k5, "five", utc(2026, 3, 6, 9, 0));
    let mut commit = bare(&t);
    commit.deals.push(five.clone());
    commit.deals.push(first.clone());
    commit.invoices.push(first_invoice.clone());
    commit.events.push(deal_created(&acme, k0));
    assert_eq!(
        repository.commit(commit).await.unwrap(),
        committed(1, vec![])
    );

    let current = repository.template(&acme, t.id()).await.unwrap().unwrap();
    let mut retry = bare(&current);
    let second = created_deal(&acme, k0, "second", utc(2026, 3, 1, 9, 0));
    let nine = created_deal(&acme, k9, "nine", utc(2026, 3, 10, 9, 0));
    let one = created_deal(&acme, k1, "one", utc(2026, 3, 2, 9, 0));
    retry.deals = vec![second, nine.clone(), five.clone(), one.clone()];
    let second_invoice = open_invoice(&acme, k0, &[utc(2026, 3, 2, 9, 0)]);
    let nine_invoice = open_invoice(&acme, k9, &[utc(2026, 3, 20, 9, 0)]);
    let five_invoice = open_invoice(&acme, k5, &[utc(2026, 3, 2, 9, 0)]);
    retry.invoices = vec![second_invoice.clone(), nine_invoice.clone(), five_invoice];
    let issued = |invoice: &Invoice| {
        event(
            &acme,
            &format!("invoice:{}", invoice.deal),
            EventKind::InvoiceIssued {
                invoice: Box::new(invoice.clone()),
            },
        )
    };
    let finished = event(
        &acme,
        "finished",
        EventKind::TemplateFinished { template: t.id() },
    );
    retry.events = vec![
        deal_created(&acme, k0),
        issued(&second_invoice),
        deal_created(&acme, k9),
        issued(&nine_invoice),
        deal_created(&acme, k1),
        finished.clone(),
    ];
    assert_eq!(
        repository.commit(retry).await.unwrap(),
        committed(2, vec![k0, k5])
    );
    assert_eq!(repository.invoice(&acme, k5).await.unwrap(), None);

    // The first deal and invoice stay as they were; the new ones are there.
    assert_eq!(
        repository.deal(&acme, k0).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        repository.deal(&acme, k9).await.unwrap(),
        Some(nine.clone())
    );
    assert_eq!(
        repository.invoice(&acme, k0).await.unwrap(),
        Some(first_invoice)
    );
    assert_eq!(
        repository.invoice(&acme, k9).await.unwrap(),
        Some(nine_invoice.clone())
    );
    assert_eq!(
        repository.deals(&acme, Some(t.id())).await.unwrap(),
        vec![first, one, five, nine]
    );
    assert_eq!(
        outbox_events(&repository).await,
        vec![
            deal_created(&acme, k0),
            deal_created(&acme, k9),
            issued(&nine_invoice),
            deal_created(&acme, k1),
            finished,
        ]
    );
    // The second invoice of k0 (reminder Mar 2) was not written: nothing is due by Mar 5.
    assert_eq!(
        repository
            .due_invoices(utc(2026, 3, 5, 0, 0), 10)
            .await
            .unwrap(),
        Vec::<Invoice>::new()
    );
    // Reporting an already created key again, in a third commit.
    let current = repository.template(&acme, t.id()).await.unwrap().unwrap();
    let mut third = bare(&current);
    third.deals = vec![
        created_deal(&acme, k9, "again", utc(2026, 3, 10, 9, 0)),
        created_deal(&acme, k0, "again", utc(2026, 3, 1, 9, 0)),
    ];
    assert_eq!(
        repository.commit(third).await.unwrap(),
        committed(3, vec![k9, k0])
    );
    assert_eq!(repository.deals(&acme, None).await.unwrap().len(), 4);
}

/// A batch commits each template as `commit` would: a stale one conflicts and writes nothing,
/// an unknown one is missing, the others land with their own already-created keys, and the
/// events keep the batch's order.
pub async fn commit_batch_gives_each_commit_its_own_outcome<R: Repository>(make: &Make<R>) {
    let repository = make().await;
    let acme = tenant("acme");
    let other = tenant("other");
    assert!(repository.commit_batch(Vec::new()).await.is_empty());
    let stale = create_daily(&repository, &acme, t0(), local(2026, 3, 1, 9, 0)).await;
    let fresh = create_daily(&repository, &acme, t0(), local(2026, 3, 1, 10, 0)).await;
    let again = create_daily(&repository, &other, t0(), local(2026, 3, 1, 11, 0)).await;
    // `stale` moves on before the batch; `again` already has its deal 0.
    assert_eq!(
        repository.commit(bare(&stale)).await.unwrap(),
        committed(1, vec![])
    );
    let mut first = bare(&again);
    first.deals.push(created_deal(
        &other,
        key(again.id(), 0),
        "first",
        utc(2026, 3, 1, 11, 0),
    ));
    assert_eq!(
        repository.commit(first).await.unwrap(),
        committed(1, vec![])
    );
    let again = repository
        .template(&other, again.id())
        .await
        .unwrap()
        .unwrap();
    let other_fresh = create_daily(&repository, &acme, t0(), local(2026, 3, 1, 12, 0)).await;
    // A template this store does not hold, with an id it does not hold either (so the batch
    // has distinct ids and goes through the store's batch path).
    let scratch = make().await;
    let mut ghost = None;
    for _ in 0..6 {
        ghost = Some(create_daily(&scratch, &tenant("ghost"), t0(), local(2026, 3, 1, 9, 0)).await);
    }
    let ghost = ghost.unwrap();
    let held = [stale.id(), fresh.id(), again.id(), other_fresh.id()];
    assert!(!held.contains(&ghost.id()));

    let with_deal = |template: &Template, tenant: &TenantId, seq: u64, title: &str| {
        let mut commit = bare(template);
        let k = key(template.id(), seq);
        commit
            .deals
            .push(created_deal(tenant, k, title, utc(2026, 3, 2, 9, 0)));
        commit.events.push(deal_created(tenant, k));
        commit
    };
    // A commit carrying a deal keyed to another template is refused alone.
    let mut foreign = with_deal(&other_fresh, &acme, 0, "mine");
    foreign.deals.push(created_deal(
        &acme,
        key(fresh.id(), 7),
        "foreign",
        utc(2026, 3, 8, 9, 0),
    ));
    let outcomes = repository
        .commit_batch(vec![
            with_deal(&stale, &acme, 1, "stale"),
            with_deal(&fresh, &acme, 0, "fresh"),
            with_deal(&ghost, &tenant("ghost"), 0, "ghost"),
            foreign,
            with_deal(&again, &other, 0, "again"),
        ])
        .await;
    assert_eq!(outcomes.len(), 5);
    assert!(outcomes[3].is_err(), "{:?}", outcomes[3]);
    let outcomes: Vec<_> = outcomes
        .into_iter()
        .enumerate()
        .filter(|(i, _)| *i != 3)
        .map(|(_, o)| o)
        .collect();
    assert_eq!(
        outcomes,
        vec![
            Ok(CommitOutcome::Conflict),
            Ok(committed(1, vec![])),
            Ok(CommitOutcome::Missing),
            Ok(committed(2, vec![key(again.id(), 0)])),
        ]
    );
    assert_eq!(
        repository.deal(&acme, key(fresh.id(), 7)).await.unwrap(),
        None
    );
    assert_eq!(
        repository
            .deal(&acme, key(other_fresh.id(), 0))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        repository.template(&acme, other_fresh.id()).await.unwrap(),
        Some(other_fresh.clone())
    );
    assert_eq!(
        repository.deal(&acme, key(stale.id(), 1)).await.unwrap(),
        None
    );
    let fresh_deal = repository
        .deal(&acme, key(fresh.id(), 0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(fresh_deal.deal.title(), "fresh");
    let kept = repository
        .deal(&other, key(again.id(), 0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.deal.title(), "first");
    assert_eq!(
        repository
            .template(&acme, fresh.id())
            .await
            .unwrap()
            .unwrap()
            .version(),
        1
    );
    assert_eq!(
        repository
            .template(&acme, stale.id())
            .await
            .unwrap()
            .unwrap()
            .version(),
        1
    );
    // Only the landed, new deal announced itself.
    assert_eq!(
        outbox_events(&repository).await,
        vec![deal_created(&acme, key(fresh.id(), 0))]
    );
}

/// A skipped occurrence is recorded once: a second record of the same key keeps the first.
pub async fn skipped_occurrences_are_recorded_once<R: Repository>(make: &Make<R>) {
    let repository = make().await;
    let acme = tenant("acme");
    let t = create_daily(&repository, &acme, t0(), local(2026, 3, 1, 9, 0)).await;
    let first = skipped_occurrence(
        &acme,
        key(t.id(), 4),
        utc(2026, 3, 5, 9, 0),
        SkipReason::Paused,
    );
    let mut commit = bare(&t);
    commit.skipped.push(first.clone());
    assert_eq!(
        repository.commit(commit).await.unwrap(),
        committed(1, vec![])
    );
    let current = repository.template(&acme, t.id()).await.unwrap().unwrap();
    let mut commit = bare(&current);
    commit.skipped.push(skipped_occurrence(
        &acme,
        key(t.id(), 4),
        utc(2026, 3, 5, 9, 0),
        SkipReason::Missed,
    ));
    // A skip never counts as a created deal.
    assert_eq!(
        repository.commit(commit).await.unwrap(),
        committed(2, vec![])
    );
    assert_eq!(
        repository.skipped(&acme, Some(t.id())).await.unwrap(),
        vec![first.clone()]
    );
    assert_eq!(repository.skipped(&acme, None).await.unwrap(), vec![first]);
    assert!(repository.deals(&acme, None).await.unwrap().is_empty());
}

/// Deals, skipped occurrences and invoices are visible only to their tenant; deals come sorted
/// by template, nominal instant, key; skipped occurrences by key.
pub async fn lookups_are_scoped_by_tenant_and_sorted<R: Repository>(make: &Make<R>) {
    let repository = make().await;
    let acme = tenant("acme");
    let beta = tenant("beta");
    let one = create_daily(&repository, &acme, t0(), local(2026, 3, 1, 9, 0)).await;
    let two = create_daily(&repository, &acme, t0(), local(2026, 3, 1, 9, 0)).await;
    let (one, two) = if one.id() < two.id() {
        (one, two)
    } else {
        (two, one)
    };
    let theirs = create_daily(&repository, &beta, t0(), local(2026, 3, 1, 9, 0)).await;

    let manual = DealKey::Manual {
        template: one.id(),
        number: 0,
    };
    let s2 = created_deal(&acme, key(one.id(), 2), "s2", utc(2026, 3, 3, 9, 0));
    let s0 = created_deal(&acme, key(one.id(), 0), "s0", utc(2026, 3, 1, 9, 0));
    let m0 = created_deal(&acme, manual, "m0", utc(2026, 3, 2, 12, 0));
    // Same nominal instant as s0: the key breaks the tie (scheduled before manual).
    let m1 = created_deal(
        &acme,
        DealKey::Manual {
            template: one.id(),
            number: 1,
        },
        "m1",
        utc(2026, 3, 1, 9, 0),
    );
    let mut commit = bare(&one);
    commit.deals = vec![s2.clone(), m1.clone(), s0.clone(), m0.clone()];
    let r1s0 = skipped_occurrence(
        &acme,
        DealKey::Scheduled {
            template: one.id(),
            revision: 1,
            seq: 0,
        },
        utc(2026, 3, 9, 9, 0),
        SkipReason::Requested,
    );
    let r0s7 = skipped_occurrence(
        &acme,
        key(one.id(), 7),
        utc(2026, 3, 8, 9, 0),
        SkipReason::Missed,
    );
    let r0s3 = skipped_occurrence(
        &acme,
        key(one.id(), 3),
        utc(2026, 3, 4, 9, 0),
        SkipReason::Missed,
    );
    commit.skipped = vec![r1s0.clone(), r0s7.clone(), r0s3.clone()];
    commit.invoices = vec![open_invoice(&acme, key(one.id(), 0), &[])];
    assert_eq!(
        repository.commit(commit).await.unwrap(),
        committed(1, vec![])
    );

    // Template two's deal is the earliest of all, but template one sorts first.
    let early = created_deal(&acme, key(two.id(), 0), "early", utc(2026, 2, 1, 9, 0));
    let two_skip = skipped_occurrence(
        &acme,
        key(two.id(), 1),
        utc(2026, 2, 2, 9, 0),
        SkipReason::Missed,
    );
    let mut commit = bare(&two);
    commit.deals = vec![early.clone()];
    commit.skipped = vec![two_skip.clone()];
    assert_eq!(
        repository.commit(commit).await.unwrap(),
        committed(1, vec![])
    );

    let other = created_deal(&beta, key(theirs.id(), 0), "theirs", utc(2026, 1, 1, 9, 0));
    let other_skip = skipped_occurrence(
        &beta,
        key(theirs.id(), 1),
        utc(2026, 1, 2, 9, 0),
        SkipReason::Missed,
    );
    let mut commit = bare(&theirs);
    commit.deals = vec![other.clone()];
    commit.skipped = vec![other_skip.clone()];
    commit.invoices = vec![open_invoice(&beta, key(theirs.id(), 0), &[])];
    assert_eq!(
        repository.commit(commit).await.unwrap(),
        committed(1, vec![])
    );

    assert_eq!(
        repository.deals(&acme, Some(one.id())).await.unwrap(),
        vec![s0.clone(), m1.clone(), m0.clone(), s2.clone()]
    );
    assert_eq!(
        repository.deals(&acme, None).await.unwrap(),
        vec![s0.clone(), m1, m0, s2, early.clone()]
    );
    assert_eq!(
        repository.deals(&acme, Some(two.id())).await.unwrap(),
        vec![early]
    );
    assert_eq!(
        repository.deals(&beta, None).await.unwrap(),
        vec![other.clone()]
    );
    assert!(
        repository
            .deals(&beta, Some(one.id()))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        repository
            .deals(&acme, Some(theirs.id()))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        repository
            .deals(&tenant("nobody"), None)
            .await
            .unwrap()
            .is_empty()
    );

    assert_eq!(
        repository.deal(&acme, s0.key).await.unwrap(),
        Some(s0.clone())
    );
    assert_eq!(repository.deal(&beta, s0.key).await.unwrap(), None);
    assert_eq!(repository.deal(&acme, other.key).await.unwrap(), None);
    assert_eq!(
        repository.deal(&acme, key(one.id(), 99)).await.unwrap(),
        None
    );

    assert_eq!(
        repository.skipped(&acme, Some(one.id())).await.unwrap(),
        vec![r0s3.clone(), r0s7.clone(), r1s0.clone()]
    );
    assert_eq!(
        repository.skipped(&acme, None).await.unwrap(),
        vec![r0s3, r0s7, r1s0, two_skip]
    );
    assert_eq!(
        repository.skipped(&beta, None).await.unwrap(),
        vec![other_skip]
    );
    assert!(
        repository
            .skipped(&beta, Some(one.id()))
            .await
            .unwrap()
            .is_empty()
    );

    assert!(repository.invoice(&acme, s0.key).await.unwrap().is_some());
    assert_eq!(repository.invoice(&beta, s0.key).await.unwrap(), None);
    assert_eq!(repository.invoice(&acme, other.key).await.unwrap(), None);
    assert!(
        repository
            .invoice(&beta, other.key)
            .await
            .unwrap()
            .is_some()
    );
}

/// `due_invoices` lists open invoices with a reminder at or before `now` (earliest first, ties
/// by deal key, at most `limit`); `commit_invoice` is conditional on the invoice's version.
pub async fn invoices_due_and_commit_invoice<R: Repository>(make: &Make<R>) {
    let repository = make().await;
    let acme = tenant("acme");
    let beta = tenant("beta");
    let t = create_daily(&repository, &acme, t0(), local(2026, 3, 1, 9, 0)).await;
    let u = create_daily(&repository, &beta, t0(), local(2026, 3, 1, 9, 0)).await;
    let noon = utc(2026, 3, 2, 12, 0);
    let a = open_invoice(&acme, key(t.id(), 3), &[noon, utc(2026, 3, 9, 12, 0)]);
    let b = open_invoice(&acme, key(t.id(), 1), &[noon]);
    let c = open_invoice(&acme, key(t.id(), 2), &[utc(2026, 3, 2, 8, 0)]);
    let late = open_invoice(&acme, key(t.id(), 4), &[utc(2026, 3, 3, 0, 0)]);
    let none = open_invoice(&acme, key(t.id(), 5), &[]);
    let mut voided = open_invoice(&acme, key(t.id(), 6), &[utc(2026, 3, 2, 0, 0)]);
    voided.status = InvoiceStatus::Voided;
    let mut commit = bare(&t);
    commit.invoices = vec![
        a.clone(),
        b.clone(),
        c.clone(),
        late.clone(),
        none.clone(),
        voided,
    ];
    assert_eq!(
        repository.commit(commit).await.unwrap(),
        committed(1, vec![])
    );
    let theirs = open_invoice(&beta, key(u.id(), 0), &[utc(2026, 3, 2, 10, 0)]);
    let mut commit = bare(&u);
    commit.invoices = vec![theirs.clone()];
    assert_eq!(
        repository.commit(commit).await.unwrap(),
        committed(1, vec![])
    );

    // 08:00 (c), 10:00 (theirs), then a and b at noon ordered by key (seq 1 before seq 3).
    assert_eq!(
        repository.due_invoices(noon, 10).await.unwrap(),
        vec![c.clone(), theirs.clone(), b.clone(), a.clone()]
    );
    assert_eq!(
        repository.due_invoices(noon, 2).await.unwrap(),
        vec![c.clone(), theirs]
    );
    assert_eq!(
        repository
            .due_invoices(noon - TimeDelta::nanoseconds(1), 10)
            .await
            .unwrap()
            .len(),
        2
    );
    assert!(
        repository
            .due_invoices(utc(2026, 3, 2, 7, 0), 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Conditional writes.
    let unknown = open_invoice(&acme, key(t.id(), 40), &[]);
    assert_eq!(
        repository
            .commit_invoice(unknown, Vec::new())
            .await
            .unwrap(),
        CommitOutcome::Missing
    );
    let mut wrong_tenant = a.clone();
    wrong_tenant.tenant = beta.clone();
    assert_eq!(
        repository
            .commit_invoice(wrong_tenant, Vec::new())
            .await
            .unwrap(),
        CommitOutcome::Missing
    );
    let mut stale = a.clone();
    stale.version = 5;
    stale.pending_reminders.clear();
    assert_eq!(
        repository
            .commit_invoice(stale, vec![deal_created(&acme, a.deal)])
            .await
            .unwrap(),
        CommitOutcome::Conflict
    );
    assert_eq!(
        repository.invoice(&acme, a.deal).await.unwrap(),
        Some(a.clone())
    );
    assert!(repository.outbox(10).await.unwrap().is_empty());

    // Sending the noon reminder of `a`: its next reminder is a week later.
    let mut sent = a.clone();
    sent.pending_reminders.remove(0);
    let reminder = event(
        &acme,
        "reminder",
        EventKind::PaymentReminder {
            deal: a.deal,
            offset_days: -1,
            due_on: a.due_on,
        },
    );
    assert_eq!(
        repository
            .commit_invoice(sent.clone(), vec![reminder.clone()])
            .await
            .unwrap(),
        committed(1, vec![])
    );
    let mut stored = sent.clone();
    stored.version = 1;
    assert_eq!(
        repository.invoice(&acme, a.deal).await.unwrap(),
        Some(stored.clone())
    );
    assert_eq!(outbox_events(&repository).await, vec![reminder]);
    assert_eq!(
        repository.due_invoices(noon, 10).await.unwrap(),
        vec![
            c.clone(),
            open_invoice(&beta, key(u.id(), 0), &[utc(2026, 3, 2, 10, 0)]),
            b
        ]
    );
    assert!(
        repository
            .due_invoices(utc(2026, 3, 9, 12, 0), 10)
            .await
            .unwrap()
            .contains(&stored)
    );
    // The version moved on: the old one conflicts now.
    assert_eq!(
        repository.commit_invoice(sent, Vec::new()).await.unwrap(),
        CommitOutcome::Conflict
    );
    // Paid: no reminders any more, whatever is listed.
    let mut paid = stored;
    paid.status = InvoiceStatus::Paid;
    assert_eq!(
        repository
            .commit_invoice(paid.clone(), Vec::new())
            .await
            .unwrap(),
        committed(2, vec![])
    );
    assert!(
        repository
            .due_invoices(utc(2026, 12, 1, 0, 0), 10)
            .await
            .unwrap()
            .iter()
            .all(|i| i.deal != a.deal)
    );
    let mut paid_stored = paid;
    paid_stored.version = 2;
    assert_eq!(
        repository.invoice(&acme, a.deal).await.unwrap(),
        Some(paid_stored)
    );
}

/// The outbox returns unacknowledged events in commit order, at most `limit`; `ack` removes
/// events by id, ignoring unknown ids; ids are never reused.
pub async fn outbox_keeps_order_and_ack_removes<R: Repository>(make: &Make<R>) {
    let repository = make().await;
    let acme = tenant("acme");
    let beta = tenant("beta");
    let t = create_daily(&repository, &acme, t0(), local(2026, 3, 1, 9, 0)).await;
    let u = create_daily(&repository, &beta, t0(), local(2026, 3, 1, 9, 0)).await;
    assert!(repository.outbox(10).await.unwrap().is_empty());
    // The first three are `t`'s (acme), the last two `u`'s (beta): a commit's events are of
    // its template's tenant.
    let events: Vec<NewEvent> = (0..5)
        .map(|i| {
            let (owner, template) = if i < 3 { (&acme, &t) } else { (&beta, &u) };
            event(
                owner,
                &format!("e{i}"),
                EventKind::UpcomingDeal {
                    template: template.id(),
                    at: t0() + TimeDelta::days(i),
                    lead_days: 1,
                },
            )
        })
        .collect();
    let mut commit = bare(&t);
    commit.events = events[..3].to_vec();
    assert_eq!(
        repository.commit(commit).await.unwrap(),
        committed(1, vec![])
    );
    let mut commit = bare(&u);
    commit.events = events[3..].to_vec();
    assert_eq!(
        repository.commit(commit).await.unwrap(),
        committed(1, vec![])
    );

    let outbox = repository.outbox(10).await.unwrap();
    assert_eq!(outbox_events(&repository).await, events);
    assert!(outbox.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(repository.outbox(2).await.unwrap(), outbox[..2].to_vec());
    assert!(repository.outbox(0).await.unwrap().is_empty());

    let unknown = outbox.iter().map(|e| e.id).max().unwrap() + 1000;
    repository
        .ack(&[outbox[1].id, outbox[3].id, unknown])
        .await
        .unwrap();
    repository.ack(&[]).await.unwrap();
    assert_eq!(
        repository.outbox(10).await.unwrap(),
        vec![outbox[0].clone(), outbox[2].clone(), outbox[4].clone()]
    );
    // Acknowledging twice is harmless.
    repository.ack(&[outbox[1].id]).await.unwrap();
    repository
        .ack(&[outbox[0].id, outbox[2].id, outbox[4].id])
        .await
        .unwrap();
    assert!(repository.outbox(10).await.unwrap().is_empty());

    // An empty outbox does not restart numbering: a host acknowledging late must never
    // acknowledge a new event by an old id.
    let current = repository.template(&acme, t.id()).await.unwrap().unwrap();
    let mut commit = bare(&current);
    commit.events = vec![event(
        &acme,
        "later",
        EventKind::TemplateFinished { template: t.id() },
    )];
    assert_eq!(
        repository.commit(commit).await.unwrap(),
        committed(2, vec![])
    );
    let later = repository.outbox(10).await.unwrap();
    assert_eq!(later.len(), 1);
    assert!(later[0].id > outbox[4].id, "id {} reused", later[0].id);
}

/// `outbox_heads` gives each tenant's oldest event, oldest first; `tenants_outbox` the
/// events of the tenants asked for, in order; acknowledged events leave both.
pub async fn outbox_heads_and_tenants_outbox_split_the_outbox_by_tenant<R: Repository>(
    make: &Make<R>,
) {
    let repository = make().await;
    let names = ["acme", "beta", "gamma"];
    let mut templates = Vec::new();
    for name in names {
        templates
            .push(create_daily(&repository, &tenant(name), t0(), local(2026, 3, 1, 9, 0)).await);
    }
    // a1, a2, b1, a3, g1: each event a minute after the previous one.
    let order = [(0, "a1"), (0, "a2"), (1, "b1"), (0, "a3"), (2, "g1")];
    for (minute, (owner, key)) in order.into_iter().enumerate() {
        let template = repository
            .template(&tenant(names[owner]), templates[owner].id())
            .await
            .unwrap()
            .unwrap();
        let mut commit = bare(&template);
        let mut new = event(
            &tenant(names[owner]),
            key,
            EventKind::UpcomingDeal {
                template: template.id(),
                at: t0(),
                lead_days: 1,
            },
        );
        new.at = t0() + chrono::TimeDelta::minutes(minute as i64);
        commit.events = vec![new];
        assert!(matches!(
            repository.commit(commit).await.unwrap(),
            CommitOutcome::Committed { .. }
        ));
    }
    let all = repository.outbox(10).await.unwrap();
    let id = |key: &str| all.iter().find(|e| e.idempotency_key == key).unwrap().id;
    let heads = repository.outbox_heads(10).await.unwrap();
    let expected = |pairs: &[(&str, &str, i64)]| -> Vec<OutboxHead> {
        pairs
            .iter()
            .map(|(owner, key, minute)| OutboxHead {
                tenant: tenant(owner),
                id: id(key),
                at: t0() + chrono::TimeDelta::minutes(*minute),
                retry_at: None,
            })
            .collect()
    };
    assert_eq!(
        heads,
        expected(&[("acme", "a1", 0), ("beta", "b1", 2), ("gamma", "g1", 4)]),
        "one head per tenant, its oldest event, oldest first"
    );
    assert_eq!(
        repository.outbox_heads(2).await.unwrap(),
        expected(&[("acme", "a1", 0), ("beta", "b1", 2)])
    );
    assert!(repository.outbox_heads(0).await.unwrap().is_empty());

    let keys = |events: Vec<recurring_deals::OutboxEvent>| {
        events
            .into_iter()
            .map(|e| e.idempotency_key)
            .collect::<Vec<_>>()
    };
    let chosen = [tenant("acme"), tenant("gamma")];
    assert_eq!(
        keys(repository.tenants_outbox(&chosen, 10).await.unwrap()),
        ["a1", "a2", "a3", "g1"]
    );
    assert_eq!(
        keys(repository.tenants_outbox(&chosen, 2).await.unwrap()),
        ["a1", "a2"]
    );
    assert!(repository.tenants_outbox(&[], 10).await.unwrap().is_empty());
    // Every tenant but the named ones.
    assert_eq!(
        keys(
            repository
                .outbox_except(&[tenant("acme")], 10)
                .await
                .unwrap()
        ),
        ["b1", "g1"]
    );
    assert_eq!(
        keys(repository.outbox_except(&chosen, 10).await.unwrap()),
        ["b1"]
    );
    assert_eq!(
        keys(repository.outbox_except(&[], 3).await.unwrap()),
        ["a1", "a2", "b1"]
    );
    assert_eq!(
        keys(
            repository
                .outbox_except(&[tenant("nobody")], 10)
                .await
                .unwrap()
        )
        .len(),
        5
    );
    assert!(
        repository
            .tenants_outbox(&[tenant("nobody")], 10)
            .await
            .unwrap()
            .is_empty()
    );
    // Acknowledged events leave the heads: acme's head moves on, beta's goes.
    repository.ack(&[id("a1"), id("b1")]).await.unwrap();
    assert_eq!(
        repository.outbox_heads(10).await.unwrap(),
        expected(&[("acme", "a2", 1), ("gamma", "g1", 4)])
    );
}

/// `tenant_outbox` lists one tenant's events in order; `tenant_ack` acknowledges only that
/// tenant's events (another tenant's ids and unknown ids are ignored).
pub async fn tenant_outbox_and_tenant_ack_are_scoped<R: Repository>(make: &Make<R>) {
    let repository = make().await;
    let acme = tenant("acme");
    let beta = tenant("beta");
    let t = create_daily(&repository, &acme, t0(), local(2026, 3, 1, 9, 0)).await;
    let u = create_daily(&repository, &beta, t0(), local(2026, 3, 1, 9, 0)).await;
    let upcoming = |owner: &TenantId, template: &Template, name: &str| {
        event(
            owner,
            name,
            EventKind::UpcomingDeal {
                template: template.id(),
                at: t0(),
                lead_days: 1,
            },
        )
    };
    let mut commit = bare(&t);
    commit.events = vec![upcoming(&acme, &t, "a1"), upcoming(&acme, &t, "a2")];
    assert_eq!(
        repository.commit(commit).await.unwrap(),
        committed(1, vec![])
    );
    let mut commit = bare(&u);
    commit.events = vec![upcoming(&beta, &u, "b1")];
    assert_eq!(
        repository.commit(commit).await.unwrap(),
        committed(1, vec![])
    );
    let current = repository.template(&acme, t.id()).await.unwrap().unwrap();
    let mut commit = bare(&current);
    commit.events = vec![upcoming(&acme, &t, "a3")];
    assert_eq!(
        repository.commit(commit).await.unwrap(),
        committed(2, vec![])
    );

    let all = repository.outbox(10).await.unwrap();
    let keys = |events: &[recurring_deals::OutboxEvent]| {
        events
            .iter()
            .map(|e| e.idempotency_key.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&all), ["a1", "a2", "b1", "a3"]);
    let of_acme = repository.tenant_outbox(&acme, 10).await.unwrap();
    assert_eq!(keys(&of_acme), ["a1", "a2", "a3"]);
    assert!(of_acme.iter().all(|e| e.tenant == acme));
    assert_eq!(
        keys(&repository.tenant_outbox(&acme, 2).await.unwrap()),
        ["a1", "a2"]
    );
    assert!(repository.tenant_outbox(&acme, 0).await.unwrap().is_empty());
    assert!(
        repository
            .tenant_outbox(&tenant("nobody"), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let of_beta = repository.tenant_outbox(&beta, 10).await.unwrap();
    assert_eq!(keys(&of_beta), ["b1"]);

    // acme acknowledges its first event, beta's event and an unknown id: only its own goes.
    let unknown = all.iter().map(|e| e.id).max().unwrap() + 1000;
    repository
        .tenant_ack(&acme, &[of_acme[0].id, of_beta[0].id, unknown])
        .await
        .unwrap();
    repository.tenant_ack(&acme, &[]).await.unwrap();
    assert_eq!(
        keys(&repository.outbox(10).await.unwrap()),
        ["a2", "b1", "a3"]
    );
    repository
        .tenant_ack(&beta, &[of_beta[0].id])
        .await
        .unwrap();
    assert_eq!(keys(&repository.outbox(10).await.unwrap()), ["a2", "a3"]);
}

/// A retried commit whose deals exist writes the template's state, the skipped occurrences,
/// the other deals' rows and every event not about an existing deal
/// ([`Commit::drop_already_created`]), in a batch as alone.
pub async fn drop_already_created_keeps_other_rows<R: Repository>(make: &Make<R>) {
    let repository = make().await;
    let acme = tenant("acme");
    let t = create_daily(&repository, &acme, t0(), local(2026, 3, 1, 9, 0)).await;
    let u = create_daily(&repository, &acme, t0(), local(2026, 3, 1, 10, 0)).await;
    let (k0, k1, k2) = (key(t.id(), 0), key(t.id(), 1), key(t.id(), 2));
    let mut first = bare(&t);
    first
        .deals
        .push(created_deal(&acme, k0, "first", utc(2026, 3, 1, 9, 0)));
    first
        .invoices
        .push(open_invoice(&acme, k0, &[utc(2026, 3, 8, 9, 0)]));
    first.events.push(deal_created(&acme, k0));
    assert_eq!(
        repository.commit(first).await.unwrap(),
        committed(1, vec![])
    );

    let current = repository.template(&acme, t.id()).await.unwrap().unwrap();
    let moved = plan(&current, utc(2026, 3, 1, 12, 0)).template;
    let mut retry = bare(&moved);
    retry.deals = vec![
        created_deal(&acme, k0, "again", utc(2026, 3, 1, 9, 0)),
        created_deal(&acme, k2, "two", utc(2026, 3, 3, 9, 0)),
    ];
    retry.skipped = vec![skipped_occurrence(
        &acme,
        k1,
        utc(2026, 3, 2, 9, 0),
        SkipReason::Missed,
    )];
    retry.invoices = vec![
        open_invoice(&acme, k0, &[utc(2026, 3, 2, 0, 0)]),
        open_invoice(&acme, k2, &[utc(2026, 3, 9, 0, 0)]),
    ];
    let reminder = event(
        &acme,
        "reminder",
        EventKind::PaymentReminder {
            deal: k0,
            offset_days: -1,
            due_on: date(2026, 3, 11),
        },
    );
    retry.events = vec![
        deal_created(&acme, k0),
        deal_created(&acme, k2),
        reminder.clone(),
    ];
    let mut expected_rows = retry.clone();
    expected_rows.drop_already_created(&[k0]);
    let other = bare(&u);
    let outcomes = repository.commit_batch(vec![retry, other]).await;
    assert_eq!(
        outcomes,
        vec![Ok(committed(2, vec![k0])), Ok(committed(1, vec![]))]
    );
    let stored = repository.template(&acme, t.id()).await.unwrap().unwrap();
    assert_eq!(stored.next_run(), moved.next_run());
    assert_eq!(stored.version(), 2);
    assert_eq!(
        repository
            .deal(&acme, k0)
            .await
            .unwrap()
            .unwrap()
            .deal
            .title(),
        "first"
    );
    assert_eq!(
        repository.deals(&acme, Some(t.id())).await.unwrap().len(),
        2
    );
    assert_eq!(
        repository.skipped(&acme, Some(t.id())).await.unwrap(),
        expected_rows.skipped
    );
    // k0's invoice stays the first one (reminder Mar 8); k2's is new.
    assert_eq!(
        repository
            .invoice(&acme, k0)
            .await
            .unwrap()
            .unwrap()
            .pending_reminders[0]
            .at,
        utc(2026, 3, 8, 9, 0)
    );
    assert!(repository.invoice(&acme, k2).await.unwrap().is_some());
    let mut expected_events = vec![deal_created(&acme, k0)];
    expected_events.extend(expected_rows.events);
    assert_eq!(outbox_events(&repository).await, expected_events);
}

/// A commit holding a row of another template or tenant is refused whole (typed
/// [`RepositoryError::Refused`]); in a batch it fails alone.
pub async fn commit_refuses_rows_of_another_template<R: Repository>(make: &Make<R>) {
    let repository = make().await;
    let acme = tenant("acme");
    let beta = tenant("beta");
    let t = create_daily(&repository, &acme, t0(), local(2026, 3, 1, 9, 0)).await;
    let u = create_daily(&repository, &acme, t0(), local(2026, 3, 1, 10, 0)).await;
    let mut foreign_key = bare(&t);
    foreign_key.deals.push(created_deal(
        &acme,
        key(u.id(), 0),
        "u's",
        utc(2026, 3, 1, 10, 0),
    ));
    let mut foreign_tenant = bare(&u);
    foreign_tenant
        .events
        .push(deal_created(&beta, key(u.id(), 0)));
    for commit in [foreign_key.clone(), foreign_tenant.clone()] {
        let refused = repository.commit(commit).await.unwrap_err();
        assert!(
            matches!(refused, RepositoryError::Refused { .. }),
            "{refused:?}"
        );
    }
    let outcomes = repository.commit_batch(vec![foreign_key, bare(&u)]).await;
    assert!(matches!(outcomes[0], Err(RepositoryError::Refused { .. })));
    assert_eq!(outcomes[1], Ok(committed(1, vec![])));
    assert!(repository.deals(&acme, None).await.unwrap().is_empty());
    assert!(repository.outbox(10).await.unwrap().is_empty());
    assert_eq!(
        repository
            .template(&acme, t.id())
            .await
            .unwrap()
            .unwrap()
            .version(),
        0
    );
}

/// `delete_template` is conditional on the version and tenant; the deals stay.
pub async fn delete_checks_the_version_and_keeps_deals<R: Repository>(make: &Make<R>) {
    let repository = make().await;
    let acme = tenant("acme");
    let t = create_daily(&repository, &acme, t0(), local(2026, 3, 1, 9, 0)).await;
    let keep = create_daily(&repository, &acme, t0(), local(2026, 3, 1, 10, 0)).await;
    let deal = created_deal(&acme, key(t.id(), 0), "kept", utc(2026, 3, 1, 9, 0));
    let mut commit = bare(&t);
    commit.deals.push(deal.clone());
    assert_eq!(
        repository.commit(commit).await.unwrap(),
        committed(1, vec![])
    );
    assert_eq!(repository.count_live(&acme).await.unwrap(), 2);

    assert_eq!(
        repository.delete_template(&acme, t.id(), 0).await.unwrap(),
        CommitOutcome::Conflict
    );
    assert_eq!(
        repository
            .delete_template(&tenant("beta"), t.id(), 1)
            .await
            .unwrap(),
        CommitOutcome::Missing
    );
    assert!(repository.template(&acme, t.id()).await.unwrap().is_some());
    assert_eq!(
        repository.delete_template(&acme, t.id(), 1).await.unwrap(),
        committed(2, vec![])
    );
    assert_eq!(repository.template(&acme, t.id()).await.unwrap(), None);
    assert_eq!(
        ids(&repository
            .due_templates(utc(2026, 3, 2, 0, 0), 10)
            .await
            .unwrap()),
        vec![keep.id()]
    );
    assert_eq!(
        repository.next_wake().await.unwrap(),
        Some(utc(2026, 3, 1, 10, 0))
    );
    assert_eq!(
        page_ids(&repository, &acme, TemplateQuery::default()).await,
        vec![keep.id()]
    );
    assert_eq!(
        repository
            .list_templates(&acme, &TemplateQuery::default())
            .await
            .unwrap()
            .total,
        1
    );
    assert_eq!(repository.count_live(&acme).await.unwrap(), 1);
    assert_eq!(
        repository.deals(&acme, Some(t.id())).await.unwrap(),
        vec![deal.clone()]
    );
    assert_eq!(repository.deal(&acme, deal.key).await.unwrap(), Some(deal));
    assert_eq!(
        repository.delete_template(&acme, t.id(), 2).await.unwrap(),
        CommitOutcome::Missing
    );
    assert_eq!(
        repository.commit(bare(&t)).await.unwrap(),
        CommitOutcome::Missing
    );
}

/// The templates of each kind of state, for the listing cases.
struct Listed {
    /// Active: next run Mar 3 09:00.
    x: Template,
    /// Active: next run Mar 2 09:00 (y and z tie, ordered by id).
    y: Template,
    z: Template,
    /// Paused until Mar 10: next run Mar 10 00:00.
    p: Template,
    /// Paused without a date: no next run.
    q: Template,
    /// Inactive: no next run.
    i: Template,
    /// Finished: no next run.
    f: Template,
}

async fn listed<R: Repository>(repository: &R, acme: &TenantId) -> Listed {
    let engine = engine_at(repository, t0());
    let mut once = draft("Once", daily(local(2026, 3, 1, 1, 0), 1));
    once.schedule = Schedule::builder(
        Recurrence::daily(Interval::ONE),
        local(2026, 3, 1, 1, 0),
        Zone::UTC,
    )
    .end(End::Count(1))
    .build()
    .unwrap();
    let f = engine.create_template(acme, once).await.unwrap();
    engine.clock().set(utc(2026, 3, 1, 1, 0));
    let report = engine.tick().await.unwrap();
    assert_eq!(report.created, vec![key(f.id(), 0)]);
    let f = engine.template(acme, f.id()).await.unwrap();
    assert_eq!(f.state(), &TemplateState::Finished);

    let x = create_daily(repository, acme, t0(), local(2026, 3, 3, 9, 0)).await;
    let y = create_daily(repository, acme, t0(), local(2026, 3, 2, 9, 0)).await;
    let z = create_daily(repository, acme, t0(), local(2026, 3, 2, 9, 0)).await;
    let p = create_daily(repository, acme, t0(), local(2026, 3, 4, 9, 0)).await;
    let p = engine
        .pause(acme, p.id(), "", Some(date(2026, 3, 10)))
        .await
        .unwrap();
    assert_eq!(p.next_run(), Some(utc(2026, 3, 10, 0, 0)));
    let q = create_daily(repository, acme, t0(), local(2026, 3, 4, 9, 0)).await;
    let q = engine.pause(acme, q.id(), "", None).await.unwrap();
    let i = create_daily(repository, acme, t0(), local(2026, 3, 4, 9, 0)).await;
    let i = engine.deactivate(acme, i.id()).await.unwrap();
    Listed {
        x,
        y,
        z,
        p,
        q,
        i,
        f,
    }
}

/// `list_templates`: a tenant's templates by next run (none last), then id; filtered by kind of
/// state; paged with the total of all matching.
pub async fn list_templates_filters_sorts_and_pages<R: Repository>(make: &Make<R>) {
    let repository = make().await;
    let acme = tenant("acme");
    let l = listed(&repository, &acme).await;
    let _theirs = create_daily(&repository, &tenant("beta"), t0(), local(2026, 3, 1, 9, 0)).await;

    let mut all = by_id(vec![&l.y, &l.z]);
    all.extend([l.x.id(), l.p.id()]);
    all.extend(by_id(vec![&l.q, &l.i, &l.f]));
    let page = repository
        .list_templates(&acme, &TemplateQuery::default())
        .await
        .unwrap();
    assert_eq!(ids(&page.items), all);
    assert_eq!(page.total, 7);
    // Whole templates, as stored.
    let stored_p = repository.template(&acme, l.p.id()).await.unwrap().unwrap();
    assert!(page.items.contains(&stored_p));
    assert!(page.items.contains(&l.f));

    let query = |state, offset, limit| TemplateQuery {
        state,
        offset,
        limit,
        ..TemplateQuery::default()
    };
    assert_eq!(
        page_ids(&repository, &acme, query(Some(StateFilter::Active), 0, 0)).await,
        [by_id(vec![&l.y, &l.z]), vec![l.x.id()]].concat()
    );
    assert_eq!(
        page_ids(&repository, &acme, query(Some(StateFilter::Paused), 0, 0)).await,
        vec![l.p.id(), l.q.id()]
    );
    assert_eq!(
        page_ids(&repository, &acme, query(Some(StateFilter::Inactive), 0, 0)).await,
        vec![l.i.id()]
    );
    assert_eq!(
        page_ids(&repository, &acme, query(Some(StateFilter::Finished), 0, 0)).await,
        vec![l.f.id()]
    );

    let page = repository
        .list_templates(&acme, &query(None, 2, 3))
        .await
        .unwrap();
    assert_eq!(ids(&page.items), all[2..5].to_vec());
    assert_eq!(page.total, 7);
    let page = repository
        .list_templates(&acme, &query(Some(StateFilter::Active), 1, 1))
        .await
        .unwrap();
    assert_eq!(ids(&page.items), all[1..2].to_vec());
    assert_eq!(page.total, 3);
    let page = repository
        .list_templates(&acme, &query(None, 7, 10))
        .await
        .unwrap();
    assert!(page.items.is_empty());
    assert_eq!(page.total, 7);

    let page = repository
        .list_templates(&tenant("nobody"), &TemplateQuery::default())
        .await
        .unwrap();
    assert!(page.items.is_empty());
    assert_eq!(page.total, 0);
}

/// A limit of 0 means pages of 50.
pub async fn list_templates_default_page_size_is_50<R: Repository>(make: &Make<R>) {
    let repository = make().await;
    let acme = tenant("acme");
    let mut created = Vec::new();
    for i in 0..55 {
        // Next runs a minute apart, so the order is by creation.
        let t = create_daily(
            &repository,
            &acme,
            t0(),
            local(2026, 3, 1, 9, 0) + TimeDelta::minutes(i),
        )
        .await;
        created.push(t.id());
    }
    let page = repository
        .list_templates(&acme, &TemplateQuery::default())
        .await
        .unwrap();
    assert_eq!(ids(&page.items), created[..50].to_vec());
    assert_eq!(page.total, 55);
    let rest = TemplateQuery {
        state: None,
        offset: 50,
        limit: 0,
        ..TemplateQuery::default()
    };
    assert_eq!(
        page_ids(&repository, &acme, rest).await,
        created[50..].to_vec()
    );
}

/// Keyset pages (`TemplateQuery::after`) walk the listing order exactly once, templates
/// without a next run last, and stay right when templates are added meanwhile.
pub async fn list_templates_pages_by_keyset<R: Repository>(make: &Make<R>) {
    let repository = make().await;
    let acme = tenant("acme");
    let l = listed(&repository, &acme).await;
    let all = repository
        .list_templates(&acme, &TemplateQuery::default())
        .await
        .unwrap()
        .items;
    assert_eq!(all.len(), 7);
    let mut walked = Vec::new();
    let mut after = None;
    loop {
        let page = repository
            .list_templates(
                &acme,
                &TemplateQuery {
                    after,
                    limit: 2,
                    ..TemplateQuery::default()
                },
            )
            .await
            .unwrap();
        assert!(
            page.total >= 7,
            "the total counts every template, wherever the page starts"
        );
        let Some(last) = page.items.last() else {
            break;
        };
        after = Some(ListPosition::of(last));
        walked.extend(ids(&page.items));
        if walked.len() == 2 {
            // A template added before the position does not shift the pages after it.
            let _ = create_daily(&repository, &acme, t0(), local(2026, 2, 1, 0, 0)).await;
        }
    }
    assert_eq!(walked, ids(&all));
    // After a template with no next run: only later ones without a next run.
    let last_without = all.iter().rev().find(|t| t.next_run().is_none()).unwrap();
    let page = repository
        .list_templates(
            &acme,
            &TemplateQuery {
                after: Some(ListPosition::of(last_without)),
                ..TemplateQuery::default()
            },
        )
        .await
        .unwrap();
    assert!(page.items.is_empty(), "{:?}", ids(&page.items));
    // With a state filter.
    let active = repository
        .list_templates(
            &acme,
            &TemplateQuery {
                state: Some(StateFilter::Active),
                after: Some(ListPosition::of(&l.y)),
                ..TemplateQuery::default()
            },
        )
        .await
        .unwrap();
    assert!(
        active
            .items
            .iter()
            .all(|t| t.state() == &TemplateState::Active)
    );
    assert!(!ids(&active.items).contains(&l.y.id()));
}

/// `count_live`: a tenant's active and paused templates.
pub async fn count_live_counts_active_and_paused<R: Repository>(make: &Make<R>) {
    let repository = make().await;
    let acme = tenant("acme");
    let beta = tenant("beta");
    assert_eq!(repository.count_live(&acme).await.unwrap(), 0);
    let _ = listed(&repository, &acme).await;
    let _ = create_daily(&repository, &beta, t0(), local(2026, 3, 1, 9, 0)).await;
    // x, y, z active; p, q paused; i inactive and f finished do not count.
    assert_eq!(repository.count_live(&acme).await.unwrap(), 5);
    assert_eq!(repository.count_live(&beta).await.unwrap(), 1);
    assert_eq!(repository.count_live(&tenant("nobody")).await.unwrap(), 0);
}

/// The engine over the store behaves as over the in-memory reference store: the same tick
/// reports, deals, skipped occurrences, invoices and outbox, through 40 days of daily ticks with
/// invoices, reminders, a pause, a manual deal, catch-up and a finished series.
pub async fn engine_runs_as_on_the_reference_store<R: Repository>(make: &Make<R>) {
    let repository = make().await;
    let reference = recurring_deals::InMemoryRepository::new();
    let clock = ManualClock::new(t0());
    let engines = (
        Engine::new(&repository, clock.clone()),
        Engine::new(&reference, clock.clone()),
    );
    let acme = tenant("acme");
    let beta = tenant("beta");
    let drafts = || {
        let mut invoiced = draft("Invoiced", daily(local(2026, 3, 1, 9, 0), 3));
        invoiced.invoice = Some(InvoiceOptions {
            payment_due: PaymentDue::Days(5),
            send_to: vec![1],
            mail_template: Some(2),
            document_template: None,
            remind_before_days: vec![2],
            remind_after_days: vec![1, 3],
            dunning: vec![],
        });
        invoiced.upcoming_notice_days = vec![1];
        let mut counted = draft("Counted", daily(local(2026, 3, 2, 12, 0), 2));
        counted.schedule = counted.schedule.with_end(End::Count(4)).unwrap();
        let mut latest = draft("Latest", daily(local(2026, 3, 1, 6, 0), 1));
        latest.catch_up.mode = CatchUpMode::Latest;
        vec![
            (acme.clone(), invoiced),
            (acme.clone(), counted),
            (beta.clone(), latest),
        ]
    };
    let mut templates = Vec::new();
    for (tenant, draft) in drafts() {
        let a = engines
            .0
            .create_template(&tenant, draft.clone())
            .await
            .unwrap();
        let b = engines.1.create_template(&tenant, draft).await.unwrap();
        assert_eq!(a.version(), b.version());
        templates.push((tenant, a.id(), b.id()));
    }
    // Ids may differ between stores; compare through a renaming.
    let rename = |id: TemplateId| {
        templates
            .iter()
            .find(|(_, a, _)| *a == id)
            .map_or(id, |(_, _, b)| *b)
    };
    let rename_key = |key: DealKey| match key {
        DealKey::Scheduled {
            template,
            revision,
            seq,
        } => DealKey::Scheduled {
            template: rename(template),
            revision,
            seq,
        },
        DealKey::Manual { template, number } => DealKey::Manual {
            template: rename(template),
            number,
        },
    };
    let mut created = 0;
    for day in 0..40 {
        clock.set(t0() + TimeDelta::days(day) + TimeDelta::hours(10));
        if day == 5 {
            let (tenant, a, b) = &templates[2];
            engines
                .0
                .pause(tenant, *a, "", Some(date(2026, 3, 9)))
                .await
                .unwrap();
            engines
                .1
                .pause(tenant, *b, "", Some(date(2026, 3, 9)))
                .await
                .unwrap();
        }
        if day == 7 {
            let (tenant, a, b) = &templates[0];
            let x = engines.0.create_now(tenant, *a).await.unwrap();
            let y = engines.1.create_now(tenant, *b).await.unwrap();
            assert_eq!(rename_key(x.key), y.key);
        }
        if (20..27).contains(&day) {
            // A down week: caught up on day 27.
            continue;
        }
        let mut a = engines.0.tick().await.unwrap();
        let b = engines.1.tick().await.unwrap();
        a.created = a.created.into_iter().map(rename_key).collect();
        for s in &mut a.skipped {
            s.key = rename_key(s.key);
        }
        assert_eq!(a, b, "day {day}");
        created += a.created.len();
    }
    // Invoiced every 3 days from Mar 1 (Mar 1..Apr 9 10:00: 14), counted 4, latest: days run
    // daily except the pause (Mar 6..8 skipped as paused) and the down week (catch-up of the
    // latest only).
    assert!(created > 14 + 4);
    for (tenant, a, b) in &templates {
        let x = repository.template(tenant, *a).await.unwrap().unwrap();
        let y = reference.template(tenant, *b).await.unwrap().unwrap();
        assert_eq!(x.counters(), y.counters());
        assert_eq!(x.state(), y.state());
        assert_eq!(x.next_run(), y.next_run());
        assert_eq!(x.version(), y.version());
        let deals_a: Vec<_> = repository
            .deals(tenant, Some(*a))
            .await
            .unwrap()
            .into_iter()
            .map(|d| (rename_key(d.key), d.nominal_at, d.created_at, d.catch_up))
            .collect();
        let deals_b: Vec<_> = reference
            .deals(tenant, Some(*b))
            .await
            .unwrap()
            .into_iter()
            .map(|d| (d.key, d.nominal_at, d.created_at, d.catch_up))
            .collect();
        assert_eq!(deals_a, deals_b);
        assert_eq!(
            x.counters().created_by_schedule + x.counters().created_manually,
            deals_a.len() as u64
        );
        let skipped_a: Vec<_> = repository
            .skipped(tenant, Some(*a))
            .await
            .unwrap()
            .into_iter()
            .map(|s| (rename_key(s.key), s.reason))
            .collect();
        let skipped_b: Vec<_> = reference
            .skipped(tenant, Some(*b))
            .await
            .unwrap()
            .into_iter()
            .map(|s| (s.key, s.reason))
            .collect();
        assert_eq!(skipped_a, skipped_b);
    }
    // The invoiced template: one deal every 3 days from Mar 1 at 09:00, checked by hand.
    let (_, invoiced, _) = &templates[0];
    let scheduled: Vec<DateTime<Utc>> = repository
        .deals(&acme, Some(*invoiced))
        .await
        .unwrap()
        .into_iter()
        .filter(|d| matches!(d.key, DealKey::Scheduled { .. }))
        .map(|d| d.nominal_at)
        .collect();
    let expected: Vec<DateTime<Utc>> = (0..14)
        .map(|n| utc(2026, 3, 1, 9, 0) + TimeDelta::days(3 * n))
        .collect();
    assert_eq!(scheduled, expected);
    // The counted template: exactly 4, then finished.
    let (_, counted, _) = &templates[1];
    let counted = repository.template(&acme, *counted).await.unwrap().unwrap();
    assert_eq!(counted.counters().created_by_schedule, 4);
    assert_eq!(counted.state(), &TemplateState::Finished);

    // The outboxes match, event for event, and deal events are unique.
    let kinds = |events: Vec<NewEvent>| -> Vec<(String, String)> {
        events
            .into_iter()
            .map(|e| {
                (
                    e.tenant.to_string(),
                    format!("{:?}", std::mem::discriminant(&e.kind)),
                )
            })
            .collect()
    };
    let a = outbox_events(&repository).await;
    let b = outbox_events(&reference).await;
    assert_eq!(a.len(), b.len());
    assert_eq!(kinds(a.clone()), kinds(b));
    let mut deal_events = BTreeSet::new();
    for e in &a {
        if let EventKind::DealCreated { deal, .. } = e.kind {
            assert!(deal_events.insert(deal), "{deal} announced twice");
        }
    }
    let mut all_deals = 0;
    for t in [&acme, &beta] {
        all_deals += repository.deals(t, None).await.unwrap().len();
    }
    assert_eq!(deal_events.len(), all_deals);
    let invoices = repository.deals(&acme, Some(*invoiced)).await.unwrap();
    for deal in invoices {
        assert!(repository.invoice(&acme, deal.key).await.unwrap().is_some());
    }
}
