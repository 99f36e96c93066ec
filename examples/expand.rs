//! Expands an RFC 5545 rule with this crate, for conformance tools and for people.
//!
//! ```text
//! cargo run --release --example expand -- --tz Europe/Moscow --start 2026-01-31T09:00:00 \
//!     --rrule 'FREQ=MONTHLY;BYMONTHDAY=-1' --count 12
//! ```
//!
//! prints one occurrence per line in RFC 3339 with the zone's offset
//! (`2026-01-31T09:00:00+03:00`). `--calendar` prints month grids with the occurrence days
//! marked instead; `--batch` reads JSON lines from stdin and answers each with one JSON line.
//! Run with `--help` for the details. This interface is a contract: outside tools call it.

use std::collections::BTreeSet;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::process::ExitCode;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use clap::Parser;
use recurring_deals::Zone;
use recurring_deals::{Locale, Schedule, ScheduleError, parse_zone};
use serde::Deserialize;

/// Expand an RFC 5545 recurrence rule with recurring-deals.
///
/// Occurrences are printed in RFC 3339 with the zone's UTC offset at that instant. Errors go
/// to stderr with exit code 2.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Args {
    /// IANA zone of the start and of every occurrence, such as Europe/Moscow.
    #[arg(long, value_name = "ZONE", required_unless_present = "batch")]
    tz: Option<String>,
    /// Local wall-clock start (DTSTART), YYYY-MM-DDTHH:MM:SS or YYYY-MM-DDTHH:MM, such as
    /// 2026-01-31T09:00:00.
    #[arg(
        long,
        value_name = "TIME",
        required_unless_present = "batch",
        allow_hyphen_values = true
    )]
    start: Option<String>,
    /// The RRULE value, such as FREQ=MONTHLY;BYMONTHDAY=-1 (an RRULE: prefix is accepted).
    #[arg(
        long,
        value_name = "RULE",
        required_unless_present = "batch",
        allow_hyphen_values = true
    )]
    rrule: Option<String>,
    /// Print at most N occurrences, a whole number ≥ 0 (the rule's own COUNT/UNTIL still
    /// apply).
    #[arg(long, value_name = "N", value_parser = count, allow_hyphen_values = true)]
    count: Option<u64>,
    /// Print month grids, from the first to the last occurrence printed, with occurrence
    /// days marked [dd], instead of a list.
    #[arg(long)]
    calendar: bool,
    /// Read JSON lines from stdin, {"tz": "Europe/Moscow", "start": "2026-01-31T09:00:00",
    /// "rrule": "FREQ=MONTHLY;BYMONTHDAY=-1", "count": 12}, and write one JSON line per input
    /// line, in order: {"occurrences": ["2026-01-31T09:00:00+03:00", ...]} or
    /// {"error": "..."}.
    #[arg(long, conflicts_with_all = ["tz", "start", "rrule", "count", "calendar"])]
    batch: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match (args.batch, args.tz, args.start, args.rrule) {
        (true, ..) => batch(),
        (false, Some(tz), Some(start), Some(rrule)) => expand(
            &Request {
                tz,
                start,
                rrule,
                count: args.count,
            },
            args.calendar,
        ),
        // clap requires the three without --batch.
        _ => Err(Failure::Schedule(
            "--tz, --start and --rrule are required".into(),
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that stops early (`| head`) is not an error of the expansion.
        Err(Failure::Io(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {failure}");
            ExitCode::from(2)
        }
    }
}

/// One expansion: the fields of a batch line, or the options of a single run.
#[derive(Debug, Deserialize)]
struct Request {
    tz: String,
    start: String,
    rrule: String,
    /// At most this many occurrences; `None` on the command line means all of them.
    count: Option<u64>,
}

/// A batch line: like [`Request`], but `count` is required so an endless rule cannot stall
/// the batch.
#[derive(Debug, Deserialize)]
struct BatchLine {
    tz: String,
    start: String,
    rrule: String,
    count: u64,
}

#[derive(Debug)]
enum Failure {
    Schedule(String),
    Io(io::Error),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Schedule(message) => f.write_str(message),
            Failure::Io(e) => write!(f, "{e}"),
        }
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Io(e)
    }
}

