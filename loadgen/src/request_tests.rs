//! Tests for request specs, serialisation and weighted choice.

use super::*;

#[test]
fn parses_a_full_spec() {
    let spec = parse_request_spec("10 PATCH http://127.0.0.1:8080/availability @patch.json")
        .expect("valid");
    assert_eq!(spec.weight, 10);
    assert_eq!(spec.method, "PATCH");
    assert_eq!(spec.url.path, "/availability");
    assert_eq!(spec.body_path.as_deref(), Some("patch.json"));
}

#[test]
fn rejects_bad_specs() {
    for bad in [
        "GET http://127.0.0.1/",
        "0 GET http://127.0.0.1/",
        "-1 GET http://127.0.0.1/",
        "1 get http://127.0.0.1/",
        "1 GET http://127.0.0.1/ body.json",
        "1 GET http://127.0.0.1/ @a @b",
        "1 GET 127.0.0.1/",
    ] {
        assert!(parse_request_spec(bad).is_err(), "{bad}");
    }
}

#[test]
fn get_is_minimal() {
    let spec =
        parse_request_spec("1 GET http://127.0.0.1:8080/availability?tz=UTC").expect("valid");
    let req = serialize(&spec, None, &HeaderOptions::default());
    assert_eq!(
        req.bytes,
        b"GET /availability?tz=UTC HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"
    );
    assert_eq!(req.label, "GET /availability?tz=UTC");
    assert!(!req.is_head);
}

#[test]
fn patch_carries_bearer_body_and_length_but_get_no_bearer() {
    let opts = HeaderOptions {
        headers: vec!["X-Test: 1".to_owned()],
        bearer: Some("s3cret".to_owned()),
        close: true,
    };
    let patch = parse_request_spec("1 PATCH http://localhost/availability").expect("valid");
    let req = serialize(&patch, Some(b"{\"slots\":[]}"), &opts);
    let text = String::from_utf8(req.bytes).expect("ascii");
    assert_eq!(
        text,
        "PATCH /availability HTTP/1.1\r\nHost: localhost\r\nX-Test: 1\r\n\
         Authorization: Bearer s3cret\r\nContent-Type: application/json\r\n\
         Content-Length: 12\r\nConnection: close\r\n\r\n{\"slots\":[]}"
    );
    let get = parse_request_spec("1 HEAD http://localhost/").expect("valid");
    let req = serialize(&get, None, &opts);
    let text = String::from_utf8(req.bytes).expect("ascii");
    assert!(!text.contains("Authorization"), "{text}");
    assert!(!text.contains("Content-Length"), "{text}");
    assert!(req.is_head);
}

#[test]
fn user_host_and_content_type_replace_the_defaults() {
    let opts = HeaderOptions {
        headers: vec![
            "host: example".to_owned(),
            "Content-Type: text/csv".to_owned(),
        ],
        ..HeaderOptions::default()
    };
    let spec = parse_request_spec("1 POST http://127.0.0.1/x").expect("valid");
    let text = String::from_utf8(serialize(&spec, Some(b"a"), &opts).bytes).expect("ascii");
    assert_eq!(text.matches("ost:").count(), 1, "{text}");
    assert_eq!(text.matches("Content-Type").count(), 1, "{text}");
}

#[test]
fn header_validation() {
    assert!(check_header("X-Api: 1").is_ok());
    assert!(check_header("Accept:").is_ok());
    for bad in [
        "NoColon",
        "Bad Name: x",
        ": x",
        "Content-Length: 3",
        "connection: close",
    ] {
        assert!(check_header(bad).is_err(), "{bad}");
    }
}

#[test]
fn single_entry_is_always_chosen() {
    let picker = Picker::new(&[7]);
    let mut rng = Rng::new(1);
    assert!((0..1000).all(|_| picker.pick(&mut rng) == 0));
}

#[test]
fn weighted_choice_follows_the_weights() {
    let weights = [90, 9, 1];
    let picker = Picker::new(&weights);
    let mut rng = Rng::new(42);
    let draws = 1_000_000u32;
    let mut counts = [0u32; 3];
    for _ in 0..draws {
        counts[picker.pick(&mut rng)] += 1;
    }
    let total: u32 = weights.iter().sum();
    for (i, &w) in weights.iter().enumerate() {
        let expected = f64::from(draws) * f64::from(w) / f64::from(total);
        let got = f64::from(counts[i]);
        // Binomial sd ≤ sqrt(n/4) = 500; 5 sd is a safe yet meaningful bound.
        assert!(
            (got - expected).abs() < 2500.0,
            "entry {i}: {got} vs {expected}"
        );
    }
}

#[test]
fn every_entry_is_reachable_at_the_edges() {
    // Equal weights: every index comes up, and none is out of range.
    let picker = Picker::new(&[1, 1, 1]);
    let mut rng = Rng::new(7);
    let mut seen = [false; 3];
    for _ in 0..300 {
        seen[picker.pick(&mut rng)] = true;
    }
    assert_eq!(seen, [true; 3]);
}

#[test]
fn rng_zero_seed_is_not_stuck() {
    let mut rng = Rng::new(0);
    let a = rng.next_u64();
    let b = rng.next_u64();
    assert_ne!(a, b);
    assert_ne!(a, 0);
}
