//! Temporary directories for tests, removed when their guard drops.

use std::path::{Path, PathBuf};

/// A test's temporary directory, removed (with everything in it) when dropped: at
/// the end of the test, and also when the test panics, so a failed assertion leaves
/// nothing behind and the test needs no clean-up lines of its own. Declare it before
/// any server or child process using it: locals drop in reverse order, so the
/// directory then outlives them.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The path, no longer removed on drop.
    pub fn keep(self) -> PathBuf {
        let mut this = std::mem::ManuallyDrop::new(self);
        std::mem::take(&mut this.0)
    }
}

impl std::ops::Deref for TempDir {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A unique path under the system temp dir (removed first if present, not created),
/// removed again when the returned guard is dropped.
pub fn temp_dir(tag: &str) -> TempDir {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "avail-test-{tag}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    TempDir(dir)
}

/// [`temp_dir`], created (empty).
pub fn created_dir(tag: &str) -> TempDir {
    let dir = temp_dir(tag);
    std::fs::create_dir_all(&dir).expect("create the temporary directory");
    dir
}
