//! The examples of RFC 5545 §3.8.5.3 ("Recurrence Rule"), as a table.
//!
//! Every example whose FREQ is DAILY, WEEKLY, MONTHLY or YEARLY is a row: its DTSTART/RRULE
//! text as printed in the RFC (examples that give two equivalent rules have a row for each),
//! and the occurrences the RFC lists, typed from the RFC's text as local date-times in
//! America/New_York ("All examples assume the Eastern United States time zone"). The listings
//! were cross-checked with python-dateutil 2.9 (`rrulestr` with a `ZoneInfo` start).
//!
//! A rule with COUNT or UNTIL is compared in full; an unbounded one on as many occurrences as
//! the RFC lists before its "...". Each row must also survive `from_rrule(to_rrule(s))` with
//! identical occurrences.
//!
//! The examples with HOURLY and MINUTELY rules are outside the crate's vocabulary: they must
//! be refused with `ScheduleError::UnsupportedFrequency`.
//!
//! Exceptions in §3.8.5.3: one example has an EXDATE ("Every Friday the 13th", which excludes
//! its own DTSTART); none has an RDATE.
//!
//! Two tests at the end take RFC 5545 §3.3.10's text beyond the examples, where the rrule
//! crate (and python-dateutil) read a rule otherwise (see also `tests/differential.rs`).

use chrono::{NaiveDate, NaiveDateTime};
use recurring_deals::Zone;
use recurring_deals::{Schedule, ScheduleError};

/// One example of RFC 5545 §3.8.5.3.
struct Example {
    /// The RFC's caption.
    title: &'static str,
    /// DTSTART, RRULE (and EXDATE) lines as printed, unfolded.
    text: &'static str,
    /// The RFC's listing: `(year, month, days)`, days as `"2,4,9-11"`.
    listed: &'static [(i32, u32, &'static str)],
    /// The local times of day of each listed day.
    times: &'static [(u32, u32)],
    /// Whether the listing is the whole series or only its beginning.
    listing: Listing,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Listing {
    /// The rule has COUNT or UNTIL and the RFC lists every occurrence.
    Whole,
    /// The rule is unbounded: the RFC lists the first occurrences, then "...".
    Beginning,
}

use Listing::{Beginning, Whole};

const NINE: &[(u32, u32)] = &[(9, 0)];

/// "Every 20 minutes from 9:00 AM to 4:40 PM every day": BYHOUR=9..16, BYMINUTE=0,20,40.
const EVERY_20_MINUTES: &[(u32, u32)] = &[
    (9, 0),
    (9, 20),
    (9, 40),
    (10, 0),
    (10, 20),
    (10, 40),
    (11, 0),
    (11, 20),
    (11, 40),
    (12, 0),
    (12, 20),
    (12, 40),
    (13, 0),
    (13, 20),
    (13, 40),
    (14, 0),
    (14, 20),
    (14, 40),
    (15, 0),
    (15, 20),
    (15, 40),
    (16, 0),
    (16, 20),
    (16, 40),
];

