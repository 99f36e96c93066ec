//! Zones with odd DST history, their transitions, days and times of day.

use crate::zone::Zone;
use chrono::{Days, NaiveDate, NaiveDateTime, NaiveTime};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::Union;

/// The zones [`zone`] draws from: no DST, whole-hour DST at 02:00, DST at midnight, 30- and
/// 120-minute DST, negative DST, 15- and 45-minute standard offsets, zones that changed their
/// standard offset, and zones that skipped or repeated a whole civil day.
///
/// | zone | why it is here |
/// |---|---|
/// | `UTC` | no DST (first: failures shrink toward it) |
/// | `Pacific/Apia` | skipped 2011-12-30 (from −10 to +14); DST until 2021 |
/// | `America/Santiago` | DST at midnight: 00:00 does not exist on spring-forward days |
/// | `America/Havana` | DST at midnight in spring, at 01:00 in autumn |
/// | `Australia/Lord_Howe` | 30-minute DST |
/// | `Europe/Moscow` | DST until 2011, +04 all year, +03 again from 2014 |
/// | `America/New_York` | DST at 02:00 |
/// | `Europe/Berlin` | EU DST at 02:00 / 03:00 |
/// | `Asia/Kathmandu` | +05:45; 1986-01-01 lost 00:00–00:15 |
/// | `Pacific/Chatham` | +12:45 / +13:45, DST at 02:45 |
/// | `America/St_Johns` | −03:30, DST at 00:01 until 2011 |
/// | `Africa/Casablanca` | +01 with a negative shift to +00 during Ramadan (listed until 2087) |
/// | `Asia/Tehran` | +03:30, DST at midnight until 2022 |
/// | `Europe/Dublin` | negative DST in tzdb (winter is the "daylight" offset) |
/// | `Antarctica/Troll` | 2-hour DST (+00 / +02) |
/// | `Pacific/Kiritimati` | +14; skipped 1994-12-31 (from −10) |
/// | `America/Caracas` | −04:30 from 2007 to 2016 |
/// | `Asia/Pyongyang` | +08:30 from 2015 to 2018 (a repeated half hour at midnight) |
/// | `Europe/Lisbon` | DST at 01:00; at midnight in the 1980s |
/// | `Australia/Adelaide` | +09:30 / +10:30, southern-hemisphere DST |
/// | `Asia/Kolkata` | +05:30, no DST |
/// | `Europe/London` | DST at 01:00 |
/// | `America/Sao_Paulo` | DST at midnight until 2019 |
/// | `Asia/Beirut` | DST at midnight, both ways |
/// | `Pacific/Kwajalein` | repeated 23 hours on 1969-09-30; skipped 1993-08-21 |
/// | `Australia/Eucla` | +08:45, DST 2006–2009 |
/// | `America/Nuuk` | DST at 23:00 the evening before (−02 / −01 since 2024) |
pub const ZONES: [&str; 27] = [
    "UTC",
    "Pacific/Apia",
    "America/Santiago",
    "America/Havana",
    "Australia/Lord_Howe",
    "Europe/Moscow",
    "America/New_York",
    "Europe/Berlin",
    "Asia/Kathmandu",
    "Pacific/Chatham",
    "America/St_Johns",
    "Africa/Casablanca",
    "Asia/Tehran",
    "Europe/Dublin",
    "Antarctica/Troll",
    "Pacific/Kiritimati",
    "America/Caracas",
    "Asia/Pyongyang",
    "Europe/Lisbon",
    "Australia/Adelaide",
    "Asia/Kolkata",
    "Europe/London",
    "America/Sao_Paulo",
    "Asia/Beirut",
    "Pacific/Kwajalein",
    "Australia/Eucla",
    "America/Nuuk",
];

