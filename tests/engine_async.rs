//! The async engine as a tokio service uses it: the run loop on a manual clock, concurrent
//! tasks on one store, the blocking facade's behaviour inside and outside a runtime, and a
//! store chosen at run time.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, TimeDelta, Timelike, Utc};
use common::*;
use recurring_deals::*;

fn daily_at_nine() -> TemplateDraft {
    TemplateDraft::new(
        deal("Daily", 100),
        Schedule::builder(
            Recurrence::daily(Interval::ONE),
            local(2026, 3, 1, 9, 0),
            Zone::UTC,
        )
        .build()
        .unwrap(),
    )
}

type MemEngine = Engine<InMemoryRepository, ManualClock>;

fn engine_at(now: DateTime<Utc>) -> (Arc<MemEngine>, ManualClock) {
    let clock = ManualClock::new(now);
    (
        Arc::new(Engine::new(InMemoryRepository::new(), clock.clone())),
        clock,
    )
}

/// Waits until the runner has done `ticks` ticks and is asleep again.
async fn asleep_after(status: &mut tokio::sync::watch::Receiver<RunnerStatus>, ticks: u64) {
    status
        .wait_for(|s| s.ticks == ticks && s.sleeping_until.is_some())
        .await
        .unwrap();
}

/// 24 idle simulated hours, the clock moved a minute at a time: the runner ticks once at
/// start and once per `max_sleep` (an hour) or next wake-up (the 09:00 deal), never in
/// between, and creates the one deal due.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_runner_ticks_once_per_wake_up_or_max_sleep() {
    let (engine, clock) = engine_at(utc(2026, 3, 1, 0, 0));
    let acme = tenant("acme");
    engine
        .create_template(&acme, daily_at_nine())
        .await
        .unwrap();
    let runner = Runner::new(
        Arc::clone(&engine),
        RunnerConfig::default().with_max_sleep(TimeDelta::hours(1)),
    );
    let mut status = runner.status();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(runner.run(
        |_event: OutboxEvent| async { Ok::<(), std::convert::Infallible>(()) },
        async {
            let _ = stopped.await;
        },
    ));
    asleep_after(&mut status, 1).await;
    let mut expected_ticks = 1;
    for minute in 1..=24 * 60 {
        clock.advance(TimeDelta::minutes(1));
        if minute % 60 == 0 {
            // An hour has passed: max_sleep, and at 09:00 also the deal's wake-up (the same
            // instant: one tick).
            expected_ticks += 1;
            asleep_after(&mut status, expected_ticks).await;
        } else {
            // Nothing is due: give the runner every chance to tick by mistake.
            tokio::task::yield_now().await;
            assert_eq!(status.borrow().ticks, expected_ticks, "minute {minute}");
        }
    }
    assert_eq!(expected_ticks, 25);
    let deals = engine.deals(&acme, None).await.unwrap();
    assert_eq!(
        deals.iter().map(|d| d.nominal_at).collect::<Vec<_>>(),
        [utc(2026, 3, 1, 9, 0)]
    );
    stop.send(()).unwrap();
    let last = run.await.unwrap().unwrap();
    assert!(last.stopped);
    assert_eq!(last.ticks, 25);
    // deal_created for the one deal: delivered and acknowledged.
    assert!(last.delivered >= 1);
    assert!(engine.outbox(10).await.unwrap().is_empty());
}

/// A change committed through the engine wakes a sleeping runner at once, without the
/// clock moving; so does `Engine::notify`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_wakes_the_runner() {
    let (engine, _clock) = engine_at(utc(2026, 3, 1, 9, 30));
    let runner = Runner::new(
        Arc::clone(&engine),
        RunnerConfig::default().with_max_sleep(TimeDelta::days(1)),
    );
    let mut status = runner.status();
    let delivered = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = Arc::clone(&delivered);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(runner.run(
        move |event: OutboxEvent| {
            let sink = Arc::clone(&sink);
            async move {
                sink.lock().unwrap().push(event.idempotency_key);
                Ok::<(), std::convert::Infallible>(())
            }
        },
        async {
            let _ = stopped.await;
        },
    ));
    asleep_after(&mut status, 1).await;
    let acme = tenant("acme");
    let template = engine
        .create_template(&acme, daily_at_nine())
        .await
        .unwrap();
    asleep_after(&mut status, 2).await;
    let now = engine.create_now(&acme, template.id()).await.unwrap();
    asleep_after(&mut status, 3).await;
    assert!(
        delivered
            .lock()
            .unwrap()
            .iter()
            .any(|key| key.contains(&now.key.to_string())),
        "the manual deal's event was delivered: {:?}",
        delivered.lock().unwrap()
    );
    engine.notify();
    asleep_after(&mut status, 4).await;
    stop.send(()).unwrap();
    assert!(run.await.unwrap().unwrap().stopped);
}

