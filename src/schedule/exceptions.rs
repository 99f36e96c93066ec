//! Exceptions to a rule: occurrences skipped, occurrences moved, extra dates (RFC 5545 EXDATE,
//! a moved recurrence instance, RDATE).
//!
//! An exception names an occurrence either by local time or by instant, and keeps the form it
//! was given in (so RFC 5545 text and the JSON form write it back as it was read):
//!
//! * a **local** skip (a `NaiveDateTime` in the schedule's zone, RFC 5545 `EXDATE` floating or
//!   with the schedule's `TZID`) names the occurrence by its *nominal* local time, the time the
//!   rule gives before DST is applied: on a spring-forward day, skipping 02:30 removes the
//!   occurrence that happens at 03:30;
//! * an **instant** skip (`EXDATE:...Z`, or a `TZID` other than the schedule's) names the
//!   occurrence that happens at that instant, whatever its nominal time;
//! * a local extra date is resolved with the crate's DST policy (a gap moves it forward, an
//!   overlap takes the earlier instant); an instant extra date happens at that instant, in
//!   either half of a repeated hour.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDateTime, Utc};

/// The exceptions as given, in the forms they were given in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub(crate) struct Given {
    /// Occurrences skipped, by nominal local time.
    pub(crate) skipped: BTreeSet<NaiveDateTime>,
    /// Occurrences skipped, by instant.
    pub(crate) skipped_at: BTreeSet<DateTime<Utc>>,
    /// Occurrences moved: nominal local time to new local time.
    pub(crate) moved: BTreeMap<NaiveDateTime, NaiveDateTime>,
    /// Extra occurrences at local times.
    pub(crate) extra: BTreeSet<NaiveDateTime>,
    /// Extra occurrences at instants.
    pub(crate) extra_at: BTreeSet<DateTime<Utc>>,
}

impl Given {
    pub(crate) fn is_empty(&self) -> bool {
        self.skipped.is_empty()
            && self.skipped_at.is_empty()
            && self.moved.is_empty()
            && self.extra.is_empty()
            && self.extra_at.is_empty()
    }
}

/// The exceptions of a schedule, as given and in the form the iterator consumes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub(crate) struct Exceptions {
    given: Given,
    /// Local seconds of rule occurrences that are not emitted where the rule puts them
    /// (skipped or moved away), sorted.
    removed: Vec<i64>,
    /// Instants of rule occurrences skipped by instant, sorted.
    removed_at: Vec<i64>,
    /// Occurrences emitted outside the rule's own walk (moved ones and extra dates), sorted by
    /// instant.
    pub(crate) inserted: Vec<Inserted>,
    /// Instants of extra dates that are not rule occurrences, sorted: each shifts the `seq`
    /// of the rule occurrences after it by one.
    pub(crate) extra_instants: Vec<i64>,
}

/// An occurrence that does not come from the rule's walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Inserted {
    pub(crate) at: i64,
    pub(crate) local: i64,
    pub(crate) seq: u64,
}

impl Exceptions {
    pub(crate) fn new(given: Given) -> Exceptions {
        let mut removed: Vec<i64> = given
            .skipped
            .iter()
            .chain(given.moved.keys())
            .map(|t| t.and_utc().timestamp())
            .collect();
        removed.sort_unstable();
        removed.dedup();
        // A BTreeSet iterates in order: already sorted and distinct.
        let removed_at = given.skipped_at.iter().map(DateTime::timestamp).collect();
        Exceptions {
            given,
            removed,
            removed_at,
            inserted: Vec::new(),
            extra_instants: Vec::new(),
        }
    }

    /// The exceptions as given.
    pub(crate) fn given(&self) -> &Given {
        &self.given
    }

    /// Whether the rule occurrence at nominal local seconds `local`, instant `at`, is skipped
    /// or moved away.
    #[inline]
    pub(crate) fn is_removed(&self, local: i64, at: i64) -> bool {
        (!self.removed.is_empty() && self.removed.binary_search(&local).is_ok())
            || (!self.removed_at.is_empty() && self.removed_at.binary_search(&at).is_ok())
    }

    /// How many extra dates come before instant `at` (the `seq` shift of a rule occurrence).
    pub(crate) fn extra_before(&self, at: i64) -> u64 {
        if self.extra_instants.is_empty() {
            0
        } else {
            self.extra_instants.partition_point(|&t| t < at) as u64
        }
    }
}