const EXAMPLES: &[Example] = &[
    Example {
        title: "Daily for 10 occurrences",
        text: "DTSTART;TZID=America/New_York:19970902T090000\nRRULE:FREQ=DAILY;COUNT=10",
        listed: &[(1997, 9, "2-11")],
        times: NINE,
        listing: Whole,
    },
    Example {
        title: "Daily until December 24, 1997",
        text: "DTSTART;TZID=America/New_York:19970902T090000\nRRULE:FREQ=DAILY;UNTIL=19971224T000000Z",
        listed: &[
            (1997, 9, "2-30"),
            (1997, 10, "1-25"),
            (1997, 10, "26-31"),
            (1997, 11, "1-30"),
            (1997, 12, "1-23"),
        ],
        times: NINE,
        listing: Whole,
    },
    Example {
        title: "Every other day - forever",
        text: "DTSTART;TZID=America/New_York:19970902T090000\nRRULE:FREQ=DAILY;INTERVAL=2",
        // "September 2,4,6,8...24,26,28,30; October 2,4,6...20,22,24; October 26,28,30;
        // November 1,3,5,7...25,27,29; December 1,3,..."
        listed: &[
            (1997, 9, "2,4,6,8,10,12,14,16,18,20,22,24,26,28,30"),
            (1997, 10, "2,4,6,8,10,12,14,16,18,20,22,24"),
            (1997, 10, "26,28,30"),
            (1997, 11, "1,3,5,7,9,11,13,15,17,19,21,23,25,27,29"),
            (1997, 12, "1,3"),
        ],
        times: NINE,
        listing: Beginning,
    },
    Example {
        title: "Every 10 days, 5 occurrences",
        text: "DTSTART;TZID=America/New_York:19970902T090000\nRRULE:FREQ=DAILY;INTERVAL=10;COUNT=5",
        listed: &[(1997, 9, "2,12,22"), (1997, 10, "2,12")],
        times: NINE,
        listing: Whole,
    },
    Example {
        title: "Every day in January, for 3 years (yearly form)",
        text: "DTSTART;TZID=America/New_York:19980101T090000\n\
               RRULE:FREQ=YEARLY;UNTIL=20000131T140000Z;BYMONTH=1;BYDAY=SU,MO,TU,WE,TH,FR,SA",
        listed: &[(1998, 1, "1-31"), (1999, 1, "1-31"), (2000, 1, "1-31")],
        times: NINE,
        listing: Whole,
    },
    Example {
        title: "Every day in January, for 3 years (daily form)",
        text: "DTSTART;TZID=America/New_York:19980101T090000\n\
               RRULE:FREQ=DAILY;UNTIL=20000131T140000Z;BYMONTH=1",
        listed: &[(1998, 1, "1-31"), (1999, 1, "1-31"), (2000, 1, "1-31")],
        times: NINE,
        listing: Whole,
    },
    Example {
        title: "Weekly for 10 occurrences",
        text: "DTSTART;TZID=America/New_York:19970902T090000\nRRULE:FREQ=WEEKLY;COUNT=10",
        listed: &[
            (1997, 9, "2,9,16,23,30"),
            (1997, 10, "7,14,21"),
            (1997, 10, "28"),
            (1997, 11, "4"),
        ],
        times: NINE,
        listing: Whole,
    },
    Example {
        title: "Weekly until December 24, 1997",
        text: "DTSTART;TZID=America/New_York:19970902T090000\nRRULE:FREQ=WEEKLY;UNTIL=19971224T000000Z",
        listed: &[
            (1997, 9, "2,9,16,23,30"),
            (1997, 10, "7,14,21"),
            (1997, 10, "28"),
            (1997, 11, "4,11,18,25"),
            (1997, 12, "2,9,16,23"),
        ],
        times: NINE,
        listing: Whole,
    },
    Example {
        title: "Every other week - forever",
        text: "DTSTART;TZID=America/New_York:19970902T090000\nRRULE:FREQ=WEEKLY;INTERVAL=2;WKST=SU",
        listed: &[
            (1997, 9, "2,16,30"),
            (1997, 10, "14"),
            (1997, 10, "28"),
            (1997, 11, "11,25"),
            (1997, 12, "9,23"),
            (1998, 1, "6,20"),
            (1998, 2, "3,17"),
        ],
        times: NINE,
        listing: Beginning,
    },
    Example {
        title: "Weekly on Tuesday and Thursday for five weeks (UNTIL form)",
        text: "DTSTART;TZID=America/New_York:19970902T090000\n\
               RRULE:FREQ=WEEKLY;UNTIL=19971007T000000Z;WKST=SU;BYDAY=TU,TH",
        listed: &[(1997, 9, "2,4,9,11,16,18,23,25,30"), (1997, 10, "2")],
        times: NINE,
        listing: Whole,
    },
    Example {
        title: "Weekly on Tuesday and Thursday for five weeks (COUNT form)",
        text: "DTSTART;TZID=America/New_York:19970902T090000\n\
               RRULE:FREQ=WEEKLY;COUNT=10;WKST=SU;BYDAY=TU,TH",
        listed: &[(1997, 9, "2,4,9,11,16,18,23,25,30"), (1997, 10, "2")],
        times: NINE,
        listing: Whole,
    },
    Example {
        title: "Every other week on Monday, Wednesday, and Friday until December 24, 1997",
        text: "DTSTART;TZID=America/New_York:19970901T090000\n\
               RRULE:FREQ=WEEKLY;INTERVAL=2;UNTIL=19971224T000000Z;WKST=SU;BYDAY=MO,WE,FR",
        listed: &[
            (1997, 9, "1,3,5,15,17,19,29"),
            (1997, 10, "1,3,13,15,17"),
            (1997, 10, "27,29,31"),
            (1997, 11, "10,12,14,24,26,28"),
            (1997, 12, "8,10,12,22"),
        ],
        times: NINE,
        listing: Whole,
    },
    Example {
        title: "Every other week on Tuesday and Thursday, for 8 occurrences",
        text: "DTSTART;TZID=America/New_York:19970902T090000\n\
               RRULE:FREQ=WEEKLY;INTERVAL=2;COUNT=8;WKST=SU;BYDAY=TU,TH",
        listed: &[(1997, 9, "2,4,16,18,30"), (1997, 10, "2,14,16")],
        times: NINE,
        listing: Whole,
    },
    Example {
        title: "Monthly on the first Friday for 10 occurrences",
        text: "DTSTART;TZID=America/New_York:19970905T090000\nRRULE:FREQ=MONTHLY;COUNT=10;BYDAY=1FR",
        listed: &[
            (1997, 9, "5"),
            (1997, 10, "3"),
            (1997, 11, "7"),
            (1997, 12, "5"),
            (1998, 1, "2"),
            (1998, 2, "6"),
            (1998, 3, "6"),
            (1998, 4, "3"),
            (1998, 5, "1"),
            (1998, 6, "5"),
        ],
        times: NINE,
        listing: Whole,
    },
    Example {
        title: "Monthly on the first Friday until December 24, 1997",
        text: "DTSTART;TZID=America/New_York:19970905T090000\n\
               RRULE:FREQ=MONTHLY;UNTIL=19971224T000000Z;BYDAY=1FR",
        listed: &[
            (1997, 9, "5"),
            (1997, 10, "3"),
            (1997, 11, "7"),
            (1997, 12, "5"),
        ],
        times: NINE,
        listing: Whole,
    },
    Example {
        title: "Every other month on the first and last Sunday of the month for 10 occurrences",
        text: "DTSTART;TZID=America/New_York:19970907T090000\n\
               RRULE:FREQ=MONTHLY;INTERVAL=2;COUNT=10;BYDAY=1SU,-1SU",
        listed: &[
            (1997, 9, "7,28"),
            (1997, 11, "2,30"),
            (1998, 1, "4,25"),
            (1998, 3, "1,29"),
            (1998, 5, "3,31"),
        ],
        times: NINE,
        listing: Whole,
    },
    Example {
        title: "Monthly on the second-to-last Monday of the month for 6 months",
        text: "DTSTART;TZID=America/New_York:19970922T090000\nRRULE:FREQ=MONTHLY;COUNT=6;BYDAY=-2MO",
        listed: &[
            (1997, 9, "22"),
            (1997, 10, "20"),
            (1997, 11, "17"),
            (1997, 12, "22"),
            (1998, 1, "19"),
            (1998, 2, "16"),
        ],
        times: NINE,
        listing: Whole,
    },
    Example {
        title: "Monthly on the third-to-the-last day of the month, forever",
        text: "DTSTART;TZID=America/New_York:19970928T090000\nRRULE:FREQ=MONTHLY;BYMONTHDAY=-3",
        listed: &[
            (1997, 9, "28"),
            (1997, 10, "29"),
            (1997, 11, "28"),
            (1997, 12, "29"),
            (1998, 1, "29"),
            (1998, 2, "26"),
        ],
        times: NINE,
        listing: Beginning,
    },
    Example {
        title: "Monthly on the 2nd and 15th of the month for 10 occurrences",
        text: "DTSTART;TZID=America/New_York:19970902T090000\n\
               RRULE:FREQ=MONTHLY;COUNT=10;BYMONTHDAY=2,15",
        listed: &[
            (1997, 9, "2,15"),
            (1997, 10, "2,15"),
            (1997, 11, "2,15"),
            (1997, 12, "2,15"),
            (1998, 1, "2,15"),
        ],
        times: NINE,
        listing: Whole,
    },
    Example {
        title: "Monthly on the first and last day of the month for 10 occurrences",
        text: "DTSTART;TZID=America/New_York:19970930T090000\n\
               RRULE:FREQ=MONTHLY;COUNT=10;BYMONTHDAY=1,-1",
        listed: &[
            (1997, 9, "30"),
            (1997, 10, "1"),
            (1997, 10, "31"),
            (1997, 11, "1,30"),
            (1997, 12, "1,31"),
            (1998, 1, "1,31"),
            (1998, 2, "1"),
        ],
        times: NINE,
        listing: Whole,
    },
    Example {
        title: "Every 18 months on the 10th thru 15th of the month for 10 occurrences",
        text: "DTSTART;TZID=America/New_York:19970910T090000\n\
               RRULE:FREQ=MONTHLY;INTERVAL=18;COUNT=10;BYMONTHDAY=10,11,12,13,14,15",
        listed: &[(1997, 9, "10-15"), (1999, 3, "10-13")],
        times: NINE,
        listing: Whole,
    },
    Example {
        title: "Every Tuesday, every other month",
        text: "DTSTART;TZID=America/New_York:19970902T090000\nRRULE:FREQ=MONTHLY;INTERVAL=2;BYDAY=TU",
        listed: &[
            (1997, 9, "2,9,16,23,30"),
            (1997, 11, "4,11,18,25"),
            (1998, 1, "6,13,20,27"),
            (1998, 3, "3,10,17,24,31"),
        ],
        times: NINE,
        listing: Beginning,
    },
    Example {
        title: "Yearly in June and July for 10 occurrences",
        text: "DTSTART;TZID=America/New_York:19970610T090000\nRRULE:FREQ=YEARLY;COUNT=10;BYMONTH=6,7",
        listed: &[
            (1997, 6, "10"),
            (1997, 7, "10"),
            (1998, 6, "10"),
            (1998, 7, "10"),
            (1999, 6, "10"),
            (1999, 7, "10"),
            (2000, 6, "10"),
            (2000, 7, "10"),
            (2001, 6, "10"),
            (2001, 7, "10"),
        ],
        times: NINE,
        listing: Whole,
    },
    Example {
        title: "Every other year on January, February, and March for 10 occurrences",
        text: "DTSTART;TZID=America/New_York:19970310T090000\n\
               RRULE:FREQ=YEARLY;INTERVAL=2;COUNT=10;BYMONTH=1,2,3",
        listed: &[
            (1997, 3, "10"),
            (1999, 1, "10"),
            (1999, 2, "10"),
            (1999, 3, "10"),
            (2001, 1, "10"),
            (2001, 2, "10"),
            (2001, 3, "10"),
            (2003, 1, "10"),
            (2003, 2, "10"),
            (2003, 3, "10"),
        ],
        times: NINE,
        listing: Whole,
    },
    Example {
        title: "Every third year on the 1st, 100th, and 200th day for 10 occurrences",
        text: "DTSTART;TZID=America/New_York:19970101T090000\n\
               RRULE:FREQ=YEARLY;INTERVAL=3;COUNT=10;BYYEARDAY=1,100,200",
        listed: &[
            (1997, 1, "1"),
            (1997, 4, "10"),
            (1997, 7, "19"),
            (2000, 1, "1"),
            (2000, 4, "9"),
            (2000, 7, "18"),
            (2003, 1, "1"),
            (2003, 4, "10"),
            (2003, 7, "19"),
            (2006, 1, "1"),
        ],
        times: NINE,
        listing: Whole,
    },
    Example {
        title: "Every 20th Monday of the year, forever",
        text: "DTSTART;TZID=America/New_York:19970519T090000\nRRULE:FREQ=YEARLY;BYDAY=20MO",
        listed: &[(1997, 5, "19"), (1998, 5, "18"), (1999, 5, "17")],
        times: NINE,
        listing: Beginning,
    },
    Example {
        title: "Monday of week number 20 (where the default start of the week is Monday), forever",
        text: "DTSTART;TZID=America/New_York:19970512T090000\nRRULE:FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO",
        listed: &[(1997, 5, "12"), (1998, 5, "11"), (1999, 5, "17")],
        times: NINE,
        listing: Beginning,
    },
    Example {
        title: "Every Thursday in March, forever",
        text: "DTSTART;TZID=America/New_York:19970313T090000\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=TH",
        listed: &[
            (1997, 3, "13,20,27"),
            (1998, 3, "5,12,19,26"),
            (1999, 3, "4,11,18,25"),
        ],
        times: NINE,
        listing: Beginning,
    },
    Example {
        title: "Every Thursday, but only during June, July, and August, forever",
        text: "DTSTART;TZID=America/New_York:19970605T090000\nRRULE:FREQ=YEARLY;BYDAY=TH;BYMONTH=6,7,8",
        listed: &[
            (1997, 6, "5,12,19,26"),
            (1997, 7, "3,10,17,24,31"),
            (1997, 8, "7,14,21,28"),
            (1998, 6, "4,11,18,25"),
            (1998, 7, "2,9,16,23,30"),
            (1998, 8, "6,13,20,27"),
            (1999, 6, "3,10,17,24"),
            (1999, 7, "1,8,15,22,29"),
            (1999, 8, "5,12,19,26"),
        ],
        times: NINE,
        listing: Beginning,
    },
    Example {
        // DTSTART (Tuesday 1997-09-02) is not a Friday the 13th. The RFC removes it with an
        // EXDATE, because under RFC 2445 DTSTART always counted as the first instance; this
        // crate, like python-dateutil, never counts a DTSTART that does not match the rule,
        // so the EXDATE names no occurrence and the listing starts at 1998-02-13 either way
        // (`friday_the_13th_needs_no_exdate` checks the rule without it).
        title: "Every Friday the 13th, forever",
        text: "DTSTART;TZID=America/New_York:19970902T090000\n\
               EXDATE;TZID=America/New_York:19970902T090000\n\
               RRULE:FREQ=MONTHLY;BYDAY=FR;BYMONTHDAY=13",
        listed: &[
            (1998, 2, "13"),
            (1998, 3, "13"),
            (1998, 11, "13"),
            (1999, 8, "13"),
            (2000, 10, "13"),
        ],
        times: NINE,
        listing: Beginning,
    },
    Example {
        title: "The first Saturday that follows the first Sunday of the month, forever",
        text: "DTSTART;TZID=America/New_York:19970913T090000\n\
               RRULE:FREQ=MONTHLY;BYDAY=SA;BYMONTHDAY=7,8,9,10,11,12,13",
        listed: &[
            (1997, 9, "13"),
            (1997, 10, "11"),
            (1997, 11, "8"),
            (1997, 12, "13"),
            (1998, 1, "10"),
            (1998, 2, "7"),
            (1998, 3, "7"),
            (1998, 4, "11"),
            (1998, 5, "9"),
            (1998, 6, "13"),
        ],
        times: NINE,
        listing: Beginning,
    },
    Example {
        title: "Every 4 years, the first Tuesday after a Monday in November, forever",
        text: "DTSTART;TZID=America/New_York:19961105T090000\n\
               RRULE:FREQ=YEARLY;INTERVAL=4;BYMONTH=11;BYDAY=TU;BYMONTHDAY=2,3,4,5,6,7,8",
        listed: &[(1996, 11, "5"), (2000, 11, "7"), (2004, 11, "2")],
        times: NINE,
        listing: Beginning,
    },
    Example {
        title: "The third instance into the month of one of Tuesday, Wednesday, or Thursday, \
                for the next 3 months",
        text: "DTSTART;TZID=America/New_York:19970904T090000\n\
               RRULE:FREQ=MONTHLY;COUNT=3;BYDAY=TU,WE,TH;BYSETPOS=3",
        listed: &[(1997, 9, "4"), (1997, 10, "7"), (1997, 11, "6")],
        times: NINE,
        listing: Whole,
    },
    Example {
        title: "The second-to-last weekday of the month",
        text: "DTSTART;TZID=America/New_York:19970929T090000\n\
               RRULE:FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-2",
        listed: &[
            (1997, 9, "29"),
            (1997, 10, "30"),
            (1997, 11, "27"),
            (1997, 12, "30"),
            (1998, 1, "29"),
            (1998, 2, "26"),
            (1998, 3, "30"),
        ],
        times: NINE,
        listing: Beginning,
    },
    Example {
        title: "Every 20 minutes from 9:00 AM to 4:40 PM every day (daily form)",
        text: "DTSTART;TZID=America/New_York:19970902T090000\n\
               RRULE:FREQ=DAILY;BYHOUR=9,10,11,12,13,14,15,16;BYMINUTE=0,20,40",
        listed: &[(1997, 9, "2,3")],
        times: EVERY_20_MINUTES,
        listing: Beginning,
    },
    Example {
        title: "An example where the days generated makes a difference because of WKST (MO)",
        text: "DTSTART;TZID=America/New_York:19970805T090000\n\
               RRULE:FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=MO",
        listed: &[(1997, 8, "5,10,19,24")],
        times: NINE,
        listing: Whole,
    },
    Example {
        title: "Changing only WKST from MO to SU, yields different results",
        text: "DTSTART;TZID=America/New_York:19970805T090000\n\
               RRULE:FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=SU",
        listed: &[(1997, 8, "5,17,19,31")],
        times: NINE,
        listing: Whole,
    },
    Example {
        title: "An example where an invalid date (i.e., February 30) is ignored",
        text: "DTSTART;TZID=America/New_York:20070115T090000\n\
               RRULE:FREQ=MONTHLY;BYMONTHDAY=15,30;COUNT=5",
        listed: &[(2007, 1, "15,30"), (2007, 2, "15"), (2007, 3, "15,30")],
        times: NINE,
        listing: Whole,
    },
];

