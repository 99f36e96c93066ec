//! Revenue forecast: what the templates will create over a range, per calendar period and
//! currency, in exact minor units.
//!
//! The forecast walks each template with the planner's own decisions (the walk behind
//! [`crate::Engine::preview`]): ends and remaining counts, pauses and resume dates, skipped
//! and moved occurrences, installment splits, the current schedule revision, and the catch-up
//! of what is already overdue at the start of the range. What it forecasts is what the
//! engine, ticking at each of its wake-ups over the range, creates.

use std::collections::HashMap;
use std::fmt;
use std::ops::ControlFlow;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::deal::Currency;
use crate::ids::TenantId;
use crate::planner;
use crate::template::Template;
use crate::terms::Terms;

/// The calendar period a forecast groups deals by, in each template's own zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// A civil day: `2026-01-31`.
    Day,
    /// An ISO 8601 week, Monday to Sunday: `2026-W05`.
    Week,
    /// A calendar month: `2026-01`.
    Month,
    /// A calendar year: `2026`.
    Year,
}

impl Period {
    /// The period of this kind that holds `date`.
    pub fn of(self, date: NaiveDate) -> PeriodStart {
        let start = match self {
            Period::Day => date,
            Period::Week => {
                date - chrono::Days::new(u64::from(date.weekday().num_days_from_monday()))
            }
            Period::Month => date.with_day(1).unwrap_or(date),
            Period::Year => date.with_ordinal(1).unwrap_or(date),
        };
        PeriodStart { by: self, start }
    }
}

impl Period {
    /// The number of the period holding `date`, counted in periods of this kind: consecutive
    /// periods have consecutive numbers.
    fn number_of(self, date: NaiveDate) -> i64 {
        match self {
            Period::Day => i64::from(date.num_days_from_ce()),
            // 0001-01-01 is a Monday (day 1): weeks start on days 1, 8, 15...
            Period::Week => i64::from(date.num_days_from_ce() - 1).div_euclid(7),
            Period::Month => i64::from(date.year()) * 12 + i64::from(date.month0()),
            Period::Year => i64::from(date.year()),
        }
    }

    /// The period numbered `number` ([`Period::number_of`]).
    fn start_of(self, number: i64) -> Option<PeriodStart> {
        let start = match self {
            Period::Day => NaiveDate::from_num_days_from_ce_opt(i32::try_from(number).ok()?)?,
            Period::Week => {
                NaiveDate::from_num_days_from_ce_opt(i32::try_from(number * 7 + 1).ok()?)?
            }
            Period::Month => NaiveDate::from_ymd_opt(
                i32::try_from(number.div_euclid(12)).ok()?,
                u32::try_from(number.rem_euclid(12)).ok()? + 1,
                1,
            )?,
            Period::Year => NaiveDate::from_ymd_opt(i32::try_from(number).ok()?, 1, 1)?,
        };
        Some(PeriodStart { by: self, start })
    }
}

impl PeriodStart {
    fn number(&self) -> i64 {
        self.by.number_of(self.start)
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
            Period::Year => "year",
        })
    }
}

impl std::str::FromStr for Period {
    type Err = ForecastError;
    fn from_str(text: &str) -> Result<Period, ForecastError> {
        match text {
            "day" => Ok(Period::Day),
            "week" => Ok(Period::Week),
            "month" => Ok(Period::Month),
            "year" => Ok(Period::Year),
            _ => Err(ForecastError::UnknownPeriod {
                value: text.to_owned(),
            }),
        }
    }
}

/// One period of a forecast: its kind and first civil day. Displays as `2026-01-31` (day),
/// `2026-W05` (ISO week), `2026-01` (month) or `2026` (year).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeriodStart {
    /// The kind of period.
    pub by: Period,
    /// Its first day.
    pub start: NaiveDate,
}

