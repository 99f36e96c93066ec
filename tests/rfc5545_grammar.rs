//! The RFC 5545 reader against the grammar (issue #10, kind 3): a table of accepted and
//! refused texts, each row with the rule of RFC 5545 that decides it, and a property that the
//! crate's writer only emits what its reader accepts.
//!
//! The grammar, from RFC 5545 (ABNF, RFC 5234: quoted strings are case-insensitive, and §3.1
//! "all names of properties, property parameters, enumerated property values and property
//! parameter values are case-insensitive"):
//!
//! ```text
//! recur           = recur-rule-part *( ";" recur-rule-part )      ; §3.3.10
//!                 ; "Individual rule parts MUST only be specified once."
//!                 ; "Compliant applications MUST accept rule parts ordered in any sequence"
//! enddate         = date / date-time
//! "COUNT" "=" 1*DIGIT / "INTERVAL" "=" 1*DIGIT                    ; INTERVAL "positive integer"
//! seconds         = 1*2DIGIT       ;0 to 60
//! minutes         = 1*2DIGIT       ;0 to 59
//! hour            = 1*2DIGIT       ;0 to 23
//! weekdaynum      = [[plus / minus] ordwk] weekday
//! ordwk           = 1*2DIGIT       ;1 to 53
//! monthdaynum     = [plus / minus] ordmoday ; ordmoday = 1*2DIGIT ;1 to 31
//! yeardaynum      = [plus / minus] ordyrday ; ordyrday = 1*3DIGIT ;1 to 366
//! weeknum         = [plus / minus] ordwk
//! monthnum        = 1*2DIGIT       ;1 to 12
//! setposday       = yeardaynum
//! byxxxlist       = ( item *("," item) )
//! contentline     = name *(";" param ) ":" value CRLF               ; §3.1
//! param           = param-name "=" param-value *("," param-value)  ; §3.2
//! param-value     = paramtext / quoted-string
//! dtstart         = "DTSTART" dtstparam ":" dtstval CRLF           ; §3.8.2.4
//! dtstval         = date-time / date ;Value MUST match value type
//! exdate          = "EXDATE" exdtparam ":" exdtval *("," exdtval) CRLF   ; §3.8.5.1
//! rdate           = "RDATE" rdtparam ":" rdtval *("," rdtval) CRLF       ; §3.8.5.2
//! ; §3.2.19: TZID "MUST NOT be applied to DATE properties and DATE-TIME or TIME properties
//! ;          whose time values are specified in UTC"
//! ; §3.2.20: VALUE defaults to the property's default type (DATE-TIME here)
//! ```

use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::FileFailurePersistence;
use recurring_deals::{Schedule, ScheduleError};

const START: &str = "DTSTART;TZID=Europe/Berlin:20260105T090000";

/// A whole text: a rule alone gets the Berlin start.
fn text(row: &str) -> String {
    if row.contains("DTSTART") || row.contains(':') {
        row.to_owned()
    } else {
        format!("{START}\nRRULE:{row}")
    }
}

