//! The `tracing` spans and `metrics` counters of a tick (features `tracing` and `metrics`).

#![cfg(all(feature = "tracing", feature = "metrics"))]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::*;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use metrics_util::{CompositeKey, MetricKind};
use recurring_deals::*;

/// A writer into a shared buffer, for the fmt subscriber.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn counter(
    snapshot: &[(
        CompositeKey,
        Option<metrics::Unit>,
        Option<metrics::SharedString>,
        DebugValue,
    )],
    name: &str,
) -> u64 {
    snapshot
        .iter()
        .filter(|(key, ..)| key.kind() == MetricKind::Counter && key.key().name() == name)
        .map(|(.., value)| match value {
            DebugValue::Counter(n) => *n,
            _ => 0,
        })
        .sum()
}

#[test]
fn a_tick_reports_spans_and_metrics() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_ansi(false)
        .finish();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    tracing::subscriber::with_default(subscriber, || {
        metrics::with_local_recorder(&recorder, || {
            runtime.block_on(async {
                let clock = ManualClock::new(utc(2026, 3, 1, 0, 0));
                let engine = Engine::new(InMemoryRepository::new(), clock.clone());
                let acme = tenant("acme");
                let daily = Schedule::builder(
                    Recurrence::daily(Interval::ONE),
                    local(2026, 3, 1, 9, 0),
                    Zone::UTC,
                )
                .build()
                .unwrap();
                // Invoiced: due the next day, reminded on the due date, a dunning step a day
                // later.
                let mut draft = TemplateDraft::new(deal("Daily", 100), daily);
                draft.invoice = Some(
                    InvoiceOptions::new(PaymentDue::Days(1))
                        .remind_before([0])
                        .dunning([DunningStep::new(1, 1)]),
                );
                let id = engine.create_template(&acme, draft).await.unwrap().id();
                engine.skip_occurrence(&acme, id, 1).await.unwrap();
                clock.set(utc(2026, 3, 3, 10, 0));
                let report = engine.tick().await.unwrap();
                assert_eq!(report.created.len(), 2);
                assert_eq!(report.skipped.len(), 1);
                // Mar 3's invoice: its reminder (Mar 4) and its step (Mar 5) go out.
                clock.set(utc(2026, 3, 5, 10, 0));
                let report = engine.tick().await.unwrap();
                assert_eq!((report.reminders, report.dunning_steps), (1, 1));
            })
        })
    });
    let snapshot = snapshotter.snapshot().into_vec();
    assert_eq!(counter(&snapshot, "recurring_deals_deals_created_total"), 4);
    assert_eq!(
        counter(&snapshot, "recurring_deals_reminders_sent_total"),
        1
    );
    assert_eq!(counter(&snapshot, "recurring_deals_dunning_steps_total"), 1);
    assert_eq!(
        counter(&snapshot, "recurring_deals_dunning_actions_total"),
        0
    );
    assert_eq!(
        counter(&snapshot, "recurring_deals_occurrences_skipped_total"),
        1
    );
    assert!(
        snapshot
            .iter()
            .any(|(key, ..)| key.key().name() == "recurring_deals_tick_duration_seconds")
    );
    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("tick{at=2026-03-03 10:00:00 UTC}"), "{text}");
    assert!(text.contains("plan{tenant=acme template=T1}"), "{text}");
    assert!(text.contains("commit{templates=1}"), "{text}");
    assert!(text.contains("change{tenant=acme template=T1}"), "{text}");
    assert!(text.contains("tick done"), "{text}");
}
