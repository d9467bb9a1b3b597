//! Out of file descriptors: `accept` fails (EMFILE) and the connection stays in
//! the kernel's backlog. With edge-triggered epoll nothing would wake the worker
//! for it again until another client connects; the worker retries on its timer
//! tick, so the waiting client is served once descriptors come free.
//!
//! The server runs as a child process under `ulimit -n 64`; one test starts it with a
//! soft limit below the hard one, which the start raises.

mod common;
#[path = "common/probe.rs"]
mod probe;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_availability-server");
/// The server's open-file limit (`ulimit -n`).
const FD_LIMIT: usize = 64;

fn get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("answer");
    text
}

/// The server under `ulimit -n 64`, with its output lines so far (up to "ready") and
/// the receiver of the rest.
struct Limited {
    child: std::process::Child,
    dir: std::path::PathBuf,
    lines: Vec<String>,
    rx: mpsc::Receiver<String>,
}

impl Drop for Limited {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start_limited(tag: &str, extra_args: &str) -> Limited {
    start_under(tag, &format!("ulimit -n {FD_LIMIT}"), extra_args)
}

/// The server started by `sh` after the shell commands `limits` (which set its limits).
fn start_under(tag: &str, limits: &str, extra_args: &str) -> Limited {
    let dir = std::env::temp_dir().join(format!("avail-test-fd-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let script = format!(
        "{limits} && exec '{BIN}' --data-dir '{}' --no-tls --http-listen 127.0.0.1:0 \
         --admin-listen 127.0.0.1:0 --workers 1 --bcrypt-cost 4 {extra_args}",
        dir.display()
    );
    let mut child = Command::new("sh")
        .args(["-c", &script])
        .env("API_KEY", "fd-limit-test-key")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let (tx, rx) = mpsc::channel();
    for out in [
        Box::new(child.stdout.take().expect("stdout")) as Box<dyn Read + Send>,
        Box::new(child.stderr.take().expect("stderr")),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !lines.iter().any(|l: &String| l.contains("ready")) {
        assert!(Instant::now() < deadline, "never ready: {lines:#?}");
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            lines.push(line);
        }
    }
    Limited {
        child,
        dir,
        lines,
        rx,
    }
}

/// The soft and hard limits on open files of process `pid`, from `/proc/PID/limits`.
fn open_file_limits(pid: u32) -> (u64, u64) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("an open-files line");
    let numbers: Vec<u64> = line
        .split_whitespace()
        .filter_map(|word| word.parse().ok())
        .collect();
    (numbers[0], numbers[1])
}

/// The usual soft limit (1,024) is far below the default cap, so the binary raises
/// it to the hard limit at the start, and says so when even that is short of
/// `--max-connections`.
#[test]
fn the_start_raises_the_soft_open_file_limit_to_the_hard_one() {
    let server = start_under(
        "raise",
        "ulimit -Sn 100 && ulimit -Hn 200",
        "--max-connections 1000",
    );
    assert_eq!(open_file_limits(server.child.id()), (200, 200));
    let lines = lines_so_far(&server);
    assert!(
        lines
            .iter()
            .any(|l| l
                .contains("the open-file limit (200) is below --max-connections (1000) plus 64")),
        "{lines:#?}"
    );
    // Room enough: no warning.
    let server = start_under(
        "raise-quiet",
        "ulimit -Sn 100 && ulimit -Hn 200",
        "--max-connections 100",
    );
    assert_eq!(open_file_limits(server.child.id()), (200, 200));
    let lines = lines_so_far(&server);
    assert!(
        !lines.iter().any(|l| l.contains("open-file limit")),
        "{lines:#?}"
    );
}

/// Every line the server wrote up to "ready" and shortly after: stdout and stderr are
/// read by two threads, so a line written to stderr before "ready" may arrive after it.
fn lines_so_far(server: &Limited) -> Vec<String> {
    std::thread::sleep(Duration::from_millis(200));
    let mut lines = server.lines.clone();
    lines.extend(server.rx.try_iter());
    lines
}

/// The worker's count of failed `accept`s on the `/metrics` page.
const ACCEPT_ERRORS: &str = "availability_accept_errors_total{worker=\"0\"}";

#[test]
fn a_client_left_in_the_backlog_by_emfile_is_served_once_descriptors_free_up() {
    let server = start_limited("backlog", "");
    let (lines, rx) = (&server.lines, &server.rx);
    let http = common::listening_addr(lines, "http");
    let admin = common::listening_addr(lines, "admin");

    // 100 connections: more than the server has descriptors for.
    let held: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect(http).expect("the backlog takes it"))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut victim = TcpStream::connect(http).expect("the backlog takes it");
    victim
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    victim
        .write_all(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        .expect("send");
    std::thread::sleep(Duration::from_millis(300));
    // Free the server's descriptors; nobody else connects.
    let freed_at = Instant::now();
    drop(held);
    let mut got = [0u8; 256];
    let n = victim
        .read(&mut got)
        .expect("answered once descriptors are free");
    assert!(got[..n].starts_with(b"HTTP/1.1 200 "), "{:?}", &got[..n]);
    assert!(freed_at.elapsed() < Duration::from_secs(2));
    drop(victim);
    std::thread::sleep(Duration::from_millis(300));
    let metrics = get(admin, "/metrics");
    let failed = probe::metric_in(&metrics, ACCEPT_ERRORS);
    assert!(failed >= 1.0, "accept failures are counted: {metrics}");
    let logged = rx
        .try_iter()
        .filter(|l| l.contains("accept failed"))
        .count();
    assert!(
        (1..=2).contains(&logged),
        "logged at most every 10 s, not once per try ({failed} failures): {logged} lines"
    );
}

/// While descriptors are short, a freed one goes to the admin listener first: a
/// `/ready` probe does not wait behind the whole public backlog.
#[test]
fn the_admin_listener_is_served_first_when_descriptors_free_up() {
    let server = start_limited("admin", "--header-timeout-ms 1000");
    let http = common::listening_addr(&server.lines, "http");
    let admin = common::listening_addr(&server.lines, "admin");
    // 400 silent clients: the server holds what it can, the rest wait in the backlog
    // and are accepted as the silent ones time out (1 s) and free descriptors.
    let _silent: Vec<TcpStream> = (0..400)
        .map(|_| TcpStream::connect(http).expect("the backlog takes it"))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let asked = Instant::now();
    let answer = get(admin, "/ready");
    let waited = asked.elapsed();
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    assert!(
        waited < Duration::from_millis(2_500),
        "the probe waited {waited:?} behind the public backlog"
    );
}

/// Descriptors the process holds now under `FD_LIMIT`. Ones above it (say,
/// cargo's jobserver pipe, inherited) take no place a new one could have.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("the server's /proc entry")
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<usize>().ok())
        .filter(|&fd| fd < FD_LIMIT)
        .count()
}

