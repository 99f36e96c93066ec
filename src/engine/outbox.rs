//! The outbox: events for the host to deliver, globally or per tenant, their
//! acknowledgement, refused deliveries and dead letters.

use super::*;
use crate::store::{DeadLetter, DeliveryFailure};

impl<R: Repository, C: Clock> Engine<R, C> {
    /// Unacknowledged outbox events of every tenant, oldest first. The outbox is global:
    /// a host delivering per tenant uses [`Engine::tenant_outbox`].
    ///
    /// # Errors
    /// [`EngineError::Repository`].
    pub async fn outbox(&self, limit: usize) -> Result<Vec<OutboxEvent>, EngineError> {
        Ok(self.bounded(self.repository.outbox(limit)).await?)
    }

    /// The unacknowledged outbox events this engine delivers, oldest first, at most `limit`:
    /// every tenant's for a lone engine (as [`Engine::outbox`]); for worker `index` of
    /// `count` ([`EngineConfigBuilder::worker`](crate::EngineConfigBuilder::worker)), the
    /// events of its own tenants ([`Share::contains_tenant`]) and of the tenants it has taken
    /// over. A tenant whose oldest event has waited `steal_after` (its worker gone or behind)
    /// is taken over by one other worker, the next one after the owner; after another
    /// `steal_after`, by the one after that, and so on round the other workers (a
    /// `steal_after` of 0 counts as one second here). So with several runners each event is
    /// handed over by one of them and a tenant's events in the order read, in normal
    /// operation; a tenant taken over may be handed over by its own worker too, if that
    /// worker was only behind.
    ///
    /// Order: events are read in id order. On PostgreSQL two workers committing events of
    /// one tenant at the same moment can make a lower id visible after a higher one was
    /// read, so hosts that need strict order per tenant compare
    /// [`OutboxEvent::at`] or the deal's date, not only arrival.
    ///
    /// A lone engine reads the outbox once ([`Repository::outbox`], or
    /// [`Repository::outbox_except`] with tenants held back). A worker, or a lone engine that
    /// read an event waiting for its retry, costs two store reads: the oldest event of each of
    /// up to 10,000 tenants with events waiting ([`Repository::outbox_heads`], a pass over
    /// the waiting events), then the chosen tenants' events. A tenant past the 10,000 oldest waits until the others drain.
    ///
    /// # Errors
    /// [`EngineError::Repository`].
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use recurring_deals::{Engine, EngineConfig, InMemoryRepository, ManualClock};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
    /// let store = std::sync::Arc::new(InMemoryRepository::new());
    /// let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap());
    /// let worker = |index| {
    ///     let config = EngineConfig::builder().worker(index, 2).build().unwrap();
    ///     Engine::with_config(store.clone(), clock.clone(), config)
    /// };
    /// assert!(worker(0).worker_outbox(100).await?.is_empty());
    /// assert!(worker(1).worker_outbox(100).await?.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn worker_outbox(&self, limit: usize) -> Result<Vec<OutboxEvent>, EngineError> {
        self.worker_outbox_except(limit, &[]).await
    }

    /// [`Engine::worker_outbox`] without the events of the tenants in `held` (tenants whose
    /// delivery failed and waits for a retry: a [`crate::Runner`] holds back only the
    /// failing tenant's later events, not everyone's). Neither returns a tenant whose oldest
    /// event waits for its [`OutboxEvent::retry_at`].
    ///
    /// # Errors
    /// [`EngineError::Repository`].
    pub async fn worker_outbox_except(
        &self,
        limit: usize,
        held: &[TenantId],
    ) -> Result<Vec<OutboxEvent>, EngineError> {
        /// Tenants considered per call.
        const HEADS: usize = 10_000;
        let share = self.config.share();
        let now = self.clock.now();
        if share == Share::ALL {
            // One read, unless it finds an event waiting for its retry: then only the
            // tenants free to go, as below.
            let events = if held.is_empty() {
                self.outbox(limit).await?
            } else {
                let read = self.repository.outbox_except(held, limit);
                self.bounded(read).await?
            };
            if events.iter().all(|e| e.retry_at.is_none_or(|at| at <= now)) {
                return Ok(events);
            }
        }
        let heads = self.bounded(self.repository.outbox_heads(HEADS)).await?;
        let step = self.config.steal_after().max(TimeDelta::seconds(1));
        let tenants: Vec<TenantId> = heads
            .into_iter()
            .filter(|head| {
                !held.contains(&head.tenant)
                    && head.retry_at.is_none_or(|at| at <= now)
                    && delivers(share, &head.tenant, now - head.at, step)
            })
            .map(|head| head.tenant)
            .collect();
        if tenants.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self
            .bounded(self.repository.tenants_outbox(&tenants, limit))
            .await?)
    }

    /// Unacknowledged outbox events of one tenant, oldest first.
    ///
    /// # Errors
    /// [`EngineError::Repository`].
    pub async fn tenant_outbox(
        &self,
        tenant: &TenantId,
        limit: usize,
    ) -> Result<Vec<OutboxEvent>, EngineError> {
        Ok((self.bounded(self.repository.tenant_outbox(tenant, limit))).await?)
    }

    /// Acknowledges delivered events of any tenant (a dead letter acknowledged is discarded).
    ///
    /// # Errors
    /// [`EngineError::Repository`].
    pub async fn ack(&self, ids: &[u64]) -> Result<(), EngineError> {
        Ok(self.bounded(self.repository.ack(ids)).await?)
    }

    /// Records refused deliveries in one store call ([`Repository::record_failures`]): each
    /// event's attempts grow by one; an event with a `retry_at` waits until then (and its
    /// tenant's later events with it, on every worker), one without becomes a dead letter.
    /// A [`crate::Runner`] calls this; a host delivering by hand can too.
    ///
    /// # Errors
    /// [`EngineError::Repository`].
    pub async fn record_delivery_failures(
        &self,
        failures: &[DeliveryFailure],
    ) -> Result<(), EngineError> {
        Ok(self
            .bounded(self.repository.record_failures(failures))
            .await?)
    }

    /// A tenant's dead letters (events refused [`crate::RunnerConfig::max_attempts`] times),
    /// in outbox order, those with an id above `after`, at most `limit`: pass the last id of
    /// a page to read the next.
    ///
    /// # Errors
    /// [`EngineError::Repository`].
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use recurring_deals::{Engine, InMemoryRepository, ManualClock, TenantId};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
    /// let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap());
    /// let engine = Engine::new(InMemoryRepository::new(), clock);
    /// let acme = TenantId::new("acme")?;
    /// let page = engine.dead_letters(&acme, None, 50).await?;
    /// assert!(page.is_empty());
    /// // Back in the outbox after the receiver is fixed:
    /// let ids: Vec<u64> = page.iter().map(|letter| letter.event.id).collect();
    /// assert_eq!(engine.requeue_dead_letters(&acme, &ids).await?, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn dead_letters(
        &self,
        tenant: &TenantId,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, EngineError> {
        Ok(self
            .bounded(self.repository.dead_letters(tenant, after, limit))
            .await?)
    }

    /// Puts a tenant's dead letters back in the outbox at their old place, with no attempts:
    /// they are handed over again in the next round (before the tenant's later events only
    /// if those are still waiting). Returns how many of `ids` were the tenant's dead
    /// letters. To discard a dead letter instead, acknowledge it
    /// ([`Engine::tenant_ack`]).
    ///
    /// # Errors
    /// [`EngineError::Repository`].
    pub async fn requeue_dead_letters(
        &self,
        tenant: &TenantId,
        ids: &[u64],
    ) -> Result<u64, EngineError> {
        let requeued = self
            .bounded(self.repository.requeue_dead_letters(tenant, ids))
            .await?;
        if requeued > 0 {
            self.notify();
        }
        Ok(requeued)
    }

    /// Acknowledges delivered events of one tenant (other tenants' ids are ignored).
    ///
    /// # Errors
    /// [`EngineError::Repository`].
    pub async fn tenant_ack(&self, tenant: &TenantId, ids: &[u64]) -> Result<(), EngineError> {
        Ok((self.bounded(self.repository.tenant_ack(tenant, ids))).await?)
    }
}

