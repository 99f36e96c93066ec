//! Deals: what a template copies into every deal it creates.

use std::collections::BTreeMap;
use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::ids::DealKey;
use crate::validation::ValidationError;

/// An ISO 4217 currency code, with its minor-unit exponent.
///
/// New codes are checked against ISO 4217 (the `iso_currency` crate's list: the current codes
/// and those recently superseded, such as `HRK`, that open deals may still use).
///
/// Reading stored data is lenient: a code of three uppercase ASCII letters that is not in
/// ISO 4217 (`XYZ`, stored before codes were checked) still deserializes, so such rows stay
/// readable; [`Currency::is_iso4217`] tells them apart. Only new input ([`Currency::new`],
/// [`Deal::new`], [`Deal::with_products`]) refuses them.
///
/// The JSON form is the code as a string: `"RUB"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    /// Validates an ISO 4217 currency code.
    ///
    /// # Errors
    /// [`ValidationError::InvalidCurrency`] unless the code is an ISO 4217 code (three uppercase
    /// letters naming a currency).
    ///
    /// ```
    /// use recurring_deals::Currency;
    /// assert_eq!(Currency::new("RUB")?.as_str(), "RUB");
    /// assert!(Currency::new("rub").is_err());
    /// assert!(Currency::new("XYZ").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(code: &str) -> Result<Currency, ValidationError> {
        match Currency::from_stored(code) {
            Ok(currency) if currency.is_iso4217() => Ok(currency),
            _ => Err(ValidationError::InvalidCurrency(code.to_owned())),
        }
    }

    /// Reads a code from stored data: any three uppercase ASCII letters, ISO 4217 or not (what
    /// deserialization accepts). Use [`Currency::new`] for new input.
    ///
    /// # Errors
    /// [`ValidationError::InvalidCurrency`] unless the code is three uppercase ASCII letters.
    ///
    /// ```
    /// use recurring_deals::Currency;
    /// let legacy = Currency::from_stored("XYZ")?;
    /// assert!(!legacy.is_iso4217());
    /// assert!(Currency::from_stored("xyz").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_stored(code: &str) -> Result<Currency, ValidationError> {
        match code.as_bytes() {
            &[a, b, c] if [a, b, c].iter().all(u8::is_ascii_uppercase) => Ok(Currency([a, b, c])),
            _ => Err(ValidationError::InvalidCurrency(code.to_owned())),
        }
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        // Only uppercase ASCII letters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }

    /// Whether the code is an ISO 4217 code (false only for codes read from stored data).
    pub fn is_iso4217(&self) -> bool {
        self.iso().is_some()
    }

    /// The number of decimal places of the minor unit: 2 for `EUR` (cents), 0 for `JPY`, 3
    /// for `BHD` (fils), 4 for `CLF`. A [`Money`] amount is in units of 10^-exponent.
    ///
    /// ISO 4217 codes without a minor unit (`XAU`, `XXX`, ...) have 0; codes that are not
    /// ISO 4217 (read from stored data) keep the 2 they were shown with before codes were
    /// checked.
    ///
    /// ```
    /// use recurring_deals::Currency;
    /// assert_eq!(Currency::new("JPY")?.exponent(), 0);
    /// assert_eq!(Currency::new("BHD")?.exponent(), 3);
    /// assert_eq!(Currency::new("RUB")?.exponent(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn exponent(&self) -> u8 {
        match self.iso() {
            Some(iso) => iso
                .exponent()
                .and_then(|e| u8::try_from(e).ok())
                .unwrap_or(0),
            None => 2,
        }
    }

    fn iso(&self) -> Option<iso_currency::Currency> {
        iso_currency::Currency::from_code(self.as_str())
    }
}

impl TryFrom<String> for Currency {
    type Error = ValidationError;
    /// Lenient, as deserialization is: see [`Currency::from_stored`].
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Currency::from_stored(&value)
    }
}

