//! Engine settings, validated when built.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::TimeDelta;

use crate::engine::DealLimits;
use crate::ids::TenantId;
use crate::store::Share;

/// Engine settings. Built by [`EngineConfig::builder`], which checks every value; the
/// default is what a single engine over one store needs.
///
/// ```
/// use chrono::TimeDelta;
/// use recurring_deals::EngineConfig;
///
/// let config = EngineConfig::builder()
///     .batch_size(5_000)
///     .worker(1, 4)
///     .failure_retry(TimeDelta::seconds(30), TimeDelta::hours(1))
///     .build()?;
/// assert_eq!(config.worker_index(), 1);
/// assert!(EngineConfig::builder().batch_size(0).build().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    batch_size: usize,
    tenant_limits: BTreeMap<TenantId, u64>,
    default_tenant_limit: Option<u64>,
    retry_base: TimeDelta,
    retry_max: TimeDelta,
    commit_batch: usize,
    worker_index: usize,
    worker_count: usize,
    steal_after: TimeDelta,
    conflict_retry: ConflictRetry,
    max_preview: usize,
    deal_limits: DealLimits,
    store_timeout: Option<Duration>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            batch_size: 10_000,
            tenant_limits: BTreeMap::new(),
            default_tenant_limit: None,
            retry_base: TimeDelta::minutes(1),
            retry_max: TimeDelta::hours(6),
            commit_batch: 64,
            worker_index: 0,
            worker_count: 1,
            steal_after: TimeDelta::seconds(30),
            conflict_retry: ConflictRetry::default(),
            max_preview: 1_000,
            deal_limits: DealLimits::default(),
            store_timeout: Some(Duration::from_secs(30)),
        }
    }
}

impl EngineConfig {
    /// A builder starting from the defaults.
    pub fn builder() -> EngineConfigBuilder {
        EngineConfigBuilder {
            config: EngineConfig::default(),
        }
    }

    /// At most this many templates (and as many invoices) are processed per tick (default
    /// 10,000).
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// The limit of live (active or paused) templates of `tenant`, if any.
    pub fn tenant_limit(&self, tenant: &TenantId) -> Option<u64> {
        self.tenant_limits
            .get(tenant)
            .copied()
            .or(self.default_tenant_limit)
    }

    /// First retry delay after a failed commit (default 1 minute); doubled per consecutive
    /// failure up to [`EngineConfig::retry_max`].
    pub fn retry_base(&self) -> TimeDelta {
        self.retry_base
    }

    /// Longest retry delay after failed commits (default 6 hours).
    pub fn retry_max(&self) -> TimeDelta {
        self.retry_max
    }

    /// Templates written per store transaction (default 64).
    pub fn commit_batch(&self) -> usize {
        self.commit_batch
    }

    /// This engine's place among [`EngineConfig::worker_count`] engines (0-based).
    pub fn worker_index(&self) -> usize {
        self.worker_index
    }

    /// How many engines tick the store.
    pub fn worker_count(&self) -> usize {
        self.worker_count
    }

    /// How long another worker's due template waits before this one takes it (default 30
    /// seconds). See [`EngineConfigBuilder::worker`].
    pub fn steal_after(&self) -> TimeDelta {
        self.steal_after
    }

    /// This worker's share of the due templates ([`Share::ALL`] for a lone engine).
    pub fn share(&self) -> Share {
        // Both are checked by the builder: count ≤ 10,000 and index < count.
        Share::new(self.worker_index as u32, self.worker_count as u32).unwrap_or(Share::ALL)
    }

    /// How lifecycle operations retry after losing a race with another writer.
    pub fn conflict_retry(&self) -> ConflictRetry {
        self.conflict_retry
    }

    /// The longest a store call of a tick or of the outbox may take (default 30 seconds);
    /// `None`: no bound ([`EngineConfigBuilder::store_timeout`]).
    pub fn store_timeout(&self) -> Option<Duration> {
        self.store_timeout
    }

    /// The most deals one preview may ask for (default 1,000).
    pub fn max_preview(&self) -> usize {
        self.max_preview
    }

    /// Size limits of a template's deal.
    pub fn deal_limits(&self) -> DealLimits {
        self.deal_limits
    }

    /// The delay before retrying a template whose commit failed `attempts` times in a row:
    /// `retry_base × 2^(attempts − 1)`, at most `retry_max`. Never overflows.
    pub fn failure_delay(&self, attempts: u32) -> TimeDelta {
        let factor = 1i32
            .checked_shl(attempts.saturating_sub(1).min(30))
            .unwrap_or(i32::MAX);
        self.retry_base
            .checked_mul(factor)
            .map_or(self.retry_max, |delay| delay.min(self.retry_max))
    }
}

