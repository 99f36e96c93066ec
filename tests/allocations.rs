//! No heap allocation per yielded occurrence.
//!
//! Method: this test binary installs a counting global allocator, a thin wrapper over
//! `std::alloc::System` that adds one to a per-thread counter on every `alloc`, `alloc_zeroed`
//! and `realloc`. Per-thread, so the harness's other test threads cannot disturb a measurement.
//! Each test creates its iterators first (creating one may allocate: the zone's transition table
//! is built on first use), reads the counter, drains 10,000 occurrences, reads the counter
//! again, and asserts that the difference is zero. Every occurrence is passed through
//! `black_box` so the optimizer cannot drop the work, and the number yielded is checked so a
//! silently empty iterator cannot pass. A control test shows the counter does see allocations,
//! including ones made inside the crate's iterator code, so a zero is a measurement and not a
//! counter that never moves.
//!
//! Series end in 2199, so a monthly or yearly schedule has fewer than 10,000 occurrences: such
//! cases drain several iterators, all created before the count starts.
//!
//! The allocator is the one place this crate's code needs `unsafe`: implementing `GlobalAlloc`
//! is unsafe by definition. It forwards every call unchanged to `System`.
//!
//! Run with `cargo test --release --test allocations`.

// Implementing `GlobalAlloc` cannot be done without `unsafe`; see the module docs.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;

use chrono::{DateTime, Month, NaiveDate, NaiveDateTime, TimeZone, Utc, Weekday};
use recurring_deals::Zone;
use recurring_deals::*;

struct CountingAllocator;

thread_local! {
    // A const-initialized `Cell<u64>` needs no lazy registration or destructor, so touching it
    // from inside the allocator never allocates or recurses.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count_one() {
    // `try_with`: the slot is gone while a thread is being torn down; those allocations are
    // not part of any measurement.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: every method forwards its arguments unchanged to `System`, which upholds the
// `GlobalAlloc` contract; the counting touches only a thread-local `Cell`.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: the caller's guarantees for `layout` are passed on as they are.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: `ptr` was allocated by `System` (every allocation goes through this wrapper)
        // with `layout`, as the caller guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for `realloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Allocations made by this thread so far.
fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// Runs `f` and returns its result with the number of allocations this thread made during it.
fn allocations_during<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let before = allocations();
    let value = f();
    (value, allocations() - before)
}

const OCCURRENCES: usize = 10_000;