/// The connection cap and the descriptor limit reached together: the newcomer's
/// `accept` fails (EMFILE) with a quiet connection already chosen to make room.
/// Closing it frees a descriptor as well as a slot, so the newcomer is served at once
/// rather than left in the backlog until some connection times out. And only one is
/// closed: back at the cap, `accept` fails with EMFILE again although nobody waits
/// (Linux takes the descriptor before it looks at the backlog).
#[test]
fn at_the_cap_and_out_of_descriptors_a_newcomer_still_takes_a_quiet_ones_place() {
    // Learn what the server holds besides connections (listeners, epoll, waker, data
    // file, stdio), then start it again with a cap that uses exactly the rest.
    let base_fds = {
        let probe = start_limited("cap-probe", "");
        open_fds(probe.child.id())
    };
    let cap = FD_LIMIT - base_fds;
    let server = start_limited("cap", &format!("--max-connections {cap}"));
    let pid = server.child.id();
    assert_eq!(
        open_fds(pid),
        base_fds,
        "the cap does not change what it holds"
    );
    let http = common::listening_addr(&server.lines, "http");

    let held: Vec<TcpStream> = (0..cap)
        .map(|_| TcpStream::connect(http).expect("connect"))
        .collect();
    // Quiet for longer than a connection must be to lose its place (1 s).
    std::thread::sleep(Duration::from_millis(1_300));
    assert_eq!(
        open_fds(pid),
        FD_LIMIT,
        "the cap's connections take every descriptor"
    );

    let mut newcomer = TcpStream::connect(http).expect("the backlog takes it");
    newcomer
        .set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    newcomer
        .write_all(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        .expect("send");
    let mut got = [0u8; 256];
    let n = newcomer
        .read(&mut got)
        .expect("served in a quiet connection's place, not left in the backlog");
    assert!(got[..n].starts_with(b"HTTP/1.1 200 "), "{:?}", &got[..n]);
    let mut closed = 0;
    for mut s in held {
        s.set_nonblocking(true).expect("nonblocking");
        match s.read(&mut got) {
            Ok(0) => closed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            other => panic!("a held connection got {other:?}"),
        }
    }
    assert_eq!(closed, 1, "one quiet connection closed for the newcomer");
    // With every client gone the server has descriptors again: its admin listener
    // answers, and the `accept` that failed at the cap was counted.
    drop(newcomer);
    std::thread::sleep(Duration::from_millis(300));
    let admin = common::listening_addr(&server.lines, "admin");
    let metrics = get(admin, "/metrics");
    assert!(
        probe::metric_in(&metrics, ACCEPT_ERRORS) >= 1.0,
        "the failed accept at the cap is counted: {metrics}"
    );
}