/// Accepted texts, each with the grammar that allows it.
const ACCEPTED: &[(&str, &str)] = &[
    ("FREQ=DAILY", "recur: FREQ alone"),
    (
        "freq=daily;count=3",
        "§3.1 case-insensitive names and values",
    ),
    ("Freq=Weekly;ByDay=mo,Tu;Wkst=su", "§3.1 case-insensitive"),
    ("COUNT=3;FREQ=DAILY", "§3.3.10 rule parts in any sequence"),
    ("FREQ=DAILY;INTERVAL=01", "INTERVAL = 1*DIGIT"),
    ("FREQ=DAILY;COUNT=0003", "COUNT = 1*DIGIT"),
    (
        "FREQ=MONTHLY;BYMONTHDAY=+1,-1,01,31,-31",
        "monthdaynum = [plus / minus] 1*2DIGIT",
    ),
    (
        "FREQ=YEARLY;BYYEARDAY=1,366,-366,+100",
        "yeardaynum = [plus / minus] 1*3DIGIT",
    ),
    (
        "FREQ=YEARLY;BYWEEKNO=1,53,-53,+2",
        "weeknum = [plus / minus] ordwk",
    ),
    ("FREQ=YEARLY;BYMONTH=01,12", "monthnum = 1*2DIGIT"),
    (
        "FREQ=MONTHLY;BYDAY=+1MO,-1FR,2TU,05WE",
        "weekdaynum = [[plus / minus] ordwk] weekday",
    ),
    ("FREQ=YEARLY;BYDAY=53MO,-52SU", "ordwk 1 to 53"),
    (
        "FREQ=DAILY;BYHOUR=0,9,23;BYMINUTE=0,59;BYSECOND=0,59",
        "hour, minutes, seconds ranges",
    ),
    (
        "FREQ=DAILY;BYSECOND=0,60",
        "seconds 0 to 60 (a leap second: no instance)",
    ),
    (
        "FREQ=MONTHLY;BYDAY=MO;BYSETPOS=1,-31,31",
        "setposday = yeardaynum",
    ),
    (
        "FREQ=YEARLY;BYDAY=MO;BYSETPOS=1,-366,366",
        "setposday = yeardaynum",
    ),
    ("FREQ=DAILY;UNTIL=20261231", "enddate = date"),
    (
        "FREQ=DAILY;UNTIL=20261231T235959",
        "enddate = date-time (local)",
    ),
    (
        "FREQ=DAILY;UNTIL=20261231T235959Z",
        "enddate = date-time (UTC)",
    ),
    (
        "FREQ=DAILY;UNTIL=20261231t235959z",
        "ABNF \"T\" and \"Z\" are case-insensitive",
    ),
    (
        "DTSTART;VALUE=DATE:20260105\nRRULE:FREQ=DAILY;COUNT=2",
        "dtstval = date with VALUE=DATE",
    ),
    (
        "DTSTART;VALUE=DATE-TIME:20260105T090000Z\nRRULE:FREQ=DAILY;COUNT=2",
        "VALUE=DATE-TIME",
    ),
    (
        "DTSTART;TZID=\"Europe/Berlin\":20260105T090000\nRRULE:FREQ=DAILY",
        "param-value = quoted-string",
    ),
    (
        "DTSTART;X-FOO=a,b;TZID=Europe/Berlin:20260105T090000\nRRULE:FREQ=DAILY",
        "other-param",
    ),
    (
        "dtstart;tzid=Europe/Berlin:20260105T090000\nrrule:FREQ=DAILY",
        "§3.1 case-insensitive names",
    ),
    (
        "DTSTART:20260105T090000Z\nRRULE;X-A=1:FREQ=DAILY",
        "rrulparam = *(\";\" other-param)",
    ),
    (
        "DTSTART:20260105T090000Z\nRRULE:FREQ=DAILY\nEXDATE:20260106T090000Z,20260107T090000Z",
        "exdtval *(\",\" exdtval)",
    ),
    (
        "DTSTART;VALUE=DATE:20260105\nRRULE:FREQ=DAILY\nEXDATE;VALUE=DATE:20260106",
        "exdtval = date with VALUE=DATE",
    ),
    (
        "DTSTART:20260105T090000Z\nRRULE:FREQ=DAILY\nRDATE;VALUE=DATE-TIME:20260105T100000",
        "rdtval = date-time",
    ),
    (
        "DTSTART;TZID=Europe/Berlin:20260105T090000\nRRULE:FREQ=DAILY\nEXDATE;TZID=America/New_York:20260106T030000",
        "exdtparam = tzidparam",
    ),
    (
        "DTSTART:20260105T090000Z\nRRULE:FREQ=DAILY\nX-WHATEVER;X-P=1:anything",
        "x-prop is ignored",
    ),
];

