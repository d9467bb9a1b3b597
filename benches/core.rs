//! Micro-benchmarks of the pieces a request or a write touches: head parsing,
//! query parsing + zone lookup, one zone's grid (a plain week and a DST week), the
//! calendar of every zone, a full snapshot rebuild, single-slot rendering, the
//! `Date` header, and PATCH bodies (a full batch, and a 16 KiB body built to make
//! the duplicate-key check work hard); plus whole requests through the real worker
//! over the in-memory transport (parse, route, zone lookup, answer, flush), which
//! is routing measured in place.
//!
//! Run with `make bench` (`cargo bench --bench core`). Measurement is kept short
//! (2 s, 20 samples) so the whole suite finishes in about two minutes on 2 cores;
//! pass `-- <filter>` to run a subset, e.g. `cargo bench --bench core -- parse`.

use std::hint::black_box;
use std::mem::MaybeUninit;
use std::time::Duration;

use availability_server::api::parse_patch_body;
use availability_server::http::date::{IMF_FIXDATE_LEN, format_imf_fixdate};
use availability_server::http::memo::HeadMemo;
use availability_server::http::query::{MAX_TZ_LEN_BYTES, parse_read_params};
use availability_server::http::request::parse_head;
use availability_server::http::response::ByteWriter;
use availability_server::snapshot::Calendar;
use availability_server::snapshot::json::render_slot;
use availability_server::week::grid::CellMap;
use availability_server::week::zones::{self, ZoneId};
use availability_server::week::{SLOTS_PER_DAY, Status, Week};
use chrono::NaiveDate;
use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};

/// The server's default `--max-head-bytes`.
const MAX_HEAD_LEN_BYTES: usize = 8192;

/// 2026-11-25T12:00:00Z, a Wednesday far from any DST change in the zones used here.
const NOW_UNIX_S: i64 = 1_795_608_000;

/// What a browser-ish client sends for a single-slot read.
const GET_HEAD: &[u8] = b"GET /availability/slot?tz=Asia/Kolkata&day=2&time=14:00 HTTP/1.1\r\n\
Host: availability.example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: application/json\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br\r\n\
Connection: keep-alive\r\n\r\n";

/// A write: bearer key and a JSON body announced by Content-Length (body not included).
const PATCH_HEAD: &[u8] = b"PATCH /availability HTTP/1.1\r\n\
Host: availability.example.com\r\n\
User-Agent: curl/8.5.0\r\n\
Accept: */*\r\n\
Authorization: Bearer 3q2-7W_kP9xRzL0aVbN4cDfGhJmS8tYuE1iOwQ6nB5v\r\n\
Content-Type: application/json\r\n\
Content-Length: 96\r\n\r\n";

/// What wrk and loadgen send (the load tests' request).
const WRK_HEAD: &[u8] =
    b"GET /availability/slot?tz=Asia/Kolkata&day=2&time=14:00 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";

/// The query of a typical slot read.
const SLOT_QUERY: &[u8] = b"tz=America/New_York&day=2&time=14:00";

fn zone(name: &str) -> ZoneId {
    zones::lookup(name.as_bytes()).expect("benchmark zones are IANA names")
}

fn week_start() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 23).expect("2026-11-23 is a date")
}

/// Working hours available Monday to Friday, lunch `maybe`, the rest unavailable.
fn office_week() -> Week {
    let mut week = Week::empty();
    for day in 0..5 {
        for slot in 18..34 {
            week.set(day, slot, Status::Available);
        }
        week.set(day, 24, Status::Maybe);
        week.set(day, 25, Status::Maybe);
    }
    week
}

