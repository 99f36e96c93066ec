//! Conformance cases of the dunning ladder and invoice history: the engine over each store
//! escalates, skips and stops as the in-memory reference does, and the store lists a
//! tenant's overdue invoices by keyset.
//!
//! Every instant is written out from the definitions: a template every 365 days at 09:00 UTC
//! from 2026-03-01, invoices due 10 days after the deal's date (2026-03-11), steps N days
//! after that at 09:00 UTC.

use chrono::{DateTime, Utc};
use recurring_deals::{
    CommitOutcome, DealKey, DunningAction, DunningStep, EventKind, Invoice, InvoiceEntry,
    InvoiceOptions, InvoiceStatus, OverduePosition, PaymentDue, Repository, StepSkipReason,
    Template, TemplateState, TenantId, plan_invoice,
};

use super::{Make, bare, daily, draft, engine_at, key, local, open_invoice, t0, tenant, utc};

/// A template every 365 days at 09:00 UTC from 2026-03-01, invoiced, due in 10 days, with
/// `ladder`.
async fn invoiced<R: Repository>(
    repository: &R,
    tenant: &TenantId,
    ladder: Vec<DunningStep>,
) -> Template {
    let mut d = draft("Invoiced", daily(local(2026, 3, 1, 9, 0), 365));
    d.invoice = Some(InvoiceOptions::new(PaymentDue::Days(10)).dunning(ladder));
    engine_at(repository, t0())
        .create_template(tenant, d)
        .await
        .unwrap()
}

/// The dunning events in the outbox: (deal, after_days, level, action, idempotency key).
async fn dunning_events<R: Repository>(
    repository: &R,
) -> Vec<(DealKey, u32, u8, Option<DunningAction>, String)> {
    repository
        .outbox(1000)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::DunningStep { deal, step, .. } => Some((
                deal,
                step.after_days,
                step.level,
                step.action,
                e.idempotency_key,
            )),
            _ => None,
        })
        .collect()
}

/// The history's entries without their instants.
fn entries(invoice: &Invoice) -> Vec<InvoiceEntry> {
    invoice.history.iter().map(|r| r.entry).collect()
}

