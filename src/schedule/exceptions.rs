//! Exceptions to a rule: occurrences skipped, occurrences moved, extra dates (RFC 5545 EXDATE,
//! a moved recurrence instance, RDATE).

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDateTime;

/// The exceptions of a schedule, as given and in the form the iterator consumes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub(crate) struct Exceptions {
    skipped: BTreeSet<NaiveDateTime>,
    moved: BTreeMap<NaiveDateTime, NaiveDateTime>,
    extra: BTreeSet<NaiveDateTime>,
    /// Local seconds of rule occurrences that are not emitted where the rule puts them
    /// (skipped or moved away), sorted.
    pub(crate) removed: Vec<i64>,
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
    pub(crate) fn new(
        skipped: BTreeSet<NaiveDateTime>,
        moved: BTreeMap<NaiveDateTime, NaiveDateTime>,
        extra: BTreeSet<NaiveDateTime>,
    ) -> Exceptions {
        let mut removed: Vec<i64> = skipped
            .iter()
            .chain(moved.keys())
            .map(|t| t.and_utc().timestamp())
            .collect();
        removed.sort_unstable();
        removed.dedup();
        Exceptions {
            skipped,
            moved,
            extra,
            removed,
            inserted: Vec::new(),
            extra_instants: Vec::new(),
        }
    }

    /// The exceptions as given: skipped, moved, extra.
    pub(crate) fn parts(
        &self,
    ) -> (
        BTreeSet<NaiveDateTime>,
        BTreeMap<NaiveDateTime, NaiveDateTime>,
        BTreeSet<NaiveDateTime>,
    ) {
        (self.skipped.clone(), self.moved.clone(), self.extra.clone())
    }

    pub(crate) fn skipped(&self) -> impl Iterator<Item = NaiveDateTime> + '_ {
        self.skipped.iter().copied()
    }

    pub(crate) fn moved(&self) -> impl Iterator<Item = (NaiveDateTime, NaiveDateTime)> + '_ {
        self.moved.iter().map(|(a, b)| (*a, *b))
    }

    pub(crate) fn extra(&self) -> impl Iterator<Item = NaiveDateTime> + '_ {
        self.extra.iter().copied()
    }

    /// Whether the rule occurrence at local seconds `local` is skipped or moved away.
    pub(crate) fn is_removed(&self, local: i64) -> bool {
        !self.removed.is_empty() && self.removed.binary_search(&local).is_ok()
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
