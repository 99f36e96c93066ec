//! The SQLite store: the conformance suite on database files, and what is SQLite's own: schema
//! versions, corrupted rows, several threads on one store.
#![cfg(feature = "sqlite")]

mod conformance;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use recurring_deals::SqliteRepository;

/// A directory of its own under the system's temp dir, removed on drop (also when a test
/// panics: the stores, locals of the case, are dropped first).
struct TempDir(PathBuf);

impl TempDir {
    fn new(what: &str) -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "recurring-deals-{what}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs a conformance case on fresh database files.
fn run(case: fn(&dyn Fn() -> SqliteRepository)) {
    let dir = TempDir::new("conformance");
    let next = AtomicU64::new(0);
    let make = || {
        let n = next.fetch_add(1, Ordering::Relaxed);
        SqliteRepository::open(dir.path().join(format!("store-{n}.db"))).unwrap()
    };
    case(&make);
}

conformance::conformance_tests!(run);

/// The in-memory database runs the same schema and queries.
#[test]
fn conformance_in_memory() {
    conformance::run_all(|| SqliteRepository::open_in_memory().unwrap());
}

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Barrier};

use chrono::TimeDelta;
use conformance::{create_daily, engine_at, local, t0, tenant, utc};
use recurring_deals::{
    DealKey, Engine, EventKind, ManualClock, Repository, TemplateId, TemplateQuery,
};

/// Reads the applied schema versions straight from the file.
fn schema_versions(path: &Path) -> Vec<i64> {
    let connection = rusqlite::Connection::open(path).unwrap();
    let mut select = connection
        .prepare("SELECT version FROM schema_version ORDER BY version")
        .unwrap();
    select
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<rusqlite::Result<Vec<i64>>>()
        .unwrap()
}

/// A new file gets the current schema, in WAL mode; reopening keeps the data and applies
/// nothing twice; the id allocator continues.
#[test]
fn reopening_keeps_data_and_schema() {
    let dir = TempDir::new("reopen");
    let path = dir.path().join("deals.db");
    let acme = tenant("acme");
    let first = {
        let repository = SqliteRepository::open(&path).unwrap();
        create_daily(&repository, &acme, t0(), local(2026, 3, 1, 9, 0))
    };
    assert_eq!(
        schema_versions(&path),
        (1..=i64::from(SqliteRepository::SCHEMA_VERSION)).collect::<Vec<_>>()
    );
    let mode: String = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");

    let repository = SqliteRepository::open(&path).unwrap();
    assert_eq!(
        repository.template(&acme, first.id()).unwrap(),
        Some(first.clone())
    );
    let second = create_daily(&repository, &acme, t0(), local(2026, 3, 1, 9, 0));
    assert!(second.id() > first.id());
    assert_eq!(schema_versions(&path).len(), 1);
}

/// A database written by a newer release is refused, naming both versions, and left as is.
#[test]
fn newer_schema_version_is_a_clear_error() {
    let dir = TempDir::new("schema");
    let path = dir.path().join("deals.db");
    drop(SqliteRepository::open(&path).unwrap());
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute("INSERT INTO schema_version (version) VALUES (7)", [])
        .unwrap();
    let error = SqliteRepository::open(&path).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("schema version 7"), "{message}");
    assert!(
        message.contains(&format!("version {}", SqliteRepository::SCHEMA_VERSION)),
        "{message}"
    );
    assert!(message.contains("deals.db"), "{message}");
    assert_eq!(schema_versions(&path), vec![1, 7]);
}

/// A file that is not a database is an error naming it, not a panic.
#[test]
fn a_file_that_is_not_a_database_is_an_error() {
    let dir = TempDir::new("garbage");
    let path = dir.path().join("notes.db");
    std::fs::write(&path, vec![b'x'; 4096]).unwrap();
    let message = SqliteRepository::open(&path).unwrap_err().to_string();
    assert!(message.contains("notes.db"), "{message}");
}