/// Refused texts: the row, a piece of text the error message must quote, and the rule.
const REFUSED: &[(&str, &str, &str)] = &[
    (
        "FREQ=MONTHLY;;BYMONTHDAY=1",
        "FREQ=MONTHLY;;BYMONTHDAY=1",
        "recur: no empty part",
    ),
    ("FREQ=DAILY;", "FREQ=DAILY;", "recur: no trailing semicolon"),
    (";FREQ=DAILY", ";FREQ=DAILY", "recur: no leading semicolon"),
    (
        "FREQ=DAILY;COUNT=2;COUNT=3",
        "COUNT",
        "§3.3.10 each part once",
    ),
    ("FREQ=DAILY;FREQ=WEEKLY", "FREQ", "§3.3.10 each part once"),
    (
        "FREQ=DAILY;count=2;COUNT=3",
        "COUNT",
        "each part once, whatever the case",
    ),
    (
        "FREQ=WEEKLY;BYDAY=MO,,TU",
        "MO,,TU",
        "bywdaylist: no empty item",
    ),
    (
        "FREQ=WEEKLY;BYDAY=MO,",
        "MO,",
        "bywdaylist: no trailing comma",
    ),
    (
        "FREQ=WEEKLY;BYDAY=",
        "BYDAY",
        "bywdaylist: at least one item",
    ),
    ("FREQ=DAILY;COUNT=", "COUNT", "COUNT = 1*DIGIT"),
    ("FREQ=DAILY; COUNT=2", " COUNT", "no white space in recur"),
    ("FREQ=DAILY;COUNT=2 ", "2 ", "no white space in recur"),
    ("FREQ=DAILY;COUNT=+2", "+2", "COUNT = 1*DIGIT, no sign"),
    ("FREQ=DAILY;COUNT=0", "0", "COUNT is positive"),
    (
        "FREQ=DAILY;INTERVAL=0",
        "0",
        "INTERVAL is a positive integer",
    ),
    ("FREQ=DAILY;INTERVAL=-1", "-1", "INTERVAL = 1*DIGIT"),
    ("FREQ=DAILY;BYSECOND=61", "61", "seconds 0 to 60"),
    ("FREQ=DAILY;BYMINUTE=60", "60", "minutes 0 to 59"),
    ("FREQ=DAILY;BYHOUR=24", "24", "hour 0 to 23"),
    ("FREQ=DAILY;BYHOUR=+1", "+1", "hour = 1*2DIGIT, no sign"),
    ("FREQ=DAILY;BYHOUR=009", "009", "hour = 1*2DIGIT"),
    ("FREQ=MONTHLY;BYMONTHDAY=0", "0", "ordmoday 1 to 31"),
    ("FREQ=MONTHLY;BYMONTHDAY=32", "32", "ordmoday 1 to 31"),
    ("FREQ=MONTHLY;BYMONTHDAY=-32", "-32", "ordmoday 1 to 31"),
    ("FREQ=MONTHLY;BYMONTHDAY=001", "001", "ordmoday = 1*2DIGIT"),
    ("FREQ=MONTHLY;BYMONTHDAY=--1", "--1", "one sign"),
    ("FREQ=YEARLY;BYYEARDAY=0", "0", "ordyrday 1 to 366"),
    ("FREQ=YEARLY;BYYEARDAY=367", "367", "ordyrday 1 to 366"),
    ("FREQ=YEARLY;BYYEARDAY=0001", "0001", "ordyrday = 1*3DIGIT"),
    ("FREQ=YEARLY;BYWEEKNO=0", "0", "ordwk 1 to 53"),
    ("FREQ=YEARLY;BYWEEKNO=54", "54", "ordwk 1 to 53"),
    ("FREQ=YEARLY;BYMONTH=0", "0", "monthnum 1 to 12"),
    ("FREQ=YEARLY;BYMONTH=13", "13", "monthnum 1 to 12"),
    (
        "FREQ=YEARLY;BYMONTH=-1",
        "-1",
        "monthnum = 1*2DIGIT, no sign",
    ),
    (
        "FREQ=MONTHLY;BYDAY=MO;BYSETPOS=0",
        "0",
        "setposday 1 to 366",
    ),
    (
        "FREQ=MONTHLY;BYDAY=MO;BYSETPOS=367",
        "367",
        "setposday 1 to 366",
    ),
    ("FREQ=YEARLY;BYDAY=0MO", "0MO", "ordwk 1 to 53"),
    ("FREQ=YEARLY;BYDAY=54MO", "54MO", "ordwk 1 to 53"),
    ("FREQ=YEARLY;BYDAY=+MO", "+MO", "a sign needs an ordwk"),
    ("FREQ=YEARLY;BYDAY=001MO", "001MO", "ordwk = 1*2DIGIT"),
    ("FREQ=WEEKLY;BYDAY=MON", "MON", "weekday is two letters"),
    ("FREQ=WEEKLY;WKST=XX", "XX", "WKST = weekday"),
    ("FREQ=WEEKLY;WKST=1MO", "1MO", "WKST = weekday, no ordinal"),
    ("FREQ=DAILY;UNTIL=2026123", "2026123", "date = 8 digits"),
    (
        "FREQ=DAILY;UNTIL=20261231T2359",
        "20261231T2359",
        "time = 6 digits",
    ),
    ("FREQ=FORTNIGHTLY", "FORTNIGHTLY", "freq is enumerated"),
    ("FREQ=DAILY;FOO=BAR", "FOO", "recur-rule-part is enumerated"),
    (
        "FREQ=DAILY;X-NAME=1",
        "X-NAME",
        "recur has no extension parts",
    ),
    ("FREQ=DAILY;COUNT", "COUNT", "a part is NAME=VALUE"),
    ("COUNT=3", "FREQ", "§3.3.10 FREQ is REQUIRED"),
    (
        "DTSTART:20260105\nRRULE:FREQ=DAILY",
        "20260105",
        "a DATE needs VALUE=DATE",
    ),
    (
        "DTSTART;VALUE=DATE:20260105T090000\nRRULE:FREQ=DAILY",
        "20260105T090000",
        "value MUST match value type",
    ),
    (
        "DTSTART;VALUE=TEXT:20260105T090000\nRRULE:FREQ=DAILY",
        "TEXT",
        "dtstparam VALUE",
    ),
    (
        "DTSTART;TZID=Europe/Berlin:20260105T090000Z\nRRULE:FREQ=DAILY",
        "20260105T090000Z",
        "§3.2.19 no TZID on UTC",
    ),
    (
        "DTSTART;TZID=Europe/Berlin;VALUE=DATE:20260105\nRRULE:FREQ=DAILY",
        "20260105",
        "§3.2.19 no TZID on DATE",
    ),
    (
        "DTSTART;TZID=Europe/Berlin;TZID=Europe/Paris:20260105T090000\nRRULE:FREQ=DAILY",
        "TZID",
        "one TZID",
    ),
    (
        "DTSTART;TZID=\"Europe/Berlin:20260105T090000\nRRULE:FREQ=DAILY",
        "\"Europe/Berlin",
        "quoted-string closes",
    ),
    (
        "DTSTART;TZID=Europe\"/Berlin:20260105T090000\nRRULE:FREQ=DAILY",
        "Europe\"/Berlin",
        "paramtext has no DQUOTE",
    ),
    (
        "DTSTART;=x:20260105T090000\nRRULE:FREQ=DAILY",
        "",
        "param-name = 1*(ALPHA / DIGIT / \"-\")",
    ),
    (
        "DT START:20260105T090000\nRRULE:FREQ=DAILY",
        "DT START",
        "name = 1*(ALPHA / DIGIT / \"-\")",
    ),
    (
        "DTSTART:20260105T090000Z \nRRULE:FREQ=DAILY",
        "20260105T090000Z ",
        "no white space in a date-time",
    ),
    (
        "DTSTART:20260105T090000Z\nRRULE:FREQ=DAILY\nEXDATE:20260106T090000Z,,20260107T090000Z",
        ",,",
        "exdtval list: no empty item",
    ),
    (
        "DTSTART:20260105T090000Z\nRRULE:FREQ=DAILY\nEXDATE:20260106T090000Z,",
        "20260106T090000Z,",
        "exdtval list: no trailing comma",
    ),
    (
        "DTSTART:20260105T090000Z\nRRULE:FREQ=DAILY\nEXDATE:20260106T090000Z, 20260107T090000Z",
        " 20260107T090000Z",
        "no white space",
    ),
    (
        "DTSTART:20260105T090000Z\nRRULE:FREQ=DAILY\nEXDATE;VALUE=DATE:20260106T090000",
        "20260106T090000",
        "value MUST match value type",
    ),
    (
        "DTSTART:20260105T090000Z\nRRULE:FREQ=DAILY\nEXDATE:20260106",
        "20260106",
        "a DATE needs VALUE=DATE",
    ),
    (
        "DTSTART:20260105T090000Z\nRRULE:FREQ=DAILY\nEXDATE;TZID=Europe/Berlin:20260106T090000Z",
        "20260106T090000Z",
        "§3.2.19 no TZID on UTC",
    ),
    (
        "DTSTART:20260105T090000Z\nRRULE:FREQ=DAILY\nRDATE;VALUE=PERIOD:20260106T090000Z/PT1H",
        "PERIOD",
        "PERIOD is not supported",
    ),
    (
        "DTSTART:20260105T090000Z\nRRULE:FREQ=DAILY\nRDATE;VALUE=DURATION:PT1H",
        "DURATION",
        "rdtparam VALUE",
    ),
];

