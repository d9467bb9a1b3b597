//! The durable write procedure shared by `Store::open` (new file) and `Store::commit`:
//! temp file (O_CREAT|O_EXCL) → write → fsync → map and verify → rename → fsync directory.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
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
    // O_EXCL: never write through a file someone else created or a symlink.
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&paths.temp)
        .map_err(|err| io_err(&paths.temp, "create the temporary file", err))?;
    if stop(CommitStep::CreatedTemp) {
        return Ok(None);
    }
    let map = match fill_temp(&paths.temp, file, record, faults, stop) {
        Ok(Some(map)) => map,
        Ok(None) => return Ok(None),
        Err(err) => {
            let _ = fs::remove_file(&paths.temp);
            return Err(err);
        }
    };
    if let Err(err) = fs::rename(&paths.temp, &paths.data) {
        let _ = fs::remove_file(&paths.temp);
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