/// An invoice escalates one step at a time, each step once, shows in the tenant's overdue
/// list from its first step, keeps a history of what went out when, and stops when paid.
pub async fn dunning_escalates_each_step_once_and_stops_when_paid<R: Repository>(make: &Make<R>) {
    let repository = make().await;
    let acme = tenant("acme");
    let ladder = vec![
        DunningStep::new(3, 1).mail_template(71),
        DunningStep::new(10, 2).mail_template(72),
        DunningStep::new(30, 3).action(DunningAction::HandOver),
    ];
    let t = invoiced(&repository, &acme, ladder.clone()).await;
    let engine = engine_at(&repository, utc(2026, 3, 1, 9, 0));
    let deal = key(t.id(), 0);
    engine.tick().await.unwrap();
    let invoice = engine.invoice(&acme, deal).await.unwrap();
    assert_eq!(invoice.due_on, super::date(2026, 3, 11));
    let pending: Vec<(DateTime<Utc>, u32)> = invoice
        .pending_dunning
        .iter()
        .map(|p| (p.at, p.step.after_days))
        .collect();
    assert_eq!(
        pending,
        vec![
            (utc(2026, 3, 14, 9, 0), 3),
            (utc(2026, 3, 21, 9, 0), 10),
            (utc(2026, 4, 10, 9, 0), 30),
        ]
    );
    assert_eq!(
        entries(&invoice),
        vec![InvoiceEntry::Issued {
            due_on: super::date(2026, 3, 11)
        }]
    );
    assert!(!invoice.is_overdue());
    assert_eq!(
        engine.next_wake().await.unwrap(),
        Some(utc(2026, 3, 14, 9, 0))
    );

    // A minute before the first step: nothing, and nothing overdue.
    engine.clock().set(utc(2026, 3, 14, 8, 59));
    assert_eq!(engine.tick().await.unwrap().dunning_steps, 0);
    assert!(
        engine
            .overdue_invoices(&acme, None, 0)
            .await
            .unwrap()
            .is_empty()
    );

    // The first step: overdue from now, level 1, one event with its own key.
    engine.clock().set(utc(2026, 3, 14, 9, 0));
    let report = engine.tick().await.unwrap();
    assert_eq!((report.dunning_steps, report.events), (1, 1));
    let invoice = engine.invoice(&acme, deal).await.unwrap();
    assert_eq!(invoice.overdue_since, Some(utc(2026, 3, 14, 9, 0)));
    assert_eq!(invoice.dunning_level, 1);
    assert!(invoice.is_overdue());
    assert_eq!(
        engine.overdue_invoices(&acme, None, 0).await.unwrap(),
        vec![invoice.clone()]
    );
    assert!(
        engine
            .overdue_invoices(&tenant("beta"), None, 0)
            .await
            .unwrap()
            .is_empty()
    );
    // Each step once: the same instant again sends nothing.
    assert_eq!(engine.tick().await.unwrap().dunning_steps, 0);
    assert_eq!(
        dunning_events(&repository).await,
        vec![(deal, 3, 1, None, format!("dunning:{deal}:3"))]
    );

    // The second step.
    engine.clock().set(utc(2026, 3, 21, 9, 0));
    assert_eq!(engine.tick().await.unwrap().dunning_steps, 1);
    assert_eq!(engine.invoice(&acme, deal).await.unwrap().dunning_level, 2);

    // Paid: out of the overdue list, the last step never goes out.
    engine.clock().set(utc(2026, 3, 25, 12, 0));
    engine
        .set_invoice_status(&acme, deal, InvoiceStatus::Paid)
        .await
        .unwrap();
    assert!(
        engine
            .overdue_invoices(&acme, None, 0)
            .await
            .unwrap()
            .is_empty()
    );
    engine.clock().set(utc(2026, 4, 10, 9, 0));
    assert_eq!(engine.tick().await.unwrap().dunning_steps, 0);
    assert_eq!(
        dunning_events(&repository).await,
        vec![
            (deal, 3, 1, None, format!("dunning:{deal}:3")),
            (deal, 10, 2, None, format!("dunning:{deal}:10")),
        ]
    );
    let history = engine.invoice_history(&acme, deal).await.unwrap();
    let when: Vec<DateTime<Utc>> = history.iter().map(|r| r.at).collect();
    assert_eq!(
        when,
        vec![
            utc(2026, 3, 1, 9, 0),
            utc(2026, 3, 14, 9, 0),
            utc(2026, 3, 21, 9, 0),
            utc(2026, 3, 25, 12, 0),
        ]
    );
    assert_eq!(
        history.iter().map(|r| r.entry).collect::<Vec<_>>(),
        vec![
            InvoiceEntry::Issued {
                due_on: super::date(2026, 3, 11)
            },
            InvoiceEntry::DunningSent {
                step: ladder[0],
                scheduled: utc(2026, 3, 14, 9, 0)
            },
            InvoiceEntry::DunningSent {
                step: ladder[1],
                scheduled: utc(2026, 3, 21, 9, 0)
            },
            InvoiceEntry::StatusChanged {
                from: InvoiceStatus::Open,
                to: InvoiceStatus::Paid
            },
        ]
    );
}