/// A template row with unreadable JSON is an error naming the template when read; due
/// loading skips it, so a tick still processes the other templates; once repaired it is
/// read again.
#[test]
fn a_corrupted_template_is_reported_and_the_others_keep_running() {
    let dir = TempDir::new("corrupt");
    let path = dir.path().join("deals.db");
    let repository = SqliteRepository::open(&path).unwrap();
    let acme = tenant("acme");
    // The corrupted one is due first, so it would take the first slot of a batch.
    let bad = create_daily(&repository, &acme, t0(), local(2026, 3, 1, 8, 0));
    let good: Vec<_> = (9..12)
        .map(|h| create_daily(&repository, &acme, t0(), local(2026, 3, 1, h, 0)))
        .collect();
    let other = tenant("other");
    let wrong = create_daily(&repository, &other, t0(), local(2026, 3, 1, 8, 30));

    // Another connection (an operator, a disk error) damages two rows: unreadable JSON, and
    // a readable body that belongs to another template.
    let editor = rusqlite::Connection::open(&path).unwrap();
    let original: String = editor
        .query_row(
            "SELECT body FROM templates WHERE id = ?1",
            [bad.id().0],
            |row| row.get(0),
        )
        .unwrap();
    editor
        .execute(
            "UPDATE templates SET body = ?1 WHERE id = ?2",
            rusqlite::params![&original[..original.len() / 2], bad.id().0],
        )
        .unwrap();
    editor
        .execute(
            "UPDATE templates SET body = (SELECT body FROM templates WHERE id = ?1) \
             WHERE id = ?2",
            [good[0].id().0, wrong.id().0],
        )
        .unwrap();

    let message = repository
        .template(&acme, bad.id())
        .unwrap_err()
        .to_string();
    assert!(message.contains(&bad.id().to_string()), "{message}");
    assert!(message.contains("acme"), "{message}");
    let message = repository
        .template(&other, wrong.id())
        .unwrap_err()
        .to_string();
    assert!(message.contains(&wrong.id().to_string()), "{message}");
    let message = repository
        .list_templates(&acme, &TemplateQuery::default())
        .unwrap_err()
        .to_string();
    assert!(message.contains(&bad.id().to_string()), "{message}");

    // A batch of 2 still gets 2 readable templates.
    let noon = utc(2026, 3, 1, 12, 0);
    let due: Vec<TemplateId> = repository
        .due_templates(noon, 2)
        .unwrap()
        .iter()
        .map(|t| t.id())
        .collect();
    assert_eq!(due, vec![good[0].id(), good[1].id()]);
    let report = engine_at(&repository, noon).tick().unwrap();
    let expected: BTreeSet<DealKey> = good.iter().map(|t| conformance::key(t.id(), 0)).collect();
    assert_eq!(
        report.created.iter().copied().collect::<BTreeSet<_>>(),
        expected
    );
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    let corrupt: Vec<TemplateId> = repository
        .corrupt_templates()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(corrupt, vec![bad.id(), wrong.id()]);

    // Repaired, it runs again and leaves the log.
    editor
        .execute(
            "UPDATE templates SET body = ?1 WHERE id = ?2",
            rusqlite::params![original, bad.id().0],
        )
        .unwrap();
    let report = engine_at(&repository, noon).tick().unwrap();
    assert_eq!(report.created, vec![conformance::key(bad.id(), 0)]);
    let corrupt: Vec<TemplateId> = repository
        .corrupt_templates()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(corrupt, vec![wrong.id()]);
}

