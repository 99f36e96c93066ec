//! The `expand` example is a contract that outside conformance tools call: its output format,
//! its batch protocol and its exit codes are checked here by running the built binary.
//!
//! Expected occurrences are typed from the calendar: month ends of 2026, Moscow at UTC+3 all
//! year (no DST since 2014), New York's DST start on the second Sunday of March (2026-03-08).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::Duration;

/// Builds the example once (release, as the project's tests run) and returns its path, taken
/// from cargo's own report so a custom target directory is found too.
fn binary() -> &'static PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| common::build_example("expand"))
}

fn run(args: &[&str]) -> Output {
    Command::new(binary())
        .args(args)
        .output()
        .expect("the example runs")
}

fn run_with_input(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(binary())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the example starts");
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = input.to_owned();
    // Written from a thread: a large answer must not block on a full stdout pipe meanwhile.
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().expect("the example finishes");
    writer
        .join()
        .expect("writer thread")
        .expect("stdin accepts");
    output
}

fn stdout_lines(output: &Output) -> Vec<String> {
    String::from_utf8(output.stdout.clone())
        .expect("utf-8 output")
        .lines()
        .map(str::to_owned)
        .collect()
}

const MONTH_ENDS_2026: [&str; 12] = [
    "2026-01-31T09:00:00+03:00",
    "2026-02-28T09:00:00+03:00",
    "2026-03-31T09:00:00+03:00",
    "2026-04-30T09:00:00+03:00",
    "2026-05-31T09:00:00+03:00",
    "2026-06-30T09:00:00+03:00",
    "2026-07-31T09:00:00+03:00",
    "2026-08-31T09:00:00+03:00",
    "2026-09-30T09:00:00+03:00",
    "2026-10-31T09:00:00+03:00",
    "2026-11-30T09:00:00+03:00",
    "2026-12-31T09:00:00+03:00",
];

const README_ARGS: [&str; 8] = [
    "--tz",
    "Europe/Moscow",
    "--start",
    "2026-01-31T09:00:00",
    "--rrule",
    "FREQ=MONTHLY;BYMONTHDAY=-1",
    "--count",
    "12",
];

#[test]
fn readme_command_prints_the_twelve_month_ends_of_2026() {
    let output = run(&README_ARGS);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(stdout_lines(&output), MONTH_ENDS_2026);
    assert!(output.stderr.is_empty());
}

#[test]
fn count_limits_the_output_not_the_rule() {
    // COUNT=2 in the rule ends the series before --count 5 does.
    let output = run(&[
        "--tz",
        "UTC",
        "--start",
        "2026-01-01T00:00:00",
        "--rrule",
        "FREQ=DAILY;COUNT=2",
        "--count",
        "5",
    ]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        stdout_lines(&output),
        ["2026-01-01T00:00:00+00:00", "2026-01-02T00:00:00+00:00"]
    );
}

#[test]
fn offsets_follow_dst_and_gap_times_move_forward() {
    // 02:30 does not exist on 2026-03-08 in New York; the gap is an hour, so 03:30 EDT.
    let output = run(&[
        "--tz",
        "America/New_York",
        "--start",
        "2026-03-07T02:30:00",
        "--rrule",
        "FREQ=DAILY",
        "--count",
        "3",
    ]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        stdout_lines(&output),
        [
            "2026-03-07T02:30:00-05:00",
            "2026-03-08T03:30:00-04:00",
            "2026-03-09T02:30:00-04:00",
        ]
    );
}

#[test]
fn errors_go_to_stderr_with_exit_code_2() {
    let cases: [&[&str]; 5] = [
        &[
            "--tz",
            "Mars/Olympus",
            "--start",
            "2026-01-31T09:00:00",
            "--rrule",
            "FREQ=DAILY",
        ],
        &[
            "--tz",
            "Europe/Moscow",
            "--start",
            "2026-01-31T09:00:00",
            "--rrule",
            "FREQ=FORTNIGHTLY",
        ],
        &[
            "--tz",
            "Europe/Moscow",
            "--start",
            "31.01.2026",
            "--rrule",
            "FREQ=DAILY",
        ],
        &["--tz", "Europe/Moscow", "--start", "2026-01-31T09:00:00"],
        &["--frobnicate"],
    ];
    for args in cases {
        let output = run(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}");
        assert!(!output.stderr.is_empty(), "{args:?}");
    }
    let output = run(&[
        "--tz",
        "Mars/Olympus",
        "--start",
        "2026-01-31T09:00:00",
        "--rrule",
        "FREQ=DAILY",
    ]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("Mars/Olympus"));
}

