//! The pure planner: given a template and `now`, what to create, skip and announce.
//!
//! No I/O and no clock: the same function drives the engine's ticks and previews, so a
//! preview is what the engine then does.

use std::ops::ControlFlow;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::deal::{Deal, Money};
use crate::event::{EventKind, NewEvent};
use crate::ids::{DealKey, TenantId};
use crate::invoice::{Invoice, Issue};
use crate::schedule::{Occurrence, Occurrences};
use crate::template::{CatchUpMode, ResumePolicy, SkipReason, Template, TemplateState};
use crate::zone::resolve_local;

/// A deal the engine creates.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CreatedDeal {
    /// The unique key.
    pub key: DealKey,
    /// The tenant.
    pub tenant: TenantId,
    /// The deal.
    pub deal: Deal,
    /// The date it was scheduled for, in the schedule's zone.
    pub nominal_date: NaiveDate,
    /// The instant it was scheduled for.
    pub nominal_at: DateTime<Utc>,
    /// When it was created (the tick's instant).
    pub created_at: DateTime<Utc>,
    /// Whether it was created late (a missed day caught up).
    pub catch_up: bool,
}

/// An occurrence that was not created, and why.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SkippedOccurrence {
    /// The key the deal would have had.
    pub key: DealKey,
    /// The tenant.
    pub tenant: TenantId,
    /// The date it was scheduled for.
    pub nominal_date: NaiveDate,
    /// The instant it was scheduled for.
    pub nominal_at: DateTime<Utc>,
    /// Why.
    pub reason: SkipReason,
}

/// What planning one template at one instant decided.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplatePlan {
    /// The template's new state (same version; the repository bumps it on commit).
    pub template: Template,
    /// Deals to create.
    pub deals: Vec<CreatedDeal>,
    /// Occurrences skipped.
    pub skipped: Vec<SkippedOccurrence>,
    /// Invoices issued with the deals.
    pub invoices: Vec<Invoice>,
    /// Outbox events.
    pub events: Vec<NewEvent>,
    /// Whether more due occurrences are left for the next tick (the per-tick bound).
    pub more: bool,
}

/// What planning produces besides the template's new state.
#[derive(Default)]
struct Effects {
    deals: Vec<CreatedDeal>,
    skipped: Vec<SkippedOccurrence>,
    invoices: Vec<Invoice>,
    events: Vec<NewEvent>,
    more: bool,
}

impl Effects {
    fn into_plan(self, template: Template) -> TemplatePlan {
        TemplatePlan {
            template,
            deals: self.deals,
            skipped: self.skipped,
            invoices: self.invoices,
            events: self.events,
            more: self.more,
        }
    }
}

/// One deal of a preview.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PreviewDeal {
    /// The key it will have.
    pub key: DealKey,
    /// When it will be created: its scheduled instant, or the next tick's for one already
    /// due.
    pub at: DateTime<Utc>,
    /// Its nominal date.
    pub date: NaiveDate,
    /// Its amount.
    pub amount: Money,
    /// Its begin date.
    pub begin_date: Option<NaiveDate>,
    /// Its close date.
    pub close_date: Option<NaiveDate>,
}

/// What happens to one due occurrence.
enum Decision {
    Create { catch_up: bool },
    Skip(SkipReason),
}