impl From<Currency> for String {
    fn from(value: Currency) -> String {
        value.as_str().to_owned()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An exact amount of money in minor units (kopecks, cents; yen for `JPY`, fils for `BHD`:
/// units of 10^-[`Currency::exponent`]).
///
/// It displays plainly and locale-neutrally: the amount with as many decimals as the
/// currency's exponent, a `.` separator, no grouping, then the code.
///
/// ```
/// use recurring_deals::{Currency, Money};
/// assert_eq!(Money::new(150_000, Currency::new("RUB")?).to_string(), "1500.00 RUB");
/// assert_eq!(Money::new(1_500, Currency::new("JPY")?).to_string(), "1500 JPY");
/// assert_eq!(Money::new(1_500, Currency::new("BHD")?).to_string(), "1.500 BHD");
/// assert_eq!(Money::new(-5, Currency::new("EUR")?).to_string(), "-0.05 EUR");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// Amount in minor units.
    pub minor: i64,
    /// Currency.
    pub currency: Currency,
}

impl Money {
    /// An amount in minor units.
    pub fn new(minor: i64, currency: Currency) -> Money {
        Money { minor, currency }
    }

    /// The number of decimals of the amount: the currency's [`Currency::exponent`].
    pub fn exponent(&self) -> u8 {
        self.currency.exponent()
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        let exponent = u32::from(self.exponent());
        // ISO 4217 exponents are at most 4: 10^4 fits, and so would any u8 that does not
        // overflow (checked, never panics).
        match 10u64.checked_pow(exponent) {
            Some(1) => write!(f, "{sign}{abs} {}", self.currency),
            Some(scale) => write!(
                f,
                "{sign}{}.{:0width$} {}",
                abs / scale,
                abs % scale,
                self.currency,
                width = exponent as usize
            ),
            None => write!(f, "{sign}{abs}e-{exponent} {}", self.currency),
        }
    }
}

/// Refuses a code read leniently from stored data where new input is expected.
fn check_iso(currency: Currency) -> Result<(), ValidationError> {
    if currency.is_iso4217() {
        Ok(())
    } else {
        Err(ValidationError::InvalidCurrency(
            currency.as_str().to_owned(),
        ))
    }
}

/// A product row of a deal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProductRow {
    /// Product name.
    pub name: String,
    /// Unit price.
    pub price: Money,
    /// Quantity in thousandths (1500 = 1.5 units).
    pub quantity_milli: i64,
    /// Discount per unit, in the price's currency.
    pub discount: i64,
    /// Tax rate in basis points (2000 = 20 %).
    pub tax_rate_bp: u32,
}

/// A typed custom field value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CustomValue {
    /// Text.
    Text(String),
    /// Integer.
    Integer(i64),
    /// Yes/no.
    Flag(bool),
    /// A date.
    Date(NaiveDate),
    /// Money.
    Money(Money),
    /// Several texts (a multiple list field).
    List(Vec<String>),
}

/// A deal: the template's copy, or one created from it.
///
/// Construct with [`Deal::new`] and the `with_*` methods, which validate.
///
/// ```
/// use recurring_deals::{Currency, Deal, Money};
/// let rub = Currency::new("RUB")?;
/// let deal = Deal::new("Monthly support", Money::new(1_500_000, rub))?
///     .with_pipeline(2, "NEW")
///     .with_assignee(17);
/// assert_eq!(deal.amount().minor, 1_500_000);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Deal {
    title: String,
    amount: Money,
    pipeline: u32,
    stage: String,
    assignee: Option<u64>,
    company: Option<u64>,
    contacts: Vec<u64>,
    observers: Vec<u64>,
    products: Vec<ProductRow>,
    begin_date: Option<NaiveDate>,
    close_date: Option<NaiveDate>,
    comments: String,
    #[serde(deserialize_with = "crate::json_enum::map")]
    custom: BTreeMap<String, CustomValue>,
    /// Set on created deals: where they came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    origin: Option<DealKey>,
}

impl Deal {
    /// A deal with a title and an amount, in pipeline 0 at stage `NEW`.
    ///
    /// # Errors
    /// [`ValidationError::InvalidDeal`] for an empty title or a negative amount;
    /// [`ValidationError::InvalidCurrency`] for a currency that is not ISO 4217 (one read leniently
    /// from stored data, see [`Currency`]).
    pub fn new(title: impl Into<String>, amount: Money) -> Result<Deal, ValidationError> {
        let title = title.into();
        check_iso(amount.currency)?;
        if title.trim().is_empty() {
            return Err(ValidationError::InvalidDeal(
                "title must not be empty".into(),
            ));
        }
        if amount.minor < 0 {
            return Err(ValidationError::InvalidDeal(format!(
                "amount must not be negative, got {}",
                amount.minor
            )));
        }
        Ok(Deal {
            title,
            amount,
            pipeline: 0,
            stage: "NEW".into(),
            assignee: None,
            company: None,
            contacts: Vec::new(),
            observers: Vec::new(),
            products: Vec::new(),
            begin_date: None,
            close_date: None,
            comments: String::new(),
            custom: BTreeMap::new(),
            origin: None,
        })
    }

    /// Sets the pipeline (category) and stage.
    #[must_use]
    pub fn with_pipeline(mut self, pipeline: u32, stage: impl Into<String>) -> Deal {
        self.pipeline = pipeline;
        self.stage = stage.into();
        self
    }

    /// Sets the responsible user.
    #[must_use]
    pub fn with_assignee(mut self, user: u64) -> Deal {
        self.assignee = Some(user);
        self
    }

    /// Sets the company.
    #[must_use]
    pub fn with_company(mut self, company: u64) -> Deal {
        self.company = Some(company);
        self
    }

    /// Sets the contacts.
    #[must_use]
    pub fn with_contacts(mut self, contacts: impl IntoIterator<Item = u64>) -> Deal {
        self.contacts = contacts.into_iter().collect();
        self
    }