impl fmt::Display for PeriodStart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.by {
            Period::Day => write!(f, "{}", self.start.format("%Y-%m-%d")),
            Period::Week => {
                let week = self.start.iso_week();
                write!(f, "{:04}-W{:02}", week.year(), week.week())
            }
            Period::Month => write!(f, "{}", self.start.format("%Y-%m")),
            Period::Year => write!(f, "{:04}", self.start.year()),
        }
    }
}

impl Serialize for PeriodStart {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Dimensions a forecast groups by besides period and currency (all off by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Grouping {
    /// By tenant.
    #[serde(default)]
    pub tenant: bool,
    /// By pipeline and stage (the template's target, else its deal's).
    #[serde(default)]
    pub pipeline: bool,
    /// By assignee.
    #[serde(default)]
    pub assignee: bool,
    /// By company.
    #[serde(default)]
    pub company: bool,
}

/// What one forecast row is about. A dimension not grouped by is `None`; so is a deal's
/// assignee or company when it has none.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ForecastKey {
    /// The period.
    pub period: PeriodStart,
    /// The tenant, when grouped by tenant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<TenantId>,
    /// Pipeline and stage, when grouped by them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<(u32, String)>,
    /// The assignee, when grouped by assignee and the deal has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignee: Option<u64>,
    /// The company, when grouped by company and the deal has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company: Option<u64>,
    /// The currency.
    pub currency: Currency,
}

/// Deals and their exact sum in one forecast row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
pub struct ForecastTotal {
    /// How many deals.
    pub deals: u64,
    /// Their amount in minor units of the row's currency (`i128`: no sum can overflow).
    pub amount: i128,
}

/// A forecast: totals per [`ForecastKey`]. Forecasts of disjoint sets of templates over the
/// same [`Forecaster`] merge ([`Forecast::merge`]), so templates can be streamed or spread
/// over threads.
#[derive(Debug, Clone, Default)]
pub struct Forecast {
    /// Per group (every dimension but the period), the totals per period.
    groups: HashMap<GroupKey, Series>,
}

/// A [`ForecastKey`] without its period.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct GroupKey {
    tenant: Option<TenantId>,
    pipeline: Option<(u32, String)>,
    assignee: Option<u64>,
    company: Option<u64>,
    currency: Currency,
}

/// One group's totals, indexed by period number ([`Period::number`]) from `first`: adding a
/// period's deals is an index, not a hash.
#[derive(Debug, Clone)]
struct Series {
    by: Period,
    first: i64,
    totals: Vec<ForecastTotal>,
}

impl Series {
    fn new(by: Period) -> Series {
        Series {
            by,
            first: 0,
            totals: Vec::new(),
        }
    }

    fn add(&mut self, number: i64, deals: u64, amount: i128) {
        if self.totals.is_empty() {
            self.first = number;
        } else if number < self.first {
            let grow = usize::try_from(self.first - number).unwrap_or(0);
            self.totals
                .splice(0..0, std::iter::repeat_n(ForecastTotal::default(), grow));
            self.first = number;
        }
        let index = usize::try_from(number - self.first).unwrap_or(0);
        if index >= self.totals.len() {
            self.totals.resize(index + 1, ForecastTotal::default());
        }
        let into = &mut self.totals[index];
        into.deals += deals;
        into.amount += amount;
    }

    /// The periods with deals, in order.
    fn periods(&self) -> impl Iterator<Item = (PeriodStart, ForecastTotal)> + '_ {
        (self.totals.iter().enumerate())
            .filter(|(_, total)| total.deals > 0)
            .filter_map(|(i, total)| {
                let number = self.first + i64::try_from(i).ok()?;
                Some((self.by.start_of(number)?, *total))
            })
    }
}

impl Forecast {
    /// The rows with deals, sorted by period, then tenant, pipeline, assignee, company and
    /// currency.
    pub fn rows(&self) -> Vec<(ForecastKey, ForecastTotal)> {
        let mut rows: Vec<(ForecastKey, ForecastTotal)> = (self.groups.iter())
            .flat_map(|(group, series)| {
                (series.periods()).map(move |(period, total)| (key_of(group, period), total))
            })
            .collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        rows
    }

