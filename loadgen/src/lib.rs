//! `loadgen`: an HTTP/1.1 load generator for availability-server, on mio threads.
//!
//! Closed loop by default (each connection sends its next request when the previous
//! answer is complete, like wrk); `--rate` switches to a constant-rate open loop with
//! latency measured from each request's intended send time (like wrk2).
//!
//! Module map: [`cli`] flags → [`Config`]; [`runner`] threads and progress; [`worker`]
//! one thread's event loop; [`conn`] the connection state machine; [`http`] response
//! framing; [`schedule`] clock, open-loop schedule and timerfd; [`request`] the request
//! mix; [`target`] URLs and the loopback rule; [`tls`] rustls setup; [`report`] counters
//! and output, [`by_request`] the same per mix entry.

pub mod by_request;
pub mod cli;
pub mod conn;
pub mod http;
pub mod report;
pub mod request;
pub mod runner;
pub mod schedule;
pub mod target;
pub mod tls;
pub mod worker;

pub use cli::{Args, Config};
pub use report::Report;
pub use runner::run;
