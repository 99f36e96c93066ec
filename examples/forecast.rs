//! Forecasts what the templates of a file will create over a range: deals and exact amounts
//! per period, tenant and currency.
//!
//! ```text
//! cargo run --release --example forecast -- --templates examples/templates.json \
//!     --from 2026-01-01T00:00:00Z --to 2027-01-01T00:00:00Z --by month
//! ```
//!
//! The templates file is a JSON array of `{"tenant": "...", "template": <TemplateDraft>}`;
//! the templates are made at `--from` in an in-memory engine, and the forecast is the
//! engine's (`Engine::forecast`, per tenant). `--json` prints one line per group instead of
//! the table; `--chart PATH.svg` also draws the amounts per period and currency as bars.

use std::collections::BTreeMap;
use std::error::Error;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::Parser;
use recurring_deals::blocking::Engine;
use recurring_deals::forecast::{Forecast, Forecaster, Grouping, Period};
use recurring_deals::*;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    tenant: TenantId,
    template: TemplateDraft,
}

/// What to group by besides period, tenant and currency.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Dimension {
    /// Pipeline and stage.
    Pipeline,
    /// Assignee.
    Assignee,
    /// Company.
    Company,
}

/// Forecasts the deals (and their amounts) the templates of a file will create.
#[derive(Parser)]
#[command(version)]
struct Options {
    /// The templates: a JSON array of `{"tenant": ..., "template": <draft>}`.
    #[arg(long, value_name = "FILE")]
    templates: PathBuf,
    /// Start of the range, an RFC 3339 instant such as 2026-01-01T00:00:00Z; the templates
    /// are made then.
    #[arg(long, value_name = "RFC3339", value_parser = instant)]
    from: DateTime<Utc>,
    /// End of the range (exclusive), an RFC 3339 instant after --from, at most 100 years on.
    #[arg(long, value_name = "RFC3339", value_parser = instant)]
    to: DateTime<Utc>,
    /// The period: day, week (ISO), month or year, in each template's zone.
    #[arg(long, value_name = "PERIOD", default_value = "month", value_parser = period)]
    by: Period,
    /// Group further (repeatable): pipeline, assignee, company.
    #[arg(long, value_name = "DIMENSION")]
    group: Vec<Dimension>,
    /// One JSON line per group instead of a table.
    #[arg(long)]
    json: bool,
    /// Also draw the amounts per period and currency as a bar chart into this SVG file.
    #[arg(long, value_name = "PATH.svg")]
    chart: Option<PathBuf>,
}

#[derive(Serialize)]
struct Line<'a> {
    period: String,
    tenant: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pipeline: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stage: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    assignee: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    company: Option<u64>,
    currency: &'a str,
    deals: u64,
    amount: i128,
}

