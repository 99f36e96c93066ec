//! Deals, invoice options and template drafts.

use chrono::NaiveDate;
use proptest::prelude::*;
use proptest::sample::select;

use super::schedule::schedule;
use super::zones::{date, day_in};
use crate::{
    CatchUpMode, CatchUpPolicy, Currency, CustomValue, DateOffset, Deal, InstallmentSplit,
    InvoiceOptions, Money, PaymentDue, ProductRow, Recurrence, ResumePolicy, Target, TemplateDraft,
    TenantId,
};

/// ISO 4217 codes with every minor-unit exponent: 2 (`RUB`, `USD`, `EUR`, `GBP`, `CHF`,
/// `CNY`), 0 (`JPY`, `KRW`), 3 (`BHD`, `KWD`) and 4 (`CLF`).
const CURRENCIES: [&str; 11] = [
    "RUB", "USD", "EUR", "JPY", "BHD", "CLF", "GBP", "CHF", "CNY", "KRW", "KWD",
];

/// An ISO 4217 currency, with minor-unit exponents 0, 2, 3 and 4. Shrinks toward `RUB`.
pub fn currency() -> impl Strategy<Value = Currency> {
    select(CURRENCIES.to_vec()).prop_map(|code| {
        // Every listed code is an ISO 4217 code.
        Currency::new(code).expect("an ISO 4217 code")
    })
}

/// A tenant id: 1 to 24 characters, ASCII or any printable Unicode, never a control
/// character. Shrinks toward `"a"`.
pub fn tenant() -> impl Strategy<Value = TenantId> {
    prop_oneof![
        3 => "[a-z][a-z0-9-]{0,23}",
        1 => "[a-zа-я\u{4e00}-\u{4e10}]\\PC{0,23}",
    ]
    .prop_map(|id| {
        // 1 to 24 characters, none of them a control character.
        TenantId::new(id).expect("a valid tenant id")
    })
}

/// A deal the engine accepts: a non-blank title of up to 41 characters (any printable
/// Unicode), an amount from 0 to 10^18 minor units in a [`currency`], pipeline and stage,
/// maybe an assignee and a company, up to 4 contacts and observers, up to 3 product rows in
/// the deal's currency, maybe begin and close dates, comments, and up to 4 custom fields of
/// every [`CustomValue`] kind. Everything is within [`DealLimits`](crate::DealLimits)'
/// defaults. Shrinks toward a one-letter title, an amount of 0 `RUB` and nothing else.
pub fn deal() -> impl Strategy<Value = Deal> {
    let head = (
        "[A-Za-zА-Яа-яё0-9€]\\PC{0,40}",
        prop_oneof![0i64..=100_000_000, 0i64..=1_000_000_000_000_000_000],
        currency(),
        0u32..=20,
        select(vec![
            "NEW",
            "PREPARATION",
            "EXECUTING",
            "WON",
            "C2:NEW",
            "ПОДГОТОВКА",
        ]),
    );
    let people = (
        prop::option::of(1u64..=1_000_000),
        prop::option::of(1u64..=1_000_000),
        prop::collection::vec(1u64..=1_000_000, 0..=4),
        prop::collection::vec(1u64..=1_000_000, 0..=4),
    );
    let rest = (
        prop::collection::vec(product_parts(), 0..=3),
        prop::option::of(day_in(date(2020, 1, 1), date(2030, 12, 31))),
        prop::option::of(day_in(date(2020, 1, 1), date(2030, 12, 31))),
        "\\PC{0,80}",
        prop::collection::btree_map("UF_CRM_[A-Z0-9_]{1,12}", custom_parts(), 0..=4),
    );
    (head, people, rest).prop_map(
        |(
            (title, minor, currency, pipeline, stage),
            (assignee, company, contacts, observers),
            (products, begin, close, comments, custom),
        )| {
            // A title that starts with a letter or digit, a non-negative amount, an ISO 4217
            // currency: the deal is valid.
            let mut deal = Deal::new(title, Money::new(minor, currency))
                .expect("a valid deal")
                .with_pipeline(pipeline, stage)
                .with_contacts(contacts)
                .with_observers(observers)
                .with_dates(begin, close)
                .with_comments(comments);
            if let Some(user) = assignee {
                deal = deal.with_assignee(user);
            }
            if let Some(id) = company {
                deal = deal.with_company(id);
            }
            for (name, value) in custom {
                deal = deal.with_custom(name, value.value(currency));
            }
            let rows = products.into_iter().map(|p| p.row(currency)).collect();
            // Rows in the deal's currency, with non-negative prices, discounts, quantities.
            deal.with_products(rows).expect("valid product rows")
        },
    )
}

