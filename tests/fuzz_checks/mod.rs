//! What every fuzz input must satisfy, written once: the fuzz targets (`fuzz/fuzz_targets/`)
//! include this file by path, and `tests/fuzz_regressions.rs` replays the seed corpus and
//! every input that ever failed through it.
//!
//! An input is refused with a typed error whose message says something, or accepted and then
//! served right: its schedule expands (instants increasing, `seq`s unique, seeking equal to
//! walking), describes itself in both locales, writes RFC 5545 text and JSON that read back
//! into the same schedule with the same occurrences and write back byte for byte, and it goes
//! through the engine on every store (in memory, and SQLite in memory when the `sqlite`
//! feature is on): the template is created or refused alike everywhere, reads back equal,
//! lists, previews, and its first due occurrence ticks without a failure, creating a deal (and
//! an invoice) that reads back. Any panic, here or in the crate, is a failure.

use recurring_deals::Zone;
use std::fmt::Debug;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, Utc};
use recurring_deals::{
    Currency, Deal, DealKey, End, Engine, EngineError, InMemoryRepository, InvoiceOptions,
    InvoiceStatus, Locale, ManualClock, Money, Recurrence, Repository, Schedule, TemplateDraft,
    TemplateQuery, TenantId,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The fuzz targets, each the name of a folder under `fuzz/corpus/` and `fuzz/regressions/`.
pub const TARGETS: [&str; 5] = [
    "rrule_text",
    "schedule_json",
    "draft_json",
    "deal_json",
    "invoice_options_json",
];

/// Occurrences expanded and compared per schedule.
const EXPANDED: usize = 64;

/// Runs `target`'s checks on one input; panics on a failed check.
pub fn check(target: &str, data: &[u8]) {
    match target {
        "rrule_text" => rrule_text(data),
        "schedule_json" => schedule_json(data),
        "draft_json" => draft_json(data),
        "deal_json" => deal_json(data),
        "invoice_options_json" => invoice_options_json(data),
        _ => panic!("unknown fuzz target {target:?}; known: {TARGETS:?}"),
    }
}

/// RFC 5545 text (`DTSTART`, `RRULE`, `EXDATE`, `RDATE`, `X-RD-*` lines).
pub fn rrule_text(data: &[u8]) {
    // `from_rrule` takes text: bytes that are not UTF-8 never reach it.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Schedule::from_rrule(text) {
        Ok(schedule) => {
            check_schedule(&schedule, Origin::Text);
            check_stores(
                &TemplateDraft::new(sample_deal(), schedule),
                Expect::Accepted,
            );
        }
        Err(error) => refused(&error, text),
    }
}

/// The JSON form of a schedule.
pub fn schedule_json(data: &[u8]) {
    let Some(schedule) = parse_json::<Schedule>(data) else {
        return;
    };
    check_schedule(&schedule, Origin::Json);
    check_json_round_trip(&schedule);
    check_stores(
        &TemplateDraft::new(sample_deal(), schedule),
        Expect::Accepted,
    );
}

/// The JSON form of a template draft (an entry of `examples/templates.json`).
pub fn draft_json(data: &[u8]) {
    let Some(draft) = parse_json::<TemplateDraft>(data) else {
        return;
    };
    check_json_round_trip(&draft);
    check_schedule(&draft.schedule, Origin::Json);
    check_deal(&draft.deal);
    if let Some(invoice) = &draft.invoice {
        check_invoice_options(invoice);
    }
    for offset in [draft.begin_offset, draft.close_offset]
        .into_iter()
        .flatten()
    {
        for date in sample_dates() {
            offset.after(date);
        }
    }
    check_stores(&draft, Expect::Either);
}

/// The JSON form of a deal.
pub fn deal_json(data: &[u8]) {
    let Some(deal) = parse_json::<Deal>(data) else {
        return;
    };
    check_json_round_trip(&deal);
    check_deal(&deal);
    let expect = match deal.validate() {
        Ok(()) => Expect::WithinLimits,
        Err(error) => Expect::Refused(error.to_string()),
    };
    check_stores(&TemplateDraft::new(deal, sample_schedule()), expect);
}

