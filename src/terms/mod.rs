//! Terms changes across templates: new amounts, product rows, pipeline and stage, or assignee
//! for the deals a template creates from a civil date on.
//!
//! A [`TermsChange`] is a value (with a JSON form hosts send); applying it to one template is
//! a pure transition, [`Template::apply_terms`], in the style of the lifecycle's: it returns
//! what to commit, or why nothing changes. The template keeps the change as a *terms
//! revision* effective from a civil date in its schedule's zone: a deal created for an
//! occurrence whose nominal date is on or after that date uses the new terms; an earlier
//! occurrence keeps the old ones even when it is created late (catch-up). Deals already
//! created are never changed, and the schedule, its revision, the counts and the deal keys
//! carry over unchanged.

mod revision;

pub use revision::*;

use std::borrow::Cow;
use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::deal::{Currency, Deal, Money, ProductRow};
use crate::ids::TemplateId;
use crate::lifecycle::Change;
use crate::store::StateFilter;
use crate::template::{InstallmentSplit, Target, Template, TemplateState};
use crate::validation::ValidationError;

/// The most terms revisions a template holds: the one in force and those still to come.
/// Revisions the planner has passed are dropped when the next change is applied.
pub const MAX_TERMS_REVISIONS: usize = 16;

/// The most change ids a template remembers; re-applying a change older than the last 64
/// applied to the template is no longer recognized.
pub const MAX_REMEMBERED_CHANGES: usize = 64;

/// The smallest and largest percentage change, in basis points: −100 % and +1,000 %.
pub const PERCENT_RANGE: std::ops::RangeInclusive<i32> = -10_000..=100_000;

/// The identity of a terms change: what makes re-applying it a no-op. 1 to 128 characters,
/// none of them control characters. The JSON form is the text.
///
/// ```
/// use recurring_deals::ChangeId;
/// assert_eq!(ChangeId::new("price-2027")?.as_str(), "price-2027");
/// assert!(ChangeId::new("").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ChangeId(String);

impl ChangeId {
    /// The longest id, in characters.
    pub const MAX_CHARS: usize = 128;

    /// Validates a change id.
    ///
    /// # Errors
    /// [`TermsError::InvalidChangeId`] for an empty id, one over 128 characters, or one with
    /// control characters.
    pub fn new(id: impl Into<String>) -> Result<ChangeId, TermsError> {
        let id = id.into();
        if id.is_empty()
            || id.chars().count() > ChangeId::MAX_CHARS
            || id.chars().any(char::is_control)
        {
            return Err(TermsError::InvalidChangeId(id));
        }
        Ok(ChangeId(id))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ChangeId {
    type Error = TermsError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        ChangeId::new(value)
    }
}

impl From<ChangeId> for String {
    fn from(value: ChangeId) -> String {
        value.0
    }
}

impl fmt::Display for ChangeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a percentage change rounds to the currency's minor unit (cents for `EUR`, yen for
/// `JPY`, fils for `BHD`). JSON: `"half_up"`, `"half_even"`, `"down"`, `"up"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Rounding {
    /// To the nearest minor unit; a half away from zero (5.5 → 6, 16.5 → 17).
    HalfUp,
    /// To the nearest minor unit; a half to the even one (5.5 → 6, 16.5 → 16): banker's
    /// rounding.
    HalfEven,
    /// Toward zero (5.9 → 5).
    Down,
    /// Away from zero (5.1 → 6).
    Up,
}

impl Rounding {
    /// `numerator / denominator` rounded by this rule (`denominator > 0`).
    fn divide(self, numerator: i128, denominator: i128) -> i128 {
        let quotient = numerator.div_euclid(denominator);
        let remainder = numerator.rem_euclid(denominator);
        if remainder == 0 {
            return quotient;
        }
        // `quotient` is the floor; the exact value lies strictly between it and the next.
        let (toward_zero, away) = if numerator >= 0 {
            (quotient, quotient + 1)
        } else {
            (quotient + 1, quotient)
        };
        let twice = 2 * remainder;
        let half = twice.cmp(&denominator);
        let nearest_floor_side = if numerator >= 0 {
            half.is_lt()
        } else {
            half.is_gt()
        };
        match self {
            Rounding::Down => toward_zero,
            Rounding::Up => away,
            Rounding::HalfUp | Rounding::HalfEven if half.is_ne() => {
                if nearest_floor_side {
                    toward_zero
                } else {
                    away
                }
            }
            Rounding::HalfUp => away,
            Rounding::HalfEven if quotient % 2 == 0 => quotient,
            Rounding::HalfEven => quotient + 1,
        }
    }
}

