//! SIGHUP and the API key: a reload re-reads the key where it can (the config file's
//! `api_key_hash`, the hash file) and says plainly when it cannot (the environment,
//! a flag), instead of claiming a reload that changed nothing.

mod common;

use availability_server::server::KeyReload;

const CELL: &str = r#"{"slots":[{"day":1,"slot":3,"status":"maybe"}]}"#;

fn patch_status(server: &common::TestServer, key: &str) -> u16 {
    common::patch(server.addr, Some(key), CELL).status
}

#[test]
fn a_hash_from_the_config_file_is_reread_on_reload() {
    let file = common::temp_dir("reload-toml").with_extension("toml");
    let (old_key, new_key) = ("the-old-key-from-toml", "the-new-key-from-toml");
    let old_hash = bcrypt::hash(old_key, 4).expect("hash");
    let new_hash = bcrypt::hash(new_key, 4).expect("hash");
    std::fs::write(&file, format!("api_key_hash = \"{old_hash}\"\n")).expect("write");
    let server = common::start(|c| {
        c.api_key = None;
        c.api_key_hash = Some(old_hash.clone());
        c.api_key_hash_file = Some(file.clone());
    });
    assert_eq!(patch_status(&server, old_key), 200);

    std::fs::write(&file, format!("api_key_hash = \"{new_hash}\"\n")).expect("rewrite");
    let reloaded = server.handle.reload();
    assert!(
        matches!(&reloaded.api_key, Ok(KeyReload::Reloaded { from }) if from.contains("api_key_hash in")),
        "{reloaded:?}"
    );
    assert_eq!(patch_status(&server, new_key), 200);
    assert_eq!(patch_status(&server, old_key), 401, "the rotated-out key");

    // A file that no longer holds a usable hash keeps the key in force.
    std::fs::write(&file, "api_key_hash = \"not a hash\"\n").expect("spoil");
    assert!(server.handle.reload().api_key.is_err());
    assert_eq!(patch_status(&server, new_key), 200);
    let _ = std::fs::remove_file(file);
}

#[test]
fn a_key_from_the_environment_or_a_flag_is_reported_unchanged() {
    // API_KEY (common::start sets it).
    let server = common::start(|_| {});
    let reloaded = server.handle.reload();
    assert!(
        matches!(reloaded.api_key, Ok(KeyReload::Unchanged { why }) if why.contains("API_KEY")),
        "{reloaded:?}"
    );
    assert_eq!(patch_status(&server, common::API_KEY), 200);
    drop(server);

    // --api-key-hash / API_KEY_HASH: a hash file written since changes nothing.
    let key = "the-key-from-a-flag";
    let server = common::start(|c| {
        c.api_key = None;
        c.api_key_hash = Some(bcrypt::hash(key, 4).expect("hash"));
    });
    let other = bcrypt::hash("another-key", 4).expect("hash");
    std::fs::write(
        server.dir.join(availability_server::auth::HASH_FILE_NAME),
        format!("{other}\n"),
    )
    .expect("hash file");
    let reloaded = server.handle.reload();
    assert!(
        matches!(reloaded.api_key, Ok(KeyReload::Unchanged { why }) if why.contains("--api-key-hash")),
        "{reloaded:?}"
    );
    assert_eq!(patch_status(&server, key), 200);
}

#[test]
fn the_config_remembers_a_hash_that_came_from_its_file() {
    let file = common::temp_dir("hash-origin").with_extension("toml");
    let hash = bcrypt::hash("some-key", 4).expect("hash");
    std::fs::write(&file, format!("api_key_hash = \"{hash}\"\n")).expect("write");
    let path = file.to_str().expect("utf-8");
    let config =
        availability_server::config::Config::parse_from(["availability-server", "--config", path])
            .expect("valid");
    assert_eq!(config.api_key_hash_file.as_deref(), Some(file.as_path()));
    // A flag outranks the file, and a flag cannot be re-read.
    let flag = bcrypt::hash("flag-key", 4).expect("hash");
    let config = availability_server::config::Config::parse_from([
        "availability-server",
        "--config",
        path,
        "--api-key-hash",
        &flag,
    ])
    .expect("valid");
    assert_eq!(config.api_key_hash.as_deref(), Some(flag.as_str()));
    assert_eq!(config.api_key_hash_file, None);
    let _ = std::fs::remove_file(file);
}

#[test]
fn a_config_file_that_is_a_pipe_fails_the_reload_at_once_and_keeps_the_key() {
    let key = "the-key-from-a-fifo-config";
    let fifo = common::temp_dir("reload-fifo").with_extension("toml");
    let c_path = std::ffi::CString::new(fifo.to_str().expect("utf-8")).expect("no NUL");
    // Safety: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0, "mkfifo");
    let server = common::start(|c| {
        c.api_key = None;
        c.api_key_hash = Some(bcrypt::hash(key, 4).expect("hash"));
        c.api_key_hash_file = Some(fifo.clone());
    });
    // Reading a FIFO nobody writes would block for good (and, on the writer thread,
    // every write with it).
    let started = std::time::Instant::now();
    let reloaded = server.handle.reload();
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let err = reloaded.api_key.expect_err("a pipe cannot be read again");
    assert!(err.contains("not a regular file"), "{err}");
    assert_eq!(patch_status(&server, key), 200);
    let _ = std::fs::remove_file(fifo);
}
