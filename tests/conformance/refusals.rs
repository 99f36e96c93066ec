//! Conformance cases of refused input (issue #20, kind 9): every bound of `recurring_deals::limits`
//! and every date outside 1900..=2199 is refused the same way on every store, with a typed
//! error naming the part and the bound, before anything is written. A refused call leaves the
//! template, its deals and the outbox as they were.

use recurring_deals::{
    Deal, Engine, EngineError, InvoiceOptions, ManualClock, PaymentDue, Repository, TemplateDraft,
    ValidationError, limits,
};

use super::{Make, daily, date, local, rub, tenant, utc};

/// The refusals of a pause, a move, a skip and a draft, on a store with one template that
/// has created a deal: each typed, naming the part and the bound; nothing written.
pub async fn refused_input_is_typed_and_writes_nothing<R: Repository>(make: &Make<R>) {
    let repository = make().await;
    let engine = Engine::new(&repository, ManualClock::new(utc(2026, 3, 1, 0, 0)));
    let acme = tenant("acme");
    let draft = TemplateDraft::new(
        Deal::new("Support", rub(10_000)).unwrap(),
        daily(local(2026, 3, 1, 9, 0), 1),
    );
    let id = engine.create_template(&acme, draft).await.unwrap().id();
    engine.clock().set(utc(2026, 3, 2, 10, 0));
    engine.tick().await.unwrap();
    // 12:00 on Mar 2: Mar 3's deal is not due yet, so a refused call that settled first
    // would not show; the snapshot covers template, deals and outbox.
    let snapshot = || async {
        (
            engine.template(&acme, id).await.unwrap(),
            engine.deals(&acme, Some(id)).await.unwrap(),
            engine.outbox(usize::MAX).await.unwrap(),
        )
    };
    let before = snapshot().await;
    engine.clock().set(utc(2026, 3, 3, 12, 0));

    let long_note = "n".repeat(limits::NOTE_BYTES + 1);
    match engine.pause(&acme, id, &long_note, None).await {
        Err(EngineError::Invalid(ValidationError::TooLong { what, len, max, .. })) => {
            assert_eq!(
                (what, len, max),
                ("pause note", limits::NOTE_BYTES + 1, limits::NOTE_BYTES)
            );
        }
        other => panic!("a long note: {other:?}"),
    }
    let far = date(9999, 12, 31);
    match engine.pause(&acme, id, "hold", Some(far)).await {
        Err(EngineError::Invalid(ValidationError::DateOutOfRange { what, date })) => {
            assert_eq!((what, date), ("resume date", far));
        }
        other => panic!("resume on 9999-12-31: {other:?}"),
    }
    let refused = engine
        .move_occurrence(
            &acme,
            id,
            date(2026, 3, 5),
            far.and_hms_opt(9, 0, 0).unwrap(),
        )
        .await;
    assert!(
        matches!(
            refused,
            Err(EngineError::Invalid(ValidationError::DateOutOfRange {
                what: "new occurrence date",
                ..
            }))
        ),
        "{refused:?}"
    );
    let error = refused.unwrap_err().to_string();
    assert!(
        error.contains("9999-12-31") && error.contains("1900-01-01"),
        "{error}"
    );
    assert_eq!(snapshot().await, before, "a refused call wrote something");
    // The stored template still takes what is in bounds.
    let fits = "n".repeat(limits::NOTE_BYTES);
    engine
        .pause(&acme, id, &fits, Some(date(2199, 12, 31)))
        .await
        .unwrap();

    // A draft with 200,000 invoice recipients is refused before an id is taken.
    let mut invoice = InvoiceOptions::new(PaymentDue::Days(10));
    invoice.send_to = (0..200_000).collect();
    let mut draft = TemplateDraft::new(
        Deal::new("Invoiced", rub(10_000)).unwrap(),
        daily(local(2026, 3, 4, 9, 0), 1),
    );
    draft.invoice = Some(invoice);
    match engine.create_template(&acme, draft).await {
        Err(EngineError::Invalid(ValidationError::TooLong { what, len, max, .. })) => {
            assert_eq!(
                (what, len, max),
                ("invoice recipients", 200_000, limits::INVOICE_RECIPIENTS)
            );
        }
        other => panic!("200,000 recipients: {other:?}"),
    }
    assert_eq!(
        repository.allocate_template_id().await.unwrap().0,
        id.0 + 1,
        "a refused draft took an id"
    );
}
