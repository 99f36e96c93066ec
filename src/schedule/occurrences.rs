//! Occurrences and the iterator over them.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::civil;
use crate::schedule::Schedule;
use crate::schedule::cursor::{BaseItem, Cursor};
use crate::schedule::exceptions::Inserted;

/// One occurrence of a schedule.
///
/// `seq` is the 0-based position in the series and is stable: seeking gives the same number
/// as walking, and a skipped occurrence leaves its number unused rather than renumbering the
/// rest (so `(series, seq)` is a safe idempotency key).
///
/// It keeps plain numbers and builds the chrono values when asked: turning a day number into a
/// `NaiveDate` is the largest cost of streaming a series, and callers often need only one of
/// `date()` and `at()`. Its JSON form is `{"seq": 0, "date": "2026-01-31", "at": "..."}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "OccurrenceForm", try_from = "OccurrenceForm")]
pub struct Occurrence {
    /// Seconds since the Unix epoch (first: occurrences order by instant).
    at: i64,
    seq: u64,
    /// Days since 1970-01-01 of the civil date.
    day: i32,
}

impl Occurrence {
    /// Position in the series, from 0.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The civil date in the schedule's zone the occurrence is for. For a local time moved
    /// forward out of a DST gap past midnight this stays the rule's date.
    pub fn date(&self) -> NaiveDate {
        // Built only from dates inside the supported years, which chrono represents.
        civil::date_of(self.day).unwrap_or_default()
    }

    /// The instant.
    pub fn at(&self) -> DateTime<Utc> {
        // Built only from instants near the supported years, which chrono represents.
        DateTime::from_timestamp(self.at, 0).unwrap_or_default()
    }

    /// The instant as seconds since the Unix epoch, as chrono's `DateTime::timestamp` gives
    /// it for [`Occurrence::at`], without building a chrono value: for hot loops (bulk
    /// expansion, comparisons). An occurrence is at a whole second, so
    /// `o.timestamp() <= t.timestamp()` is exactly `o.at() <= t`.
    ///
    /// ```
    /// use recurring_deals::{Interval, Recurrence, Schedule, Zone};
    ///
    /// let start = chrono::NaiveDate::from_ymd_opt(2026, 1, 31).unwrap().and_hms_opt(9, 0, 0).unwrap();
    /// let schedule = Schedule::builder(Recurrence::daily(Interval::ONE), start, Zone::UTC).build()?;
    /// let first = schedule.occurrences().next().unwrap();
    /// assert_eq!(first.timestamp(), first.at().timestamp());
    /// assert_eq!(first.timestamp(), 1_769_850_000);
    /// # Ok::<(), recurring_deals::ScheduleError>(())
    /// ```
    pub fn timestamp(&self) -> i64 {
        self.at
    }

    fn from_parts(seq: u64, local: i64, at: i64) -> Option<Occurrence> {
        let day = i32::try_from(local.div_euclid(86_400)).ok()?;
        // Keep the getters' promise cheaply: a date a few days around the supported years,
        // and an instant within a day of its local time, both exist in chrono.
        let near_range = civil::min_days() - 8..=civil::max_days() + 8;
        if !near_range.contains(&day) || (at - local).abs() > 2 * 86_400 {
            return None;
        }
        Some(Occurrence { at, seq, day })
    }
}

/// The serialized form of an [`Occurrence`].
#[derive(Serialize, Deserialize)]
struct OccurrenceForm {
    seq: u64,
    date: NaiveDate,
    at: DateTime<Utc>,
}

impl From<Occurrence> for OccurrenceForm {
    fn from(occurrence: Occurrence) -> Self {
        OccurrenceForm {
            seq: occurrence.seq(),
            date: occurrence.date(),
            at: occurrence.at(),
        }
    }
}

impl TryFrom<OccurrenceForm> for Occurrence {
    type Error = String;
    fn try_from(form: OccurrenceForm) -> Result<Self, Self::Error> {
        Ok(Occurrence {
            at: form.at.timestamp(),
            seq: form.seq,
            day: civil::days_of(form.date),
        })
    }
}

/// Iterator over a schedule's occurrences in increasing order of instant. Allocates nothing
/// per occurrence for structured rules.
pub struct Occurrences<'a> {
    schedule: &'a Schedule,
    cursor: Cursor<'a>,
    pending: Option<BaseItem>,
    inserted: &'a [Inserted],
}

impl<'a> Occurrences<'a> {
    pub(crate) fn new(schedule: &'a Schedule, after: Option<i64>) -> Occurrences<'a> {
        let all = schedule.exceptions().inserted.as_slice();
        let inserted = match after {
            Some(after) => &all[all.partition_point(|i| i.at <= after)..],
            None => all,
        };
        Occurrences {
            schedule,
            cursor: Cursor::new(schedule, after),
            pending: None,
            inserted,
        }
    }

    /// The next rule occurrence that is neither skipped nor moved away.
    fn next_base(&mut self) -> Option<BaseItem> {
        if let Some(item) = self.pending.take() {
            return Some(item);
        }
        let exceptions = self.schedule.exceptions();
        loop {
            let item = self.cursor.next_item()?;
            if !exceptions.is_removed(item.local, item.at) {
                return Some(item);
            }
        }
    }
}

impl Iterator for Occurrences<'_> {
    type Item = Occurrence;

    fn next(&mut self) -> Option<Occurrence> {
        let base = self.next_base();
        match (base, self.inserted.first()) {
            (Some(item), Some(insert)) if insert.at < item.at => {
                self.pending = Some(item);
                self.inserted = &self.inserted[1..];
                Occurrence::from_parts(insert.seq, insert.local, insert.at)
            }
            (Some(item), _) => {
                let seq = item.rule_seq + self.schedule.exceptions().extra_before(item.at);
                Occurrence::from_parts(seq, item.local, item.at)
            }
            (None, Some(insert)) => {
                self.inserted = &self.inserted[1..];
                Occurrence::from_parts(insert.seq, insert.local, insert.at)
            }
            (None, None) => None,
        }
    }
}

impl std::iter::FusedIterator for Occurrences<'_> {}