/// A failing handler: its event is not acknowledged, is handed over again after its
/// back-off (at most `handler_retry` after the first refusal, twice that after the second),
/// and the events after it wait, so the outbox order is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_acknowledged_only_after_the_handler_succeeds() {
    let (engine, clock) = engine_at(utc(2026, 3, 1, 0, 0));
    let acme = tenant("acme");
    engine
        .create_template(&acme, daily_at_nine())
        .await
        .unwrap();
    clock.set(utc(2026, 3, 3, 10, 0)); // Mar 1, 2 and 3 are due: three deal_created events
    let failures_left = Arc::new(AtomicUsize::new(2));
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (left, log) = (Arc::clone(&failures_left), Arc::clone(&seen));
    let runner = Runner::new(Arc::clone(&engine), RunnerConfig::default());
    let mut status = runner.status();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(runner.run(
        move |event: OutboxEvent| {
            let (left, log) = (Arc::clone(&left), Arc::clone(&log));
            async move {
                log.lock().unwrap().push(event.id);
                match left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)) {
                    Ok(_) => Err("the bus is down"),
                    Err(_) => Ok(()),
                }
            }
        },
        async {
            let _ = stopped.await;
        },
    ));
    asleep_after(&mut status, 1).await;
    // The first event failed once; nothing was acknowledged.
    assert_eq!(engine.outbox(10).await.unwrap().len(), 3);
    clock.advance(TimeDelta::seconds(5));
    asleep_after(&mut status, 2).await;
    assert_eq!(engine.outbox(10).await.unwrap().len(), 3);
    clock.advance(TimeDelta::seconds(10));
    asleep_after(&mut status, 3).await;
    assert!(engine.outbox(10).await.unwrap().is_empty());
    let seen = seen.lock().unwrap().clone();
    // The first event three times (two failures), then the other two in order.
    assert_eq!(seen.len(), 5);
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[1], seen[2]);
    assert!(seen[2] < seen[3] && seen[3] < seen[4]);
    stop.send(()).unwrap();
    let last = run.await.unwrap().unwrap();
    assert_eq!((last.delivered, last.handler_failures), (3, 2));
}

/// A tenant whose events the handler refuses holds back only its own later events: the
/// other tenants' events are delivered in the same round, and the refused tenant's, in
/// order, once the handler takes them after `handler_retry` (issue #18).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_tenant_holds_back_only_itself() {
    let (engine, clock) = engine_at(utc(2026, 3, 1, 0, 0));
    let (bad, good) = (tenant("bad"), tenant("good"));
    for owner in [&bad, &good] {
        engine
            .create_template(owner, daily_at_nine())
            .await
            .unwrap();
    }
    clock.set(utc(2026, 3, 3, 10, 0)); // three deals each
    let bus_down_for_bad = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let seen = Arc::new(std::sync::Mutex::new(Vec::<(TenantId, u64)>::new()));
    let (down, log) = (Arc::clone(&bus_down_for_bad), Arc::clone(&seen));
    let runner = Runner::new(Arc::clone(&engine), RunnerConfig::default());
    let mut status = runner.status();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(runner.run(
        move |event: OutboxEvent| {
            let (down, log) = (Arc::clone(&down), Arc::clone(&log));
            async move {
                if event.tenant.as_str() == "bad" && down.load(Ordering::SeqCst) {
                    return Err("the bad tenant's endpoint is down");
                }
                log.lock().unwrap().push((event.tenant, event.id));
                Ok(())
            }
        },
        async {
            let _ = stopped.await;
        },
    ));
    asleep_after(&mut status, 1).await;
    // The good tenant's three events went through in the first round; the bad one's wait.
    let delivered: Vec<(TenantId, u64)> = seen.lock().unwrap().clone();
    assert_eq!(delivered.len(), 3, "{delivered:?}");
    assert!(delivered.iter().all(|(t, _)| *t == good));
    assert_eq!(engine.tenant_outbox(&bad, 10).await.unwrap().len(), 3);
    assert_eq!(
        status.borrow().handler_failures,
        1,
        "one refusal per round, not per event"
    );
    // The endpoint is back; after handler_retry the bad tenant's events go, in order.
    bus_down_for_bad.store(false, Ordering::SeqCst);
    clock.advance(TimeDelta::seconds(5));
    asleep_after(&mut status, 2).await;
    assert!(engine.outbox(10).await.unwrap().is_empty());
    let theirs: Vec<u64> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(t, _)| *t == bad)
        .map(|(_, id)| *id)
        .collect();
    assert_eq!(theirs.len(), 3);
    assert!(theirs.windows(2).all(|w| w[0] < w[1]), "{theirs:?}");
    stop.send(()).unwrap();
    let last = run.await.unwrap().unwrap();
    assert_eq!((last.delivered, last.handler_failures), (6, 1));
}

