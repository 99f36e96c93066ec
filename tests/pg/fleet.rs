//! A fleet of workers on one PostgreSQL schema, for the fault tests: what they saw, their
//! loop, the templates they work on, and the checks that nothing was lost or doubled.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use recurring_deals::*;
use sqlx::PgPool;

/// What the workers saw.
#[derive(Default)]
pub struct Seen {
    /// Error kinds, by kind (`other` for errors not from the store).
    pub errors: Mutex<BTreeMap<&'static str, u64>>,
    /// Idempotency keys delivered, with how often.
    pub delivered: Mutex<BTreeMap<String, u64>>,
    /// Deals the workers' tick reports say they created.
    pub reported_created: AtomicU64,
    /// Per worker: when its last tick completed with no failure.
    pub last_tick: Mutex<Vec<Option<Instant>>>,
    /// Per worker: its last error, and when.
    pub last_error: Mutex<Vec<Option<(Instant, String)>>>,
    /// Listener reconnects.
    pub reconnects: AtomicU64,
}

impl Seen {
    /// For `workers` workers.
    pub fn new(workers: usize) -> Arc<Seen> {
        Arc::new(Seen {
            last_tick: Mutex::new(vec![None; workers]),
            last_error: Mutex::new(vec![None; workers]),
            ..Seen::default()
        })
    }

    fn error(&self, index: usize, what: &str, error: &EngineError) {
        let kind = match error {
            EngineError::Repository(e) => e.kind(),
            _ => "other",
        };
        *self.errors.lock().unwrap().entry(kind).or_default() += 1;
        self.last_error.lock().unwrap()[index] = Some((Instant::now(), format!("{what}: {error}")));
    }

    /// The error kinds seen so far.
    pub fn error_kinds(&self) -> BTreeMap<&'static str, u64> {
        self.errors.lock().unwrap().clone()
    }
}

/// Worker `index`: tick, deliver the outbox, repeat, until told to stop; every error is
/// counted and the loop goes on (no restart).
pub async fn worker<R: Repository>(
    index: usize,
    engine: Arc<Engine<R, ManualClock>>,
    seen: Arc<Seen>,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::SeqCst) {
        match engine.tick().await {
            Ok(report) => {
                seen.reported_created
                    .fetch_add(report.created.len() as u64, Ordering::SeqCst);
                for failure in &report.failures {
                    seen.error(
                        index,
                        "tick",
                        &EngineError::Repository(failure.error.clone()),
                    );
                }
                for error in report.batch_failures.iter().chain(&report.read_failures) {
                    seen.error(index, "tick", &EngineError::Repository(error.clone()));
                }
                if report.failures.is_empty()
                    && report.batch_failures.is_empty()
                    && report.read_failures.is_empty()
                {
                    seen.last_tick.lock().unwrap()[index] = Some(Instant::now());
                }
            }
            Err(error) => seen.error(index, "tick", &error),
        }
        match engine.outbox(500).await {
            Ok(events) => {
                let ids: Vec<u64> = events.iter().map(|e| e.id).collect();
                {
                    let mut delivered = seen.delivered.lock().unwrap();
                    for event in &events {
                        *delivered.entry(event.idempotency_key.clone()).or_default() += 1;
                    }
                }
                if let Err(error) = engine.ack(&ids).await {
                    seen.error(index, "ack", &error);
                }
            }
            Err(error) => seen.error(index, "outbox", &error),
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// `n` daily templates at 09:00 UTC from `start`, for `tenant`.
pub async fn seed_daily<R: Repository>(
    engine: &Engine<R, ManualClock>,
    tenant: &TenantId,
    n: usize,
    start: NaiveDate,
) {
    for i in 0..n {
        let draft = TemplateDraft::new(
            Deal::new(
                format!("Daily {i}"),
                Money::new(100, Currency::new("RUB").unwrap()),
            )
            .unwrap(),
            Schedule::builder(
                Recurrence::daily(Interval::ONE),
                start.and_hms_opt(9, 0, 0).unwrap(),
                Zone::UTC,
            )
            .build()
            .unwrap(),
        );
        engine.create_template(tenant, draft).await.unwrap();
    }
}

/// Waits (up to about 2 s) until a session named `app` is inside a statement or a
/// transaction other than `LISTEN`; whether one was.
pub async fn wait_in_flight(admin: &PgPool, app: &str) -> bool {
    for _ in 0..4_000 {
        let in_flight = sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 \
             AND (state = 'idle in transaction' OR (state = 'active' \
                  AND query NOT ILIKE 'listen%'))",
        )
        .bind(app)
        .fetch_one(admin)
        .await
        .unwrap();
        if in_flight > 0 {
            return true;
        }
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
    false
}

/// Waits up to two minutes for `expected` deals of `tenant` and an empty outbox; whether
/// that came.
pub async fn settled<R: Repository>(store: &R, tenant: &TenantId, expected: usize) -> bool {
    tokio::time::timeout(Duration::from_secs(120), async {
        loop {
            let deals = store.deals(tenant, None).await.unwrap().len();
            let outbox = store.outbox(1).await.unwrap().len();
            if deals >= expected && outbox == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .is_ok()
}

/// Every due deal exactly once (one per template and date), and its event delivered.
pub async fn assert_exactly_once<R: Repository>(
    store: &R,
    tenant: &TenantId,
    expected: usize,
    seen: &Seen,
) -> Vec<CreatedDeal> {
    let deals = store.deals(tenant, None).await.unwrap();
    assert_eq!(deals.len(), expected, "deals stored");
    let per_date: BTreeSet<_> = deals
        .iter()
        .map(|d| (d.key.template(), d.nominal_date))
        .collect();
    assert_eq!(per_date.len(), expected, "no template got a date twice");
    let delivered = seen.delivered.lock().unwrap();
    for deal in &deals {
        let key = format!("deal:{}", deal.key);
        assert!(delivered.contains_key(&key), "{key} was delivered");
    }
    deals
}
