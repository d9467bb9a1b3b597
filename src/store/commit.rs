//! The durable write procedure shared by `Store::open` (new file) and `Store::commit`:
//! temp file (O_CREAT|O_EXCL) → write → fsync → map and verify → rename → fsync directory.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::{Path, PathBuf};

use memmap2::{Mmap, MmapOptions};

use super::StoreError;
use super::format::{FILE_LEN_BYTES, Record, decode, encode};

/// The files a store uses, all in one directory (rename is only atomic within one
/// file system, so the temporary file must live beside the data file).
#[derive(Debug)]
pub(super) struct Paths {
    pub dir: PathBuf,
    pub data: PathBuf,
    pub temp: PathBuf,
    pub lock: PathBuf,
}

impl Paths {
    pub fn new(data_dir: &Path) -> Paths {
        let dir = if data_dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            data_dir.to_path_buf()
        };
        Paths {
            data: dir.join(super::DATA_FILE_NAME),
            temp: dir.join(super::TEMP_FILE_NAME),
            lock: dir.join(super::LOCK_FILE_NAME),
            dir,
        }
    }
}

/// Test hook: a point of the commit procedure after which the process "dies".
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommitStep {
    /// The temporary file exists, empty.
    CreatedTemp,
    /// Half of the new image is in the temporary file.
    WrotePartial,
    /// The whole image is written to the temporary file but not fsynced.
    WroteTemp,
    /// The temporary file is fsynced; the data file is still the old one.
    SyncedTemp,
    /// The rename is done but the directory is not fsynced.
    Renamed,
    /// The directory is fsynced: the commit is durable, only the re-map is missing.
    SyncedDir,
}

/// Test hooks that inject failures into the next commit.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Faults {
    pub temp_fsync: bool,
    pub dir_fsync: bool,
    /// After a failed directory fsync, writing the old image back fails too (at its
    /// temporary file's fsync, so the new image stays at the data path).
    pub restore: bool,
}

/// A completed rename: the new image is the data file and `map` maps it.
pub(super) struct Renamed {
    pub map: Mmap,
    /// Whether the rename was made durable. An error here means the data file already
    /// holds the new image but a power loss could still bring back the old one.
    pub dir_sync: Result<(), StoreError>,
}

pub(super) fn io_err(path: &Path, op: &'static str, source: io::Error) -> StoreError {
    StoreError::Io {
        path: path.to_path_buf(),
        op,
        source,
    }
}

/// An injected failure that looks like a disk error.
fn injected_eio() -> io::Error {
    io::Error::from_raw_os_error(libc::EIO)
}

/// Maps the first `FILE_LEN_BYTES` of `file` read-only. The caller has checked the size.
pub(super) fn map_file(path: &Path, file: &File) -> Result<Mmap, StoreError> {
    // SAFETY: the mapping is read-only, and a data file is never modified in place: every
    // commit writes a new inode and renames it over the path, under the exclusive lock.
    // So the mapped bytes cannot change or shrink (SIGBUS) unless something outside the
    // locking protocol edits or truncates the file; `Store` also copies the decoded
    // `Record` out once instead of reading through the mapping later.
    unsafe { MmapOptions::new().len(FILE_LEN_BYTES).map(file) }
        .map_err(|err| io_err(path, "memory-map", err))
}

/// Opens a directory for `fsync` (a read-only handle is enough on Linux).
pub(super) fn open_dir(dir: &Path) -> Result<File, StoreError> {
    File::open(dir).map_err(|err| io_err(dir, "open the directory", err))
}

pub(super) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    sync_dir_handle(dir, &open_dir(dir)?)
}

/// `fsync` of an open directory: makes the entries created or renamed in it durable.
pub(super) fn sync_dir_handle(dir: &Path, handle: &File) -> Result<(), StoreError> {
    handle
        .sync_all()
        .map_err(|err| io_err(dir, "fsync the directory", err))
}

