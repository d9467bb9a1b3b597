//! Runs a closure as an ordinary user, so that tests can meet "permission denied".
//! Declared by the test files that use it with
//! `#[path = "common/unprivileged.rs"] mod unprivileged;`.

use std::path::PathBuf;

/// The unprivileged user the closure runs as when the tests run as root.
pub const NOBODY: u32 = 65_534;

/// Runs `f` on a new thread that the kernel's permission checks treat as an ordinary
/// user. As root, only that thread's file-system ids change (`setfsuid` is per thread,
/// and leaving uid 0 drops the thread's DAC-override capabilities), so the tests
/// running beside this one are unaffected; `owned` is handed to that user first.
/// Not as root, the test's own user is ordinary already.
pub fn run<T: Send + 'static>(owned: &[PathBuf], f: impl FnOnce() -> T + Send + 'static) -> T {
    // Safety: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if root {
        for path in owned {
            std::os::unix::fs::chown(path, Some(NOBODY), Some(NOBODY)).expect("chown");
        }
    }
    std::thread::spawn(move || {
        if root {
            // Safety: plain system calls on this thread's own credentials.
            unsafe {
                libc::setfsgid(NOBODY);
                libc::setfsuid(NOBODY);
            }
            // setfs*id report the previous id, not errors: check the effect.
            // Safety: -1 only queries.
            assert_eq!(
                unsafe { libc::setfsuid(u32::MAX) },
                NOBODY as i32,
                "setfsuid took"
            );
        }
        f()
    })
    .join()
    .expect("the unprivileged thread")
}