    /// Sets the observers.
    #[must_use]
    pub fn with_observers(mut self, observers: impl IntoIterator<Item = u64>) -> Deal {
        self.observers = observers.into_iter().collect();
        self
    }

    /// Sets the product rows.
    ///
    /// # Errors
    /// [`ValidationError::CurrencyMismatch`] when a row's price is not in the deal's currency;
    /// [`ValidationError::InvalidDeal`] for a negative quantity or price;
    /// [`ValidationError::InvalidCurrency`] for a currency that is not ISO 4217.
    pub fn with_products(mut self, products: Vec<ProductRow>) -> Result<Deal, ValidationError> {
        for row in &products {
            check_iso(row.price.currency)?;
            if row.price.currency != self.amount.currency {
                return Err(ValidationError::CurrencyMismatch {
                    expected: self.amount.currency,
                    got: row.price.currency,
                });
            }
            if row.quantity_milli < 0 || row.price.minor < 0 || row.discount < 0 {
                return Err(ValidationError::InvalidDeal(format!(
                    "product row {:?} has a negative price, discount or quantity",
                    row.name
                )));
            }
        }
        self.products = products;
        Ok(self)
    }

    /// Sets the begin and close dates of the template deal (used when no offset is set).
    #[must_use]
    pub fn with_dates(mut self, begin: Option<NaiveDate>, close: Option<NaiveDate>) -> Deal {
        self.begin_date = begin;
        self.close_date = close;
        self
    }

    /// Sets the comments.
    #[must_use]
    pub fn with_comments(mut self, comments: impl Into<String>) -> Deal {
        self.comments = comments.into();
        self
    }

    /// Sets a custom field.
    #[must_use]
    pub fn with_custom(mut self, name: impl Into<String>, value: CustomValue) -> Deal {
        self.custom.insert(name.into(), value);
        self
    }

    /// Checks what the constructors check, for deals read from JSON.
    ///
    /// # Errors
    /// As [`Deal::new`] and [`Deal::with_products`];
    /// [`ValidationError::DateOutOfRange`] for a begin or close date outside 1900..=2199.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let checked = Deal::new(self.title.clone(), self.amount)?;
        checked.with_products(self.products.clone())?;
        if let Some(date) = self.begin_date {
            crate::validation::supported("deal begin date", date)?;
        }
        if let Some(date) = self.close_date {
            crate::validation::supported("deal close date", date)?;
        }
        Ok(())
    }

    /// Title.
    pub fn title(&self) -> &str {
        &self.title
    }
    /// Amount.
    pub fn amount(&self) -> Money {
        self.amount
    }
    /// Pipeline (category).
    pub fn pipeline(&self) -> u32 {
        self.pipeline
    }
    /// Stage.
    pub fn stage(&self) -> &str {
        &self.stage
    }
    /// Responsible user.
    pub fn assignee(&self) -> Option<u64> {
        self.assignee
    }
    /// Company.
    pub fn company(&self) -> Option<u64> {
        self.company
    }
    /// Contacts.
    pub fn contacts(&self) -> &[u64] {
        &self.contacts
    }
    /// Observers.
    pub fn observers(&self) -> &[u64] {
        &self.observers
    }
    /// Product rows.
    pub fn products(&self) -> &[ProductRow] {
        &self.products
    }
    /// Begin date.
    pub fn begin_date(&self) -> Option<NaiveDate> {
        self.begin_date
    }
    /// Close date.
    pub fn close_date(&self) -> Option<NaiveDate> {
        self.close_date
    }
    /// Comments.
    pub fn comments(&self) -> &str {
        &self.comments
    }
    /// Custom fields.
    pub fn custom(&self) -> &BTreeMap<String, CustomValue> {
        &self.custom
    }
    /// For a created deal, the template and slot it came from.
    pub fn origin(&self) -> Option<DealKey> {
        self.origin
    }

    /// The deal with a terms revision's parts overlaid (the parts it sets; `None` keeps the
    /// deal's own).
    pub(crate) fn with_terms(
        &self,
        amount: Option<Money>,
        products: Option<&[ProductRow]>,
        assignee: Option<u64>,
    ) -> Deal {
        let mut deal = self.clone();
        if let Some(amount) = amount {
            deal.amount = amount;
        }
        if let Some(products) = products {
            deal.products = products.to_vec();
        }
        if let Some(user) = assignee {
            deal.assignee = Some(user);
        }
        deal
    }

    /// The copy a template creates: same fields, its own amount, pipeline, stage and dates,
    /// and a link to the template.
    pub(crate) fn materialize(
        &self,
        key: DealKey,
        amount: Money,
        target: Option<(u32, &str)>,
        begin: Option<NaiveDate>,
        close: Option<NaiveDate>,
    ) -> Deal {
        let mut deal = self.clone();
        deal.amount = amount;
        if let Some((pipeline, stage)) = target {
            deal.pipeline = pipeline;
            deal.stage = stage.to_owned();
        }
        deal.begin_date = begin;
        deal.close_date = close;
        deal.origin = Some(key);
        deal
    }
}