/// How lifecycle operations (pause, edit, skip, ...) retry when another writer changed the
/// template between their read and their write: up to `attempts` tries, waiting
/// `base × 2^(n − 1)` (at most `max`) before try n + 1. A durable store holds a template's
/// row while a worker's batch commit runs, so retrying at once could use up every try within
/// that commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConflictRetry {
    /// Tries in all (1 ..= 100).
    pub attempts: u32,
    /// First wait.
    pub base: Duration,
    /// Longest wait.
    pub max: Duration,
}

impl Default for ConflictRetry {
    fn default() -> Self {
        ConflictRetry {
            attempts: 8,
            base: Duration::from_millis(1),
            max: Duration::from_millis(50),
        }
    }
}

impl ConflictRetry {
    /// The wait after try `attempt` (1-based) lost a race.
    pub fn wait(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1).min(31))
            .unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.max)
    }
}

/// Builds an [`EngineConfig`], checking each value.
#[derive(Debug, Clone)]
pub struct EngineConfigBuilder {
    config: EngineConfig,
}

impl EngineConfigBuilder {
    /// At most `n` templates (and as many invoices) per tick; 1 ..= 1,000,000.
    pub fn batch_size(mut self, n: usize) -> Self {
        self.config.batch_size = n;
        self
    }

    /// Live templates allowed for `tenant`.
    pub fn tenant_limit(mut self, tenant: TenantId, limit: u64) -> Self {
        self.config.tenant_limits.insert(tenant, limit);
        self
    }

    /// Live templates allowed for tenants without a limit of their own.
    pub fn default_tenant_limit(mut self, limit: u64) -> Self {
        self.config.default_tenant_limit = Some(limit);
        self
    }

    /// Retry delays after failed commits: `base` doubled per consecutive failure, at most
    /// `max`; 1 second ≤ base ≤ max ≤ 30 days.
    pub fn failure_retry(mut self, base: TimeDelta, max: TimeDelta) -> Self {
        self.config.retry_base = base;
        self.config.retry_max = max;
        self
    }

    /// Templates written per store transaction; 1 ..= 10,000 (1: each on its own).
    pub fn commit_batch(mut self, n: usize) -> Self {
        self.config.commit_batch = n;
        self
    }

    /// This engine is worker `index` of `count` ticking one store. Each tick loads and
    /// commits the worker's own share of the due templates first ([`Share`]: ids with
    /// remainder `index` modulo `count`), so a template is read by one worker, not by all.
    /// When its share is done, the worker also takes the other shares' templates that have
    /// been due for longer than [`EngineConfigBuilder::steal_after`]: a worker that is gone
    /// or behind delays its share by that long, never stops it. `count` is 1 ..= 10,000 and
    /// `index < count`.
    pub fn worker(mut self, index: usize, count: usize) -> Self {
        self.config.worker_index = index;
        self.config.worker_count = count;
        self
    }

    /// How long another worker's due template waits before this worker takes it;
    /// 0 ..= 1 day (0: every worker reads every due template, as one engine does).
    pub fn steal_after(mut self, wait: TimeDelta) -> Self {
        self.config.steal_after = wait;
        self
    }

    /// How lifecycle operations retry after a lost race.
    pub fn conflict_retry(mut self, retry: ConflictRetry) -> Self {
        self.config.conflict_retry = retry;
        self
    }

    /// Size limits of a template's deal.
    pub fn deal_limits(mut self, limits: DealLimits) -> Self {
        self.config.deal_limits = limits;
        self
    }

    /// The longest any store call the engine makes may take: a tick's reads and commits, the
    /// outbox, lifecycle changes, views, terms changes and zone replans (default 30 seconds;
    /// 10 ms ..= 1 hour); `None`: no bound. Past it the call is dropped (a connection that
    /// stopped answering is dropped with it) and fails with
    /// [`crate::RepositoryError::Timeout`], so a worker goes on instead of hanging. The bound
    /// runs on tokio's timer: the runtime needs it enabled (`enable_time` or `enable_all`,
    /// as `#[tokio::main]` does); on a runtime without timers pass `None`.
    pub fn store_timeout(mut self, bound: Option<Duration>) -> Self {
        self.config.store_timeout = bound;
        self
    }

    /// The most deals one preview may ask for; 1 ..= 100,000.
    pub fn max_preview(mut self, n: usize) -> Self {
        self.config.max_preview = n;
        self
    }