/// When an invoice is due, every [`PaymentDue`] variant within its accepted range (days up
/// to 3650, weeks up to 520, months up to 120). Shrinks toward 0 days.
pub fn payment_due() -> impl Strategy<Value = PaymentDue> {
    prop_oneof![
        prop_oneof![0u32..=30, 0u32..=3650].prop_map(PaymentDue::Days),
        (0u32..=520).prop_map(PaymentDue::Weeks),
        (0u32..=120).prop_map(PaymentDue::Months),
        Just(PaymentDue::EndOfMonth),
        Just(PaymentDue::EndOfNextMonth),
    ]
}

/// Dunning ladders the engine accepts: up to [`crate::MAX_DUNNING_STEPS`] steps on distinct
/// days 1 ..= 365 after the due date, levels from 1 never decreasing, maybe a mail template
/// per step, maybe a final action on the last. Shrinks toward no ladder.
pub fn dunning_ladder() -> impl Strategy<Value = Vec<crate::DunningStep>> {
    let step = (0u8..=2, prop::option::of(1u64..=1000));
    (
        prop::collection::btree_set(
            prop_oneof![1u32..=30, 1u32..=365],
            0..=crate::MAX_DUNNING_STEPS,
        ),
        prop::collection::vec(step, crate::MAX_DUNNING_STEPS),
        prop::option::of(prop_oneof![
            Just(crate::DunningAction::HandOver),
            Just(crate::DunningAction::StopTemplate),
        ]),
    )
        .prop_map(|(days, steps, action)| {
            let mut level = 1u8;
            let mut ladder: Vec<crate::DunningStep> = days
                .into_iter()
                .zip(steps)
                .map(|(after_days, (rise, mail))| {
                    level = level.saturating_add(rise);
                    let step = crate::DunningStep::new(after_days, level);
                    match mail {
                        Some(id) => step.mail_template(id),
                        None => step,
                    }
                })
                .collect();
            if let (Some(last), Some(action)) = (ladder.last_mut(), action) {
                last.action = Some(action);
            }
            ladder
        })
}

/// Invoice options the engine accepts: a [`payment_due`], up to 3 recipients, maybe mail and
/// document templates, up to 4 reminders before and after the due date (0 to 365 days
/// each), and a [`dunning_ladder`]. Shrinks toward due in 0 days, no recipients, no
/// reminders, no ladder.
pub fn invoice_options() -> impl Strategy<Value = InvoiceOptions> {
    (
        dunning_ladder(),
        payment_due(),
        prop::collection::vec(1u64..=1_000_000, 0..=3),
        prop::option::of(1u64..=1000),
        prop::option::of(1u64..=1000),
        prop::collection::vec(prop_oneof![0u32..=14, 0u32..=365], 0..=4),
        prop::collection::vec(prop_oneof![0u32..=14, 0u32..=365], 0..=4),
    )
        .prop_map(|(ladder, due, send_to, mail, document, before, after)| {
            let mut options = InvoiceOptions::new(due)
                .send_to(send_to)
                .remind_before(before)
                .remind_after(after)
                .dunning(ladder);
            if let Some(id) = mail {
                options = options.mail_template(id);
            }
            if let Some(id) = document {
                options = options.document_template(id);
            }
            options
        })
}

/// A date offset for created deals' begin and close dates, every [`DateOffset`] variant
/// within its accepted range. Shrinks toward 0 days.
pub fn date_offset() -> impl Strategy<Value = DateOffset> {
    prop_oneof![
        prop_oneof![0u32..=31, 0u32..=3650].prop_map(DateOffset::Days),
        (0u32..=520).prop_map(DateOffset::Weeks),
        (0u32..=120).prop_map(DateOffset::Months),
    ]
}

/// A catch-up policy, every [`CatchUpMode`], maybe a window of 0 to 3650 days, 1 to 100,000
/// occurrences per tick (mostly few). Shrinks toward catching up everything, 1 per tick.
pub fn catch_up_policy() -> impl Strategy<Value = CatchUpPolicy> {
    (
        prop_oneof![
            Just(CatchUpMode::All),
            Just(CatchUpMode::Latest),
            Just(CatchUpMode::None)
        ],
        prop::option::weighted(0.3, prop_oneof![0u32..=31, 0u32..=3650]),
        prop_oneof![1u32..=10, 1u32..=100_000],
    )
        .prop_map(|(mode, window_days, max_per_tick)| CatchUpPolicy {
            mode,
            window_days,
            max_per_tick,
        })
}