/// A change of the amount of created deals.
///
/// JSON: `{"set": {"minor": 165000, "currency": "RUB"}}` or
/// `{"percent": {"basis_points": 500, "rounding": "half_even"}}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AmountChange {
    /// This amount, in the template's currency (a template in another currency refuses it).
    Set(Money),
    /// The amount in force changed by a percentage: new = old × (10,000 + `basis_points`) /
    /// 10,000, rounded to the minor unit by `rounding`. `basis_points` is from −10,000
    /// (−100 %) to 100,000 (+1,000 %): 500 raises by 5 %, −1,000 lowers by 10 %.
    Percent {
        /// The change in basis points (1/100 of a percent).
        basis_points: i32,
        /// How the result rounds to the currency's minor unit.
        #[serde(deserialize_with = "crate::json_enum::tagged")]
        rounding: Rounding,
    },
}

impl AmountChange {
    /// A percentage change ([`AmountChange::Percent`]); checked when the change is built.
    pub fn percent(basis_points: i32, rounding: Rounding) -> AmountChange {
        AmountChange::Percent {
            basis_points,
            rounding,
        }
    }

    /// The new amount for a template whose amount in force is `old`.
    ///
    /// # Errors
    /// [`TermsError::CurrencyMismatch`] for a set amount in another currency;
    /// [`TermsError::NegativeAmount`] and [`TermsError::Overflow`] for a result below zero or
    /// past `i64::MAX` minor units.
    ///
    /// ```
    /// use recurring_deals::{AmountChange, Currency, Money, Rounding};
    /// let bhd = Currency::new("BHD")?;
    /// let lower = AmountChange::percent(-1_000, Rounding::HalfEven);
    /// // 1.005 BHD − 10 % = 0.9045: to the even fils.
    /// assert_eq!(lower.applied_to(Money::new(1_005, bhd), recurring_deals::TemplateId(1))?.minor, 904);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn applied_to(self, old: Money, template: TemplateId) -> Result<Money, TermsError> {
        match self {
            AmountChange::Set(money) if money.currency != old.currency => {
                Err(TermsError::CurrencyMismatch {
                    template,
                    expected: old.currency,
                    got: money.currency,
                })
            }
            AmountChange::Set(money) if money.minor < 0 => Err(TermsError::NegativeAmount {
                template,
                minor: i128::from(money.minor),
            }),
            AmountChange::Set(money) => Ok(money),
            AmountChange::Percent {
                basis_points,
                rounding,
            } => {
                let factor = 10_000 + i128::from(basis_points);
                // |old| < 2^63 and |factor| < 2^17: the product fits an i128.
                let minor = rounding.divide(i128::from(old.minor) * factor, 10_000);
                if minor < 0 {
                    return Err(TermsError::NegativeAmount { template, minor });
                }
                let minor = i64::try_from(minor).map_err(|_| TermsError::Overflow {
                    template,
                    amount: old,
                    basis_points,
                })?;
                Ok(Money::new(minor, old.currency))
            }
        }
    }
}

/// Which of a tenant's templates a change is for. Every part left empty matches all; the
/// parts are combined with "and".
///
/// JSON: `{"pipeline": 2, "stage": "NEW", "states": ["active", "paused"], "ids": [7, 9]}`,
/// every field optional.
///
/// ```
/// use recurring_deals::{StateFilter, TermsFilter};
/// let filter = TermsFilter::default().pipeline(2).states([StateFilter::Active]);
/// assert_eq!(filter.pipeline_is(), Some(2));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TermsFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pipeline: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stage: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::json_enum::list"
    )]
    states: Vec<StateFilter>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    ids: Vec<TemplateId>,
}