/// Local dates on which a zone of [`ZONES`] changed its offset: starts drawn a few days
/// before one cross it early in their series.
pub(crate) const TRANSITIONS: [(&str, (i32, u32, u32)); 45] = [
    ("Pacific/Apia", (2011, 12, 30)),       // the whole day is skipped
    ("Pacific/Apia", (2011, 12, 30)),       // (twice: the rarest case)
    ("Pacific/Apia", (2021, 4, 4)),         // 04:00 → 03:00, the last DST
    ("America/Santiago", (2022, 9, 11)),    // 00:00 → 01:00
    ("America/Santiago", (2023, 4, 2)),     // 00:00 → 23:00 the day before
    ("America/Havana", (2024, 3, 10)),      // 00:00 → 01:00
    ("America/Havana", (2024, 11, 3)),      // 01:00 → 00:00
    ("Australia/Lord_Howe", (2026, 4, 5)),  // 02:00 → 01:30
    ("Australia/Lord_Howe", (2026, 10, 4)), // 02:00 → 02:30
    ("Europe/Moscow", (2011, 3, 27)),       // 02:00 → 03:00, then no more DST
    ("Europe/Moscow", (2014, 10, 26)),      // 02:00 → 01:00, standard time again
    ("America/New_York", (2026, 3, 8)),     // 02:00 → 03:00
    ("America/New_York", (2026, 11, 1)),    // 02:00 → 01:00
    ("Europe/Berlin", (2026, 3, 29)),       // 02:00 → 03:00
    ("Europe/Berlin", (2026, 10, 25)),      // 03:00 → 02:00
    ("Asia/Kathmandu", (1986, 1, 1)),       // 00:00 → 00:15
    ("Pacific/Chatham", (2026, 4, 5)),      // 03:45 → 02:45
    ("Pacific/Chatham", (2026, 9, 27)),     // 02:45 → 03:45
    ("America/St_Johns", (2010, 11, 7)),    // 00:01 → 23:01 the day before
    ("America/St_Johns", (2026, 3, 8)),     // 02:00 → 03:00
    ("Africa/Casablanca", (2026, 2, 15)),   // 03:00 → 02:00 (to +00)
    ("Africa/Casablanca", (2026, 3, 22)),   // 02:00 → 03:00 (back to +01)
    ("Asia/Tehran", (2022, 3, 22)),         // 00:00 → 01:00
    ("Asia/Tehran", (2022, 9, 22)),         // 00:00 → 23:00 the day before, the last
    ("Europe/Dublin", (2026, 3, 29)),       // 01:00 → 02:00
    ("Europe/Dublin", (2026, 10, 25)),      // 02:00 → 01:00
    ("Antarctica/Troll", (2026, 3, 29)),    // 01:00 → 03:00
    ("Antarctica/Troll", (2026, 10, 25)),   // 03:00 → 01:00
    ("Pacific/Kiritimati", (1994, 12, 31)), // the whole day is skipped
    ("America/Caracas", (2007, 12, 9)),     // 03:00 → 02:30
    ("America/Caracas", (2016, 5, 1)),      // 02:30 → 03:00
    ("Asia/Pyongyang", (2015, 8, 15)),      // 00:00 → 23:30 the day before
    ("Asia/Pyongyang", (2018, 5, 4)),       // 23:30 → 00:00 the day after
    ("Europe/Lisbon", (1985, 3, 31)),       // 00:00 → 01:00
    ("Europe/Lisbon", (2026, 10, 25)),      // 02:00 → 01:00
    ("Australia/Adelaide", (2026, 4, 5)),   // 03:00 → 02:00
    ("Australia/Adelaide", (2026, 10, 4)),  // 02:00 → 03:00
    ("Europe/London", (2026, 3, 29)),       // 01:00 → 02:00
    ("America/Sao_Paulo", (2018, 11, 4)),   // 00:00 → 01:00
    ("America/Sao_Paulo", (2019, 2, 17)),   // 00:00 → 23:00 the day before
    ("Asia/Beirut", (2026, 10, 25)),        // 00:00 → 23:00 the day before
    ("Pacific/Kwajalein", (1969, 10, 1)),   // 00:00 → 01:00 the day before
    ("Pacific/Kwajalein", (1993, 8, 21)),   // the whole day is skipped
    ("Australia/Eucla", (2008, 10, 26)),    // 02:00 → 03:00
    ("America/Nuuk", (2026, 3, 28)),        // 23:00 → 00:00 the day after
];

/// The first date [`zone_and_start`] draws away from the edges.
pub(crate) const FIRST_YEAR: i32 = 1950;
/// The last year [`zone_and_start`] draws away from the edges.
pub(crate) const LAST_YEAR: i32 = 2150;

/// A zone of [`ZONES`].
///
/// Shrinks toward `UTC`, then toward the zones listed first (Apia, Santiago, Havana, Lord
/// Howe).
///
/// ```
/// use proptest::strategy::{Strategy, ValueTree};
/// use proptest::test_runner::TestRunner;
///
/// let mut runner = TestRunner::deterministic();
/// let zone = recurring_deals::strategies::zone().new_tree(&mut runner).unwrap().current();
/// assert!(recurring_deals::strategies::ZONES.contains(&zone.name()));
/// ```
pub fn zone() -> impl Strategy<Value = Zone> {
    select(zones_of(&ZONES))
}

/// The zones of `names` that the rules in use have (all of [`ZONES`] in every tz database
/// release since 2022), UTC when none.
pub(crate) fn zones_of(names: &[&str]) -> Vec<Zone> {
    let zones: Vec<Zone> = names.iter().filter_map(|n| Zone::get(n).ok()).collect();
    if zones.is_empty() {
        vec![Zone::UTC]
    } else {
        zones
    }
}

