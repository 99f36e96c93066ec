//! The main job: a year of recurring deals on the embedded store.
//!
//! Creates four templates (monthly on the 31st, every 2 weeks on Monday and Friday, a one-off
//! with a 50/50 installment split, a monthly invoice with payment reminders), ticks once a day
//! through 2026 with a manual clock, delivers the outbox like a host would, and prints what
//! happened as tables.
//!
//! Run: `cargo run --release --features sqlite --example quickstart`
//!
//! The store, by the arguments:
//!
//! * none: with the `sqlite` feature, a fresh SQLite file in the system's temp directory
//!   (replaced at every run; its path is printed), durable as a host would run it; without
//!   the feature, the in-memory store;
//! * `--db PATH`: the SQLite file at `PATH`, kept: the state survives restarts, and a second
//!   run finds the templates and deals already there and creates nothing twice;
//! * `--memory`: the in-memory store.

// Amounts are written as units_cents (150_000_00 = 150,000.00), the grouping is on purpose.
#![allow(clippy::inconsistent_digit_grouping)]

use std::error::Error;
use std::path::PathBuf;

use chrono::{NaiveDate, TimeDelta, TimeZone, Utc, Weekday};
use clap::Parser;
use recurring_deals::blocking::Engine;
use recurring_deals::*;

/// A year of recurring deals on the embedded store, printed as tables.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Keep the state in the SQLite file at PATH (created if missing; a second run finds
    /// the templates and deals already there and creates nothing twice). Needs the `sqlite`
    /// feature.
    #[arg(long, value_name = "PATH", conflicts_with = "memory")]
    db: Option<PathBuf>,
    /// Keep the state in memory only.
    #[arg(long)]
    memory: bool,
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let moscow = Zone::get("Europe/Moscow").unwrap();
    // Ticks at 06:00 UTC, 09:00 in Moscow: deals due that morning are created on time.
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 6, 0, 0).unwrap());
    let engine = Engine::open(store(&args)?, clock.clone(), EngineConfig::default())?;
    let tenant = TenantId::new("acme")?;
    let rub = Currency::new("RUB")?;
    let at = |y, m, d, h| {
        NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(h, 0, 0)
            .unwrap()
    };

    let monthly = Schedule::builder(
        Recurrence::monthly(Interval::ONE, MonthDay::Day(DayOfMonth::new(31)?)),
        at(2026, 1, 31, 9),
        moscow,
    )
    .build()?;
    let support = create_or_find(
        &engine,
        &tenant,
        TemplateDraft::new(
            Deal::new("Monthly support", Money::new(150_000_00, rub))?,
            monthly,
        ),
    )?;

    let biweekly = Schedule::builder(
        Recurrence::weekly(
            Interval::new(2)?,
            WeekdaySet::new([Weekday::Mon, Weekday::Fri])?,
        ),
        at(2026, 1, 5, 10),
        moscow,
    )
    .end(End::Count(20))
    .build()?;
    let visits = create_or_find(
        &engine,
        &tenant,
        TemplateDraft::new(
            Deal::new("Site visit", Money::new(12_500_00, rub))?,
            biweekly,
        ),
    )?;

    let once = Schedule::builder(
        Recurrence::Once {
            date: NaiveDate::from_ymd_opt(2026, 6, 15).unwrap(),
            lead: Lead::Days(5),
        },
        at(2026, 1, 1, 9),
        moscow,
    )
    .build()?;
    let mut second_half = TemplateDraft::new(
        Deal::new("Project, 2nd half", Money::new(1_000_001_00, rub))?,
        once,
    );
    second_half.split = Some(InstallmentSplit::new(vec![5000, 5000])?);
    second_half.based_on = Some(4242);
    let split_amounts = second_half
        .split
        .as_ref()
        .unwrap()
        .amounts(second_half.deal.amount());
    let project = create_or_find(&engine, &tenant, second_half)?;

    let invoiced_schedule = Schedule::builder(
        Recurrence::monthly(Interval::ONE, MonthDay::Day(DayOfMonth::new(1)?)),
        at(2026, 2, 1, 9),
        moscow,
    )
    .end(End::Until(NaiveDate::from_ymd_opt(2026, 6, 30).unwrap()))
    .build()?;
    let mut hosting = TemplateDraft::new(
        Deal::new("Hosting", Money::new(9_900_00, rub))?,
        invoiced_schedule,
    );
    hosting.invoice = Some(
        InvoiceOptions::new(PaymentDue::Days(10))
            .send_to([501])
            .mail_template(7)
            .document_template(3)
            .remind_before([3, 1])
            .remind_after([1, 7]),
    );
    let hosting = create_or_find(&engine, &tenant, hosting)?;

    println!("Templates");
    for template in [&support, &visits, &project, &hosting] {
        println!(
            "  {:<4} {:<22} {}",
            template.id().to_string(),
            template.deal().title(),
            template.describe(Locale::En)
        );
    }
    println!(
        "  {} split {} -> now {}, later {}",
        project.id(),
        project.deal().amount(),
        split_amounts[0],
        split_amounts[1]
    );
    println!("\nPreview of the next 3 deals of {}:", support.id());
    for deal in engine.preview(&tenant, support.id(), 3)? {
        println!("  {} {} {}", deal.key, deal.date, deal.amount);
    }

    // The host pays the March hosting invoice on time: its overdue reminders must not go out.
    let mut delivered = Vec::new();
    let mut ticks = 0;
    while clock.now() < Utc.with_ymd_and_hms(2027, 1, 1, 6, 0, 0).unwrap() {
        clock.advance(TimeDelta::days(1));
        let report = engine.tick()?;
        ticks += 1;
        for key in &report.created {
            if let DealKey::Scheduled { template, seq, .. } = key
                && *template == hosting.id()
                && *seq == 1
            {
                engine.set_invoice_status(&tenant, *key, InvoiceStatus::Paid)?;
            }
        }
        let events = engine.outbox(1000)?;
        let ids: Vec<u64> = events.iter().map(|e| e.id).collect();
        delivered.extend(events);
        engine.ack(&ids)?;
    }

    let deals = engine.deals(&tenant, None)?;
    println!("\nDeals created in {ticks} daily ticks: {}", deals.len());
    println!(
        "  {:<16} {:<20} {:<11} {:<11} {:<11} {:>16}",
        "key", "title", "for", "begin", "close", "amount"
    );
    for deal in &deals {
        println!(
            "  {:<16} {:<20} {:<11} {:<11} {:<11} {:>16}",
            deal.key.to_string(),
            deal.deal.title(),
            deal.nominal_date.to_string(),
            deal.deal
                .begin_date()
                .map(|d| d.to_string())
                .unwrap_or_default(),
            deal.deal
                .close_date()
                .map(|d| d.to_string())
                .unwrap_or_default(),
            deal.deal.amount().to_string(),
        );
    }

    println!("\nInvoices and reminders (outbox, in delivery order)");
    for event in &delivered {
        match &event.kind {
            EventKind::InvoiceIssued { invoice } => println!(
                "  {}  invoice  {:<16} {} due {} to {:?}",
                event.at.format("%Y-%m-%d"),
                invoice.deal.to_string(),
                invoice.amount,
                invoice.due_on,
                invoice.send_to
            ),
            EventKind::PaymentReminder {
                deal,
                offset_days,
                due_on,
            } => println!(
                "  {}  reminder {:<16} {:+} days from due {}",
                event.at.format("%Y-%m-%d"),
                deal.to_string(),
                offset_days,
                due_on
            ),
            EventKind::TemplateFinished { template } => {
                println!("  {}  finished {}", event.at.format("%Y-%m-%d"), template)
            }
            _ => {}
        }
    }
    let list = engine.list(&tenant, &TemplateQuery::default())?;
    println!("\nRecurring deal templates");
    for template in list.items {
        println!(
            "  {:<4} {:<22} {:<10} next {:<26} created {}",
            template.id().to_string(),
            template.deal().title(),
            template.state().to_string(),
            template
                .next_run()
                .map(|t| t.with_timezone(&moscow).to_rfc3339())
                .unwrap_or_else(|| "-".into()),
            template.counters().created_by_schedule
        );
    }
    Ok(())
}

