//! Helpers shared by the PostgreSQL tests: the server to test against, schemas of a test's own,
//! and the `pg_worker` example built for the tests that run worker processes.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::Utc;

/// The environment variable naming the server.
pub const URL_VAR: &str = "RECURRING_DEALS_PG_URL";

/// The server to test against, or `None` (with a notice, which `.ci/run` looks for) when none
/// is configured.
pub fn pg_url(test: &str) -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            // Written to the process's stderr directly: the test harness captures `eprintln!`
            // of passing tests, and the notice must show (`.ci/run` fails on it).
            let _ = writeln!(
                std::io::stderr(),
                "{test}: skipped: set {URL_VAR} (e.g. 'host=127.0.0.1 user=postgres \
                 dbname=recurring_deals_test') to run the PostgreSQL tests"
            );
            None
        }
    }
}

/// A schema of the test's own, dropped at the end (also on panic).
pub struct TestSchema {
    pub url: String,
    pub name: String,
}

impl TestSchema {
    /// A fresh schema name, `rd_{what}_...`, unique within and across test processes.
    pub fn new(url: &str, what: &str) -> TestSchema {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        TestSchema {
            url: url.to_owned(),
            name: format!(
                "rd_{what}_{}_{}_{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed),
                Utc::now().timestamp_subsec_nanos()
            ),
        }
    }

    /// A client of the server (not set to the schema).
    pub fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).unwrap()
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        if let Ok(mut client) = postgres::Client::connect(&self.url, postgres::NoTls) {
            let _ =
                client.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name));
        }
    }
}

/// Builds `examples/pg_worker.rs` with the test's own cargo and profile, and returns its path.
pub fn build_worker() -> std::path::PathBuf {
    let output = Command::new(env!("CARGO"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "build",
            "--release",
            "--features",
            "postgres",
            "--example",
            "pg_worker",
            "--message-format=json",
        ])
        .stderr(Stdio::inherit())
        .output()
        .expect("run cargo");
    assert!(output.status.success(), "cargo build of pg_worker failed");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .filter(|message| message["target"]["name"] == "pg_worker")
        .find_map(|message| message["executable"].as_str().map(std::path::PathBuf::from))
        .expect("cargo reported no pg_worker executable")
}