#[test]
fn help_prints_usage() {
    let output = run(&["--help"]);
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    for option in [
        "--tz",
        "--start",
        "--rrule",
        "--count",
        "--calendar",
        "--batch",
    ] {
        assert!(text.contains(option), "{option} missing from:\n{text}");
    }
}

fn json(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?} is not JSON: {e}"))
}

fn occurrences(answer: &serde_json::Value) -> Vec<&str> {
    let object = answer.as_object().expect("an object");
    assert_eq!(object.len(), 1, "{answer}");
    object["occurrences"]
        .as_array()
        .unwrap_or_else(|| panic!("no occurrences in {answer}"))
        .iter()
        .map(|v| v.as_str().expect("a string"))
        .collect()
}

fn error(answer: &serde_json::Value) -> &str {
    let object = answer.as_object().expect("an object");
    assert_eq!(object.len(), 1, "{answer}");
    object["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error in {answer}"))
}

#[test]
fn batch_answers_every_line_in_order() {
    let input = [
        r#"{"tz": "Europe/Moscow", "start": "2026-01-31T09:00:00", "rrule": "FREQ=MONTHLY;BYMONTHDAY=-1", "count": 12}"#,
        r#"{"tz": "Europe/Moscow", "start": "#,
        r#"{"tz": "Mars/Olympus", "start": "2026-01-31T09:00:00", "rrule": "FREQ=DAILY", "count": 3}"#,
        r#"{"tz": "UTC", "start": "2026-01-01T00:00:00", "rrule": "FREQ=WEEKLY;COUNT=2", "count": 10}"#,
    ]
    .join("\n")
        + "\n";
    let output = run_with_input(&["--batch"], &input);
    assert!(output.status.success(), "{output:?}");
    let lines = stdout_lines(&output);
    assert_eq!(lines.len(), 4, "{lines:#?}");
    let answers: Vec<serde_json::Value> = lines.iter().map(|l| json(l)).collect();
    assert_eq!(occurrences(&answers[0]), MONTH_ENDS_2026);
    assert!(!error(&answers[1]).is_empty());
    assert!(
        error(&answers[2]).contains("Mars/Olympus"),
        "{}",
        answers[2]
    );
    // Fewer than asked: the rule ends after two.
    assert_eq!(
        occurrences(&answers[3]),
        ["2026-01-01T00:00:00+00:00", "2026-01-08T00:00:00+00:00"]
    );
}

#[test]
fn batch_survives_empty_and_incomplete_lines() {
    let input = [
        "",
        r#"{"tz": "UTC", "start": "2026-01-01T00:00:00", "rrule": "FREQ=DAILY"}"#,
        r#"{"tz": "UTC", "start": "2026-01-01T00:00:00", "rrule": "FREQ=SOMETIMES", "count": 1}"#,
        r#"{"tz": "UTC", "start": "2026-02-30T00:00:00", "rrule": "FREQ=DAILY", "count": 1}"#,
        "[1, 2]\r",
        // The last line has no newline and still gets its answer.
        r#"{"tz": "UTC", "start": "2026-01-01T09:00:00", "rrule": "FREQ=DAILY", "count": 1}"#,
    ]
    .join("\n");
    let output = run_with_input(&["--batch"], &input);
    assert!(output.status.success(), "{output:?}");
    let lines = stdout_lines(&output);
    assert_eq!(lines.len(), 6, "{lines:#?}");
    for line in &lines[..5] {
        assert!(!error(&json(line)).is_empty());
    }
    assert!(error(&json(&lines[1])).contains("count"), "{}", lines[1]);
    assert_eq!(occurrences(&json(&lines[5])), ["2026-01-01T09:00:00+00:00"]);
}