fn at(y: i32, m: u32, d: u32, h: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(y, m, d)
        .unwrap()
        .and_hms_opt(h, 0, 0)
        .unwrap()
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn build(recurrence: Recurrence, start: NaiveDateTime, zone: Zone) -> ScheduleBuilder {
    Schedule::builder(recurrence, start, zone)
}

fn day_31() -> MonthDay {
    MonthDay::Day(DayOfMonth::new(31).unwrap())
}

/// A Russian-style production calendar: weekends, New Year holidays and fixed holidays in
/// every year of the series, and a few working Saturdays.
fn calendar() -> WorkingCalendar {
    let mut holidays = Vec::new();
    let mut working = Vec::new();
    for year in 2020..=2199 {
        holidays.extend((1..=8).map(|d| day(year, 1, d)));
        holidays.extend([
            day(year, 2, 23),
            day(year, 3, 8),
            day(year, 5, 1),
            day(year, 5, 9),
            day(year, 6, 12),
            day(year, 11, 4),
        ]);
        // The last Saturday of December becomes a working day (it is never a holiday here).
        let last = day(year, 12, 31);
        let back = (chrono::Datelike::weekday(&last).num_days_from_monday() + 7
            - Weekday::Sat.num_days_from_monday())
            % 7;
        let saturday = last - chrono::Days::new(u64::from(back));
        working.push(saturday);
    }
    WorkingCalendar::new([Weekday::Sat, Weekday::Sun], holidays, working).unwrap()
}

/// The structured schedules the claim covers, by name.
fn schedules() -> Vec<(&'static str, Schedule)> {
    let ny = Zone::get("America/New_York").unwrap();
    let moscow = Zone::get("Europe/Moscow").unwrap();
    let one = Interval::ONE;
    let mo_we_fr = WeekdaySet::new([Weekday::Mon, Weekday::Wed, Weekday::Fri]).unwrap();
    let last_friday = MonthDay::Weekday {
        ordinal: Ordinal::Last,
        weekday: Weekday::Fri,
    };
    let feb_29 = MonthDay::Day(DayOfMonth::new(29).unwrap());
    let third_working_day = MonthDay::WorkingDay(WorkingDayNumber::new(3).unwrap());
    let cases = [
        (
            "daily",
            build(Recurrence::daily(one), at(2020, 1, 1, 9), ny),
        ),
        (
            "daily, every 3, count",
            build(
                Recurrence::daily(Interval::new(3).unwrap()),
                at(2020, 1, 1, 9),
                moscow,
            )
            .end(End::Count(50_000)),
        ),
        (
            "weekly MO,WE,FR",
            build(Recurrence::weekly(one, mo_we_fr), at(2020, 1, 6, 9), ny),
        ),
        (
            "monthly 31 clamp",
            build(
                Recurrence::monthly(one, day_31()),
                at(2020, 1, 31, 9),
                moscow,
            )
            .overflow(Overflow::Clamp),
        ),
        (
            "monthly 31 skip",
            build(
                Recurrence::monthly(one, day_31()),
                at(2020, 1, 31, 9),
                moscow,
            )
            .overflow(Overflow::Skip),
        ),
        (
            "monthly last friday",
            build(
                Recurrence::monthly(one, last_friday),
                at(2020, 1, 31, 9),
                ny,
            ),
        ),
        (
            "yearly feb 29 skip",
            build(
                Recurrence::yearly(one, Month::February, feb_29),
                at(2024, 2, 29, 9),
                ny,
            )
            .overflow(Overflow::Skip),
        ),
        (
            "yearly feb 29 clamp",
            build(
                Recurrence::yearly(one, Month::February, feb_29),
                at(2024, 2, 29, 9),
                ny,
            ),
        ),
        (
            "working days with holidays",
            build(
                Recurrence::WorkingDay { interval: one },
                at(2020, 1, 9, 9),
                moscow,
            )
            .calendar(calendar()),
        ),
        (
            "3rd working day of the month with holidays",
            build(
                Recurrence::monthly(one, third_working_day),
                at(2020, 1, 1, 9),
                moscow,
            )
            .calendar(calendar()),
        ),
        (
            "monthly 31 clamp, following working day",
            build(
                Recurrence::monthly(one, day_31()),
                at(2020, 1, 31, 9),
                moscow,
            )
            .calendar(calendar())
            .adjustment(Adjustment::Following),
        ),
        (
            "daily with skips, a move and an extra date",
            build(Recurrence::daily(one), at(2020, 1, 1, 9), ny)
                .skip(day(2020, 1, 3))
                .skip(day(2030, 7, 4))
                .skip(day(2040, 12, 25))
                .move_occurrence(day(2035, 5, 5), at(2035, 5, 5, 15))
                .extra(at(2045, 6, 1, 21)),
        ),
        (
            "weekly MO,WE,FR with skips",
            build(Recurrence::weekly(one, mo_we_fr), at(2020, 1, 6, 9), ny)
                .skip(day(2020, 1, 8))
                .skip(day(2050, 1, 7)),
        ),
        (
            "monthly last friday with a skip",
            build(
                Recurrence::monthly(one, last_friday),
                at(2020, 1, 31, 9),
                ny,
            )
            .skip(day(2030, 5, 31)),
        ),
    ];
    let mut all: Vec<(&'static str, Schedule)> = cases
        .into_iter()
        .map(|(name, builder)| {
            let schedule = builder.build().unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, schedule)
        })
        .collect();
    // Read from RFC 5545 text (the structured fast path), with an EXDATE.
    let parsed = Schedule::from_rrule(
        "DTSTART;TZID=Europe/Moscow:20200131T090000\n\
         RRULE:FREQ=MONTHLY;BYMONTHDAY=31\n\
         EXDATE;TZID=Europe/Moscow:20200331T090000",
    )
    .unwrap();
    assert!(
        parsed.recurrence().is_some(),
        "expected the structured path"
    );
    all.push(("parsed monthly 31 with EXDATE", parsed));
    for (name, schedule) in &all {
        assert!(schedule.recurrence().is_some(), "{name}: not structured");
    }
    all
}

/// Takes up to `n` occurrences from the iterators in turn, checking each iterator's instants
/// increase; returns how many were yielded.
fn drain(iterators: &mut [Occurrences<'_>], n: usize) -> usize {
    let mut yielded = 0;
    for iterator in iterators {
        let mut previous: Option<DateTime<Utc>> = None;
        for occurrence in iterator {
            let occurrence = black_box(occurrence);
            assert!(previous.is_none_or(|p| p < occurrence.at()));
            previous = Some(occurrence.at());
            yielded += 1;
            if yielded == n {
                return yielded;
            }
        }
    }
    yielded
}

#[test]
fn the_counter_sees_allocations() {
    let (_, none) = allocations_during(|| black_box(3u64).pow(2));
    assert_eq!(none, 0);
    let (_, one) = allocations_during(|| black_box(Vec::<u64>::with_capacity(8)));
    assert_eq!(one, 1);
    // Allocations inside the crate's iterator code path count too: collecting is the control.
    let schedule = build(
        Recurrence::daily(Interval::ONE),
        at(2020, 1, 1, 9),
        Zone::get("Europe/Moscow").unwrap(),
    )
    .build()
    .unwrap();
    let (collected, some) =
        allocations_during(|| schedule.occurrences().take(100).collect::<Vec<_>>());
    assert_eq!(collected.len(), 100);
    assert!(some > 0);
}

#[test]
fn iterating_from_the_start_allocates_nothing_per_occurrence() {
    for (name, schedule) in schedules() {
        let per_iterator = schedule.occurrences().take(OCCURRENCES).count();
        assert!(per_iterator > 0, "{name}: no occurrences");
        let mut iterators: Vec<Occurrences<'_>> = (0..OCCURRENCES.div_ceil(per_iterator))
            .map(|_| schedule.occurrences())
            .collect();
        let (yielded, allocated) = allocations_during(|| drain(&mut iterators, OCCURRENCES));
        assert_eq!(yielded, OCCURRENCES, "{name}");
        assert_eq!(allocated, 0, "{name}: allocations while iterating");
    }
}

#[test]
fn iterating_after_a_seek_allocates_nothing_per_occurrence() {
    for (name, schedule) in schedules() {
        // Seek to points spread over the series (one every 5 years from 2021), then drain.
        let seeks: Vec<DateTime<Utc>> = (0..36)
            .map(|k| Utc.with_ymd_and_hms(2021 + 5 * k, 6, 15, 0, 0, 0).unwrap())
            .collect();
        let mut iterators: Vec<Occurrences<'_>> = Vec::new();
        let mut available = 0;
        for &after in seeks.iter().cycle().take(10_000) {
            if available >= OCCURRENCES {
                break;
            }
            available += schedule.occurrences_after(after).take(OCCURRENCES).count();
            iterators.push(schedule.occurrences_after(after));
        }
        assert!(
            available >= OCCURRENCES,
            "{name}: only {available} occurrences"
        );
        let (yielded, allocated) = allocations_during(|| drain(&mut iterators, OCCURRENCES));
        assert_eq!(yielded, OCCURRENCES, "{name}");
        assert_eq!(allocated, 0, "{name}: allocations while iterating");
    }
}

#[test]
fn general_rules_allocate_nothing_per_occurrence() {
    // Rules outside the structured vocabulary, listed from their day masks: the buffers are
    // allocated when the iterator is created.
    let texts = [
        "DTSTART;TZID=America/New_York:20200101T000000\nRRULE:FREQ=DAILY;BYHOUR=0,2,12",
        "DTSTART;TZID=Europe/Berlin:20200101T090000\nRRULE:FREQ=YEARLY;BYDAY=FR,-1MO",
        "DTSTART:20200101T090000\nRRULE:FREQ=MONTHLY;BYDAY=MO,TU;BYSETPOS=1,-1",
        "DTSTART:20200101T090000\nRRULE:FREQ=YEARLY;BYWEEKNO=1,26,-1;BYDAY=MO,FR;WKST=SU",
        "DTSTART;TZID=Pacific/Apia:20111201T080000\nRRULE:FREQ=DAILY;BYMONTH=12,1;COUNT=9000",
    ];
    for text in texts {
        let schedule = Schedule::from_rrule(text).unwrap();
        assert!(schedule.recurrence().is_none(), "{text}: not general");
        let after = Utc.with_ymd_and_hms(2031, 6, 15, 0, 0, 0).unwrap();
        for start in [None, Some(after)] {
            let iterator = || match start {
                None => schedule.occurrences(),
                Some(after) => schedule.occurrences_after(after),
            };
            let per_iterator = iterator().take(OCCURRENCES).count();
            assert!(per_iterator > 0, "{text}: no occurrences");
            let mut iterators: Vec<Occurrences<'_>> = (0..OCCURRENCES.div_ceil(per_iterator))
                .map(|_| iterator())
                .collect();
            let (yielded, allocated) = allocations_during(|| drain(&mut iterators, OCCURRENCES));
            assert_eq!(yielded, OCCURRENCES, "{text}");
            assert_eq!(allocated, 0, "{text}: allocations while iterating");
        }
    }
}
