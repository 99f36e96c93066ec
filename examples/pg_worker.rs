//! A worker process ticking a PostgreSQL database until nothing is due: what the multi-process
//! and crash tests start (several at once, or one killed and restarted over and over).
//!
//! Run: `cargo run --release --features postgres --example pg_worker -- URL SCHEMA NOW [BATCH
//! [INDEX COUNT]]`
//!
//! * `URL`: the server, an sqlx URL (`postgres://postgres@127.0.0.1:5432/crm`);
//! * `SCHEMA`: the schema holding the tables (`-` for the store's default);
//! * `NOW`: the instant the worker's clock shows, RFC 3339 (`2026-03-10T00:00:00Z`); it
//!   stays there, so every run does exactly the work due by then;
//! * `BATCH`: templates per tick (default 500);
//! * `INDEX COUNT`: this worker's place among `COUNT` workers (default 0 of 1), so each starts
//!   its ticks at its own share of the due templates (`EngineConfig::worker_index`).
//!
//! It ticks until no template is due at `NOW`, then prints one line, `created=N
//! already_created=N conflicts=N failures=N ticks=N`, and exits with 0 (1 on an error or a
//! failed commit).

#[cfg(not(feature = "postgres"))]
fn main() {
    eprintln!("pg_worker needs the postgres feature: --features postgres");
    std::process::exit(2);
}

#[cfg(feature = "postgres")]
fn main() {
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Into::into)
        .and_then(|runtime| runtime.block_on(worker::run()));
    if let Err(error) = result {
        eprintln!("pg_worker: {error}");
        std::process::exit(1);
    }
}

#[cfg(feature = "postgres")]
mod worker {
    use std::error::Error;

    use chrono::{DateTime, Utc};
    use recurring_deals::{
        Engine, EngineConfig, ManualClock, PostgresOptions, PostgresStore, Repository,
    };

    pub async fn run() -> Result<(), Box<dyn Error>> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let [url, schema, now, rest @ ..] = args.as_slice() else {
            return Err("usage: pg_worker URL SCHEMA NOW [BATCH [INDEX COUNT]]".into());
        };
        let now: DateTime<Utc> = DateTime::parse_from_rfc3339(now)?.with_timezone(&Utc);
        let number = |i: usize, default: usize| -> Result<usize, Box<dyn Error>> {
            Ok(rest
                .get(i)
                .map(|v| v.parse())
                .transpose()?
                .unwrap_or(default))
        };
        let batch = number(0, 500)?;
        // This worker's share of the due list among COUNT workers (see `EngineConfig`).
        let (worker_index, worker_count) = (number(1, 0)?, number(2, 1)?);
        let mut options = PostgresOptions::new().legacy_schema(None)?;
        if schema != "-" {
            options = options.schema(schema)?;
        }
        let store = PostgresStore::connect_with(url, options, 1).await?;
        let config = EngineConfig::builder()
            .batch_size(batch)
            .worker(worker_index, worker_count)
            .build()?;
        let engine = Engine::with_config(store, ManualClock::new(now), config);
        let (mut created, mut already, mut conflicts, mut failures, mut ticks) = (0, 0, 0, 0, 0);
        loop {
            let report = engine.tick().await?;
            ticks += 1;
            created += report.created.len();
            already += report.already_created;
            conflicts += report.conflicts;
            failures += report.failures.len();
            for failure in &report.failures {
                eprintln!(
                    "pg_worker: template {} failed: {}",
                    failure.template,
                    failure.error.chain()
                );
            }
            // Templates other workers hold stay due until they commit: look again until
            // nothing at all is due.
            if engine.repository().due_templates(now, 1).await?.is_empty() {
                break;
            }
        }
        println!(
            "created={created} already_created={already} conflicts={conflicts} \
             failures={failures} ticks={ticks}"
        );
        if failures > 0 {
            return Err(format!("{failures} failed commits").into());
        }
        Ok(())
    }
}
