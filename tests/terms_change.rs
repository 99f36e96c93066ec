//! Terms changes across templates (`Engine::apply_terms_change`, `dry_run_terms_change`), each
//! scenario on the in-memory store, on SQLite (feature `sqlite`) and on PostgreSQL (feature
//! `postgres`, with `RECURRING_DEALS_PG_URL`; a schema of its own per test, skipped with a
//! notice without a server).
//!
//! Expected amounts and dates are worked out by hand from the schedules and the rounding
//! rules ("daily at 09:00 UTC from 2026-03-01"; "15 yen + 10 % = 16.5 yen"), not taken from
//! the crate's output.

mod pg;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Utc};
use recurring_deals::Zone;
use recurring_deals::forecast::{Forecaster, Period};
use recurring_deals::{
    AmountChange, ChangeId, CreatedDeal, Currency, DayOfMonth, Deal, DealKey, End, Engine,
    EngineError, Interval, ManualClock, Money, MonthDay, ProductRow, Recurrence, Repository,
    Rounding, Schedule, StateFilter, Target, Template, TemplateDraft, TemplateId, TemplateState,
    TenantId, TermsChange, TermsError, TermsFilter, TermsOutcome, TermsReport, ValidationError,
};

fn utc(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn local(y: i32, m: u32, d: u32, h: u32) -> NaiveDateTime {
    date(y, m, d).and_hms_opt(h, 0, 0).unwrap()
}

fn money(minor: i64, code: &str) -> Money {
    Money::new(minor, Currency::new(code).unwrap())
}

fn acme() -> TenantId {
    TenantId::new("acme").unwrap()
}

fn daily(start: NaiveDateTime, zone: Zone) -> Schedule {
    Schedule::builder(Recurrence::daily(Interval::ONE), start, zone)
        .build()
        .unwrap()
}

fn change(id: &str, effective: NaiveDate) -> recurring_deals::TermsChangeBuilder {
    TermsChange::builder(ChangeId::new(id).unwrap(), effective)
}

fn engine<R: Repository>(store: R, at: DateTime<Utc>) -> Engine<R, ManualClock> {
    Engine::new(store, ManualClock::new(at))
}

/// Ticks at `at` until nothing more is due then.
async fn tick_at<R: Repository>(engine: &Engine<R, ManualClock>, at: DateTime<Utc>) {
    engine.clock().set(at);
    loop {
        let report = engine.tick().await.unwrap();
        assert!(report.failures.is_empty(), "{:?}", report.failures);
        if !report.more_due {
            break;
        }
    }
}

/// A template's deals by nominal date.
async fn deals_of<R: Repository>(
    engine: &Engine<R, ManualClock>,
    id: TemplateId,
) -> Vec<CreatedDeal> {
    let mut deals = engine.deals(&acme(), Some(id)).await.unwrap();
    deals.sort_by_key(|d| d.nominal_at);
    deals
}

fn outcomes(report: &TermsReport) -> Vec<(TemplateId, TermsOutcome)> {
    report
        .templates
        .iter()
        .map(|t| (t.template, t.outcome.clone()))
        .collect()
}

/// Downtime straddles the effective date: the occurrences before it, created late by
/// catch-up, keep the old terms; those on or after it get the new ones. Deals created before
/// the change are untouched, and keys, counts and the schedule revision carry over.
async fn earlier_occurrences_keep_old_terms_even_when_caught_up<R: Repository>(store: R) {
    let engine = engine(store, utc(2026, 2, 28, 0));
    let deal = Deal::new("Support", money(10_000, "EUR"))
        .unwrap()
        .with_pipeline(1, "NEW")
        .with_assignee(3);
    let template = engine
        .create_template(
            &acme(),
            TemplateDraft::new(deal, daily(local(2026, 3, 1, 9), Zone::UTC)),
        )
        .await
        .unwrap();
    let id = template.id();
    for day in 1..=5 {
        tick_at(&engine, utc(2026, 3, day, 10)).await;
    }
    let before = deals_of(&engine, id).await;
    assert_eq!(before.len(), 5);

    // The host is down from Mar 5 10:00 to Mar 12 10:00; the change is applied meanwhile.
    let row = ProductRow {
        name: "Support plan".into(),
        price: money(12_000, "EUR"),
        quantity_milli: 1_000,
        discount: 0,
        tax_rate_bp: 2_000,
    };
    let terms = change("2026-03", date(2026, 3, 8))
        .amount(AmountChange::Set(money(12_000, "EUR")))
        .products(vec![row.clone()])
        .target(Target {
            pipeline: 2,
            stage: "RENEWAL".into(),
        })
        .assignee(7)
        .build()
        .unwrap();
    engine.clock().set(utc(2026, 3, 12, 10));
    let settled = engine.template(&acme(), id).await.unwrap();
    let report = engine.apply_terms_change(&acme(), &terms).await.unwrap();
    assert_eq!(
        outcomes(&report),
        [(id, TermsOutcome::Applied { revision: 1 })]
    );
    let changed = engine.template(&acme(), id).await.unwrap();
    assert_eq!(changed.revision(), template.revision());
    assert_eq!(changed.counters(), settled.counters());
    assert_eq!(changed.counters().created_by_schedule, 5);
    assert_eq!(changed.next_run(), Some(utc(2026, 3, 6, 9)));
    assert_eq!(changed.terms_revision(), 1);
    // The preview shows the catch-up on the old terms, then the new ones.
    let amounts: Vec<(NaiveDate, i64)> = engine
        .preview(&acme(), id, 4)
        .await
        .unwrap()
        .iter()
        .map(|d| (d.date, d.amount.minor))
        .collect();
    assert_eq!(
        amounts,
        [
            (date(2026, 3, 6), 10_000),
            (date(2026, 3, 7), 10_000),
            (date(2026, 3, 8), 12_000),
            (date(2026, 3, 9), 12_000),
        ]
    );

    tick_at(&engine, utc(2026, 3, 12, 10)).await;
    let after = deals_of(&engine, id).await;
    assert_eq!(after.len(), 12, "Mar 1 to Mar 12");
    assert_eq!(after[..5], before[..], "deals created before are untouched");
    for (n, created) in after.iter().enumerate() {
        let day = date(2026, 3, 1 + n as u32);
        assert_eq!(created.nominal_date, day);
        assert_eq!(
            created.key,
            DealKey::Scheduled {
                template: id,
                revision: 0,
                seq: n as u64
            }
        );
        let deal = &created.deal;
        if day < date(2026, 3, 8) {
            assert_eq!(deal.amount(), money(10_000, "EUR"), "{day}");
            assert_eq!((deal.pipeline(), deal.stage()), (1, "NEW"), "{day}");
            assert_eq!(deal.assignee(), Some(3), "{day}");
            assert!(deal.products().is_empty(), "{day}");
        } else {
            assert_eq!(deal.amount(), money(12_000, "EUR"), "{day}");
            assert_eq!((deal.pipeline(), deal.stage()), (2, "RENEWAL"), "{day}");
            assert_eq!(deal.assignee(), Some(7), "{day}");
            assert_eq!(deal.products(), std::slice::from_ref(&row), "{day}");
        }
        // Mar 6 to 11 were created late, at the tick of Mar 12.
        assert_eq!(created.catch_up, (6..12).contains(&day.day()), "{day}");
        // The rest of the deal is the template's.
        assert_eq!(deal.title(), "Support");
    }
    let template = engine.template(&acme(), id).await.unwrap();
    assert_eq!(template.counters().created_by_schedule, 12);
    assert_eq!(template.deal().amount(), money(10_000, "EUR"));
}

/// The effective date is a civil date in each template's own zone: on the same instant it is
/// already Mar 1 in Auckland and still Feb 28 in Los Angeles.
async fn the_effective_date_is_in_each_templates_zone<R: Repository>(store: R) {
    let engine = engine(store, utc(2026, 2, 27, 0));
    let deal = || Deal::new("Support", money(10_000, "USD")).unwrap();
    // Both occur daily at 01:00 UTC: 14:00 in Auckland (UTC+13), 17:00 in Los Angeles (UTC−8).
    let auckland = engine
        .create_template(
            &acme(),
            TemplateDraft::new(
                deal(),
                daily(
                    local(2026, 2, 28, 14),
                    Zone::get("Pacific/Auckland").unwrap(),
                ),
            ),
        )
        .await
        .unwrap()
        .id();
    let angeles = engine
        .create_template(
            &acme(),
            TemplateDraft::new(
                deal(),
                daily(
                    local(2026, 2, 27, 17),
                    Zone::get("America/Los_Angeles").unwrap(),
                ),
            ),
        )
        .await
        .unwrap()
        .id();
    let terms = change("march", date(2026, 3, 1))
        .amount(AmountChange::percent(1_000, Rounding::HalfUp))
        .build()
        .unwrap();
    let report = engine.apply_terms_change(&acme(), &terms).await.unwrap();
    assert_eq!(report.applied(), 2);
    tick_at(&engine, utc(2026, 3, 1, 1)).await;
    tick_at(&engine, utc(2026, 3, 2, 1)).await;
    let seen = |deals: Vec<CreatedDeal>| -> Vec<(DateTime<Utc>, NaiveDate, i64)> {
        deals
            .iter()
            .map(|d| (d.nominal_at, d.nominal_date, d.deal.amount().minor))
            .collect()
    };
    assert_eq!(
        seen(deals_of(&engine, auckland).await),
        [
            (utc(2026, 2, 28, 1), date(2026, 2, 28), 10_000),
            (utc(2026, 3, 1, 1), date(2026, 3, 1), 11_000),
            (utc(2026, 3, 2, 1), date(2026, 3, 2), 11_000),
        ]
    );
    assert_eq!(
        seen(deals_of(&engine, angeles).await),
        [
            (utc(2026, 2, 28, 1), date(2026, 2, 27), 10_000),
            (utc(2026, 3, 1, 1), date(2026, 2, 28), 10_000),
            (utc(2026, 3, 2, 1), date(2026, 3, 1), 11_000),
        ]
    );
}

/// Percentages round per rule in each currency's minor unit (yen: exponent 0; fils:
/// exponent 3); a change in another currency, or one that would make an amount negative, is
/// refused for that template and writes nothing.
async fn percentages_round_per_rule_in_minor_units<R: Repository>(store: R) {
    let engine = engine(store, utc(2026, 2, 28, 0));
    let schedule = || daily(local(2026, 3, 1, 9), Zone::UTC);
    let mut ids = Vec::new();
    for (minor, code) in [(15, "JPY"), (1_005, "BHD")] {
        let mut per_rule = Vec::new();
        for _ in 0..4 {
            let deal = Deal::new("Service", money(minor, code)).unwrap();
            let template = engine
                .create_template(&acme(), TemplateDraft::new(deal, schedule()))
                .await
                .unwrap();
            per_rule.push(template.id());
        }
        ids.push(per_rule);
    }
    let rules = [
        Rounding::HalfUp,
        Rounding::HalfEven,
        Rounding::Down,
        Rounding::Up,
    ];
    for (k, rule) in rules.into_iter().enumerate() {
        // 15 yen + 10 % = 16.5 yen; 1.005 BHD − 10 % = 0.9045 BHD (904.5 fils).
        for (bp, template) in [(1_000, ids[0][k]), (-1_000, ids[1][k])] {
            let terms = change(&format!("{rule:?}-{}", template.0), date(2026, 3, 1))
                .amount(AmountChange::percent(bp, rule))
                .filter(TermsFilter::default().ids([template]))
                .build()
                .unwrap();
            let report = engine.apply_terms_change(&acme(), &terms).await.unwrap();
            assert_eq!(report.applied(), 1, "{report:?}");
            assert_eq!(report.not_matched, 7);
        }
    }
    // Another currency, and a cut below zero, are refused per template; nothing is written.
    let versions: Vec<u64> = {
        let mut v = Vec::new();
        for id in ids.concat() {
            v.push(engine.template(&acme(), id).await.unwrap().version());
        }
        v
    };
    let euros = change("in-euros", date(2026, 3, 1))
        .amount(AmountChange::Set(money(100, "EUR")))
        .filter(TermsFilter::default().ids([ids[0][0], ids[1][0]]))
        .build()
        .unwrap();
    let report = engine.apply_terms_change(&acme(), &euros).await.unwrap();
    assert_eq!(report.refused(), 2);
    assert_eq!(
        report.templates[0].outcome,
        TermsOutcome::Refused(TermsError::CurrencyMismatch {
            template: ids[0][0],
            expected: Currency::new("JPY").unwrap(),
            got: Currency::new("EUR").unwrap(),
        })
    );
    assert!(!report.is_complete());
    for (id, version) in ids.concat().into_iter().zip(versions) {
        assert_eq!(
            engine.template(&acme(), id).await.unwrap().version(),
            version
        );
    }

    tick_at(&engine, utc(2026, 3, 1, 10)).await;
    for (per_rule, expected) in ids.iter().zip([[17, 16, 16, 17], [905, 904, 904, 905]]) {
        let mut got = Vec::new();
        for &id in per_rule {
            let deals = deals_of(&engine, id).await;
            assert_eq!(deals.len(), 1);
            got.push(deals[0].deal.amount().minor);
        }
        assert_eq!(got, expected);
    }
}

/// A 12-times template changed after 5 deals creates 7 more, on the new terms; the count,
/// keys and schedule revision carry over, and it finishes at 12.
async fn counts_carry_over<R: Repository>(store: R) {
    let engine = engine(store, utc(2026, 1, 1, 0));
    let schedule = Schedule::builder(
        Recurrence::monthly(Interval::ONE, MonthDay::Day(DayOfMonth::new(10).unwrap())),
        local(2026, 1, 10, 9),
        Zone::get("Europe/Moscow").unwrap(),
    )
    .end(End::Count(12))
    .build()
    .unwrap();
    let deal = Deal::new("Rent", money(5_000_000, "RUB")).unwrap();
    let id = engine
        .create_template(&acme(), TemplateDraft::new(deal, schedule))
        .await
        .unwrap()
        .id();
    tick_at(&engine, utc(2026, 5, 20, 0)).await;
    assert_eq!(deals_of(&engine, id).await.len(), 5);
    let terms = change("rent-2026-06", date(2026, 6, 1))
        .amount(AmountChange::Set(money(5_500_000, "RUB")))
        .build()
        .unwrap();
    assert_eq!(
        engine
            .apply_terms_change(&acme(), &terms)
            .await
            .unwrap()
            .applied(),
        1
    );
    tick_at(&engine, utc(2027, 6, 1, 0)).await;
    let deals = deals_of(&engine, id).await;
    let amounts: Vec<i64> = deals.iter().map(|d| d.deal.amount().minor).collect();
    assert_eq!(
        amounts,
        [[5_000_000; 5].as_slice(), [5_500_000; 7].as_slice()].concat()
    );
    let seqs: Vec<DealKey> = deals.iter().map(|d| d.key).collect();
    let expected: Vec<DealKey> = (0..12)
        .map(|seq| DealKey::Scheduled {
            template: id,
            revision: 0,
            seq,
        })
        .collect();
    assert_eq!(seqs, expected);
    let template = engine.template(&acme(), id).await.unwrap();
    assert_eq!(template.state(), &TemplateState::Finished);
    assert_eq!(template.counters().created_by_schedule, 12);
    // A finished template keeps its terms.
    let later = change("rent-2028", date(2028, 1, 1))
        .assignee(1)
        .build()
        .unwrap();
    let report = engine.apply_terms_change(&acme(), &later).await.unwrap();
    assert_eq!(outcomes(&report), [(id, TermsOutcome::Finished)]);
}

/// Re-applying a change is a no-op: reported as already applied, no new revision, no write.
async fn reapplying_a_change_is_a_no_op<R: Repository>(store: R) {
    let engine = engine(store, utc(2026, 2, 28, 0));
    let mut ids = Vec::new();
    for minor in [10_000, 20_000] {
        let deal = Deal::new("Support", money(minor, "EUR")).unwrap();
        let draft = TemplateDraft::new(deal, daily(local(2026, 3, 1, 9), Zone::UTC));
        ids.push(engine.create_template(&acme(), draft).await.unwrap().id());
    }
    let terms = change("raise", date(2026, 4, 1))
        .amount(AmountChange::percent(500, Rounding::HalfEven))
        .build()
        .unwrap();
    let first = engine.apply_terms_change(&acme(), &terms).await.unwrap();
    assert_eq!(first.applied(), 2);
    let mut stored = Vec::new();
    for &id in &ids {
        stored.push(engine.template(&acme(), id).await.unwrap());
    }
    let second = engine.apply_terms_change(&acme(), &terms).await.unwrap();
    assert_eq!(
        outcomes(&second),
        ids.iter()
            .map(|&id| (id, TermsOutcome::AlreadyApplied { revision: 1 }))
            .collect::<Vec<_>>()
    );
    for (id, before) in ids.iter().zip(&stored) {
        let now = engine.template(&acme(), *id).await.unwrap();
        assert_eq!(&now, before, "nothing written");
        assert_eq!(now.terms_revisions().len(), 1);
        assert_eq!(now.applied_terms_changes().len(), 1);
    }
    // Another change on top raises the raised amount (cumulative).
    let again = change("raise-again", date(2026, 4, 1))
        .amount(AmountChange::percent(500, Rounding::HalfEven))
        .build()
        .unwrap();
    assert_eq!(
        engine
            .apply_terms_change(&acme(), &again)
            .await
            .unwrap()
            .applied(),
        2
    );
    let t = engine.template(&acme(), ids[0]).await.unwrap();
    assert_eq!(t.terms_revision(), 2);
    assert_eq!(t.terms_revisions().len(), 1);
    assert_eq!(t.terms_revisions()[0].amount(), Some(money(11_025, "EUR")));
}

/// The filter picks templates by pipeline and stage (the target in force on the effective
/// date, else the deal's), state and ids; a tenant sees only its own templates.
async fn the_filter_picks_templates<R: Repository>(store: R) {
    let engine = engine(store, utc(2026, 2, 28, 0));
    let make = |pipeline: u32, stage: &str, target: Option<Target>| {
        let deal = Deal::new("Support", money(10_000, "EUR"))
            .unwrap()
            .with_pipeline(pipeline, stage);
        let mut draft = TemplateDraft::new(deal, daily(local(2026, 3, 1, 9), Zone::UTC));
        draft.target = target;
        draft
    };
    let mut id = Vec::new();
    for draft in [
        make(2, "NEW", None),
        make(2, "WON", None),
        make(3, "NEW", None),
        // Its deal says pipeline 3, its created deals go to 2/NEW.
        make(
            3,
            "NEW",
            Some(Target {
                pipeline: 2,
                stage: "NEW".into(),
            }),
        ),
        make(2, "NEW", None),
        make(2, "NEW", None),
    ] {
        id.push(engine.create_template(&acme(), draft).await.unwrap().id());
    }
    let other = TenantId::new("other").unwrap();
    engine
        .create_template(&other, make(2, "NEW", None))
        .await
        .unwrap();
    engine.pause(&acme(), id[4], "holiday", None).await.unwrap();
    engine.deactivate(&acme(), id[5]).await.unwrap();

    let run = |name: &str, filter: TermsFilter| {
        change(name, date(2026, 3, 1))
            .assignee(9)
            .filter(filter)
            .build()
            .unwrap()
    };
    let applied_to = |report: &TermsReport| -> Vec<TemplateId> {
        report.templates.iter().map(|t| t.template).collect()
    };
    let dry = |change: &TermsChange| {
        let forecaster =
            Forecaster::new(utc(2026, 3, 1, 0), utc(2026, 4, 1, 0), Period::Month).unwrap();
        let change = change.clone();
        let engine = &engine;
        async move {
            engine
                .dry_run_terms_change(&acme(), &change, &forecaster)
                .await
                .unwrap()
                .report
        }
    };
    let cases = [
        (
            TermsFilter::default().pipeline(2).stage("NEW"),
            vec![id[0], id[3], id[4], id[5]],
        ),
        (
            TermsFilter::default().pipeline(2),
            vec![id[0], id[1], id[3], id[4], id[5]],
        ),
        (TermsFilter::default().stage("WON"), vec![id[1]]),
        (
            TermsFilter::default().states([StateFilter::Paused, StateFilter::Inactive]),
            vec![id[4], id[5]],
        ),
        (
            TermsFilter::default()
                .ids([id[2], id[4], TemplateId(999_999)])
                .states([StateFilter::Active]),
            vec![id[2]],
        ),
    ];
    for (n, (filter, expected)) in cases.into_iter().enumerate() {
        let terms = run(&format!("case-{n}"), filter);
        let preview = dry(&terms).await;
        assert_eq!(applied_to(&preview), expected, "dry run of case {n}");
        let report = engine.apply_terms_change(&acme(), &terms).await.unwrap();
        assert_eq!(applied_to(&report), expected, "case {n}");
        assert_eq!(report.applied(), expected.len());
        assert_eq!(report.not_matched, (6 - expected.len()) as u64);
    }
    // The stage filter reads the target in force on the effective date: after a change of
    // target from Mar 1, a change from Mar 2 for stage RENEWAL finds those templates.
    let retarget = change("retarget", date(2026, 3, 1))
        .target(Target {
            pipeline: 2,
            stage: "RENEWAL".into(),
        })
        .filter(TermsFilter::default().ids([id[0]]))
        .build()
        .unwrap();
    engine.apply_terms_change(&acme(), &retarget).await.unwrap();
    let renewal = |effective| {
        change("renewal", effective)
            .assignee(1)
            .filter(TermsFilter::default().stage("RENEWAL"))
            .build()
            .unwrap()
    };
    assert_eq!(applied_to(&dry(&renewal(date(2026, 2, 28))).await), []);
    assert_eq!(applied_to(&dry(&renewal(date(2026, 3, 2))).await), [id[0]]);
}

/// A dry run returns the forecast of the templates it would change, before and after, to the
/// minor unit, and writes nothing; applying the change then forecasts what the dry run said.
async fn a_dry_run_forecasts_before_and_after<R: Repository>(store: R) {
    let engine = engine(store, utc(2026, 1, 1, 0));
    let monthly = || {
        Schedule::builder(
            Recurrence::monthly(Interval::ONE, MonthDay::Day(DayOfMonth::new(15).unwrap())),
            local(2026, 1, 15, 9),
            Zone::UTC,
        )
        .build()
        .unwrap()
    };
    let mut ids = Vec::new();
    for (minor, pipeline) in [(10_000, 1), (3333, 1), (5000, 4)] {
        let deal = Deal::new("Support", money(minor, "EUR"))
            .unwrap()
            .with_pipeline(pipeline, "NEW");
        let draft = TemplateDraft::new(deal, monthly());
        ids.push(engine.create_template(&acme(), draft).await.unwrap().id());
    }
    let terms = change("april", date(2026, 4, 1))
        .amount(AmountChange::percent(500, Rounding::HalfEven))
        .filter(TermsFilter::default().pipeline(1))
        .build()
        .unwrap();
    let forecaster =
        Forecaster::new(utc(2026, 1, 1, 0), utc(2026, 7, 1, 0), Period::Month).unwrap();
    let dry = engine
        .dry_run_terms_change(&acme(), &terms, &forecaster)
        .await
        .unwrap();
    assert_eq!(dry.report.applied(), 2);
    assert_eq!(dry.report.not_matched, 1);
    let totals = |forecast: &recurring_deals::forecast::Forecast| -> Vec<(String, u64, i128)> {
        forecast
            .by_period()
            .iter()
            .map(|(period, _, total)| (period.to_string(), total.deals, total.amount))
            .collect()
    };
    let month = |m: u32, amount: i128| (format!("2026-{m:02}"), 2, amount);
    // 100.00 + 33.33 = 133.33; from April 105.00 + 35.00 (33.33 × 1.05 = 34.9965 → 35.00).
    assert_eq!(
        totals(&dry.before),
        (1..=6).map(|m| month(m, 13_333)).collect::<Vec<_>>()
    );
    assert_eq!(
        totals(&dry.after),
        [
            month(1, 13_333),
            month(2, 13_333),
            month(3, 13_333),
            month(4, 14_000),
            month(5, 14_000),
            month(6, 14_000)
        ]
    );
    // Nothing written.
    for &id in &ids {
        let template = engine.template(&acme(), id).await.unwrap();
        assert!(template.terms_revisions().is_empty());
        assert_eq!(template.terms_revision(), 0);
    }
    let all_before = engine.forecast(&acme(), &forecaster).await.unwrap();
    assert_eq!(
        engine
            .apply_terms_change(&acme(), &terms)
            .await
            .unwrap()
            .applied(),
        2
    );
    let all_after = engine.forecast(&acme(), &forecaster).await.unwrap();
    // The tenant's forecast moved by exactly what the dry run said.
    let moved = |f: &recurring_deals::forecast::Forecast| -> Vec<i128> {
        f.by_period().iter().map(|(_, _, t)| t.amount).collect()
    };
    let expected: Vec<i128> = moved(&all_before)
        .iter()
        .zip(moved(&dry.before).iter().zip(moved(&dry.after)))
        .map(|(all, (before, after))| all - before + after)
        .collect();
    assert_eq!(moved(&all_after), expected);
    // And ticking creates what the forecast said.
    tick_at(&engine, utc(2026, 6, 30, 0)).await;
    let mut by_month = std::collections::BTreeMap::<u32, i64>::new();
    for &id in &ids[..2] {
        for deal in deals_of(&engine, id).await {
            *by_month.entry(deal.nominal_date.month()).or_default() += deal.deal.amount().minor;
        }
    }
    assert_eq!(
        by_month.into_values().collect::<Vec<_>>(),
        [13_333, 13_333, 13_333, 14_000, 14_000, 14_000]
    );
}

/// Template rows written before terms changes existed (no terms fields in the JSON body)
/// still read, and a template without terms writes none.
async fn rows_without_terms_still_read<R: Repository>(store: R) {
    let engine = engine(store, utc(2026, 2, 28, 0));
    let deal = Deal::new("Support", money(10_000, "EUR")).unwrap();
    let template = engine
        .create_template(
            &acme(),
            TemplateDraft::new(deal, daily(local(2026, 3, 1, 9), Zone::UTC)),
        )
        .await
        .unwrap();
    let json = serde_json::to_value(&template).unwrap();
    for field in ["terms", "terms_applied", "terms_revision"] {
        assert!(
            json.get(field).is_none(),
            "{field} written for a template without terms"
        );
    }
    let read: Template = serde_json::from_value(json).unwrap();
    assert_eq!(read, template);
    let stored = engine.template(&acme(), template.id()).await.unwrap();
    assert_eq!(stored.terms_revision(), 0);
}

/// Editing the deal keeps the terms revisions in force from their dates; a deal in another
/// currency than a revision's amount is refused (naming both and the date), and nothing is
/// written.
async fn edit_deal_keeps_revisions_and_their_currency<R: Repository>(store: R) {
    let engine = engine(store, utc(2026, 2, 28, 0));
    let deal = Deal::new("Support", money(10_000, "EUR")).unwrap();
    let draft = TemplateDraft::new(deal, daily(local(2026, 3, 1, 9), Zone::UTC));
    let id = engine.create_template(&acme(), draft).await.unwrap().id();
    let terms = change("april", date(2026, 4, 1))
        .amount(AmountChange::Set(money(12_000, "EUR")))
        .build()
        .unwrap();
    assert_eq!(
        engine
            .apply_terms_change(&acme(), &terms)
            .await
            .unwrap()
            .applied(),
        1
    );
    let before = engine.template(&acme(), id).await.unwrap();
    let dollars = Deal::new("Support", money(10_000, "USD")).unwrap();
    let refused = engine.edit_deal(&acme(), id, dollars).await.unwrap_err();
    assert!(
        matches!(
            &refused,
            EngineError::Invalid(ValidationError::TermsCurrency { effective, .. })
                if *effective == date(2026, 4, 1)
        ),
        "{refused}"
    );
    assert!(refused.to_string().contains("USD") && refused.to_string().contains("EUR"));
    assert_eq!(engine.template(&acme(), id).await.unwrap(), before);
    // A new title in the same currency: March deals take it with the old amount, April
    // deals with the revision's amount.
    let renamed = Deal::new("Premium support", money(10_000, "EUR")).unwrap();
    engine.edit_deal(&acme(), id, renamed).await.unwrap();
    tick_at(&engine, utc(2026, 4, 2, 12)).await;
    let deals = deals_of(&engine, id).await;
    let march = deals
        .iter()
        .find(|d| d.nominal_date == date(2026, 3, 31))
        .unwrap();
    let april = deals
        .iter()
        .find(|d| d.nominal_date == date(2026, 4, 1))
        .unwrap();
    assert_eq!(
        (march.deal.title(), march.deal.amount()),
        ("Premium support", money(10_000, "EUR"))
    );
    assert_eq!(
        (april.deal.title(), april.deal.amount()),
        ("Premium support", money(12_000, "EUR"))
    );
}

macro_rules! on_every_store {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(recurring_deals::InMemoryRepository::new()).await;
                }
            )*
        }

        #[cfg(feature = "sqlite")]
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let dir = std::env::temp_dir().join(format!(
                        "recurring-deals-terms-{}-{}",
                        stringify!($case),
                        std::process::id()
                    ));
                    let _ = std::fs::remove_dir_all(&dir);
                    std::fs::create_dir_all(&dir).unwrap();
                    let store = recurring_deals::SqliteStore::connect(dir.join("deals.db"))
                        .await
                        .unwrap();
                    super::$case(store).await;
                    let _ = std::fs::remove_dir_all(&dir);
                }
            )*
        }

        #[cfg(feature = "postgres")]
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    let Some(url) = super::pg::pg_url(stringify!($case)) else {
                        return;
                    };
                    let schemas = super::pg::TestSchemas::new(&url);
                    super::$case(schemas.store("terms", 2).await).await;
                }
            )*
        }
    };
}