/// A tool that sends one request and waits for the answer before sending the next must not
/// wait forever on buffered output.
#[test]
fn batch_answers_a_line_before_the_next_is_sent() {
    let mut child = Command::new(binary())
        .arg("--batch")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the example starts");
    let mut stdin = child.stdin.take().expect("piped stdin");
    let stdout = child.stdout.take().expect("piped stdout");
    let (sent, answers) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if sent.send(line.expect("utf-8 output")).is_err() {
                break;
            }
        }
    });
    let request = |day: u32| {
        format!(
            r#"{{"tz": "UTC", "start": "2026-01-{day:02}T00:00:00", "rrule": "FREQ=DAILY", "count": 1}}"#
        ) + "\n"
    };
    for day in [1, 2] {
        stdin
            .write_all(request(day).as_bytes())
            .expect("stdin accepts");
        stdin.flush().expect("stdin flushes");
        let answer = answers.recv_timeout(Duration::from_secs(20));
        let Ok(answer) = answer else {
            let _ = child.kill();
            panic!("no answer to request {day} while stdin stays open");
        };
        assert_eq!(
            occurrences(&json(&answer)),
            [format!("2026-01-{day:02}T00:00:00+00:00")]
        );
    }
    drop(stdin);
    assert!(child.wait().expect("the example finishes").success());
    reader.join().expect("reader thread");
}

#[test]
fn calendar_marks_the_occurrence_days() {
    let mut args = README_ARGS.to_vec();
    args.push("--calendar");
    let output = run(&args);
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).expect("utf-8 output");
    // January 2026 starts on a Thursday; the 31st is the last cell of its last row.
    for expected in [
        "January 2026",
        " Mo  Tu  We  Th  Fr  Sa  Su",
        "              1   2   3   4",
        " 26  27  28  29  30 [31]",
        " 23  24  25  26  27 [28]",
        "December 2026",
        " 28  29  30 [31]",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
    // One mark per occurrence, each month once, nothing past December.
    assert_eq!(text.matches('[').count() - text.matches("[dd]").count(), 12);
    assert_eq!(text.matches(" 2026\n").count(), 12, "{text}");
    assert!(!text.contains("January 2027"));
}

#[test]
fn calendar_covers_months_without_occurrences() {
    // Every 3 months on the 15th: February and March appear, unmarked, between January and
    // April.
    let output = run(&[
        "--tz",
        "Europe/Moscow",
        "--start",
        "2026-01-15T09:00:00",
        "--rrule",
        "FREQ=MONTHLY;INTERVAL=3",
        "--count",
        "2",
        "--calendar",
    ]);
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).expect("utf-8 output");
    for month in ["January", "February", "March", "April"] {
        assert!(text.contains(&format!("{month} 2026")), "{month}:\n{text}");
    }
    assert!(!text.contains("May 2026"), "{text}");
    assert_eq!(text.matches("[15]").count(), 2, "{text}");
}

/// Each message names the input, what is wrong and what is accepted (issue examples).
#[test]
fn messages_name_the_input_and_what_is_accepted() {
    let cases: [(&[&str], &str); 4] = [
        (
            &[
                "--tz",
                "UTC",
                "--start",
                "2026-02-30T09:00:00",
                "--rrule",
                "FREQ=DAILY",
            ],
            "invalid start \"2026-02-30T09:00:00\": the date 2026-02-30 does not exist",
        ),
        (
            &[
                "--tz",
                "UTC",
                "--start",
                "31.01.2026",
                "--rrule",
                "FREQ=DAILY",
            ],
            "expected a local date and time YYYY-MM-DDTHH:MM:SS",
        ),
        (
            &[
                "--tz",
                "UTC",
                "--start",
                "2026-01-01T09:00:00",
                "--rrule",
                "FREQ=DAILY;INTERVAL=0",
            ],
            "invalid rule \"FREQ=DAILY;INTERVAL=0\", RRULE INTERVAL",
        ),
        (
            &[
                "--tz",
                "UTC",
                "--start",
                "2026-01-01T09:00:00",
                "--rrule",
                "FREQ=DAILY",
                "--count",
                "-1",
            ],
            "--count must be a whole number ≥ 0, got \"-1\"",
        ),
    ];
    for (args, expected) in cases {
        let output = run(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("line 2"), "{stderr}");
        // A short message, not the whole help.
        assert!(stderr.lines().count() <= 4, "{stderr}");
    }
}
