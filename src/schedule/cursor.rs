//! Walking a rule: the base occurrences before exceptions are applied.

use crate::civil;
use crate::rfc5545::periods::{Listing, Periods};
use crate::schedule::plan::{Plan, Slot};
use crate::schedule::{End, Rule, Schedule};
use crate::zone::{Resolved, ZoneTable, ZoneWalker};

/// One occurrence of the rule itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BaseItem {
    /// Position among the rule's occurrences (before extra dates shift it).
    pub(crate) rule_seq: u64,
    /// Local seconds (wall clock read as UTC) of the nominal date and time.
    pub(crate) local: i64,
    /// The instant, seconds since the Unix epoch.
    pub(crate) at: i64,
}

/// A position in a rule's series.
pub(crate) enum Cursor<'a> {
    Structured(StructuredCursor<'a>),
    General(GeneralCursor<'a>),
}

impl<'a> Cursor<'a> {
    /// A cursor at the first occurrence, or at the first occurrence after instant `after`.
    pub(crate) fn new(schedule: &'a Schedule, after: Option<i64>) -> Cursor<'a> {
        match schedule.rule() {
            Rule::Structured { plan, head, .. } => {
                Cursor::Structured(StructuredCursor::new(schedule, plan, *head, after))
            }
            Rule::Rfc(rule) => Cursor::General(GeneralCursor::new(schedule, rule, after)),
        }
    }

    #[inline]
    pub(crate) fn next_item(&mut self) -> Option<BaseItem> {
        match self {
            Cursor::Structured(cursor) => cursor.next_item(),
            Cursor::General(cursor) => cursor.next_item(),
        }
    }
}

/// The end conditions shared by both walks.
#[derive(Clone, Copy)]
struct Limits {
    /// Compared with the rule position: the schedule's precomputed count bound (see
    /// [`Schedule::count_bound`]), so seeking needs no count of the positions without an
    /// instant.
    count: u64,
    until_day: i32,
    until_instant: i64,
}

impl Limits {
    fn of(schedule: &Schedule) -> Limits {
        let mut limits = Limits {
            count: u64::MAX,
            until_day: civil::max_days(),
            until_instant: i64::MAX,
        };
        match schedule.end() {
            End::Never => {}
            End::Count(_) => limits.count = schedule.count_bound(),
            End::Until(date) => limits.until_day = limits.until_day.min(civil::days_of(date)),
            End::UntilInstant(t) => limits.until_instant = t.timestamp(),
        }
        limits
    }
}

const DAY: i64 = 86_400;

/// Walks a structured rule by candidate index.
pub(crate) struct StructuredCursor<'a> {
    schedule: &'a Schedule,
    plan: &'a Plan,
    table: &'static ZoneTable,
    limits: Limits,
    time: i64,
    head: i64,
    /// Next candidate to look at.
    candidate: i64,
    /// `rule_seq` of the next valid candidate.
    seq: u64,
    /// Adjusted day and instant of the last emitted candidate (collision check).
    previous: Option<(i32, i64)>,
    zone: ZoneWalker,
    /// Items at or before this instant are passed over (seek).
    after: i64,
    done: bool,
}

impl<'a> StructuredCursor<'a> {
    fn new(schedule: &'a Schedule, plan: &'a Plan, head: i64, after: Option<i64>) -> Self {
        let mut cursor = StructuredCursor {
            schedule,
            plan,
            table: schedule.table(),
            limits: Limits::of(schedule),
            time: schedule.time_seconds(),
            head,
            candidate: head,
            seq: 0,
            previous: None,
            zone: ZoneWalker::new(schedule.table()),
            after: i64::MIN,
            done: false,
        };
        if let Some(after) = after {
            cursor.seek(after);
        }
        cursor
    }

    /// Positions the cursor near the first occurrence after `after` by arithmetic; `next_item`
    /// then passes over the few candidates at or before it.
    fn seek(&mut self, after: i64) {
        self.after = after;
        let calendar = self.schedule.calendar();
        let (local, hint) = self.table.to_local_with_hint(after);
        // The walk resumes near `after`: its zone search starts where this one ended.
        self.zone = ZoneWalker::starting_at(self.table, hint);
        let local_day = i32::try_from(local.div_euclid(DAY))
            .unwrap_or(if after < 0 {
                i32::MIN / 2
            } else {
                i32::MAX / 2
            })
            .clamp(civil::min_days() - 2, civil::max_days() + 2);
        // A gap can push an occurrence forward by up to a day: start a day early.
        let target = local_day - 1;
        let mut c = self.plan.lower_bound(target, self.head, calendar);
        // An adjustment can pull an earlier candidate forward onto or past `target`.
        let adjustment = self.schedule.adjustment();
        if adjustment != crate::Adjustment::None {
            while c > self.head {
                match self.plan.slot(c - 1, calendar) {
                    Slot::Day(day) if calendar.adjust(day, adjustment) < target => break,
                    Slot::Beyond => break,
                    _ => c -= 1,
                }
            }
        }
        self.candidate = c;
        self.seq = (c - self.head - self.plan.invalid_between(self.head, c)).max(0) as u64;
        // Without an adjustment each candidate has its own day, and without a zone change of
        // a day or more a later day's instant is later: nothing can collide with the previous
        // occurrence, so it need not be found.
        self.previous = if adjustment == crate::Adjustment::None && !self.table.has_day_jumps() {
            None
        } else {
            self.previous_emitted(c)
        };
    }

    /// The adjusted day and instant of the last valid candidate before `c` (what a walk from
    /// the start would remember when reaching `c`).
    fn previous_emitted(&self, c: i64) -> Option<(i32, i64)> {
        let calendar = self.schedule.calendar();
        let mut p = c - 1;
        // Bounded: runs of months lacking the day are short, and a missing civil day (a zone
        // skipping a date) happens once.
        for _ in 0..64 {
            if p < self.head {
                return None;
            }
            if let Slot::Day(nominal) = self.plan.slot(p, calendar) {
                let day = calendar.adjust(nominal, self.schedule.adjustment());
                let resolved = self.table.resolve(i64::from(day) * DAY + self.time, &mut 0);
                if !resolved.day_missing {
                    return Some((day, resolved.utc));
                }
            }
            p -= 1;
        }
        None
    }

    fn next_item(&mut self) -> Option<BaseItem> {
        let calendar = self.schedule.calendar();
        let adjustment = self.schedule.adjustment();
        while !self.done {
            let c = self.candidate;
            if c > 0 && self.plan.is_single() {
                break;
            }
            let nominal = match self.plan.slot(c, calendar) {
                Slot::Beyond => break,
                Slot::Missing => {
                    self.candidate += 1;
                    continue;
                }
                Slot::Day(day) => day,
            };
            self.candidate += 1;
            let rule_seq = self.seq;
            self.seq += 1;
            if rule_seq >= self.limits.count {
                break;
            }
            let day = calendar.adjust(nominal, adjustment);
            if day > self.limits.until_day {
                break;
            }
            if day < civil::min_days() {
                continue; // adjusted out of the supported years
            }
            let local = i64::from(day) * DAY + self.time;
            let resolved = self.zone.resolve(local);
            if resolved.utc > self.limits.until_instant {
                break;
            }
            if resolved.day_missing {
                continue;
            }
            if let Some((previous_day, previous_at)) = self.previous
                && (previous_day == day || previous_at >= resolved.utc)
            {
                continue;
            }
            self.previous = Some((day, resolved.utc));
            if resolved.utc <= self.after {
                continue;
            }
            return Some(BaseItem {
                rule_seq,
                local,
                at: resolved.utc,
            });
        }
        self.done = true;
        None
    }
}

/// Walks a general RFC 5545 rule in floating time, resolving each local date-time with the
/// crate's DST policy (the rrule crate's own zone handling drops occurrences whose local
/// midnight falls in a gap).
///
/// A seek restarts the listing near its target, numbered by counting ([`Periods`]), and the
/// listing stops at the rule's last occurrence in the supported years. COUNT compares the
/// position with the schedule's precomputed bound ([`general_count_bound`]), as the
/// structured walk does, so seeking needs no walk from DTSTART.
pub(crate) struct GeneralCursor<'a> {
    /// The rule's local times (seconds) from the restart on; `None` when there is nothing to
    /// walk.
    walk: Option<Listing<'a>>,
    not_before: i64,
    limits: Limits,
    seq: u64,
    previous_local: Option<i64>,
    previous_at: Option<i64>,
    zone: ZoneWalker,
    after: i64,
    done: bool,
}

