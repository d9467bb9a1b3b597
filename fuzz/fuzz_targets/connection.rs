//! `connection` fuzz target: scripted client actions against one in-process server
//! over loopback; see `availability_fuzz::conn` for the invariants.
#![no_main]

use availability_fuzz::conn::{self, actions::Script};

libfuzzer_sys::fuzz_target!(|script: Script| conn::run(&script, conn::Transport::Alternate));