/// Several threads, on two connections to one file, tick the same days at once: every
/// occurrence is created exactly once, announced once, and counted once.
#[test]
fn threads_ticking_one_store_create_no_duplicate() {
    const TEMPLATES: u32 = 120;
    const DAYS: i64 = 20;
    const THREADS: usize = 4;
    let dir = TempDir::new("threads");
    let path = dir.path().join("deals.db");
    let stores = [
        Arc::new(SqliteRepository::open(&path).unwrap()),
        Arc::new(SqliteRepository::open(&path).unwrap()),
    ];
    let acme = tenant("acme");
    // Daily at minutes past 09:00 UTC, from Mar 1.
    let mut starts = BTreeMap::new();
    for i in 0..TEMPLATES {
        let start = local(2026, 3, 1, 9, 0) + TimeDelta::minutes(i64::from(i));
        let t = create_daily(&*stores[0], &acme, t0(), start);
        starts.insert(t.id(), start.and_utc());
    }
    let barrier = Arc::new(Barrier::new(THREADS));
    let (reported, conflicts) = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|n| {
                let store = Arc::clone(&stores[n % 2]);
                let barrier = Arc::clone(&barrier);
                scope.spawn(move || {
                    let clock = ManualClock::new(t0());
                    let engine = Engine::new(store, clock.clone());
                    let mut created = 0;
                    let mut conflicts = 0;
                    for day in 0..DAYS {
                        clock.set(t0() + TimeDelta::days(day) + TimeDelta::hours(12));
                        barrier.wait();
                        let report = engine.tick().unwrap();
                        assert!(report.failures.is_empty(), "{:?}", report.failures);
                        created += report.created.len();
                        conflicts += report.conflicts;
                    }
                    (created, conflicts)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .fold((0, 0), |(a, b), (c, d)| (a + c, b + d))
    });
    // The workers did race (else this proves nothing): they loaded the same due templates.
    assert!(conflicts > 0, "no conflicts between the workers");

    // Day d's tick at 12:00 creates every occurrence up to day d 11:00: d + 1 per template.
    let per_template = DAYS as usize;
    let deals = stores[1].deals(&acme, None).unwrap();
    assert_eq!(deals.len(), TEMPLATES as usize * per_template);
    assert_eq!(reported, deals.len(), "a deal was reported by two workers");
    let mut by_template: BTreeMap<TemplateId, Vec<_>> = BTreeMap::new();
    for deal in &deals {
        by_template
            .entry(deal.key.template())
            .or_default()
            .push(deal.nominal_at);
    }
    for (id, start) in &starts {
        let expected: Vec<_> = (0..DAYS).map(|d| *start + TimeDelta::days(d)).collect();
        assert_eq!(by_template[id], expected, "{id}");
        let template = stores[0].template(&acme, *id).unwrap().unwrap();
        assert_eq!(template.counters().created_by_schedule, DAYS as u64);
    }
    let mut announced = BTreeSet::new();
    for event in stores[0].outbox(usize::MAX).unwrap() {
        if let EventKind::DealCreated { deal, .. } = event.kind {
            assert!(announced.insert(deal), "{deal} announced twice");
        }
    }
    assert_eq!(announced.len(), deals.len());
}

/// An unreadable deal is an error naming its key; an unreadable invoice is skipped by due
/// loading (the other reminders still go out) and an error when read by key.
#[test]
fn corrupted_deals_and_invoices_are_named_or_skipped() {
    let dir = TempDir::new("corrupt-rows");
    let path = dir.path().join("deals.db");
    let repository = SqliteRepository::open(&path).unwrap();
    let acme = tenant("acme");
    let t = create_daily(&repository, &acme, t0(), local(2026, 3, 1, 9, 0));
    let k0 = conformance::key(t.id(), 0);
    let k1 = conformance::key(t.id(), 1);
    let noon = utc(2026, 3, 2, 12, 0);
    let mut commit = conformance::bare(&t);
    commit.deals = vec![conformance::created_deal(
        &acme,
        k0,
        "d",
        utc(2026, 3, 1, 9, 0),
    )];
    commit.invoices = vec![
        conformance::open_invoice(&acme, k0, &[noon]),
        conformance::open_invoice(&acme, k1, &[noon]),
    ];
    repository.commit(commit).unwrap();

    let editor = rusqlite::Connection::open(&path).unwrap();
    editor
        .execute("UPDATE deals SET body = 'garbage' WHERE seq = 0", [])
        .unwrap();
    editor
        .execute("UPDATE invoices SET body = '{}' WHERE seq = 0", [])
        .unwrap();
    let message = repository.deals(&acme, None).unwrap_err().to_string();
    assert!(message.contains(&k0.to_string()), "{message}");
    let message = repository.deal(&acme, k0).unwrap_err().to_string();
    assert!(message.contains(&k0.to_string()), "{message}");
    let message = repository.invoice(&acme, k0).unwrap_err().to_string();
    assert!(message.contains(&k0.to_string()), "{message}");
    let due: Vec<DealKey> = repository
        .due_invoices(noon, 10)
        .unwrap()
        .iter()
        .map(|i| i.deal)
        .collect();
    assert_eq!(due, vec![k1]);
}
