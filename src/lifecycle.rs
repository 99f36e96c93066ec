//! The template lifecycle as pure transitions: each takes the template as stored and `now`,
//! and returns the change to commit (or that nothing changes). No store, no clock: the
//! engine loads, calls one of these, and commits the result with a version check, retrying
//! on a lost race.
//!
//! A transition that returns a change has already recomputed the template's next run, and
//! finishes a template whose series has nothing left (announcing it in the change's events).

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Utc};

use crate::deal::Deal;
use crate::error::ScheduleError;
use crate::event::NewEvent;
use crate::ids::TemplateId;
use crate::planner;
use crate::schedule::{End, Occurrence, Schedule};
use crate::template::{Template, TemplateState};
use crate::zone::resolve_local;

/// A lifecycle change: the template's new state (same version: the store bumps it on
/// commit) and the events it announces.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Change {
    /// The template as it is to be stored.
    pub template: Template,
    /// Events to write with it (a template finished by the change announces it).
    pub events: Vec<NewEvent>,
}

/// Why a lifecycle transition cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LifecycleError {
    /// The template's series is over; it cannot be changed (create a new one).
    #[error("template {0} is finished and cannot be changed")]
    Finished(TemplateId),
    /// An occurrence that does not exist among the template's coming occurrences.
    #[error("template {template} has no occurrence {seq} in its schedule")]
    NoSuchOccurrence {
        /// The template.
        template: TemplateId,
        /// The seq asked for.
        seq: u64,
    },
    /// The template has already processed its occurrences up to this local time: an
    /// occurrence there cannot be moved, and nothing can be moved there.
    #[error("template {template} has already processed its occurrences up to {local}")]
    AlreadyProcessed {
        /// The template.
        template: TemplateId,
        /// The local date-time asked for.
        local: NaiveDateTime,
    },
    /// The schedule change is invalid.
    #[error("invalid schedule change")]
    Schedule(#[source] ScheduleError),
}

/// How far ahead [`Template::skip_occurrence`] looks for the occurrence asked for.
const SKIP_LOOK_AHEAD: usize = 100_000;

impl Template {
    /// Pauses the template: nothing is created until it is resumed, by hand or on
    /// `resume_on` (a civil date in the schedule's zone). `None` when already paused.
    ///
    /// Call it on a settled template (nothing due at `now`): what fell due while it was
    /// active must be created first, which the engine does.
    ///
    /// # Errors
    /// [`LifecycleError::Finished`].
    pub fn pause(
        &self,
        note: &str,
        resume_on: Option<NaiveDate>,
        now: DateTime<Utc>,
    ) -> Result<Option<Change>, LifecycleError> {
        match self.state {
            TemplateState::Finished => Err(LifecycleError::Finished(self.id)),
            TemplateState::Paused { .. } => Ok(None),
            TemplateState::Active | TemplateState::Inactive => {
                let mut next = self.clone();
                next.state = TemplateState::Paused {
                    note: note.to_owned(),
                    resume_on,
                };
                Ok(Some(next.changed(now)))
            }
        }
    }

    /// Resumes a paused or inactive template. By its [`crate::ResumePolicy`], the
    /// occurrences of the paused span are skipped (recorded as `paused`) or caught up.
    /// `None` when already active.
    ///
    /// # Errors
    /// [`LifecycleError::Finished`].
    pub fn resume(&self, now: DateTime<Utc>) -> Result<Option<Change>, LifecycleError> {
        match self.state {
            TemplateState::Finished => Err(LifecycleError::Finished(self.id)),
            TemplateState::Active => Ok(None),
            TemplateState::Paused { .. } | TemplateState::Inactive => {
                let mut next = self.clone();
                planner::resume(&mut next, now);
                Ok(Some(next.changed(now)))
            }
        }
    }

    /// Switches the template off until it is activated (resumed). `None` when already
    /// inactive. Call it on a settled template, as [`Template::pause`].
    ///
    /// # Errors
    /// [`LifecycleError::Finished`].
    pub fn deactivate(&self, now: DateTime<Utc>) -> Result<Option<Change>, LifecycleError> {
        match self.state {
            TemplateState::Finished => Err(LifecycleError::Finished(self.id)),
            TemplateState::Inactive => Ok(None),
            TemplateState::Active | TemplateState::Paused { .. } => {
                let mut next = self.clone();
                next.state = TemplateState::Inactive;
                Ok(Some(next.changed(now)))
            }
        }
    }

    /// Replaces the schedule from the next occurrence on, as a new revision: deals already
    /// created are untouched, and the count carries over (a count on the new schedule is the
    /// number of deals still to create). The new revision starts after `now` and after the
    /// civil day of the last occurrence the old revision processed (in the new schedule's
    /// zone), so no civil date gets a second scheduled deal, even if the clock was set back.
    ///
    /// Call it on a settled template, as [`Template::pause`].
    ///
    /// # Errors
    /// [`LifecycleError::Finished`]; [`LifecycleError::Schedule`].
    pub fn edit_schedule(
        &self,
        schedule: &Schedule,
        now: DateTime<Utc>,
    ) -> Result<Change, LifecycleError> {
        if self.state == TemplateState::Finished {
            return Err(LifecycleError::Finished(self.id));
        }
        let (schedule, count) = match schedule.end() {
            End::Count(n) => (
                schedule
                    .with_end(End::Never)
                    .map_err(LifecycleError::Schedule)?,
                Some(u64::from(n)),
            ),
            _ => (schedule.clone(), None),
        };
        let mut next = self.clone();
        if let Some(count) = count {
            next.limit = Some(next.counters.created_by_schedule.saturating_add(count));
        }
        let floor = self.cursor.map(|cursor| {
            let day = self.schedule.today(cursor);
            day.succ_opt().map_or(cursor, |following| {
                resolve_local(schedule.zone(), following.and_time(NaiveTime::MIN))
                    - TimeDelta::seconds(1)
            })
        });
        next.cursor = Some(floor.map_or(now, |floor| floor.max(now)));
        next.schedule = schedule;
        next.revision = next.revision.saturating_add(1);
        next.skip_requests.clear();
        next.skip_through = None;
        next.noticed_through = None;
        Ok(next.changed(now))
    }