/// A deal created late gets an invoice whose past steps are recorded as skipped, not sent;
/// after downtime only the latest due step goes out; a final `StopTemplate` deactivates the
/// template once.
pub async fn dunning_skips_past_steps_and_stops_the_template<R: Repository>(make: &Make<R>) {
    let repository = make().await;
    let acme = tenant("acme");
    let ladder = vec![
        DunningStep::new(3, 1),
        DunningStep::new(10, 2),
        DunningStep::new(20, 3).action(DunningAction::StopTemplate),
    ];
    let t = invoiced(&repository, &acme, ladder.clone()).await;
    let deal = key(t.id(), 0);
    // Down until Mar 20: the Mar 1 deal is created late; its first step (Mar 14) is past.
    let engine = engine_at(&repository, utc(2026, 3, 20, 10, 0));
    let report = engine.tick().await.unwrap();
    assert_eq!((report.created.len(), report.dunning_steps), (1, 0));
    let invoice = engine.invoice(&acme, deal).await.unwrap();
    assert_eq!(
        entries(&invoice)[1..],
        [InvoiceEntry::DunningSkipped {
            step: ladder[0],
            scheduled: utc(2026, 3, 14, 9, 0),
            reason: StepSkipReason::PastAtIssue,
        }]
    );
    assert_eq!(invoice.overdue_since, Some(utc(2026, 3, 14, 9, 0)));
    assert_eq!(invoice.dunning_level, 0);
    assert_eq!(invoice.pending_dunning.len(), 2);
    assert_eq!(
        engine.overdue_invoices(&acme, None, 0).await.unwrap(),
        vec![invoice]
    );

    // Down again until Apr 1: steps of Mar 21 and Mar 31 are both due; the latest goes out,
    // and its action stops the template.
    engine.clock().set(utc(2026, 4, 1, 10, 0));
    let report = engine.tick().await.unwrap();
    assert_eq!((report.dunning_steps, report.dunning_actions), (1, 1));
    assert_eq!(
        dunning_events(&repository).await,
        vec![(
            deal,
            20,
            3,
            Some(DunningAction::StopTemplate),
            format!("dunning:{deal}:20")
        )]
    );
    let invoice = engine.invoice(&acme, deal).await.unwrap();
    assert_eq!(
        entries(&invoice)[2..],
        [
            InvoiceEntry::DunningSkipped {
                step: ladder[1],
                scheduled: utc(2026, 3, 21, 9, 0),
                reason: StepSkipReason::Superseded,
            },
            InvoiceEntry::DunningSent {
                step: ladder[2],
                scheduled: utc(2026, 3, 31, 9, 0),
            },
            InvoiceEntry::ActionTaken {
                action: DunningAction::StopTemplate,
                changed: true,
            },
        ]
    );
    assert_eq!((invoice.dunning_level, invoice.pending_action), (3, None));
    assert!(invoice.pending_dunning.is_empty());
    let stopped = engine.template(&acme, t.id()).await.unwrap();
    assert_eq!(stopped.state(), &TemplateState::Inactive);
    // Nothing more to do for the invoice.
    assert_eq!(invoice.next_reminder(), None);
    let report = engine.tick().await.unwrap();
    assert_eq!((report.dunning_steps, report.dunning_actions), (0, 0));
}

/// A worker that dies after recording a step's `StopTemplate` but before carrying it out
/// leaves the action pending; the next tick (of any worker) carries it out once, without
/// sending the step again.
pub async fn a_pending_final_action_survives_a_crash<R: Repository>(make: &Make<R>) {
    let repository = make().await;
    let acme = tenant("acme");
    let ladder = vec![DunningStep::new(5, 1).action(DunningAction::StopTemplate)];
    let t = invoiced(&repository, &acme, ladder).await;
    let deal = key(t.id(), 0);
    let engine = engine_at(&repository, utc(2026, 3, 1, 9, 0));
    engine.tick().await.unwrap();
    // What a tick at Mar 16 09:00 commits before carrying out the action, then dies.
    let due = utc(2026, 3, 16, 9, 0);
    let invoice = engine.invoice(&acme, deal).await.unwrap();
    let plan = plan_invoice(&invoice, due);
    assert_eq!(plan.dunning_steps, 1);
    assert!(matches!(
        repository.commit_invoice(plan.invoice, plan.events).await,
        Ok(CommitOutcome::Committed { .. })
    ));
    let recorded = engine.invoice(&acme, deal).await.unwrap();
    assert_eq!(recorded.pending_action.map(|p| p.since), Some(due));
    assert_eq!(recorded.next_reminder(), Some(due));
    assert_eq!(
        engine.template(&acme, t.id()).await.unwrap().state(),
        &TemplateState::Active
    );
    // The restarted engine, a minute later.
    engine.clock().set(due + chrono::TimeDelta::minutes(1));
    let report = engine.tick().await.unwrap();
    assert_eq!((report.dunning_steps, report.dunning_actions), (0, 1));
    assert_eq!(
        engine.template(&acme, t.id()).await.unwrap().state(),
        &TemplateState::Inactive
    );
    assert_eq!(dunning_events(&repository).await.len(), 1);
    let done = engine.invoice(&acme, deal).await.unwrap();
    assert_eq!(done.pending_action, None);
    assert_eq!(
        done.history.last().map(|r| r.entry),
        Some(InvoiceEntry::ActionTaken {
            action: DunningAction::StopTemplate,
            changed: true,
        })
    );
}