    /// The total of one row, if it has deals.
    pub fn get(&self, key: &ForecastKey) -> Option<ForecastTotal> {
        let series = self.groups.get(&GroupKey::of(key))?;
        let index = usize::try_from(key.period.number().checked_sub(series.first)?).ok()?;
        (series.by == key.period.by)
            .then(|| series.totals.get(index).copied())
            .flatten()
            .filter(|total| total.deals > 0)
    }

    /// Whether nothing is forecast.
    pub fn is_empty(&self) -> bool {
        self.groups
            .values()
            .all(|series| series.totals.iter().all(|t| t.deals == 0))
    }

    /// Adds `other`'s totals to this forecast's.
    pub fn merge(&mut self, other: Forecast) {
        if self.groups.is_empty() {
            self.groups = other.groups;
            return;
        }
        for (group, series) in other.groups {
            match self.groups.get_mut(&group) {
                Some(into) if into.by == series.by => {
                    for (i, total) in series.totals.iter().enumerate() {
                        if total.deals > 0 {
                            let number = series.first + i64::try_from(i).unwrap_or(0);
                            into.add(number, total.deals, total.amount);
                        }
                    }
                }
                _ => {
                    for (period, total) in series.periods() {
                        self.add(key_of(&group, period), total);
                    }
                }
            }
        }
    }

    /// Adds one total to a key.
    pub fn add(&mut self, key: ForecastKey, total: ForecastTotal) {
        let by = key.period.by;
        let number = key.period.number();
        let series = self
            .groups
            .entry(GroupKey::of(&key))
            .or_insert_with(|| Series::new(by));
        if series.by == by {
            series.add(number, total.deals, total.amount);
        }
    }

    /// Every currency's totals per period, all other dimensions summed.
    pub fn by_period(&self) -> Vec<(PeriodStart, Currency, ForecastTotal)> {
        let mut sums: HashMap<(PeriodStart, Currency), ForecastTotal> = HashMap::new();
        for (group, series) in &self.groups {
            for (period, total) in series.periods() {
                let into = sums.entry((period, group.currency)).or_default();
                into.deals += total.deals;
                into.amount += total.amount;
            }
        }
        let mut rows: Vec<_> = sums.into_iter().map(|((p, c), t)| (p, c, t)).collect();
        rows.sort_by(|a, b| (a.0, a.1.as_str()).cmp(&(b.0, b.1.as_str())));
        rows
    }
}

/// Two forecasts are equal when they have the same rows.
impl PartialEq for Forecast {
    fn eq(&self, other: &Forecast) -> bool {
        self.rows() == other.rows()
    }
}

impl Eq for Forecast {}

impl GroupKey {
    fn of(key: &ForecastKey) -> GroupKey {
        GroupKey {
            tenant: key.tenant.clone(),
            pipeline: key.pipeline.clone(),
            assignee: key.assignee,
            company: key.company,
            currency: key.currency,
        }
    }
}

fn key_of(group: &GroupKey, period: PeriodStart) -> ForecastKey {
    ForecastKey {
        period,
        tenant: group.tenant.clone(),
        pipeline: group.pipeline.clone(),
        assignee: group.assignee,
        company: group.company,
        currency: group.currency,
    }
}

/// A forecast that cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ForecastError {
    /// The range is empty or reversed.
    #[error("forecast range [{from}, {to}) is empty: `from` must be before `to`")]
    EmptyRange {
        /// The start given.
        from: DateTime<Utc>,
        /// The end given.
        to: DateTime<Utc>,
    },
    /// The range is longer than forecasts go.
    #[error("forecast range [{from}, {to}) is longer than {max_years} years")]
    RangeTooLong {
        /// The start given.
        from: DateTime<Utc>,
        /// The end given.
        to: DateTime<Utc>,
        /// The longest range accepted, in years.
        max_years: u32,
    },
    /// Not a period name.
    #[error("unknown period {value:?}: expected day, week, month or year")]
    UnknownPeriod {
        /// The text given.
        value: String,
    },
}