impl TermsFilter {
    /// Only templates whose created deals go to this pipeline (on the effective date: the
    /// template's target in force then, else its deal's pipeline).
    #[must_use]
    pub fn pipeline(mut self, pipeline: u32) -> TermsFilter {
        self.pipeline = Some(pipeline);
        self
    }

    /// Only templates whose created deals go to this stage (as [`TermsFilter::pipeline`]).
    #[must_use]
    pub fn stage(mut self, stage: impl Into<String>) -> TermsFilter {
        self.stage = Some(stage.into());
        self
    }

    /// Only templates in one of these kinds of state.
    #[must_use]
    pub fn states(mut self, states: impl IntoIterator<Item = StateFilter>) -> TermsFilter {
        self.states = states.into_iter().collect();
        self
    }

    /// Only these templates.
    #[must_use]
    pub fn ids(mut self, ids: impl IntoIterator<Item = TemplateId>) -> TermsFilter {
        self.ids = ids.into_iter().collect();
        self
    }

    /// The pipeline asked for.
    pub fn pipeline_is(&self) -> Option<u32> {
        self.pipeline
    }

    /// The stage asked for.
    pub fn stage_is(&self) -> Option<&str> {
        self.stage.as_deref()
    }

    /// The states asked for (empty: any).
    pub fn states_are(&self) -> &[StateFilter] {
        &self.states
    }

    /// The templates asked for (empty: any).
    pub fn ids_are(&self) -> &[TemplateId] {
        &self.ids
    }

    /// Whether `template` matches, its pipeline and stage taken on `effective`.
    fn matches(&self, template: &Template, effective: NaiveDate) -> bool {
        if !self.ids.is_empty() && !self.ids.contains(&template.id) {
            return false;
        }
        if !self.states.is_empty() && !self.states.iter().any(|s| s.matches(&template.state)) {
            return false;
        }
        if self.pipeline.is_none() && self.stage.is_none() {
            return true;
        }
        let terms = template.terms_on(effective);
        let (pipeline, stage) = match terms.target() {
            Some(target) => (target.pipeline, target.stage.as_str()),
            None => (terms.deal().pipeline(), terms.deal().stage()),
        };
        self.pipeline.is_none_or(|p| p == pipeline)
            && self.stage.as_deref().is_none_or(|s| s == stage)
    }
}

/// A change of terms for a tenant's templates from a civil date: a new amount (set, or a
/// percentage with a rounding rule), new product rows, a new pipeline and stage, or a new
/// assignee for the deals they create. Built by [`TermsChange::builder`] or read from JSON,
/// both validated.
///
/// The JSON form:
///
/// ```json
/// {
///   "id": "price-2027",
///   "effective": "2027-01-01",
///   "filter": {"pipeline": 0, "states": ["active"]},
///   "amount": {"percent": {"basis_points": 500, "rounding": "half_up"}},
///   "products": [{"name": "Support", "price": {"minor": 157500, "currency": "RUB"},
///                 "quantity_milli": 1000, "discount": 0, "tax_rate_bp": 2000}],
///   "target": {"pipeline": 2, "stage": "NEW"},
///   "assignee": 17
/// }
/// ```
///
/// `id` and `effective` are required, and at least one of `amount`, `products`, `target`,
/// `assignee`; `filter` defaults to every template.
///
/// ```
/// use chrono::NaiveDate;
/// use recurring_deals::*;
///
/// let change = TermsChange::builder(
///     ChangeId::new("price-2027")?,
///     NaiveDate::from_ymd_opt(2027, 1, 1).unwrap(),
/// )
/// .amount(AmountChange::percent(500, Rounding::HalfUp))
/// .filter(TermsFilter::default().states([StateFilter::Active]))
/// .build()?;
/// let json = serde_json::to_string(&change)?;
/// assert_eq!(serde_json::from_str::<TermsChange>(&json)?, change);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "TermsChangeForm")]
pub struct TermsChange {
    id: ChangeId,
    effective: NaiveDate,
    #[serde(default, skip_serializing_if = "is_match_all")]
    filter: TermsFilter,
    #[serde(flatten)]
    edit: TermsEdit,
}