/// Plans `template` at `now`.
pub fn plan(template: &Template, now: DateTime<Utc>) -> TemplatePlan {
    let mut next = template.clone();
    let mut plan = Effects::default();
    resume_if_due(&mut next, now);
    if next.state != TemplateState::Active {
        next.next_run = match &next.state {
            TemplateState::Paused {
                resume_on: Some(date),
                ..
            } => Some(resume_instant(&next, *date)),
            _ => None,
        };
        return plan.into_plan(next);
    }
    // The input's schedule is the same as `next`'s and can be borrowed while `next` changes.
    let schedule = &template.schedule;
    let mut occurrences = upcoming(schedule, next.cursor).peekable();
    let mut budget = next.catch_up.max_per_tick;
    let today = schedule.today(now);
    let mut finished = false;
    while let Some(occurrence) = occurrences.peek().copied() {
        if occurrence.at() > now {
            break;
        }
        if next
            .limit
            .is_some_and(|limit| next.counters.created_by_schedule >= limit)
        {
            finished = true;
            break;
        }
        if budget == 0 {
            plan.more = true;
            break;
        }
        budget -= 1;
        occurrences.next();
        let occurrence = Due::of(&occurrence);
        let at = occurrence.at();
        let later_due = occurrences
            .peek()
            .is_some_and(|o| o.timestamp() <= now.timestamp());
        let key = DealKey::Scheduled {
            template: next.id,
            revision: next.revision,
            seq: occurrence.seq(),
        };
        match decide(&next, &occurrence, now, today, later_due) {
            Decision::Skip(reason) => {
                next.counters.skipped += 1;
                plan.skipped.push(SkippedOccurrence {
                    key,
                    tenant: next.tenant.clone(),
                    nominal_date: occurrence.date,
                    nominal_at: at,
                    reason,
                });
            }
            Decision::Create { catch_up } => {
                create_deal(
                    &mut next,
                    &mut plan,
                    key,
                    occurrence.date,
                    at,
                    now,
                    catch_up,
                );
                next.counters.created_by_schedule += 1;
            }
        }
        next.cursor = Some(at);
        next.skip_requests.remove(&occurrence.seq());
    }
    if next
        .skip_through
        .is_some_and(|t| next.cursor.is_some_and(|c| c >= t))
    {
        next.skip_through = None;
    }
    let limit_reached = next
        .limit
        .is_some_and(|limit| next.counters.created_by_schedule >= limit);
    let upcoming = occurrences.peek().copied();
    if finished || limit_reached || upcoming.is_none() {
        next.state = TemplateState::Finished;
        next.next_run = None;
        plan.events.push(finished_event(&next, now));
    } else if plan.more {
        next.next_run = Some(now);
    } else if let Some(occurrence) = upcoming {
        let notice = notices(&mut next, &mut plan, now);
        next.next_run = Some(notice.map_or(occurrence.at(), |n| n.min(occurrence.at())));
    }
    plan.into_plan(next)
}

/// The announcement that a template finished.
pub(crate) fn finished_event(template: &Template, now: DateTime<Utc>) -> NewEvent {
    NewEvent {
        tenant: template.tenant.clone(),
        idempotency_key: format!("finished:{}", template.id),
        at: now,
        kind: EventKind::TemplateFinished {
            template: template.id,
        },
    }
}

/// The next `count` deals the template will create if the engine ticks at `now` and then on
/// time, with their dates and amounts. It makes the planner's own decisions (the same
/// `decide`, limit, pause and skip handling), without materializing deals, so previews of
/// many templates cost little more than expanding their schedules.
pub fn preview(template: &Template, now: DateTime<Utc>, count: usize) -> Vec<PreviewDeal> {
    let mut deals = Vec::with_capacity(count.min(1_024));
    if count == 0 {
        return deals;
    }
    // Most templates have no terms revision: their amount is computed once.
    let fixed = template
        .terms_revisions()
        .is_empty()
        .then(|| deal_amount(template));
    walk(template, now, |occurrence, tick| {
        let amount = fixed.unwrap_or_else(|| template.terms_on(occurrence.date).amount());
        let (begin_date, close_date) = deal_dates(template, occurrence.date);
        deals.push(PreviewDeal {
            key: DealKey::Scheduled {
                template: template.id,
                revision: template.revision,
                seq: occurrence.seq,
            },
            at: tick,
            date: occurrence.date,
            amount,
            begin_date,
            close_date,
        });
        if deals.len() < count {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(())
        }
    });
    deals
}

/// A deal [`walk`] finds the engine will create.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Planned {
    /// The occurrence's seq in the template's revision.
    pub(crate) seq: u64,
    /// Its nominal date in the schedule's zone.
    pub(crate) date: NaiveDate,
}

