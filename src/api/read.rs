//! Read handlers. Everything here runs under the allocation-counting test:
//! answers are slices of the snapshot plus a few bytes of scratch.
//! (The only allocating branch is a week the snapshot does not hold: a `date=` week,
//! or the current one while the wall clock is outside the snapshot's two weeks; see
//! [`snapshot::render_on_demand`].)

use chrono::NaiveDate;

use super::ApiHandler;
use super::reply::{Extra, put_tail, write_error};
use super::target_memo::TargetError;
use crate::http::etag::{self, ETag};
use crate::http::query::{MAX_TZ_LEN_BYTES, ReadParams};
use crate::http::request::Method;
use crate::http::response::{
    ByteWriter, CACHE_READ, CORS_ANY, CSV_TYPE, JSON_TYPE, put_uncached_json_head, status_line,
};
use crate::ratelimit::Decision;
use crate::runtime::{Request, Sink};
use crate::snapshot::{self, Kind};
use crate::week::SLOTS_PER_DAY;
use crate::week::grid::{current_week_start, week_start_of};
use crate::week::zones::{self, ZoneId};

/// A small fixed JSON body (health, readiness).
pub fn status_body(
    sink: &mut Sink<'_>,
    status: u16,
    body: &'static [u8],
    rate: Option<Decision>,
    head_only: bool,
) {
    sink.status = status;
    let date = *sink.date;
    let (close, keep_alive) = (sink.close, sink.http10_keep_alive);
    let fitted = sink.write(|w| {
        put_uncached_json_head(w, status, body.len());
        put_tail(w, &date, rate, close, keep_alive);
        if !head_only {
            w.put(body);
        }
    });
    assert!(fitted, "the runtime reserves scratch for one response");
}

impl ApiHandler {
    /// Parses the query and resolves the zone; on error the response is written.
    /// The parameters come back without `tz`: the zone stands for it.
    fn read_target(
        &mut self,
        req: &Request<'_>,
        sink: &mut Sink<'_>,
        rate: Option<Decision>,
    ) -> Option<(ReadParams<'static>, ZoneId)> {
        let head_only = req.head.method == Method::Head;
        let mut tz_buf = [0u8; MAX_TZ_LEN_BYTES];
        let (code, message, name) = match self.target_memo.resolve(req.head.query, &mut tz_buf) {
            Ok(target) => return Some((target.params, target.zone.unwrap_or(self.snap.home_tz))),
            Err(TargetError::Query(e)) => (e.code, e.message, None),
            Err(TargetError::UnknownZone(name)) => {
                ("invalid_timezone", "unknown timezone", Some(name))
            }
        };
        write_error(sink, 400, code, message, name, rate, Extra::Cors, head_only);
        None
    }

    fn week_start_for(&self, zone: ZoneId, date: Option<NaiveDate>) -> NaiveDate {
        match date {
            Some(d) => week_start_of(d),
            None => current_week_start(zone, self.now_unix_s),
        }
    }

    pub(super) fn week(
        &mut self,
        req: &Request<'_>,
        sink: &mut Sink<'_>,
        rate: Option<Decision>,
        kind: Kind,
    ) {
        let head_only = req.head.method == Method::Head;
        let Some((params, zone)) = self.read_target(req, sink, rate) else {
            return;
        };
        sink.status = 200;
        let date = *sink.date;
        let (close, keep_alive) = (sink.close, sink.http10_keep_alive);
        let tail = |w: &mut ByteWriter<'_>| put_tail(w, &date, rate, close, keep_alive);
        let answer = match params.date {
            None => self.snap.answer(zone, self.now_unix_s),
            Some(d) => self.snap.answer_for_week(zone, week_start_of(d)),
        };
        match answer {
            Some(a) => {
                let (head, parts, tag) = match kind {
                    Kind::WeekJson => (a.json_head, [a.json_prefix, a.json_slots], a.json_tag),
                    Kind::Csv => (a.csv_head, [a.csv_body, Default::default()], a.csv_tag),
                };
                if req.head.if_none_match.is_some() {
                    let len_bytes = parts.iter().map(|p| p.len_bytes as usize).sum();
                    if not_modified(req, sink, Validator::of(kind, tag, len_bytes), rate) {
                        return;
                    }
                }
                sink.push_shared(&self.snap, head);
                assert!(
                    sink.write(tail),
                    "the runtime reserves scratch for one response"
                );
                if !head_only {
                    for part in parts {
                        sink.push_shared(&self.snap, part);
                    }
                }
            }
            None => {
                let week_start = self.week_start_for(zone, params.date);
                let built = snapshot::render_on_demand(&self.snap, zone, week_start, kind);
                let validator = Validator::of(kind, built.tag, built.body.len());
                if not_modified(req, sink, validator, rate) {
                    return;
                }
                let (head, body) = (built.head, built.body);
                sink.push_owned(head);
                assert!(
                    sink.write(tail),
                    "the runtime reserves scratch for one response"
                );
                if !head_only {
                    sink.push_owned(body);
                }
            }
        }
    }

