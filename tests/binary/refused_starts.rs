//! Starts the binary refuses, each with a clear message and nothing half made: a
//! corrupt data file (left exactly as it was), a bad key file, a data directory
//! another process holds, and a generated key nobody could read.

use super::*;

fn corrupt_start(dir: &Path, bytes: &[u8]) -> (i32, String) {
    std::fs::create_dir_all(dir).expect("dir");
    let file = dir.join(availability_server::store::DATA_FILE_NAME);
    std::fs::write(&file, bytes).expect("write");
    let d = dir.to_str().expect("utf-8");
    let result = run_to_exit(&[
        "--data-dir",
        d,
        "--http-listen",
        "127.0.0.1:0",
        "--no-tls",
        "--admin-listen",
        "off",
    ]);
    assert_eq!(
        std::fs::read(&file).expect("read"),
        bytes,
        "the bad file is left exactly as it was"
    );
    result
}

#[test]
fn a_corrupt_data_file_stops_the_start_with_a_clear_error() {
    let dir = common::temp_dir("corrupt");
    let (code, output) = corrupt_start(&dir, &[0u8; 100]);
    assert_ne!(code, 0);
    assert!(
        output.contains("availability.dat"),
        "names the file: {output}"
    );
    assert!(output.contains("168"), "names the problem (size): {output}");
    let (code, output) = corrupt_start(&dir, &[7u8; 168]);
    assert_ne!(code, 0);
    assert!(
        output.to_lowercase().contains("magic"),
        "names the problem: {output}"
    );
}

#[test]
fn a_bad_key_file_stops_the_first_start_and_leaves_only_that_file() {
    let dir = common::created_dir("bad-key-file");
    let key_file = dir.join(availability_server::auth::HASH_FILE_NAME);
    std::fs::write(&key_file, "not a hash\n").expect("write");
    let d = dir.to_str().expect("utf-8");
    let (code, output) = Command::new(BIN)
        .args(["--data-dir", d, "--http-listen", "127.0.0.1:0", "--no-tls"])
        .args(["--admin-listen", "127.0.0.1:0"])
        .env_remove("API_KEY")
        .env_remove("API_KEY_HASH")
        .output()
        .map(|o| {
            (
                o.status.code(),
                String::from_utf8_lossy(&o.stderr).into_owned(),
            )
        })
        .expect("run");
    assert_eq!(code, Some(1), "{output}");
    assert!(output.contains("does not hold a bcrypt hash"), "{output}");
    // The data file this start created (an empty week) goes with the failed start,
    // so the next start says it creates one.
    let left = left_behind(&dir);
    assert_eq!(
        left,
        [availability_server::auth::HASH_FILE_NAME],
        "{output}"
    );
    assert_eq!(std::fs::read(&key_file).expect("read"), b"not a hash\n");
}

#[test]
fn a_second_process_on_the_same_data_dir_is_refused() {
    let dir = common::temp_dir("lock");
    let d = dir.to_str().expect("utf-8");
    let args = ["--data-dir", d, "--http-listen", "127.0.0.1:0", "--no-tls"];
    let first = spawn(
        &[&args[..], &["--admin-listen", "127.0.0.1:0"]].concat(),
        &[("API_KEY", "k")],
    );
    let lines = first.wait_for("ready", Duration::from_secs(10));
    let admin = addr(&lines, "admin").to_string();
    // The same data directory and, as a copy of the first's command would have,
    // the same admin port: the lock is what the second is told of.
    let (code, text) = run_to_exit(&[&args[..], &["--admin-listen", &admin]].concat());
    assert_ne!(code, 0);
    assert!(text.contains("is locked"), "says why: {text}");
    assert!(!text.contains("admin"), "not the port: {text}");
    // Another directory with the admin port taken: refused before anything is made.
    let other = common::temp_dir("lock-other");
    let o = other.to_str().expect("utf-8");
    let (code, text) = run_to_exit(&[
        "--data-dir",
        o,
        "--http-listen",
        "127.0.0.1:0",
        "--admin-listen",
        &admin,
    ]);
    assert_ne!(code, 0);
    assert!(text.contains("--admin-listen"), "{text}");
    let left = left_behind(&other);
    assert!(left.is_empty(), "left behind {left:?}");
    assert!(first.terminate().success());
}

#[test]
fn a_generated_key_nobody_can_see_stops_the_first_start_and_leaves_nothing() {
    // /dev/full: the write fails (ENOSPC). /dev/null: it "succeeds" into nothing
    // (also what a closed stdout becomes: the Rust runtime reopens fd 1 there).
    for (sink, expected) in [("/dev/full", "No space left"), ("/dev/null", "/dev/null")] {
        let dir = common::temp_dir("bin-unseen-key");
        let d = dir.to_str().expect("utf-8");
        let mut child = Command::new(BIN)
            .args(["--data-dir", d, "--http-listen", "127.0.0.1:0", "--no-tls"])
            .args(["--admin-listen", "off", "--bcrypt-cost", "4"])
            .env_remove("API_KEY")
            .env_remove("API_KEY_HASH")
            .stdout(std::fs::File::options().write(true).open(sink).expect(sink))
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        // A server that started anyway would run forever: give it 15 s.
        let deadline = Instant::now() + Duration::from_secs(15);
        while child.try_wait().expect("wait").is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let output = child.wait_with_output().expect("output");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{sink}: {stderr}");
        assert!(
            stderr.contains("cannot print the generated API key"),
            "{sink}: {stderr}"
        );
        assert!(stderr.contains(expected), "{sink}: {stderr}");
        let left = left_behind(&dir);
        assert!(left.is_empty(), "{sink}: left behind {left:?}");
    }
}
