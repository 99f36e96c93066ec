//! Simulates the engine over a date range and prints one JSON line per event.
//!
//! ```text
//! cargo run --release --example simulate -- --templates examples/templates.json \
//!     --from 2026-01-01T00:00:00Z --to 2027-01-01T00:00:00Z --every 1d
//! ```
//!
//! The templates file is a JSON array of `{"tenant": "...", "template": <TemplateDraft>}`.
//! Output is deterministic: the same input gives byte-identical output.
//!
//! With `--db PATH` (feature `sqlite`) the state lives in an SQLite file: the templates are
//! created on the first run only, and simulating two adjacent ranges in two runs prints
//! exactly what one run over both prints.

use std::error::Error;
use std::io::Write;
use std::path::PathBuf;

use chrono::{DateTime, TimeDelta, Utc};
use clap::Parser;
use recurring_deals::blocking::Engine;
use recurring_deals::*;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    tenant: TenantId,
    template: TemplateDraft,
}

#[derive(Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
enum Line<'a> {
    DealCreated {
        at: DateTime<Utc>,
        tenant: &'a TenantId,
        template: TemplateId,
        key: String,
        seq: Option<u64>,
        nominal_date: chrono::NaiveDate,
        begin_date: Option<chrono::NaiveDate>,
        close_date: Option<chrono::NaiveDate>,
        amount: i64,
        currency: &'a str,
        catch_up: bool,
    },
    Skipped {
        at: DateTime<Utc>,
        tenant: &'a TenantId,
        key: String,
        nominal_date: chrono::NaiveDate,
        reason: SkipReason,
    },
    InvoiceIssued {
        at: DateTime<Utc>,
        tenant: &'a TenantId,
        key: String,
        amount: i64,
        due_on: chrono::NaiveDate,
        send_to: &'a [u64],
    },
    PaymentReminder {
        at: DateTime<Utc>,
        tenant: &'a TenantId,
        key: String,
        offset_days: i32,
        due_on: chrono::NaiveDate,
    },
    DunningStep {
        at: DateTime<Utc>,
        tenant: &'a TenantId,
        key: String,
        level: u8,
        after_days: u32,
        due_on: chrono::NaiveDate,
        action: Option<recurring_deals::DunningAction>,
    },
    UpcomingDeal {
        at: DateTime<Utc>,
        tenant: &'a TenantId,
        template: TemplateId,
        deal_at: DateTime<Utc>,
        lead_days: u32,
    },
    TemplateFinished {
        at: DateTime<Utc>,
        tenant: &'a TenantId,
        template: TemplateId,
    },
}

/// Runs templates from a JSON file through the engine on a manual clock and prints one JSON
/// line per event, deterministically.
#[derive(Parser)]
#[command(version)]
struct Options {
    /// The templates: a JSON array of `{"tenant": ..., "template": <draft>}`.
    #[arg(long, value_name = "FILE")]
    templates: PathBuf,
    /// Keep the state in the SQLite file at PATH: a second run over the next range
    /// continues the first (needs the `sqlite` feature).
    #[arg(long, value_name = "PATH")]
    db: Option<PathBuf>,
    /// Start, an RFC 3339 instant such as 2026-01-01T00:00:00Z.
    #[arg(long, value_name = "RFC3339", value_parser = instant)]
    from: DateTime<Utc>,
    /// End (inclusive), an RFC 3339 instant, not before --from.
    #[arg(long, value_name = "RFC3339", value_parser = instant)]
    to: DateTime<Utc>,
    /// Time between ticks: a positive number with a unit d, h, m or s (1d, 6h, 30m, 45s).
    #[arg(long, value_name = "STEP", default_value = "1d", value_parser = duration, allow_hyphen_values = true)]
    every: TimeDelta,
}