/// A template draft [`Engine::create_template`](crate::Engine::create_template) accepts: a
/// [`deal`], a [`schedule`](super::schedule) (every rule kind, zone, end, exception), maybe
/// a target pipeline and stage, begin and close [`date_offset`]s, a [`catch_up_policy`],
/// both resume policies, maybe [`invoice_options`], up to 4 distinct upcoming-deal notice
/// leads of 0 to 365 days, for a one-off schedule maybe an installment split in two, and
/// maybe the deal it was based on. Shrinks toward the draft [`TemplateDraft::new`] makes of
/// a shrunk deal and schedule.
pub fn template_draft() -> impl Strategy<Value = TemplateDraft> {
    let options = (
        prop::option::of((0u32..=20, select(vec!["NEW", "WON", "C3:PREPARATION"]))),
        prop::option::of(date_offset()),
        prop_oneof![
            Just(Some(DateOffset::Days(7))),
            Just(None),
            date_offset().prop_map(Some)
        ],
        catch_up_policy(),
        prop_oneof![
            Just(ResumePolicy::SkipPausedSpan),
            Just(ResumePolicy::CatchUpPausedSpan)
        ],
    );
    let extras = (
        prop::option::of(invoice_options()),
        prop::collection::btree_set(prop_oneof![0u32..=45, 0u32..=365], 0..=4),
        prop::option::of(1u32..10_000),
        prop::option::of(1u64..=1_000_000),
    );
    (deal(), schedule(), options, extras).prop_map(
        |(
            deal,
            schedule,
            (target, begin_offset, close_offset, catch_up, resume),
            (invoice, notice, first_share, based_on),
        )| {
            let once = matches!(schedule.recurrence(), Some(Recurrence::Once { .. }));
            let mut draft = TemplateDraft::new(deal, schedule);
            draft.target = target.map(|(pipeline, stage)| Target {
                pipeline,
                stage: stage.to_owned(),
            });
            draft.begin_offset = begin_offset;
            draft.close_offset = close_offset;
            draft.catch_up = catch_up;
            draft.resume = resume;
            draft.invoice = invoice;
            // Distinct leads, longest first (30, 7, 1).
            draft.upcoming_notice_days = notice.into_iter().rev().collect();
            draft.split = first_share.filter(|_| once).map(|share| {
                // Two positive shares summing to 10000.
                InstallmentSplit::new(vec![share, 10_000 - share]).expect("a valid split")
            });
            draft.based_on = based_on;
            draft
        },
    )
}

/// A product row before the deal's currency is known.
#[derive(Debug, Clone)]
struct ProductParts {
    name: String,
    price: i64,
    quantity_milli: i64,
    discount: i64,
    tax_rate_bp: u32,
}

impl ProductParts {
    fn row(self, currency: Currency) -> ProductRow {
        ProductRow {
            name: self.name,
            price: Money::new(self.price, currency),
            quantity_milli: self.quantity_milli,
            discount: self.discount,
            tax_rate_bp: self.tax_rate_bp,
        }
    }
}

fn product_parts() -> impl Strategy<Value = ProductParts> {
    (
        "\\PC{1,30}",
        0i64..=100_000_000,
        prop_oneof![Just(1000i64), 0i64..=100_000],
        prop_oneof![Just(0i64), 0i64..=1_000_000],
        select(vec![0u32, 1000, 2000, 2200]),
    )
        .prop_map(
            |(name, price, quantity_milli, discount, tax_rate_bp)| ProductParts {
                name,
                price,
                quantity_milli,
                discount,
                tax_rate_bp,
            },
        )
}

/// A custom field value before the deal's currency is known.
#[derive(Debug, Clone)]
enum CustomParts {
    Text(String),
    Integer(i64),
    Flag(bool),
    Date(NaiveDate),
    Money(i64),
    List(Vec<String>),
}

impl CustomParts {
    fn value(self, currency: Currency) -> CustomValue {
        match self {
            CustomParts::Text(text) => CustomValue::Text(text),
            CustomParts::Integer(n) => CustomValue::Integer(n),
            CustomParts::Flag(flag) => CustomValue::Flag(flag),
            CustomParts::Date(day) => CustomValue::Date(day),
            CustomParts::Money(minor) => CustomValue::Money(Money::new(minor, currency)),
            CustomParts::List(items) => CustomValue::List(items),
        }
    }
}

fn custom_parts() -> impl Strategy<Value = CustomParts> {
    prop_oneof![
        "\\PC{0,40}".prop_map(CustomParts::Text),
        any::<i64>().prop_map(CustomParts::Integer),
        any::<bool>().prop_map(CustomParts::Flag),
        day_in(date(1950, 1, 1), date(2150, 12, 31)).prop_map(CustomParts::Date),
        (0i64..=1_000_000_000).prop_map(CustomParts::Money),
        prop::collection::vec("\\PC{0,20}", 0..=4).prop_map(CustomParts::List),
    ]
}