fn bench_parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse_head");
    let heads = [
        ("get_browser", GET_HEAD),
        ("get_wrk", WRK_HEAD),
        ("patch", PATCH_HEAD),
    ];
    for (name, head) in heads {
        assert!(
            parse_head(head, MAX_HEAD_LEN_BYTES).is_ok(),
            "{name} head must parse"
        );
        group.throughput(Throughput::Bytes(head.len() as u64));
        group.bench_with_input(BenchmarkId::new("parse_head", name), head, |b, head| {
            b.iter(|| parse_head(black_box(head), MAX_HEAD_LEN_BYTES).map(|h| h.head_len_bytes))
        });
        // The worker's memo of the last head, given this head again and again: a hit
        // each time, except for the PATCH head, whose `Authorization` is never
        // remembered (so it measures a miss: the parse plus the failed comparison).
        let mut memo = HeadMemo::new();
        group.bench_with_input(BenchmarkId::new("memo", name), head, |b, head| {
            b.iter(|| {
                memo.parse(black_box(head), MAX_HEAD_LEN_BYTES)
                    .map(|h| h.head_len_bytes)
            })
        });
        // httparse alone, as a floor: what the framing rules add on top of it.
        group.bench_with_input(BenchmarkId::new("httparse_only", name), head, |b, head| {
            b.iter(|| {
                let mut headers = [httparse::EMPTY_HEADER; 64];
                let mut req = httparse::Request::new(&mut headers);
                req.parse(black_box(head))
                    .ok()
                    .map(|status| status.is_complete())
            })
        });
        // The floor parse_head actually builds on: httparse without initialising 64 headers.
        group.bench_with_input(
            BenchmarkId::new("httparse_uninit", name),
            head,
            |b, head| {
                b.iter(|| {
                    let mut headers = [const { MaybeUninit::uninit() }; 64];
                    let mut req = httparse::Request::new(&mut []);
                    req.parse_with_uninit_headers(black_box(head), &mut headers)
                        .ok()
                        .map(|status| status.is_complete())
                })
            },
        );
    }
    group.finish();
}

fn bench_query(c: &mut Criterion) {
    zones::init();
    let mut scratch = [0u8; MAX_TZ_LEN_BYTES];
    let params = parse_read_params(SLOT_QUERY, &mut scratch).expect("valid query");
    assert!(params.tz.and_then(zones::lookup).is_some());
    c.bench_function("query/parse_read_params+zones::lookup", |b| {
        b.iter(|| {
            let mut scratch = [0u8; MAX_TZ_LEN_BYTES];
            let params = parse_read_params(black_box(SLOT_QUERY), &mut scratch).ok()?;
            let zone = zones::lookup(params.tz?)?;
            Some((zone, params.day, params.time_slot))
        })
    });
    c.bench_function("query/parse_read_params", |b| {
        b.iter(|| {
            let mut scratch = [0u8; MAX_TZ_LEN_BYTES];
            let params = parse_read_params(black_box(SLOT_QUERY), &mut scratch).ok()?;
            Some((params.tz?.len(), params.day, params.time_slot))
        })
    });
    c.bench_function("query/zones::lookup(America/New_York)", |b| {
        b.iter(|| zones::lookup(black_box(b"America/New_York")))
    });
}

fn bench_grid(c: &mut Criterion) {
    let (home, viewer, start) = (zone("America/New_York"), zone("Asia/Kolkata"), week_start());
    c.bench_function("grid/CellMap::build(New_York->Kolkata)", |b| {
        b.iter(|| CellMap::build(black_box(home), black_box(viewer), black_box(start)))
    });
    // The week the US moves its clocks (2026-03-08) and the UK does not yet: the
    // cells around the change map to other home cells than the rest of the week.
    let (london, dst_week) = (
        zone("Europe/London"),
        NaiveDate::from_ymd_opt(2026, 3, 2).expect("a date"),
    );
    c.bench_function("grid/CellMap::build(New_York->London, DST week)", |b| {
        b.iter(|| CellMap::build(black_box(home), black_box(london), black_box(dst_week)))
    });
    let map = CellMap::build(home, viewer, start);
    let week = office_week();
    c.bench_function("grid/CellMap::apply", |b| {
        b.iter(|| map.apply(black_box(&week)))
    });
}

fn bench_snapshot(c: &mut Criterion) {
    let home = zone("America/New_York");
    let calendar = Calendar::new(home, NOW_UNIX_S);
    let week = office_week();
    let mut group = c.benchmark_group("snapshot");
    // One build takes milliseconds: flat sampling keeps the sample count without
    // criterion's linear ramp of 1+2+…+20 iterations.
    group.sampling_mode(SamplingMode::Flat);
    // Every zone's cell maps for two weeks: what a start and a week rollover pay.
    group.bench_function("Calendar::new(all zones, two weeks)", |b| {
        b.iter(|| Calendar::new(black_box(home), black_box(NOW_UNIX_S)))
    });
    group.bench_function(
        BenchmarkId::new(
            "Calendar::build(all zones)",
            format!("{} maps", calendar.distinct_maps()),
        ),
        |b| {
            let mut generation = 0u64;
            b.iter(|| {
                generation += 1;
                calendar.build(black_box(&week), generation)
            })
        },
    );
    group.finish();
}