/// The longest forecast range, in years.
const MAX_YEARS: u32 = 100;

/// Forecasts templates over `[from, to)` by period (and optional [`Grouping`]).
///
/// A deal counts in the period of its nominal date in its template's zone; a deal already
/// overdue at `from` (the engine creates it at its first tick) counts in `from`'s period.
/// Templates that are inactive, finished, or paused without a resume date forecast nothing;
/// one paused with a resume date forecasts from that date, as its resume policy says.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use recurring_deals::forecast::{Forecaster, Period};
/// use recurring_deals::*;
///
/// let engine = blocking::Engine::new(
///     InMemoryRepository::new(),
///     ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()),
/// )?;
/// let rub = Currency::new("RUB")?;
/// let schedule = Schedule::builder(
///     Recurrence::monthly(Interval::ONE, MonthDay::Day(DayOfMonth::new(15)?)),
///     chrono::NaiveDate::from_ymd_opt(2026, 1, 15).unwrap().and_hms_opt(9, 0, 0).unwrap(),
///     Zone::get("Europe/Moscow")?,
/// )
/// .end(End::Count(5))
/// .build()?;
/// let acme = TenantId::new("acme")?;
/// let draft = TemplateDraft::new(Deal::new("Support", Money::new(150_000_00, rub))?, schedule);
/// let template = engine.create_template(&acme, draft)?;
///
/// let forecaster = Forecaster::new(
///     Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
///     Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap(),
///     Period::Month,
/// )?;
/// let forecast = forecaster.templates([&template]);
/// let months: Vec<String> =
///     forecast.rows().iter().map(|(key, _)| key.period.to_string()).collect();
/// assert_eq!(months, ["2026-01", "2026-02", "2026-03", "2026-04", "2026-05"]);
/// assert!(forecast.rows().iter().all(|(_, total)| total.amount == 150_000_00));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forecaster {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    by: Period,
    grouping: Grouping,
}

impl Forecaster {
    /// A forecast of `[from, to)` by `by`.
    ///
    /// # Errors
    /// [`ForecastError::EmptyRange`] unless `from < to`; [`ForecastError::RangeTooLong`]
    /// for a range over 100 years.
    pub fn new(
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        by: Period,
    ) -> Result<Forecaster, ForecastError> {
        if from >= to {
            return Err(ForecastError::EmptyRange { from, to });
        }
        if to - from > chrono::TimeDelta::days(366 * i64::from(MAX_YEARS)) {
            return Err(ForecastError::RangeTooLong {
                from,
                to,
                max_years: MAX_YEARS,
            });
        }
        Ok(Forecaster {
            from,
            to,
            by,
            grouping: Grouping::default(),
        })
    }

    /// Groups further by `grouping`.
    pub fn group_by(mut self, grouping: Grouping) -> Forecaster {
        self.grouping = grouping;
        self
    }

    /// The range's start.
    pub fn from(&self) -> DateTime<Utc> {
        self.from
    }

    /// The range's end (exclusive).
    pub fn to(&self) -> DateTime<Utc> {
        self.to
    }

    /// The period.
    pub fn period(&self) -> Period {
        self.by
    }

    /// The grouping.
    pub fn grouping(&self) -> Grouping {
        self.grouping
    }