/// A tenant's overdue invoices: by the instant they became overdue, then deal key; pages by
/// keyset; open ones only; other tenants' never.
pub async fn overdue_invoices_page_by_keyset<R: Repository>(make: &Make<R>) {
    let repository = make().await;
    let acme = tenant("acme");
    let beta = tenant("beta");
    let t = super::create_daily(&repository, &acme, t0(), local(2026, 3, 1, 9, 0)).await;
    let u = super::create_daily(&repository, &beta, t0(), local(2026, 3, 1, 9, 0)).await;
    let overdue = |tenant: &TenantId, deal, since: Option<DateTime<Utc>>, status| {
        let mut invoice = open_invoice(tenant, deal, &[]);
        invoice.overdue_since = since;
        invoice.status = status;
        invoice
    };
    let (early, late) = (utc(2026, 3, 5, 9, 0), utc(2026, 3, 9, 9, 0));
    let a = overdue(&acme, key(t.id(), 4), Some(early), InvoiceStatus::Open);
    let b = overdue(&acme, key(t.id(), 2), Some(late), InvoiceStatus::Open);
    let c = overdue(&acme, key(t.id(), 3), Some(early), InvoiceStatus::Open);
    let manual = DealKey::Manual {
        template: t.id(),
        number: 0,
    };
    let d = overdue(&acme, manual, Some(early), InvoiceStatus::Open);
    let paid = overdue(&acme, key(t.id(), 5), Some(early), InvoiceStatus::Paid);
    let current = overdue(&acme, key(t.id(), 6), None, InvoiceStatus::Open);
    let mut commit = bare(&t);
    commit.invoices = vec![a.clone(), b.clone(), c.clone(), d.clone(), paid, current];
    assert!(matches!(
        repository.commit(commit).await.unwrap(),
        CommitOutcome::Committed { .. }
    ));
    let theirs = overdue(&beta, key(u.id(), 0), Some(early), InvoiceStatus::Open);
    let mut commit = bare(&u);
    commit.invoices = vec![theirs.clone()];
    assert!(matches!(
        repository.commit(commit).await.unwrap(),
        CommitOutcome::Committed { .. }
    ));

    // Early ones by key (scheduled seq 3, seq 4, then the manual deal), then the late one.
    let all = repository.overdue_invoices(&acme, None, 10).await.unwrap();
    assert_eq!(all, vec![c.clone(), a.clone(), d.clone(), b.clone()]);
    let first = repository.overdue_invoices(&acme, None, 2).await.unwrap();
    assert_eq!(first, vec![c.clone(), a.clone()]);
    let after = OverduePosition::of(&first[1]);
    let second = repository.overdue_invoices(&acme, after, 2).await.unwrap();
    assert_eq!(second, vec![d.clone(), b.clone()]);
    let after = OverduePosition::of(&second[1]);
    assert!(
        repository
            .overdue_invoices(&acme, after, 2)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        repository.overdue_invoices(&beta, None, 10).await.unwrap(),
        vec![theirs]
    );

    // Paid through commit_invoice: out of the list; reopened: back in its place.
    let mut paid_a = a.clone();
    paid_a.status = InvoiceStatus::Paid;
    assert!(matches!(
        repository.commit_invoice(paid_a, Vec::new()).await.unwrap(),
        CommitOutcome::Committed { version: 1, .. }
    ));
    let listed = repository.overdue_invoices(&acme, None, 10).await.unwrap();
    assert_eq!(
        listed.iter().map(|i| i.deal).collect::<Vec<_>>(),
        vec![c.deal, d.deal, b.deal]
    );
    let mut reopened = repository.invoice(&acme, a.deal).await.unwrap().unwrap();
    reopened.status = InvoiceStatus::Open;
    repository
        .commit_invoice(reopened, Vec::new())
        .await
        .unwrap();
    let listed = repository.overdue_invoices(&acme, None, 10).await.unwrap();
    assert_eq!(
        listed.iter().map(|i| i.deal).collect::<Vec<_>>(),
        vec![c.deal, a.deal, d.deal, b.deal]
    );
}
