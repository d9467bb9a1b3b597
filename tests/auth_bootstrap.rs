//! API key bootstrap and verification: a key generated once (and only its hash
//! kept, mode 0600), none kept when the first start fails after generating it, a
//! configured key or hash taking precedence, the fast path after one bcrypt
//! success, and a reload that re-reads the hash file and never generates.
//! (Bearer parsing is unit-tested in `auth/bearer.rs`.)

mod common;
#[path = "common/unprivileged.rs"]
mod unprivileged;

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use availability_server::auth::{self, HASH_FILE_NAME};
use availability_server::config::Config;
use availability_server::tls;

#[test]
fn bootstrap_generates_a_key_once() {
    let dir = common::created_dir("generate");
    let first = auth::bootstrap(&dir, None, None, 4).expect("generate");
    let key = first.generated_key.clone().expect("a key is generated");
    // 32 random bytes in unpadded base64url: 43 characters of that alphabet.
    assert_eq!(key.len(), 43);
    assert!(
        key.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
    );
    let path = dir.join(HASH_FILE_NAME);
    let mode = std::fs::metadata(&path)
        .expect("hash file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let stored = std::fs::read_to_string(&path).expect("read hash");
    assert!(stored.trim().starts_with("$2b$04$"), "{stored:?}");
    assert!(
        !stored.contains(&key),
        "the plaintext key must not be stored"
    );
    assert!(bcrypt::verify(&key, stored.trim()).expect("valid hash"));
    let mut keys = first.keys;
    assert!(keys.verify(key.as_bytes()));
    assert!(!keys.verify(b"not-the-key"));

    let second = auth::bootstrap(&dir, None, None, 4).expect("reload from file");
    assert!(second.generated_key.is_none());
    assert_eq!(
        std::fs::read_to_string(&path).expect("read"),
        stored,
        "file unchanged"
    );
    let mut keys = second.keys;
    assert!(keys.verify(key.as_bytes()));
    assert!(!keys.verify(b"wrong"));
    // Only the hash file is left behind (no temporary file).
    assert_eq!(std::fs::read_dir(&dir).expect("list").count(), 1);

    // Two generated keys differ.
    let other_dir = common::created_dir("generate-other");
    let other = auth::bootstrap(&other_dir, None, None, 4).expect("generate");
    assert_ne!(other.generated_key, Some(key));
}

#[test]
fn a_start_that_fails_after_generating_a_key_keeps_no_hash() {
    let dir = common::created_dir("generate-then-fail");
    // Something else listens on the port: the start fails after the key was generated.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    // HTTPS on too, so that a self-signed certificate is generated before the failure.
    let with_https = |config: &mut Config| {
        config.https_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        config.no_tls = false;
    };
    let mut config = Config::for_tests(dir.to_path_buf());
    with_https(&mut config);
    config.http_listen = Some(busy.local_addr().expect("addr"));
    let err = match availability_server::server::start(config) {
        Ok(_) => panic!("the port is taken"),
        Err(e) => e,
    };
    assert!(err.contains("discarded"), "{err}");
    assert!(
        !dir.join(HASH_FILE_NAME).exists(),
        "nobody saw the key, so its hash must go"
    );
    for name in [
        tls::CERT_FILE_NAME,
        tls::KEY_FILE_NAME,
        availability_server::store::DATA_FILE_NAME,
    ] {
        assert!(!dir.join(name).exists(), "nobody was told of {name}");
    }
    // The next start generates (and would print) a new key and certificate.
    let mut config = Config::for_tests(dir.to_path_buf());
    with_https(&mut config);
    let handle = availability_server::server::start(config).expect("start");
    assert!(handle.generated_key.is_some());
    assert!(handle.generated_cert.is_some());
    assert!(handle.created_data_file.is_some());
    assert!(dir.join(HASH_FILE_NAME).exists());
    handle.shutdown();
}

#[test]
fn configured_keys_take_precedence_and_write_nothing() {
    let dir = common::created_dir("configured");
    let other_hash = bcrypt::hash("hash-key", 4).expect("hash");
    let boot = auth::bootstrap(&dir, Some("env-key"), Some(&other_hash), 4).expect("API_KEY");
    assert!(boot.generated_key.is_none());
    let mut keys = boot.keys;
    assert!(keys.verify(b"env-key"));
    assert!(!keys.verify(b"hash-key"), "API_KEY wins over API_KEY_HASH");
    let boot = auth::bootstrap(&dir, None, Some(&format!("{other_hash}\n")), 4).expect("hash");
    let mut keys = boot.keys;
    assert!(keys.verify(b"hash-key"));
    assert!(!keys.verify(b"env-key"));
    assert_eq!(
        std::fs::read_dir(&dir).expect("list").count(),
        0,
        "nothing written"
    );
    assert!(auth::bootstrap(&dir, None, Some("$2b$not-a-hash"), 4).is_err());
    assert!(auth::bootstrap(&dir, Some("bad key"), None, 4).is_err());
    // A corrupt hash file is an error naming it, never silently replaced.
    std::fs::write(dir.join(HASH_FILE_NAME), "garbage\n").expect("write");
    let err = auth::bootstrap(&dir, None, None, 4)
        .err()
        .expect("corrupt file");
    assert!(err.contains(HASH_FILE_NAME), "{err}");
}

#[test]
fn verify_fast_path_after_one_bcrypt_success() {
    let hash = bcrypt::hash("the-owner-key", 10).expect("hash");
    let dir = common::created_dir("fast");
    let mut keys = auth::bootstrap(&dir, None, Some(&hash), 10)
        .expect("hash")
        .keys;
    let started = Instant::now();
    assert!(keys.verify(b"the-owner-key"));
    let slow = started.elapsed();
    let started = Instant::now();
    assert!(keys.verify(b"the-owner-key"));
    let fast = started.elapsed();
    assert!(
        fast < Duration::from_millis(5),
        "fast path took {fast:?} (bcrypt {slow:?})"
    );
    assert!(
        slow > fast * 10,
        "the first check should have run bcrypt ({slow:?})"
    );
    assert!(!keys.verify(b"the-owner-kez"));
    assert!(!keys.verify(b"the-owner-key "));
    // A wrong attempt does not disarm the fast path for the right key.
    let started = Instant::now();
    assert!(keys.verify(b"the-owner-key"));
    assert!(started.elapsed() < Duration::from_millis(5));
    // Empty and over-long tokens are refused without bcrypt.
    let started = Instant::now();
    assert!(!keys.verify(b""));
    assert!(!keys.verify(&[b'a'; 73]));
    assert!(started.elapsed() < Duration::from_millis(5));
}

#[test]
fn reload_rereads_the_hash_file_and_never_generates() {
    let dir = common::created_dir("reload");
    let path = dir.join(HASH_FILE_NAME);
    std::fs::write(&path, bcrypt::hash("old-key", 4).expect("hash")).expect("write");
    let mut keys = auth::bootstrap(&dir, None, None, 4).expect("file").keys;
    assert!(keys.verify(b"old-key"));
    std::fs::write(&path, bcrypt::hash("new-key", 4).expect("hash")).expect("write");
    keys.reload(&dir, None, None, 4).expect("reload");
    assert!(
        !keys.verify(b"old-key"),
        "the fast-path tag of the old key is gone"
    );
    assert!(keys.verify(b"new-key"));
    std::fs::remove_file(&path).expect("remove");
    assert!(keys.reload(&dir, None, None, 4).is_err());
    assert!(!path.exists(), "reload must not generate a key");
    assert!(
        keys.verify(b"new-key"),
        "a failed reload keeps the current key"
    );
}

#[test]
fn a_hash_file_it_may_not_look_at_is_an_error_not_a_missing_key() {
    let dir = common::created_dir("unsearchable");
    auth::bootstrap(&dir, None, None, 4).expect("generate");
    let hash_file = dir.join(HASH_FILE_NAME);
    let before = std::fs::read(&hash_file).expect("hash file");
    // A data directory its user may not search: the hash file cannot even be looked at.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o000)).expect("chmod");
    let d = dir.to_path_buf();
    let (read, started) = unprivileged::run(&[], move || {
        (
            auth::read_hash_file(&d),
            auth::bootstrap(&d, None, None, 4).map(|_| ()),
        )
    });
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    // Taken for "no hash file", a reload would say the file is missing and a start
    // would try to generate a new key; both must name the real problem instead.
    let err = read.expect_err("not a missing file");
    assert!(
        err.contains("cannot read") && err.contains("ermission denied"),
        "{err}"
    );
    let err = started.expect_err("no start");
    assert!(err.contains("cannot read"), "{err}");
    assert_eq!(std::fs::read(&hash_file).expect("hash file"), before);
}
