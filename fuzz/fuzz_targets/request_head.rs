//! `request_head` fuzz target: see `availability_fuzz::head` for the properties.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| availability_fuzz::head::check(data));