/// Calls `visit` with every deal the engine will create from `template` if it ticks at `now`
/// and then at each of its wake-ups, in order, with the tick that creates it, until `visit`
/// breaks or the series ends. Occurrences due at `now` are decided as that tick decides them
/// (catch-up, window, pause, skip requests); later ones are on time. The one walk behind
/// previews and forecasts, making `plan`'s decisions.
pub(crate) fn walk(
    template: &Template,
    now: DateTime<Utc>,
    mut visit: impl FnMut(Planned, DateTime<Utc>) -> ControlFlow<()>,
) {
    let (from, skip_through) = match &template.state {
        TemplateState::Active => (now, template.skip_through),
        TemplateState::Paused {
            resume_on: Some(date),
            ..
        } => {
            // The first tick on or after the resume date resumes it as of that date.
            let resume = resume_instant(template, *date);
            let skip = match template.resume {
                ResumePolicy::SkipPausedSpan => Some(resume),
                ResumePolicy::CatchUpPausedSpan => template.skip_through,
            };
            (resume.max(now), skip)
        }
        _ => return,
    };
    let mut created = template.counters.created_by_schedule;
    let mut occurrences = upcoming(&template.schedule, template.cursor).peekable();
    // The first tick's date, computed once: every occurrence due by then shares it.
    let mut today_at_first_tick = None;
    while let Some(occurrence) = occurrences.next() {
        if template.limit.is_some_and(|limit| created >= limit) {
            return;
        }
        let occurrence = Due::of(&occurrence);
        // The first tick takes what is due by then; later occurrences are on time.
        let on_time = !occurrence.before(from);
        let tick = if on_time { occurrence.at() } else { from };
        let later_due = tick == from
            && occurrences
                .peek()
                .is_some_and(|o| o.timestamp() <= from.timestamp());
        // "Today" only makes an occurrence a catch-up, which changes a decision under
        // `CatchUpMode::None` alone (a preview shows no catch-up flag): the first tick's date
        // (a zone look-up) is needed only then.
        let today = if on_time || template.catch_up.mode != CatchUpMode::None {
            occurrence.date
        } else {
            *today_at_first_tick.get_or_insert_with(|| template.schedule.today(from))
        };
        let decision = if skip_through.is_some_and(|t| occurrence.before(t)) {
            Decision::Skip(SkipReason::Paused)
        } else {
            decide(template, &occurrence, tick, today, later_due)
        };
        if let Decision::Create { .. } = decision {
            created += 1;
            let planned = Planned {
                seq: occurrence.seq(),
                date: occurrence.date,
            };
            if visit(planned, tick).is_break() {
                return;
            }
        }
    }
}

/// The amount of a deal the template creates: the template deal's, or the last share of an
/// installment split.
pub(crate) fn deal_amount(template: &Template) -> Money {
    match &template.split {
        Some(split) => split
            .amounts(template.deal.amount())
            .last()
            .copied()
            .unwrap_or(template.deal.amount()),
        None => template.deal.amount(),
    }
}

/// Begin and close dates of a deal created for `date`: the offsets, else the template deal's.
fn deal_dates(template: &Template, date: NaiveDate) -> (Option<NaiveDate>, Option<NaiveDate>) {
    (
        template
            .begin_offset
            .map(|o| o.after(date))
            .or(template.deal.begin_date()),
        template
            .close_offset
            .map(|o| o.after(date))
            .or(template.deal.close_date()),
    )
}

/// When a newly created (or re-planned) template first has work: its first occurrence after
/// the cursor, or the first notice still to handle before it.
pub(crate) fn first_run(template: &Template) -> Option<DateTime<Utc>> {
    if template.state != TemplateState::Active {
        return None;
    }
    let first = upcoming(&template.schedule, template.cursor).next()?.at();
    Some(notice_wake(template, None).map_or(first, |wake| wake.min(first)))
}

/// The most occurrences a notice walk looks at: a daily schedule's year of leads, twice.
const NOTICE_WALK: usize = 800;

/// When the notice of `lead` days before an occurrence at `at` is due.
fn lead_at(at: DateTime<Utc>, lead: u32) -> DateTime<Utc> {
    at - TimeDelta::days(i64::from(lead))
}

/// The upcoming occurrences the template will create as far as it knows now: after the
/// cursor (within [`NOTICE_WALK`]), less those skipped on request or in a paused span, and
/// no more than its count leaves. Every look-ahead of notices walks this series, so a notice
/// never announces a deal the count, a skip request or a pause will not create.
fn to_be_created(template: &Template) -> impl Iterator<Item = Occurrence> + '_ {
    let left = template.limit.map_or(usize::MAX, |limit| {
        usize::try_from(limit.saturating_sub(template.counters.created_by_schedule))
            .unwrap_or(usize::MAX)
    });
    upcoming(&template.schedule, template.cursor)
        .take(NOTICE_WALK)
        .filter(|o| {
            !template.skip_requests.contains(&o.seq())
                && template.skip_through.is_none_or(|t| o.at() >= t)
        })
        .take(left)
}

/// Whether the `lead`-day notice of the occurrence at `at` is handled (sent or skipped).
fn handled(template: &Template, lead: u32, at: DateTime<Utc>) -> bool {
    template.noticed_through.is_some_and(|t| t >= at)
        || template.noticed.get(&lead).is_some_and(|t| *t >= at)
}