/// A batch handler (a bus publishing many messages at once) gets the round's events in one
/// call; of a tenant with a refused event, only the events before it are acknowledged, and
/// the rest (even those the call delivered) come again, in order, after `handler_retry`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_handler_is_acknowledged_up_to_each_tenants_first_refusal() {
    struct Bus {
        batches: std::sync::Mutex<Vec<Vec<(TenantId, u64)>>>,
        refuse_once: std::sync::Mutex<Option<u64>>,
    }
    impl OutboxHandler for Bus {
        type Error = &'static str;
        async fn handle(&self, _: OutboxEvent) -> Result<(), &'static str> {
            unreachable!("the runner hands batches")
        }
        async fn handle_batch(&self, events: &[OutboxEvent]) -> Vec<Handed<&'static str>> {
            self.batches
                .lock()
                .unwrap()
                .push(events.iter().map(|e| (e.tenant.clone(), e.id)).collect());
            let refuse = self.refuse_once.lock().unwrap().take();
            events
                .iter()
                .map(|e| {
                    if Some(e.id) == refuse {
                        Handed::Refused("nack")
                    } else {
                        Handed::Delivered
                    }
                })
                .collect()
        }
    }
    let (engine, clock) = engine_at(utc(2026, 3, 1, 0, 0));
    let (bad, good) = (tenant("bad"), tenant("good"));
    for owner in [&bad, &good] {
        engine
            .create_template(owner, daily_at_nine())
            .await
            .unwrap();
    }
    clock.set(utc(2026, 3, 3, 10, 0)); // three deals each
    let bus = Arc::new(Bus {
        batches: std::sync::Mutex::new(Vec::new()),
        refuse_once: std::sync::Mutex::new(None),
    });
    // Tick once by hand to learn the bad tenant's second event, then let the runner deliver.
    engine.tick().await.unwrap();
    let bad_ids: Vec<u64> = engine
        .tenant_outbox(&bad, 10)
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(bad_ids.len(), 3);
    *bus.refuse_once.lock().unwrap() = Some(bad_ids[1]);
    struct Shared(Arc<Bus>);
    impl OutboxHandler for Shared {
        type Error = &'static str;
        async fn handle(&self, event: OutboxEvent) -> Result<(), &'static str> {
            self.0.handle(event).await
        }
        async fn handle_batch(&self, events: &[OutboxEvent]) -> Vec<Handed<&'static str>> {
            self.0.handle_batch(events).await
        }
    }
    let runner = Runner::new(Arc::clone(&engine), RunnerConfig::default());
    let mut status = runner.status();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(runner.run(Shared(Arc::clone(&bus)), async {
        let _ = stopped.await;
    }));
    asleep_after(&mut status, 1).await;
    // One call with all six; the bad tenant's first event and the good tenant's three were
    // acknowledged; its second (refused) and third (delivered after it) wait.
    assert_eq!(bus.batches.lock().unwrap()[0].len(), 6);
    let waiting: Vec<u64> = engine
        .outbox(10)
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(waiting, bad_ids[1..]);
    assert_eq!(status.borrow().delivered, 4);
    clock.advance(TimeDelta::seconds(5));
    asleep_after(&mut status, 2).await;
    assert!(engine.outbox(10).await.unwrap().is_empty());
    let batches = bus.batches.lock().unwrap().clone();
    let last: Vec<u64> = batches.last().unwrap().iter().map(|(_, id)| *id).collect();
    assert_eq!(last, bad_ids[1..], "the rest of the bad tenant, in order");
    stop.send(()).unwrap();
    let last = run.await.unwrap().unwrap();
    assert_eq!((last.delivered, last.handler_failures), (6, 1));
}

/// Tasks racing lifecycle edits against ticks on one store: every commit that reported
/// success got its own version (no lost update), and no occurrence was created twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_tasks_lose_no_update_and_duplicate_no_deal() {
    let (engine, clock) = engine_at(utc(2026, 3, 1, 0, 0));
    let acme = tenant("acme");
    let ids: Vec<TemplateId> = {
        let mut ids = Vec::new();
        for _ in 0..4 {
            ids.push(
                engine
                    .create_template(&acme, daily_at_nine())
                    .await
                    .unwrap()
                    .id(),
            );
        }
        ids
    };
    let versions = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for worker in 0..4u64 {
        let (engine, acme, ids, versions) = (
            Arc::clone(&engine),
            acme.clone(),
            ids.clone(),
            Arc::clone(&versions),
        );
        tasks.push(tokio::spawn(async move {
            for round in 0..60u64 {
                let id = ids[((worker + round) % 4) as usize];
                let result = match (worker + round) % 5 {
                    0 => engine.pause(&acme, id, "hold", None).await,
                    1 => engine.resume(&acme, id).await,
                    2 => {
                        engine
                            .edit_deal(&acme, id, deal(&format!("v{worker}.{round}"), 100))
                            .await
                    }
                    3 => engine.skip_occurrence(&acme, id, 40 + round).await,
                    _ => engine.template(&acme, id).await,
                };
                match result {
                    Ok(template) => versions.lock().unwrap().push((id, template.version())),
                    Err(EngineError::Conflict(_) | EngineError::NoSuchOccurrence { .. }) => {}
                    Err(error) => panic!("{error}"),
                }
                tokio::task::yield_now().await;
            }
        }));
    }
    let ticker = {
        let (engine, clock) = (Arc::clone(&engine), clock.clone());
        tokio::spawn(async move {
            for _ in 0..60 {
                clock.advance(TimeDelta::hours(7));
                engine.tick().await.unwrap();
                tokio::task::yield_now().await;
            }
        })
    };
    for task in tasks {
        task.await.unwrap();
    }
    ticker.await.unwrap();
    // Settle whatever is due, then check.
    while engine.tick().await.unwrap().more_due {}
    let deals = engine.deals(&acme, None).await.unwrap();
    let keys: BTreeSet<DealKey> = deals.iter().map(|d| d.key).collect();
    assert_eq!(keys.len(), deals.len());
    for id in &ids {
        let dates: Vec<_> = deals
            .iter()
            .filter(|d| d.key.template() == *id)
            .map(|d| d.nominal_date)
            .collect();
        let distinct: BTreeSet<_> = dates.iter().collect();
        assert_eq!(
            distinct.len(),
            dates.len(),
            "template {id} has a date twice"
        );
    }
    // A version reported by a successful change is never reported by another change
    // (reads report the stored version, which a change may also have reported).
    let versions = versions.lock().unwrap().clone();
    assert!(!versions.is_empty());
    for id in &ids {
        let stored = engine.template(&acme, *id).await.unwrap().version();
        assert!(
            versions
                .iter()
                .filter(|(t, _)| t == id)
                .all(|(_, v)| *v <= stored)
        );
    }
}