fn is_match_all(filter: &TermsFilter) -> bool {
    *filter == TermsFilter::default()
}

/// What a change sets; every part optional, at least one present.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
struct TermsEdit {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::json_enum::optional"
    )]
    amount: Option<AmountChange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    products: Option<Vec<ProductRow>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    target: Option<Target>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    assignee: Option<u64>,
}

/// The JSON form of a [`TermsChange`], validated into one.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TermsChangeForm {
    id: ChangeId,
    effective: NaiveDate,
    #[serde(default)]
    filter: TermsFilter,
    #[serde(default, deserialize_with = "crate::json_enum::optional")]
    amount: Option<AmountChange>,
    #[serde(default)]
    products: Option<Vec<ProductRow>>,
    #[serde(default)]
    target: Option<Target>,
    #[serde(default)]
    assignee: Option<u64>,
}

impl TryFrom<TermsChangeForm> for TermsChange {
    type Error = TermsError;
    fn try_from(form: TermsChangeForm) -> Result<TermsChange, TermsError> {
        TermsChangeBuilder {
            change: TermsChange {
                id: form.id,
                effective: form.effective,
                filter: form.filter,
                edit: TermsEdit {
                    amount: form.amount,
                    products: form.products,
                    target: form.target,
                    assignee: form.assignee,
                },
            },
        }
        .build()
    }
}

/// Builds a [`TermsChange`] ([`TermsChange::builder`]).
#[derive(Debug, Clone)]
#[must_use]
pub struct TermsChangeBuilder {
    change: TermsChange,
}

impl TermsChange {
    /// A change named `id`, effective for occurrences on or after `effective` (a civil date
    /// in each template's schedule zone). Add at least one edit, then [`build`].
    ///
    /// [`build`]: TermsChangeBuilder::build
    pub fn builder(id: ChangeId, effective: NaiveDate) -> TermsChangeBuilder {
        TermsChangeBuilder {
            change: TermsChange {
                id,
                effective,
                filter: TermsFilter::default(),
                edit: TermsEdit::default(),
            },
        }
    }

    /// The change's id.
    pub fn id(&self) -> &ChangeId {
        &self.id
    }

    /// The first civil date (in each template's zone) whose occurrences get the new terms.
    pub fn effective(&self) -> NaiveDate {
        self.effective
    }

    /// Which templates it is for.
    pub fn filter(&self) -> &TermsFilter {
        &self.filter
    }

    /// The amount change, if any.
    pub fn amount(&self) -> Option<AmountChange> {
        self.edit.amount
    }

    /// The new product rows, if any.
    pub fn products(&self) -> Option<&[ProductRow]> {
        self.edit.products.as_deref()
    }

    /// The new pipeline and stage, if any.
    pub fn target(&self) -> Option<&Target> {
        self.edit.target.as_ref()
    }

    /// The new assignee, if any.
    pub fn assignee(&self) -> Option<u64> {
        self.edit.assignee
    }
}

impl TermsChangeBuilder {
    /// Changes the amount.
    pub fn amount(mut self, amount: AmountChange) -> TermsChangeBuilder {
        self.change.edit.amount = Some(amount);
        self
    }

    /// Replaces the product rows (in the templates' currency).
    pub fn products(mut self, products: Vec<ProductRow>) -> TermsChangeBuilder {
        self.change.edit.products = Some(products);
        self
    }

    /// Sends created deals to this pipeline and stage.
    pub fn target(mut self, target: Target) -> TermsChangeBuilder {
        self.change.edit.target = Some(target);
        self
    }

    /// Assigns created deals to this user.
    pub fn assignee(mut self, user: u64) -> TermsChangeBuilder {
        self.change.edit.assignee = Some(user);
        self
    }

    /// Limits the change to the templates `filter` matches.
    pub fn filter(mut self, filter: TermsFilter) -> TermsChangeBuilder {
        self.change.filter = filter;
        self
    }

