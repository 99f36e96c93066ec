//! Helpers shared by the PostgreSQL tests: the server to test against, schemas of a test's own,
//! and the `pg_worker` example built for the tests that run worker processes.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

pub mod fleet;

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::Utc;
use recurring_deals::{PostgresOptions, PostgresStore};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

/// The environment variable naming the server.
pub const URL_VAR: &str = "RECURRING_DEALS_PG_URL";

/// The server to test against (an sqlx URL such as
/// `postgres://postgres@127.0.0.1:5432/recurring_deals_test`), or `None` (with a notice,
/// which `.ci/run` looks for) when none is configured.
pub fn pg_url(test: &str) -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            // Written to the process's stderr directly: the test harness captures `eprintln!`
            // of passing tests, and the notice must show (`.ci/run` fails on it).
            let _ = writeln!(
                std::io::stderr(),
                "{test}: skipped: set {URL_VAR} (e.g. \
                 'postgres://postgres@127.0.0.1:5432/recurring_deals_test') to run the \
                 PostgreSQL tests"
            );
            None
        }
    }
}

/// A fresh schema name, `rd_{what}_...`, unique within and across test processes.
// The wall clock only makes names of concurrent test processes differ.
#[allow(clippy::disallowed_methods)]
pub fn schema_name(what: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let what: String = what.chars().take(20).collect();
    format!(
        "rd_{what}_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        Utc::now().timestamp_subsec_nanos() % 100_000
    )
}

/// Schemas made by a test, dropped at the end (also on panic).
pub struct TestSchemas {
    pub url: String,
    names: Mutex<Vec<String>>,
}

impl TestSchemas {
    pub fn new(url: &str) -> TestSchemas {
        TestSchemas {
            url: url.to_owned(),
            names: Mutex::new(Vec::new()),
        }
    }

    /// A fresh schema name, dropped with `self`.
    pub fn fresh(&self, what: &str) -> String {
        let name = schema_name(what);
        self.names.lock().unwrap().push(name.clone());
        name
    }

    /// A store in a fresh schema, on a pool of `pool_size` (no earlier store's tables are
    /// imported).
    pub async fn store(&self, what: &str, pool_size: u32) -> PostgresStore {
        let options = PostgresOptions::new()
            .schema(&self.fresh(what))
            .unwrap()
            .legacy_schema(None)
            .unwrap();
        PostgresStore::connect_with(&self.url, options, pool_size)
            .await
            .unwrap()
    }

    /// A small pool of the server (not tied to a schema).
    pub async fn pool(&self) -> PgPool {
        PgPoolOptions::new()
            .max_connections(2)
            .connect(&self.url)
            .await
            .unwrap()
    }
}

impl Drop for TestSchemas {
    fn drop(&mut self) {
        let names = std::mem::take(&mut *self.names.lock().unwrap_or_else(|e| e.into_inner()));
        if names.is_empty() {
            return;
        }
        let url = self.url.clone();
        // A runtime of its own, on a thread of its own: drop runs inside the test's runtime.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                let Ok(pool) = PgPoolOptions::new().max_connections(1).connect(&url).await else {
                    return;
                };
                for name in names {
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                        "DROP SCHEMA IF EXISTS \"{name}\" CASCADE"
                    )))
                    .execute(&pool)
                    .await;
                }
                pool.close().await;
            });
        })
        .join();
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
