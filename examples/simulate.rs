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

use chrono::{DateTime, TimeDelta, Utc};
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
    UpcomingDeal {
        at: DateTime<Utc>,
        tenant: &'a TenantId,
        template: TemplateId,
        deal_at: DateTime<Utc>,
    },
    TemplateFinished {
        at: DateTime<Utc>,
        tenant: &'a TenantId,
        template: TemplateId,
    },
}

struct Options {
    templates: String,
    db: Option<String>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
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
    let options = options()?;
    let text = std::fs::read_to_string(&options.templates)
        .map_err(|e| format!("cannot read {}: {e}", options.templates))?;
    let entries: Vec<Entry> = serde_json::from_str(&text)?;
    let clock = ManualClock::new(options.from);
    let engine = Engine::new(repository(options.db.as_deref())?, clock.clone());
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

/// The in-memory store, or the SQLite file given with `--db`.
fn repository(db: Option<&str>) -> Result<Box<dyn Repository>, Box<dyn Error>> {
    match db {
        None => Ok(Box::new(InMemoryRepository::new())),
        #[cfg(feature = "sqlite")]
        Some(path) => Ok(Box::new(SqliteRepository::open(path)?)),
        #[cfg(not(feature = "sqlite"))]
        Some(_) => Err("--db needs the sqlite feature: cargo run --features sqlite ...".into()),
    }
}

fn write_event(
    engine: &Engine<Box<dyn Repository>, ManualClock>,
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
        } => {
            let created = engine
                .deal(tenant, *deal)?
                .ok_or_else(|| format!("deal {deal} of an event is missing"))?;
            let seq = match deal {
                DealKey::Scheduled { seq, .. } => Some(*seq),
                DealKey::Manual { .. } => None,
            };
            let amount = created.deal.amount();
            let text = serde_json::to_string(&Line::DealCreated {
                at,
                tenant,
                template: deal.template(),
                key: deal.to_string(),
                seq,
                nominal_date: *nominal_date,
                begin_date: created.deal.begin_date(),
                close_date: created.deal.close_date(),
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
        EventKind::UpcomingDeal { template, at: when } => Line::UpcomingDeal {
            at,
            tenant,
            template: *template,
            deal_at: *when,
        },
        EventKind::TemplateFinished { template } => Line::TemplateFinished {
            at,
            tenant,
            template: *template,
        },
    };
    writeln!(out, "{}", serde_json::to_string(&line)?)?;
    Ok(())
}

fn options() -> Result<Options, Box<dyn Error>> {
    let mut templates = None;
    let mut db = None;
    let mut from = None;
    let mut to = None;
    let mut every = TimeDelta::days(1);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--templates" => templates = Some(value()?),
            "--db" => db = Some(value()?),
            "--from" => from = Some(value()?.parse::<DateTime<Utc>>()?),
            "--to" => to = Some(value()?.parse::<DateTime<Utc>>()?),
            "--every" => every = duration(&value()?)?,
            "--help" | "-h" => {
                println!(
                    "usage: simulate --templates FILE --from RFC3339 --to RFC3339 [--every 1d|6h|30m] [--db PATH]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    let from = from.ok_or("--from is required")?;
    let to = to.ok_or("--to is required")?;
    if to < from {
        return Err("--to is before --from".into());
    }
    Ok(Options {
        templates: templates.ok_or("--templates is required")?,
        db,
        from,
        to,
        every,
    })
}

/// `1d`, `6h`, `30m`, `45s`: a positive step.
fn duration(text: &str) -> Result<TimeDelta, Box<dyn Error>> {
    let split = text.len().saturating_sub(1);
    let (number, unit) = text.split_at(split);
    let n: i64 = number
        .parse()
        .map_err(|_| format!("invalid step {text:?}"))?;
    let step = match unit {
        "d" => TimeDelta::days(n),
        "h" => TimeDelta::hours(n),
        "m" => TimeDelta::minutes(n),
        "s" => TimeDelta::seconds(n),
        _ => return Err(format!("invalid step unit in {text:?}: use d, h, m or s").into()),
    };
    if step <= TimeDelta::zero() {
        return Err(format!("step must be positive, got {text:?}").into());
    }
    Ok(step)
}
