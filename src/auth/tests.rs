//! Unit tests of the key store: hash file, key checks, the bcrypt fast path.

use super::*;

/// A path under the system temp dir, named for its test, where nothing exists yet
/// (the code under test may have to create the directory itself).
fn unused_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("auth-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

#[test]
fn the_hash_file_is_0600_even_over_a_stale_0644_temporary_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = unused_dir("mode");
    fs::create_dir_all(&dir).expect("mkdir");
    let tmp = dir.join(format!("{HASH_FILE_NAME}.tmp"));
    fs::write(&tmp, "left over").expect("stale tmp");
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o644)).expect("chmod");
    write_hash_file(
        &dir,
        "$2b$04$abcdefghijklmnopqrstuu5Q0n0lYQ1gk1lS0Qy1oG2mYb0f3q9cS",
    )
    .expect("written");
    let mode = fs::metadata(hash_path(&dir))
        .expect("hash file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(!tmp.exists());
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn base64url_matches_rfc4648_vectors() {
    // RFC 4648 §10 test vectors, unpadded; plus bytes that hit the url-safe letters.
    let cases: [(&[u8], &str); 8] = [
        (b"", ""),
        (b"f", "Zg"),
        (b"fo", "Zm8"),
        (b"foo", "Zm9v"),
        (b"foob", "Zm9vYg"),
        (b"fooba", "Zm9vYmE"),
        (b"foobar", "Zm9vYmFy"),
        (&[0xfb, 0xff, 0xbf], "-_-_"),
    ];
    for (input, expected) in cases {
        assert_eq!(base64url(input), expected, "input {input:?}");
    }
    assert_eq!(base64url(&[0u8; 32]).len(), 43);
}

#[test]
fn bcrypt_shape() {
    let real = bcrypt::hash("k", 4).expect("hash");
    assert!(looks_like_bcrypt_hash(&real));
    assert!(looks_like_bcrypt_hash(&real.replacen("$2b$", "$2y$", 1)));
    assert!(!looks_like_bcrypt_hash(&real.replacen("$2b$", "$2x$", 1)));
    assert!(!looks_like_bcrypt_hash(&real.replacen("$04$", "$03$", 1)));
    assert!(!looks_like_bcrypt_hash(&real[..59]));
    assert!(!looks_like_bcrypt_hash(&format!("{}!", &real[..59])));
    assert!(!looks_like_bcrypt_hash("plaintext-key"));
}

#[test]
fn api_key_checks() {
    assert!(check_api_key("s3cret-Key_~").is_ok());
    assert!(check_api_key(&"a".repeat(72)).is_ok());
    assert!(check_api_key("").is_err());
    assert!(check_api_key(&"a".repeat(73)).unwrap_err().contains("72"));
    assert!(check_api_key("has space").is_err());
}

fn store_for(key: &[u8]) -> KeyStore {
    KeyStore::new(bcrypt::hash(key, 4).expect("hash")).expect("key store")
}

#[test]
fn a_token_no_key_can_be_is_refused_before_bcrypt_and_by_it() {
    let key = [b'k'; MAX_KEY_LEN_BYTES];
    let too_long = [&key[..], b"x"].concat();
    let mut keys = store_for(&key);
    // Nothing has passed yet: a token that could be the key waits for bcrypt; one that
    // cannot be is refused at once, without spending the writer's bcrypt time.
    assert_eq!(keys.verify_fast(&key), None);
    assert_eq!(keys.verify_fast(b""), Some(false));
    assert_eq!(keys.verify_fast(&too_long), Some(false));
    // bcrypt reads 72 bytes and ignores the rest: the length check is what refuses the
    // key with a byte appended.
    assert!(!keys.verify_slow(&too_long));
    assert!(!keys.verify_slow(b""));
    assert!(keys.verify_slow(&key), "a key of the maximum length passes");
    assert_eq!(keys.verify_fast(&key), Some(true));
    assert_eq!(keys.verify_fast(&too_long), Some(false));
}

#[test]
fn a_reload_keeps_the_fast_path_for_the_same_hash_and_drops_it_for_a_new_one() {
    let dir = unused_dir("reload");
    let hash = bcrypt::hash("k", 4).expect("hash");
    write_hash_file(&dir, &hash).expect("written");
    let mut keys = KeyStore::new(hash).expect("key store");
    assert!(keys.verify(b"k"));
    keys.reload(&dir, None, None, 4).expect("same hash");
    assert_eq!(
        keys.verify_fast(b"k"),
        Some(true),
        "no bcrypt after a no-op SIGHUP"
    );
    fs::remove_file(hash_path(&dir)).expect("rm");
    write_hash_file(&dir, &bcrypt::hash("k2", 4).expect("hash")).expect("written");
    keys.reload(&dir, None, None, 4).expect("new hash");
    assert_eq!(
        keys.verify_fast(b"k"),
        None,
        "the old key's tag is forgotten"
    );
    assert!(!keys.verify(b"k"));
    assert!(keys.verify(b"k2"));
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn debug_output_shows_no_key_material() {
    let mut keys = store_for(b"k");
    assert_eq!(
        format!("{keys:?}"),
        "KeyStore { fast_path_armed: false, .. }"
    );
    assert!(keys.verify(b"k"));
    let shown = format!("{keys:?}");
    assert_eq!(shown, "KeyStore { fast_path_armed: true, .. }");
    assert!(!shown.contains(&keys.hash));
}

#[test]
fn a_fifo_at_the_hash_path_is_refused_not_read() {
    let dir = unused_dir("fifo");
    fs::create_dir_all(&dir).expect("mkdir");
    let c_path = std::ffi::CString::new(hash_path(&dir).to_str().expect("utf-8")).expect("no NUL");
    // Safety: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0, "mkfifo");
    // Reading it would block the start (or a SIGHUP) for good: fail in time instead.
    let (tx, rx) = std::sync::mpsc::channel();
    let data_dir = dir.clone();
    std::thread::spawn(move || drop(tx.send(read_hash_file(&data_dir))));
    let err = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("read_hash_file returns")
        .expect_err("a FIFO");
    assert!(err.contains("is not a regular file"), "{err}");
    let _ = fs::remove_dir_all(&dir);
}

/// A key known at the start (configured, or generated now) is armed: its first write
/// costs no bcrypt, and neither does refusing any other token.
#[test]
fn a_key_known_at_the_start_skips_bcrypt_from_the_first_write() {
    let dir = unused_dir("armed");
    let configured = "configured-key-0123";
    let from_config = bootstrap(&dir, Some(configured), None, 4).expect("configured");
    assert_eq!(
        from_config.keys.verify_fast(configured.as_bytes()),
        Some(true)
    );
    assert_eq!(from_config.keys.verify_fast(b"another-key"), Some(false));

    let generated = bootstrap(&dir, None, None, 4).expect("generated");
    let key = generated.generated_key.as_deref().expect("a generated key");
    assert_eq!(generated.keys.verify_fast(key.as_bytes()), Some(true));
    assert_eq!(generated.keys.verify_fast(b"another-key"), Some(false));
    let _ = fs::remove_dir_all(&dir);
}

/// A dangling symlink at the hash path reads as "no hash file", so a key is generated;
/// the hash cannot then be linked into place, and the start must fail rather than
/// print a key that no later start will know.
#[test]
fn a_generated_key_whose_hash_cannot_be_stored_fails_the_start() {
    let dir = unused_dir("dangling");
    fs::create_dir_all(&dir).expect("mkdir");
    std::os::unix::fs::symlink(dir.join("nowhere"), hash_path(&dir)).expect("symlink");
    let err = match bootstrap(&dir, None, None, 4) {
        Ok(b) => panic!("started with an unstored key {:?}", b.generated_key),
        Err(e) => e,
    };
    assert!(err.contains("cannot create"), "{err}");
    assert!(!dir.join(format!("{HASH_FILE_NAME}.tmp")).exists());
    let _ = fs::remove_dir_all(&dir);
}