/// The earliest notice not yet handled whose time is after `after` (any, when `None`), of
/// the occurrences that will be created ([`to_be_created`]).
fn notice_wake(template: &Template, after: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    let leads = &template.upcoming_notice_days;
    let mut found: Vec<Option<DateTime<Utc>>> = vec![None; leads.len()];
    for occurrence in to_be_created(template) {
        if found.iter().all(Option::is_some) {
            break;
        }
        let at = occurrence.at();
        for (slot, &lead) in found.iter_mut().zip(leads) {
            let when = lead_at(at, lead);
            if slot.is_none() && !handled(template, lead, at) && after.is_none_or(|a| when > a) {
                *slot = Some(when);
            }
        }
    }
    found.into_iter().flatten().min()
}

/// Marks as handled every notice whose time is at or before `at`: a template created,
/// resumed or rescheduled at `at` skips them rather than sending them late. The boundary is
/// the sending rule's (a notice is sent by a tick at or after its time): a notice a tick sent
/// at `at` is not sent again under an edit's new revision at the same instant.
pub(crate) fn skip_past_notices(template: &mut Template, at: DateTime<Utc>) {
    let Some(&longest) = template.upcoming_notice_days.first() else {
        return;
    };
    let horizon = at + TimeDelta::days(i64::from(longest));
    let occurrences: Vec<DateTime<Utc>> = to_be_created(template)
        .map(|o| o.at())
        .take_while(|o| *o <= horizon)
        .collect();
    for lead in template.upcoming_notice_days.clone() {
        if let Some(last) = occurrences.iter().rev().find(|o| lead_at(**o, lead) <= at) {
            let into = template.noticed.entry(lead).or_insert(*last);
            *into = (*into).max(*last);
        }
    }
}

/// The plan for "create now": one deal at `now`, not from the schedule (it does not shift
/// the schedule and does not use up the count).
pub(crate) fn plan_manual(template: &Template, now: DateTime<Utc>) -> TemplatePlan {
    let mut next = template.clone();
    let key = DealKey::Manual {
        template: next.id,
        number: next.counters.created_manually,
    };
    let mut plan = Effects::default();
    let today = next.schedule.today(now);
    create_deal(&mut next, &mut plan, key, today, now, now, false);
    next.counters.created_manually += 1;
    plan.into_plan(next)
}

fn upcoming(schedule: &crate::Schedule, cursor: Option<DateTime<Utc>>) -> Occurrences<'_> {
    match cursor {
        Some(cursor) => schedule.occurrences_after(cursor),
        None => schedule.occurrences(),
    }
}

/// An occurrence with its date built once (planning reads it several times); the instant is
/// compared as plain seconds and built as a chrono value only where one is stored.
#[derive(Debug, Clone, Copy)]
struct Due {
    occurrence: Occurrence,
    date: NaiveDate,
}

impl Due {
    fn of(occurrence: &Occurrence) -> Due {
        Due {
            occurrence: *occurrence,
            date: occurrence.date(),
        }
    }

    fn seq(&self) -> u64 {
        self.occurrence.seq()
    }

    fn at(&self) -> DateTime<Utc> {
        self.occurrence.at()
    }

    /// Whether the occurrence is strictly before `t`.
    fn before(&self, t: DateTime<Utc>) -> bool {
        let (seconds, limit) = (self.occurrence.timestamp(), t.timestamp());
        seconds < limit || (seconds == limit && t.timestamp_subsec_nanos() > 0)
    }
}

fn decide(
    template: &Template,
    occurrence: &Due,
    now: DateTime<Utc>,
    today: NaiveDate,
    later_due: bool,
) -> Decision {
    let catch_up = occurrence.date < today;
    // The paused span ends before the resume instant: an occurrence at it is created.
    if template.skip_through.is_some_and(|t| occurrence.before(t)) {
        return Decision::Skip(SkipReason::Paused);
    }
    if template.skip_requests.contains(&occurrence.seq()) {
        return Decision::Skip(SkipReason::Requested);
    }
    // A window reaching back past the start of time leaves nothing outside it.
    if let Some(days) = template.catch_up.window_days
        && now
            .checked_sub_signed(TimeDelta::days(i64::from(days)))
            .is_some_and(|edge| occurrence.before(edge))
    {
        return Decision::Skip(SkipReason::OutsideWindow);
    }
    match template.catch_up.mode {
        CatchUpMode::All => Decision::Create { catch_up },
        CatchUpMode::Latest if later_due => Decision::Skip(SkipReason::Superseded),
        CatchUpMode::Latest => Decision::Create { catch_up },
        CatchUpMode::None if catch_up => Decision::Skip(SkipReason::Missed),
        CatchUpMode::None => Decision::Create { catch_up },
    }
}

