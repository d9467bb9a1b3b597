//! The data file (SPEC §2): one 168-byte, memory-mapped file holding the home week, its
//! timezone and a generation counter, owned by one process at a time.
//!
//! - `format`: the byte layout, `encode` and the validating `decode`.
//! - `commit`: the crash-safe write (temp file, fsync, rename, directory fsync).
//! - `lock`: the data directory made durably and locked against a second process.
//! - `Store`: the lock, the startup load and the current mapping.
//!
//! Durability contract of `Store::commit` (and `Store::commit_writes`):
//! - `Ok(record)`: the new image is durable (renamed and the directory fsynced).
//! - `Err` from any step before the rename (create, write, fsync of the temporary file,
//!   map/verify, rename): the data file and the mapping are the old ones, the temporary
//!   file is removed, and `record()` is unchanged.
//! - `Err` from the directory fsync after the rename: whether the rename survives a
//!   crash is unknown, so the write must not be acknowledged, and the old image (the
//!   last durable one) is written back by the same procedure. Once that rename is
//!   done, the file, the mapping and `record()` are the old ones again. Only if the
//!   write-back fails before its rename does the data file stay the new image; then
//!   `record()` and the mapping follow the file (what a restart would load). Callers
//!   can tell the cases apart by `record().generation`.

mod commit;
mod error;
mod format;
mod lock;

use std::fs::{self, File};
use std::io;
use std::path::Path;

use memmap2::Mmap;

use crate::week::Week;
use crate::week::zones::ZoneId;

use commit::{Faults, Paths, io_err, map_file, open_dir, write_image};
use lock::{ensure_dir, lock_dir, take_lock};

#[doc(hidden)]
pub use commit::CommitStep;
pub use error::StoreError;
pub use format::{
    FILE_LEN_BYTES, FORMAT_VERSION, MAGIC, RawFile, Record, TZ_FIELD_LEN_BYTES, decode, encode,
};

/// Name of the data file inside the data directory.
pub const DATA_FILE_NAME: &str = "availability.dat";
/// Name of the advisory lock file inside the data directory.
pub const LOCK_FILE_NAME: &str = "availability.lock";
/// Name of the temporary file a commit writes before renaming it over the data file.
pub const TEMP_FILE_NAME: &str = "availability.dat.tmp";

/// Creates `dir` and any missing parents with mode 0700, which a umask can only narrow:
/// the data directory holds the TLS private key and the API key's hash, and whoever may
/// write to it may swap them (under `umask 000` a plain `create_dir_all` made it 0777).
/// An existing directory keeps its mode.
pub fn create_data_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Exclusive owner of a data directory: holds the lock for its whole life and the
/// mapping of the current data file.
#[derive(Debug)]
pub struct Store {
    paths: Paths,
    /// Kept open only to hold the `flock`; dropping the store releases it.
    _lock_file: File,
    /// The data directory, open for the directory fsync of every commit.
    dir: File,
    /// The current data file. `record` was decoded and validated from it when mapped.
    map: Mmap,
    /// The mapping a commit replaced, kept for [`Store::take_retired`].
    retired: Option<Mmap>,
    record: Record,
    faults: Faults,
    /// `open` made a new data file (there was none).
    created: bool,
}

/// The mapping of a data file that a commit replaced. Dropping it unmaps the file,
/// which (the file being unlinked by the rename) frees its inode and block:
/// file-system work that may wait on the disk, so a caller in a hurry drops it
/// later (the writer thread: after its replies).
#[derive(Debug)]
pub struct RetiredMap {
    _map: Mmap,
}

impl Store {
    /// Opens (or creates) the data directory and its data file and takes ownership.
    ///
    /// Creates `data_dir` if missing, takes the exclusive lock (a second opener, even in
    /// this process, gets [`StoreError::Locked`]), removes a temporary file left by an
    /// interrupted commit, then either maps and validates the existing data file (any
    /// problem is [`StoreError::Corrupt`] or [`StoreError::NotAFile`]; the file is never
    /// touched) or, if there is no data file, durably writes a new one: generation 0,
    /// every slot unavailable, home zone `home_tz_for_new_file`.
    pub fn open(
        data_dir: &Path,
        home_tz_for_new_file: ZoneId,
        now_unix_ms: u64,
    ) -> Result<Store, StoreError> {
        Store::open_with(
            data_dir,
            home_tz_for_new_file,
            now_unix_ms,
            Faults::default(),
        )
    }

