//! Properties of `api::parse_patch_body` (the `patch_body` target), against a reference
//! validator written from SPEC §4 ("PATCH body").

use availability_server::api::parse_patch_body;
use availability_server::store::{Record, decode, encode};
use availability_server::week::{SLOTS_PER_WEEK, Status, Week, zones};
use serde_json::Value;

use crate::framing::fnv1a;

/// What the reference validator says: the edits, or (code, offending entry).
type Verdict = Result<Vec<(u16, Status)>, (&'static str, Option<usize>)>;

pub fn check(data: &[u8]) {
    let parsed = parse_patch_body(data);
    let reference = reference_validate(data);
    match (&parsed, &reference) {
        (Ok(edits), Ok(expected)) => {
            let got: Vec<(u16, Status)> = edits.iter().map(|e| (e.slot_index, e.status)).collect();
            assert_eq!(&got, expected);
            assert!(
                (1..=100).contains(&edits.len()),
                "{} edits accepted",
                edits.len()
            );
            let mut seen = [false; SLOTS_PER_WEEK];
            for edit in edits {
                let index = usize::from(edit.slot_index);
                assert!(index < SLOTS_PER_WEEK, "slot index {index}");
                assert!(!seen[index], "slot {index} edited twice");
                seen[index] = true;
            }
            check_applied(&got, fnv1a(data));
        }
        (Err(e), Err((code, entry))) => {
            assert_eq!((e.code, e.entry), (*code, *entry), "{}", e.message);
            if let Some(index) = e.entry {
                assert!(index < 100, "entry index {index}");
                assert!(
                    e.message.starts_with(&format!("slots[{index}]")),
                    "{}",
                    e.message
                );
            }
        }
        _ => panic!(
            "body {:?}: parser {parsed:?}, reference {reference:?}",
            String::from_utf8_lossy(data)
        ),
    }
}

/// Applies edits to a week filled from `hash`; edited slots read back as set, the others
/// are untouched, and the week survives the data file's encode/decode.
fn check_applied(edits: &[(u16, Status)], hash: u64) {
    let mut before = Week::empty();
    for index in 0..SLOTS_PER_WEEK {
        let status = Status::ALL[((hash >> (index % 61)) % 3) as usize];
        before.set_index(index, status);
    }
    let mut after = before;
    for &(index, status) in edits {
        after.set_index(usize::from(index), status);
    }
    for index in 0..SLOTS_PER_WEEK {
        let expected = edits
            .iter()
            .find(|&&(i, _)| usize::from(i) == index)
            .map_or(before.get_index(index), |&(_, status)| status);
        assert_eq!(after.get_index(index), expected, "slot {index}");
    }
    let record = Record {
        generation: hash,
        written_unix_ms: hash >> 1,
        home_tz: zones::utc(),
        week: after,
    };
    assert_eq!(decode(&encode(&record)), Ok(record));
}

fn reference_validate(body: &[u8]) -> Verdict {
    let value: Value = serde_json::from_slice(body).map_err(|_| ("invalid_json", None))?;
    // A key given twice anywhere is refused: inside entry i as that entry's error (in
    // order with the others), anywhere else as the body's.
    let tree: Tree = serde_json::from_slice(body).expect("valid JSON is a valid tree");
    let entry_repeats: Vec<bool> = match &tree {
        Tree::Object(fields) if !tree.repeats_outside_entries() => {
            let slots = fields.iter().find(|(k, _)| k == "slots").map(|(_, v)| v);
            match slots {
                Some(Tree::Array(entries)) => entries.iter().map(Tree::repeats).collect(),
                _ => Vec::new(),
            }
        }
        _ if tree.repeats() => return Err(("invalid_body", None)),
        _ => Vec::new(),
    };
    let object = value.as_object().ok_or(("invalid_body", None))?;
    if object.keys().any(|k| k != "slots") {
        return Err(("invalid_body", None));
    }
    let entries = object
        .get("slots")
        .and_then(Value::as_array)
        .ok_or(("invalid_body", None))?;
    if entries.is_empty() || entries.len() > 100 {
        return Err(("invalid_batch", None));
    }
    let mut edits: Vec<(u16, Status)> = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let bad = ("invalid_entry", Some(index));
        if entry_repeats[index] {
            return Err(bad);
        }
        let edit = reference_entry(entry).ok_or(bad)?;
        if edits.iter().any(|&(slot, _)| slot == edit.0) {
            return Err(bad);
        }
        edits.push(edit);
    }
    Ok(edits)
}

