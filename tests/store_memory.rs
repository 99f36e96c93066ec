//! The repository conformance suite against the in-memory reference store (which defines the
//! contract: this run checks the suite itself as much as the store).

mod conformance;

use conformance::Make;
use recurring_deals::InMemoryRepository;

async fn run(_case: &'static str) -> Option<((), Box<Make<InMemoryRepository>>)> {
    Some((
        (),
        conformance::make(|| async { InMemoryRepository::new() }),
    ))
}

conformance::conformance_tests!(run);

/// `run_all` runs the same cases in one go.
#[tokio::test]
async fn run_all_passes() {
    conformance::run_all(&*conformance::make(|| async { InMemoryRepository::new() })).await;
}