/// Opens the store the arguments ask for (on the engine's runtime: an SQLite pool must live
/// on the runtime that drives it).
fn store(
    args: &Args,
) -> Result<impl Future<Output = Result<DynRepository, RepositoryError>>, Box<dyn Error>> {
    #[cfg(feature = "sqlite")]
    let path = match (&args.db, args.memory) {
        (_, true) => None,
        (Some(path), _) => {
            println!("Store: SQLite file {}\n", path.display());
            Some(path.clone())
        }
        (None, false) => {
            let path = std::env::temp_dir().join("recurring-deals-quickstart.db");
            for suffix in ["", "-wal", "-shm"] {
                let mut file = path.clone().into_os_string();
                file.push(suffix);
                match std::fs::remove_file(&file) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                    _ => {}
                }
            }
            println!("Store: SQLite file {} (fresh)\n", path.display());
            Some(path)
        }
    };
    #[cfg(not(feature = "sqlite"))]
    let path: Option<PathBuf> = match (&args.db, args.memory) {
        (Some(path), _) => {
            return Err(format!(
                "--db {} needs the sqlite feature: cargo run --features sqlite --example quickstart",
                path.display()
            )
            .into());
        }
        (None, memory) => {
            if !memory {
                println!("Store: in memory (build with --features sqlite for the SQLite file)\n");
            }
            None
        }
    };
    Ok(async move {
        match path {
            #[cfg(feature = "sqlite")]
            Some(path) => Ok(DynRepository::new(
                store::SqliteStore::connect(&path).await?,
            )),
            _ => Ok(DynRepository::new(InMemoryRepository::new())),
        }
    })
}

/// Creates the template, or finds the one a previous run with the same database created.
fn create_or_find(
    engine: &Engine<DynRepository, ManualClock>,
    tenant: &TenantId,
    draft: TemplateDraft,
) -> Result<Template, Box<dyn Error>> {
    let query = TemplateQuery {
        limit: 1000,
        ..TemplateQuery::default()
    };
    let existing = engine.list(tenant, &query)?.items;
    if let Some(template) = existing
        .into_iter()
        .find(|t| t.deal().title() == draft.deal.title())
    {
        return Ok(template);
    }
    Ok(engine.create_template(tenant, draft)?)
}
