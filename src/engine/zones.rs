//! Next runs planned again when the zone rules in use differ from those a store's next runs
//! were planned with (a tzdb release that moved a zone's offsets, or a host's reload).

use std::sync::atomic::Ordering;

use super::*;
use crate::store::{PlannedZone, RecordedRules};
use crate::zone::Zone;

/// What [`Engine::replan_zones`] did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ZoneReplan {
    /// The tzdb release of the rules in use ([`crate::tz::tzdb_version`]).
    pub tzdb: String,
    /// The zones this engine recorded under the rules in use, in the order handled: those
    /// whose rules differed from the recorded ones, or had none recorded. Of several
    /// workers, each zone is reported by the one that recorded it.
    pub zones: Vec<ZoneReplanned>,
    /// Templates written before the store kept zones (schema version 4), planned again and
    /// given their zone.
    pub unzoned: usize,
    /// Templates whose next run this engine moved, in all.
    pub moved: usize,
    /// Templates read and checked, in all.
    pub checked: usize,
    /// Stored zone names the rules in use lack: their templates keep their next runs (and
    /// fail to load until rules that have them are loaded).
    pub unknown: Vec<String>,
}

impl ZoneReplan {
    /// Whether it changed or recorded anything.
    pub fn is_empty(&self) -> bool {
        self.zones.is_empty() && self.unzoned == 0 && self.moved == 0 && self.unknown.is_empty()
    }
}

/// One zone of a [`ZoneReplan`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ZoneReplanned {
    /// The IANA name.
    pub zone: String,
    /// The tzdb release recorded before (`None`: nothing was recorded, as for a store
    /// written before it kept zone rules, or a zone first used since the last check).
    pub previous: Option<String>,
    /// Templates of the zone whose next run this engine moved.
    pub moved: usize,
}

