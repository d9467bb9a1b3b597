//! Tests for flag parsing and validation.

use super::*;

fn config(args: &[&str]) -> Result<Config, String> {
    let mut argv = vec!["loadgen"];
    argv.extend_from_slice(args);
    Args::try_parse_from(argv)
        .map_err(|e| e.to_string())?
        .into_config()
}

#[test]
fn durations_in_every_unit() {
    assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
    assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
    assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
    assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
    assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
    assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
    assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
    assert_eq!(parse_duration("0.25m"), Ok(Duration::from_secs(15)));
}

#[test]
fn bad_durations_are_rejected() {
    for bad in ["", "s", "10x", "-1s", "1..2s", "ten", "10 s s"] {
        assert!(parse_duration(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn cpu_lists() {
    assert_eq!(parse_cpus("1"), Ok(CpuList(vec![1])));
    assert_eq!(parse_cpus("0,2"), Ok(CpuList(vec![0, 2])));
    assert_eq!(parse_cpus("0-3,6"), Ok(CpuList(vec![0, 1, 2, 3, 6])));
    for bad in ["", "a", "3-1", "1,", "-2"] {
        assert!(parse_cpus(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn wrk_style_invocation() {
    let cfg = config(&[
        "-c",
        "64",
        "-t",
        "1",
        "-d",
        "10s",
        "http://127.0.0.1:8080/availability?tz=Asia/Tokyo",
    ])
    .expect("valid");
    assert_eq!(cfg.connections, 64);
    assert_eq!(cfg.threads, 1);
    assert_eq!(cfg.duration, Duration::from_secs(10));
    assert_eq!(cfg.rate, None);
    assert_eq!(cfg.addr, "127.0.0.1:8080".parse().expect("addr"));
    assert_eq!(cfg.requests.len(), 1);
    assert!(
        cfg.requests[0]
            .bytes
            .starts_with(b"GET /availability?tz=Asia/Tokyo HTTP/1.1\r\n")
    );
    assert!(cfg.tls.is_none());
    assert_eq!(cfg.cpus, Some(Vec::new()));
}

#[test]
fn remote_targets_need_allow_remote() {
    let err = config(&["http://192.0.2.1/"]).expect_err("remote refused");
    assert!(err.contains("--allow-remote"), "{err}");
    assert!(config(&["--allow-remote", "http://192.0.2.1/"]).is_ok());
}

#[test]
fn inconsistent_flags_are_rejected() {
    let url = "http://127.0.0.1:1/";
    for args in [
        vec!["-t", "4", "-c", "2", url],
        vec!["--pipeline", "0", url],
        vec!["--close", "--pipeline", "2", url],
        vec!["-R", "0", url],
        vec!["-R", "-5", url],
        vec!["-R", "1e300", url],
        vec!["-R", "nan", url],
        vec!["-d", "-1", url],
        vec!["--timeout", "-1s", url],
        vec!["http://127.0.0.1:0/"],
        vec!["-d", "0s", url],
        vec!["https://127.0.0.1:1/"],
        vec!["--request", "1 GET http://127.0.0.1:1/", url],
        vec![],
        vec![
            "--request",
            "1 GET http://127.0.0.1:1/",
            "--request",
            "1 GET http://127.0.0.1:2/",
        ],
        vec!["-H", "Content-Length: 1", url],
        vec!["--max-requests", "0", url],
    ] {
        assert!(config(&args).is_err(), "{args:?}");
    }
    // Negative numbers reach the checks that explain them, not clap's "unexpected argument".
    let err = config(&["-R", "-5", url]).expect_err("negative rate");
    assert!(err.contains("--rate must be"), "{err}");
    assert!(config(&["-R", "1e9", url]).is_ok());
}

#[test]
fn mix_with_body_and_bearer() {
    let dir = std::env::temp_dir().join(format!("loadgen-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let body = dir.join("patch.json");
    std::fs::write(&body, "{\"slots\":[]}").expect("write");
    // SAFETY: tests in this binary that read LOADGEN_TEST_KEY are only this one.
    unsafe { std::env::set_var("LOADGEN_TEST_KEY", "k3y") };
    let patch = format!(
        "10 PATCH http://127.0.0.1:8080/availability @{}",
        body.display()
    );
    let cfg = config(&[
        "--bearer-env",
        "LOADGEN_TEST_KEY",
        "--request",
        "90 GET http://127.0.0.1:8080/availability?tz=UTC",
        "--request",
        &patch,
    ])
    .expect("valid");
    assert_eq!(cfg.requests.len(), 2);
    assert_eq!(cfg.requests[0].weight, 90);
    let get = String::from_utf8_lossy(&cfg.requests[0].bytes).into_owned();
    let patch = String::from_utf8_lossy(&cfg.requests[1].bytes).into_owned();
    assert!(!get.contains("Authorization"), "{get}");
    assert!(patch.contains("Authorization: Bearer k3y\r\n"), "{patch}");
    assert!(patch.ends_with("\r\n\r\n{\"slots\":[]}"), "{patch}");
    let missing = config(&[
        "--bearer-env",
        "LOADGEN_TEST_KEY_UNSET",
        "http://127.0.0.1:1/",
    ]);
    assert!(missing.is_err());
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn no_pin_wins_over_cpus() {
    let cfg = config(&["--no-pin", "--cpus", "1", "http://127.0.0.1:1/"]).expect("valid");
    assert_eq!(cfg.cpus, None);
    let cfg = config(&["--cpus", "0", "http://127.0.0.1:1/"]).expect("valid");
    assert_eq!(cfg.cpus, Some(vec![0]));
}

#[test]
fn cpus_this_process_cannot_use_are_refused() {
    // Past the kernel's CPU set size, and one no machine here has.
    for cpus in ["5000", "0,1023"] {
        let err = config(&["--cpus", cpus, "http://127.0.0.1:1/"]).expect_err(cpus);
        assert!(err.contains("is not one this process may run on"), "{err}");
    }
}

#[test]
fn the_reported_target_says_https_when_tls_is_forced() {
    let forced = config(&["--tls", "--insecure", "http://127.0.0.1:8443/health"]).expect("config");
    assert_eq!(forced.target, "https://127.0.0.1:8443/health");
    let plain = config(&["http://127.0.0.1:8080/health"]).expect("config");
    assert_eq!(plain.target, "http://127.0.0.1:8080/health");
}

#[test]
fn tls_groups_are_parsed_in_order_and_bad_lists_refused() {
    let names = |list: &str| -> Vec<String> {
        crate::tls::parse_groups(list)
            .expect(list)
            .iter()
            .map(|g| format!("{:?}", g.name()))
            .collect()
    };
    assert_eq!(names("x25519"), ["X25519"]);
    assert_eq!(
        names("X25519MLKEM768:X25519,p-256:P-384"),
        ["X25519MLKEM768", "X25519", "secp256r1", "secp384r1"]
    );
    for (bad, says) in [
        ("X448", "unknown group \"X448\""),
        ("", "unknown group \"\""),
        ("X25519:", "unknown group \"\""),
        ("X25519:x25519", "x25519 is named twice"),
    ] {
        let err = crate::tls::parse_groups(bad).map(|_| ()).expect_err(bad);
        assert!(err.contains(says), "{bad}: {err}");
    }
    // Read only with TLS, and a bad list stops the run before it starts.
    let url = "https://127.0.0.1:8443/health";
    let err = config(&["--insecure", "--tls-groups", "P-521", url]).expect_err("P-521");
    assert!(err.contains("--tls-groups"), "{err}");
    let ok = config(&["--insecure", "--tls-groups", "X25519", url]).expect("config");
    let groups = ok.tls.expect("tls").kx_groups.expect("groups");
    assert_eq!(groups.len(), 1);
}
