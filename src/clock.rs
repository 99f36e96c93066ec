//! Clocks: the only place the crate reads the wall clock.
//!
//! Everything else takes time as an argument, so hosts and tests drive the engine
//! deterministically with a [`ManualClock`] (like Stripe's test clocks or Kill Bill's clock).

use std::future::Future;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::Notify;

/// A source of the current instant, and a timer on the same time line.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;

    /// Completes when `deadline` comes, as this clock's time line goes (at once if
    /// [`Clock::now`] is at or past it). The run loop ([`crate::Runner`]) sleeps through it
    /// and reads [`Clock::now`] again when it wakes, so a [`ManualClock`] drives a runner
    /// deterministically: its sleepers wake when it is moved, never by wall time.
    ///
    /// The provided method measures the distance to `deadline` once, with [`Clock::now`],
    /// and sleeps that long on tokio's timer, which runs on monotonic time: a wall clock
    /// stepped back or forward meanwhile neither stretches nor shortens the sleep, so a
    /// runner's wake-up is off by at most its `max_sleep`, never by the size of the step.
    fn sleep_until(&self, deadline: DateTime<Utc>) -> impl Future<Output = ()> + Send {
        async move {
            if let Ok(left) = (deadline - self.now()).to_std() {
                tokio::time::sleep(left).await;
            }
        }
    }
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    // The one place the crate reads the wall clock.
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
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
    moved: Arc<Notify>,
}

impl ManualClock {
    /// A clock showing `now`.
    pub fn new(now: DateTime<Utc>) -> ManualClock {
        ManualClock {
            now: Arc::new(Mutex::new(now)),
            moved: Arc::new(Notify::new()),
        }
    }

    /// Sets the time.
    pub fn set(&self, now: DateTime<Utc>) {
        *self.lock() = now;
        self.moved.notify_waiters();
    }

    /// Moves the time by `delta`.
    pub fn advance(&self, delta: TimeDelta) {
        {
            let mut now = self.lock();
            *now = now.checked_add_signed(delta).unwrap_or(*now);
        }
        self.moved.notify_waiters();
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

    /// Completes when the clock is moved to or past `deadline`; wall time plays no part.
    async fn sleep_until(&self, deadline: DateTime<Utc>) {
        loop {
            let moved = self.moved.notified();
            tokio::pin!(moved);
            // Registered before the check, so a move between the check and the wait is not
            // missed.
            moved.as_mut().enable();
            if self.now() >= deadline {
                return;
            }
            moved.await;
        }
    }
}