impl<R: Repository, C: Clock> Engine<R, C> {
    /// Plans again the next runs (and so the due index) of the templates whose zone's rules
    /// differ from those the store recorded, then records the rules in use. [`Engine::tick`]
    /// calls it on its first run and after every [`crate::tz::load`], before it loads due
    /// work, so a host rarely calls it itself.
    ///
    /// Templates are read a page of [`EngineConfig::batch_size`] at a time and committed in
    /// batches with a version check: a template another writer changed meanwhile is read
    /// again. Deals already created are never touched. When the new rules put an occurrence
    /// already created after the template's cursor again (its instant moved later), the
    /// cursor moves past it, so it is not planned twice (and a deal's key would refuse it
    /// anyway); an occurrence *skipped* under the old rules is not looked up and is decided
    /// again. Of several workers running it at once, each template is moved by one and each
    /// zone reported by one (a compare-and-set on the recorded rules).
    ///
    /// ```
    /// use recurring_deals::*;
    /// use chrono::{TimeZone, Utc};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
    /// let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
    /// let engine = Engine::new(InMemoryRepository::new(), clock);
    /// let replan = engine.replan_zones().await?;
    /// assert_eq!(replan.tzdb, tz::tzdb_version());
    /// assert!(replan.is_empty()); // no templates, nothing to plan
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`EngineError::Repository`] when the store fails; what was committed before stays
    /// committed, and the next call goes on from there.
    pub async fn replan_zones(&self) -> Result<ZoneReplan, EngineError> {
        let generation = crate::zone::rules::generation();
        let report = instrumented!(self.replan_all(), tracing::Level::INFO, "replan_zones").await?;
        self.rules_seen.store(generation, Ordering::Release);
        observe::zones_replanned(&report);
        Ok(report)
    }

    /// Records the rules in use for `zone` when the store has none recorded for it (the
    /// first template in the zone), so the next engine to open the store need not check
    /// the zone's templates. Once per zone and set of rules per engine; a zone whose record
    /// failed is tried again with the next template in it.
    pub(super) async fn record_new_zone(
        &self,
        zone: Zone,
        now: DateTime<Utc>,
    ) -> Result<(), EngineError> {
        let generation = crate::zone::rules::generation();
        {
            let mut seen = self
                .zones_recorded
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if seen.0 != generation {
                *seen = (generation, std::collections::HashSet::new());
            }
            if !seen.1.insert(zone.name()) {
                return Ok(());
            }
        }
        let rules = RecordedRules {
            fingerprint: zone.rules_fingerprint(),
            tzdb: crate::zone::rules::tzdb_version(),
            at: now,
        };
        // Recorded already (under these rules or others): left as it is; the first tick
        // compares.
        let recorded = self.bounded(self.repository.record_zone_rules(zone.name(), None, &rules));
        if let Err(error) = recorded.await {
            let mut seen = self
                .zones_recorded
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            seen.1.remove(zone.name());
            return Err(error.into());
        }
        Ok(())
    }

    /// Runs [`Engine::replan_zones`] when the rules in use changed since it last ran (or it
    /// never ran).
    pub(super) async fn replan_if_rules_changed(&self) -> Result<Option<ZoneReplan>, EngineError> {
        if self.rules_seen.load(Ordering::Acquire) == crate::zone::rules::generation() {
            return Ok(None);
        }
        self.replan_zones().await.map(Some)
    }

    async fn replan_all(&self) -> Result<ZoneReplan, EngineError> {
        let mut report = ZoneReplan {
            tzdb: crate::zone::rules::tzdb_version(),
            ..ZoneReplan::default()
        };
        let mut planned = self.bounded(self.repository.planned_zones()).await?;
        if planned.iter().any(|p| p.zone.is_none()) {
            // Rows of an older schema: plan them again, which writes their zone; then their
            // zones are seen (and recorded) below.
            let (moved, checked) = self.replan_zone(None).await?;
            report.unzoned = checked;
            report.moved += moved;
            report.checked += checked;
            planned = self.bounded(self.repository.planned_zones()).await?;
        }
        for PlannedZone { zone, recorded, .. } in planned {
            let Some(name) = zone else { continue };
            let Ok(zone) = Zone::get(&name) else {
                report.unknown.push(name);
                continue;
            };
            let fingerprint = zone.rules_fingerprint();
            let expected = recorded.as_ref().map(|r| r.fingerprint);
            if expected == Some(fingerprint) {
                continue;
            }
            let (moved, checked) = self.replan_zone(Some(&name)).await?;
            report.moved += moved;
            report.checked += checked;
            let rules = RecordedRules {
                fingerprint,
                tzdb: report.tzdb.clone(),
                at: self.clock.now(),
            };
            if (self.repository)
                .record_zone_rules(&name, expected, &rules)
                .await?
            {
                report.zones.push(ZoneReplanned {
                    zone: name,
                    previous: recorded.map(|r| r.tzdb),
                    moved,
                });
            }
        }
        Ok(report)
    }

    /// Plans again every template of `zone` (`None`: rows without one, each rewritten);
    /// returns how many moved and how many were checked.
    async fn replan_zone(&self, zone: Option<&str>) -> Result<(usize, usize), EngineError> {
        let (mut moved, mut checked) = (0, 0);
        let mut after = None;
        loop {
            let page = (self.repository)
                .zone_templates(zone, after, self.config.batch_size())
                .await?;
            checked += page.items.len();
            let mut pending: Vec<Template> = page.items;
            // A template another writer changed is read again, a bounded number of times.
            for _ in 0..self.config.conflict_retry().attempts.max(1) {
                let mut commits = Vec::new();
                for template in &pending {
                    if let Some(moved) = replanned(template, zone.is_none()) {
                        commits.push(self.past_created(moved).await?);
                    }
                }
                if commits.is_empty() {
                    break;
                }
                let mut conflicted = Vec::new();
                for chunk in commits.chunks(self.config.commit_batch().max(1)) {
                    let ids: Vec<(TenantId, TemplateId)> =
                        chunk.iter().map(|t| (t.tenant.clone(), t.id)).collect();
                    let batch = chunk.iter().cloned().map(Commit::template_only).collect();
                    let outcomes = self.bounded_batch(batch).await;
                    for ((tenant, id), outcome) in ids.into_iter().zip(outcomes) {
                        match outcome? {
                            CommitOutcome::Committed { .. } => moved += 1,
                            CommitOutcome::Conflict => conflicted.push((tenant, id)),
                            _ => {}
                        }
                    }
                }
                pending = Vec::new();
                for (tenant, id) in conflicted {
                    if let Some(t) = self.bounded(self.repository.template(&tenant, id)).await? {
                        pending.push(t);
                    }
                }
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        if moved > 0 {
            self.notify();
        }
        Ok((moved, checked))
    }
}

impl<R: Repository, C: Clock> Engine<R, C> {
    /// `template` with its cursor moved past the occurrences right after it whose deals are
    /// already created: under rules that put instants later, the occurrence the cursor
    /// stood on comes after it again. Its next run is planned from there.
    async fn past_created(&self, mut template: Template) -> Result<Template, EngineError> {
        if template.state != TemplateState::Active || template.failure.is_some() {
            return Ok(template);
        }
        let Some(cursor) = template.cursor else {
            return Ok(template);
        };
        let mut advanced = cursor;
        // A handful: offsets change by hours, and occurrences are at least a day apart.
        for occurrence in template.schedule.occurrences_after(cursor).take(4) {
            let key = DealKey::Scheduled {
                template: template.id,
                revision: template.revision,
                seq: occurrence.seq(),
            };
            if occurrence.at() > cursor + TimeDelta::days(2)
                || self
                    .bounded(self.repository.deal(&template.tenant, key))
                    .await?
                    .is_none()
            {
                break;
            }
            advanced = occurrence.at();
        }
        if advanced != cursor {
            template.cursor = Some(advanced);
            template.next_run = lifecycle::next_run(&template).or(template.next_run);
        }
        Ok(template)
    }
}

/// The template with its next run planned under the rules in use, when that moves it (or
/// always, with `rewrite`). A template retrying a failed commit keeps its retry time.
fn replanned(template: &Template, rewrite: bool) -> Option<Template> {
    let next_run = if template.failure.is_some() {
        template.next_run
    } else {
        match template.state {
            // No next run under the new rules (the series ended): the tick that comes due
            // finishes the template, with its event, so the stored one is kept.
            TemplateState::Active | TemplateState::Paused { .. } => {
                lifecycle::next_run(template).or(template.next_run)
            }
            _ => template.next_run,
        }
    };
    if next_run == template.next_run && !rewrite {
        return None;
    }
    let mut next = template.clone();
    next.next_run = next_run;
    Some(next)
}