/// The §3.8.5.3 examples with sub-daily frequencies: the crate schedules days, not hours.
const SUB_DAILY: &[(&str, &str)] = &[
    (
        "Every 3 hours from 9:00 AM to 5:00 PM on a specific day",
        "DTSTART;TZID=America/New_York:19970902T090000\n\
         RRULE:FREQ=HOURLY;INTERVAL=3;UNTIL=19970902T170000Z",
    ),
    (
        "Every 15 minutes for 6 occurrences",
        "DTSTART;TZID=America/New_York:19970902T090000\nRRULE:FREQ=MINUTELY;INTERVAL=15;COUNT=6",
    ),
    (
        "Every hour and a half for 4 occurrences",
        "DTSTART;TZID=America/New_York:19970902T090000\nRRULE:FREQ=MINUTELY;INTERVAL=90;COUNT=4",
    ),
    (
        "Every 20 minutes from 9:00 AM to 4:40 PM every day (minutely form)",
        "DTSTART;TZID=America/New_York:19970902T090000\n\
         RRULE:FREQ=MINUTELY;INTERVAL=20;BYHOUR=9,10,11,12,13,14,15,16",
    ),
];

#[test]
fn rfc5545_examples() {
    let failures: Vec<String> = EXAMPLES
        .iter()
        .filter_map(|example| check(example).err())
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} examples differ:\n\n{}",
        failures.len(),
        EXAMPLES.len(),
        failures.join("\n\n")
    );
}

