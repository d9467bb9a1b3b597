//! The store's directory changing under a running server: a temporary file left
//! behind, or the whole directory moved. Commits work relative to the directory
//! the store opened and locked, never by a path that may now name another one.

mod common;
#[path = "common/running.rs"]
mod running;

use std::fs;
use std::time::Duration;

use availability_server::store::{DATA_FILE_NAME, Store, TEMP_FILE_NAME};
use availability_server::week::zones;
use availability_server::week::{Status, Week};

fn open(dir: &std::path::Path) -> Store {
    let zone = zones::lookup(b"Europe/Berlin").expect("zone");
    Store::open(dir, zone, 1_000).expect("the store opens")
}

fn week_with(day: usize) -> Week {
    let mut week = Week::empty();
    week.set(day, 10, Status::Maybe);
    week
}

#[test]
fn a_temporary_file_left_behind_does_not_block_the_next_commit() {
    let root = common::created_dir("store-dir-stale-temp");
    let dir = root.join("data");
    let mut store = open(&dir);
    // What a commit whose clean-up failed (a read-only moment) leaves behind.
    fs::write(dir.join(TEMP_FILE_NAME), b"half an image").expect("leftover");
    let record = store
        .commit(&week_with(1), 2_000)
        .expect("the commit succeeds");
    assert_eq!(record.generation, 1);
    assert!(!dir.join(TEMP_FILE_NAME).exists());
    drop(store);
    assert_eq!(open(&dir).record().week, week_with(1));
}

#[test]
fn commits_follow_the_locked_directory_when_it_is_moved() {
    let root = common::created_dir("store-dir-moved");
    let dir = root.join("data");
    let moved = root.join("data.moved");
    let mut store = open(&dir);
    store.commit(&week_with(1), 2_000).expect("first commit");
    fs::rename(&dir, &moved).expect("move the directory away");
    fs::create_dir(&dir).expect("a new, empty directory at the old path");
    let record = store.commit(&week_with(2), 3_000).expect("second commit");
    assert_eq!(record.generation, 2);
    assert!(
        !dir.join(DATA_FILE_NAME).exists() && !dir.join(TEMP_FILE_NAME).exists(),
        "nothing written into the unlocked directory now at the old path"
    );
    drop(store);
    let reopened = open(&moved);
    assert_eq!(reopened.record().generation, 2);
    assert_eq!(reopened.record().week, week_with(2));
}

#[test]
fn a_file_where_the_data_directory_should_be_is_named_as_such() {
    let root = common::created_dir("store-dir-not-a-dir");
    let path = root.join("afile");
    std::fs::write(&path, b"x").expect("write");
    let Err(err) = Store::open(&path, zones::utc(), 1_000) else {
        panic!("a file is no data directory");
    };
    let err = err.to_string();
    assert!(err.contains("not a directory"), "{err}");
    assert!(err.contains("afile"), "{err}");
    assert_eq!(std::fs::read(&path).expect("read"), b"x", "left as it was");
}

#[test]
fn a_new_data_directory_is_private_and_an_existing_one_keeps_its_mode() {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let mode = |path: &std::path::Path| fs::metadata(path).expect("stat").permissions().mode();
    let root = common::created_dir("store-dir-mode");
    // Missing parents are created too, each private.
    let dir = root.join("parent").join("data");
    drop(open(&dir));
    assert_eq!(mode(&dir) & 0o777, 0o700);
    assert_eq!(mode(&root.join("parent")) & 0o777, 0o700);
    // An operator's own directory is theirs: its mode is not changed.
    let shared = root.join("shared");
    fs::DirBuilder::new()
        .mode(0o750)
        .create(&shared)
        .expect("mkdir");
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o750)).expect("chmod");
    drop(open(&shared));
    assert_eq!(mode(&shared) & 0o777, 0o750);
}

#[test]
fn a_relative_one_component_data_dir_is_made_in_the_working_directory() {
    // `--data-dir data`: the new directory's parent is the empty path, not ".", and
    // the entry made for it is synced through "." — a store that tried to open "" would
    // refuse to start. (The Makefile's `./data` never meets this case.)
    let root = common::created_dir("store-dir-relative");
    let server = running::spawn_in(
        &root,
        &[
            "--data-dir",
            "data",
            "--http-listen",
            "127.0.0.1:0",
            "--admin-listen",
            "off",
            "--no-tls",
        ],
        &[("API_KEY", "k")],
    );
    let lines = server.wait_for("ready", Duration::from_secs(10));
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("Created a new data file")),
        "{lines:#?}"
    );
    assert!(server.terminate().success());
    assert!(root.join("data").join(DATA_FILE_NAME).is_file());
}