/// A time of day: often one that a DST transition of [`ZONES`] makes missing or repeated
/// (00:00 and 00:30 at midnight transitions, 01:30, 02:15, 02:30 and 02:45 at night ones,
/// 23:30 before a transition that goes back past midnight), otherwise any whole second.
///
/// Shrinks toward midnight.
pub fn time_of_day() -> impl Strategy<Value = NaiveTime> {
    prop_oneof![
        Just((0, 0, 0)),
        Just((0, 30, 0)),
        Just((2, 30, 0)),
        Just((1, 30, 0)),
        Just((2, 15, 0)),
        Just((2, 45, 0)),
        Just((23, 30, 0)),
        (0u32..24, 0u32..60, 0u32..60),
    ]
    .prop_map(|(h, m, s)| {
        // Hours below 24, minutes and seconds below 60: a valid time.
        NaiveTime::from_hms_opt(h, m, s).expect("a valid time of day")
    })
}

/// A zone of [`ZONES`] and a start (local date and time of day in it): anywhere from 1950 to
/// 2150, often a few days before one of the zone's transitions (so the first occurrences
/// cross it), sometimes in the first weeks of 1900 or the last year before 2199-12-31, the
/// edges of the supported years (series that the end of 2199 cuts short).
///
/// Shrinks toward a start anywhere (rather than near a transition), `UTC`, 1950-01-01 and
/// midnight.
pub fn zone_and_start() -> impl Strategy<Value = (Zone, NaiveDateTime)> {
    zone_and_start_among(&zones_of(&ZONES), Edges::Included)
}

/// Whether starts may be drawn at the edges of the supported years.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Edges {
    Included,
    Excluded,
}

/// [`zone_and_start`] over some zones.
pub(crate) fn zone_and_start_among(
    zones: &[Zone],
    edges: Edges,
) -> BoxedStrategy<(Zone, NaiveDateTime)> {
    (zone_and_day(zones, edges), time_of_day())
        .prop_map(|((zone, day), time)| (zone, day.and_time(time)))
        .boxed()
}

fn zone_and_day(zones: &[Zone], edges: Edges) -> BoxedStrategy<(Zone, NaiveDate)> {
    let zones = zones.to_vec();
    let anywhere = (
        select(zones.clone()),
        day_in(date(FIRST_YEAR, 1, 1), date(LAST_YEAR, 12, 31)),
    );
    let mut arms = vec![(6, anywhere.boxed())];
    let transitions: Vec<(Zone, NaiveDate)> = TRANSITIONS
        .iter()
        .filter_map(|&(name, (y, m, d))| Some((Zone::get(name).ok()?, date(y, m, d))))
        .filter(|(zone, _)| zones.contains(zone))
        .collect();
    if !transitions.is_empty() {
        let near = (select(transitions), 0u64..24)
            .prop_map(|((zone, day), k)| (zone, day - Days::new(20) + Days::new(k)));
        arms.push((4, near.boxed()));
    }
    if edges == Edges::Included {
        let day = prop_oneof![
            (0u64..90).prop_map(|k| date(1900, 1, 1) + Days::new(k)),
            (0u64..400).prop_map(|k| date(2199, 12, 31) - Days::new(k)),
        ];
        arms.push((1, (select(zones), day).boxed()));
    }
    Union::new_weighted(arms).boxed()
}

/// A date from `first` to `last`, both included; shrinks toward `first`.
pub(crate) fn day_in(first: NaiveDate, last: NaiveDate) -> impl Strategy<Value = NaiveDate> {
    let days = u64::try_from((last - first).num_days()).unwrap_or(0);
    (0..=days).prop_map(move |d| first + Days::new(d))
}

/// A date from literal numbers.
pub(crate) fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    // Only called with literal dates of the supported years.
    NaiveDate::from_ymd_opt(y, m, d).expect("a valid literal date")
}

/// The first and last dates the crate supports.
pub(crate) fn first_supported() -> NaiveDate {
    date(1900, 1, 1)
}

pub(crate) fn last_supported() -> NaiveDate {
    date(2199, 12, 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// Each listed transition changes the zone's offset within a day of its date.
    #[test]
    fn transitions_change_the_offset() {
        for (zone, (y, m, d)) in TRANSITIONS {
            assert!(ZONES.contains(&zone), "{zone} is not in ZONES");
            let zone = Zone::get(zone).unwrap();
            let offset = |day: NaiveDate| {
                let noon = chrono::Utc.from_utc_datetime(&day.and_hms_opt(12, 0, 0).expect("noon"));
                zone.offset_seconds(noon)
            };
            let day = date(y, m, d);
            assert_ne!(
                offset(day - Days::new(1)),
                offset(day + Days::new(1)),
                "{zone} on {day}"
            );
        }
    }

    #[test]
    fn zones_are_distinct() {
        let mut names: Vec<&str> = zones_of(&ZONES).iter().map(|z| z.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ZONES.len());
    }
}