#[test]
fn listings_are_in_order_and_distinct() {
    // A typo in the table (a day out of order, a month listed twice) would make a row check
    // something the RFC does not say.
    for example in EXAMPLES {
        let listed = expected(example);
        assert!(
            listed.windows(2).all(|w| w[0] < w[1]),
            "{}: listing not increasing",
            example.title
        );
    }
    assert_eq!(EXAMPLES.len(), 38);
}

#[test]
fn sub_daily_frequencies_are_refused() {
    for (title, text) in SUB_DAILY {
        let frequency = text
            .split("FREQ=")
            .nth(1)
            .and_then(|rest| rest.split(';').next())
            .unwrap();
        match Schedule::from_rrule(text) {
            Err(ScheduleError::UnsupportedFrequency(f)) => {
                assert_eq!(f, frequency, "{title}");
            }
            other => panic!("{title}: expected UnsupportedFrequency, got {other:?}"),
        }
    }
    // SECONDLY has no example in the RFC; it is refused the same way.
    let secondly = "DTSTART;TZID=America/New_York:19970902T090000\nRRULE:FREQ=SECONDLY;COUNT=3";
    assert!(matches!(
        Schedule::from_rrule(secondly),
        Err(ScheduleError::UnsupportedFrequency(f)) if f == "SECONDLY"
    ));
}

