//! RFC 5545 text: reading `DTSTART`/`RRULE`/`EXDATE`/`RDATE` lines into a [`Schedule`], and
//! writing a schedule back with the crate's own writer.
//!
//! Rules that fit the structured vocabulary become structured schedules (arithmetic seek) with
//! RFC 5545's meaning kept ([`Overflow::Skip`](crate::Overflow::Skip)); the others are
//! listed period by period from their day masks ([`periods`]) in floating local time, with
//! DST resolved by this crate; the rrule crate vets their parts and is the walk the tests
//! compare the listing with.

mod parse;
pub(crate) mod periods;
pub(crate) mod rule;
mod write;

pub(crate) use rule::RfcRule;

use crate::error::ScheduleError;
use crate::schedule::Schedule;

impl Schedule {
    /// Reads a schedule from RFC 5545 text: a `DTSTART[;TZID=zone]:YYYYMMDDTHHMMSS` line (or a
    /// UTC `...Z` time, or `;VALUE=DATE:YYYYMMDD`), an `RRULE:` line, and optional `EXDATE`
    /// and `RDATE` lines. A floating `DTSTART` (no zone, no `Z`) is read in UTC.
    ///
    /// The rule keeps its RFC 5545 meaning: months without the day are skipped, and a
    /// `DTSTART` that does not match the rule is not an occurrence.
    ///
    /// An `EXDATE` or `RDATE` floating or with the schedule's `TZID` is a local time (an
    /// `EXDATE` names the occurrence by its nominal time, before DST: 02:30 on a spring-forward
    /// day names the occurrence that happens at 03:30); one in UTC (`...Z`) or with another
    /// zone's `TZID` is an instant, kept as one and written back in UTC by
    /// [`Schedule::to_rrule`]. An `EXDATE` that names no occurrence changes nothing and is not
    /// kept.
    ///
    /// # Errors
    /// [`ScheduleError::TooLarge`] for text over [`crate::limits::RRULE_BYTES`] or more than
    /// [`crate::limits::SCHEDULE_EXCEPTIONS`] EXDATE, RDATE and move values;
    /// [`ScheduleError::Parse`] naming the line, the part and the offending text for text
    /// outside RFC 5545's grammar (empty or repeated rule parts, empty list items, values out
    /// of the grammar's ranges, a DATE without `VALUE=DATE`, a `TZID` on a UTC time);
    /// [`ScheduleError::UnsupportedFrequency`] for HOURLY, MINUTELY and SECONDLY;
    /// [`ScheduleError::Contradictory`] for COUNT with UNTIL, a `BYDAY` ordinal under WEEKLY
    /// and other parts RFC 5545 does not allow together; [`ScheduleError::UnknownZone`];
    /// [`ScheduleError::DateOutOfRange`]; [`ScheduleError::UntilOutOfRange`] for an `UNTIL`
    /// past the supported years in the schedule's zone (`UNTIL=99991231T235959`: series end
    /// on 2199-12-31, so no later end is needed); [`ScheduleError::NoOccurrence`] for a rule that
    /// never occurs in the supported years (`FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30`), found by
    /// counting the matching days of its periods rather than by walking.
    ///
    /// ```
    /// use recurring_deals::Schedule;
    ///
    /// let schedule = Schedule::from_rrule(
    ///     "DTSTART;TZID=Europe/Moscow:20260131T090000\nRRULE:FREQ=MONTHLY;BYMONTHDAY=31;COUNT=3",
    /// )?;
    /// let dates: Vec<String> = schedule.occurrences().map(|o| o.date().to_string()).collect();
    /// assert_eq!(dates, ["2026-01-31", "2026-03-31", "2026-05-31"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_rrule(text: &str) -> Result<Schedule, ScheduleError> {
        if text.len() > crate::limits::RRULE_BYTES {
            return Err(ScheduleError::TooLarge {
                what: "RFC 5545 text",
                size: text.len(),
                max: crate::limits::RRULE_BYTES,
                unit: "bytes",
            });
        }
        parse::parse(text)
    }

    /// Writes the schedule as RFC 5545 text that [`Schedule::from_rrule`] reads back into a
    /// schedule with the same occurrences.
    ///
    /// Clamped month days are written in a form any RFC 5545 tool expands the same way
    /// (`BYMONTHDAY=28,29,30,31;BYSETPOS=-1`). What RFC 5545 cannot say (working-day rules,
    /// calendars, adjustments, moved occurrences) is written as `X-RD-*` properties, which
    /// other tools ignore.
    ///
    /// ```
    /// use chrono::NaiveDate;
    /// use recurring_deals::{DayOfMonth, Interval, MonthDay, Recurrence, Schedule, Zone};
    ///
    /// let start = NaiveDate::from_ymd_opt(2026, 1, 31).unwrap().and_hms_opt(9, 0, 0).unwrap();
    /// let schedule = Schedule::builder(
    ///     Recurrence::monthly(Interval::ONE, MonthDay::Day(DayOfMonth::new(31)?)),
    ///     start,
    ///     Zone::get("Europe/Moscow")?,
    /// )
    /// .build()?;
    /// assert_eq!(
    ///     schedule.to_rrule(),
    ///     "DTSTART;TZID=Europe/Moscow:20260131T090000\nRRULE:FREQ=MONTHLY;BYMONTHDAY=28,29,30,31;BYSETPOS=-1"
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_rrule(&self) -> String {
        write::write(self)
    }
}