impl<'a> GeneralCursor<'a> {
    fn new(schedule: &Schedule, rule: &'a crate::rfc5545::RfcRule, after: Option<i64>) -> Self {
        let table = schedule.table();
        let not_before = rule.not_before().and_utc().timestamp();
        let mut cursor = GeneralCursor {
            walk: None,
            not_before,
            limits: Limits::of(schedule),
            seq: 0,
            previous_local: None,
            previous_at: None,
            zone: ZoneWalker::new(table),
            after: after.unwrap_or(i64::MIN),
            done: false,
        };
        // A rule without an occurrence in the supported years: nothing to walk.
        if rule.last_local().is_none() {
            cursor.done = true;
            return cursor;
        }
        let periods = rule.periods();
        let (walk, seq) = match after {
            // Two days before `after`'s local date: a DST gap moves an occurrence forward by
            // less.
            Some(after) => {
                let day = table.to_local(after).div_euclid(DAY).clamp(
                    i64::from(civil::min_days()) - 2,
                    i64::from(civil::max_days()) + 2,
                ) - 2;
                listing_near(periods, table, not_before, day * DAY)
            }
            None => (periods.listing(0), 0),
        };
        cursor.walk = Some(walk);
        cursor.seq = seq;
        cursor
    }

    fn next_item(&mut self) -> Option<BaseItem> {
        while !self.done {
            let Some(local) = self.walk.as_mut().and_then(Iterator::next) else {
                break;
            };
            if local < self.not_before || self.previous_local.is_some_and(|p| p >= local) {
                continue;
            }
            self.previous_local = Some(local);
            let day = i32::try_from(local.div_euclid(DAY)).unwrap_or(i32::MAX);
            let rule_seq = self.seq;
            self.seq += 1;
            if rule_seq >= self.limits.count || day > self.limits.until_day {
                break;
            }
            let resolved = self.zone.resolve(local);
            if resolved.utc > self.limits.until_instant {
                break;
            }
            if lacks_instant(resolved, self.previous_at) {
                continue; // no instant of its own: not counted
            }
            self.previous_at = Some(resolved.utc);
            if resolved.utc <= self.after {
                continue;
            }
            return Some(BaseItem {
                rule_seq,
                local,
                at: resolved.utc,
            });
        }
        self.done = true;
        None
    }
}

