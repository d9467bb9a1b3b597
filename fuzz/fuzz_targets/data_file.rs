//! `data_file` fuzz target: see `availability_fuzz::data_file` for the properties.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| availability_fuzz::data_file::check(data));
