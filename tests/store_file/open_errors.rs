//! A data directory the store can see but not use: every such error stops the open
//! and names its path; nothing is created, removed or rewritten. (Found missing by
//! `cargo mutants`: treating these errors as "no file there" passed every other test.)

use std::os::unix::fs::PermissionsExt;

use super::*;

#[test]
fn a_data_file_it_may_not_read_stops_the_open_and_is_left_alone() {
    let (temp, _) = committed("unreadable");
    let data = temp.file(DATA_FILE_NAME);
    let before = fs::read(&data).expect("read");
    fs::set_permissions(&data, fs::Permissions::from_mode(0o000)).expect("chmod");
    let owned = [
        temp.0.clone(),
        temp.data_dir(),
        temp.file(LOCK_FILE_NAME),
        data.clone(),
    ];
    let (data_dir, probe) = (temp.data_dir(), data.clone());
    let (probe, result) = super::unprivileged::run(&owned, move || {
        // The check below means something only if this thread really may not read it.
        let probe = fs::File::open(&probe).map(|_| ()).map_err(|e| e.kind());
        (probe, Store::open(&data_dir, zones::utc(), 0).map(|_| ()))
    });
    assert_eq!(
        probe,
        Err(std::io::ErrorKind::PermissionDenied),
        "test set-up"
    );
    // Taking this error for "no data file yet" would write a new, empty week over the
    // owner's (the rename is allowed: the directory is this user's).
    let err = result.expect_err("an unreadable data file");
    let StoreError::Io { path, op, source } = &err else {
        panic!("expected Io, got {err:?}");
    };
    assert_eq!((path, *op), (&data, "open"));
    assert_eq!(source.kind(), std::io::ErrorKind::PermissionDenied);
    // The cause stays reachable for callers that walk `source()` chains.
    let cause = std::error::Error::source(&err).expect("an I/O error has a source");
    assert_eq!(cause.to_string(), source.to_string());
    assert!(
        err.to_string().contains(&data.display().to_string()),
        "{err}"
    );
    let meta = fs::metadata(&data).expect("still there");
    assert_eq!(meta.permissions().mode() & 0o777, 0, "mode untouched");
    // Readable again (for a test run by an ordinary user too) to compare the bytes.
    fs::set_permissions(&data, fs::Permissions::from_mode(0o600)).expect("chmod");
    assert_eq!(fs::read(&data).expect("read"), before);
    assert!(!temp.file(TEMP_FILE_NAME).exists());
}

#[test]
fn a_directory_at_the_temporary_path_stops_the_open() {
    let (temp, _) = committed("temp-dir");
    let data = temp.file(DATA_FILE_NAME);
    let before = fs::read(&data).expect("read");
    fs::create_dir(temp.file(TEMP_FILE_NAME)).expect("mkdir");
    // Every commit would fail on it later; an operator hears of it at the start.
    let err = Store::open(&temp.data_dir(), zones::utc(), 0).expect_err("temp is a dir");
    let StoreError::Io { path, op, .. } = &err else {
        panic!("expected Io, got {err:?}");
    };
    assert_eq!(
        (path, *op),
        (
            &temp.file(TEMP_FILE_NAME),
            "remove the stale temporary file"
        )
    );
    assert!(temp.file(TEMP_FILE_NAME).is_dir(), "left as found");
    assert_eq!(fs::read(&data).expect("read"), before);
}
