//! JSON into a `serde_json::Value`, and where its objects repeat a key.
//!
//! `serde_json::from_slice::<Value>` keeps the last of a repeated key silently, so
//! `{"day":0,…,"day":5}` would write Saturday. For a PATCH body that is an ambiguous
//! intent, refused like an unknown field: this parser lists every repeat with its path,
//! so that the caller can refuse the first bad entry in order.
//!
//! Only the first [`MAX_PATH_STEPS`] steps of the path are tracked, and their keys are
//! shared (`Rc<str>`), not copied, per repeat: with the whole path copied per repeat,
//! a 16 KiB body nesting ~1,300 repeats 120 levels under an 8 KB key cost a worker
//! ~1.7 ms.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Steps of a repeat's path that are kept: enough to tell which entry of a
/// top-level array it is in.
pub const MAX_PATH_STEPS: usize = 2;

/// One step of the path to a value: an object key or an array index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Key(Rc<str>),
    Index(usize),
}

/// A key given twice in an object (the value kept is the first); `path` is the first
/// [`MAX_PATH_STEPS`] steps of the path to that object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repeat {
    pub path: Vec<Step>,
    pub key: String,
}

/// Parses `bytes` as one JSON value; also returns every repeated key, in document order.
pub fn from_slice(bytes: &[u8]) -> Result<(Value, Vec<Repeat>), serde_json::Error> {
    let state = State::default();
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = Seed(&state).deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok((value, state.repeats.into_inner()))
}

/// The path to the value being parsed (its first [`MAX_PATH_STEPS`] steps, and its
/// length), and the repeats found so far.
#[derive(Default)]
struct State {
    path: RefCell<Vec<Step>>,
    depth: std::cell::Cell<usize>,
    repeats: RefCell<Vec<Repeat>>,
}

impl State {
    /// Enters a value; `step` is built only if it is among the steps kept.
    fn enter(&self, step: impl FnOnce() -> Step) {
        if self.depth.get() < MAX_PATH_STEPS {
            self.path.borrow_mut().push(step());
        }
        self.depth.set(self.depth.get() + 1);
    }

    fn leave(&self) {
        self.depth.set(self.depth.get() - 1);
        if self.depth.get() < MAX_PATH_STEPS {
            self.path.borrow_mut().pop();
        }
    }
}

#[derive(Clone, Copy)]
struct Seed<'s>(&'s State);

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            self.0.enter(|| Step::Index(items.len()));
            let item = seq.next_element_seed(self)?;
            self.0.leave();
            match item {
                Some(value) => items.push(value),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut fields = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            self.0.enter(|| Step::Key(Rc::from(key.as_str())));
            let value = map.next_value_seed(self)?;
            self.0.leave();
            if fields.contains_key(&key) {
                let path = self.0.path.borrow().clone();
                self.0.repeats.borrow_mut().push(Repeat { path, key });
            } else {
                fields.insert(key, value);
            }
        }
        Ok(Value::Object(fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repeats(json: &str) -> Vec<(Vec<Step>, String)> {
        let (_, repeats) = from_slice(json.as_bytes()).expect(json);
        repeats.into_iter().map(|r| (r.path, r.key)).collect()
    }

    #[test]
    fn parses_like_serde_json_when_no_key_repeats() {
        for json in [
            r#"{"slots":[{"day":2,"time":"14:00","status":"available"},{"day":4,"slot":20}]}"#,
            r#"[1,-2,3.5,1e300,true,false,null,"\u00e9",{"a":{"b":[[]]}},{}]"#,
            "18446744073709551615",
            r#"{"a":1,"A":2}"#,
        ] {
            let expected: Value = serde_json::from_str(json).expect(json);
            assert_eq!(from_slice(json.as_bytes()).expect(json), (expected, vec![]));
        }
    }

    #[test]
    fn names_where_keys_repeat_and_keeps_the_first_value() {
        let key = |k: &str| Step::Key(k.into());
        assert_eq!(
            repeats(r#"{"slots":[],"slots":[]}"#),
            [(vec![], "slots".to_owned())]
        );
        assert_eq!(
            repeats(r#"{"slots":[{"day":1},{"day":0,"slot":1,"day":5,"day":6}]}"#),
            [
                (vec![key("slots"), Step::Index(1)], "day".to_owned()),
                (vec![key("slots"), Step::Index(1)], "day".to_owned()),
            ]
        );
        assert_eq!(
            repeats(r#"[{"a":[0,{"x":{"y":1,"y":2}}]},{"b":1,"b":2}]"#),
            [
                // The first two steps of [0].a[1].x
                (vec![Step::Index(0), key("a")], "y".to_owned()),
                (vec![Step::Index(1)], "b".to_owned()),
            ]
        );
        // An escaped spelling of the same key is the same key.
        assert_eq!(repeats(r#"{"day":1,"d\u0061y":2}"#)[0].1, "day");
        let (value, _) = from_slice(br#"{"day":1,"day":2}"#).expect("json");
        assert_eq!(value["day"], 1);
    }

    #[test]
    fn other_errors_stay_json_errors() {
        for json in ["", "{", r#"{"a":1}x"#, r#"{"a" 1}"#, &"[".repeat(200)] {
            assert!(from_slice(json.as_bytes()).is_err(), "{json}");
        }
    }
}