fn main() {
    if let Err(error) = run() {
        eprintln!("forecast: {error}");
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
    let mut grouping = Grouping {
        tenant: true,
        ..Grouping::default()
    };
    for dimension in &options.group {
        match dimension {
            Dimension::Pipeline => grouping.pipeline = true,
            Dimension::Assignee => grouping.assignee = true,
            Dimension::Company => grouping.company = true,
        }
    }
    let forecaster = Forecaster::new(options.from, options.to, options.by)
        .map_err(|e| format!("--from/--to: {e}"))?
        .group_by(grouping);
    let text = std::fs::read_to_string(&options.templates)
        .map_err(|e| format!("cannot read {}: {e}", options.templates.display()))?;
    let entries: Vec<Entry> = serde_json::from_str(&text).map_err(|e| {
        format!(
            "{}: not a JSON array of templates: {e}",
            options.templates.display()
        )
    })?;
    let engine = Engine::new(InMemoryRepository::new(), ManualClock::new(options.from))?;
    let mut tenants = Vec::new();
    for (i, entry) in entries.into_iter().enumerate() {
        engine
            .create_template(&entry.tenant, entry.template)
            .map_err(|e| format!("template {} of {}: {e}", i + 1, options.templates.display()))?;
        if !tenants.contains(&entry.tenant) {
            tenants.push(entry.tenant);
        }
    }
    let mut forecast = Forecast::default();
    for tenant in &tenants {
        forecast.merge(engine.forecast(tenant, &forecaster)?);
    }
    if options.json {
        print_json(&forecast)?;
    } else {
        print_table(&forecast, &options);
    }
    if let Some(path) = &options.chart {
        chart(&forecast, path).map_err(|e| format!("cannot draw {}: {e}", path.display()))?;
    }
    Ok(())
}

fn print_json(forecast: &Forecast) -> Result<(), Box<dyn Error>> {
    for (key, total) in forecast.rows() {
        let line = Line {
            period: key.period.to_string(),
            tenant: key.tenant.as_ref().map_or("", |t| t.as_str()),
            pipeline: key.pipeline.as_ref().map(|p| p.0),
            stage: key.pipeline.as_ref().map(|p| p.1.as_str()),
            assignee: key.assignee,
            company: key.company,
            currency: key.currency.as_str(),
            deals: total.deals,
            amount: total.amount,
        };
        println!("{}", serde_json::to_string(&line)?);
    }
    Ok(())
}

fn print_table(forecast: &Forecast, options: &Options) {
    println!(
        "Forecast {} .. {} by {}",
        options.from.to_rfc3339(),
        options.to.to_rfc3339(),
        options.by
    );
    println!(
        "{:<10} {:<8} {:<12} {:>6} {:>22}",
        "period", "tenant", "group", "deals", "amount"
    );
    for (key, total) in forecast.rows() {
        let mut group = Vec::new();
        if let Some((pipeline, stage)) = &key.pipeline {
            group.push(format!("{pipeline}/{stage}"));
        }
        if let Some(user) = key.assignee {
            group.push(format!("user {user}"));
        }
        if let Some(company) = key.company {
            group.push(format!("co. {company}"));
        }
        println!(
            "{:<10} {:<8} {:<12} {:>6} {:>22}",
            key.period.to_string(),
            key.tenant.as_ref().map_or("", |t| t.as_str()),
            group.join(", "),
            total.deals,
            major_units(total.amount, key.currency),
        );
    }
    let mut totals: BTreeMap<String, (u64, i128, Currency)> = BTreeMap::new();
    for (key, total) in forecast.rows() {
        let into = totals
            .entry(key.currency.as_str().to_owned())
            .or_insert((0, 0, key.currency));
        into.0 += total.deals;
        into.1 += total.amount;
    }
    for (deals, amount, currency) in totals.into_values() {
        println!(
            "{:<10} {:<8} {:<12} {:>6} {:>22}",
            "total",
            "",
            "",
            deals,
            major_units(amount, currency)
        );
    }
}

/// `amount` minor units as major units with the currency's decimals: `150000.00 RUB`.
fn major_units(amount: i128, currency: Currency) -> String {
    let exponent = u32::from(currency.exponent());
    let scale = 10i128.pow(exponent);
    let sign = if amount < 0 { "-" } else { "" };
    let abs = amount.unsigned_abs();
    if exponent == 0 {
        format!("{sign}{abs} {currency}")
    } else {
        let scale = scale.unsigned_abs();
        format!(
            "{sign}{}.{:0width$} {currency}",
            abs / scale,
            abs % scale,
            width = exponent as usize
        )
    }
}

/// One bar chart per currency: the amount per period, in major units.
fn chart(forecast: &Forecast, path: &PathBuf) -> Result<(), Box<dyn Error>> {
    use plotters::prelude::*;

    let rows = forecast.by_period();
    let mut currencies: Vec<Currency> = rows.iter().map(|r| r.1).collect();
    currencies.dedup();
    currencies.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    currencies.dedup();
    let periods: Vec<String> = {
        let mut p: Vec<_> = rows.iter().map(|r| r.0).collect();
        p.sort();
        p.dedup();
        p.iter().map(ToString::to_string).collect()
    };
    let height = 320 * currencies.len().max(1) as u32;
    let root = SVGBackend::new(path, (960, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let areas = root.split_evenly((currencies.len().max(1), 1));
    for (area, currency) in areas.iter().zip(&currencies) {
        let scale = 10f64.powi(i32::from(currency.exponent()));
        let amounts: Vec<f64> = periods
            .iter()
            .map(|period| {
                rows.iter()
                    .filter(|r| r.1 == *currency && r.0.to_string() == *period)
                    .map(|r| r.2.amount as f64 / scale)
                    .sum()
            })
            .collect();
        let top = amounts.iter().copied().fold(0.0, f64::max).max(1.0) * 1.1;
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!("Forecast amount per period, {currency}"),
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(90)
            .build_cartesian_2d((0..periods.len()).into_segmented(), 0.0..top)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(periods.len().min(24))
            .x_label_formatter(&|x| match x {
                SegmentValue::CenterOf(i) => periods.get(*i).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .y_desc(currency.as_str())
            .draw()?;
        chart.draw_series(amounts.iter().enumerate().map(|(i, amount)| {
            let mut bar = Rectangle::new(
                [
                    (SegmentValue::Exact(i), 0.0),
                    (SegmentValue::Exact(i + 1), *amount),
                ],
                BLUE.mix(0.6).filled(),
            );
            bar.set_margin(0, 0, 4, 4);
            bar
        }))?;
    }
    root.present()?;
    Ok(())
}

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

fn period(text: &str) -> Result<Period, String> {
    text.parse()
        .map_err(|e: forecast::ForecastError| e.to_string())
}