on_every_store!(
    earlier_occurrences_keep_old_terms_even_when_caught_up,
    the_effective_date_is_in_each_templates_zone,
    percentages_round_per_rule_in_minor_units,
    counts_carry_over,
    reapplying_a_change_is_a_no_op,
    the_filter_picks_templates,
    a_dry_run_forecasts_before_and_after,
    rows_without_terms_still_read,
    edit_deal_keeps_revisions_and_their_currency,
);

/// The blocking facade offers the same operations.
#[test]
fn the_blocking_facade_applies_and_dry_runs() {
    let clock = ManualClock::new(utc(2026, 2, 28, 0));
    let engine =
        recurring_deals::blocking::Engine::new(recurring_deals::InMemoryRepository::new(), clock)
            .unwrap();
    let deal = Deal::new("Support", money(10_000, "EUR")).unwrap();
    let draft = TemplateDraft::new(deal, daily(local(2026, 3, 1, 9), Zone::UTC));
    engine.create_template(&acme(), draft).unwrap();
    let terms = change("b", date(2026, 3, 3))
        .amount(AmountChange::Set(money(100, "EUR")))
        .build()
        .unwrap();
    let forecaster = Forecaster::new(utc(2026, 3, 1, 0), utc(2026, 3, 6, 0), Period::Day).unwrap();
    let dry = engine
        .dry_run_terms_change(&acme(), &terms, &forecaster)
        .unwrap();
    let amounts = |f: &recurring_deals::forecast::Forecast| -> Vec<i128> {
        f.by_period().iter().map(|(_, _, t)| t.amount).collect()
    };
    assert_eq!(amounts(&dry.before), [10_000; 5]);
    assert_eq!(amounts(&dry.after), [10_000, 10_000, 100, 100, 100]);
    assert_eq!(
        engine
            .apply_terms_change(&acme(), &terms)
            .unwrap()
            .applied(),
        1
    );
    let _ = TimeDelta::zero();
}