    /// [`Store::open`], with `faults` injected into the write of a new data file.
    fn open_with(
        data_dir: &Path,
        home_tz_for_new_file: ZoneId,
        now_unix_ms: u64,
        faults: Faults,
    ) -> Result<Store, StoreError> {
        let paths = Paths::new(data_dir);
        ensure_dir(&paths.dir)?;
        let lock_file = take_lock(&paths.lock)?;
        // The directory is locked too: the lock file can be deleted (as "stale") while
        // its owner runs, and a second process would then lock a new one; a directory
        // cannot go away while the data file is in it.
        let dir = open_dir(&paths.dir)?;
        lock_dir(&dir, &paths)?;
        // Only after locking: before, the temporary file might be a live commit's.
        match fs::remove_file(&paths.temp) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => {
                return Err(io_err(&paths.temp, "remove the stale temporary file", err));
            }
        }
        // Only a regular file is ours to read or replace: a commit renames over the
        // path, which would silently swap a symbolic link for a file (or, dangling,
        // start an empty week), and opening a FIFO would block the start for good.
        match fs::symlink_metadata(&paths.data) {
            Ok(meta) if !meta.file_type().is_file() => {
                return Err(StoreError::NotAFile {
                    path: paths.data.clone(),
                    what: error::file_type_name(meta.file_type()),
                });
            }
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(io_err(&paths.data, "read the metadata of", err)),
        }
        let mut created = false;
        let (map, record) = match File::open(&paths.data) {
            Ok(file) => map_existing(&paths.data, &file)?,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                let record = Record {
                    generation: 0,
                    written_unix_ms: now_unix_ms,
                    home_tz: home_tz_for_new_file,
                    week: Week::empty(),
                };
                let renamed = write_image(&paths, &dir, &record, faults, None)?
                    .expect("no stop step was requested");
                if let Err(err) = renamed.dir_sync {
                    // The start fails, and a new data file must not outlive a failed
                    // start (the server discards it the same way after a later error):
                    // the next start creates it again and says so.
                    let _ = fs::remove_file(&paths.data);
                    return Err(err);
                }
                created = true;
                (renamed.map, record)
            }
            Err(err) => return Err(io_err(&paths.data, "open", err)),
        };
        Ok(Store {
            paths,
            _lock_file: lock_file,
            dir,
            map,
            retired: None,
            record,
            faults: Faults::default(),
            created,
        })
    }

    /// The data file, if `open` created it, there being none: worth telling an operator,
    /// whose mistyped `--data-dir` would otherwise start an empty week in silence, and
    /// what a start that fails must remove again.
    pub fn created_file(&self) -> Option<&Path> {
        self.created.then_some(self.paths.data.as_path())
    }

    /// The current record, as decoded from the current mapping when it was mapped.
    pub fn record(&self) -> Record {
        self.record
    }

    /// The data file.
    pub fn path(&self) -> &Path {
        &self.paths.data
    }

    /// The 168 bytes of the current mapping: the image `record()` was decoded from.
    pub fn mapped_image(&self) -> &[u8] {
        &self.map
    }

    /// Durably replaces the week: generation + 1, the home zone unchanged. See the module
    /// documentation for what `record()` holds after an error.
    pub fn commit(&mut self, week: &Week, now_unix_ms: u64) -> Result<Record, StoreError> {
        self.commit_writes(week, 1, now_unix_ms)
    }

    /// Durably replaces the week with the result of `writes` (≥ 1) writes applied in
    /// order, in one commit: the generation advances by `writes` (one per write, as if
    /// each had been committed alone; the intermediate states are never on disk, so
    /// none can be seen after a crash either). Same contract as [`Store::commit`].
    pub fn commit_writes(
        &mut self,
        week: &Week,
        writes: u64,
        now_unix_ms: u64,
    ) -> Result<Record, StoreError> {
        let faults = std::mem::take(&mut self.faults);
        let next = self.next_record(week, writes, now_unix_ms)?;
        let renamed = write_image(&self.paths, &self.dir, &next, faults, None)?
            .expect("no stop step was requested");
        // From here the data file is the new image whatever the directory fsync says.
        // The old mapping is not unmapped here (see `RetiredMap`).
        let durable = self.record;
        self.retired = Some(std::mem::replace(&mut self.map, renamed.map));
        self.record = next;
        let Err(failed) = renamed.dir_sync else {
            return Ok(next);
        };
        self.restore(&durable, faults.restore);
        Err(failed)
    }

    /// After a failed directory fsync: writes `durable` (the record before the commit)
    /// back over the data file, so that what is served and what a restart loads is the
    /// last durable week, not the refused write (SPEC §2). Best effort: if it fails
    /// before its rename, the store keeps following the file (the new image).
    fn restore(&mut self, durable: &Record, fail: bool) {
        let faults = Faults {
            temp_fsync: fail,
            ..Faults::default()
        };
        match write_image(&self.paths, &self.dir, durable, faults, None) {
            Ok(Some(renamed)) => {
                // The mapping of the refused image is dropped at once: this is the
                // error path, where unmapping off the writer's critical path buys nothing.
                self.map = renamed.map;
                self.record = *durable;
                if let Err(e) = renamed.dir_sync {
                    crate::say_err!(
                        "restoring generation {} after a failed commit: {e}",
                        durable.generation
                    );
                }
            }
            Ok(None) => unreachable!("no stop step was requested"),
            Err(e) => crate::say_err!(
                "could not restore generation {} after a failed commit; the data file keeps \
                 generation {}: {e}",
                durable.generation,
                self.record.generation
            ),
        }
    }

    /// The mapping the last commit replaced, if not taken yet; dropping it is the
    /// caller's business (an untaken one is dropped by the next commit).
    pub fn take_retired(&mut self) -> Option<RetiredMap> {
        self.retired.take().map(|map| RetiredMap { _map: map })
    }

    /// Test hook: runs a commit up to and including `step`, then stops as if the process
    /// died there: nothing is cleaned up, and the store (with its lock) is dropped.
    #[doc(hidden)]
    pub fn commit_crashing_after(
        mut self,
        week: &Week,
        now_unix_ms: u64,
        step: CommitStep,
    ) -> Result<(), StoreError> {
        let faults = std::mem::take(&mut self.faults);
        let next = self.next_record(week, 1, now_unix_ms)?;
        let stopped = write_image(&self.paths, &self.dir, &next, faults, Some(step))?;
        assert!(stopped.is_none(), "every CommitStep is a stop point");
        Ok(())
    }

    /// Test hook: the next commit's fsync of the temporary file fails with EIO.
    #[doc(hidden)]
    pub fn fail_next_fsync(&mut self) {
        self.faults.temp_fsync = true;
    }

    /// Test hook: the next commit's fsync of the directory (after the rename) fails
    /// with EIO.
    #[doc(hidden)]
    pub fn fail_next_dir_fsync(&mut self) {
        self.faults.dir_fsync = true;
    }

    /// Test hook: as [`Store::fail_next_dir_fsync`], and writing the old image back
    /// afterwards fails too (before its rename), so the data file keeps the new image.
    #[doc(hidden)]
    pub fn fail_next_dir_fsync_and_restore(&mut self) {
        self.faults.dir_fsync = true;
        self.faults.restore = true;
    }

    fn next_record(
        &self,
        week: &Week,
        writes: u64,
        now_unix_ms: u64,
    ) -> Result<Record, StoreError> {
        let refuse = |why: &str| {
            io_err(
                &self.paths.data,
                "advance the generation of",
                io::Error::other(why.to_owned()),
            )
        };
        if writes == 0 {
            return Err(refuse("a commit carries at least one write"));
        }
        let generation = self
            .record
            .generation
            .checked_add(writes)
            .ok_or_else(|| refuse("the generation counter is at its maximum"))?;
        Ok(Record {
            generation,
            written_unix_ms: now_unix_ms,
            home_tz: self.record.home_tz,
            week: *week,
        })
    }
}

