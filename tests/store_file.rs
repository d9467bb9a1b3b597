//! Black-box tests of the data file (SPEC §2) on a real file system: creation, reopen,
//! commit, rejection of every kind of corruption without touching the file, the
//! single-owner lock, crashes at every step of a commit, and failed fsyncs.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use availability_server::store::{
    CommitStep, DATA_FILE_NAME, FILE_LEN_BYTES, LOCK_FILE_NAME, Record, Store, StoreError,
    TEMP_FILE_NAME,
};
use availability_server::week::zones::{self, ZoneId};
use availability_server::week::{Status, Week};

#[path = "store_file/crash.rs"]
mod crash;
#[path = "store_file/open_errors.rs"]
mod open_errors;
#[path = "common/unprivileged.rs"]
mod unprivileged;

/// A unique directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "availability-store-{}-{label}-{unique}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&path);
        TempDir(path)
    }

    /// The data directory, not created yet: `Store::open` must create it.
    fn data_dir(&self) -> PathBuf {
        self.0.join("data")
    }

    fn file(&self, name: &str) -> PathBuf {
        self.data_dir().join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn zone(name: &str) -> ZoneId {
    zones::lookup(name.as_bytes()).expect("an IANA zone")
}

fn sample_week() -> Week {
    let mut week = Week::empty();
    week.set(0, 18, Status::Available);
    week.set(2, 28, Status::Maybe);
    week.set(6, 47, Status::Available);
    week
}

fn open(dir: &Path) -> Store {
    Store::open(dir, zone("America/Los_Angeles"), 1_000).expect("the store opens")
}

/// A data directory holding a committed file at generation 1 with `sample_week()`.
fn committed(label: &str) -> (TempDir, Record) {
    let temp = TempDir::new(label);
    let mut store = open(&temp.data_dir());
    let record = store.commit(&sample_week(), 2_000).expect("commit");
    (temp, record)
}

fn recrc(bytes: &mut [u8]) {
    let crc = crc32fast::hash(&bytes[16..168]);
    bytes[12..16].copy_from_slice(&crc.to_le_bytes());
}

#[test]
fn new_file_is_empty_generation_zero_in_the_given_zone() {
    let temp = TempDir::new("new");
    let store = Store::open(&temp.data_dir(), zone("Asia/Kolkata"), 1_234_567).expect("open");
    let record = store.record();
    assert_eq!(record.generation, 0);
    assert_eq!(record.written_unix_ms, 1_234_567);
    assert_eq!(zones::name(record.home_tz), "Asia/Kolkata");
    assert_eq!(record.week, Week::empty());
    assert_eq!(store.path(), temp.file(DATA_FILE_NAME));
    let on_disk = fs::read(store.path()).expect("read the data file");
    assert_eq!(on_disk.len(), FILE_LEN_BYTES);
    assert!(
        on_disk[84..].iter().all(|&b| b == 0),
        "every slot unavailable"
    );
    assert_eq!(&on_disk[32..44], b"Asia/Kolkata");
    assert_eq!(store.mapped_image(), &on_disk[..]);
    assert!(temp.file(LOCK_FILE_NAME).exists());
    assert!(!temp.file(TEMP_FILE_NAME).exists());
}

#[test]
fn reopen_reads_back_the_record_and_ignores_the_new_file_zone() {
    let (temp, record) = committed("reopen");
    let store = Store::open(&temp.data_dir(), zone("Asia/Tokyo"), 9_999).expect("reopen");
    assert_eq!(store.record(), record);
    assert_eq!(zones::name(store.record().home_tz), "America/Los_Angeles");
    assert_eq!(store.record().week.get(2, 28), Status::Maybe);
}

#[test]
fn commit_increments_generation_and_persists() {
    let temp = TempDir::new("commit");
    let mut store = open(&temp.data_dir());
    let mut week = Week::empty();
    for generation in 1..=3u64 {
        week.set(generation as usize, 0, Status::Available);
        let record = store.commit(&week, 5_000 + generation).expect("commit");
        assert_eq!(record.generation, generation);
        assert_eq!(record.written_unix_ms, 5_000 + generation);
        assert_eq!(record.week, week);
        assert_eq!(store.record(), record);
        assert_eq!(
            store.mapped_image(),
            &fs::read(store.path()).expect("read")[..]
        );
    }
    let final_record = store.record();
    drop(store);
    assert_eq!(open(&temp.data_dir()).record(), final_record);
    assert!(!temp.file(TEMP_FILE_NAME).exists());
}

#[test]
fn every_corruption_is_refused_by_name_and_left_untouched() {
    type Mutation = fn(&mut Vec<u8>);
    let cases: [(&str, Mutation, &str); 11] = [
        ("short", |b| b.truncate(100), "wrong size: 100 bytes"),
        ("long", |b| b.push(0), "wrong size: 169 bytes"),
        ("empty", |b| b.clear(), "wrong size: 0 bytes"),
        ("magic", |b| b[0] = b'X', "bad magic"),
        ("version", |b| b[8] = 9, "unsupported format version 9"),
        ("reserved", |b| b[10] = 1, "reserved bytes"),
        ("crc", |b| b[130] ^= 0x10, "CRC-32 mismatch"),
        (
            "code3",
            |b| {
                b[84 + 31] |= 0b11; // slot (2, 28)
                recrc(b);
            },
            "slot 124",
        ),
        (
            "unknown-tz",
            |b| {
                b[32..84].fill(0);
                b[32..46].copy_from_slice(b"Atlantis/Ruins");
                recrc(b);
            },
            "unknown home timezone \"Atlantis/Ruins\"",
        ),
        (
            "non-utf8-tz",
            |b| {
                b[33] = 0xC3; // a lone UTF-8 lead byte: "A\xC3erica/..."
                recrc(b);
            },
            "not valid UTF-8",
        ),
        (
            "tz-padding",
            |b| {
                b[83] = b'x';
                recrc(b);
            },
            "non-zero bytes after the name",
        ),
    ];
    for (label, mutate, expected_problem) in cases {
        let (temp, _) = committed(label);
        let data_path = temp.file(DATA_FILE_NAME);
        let mut bytes = fs::read(&data_path).expect("read");
        mutate(&mut bytes);
        fs::write(&data_path, &bytes).expect("write the corrupt file");

        let err = Store::open(&temp.data_dir(), zones::utc(), 3_000).expect_err(label);
        let StoreError::Corrupt { path, problem } = &err else {
            panic!("{label}: expected Corrupt, got {err:?}");
        };
        assert_eq!(path, &data_path, "{label}");
        assert!(problem.contains(expected_problem), "{label}: {problem}");
        let message = err.to_string();
        assert!(
            message.contains(&data_path.display().to_string()),
            "{label}: {message}"
        );
        assert!(message.contains(expected_problem), "{label}: {message}");
        assert_eq!(
            fs::read(&data_path).expect("read"),
            bytes,
            "{label}: file changed"
        );
        assert!(!temp.file(TEMP_FILE_NAME).exists(), "{label}");
    }
}

#[test]
fn a_directory_in_place_of_the_data_file_is_refused() {
    let temp = TempDir::new("dir");
    fs::create_dir_all(temp.file(DATA_FILE_NAME)).expect("mkdir");
    let err = Store::open(&temp.data_dir(), zones::utc(), 0).expect_err("not a file");
    assert!(
        matches!(
            err,
            StoreError::NotAFile {
                what: "a directory",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!err.to_string().contains("corrupt"), "{err}");
    assert!(temp.file(DATA_FILE_NAME).is_dir());
}

#[test]
fn second_owner_is_locked_out_until_the_first_drops() {
    let temp = TempDir::new("lock");
    let first = open(&temp.data_dir());
    let err = Store::open(&temp.data_dir(), zones::utc(), 0).expect_err("already owned");
    let StoreError::Locked { path } = &err else {
        panic!("expected Locked, got {err:?}");
    };
    assert_eq!(path, &temp.file(LOCK_FILE_NAME));
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    drop(first);
    open(&temp.data_dir());
}

#[test]
fn deleting_the_lock_file_does_not_let_a_second_owner_in() {
    let temp = TempDir::new("lock-deleted");
    let first = open(&temp.data_dir());
    fs::remove_file(temp.file(LOCK_FILE_NAME)).expect("rm lock file");
    let err = Store::open(&temp.data_dir(), zones::utc(), 0).expect_err("still owned");
    let StoreError::Locked { path } = &err else {
        panic!("expected Locked, got {err:?}");
    };
    assert_eq!(path, &temp.data_dir(), "the directory's own lock");
    drop(first);
    open(&temp.data_dir());
}

#[test]
fn a_data_file_that_is_a_symlink_or_a_fifo_is_refused_and_left_alone() {
    use std::os::unix::fs::FileTypeExt;
    let temp = TempDir::new("symlink");
    let target = temp.file("elsewhere.dat");
    fs::create_dir_all(temp.data_dir()).expect("mkdir");
    std::os::unix::fs::symlink(&target, temp.file(DATA_FILE_NAME)).expect("symlink");
    // Dangling: before, a new week was written over the link, silently.
    let err = Store::open(&temp.data_dir(), zones::utc(), 0).expect_err("a symlink");
    assert!(
        matches!(
            err,
            StoreError::NotAFile {
                what: "a symbolic link",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("is a symbolic link"), "{err}");
    assert!(!err.to_string().contains("corrupt"), "{err}");
    let meta = fs::symlink_metadata(temp.file(DATA_FILE_NAME)).expect("still there");
    assert!(meta.file_type().is_symlink());
    assert!(!target.exists());

    let temp = TempDir::new("fifo");
    let path = temp.file(DATA_FILE_NAME);
    fs::create_dir_all(temp.data_dir()).expect("mkdir");
    let c_path = std::ffi::CString::new(path.to_str().expect("utf-8")).expect("no NUL");
    // Safety: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0, "mkfifo");
    // Before, opening it blocked the start for good: a regression fails here, in time.
    let (tx, rx) = std::sync::mpsc::channel();
    let data_dir = temp.data_dir();
    std::thread::spawn(move || {
        let _ = tx.send(Store::open(&data_dir, zones::utc(), 0).map(|_| ()));
    });
    let err = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("Store::open returns instead of blocking on the FIFO")
        .expect_err("a fifo");
    assert!(
        matches!(err, StoreError::NotAFile { what: "a FIFO", .. }),
        "{err:?}"
    );
    assert!(
        fs::symlink_metadata(&path)
            .expect("kept")
            .file_type()
            .is_fifo()
    );
}

#[test]
fn on_disk_layout_matches_the_spec_table() {
    let temp = TempDir::new("layout");
    let mut store = Store::open(&temp.data_dir(), zone("Europe/Berlin"), 1).expect("open");
    let mut week = Week::empty();
    week.set(2, 28, Status::Available); // index 2*48+28 = 124 -> week byte 31, bits 0-1
    week.set(6, 47, Status::Maybe); // index 335 -> week byte 83, bits 6-7
    let now_unix_ms = 0x0102_0304_0506_0708;
    store.commit(&week, now_unix_ms).expect("commit");
    let bytes = fs::read(store.path()).expect("read");
    assert_eq!(bytes.len(), 168);
    assert_eq!(&bytes[0..8], b"AVAILWK1");
    assert_eq!(bytes[8..10], [1, 0], "version 1, little-endian");
    assert_eq!(bytes[10..12], [0, 0], "reserved");
    let crc = crc32fast::hash(&bytes[16..168]);
    assert_eq!(
        bytes[12..16],
        crc.to_le_bytes(),
        "CRC-32 of bytes 16..168, LE"
    );
    assert_eq!(bytes[16..24], [1, 0, 0, 0, 0, 0, 0, 0], "generation 1, LE");
    assert_eq!(bytes[24..32], [8, 7, 6, 5, 4, 3, 2, 1], "write time, LE");
    assert_eq!(&bytes[32..45], b"Europe/Berlin");
    assert!(
        bytes[45..84].iter().all(|&b| b == 0),
        "zone name zero-padded"
    );
    assert_eq!(bytes[84 + 31], 0b0000_0001);
    assert_eq!(bytes[84 + 83], 0b1000_0000);
    let other_set_bytes = bytes[84..].iter().filter(|&&b| b != 0).count();
    assert_eq!(other_set_bytes, 2, "no other slot is set");
}

#[test]
fn a_file_where_the_data_directory_should_be_is_an_io_error() {
    let temp = TempDir::new("notdir");
    fs::create_dir_all(&temp.0).expect("mkdir");
    fs::write(temp.data_dir(), b"not a directory").expect("write");
    let err = Store::open(&temp.data_dir(), zones::utc(), 0).expect_err("not a directory");
    assert!(matches!(err, StoreError::Io { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains(&temp.data_dir().display().to_string())
    );
}
