//! Crashes at every step of a commit, and failed fsyncs: the file holds the old or
//! the new record, never a mix, and an unacknowledged write is never served.

use super::*;

#[test]
fn a_crash_at_any_step_leaves_the_old_or_the_new_record() {
    // Before the rename the data file is untouched: the old record. From the rename on,
    // the data file is the new image (a power loss before the directory fsync could still
    // bring back the old one; the write was not acknowledged then, so both are fine).
    let expectations = [
        (CommitStep::CreatedTemp, false),
        (CommitStep::WrotePartial, false),
        (CommitStep::WroteTemp, false),
        (CommitStep::SyncedTemp, false),
        (CommitStep::Renamed, true),
        (CommitStep::SyncedDir, true),
    ];
    for (step, expect_new) in expectations {
        let label = format!("{step:?}");
        let (temp, old) = committed(&label);
        let store = open(&temp.data_dir());
        let mut next_week = sample_week();
        next_week.set(4, 20, Status::Available);
        store
            .commit_crashing_after(&next_week, 7_000, step)
            .expect(&label);
        // The "dead process" left its temporary file behind exactly when it had not
        // renamed it yet, so the hook really stopped where it claims.
        assert_eq!(temp.file(TEMP_FILE_NAME).exists(), !expect_new, "{label}");

        let reopened = Store::open(&temp.data_dir(), zones::utc(), 8_000).expect(&label);
        let expected = if expect_new {
            Record {
                generation: old.generation + 1,
                written_unix_ms: 7_000,
                week: next_week,
                ..old
            }
        } else {
            old
        };
        assert_eq!(reopened.record(), expected, "{label}");
        assert!(
            !temp.file(TEMP_FILE_NAME).exists(),
            "{label}: stale temp removed"
        );
    }
}

#[test]
fn a_stale_temp_file_without_a_data_file_still_gives_a_new_file() {
    let temp = TempDir::new("stale");
    fs::create_dir_all(temp.data_dir()).expect("mkdir");
    fs::write(temp.file(TEMP_FILE_NAME), b"half a commit").expect("write");
    let store = open(&temp.data_dir());
    assert_eq!(store.record().generation, 0);
    assert!(!temp.file(TEMP_FILE_NAME).exists());
}

#[test]
fn failed_fsync_keeps_the_old_record_and_leaves_no_temp_file() {
    let (temp, old) = committed("fsync");
    let mut store = open(&temp.data_dir());
    let old_bytes = fs::read(store.path()).expect("read");
    store.fail_next_fsync();
    let err = store
        .commit(&Week::empty(), 9_000)
        .expect_err("the fsync fails");
    let StoreError::Io { op, source, .. } = &err else {
        panic!("expected Io, got {err:?}");
    };
    assert_eq!(*op, "fsync");
    assert_eq!(source.raw_os_error(), Some(libc::EIO));
    // The failure was one-shot.
    old_kept_and_next_commit_builds_on_it(&temp, store, old, &old_bytes);
}

#[test]
fn failed_directory_fsync_is_an_error_and_the_old_image_is_written_back() {
    let (temp, old) = committed("dirsync");
    let old_bytes = fs::read(temp.file(DATA_FILE_NAME)).expect("read");
    let mut store = open(&temp.data_dir());
    store.fail_next_dir_fsync();
    let err = store
        .commit(&Week::empty(), 9_000)
        .expect_err("the directory fsync fails");
    assert!(
        matches!(
            &err,
            StoreError::Io {
                op: "fsync the directory",
                ..
            }
        ),
        "{err:?}"
    );
    // The refused image was renamed in, then the last durable one written back.
    old_kept_and_next_commit_builds_on_it(&temp, store, old, &old_bytes);
}

/// After a refused commit: the record, the mapping and the file are the old ones, no
/// temporary file is left, and the next commit builds on the old generation and is
/// what a reopen reads.
fn old_kept_and_next_commit_builds_on_it(
    temp: &TempDir,
    mut store: Store,
    old: Record,
    old_bytes: &[u8],
) {
    assert_eq!(store.record(), old);
    assert_eq!(store.mapped_image(), old_bytes);
    assert_eq!(fs::read(store.path()).expect("read"), old_bytes);
    assert!(!temp.file(TEMP_FILE_NAME).exists());
    let next = store
        .commit(&Week::empty(), 9_500)
        .expect("commit after the failure");
    assert_eq!(next.generation, old.generation + 1);
    drop(store);
    assert_eq!(open(&temp.data_dir()).record(), next);
}

#[test]
fn when_the_write_back_fails_too_the_store_follows_the_file() {
    let (temp, old) = committed("dirsync-restore");
    let mut store = open(&temp.data_dir());
    store.fail_next_dir_fsync_and_restore();
    store
        .commit(&Week::empty(), 9_000)
        .expect_err("the directory fsync fails");
    let on_disk = fs::read(store.path()).expect("read");
    assert_eq!(store.record().generation, old.generation + 1);
    assert_eq!(store.record().week, Week::empty());
    assert_eq!(store.mapped_image(), &on_disk[..]);
    assert!(!temp.file(TEMP_FILE_NAME).exists());
    drop(store);
    assert_eq!(
        open(&temp.data_dir()).record().generation,
        old.generation + 1
    );
}