/// One entry: exactly `day` (0–6), one of `time` ("HH:MM" on the half hour) or `slot`
/// (0–47), and `status`; nothing else.
fn reference_entry(entry: &Value) -> Option<(u16, Status)> {
    let fields = entry.as_object()?;
    let known = ["day", "time", "slot", "status"];
    if fields.keys().any(|k| !known.contains(&k.as_str())) {
        return None;
    }
    let day = fields.get("day")?.as_u64().filter(|&d| d < 7)?;
    let slot = match (fields.get("time"), fields.get("slot")) {
        (Some(time), None) => {
            let text = time.as_str()?;
            let (hours, minutes) = text.split_once(':')?;
            let digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
            if !digits(hours) || !digits(minutes) {
                return None;
            }
            let (h, m): (u64, u64) = (hours.parse().ok()?, minutes.parse().ok()?);
            if h > 23 || (m != 0 && m != 30) {
                return None;
            }
            h * 2 + m / 30
        }
        (None, Some(slot)) => slot.as_u64().filter(|&s| s < 48)?,
        _ => return None,
    };
    let status = match fields.get("status")?.as_str()? {
        "available" => Status::Available,
        "unavailable" => Status::Unavailable,
        "maybe" => Status::Maybe,
        _ => return None,
    };
    Some(((day * 48 + slot) as u16, status))
}

/// JSON with every key of every object kept, in order (unlike `Value`, which keeps the
/// last of a repeated key).
enum Tree {
    Object(Vec<(String, Tree)>),
    Array(Vec<Tree>),
    Scalar,
}

impl Tree {
    /// Whether this value or anything inside it has an object repeating a key.
    fn repeats(&self) -> bool {
        match self {
            Tree::Object(fields) => {
                let mut keys: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
                keys.sort_unstable();
                keys.windows(2).any(|w| w[0] == w[1]) || fields.iter().any(|(_, v)| v.repeats())
            }
            Tree::Array(items) => items.iter().any(Tree::repeats),
            Tree::Scalar => false,
        }
    }

    /// For a top-level object: a repeat anywhere but inside an element of `slots`.
    fn repeats_outside_entries(&self) -> bool {
        let Tree::Object(fields) = self else {
            return self.repeats();
        };
        let mut keys: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
        keys.sort_unstable();
        keys.windows(2).any(|w| w[0] == w[1])
            || fields.iter().any(|(k, v)| match v {
                Tree::Array(_) if k == "slots" => false,
                _ => v.repeats(),
            })
    }
}

impl<'de> serde::Deserialize<'de> for Tree {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Tree, D::Error> {
        struct TreeVisitor;
        impl<'de> serde::de::Visitor<'de> for TreeVisitor {
            type Value = Tree;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_bool<E>(self, _: bool) -> Result<Tree, E> {
                Ok(Tree::Scalar)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Tree, E> {
                Ok(Tree::Scalar)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Tree, E> {
                Ok(Tree::Scalar)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Tree, E> {
                Ok(Tree::Scalar)
            }
            fn visit_str<E>(self, _: &str) -> Result<Tree, E> {
                Ok(Tree::Scalar)
            }
            fn visit_unit<E>(self) -> Result<Tree, E> {
                Ok(Tree::Scalar)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Tree, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Tree::Array(items))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Tree, A::Error> {
                let mut fields = Vec::new();
                while let Some(entry) = map.next_entry::<String, Tree>()? {
                    fields.push(entry);
                }
                Ok(Tree::Object(fields))
            }
        }
        deserializer.deserialize_any(TreeVisitor)
    }
}
