//! What the server must answer to a framed request, and the fuzzer's mirror of the
//! server's week (only this process writes to it), so that every read in the home zone
//! can be checked against every acknowledged write: nothing may be served from a torn
//! or stale snapshot.

use availability_server::api::parse_patch_body;
use availability_server::auth::parse_bearer;
use availability_server::http::query::MAX_TZ_LEN_BYTES;
use availability_server::http::{Method, parse_read_params};
use availability_server::week::{SLOTS_PER_WEEK, Status, zones};
use serde_json::Value;

use super::client::Response;
use super::menu::API_KEY;
use crate::framing::Framed;

/// What this process knows the server holds: `None` where a write's outcome is unknown
/// (its response was never seen).
pub struct Mirror {
    pub week: [Option<Status>; SLOTS_PER_WEEK],
    pub generation: Option<u64>,
}

impl Mirror {
    /// A new data file: generation 0, every slot unavailable (SPEC §2, store::Store::open).
    pub fn new() -> Mirror {
        Mirror {
            week: [Some(Status::Unavailable); SLOTS_PER_WEEK],
            generation: Some(0),
        }
    }

    /// A PATCH may or may not have been applied: forget what it would have changed.
    pub fn forget(&mut self, request: &Framed) {
        if request.method == Method::Patch
            && predict(request).status == 200
            && let Ok(edits) = parse_patch_body(&request.body)
        {
            for edit in edits {
                self.week[usize::from(edit.slot_index)] = None;
            }
            self.generation = None;
        }
    }
}

impl Default for Mirror {
    fn default() -> Self {
        Mirror::new()
    }
}

/// The answer SPEC §4–5 gives a request on a server with rate limiting off.
pub struct Predicted {
    pub status: u16,
    pub head_only: bool,
}

pub fn predict(r: &Framed) -> Predicted {
    let read = matches!(r.method, Method::Get | Method::Head);
    let status = match r.path.as_slice() {
        b"/availability" if r.method == Method::Patch => predict_patch(r),
        b"/availability" | b"/availability/csv" if read => predict_read(r, false),
        b"/availability/slot" if read => predict_read(r, true),
        b"/health" | b"/ready" if read => 200,
        b"/availability"
        | b"/availability/csv"
        | b"/availability/slot"
        | b"/health"
        | b"/ready" => 405,
        _ => 404,
    };
    Predicted {
        status,
        head_only: r.method == Method::Head,
    }
}

fn predict_patch(r: &Framed) -> u16 {
    if !r.query.is_empty() {
        return 400;
    }
    if r.content_encoded {
        return 415;
    }
    match parse_bearer(r.authorization.as_deref()) {
        Ok(key) if key == API_KEY.as_bytes() => {}
        _ => return 401,
    }
    // Preconditions, before the body: `If-Match: *` holds, `If-None-Match: *` fails,
    // any tag is unsupported (a model of its own, not the server's function).
    let star = |v: &[u8]| v.trim_ascii() == b"*";
    if r.if_none_match_lines > 0 {
        return if r.if_none_match.as_deref().is_some_and(star) {
            412
        } else {
            400
        };
    }
    if r.if_match.as_deref().is_some_and(|v| !star(v)) {
        return 400;
    }
    if parse_patch_body(&r.body).is_ok() {
        200
    } else {
        400
    }
}

fn predict_read(r: &Framed, slot_route: bool) -> u16 {
    let mut scratch = [0u8; MAX_TZ_LEN_BYTES];
    let Ok(params) = parse_read_params(&r.query, &mut scratch) else {
        return 400;
    };
    if params.tz.is_some_and(|tz| zones::lookup(tz).is_none()) {
        return 400;
    }
    let one_slot = params.time_slot.is_some() != params.slot.is_some();
    if slot_route && (params.day.is_none() || !one_slot) {
        return 400;
    }
    // `*` matches any current answer (RFC 9110 §13.1.2). A listed tag could match only
    // if the fuzzer guessed a keyed 64-bit hash.
    match &r.if_none_match {
        Some(value) if value.trim_ascii() == b"*" => 304,
        _ => 200,
    }
}

