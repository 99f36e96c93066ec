//! The crate's zone type: a validated IANA name, resolved through the zone rules in use.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;
use std::sync::{LazyLock, PoisonError, RwLock};

use chrono::{DateTime, NaiveDateTime, Utc};

use super::rules::{self, ZoneError};

/// An IANA time zone (`"Europe/Berlin"`), validated against the zone rules in use.
///
/// A zone is its name: its offsets are read from the rules in use ([`crate::tz::load`]) each
/// time they are needed, so a zone added or changed by a newer tz database release works
/// without a new release of this crate. It is `Copy` and 16 bytes; names are interned, case
/// is taken from the database (`"europe/berlin"` gives `"Europe/Berlin"`).
///
/// Serialized (JSON, RFC 5545 `TZID`, stores) as its name; deserializing validates it.
///
/// ```
/// use chrono::{NaiveDate, TimeZone, Utc};
/// use recurring_deals::Zone;
///
/// let vancouver = Zone::get("America/Vancouver")?;
/// assert_eq!(vancouver.name(), "America/Vancouver");
/// // Since tzdb 2026b British Columbia keeps UTC−7 all year.
/// let nine = NaiveDate::from_ymd_opt(2026, 11, 2).unwrap().and_hms_opt(9, 0, 0).unwrap();
/// assert_eq!(vancouver.resolve(nine), Utc.with_ymd_and_hms(2026, 11, 2, 16, 0, 0).unwrap());
/// assert!(Zone::get("Mars/Olympus").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy)]
pub struct Zone {
    id: u32,
    name: &'static str,
}

impl Zone {
    /// Coordinated Universal Time.
    pub const UTC: Zone = Zone { id: 0, name: "UTC" };

    /// The zone named `name` (an IANA name, any case).
    ///
    /// # Errors
    /// [`ZoneError::Unknown`] when the rules in use have no zone of that name (fixed offsets
    /// such as `"+02:00"` and POSIX TZ strings are not zone names).
    pub fn get(name: &str) -> Result<Zone, ZoneError> {
        let key = name.to_ascii_lowercase();
        if let Some(zone) = names().by_key.get(&key) {
            return Ok(*zone);
        }
        let tz = rules::lookup(name)?;
        // `Etc/Unknown` is jiff's stand-in for "no zone", not a zone.
        if tz.is_unknown() {
            return Err(ZoneError::Unknown {
                name: name.to_owned(),
                version: rules::tzdb_version(),
            });
        }
        let canonical = tz.iana_name().unwrap_or(name).to_owned();
        let mut interner = NAMES.write().unwrap_or_else(PoisonError::into_inner);
        let zone = match interner.by_key.get(&canonical.to_ascii_lowercase()) {
            Some(zone) => *zone,
            None => {
                let id = u32::try_from(interner.all.len()).unwrap_or(u32::MAX);
                let zone = Zone {
                    id,
                    name: Box::leak(canonical.clone().into_boxed_str()),
                };
                interner.all.push(zone);
                interner.by_key.insert(canonical.to_ascii_lowercase(), zone);
                zone
            }
        };
        interner.by_key.insert(key, zone);
        Ok(zone)
    }

    /// The zone's IANA name, as the tz database spells it.
    pub fn name(self) -> &'static str {
        self.name
    }

    /// The instant of the local wall-clock time `local` here, under the crate's DST policy
    /// (see [`resolve_local`](crate::resolve_local)).
    pub fn resolve(self, local: NaiveDateTime) -> DateTime<Utc> {
        super::resolve_local(self, local)
    }

    /// The local wall-clock time of the instant `at` here.
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use recurring_deals::Zone;
    ///
    /// let berlin = Zone::get("Europe/Berlin")?;
    /// let at = Utc.with_ymd_and_hms(2026, 7, 1, 10, 0, 0).unwrap();
    /// assert_eq!(berlin.to_local(at).to_string(), "2026-07-01 12:00:00");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_local(self, at: DateTime<Utc>) -> NaiveDateTime {
        let seconds = rules::table(self).to_local(at.timestamp());
        DateTime::from_timestamp(seconds, at.timestamp_subsec_nanos())
            .map_or_else(|| at.naive_utc(), |t| t.naive_utc())
    }

    /// The offset from UTC in seconds (east positive) in force at `at`.
    pub fn offset_seconds(self, at: DateTime<Utc>) -> i32 {
        rules::table(self).offset_at(at.timestamp())
    }

    pub(crate) fn id(self) -> u32 {
        self.id
    }

    /// A fingerprint of the zone's rules in use (over 1900–2199): equal while they resolve
    /// every instant alike, different once a reload changes any offset.
    pub(crate) fn rules_fingerprint(self) -> u64 {
        rules::table(self).fingerprint()
    }
}

