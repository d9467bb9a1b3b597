//! `query` fuzz target: see `availability_fuzz::query` for the properties.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| availability_fuzz::query::check(data));
