//! Refused deliveries and dead letters: [`Repository::record_failures`],
//! [`Repository::dead_letters`] and [`Repository::requeue_dead_letters`].

use super::*;
use recurring_deals::OutboxEvent;
use recurring_deals::store::{DeliveryFailure, MAX_ERROR_CHARS};

/// A refusal with a retry shows in every outbox read (attempts, retry instant, the head);
/// one without makes a dead letter that leaves every outbox read and is listed per tenant,
/// in id order, paged by id; requeueing puts it back at its place with no attempts;
/// acknowledging discards it. Other tenants' ids are ignored everywhere.
pub async fn refused_events_back_off_and_dead_letters_requeue<R: Repository>(make: &Make<R>) {
    let repository = make().await;
    let acme = tenant("acme");
    let beta = tenant("beta");
    let a = create_daily(&repository, &acme, t0(), local(2026, 3, 1, 9, 0)).await;
    let b = create_daily(&repository, &beta, t0(), local(2026, 3, 1, 9, 0)).await;
    // a1, b1, a2, a3, a4: each a minute after the previous one.
    let order = [(&acme, &a, "a1"), (&beta, &b, "b1"), (&acme, &a, "a2")];
    let order = order
        .into_iter()
        .chain([(&acme, &a, "a3"), (&acme, &a, "a4")]);
    for (minute, (owner, template, key)) in order.enumerate() {
        let stored = repository
            .template(owner, template.id())
            .await
            .unwrap()
            .unwrap();
        let mut commit = bare(&stored);
        let mut new = event(
            owner,
            key,
            EventKind::UpcomingDeal {
                template: stored.id(),
                at: t0(),
                lead_days: 1,
            },
        );
        new.at = t0() + TimeDelta::minutes(minute as i64);
        commit.events = vec![new];
        assert!(matches!(
            repository.commit(commit).await.unwrap(),
            CommitOutcome::Committed { .. }
        ));
    }
    let all = repository.outbox(10).await.unwrap();
    let id = |key: &str| all.iter().find(|e| e.idempotency_key == key).unwrap().id;
    assert!(all.iter().all(|e| e.attempts == 0 && e.retry_at.is_none()));
    let keys = |events: &[OutboxEvent]| {
        events
            .iter()
            .map(|e| e.idempotency_key.clone())
            .collect::<Vec<_>>()
    };
    let failure = |key: &str, owner: &TenantId, error: &str, retry_at| DeliveryFailure {
        id: id(key),
        tenant: owner.clone(),
        error: error.to_owned(),
        at: t0() + TimeDelta::hours(1),
        retry_at,
    };
    let retry = t0() + TimeDelta::hours(2);

    // a1 refused twice (retry at 02:00), a2 named with beta's tenant: ignored.
    repository
        .record_failures(&[failure("a1", &acme, "503 from the bus", Some(retry))])
        .await
        .unwrap();
    repository
        .record_failures(&[
            failure("a1", &acme, "503 again", Some(retry)),
            failure("a2", &beta, "not beta's", None),
        ])
        .await
        .unwrap();
    repository.record_failures(&[]).await.unwrap();
    let all = repository.outbox(10).await.unwrap();
    assert_eq!(keys(&all), ["a1", "b1", "a2", "a3", "a4"]);
    let a1 = &all[0];
    assert_eq!((a1.attempts, a1.retry_at), (2, Some(retry)));
    assert!(
        all[1..]
            .iter()
            .all(|e| e.attempts == 0 && e.retry_at.is_none())
    );
    let acme_outbox = repository.tenant_outbox(&acme, 10).await.unwrap();
    assert_eq!(
        (acme_outbox[0].attempts, acme_outbox[0].retry_at),
        (2, Some(retry))
    );
    let heads = repository.outbox_heads(10).await.unwrap();
    assert_eq!(heads[0].id, id("a1"));
    assert_eq!(heads[0].retry_at, Some(retry));
    assert_eq!(heads[1].retry_at, None);

    // a1's third refusal makes it a dead letter (the error cut to MAX_ERROR_CHARS); a3 too.
    let long = "ж".repeat(MAX_ERROR_CHARS + 10);
    repository
        .record_failures(&[failure("a1", &acme, &long, None)])
        .await
        .unwrap();
    repository
        .record_failures(&[failure("a3", &acme, "410 gone", None)])
        .await
        .unwrap();
    assert_eq!(
        keys(&repository.outbox(10).await.unwrap()),
        ["b1", "a2", "a4"]
    );
    assert_eq!(
        keys(&repository.tenant_outbox(&acme, 10).await.unwrap()),
        ["a2", "a4"]
    );
    assert_eq!(
        keys(
            &repository
                .tenants_outbox(std::slice::from_ref(&acme), 10)
                .await
                .unwrap()
        ),
        ["a2", "a4"]
    );
    let heads = repository.outbox_heads(10).await.unwrap();
    assert_eq!(
        heads.iter().map(|h| (h.id, h.retry_at)).collect::<Vec<_>>(),
        [(id("b1"), None), (id("a2"), None)],
        "a dead letter is no tenant's head"
    );
    // A dead letter is not refused again.
    repository
        .record_failures(&[failure("a1", &acme, "again", Some(retry))])
        .await
        .unwrap();

    let dead = repository.dead_letters(&acme, None, 10).await.unwrap();
    assert_eq!(
        dead.iter()
            .map(|d| (d.event.idempotency_key.as_str(), d.event.attempts))
            .collect::<Vec<_>>(),
        [("a1", 3), ("a3", 1)]
    );
    assert_eq!(dead[0].last_error.chars().count(), MAX_ERROR_CHARS);
    assert!(dead[0].last_error.chars().all(|c| c == 'ж'));
    assert_eq!(dead[0].dead_at, t0() + TimeDelta::hours(1));
    assert_eq!(dead[1].last_error, "410 gone");
    assert_eq!(dead[0].event.at, t0());
    assert!(matches!(dead[0].event.kind, EventKind::UpcomingDeal { .. }));
    // Paged by id.
    let first = repository.dead_letters(&acme, None, 1).await.unwrap();
    assert_eq!(keys(&[first[0].event.clone()]), ["a1"]);
    let next = repository
        .dead_letters(&acme, Some(first[0].event.id), 10)
        .await
        .unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].event.idempotency_key, "a3");
    assert!(
        repository
            .dead_letters(&acme, Some(id("a3")), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        repository
            .dead_letters(&acme, Some(u64::MAX), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        repository
            .dead_letters(&acme, None, 0)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        repository
            .dead_letters(&beta, None, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Requeue: beta cannot requeue acme's; a live event and an unknown id count nothing.
    assert_eq!(
        repository
            .requeue_dead_letters(&beta, &[id("a1")])
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        repository
            .requeue_dead_letters(&acme, &[id("a2"), u64::MAX])
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        repository.requeue_dead_letters(&acme, &[]).await.unwrap(),
        0
    );
    assert_eq!(
        repository
            .requeue_dead_letters(&acme, &[id("a1"), id("a1")])
            .await
            .unwrap(),
        1
    );
    let all = repository.outbox(10).await.unwrap();
    assert_eq!(keys(&all), ["a1", "b1", "a2", "a4"], "back at its place");
    assert_eq!((all[0].attempts, all[0].retry_at), (0, None));
    assert_eq!(
        keys(&[repository.dead_letters(&acme, None, 10).await.unwrap()[0]
            .event
            .clone()]),
        ["a3"]
    );

    // Acknowledging a dead letter discards it (beta's acknowledgement does not).
    repository.tenant_ack(&beta, &[id("a3")]).await.unwrap();
    assert_eq!(
        repository
            .dead_letters(&acme, None, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    repository.tenant_ack(&acme, &[id("a3")]).await.unwrap();
    assert!(
        repository
            .dead_letters(&acme, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        keys(&repository.outbox(10).await.unwrap()),
        ["a1", "b1", "a2", "a4"]
    );
}