/// The JSON form of a template's invoice options.
pub fn invoice_options_json(data: &[u8]) {
    let Some(options) = parse_json::<InvoiceOptions>(data) else {
        return;
    };
    check_json_round_trip(&options);
    check_invoice_options(&options);
    let expect = match options.validate() {
        Ok(()) => Expect::Accepted,
        Err(error) => Expect::Refused(error.to_string()),
    };
    let mut draft = TemplateDraft::new(sample_deal(), sample_schedule());
    draft.invoice = Some(options);
    check_stores(&draft, expect);
}

/// Where a schedule came from: a schedule read from RFC 5545 text reads back from its own
/// text into an equal value; one built otherwise only into one with the same occurrences
/// (the text has no place for every part of the structured form).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Text,
    Json,
}

/// What the engine must do with a draft.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    /// Create the template (a valid schedule on a valid deal).
    Accepted,
    /// Refuse it with this message (a value its own validation refuses).
    Refused(String),
    /// Create it unless the deal is over the engine's `DealLimits` (a valid deal).
    WithinLimits,
    /// Either, with a typed error (a draft: its own validation and the engine's limits).
    Either,
}

/// Reads JSON; a refusal must carry a message.
fn parse_json<T: DeserializeOwned>(data: &[u8]) -> Option<T> {
    match serde_json::from_slice::<T>(data) {
        Ok(value) => Some(value),
        Err(error) => {
            refused(&error, &String::from_utf8_lossy(data));
            None
        }
    }
}

/// A refusal: a typed error whose message says something.
fn refused(error: &dyn std::error::Error, input: &str) {
    let message = error.to_string();
    assert!(
        !message.trim().is_empty(),
        "refused with an empty message: {error:?}\ninput: {input:?}"
    );
}

/// The value's JSON reads back into an equal value that writes the same JSON.
fn check_json_round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(value: &T) {
    let json = serde_json::to_string(value)
        .unwrap_or_else(|e| panic!("an accepted value does not serialize: {e}\n{value:?}"));
    let back: T = serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("its JSON does not read back: {e}\njson: {json}"));
    assert_eq!(
        &back, value,
        "JSON round trip changed the value\njson: {json}"
    );
    let again = serde_json::to_string(&back).expect("serialized once already");
    assert_eq!(again, json, "JSON round trip writes other JSON");
}

/// Expansion, seeking, descriptions and the RFC 5545 and JSON round trips of an accepted
/// schedule.
fn check_schedule(schedule: &Schedule, origin: Origin) {
    let text = schedule.to_rrule();
    let first = expand(schedule);
    for pair in first.windows(2) {
        assert!(
            pair[0].2 < pair[1].2,
            "instants not increasing: {pair:?}\n{text}"
        );
    }
    let mut seqs: Vec<u64> = first.iter().map(|o| o.0).collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), first.len(), "a seq repeats: {first:?}\n{text}");
    check_seek(schedule, &first, &text);
    for locale in [Locale::En, Locale::Ru] {
        let words = schedule.describe(locale);
        assert!(
            !words.trim().is_empty(),
            "{locale:?} description empty\n{text}"
        );
    }
    for now in sample_instants() {
        schedule.today(now);
    }

    let back = Schedule::from_rrule(&text)
        .unwrap_or_else(|e| panic!("to_rrule() text does not read back: {e}\n{text}"));
    assert_eq!(
        expand(&back),
        first,
        "text round trip expands otherwise\n{text}"
    );
    assert_eq!(back.to_rrule(), text, "text round trip writes other text");
    if !matches!(schedule.recurrence(), Some(Recurrence::Once { .. })) {
        assert_eq!(
            back.end(),
            schedule.end(),
            "text round trip changed the end\n{text}"
        );
    }
    if origin == Origin::Text {
        assert_eq!(
            &back, schedule,
            "text round trip changed the schedule\n{text}"
        );
    }

    let json = serde_json::to_string(schedule)
        .unwrap_or_else(|e| panic!("an accepted schedule does not serialize: {e}\n{text}"));
    let back: Schedule = serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("its JSON does not read back: {e}\njson: {json}\n{text}"));
    assert_eq!(
        &back, schedule,
        "JSON round trip changed the schedule\njson: {json}"
    );
    assert_eq!(
        expand(&back),
        first,
        "JSON round trip expands otherwise\njson: {json}"
    );
    assert_eq!(
        serde_json::to_string(&back).expect("serialized once already"),
        json,
        "JSON round trip writes other JSON"
    );
}

type Item = (u64, NaiveDate, DateTime<Utc>);

