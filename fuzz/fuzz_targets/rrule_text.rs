//! Fuzzes RFC 5545 text (DTSTART, RRULE, EXDATE, RDATE and X-RD-* lines): refused with a
//! typed error, or checked as `tests/fuzz_checks/mod.rs` says (round trips, descriptions,
//! the stores).
#![no_main]

#[allow(dead_code)]
#[path = "../../tests/fuzz_checks/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::rrule_text(data));
