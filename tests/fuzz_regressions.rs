//! Replays the fuzz targets' seed corpus (`fuzz/corpus/<target>/`) and every input that ever
//! failed (`fuzz/regressions/<target>/`) through the checks the fuzz targets run
//! (`tests/fuzz_checks/mod.rs`): a quick test of the checks on known inputs, and a regression
//! test for each bug the fuzzers found.

mod fuzz_checks;

use recurring_deals::Zone;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use fuzz_checks::TARGETS;

#[test]
fn seed_corpus_passes_the_fuzz_checks() {
    let replayed = replay("corpus");
    for target in TARGETS {
        assert!(
            replayed.iter().any(|(t, _)| t == target),
            "no seed corpus for {target} under fuzz/corpus/{target}"
        );
    }
}

#[test]
fn every_input_that_ever_failed_passes_the_fuzz_checks() {
    replay("regressions");
}

/// Runs each file under `fuzz/<folder>/<target>/` through the target's checks; returns the
/// (target, file) pairs replayed. A failed check panics naming the file.
fn replay(folder: &str) -> Vec<(String, PathBuf)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(folder);
    let mut replayed = Vec::new();
    for target in TARGETS {
        let Ok(entries) = std::fs::read_dir(root.join(target)) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .map(|entry| entry.expect("a readable folder").path())
            .filter(|path| path.is_file())
            .collect();
        files.sort();
        for file in files {
            let data = std::fs::read(&file).expect("a readable file");
            let outcome = std::panic::catch_unwind(|| fuzz_checks::check(target, &data));
            if let Err(panic) = outcome {
                let message = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("(no message)");
                panic!("{target}: {} failed the checks: {message}", file.display());
            }
            replayed.push((target.to_owned(), file));
        }
    }
    replayed
}

// The bugs the fuzzers found, each as a focused test with the value it must give.

/// `PaymentDue::due_date` added days, weeks and months in `i32` and overflowed (a panic) for
/// terms past the end of chrono's calendar; such a due date is now the creation date, and
/// terms inside the calendar are unchanged.
#[test]
fn payment_terms_of_any_size_give_a_due_date() {
    use recurring_deals::PaymentDue;
    let jan31 = date(2026, 1, 31);
    assert_eq!(PaymentDue::Days(10).due_date(jan31), date(2026, 2, 10));
    assert_eq!(PaymentDue::Months(1).due_date(jan31), date(2026, 2, 28));
    assert_eq!(PaymentDue::Weeks(520).due_date(jan31), date(2036, 1, 19));
    for due in [
        PaymentDue::Days(2_147_483_648),
        PaymentDue::Days(u32::MAX),
        PaymentDue::Weeks(306_783_379),
        PaymentDue::Weeks(u32::MAX),
        PaymentDue::Months(u32::MAX),
    ] {
        assert_eq!(due.due_date(jan31), jan31, "{due:?}");
        assert_eq!(due.due_date(NaiveDate::MIN), NaiveDate::MIN, "{due:?}");
    }
    assert_eq!(
        PaymentDue::EndOfNextMonth.due_date(NaiveDate::MAX),
        NaiveDate::MAX
    );
}

/// `DateOffset::after` added months in `i32` and overflowed the same way.
#[test]
fn date_offsets_of_any_size_give_a_date() {
    use recurring_deals::DateOffset;
    let jan31 = date(2026, 1, 31);
    assert_eq!(DateOffset::Months(13).after(jan31), date(2027, 2, 28));
    assert_eq!(DateOffset::Months(2_147_483_647).after(jan31), jan31);
    assert_eq!(DateOffset::Months(u32::MAX).after(jan31), jan31);
    assert_eq!(DateOffset::Weeks(u32::MAX).after(jan31), jan31);
}

/// A template whose catch-up window reaches back past the start of chrono's time
/// (`window_days` was not bounded) made every tick panic on `now - window`. New drafts are
/// now refused past [`MAX_CATCH_UP_WINDOW_DAYS`], naming the field and the range; a stored
/// template with such a window (written before the bound) still ticks: the window leaves
/// nothing outside it, and a short window still skips what is older.
#[test]
fn a_catch_up_window_longer_than_time_ticks() {
    use chrono::{TimeDelta, TimeZone, Utc};
    use recurring_deals::{
        CatchUpPolicy, Currency, Deal, End, Engine, EngineError, InMemoryRepository, Interval,
        MAX_CATCH_UP_WINDOW_DAYS, ManualClock, Money, Recurrence, Repository, Schedule, SkipReason,
        Template, TemplateDraft, TenantId, ValidationError,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let tenant = TenantId::new("acme").unwrap();
        let draft = |window| {
            let start = date(2026, 1, 1).and_hms_opt(9, 0, 0).unwrap();
            let schedule = Schedule::builder(Recurrence::daily(Interval::ONE), start, Zone::UTC)
                .end(End::Count(5))
                .build()
                .unwrap();
            let deal = Deal::new("Check", Money::new(100, Currency::new("EUR").unwrap())).unwrap();
            let mut draft = TemplateDraft::new(deal, schedule);
            draft.catch_up = CatchUpPolicy {
                window_days: Some(window),
                ..CatchUpPolicy::default()
            };
            draft
        };
        let jan1 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let refused = Engine::new(InMemoryRepository::new(), ManualClock::new(jan1))
            .create_template(&tenant, draft(MAX_CATCH_UP_WINDOW_DAYS + 1))
            .await
            .unwrap_err();
        assert!(
            matches!(
                &refused,
                EngineError::Invalid(ValidationError::OutOfRange {
                    value: 36_501,
                    max: 36_500,
                    ..
                })
            ),
            "{refused}"
        );
        assert!(
            refused.to_string().contains("catch_up.window_days"),
            "{refused}"
        );
        let mut outcomes = Vec::new();
        for window in [u32::MAX, 2] {
            let clock = ManualClock::new(jan1);
            let repository = InMemoryRepository::new();
            let engine = Engine::new(&repository, clock.clone());
            let created = engine.create_template(&tenant, draft(2)).await.unwrap();
            // The row as a release without the bound stored it.
            let mut stored = serde_json::to_value(&created).unwrap();
            stored["catch_up"]["window_days"] = serde_json::json!(window);
            let stored: Template = serde_json::from_value(stored).unwrap();
            let id = repository.allocate_template_id().await.unwrap();
            let mut moved = serde_json::to_value(&stored).unwrap();
            moved["id"] = serde_json::json!(id.0);
            let moved: Template = serde_json::from_value(moved).unwrap();
            engine.delete(&tenant, created.id()).await.unwrap();
            repository.insert_template(&moved).await.unwrap();
            // Down for four days: Jan 1..=4 are due on Jan 4 at 10:00.
            clock.advance(TimeDelta::hours(24 * 3 + 10));
            let report = engine.tick().await.unwrap();
            let skipped: Vec<SkipReason> = report.skipped.iter().map(|s| s.reason).collect();
            outcomes.push((report.created.len(), skipped));
        }
        assert_eq!(outcomes[0], (4, vec![]));
        assert_eq!(
            outcomes[1],
            (
                2,
                vec![SkipReason::OutsideWindow, SkipReason::OutsideWindow]
            )
        );
    });
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}
