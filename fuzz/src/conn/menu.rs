//! Well-formed (and a few deliberately malformed) requests the `connection` target can
//! send, each with the status SPEC §4–5 says it gets and a marker its body must contain,
//! so responses can be matched to requests and their order checked.

use availability_server::week::zones;

/// The API key the fuzzing server is started with.
pub const API_KEY: &str = "fuzz-key-0123456789";

/// A request and what SPEC says about its answer.
pub struct MenuRequest {
    pub bytes: Vec<u8>,
    pub status: u16,
    /// Bytes the response body must contain (responses to HEAD have no body).
    pub marker: Option<Vec<u8>>,
}

const STATUSES: [&str; 3] = ["available", "unavailable", "maybe"];

/// Builds menu item `item` with parameter `arg`; `seq` makes markers unique.
pub fn build(item: u8, arg: u8, seq: u64) -> MenuRequest {
    let a = usize::from(arg);
    let (day, slot) = (a % 7, (a * 5 + seq as usize) % 48);
    let (text, status, marker): (String, u16, Option<String>) = match item % 16 {
        0 => (get("/health", ""), 200, Some("\"status\":\"ok\"".into())),
        1 => {
            let zone = zone_name(a);
            (
                format!("HEAD /availability?tz={zone} HTTP/1.1\r\nHost: f\r\n\r\n"),
                200,
                None,
            )
        }
        2 => {
            let zone = zone_name(a);
            let asked = if a % 2 == 1 {
                zone.to_ascii_lowercase()
            } else {
                zone.to_string()
            };
            let marker = format!("\"timezone\":\"{zone}\"");
            (
                get(&format!("/availability?tz={asked}"), ""),
                200,
                Some(marker),
            )
        }
        3 => {
            let path = format!("/availability/slot?day={day}&slot={slot}&tz=UTC");
            (get(&path, ""), 200, Some(format!("\"day\":{day}")))
        }
        4 => {
            let time = format!("{:02}:{:02}", slot / 2, slot % 2 * 30);
            let path = format!("/availability/slot?day={day}&time={time}");
            (get(&path, ""), 200, Some(format!("\"time\":\"{time}\"")))
        }
        // Conditional now and then: `*` matches any answer; a made-up tag matches none.
        5 => match a % 4 {
            0 => (
                get("/availability/csv?tz=UTC", "If-None-Match: *\r\n"),
                304,
                None,
            ),
            1 => (
                get(
                    "/availability/csv?tz=UTC",
                    "If-None-Match: W/\"0123456789abcdef\"\r\n",
                ),
                200,
                Some("Time,Monday".into()),
            ),
            _ => (
                get("/availability/csv?tz=UTC", ""),
                200,
                Some("Time,Monday".into()),
            ),
        },
        6 => {
            let path = format!("/missing/{seq}");
            (get(&path, ""), 404, Some(path))
        }
        7 => {
            let path = format!("/availability?tz=Nowhere/Zone{seq}");
            (get(&path, ""), 400, Some("invalid_timezone".into()))
        }
        8 => {
            let body = patch_body(a, seq);
            let expect = if a % 4 == 0 {
                "\r\nExpect: 100-continue"
            } else {
                ""
            };
            let head = patch_head(API_KEY, &format!("Content-Length: {}{expect}", body.len()));
            (head + &body, 200, Some("\"updated\":".into()))
        }
        9 => {
            let body = patch_body(a, seq);
            let chunk_len = a % 16 + 1;
            let extension = if a % 3 == 0 { ";ext=\"v\"" } else { "" };
            let mut chunked = String::new();
            for piece in body.as_bytes().chunks(chunk_len) {
                let piece = std::str::from_utf8(piece).expect("the body is ASCII");
                chunked += &format!("{:x}{extension}\r\n{piece}\r\n", piece.len());
            }
            chunked += "0\r\n\r\n";
            let head = patch_head(API_KEY, "Transfer-Encoding: chunked");
            (head + &chunked, 200, Some("\"updated\":".into()))
        }
        10 => {
            let body = patch_body(a, seq);
            let head = patch_head("wrong-key", &format!("Content-Length: {}", body.len()));
            (head + &body, 401, Some("unauthorized".into()))
        }
        11 => {
            let body =
                format!("{{\"slots\":[{{\"day\":9,\"slot\":{slot},\"status\":\"maybe\"}}]}}");
            let head = patch_head(API_KEY, &format!("Content-Length: {}", body.len()));
            (head + &body, 400, Some("invalid_entry".into()))
        }
        12 => (
            get("/health", "Connection: close\r\n"),
            200,
            Some("ok".into()),
        ),
        13 => {
            let keep = if a % 2 == 1 {
                "Connection: keep-alive\r\n"
            } else {
                ""
            };
            (
                format!("GET /health HTTP/1.0\r\n{keep}\r\n"),
                200,
                Some("ok".into()),
            )
        }
        14 => (
            "DELETE /availability HTTP/1.1\r\nHost: f\r\n\r\n".into(),
            405,
            Some("method_not_allowed".into()),
        ),
        _ => {
            // The last shape is a GET with a body: a different error code.
            let code = if a % 7 == 6 {
                "unexpected_body"
            } else {
                "bad_request"
            };
            (smuggling(a), 400, Some(code.into()))
        }
    };
    MenuRequest {
        bytes: text.into_bytes(),
        status,
        marker: marker.map(String::into_bytes),
    }
}

fn get(path: &str, extra_fields: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: fuzz.test\r\n{extra_fields}\r\n")
}

fn patch_head(key: &str, framing: &str) -> String {
    format!(
        "PATCH /availability HTTP/1.1\r\nHost: f\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\n{framing}\r\n\r\n"
    )
}

/// One to three edits on distinct home cells.
fn patch_body(a: usize, seq: u64) -> String {
    let count = a % 3 + 1;
    let first = (a * 7 + seq as usize * 11) % 336;
    let entries: Vec<String> = (0..count)
        .map(|i| {
            let cell = (first + i * 113) % 336;
            let status = STATUSES[(a + i) % 3];
            format!(
                "{{\"day\":{},\"slot\":{},\"status\":\"{status}\"}}",
                cell / 48,
                cell % 48
            )
        })
        .collect();
    format!("{{\"slots\":[{}]}}", entries.join(","))
}

fn zone_name(a: usize) -> &'static str {
    let ids: Vec<_> = zones::all().collect();
    zones::name(ids[a * 37 % ids.len()])
}

/// Request-smuggling shapes SPEC §5 says are answered 400 (and the connection closed).
fn smuggling(a: usize) -> String {
    let head = "PATCH /availability HTTP/1.1\r\nHost: f\r\n";
    match a % 7 {
        0 => format!("{head}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        1 => format!("{head}Content-Length: 4\r\nContent-Length: 5\r\n\r\nabcde"),
        2 => format!("{head}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"),
        3 => "GET /health HTTP/1.1\r\nHost: f\r\nX-A: 1\r\n folded\r\n\r\n".into(),
        4 => "GET /health HTTP/1.1\nHost: f\r\n\r\n".into(),
        5 => "GET /health HTTP/1.1\r\nHost: f\rX: y\r\n\r\n".into(),
        _ => "GET /health HTTP/1.1\r\nHost: f\r\nContent-Length: 3\r\n\r\nabc".into(),
    }
}