#[test]
fn friday_the_13th_needs_no_exdate() {
    // The crate documents that "a DTSTART that does not match the rule is not an occurrence",
    // so the RFC's EXDATE of DTSTART changes nothing.
    let with = Schedule::from_rrule(
        "DTSTART;TZID=America/New_York:19970902T090000\n\
         EXDATE;TZID=America/New_York:19970902T090000\n\
         RRULE:FREQ=MONTHLY;BYDAY=FR;BYMONTHDAY=13",
    )
    .unwrap();
    let without = Schedule::from_rrule(
        "DTSTART;TZID=America/New_York:19970902T090000\n\
         RRULE:FREQ=MONTHLY;BYDAY=FR;BYMONTHDAY=13",
    )
    .unwrap();
    let first = |s: &Schedule| s.occurrences().take(20).collect::<Vec<_>>();
    assert_eq!(first(&with), first(&without));
    assert_eq!(
        first(&without)[0].date(),
        NaiveDate::from_ymd_opt(1998, 2, 13).unwrap()
    );
}

// RFC 5545 §3.3.10 rules outside §3.8.5.3's examples, where the rrule crate (which expands
// the crate's general rules) follows python-dateutil rather than the RFC text.

#[test]
fn weekly_bysetpos_counts_the_whole_first_week() {
    // §3.3.10, BYSETPOS: "BYSETPOS operates on a set of recurrence instances in one interval
    // of the recurrence rule. For example, in a WEEKLY rule, the interval would be one week A
    // set of recurrence instances starts at the beginning of the interval defined by the FREQ
    // rule part." The week of Wednesday 2024-11-13 (WKST=MO) holds Monday 11 and Wednesday 13,
    // so Wednesday is position 2: DTSTART is the rule's first instance, then Nov 20 and 27.
    let schedule = Schedule::from_rrule(
        "DTSTART;TZID=America/New_York:20241113T090000\n\
         RRULE:FREQ=WEEKLY;BYDAY=MO,WE;BYSETPOS=2;COUNT=3",
    )
    .unwrap();
    let dates: Vec<String> = schedule
        .occurrences()
        .map(|o| o.date().to_string())
        .collect();
    assert_eq!(dates, ["2024-11-13", "2024-11-20", "2024-11-27"]);
}

