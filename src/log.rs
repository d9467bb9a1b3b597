//! Log lines on stdout and stderr that never panic. `println!` and `eprintln!`
//! panic when the stream is gone (a logger pipe that died: EPIPE, since Rust
//! ignores SIGPIPE), which would turn a SIGTERM into a crash instead of a drain,
//! or kill a worker thread over a log line. A line that cannot be written is dropped.

/// `println!` that drops the line when stdout is gone.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `eprintln!` that drops the line when stderr is gone.
#[macro_export]
macro_rules! say_err {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}