/// A store picked at run time works as the store itself.
#[tokio::test]
async fn an_engine_over_a_dyn_repository() {
    let clock = ManualClock::new(utc(2026, 3, 1, 0, 0));
    let store: DynRepository = DynRepository::new(InMemoryRepository::new());
    let engine = Engine::new(store.clone(), clock.clone());
    let acme = tenant("acme");
    engine
        .create_template(&acme, daily_at_nine())
        .await
        .unwrap();
    clock.set(utc(2026, 3, 3, 10, 0));
    assert_eq!(engine.tick().await.unwrap().created.len(), 3);
    assert_eq!(store.deals(&acme, None).await.unwrap().len(), 3);
}

/// The blocking facade refuses, with a typed error, to block a thread that drives async
/// tasks, and works inside `spawn_blocking`; dropping it inside a runtime does not panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_blocking_facade_inside_a_runtime() {
    let clock = ManualClock::new(utc(2026, 3, 1, 0, 0));
    let facade = Arc::new(blocking::Engine::new(InMemoryRepository::new(), clock).unwrap());
    let acme = tenant("acme");
    // On this worker thread: refused, not a panic.
    assert_eq!(
        facade.create_template(&acme, daily_at_nine()).unwrap_err(),
        EngineError::BlockingInAsync
    );
    assert_eq!(facade.tick().unwrap_err(), EngineError::BlockingInAsync);
    // Inside spawn_blocking: it works.
    let inside = Arc::clone(&facade);
    let id = tokio::task::spawn_blocking(move || {
        inside
            .create_template(&tenant("acme"), daily_at_nine())
            .unwrap()
            .id()
    })
    .await
    .unwrap();
    let inside = Arc::clone(&facade);
    let template = tokio::task::spawn_blocking(move || inside.template(&tenant("acme"), id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(template.id(), id);
    // The budget probe gave back what it took: this task still yields normally.
    tokio::task::yield_now().await;
    // Dropped on a worker thread: no panic.
    drop(facade);
}

/// Inside a current-thread runtime (`#[tokio::test]`'s default) too.
#[tokio::test]
async fn the_blocking_facade_on_a_current_thread_runtime() {
    let clock = ManualClock::new(utc(2026, 3, 1, 0, 0));
    let facade = blocking::Engine::new(InMemoryRepository::new(), clock).unwrap();
    assert_eq!(
        facade.next_wake().unwrap_err(),
        EngineError::BlockingInAsync
    );
    drop(facade);
}

/// Outside any runtime, and on plain threads sharing one facade.
#[test]
fn the_blocking_facade_on_plain_threads() {
    let clock = ManualClock::new(utc(2026, 3, 1, 0, 0));
    let facade = Arc::new(blocking::Engine::new(InMemoryRepository::new(), clock.clone()).unwrap());
    let acme = tenant("acme");
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let (facade, acme) = (Arc::clone(&facade), acme.clone());
            std::thread::spawn(move || facade.create_template(&acme, daily_at_nine()).unwrap())
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    clock.set(utc(2026, 3, 2, 10, 0));
    assert_eq!(facade.tick().unwrap().created.len(), 6);
    // Dropped on another thread than the one that made it.
    std::thread::spawn(move || drop(facade)).join().unwrap();
}

/// Workers over one store each take their own share of the due templates first; a share
/// whose worker is gone is taken by the others once it has waited `steal_after`.
#[tokio::test]
async fn workers_take_their_share_and_a_gone_workers_share_after_steal_after() {
    let store = Arc::new(InMemoryRepository::new());
    let clock = ManualClock::new(utc(2026, 3, 1, 8, 0));
    let worker = |index| {
        let config = EngineConfig::builder()
            .worker(index, 2)
            .steal_after(TimeDelta::seconds(30))
            .build()
            .unwrap();
        Engine::with_config(Arc::clone(&store), clock.clone(), config)
    };
    let (zero, one) = (worker(0), worker(1));
    let acme = tenant("acme");
    let mut ids = Vec::new();
    for _ in 0..10 {
        ids.push(
            zero.create_template(&acme, daily_at_nine())
                .await
                .unwrap()
                .id(),
        );
    }
    let share = |index| -> BTreeSet<TemplateId> {
        let share = store::Share::new(index, 2).unwrap();
        ids.iter()
            .copied()
            .filter(|id| share.contains(*id))
            .collect()
    };
    let templates = |report: &TickReport| -> BTreeSet<TemplateId> {
        report.created.iter().map(|key| key.template()).collect()
    };
    assert!(!share(0).is_empty() && !share(1).is_empty());

    // Both alive: each creates its own share's deals, neither meets the other.
    clock.set(utc(2026, 3, 1, 9, 0));
    let (a, b) = (zero.tick().await.unwrap(), one.tick().await.unwrap());
    assert_eq!((templates(&a), templates(&b)), (share(0), share(1)));
    assert_eq!((a.conflicts, b.conflicts), (0, 0));

    // Worker 1 is gone. Worker 0 leaves its share alone for 30 seconds, then takes it.
    clock.set(utc(2026, 3, 2, 9, 0));
    let own = zero.tick().await.unwrap();
    assert_eq!(templates(&own), share(0));
    // Not a busy loop: the next wake-up is when worker 1's share may be taken.
    assert_eq!(
        own.next_wake,
        Some(utc(2026, 3, 2, 9, 0) + TimeDelta::seconds(30))
    );
    clock.set(utc(2026, 3, 2, 9, 0) + TimeDelta::seconds(29));
    assert!(zero.tick().await.unwrap().created.is_empty());
    clock.set(utc(2026, 3, 2, 9, 0) + TimeDelta::seconds(30));
    let late = zero.tick().await.unwrap();
    assert_eq!(templates(&late), share(1));
    assert_eq!(late.conflicts, 0);
    assert_eq!(late.next_wake, Some(utc(2026, 3, 3, 9, 0)));
    for id in &ids {
        assert_eq!(zero.deals(&acme, Some(*id)).await.unwrap().len(), 2, "{id}");
    }
}

/// `steal_after` is checked like every other setting.
#[test]
fn steal_after_out_of_range_is_refused() {
    let refused = |wait| {
        EngineConfig::builder()
            .steal_after(wait)
            .build()
            .unwrap_err()
    };
    assert!(
        refused(TimeDelta::seconds(-1))
            .to_string()
            .contains("steal_after")
    );
    assert!(
        refused(TimeDelta::days(2))
            .to_string()
            .contains("0 ..= 1 day")
    );
    assert!(
        EngineConfig::builder()
            .steal_after(TimeDelta::zero())
            .build()
            .is_ok()
    );
}

/// A wall clock on tokio's (paused, virtual) time line whose reading can be stepped, as an
/// administrator or a bad NTP server steps a system clock.
#[derive(Clone)]
struct SteppedClock {
    base: DateTime<Utc>,
    start: tokio::time::Instant,
    step: Arc<std::sync::Mutex<TimeDelta>>,
}

impl SteppedClock {
    fn new(base: DateTime<Utc>) -> SteppedClock {
        SteppedClock {
            base,
            start: tokio::time::Instant::now(),
            step: Arc::new(std::sync::Mutex::new(TimeDelta::zero())),
        }
    }

    fn step(&self, by: TimeDelta) {
        *self.step.lock().unwrap() += by;
    }
}

impl Clock for SteppedClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = TimeDelta::from_std(self.start.elapsed()).unwrap();
        self.base + elapsed + *self.step.lock().unwrap()
    }
}