/// Whether worker `share` delivers `tenant`, whose oldest event has waited `waited`: its
/// owner always; after `step`, one other worker, the next after the owner, then the next
/// one each further `step`, round the workers other than the owner.
fn delivers(share: Share, tenant: &TenantId, waited: TimeDelta, step: TimeDelta) -> bool {
    let count = share.count();
    if share.contains_tenant(tenant) {
        return true;
    }
    let stage = waited.num_milliseconds() / step.num_milliseconds().max(1);
    if stage < 1 || count < 2 {
        return false;
    }
    let owner = (0..count)
        .find(|i| Share::new(*i, count).is_some_and(|s| s.contains_tenant(tenant)))
        .unwrap_or(0);
    let others = i64::from(count - 1);
    let offset = (stage - 1) % others + 1;
    let taker = (i64::from(owner) + offset) % i64::from(count);
    taker == i64::from(share.index())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// At every moment a tenant has its owner and at most one taker; the taker moves round
    /// the other workers one `step` at a time.
    #[test]
    fn one_worker_takes_a_waiting_tenant_over_at_a_time() {
        let step = TimeDelta::seconds(30);
        for count in 2..=5u32 {
            for name in ["acme", "beta", "tenant-17", "Ромашка"] {
                let tenant = TenantId::new(name).unwrap();
                let shares: Vec<Share> =
                    (0..count).map(|i| Share::new(i, count).unwrap()).collect();
                let owner = shares
                    .iter()
                    .position(|s| s.contains_tenant(&tenant))
                    .unwrap();
                let mut takers = Vec::new();
                for seconds in [0, 29, 30, 59, 60, 90, 120, 150, 10_000] {
                    let waited = TimeDelta::seconds(seconds);
                    let who: Vec<usize> = (0..shares.len())
                        .filter(|i| delivers(shares[*i], &tenant, waited, step))
                        .collect();
                    assert!(who.contains(&owner), "{name}: the owner always delivers");
                    let others: Vec<usize> = who.into_iter().filter(|i| *i != owner).collect();
                    if seconds < 30 {
                        assert!(others.is_empty(), "{name} {seconds}s: {others:?}");
                    } else {
                        assert_eq!(others.len(), 1, "{name} {seconds}s of {count}: {others:?}");
                        takers.push(others[0]);
                    }
                }
                // The first taker is the next worker after the owner.
                assert_eq!(takers[0], (owner + 1) % count as usize);
                // Every other worker takes its turn once the wait is long enough.
                let mut turns = std::collections::BTreeSet::new();
                for stage in 1..i32::try_from(count).unwrap() * 2 {
                    let waited = step * stage;
                    for (i, share) in shares.iter().enumerate() {
                        if i != owner && delivers(*share, &tenant, waited, step) {
                            turns.insert(i);
                        }
                    }
                }
                assert_eq!(turns.len(), count as usize - 1, "{name} of {count}");
            }
        }
    }
}
