//! `patch_body` fuzz target: see `availability_fuzz::patch` for the properties.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| availability_fuzz::patch::check(data));