    pub(super) fn slot(&mut self, req: &Request<'_>, sink: &mut Sink<'_>, rate: Option<Decision>) {
        let head_only = req.head.method == Method::Head;
        let Some((params, zone)) = self.read_target(req, sink, rate) else {
            return;
        };
        let fail = |sink: &mut Sink<'_>, code, message| {
            write_error(sink, 400, code, message, None, rate, Extra::Cors, head_only)
        };
        let Some(day) = params.day else {
            return fail(
                sink,
                "missing_parameter",
                "day is required (0 = Monday … 6 = Sunday)",
            );
        };
        let slot = match (params.time_slot, params.slot) {
            (Some(s), None) | (None, Some(s)) => s,
            (Some(_), Some(_)) => {
                return fail(sink, "invalid_query", "give time or slot, not both");
            }
            (None, None) => {
                return fail(
                    sink,
                    "missing_parameter",
                    "time=HH:MM or slot=0..47 is required",
                );
            }
        };
        let cell = day as usize * SLOTS_PER_DAY + slot as usize;
        let answer = match params.date {
            None => self.snap.answer(zone, self.now_unix_s),
            Some(d) => self.snap.answer_for_week(zone, week_start_of(d)),
        };
        let (week_start_text, status, tag) = match answer {
            Some(a) => (a.week_start_text, self.snap.grid(a)[cell], a.json_tag),
            None => {
                let week_start = self.week_start_for(zone, params.date);
                let (grid, tag) =
                    snapshot::grid_on_demand(&self.snap, zone, week_start, Kind::WeekJson);
                let mut text = [0u8; 10];
                crate::http::date::write_ymd(week_start, &mut text);
                (text, grid[cell], tag)
            }
        };
        let mut body_buf = [0u8; 512];
        let mut body = ByteWriter::new(&mut body_buf);
        snapshot::json::render_slot(
            &mut body,
            zones::name(zone),
            &week_start_text,
            cell,
            status.as_str(),
        );
        assert!(!body.overflowed(), "slot bodies are bounded");
        // A slot is part of its week: the week's tag changes whenever the slot can.
        if req.head.if_none_match.is_some() {
            let validator = Validator::of(Kind::WeekJson, tag, body.len_bytes());
            if not_modified(req, sink, validator, rate) {
                return;
            }
        }
        sink.status = 200;
        let date = *sink.date;
        let (close, keep_alive) = (sink.close, sink.http10_keep_alive);
        let fitted = sink.write(|w| {
            w.put(status_line(200))
                .put(JSON_TYPE)
                .put(CACHE_READ)
                .put(CORS_ANY)
                .put(b"ETag: ")
                .put(&tag)
                .put(b"\r\nContent-Length: ")
                .put_u64(body.len_bytes() as u64)
                .put(b"\r\n");
            put_tail(w, &date, rate, close, keep_alive);
            if !head_only {
                w.put(body.written());
            }
        });
        assert!(fitted, "the runtime reserves scratch for one response");
    }
}

/// What a `304` repeats of the answer it stands for.
struct Validator {
    tag: ETag,
    content_type: &'static [u8],
    len_bytes: usize,
}

impl Validator {
    fn of(kind: Kind, tag: ETag, len_bytes: usize) -> Validator {
        let content_type = match kind {
            Kind::WeekJson => JSON_TYPE,
            Kind::Csv => CSV_TYPE,
        };
        Validator {
            tag,
            content_type,
            len_bytes,
        }
    }
}

/// Answers `304 Not Modified` if the request's `If-None-Match` names the answer's tag
/// (RFC 9110 §13.1.2). No body; the fields SPEC §4 puts on every response, with the
/// `Content-Type` and `Content-Length` of the 200 it stands for (§8.6 allows exactly
/// that length), and `ETag`, `Cache-Control` and CORS as on the 200 (§15.4.5).
/// Returns whether it answered.
fn not_modified(
    req: &Request<'_>,
    sink: &mut Sink<'_>,
    validator: Validator,
    rate: Option<Decision>,
) -> bool {
    let Some(value) = req.head.if_none_match else {
        return false;
    };
    let quoted = validator.tag;
    if !etag::none_match(value, &quoted) {
        return false;
    }
    sink.status = 304;
    let date = *sink.date;
    let (close, keep_alive) = (sink.close, sink.http10_keep_alive);
    let fitted = sink.write(|w| {
        w.put(status_line(304))
            .put(validator.content_type)
            .put(CACHE_READ)
            .put(CORS_ANY)
            .put(b"ETag: ")
            .put(&quoted)
            .put(b"\r\nContent-Length: ")
            .put_u64(validator.len_bytes as u64)
            .put(b"\r\n");
        put_tail(w, &date, rate, close, keep_alive);
    });
    assert!(fitted, "the runtime reserves scratch for one response");
    true
}
