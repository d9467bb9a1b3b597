//! Zone names and week boundaries.

use availability_server::week::grid::{
    CellMap, current_week_start, week_end_unix_secs, week_start_of,
};
use availability_server::week::zones;
use chrono::Datelike;

use super::{TRANSITION_WEEKS, date, unix_secs, zone};

#[test]
fn zone_lookup() {
    assert!(zones::count() > 400);
    zones::init();
    for spelling in ["asia/TOKYO", "Asia/Tokyo", "ASIA/TOKYO"] {
        assert_eq!(
            zones::lookup(spelling.as_bytes()).map(zones::name),
            Some("Asia/Tokyo")
        );
    }
    assert_eq!(
        zones::lookup(b"america/port-au-prince").map(zones::name),
        Some("America/Port-au-Prince")
    );
    assert_eq!(zones::name(zones::utc()), "UTC");
    assert_eq!(zones::tz(zone("Europe/Paris")), chrono_tz::Europe::Paris);
    assert_eq!(zones::id_of(chrono_tz::Europe::Paris), zone("europe/paris"));
    for garbage in [
        &b""[..],
        b"Mars/Olympus",
        b"Asia/",
        b"Asia/Tokyo\0",
        b"\xc3\x28",
        b"/",
    ] {
        assert_eq!(zones::lookup(garbage), None, "{garbage:?}");
    }
    assert_eq!(zones::lookup("x".repeat(65).as_bytes()), None);
    assert_eq!(zones::all().count(), zones::count());
}

#[test]
fn week_boundaries_by_hand() {
    let tokyo = zone("Asia/Tokyo");
    // 2026-11-27T12:00Z is Friday 21:00 JST.
    assert_eq!(
        current_week_start(tokyo, unix_secs("2026-11-27T12:00:00Z")),
        date(2026, 11, 23)
    );
    // That week ends Monday 2026-11-30 00:00 JST = 2026-11-29T15:00Z.
    let end_secs = week_end_unix_secs(tokyo, date(2026, 11, 23));
    assert_eq!(end_secs, unix_secs("2026-11-29T15:00:00Z"));
    assert_eq!(current_week_start(tokyo, end_secs - 1), date(2026, 11, 23));
    assert_eq!(current_week_start(tokyo, end_secs), date(2026, 11, 30));
    // Los Angeles: Monday 2026-11-30 00:00 PST (-8) = 08:00Z.
    let la = zone("America/Los_Angeles");
    assert_eq!(
        current_week_start(la, unix_secs("2026-11-30T07:59:59Z")),
        date(2026, 11, 23)
    );
    assert_eq!(
        week_end_unix_secs(la, date(2026, 11, 23)),
        unix_secs("2026-11-30T08:00:00Z")
    );
    // New York weeks ending after its changes: Monday 00:00 EDT (-4) and EST (-5).
    let ny = zone("America/New_York");
    assert_eq!(
        week_end_unix_secs(ny, date(2026, 3, 2)),
        unix_secs("2026-03-09T04:00:00Z")
    );
    assert_eq!(
        week_end_unix_secs(ny, date(2026, 10, 26)),
        unix_secs("2026-11-02T05:00:00Z")
    );
    // Tehran skipped Monday 2021-03-22 00:00 (+3:30 -> +4:30): the week ends when the
    // jump happens, 2021-03-21T20:30Z.
    let tehran = zone("Asia/Tehran");
    assert_eq!(
        week_end_unix_secs(tehran, date(2021, 3, 15)),
        unix_secs("2021-03-21T20:30:00Z")
    );
    assert_eq!(week_start_of(date(2026, 11, 29)), date(2026, 11, 23));
    assert_eq!(week_start_of(date(2026, 11, 30)), date(2026, 11, 30));
    assert_eq!(week_start_of(date(2026, 11, 23)), date(2026, 11, 23));
}

#[test]
fn week_end_is_where_the_current_week_rolls_over_in_every_zone() {
    for viewer in zones::all() {
        for &(year, month, day) in &TRANSITION_WEEKS {
            let week_start = date(year, month, day);
            let end_secs = week_end_unix_secs(viewer, week_start);
            let next = week_start + chrono::Days::new(7);
            let name = zones::name(viewer);
            assert_eq!(
                current_week_start(viewer, end_secs - 1),
                week_start,
                "{name}"
            );
            assert_eq!(current_week_start(viewer, end_secs), next, "{name}");
        }
    }
}

