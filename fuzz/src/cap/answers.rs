//! What a `connection_cap` client expects of each answer, and the check of every
//! response that comes, in order, against the request it answers.

use availability_server::http::Method;

use super::client::Client;
use crate::conn::client::{Response, take_response};
use crate::framing::head_like;
use crate::lines::find;

/// The interim response to `Expect: 100-continue`.
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// A queued request and what its answer must be.
pub(super) struct Expected {
    /// Its bytes, and where they start in the connection's stream.
    pub(super) bytes: Vec<u8>,
    pub(super) start: usize,
    pub(super) status: u16,
    pub(super) marker: Option<Vec<u8>>,
}

impl Expected {
    pub(super) fn end(&self) -> usize {
        self.start + self.bytes.len()
    }
    fn head_only(&self) -> bool {
        head_like(&self.bytes) == Some(Method::Head)
    }
    fn expects_continue(&self) -> bool {
        find(&self.bytes, b"Expect: 100-continue").is_some()
    }
}

impl Client {
    /// Takes every complete response and checks it against the request it answers.
    pub fn take_responses(&mut self) -> Result<(), String> {
        if let Some(problem) = &self.tls_problem {
            return Err(problem.clone());
        }
        while !self.buf.is_empty() {
            if self.close_announced {
                return Err("bytes after a Connection: close response".into());
            }
            let Some(front) = self.requests.front() else {
                return Err("bytes that answer no request".into());
            };
            let complete = front.end() <= self.sent_bytes;
            // Sent once its head is in, before the body: the request may not be whole.
            let started = self.sent_bytes > front.start;
            if started && front.expects_continue() && !self.continued {
                if self.buf.starts_with(CONTINUE) {
                    self.buf.drain(..CONTINUE.len());
                    self.continued = true;
                    continue;
                }
                if CONTINUE.starts_with(&self.buf) {
                    return Ok(()); // part of the interim response so far
                }
            }
            // A refusal of a request not sent whole is headers only if what came of it
            // starts like a HEAD.
            let sent_part = &front.bytes[..self
                .sent_bytes
                .saturating_sub(front.start)
                .min(front.bytes.len())];
            let head_only = if complete {
                front.head_only()
            } else {
                head_like(sent_part) == Some(Method::Head)
            };
            let Some(response) = take_response(&mut self.buf, head_only)? else {
                return Ok(());
            };
            if !complete {
                // Only a stalled request is answered before it is whole: cut off, 408.
                if front.start >= self.sent_bytes || response.status != 408 || !response.close {
                    return Err(format!(
                        "an answer to a request not sent whole ({} of {} bytes): {response:?}",
                        self.sent_bytes.saturating_sub(front.start),
                        front.bytes.len()
                    ));
                }
                self.cut_off = true;
                self.close_announced = true;
                continue;
            }
            self.check(front, &response)?;
            self.requests.pop_front();
            self.continued = false;
            self.close_announced |= response.close;
        }
        Ok(())
    }

    fn check(&self, request: &Expected, response: &Response) -> Result<(), String> {
        if response.status != request.status {
            return Err(format!(
                "answered {}, SPEC says {}: {:?}",
                response.status,
                request.status,
                String::from_utf8_lossy(&request.bytes)
            ));
        }
        if let Some(marker) = &request.marker
            && !request.head_only()
            && find(&response.body, marker).is_none()
        {
            return Err(format!(
                "the answer lacks {:?}",
                String::from_utf8_lossy(marker)
            ));
        }
        Ok(())
    }
}
