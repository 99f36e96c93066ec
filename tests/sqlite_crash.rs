//! Crash proof for the SQLite store: a worker process ticking on a database file is killed
//! with SIGKILL at random moments, at least 30 times, and restarted each time. At the end every
//! due occurrence was created exactly once, with no gap, announced exactly once, and the
//! counters match the rows; the whole outcome equals an uninterrupted run on the in-memory
//! store.
//!
//! The worker is this test binary itself, re-run with `RECURRING_DEALS_CRASH_DIR` set (see
//! [`worker_process`]). Simulated time is deterministic: tick `n` runs at `T0 + n * STEP`, and
//! the worker records `n` in a file after each tick, so a restarted worker continues, and
//! repeats at most the tick it was killed in (at the same instant, as a retry would).
//!
//! The run's length adapts to the machine: while the parent kills, the horizon is far away
//! (`MAX_TICKS`); after the last kill it is set a few ticks past the worker's progress, and the
//! last worker runs to it undisturbed (a simulated year at least). So the kills always land mid-run, and the test takes
//! about as long as the kills, on a fast machine and a loaded one alike.
#![cfg(all(feature = "sqlite", unix))]

use recurring_deals::Zone;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use recurring_deals::{
    Currency, Deal, DealKey, DunningStep, Engine, EventKind, InMemoryRepository, Interval,
    InvoiceOptions, ManualClock, Money, PaymentDue, Recurrence, Repository, Schedule, SqliteStore,
    TemplateDraft, TemplateId, TenantId,
};

const DIR_VAR: &str = "RECURRING_DEALS_CRASH_DIR";
/// Simulated time between ticks.
const STEP_DAYS: i64 = 1;
/// The horizon while killing: 20 years of daily ticks, far more than the kills take.
const MAX_TICKS: i64 = 20 * 365;
/// Ticks the last worker runs past the progress of the last killed one.
const TAIL: i64 = 10;
const KILLS: usize = 30;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

fn tick_at(n: i64) -> DateTime<Utc> {
    t0() + TimeDelta::days(STEP_DAYS * n)
}

/// One template of the population: every `interval` days at `minute` past 06:00 UTC from
/// Jan 1, optionally invoiced, optionally catching up at most 2 occurrences per tick.
struct Spec {
    tenant: TenantId,
    interval: u32,
    minute: i64,
    invoiced: bool,
    slow: bool,
}

fn population() -> Vec<Spec> {
    (0..40)
        .map(|i| Spec {
            tenant: TenantId::new(format!("tenant-{}", i % 7)).unwrap(),
            interval: [1, 1, 2, 3][i % 4],
            minute: i as i64 * 7 % 600,
            invoiced: i % 3 == 0,
            slow: i % 5 == 0,
        })
        .collect()
}

impl Spec {
    fn first(&self) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 6, 0, 0).unwrap() + TimeDelta::minutes(self.minute)
    }

    fn draft(&self) -> TemplateDraft {
        let schedule = Schedule::builder(
            Recurrence::daily(Interval::new(self.interval).unwrap()),
            self.first().naive_utc(),
            Zone::UTC,
        )
        .build()
        .unwrap();
        let rub = Currency::new("RUB").unwrap();
        let mut draft = TemplateDraft::new(
            Deal::new("Service", Money::new(990, rub)).unwrap(),
            schedule,
        );
        if self.invoiced {
            draft.invoice = Some(InvoiceOptions {
                payment_due: PaymentDue::Days(3),
                send_to: vec![1],
                mail_template: None,
                document_template: None,
                remind_before_days: vec![1],
                remind_after_days: vec![1, 4],
                dunning: vec![
                    DunningStep::new(2, 1),
                    DunningStep::new(5, 2).mail_template(9),
                ],
            });
        }
        if self.slow {
            draft.catch_up.max_per_tick = 2;
        }
        draft
    }

    /// Its occurrences up to `end`, by definition: the first, then every `interval` days.
    fn expected(&self, end: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        (0..)
            .map(|n| self.first() + TimeDelta::days(i64::from(self.interval) * n))
            .take_while(|at| *at <= end)
            .collect()
    }
}

async fn create_population(repository: &impl Repository) -> Vec<TemplateId> {
    let engine = Engine::new(repository, ManualClock::new(t0()));
    let mut ids = Vec::new();
    for spec in population() {
        let template = engine.create_template(&spec.tenant, spec.draft()).await;
        ids.push(template.unwrap().id());
    }
    ids
}

/// Ticks `engine` at tick `n` until nothing more is due then.
async fn run_tick<R: Repository>(engine: &Engine<R, ManualClock>, n: i64) {
    engine.clock().set(tick_at(n));
    loop {
        let report = engine.tick().await.unwrap();
        assert!(report.failures.is_empty(), "{:?}", report.failures);
        if !report.more_due {
            break;
        }
    }
}

/// The worker's entry point: a no-op unless the parent started this binary as a worker.
#[tokio::test]
async fn worker_process() {
    let Ok(dir) = std::env::var(DIR_VAR) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let progress = dir.join("progress");
    let engine = Engine::new(
        SqliteStore::connect(dir.join("deals.db")).await.unwrap(),
        ManualClock::new(t0()),
    );
    let mut n = read_number(&progress).unwrap_or(0);
    let horizon = read_number(&dir.join("horizon")).unwrap_or(MAX_TICKS);
    while n <= horizon {
        run_tick(&engine, n).await;
        n += 1;
        write_number(&progress, n);
    }
}