/// `--count`: a whole number ≥ 0.
fn count(text: &str) -> Result<u64, String> {
    text.parse::<u64>()
        .map_err(|_| format!("--count must be a whole number ≥ 0, got {text:?}"))
}

/// Builds the schedule of a request: `DTSTART;TZID=<tz>:<start>` and `RRULE:<rrule>`.
fn schedule(request: &Request) -> Result<(Schedule, Zone), String> {
    // The zone is checked first so a bad name is reported as such, not as a parse error.
    let zone = parse_zone(&request.tz).map_err(|e| e.to_string())?;
    let start = parse_start(&request.start)?;
    let rule = request.rrule.trim();
    let rule = rule.strip_prefix("RRULE:").unwrap_or(rule);
    let text = format!(
        "DTSTART;TZID={}:{}\nRRULE:{rule}",
        request.tz,
        start.format("%Y%m%dT%H%M%S")
    );
    // The text above is ours: an error in it is an error in the rule the user gave, named
    // as such rather than by a line the user never wrote.
    let schedule = Schedule::from_rrule(&text).map_err(|error| match error {
        ScheduleError::Parse {
            line: 2,
            part,
            reason,
        } => {
            format!("invalid rule {rule:?}, {part}: {reason}")
        }
        ScheduleError::Parse { part, reason, .. } => {
            format!(
                "invalid start {:?} or zone {:?}, {part}: {reason}",
                request.start, request.tz
            )
        }
        other => other.to_string(),
    })?;
    Ok((schedule, zone))
}

/// Reads `YYYY-MM-DDTHH:MM:SS` (seconds optional). A text of that shape whose date or time
/// does not exist is told apart from one of another shape.
fn parse_start(text: &str) -> Result<NaiveDateTime, String> {
    if let Ok(start) = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M"))
    {
        return Ok(start);
    }
    let shape = |t: &str| {
        let digits: Vec<u32> = t
            .split(['-', 'T', ':'])
            .map(|part| {
                (part.len() >= 2 && part.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| part.parse().ok())
                    .flatten()
            })
            .collect::<Option<_>>()?;
        (t.len() >= 16 && t.as_bytes().get(10) == Some(&b'T') && matches!(digits.len(), 5 | 6))
            .then_some(digits)
    };
    match shape(text).as_deref() {
        Some([y, m, d, ..]) if NaiveDate::from_ymd_opt(*y as i32, *m, *d).is_none() => Err(
            format!("invalid start {text:?}: the date {y:04}-{m:02}-{d:02} does not exist"),
        ),
        Some(_) => Err(format!(
            "invalid start {text:?}: the time does not exist (hours 00-23, minutes and seconds 00-59)"
        )),
        None => Err(format!(
            "invalid start {text:?}: expected a local date and time YYYY-MM-DDTHH:MM:SS, such as 2026-01-31T09:00:00"
        )),
    }
}

/// The first `count` occurrences as RFC 3339 text in the zone, with their civil dates.
fn occurrences(schedule: &Schedule, zone: Zone, count: Option<u64>) -> Vec<(String, NaiveDate)> {
    let limit = count.map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
    schedule
        .occurrences()
        .take(limit)
        .map(|o| (rfc3339(o.at(), zone), o.date()))
        .collect()
}

/// `2026-01-31T09:00:00+03:00`: the instant on the zone's wall clock, with its offset.
fn rfc3339(at: DateTime<Utc>, zone: Zone) -> String {
    at.with_timezone(&zone)
        .to_rfc3339_opts(SecondsFormat::Secs, false)
}