    /// The forecast of `templates`.
    pub fn templates<'a>(&self, templates: impl IntoIterator<Item = &'a Template>) -> Forecast {
        let mut forecast = Forecast::default();
        let mut scratch = Scratch::default();
        for template in templates {
            self.add_with(template, &mut forecast, &mut scratch);
        }
        forecast
    }

    /// The forecast of `templates`, spread over rayon's thread pool (feature `parallel`).
    #[cfg(feature = "parallel")]
    #[cfg_attr(docsrs, doc(cfg(feature = "parallel")))]
    pub fn templates_parallel(&self, templates: &[Template]) -> Forecast {
        use rayon::prelude::*;
        templates
            .par_chunks(1_024)
            .fold(
                || (Forecast::default(), Scratch::default()),
                |(mut forecast, mut scratch), chunk| {
                    for template in chunk {
                        self.add_with(template, &mut forecast, &mut scratch);
                    }
                    (forecast, scratch)
                },
            )
            .map(|(forecast, _)| forecast)
            .reduce(Forecast::default, |mut a, b| {
                a.merge(b);
                a
            })
    }

    /// Adds one template's deals to `forecast`. A deal counts with the terms in force on its
    /// nominal date (a terms change effective later leaves it on the old amount, pipeline
    /// and assignee).
    pub fn add(&self, template: &Template, forecast: &mut Forecast) {
        self.add_with(template, forecast, &mut Scratch::default());
    }

    /// [`Forecaster::add`] with buffers kept from one template to the next.
    fn add_with(&self, template: &Template, forecast: &mut Forecast, scratch: &mut Scratch) {
        // Deals overdue at `from` are created at the first tick: they count in its period.
        let first_day = template.schedule().today(self.from);
        let first = self.by.number_of(first_day);
        let by = self.by;
        let revised = !template.terms_revisions().is_empty();
        // Deals come in date order: count each run of one period and one terms revision,
        // then add the runs at once.
        let runs = &mut scratch.runs;
        runs.clear();
        planner::walk(template, self.from, |planned, tick| {
            if tick >= self.to {
                return ControlFlow::Break(());
            }
            let number = by.number_of(planned.date).max(first);
            let terms = if revised {
                template.terms_index(planned.date)
            } else {
                0
            };
            match runs.last_mut() {
                Some((t, current, deals)) if *t == terms && *current == number => *deals += 1,
                _ => runs.push((terms, number, 1)),
            }
            ControlFlow::Continue(())
        });
        // Terms change with the date only: each revision's runs are contiguous, so each
        // gets one group look-up.
        for segment in scratch.runs.chunk_by(|a, b| a.0 == b.0) {
            // Templates of one group usually come together: the last group's key is
            // compared in place, not built again (two strings cloned, then dropped).
            let terms = template.terms_of(segment[0].0);
            let amount = i128::from(terms.amount().minor);
            let series = match &scratch.last {
                Some(last) if self.is_group(last, template, &terms) => {
                    forecast.groups.get_mut(last)
                }
                _ => None,
            };
            let series = match series {
                Some(series) => series,
                None => {
                    let group = self.group_of(template, &terms);
                    scratch.last = Some(group.clone());
                    forecast
                        .groups
                        .entry(group)
                        .or_insert_with(|| Series::new(by))
                }
            };
            for &(_, number, deals) in segment {
                series.add(number, deals, amount * i128::from(deals));
            }
        }
    }

    /// The group of the template's deals under `terms`.
    fn group_of(&self, template: &Template, terms: &Terms<'_>) -> GroupKey {
        let deal = terms.deal();
        let grouping = self.grouping;
        GroupKey {
            tenant: grouping.tenant.then(|| template.tenant().clone()),
            pipeline: grouping.pipeline.then(|| match terms.target() {
                Some(target) => (target.pipeline, target.stage.clone()),
                None => (deal.pipeline(), deal.stage().to_owned()),
            }),
            assignee: deal.assignee().filter(|_| grouping.assignee),
            company: deal.company().filter(|_| grouping.company),
            currency: deal.amount().currency,
        }
    }

    /// Whether `group` is [`Forecaster::group_of`] the template under `terms`, compared in
    /// place.
    fn is_group(&self, group: &GroupKey, template: &Template, terms: &Terms<'_>) -> bool {
        let deal = terms.deal();
        let grouping = self.grouping;
        let pipeline = match terms.target() {
            Some(target) => (target.pipeline, target.stage.as_str()),
            None => (deal.pipeline(), deal.stage()),
        };
        group.currency == deal.amount().currency
            && group.assignee == deal.assignee().filter(|_| grouping.assignee)
            && group.company == deal.company().filter(|_| grouping.company)
            && match &group.tenant {
                Some(tenant) => grouping.tenant && tenant == template.tenant(),
                None => !grouping.tenant,
            }
            && match &group.pipeline {
                Some((number, stage)) => grouping.pipeline && (*number, stage.as_str()) == pipeline,
                None => !grouping.pipeline,
            }
    }
}