/// Whether a rule position resolved as `resolved` has no instant of its own: its civil day is
/// missing from the zone, or a gap moved it onto or before the previous occurrence's instant.
fn lacks_instant(resolved: Resolved, previous_at: Option<i64>) -> bool {
    resolved.day_missing || previous_at.is_some_and(|p| p >= resolved.utc)
}

/// A listing of `periods` at the first occurrence at or after local second `target`, moved
/// back (a day at a time) until no offset change is within three days, so that a walk from
/// there needs nothing from before it (no collision with an earlier instant); and how many
/// rule positions (occurrences at or after `not_before`) come before it.
fn listing_near<'a>(
    periods: &'a Periods,
    table: &ZoneTable,
    not_before: i64,
    target: i64,
) -> (Listing<'a>, u64) {
    let mut target = target;
    // One time a day in a zone without day jumps: no position can collide with another.
    if !periods.one_per_day() || table.has_day_jumps() {
        while target > not_before && table.changes_near(target, 3 * DAY) {
            target -= DAY;
        }
    }
    listing_at(periods, not_before, target)
}

/// A listing of `periods` at the first occurrence at or after local second `target`, and how
/// many rule positions (occurrences at or after `not_before`) come before it.
fn listing_at(periods: &Periods, not_before: i64, target: i64) -> (Listing<'_>, u64) {
    let grid = periods
        .grid_of_day(target.div_euclid(DAY))
        .min(periods.last_nonempty().unwrap_or(0))
        .max(0);
    let mut listing = periods.listing(grid);
    let mut seq = 0;
    if grid > 0 {
        seq = periods.count_before(grid);
    } else {
        listing.advance_to(not_before); // before DTSTART: not positions
    }
    seq += listing.advance_to(target);
    (listing, seq)
}

/// The rule positions `End::Count(n)` admits for a general rule: all positions up to the n-th
/// one that has an instant (RFC 5545 §3.3.10: instances that do not exist are not counted).
///
/// A position lacks an instant only next to a gap (a civil day the zone skipped, or a time the
/// gap moves onto or past a later one): a gap of length `g` starting at local `c` moves the
/// times of `[c, c + g)` into `[c + g, c + 2g)`, so only the positions of `[c, c + 2g]` are
/// walked for each gap before the bound (positions before `c` resolve with the old offset, in
/// order, and cannot be met by them), and the rest is counted by [`Periods`]. Gaps whose
/// stretches overlap are walked as one. A rule with one time a day in a zone without day
/// jumps gives every position an instant.
pub(crate) fn general_count_bound(
    schedule: &Schedule,
    rule: &crate::rfc5545::RfcRule,
    n: u64,
) -> u64 {
    let table = schedule.table();
    let periods = rule.periods();
    let Some(last_local) = rule.last_local() else {
        return n;
    };
    if periods.one_per_day() && !table.has_day_jumps() {
        return n;
    }
    let not_before = rule.not_before().and_utc().timestamp();
    let mut lost = std::collections::BTreeSet::new();
    // The stretch walked last: a gap starting inside it is walked from the same start.
    let mut stretch: Option<(i64, i64)> = None;
    for (gap_start, gap) in table.gaps_from(not_before.saturating_sub(3 * DAY)) {
        if gap_start > last_local {
            break;
        }
        let start = match stretch {
            Some((start, end)) if gap_start <= end => start,
            _ => gap_start,
        };
        let end = gap_start + 2 * gap;
        stretch = Some((start, end));
        let (listing, mut seq) = listing_at(periods, not_before, start);
        if seq >= n.saturating_add(lost.len() as u64) {
            break; // the n-th instant comes before this stretch
        }
        let mut zone = ZoneWalker::new(table);
        let mut previous_at = None;
        for local in listing.take_while(|&local| local <= end) {
            let position = seq;
            seq += 1;
            let resolved = zone.resolve(local);
            if lacks_instant(resolved, previous_at) {
                lost.insert(position);
            } else {
                previous_at = Some(resolved.utc);
            }
        }
    }
    let mut bound = n;
    for &position in &lost {
        if position >= bound {
            break;
        }
        bound = bound.saturating_add(1);
    }
    bound
}

impl Cursor<'_> {
    /// The `rule_seq` of the last rule occurrence (walks the whole series; for finite ones).
    pub(crate) fn last_rule_seq(mut self) -> Option<u64> {
        let mut last = None;
        while let Some(item) = self.next_item() {
            last = Some(item.rule_seq);
        }
        last
    }
}
