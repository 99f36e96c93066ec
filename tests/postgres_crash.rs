//! A worker process (`examples/pg_worker.rs`) ticking a PostgreSQL database is killed with
//! SIGKILL at random moments, at least 30 times, and restarted each time; then it runs to the
//! end. Every due occurrence must exist exactly once, with no gap, and every counter must
//! agree with the rows.
//!
//! The templates are daily at 09:00 UTC from 2026-01-01 with an end count, and process at
//! most 2 occurrences per tick, so each needs many commits and the kills land between (and
//! during) the commits of one template; half issue an invoice with each deal. At the
//! worker's instant (2026-03-15) every occurrence is due: template `i` must end with exactly
//! the deals `Ti/r0/0 .. Ti/r0/{count-1}` (and as many invoices), a fact of the schedule's
//! definition. When flushes are fast the worker may finish before the 30th kill; then a new
//! wave of templates is added and the kills go on.
//!
//! Set `RECURRING_DEALS_PG_URL` to run; without it the test prints a notice and passes. The
//! random kill moments come from a seed printed at the start (`RECURRING_DEALS_CRASH_SEED`
//! replays one).
#![cfg(feature = "postgres")]

mod pg;

use recurring_deals::Zone;
use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use pg::{TestSchemas, build_worker, pg_url};
use recurring_deals::{
    CatchUpPolicy, Currency, Deal, DunningStep, End, Engine, Interval, InvoiceOptions, ManualClock,
    Money, PaymentDue, PostgresStore, Recurrence, Schedule, TemplateDraft, TenantId,
};

const TEMPLATES: usize = 600;
const KILLS: usize = 40;

/// xorshift64*: the kill moments need no more than a reproducible spread.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn utc(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
}

/// The end count of template number `i`: 20 to 40 deals.
fn count_of(i: usize) -> u32 {
    20 + (i % 21) as u32
}

/// Adds a wave of templates, created through the engine on the store itself (its clock on
/// 2026-01-01, so the first deal of each is due on 2026-01-01 09:00). Returns `(count, with
/// invoices)` per id.
async fn add_wave(store: &PostgresStore, wave: usize) -> HashMap<u64, (u64, bool)> {
    let engine = Engine::new(store, ManualClock::new(utc(2026, 1, 1, 0)));
    let tenant = TenantId::new(format!("crash-{}", wave % 3)).unwrap();
    let rub = Currency::new("RUB").unwrap();
    let mut expected = HashMap::new();
    for i in 0..TEMPLATES {
        let start = NaiveDate::from_ymd_opt(2026, 1, 1)
            .unwrap()
            .and_hms_opt(9, 0, 0)
            .unwrap();
        let schedule = Schedule::builder(Recurrence::daily(Interval::ONE), start, Zone::UTC)
            .end(End::Count(count_of(i)))
            .build()
            .unwrap();
        let mut draft = TemplateDraft::new(
            Deal::new(format!("Crash {wave}/{i}"), Money::new(50_000, rub)).unwrap(),
            schedule,
        );
        draft.catch_up = CatchUpPolicy {
            max_per_tick: 2,
            ..CatchUpPolicy::default()
        };
        let invoiced = i % 2 == 0;
        if invoiced {
            draft.invoice = Some(InvoiceOptions {
                payment_due: PaymentDue::Days(10),
                send_to: vec![1],
                mail_template: None,
                document_template: None,
                remind_before_days: vec![1],
                remind_after_days: vec![3],
                dunning: vec![
                    DunningStep::new(2, 1),
                    DunningStep::new(5, 2).mail_template(9),
                ],
            });
        }
        let template = engine.create_template(&tenant, draft).await.unwrap();
        expected.insert(template.id().0, (u64::from(count_of(i)), invoiced));
    }
    expected
}

