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
    /// The data file's path holds something other than a regular file (`what`: "a
    /// symbolic link", "a directory", …); it is left untouched.
    NotAFile { path: PathBuf, what: &'static str },
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
            | StoreError::NotAFile { path, .. }
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
            StoreError::NotAFile { path, what } => write!(
                f,
                "data file {} is {what}, not a regular file; refusing to start (only a \
                 regular file is read or replaced). Point --data-dir at the directory that \
                 holds the real file, or move this away to start empty.",
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
            StoreError::Locked { .. }
            | StoreError::Corrupt { .. }
            | StoreError::NotAFile { .. } => None,
        }
    }
}

/// How [`StoreError::NotAFile`] names what it found.
pub(super) fn file_type_name(file_type: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_symlink() {
        "a symbolic link"
    } else if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_socket() {
        "a socket"
    } else {
        "a device"
    }
}
