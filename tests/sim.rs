//! The in-memory transport (`runtime::sim`, used by the connection fuzzer)
//! runs the real worker state machine: these check that it answers, blocks,
//! times out and closes the way the socket-backed worker does. Buffer reclaiming
//! and the write deadline are in `sim/reclaim.rs`, request framing in `sim/framing.rs`,
//! the lingering close in `sim/linger.rs`, TLS in `sim/tls.rs`,
//! the simulation's own model of TCP and epoll in `sim/pipe.rs`.

mod common;
#[path = "sim/framing.rs"]
mod framing;
#[path = "sim/linger.rs"]
mod linger;
#[path = "sim/pipe.rs"]
mod pipe;
#[path = "sim/reclaim.rs"]
mod reclaim;
#[path = "sim/tls.rs"]
mod tls;
#[path = "sim/write_deadline.rs"]
mod write_deadline;

use std::net::{IpAddr, Ipv4Addr};
use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::time::Duration;

use availability_server::config::Config;
use availability_server::runtime::sim::{ClientRead, SimConn};
use availability_server::server::{SimServer, start_sim_with_buffers};

const PEER: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const WINDOW_BYTES: usize = 64 * 1024;
/// A complete request with a short answer.
const HEALTH: &[u8] = b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n";

/// A sim server and its data directory. Fields drop in declaration order: the
/// server (its writer thread joined) before the directory is removed.
struct Sim {
    server: SimServer,
    dir: common::TempDir,
}

impl Sim {
    fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Deref for Sim {
    type Target = SimServer;

    fn deref(&self) -> &SimServer {
        &self.server
    }
}

impl DerefMut for Sim {
    fn deref_mut(&mut self) -> &mut SimServer {
        &mut self.server
    }
}

fn server(tweak: impl FnOnce(&mut Config)) -> Sim {
    server_with_buffers(tweak, None)
}

/// [`server`] with `buffers` request buffers in its worker (`None`: the default, one
/// per connection up to 1,024).
fn server_with_buffers(tweak: impl FnOnce(&mut Config), buffers: Option<usize>) -> Sim {
    let dir = common::temp_dir("sim");
    let mut config = Config::for_tests(dir.to_path_buf());
    config.workers = 1;
    config.rate_limit_burst = 0;
    config.api_key = Some(common::API_KEY.to_string());
    tweak(&mut config);
    Sim {
        server: start_sim_with_buffers(config, buffers).expect("sim server starts"),
        dir,
    }
}

fn send(s: &mut SimServer, conn: &SimConn, bytes: &[u8]) {
    assert_eq!(
        conn.send(bytes),
        bytes.len(),
        "the window takes the request"
    );
    s.worker.notify(conn);
}

fn receive(s: &mut SimServer, conn: &SimConn) -> (String, ClientRead) {
    let mut got = Vec::new();
    let end = conn.receive(&mut got);
    s.worker.notify(conn);
    (String::from_utf8(got).expect("UTF-8 answer"), end)
}

/// A PATCH setting Wednesday 14:00 to `maybe`, with `extra_headers` (each ending
/// in CRLF) in its head.
fn one_cell_patch(extra_headers: &str) -> Vec<u8> {
    let body = br#"{"slots":[{"day":2,"time":"14:00","status":"maybe"}]}"#;
    let head = format!(
        "PATCH /availability HTTP/1.1\r\nHost: a\r\n{extra_headers}Authorization: Bearer {}\r\n\
         Content-Length: {}\r\n\r\n",
        common::API_KEY,
        body.len()
    );
    [head.as_bytes(), body].concat()
}

/// One response's `Content-Length` and the bytes that followed its head.
fn declared_and_received_body_bytes(text: &str) -> (usize, usize) {
    let (head, body) = text.split_once("\r\n\r\n").expect("a head");
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|v| v.parse().ok())
        .expect("Content-Length");
    (length, body.len())
}

