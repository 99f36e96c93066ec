//! Every enum field of the JSON input forms (a template draft with its schedule, deal and
//! invoice options; a terms change) refuses a value of the wrong type by naming what it
//! accepts, not with serde_json's "expected value at line … column …".

use chrono::NaiveDate;
use recurring_deals::*;
use serde_json::{Value, json};

/// A draft whose JSON has every enum-bearing object present.
fn draft_json() -> Value {
    let rub = Currency::new("RUB").unwrap();
    let start = NaiveDate::from_ymd_opt(2026, 1, 31)
        .unwrap()
        .and_hms_opt(9, 0, 0)
        .unwrap();
    let schedule = Schedule::builder(
        Recurrence::monthly(Interval::ONE, MonthDay::LastDay),
        start,
        Zone::get("Europe/Moscow").unwrap(),
    )
    .build()
    .unwrap();
    let deal = Deal::new("Rent", Money::new(5_000_000, rub))
        .unwrap()
        .with_custom("tier", CustomValue::Text("gold".into()));
    let invoice = InvoiceOptions {
        dunning: vec![DunningStep::new(7, 1)],
        ..InvoiceOptions::default()
    };
    let mut draft = TemplateDraft::new(deal, schedule);
    draft.invoice = Some(invoice);
    let value = serde_json::to_value(&draft).unwrap();
    // The draft reads back as it is: the failures below come from the one value replaced.
    serde_json::from_value::<TemplateDraft>(value.clone()).unwrap();
    value
}

fn terms_json() -> Value {
    json!({
        "id": "price-2027",
        "effective": "2027-01-01",
        "filter": {"states": ["active"]},
        "amount": {"percent": {"basis_points": 500, "rounding": "half_up"}}
    })
}

/// `value` with the member `key` of the object at `parent` set to `bad`.
fn with(value: &Value, parent: &str, key: &str, bad: &Value) -> String {
    let mut value = value.clone();
    value
        .pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("no object at {parent}"))
        .insert(key.to_owned(), bad.clone());
    value.to_string()
}

/// Checks that `error` refuses `bad` naming the variants in `accepted`.
fn check(error: &str, place: &str, bad: &Value, accepted: &[&str]) {
    assert!(
        !error.contains("expected value"),
        "{place} = {bad}: serde_json's bare message: {error}"
    );
    assert!(
        error.contains("invalid type") && error.contains("expected one of"),
        "{place} = {bad}: {error}"
    );
    for variant in accepted {
        assert!(
            error.contains(variant),
            "{place} = {bad}: {variant} not named: {error}"
        );
    }
}

#[test]
fn draft_enum_fields_name_what_they_accept() {
    let draft = draft_json();
    // (parent object, member, whether null means "absent", variants the message must name)
    let fields: [(&str, &str, bool, &[&str]); 11] = [
        (
            "",
            "resume",
            false,
            &["\"skip_paused_span\"", "\"catch_up_paused_span\""],
        ),
        ("/catch_up", "mode", false, &["\"all\"", "\"latest\""]),
        ("", "begin_offset", true, &["{\"days\": …}"]),
        ("", "close_offset", true, &["{\"days\": …}"]),
        (
            "/invoice",
            "payment_due",
            false,
            &["{\"days\": …}", "\"end_of_month\""],
        ),
        (
            "/invoice/dunning/0",
            "action",
            true,
            &["\"hand_over\"", "\"stop_template\""],
        ),
        (
            "/deal/custom",
            "tier",
            false,
            &["{\"text\": …}", "{\"flag\": …}"],
        ),
        ("/schedule", "overflow", true, &["\"clamp\"", "\"skip\""]),
        (
            "/schedule",
            "adjustment",
            true,
            &["\"none\"", "\"following\""],
        ),
        ("/schedule", "end", true, &["\"never\"", "{\"count\": …}"]),
        (
            "/schedule/rule",
            "on",
            false,
            &["\"last_day\"", "{\"day\": …}"],
        ),
    ];
    for (parent, key, null_is_absent, accepted) in fields {
        let mut bad_values = vec![json!(5), json!(true), json!([])];
        if !null_is_absent {
            bad_values.push(Value::Null);
        }
        for bad in &bad_values {
            let text = with(&draft, parent, key, bad);
            let error = serde_json::from_str::<TemplateDraft>(&text)
                .expect_err(&format!("{parent}/{key} = {bad} was accepted"))
                .to_string();
            check(&error, &format!("{parent}/{key}"), bad, accepted);
        }
    }
}

#[test]
fn terms_change_enum_fields_name_what_they_accept() {
    let terms = terms_json();
    serde_json::from_value::<TermsChange>(terms.clone()).unwrap();
    let fields: [(&str, &str, &[&str]); 2] = [
        (
            "/amount/percent",
            "rounding",
            &["\"half_up\"", "\"half_even\""],
        ),
        ("", "amount", &["{\"set\": …}", "{\"percent\": …}"]),
    ];
    for (parent, key, accepted) in fields {
        for bad in [json!(5), json!([])] {
            let text = with(&terms, parent, key, &bad);
            let error = serde_json::from_str::<TermsChange>(&text)
                .expect_err(&format!("{parent}/{key} = {bad} was accepted"))
                .to_string();
            check(&error, &format!("{parent}/{key}"), &bad, accepted);
        }
    }
    // A list element.
    let mut bad_state = terms.clone();
    bad_state["filter"]["states"] = json!([null]);
    let error = serde_json::from_value::<TermsChange>(bad_state)
        .unwrap_err()
        .to_string();
    check(
        &error,
        "/filter/states/0",
        &Value::Null,
        &["\"active\"", "\"paused\""],
    );
}