#[tokio::test]
async fn a_worker_killed_30_times_loses_and_duplicates_nothing() {
    let Some(url) = pg_url("a_worker_killed_30_times_loses_and_duplicates_nothing") else {
        return;
    };
    let worker = build_worker();
    // A wall-clock seed unless one is given, so each run kills at other moments.
    #[allow(clippy::disallowed_methods)]
    let seed = std::env::var("RECURRING_DEALS_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| Utc::now().timestamp_nanos_opt().unwrap_or(1) as u64 | 1);
    eprintln!("crash test seed {seed} (RECURRING_DEALS_CRASH_SEED={seed} replays it)");
    let mut rng = Rng(seed);
    let schemas = TestSchemas::new(&url);
    let store = schemas.store("crash", 1).await;
    let schema = store
        .listen_channel()
        .trim_end_matches("_changed")
        .to_owned();
    let mut expected = add_wave(&store, 0).await;
    let now = utc(2026, 3, 15, 0).to_rfc3339();
    let start = || {
        Command::new(&worker)
            .args([url.as_str(), schema.as_str(), now.as_str(), "50"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start pg_worker")
    };

    let started = Instant::now();
    let (mut kills, mut waves) = (0, 1);
    while kills < KILLS {
        let mut child = start();
        // Between 10 and 150 ms: from mid-connect to some hundreds of commits.
        std::thread::sleep(Duration::from_millis(10 + rng.below(140)));
        match child.try_wait().unwrap() {
            Some(status) => {
                // It finished the work before the kill (fast flushes): give it more.
                assert!(status.success(), "a worker failed: {status}");
                assert!(waves < 20, "the worker keeps finishing before the kills");
                expected.extend(add_wave(&store, waves).await);
                waves += 1;
            }
            None => {
                child.kill().unwrap();
                child.wait().unwrap();
                kills += 1;
            }
        }
    }
    let killed_for = started.elapsed();
    // Then it runs to the end.
    let output = start().wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "the last run failed: {:?}",
        output.status
    );
    eprintln!(
        "{kills} kills in {:.1} s ({waves} waves of {TEMPLATES} templates), then {} in {:.1} s \
         in all",
        killed_for.as_secs_f64(),
        String::from_utf8_lossy(&output.stdout).trim(),
        started.elapsed().as_secs_f64()
    );
    verify(&store, &schema, &expected).await;
}

async fn verify(store: &PostgresStore, schema: &str, expected: &HashMap<u64, (u64, bool)>) {
    let pool = store.pool();
    let mut seqs: HashMap<u64, Vec<u64>> = HashMap::new();
    let rows: Vec<(i64, i16, i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT template_id, kind, revision, num FROM \"{schema}\".deals"
    )))
    .fetch_all(pool)
    .await
    .unwrap();
    for (template, kind, revision, num) in rows {
        assert_eq!((kind, revision), (0, 0), "unexpected key of T{template}");
        seqs.entry(template as u64).or_default().push(num as u64);
    }
    let mut invoices: HashMap<u64, u64> = HashMap::new();
    let rows: Vec<(i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT template_id, count(*) FROM \"{schema}\".invoices GROUP BY 1"
    )))
    .fetch_all(pool)
    .await
    .unwrap();
    for (template, count) in rows {
        invoices.insert(template as u64, count as u64);
    }
    for (template, &(count, invoiced)) in expected {
        let mut got = seqs.remove(template).unwrap_or_default();
        got.sort_unstable();
        // Exactly 0..count: no gap, nothing twice, nothing beyond the end.
        assert_eq!(got, (0..count).collect::<Vec<_>>(), "deals of T{template}");
        let want_invoices = if invoiced { count } else { 0 };
        assert_eq!(
            invoices.get(template).copied().unwrap_or(0),
            want_invoices,
            "invoices of T{template}"
        );
    }
    assert!(seqs.is_empty(), "deals of unknown templates");

    let total: u64 = expected.values().map(|&(count, _)| count).sum();
    let invoiced: u64 = expected
        .values()
        .filter(|&&(_, invoiced)| invoiced)
        .map(|&(count, _)| count)
        .sum();
    let counts: (i64, i64, i64, i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FILTER (WHERE body::jsonb->>'type' = 'deal_created'),
                        count(*) FILTER (WHERE body::jsonb->>'type' = 'invoice_issued'),
                        count(*) FILTER (WHERE body::jsonb->>'type' = 'template_finished'),
                        count(*), count(DISTINCT idempotency_key)
                 FROM \"{schema}\".outbox"
    )))
    .fetch_one(pool)
    .await
    .unwrap();
    let counts = [counts.0, counts.1, counts.2, counts.3, counts.4];
    assert_eq!(counts[0] as u64, total, "deal-created events");
    assert_eq!(counts[1] as u64, invoiced, "invoice-issued events");
    assert_eq!(
        counts[2] as usize,
        expected.len(),
        "template-finished events"
    );
    assert_eq!(counts[3], counts[4], "an event was written twice");

    // The counters in each template's state agree with its rows; nothing was skipped and
    // no commit failed.
    let inconsistent: Vec<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT t.id FROM \"{schema}\".templates t
                 WHERE t.state <> 'finished' OR t.next_run_ns IS NOT NULL
                    OR (t.body::jsonb->'counters'->>'created_by_schedule')::bigint
                       <> (SELECT count(*) FROM \"{schema}\".deals d WHERE d.template_id = t.id)
                    OR (t.body::jsonb->'counters'->>'skipped')::bigint <> 0
                    OR (t.body::jsonb->'counters'->>'failed')::bigint <> 0"
    )))
    .fetch_all(pool)
    .await
    .unwrap();
    assert!(
        inconsistent.is_empty(),
        "inconsistent templates: {inconsistent:?}"
    );
    let skipped: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM \"{schema}\".skipped"
    )))
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(skipped, 0);
}