fn create_deal(
    template: &mut Template,
    plan: &mut Effects,
    key: DealKey,
    date: NaiveDate,
    nominal_at: DateTime<Utc>,
    now: DateTime<Utc>,
    catch_up: bool,
) {
    // The terms in force on the occurrence's civil date: a terms change effective later
    // leaves this deal on the old terms, even when it is created late.
    let terms = template.terms_on(date);
    let amount = terms.amount();
    let target = terms.target().map(|t| (t.pipeline, t.stage.as_str()));
    let (begin, close) = deal_dates(template, date);
    let deal = terms.deal().materialize(key, amount, target, begin, close);
    template.last_run = Some(now);
    plan.events.push(NewEvent {
        tenant: template.tenant.clone(),
        idempotency_key: format!("deal:{key}"),
        at: now,
        kind: EventKind::DealCreated {
            deal: key,
            nominal_date: date,
            catch_up,
            content: Some(Box::new(deal.clone())),
        },
    });
    if let Some(options) = &template.invoice {
        let issue = Issue {
            tenant: &template.tenant,
            deal: key,
            amount,
            date,
            zone: template.schedule.zone(),
            time: template.schedule.time(),
        };
        let invoice = issue.invoice(options, now);
        plan.events.push(NewEvent {
            tenant: template.tenant.clone(),
            idempotency_key: format!("invoice:{key}"),
            at: now,
            kind: EventKind::InvoiceIssued {
                invoice: Box::new(invoice.clone()),
            },
        });
        plan.invoices.push(invoice);
    }
    plan.deals.push(CreatedDeal {
        key,
        tenant: template.tenant.clone(),
        deal,
        nominal_date: date,
        nominal_at,
        created_at: now,
        catch_up,
    });
}

/// Sends the upcoming-deal notices due at `now` for the occurrences after the cursor, and
/// returns the next notice's time. When several leads of one occurrence are due at once
/// (the engine was down), only the shortest goes out: the longer ones are late, as late
/// payment reminders are dropped.
fn notices(
    template: &mut Template,
    plan: &mut Effects,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let &longest = template.upcoming_notice_days.first()?;
    let horizon = now + TimeDelta::days(i64::from(longest));
    let due: Vec<(Occurrence, Vec<u32>)> = to_be_created(template)
        .take_while(|o| o.at() <= horizon)
        .filter_map(|occurrence| {
            let at = occurrence.at();
            let leads: Vec<u32> = (template.upcoming_notice_days.iter().copied())
                .filter(|&lead| lead_at(at, lead) <= now && !handled(template, lead, at))
                .collect();
            (!leads.is_empty()).then_some((occurrence, leads))
        })
        .collect();
    for (occurrence, leads) in due {
        let at = occurrence.at();
        for &lead in &leads {
            template.noticed.insert(lead, at);
        }
        let Some(&lead) = leads.last() else {
            continue;
        };
        plan.events.push(NewEvent {
            tenant: template.tenant.clone(),
            // The instant is part of the key: a moved occurrence's new time is a new notice.
            idempotency_key: format!(
                "upcoming:{}/r{}/{}@{}/{}d",
                template.id,
                template.revision,
                occurrence.seq(),
                at.timestamp(),
                lead
            ),
            at: now,
            kind: EventKind::UpcomingDeal {
                template: template.id,
                at,
                lead_days: lead,
            },
        });
    }
    notice_wake(template, Some(now))
}

/// Resumes a paused template whose resume date has come.
fn resume_if_due(template: &mut Template, now: DateTime<Utc>) {
    if let TemplateState::Paused {
        resume_on: Some(date),
        ..
    } = template.state
    {
        let at = resume_instant(template, date);
        if now >= at {
            resume(template, at);
        }
    }
}

/// Makes a template active at `at`, applying its resume policy to the occurrences missed.
pub(crate) fn resume(template: &mut Template, at: DateTime<Utc>) {
    template.state = TemplateState::Active;
    if template.resume == ResumePolicy::SkipPausedSpan {
        template.skip_through = Some(at);
    }
    skip_past_notices(template, at);
}

/// The instant a template resumes on `date`: the start of that civil day in its zone.
fn resume_instant(template: &Template, date: NaiveDate) -> DateTime<Utc> {
    resolve_local(
        template.schedule.zone(),
        date.and_time(chrono::NaiveTime::MIN),
    )
}
