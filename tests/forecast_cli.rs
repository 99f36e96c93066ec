//! The `forecast` example as a user runs it: its JSON lines agree with what the `simulate`
//! example (the engine ticking through the same year) creates, its chart is an SVG with a
//! bar chart per currency, and bad arguments are refused with a message naming them.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

fn binary(name: &'static str) -> PathBuf {
    static FORECAST: OnceLock<PathBuf> = OnceLock::new();
    static SIMULATE: OnceLock<PathBuf> = OnceLock::new();
    let cell = if name == "forecast" {
        &FORECAST
    } else {
        &SIMULATE
    };
    cell.get_or_init(|| common::build_example(name)).clone()
}

fn run(name: &'static str, args: &[&str]) -> Output {
    Command::new(binary(name))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the example runs")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

const RANGE: [&str; 4] = [
    "--from",
    "2026-01-01T00:00:00Z",
    "--to",
    "2027-01-01T00:00:00Z",
];

/// (month, tenant, currency) → (deals, amount).
type Totals = BTreeMap<(String, String, String), (u64, i64)>;

/// Forecast by month over 2026 equals, group by group, the deals the engine creates when
/// `simulate` ticks it daily through the same year (every template of the file starts in
/// 2026, so none is overdue at the start).
#[test]
fn forecast_lines_are_what_the_simulated_year_creates() {
    let mut args = vec![
        "--templates",
        "examples/templates.json",
        "--by",
        "month",
        "--json",
    ];
    args.extend(RANGE);
    let forecast = stdout(&run("forecast", &args));
    let mut predicted = Totals::new();
    for line in forecast.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let period = v["period"].as_str().unwrap();
        assert_eq!(period.len(), 7, "a month: {line}");
        let key = (
            period.to_owned(),
            v["tenant"].as_str().unwrap().to_owned(),
            v["currency"].as_str().unwrap().to_owned(),
        );
        let total = (v["deals"].as_u64().unwrap(), v["amount"].as_i64().unwrap());
        assert!(predicted.insert(key, total).is_none(), "one line per group");
    }

    let mut args = vec!["--templates", "examples/templates.json", "--every", "1d"];
    args.extend(RANGE);
    let simulated = stdout(&run("simulate", &args));
    let mut made = Totals::new();
    for line in simulated.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        if v["event"] != "deal_created" || v["seq"].is_null() {
            continue;
        }
        let key = (
            v["nominal_date"].as_str().unwrap()[..7].to_owned(),
            v["tenant"].as_str().unwrap().to_owned(),
            v["currency"].as_str().unwrap().to_owned(),
        );
        let into = made.entry(key).or_default();
        into.0 += 1;
        into.1 += v["amount"].as_i64().unwrap();
    }
    assert!(
        made.len() > 10,
        "the year creates deals in many months: {made:?}"
    );
    assert_eq!(predicted, made);
}

/// The table ends with a total per currency; the chart is an SVG with a caption per currency.
#[test]
fn the_table_and_the_chart() {
    let dir = std::env::temp_dir().join(format!("rd_forecast_cli_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let chart = dir.join("forecast.svg");
    let mut args = vec![
        "--templates",
        "examples/templates.json",
        "--group",
        "assignee",
        "--chart",
        chart.to_str().unwrap(),
    ];
    args.extend(RANGE);
    let table = stdout(&run("forecast", &args));
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("total") && l.ends_with("RUB")),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("total") && l.ends_with("USD")),
        "{table}"
    );
    assert!(table.contains("user 17"), "{table}");
    let svg = std::fs::read_to_string(&chart).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(200)]);
    for currency in ["RUB", "USD"] {
        assert!(
            svg.contains(&format!("per period, {currency}")),
            "caption for {currency}"
        );
    }
    assert!(svg.matches("<rect").count() > 12, "bars are drawn");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Bad arguments: each message names the value and what is accepted.
#[test]
fn bad_arguments_are_named() {
    let refused = |args: &[&str], expected: &str| {
        let output = run("forecast", args);
        assert!(!output.status.success(), "{args:?} must fail");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    };
    let base = ["--templates", "examples/templates.json"];
    let with = |extra: &[&'static str]| -> Vec<&'static str> {
        base.iter().chain(extra).copied().collect()
    };
    refused(
        &with(&[
            "--from",
            "2026-01-01T00:00:00Z",
            "--to",
            "2026-01-01T00:00:00Z",
        ]),
        "`from` must be before `to`",
    );
    refused(
        &with(&["--from", "2026-01-01", "--to", "2027-01-01T00:00:00Z"]),
        "invalid instant \"2026-01-01\"",
    );
    let mut args = with(&["--by", "fortnight"]);
    args.extend(RANGE);
    refused(
        &args,
        "unknown period \"fortnight\": expected day, week, month or year",
    );
    let mut args = vec!["--templates", "no/such/file.json"];
    args.extend(RANGE);
    refused(&args, "cannot read no/such/file.json");
}