#[test]
fn byday_mixes_plain_and_ordinal_weekdays() {
    // §3.3.10, BYDAY: "Each BYDAY value can also be preceded by a positive (+n) or negative
    // (-n) integer. If present, this indicates the nth occurrence of a specific day within the
    // MONTHLY or YEARLY RRULE"; "If an integer modifier is not present, it means all days of
    // this type within the specified frequency". So MO,-1WE is every Monday and the last
    // Wednesday. January 2026: Mondays 5, 12, 19, 26, last Wednesday 28; February 2 is a
    // Monday (checked with Python's `calendar`).
    let schedule = Schedule::from_rrule(
        "DTSTART;TZID=America/New_York:20260105T090000\n\
         RRULE:FREQ=MONTHLY;COUNT=6;BYDAY=MO,-1WE",
    )
    .unwrap_or_else(|e| panic!("every Monday and the last Wednesday refused: {e}"));
    let dates: Vec<String> = schedule
        .occurrences()
        .map(|o| o.date().to_string())
        .collect();
    assert_eq!(
        dates,
        [
            "2026-01-05",
            "2026-01-12",
            "2026-01-19",
            "2026-01-26",
            "2026-01-28",
            "2026-02-02"
        ]
    );
}

/// Compares one row with the crate's expansion, and the expansion of its written form.
fn check(example: &Example) -> Result<(), String> {
    let fail = |what: String| format!("{}\n{}\n  {what}", example.title, example.text);
    let listed = expected(example);
    let schedule = Schedule::from_rrule(example.text).map_err(|e| fail(format!("error: {e}")))?;
    // A bounded series is compared past its end too: nothing may follow the last listed.
    let take = match example.listing {
        Whole => listed.len() + 1,
        Beginning => listed.len(),
    };
    let actual: Vec<_> = schedule.occurrences().take(take).collect();
    let local: Vec<NaiveDateTime> = actual
        .iter()
        .map(|o| {
            o.at()
                .with_timezone(&Zone::get("America/New_York").unwrap())
                .naive_local()
        })
        .collect();
    if local != listed {
        return Err(fail(diff(&listed, &local)));
    }
    for (i, o) in actual.iter().enumerate() {
        // No EXDATE removes a rule occurrence in these examples, so seq counts 0, 1, 2...
        if o.seq() != i as u64 || o.date() != listed[i].date() {
            return Err(fail(format!(
                "occurrence {i} ({}): seq {} date {}",
                listed[i],
                o.seq(),
                o.date()
            )));
        }
    }

    let written = schedule.to_rrule();
    let again = Schedule::from_rrule(&written)
        .map_err(|e| fail(format!("written form {written:?} does not parse: {e}")))?;
    // Past the listing, too: the written form must mean the same rule, not the same prefix.
    let take = take.max(200);
    let original: Vec<_> = schedule.occurrences().take(take).collect();
    let reread: Vec<_> = again.occurrences().take(take).collect();
    if original != reread {
        let at = original
            .iter()
            .zip(&reread)
            .position(|(a, b)| a != b)
            .unwrap_or(original.len().min(reread.len()));
        return Err(fail(format!(
            "written as {written:?}, reads back differently at {at}: {:?} vs {:?}",
            original.get(at),
            reread.get(at)
        )));
    }
    Ok(())
}