/// The wall clock stepped back an hour while the runner sleeps: it goes on ticking every
/// `max_sleep` (it sleeps by monotonic time, then reads the clock again), and a template
/// another process creates, due 7 s after the step, is created on time.
#[tokio::test(start_paused = true)]
async fn a_wall_clock_stepped_back_does_not_stop_the_runner() {
    let clock = SteppedClock::new(utc(2026, 3, 1, 10, 0));
    let store = Arc::new(InMemoryRepository::new());
    let engine = Arc::new(Engine::new(Arc::clone(&store), clock.clone()));
    let runner = Runner::new(
        Arc::clone(&engine),
        RunnerConfig::default().with_max_sleep(TimeDelta::seconds(1)),
    );
    let mut status = runner.status();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(runner.run(
        |_event: OutboxEvent| async { Ok::<(), std::convert::Infallible>(()) },
        async {
            let _ = stopped.await;
        },
    ));
    status.wait_for(|s| s.ticks >= 3).await.unwrap();
    clock.step(TimeDelta::hours(-1));
    let ticks_at_step = status.borrow().ticks;

    // Another process (an engine of its own on the same store, which cannot wake this
    // runner) creates a template due 7 s after the step.
    let due = clock.now().with_nanosecond(0).unwrap() + TimeDelta::seconds(7);
    let other = Engine::new(Arc::clone(&store), clock.clone());
    let acme = tenant("acme");
    let draft = TemplateDraft::new(
        deal("Daily", 100),
        Schedule::builder(Recurrence::daily(Interval::ONE), due.naive_utc(), Zone::UTC)
            .build()
            .unwrap(),
    );
    other.create_template(&acme, draft).await.unwrap();

    tokio::time::sleep(std::time::Duration::from_secs(15)).await;
    let ticks = status.borrow().ticks - ticks_at_step;
    assert!(
        (10..=20).contains(&ticks),
        "{ticks} ticks in 15 s with max_sleep 1 s after the step"
    );
    let deals = engine.deals(&acme, None).await.unwrap();
    assert_eq!(deals.len(), 1);
    assert_eq!(deals[0].nominal_at, due);
    assert!(
        deals[0].created_at - due <= TimeDelta::seconds(1),
        "created {} for {due}",
        deals[0].created_at
    );
    stop.send(()).unwrap();
    run.await.unwrap().unwrap();
}