/// Maps and validates an existing data file. Never writes to it.
fn map_existing(path: &Path, file: &File) -> Result<(Mmap, Record), StoreError> {
    let corrupt = |problem: String| StoreError::Corrupt {
        path: path.to_path_buf(),
        problem,
    };
    let metadata = file
        .metadata()
        .map_err(|err| io_err(path, "read the metadata of", err))?;
    if !metadata.is_file() {
        return Err(StoreError::NotAFile {
            path: path.to_path_buf(),
            what: error::file_type_name(metadata.file_type()),
        });
    }
    // Checked before mapping: a short file would fault when read through the mapping.
    if metadata.len() != FILE_LEN_BYTES as u64 {
        return Err(corrupt(format::size_problem(metadata.len())));
    }
    let map = map_file(path, file)?;
    let record = decode(&map).map_err(corrupt)?;
    Ok((map, record))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new data file whose directory fsync fails is a failed start, and the file is
    /// gone with it: a start that never came up has told nobody of an empty week.
    #[test]
    fn a_new_data_file_whose_directory_fsync_fails_is_a_failed_start_and_removed() {
        let dir = std::env::temp_dir().join(format!("store-open-fault-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let faults = Faults {
            dir_fsync: true,
            ..Faults::default()
        };
        let Err(err) = Store::open_with(&dir, crate::week::zones::utc(), 1, faults) else {
            panic!("the start fails");
        };
        assert!(err.to_string().contains("fsync the directory"), "{err}");
        let paths = Paths::new(&dir);
        assert!(!paths.data.exists(), "the new data file is removed");
        assert!(!paths.temp.exists());
        // The next start creates it again, and says so.
        let store = Store::open(&dir, crate::week::zones::utc(), 2).expect("opens");
        assert_eq!(store.created_file(), Some(paths.data.as_path()));
        drop(store);
        fs::remove_dir_all(&dir).expect("clean up");
    }
}