/// Checks a response to `r` (already known to be the right one by order) and applies
/// an acknowledged write to the mirror.
pub fn check_response(
    r: &Framed,
    resp: &Response,
    mirror: &mut Mirror,
    half_closed: bool,
) -> Result<(), String> {
    let predicted = predict(r);
    if resp.status != predicted.status {
        return Err(format!(
            "status {} where {} was due",
            resp.status, predicted.status
        ));
    }
    if !r.keep_alive && !resp.close {
        return Err("no Connection: close for a request that did not keep alive".into());
    }
    if r.keep_alive && resp.close && !half_closed {
        return Err("Connection: close on a kept-alive connection".into());
    }
    if r.minor_version == 0 && r.keep_alive && !resp.close && !resp.keep_alive {
        return Err("HTTP/1.0 keep-alive answered without Connection: keep-alive".into());
    }
    let csv = matches!(resp.status, 200 | 304) && r.path == b"/availability/csv";
    let content_type = if csv {
        "text/csv; charset=utf-8"
    } else {
        "application/json"
    };
    if resp.header("Content-Type") != Some(content_type) {
        return Err(format!("Content-Type {:?}", resp.header("Content-Type")));
    }
    if resp.status == 304 {
        // The 200's fields and validator, no body (RFC 9110 §15.4.5).
        let tagged = resp.header("ETag").is_some_and(|t| t.len() == 18);
        return if tagged && resp.body.is_empty() {
            Ok(())
        } else {
            Err(format!("a 304 with {:?}", resp.headers))
        };
    }
    if predicted.head_only {
        return Ok(());
    }
    if resp.status != 200 {
        let json: Value = parse_json(&resp.body)?;
        let code_ok = json["error"]["code"]
            .as_str()
            .is_some_and(|c| !c.is_empty());
        return if code_ok && json["error"]["message"].is_string() {
            Ok(())
        } else {
            Err("error body without error.code and error.message".into())
        };
    }
    match r.path.as_slice() {
        b"/availability" if r.method == Method::Patch => check_write(r, resp, mirror),
        b"/health" => expect_body(resp, br#"{"status":"ok"}"#),
        b"/ready" => expect_body(resp, br#"{"status":"ready"}"#),
        _ => check_read(r, resp, mirror),
    }
}

fn expect_body(resp: &Response, body: &[u8]) -> Result<(), String> {
    if resp.body == body {
        Ok(())
    } else {
        Err(format!("body {:?}", String::from_utf8_lossy(&resp.body)))
    }
}

fn parse_json(body: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(body).map_err(|e| {
        format!(
            "body is not JSON ({e}): {:?}",
            String::from_utf8_lossy(body)
        )
    })
}

fn check_write(r: &Framed, resp: &Response, mirror: &mut Mirror) -> Result<(), String> {
    let edits = parse_patch_body(&r.body).map_err(|e| format!("200 for a refused body: {e:?}"))?;
    let json = parse_json(&resp.body)?;
    if json["updated"].as_u64() != Some(edits.len() as u64) {
        return Err(format!(
            "updated {} for {} edits",
            json["updated"],
            edits.len()
        ));
    }
    let generation = json["generation"].as_u64().ok_or("no generation")?;
    if let Some(before) = mirror.generation
        && generation != before + 1
    {
        return Err(format!("generation {generation} after {before}"));
    }
    mirror.generation = Some(generation);
    for edit in edits {
        mirror.week[usize::from(edit.slot_index)] = Some(edit.status);
    }
    Ok(())
}

/// Reads in the home zone (UTC for the fuzzing server) show the home week unchanged,
/// so each cell must equal the mirror.
fn check_read(r: &Framed, resp: &Response, mirror: &Mirror) -> Result<(), String> {
    let mut scratch = [0u8; MAX_TZ_LEN_BYTES];
    let params = parse_read_params(&r.query, &mut scratch).map_err(|e| format!("{e:?}"))?;
    let zone = params.tz.and_then(zones::lookup).unwrap_or_else(zones::utc);
    let home = zone == zones::utc();
    let cell_matches = |cell: usize, text: &str| match mirror.week[cell] {
        Some(status) => status.as_str() == text,
        None => Status::parse(text).is_some(),
    };
    if r.path == b"/availability/csv" {
        let text = String::from_utf8(resp.body.clone()).map_err(|_| "CSV is not UTF-8")?;
        let rows: Vec<&str> = text.split("\r\n").collect();
        if rows.first() != Some(&"Time,Monday,Tuesday,Wednesday,Thursday,Friday,Saturday,Sunday") {
            return Err("CSV header".into());
        }
        for slot in 0..48 {
            let cells: Vec<&str> = rows
                .get(slot + 1)
                .ok_or("CSV too short")?
                .split(',')
                .collect();
            for day in 0..7 {
                let text = cells.get(day + 1).ok_or("CSV row too short")?;
                if home && !cell_matches(day * 48 + slot, text) {
                    return Err(format!(
                        "CSV day {day} slot {slot} is {text}, the mirror says {:?}",
                        mirror.week[day * 48 + slot]
                    ));
                }
            }
        }
        return Ok(());
    }
    let json = parse_json(&resp.body)?;
    if json["timezone"].as_str() != Some(zones::name(zone)) {
        return Err(format!(
            "timezone {} for {}",
            json["timezone"],
            zones::name(zone)
        ));
    }
    if r.path == b"/availability/slot" {
        let day = usize::from(params.day.ok_or("no day")?);
        let slot = usize::from(params.slot.or(params.time_slot).ok_or("no slot")?);
        let time = format!("{:02}:{:02}", slot / 2, slot % 2 * 30);
        if json["day"].as_u64() != Some(day as u64) || json["time"].as_str() != Some(&time) {
            return Err(format!("slot answer for the wrong cell: {json}"));
        }
        let status = json["status"].as_str().ok_or("no status")?;
        if home && !cell_matches(day * 48 + slot, status) {
            return Err(format!(
                "cell {day}/{slot} is {status}, the mirror says {:?}",
                mirror.week[day * 48 + slot]
            ));
        }
        return Ok(());
    }
    let slots = json["slots"].as_array().ok_or("no slots array")?;
    if slots.len() != SLOTS_PER_WEEK {
        return Err(format!("{} slots", slots.len()));
    }
    for (cell, entry) in slots.iter().enumerate() {
        let status = entry["status"].as_str().ok_or("slot without status")?;
        if home && !cell_matches(cell, status) {
            return Err(format!(
                "week cell {cell} is {status}, the mirror says {:?}",
                mirror.week[cell]
            ));
        }
    }
    Ok(())
}