/// For any template the engine accepts and any effective date, a terms change changes no
/// decision of the planner (same deals, keys, skips, events, state, next run): deals before
/// the date are exactly what they were, deals on or after it have the new terms and
/// otherwise the same content.
#[cfg(feature = "proptest")]
mod property {
    use proptest::prelude::*;
    use recurring_deals::{
        ChangeId, InMemoryRepository, ManualClock, Target, TermsChange, TermsStep, blocking, plan,
        strategies,
    };

    /// `events` with the deals they carry left out.
    fn without_content(events: &[recurring_deals::NewEvent]) -> Vec<recurring_deals::NewEvent> {
        let mut events = events.to_vec();
        for event in &mut events {
            if let recurring_deals::EventKind::DealCreated { content, .. } = &mut event.kind {
                *content = None;
            }
        }
        events
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn deals_before_the_date_keep_their_terms_and_later_ones_take_the_new(
            draft in strategies::template_draft(),
            days in 0i64..400,
            pick in any::<prop::sample::Index>(),
            shift in -1i64..=1,
        ) {
            let Some(first) = draft.schedule.occurrences().next() else {
                return Ok(());
            };
            let Some(created_at) = first.at().checked_sub_signed(chrono::TimeDelta::days(1)) else {
                return Ok(());
            };
            let engine = blocking::Engine::new(InMemoryRepository::new(), ManualClock::new(created_at))
                .unwrap();
            let template = engine.create_template(&super::acme(), draft).unwrap();
            let Some(now) = first.at().checked_add_signed(chrono::TimeDelta::days(days)) else {
                return Ok(());
            };
            let before = plan(&template, now);
            let anchor = before.deals.get(pick.index(before.deals.len().max(1)))
                .map_or(first.date(), |d| d.nominal_date);
            let Some(effective) = anchor.checked_add_signed(chrono::TimeDelta::days(shift)) else {
                return Ok(());
            };
            let built = TermsChange::builder(ChangeId::new("p").unwrap(), effective)
                .assignee(u64::MAX)
                .target(Target { pipeline: 999, stage: "TERMS".into() })
                .build();
            let change = match built {
                Ok(change) => change,
                // A day past the supported years (the last deal on 2199-12-31, shifted):
                // refused with the typed range error, naming the date.
                Err(error) if !(1900..=2199).contains(&chrono::Datelike::year(&effective)) => {
                    let text = error.to_string();
                    prop_assert!(
                        text.contains("effective date") && text.contains(&effective.to_string()),
                        "{}",
                        text
                    );
                    return Ok(());
                }
                Err(error) => return Err(TestCaseError::fail(error.to_string())),
            };
            let changed = match template.apply_terms(&change).unwrap() {
                TermsStep::Apply { change, .. } => change.template,
                other => {
                    prop_assert_eq!(template.state(), &recurring_deals::TemplateState::Finished, "{:?}", other);
                    return Ok(());
                }
            };
            let after = plan(&changed, now);
            prop_assert_eq!(&before.skipped, &after.skipped);
            // The same events, each `DealCreated` carrying its deal as planned (the new
            // terms from the effective date on, checked below).
            prop_assert_eq!(without_content(&before.events), without_content(&after.events));
            for plan in [&before, &after] {
                for event in &plan.events {
                    if let recurring_deals::EventKind::DealCreated { deal, content, .. } = &event.kind {
                        let planned = plan.deals.iter().find(|d| d.key == *deal);
                        prop_assert_eq!(content.as_deref(), planned.map(|d| &d.deal));
                    }
                }
            }
            prop_assert_eq!(&before.invoices, &after.invoices);
            prop_assert_eq!(before.more, after.more);
            prop_assert_eq!(before.template.next_run(), after.template.next_run());
            prop_assert_eq!(before.template.counters(), after.template.counters());
            prop_assert_eq!(before.template.state(), after.template.state());
            prop_assert_eq!(before.deals.len(), after.deals.len());
            for (old, new) in before.deals.iter().zip(&after.deals) {
                if old.nominal_date < effective {
                    prop_assert_eq!(old, new);
                } else {
                    prop_assert_eq!(old.key, new.key);
                    prop_assert_eq!(new.deal.assignee(), Some(u64::MAX));
                    prop_assert_eq!((new.deal.pipeline(), new.deal.stage()), (999, "TERMS"));
                    prop_assert_eq!(old.deal.amount(), new.deal.amount());
                    prop_assert_eq!(old.deal.title(), new.deal.title());
                    prop_assert_eq!(old.deal.begin_date(), new.deal.begin_date());
                    prop_assert_eq!(old.deal.close_date(), new.deal.close_date());
                }
            }
            // Preview agrees with what the plan creates.
            let preview = recurring_deals::preview(&changed, now, after.deals.len());
            for (p, d) in preview.iter().zip(&after.deals) {
                prop_assert_eq!(p.key, d.key);
                prop_assert_eq!(p.amount, d.deal.amount());
            }
        }
    }
}
