//! Property checks behind the fuzz targets in `fuzz_targets/`. Each target is a thin
//! wrapper around one `check`/`run` function here, so the same checks can be run over
//! the committed corpora by `cargo test` (tests/seeds.rs) without libFuzzer.

pub mod cap;
pub mod chunked;
pub mod conn;
pub mod crc32;
pub mod data_file;
pub mod framing;
pub mod head;
pub mod lines;
pub mod patch;
pub mod query;
