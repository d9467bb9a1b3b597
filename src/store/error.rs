//! What can go wrong with the data file, worded for the operator who must fix it.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// A data-file failure. Every variant names the file concerned.
#[derive(Debug)]
pub enum StoreError {
    /// Another owner (another process, or another `Store` in this one) holds the lock.
    Locked { path: PathBuf },
    /// The data file exists but is not a valid image; it is left untouched.
    Corrupt { path: PathBuf, problem: String },
    /// A system call failed; `op` says what was being attempted on `path`.
    Io {
        path: PathBuf,
        op: &'static str,
        source: io::Error,
    },
}

impl StoreError {
    /// The file the error is about.
    pub fn path(&self) -> &std::path::Path {
        match self {
            StoreError::Locked { path }
            | StoreError::Corrupt { path, .. }
            | StoreError::Io { path, .. } => path,
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Locked { path } => write!(
                f,
                "{} is locked: another availability-server owns this data directory; \
                 refusing to start. Stop the other server or use another data directory \
                 (deleting the lock file does not help: the directory is locked too).",
                path.display()
            ),
            StoreError::Corrupt { path, problem } => write!(
                f,
                "data file {} is corrupt: {problem}; refusing to start. Restore it from a \
                 backup or move it away to start empty.",
                path.display()
            ),
            StoreError::Io { path, op, source } => {
                write!(
                    f,
                    "data file I/O failed: could not {op} {}: {source}",
                    path.display()
                )
            }
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Io { source, .. } => Some(source),
            StoreError::Locked { .. } | StoreError::Corrupt { .. } => None,
        }
    }
}