fn expand(schedule: &Schedule) -> Vec<Item> {
    schedule
        .occurrences()
        .take(EXPANDED)
        .map(|o| (o.seq(), o.date(), o.at()))
        .collect()
}

/// Seeking after an instant gives what walking gives: around a few of the first occurrences,
/// before all of them, and past the supported years.
fn check_seek(schedule: &Schedule, first: &[Item], text: &str) {
    let seek = |after: DateTime<Utc>, n: usize| -> Vec<Item> {
        schedule
            .occurrences_after(after)
            .take(n)
            .map(|o| (o.seq(), o.date(), o.at()))
            .collect()
    };
    let probes = [0, first.len() / 2, first.len().saturating_sub(1)];
    for &i in probes.iter().filter(|&&i| i < first.len()) {
        for after in [first[i].2 - TimeDelta::seconds(1), first[i].2] {
            let walked: Vec<Item> = first
                .iter()
                .copied()
                .filter(|o| o.2 > after)
                .take(8)
                .collect();
            assert_eq!(
                seek(after, walked.len()),
                walked,
                "seeking after {after} differs from walking\n{text}"
            );
        }
    }
    let before_all = seek(DateTime::<Utc>::MIN_UTC, 8);
    assert_eq!(
        before_all,
        first[..first.len().min(8)],
        "seeking from the start\n{text}"
    );
    assert_eq!(
        seek(DateTime::<Utc>::MAX_UTC, 1),
        [],
        "an occurrence after the end of time\n{text}"
    );
}

/// What a deal read from JSON shows: amounts display, validation answers.
fn check_deal(deal: &Deal) {
    deal.amount().to_string();
    for row in deal.products() {
        row.price.to_string();
    }
    for value in deal.custom().values() {
        if let recurring_deals::CustomValue::Money(money) = value {
            money.to_string();
        }
    }
    if let Err(error) = deal.validate() {
        refused(&error, deal.title());
    }
}

/// Invoice options: validation answers with a message, due dates are computed for any
/// options, and accepted options give a due date on or after the creation date.
fn check_invoice_options(options: &InvoiceOptions) {
    let valid = match options.validate() {
        Ok(()) => true,
        Err(error) => {
            refused(&error, &format!("{options:?}"));
            false
        }
    };
    for created in sample_dates() {
        let due = options.payment_due.due_date(created);
        if valid {
            assert!(due >= created, "{options:?}: due {due} before {created}");
        }
    }
}

/// The draft through an engine on every store: created or refused alike, and what is created
/// reads back, lists, previews and ticks.
fn check_stores(draft: &TemplateDraft, expect: Expect) {
    let in_memory = RUNTIME
        .with(|runtime| runtime.block_on(round_trip(InMemoryRepository::new(), draft, &expect)));
    #[cfg(feature = "sqlite")]
    {
        let sqlite = SQLITE.with(|store| {
            RUNTIME.with(|runtime| runtime.block_on(round_trip(store.clone(), draft, &expect)))
        });
        assert_eq!(in_memory, sqlite, "the stores disagree");
    }
    #[cfg(not(feature = "sqlite"))]
    drop(in_memory);
}

thread_local! {
    /// One runtime per thread, on that thread: a fuzz target runs on one.
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime starts");
}

#[cfg(feature = "sqlite")]
thread_local! {
    /// One in-memory database per thread, opened once (each input deletes its template).
    static SQLITE: recurring_deals::SqliteStore = RUNTIME.with(|runtime| {
        runtime
            .block_on(recurring_deals::SqliteStore::in_memory())
            .expect("an in-memory SQLite store opens")
    });
}

/// What one store did with a draft, without the template id (the stores number templates
/// their own way), to compare stores.
#[derive(Debug, PartialEq)]
enum Outcome {
    Refused(String),
    Created {
        template: Value,
        preview: Vec<Value>,
        ticked: Vec<Value>,
    },
}