/// Every zone interned so far, with its id.
pub(super) fn interned() -> Vec<(u32, &'static str)> {
    names().all.iter().map(|z| (z.id, z.name)).collect()
}

struct Interner {
    /// By id.
    all: Vec<Zone>,
    /// By lower-case name (as given and canonical).
    by_key: HashMap<String, Zone>,
}

static NAMES: LazyLock<RwLock<Interner>> = LazyLock::new(|| {
    let mut by_key = HashMap::new();
    by_key.insert("utc".to_owned(), Zone::UTC);
    RwLock::new(Interner {
        all: vec![Zone::UTC],
        by_key,
    })
});

fn names() -> std::sync::RwLockReadGuard<'static, Interner> {
    NAMES.read().unwrap_or_else(PoisonError::into_inner)
}

impl PartialEq for Zone {
    fn eq(&self, other: &Zone) -> bool {
        self.id == other.id
    }
}

impl Eq for Zone {}

impl Hash for Zone {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.id.hash(state);
    }
}

impl PartialOrd for Zone {
    fn partial_cmp(&self, other: &Zone) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// By name.
impl Ord for Zone {
    fn cmp(&self, other: &Zone) -> Ordering {
        self.name.cmp(other.name)
    }
}

impl fmt::Debug for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Zone({:?})", self.name)
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

impl FromStr for Zone {
    type Err = ZoneError;

    fn from_str(name: &str) -> Result<Zone, ZoneError> {
        Zone::get(name)
    }
}

impl Default for Zone {
    fn default() -> Zone {
        Zone::UTC
    }
}

impl serde::Serialize for Zone {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name)
    }
}

impl<'de> serde::Deserialize<'de> for Zone {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Zone, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Zone::get(&name).map_err(serde::de::Error::custom)
    }
}

/// An offset of a [`Zone`] at some instant: what `chrono::DateTime<Zone>` carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ZoneOffset {
    zone: Zone,
    fixed: chrono::FixedOffset,
}

impl ZoneOffset {
    /// The zone.
    pub fn zone(&self) -> Zone {
        self.zone
    }
}

impl chrono::Offset for ZoneOffset {
    fn fix(&self) -> chrono::FixedOffset {
        self.fixed
    }
}

impl fmt::Display for ZoneOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.fixed, f)
    }
}

/// chrono's view of a zone, so that `DateTime<Zone>` works as `DateTime<chrono_tz::Tz>` did:
/// `at.with_timezone(&zone)`, `zone.from_local_datetime(&local)` (which, as chrono does,
/// answers `None` in a gap and `Ambiguous` in an overlap; [`Zone::resolve`] applies the
/// crate's policy instead).
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use recurring_deals::Zone;
///
/// let berlin = Zone::get("Europe/Berlin")?;
/// let at = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap().with_timezone(&berlin);
/// assert_eq!(at.to_rfc3339(), "2026-01-01T13:00:00+01:00");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl chrono::TimeZone for Zone {
    type Offset = ZoneOffset;

    fn from_offset(offset: &ZoneOffset) -> Zone {
        offset.zone
    }

    fn offset_from_local_date(&self, local: &chrono::NaiveDate) -> chrono::LocalResult<ZoneOffset> {
        self.offset_from_local_datetime(&local.and_time(chrono::NaiveTime::MIN))
    }

    fn offset_from_local_datetime(&self, local: &NaiveDateTime) -> chrono::LocalResult<ZoneOffset> {
        let offsets = rules::table(*self).local_offsets(local.and_utc().timestamp());
        let offset = |seconds: i32| ZoneOffset {
            zone: *self,
            // Offsets of the tz database are below a day.
            fixed: chrono::FixedOffset::east_opt(seconds)
                .unwrap_or_else(|| chrono::FixedOffset::east_opt(0).expect("zero is in range")),
        };
        match offsets {
            (Some(a), Some(b)) => chrono::LocalResult::Ambiguous(offset(a), offset(b)),
            (Some(a), None) | (None, Some(a)) => chrono::LocalResult::Single(offset(a)),
            (None, None) => chrono::LocalResult::None,
        }
    }

    fn offset_from_utc_date(&self, utc: &chrono::NaiveDate) -> ZoneOffset {
        self.offset_from_utc_datetime(&utc.and_time(chrono::NaiveTime::MIN))
    }

    fn offset_from_utc_datetime(&self, utc: &NaiveDateTime) -> ZoneOffset {
        let seconds = rules::table(*self).offset_at(utc.and_utc().timestamp());
        ZoneOffset {
            zone: *self,
            fixed: chrono::FixedOffset::east_opt(seconds)
                .unwrap_or_else(|| chrono::FixedOffset::east_opt(0).expect("zero is in range")),
        }
    }
}