#[test]
fn answers_pipelined_reads_in_order() {
    let mut s = server(|_| {});
    let conn = s.worker.connect(PEER, WINDOW_BYTES).expect("a slot");
    send(
        &mut s,
        &conn,
        b"GET /health HTTP/1.1\r\nHost: a\r\n\r\nGET /nope HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    let (text, end) = receive(&mut s, &conn);
    assert_eq!(end, ClientRead::Open);
    let first = text.find("HTTP/1.1 200 ").expect("the /health answer");
    let second = text.find("HTTP/1.1 404 ").expect("the 404");
    assert!(first < second, "in request order: {text}");
    assert!(text.contains("{\"status\":\"ok\"}"));
}

#[test]
fn a_patch_is_answered_after_the_writer_commits_and_reads_see_it() {
    let mut s = server(|_| {});
    let conn = s.worker.connect(PEER, WINDOW_BYTES).expect("a slot");
    send(&mut s, &conn, &one_cell_patch(""));
    // Pipelined behind the write: must be answered after it, from the new snapshot.
    let home = "/availability/slot?day=2&time=14:00";
    send(
        &mut s,
        &conn,
        format!("GET {home} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes(),
    );
    assert!(s.worker.awaiting_reply(), "the PATCH waits for the writer");
    assert!(
        s.worker.settle(Duration::from_secs(10)),
        "the writer replied"
    );
    let (text, _) = receive(&mut s, &conn);
    let patch_at = text
        .find("\"generation\":1")
        .expect("PATCH answered with generation 1");
    let read_at = text.find("\"maybe\"").expect("the read sees the write");
    assert!(patch_at < read_at, "answers in order: {text}");
}

/// A shutdown raises the workers' drain flag, then the state the writer reads. A
/// reply the writer made in between says keep-alive; the connection then stays for
/// what follows (the drain answers it with `Connection: close`, or closes it as
/// idle), rather than ending right after a reply that promised otherwise.
#[test]
fn a_keep_alive_reply_delivered_as_the_drain_begins_is_not_cut_short() {
    let mut s = server(|_| {});
    let conn = s.worker.connect(PEER, WINDOW_BYTES).expect("a slot");
    send(&mut s, &conn, &one_cell_patch(""));
    send(&mut s, &conn, HEALTH);
    assert!(s.worker.awaiting_reply(), "the PATCH waits for the writer");
    s.raise_worker_drain_flag_only();
    assert!(
        s.worker.settle(Duration::from_secs(10)),
        "the writer replied"
    );
    let (text, _) = receive(&mut s, &conn);
    let (patch_reply, rest) = text.split_once("\r\n\r\n").expect("the PATCH's reply");
    assert!(patch_reply.starts_with("HTTP/1.1 200 "), "{text}");
    assert!(!patch_reply.contains("Connection: close"), "{text}");
    assert!(
        rest.contains("HTTP/1.1 200 ") && rest.contains("{\"status\":\"ok\"}"),
        "the GET behind it is answered: {text}"
    );
}

/// The simulated start ends as the real one does, in the serving state: `/ready` says
/// so (a fuzzer's probe would otherwise see a server forever starting).
#[test]
fn a_simulated_server_reports_ready() {
    let mut s = server(|_| {});
    let conn = s.worker.connect(PEER, WINDOW_BYTES).expect("a slot");
    send(&mut s, &conn, b"GET /ready HTTP/1.1\r\nHost: a\r\n\r\n");
    let (text, _) = receive(&mut s, &conn);
    assert!(
        text.starts_with("HTTP/1.1 200 ") && text.ends_with("{\"status\":\"ready\"}"),
        "{text}"
    );
}

#[test]
fn a_full_window_blocks_the_server_until_the_client_reads() {
    let mut s = server(|_| {});
    // Far less than one week answer (~23 KB): the write must block and resume.
    let conn = s.worker.connect(PEER, 1000).expect("a slot");
    send(
        &mut s,
        &conn,
        b"GET /availability HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    let mut got = Vec::new();
    for _ in 0..100 {
        let before = got.len();
        assert_eq!(conn.receive(&mut got), ClientRead::Open);
        s.worker.notify(&conn);
        assert!(
            got.len() - before <= 1000,
            "never more than the window at once"
        );
        if got.ends_with(b"]}") {
            break; // the end of the slots array and of the body
        }
    }
    let text = String::from_utf8(got).expect("UTF-8");
    let (length, body_len) = declared_and_received_body_bytes(&text);
    assert!(length > 10_000, "a week answer");
    assert_eq!(body_len, length, "the whole body arrived in pieces");
}

#[test]
fn an_incomplete_head_times_out_on_the_virtual_clock() {
    let mut s = server(|c| c.header_timeout_ms = 2000);
    let conn = s.worker.connect(PEER, WINDOW_BYTES).expect("a slot");
    send(&mut s, &conn, b"GET /health HTTP/1.1\r\nHo");
    s.worker.advance_ms(1500);
    let (text, end) = receive(&mut s, &conn);
    assert_eq!((text.as_str(), end), ("", ClientRead::Open), "not yet");
    s.worker.advance_ms(1000);
    let (text, end) = receive(&mut s, &conn);
    assert!(text.starts_with("HTTP/1.1 408 "), "{text}");
    assert!(text.contains("Connection: close\r\n"));
    assert_eq!(end, ClientRead::Eof);
    // The client may still be sending its head: the close lingers, then ends.
    assert_eq!(s.worker.open_connections(), 1, "lingering");
    s.worker.advance_ms(2_000);
    assert_eq!(s.worker.open_connections(), 0);
}

#[test]
fn a_timeout_answer_that_fills_the_window_arrives_whole_before_the_close() {
    // A fuzzing finding: the 408 went out as far as the window allowed and the
    // connection closed at once, ending the stream in the middle of a response.
    let mut s = server(|c| c.header_timeout_ms = 2000);
    let window_bytes = 100; // smaller than the 408 (head and JSON body)
    let conn = s.worker.connect(PEER, window_bytes).expect("a slot");
    send(&mut s, &conn, b"GET /health HTTP/1.1\r\nHo");
    s.worker.advance_ms(2500);
    let mut got = Vec::new();
    let mut end = ClientRead::Open;
    for _ in 0..100 {
        let before = got.len();
        end = conn.receive(&mut got);
        s.worker.notify(&conn);
        assert!(got.len() - before <= window_bytes, "one window at a time");
        if end != ClientRead::Open {
            break;
        }
    }
    let text = String::from_utf8(got).expect("UTF-8");
    assert_eq!(
        end,
        ClientRead::Eof,
        "a clean close after the answer: {text}"
    );
    assert!(text.starts_with("HTTP/1.1 408 "), "{text}");
    assert!(
        text.len() > window_bytes,
        "the answer needed several windows"
    );
    let (length, body_len) = declared_and_received_body_bytes(&text);
    assert_eq!(body_len, length, "the whole 408, then the close");
    s.worker.advance_ms(2_000); // the lingering close's time
    assert_eq!(s.worker.open_connections(), 0);
}

/// The FIN comes in the same event as the last bytes of one request or of several
/// pipelined ones (over real sockets it may or may not: `tests/protocol_misc.rs`):
/// every request is answered, and only the last answer says `Connection: close`.
#[test]
fn a_fin_after_requests_gets_every_answer_then_the_close() {
    let mut s = server(|_| {});
    for count in [1, 3] {
        let conn = s.worker.connect(PEER, WINDOW_BYTES).expect("a slot");
        let burst = HEALTH.repeat(count);
        assert_eq!(conn.send(&burst), burst.len());
        conn.shutdown_write();
        s.worker.notify(&conn);
        let (text, end) = receive(&mut s, &conn);
        let answers: Vec<&str> = text.split("HTTP/1.1 ").skip(1).collect();
        assert_eq!(answers.len(), count, "{text}");
        for (i, answer) in answers.iter().enumerate() {
            assert!(answer.starts_with("200 "), "{text}");
            let says_close = answer.contains("\r\nConnection: close\r\n");
            assert_eq!(says_close, i + 1 == count, "answer {i} of {count}: {text}");
        }
        assert_eq!(end, ClientRead::Eof);
    }
}

/// A drain closes a connection once it is quiet — but not one whose client has sent
/// more meanwhile: that request is read and answered, with `Connection: close`. Here
/// both are mid-answer (a week that fills the window) when the drain begins.
#[test]
fn a_drain_closes_a_connection_once_its_answer_is_read_unless_more_was_sent() {
    let mut s = server(|_| {});
    let week = b"GET /availability HTTP/1.1\r\nHost: a\r\n\r\n";
    let done = s.worker.connect(PEER, 1000).expect("a slot");
    let more = s.worker.connect(PEER, 1000).expect("a slot");
    send(&mut s, &done, week);
    send(&mut s, &more, week);
    s.worker.start_drain();
    assert_eq!(
        s.worker.open_connections(),
        2,
        "both still have answers to send"
    );
    send(&mut s, &more, HEALTH);
    for (conn, answers) in [(&done, 1), (&more, 2)] {
        let mut got = Vec::new();
        let mut end = ClientRead::Open;
        for _ in 0..100 {
            end = conn.receive(&mut got);
            s.worker.notify(conn);
            if end != ClientRead::Open {
                break;
            }
        }
        let text = String::from_utf8(got).expect("UTF-8");
        assert_eq!(end, ClientRead::Eof, "closed, cleanly: {text}");
        assert_eq!(text.matches("HTTP/1.1 200 ").count(), answers, "{text}");
        assert_eq!(
            text.matches("Connection: close").count(),
            answers - 1,
            "only an answer made during the drain says close: {text}"
        );
    }
}

/// A connection that has sent nothing yet is held for the head timeout; one between
/// requests, for the idle timeout (here longer).
#[test]
fn a_new_connection_waits_the_head_timeout_and_one_between_requests_the_idle_timeout() {
    let mut s = server(|c| {
        c.header_timeout_ms = 2_000;
        c.idle_timeout_ms = 5_000;
    });
    let silent = s.worker.connect(PEER, WINDOW_BYTES).expect("a slot");
    let between = s.worker.connect(PEER, WINDOW_BYTES).expect("a slot");
    send(&mut s, &between, HEALTH);
    let (text, _) = receive(&mut s, &between);
    assert!(text.starts_with("HTTP/1.1 200 "), "{text}");
    s.worker.advance_ms(1_900);
    assert!(!silent.server_closed());
    s.worker.advance_ms(100);
    assert!(silent.server_closed(), "the head timeout, 2 s");
    assert!(!between.server_closed(), "2 s into a 5 s idle timeout");
    s.worker.advance_ms(2_900);
    assert!(!between.server_closed());
    s.worker.advance_ms(100);
    assert!(between.server_closed(), "the idle timeout, 5 s");
}
