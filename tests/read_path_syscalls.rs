//! Issue 3's syscall budget for reads, pinned on the shipped binary as the kernel
//! sees it (`strace -f`): on a keep-alive connection, every read request costs the
//! worker one receive and one send — no read that comes back empty (`EAGAIN`) after a
//! short one, no `setsockopt` or `epoll_ctl` after the accept — and a pipelined batch
//! is received once and answered with one send. The connection's only other calls are
//! its `epoll_ctl(ADD)` and its close (`TCP_NODELAY` is inherited from the listener). Only the `epoll_wait` that finds a
//! request is not counted here: its share depends on load, which
//! `scripts/syscalls.sh` measures.
//!
//! Needs `strace`; see `common/strace.rs` for what happens without it.

mod common;
#[path = "common/strace.rs"]
mod strace;

use strace::Call;

/// Every read endpoint and shape a scheduling client sends, one at a time.
fn one_at_a_time() -> Vec<(&'static str, &'static str)> {
    vec![
        ("GET", "/availability?tz=Asia/Tokyo"),
        ("GET", "/availability"),
        ("GET", "/availability?tz=Europe/London&date=2026-03-30"),
        ("GET", "/availability/csv?tz=Australia%2FLord_Howe"),
        (
            "GET",
            "/availability/slot?tz=Asia/Kathmandu&day=2&time=14:00",
        ),
        ("GET", "/availability/slot?day=6&slot=47&tz=Pacific/Chatham"),
        ("HEAD", "/availability?tz=UTC"),
        ("HEAD", "/availability/slot?tz=UTC&day=1&slot=3"),
        ("GET", "/availability/slot?tz=Nowhere/Special&day=1&slot=3"),
        ("GET", "/health"),
        ("GET", "/ready"),
    ]
}

const PIPELINED: usize = 16;
const RECEIVES: [&str; 4] = ["recvfrom", "recvmsg", "read", "readv"];
const SENDS: [&str; 4] = ["sendto", "sendmsg", "writev", "write"];

fn request(method: &str, target: &str, extra: &str) -> String {
    format!("{method} {target} HTTP/1.1\r\nHost: t\r\n{extra}\r\n")
}

