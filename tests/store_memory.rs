//! The repository conformance suite against the in-memory reference store (which defines the
//! contract: this run checks the suite itself as much as the store).

mod conformance;

use recurring_deals::InMemoryRepository;

fn run(case: fn(&dyn Fn() -> InMemoryRepository)) {
    case(&InMemoryRepository::new);
}

conformance::conformance_tests!(run);

/// `run_all` runs the same cases in one go.
#[test]
fn run_all_passes() {
    conformance::run_all(InMemoryRepository::new);
}