/// Health tells the truth, and a hung store call does not stop a worker: a runner whose
/// store call never returns stops being healthy once the bound has passed since its last
/// completed tick; the engine drops the call at its store timeout, and the runner ticks
/// again once the store answers.
#[tokio::test(start_paused = true)]
async fn a_stuck_runner_is_not_healthy() {
    let clock = SteppedClock::new(utc(2026, 3, 1, 10, 0));
    let store = Arc::new(Faulty::new(InMemoryRepository::new(), |_| Fault::None));
    let engine = Arc::new(Engine::new(Arc::clone(&store), clock.clone()));
    let runner = Runner::new(
        Arc::clone(&engine),
        RunnerConfig::default().with_max_sleep(TimeDelta::seconds(1)),
    );
    let mut status = runner.status();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(runner.run(
        |_event: OutboxEvent| async { Ok::<(), std::convert::Infallible>(()) },
        async {
            let _ = stopped.await;
        },
    ));
    let bound = TimeDelta::seconds(3);
    status.wait_for(|s| s.ticks >= 2).await.unwrap();
    assert!(status.borrow().is_healthy(clock.now(), bound));
    assert!(status.borrow().last_delivery_at.is_some());

    store.hang(true);
    tokio::time::sleep(std::time::Duration::from_secs(10)).await;
    let stuck = status.borrow().clone();
    assert!(!stuck.stopped);
    assert!(!stuck.is_healthy(clock.now(), bound), "{stuck:?}");

    // The engine bounds each store call (30 s by default): the hung load is dropped, the
    // tick fails with a timeout, the runner records it and tries again.
    tokio::time::sleep(std::time::Duration::from_secs(60)).await;
    let failing = status.borrow().clone();
    assert!(failing.tick_errors >= 1, "{failing:?}");
    let (_, error) = failing.last_error.clone().expect("the timeout is recorded");
    assert!(error.contains("took longer than 30s"), "{error}");
    assert!(!failing.stopped);

    // The store answers again: the next tick completes, and the runner is healthy.
    store.hang(false);
    tokio::time::sleep(std::time::Duration::from_secs(35)).await;
    assert!(
        status.borrow().is_healthy(clock.now(), bound),
        "{:?}",
        status.borrow()
    );
    stop.send(()).unwrap();
    run.await.unwrap().unwrap();
}