#[test]
fn supported_dates_never_panic() {
    let first = date(1900, 1, 1);
    let last = date(2099, 12, 31);
    let sitka = zone("America/Sitka");
    let kiritimati = zone("Pacific/Kiritimati");
    let mut day = first;
    let mut day_count = 0u32;
    while day <= last {
        let week_start = week_start_of(day);
        assert!(week_start <= day && (day - week_start).num_days() < 7);
        assert_eq!(week_start.weekday(), chrono::Weekday::Mon);
        if day == week_start {
            // Every week: the cheap calls; every 50th week, a full map in both directions.
            let end_secs = week_end_unix_secs(kiritimati, week_start);
            assert_eq!(current_week_start(kiritimati, end_secs - 1), week_start);
            if day_count.is_multiple_of(350) {
                CellMap::build(sitka, kiritimati, week_start);
                CellMap::build(kiritimati, sitka, week_start);
            }
        }
        day = day.succ_opt().expect("inside chrono's range");
        day_count += 1;
    }
    assert_eq!(
        current_week_start(zones::utc(), i64::MIN),
        week_start_of(current_week_start(zones::utc(), i64::MIN))
    );
    current_week_start(kiritimati, i64::MAX);
}

/// Counts heap allocations made by the current thread (tests run on several threads).
struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

// SAFETY: forwards every call unchanged to the system allocator.
unsafe impl std::alloc::GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { std::alloc::System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: `ptr` came from `alloc` above, i.e. from `System`.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static COUNTING_ALLOCATOR: CountingAllocator = CountingAllocator;

fn allocations_during(work: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(std::cell::Cell::get);
    work();
    ALLOCATIONS.with(std::cell::Cell::get) - before
}

#[test]
fn read_path_calls_do_not_allocate() {
    zones::init();
    let map = CellMap::build(zones::utc(), zone("Asia/Kathmandu"), date(2026, 3, 2));
    let week = availability_server::week::Week::empty();
    let names: [&[u8]; 5] = [b"asia/TOKYO", b"UTC", b"Nowhere/Else", b"\xff", b""];
    let count = allocations_during(|| {
        for name in names {
            std::hint::black_box(zones::lookup(std::hint::black_box(name)));
        }
        std::hint::black_box(map.apply(&week));
        std::hint::black_box(current_week_start(zone("Asia/Tokyo"), 1_795_780_800));
    });
    assert_eq!(count, 0);
    // The counter works: building a map allocates.
    let build = || drop(CellMap::build(zones::utc(), zones::utc(), date(2026, 3, 2)));
    assert!(allocations_during(build) > 0);
}

/// The supported range ends where chrono-tz's DST data does: it expands the recurring
/// rules only through 2099. If a chrono-tz release extends them, the second half of this
/// test fails, and `LAST_SUPPORTED_DATE` can move on.
#[test]
fn the_last_supported_year_still_has_dst_and_the_next_does_not() {
    use availability_server::week::grid::LAST_SUPPORTED_DATE;
    use chrono::{Offset, TimeZone};
    assert_eq!(LAST_SUPPORTED_DATE, date(2099, 12, 31));
    let utc_offset_secs = |tz: chrono_tz::Tz, year: i32, month: u32| {
        let instant = chrono::Utc
            .with_ymd_and_hms(year, month, 15, 12, 0, 0)
            .unwrap();
        tz.offset_from_utc_datetime(&instant.naive_utc())
            .fix()
            .local_minus_utc()
    };
    let new_york = chrono_tz::America::New_York;
    let sydney = chrono_tz::Australia::Sydney;
    // 2099: summer time in both hemispheres, as in every year before.
    assert_eq!(utc_offset_secs(new_york, 2099, 7), -4 * 3600);
    assert_eq!(utc_offset_secs(new_york, 2099, 12), -5 * 3600);
    assert_eq!(utc_offset_secs(sydney, 2099, 1), 11 * 3600);
    assert_eq!(utc_offset_secs(sydney, 2099, 7), 10 * 3600);
    // 2100: no New York summer time (the tz rules say there is).
    assert_eq!(utc_offset_secs(new_york, 2100, 7), -5 * 3600);
}
