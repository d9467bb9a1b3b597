//! `connection_cap` fuzz target: several scripted clients against one in-process
//! worker at its connection cap; see `availability_fuzz::cap` for the invariants.
#![no_main]

use availability_fuzz::cap::{self, actions::Script};

libfuzzer_sys::fuzz_target!(|script: Script| cap::run(&script));
