//! Currencies: ISO 4217 codes and their minor-unit exponents (issue #10, kind 8).
//!
//! Expected exponents are ISO 4217 list one's "minor unit" column (the maintenance agency's
//! published table), not the crate's dependency: JPY 0, BHD 3, CLF 4, ... The codes of the
//! table below agree with glibc's locale data (`int_frac_digits` of ja_JP, ar_BH, ar_KW,
//! ar_JO, ar_TN, ar_OM, ar_IQ, ar_LY, ko_KR, vi_VN, is_IS, de_DE, en_US, ru_RU, en_GB).

use recurring_deals::{Currency, Deal, Money, ProductRow, ValidationError};

/// (code, minor-unit exponent) from ISO 4217 list one.
const ISO_EXPONENTS: [(&str, u8); 19] = [
    ("JPY", 0),
    ("KRW", 0),
    ("VND", 0),
    ("ISK", 0),
    ("CLP", 0),
    ("XOF", 0),
    ("BHD", 3),
    ("KWD", 3),
    ("JOD", 3),
    ("TND", 3),
    ("OMR", 3),
    ("IQD", 3),
    ("LYD", 3),
    ("CLF", 4),
    ("UYW", 4),
    ("EUR", 2),
    ("USD", 2),
    ("RUB", 2),
    ("GBP", 2),
];

#[test]
fn exponents_follow_iso_4217() -> Result<(), ValidationError> {
    for (code, exponent) in ISO_EXPONENTS {
        let currency = Currency::new(code)?;
        assert!(currency.is_iso4217(), "{code}");
        assert_eq!(currency.exponent(), exponent, "{code}");
        assert_eq!(Money::new(0, currency).exponent(), exponent, "{code}");
    }
    // ISO 4217 gives gold and "no currency" no minor unit ("N.A."): shown as whole units.
    assert_eq!(Currency::new("XAU")?.exponent(), 0);
    assert_eq!(Currency::new("XXX")?.exponent(), 0);
    Ok(())
}

#[test]
fn money_is_shown_with_the_currency_exponent() -> Result<(), ValidationError> {
    let shown = |minor: i64, code: &str| -> Result<String, ValidationError> {
        Ok(Money::new(minor, Currency::new(code)?).to_string())
    };
    assert_eq!(shown(150_000, "RUB")?, "1500.00 RUB");
    assert_eq!(shown(1_500, "JPY")?, "1500 JPY");
    assert_eq!(shown(1_500, "BHD")?, "1.500 BHD");
    assert_eq!(shown(1, "BHD")?, "0.001 BHD");
    assert_eq!(shown(12_345, "CLF")?, "1.2345 CLF");
    assert_eq!(shown(-5, "EUR")?, "-0.05 EUR");
    assert_eq!(shown(-7, "JPY")?, "-7 JPY");
    assert_eq!(shown(0, "KWD")?, "0.000 KWD");
    assert_eq!(shown(i64::MIN, "USD")?, "-92233720368547758.08 USD");
    assert_eq!(shown(i64::MAX, "JPY")?, "9223372036854775807 JPY");
    Ok(())
}

#[test]
fn new_input_refuses_codes_outside_iso_4217() {
    for code in ["XYZ", "ABC", "rub", "RU", "RUBL", "", "R1B", "ЕUR"] {
        let err = Currency::new(code).expect_err(code);
        assert_eq!(err, ValidationError::InvalidCurrency(code.to_owned()));
    }
    assert_eq!(
        Currency::new("XYZ").unwrap_err().to_string(),
        "invalid currency code \"XYZ\": expected an ISO 4217 code such as EUR, USD, RUB"
    );
}

#[test]
fn stored_codes_outside_iso_4217_stay_readable() -> Result<(), Box<dyn std::error::Error>> {
    // A row stored before codes were checked.
    let money: Money = serde_json::from_str(r#"{"minor": 150000, "currency": "XYZ"}"#)?;
    assert!(!money.currency.is_iso4217());
    assert_eq!(money.currency.as_str(), "XYZ");
    // Shown as before codes were checked: two decimals.
    assert_eq!(money.to_string(), "1500.00 XYZ");
    assert_eq!(
        serde_json::to_string(&money)?,
        r#"{"minor":150000,"currency":"XYZ"}"#
    );
    assert_eq!(Currency::from_stored("XYZ")?, money.currency);
    // Not three uppercase letters: not a currency even in stored data.
    assert!(serde_json::from_str::<Currency>(r#""xyz""#).is_err());
    assert!(serde_json::from_str::<Currency>(r#""EURO""#).is_err());

    // New deals in such a currency are refused, with the code named.
    let err = Deal::new("Legacy", money).unwrap_err();
    assert_eq!(err, ValidationError::InvalidCurrency("XYZ".into()));
    let rub = Currency::new("RUB")?;
    let row = ProductRow {
        name: "Legacy row".into(),
        price: Money::new(100, money.currency),
        quantity_milli: 1000,
        discount: 0,
        tax_rate_bp: 0,
    };
    let err = Deal::new("Deal", Money::new(100, rub))?
        .with_products(vec![row])
        .unwrap_err();
    assert_eq!(err, ValidationError::InvalidCurrency("XYZ".into()));
    Ok(())
}

#[test]
fn stored_deals_in_such_codes_deserialize() -> Result<(), Box<dyn std::error::Error>> {
    let deal = Deal::new("Support", Money::new(1_500, Currency::new("JPY")?))?;
    let json = serde_json::to_string(&deal)?.replace("JPY", "XYZ");
    let stored: Deal = serde_json::from_str(&json)?;
    assert_eq!(stored.amount().currency.as_str(), "XYZ");
    assert!(stored.validate().is_err());
    Ok(())
}