/// Grammatical texts whose meaning the general expander (the rrule crate 0.14) refuses: a
/// typed [`ScheduleError::Contradictory`], never a panic nor a silent misreading.
const BEYOND_THE_EXPANDER: &[&str] = &[
    // Positions beyond 31 in a month (the set can be larger with several times a day).
    "FREQ=MONTHLY;BYDAY=MO;BYHOUR=9,10;BYSETPOS=-32",
];

/// BYDAY ordinals run to ±53 whatever the frequency (`ordwk = 1*2DIGIT ; 1 to 53`): one
/// that no month has matches nothing and is accepted, and -5 and -53 match in the months
/// and years that have that many of the weekday. Dates counted by hand (calendar of 2026:
/// the 5-Monday months are March, June and August; years with 53 Sundays from 2026: 2028,
/// 2034, 2040).
#[test]
fn byday_ordinals_up_to_53_are_read_by_their_meaning() {
    let dates = |row: &str| -> Vec<String> {
        Schedule::from_rrule(&text(row))
            .unwrap_or_else(|e| panic!("{row}: {e}"))
            .occurrences()
            .map(|o| o.date().to_string())
            .collect()
    };
    assert_eq!(
        dates("FREQ=MONTHLY;BYDAY=1WE,6WE;COUNT=3"),
        ["2026-01-07", "2026-02-04", "2026-03-04"]
    );
    assert_eq!(
        dates("FREQ=MONTHLY;BYDAY=1WE,6WE;COUNT=3"),
        dates("FREQ=MONTHLY;BYDAY=1WE;COUNT=3")
    );
    assert_eq!(
        dates("FREQ=MONTHLY;BYDAY=-5MO;COUNT=3"),
        ["2026-03-02", "2026-06-01", "2026-08-03"]
    );
    assert_eq!(
        dates("FREQ=YEARLY;BYDAY=-53SU;COUNT=3"),
        ["2028-01-02", "2034-01-01", "2040-01-01"]
    );
    // An ordinal no month has, alone: a rule that never occurs, said as such.
    assert_eq!(
        Schedule::from_rrule(&text("FREQ=MONTHLY;BYDAY=6WE")),
        Err(ScheduleError::NoOccurrence)
    );
}