#[test]
fn a_keep_alive_read_costs_one_receive_and_one_send() {
    let root = common::created_dir("read-syscalls");
    let calls = "accept4,accept,recvfrom,recvmsg,read,readv,sendto,sendmsg,writev,write,\
                 setsockopt,epoll_ctl,close";
    let Some(traced) = strace::start(calls, &root.join("data"), &root.join("trace.log")) else {
        return;
    };
    let http = common::listening_addr(&traced.seen, "http");

    let mut client = common::Client::connect(http);
    let mut statuses = Vec::new();
    for (method, target) in one_at_a_time() {
        client.send(request(method, target, "").as_bytes());
        let response = client.read_response(method == "HEAD").expect("an answer");
        statuses.push(response.status);
        // A pause before the next request: a read the worker tried after answering
        // (nothing was left after a short read) would find it and hide its EAGAIN.
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // A revalidation: the week's ETag back, a 304.
    client.send(request("GET", "/availability?tz=Asia/Tokyo", "").as_bytes());
    let week = client.read_response(false).expect("the week");
    let etag = week.header("ETag").expect("an ETag").to_owned();
    client.send(
        request(
            "GET",
            "/availability?tz=Asia/Tokyo",
            &format!("If-None-Match: {etag}\r\n"),
        )
        .as_bytes(),
    );
    statuses.push(client.read_response(false).expect("a 304").status);
    let sequential = one_at_a_time().len() + 2;
    // A pipelined batch in one write.
    let batch = request(
        "GET",
        "/availability/slot?tz=Asia/Kolkata&day=2&time=14:00",
        "",
    )
    .repeat(PIPELINED);
    client.send(batch.as_bytes());
    for _ in 0..PIPELINED {
        statuses.push(
            client
                .read_response(false)
                .expect("a pipelined answer")
                .status,
        );
    }
    assert_eq!(
        statuses.iter().filter(|&&s| s == 200).count(),
        statuses.len() - 2,
        "every read but the unknown zone (400) and the revalidation (304) is a 200: {statuses:?}"
    );
    assert!(
        statuses.contains(&304) && statuses.contains(&400),
        "{statuses:?}"
    );
    drop(client);

    let calls = traced.stop();
    let on_conn = connection_calls(&calls);
    let shapes: Vec<String> = on_conn.iter().map(|c| c.shape()).collect();
    let named = |names: &[&str]| -> Vec<&Call> {
        on_conn
            .iter()
            .copied()
            .filter(|c| names.contains(&c.name.as_str()))
            .collect()
    };
    let receives = named(&RECEIVES);
    let sends = named(&SENDS);
    let failed: Vec<&&Call> = receives
        .iter()
        .chain(&sends)
        .filter(|c| !c.errno.is_empty())
        .collect();
    assert!(
        failed.is_empty(),
        "failed receives or sends (an EAGAIN read?): {failed:#?}"
    );
    let with_data = receives.iter().filter(|c| c.ret_value() > Some(0)).count();
    let at_end = receives.iter().filter(|c| c.ret_value() == Some(0)).count();
    // One receive per request sent alone, one for the whole batch; the client's close
    // may add the read of its end of stream.
    assert_eq!(with_data, sequential + 1, "receives: {shapes:#?}");
    assert!(
        at_end <= 1,
        "more than one read of the end of stream: {shapes:#?}"
    );
    assert_eq!(
        sends.len(),
        sequential + 1,
        "one send per request alone, one for the batch: {shapes:#?}"
    );

    // Nothing but receives and sends between the first request and the last answer.
    let first = receives[0].end;
    let last = sends.last().expect("a send").end;
    let between: Vec<String> = on_conn
        .iter()
        .filter(|c| c.start > first && c.end < last)
        .filter(|c| !RECEIVES.contains(&c.name.as_str()) && !SENDS.contains(&c.name.as_str()))
        .map(|c| c.shape())
        .collect();
    assert!(
        between.is_empty(),
        "per-request calls other than a receive and a send: {between:#?}"
    );
    // And outside them, the connection's only other calls are its registration and
    // its close: TCP_NODELAY comes from the listener, set once at start.
    let own: Vec<String> = on_conn
        .iter()
        .filter(|c| !RECEIVES.contains(&c.name.as_str()) && !SENDS.contains(&c.name.as_str()))
        .filter(|c| c.name != "close")
        .map(|c| c.shape())
        .collect();
    assert!(
        own.len() == 1 && own[0].starts_with("epoll_ctl") && own[0].contains("EPOLL_CTL_ADD"),
        "a connection's calls besides receives, sends and its close: {own:#?}"
    );
}

/// The calls on the one accepted connection's descriptor, from its accept to its
/// close (`epoll_ctl` names it as its third argument).
fn connection_calls(calls: &[Call]) -> Vec<&Call> {
    let accepted: Vec<&Call> = calls
        .iter()
        .filter(|c| c.name.starts_with("accept") && c.ret_value() >= Some(0))
        .collect();
    assert_eq!(accepted.len(), 1, "one connection accepted: {accepted:#?}");
    let accept = accepted[0];
    let fd = accept.ret.as_str();
    let names_fd = |c: &Call| {
        c.first_arg() == fd || (c.name == "epoll_ctl" && c.args.split(", ").nth(2) == Some(fd))
    };
    let closed_at = calls
        .iter()
        .find(|c| c.name == "close" && c.first_arg() == fd && c.start > accept.end)
        .map_or(usize::MAX, |c| c.end);
    calls
        .iter()
        .filter(|c| c.pid == accept.pid && c.start > accept.end && c.end <= closed_at)
        .filter(|c| names_fd(c))
        .collect()
}