fn main() {
    if let Err(error) = run() {
        eprintln!("simulate: {error}");
        let mut source = error.source();
        while let Some(cause) = source {
            eprintln!("  caused by: {cause}");
            source = cause.source();
        }
        std::process::exit(2);
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let options = Options::parse();
    if options.to < options.from {
        return Err(format!(
            "--to {} is before --from {}",
            options.to.to_rfc3339(),
            options.from.to_rfc3339()
        )
        .into());
    }
    let text = std::fs::read_to_string(&options.templates)
        .map_err(|e| format!("cannot read {}: {e}", options.templates.display()))?;
    let entries: Vec<Entry> = serde_json::from_str(&text).map_err(|e| {
        format!(
            "{}: not a JSON array of templates: {e}",
            options.templates.display()
        )
    })?;
    let clock = ManualClock::new(options.from);
    let engine = Engine::open(
        repository(options.db.clone())?,
        clock.clone(),
        EngineConfig::default(),
    )?;
    // A database that already holds the file's templates continues them.
    let mut fresh = true;
    for entry in &entries {
        fresh &= engine.list(&entry.tenant, &TemplateQuery::default())?.total == 0;
    }
    if fresh {
        for entry in entries {
            engine.create_template(&entry.tenant, entry.template)?;
        }
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    loop {
        let report = engine.tick()?;
        // Deliver the outbox in order, as a host would, then acknowledge it.
        loop {
            let events = engine.outbox(10_000)?;
            if events.is_empty() {
                break;
            }
            for event in &events {
                write_event(&engine, event, &mut out)?;
            }
            engine.ack(&events.iter().map(|e| e.id).collect::<Vec<_>>())?;
        }
        for skipped in &report.skipped {
            let line = Line::Skipped {
                at: report.at,
                tenant: &skipped.tenant,
                key: skipped.key.to_string(),
                nominal_date: skipped.nominal_date,
                reason: skipped.reason,
            };
            writeln!(out, "{}", serde_json::to_string(&line)?)?;
        }
        if report.more_due {
            continue; // the same instant again: more was due than one tick takes
        }
        let next = clock.now() + options.every;
        if next > options.to {
            break;
        }
        clock.set(next);
    }
    out.flush()?;
    Ok(())
}

/// The in-memory store, or the SQLite file given with `--db` (opened on the engine's
/// runtime).
fn repository(
    db: Option<PathBuf>,
) -> Result<impl Future<Output = Result<DynRepository, RepositoryError>>, Box<dyn Error>> {
    #[cfg(not(feature = "sqlite"))]
    if let Some(path) = &db {
        return Err(format!(
            "--db {} needs the sqlite feature: cargo run --features sqlite --example simulate ...",
            path.display()
        )
        .into());
    }
    Ok(async move {
        match db {
            #[cfg(feature = "sqlite")]
            Some(path) => Ok(DynRepository::new(
                store::SqliteStore::connect(&path).await?,
            )),
            _ => Ok(DynRepository::new(InMemoryRepository::new())),
        }
    })
}

fn write_event(
    engine: &Engine<DynRepository, ManualClock>,
    event: &OutboxEvent,
    out: &mut impl Write,
) -> Result<(), Box<dyn Error>> {
    let tenant = &event.tenant;
    let at = event.at;
    let line = match &event.kind {
        EventKind::DealCreated {
            deal,
            nominal_date,
            catch_up,
            content,
        } => {
            // The event carries the deal; only events stored before it did need a read.
            let created = match content {
                Some(content) => (**content).clone(),
                None => {
                    engine
                        .deal(tenant, *deal)?
                        .ok_or_else(|| format!("deal {deal} of an event is missing"))?
                        .deal
                }
            };
            let seq = match deal {
                DealKey::Scheduled { seq, .. } => Some(*seq),
                DealKey::Manual { .. } => None,
            };
            let amount = created.amount();
            let text = serde_json::to_string(&Line::DealCreated {
                at,
                tenant,
                template: deal.template(),
                key: deal.to_string(),
                seq,
                nominal_date: *nominal_date,
                begin_date: created.begin_date(),
                close_date: created.close_date(),
                amount: amount.minor,
                currency: amount.currency.as_str(),
                catch_up: *catch_up,
            })?;
            writeln!(out, "{text}")?;
            return Ok(());
        }
        EventKind::InvoiceIssued { invoice } => Line::InvoiceIssued {
            at,
            tenant,
            key: invoice.deal.to_string(),
            amount: invoice.amount.minor,
            due_on: invoice.due_on,
            send_to: &invoice.send_to,
        },
        EventKind::PaymentReminder {
            deal,
            offset_days,
            due_on,
        } => Line::PaymentReminder {
            at,
            tenant,
            key: deal.to_string(),
            offset_days: *offset_days,
            due_on: *due_on,
        },
        EventKind::UpcomingDeal {
            template,
            at: when,
            lead_days,
        } => Line::UpcomingDeal {
            at,
            tenant,
            template: *template,
            deal_at: *when,
            lead_days: *lead_days,
        },
        EventKind::TemplateFinished { template } => Line::TemplateFinished {
            at,
            tenant,
            template: *template,
        },
        EventKind::DunningStep { deal, step, due_on } => Line::DunningStep {
            at,
            tenant,
            key: deal.to_string(),
            level: step.level,
            after_days: step.after_days,
            due_on: *due_on,
            action: step.action,
        },
        // Kinds this example does not know yet: their JSON form as it is.
        other => {
            writeln!(out, "{}", serde_json::to_string(other)?)?;
            return Ok(());
        }
    };
    writeln!(out, "{}", serde_json::to_string(&line)?)?;
    Ok(())
}

/// An RFC 3339 instant, with a message that names the input and the format.
fn instant(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            format!(
                "invalid instant {text:?}: expected RFC 3339 with a time and an offset, such as \
                 2026-01-01T00:00:00Z ({e})"
            )
        })
}

/// `1d`, `6h`, `30m`, `45s`: a positive step.
fn duration(text: &str) -> Result<TimeDelta, String> {
    let accepted = "expected a positive whole number and a unit d, h, m or s, such as 1d, 6h, 30m";
    let Some(split) = text.char_indices().last().map(|(i, _)| i) else {
        return Err(format!("invalid step {text:?}: {accepted}"));
    };
    let (number, unit) = text.split_at(split);
    let n: i64 = number
        .parse()
        .map_err(|_| format!("invalid step {text:?}: {accepted}"))?;
    let step = match unit {
        "d" => TimeDelta::try_days(n),
        "h" => TimeDelta::try_hours(n),
        "m" => TimeDelta::try_minutes(n),
        "s" => TimeDelta::try_seconds(n),
        _ => None,
    };
    match step {
        Some(step) if step > TimeDelta::zero() && step <= TimeDelta::days(36_500) => Ok(step),
        _ => Err(format!("invalid step {text:?}: {accepted}, at most 36500d")),
    }
}