/// Buffers [`Forecaster::templates`] keeps from one template to the next: the runs of one
/// template's deals, and the last group added to.
#[derive(Default)]
struct Scratch {
    runs: Vec<(usize, i64, u64)>,
    last: Option<GroupKey>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// Period numbers are consecutive and name their period's first day, and the labels are
    /// the documented ones (ISO weeks across a year end).
    #[test]
    fn periods_number_and_label_their_days() {
        for by in [Period::Day, Period::Week, Period::Month, Period::Year] {
            let mut previous: Option<i64> = None;
            let mut date = day(1899, 12, 1);
            while date < day(2201, 2, 1) {
                let number = by.number_of(date);
                let period = by.start_of(number).unwrap();
                assert_eq!(period, by.of(date), "{by} of {date}");
                assert_eq!(period.number(), number);
                if let Some(p) = previous {
                    assert!(number == p || number == p + 1, "{by}: {date}");
                }
                previous = Some(number);
                date = date.succ_opt().unwrap();
            }
        }
        assert_eq!(Period::Week.of(day(2026, 12, 31)).to_string(), "2026-W53");
        assert_eq!(Period::Week.of(day(2027, 1, 3)).to_string(), "2026-W53");
        assert_eq!(Period::Week.of(day(2027, 1, 4)).to_string(), "2027-W01");
        assert_eq!(Period::Week.of(day(2026, 1, 1)).start, day(2025, 12, 29));
        assert_eq!(Period::Month.of(day(2026, 2, 28)).to_string(), "2026-02");
        assert_eq!(Period::Day.of(day(2026, 2, 28)).to_string(), "2026-02-28");
        assert_eq!(Period::Year.of(day(2026, 2, 28)).to_string(), "2026");
        assert_eq!("week".parse::<Period>(), Ok(Period::Week));
        assert_eq!(
            "fortnight".parse::<Period>().unwrap_err().to_string(),
            "unknown period \"fortnight\": expected day, week, month or year"
        );
    }

    /// Rows added in any order and merged from parts make the same forecast.
    #[test]
    fn adding_and_merging_in_any_order_agree() {
        let rub = Currency::new("RUB").unwrap();
        let key = |m: u32, tenant: &str| ForecastKey {
            period: Period::Month.of(day(2026, m, 1)),
            tenant: Some(TenantId::new(tenant).unwrap()),
            pipeline: None,
            assignee: None,
            company: None,
            currency: rub,
        };
        let total = |deals: u64| ForecastTotal {
            deals,
            amount: i128::from(deals) * 100,
        };
        let mut whole = Forecast::default();
        let mut a = Forecast::default();
        let mut b = Forecast::default();
        for (k, (m, tenant)) in [(5, "x"), (1, "x"), (9, "y"), (3, "x"), (1, "y")]
            .iter()
            .enumerate()
        {
            whole.add(key(*m, tenant), total(k as u64 + 1));
            if k % 2 == 0 { &mut a } else { &mut b }.add(key(*m, tenant), total(k as u64 + 1));
        }
        let mut merged = b.clone();
        merged.merge(a.clone());
        assert_eq!(merged, whole);
        a.merge(b);
        assert_eq!(a, whole);
        assert_eq!(whole.rows().len(), 5);
        assert_eq!(whole.get(&key(3, "x")), Some(total(4)));
        assert_eq!(whole.get(&key(4, "x")), None);
        assert_eq!(whole.by_period()[0].2, total(2 + 5));
        assert!(!whole.is_empty() && Forecast::default().is_empty());
        assert!(
            Forecaster::new(
                day(2026, 1, 1).and_hms_opt(0, 0, 0).unwrap().and_utc(),
                day(2026, 1, 1).and_hms_opt(0, 0, 0).unwrap().and_utc(),
                Period::Day
            )
            .is_err()
        );
    }
}