async fn round_trip<R: Repository>(
    repository: R,
    draft: &TemplateDraft,
    expect: &Expect,
) -> Outcome {
    let tenant = TenantId::new("fuzz").expect("a valid tenant id");
    let first = draft.schedule.occurrences().next().map(|o| o.at());
    let start = first.map_or(fallback_now(), |at| at - TimeDelta::hours(1));
    let clock = ManualClock::new(start);
    let engine = Engine::new(repository, clock.clone());
    let template = match engine.create_template(&tenant, draft.clone()).await {
        Ok(template) => template,
        Err(error) => {
            let message = error.to_string();
            refused(&error, &format!("{draft:?}"));
            match expect {
                Expect::Accepted => panic!("an accepted draft was refused: {message}\n{draft:?}"),
                // The engine checks the deal's size before validating the draft.
                Expect::Refused(expected) => assert!(
                    matches!(error, EngineError::DealTooLarge { .. })
                        || matches!(error, EngineError::Invalid(_)) && &message == expected,
                    "refused with {message:?}, expected {expected:?}\n{draft:?}"
                ),
                Expect::WithinLimits => assert!(
                    matches!(error, EngineError::DealTooLarge { .. }),
                    "a valid deal within the limits was refused: {message}\n{draft:?}"
                ),
                Expect::Either => {}
            }
            return Outcome::Refused(message);
        }
    };
    if let Expect::Refused(expected) = expect {
        panic!("a draft its validation refuses ({expected}) was created\n{draft:?}");
    }
    let id = template.id();
    let stored = engine
        .template(&tenant, id)
        .await
        .unwrap_or_else(|e| panic!("a created template does not read back: {e}\n{draft:?}"));
    assert_eq!(stored, template, "the template read back differs");
    assert_eq!(
        expand(stored.schedule()),
        expand(template.schedule()),
        "the template read back expands otherwise"
    );
    check_json_round_trip(&stored);
    for locale in [Locale::En, Locale::Ru] {
        assert!(
            !stored.describe(locale).trim().is_empty(),
            "{locale:?}: template undescribed"
        );
    }
    check_listed(&engine, &tenant, &stored).await;
    let preview = engine
        .preview(&tenant, id, 8)
        .await
        .unwrap_or_else(|e| panic!("preview failed: {e}\n{draft:?}"));
    let preview = preview
        .iter()
        .map(|deal| {
            serde_json::json!([
                seq(&deal.key),
                deal.at,
                deal.date,
                deal.amount,
                deal.begin_date,
                deal.close_date
            ])
        })
        .collect();

    if let Some(first) = first {
        clock.set(first);
    }
    let report = engine
        .tick()
        .await
        .unwrap_or_else(|e| panic!("tick failed: {e}\n{draft:?}"));
    assert!(
        report.failures.is_empty() && report.batch_failures.is_empty(),
        "the tick failed: {:?} {:?}\n{draft:?}",
        report.failures,
        report.batch_failures
    );
    if first.is_some() {
        assert!(
            !report.created.is_empty() || !report.skipped.is_empty(),
            "the first occurrence fell due and the tick did nothing: {report:?}\n{draft:?}"
        );
    }
    let mut ticked = Vec::new();
    for key in &report.created {
        ticked.push(check_created(&engine, &tenant, *key, &template).await);
    }
    for skipped in &report.skipped {
        ticked.push(serde_json::json!([seq(&skipped.key), skipped.reason]));
    }
    let after = engine
        .template(&tenant, id)
        .await
        .unwrap_or_else(|e| panic!("a ticked template does not read back: {e}\n{draft:?}"));
    check_listed(&engine, &tenant, &after).await;

    // Leave nothing that a later input's tick would see (the SQLite store is shared by the
    // inputs of a run): invoices paid, events acknowledged, the template deleted.
    if template.invoice().is_some() {
        for key in &report.created {
            engine
                .set_invoice_status(&tenant, *key, InvoiceStatus::Paid)
                .await
                .unwrap_or_else(|e| panic!("the invoice of {key:?} is not paid: {e}"));
        }
    }
    let events = engine
        .tenant_outbox(&tenant, 10_000)
        .await
        .unwrap_or_else(|e| panic!("the outbox does not read: {e}"));
    let ids: Vec<u64> = events.iter().map(|e| e.id).collect();
    engine
        .tenant_ack(&tenant, &ids)
        .await
        .unwrap_or_else(|e| panic!("the events do not ack: {e}"));
    engine
        .delete(&tenant, id)
        .await
        .unwrap_or_else(|e| panic!("the template does not delete: {e}"));
    Outcome::Created {
        template: without(serde_json::to_value(&after).expect("serializes"), &["id"]),
        preview,
        ticked,
    }
}

