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
use crate::validation::ValidationError;
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
    /// The change is refused by the value rules.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
}

/// The bounds of a pause's note and resume date ([`crate::limits::NOTE_BYTES`], the
/// supported dates), checked before anything is read or written.
pub(crate) fn check_pause(note: &str, resume_on: Option<NaiveDate>) -> Result<(), ValidationError> {
    crate::validation::at_most("pause note", note.len(), crate::limits::NOTE_BYTES, "bytes")?;
    if let Some(date) = resume_on {
        crate::validation::supported("resume date", date)?;
    }
    Ok(())
}

/// The dates of a move are in the supported years, checked before anything is read or
/// written.
pub(crate) fn check_move(date: NaiveDate, to: NaiveDateTime) -> Result<(), ValidationError> {
    crate::validation::supported("occurrence date", date)?;
    crate::validation::supported("new occurrence date", to.date())
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
    /// [`LifecycleError::Finished`]; [`LifecycleError::Invalid`] for a note over
    /// [`crate::limits::NOTE_BYTES`] or a resume date outside 1900..=2199.
    pub fn pause(
        &self,
        note: &str,
        resume_on: Option<NaiveDate>,
        now: DateTime<Utc>,
    ) -> Result<Option<Change>, LifecycleError> {
        check_pause(note, resume_on)?;
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
    /// Renewal notices already sent (or skipped) are not sent again under the new revision:
    /// re-applying the same schedule, even at the instant a notice fell due, sends nothing.
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
        // The notices already handled stay handled: an occurrence of the new schedule at or
        // before the last one announced for a lead is past its notice time (or the clock was
        // set back since it was sent), and a host must not get one twice (issue #20, kind 7).
        planner::skip_past_notices(&mut next, now);
        Ok(next.changed(now))
    }

    /// Replaces the template deal; deals already created are untouched, and the terms
    /// revisions of terms changes still apply from their dates. The deal must be valid
    /// ([`Deal::validate`]).
    ///
    /// # Errors
    /// [`LifecycleError::Finished`]; [`LifecycleError::Invalid`] with
    /// [`ValidationError::TermsCurrency`] when the deal's currency differs from a terms
    /// revision's amount or product rows.
    pub fn edit_deal(&self, deal: &Deal, now: DateTime<Utc>) -> Result<Change, LifecycleError> {
        if self.state == TemplateState::Finished {
            return Err(LifecycleError::Finished(self.id));
        }
        let currency = deal.amount().currency;
        for revision in self.terms_revisions() {
            let amounts = revision.amount().map(|m| m.currency);
            let rows = revision.products().unwrap_or_default().iter();
            if let Some(terms) = amounts
                .into_iter()
                .chain(rows.map(|r| r.price.currency))
                .find(|&c| c != currency)
            {
                return Err(ValidationError::TermsCurrency {
                    deal: currency,
                    terms,
                    effective: revision.effective(),
                }
                .into());
            }
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
        crate::validation::at_most(
            "occurrences waiting to be skipped",
            self.skip_requests.len() + 1,
            crate::limits::SKIP_REQUESTS,
            "items",
        )?;
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
        check_move(date, to)?;
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

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone};

    use super::*;
    use crate::deal::{Currency, Money};
    use crate::ids::TenantId;
    use crate::schedule::recurrence::{DayOfMonth, Interval, MonthDay, Recurrence};
    use crate::template::TemplateDraft;

    fn utc(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
    }

    fn local(y: i32, m: u32, d: u32, h: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(h, 0, 0)
            .unwrap()
    }

    /// A stored template (as `create_template` makes it) of `schedule`, created at `now`.
    fn template(recurrence: Recurrence, start: NaiveDateTime) -> Template {
        let schedule = Schedule::builder(recurrence, start, crate::zone::Zone::UTC)
            .build()
            .unwrap();
        let deal = Deal::new("Support", Money::new(100, Currency::new("EUR").unwrap())).unwrap();
        let mut template = TemplateDraft::new(deal, schedule)
            .into_template(TenantId::new("acme").unwrap(), TemplateId(1))
            .unwrap();
        template.next_run = next_run(&template);
        template
    }

    fn daily() -> Template {
        template(Recurrence::daily(Interval::ONE), local(2026, 3, 1, 9))
    }

    #[test]
    fn pause_and_resume_change_only_what_they_must() {
        let now = utc(2026, 3, 1, 0);
        let active = daily();
        let resume_on = NaiveDate::from_ymd_opt(2026, 3, 10);
        let paused = active.pause("holiday", resume_on, now).unwrap().unwrap();
        assert_eq!(
            paused.template.state,
            TemplateState::Paused {
                note: "holiday".into(),
                resume_on,
            }
        );
        // A paused template wakes on its resume date, at the start of that day in its zone.
        assert_eq!(paused.template.next_run, Some(utc(2026, 3, 10, 0)));
        assert!(paused.events.is_empty());
        assert_eq!(paused.template.pause("again", None, now), Ok(None));
        let resumed = paused.template.resume(now).unwrap().unwrap();
        assert_eq!(resumed.template.state, TemplateState::Active);
        assert_eq!(resumed.template.next_run, Some(utc(2026, 3, 1, 9)));
        assert_eq!(active.resume(now), Ok(None));
        let off = active.deactivate(now).unwrap().unwrap();
        assert_eq!(
            (off.template.state.clone(), off.template.next_run),
            (TemplateState::Inactive, None)
        );
        assert_eq!(off.template.deactivate(now), Ok(None));
    }

    #[test]
    fn a_finished_template_refuses_every_change() {
        let mut finished = daily();
        finished.state = TemplateState::Finished;
        let now = utc(2026, 3, 1, 0);
        let refused = Err(LifecycleError::Finished(TemplateId(1)));
        assert_eq!(finished.pause("x", None, now), refused);
        assert_eq!(finished.resume(now), refused);
        assert_eq!(finished.deactivate(now), refused);
        assert_eq!(finished.skip_occurrence(3, now), refused);
        assert_eq!(
            finished.edit_schedule(&daily().schedule, now).map(|_| ()),
            Err(LifecycleError::Finished(TemplateId(1)))
        );
    }

    #[test]
    fn an_edit_after_the_clock_went_back_does_not_reopen_processed_days() {
        // The old revision processed through Mar 10 09:00; the host's clock is then set back
        // to Mar 5. The new revision (daily at 10:00) starts after Mar 10, not Mar 5: the
        // days Mar 5..10 already have their deals.
        let mut template = daily();
        template.cursor = Some(utc(2026, 3, 10, 9));
        let at_ten = Schedule::builder(
            Recurrence::daily(Interval::ONE),
            local(2026, 3, 1, 10),
            crate::zone::Zone::UTC,
        )
        .build()
        .unwrap();
        let change = template.edit_schedule(&at_ten, utc(2026, 3, 5, 0)).unwrap();
        assert_eq!(change.template.revision, 1);
        assert_eq!(change.template.next_run, Some(utc(2026, 3, 11, 10)));
        // With the clock ahead of the cursor, the new revision starts now.
        let change = template
            .edit_schedule(&at_ten, utc(2026, 3, 20, 12))
            .unwrap();
        assert_eq!(change.template.next_run, Some(utc(2026, 3, 21, 10)));
    }

    #[test]
    fn skip_finds_an_occurrence_moved_past_later_ones() {
        // Monthly on the 1st; Feb 1 (seq 1) moved to Mar 5, after Mar 1 (seq 2).
        let monthly = template(
            Recurrence::monthly(Interval::ONE, MonthDay::Day(DayOfMonth::new(1).unwrap())),
            local(2026, 1, 1, 9),
        );
        let now = utc(2026, 1, 2, 0);
        let moved = monthly
            .move_occurrence(
                NaiveDate::from_ymd_opt(2026, 2, 1).unwrap(),
                local(2026, 3, 5, 9),
                now,
            )
            .unwrap()
            .template;
        let skipped = moved.skip_occurrence(1, now).unwrap().unwrap();
        assert!(skipped.template.skip_requests.contains(&1));
        assert_eq!(
            moved.skip_occurrence(999_999, now),
            Err(LifecycleError::NoSuchOccurrence {
                template: TemplateId(1),
                seq: 999_999
            })
        );
    }

    #[test]
    fn nothing_moves_into_or_out_of_processed_time() {
        let mut template = daily();
        template.cursor = Some(utc(2026, 3, 10, 9));
        let now = utc(2026, 3, 10, 12);
        assert_eq!(
            template
                .move_occurrence(
                    NaiveDate::from_ymd_opt(2026, 3, 9).unwrap(),
                    local(2026, 3, 12, 9),
                    now
                )
                .map(|_| ()),
            Err(LifecycleError::AlreadyProcessed {
                template: TemplateId(1),
                local: local(2026, 3, 9, 9)
            })
        );
        assert_eq!(
            template
                .move_occurrence(
                    NaiveDate::from_ymd_opt(2026, 3, 12).unwrap(),
                    local(2026, 3, 8, 9),
                    now
                )
                .map(|_| ()),
            Err(LifecycleError::AlreadyProcessed {
                template: TemplateId(1),
                local: local(2026, 3, 8, 9)
            })
        );
    }
}
