//! PATCH /availability on the worker: cheap checks (rate, bearer syntax, the
//! failure budget), full body validation (`patch_body`), then the job goes to the writer
//! thread, which alone runs bcrypt and touches the file.

use std::sync::mpsc::TrySendError;

use super::ApiHandler;
use super::patch_body::parse_patch_body;
use super::reply::{Extra, write_error};
use crate::auth::{BearerError, parse_bearer};
use crate::ratelimit::{Decision, monotonic_ns};
use crate::runtime::{Outcome, Request, Sink};
use crate::writer::{Command, WriteJob};

const AUTHENTICATE: &[u8] = b"WWW-Authenticate: Bearer\r\n";

impl ApiHandler {
    /// `client_ip`: the address its failed keys count against (the peer, or the
    /// client a trusted proxy names).
    pub(super) fn patch(
        &mut self,
        req: &Request<'_>,
        client_ip: std::net::IpAddr,
        sink: &mut Sink<'_>,
        rate: Option<Decision>,
    ) -> Outcome {
        // Cells are in the home zone: a `tz` here would be ignored, and a client that
        // meant its cells in that zone would get a wrong write acknowledged.
        if !req.head.query.is_empty() {
            write_error(
                sink,
                400,
                "unexpected_query",
                "PATCH takes no query parameters: its cells are in the home timezone",
                None,
                rate,
                Extra::None,
                false,
            );
            return Outcome::Done;
        }
        // A gzip body (say) would otherwise be read as JSON; RFC 9110 §15.5.16.
        if req.head.content_encoded {
            write_error(
                sink,
                415,
                "unsupported_encoding",
                "the body must be sent without a Content-Encoding (identity only)",
                None,
                rate,
                Extra::Line(b"Accept-Encoding: identity\r\n"),
                false,
            );
            return Outcome::Done;
        }
        let key = match parse_bearer(req.head.authorization) {
            Ok(key) => key,
            Err(e) => {
                let message = match e {
                    BearerError::Missing => "an Authorization: Bearer key is required",
                    BearerError::Malformed => "the Authorization header must be \"Bearer <key>\"",
                };
                write_error(
                    sink,
                    401,
                    "unauthorized",
                    message,
                    None,
                    rate,
                    Extra::Authenticate(AUTHENTICATE),
                    false,
                );
                return Outcome::Done;
            }
        };
        let failures = self.shared.auth_failures.peek(client_ip, monotonic_ns());
        if !failures.allowed {
            let extra = Extra::RetryAfter(failures.retry_after_secs);
            write_error(
                sink,
                429,
                "too_many_auth_failures",
                "too many failed keys from this address",
                None,
                rate,
                extra,
                false,
            );
            return Outcome::Done;
        }
        let job = WriteJob {
            conn: req.conn,
            reply: self.reply_to.clone(),
            peer_ip: client_ip,
            key: key.to_vec(),
            edits: super::precondition::check_preconditions(
                req.head.if_match,
                req.head.if_none_match_lines,
                req.head.if_none_match,
            )
            .and_then(|()| parse_patch_body(req.body)),
            close: sink.close,
            http10_keep_alive: sink.http10_keep_alive,
            rate,
        };
        match self.shared.writer.try_send(Command::Write(Box::new(job))) {
            Ok(()) => Outcome::Deferred,
            Err(TrySendError::Full(_)) => {
                write_error(
                    sink,
                    503,
                    "busy",
                    "too many writes in flight; retry shortly",
                    None,
                    rate,
                    Extra::RetryAfter(1),
                    false,
                );
                Outcome::Done
            }
            Err(TrySendError::Disconnected(_)) => {
                write_error(
                    sink,
                    503,
                    "unavailable",
                    "the server is shutting down",
                    None,
                    rate,
                    Extra::None,
                    false,
                );
                Outcome::Done
            }
        }
    }
}