#[test]
fn texts_beyond_the_expander_are_typed_errors() {
    for row in BEYOND_THE_EXPANDER {
        let result = Schedule::from_rrule(&text(row));
        assert!(
            matches!(result, Err(ScheduleError::Contradictory(_))),
            "{row}: {result:?}"
        );
    }
}

#[test]
fn accepted_texts_are_read() {
    let mut failures = Vec::new();
    for (row, why) in ACCEPTED {
        let text = text(row);
        match Schedule::from_rrule(&text) {
            Ok(schedule) => {
                // What the reader accepts, the writer writes back in a form it accepts.
                let written = schedule.to_rrule();
                if let Err(e) = Schedule::from_rrule(&written) {
                    failures.push(format!("{row:?}: its text {written:?} is refused: {e}"));
                }
            }
            // A grammatical rule may still have no occurrence: that is its meaning, not
            // a refusal of its text.
            Err(ScheduleError::NoOccurrence) => {}
            Err(e) => failures.push(format!("{row:?} ({why}) was refused: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn refused_texts_give_a_typed_error_naming_the_text() {
    let mut failures = Vec::new();
    for (row, names, why) in REFUSED {
        let text = text(row);
        match Schedule::from_rrule(&text) {
            Ok(_) => failures.push(format!("{row:?} ({why}) was accepted")),
            Err(e) => {
                let message = e.to_string();
                let lowercase = message.chars().next().is_some_and(|c| !c.is_uppercase());
                if !lowercase || message.ends_with('.') {
                    failures.push(format!("{row:?}: message out of style: {message}"));
                }
                // The message quotes text with Rust's escapes (`{:?}`): compare likewise.
                let quoted = format!("{names:?}");
                let inner = &quoted[1..quoted.len() - 1];
                if !message.contains(inner) {
                    failures.push(format!(
                        "{row:?}: message does not name {names:?}: {message}"
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_issue_example_is_refused_as_a_parse_error() {
    let error = Schedule::from_rrule(&text("FREQ=MONTHLY;;BYMONTHDAY=1")).unwrap_err();
    assert!(
        matches!(error, ScheduleError::Parse { line: 2, .. }),
        "{error:?}"
    );
}

/// Rule texts from the whole vocabulary: every part, values at their limits.
fn rule_text() -> impl Strategy<Value = String> {
    let list = |values: Vec<&'static str>| {
        prop::collection::btree_set(select(values), 1..4)
            .prop_map(|set| set.into_iter().collect::<Vec<_>>().join(","))
    };
    let weekdays = vec!["MO", "TU", "WE", "TH", "FR", "SA", "SU"];
    (
        (
            select(vec!["DAILY", "WEEKLY", "MONTHLY", "YEARLY"]),
            prop::option::of(select(vec!["1", "2", "3", "12"])),
            prop::option::of(list(vec!["0", "1", "12", "23"])),
            prop::option::of(list(vec!["0", "15", "59"])),
            prop::option::of(list(vec!["0", "30", "59", "60"])),
            prop::option::of(list(weekdays.clone())),
            prop::option::of(list(vec!["1MO", "-1FR", "2TU", "+3WE", "-2SU"])),
            prop::option::of(list(vec!["1", "15", "28", "31", "-1", "-31"])),
            prop::option::of(list(vec!["1", "100", "366", "-1", "-366"])),
            prop::option::of(list(vec!["1", "20", "53", "-1", "-53"])),
        ),
        (
            prop::option::of(list(vec!["1", "2", "6", "12"])),
            prop::option::of(list(vec!["1", "2", "-1", "-2"])),
            prop::option::of(select(weekdays)),
            prop::option::of(prop_oneof![
                (1u32..30).prop_map(|n| format!("COUNT={n}")),
                Just("UNTIL=20301231".to_owned()),
                Just("UNTIL=20301231T120000Z".to_owned()),
                Just("UNTIL=20301231T120000".to_owned()),
            ]),
        ),
    )
        .prop_map(
            |(
                (
                    freq,
                    interval,
                    hour,
                    minute,
                    second,
                    days,
                    ordinal_days,
                    month_day,
                    year_day,
                    week_no,
                ),
                (month, set_pos, wkst, end),
            )| {
                let mut parts = vec![format!("FREQ={freq}")];
                let mut add = |name: &str, value: Option<String>| {
                    if let Some(value) = value {
                        parts.push(format!("{name}={value}"));
                    }
                };
                add("INTERVAL", interval.map(str::to_owned));
                add("BYHOUR", hour);
                add("BYMINUTE", minute);
                add("BYSECOND", second);
                add("BYDAY", days.or(ordinal_days));
                add("BYMONTHDAY", month_day);
                add("BYYEARDAY", year_day);
                add("BYWEEKNO", week_no);
                add("BYMONTH", month);
                add("BYSETPOS", set_pos);
                add("WKST", wkst.map(str::to_owned));
                if let Some(end) = end {
                    parts.push(end);
                }
                parts.join(";")
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 3000,
        // Kept beside this file (the default place needs a `lib.rs` beside it).
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    /// Whatever the reader accepts, the writer writes in a form the reader accepts again,
    /// with the same text and the same occurrences.
    #[test]
    fn the_writer_emits_only_what_the_reader_accepts(
        rule in rule_text(),
        zone in select(vec!["Europe/Berlin", "Pacific/Apia", "Etc/GMT+12", "UTC", "America/New_York"]),
        exdate in prop::option::of(select(vec![
            "EXDATE:20260106T080000Z",
            "EXDATE;TZID=America/New_York:20260107T030000",
            "RDATE:20260110T101010Z,20260111T000000Z",
        ])),
    ) {
        let mut text = format!("DTSTART;TZID={zone}:20260105T090000\nRRULE:{rule}");
        if let Some(line) = exdate {
            text = format!("{text}\n{line}");
        }
        let Ok(schedule) = Schedule::from_rrule(&text) else { return Ok(()) };
        let written = schedule.to_rrule();
        let back = Schedule::from_rrule(&written)
            .map_err(|e| TestCaseError::fail(format!("{e} reading {written:?} written for {text:?}")))?;
        prop_assert_eq!(back.to_rrule(), written.clone());
        let first = |s: &Schedule| s.occurrences().take(30).map(|o| (o.seq(), o.at())).collect::<Vec<_>>();
        prop_assert_eq!(first(&back), first(&schedule), "{}", written);
    }
}

#[test]
fn an_adjustment_on_a_general_rule_is_refused() {
    // The general walk never moves occurrences to working days: the extension would be
    // stored and described without ever applying.
    let result = Schedule::from_rrule(
        "DTSTART:20260105T090000Z\nRRULE:FREQ=DAILY;BYHOUR=9,10\nX-RD-ADJUST:FOLLOWING",
    );
    assert!(
        matches!(result, Err(ScheduleError::Contradictory(_))),
        "{result:?}"
    );
}

#[test]
fn a_quote_in_a_value_is_not_a_parameter_quote() {
    // Quotes matter only before the first colon outside them.
    let schedule = Schedule::from_rrule(
        "DTSTART;TZID=\"Europe/Berlin\":20260105T090000\nRRULE:FREQ=DAILY;COUNT=1\nX-NOTE:say \"hi",
    );
    assert!(schedule.is_ok(), "{schedule:?}");
}