/// Delivery by several runners (issue #18): three workers' runners over one store hand each
/// event over once, each tenant's events by one runner and in their outbox order, and every
/// runner delivers its own tenants; the tenants of a worker that is gone wait `steal_after`
/// and are then delivered by the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_runners_hand_each_event_over_once_in_tenant_order() {
    const WORKERS: usize = 3;
    let store = Arc::new(InMemoryRepository::new());
    let clock = ManualClock::new(utc(2026, 3, 1, 0, 0));
    let tenants: Vec<TenantId> = (0..24).map(|i| tenant(&format!("tenant-{i}"))).collect();
    {
        let setup = Engine::new(Arc::clone(&store), clock.clone());
        for tenant in &tenants {
            for _ in 0..2 {
                setup
                    .create_template(tenant, daily_at_nine())
                    .await
                    .unwrap();
            }
        }
        // Four days of deals: 24 × 2 × 4 events waiting, before any runner starts.
        clock.set(utc(2026, 3, 4, 12, 0));
        while setup.tick().await.unwrap().more_due {}
    }
    let waiting = store.outbox(usize::MAX).await.unwrap();
    assert_eq!(waiting.len(), 24 * 2 * 4);
    let order: std::collections::HashMap<String, u64> = waiting
        .iter()
        .map(|e| (e.idempotency_key.clone(), e.id))
        .collect();
    let worker = |index: usize| {
        let config = EngineConfig::builder()
            .worker(index, WORKERS)
            .steal_after(TimeDelta::minutes(5))
            .build()
            .unwrap();
        Arc::new(Engine::with_config(
            Arc::clone(&store),
            clock.clone(),
            config,
        ))
    };
    let owner = |t: &TenantId| {
        (0..WORKERS)
            .find(|i| {
                store::Share::new(*i as u32, WORKERS as u32)
                    .unwrap()
                    .contains_tenant(t)
            })
            .unwrap()
    };
    // (worker, tenant, key) in hand-over order.
    let handed = Arc::new(std::sync::Mutex::new(
        Vec::<(usize, TenantId, String)>::new(),
    ));
    let run = |index: usize, engine: Arc<Engine<Arc<InMemoryRepository>, ManualClock>>| {
        let handed = Arc::clone(&handed);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let runner = Runner::new(
            engine,
            RunnerConfig::default().with_max_sleep(TimeDelta::milliseconds(20)),
        );
        let status = runner.status();
        let task = tokio::spawn(runner.run(
            move |event: OutboxEvent| {
                let handed = Arc::clone(&handed);
                async move {
                    handed
                        .lock()
                        .unwrap()
                        .push((index, event.tenant, event.idempotency_key));
                    Ok::<(), std::convert::Infallible>(())
                }
            },
            async move {
                let _ = stopped.await;
            },
        ));
        (stop, status, task)
    };

    // Workers 0 and 1 run; worker 2 is gone. They deliver their own tenants only.
    let (stop0, status0, task0) = run(0, worker(0));
    let (stop1, status1, task1) = run(1, worker(1));
    let own = waiting.iter().filter(|e| owner(&e.tenant) < 2).count() as u64;
    assert!(
        own > 0 && own < waiting.len() as u64,
        "tenants spread over the shares"
    );
    let delivered = |a: &RunnerStatus, b: &RunnerStatus| a.delivered + b.delivered;
    tokio::time::timeout(std::time::Duration::from_secs(20), async {
        loop {
            if delivered(&status0.borrow(), &status1.borrow()) >= own {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the live workers delivered their tenants");
    // Give them every chance to take what is not theirs before `steal_after`.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(delivered(&status0.borrow(), &status1.borrow()), own);
    assert!(
        handed
            .lock()
            .unwrap()
            .iter()
            .all(|(w, t, _)| owner(t) == *w),
        "each runner handed over only its own tenants' events"
    );
    // Past `steal_after` the gone worker's tenants are taken over.
    clock.advance(TimeDelta::minutes(6));
    tokio::time::timeout(std::time::Duration::from_secs(20), async {
        loop {
            if delivered(&status0.borrow(), &status1.borrow()) >= waiting.len() as u64 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the gone worker's tenants were delivered after steal_after");
    stop0.send(()).unwrap();
    stop1.send(()).unwrap();
    task0.await.unwrap().unwrap();
    task1.await.unwrap().unwrap();

    let handed = handed.lock().unwrap().clone();
    // Each event once.
    let keys: BTreeSet<&String> = handed.iter().map(|(_, _, k)| k).collect();
    assert_eq!(keys.len(), waiting.len());
    assert_eq!(handed.len(), waiting.len(), "no event handed over twice");
    // A tenant's events in outbox order, by one runner.
    for tenant in &tenants {
        let theirs: Vec<&(usize, TenantId, String)> =
            handed.iter().filter(|(_, t, _)| t == tenant).collect();
        let ids: Vec<u64> = theirs.iter().map(|(_, _, k)| order[k]).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{tenant}: {ids:?}");
        let runners: BTreeSet<usize> = theirs.iter().map(|(w, _, _)| *w).collect();
        assert_eq!(runners.len(), 1, "{tenant} handed over by {runners:?}");
    }
    // Both live runners delivered.
    for index in 0..2 {
        assert!(
            handed.iter().any(|(w, _, _)| *w == index),
            "runner {index} delivered"
        );
    }
    assert!(store.outbox(10).await.unwrap().is_empty());
}

/// An event the handler keeps refusing backs off exponentially (with jitter, recorded in
/// the store, so it is not handed over before its retry instant even when the runner wakes
/// early), becomes a dead letter after `max_attempts` refusals with its last error, lets
/// its tenant's later events go on, and is delivered once requeued (issue #18).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_event_backs_off_then_becomes_a_dead_letter_and_requeues() {
    let (engine, clock) = engine_at(utc(2026, 3, 1, 0, 0));
    let (bad, good) = (tenant("bad"), tenant("good"));
    for owner in [&bad, &good] {
        engine
            .create_template(owner, daily_at_nine())
            .await
            .unwrap();
    }
    clock.set(utc(2026, 3, 3, 10, 0)); // three deals each
    // The bad tenant's first event (its id learnt by the handler) is refused.
    let first_of_bad = Arc::new(std::sync::Mutex::new(None::<u64>));
    let receiver_fixed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = Arc::new(std::sync::Mutex::new(Vec::<u64>::new()));
    let tries = Arc::new(AtomicUsize::new(0));
    let (fixed, log, count, learnt) = (
        Arc::clone(&receiver_fixed),
        Arc::clone(&seen),
        Arc::clone(&tries),
        Arc::clone(&first_of_bad),
    );
    let mut config = RunnerConfig::default();
    config.handler_retry = TimeDelta::seconds(10);
    config.max_retry = TimeDelta::seconds(25);
    config.max_attempts = 4;
    let runner = Runner::new(Arc::clone(&engine), config.clone());
    let mut status = runner.status();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(runner.run(
        move |event: OutboxEvent| {
            let (fixed, log, count) = (Arc::clone(&fixed), Arc::clone(&log), Arc::clone(&count));
            let poisoned = if event.tenant.as_str() == "bad" {
                *learnt.lock().unwrap().get_or_insert(event.id)
            } else {
                0
            };
            async move {
                if event.id == poisoned && !fixed.load(Ordering::SeqCst) {
                    count.fetch_add(1, Ordering::SeqCst);
                    return Err(format!("422: cannot map event {}", event.id));
                }
                log.lock().unwrap().push(event.id);
                Ok(())
            }
        },
        async {
            let _ = stopped.await;
        },
    ));
    let watch = status.clone();
    let wait = |failures: u64| {
        let mut status = watch.clone();
        async move {
            status
                .wait_for(|s| s.handler_failures == failures && s.sleeping_until.is_some())
                .await
                .unwrap()
                .clone()
        }
    };
    let head = || async { engine.tenant_outbox(&bad, 1).await.unwrap()[0].clone() };
    wait(1).await;
    let poisoned = first_of_bad
        .lock()
        .unwrap()
        .expect("the bad tenant's first event");
    assert_eq!(
        seen.lock().unwrap().len(),
        3,
        "the good tenant's events went"
    );
    let first = head().await;
    assert_eq!((first.id, first.attempts), (poisoned, 1));
    let mut retry_at = first.retry_at.expect("a retry instant");
    let mut refused_at = clock.now();
    // Each back-off: half of the doubled delay fixed, half jittered, capped at 25 s.
    let bounds = [(5_000, 10_000), (10_000, 20_000), (12_500, 25_000)];
    for (attempt, (low, high)) in bounds.into_iter().enumerate() {
        let delay = (retry_at - refused_at).num_milliseconds();
        assert!(
            (low..=high).contains(&delay),
            "attempt {}: {delay} ms",
            attempt + 1
        );
        // Woken just before the retry instant: the event is not handed over.
        let ticks = status.borrow().ticks;
        clock.set(retry_at - TimeDelta::milliseconds(1));
        engine.notify();
        status
            .wait_for(|s| s.ticks > ticks && s.sleeping_until.is_some())
            .await
            .unwrap();
        assert_eq!(tries.load(Ordering::SeqCst), attempt + 1);
        // At the retry instant it is, and refused again.
        clock.set(retry_at);
        engine.notify();
        wait(attempt as u64 + 2).await;
        assert_eq!(tries.load(Ordering::SeqCst), attempt + 2);
        if attempt + 2 < 4 {
            let event = head().await;
            assert_eq!((event.id, event.attempts), (poisoned, attempt as u32 + 2));
            refused_at = retry_at;
            retry_at = event.retry_at.expect("a retry instant");
        }
    }
    // The fourth refusal made it a dead letter; the tenant's later events go next round.
    assert_eq!(status.borrow().dead_letters, 1);
    let dead = engine.dead_letters(&bad, None, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0].event.id, dead[0].event.attempts), (poisoned, 4));
    assert_eq!(
        dead[0].last_error,
        format!("422: cannot map event {poisoned}")
    );
    assert_eq!(dead[0].dead_at, retry_at);
    clock.advance(TimeDelta::seconds(10));
    status.wait_for(|s| s.delivered == 5).await.unwrap();
    let theirs = engine.tenant_outbox(&bad, 10).await.unwrap();
    assert!(theirs.is_empty(), "{theirs:?}");
    // Requeued once the receiver is fixed: delivered once, and no dead letter is left.
    receiver_fixed.store(true, Ordering::SeqCst);
    assert_eq!(
        engine
            .requeue_dead_letters(&bad, &[poisoned])
            .await
            .unwrap(),
        1
    );
    status.wait_for(|s| s.delivered == 6).await.unwrap();
    assert!(
        engine
            .dead_letters(&bad, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(engine.outbox(10).await.unwrap().is_empty());
    let delivered = seen.lock().unwrap().clone();
    assert_eq!(delivered.iter().filter(|id| **id == poisoned).count(), 1);
    assert_eq!(delivered.len(), 6);
    stop.send(()).unwrap();
    let last = run.await.unwrap().unwrap();
    assert_eq!(
        (last.delivered, last.handler_failures, last.dead_letters),
        (6, 4, 1)
    );
}