/// The template is in its tenant's listing, equal to what `template` reads.
async fn check_listed<R: Repository>(
    engine: &Engine<R, ManualClock>,
    tenant: &TenantId,
    template: &recurring_deals::Template,
) {
    let page = engine
        .list(tenant, &TemplateQuery::default())
        .await
        .unwrap_or_else(|e| panic!("the tenant's templates do not list: {e}"));
    let listed = page.items.iter().find(|t| t.id() == template.id());
    assert_eq!(listed, Some(template), "the template lists otherwise");
}

/// A created deal reads back as the template's deal (amount and dates aside), with its
/// invoice when the template issues them.
async fn check_created<R: Repository>(
    engine: &Engine<R, ManualClock>,
    tenant: &TenantId,
    key: DealKey,
    template: &recurring_deals::Template,
) -> Value {
    let created = engine
        .deal(tenant, key)
        .await
        .unwrap_or_else(|e| panic!("created deal {key:?} does not read: {e}"))
        .unwrap_or_else(|| panic!("created deal {key:?} is missing"));
    assert_eq!(created.deal.origin(), Some(key));
    let copy = |deal: &Deal| {
        without(
            serde_json::to_value(deal).expect("serializes"),
            &[
                "amount",
                "pipeline",
                "stage",
                "begin_date",
                "close_date",
                "origin",
            ],
        )
    };
    assert_eq!(
        copy(&created.deal),
        copy(template.deal()),
        "the created deal differs"
    );
    let invoice = match template.invoice() {
        Some(options) => {
            let invoice = engine
                .invoice(tenant, key)
                .await
                .unwrap_or_else(|e| panic!("the invoice of {key:?} does not read: {e}"));
            assert_eq!(
                invoice.due_on,
                options.payment_due.due_date(invoice.issued_on),
                "{options:?}"
            );
            serde_json::json!([
                invoice.amount,
                invoice.issued_on,
                invoice.due_on,
                invoice.pending_reminders
            ])
        }
        None => Value::Null,
    };
    serde_json::json!([
        seq(&key),
        created.nominal_date,
        created.nominal_at,
        created.catch_up,
        without(
            serde_json::to_value(&created.deal).expect("serializes"),
            &["origin"]
        ),
        invoice
    ])
}

fn seq(key: &DealKey) -> Value {
    match key {
        DealKey::Scheduled { revision, seq, .. } => serde_json::json!([revision, seq]),
        DealKey::Manual { number, .. } => serde_json::json!(["manual", number]),
    }
}

fn without(mut value: Value, keys: &[&str]) -> Value {
    if let Some(object) = value.as_object_mut() {
        for key in keys {
            object.remove(*key);
        }
    }
    value
}

/// A valid deal, for the targets that fuzz something else.
fn sample_deal() -> Deal {
    let eur = Currency::new("EUR").expect("EUR is ISO 4217");
    Deal::new("Fuzz", Money::new(10_000, eur)).expect("a valid deal")
}

/// A valid schedule, for the targets that fuzz something else: daily at 09:00 in Berlin,
/// three times.
fn sample_schedule() -> Schedule {
    let start: NaiveDateTime = "2026-03-27T09:00:00".parse().expect("a date-time");
    Schedule::builder(
        Recurrence::daily(recurring_deals::Interval::ONE),
        start,
        Zone::get("Europe/Berlin").unwrap(),
    )
    .end(End::Count(3))
    .build()
    .expect("a valid schedule")
}

/// The clock of a template without occurrences.
fn fallback_now() -> DateTime<Utc> {
    "2026-01-01T00:00:00Z".parse().expect("an instant")
}

/// Creation dates for offsets and due dates: the ends of the supported years and of chrono's.
fn sample_dates() -> [NaiveDate; 5] {
    [
        NaiveDate::MIN,
        NaiveDate::from_ymd_opt(1900, 1, 1).expect("a date"),
        NaiveDate::from_ymd_opt(2026, 1, 31).expect("a date"),
        NaiveDate::from_ymd_opt(2199, 12, 31).expect("a date"),
        NaiveDate::MAX,
    ]
}

/// Instants for "today": the ends of chrono's range and one inside the supported years.
fn sample_instants() -> [DateTime<Utc>; 3] {
    [
        DateTime::<Utc>::MIN_UTC,
        fallback_now(),
        DateTime::<Utc>::MAX_UTC,
    ]
}
