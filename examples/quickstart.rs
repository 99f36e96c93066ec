//! The main job: a year of recurring deals on the embedded in-memory store.
//!
//! Creates four templates (monthly on the 31st, every 2 weeks on Monday and Friday, a one-off
//! with a 50/50 installment split, a monthly invoice with payment reminders), ticks once a day
//! through 2026 with a manual clock, delivers the outbox like a host would, and prints what
//! happened as tables.
//!
//! Run: `cargo run --release --example quickstart`
//!
//! With `--db PATH` (feature `sqlite`: `cargo run --release --features sqlite --example
//! quickstart -- --db deals.db`) the state lives in an SQLite file and survives restarts: a
//! second run finds the templates and deals already there and creates nothing twice.

// Amounts are written as units_cents (150_000_00 = 150,000.00), the grouping is on purpose.
#![allow(clippy::inconsistent_digit_grouping)]

use std::error::Error;

use chrono::{NaiveDate, TimeDelta, TimeZone, Utc, Weekday};
use recurring_deals::*;

fn main() -> Result<(), Box<dyn Error>> {
    let moscow = chrono_tz::Europe::Moscow;
    // Ticks at 06:00 UTC, 09:00 in Moscow: deals due that morning are created on time.
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 6, 0, 0).unwrap());
    let db = db_argument()?;
    let engine = Engine::new(repository(db.as_deref())?, clock.clone());
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
    hosting.invoice = Some(InvoiceOptions {
        payment_due: PaymentDue::Days(10),
        send_to: vec![501],
        mail_template: Some(7),
        document_template: Some(3),
        remind_before_days: vec![3, 1],
        remind_after_days: vec![1, 7],
    });
    let hosting = create_or_find(&engine, &tenant, hosting)?;

    println!("Templates");
    for template in [&support, &visits, &project, &hosting] {
        println!(
            "  {:<4} {:<22} {}",
            template.id().to_string(),
            template.deal().title(),
            template.schedule().describe(Locale::En)
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
            format!("{:?}", template.state())
                .split(' ')
                .next()
                .unwrap_or_default()
                .to_lowercase(),
            template
                .next_run()
                .map(|t| t.with_timezone(&moscow).to_rfc3339())
                .unwrap_or_else(|| "-".into()),
            template.counters().created_by_schedule
        );
    }
    Ok(())
}

/// The `--db PATH` argument, if given.
fn db_argument() -> Result<Option<String>, Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    match (args.next().as_deref(), args.next()) {
        (None, _) => Ok(None),
        (Some("--db"), Some(path)) => Ok(Some(path)),
        _ => Err("usage: quickstart [--db PATH]".into()),
    }
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

/// Creates the template, or finds the one a previous run with the same database created.
fn create_or_find(
    engine: &Engine<Box<dyn Repository>, ManualClock>,
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
