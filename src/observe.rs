//! Observability: `tracing` spans and events (feature `tracing`) and counters and
//! histograms through the `metrics` facade (feature `metrics`). Without the features every
//! item here compiles to nothing, so the engine's code reads the same either way.
//!
//! Metrics (all prefixed `recurring_deals_`):
//!
//! | name | kind | what |
//! |---|---|---|
//! | `deals_created_total` | counter | deals a tick created |
//! | `occurrences_skipped_total` | counter, label `reason` | occurrences a tick skipped |
//! | `commit_failures_total` | counter, label `kind` | template commits the store failed |
//! | `commit_conflicts_total` | counter | template commits another writer won |
//! | `reminders_sent_total` | counter | payment reminders a tick sent |
//! | `dunning_steps_total` | counter | dunning steps a tick sent |
//! | `dunning_actions_total` | counter | final actions of dunning steps a tick carried out |
//! | `tick_duration_seconds` | histogram | one tick, load to last commit |
//! | `due_backlog` | gauge | templates due when the tick loaded them (at most `batch_size`) |
//! | `events_delivered_total` | counter | outbox events a runner's handler accepted |
//! | `handler_failures_total` | counter | outbox events a runner's handler refused |
//! | `delivery_attempts` | histogram | refusals an event had before it was delivered or dead-lettered (0: first try) |
//! | `dead_letters_total` | counter | outbox events a runner made dead letters after `max_attempts` refusals |
//! | `outbox_lag_seconds` | gauge | age of the oldest event an outbox round read (0 when it read none) |
//! | `terms_changes_total` | counter, label `outcome` | templates a terms change applied, found applied, left finished, refused or failed |
//! | `zone_replans_total` | counter | zones whose next runs an engine planned again under changed zone rules |
//! | `next_runs_replanned_total` | counter | next runs those re-plans moved |

use crate::engine::TickReport;
use crate::store::RepositoryError;

/// Wraps a future in a span when the `tracing` feature is on.
macro_rules! instrumented {
    ($future:expr, $($span:tt)*) => {{
        #[cfg(feature = "tracing")]
        let future = tracing::Instrument::instrument($future, tracing::span!($($span)*));
        #[cfg(not(feature = "tracing"))]
        let future = $future;
        future
    }};
}

/// An event when the `tracing` feature is on.
macro_rules! event {
    ($($event:tt)*) => {{
        #[cfg(feature = "tracing")]
        tracing::event!($($event)*);
    }};
}

pub(crate) use {event, instrumented};

/// Starts timing a tick.
pub(crate) fn tick_started() -> TickTimer {
    TickTimer {
        #[cfg(feature = "metrics")]
        started: std::time::Instant::now(),
    }
}

/// A tick being timed (a duration, not a point in time: the only wall-clock reading the
/// engine makes outside the clock, and only with the `metrics` feature).
pub(crate) struct TickTimer {
    #[cfg(feature = "metrics")]
    started: std::time::Instant,
}

impl TickTimer {
    /// Records a finished tick: its duration, what it did, the backlog it saw.
    pub(crate) fn finished(self, report: &TickReport, due: usize) {
        #[cfg(feature = "metrics")]
        {
            metrics::histogram!("recurring_deals_tick_duration_seconds")
                .record(self.started.elapsed().as_secs_f64());
            metrics::gauge!("recurring_deals_due_backlog").set(due as f64);
            metrics::counter!("recurring_deals_deals_created_total")
                .increment(report.created.len() as u64);
            metrics::counter!("recurring_deals_commit_conflicts_total")
                .increment(report.conflicts as u64);
            metrics::counter!("recurring_deals_reminders_sent_total")
                .increment(report.reminders as u64);
            metrics::counter!("recurring_deals_dunning_steps_total")
                .increment(report.dunning_steps as u64);
            metrics::counter!("recurring_deals_dunning_actions_total")
                .increment(report.dunning_actions as u64);
            for skipped in &report.skipped {
                metrics::counter!(
                    "recurring_deals_occurrences_skipped_total",
                    "reason" => skip_reason(skipped.reason)
                )
                .increment(1);
            }
        }
        event!(
            tracing::Level::DEBUG,
            created = report.created.len(),
            skipped = report.skipped.len(),
            failures = report.failures.len(),
            conflicts = report.conflicts,
            reminders = report.reminders,
            dunning_steps = report.dunning_steps,
            due,
            more_due = report.more_due,
            "tick done"
        );
        let _ = (report, due, self);
    }
}

/// Logs, once per engine, which zone rules it plans with.
pub(crate) fn engine_started() {
    event!(
        tracing::Level::INFO,
        tzdb = %crate::zone::rules::tzdb_version(),
        source = ?crate::zone::rules::source(),
        "recurring-deals engine: zone rules"
    );
}