    /// Validates the change.
    ///
    /// # Errors
    /// [`TermsError::NothingToChange`] without an edit; [`TermsError::PercentOutOfRange`];
    /// [`TermsError::NegativeAmount`] for a negative set amount;
    /// [`TermsError::Products`] for product rows a deal refuses (negative values, rows in
    /// several currencies, a currency that is not ISO 4217); [`TermsError::InvalidStage`]
    /// for an empty stage; [`TermsError::Invalid`] for an effective date outside
    /// 1900..=2199 or a filter over [`crate::limits::TERMS_FILTER_IDS`] ids or a stage over
    /// [`crate::limits::STAGE_BYTES`].
    pub fn build(self) -> Result<TermsChange, TermsError> {
        use crate::validation::{at_most, supported};
        supported("effective date", self.change.effective).map_err(TermsError::Invalid)?;
        let filter = &self.change.filter;
        at_most(
            "terms filter ids",
            filter.ids.len(),
            crate::limits::TERMS_FILTER_IDS,
            "items",
        )
        .map_err(TermsError::Invalid)?;
        if let Some(stage) = &filter.stage {
            at_most(
                "terms filter stage",
                stage.len(),
                crate::limits::STAGE_BYTES,
                "bytes",
            )
            .map_err(TermsError::Invalid)?;
        }
        let edit = &self.change.edit;
        if *edit == TermsEdit::default() {
            return Err(TermsError::NothingToChange);
        }
        match edit.amount {
            Some(AmountChange::Percent { basis_points, .. })
                if !PERCENT_RANGE.contains(&basis_points) =>
            {
                return Err(TermsError::PercentOutOfRange {
                    basis_points,
                    min: *PERCENT_RANGE.start(),
                    max: *PERCENT_RANGE.end(),
                });
            }
            Some(AmountChange::Set(money)) => {
                if money.minor < 0 {
                    return Err(TermsError::NegativeAmount {
                        template: TemplateId(0),
                        minor: i128::from(money.minor),
                    });
                }
                Currency::new(money.currency.as_str()).map_err(TermsError::Products)?;
            }
            _ => {}
        }
        if let Some(rows) = &edit.products
            && let Some(first) = rows.first()
        {
            Deal::new("products", Money::new(0, first.price.currency))
                .and_then(|probe| probe.with_products(rows.clone()))
                .map_err(TermsError::Products)?;
        }
        if let Some(target) = &edit.target
            && target.stage.trim().is_empty()
        {
            return Err(TermsError::InvalidStage(target.stage.clone()));
        }
        Ok(self.change)
    }
}