/// Writes `record` as the new data file. Returns `Ok(None)` only when the test hook
/// `stop_after` stopped the procedure (leaving everything as a dead process would).
/// Any error before the rename leaves the old data file untouched and removes the
/// temporary file (best effort: a leftover is removed by the next `Store::open`).
/// `dir` is an open handle on `paths.dir`, kept by the store so that the directory
/// fsync costs no `open`/`close`.
pub(super) fn write_image(
    paths: &Paths,
    dir: &File,
    record: &Record,
    faults: Faults,
    stop_after: Option<CommitStep>,
) -> Result<Option<Renamed>, StoreError> {
    let stop = |step: CommitStep| stop_after == Some(step);
    // A temporary file left by a commit whose clean-up failed (say, while the file
    // system was read-only) would fail every later O_EXCL create: the store holds
    // the directory's lock, so nobody else can be writing it.
    remove_temp(dir, &paths.temp);
    // O_EXCL: never write through a file someone else created or a symlink.
    let file = at(dir, super::TEMP_FILE_NAME, |fd, name| {
        let flags = libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC;
        // SAFETY: `name` is a NUL-terminated C string; `fd` is the open directory.
        unsafe { libc::openat(fd, name, flags, 0o666 as libc::c_uint) }
    })
    // SAFETY: openat returned a new descriptor that nothing else owns.
    .map(|fd| unsafe { File::from_raw_fd(fd) })
    .map_err(|err| io_err(&paths.temp, "create the temporary file", err))?;
    if stop(CommitStep::CreatedTemp) {
        return Ok(None);
    }
    let map = match fill_temp(&paths.temp, file, record, faults, stop) {
        Ok(Some(map)) => map,
        Ok(None) => return Ok(None),
        Err(err) => {
            remove_temp(dir, &paths.temp);
            return Err(err);
        }
    };
    let data = std::ffi::CString::new(super::DATA_FILE_NAME).map_err(io::Error::other);
    let renamed = data.and_then(|data| {
        at(dir, super::TEMP_FILE_NAME, |fd, temp| {
            // SAFETY: both names are NUL-terminated C strings; `fd` is the directory.
            unsafe { libc::renameat(fd, temp, fd, data.as_ptr()) }
        })
    });
    if let Err(err) = renamed {
        remove_temp(dir, &paths.temp);
        return Err(io_err(&paths.data, "rename the temporary file over", err));
    }
    if stop(CommitStep::Renamed) {
        return Ok(None);
    }
    let dir_sync = if faults.dir_fsync {
        Err(io_err(&paths.dir, "fsync the directory", injected_eio()))
    } else {
        sync_dir_handle(&paths.dir, dir)
    };
    if stop(CommitStep::SyncedDir) {
        return Ok(None);
    }
    Ok(Some(Renamed { map, dir_sync }))
}

/// Runs `call` with the held directory's descriptor and `name` as a C string. The
/// commit works relative to the directory the store opened and locked, not by path:
/// if the directory is moved or replaced while the server runs, writes keep going
/// to (and fsyncing) the one that is locked, rather than into whatever now has its
/// name, unlocked and unsynced.
fn at(
    dir: &File,
    name: &str,
    call: impl FnOnce(libc::c_int, *const libc::c_char) -> libc::c_int,
) -> io::Result<libc::c_int> {
    let name = std::ffi::CString::new(name).map_err(io::Error::other)?;
    let rc = call(dir.as_raw_fd(), name.as_ptr());
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Removes the temporary file if it is there; a failure other than its absence is
/// logged (the next commit tries again before its create).
fn remove_temp(dir: &File, temp: &Path) {
    // SAFETY: `name` is a NUL-terminated C string; `fd` is the open directory.
    match at(dir, super::TEMP_FILE_NAME, |fd, name| unsafe {
        libc::unlinkat(fd, name, 0)
    }) {
        Ok(_) => {}
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => crate::say_err!("could not remove {}: {err}", temp.display()),
    }
}

/// Writes and fsyncs the image into the open temporary file, then maps it and checks it
/// reads back as `record`, so that after the rename nothing can fail but the directory
/// fsync, and the mapping is exactly the inode now at the data path.
fn fill_temp(
    temp: &Path,
    mut file: File,
    record: &Record,
    faults: Faults,
    stop: impl Fn(CommitStep) -> bool,
) -> Result<Option<Mmap>, StoreError> {
    let image = encode(record);
    if stop(CommitStep::WrotePartial) {
        file.write_all(&image[..FILE_LEN_BYTES / 2])
            .map_err(|err| io_err(temp, "write", err))?;
        return Ok(None);
    }
    file.write_all(&image)
        .map_err(|err| io_err(temp, "write", err))?;
    if stop(CommitStep::WroteTemp) {
        return Ok(None);
    }
    if faults.temp_fsync {
        return Err(io_err(temp, "fsync", injected_eio()));
    }
    // fdatasync: the data and the size (what reading it back needs) become durable;
    // the timestamps need not, so no separate inode flush is forced.
    file.sync_data().map_err(|err| io_err(temp, "fsync", err))?;
    if stop(CommitStep::SyncedTemp) {
        return Ok(None);
    }
    let map = map_file(temp, &file)?;
    match decode(&map) {
        Ok(read_back) if read_back == *record => Ok(Some(map)),
        Ok(_) => Err(io_err(
            temp,
            "verify",
            io::Error::new(io::ErrorKind::InvalidData, "read back a different record"),
        )),
        Err(problem) => Err(io_err(
            temp,
            "verify",
            io::Error::new(io::ErrorKind::InvalidData, problem),
        )),
    }
}