fn bench_render(c: &mut Criterion) {
    c.bench_function("render/json::render_slot", |b| {
        b.iter(|| {
            let mut buf = [0u8; 256];
            let mut w = ByteWriter::new(&mut buf);
            render_slot(
                &mut w,
                black_box("Asia/Kolkata"),
                black_box(b"2026-11-23"),
                black_box(2 * SLOTS_PER_DAY + 28),
                black_box("available"),
            );
            black_box(w.written().len())
        })
    });
    c.bench_function("render/format_imf_fixdate", |b| {
        let mut out = [0u8; IMF_FIXDATE_LEN];
        b.iter(|| {
            format_imf_fixdate(black_box(NOW_UNIX_S), &mut out);
            black_box(out[IMF_FIXDATE_LEN - 1])
        })
    });
}

fn bench_patch_body(c: &mut Criterion) {
    // 100 entries, the most a batch may hold.
    let entries: Vec<String> = (0..100)
        .map(|i| format!(r#"{{"day":{},"slot":{},"status":"maybe"}}"#, i % 7, i % 48))
        .collect();
    let batch = format!(r#"{{"slots":[{}]}}"#, entries.join(","));
    c.bench_function("patch/parse_patch_body(100 entries)", |b| {
        b.iter(|| black_box(parse_patch_body(black_box(batch.as_bytes())).is_ok()))
    });
    // ~16 KiB: 1,300 repeats of one key, 120 levels under an 8,000-byte key.
    let repeats = format!("{{{}}}", vec![r#""k":1"#; 1300].join(","));
    let hostile = format!(
        r#"{{"{}":{}{}{}}}"#,
        "a".repeat(8000),
        "[".repeat(120),
        repeats,
        "]".repeat(120)
    );
    c.bench_function("patch/parse_patch_body(16 KiB of repeated keys)", |b| {
        b.iter(|| black_box(parse_patch_body(black_box(hostile.as_bytes())).is_err()))
    });
}

/// Whole keep-alive requests through one real worker (the connection state machine,
/// routing, the handlers, the snapshot) over the in-memory transport of
/// `runtime::sim`: the user-space part of a request, without the kernel. Rate
/// limiting off (a benchmark is millions of requests from one address).
fn bench_request(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("availability-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut config = availability_server::config::Config::for_tests(dir.clone());
    config.workers = 1;
    config.rate_limit_burst = 0;
    let mut server = availability_server::server::start_sim(config).expect("sim server");
    let peer = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    let conn = server.worker.connect(peer, 64 * 1024).expect("a slot");
    let mut group = c.benchmark_group("request");
    let slot = "/availability/slot?tz=Asia/Kolkata&day=2&time=14:00";
    // Each case cycles through its targets. One target repeats its head and query,
    // as a polling client does, so the worker's memos hit; `slot_no_memo` alternates
    // two (a cache-busting parameter), so every request is parsed in full.
    let cases: [(&str, &[&str]); 5] = [
        ("slot", &[slot]),
        (
            "slot_no_memo",
            &[&format!("{slot}&_=1"), &format!("{slot}&_=2")],
        ),
        ("week", &["/availability?tz=Asia/Kolkata"]),
        ("csv", &["/availability/csv?tz=Asia/Kolkata"]),
        ("404", &["/nowhere"]),
    ];
    for (name, targets) in cases {
        let requests: Vec<String> = targets
            .iter()
            .map(|target| format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"))
            .collect();
        let mut answer = Vec::with_capacity(64 * 1024);
        let mut turn = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                turn = (turn + 1) % requests.len();
                conn.send(requests[turn].as_bytes());
                server.worker.notify(&conn);
                answer.clear();
                conn.receive(&mut answer);
                server.worker.notify(&conn);
                black_box(answer.len())
            })
        });
        // Empty when a filter (`cargo bench -- request/slot`) left this case out.
        let answered = answer.starts_with(b"HTTP/1.1 200 ") || name == "404";
        assert!(answer.is_empty() || answered, "{name} was answered");
    }
    group.finish();
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_parse, bench_query, bench_grid, bench_snapshot, bench_render,
        bench_patch_body, bench_request
}
criterion_main!(benches);