/// Why a terms change, or its application to one template, is refused. Nothing is written
/// for a refused template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TermsError {
    /// A change id that is empty, too long or has control characters.
    #[error(
        "invalid change id {0:?}: expected 1 to 128 characters, none of them control characters"
    )]
    InvalidChangeId(String),
    /// A change that changes nothing.
    #[error(
        "a terms change must change at least one of amount, products, target and assignee, got none"
    )]
    NothingToChange,
    /// A percentage outside the accepted range.
    #[error("percentage change must be {min} to {max} basis points, got {basis_points}")]
    PercentOutOfRange {
        /// The basis points given.
        basis_points: i32,
        /// The least accepted.
        min: i32,
        /// The most accepted.
        max: i32,
    },
    /// Product rows a deal refuses, or a set amount in a currency that is not ISO 4217.
    #[error("invalid product rows or amount")]
    Products(#[source] ValidationError),
    /// A target with an empty stage.
    #[error("target stage must not be empty, got {0:?}")]
    InvalidStage(String),
    /// An effective date outside the supported years, or a filter over its bounds
    /// ([`crate::limits`]).
    #[error(transparent)]
    Invalid(ValidationError),
    /// An amount or product rows in another currency than the template's.
    #[error("template {template} is in {expected}; the change is in {got}")]
    CurrencyMismatch {
        /// The template.
        template: TemplateId,
        /// The template's currency.
        expected: Currency,
        /// The change's.
        got: Currency,
    },
    /// A new amount below zero.
    #[error("the new amount of template {template} would be negative: {minor} minor units")]
    NegativeAmount {
        /// The template (T0 when the change itself sets a negative amount).
        template: TemplateId,
        /// The amount it would be, in minor units.
        minor: i128,
    },
    /// A new amount past `i64::MAX` minor units.
    #[error(
        "the amount {amount} of template {template} changed by {basis_points} basis points overflows {} minor units",
        i64::MAX
    )]
    Overflow {
        /// The template.
        template: TemplateId,
        /// Its amount before the change.
        amount: Money,
        /// The change.
        basis_points: i32,
    },
    /// The template already holds as many terms revisions as it may.
    #[error(
        "template {template} already holds {max} terms revisions to come; wait until one takes effect"
    )]
    TooManyRevisions {
        /// The template.
        template: TemplateId,
        /// The most a template holds ([`MAX_TERMS_REVISIONS`]).
        max: usize,
    },
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeZone, Utc};

    use super::*;
    use crate::ids::TenantId;
    use crate::schedule::Schedule;
    use crate::schedule::recurrence::{Interval, Recurrence};
    use crate::template::TemplateDraft;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn template(minor: i64, code: &str) -> Template {
        let schedule = Schedule::builder(
            Recurrence::daily(Interval::ONE),
            day(2026, 3, 1).and_hms_opt(9, 0, 0).unwrap(),
            crate::zone::Zone::UTC,
        )
        .build()
        .unwrap();
        let deal = Deal::new("Support", Money::new(minor, Currency::new(code).unwrap())).unwrap();
        TemplateDraft::new(deal, schedule)
            .into_template(TenantId::new("acme").unwrap(), TemplateId(1))
            .unwrap()
    }

    fn change(id: &str, effective: NaiveDate) -> TermsChangeBuilder {
        TermsChange::builder(ChangeId::new(id).unwrap(), effective)
    }

    fn applied(template: &Template, change: &TermsChange) -> Template {
        match template.apply_terms(change).unwrap() {
            TermsStep::Apply { change, .. } => change.template,
            other => panic!("expected a change, got {other:?}"),
        }
    }

    fn percent(minor: i64, code: &str, bp: i32, rounding: Rounding) -> i64 {
        let money = Money::new(minor, Currency::new(code).unwrap());
        AmountChange::percent(bp, rounding)
            .applied_to(money, TemplateId(1))
            .unwrap()
            .minor
    }

    #[test]
    fn percentages_round_by_their_rule_in_minor_units() {
        use Rounding::*;
        // 5 × 1.1 = 5.5 and 15 × 1.1 = 16.5 yen: halves.
        let rules = [HalfUp, HalfEven, Down, Up];
        let got = |minor, bp| rules.map(|r| percent(minor, "JPY", bp, r));
        assert_eq!(got(5, 1_000), [6, 6, 5, 6]);
        assert_eq!(got(15, 1_000), [17, 16, 16, 17]);
        // 1,000 yen + 3.33 % = 1,033.3.
        assert_eq!(got(1_000, 333), [1_033, 1_033, 1_033, 1_034]);
        // 1.005 BHD − 10 % = 0.9045 BHD: 904.5 fils.
        let bhd = rules.map(|r| percent(1_005, "BHD", -1_000, r));
        assert_eq!(bhd, [905, 904, 904, 905]);
        // Exact results are not rounded; −100 % is zero.
        assert_eq!(got(1_000, 500), [1_050; 4]);
        assert_eq!(got(1_000, -10_000), [0; 4]);
        // Negative numerators round symmetrically (the divide rule, checked directly).
        assert_eq!(HalfUp.divide(-55, 10), -6);
        assert_eq!(HalfEven.divide(-55, 10), -6);
        assert_eq!(HalfEven.divide(-65, 10), -6);
        assert_eq!(Down.divide(-59, 10), -5);
        assert_eq!(Up.divide(-51, 10), -6);
        assert_eq!(HalfUp.divide(-54, 10), -5);
    }

    #[test]
    fn amounts_refuse_mismatch_overflow_and_negatives() {
        let rub = Money::new(100, Currency::new("RUB").unwrap());
        let eur = Money::new(100, Currency::new("EUR").unwrap());
        assert_eq!(
            AmountChange::Set(eur).applied_to(rub, TemplateId(3)),
            Err(TermsError::CurrencyMismatch {
                template: TemplateId(3),
                expected: rub.currency,
                got: eur.currency
            })
        );
        let huge = Money::new(i64::MAX / 2, rub.currency);
        let error = AmountChange::percent(100_000, Rounding::Up)
            .applied_to(huge, TemplateId(3))
            .unwrap_err();
        assert!(matches!(error, TermsError::Overflow { .. }), "{error}");
        assert!(error.to_string().contains("100000 basis points"), "{error}");
        assert_eq!(
            TermsChange::builder(ChangeId::new("x").unwrap(), day(2026, 1, 1))
                .amount(AmountChange::percent(-10_001, Rounding::Up))
                .build(),
            Err(TermsError::PercentOutOfRange {
                basis_points: -10_001,
                min: -10_000,
                max: 100_000
            })
        );
        assert_eq!(
            change("x", day(2026, 1, 1))
                .amount(AmountChange::Set(Money::new(-1, rub.currency)))
                .build()
                .unwrap_err()
                .to_string(),
            "the new amount of template T0 would be negative: -1 minor units"
        );
        assert_eq!(
            change("x", day(2026, 1, 1)).build(),
            Err(TermsError::NothingToChange)
        );
    }

    #[test]
    fn change_ids_are_bounded_and_named() {
        assert!(ChangeId::new("x".repeat(128)).is_ok());
        assert_eq!(
            ChangeId::new("a\nb").unwrap_err().to_string(),
            "invalid change id \"a\\nb\": expected 1 to 128 characters, none of them control characters"
        );
        assert!(ChangeId::new("x".repeat(129)).is_err());
        assert!(serde_json::from_str::<ChangeId>("\"\"").is_err());
    }

    #[test]
    fn the_json_form_is_validated_and_round_trips() {
        let json = r#"{"id": "p", "effective": "2026-05-01",
            "filter": {"pipeline": 2, "states": ["active"]},
            "amount": {"percent": {"basis_points": 500, "rounding": "half_even"}},
            "target": {"pipeline": 2, "stage": "WON"}, "assignee": 17}"#;
        let change: TermsChange = serde_json::from_str(json).unwrap();
        assert_eq!(change.filter().pipeline_is(), Some(2));
        assert_eq!(change.assignee(), Some(17));
        let again: TermsChange =
            serde_json::from_str(&serde_json::to_string(&change).unwrap()).unwrap();
        assert_eq!(again, change);
        for bad in [
            r#"{"id": "p", "effective": "2026-05-01"}"#,
            r#"{"id": "p", "effective": "2026-05-01", "assignee": 1, "colour": 1}"#,
            r#"{"id": "p", "effective": "2026-05-01", "amount": {"percent": {"basis_points": -20000, "rounding": "up"}}}"#,
        ] {
            assert!(serde_json::from_str::<TermsChange>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn terms_hold_from_their_date_and_later_revisions_take_the_edit() {
        let base = template(10_000, "EUR");
        let june = change("june", day(2026, 6, 1))
            .amount(AmountChange::Set(Money::new(
                12_000,
                Currency::new("EUR").unwrap(),
            )))
            .build()
            .unwrap();
        let march = change("march", day(2026, 3, 15))
            .amount(AmountChange::percent(1_000, Rounding::HalfUp))
            .assignee(7)
            .build()
            .unwrap();
        let t = applied(&applied(&base, &june), &march);
        let amount = |d| t.terms_on(d).amount().minor;
        assert_eq!(amount(day(2026, 3, 14)), 10_000);
        assert_eq!(amount(day(2026, 3, 15)), 11_000);
        assert_eq!(amount(day(2026, 6, 1)), 13_200);
        assert_eq!(t.terms_on(day(2026, 3, 14)).deal().assignee(), None);
        assert_eq!(t.terms_on(day(2026, 7, 1)).deal().assignee(), Some(7));
        assert_eq!(t.terms_revisions().len(), 2);
        assert_eq!(t.terms_revisions()[0].number(), 2);
        assert_eq!(t.terms_revisions()[1].number(), 1);
        // Idempotent: the same id again changes nothing.
        assert_eq!(
            t.apply_terms(&march),
            Ok(TermsStep::AlreadyApplied { revision: 2 })
        );
        // Schedule, revision, counters and next run are untouched.
        assert_eq!(
            (t.schedule.clone(), t.revision, t.counters, t.next_run),
            (
                base.schedule.clone(),
                base.revision,
                base.counters,
                base.next_run
            )
        );
    }

    #[test]
    fn passed_revisions_are_folded_and_the_count_is_bounded() {
        let mut t = template(100, "EUR");
        for month in 1..=12 {
            let c = change(&format!("m{month}"), day(2026, month, 1))
                .assignee(u64::from(month))
                .build()
                .unwrap();
            t = applied(&t, &c);
        }
        assert_eq!(t.terms_revisions().len(), 12);
        // The planner passed June 10: revisions before June's are folded away on the next change.
        let cursor: DateTime<Utc> = Utc.with_ymd_and_hms(2026, 6, 10, 9, 0, 0).unwrap();
        t.cursor = Some(cursor);
        let c = change("dec-15", day(2026, 12, 15))
            .assignee(99)
            .build()
            .unwrap();
        let t = applied(&t, &c);
        assert_eq!(t.terms_revisions()[0].effective(), day(2026, 6, 1));
        assert_eq!(t.terms_revisions().len(), 8);
        assert_eq!(t.terms_on(day(2026, 6, 11)).deal().assignee(), Some(6));
        let mut t = t;
        for n in 0..8 {
            let c = change(&format!("y{n}"), day(2027, 1, 1 + n))
                .assignee(1)
                .build()
                .unwrap();
            t = applied(&t, &c);
        }
        let c = change("over", day(2027, 2, 1)).assignee(1).build().unwrap();
        assert_eq!(
            t.apply_terms(&c),
            Err(TermsError::TooManyRevisions {
                template: TemplateId(1),
                max: 16
            })
        );
    }

    #[test]
    fn filters_and_finished_templates() {
        let t = template(100, "EUR");
        let with = |filter: TermsFilter| {
            change("f", day(2026, 3, 1))
                .assignee(1)
                .filter(filter)
                .build()
                .unwrap()
        };
        let step = |filter| t.apply_terms(&with(filter)).unwrap();
        assert_eq!(
            step(TermsFilter::default().pipeline(1)),
            TermsStep::NotMatched
        );
        assert_eq!(
            step(TermsFilter::default().stage("WON")),
            TermsStep::NotMatched
        );
        assert_eq!(
            step(TermsFilter::default().ids([TemplateId(2)])),
            TermsStep::NotMatched
        );
        assert_eq!(
            step(TermsFilter::default().states([StateFilter::Paused])),
            TermsStep::NotMatched
        );
        assert!(matches!(
            step(
                TermsFilter::default()
                    .pipeline(0)
                    .stage("NEW")
                    .ids([TemplateId(1)])
            ),
            TermsStep::Apply { revision: 1, .. }
        ));
        let mut finished = t.clone();
        finished.state = TemplateState::Finished;
        assert_eq!(
            finished.apply_terms(&with(TermsFilter::default())),
            Ok(TermsStep::Finished)
        );
        // Products in another currency are refused for this template.
        let eur_row = ProductRow {
            name: "x".into(),
            price: Money::new(1, Currency::new("USD").unwrap()),
            quantity_milli: 1_000,
            discount: 0,
            tax_rate_bp: 0,
        };
        let usd = change("usd", day(2026, 3, 1))
            .products(vec![eur_row])
            .build()
            .unwrap();
        assert!(matches!(
            t.apply_terms(&usd),
            Err(TermsError::CurrencyMismatch { .. })
        ));
    }
}