/// Records what planning next runs again under changed zone rules did.
pub(crate) fn zones_replanned(report: &crate::engine::ZoneReplan) {
    #[cfg(feature = "metrics")]
    {
        metrics::counter!("recurring_deals_zone_replans_total")
            .increment(report.zones.len() as u64);
        metrics::counter!("recurring_deals_next_runs_replanned_total")
            .increment(report.moved as u64);
    }
    #[cfg(feature = "tracing")]
    for zone in &report.zones {
        event!(
            tracing::Level::WARN,
            zone = %zone.zone,
            previous = zone.previous.as_deref().unwrap_or("unrecorded"),
            tzdb = %report.tzdb,
            moved = zone.moved,
            "next runs planned again under changed zone rules"
        );
    }
    if !report.unknown.is_empty() {
        event!(
            tracing::Level::ERROR,
            zones = ?report.unknown,
            tzdb = %report.tzdb,
            "stored zones the zone rules in use lack; their templates keep their next runs"
        );
    }
    let _ = report;
}

/// Records a template commit the store failed.
pub(crate) fn commit_failed(
    tenant: &crate::ids::TenantId,
    template: crate::ids::TemplateId,
    error: &RepositoryError,
) {
    #[cfg(feature = "metrics")]
    metrics::counter!("recurring_deals_commit_failures_total", "kind" => error.kind()).increment(1);
    event!(
        tracing::Level::WARN,
        tenant = %tenant,
        template = %template,
        kind = error.kind(),
        retryable = error.is_retryable(),
        error = %error.chain(),
        "commit failed; the template is retried with back-off"
    );
    let _ = (tenant, template, error);
}

/// Records what a terms change did to a tenant's templates.
pub(crate) fn terms_changed(tenant: &crate::ids::TenantId, report: &crate::engine::TermsReport) {
    #[cfg(feature = "metrics")]
    for (outcome, count) in [
        ("applied", report.applied()),
        ("already_applied", report.already_applied()),
        ("finished", report.finished()),
        ("refused", report.refused()),
        ("failed", report.failed()),
    ] {
        metrics::counter!("recurring_deals_terms_changes_total", "outcome" => outcome)
            .increment(count as u64);
    }
    event!(
        tracing::Level::INFO,
        tenant = %tenant,
        change = %report.change,
        applied = report.applied(),
        already_applied = report.already_applied(),
        finished = report.finished(),
        refused = report.refused(),
        failed = report.failed(),
        not_matched = report.not_matched,
        "terms change done"
    );
    let _ = (tenant, report);
}

/// Records an outbox event a runner delivered, or one its handler refused.
pub(crate) fn delivery(event: &crate::event::OutboxEvent, error: Option<&dyn std::fmt::Display>) {
    match error {
        None => {
            #[cfg(feature = "metrics")]
            {
                metrics::counter!("recurring_deals_events_delivered_total").increment(1);
                metrics::histogram!("recurring_deals_delivery_attempts")
                    .record(f64::from(event.attempts));
            }
            event!(
                tracing::Level::TRACE,
                tenant = %event.tenant,
                event = event.id,
                key = %event.idempotency_key,
                "event delivered"
            );
        }
        Some(error) => {
            #[cfg(feature = "metrics")]
            metrics::counter!("recurring_deals_handler_failures_total").increment(1);
            event!(
                tracing::Level::WARN,
                tenant = %event.tenant,
                event = event.id,
                key = %event.idempotency_key,
                error = %error,
                "outbox handler failed; the event is handed over again later"
            );
            let _ = error;
        }
    }
    let _ = event;
}

/// Records an event a runner made a dead letter after `attempts` refusals.
pub(crate) fn dead_letter(event: &crate::event::OutboxEvent, attempts: u32, error: &str) {
    #[cfg(feature = "metrics")]
    {
        metrics::counter!("recurring_deals_dead_letters_total").increment(1);
        metrics::histogram!("recurring_deals_delivery_attempts").record(f64::from(attempts));
    }
    event!(
        tracing::Level::ERROR,
        tenant = %event.tenant,
        event = event.id,
        key = %event.idempotency_key,
        attempts,
        error,
        "outbox event became a dead letter"
    );
    let _ = (event, attempts, error);
}

/// Records the age of the oldest event an outbox round read (`None`: it read none).
pub(crate) fn outbox_lag(lag: Option<chrono::TimeDelta>) {
    #[cfg(feature = "metrics")]
    metrics::gauge!("recurring_deals_outbox_lag_seconds")
        .set(lag.map_or(0.0, |lag| lag.num_milliseconds().max(0) as f64 / 1000.0));
    let _ = lag;
}

#[cfg(feature = "metrics")]
fn skip_reason(reason: crate::template::SkipReason) -> &'static str {
    use crate::template::SkipReason;
    match reason {
        SkipReason::Paused => "paused",
        SkipReason::OutsideWindow => "outside_window",
        SkipReason::Superseded => "superseded",
        SkipReason::Missed => "missed",
        SkipReason::Requested => "requested",
    }
}
