//! Runs every committed seed through its target's checks without libFuzzer, and checks
//! the verdict each seed's file name states (written from SPEC by fuzz/gen_seeds.py)
//! against the server's parsers. Also replays fuzz/regressions/<target>/ if present.
//!
//! `cargo test --manifest-path fuzz/Cargo.toml` (stable is enough).

use std::fs;
use std::path::{Path, PathBuf};

use availability_fuzz::cap::actions::Script as CapScript;
use availability_fuzz::conn::actions::Script;
use availability_server::api::parse_patch_body;
use availability_server::http::query::MAX_TZ_LEN_BYTES;
use availability_server::http::{ChunkedDecoder, HeadError, parse_head, parse_read_params};
use availability_server::store::{decode, encode};

fn files(dir: &str) -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for base in ["corpus", "regressions"] {
        let path: PathBuf = root.join(base).join(dir);
        let Ok(entries) = fs::read_dir(&path) else {
            continue;
        };
        for entry in entries {
            let entry = entry.expect("directory entry");
            let name = entry.file_name().to_string_lossy().into_owned();
            out.push((name, fs::read(entry.path()).expect("seed readable")));
        }
    }
    out.sort();
    assert!(!out.is_empty(), "no seeds for {dir}");
    out
}

#[test]
fn request_head_seeds() {
    let (mut accepted, mut refused) = (0, 0);
    for (name, data) in files("request_head") {
        availability_fuzz::head::check(&data);
        let verdict = parse_head(&data, 8192);
        let prefix = name.split('-').next().unwrap_or_default();
        match prefix {
            "ok" => assert!(verdict.is_ok(), "{name}: {verdict:?}"),
            // Refused as malformed, or (an HTTP/2 preface, say) for its version.
            "bad" => assert!(
                matches!(
                    verdict,
                    Err(HeadError::Bad(_) | HeadError::UnsupportedVersion)
                ),
                "{name}: {verdict:?}"
            ),
            // Over the byte limit, or (`big-many-headers`) over the field-line limit.
            "big" => assert!(
                matches!(verdict, Err(HeadError::TooLarge | HeadError::TooManyFields)),
                "{name}: {verdict:?}"
            ),
            "partial" => assert_eq!(verdict.err(), Some(HeadError::Incomplete), "{name}"),
            "chunk" => {
                let mut body = vec![0u8; 16_384];
                let mut len = 0;
                let result = ChunkedDecoder::new(16_384).decode(&data, &mut body, &mut len);
                if name.starts_with("chunk-ok-") {
                    assert!(matches!(result, Ok(p) if p.done), "{name}: {result:?}");
                } else {
                    assert!(result.is_err(), "{name}: {result:?}");
                }
                continue;
            }
            _ => {}
        }
        if verdict.is_ok() {
            accepted += 1;
        } else {
            refused += 1;
        }
    }
    assert!(
        accepted >= 10 && refused >= 10,
        "{accepted} accepted, {refused} refused"
    );
}

#[test]
fn query_seeds() {
    for (name, data) in files("query") {
        availability_fuzz::query::check(&data);
        let mut scratch = [0u8; MAX_TZ_LEN_BYTES];
        let verdict = parse_read_params(&data, &mut scratch);
        if name.starts_with("ok-") {
            assert!(verdict.is_ok(), "{name}: {verdict:?}");
        } else if name.starts_with("bad-") {
            assert!(verdict.is_err(), "{name}: {verdict:?}");
        }
    }
}

#[test]
fn patch_body_seeds() {
    for (name, data) in files("patch_body") {
        availability_fuzz::patch::check(&data);
        let verdict = parse_patch_body(&data);
        if name.starts_with("valid-") {
            assert!(verdict.is_ok(), "{name}: {verdict:?}");
        } else if name.starts_with("bad-") {
            assert!(verdict.is_err(), "{name}");
        }
    }
}

#[test]
fn data_file_seeds() {
    for (name, data) in files("data_file") {
        availability_fuzz::data_file::check(&data);
        let verdict = decode(&data);
        if name.starts_with("valid-") {
            let record = verdict.unwrap_or_else(|e| panic!("{name}: {e}"));
            // Canonical spellings round-trip byte for byte; other cases do not.
            let exact = encode(&record)[..] == data[..];
            assert_eq!(exact, name.starts_with("valid-canonical-"), "{name}");
        } else if name.starts_with("bad-") {
            assert!(verdict.is_err(), "{name}");
        }
    }
}

/// Decodes every seed of `dir` as a script and runs it; `run` returns the script's
/// number of actions (a seed that decodes to none is a mistake).
fn run_scripts<S: for<'a> arbitrary::Arbitrary<'a>>(dir: &str, run: impl Fn(&S) -> usize) {
    for (name, data) in files(dir) {
        let unstructured = arbitrary::Unstructured::new(&data);
        let script = S::arbitrary_take_rest(unstructured).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(run(&script) > 0, "{name} decodes to no actions");
    }
}

#[test]
fn connection_seeds() {
    use availability_fuzz::conn::{self, Transport};
    // As the fuzz target runs them, and then with every connection over TLS.
    for transport in [Transport::Alternate, Transport::Tls] {
        run_scripts("connection", |script: &Script| {
            conn::run(script, transport);
            script.0.len()
        });
    }
    conn::stop();
}

#[test]
fn connection_cap_seeds() {
    run_scripts("connection_cap", |script: &CapScript| {
        availability_fuzz::cap::run(script);
        script.0.len()
    });
    availability_fuzz::cap::stop();
}
