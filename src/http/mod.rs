//! HTTP/1.1 wire format, without I/O: parsing request heads ([`request`]), decoding
//! chunked bodies ([`chunked`]), reading the read routes' query parameters ([`query`]),
//! entity tags and `If-None-Match` ([`etag`]) and formatting dates ([`date`]).
//!
//! Everything on the read path here (head parsing, query parsing, the `Date` cache)
//! works on borrowed bytes and fixed-size arrays and never allocates.

pub mod chunked;
pub mod date;
pub mod etag;
mod fields;
pub mod memo;
pub mod query;
pub mod request;
pub mod response;

pub use chunked::{ChunkError, ChunkedDecoder, Progress};
pub use date::{DateCache, IMF_FIXDATE_LEN, format_imf_fixdate, write_ymd};
pub use query::{QueryError, ReadParams, parse_read_params};
pub use request::{
    BodyKind, Head, HeadError, MAX_HEADERS, Method, parse_head, starts_as_head_request,
};
