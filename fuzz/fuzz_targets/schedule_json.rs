//! Fuzzes the JSON form of a schedule: refused with a typed error, or checked as
//! `tests/fuzz_checks/mod.rs` says (round trips, descriptions, the stores).
#![no_main]

#[allow(dead_code)]
#[path = "../../tests/fuzz_checks/mod.rs"]
mod checks;
mod json_mutator;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::schedule_json(data));

libfuzzer_sys::fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    json_mutator::mutate(data, size, max_size, seed)
});