fn expand(request: &Request, calendar: bool) -> Result<(), Failure> {
    let (schedule, zone) = schedule(request).map_err(Failure::Schedule)?;
    let mut out = BufWriter::new(io::stdout().lock());
    if calendar {
        let dates: Vec<NaiveDate> = occurrences(&schedule, zone, request.count)
            .into_iter()
            .map(|(_, date)| date)
            .collect();
        out.write_all(calendar_text(&schedule, &dates).as_bytes())?;
    } else {
        // Streamed: a long expansion starts printing at once.
        let limit = request
            .count
            .map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
        for o in schedule.occurrences().take(limit) {
            writeln!(out, "{}", rfc3339(o.at(), zone))?;
        }
    }
    out.flush()?;
    Ok(())
}

/// Answers each stdin line with one stdout line. Output is buffered, and flushed whenever
/// no more input is waiting, so a tool that writes one request and waits for its answer is
/// served at once while a piped file is answered at full speed.
fn batch() -> Result<(), Failure> {
    let mut input = BufReader::new(io::stdin().lock());
    let mut out = BufWriter::new(io::stdout().lock());
    let mut line = Vec::new();
    loop {
        if input.buffer().is_empty() {
            out.flush()?;
        }
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        let answer = match answer(&line) {
            Ok(occurrences) => serde_json::json!({ "occurrences": occurrences }),
            Err(message) => serde_json::json!({ "error": message }),
        };
        serde_json::to_writer(&mut out, &answer).map_err(io::Error::from)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

fn answer(line: &[u8]) -> Result<Vec<String>, String> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return Err("empty line, expected a JSON object".into());
    }
    let request: BatchLine =
        serde_json::from_slice(line).map_err(|e| format!("invalid request: {e}"))?;
    let request = Request {
        tz: request.tz,
        start: request.start,
        rrule: request.rrule,
        count: Some(request.count),
    };
    let (schedule, zone) = schedule(&request)?;
    Ok(occurrences(&schedule, zone, request.count)
        .into_iter()
        .map(|(text, _)| text)
        .collect())
}

/// Month grids like `cal`, Monday first, from the month of the first date to the month of the
/// last, with occurrence days in brackets.
fn calendar_text(schedule: &Schedule, dates: &[NaiveDate]) -> String {
    let mut text = format!("{}\n", schedule.describe(Locale::En));
    let (Some(first), Some(last)) = (dates.first(), dates.last()) else {
        text.push_str("no occurrences\n");
        return text;
    };
    let marked: BTreeSet<NaiveDate> = dates.iter().copied().collect();
    text.push_str(&format!(
        "[dd] marks an occurrence; {} shown, {first} to {last}\n",
        dates.len()
    ));
    let mut month = first.with_day(1).unwrap_or(*first);
    while month <= *last {
        text.push('\n');
        month_grid(&mut text, month, &marked);
        let Some(next) = month.checked_add_months(chrono::Months::new(1)) else {
            break;
        };
        month = next;
    }
    text
}

/// One month: a centred title, the weekday header and a row per week, cells 4 wide.
fn month_grid(text: &mut String, month: NaiveDate, marked: &BTreeSet<NaiveDate>) {
    const WIDTH: usize = 28;
    let title = month.format("%B %Y").to_string();
    text.push_str(format!("{title:^WIDTH$}").trim_end());
    text.push_str("\n Mo  Tu  We  Th  Fr  Sa  Su\n");
    let mut row = "    ".repeat(month.weekday().num_days_from_monday() as usize);
    let mut day = month;
    while day.month() == month.month() {
        let cell = if marked.contains(&day) {
            format!("[{:>2}]", day.day())
        } else {
            format!(" {:>2} ", day.day())
        };
        row.push_str(&cell);
        if day.weekday() == chrono::Weekday::Sun {
            text.push_str(row.trim_end());
            text.push('\n');
            row.clear();
        }
        day += Duration::days(1);
    }
    if !row.trim().is_empty() {
        text.push_str(row.trim_end());
        text.push('\n');
    }
}
