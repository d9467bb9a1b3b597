//! Keeping a second process out of the data directory: the directory is created
//! durably, then locked twice over (a `flock` on the directory itself and one on the
//! lock file inside it), both non-blocking so that a second server fails at once.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::Path;

use super::StoreError;
use super::commit::{Paths, io_err, sync_dir};
use super::create_data_dir;

/// Creates the data directory if missing and makes its entry durable in the parent.
pub(super) fn ensure_dir(dir: &Path) -> Result<(), StoreError> {
    if dir.is_dir() {
        return Ok(());
    }
    if dir.exists() {
        let not_a_dir = io::Error::new(
            io::ErrorKind::AlreadyExists,
            "something that is not a directory is in its place",
        );
        return Err(io_err(dir, "create the data directory", not_a_dir));
    }
    create_data_dir(dir).map_err(|err| io_err(dir, "create the data directory", err))?;
    match dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => sync_dir(parent),
        _ => sync_dir(Path::new(".")),
    }
}

/// Opens the lock file and takes an exclusive, non-blocking `flock` on it (which is what
/// `File::try_lock` does on Unix). The lock belongs to this open file description, so a
/// second open of the same path conflicts even within one process.
pub(super) fn take_lock(lock_path: &Path) -> Result<File, StoreError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(lock_path)
        .map_err(|err| io_err(lock_path, "open the lock file", err))?;
    lock_held(&file, lock_path)?;
    Ok(file)
}

/// `flock` on the data directory. Some file systems cannot lock a directory (NFS
/// emulates `flock` with byte-range locks, which need a file open for writing): there
/// the lock file alone keeps a second process out, as before, and the log says so.
pub(super) fn lock_dir(dir: &File, paths: &Paths) -> Result<(), StoreError> {
    match dir.try_lock() {
        Ok(()) => Ok(()),
        Err(TryLockError::WouldBlock) => Err(StoreError::Locked {
            path: paths.dir.clone(),
        }),
        Err(TryLockError::Error(err))
            if matches!(
                err.raw_os_error(),
                Some(libc::EBADF | libc::ENOLCK | libc::EOPNOTSUPP | libc::EINVAL)
            ) =>
        {
            crate::say_err!(
                "cannot lock the data directory {} ({err}); relying on {} alone",
                paths.dir.display(),
                paths.lock.display()
            );
            Ok(())
        }
        Err(TryLockError::Error(err)) => Err(io_err(&paths.dir, "lock", err)),
    }
}

/// An exclusive, non-blocking `flock` on the lock file.
fn lock_held(file: &File, path: &Path) -> Result<(), StoreError> {
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(TryLockError::WouldBlock) => Err(StoreError::Locked {
            path: path.to_path_buf(),
        }),
        Err(TryLockError::Error(err)) => Err(io_err(path, "lock", err)),
    }
}