fn read_number(path: &Path) -> Option<i64> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().parse().unwrap())
}

/// Written then renamed, so a kill leaves the old or the new number, never half of one.
fn write_number(path: &Path, n: i64) {
    let next = path.with_extension("new");
    std::fs::write(&next, n.to_string()).unwrap();
    std::fs::rename(&next, path).unwrap();
}

/// A small xorshift generator: random kill moments without a dependency.
struct Random(u64);

impl Random {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn spawn_worker(dir: &Path) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "worker_process", "--test-threads=1", "-q"])
        .env(DIR_VAR, dir)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

#[tokio::test]
async fn killed_workers_lose_nothing_and_duplicate_nothing() {
    let dir = std::env::temp_dir().join(format!("recurring-deals-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ids = {
        let store = SqliteStore::connect(dir.join("deals.db")).await.unwrap();
        let ids = create_population(&store).await;
        store.pool().close().await;
        ids
    };

    // A wall-clock seed, so each run kills at other moments (printed, so a failure replays).
    #[allow(clippy::disallowed_methods)]
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("kill moments seeded with {seed}");
    let mut random = Random(seed);
    let started = Instant::now();
    let mut kills = 0;
    let mut progress_at_kill = Vec::new();
    let progress = dir.join("progress");
    while kills < KILLS {
        let mut child = spawn_worker(&dir);
        // Kill after 20 to 200 ms: past start-up (opening, WAL recovery) and into ticks.
        std::thread::sleep(Duration::from_millis(20 + random.below(180)));
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the worker ended by itself ({status}) after {kills} kills");
        }
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
        progress_at_kill.push(read_number(&progress).unwrap_or(0));
    }
    // The last worker finishes the tick it finds half done, and a few more, undisturbed.
    let horizon = (read_number(&progress).unwrap_or(0) + TAIL).max(365);
    write_number(&dir.join("horizon"), horizon);
    let status = spawn_worker(&dir).wait().unwrap();
    assert!(status.success(), "worker failed: {status}");
    eprintln!(
        "{kills} kills in {:?}, at ticks {progress_at_kill:?}; {horizon} ticks in all",
        started.elapsed()
    );
    // The kills must land while the worker makes progress, not only during start-up.
    let distinct: std::collections::BTreeSet<_> = progress_at_kill.iter().collect();
    assert!(distinct.len() >= 5, "kills at ticks {progress_at_kill:?}");

    let store = SqliteStore::connect(dir.join("deals.db")).await.unwrap();
    let end = tick_at(horizon);
    let mut all_deals = 0;
    for (spec, id) in population().iter().zip(&ids) {
        let deals = store.deals(&spec.tenant, Some(*id)).await.unwrap();
        let keys: Vec<DealKey> = deals.iter().map(|d| d.key).collect();
        let expected = spec.expected(end);
        let expected_keys: Vec<DealKey> = (0..expected.len() as u64)
            .map(|seq| DealKey::Scheduled {
                template: *id,
                revision: 0,
                seq,
            })
            .collect();
        assert_eq!(keys, expected_keys, "{id}: a gap or a duplicate");
        assert_eq!(
            deals.iter().map(|d| d.nominal_at).collect::<Vec<_>>(),
            expected,
            "{id}"
        );
        let template = store.template(&spec.tenant, *id).await.unwrap().unwrap();
        assert_eq!(
            template.counters().created_by_schedule,
            deals.len() as u64,
            "{id}"
        );
        assert_eq!(template.counters().skipped, 0, "{id}");
        assert!(template.failure().is_none());
        for deal in &deals {
            assert_eq!(
                store
                    .invoice(&spec.tenant, deal.key)
                    .await
                    .unwrap()
                    .is_some(),
                spec.invoiced
            );
        }
        all_deals += deals.len();
    }

    // Every event exactly once: the same events as an uninterrupted run on the reference store.
    let reference = InMemoryRepository::new();
    assert_eq!(create_population(&reference).await, ids);
    let engine = Engine::new(&reference, ManualClock::new(t0()));
    for n in 0..=horizon {
        run_tick(&engine, n).await;
    }
    let crashed = event_counts(&store).await;
    assert!(
        crashed.values().all(|&n| n == 1),
        "an event was written twice"
    );
    assert_eq!(crashed, event_counts(&reference).await);
    let created = store
        .outbox(usize::MAX)
        .await
        .unwrap()
        .iter()
        .filter(|e| matches!(e.kind, EventKind::DealCreated { .. }))
        .count();
    assert_eq!(created, all_deals);
    for spec in population() {
        assert_eq!(
            store.deals(&spec.tenant, None).await.unwrap(),
            reference.deals(&spec.tenant, None).await.unwrap()
        );
        assert_eq!(
            store.skipped(&spec.tenant, None).await.unwrap(),
            reference.skipped(&spec.tenant, None).await.unwrap()
        );
    }
    store.pool().close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// How often each idempotency key is in the outbox.
async fn event_counts(repository: &impl Repository) -> BTreeMap<String, usize> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for event in repository.outbox(usize::MAX).await.unwrap() {
        *counts.entry(event.idempotency_key).or_default() += 1;
    }
    counts
}