/// The row's listing as local date-times.
fn expected(example: &Example) -> Vec<NaiveDateTime> {
    let mut all = Vec::new();
    for &(year, month, days) in example.listed {
        for day in parse_days(days) {
            let date = NaiveDate::from_ymd_opt(year, month, day)
                .unwrap_or_else(|| panic!("{}: no {year}-{month}-{day}", example.title));
            for &(h, m) in example.times {
                all.push(date.and_hms_opt(h, m, 0).unwrap());
            }
        }
    }
    all
}

/// `"2,4,9-11"` → 2, 4, 9, 10, 11.
fn parse_days(text: &str) -> Vec<u32> {
    text.split(',')
        .flat_map(|item| match item.split_once('-') {
            Some((a, b)) => (a.parse().unwrap()..=b.parse().unwrap()).collect::<Vec<u32>>(),
            None => vec![item.parse().unwrap()],
        })
        .collect()
}

fn diff(expected: &[NaiveDateTime], actual: &[NaiveDateTime]) -> String {
    let at = expected
        .iter()
        .zip(actual)
        .position(|(e, a)| e != a)
        .unwrap_or(expected.len().min(actual.len()));
    format!(
        "first difference at occurrence {at}: expected {:?}, got {:?} ({} expected, {} got)",
        expected.get(at).map(ToString::to_string),
        actual.get(at).map(ToString::to_string),
        expected.len(),
        actual.len()
    )
}
