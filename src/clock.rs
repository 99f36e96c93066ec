//! Clocks: the only place the crate reads the wall clock.
//!
//! Everything else takes time as an argument, so hosts and tests drive the engine
//! deterministically with a [`ManualClock`] (like Stripe's test clocks or Kill Bill's clock).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

/// A source of the current instant.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;

    /// Waits before retry `attempt` (1, 2, ...) of a write that lost a race with another
    /// writer. A durable store holds a template's row for as long as a worker's batch commit
    /// runs, so retrying at once could use up every attempt within that commit; the
    /// [`SystemClock`] sleeps a few milliseconds, doubling per attempt. The default returns at
    /// once, which keeps a [`ManualClock`]'s runs instant and deterministic.
    fn wait_before_retry(&self, attempt: u32) {
        let _ = attempt;
    }
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    /// Sleeps 1, 2, 4, ... milliseconds, at most 50.
    fn wait_before_retry(&self, attempt: u32) {
        let millis = 1u64
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u64::MAX);
        std::thread::sleep(Duration::from_millis(millis.min(50)));
    }
}

/// A clock that moves only when told; clones share the same time.
///
/// ```
/// use chrono::{TimeDelta, TimeZone, Utc};
/// use recurring_deals::{Clock, ManualClock};
///
/// let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
/// let shared = clock.clone();
/// clock.advance(TimeDelta::days(1));
/// assert_eq!(shared.now(), Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap());
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl ManualClock {
    /// A clock showing `now`.
    pub fn new(now: DateTime<Utc>) -> ManualClock {
        ManualClock {
            now: Arc::new(Mutex::new(now)),
        }
    }

    /// Sets the time.
    pub fn set(&self, now: DateTime<Utc>) {
        *self.lock() = now;
    }

    /// Moves the time by `delta`.
    pub fn advance(&self, delta: TimeDelta) {
        let mut now = self.lock();
        *now = now.checked_add_signed(delta).unwrap_or(*now);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DateTime<Utc>> {
        // A poisoned lock still holds a valid instant: keep using it.
        self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.lock()
    }
}