    /// Replaces the template deal; deals already created are untouched. The deal must be
    /// valid ([`Deal::validate`]).
    ///
    /// # Errors
    /// [`LifecycleError::Finished`].
    pub fn edit_deal(&self, deal: &Deal, now: DateTime<Utc>) -> Result<Change, LifecycleError> {
        if self.state == TemplateState::Finished {
            return Err(LifecycleError::Finished(self.id));
        }
        let mut next = self.clone();
        next.deal = deal.clone();
        Ok(next.changed(now))
    }

    /// The next occurrence not yet processed nor skipped on request.
    pub fn next_occurrence(&self) -> Option<Occurrence> {
        self.schedule
            .occurrences_after(self.cursor.unwrap_or(DateTime::<Utc>::MIN_UTC))
            .find(|o| !self.skip_requests.contains(&o.seq()))
    }

    /// Skips the occurrence `seq` of the current revision (recorded with reason
    /// `requested`; it does not use up the count). `None` when it is already skipped.
    ///
    /// # Errors
    /// [`LifecycleError::Finished`]; [`LifecycleError::NoSuchOccurrence`] when `seq` is not
    /// among the next 100,000 coming occurrences (moved occurrences included, whatever
    /// their order in time).
    pub fn skip_occurrence(
        &self,
        seq: u64,
        now: DateTime<Utc>,
    ) -> Result<Option<Change>, LifecycleError> {
        if self.state == TemplateState::Finished {
            return Err(LifecycleError::Finished(self.id));
        }
        if self.skip_requests.contains(&seq) {
            return Ok(None);
        }
        let after = self.cursor.unwrap_or(DateTime::<Utc>::MIN_UTC);
        let exists = self
            .schedule
            .occurrences_after(after)
            .take(SKIP_LOOK_AHEAD)
            .any(|o| o.seq() == seq);
        if !exists {
            return Err(LifecycleError::NoSuchOccurrence {
                template: self.id,
                seq,
            });
        }
        let mut next = self.clone();
        next.skip_requests.insert(seq);
        Ok(Some(next.changed(now)))
    }

    /// Moves the occurrence on `date` to another local date and time; it keeps its key.
    ///
    /// # Errors
    /// [`LifecycleError::Finished`]; [`LifecycleError::AlreadyProcessed`] when the
    /// occurrence or its new time is at or before what the engine has processed;
    /// [`LifecycleError::Schedule`] when `date` is not an occurrence or `to` collides with
    /// one.
    pub fn move_occurrence(
        &self,
        date: NaiveDate,
        to: NaiveDateTime,
        now: DateTime<Utc>,
    ) -> Result<Change, LifecycleError> {
        if self.state == TemplateState::Finished {
            return Err(LifecycleError::Finished(self.id));
        }
        // The engine has passed everything up to its cursor: an occurrence there was
        // already created or skipped, and one moved there would never be seen.
        if let Some(cursor) = self.cursor {
            let zone = self.schedule.zone();
            let from = date.and_time(self.schedule.time());
            for local in [from, to] {
                if resolve_local(zone, local) <= cursor {
                    return Err(LifecycleError::AlreadyProcessed {
                        template: self.id,
                        local,
                    });
                }
            }
        }
        let mut next = self.clone();
        next.schedule = self
            .schedule
            .with_move(date, to)
            .map_err(LifecycleError::Schedule)?;
        Ok(next.changed(now))
    }

    /// The change that finishes a template created with nothing left in its series (a
    /// series entirely in the past); `None` when it has a next run.
    pub(crate) fn finish_if_over(&self, now: DateTime<Utc>) -> Option<Change> {
        (self.state == TemplateState::Active && self.next_run.is_none())
            .then(|| self.clone().changed(now))
    }

    /// Completes a transition: the next run from the new state, and the end of a series
    /// with nothing left (an active template with no next run is finished and announced,
    /// rather than left active with no next run forever).
    fn changed(mut self, now: DateTime<Utc>) -> Change {
        self.next_run = next_run(&self);
        let mut events = Vec::new();
        if self.state == TemplateState::Active && self.next_run.is_none() {
            self.state = TemplateState::Finished;
            events.push(planner::finished_event(&self, now));
        }
        Change {
            template: self,
            events,
        }
    }
}

/// When a template next has work, from its state alone (after a lifecycle change).
pub(crate) fn next_run(template: &Template) -> Option<DateTime<Utc>> {
    match &template.state {
        TemplateState::Active => planner::first_run(template),
        TemplateState::Paused {
            resume_on: Some(date),
            ..
        } => Some(resolve_local(
            template.schedule.zone(),
            date.and_time(NaiveTime::MIN),
        )),
        _ => None,
    }
}