    /// The settings.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first value out of its range.
    pub fn build(self) -> Result<EngineConfig, ConfigError> {
        let c = self.config;
        let range = |what: &'static str, value: usize, min: usize, max: usize| {
            if (min..=max).contains(&value) {
                Ok(())
            } else {
                Err(ConfigError::OutOfRange {
                    what,
                    value: value.to_string(),
                    accepted: format!("{min} ..= {max}"),
                })
            }
        };
        range("batch_size", c.batch_size, 1, 1_000_000)?;
        range("commit_batch", c.commit_batch, 1, 10_000)?;
        range("worker_count", c.worker_count, 1, 10_000)?;
        range("worker_index", c.worker_index, 0, c.worker_count - 1)?;
        range("max_preview", c.max_preview, 1, 100_000)?;
        range(
            "conflict_retry.attempts",
            c.conflict_retry.attempts as usize,
            1,
            100,
        )?;
        if c.conflict_retry.base > c.conflict_retry.max
            || c.conflict_retry.max > Duration::from_secs(60)
        {
            return Err(ConfigError::OutOfRange {
                what: "conflict_retry",
                value: format!(
                    "base {:?}, max {:?}",
                    c.conflict_retry.base, c.conflict_retry.max
                ),
                accepted: "base ≤ max ≤ 60 s".into(),
            });
        }
        if c.steal_after < TimeDelta::zero() || c.steal_after > TimeDelta::days(1) {
            return Err(ConfigError::OutOfRange {
                what: "steal_after",
                value: c.steal_after.to_string(),
                accepted: "0 ..= 1 day".into(),
            });
        }
        let (base, max) = (c.retry_base, c.retry_max);
        if base < TimeDelta::seconds(1) || base > max || max > TimeDelta::days(30) {
            return Err(ConfigError::OutOfRange {
                what: "failure_retry",
                value: format!("base {base}, max {max}"),
                accepted: "1 s ≤ base ≤ max ≤ 30 days".into(),
            });
        }
        if let Some(bound) = c.store_timeout
            && !(Duration::from_millis(10)..=Duration::from_secs(3_600)).contains(&bound)
        {
            return Err(ConfigError::OutOfRange {
                what: "store_timeout",
                value: format!("{bound:?}"),
                accepted: "10 ms ..= 1 hour, or None".into(),
            });
        }
        Ok(c)
    }
}

/// An engine setting out of its range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A value outside what is accepted.
    #[error("{what} must be {accepted}, got {value}")]
    OutOfRange {
        /// The setting.
        what: &'static str,
        /// The value given.
        value: String,
        /// What is accepted.
        accepted: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_knob_is_checked() {
        let err = |b: EngineConfigBuilder| b.build().unwrap_err().to_string();
        assert_eq!(
            err(EngineConfig::builder().batch_size(0)),
            "batch_size must be 1 ..= 1000000, got 0"
        );
        assert_eq!(
            err(EngineConfig::builder().worker(3, 3)),
            "worker_index must be 0 ..= 2, got 3"
        );
        assert_eq!(
            err(EngineConfig::builder().worker(0, usize::MAX)),
            "worker_count must be 1 ..= 10000, got 18446744073709551615"
        );
        assert!(
            err(EngineConfig::builder().failure_retry(TimeDelta::days(400), TimeDelta::days(500)))
                .starts_with("failure_retry must be 1 s ≤ base ≤ max ≤ 30 days")
        );
        assert_eq!(
            err(EngineConfig::builder().commit_batch(0)),
            "commit_batch must be 1 ..= 10000, got 0"
        );
        assert_eq!(
            err(EngineConfig::builder().store_timeout(Some(Duration::from_millis(1)))),
            "store_timeout must be 10 ms ..= 1 hour, or None, got 1ms"
        );
        assert!(EngineConfig::builder().store_timeout(None).build().is_ok());
    }

    #[test]
    fn delays_saturate_instead_of_overflowing() {
        let config = EngineConfig::builder()
            .failure_retry(TimeDelta::days(30), TimeDelta::days(30))
            .build()
            .unwrap();
        assert_eq!(config.failure_delay(u32::MAX), TimeDelta::days(30));
        assert_eq!(
            EngineConfig::default().failure_delay(1),
            TimeDelta::minutes(1)
        );
        assert_eq!(
            EngineConfig::default().failure_delay(3),
            TimeDelta::minutes(4)
        );
        assert_eq!(
            EngineConfig::default().failure_delay(40),
            TimeDelta::hours(6)
        );
        let retry = ConflictRetry::default();
        assert_eq!(retry.wait(1), Duration::from_millis(1));
        assert_eq!(retry.wait(3), Duration::from_millis(4));
        assert_eq!(retry.wait(u32::MAX), Duration::from_millis(50));
    }
}
