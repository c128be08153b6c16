//! The client's request body as it came: its text (checked as UTF-8 once, then read by span), where
//! each top-level field's value lies in it, and the whole body as JSON only when a path needs it (translation to another format,
//! the mock, counting tokens locally). A call passed through to a provider of the client's own
//! format never builds that tree: its upstream body is the client's fields copied as they were,
//! less the gateway's own, with the deployment's model.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;
use std::sync::OnceLock;

use bytes::{BufMut as _, Bytes, BytesMut};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::http::{Error, Result};

/// Fields only the gateway reads; never sent upstream.
const GATEWAY_ONLY: [&str; 4] = [
    "fallbacks",
    "context_window_fallbacks",
    "content_policy_fallbacks",
    "num_retries",
];

/// A client's JSON object body.
pub struct ClientRequest {
    text: Box<str>,
    /// Each top-level field's name and where its value lies, in the client's order; a repeated
    /// name keeps its last value only.
    fields: Vec<(FieldName, Range<usize>)>,
    value: OnceLock<Value>,
}

/// A top-level field's name: where it lies in the body, or, when the body wrote it with
/// escapes, the name decoded. Names are not copied out of the body in the usual case.
enum FieldName {
    In(Range<usize>),
    Decoded(Box<str>),
}

impl FieldName {
    /// The name, read from the body it was parsed from.
    fn of<'a>(&'a self, body: &'a str) -> &'a str {
        match self {
            FieldName::In(span) => body.get(span.clone()).unwrap_or_default(),
            FieldName::Decoded(name) => name,
        }
    }
}

impl fmt::Debug for ClientRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientRequest")
            .field("bytes", &self.text.len())
            .field("fields", &self.names().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// A JSON string that borrows from the input when it has no escapes.
struct Name<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Name<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E: de::Error>(
                self,
                v: &'de str,
            ) -> std::result::Result<Self::Value, E> {
                Ok(Name(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Self::Value, E> {
                Ok(Name(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

/// The top-level fields of an object: names and raw values.
struct Fields<'de>(Vec<(Name<'de>, &'de RawValue)>);

impl<'de> Deserialize<'de> for Fields<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Fields<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(entry) = map.next_entry::<Name<'de>, &'de RawValue>()? {
                    out.push(entry);
                }
                Ok(Fields(out))
            }
        }
        d.deserialize_map(V)
    }
}

impl ClientRequest {
    /// Reads a body that must be a JSON object; an empty body reads as `{}`.
    pub fn parse(bytes: Bytes) -> Result<Self> {
        let bytes = if bytes.iter().all(u8::is_ascii_whitespace) {
            Bytes::from_static(b"{}")
        } else {
            bytes
        };
        let text = std::str::from_utf8(&bytes)
            .map_err(|e| Error::bad_request(format!("Malformed JSON body: {e}")))?;
        let parsed: Fields<'_> = serde_json::from_str(text).map_err(|e| {
            if e.is_data() {
                Error::bad_request("The request body must be a JSON object")
            } else {
                Error::bad_request(format!("Malformed JSON body: {e}"))
            }
        })?;
        let base = text.as_ptr() as usize;
        let span_of = |s: &str| {
            let start = s.as_ptr() as usize - base;
            start..start + s.len()
        };
        let mut fields: Vec<(FieldName, Range<usize>)> = Vec::with_capacity(parsed.0.len());
        for (name, raw) in parsed.0 {
            let key = match name.0 {
                Cow::Borrowed(n) => FieldName::In(span_of(n)),
                Cow::Owned(n) => FieldName::Decoded(n.into()),
            };
            let name = key.of(text);
            fields.retain(|(k, _)| k.of(text) != name);
            fields.push((key, span_of(raw.get())));
        }
        Ok(Self {
            // One copy of the checked text rather than a check of each span read from it.
            text: text.into(),
            fields,
            value: OnceLock::new(),
        })
    }

    /// The top-level field names, in order.
    fn names(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|(k, _)| k.of(&self.text))
    }

    /// The raw JSON text of a top-level field.
    pub fn raw(&self, name: &str) -> Option<&str> {
        let (_, span) = self.fields.iter().find(|(k, _)| k.of(&self.text) == name)?;
        self.text.get(span.clone())
    }

    /// A top-level field read as `T`; `None` when absent or of another type.
    pub fn get<'a, T: Deserialize<'a>>(&'a self, name: &str) -> Option<T> {
        serde_json::from_str(self.raw(name)?).ok()
    }

    /// A top-level string field, unescaped.
    pub fn str(&self, name: &str) -> Option<Cow<'_, str>> {
        self.get::<Name<'_>>(name).map(|n| n.0)
    }

    /// A top-level field as a JSON value (for the few fields read as trees).
    pub fn field(&self, name: &str) -> Option<Value> {
        serde_json::from_str(self.raw(name)?).ok()
    }

    /// Whether the top-level field is the boolean `true`.
    pub fn is_true(&self, name: &str) -> bool {
        self.raw(name).is_some_and(|r| r == "true")
    }

    /// The whole body as a JSON value, parsed on first use.
    pub fn value(&self) -> &Value {
        self.value.get_or_init(|| {
            serde_json::from_str(&self.text).unwrap_or_else(|_| Value::Object(Default::default()))
        })
    }

    /// The body for one upstream attempt of a call passed through: every field as the client
    /// wrote it, but `model` (the deployment's), the gateway's own fields, `mock_response`
    /// (unless `keep_mock`), and the fields `edit` replaces or removes.
    pub fn forward(&self, model: &str, keep_mock: bool, edit: &[(&str, Option<&str>)]) -> Bytes {
        let mut out = BytesMut::with_capacity(self.text.len() + model.len() + 64);
        // The deployment's model comes first; every other field after a comma.
        out.extend_from_slice(b"{\"model\":");
        write_str(&mut out, model);
        let field = |out: &mut BytesMut, name: &str, raw: &[u8]| {
            out.put_u8(b',');
            write_str(out, name);
            out.put_u8(b':');
            out.extend_from_slice(raw);
        };
        let skipped = |name: &str| {
            name == "model"
                || GATEWAY_ONLY.contains(&name)
                || (name == "mock_response" && !keep_mock)
                || edit.iter().any(|(k, _)| *k == name)
        };
        for (name, span) in &self.fields {
            let name = name.of(&self.text);
            if !skipped(name) {
                field(&mut out, name, &self.text.as_bytes()[span.clone()]);
            }
        }
        for (name, value) in edit {
            if let Some(v) = value {
                field(&mut out, name, v.as_bytes());
            }
        }
        out.put_u8(b'}');
        out.freeze()
    }
}

/// A string as JSON: copied between quotes when nothing in it needs escaping.
fn write_str(out: &mut BytesMut, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.put_u8(b'"');
        out.extend_from_slice(s.as_bytes());
        out.put_u8(b'"');
    } else if let Ok(s) = serde_json::to_string(s) {
        out.extend_from_slice(s.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn req(text: &str) -> ClientRequest {
        ClientRequest::parse(Bytes::from(text.to_owned())).unwrap()
    }

    #[test]
    fn fields_are_read_where_they_lie() {
        let r =
            req(r#" {"model": "g\u00e9", "stream": true, "n": 2, "metadata": {"tags": ["a"]}} "#);
        assert_eq!(r.str("model").as_deref(), Some("gé"));
        assert!(r.is_true("stream"));
        assert_eq!(r.get::<u64>("n"), Some(2));
        assert_eq!(r.raw("metadata"), Some(r#"{"tags": ["a"]}"#));
        assert_eq!(r.str("n"), None);
        assert_eq!(r.value()["metadata"]["tags"][0], "a");
    }

    #[test]
    fn empty_bodies_are_empty_objects_and_others_are_refused() {
        assert!(req("  ").fields.is_empty());
        let e = ClientRequest::parse(Bytes::from_static(b"[1]")).unwrap_err();
        assert!(e.to_string().contains("must be a JSON object"), "{e}");
        let e = ClientRequest::parse(Bytes::from_static(b"{\"a\": }")).unwrap_err();
        assert!(e.to_string().contains("Malformed JSON body"), "{e}");
        let e = ClientRequest::parse(Bytes::from_static(b"{} x")).unwrap_err();
        assert!(e.to_string().contains("Malformed JSON body"), "{e}");
        assert!(ClientRequest::parse(Bytes::from_static(b"\xff")).is_err());
    }

    #[test]
    fn the_forwarded_body_keeps_the_clients_fields_but_the_gateways() {
        let r = req(
            r#"{"model":"group","messages":[{"role":"user","content":"hi"}],"fallbacks":["x"],
                "num_retries":2,"mock_response":"m","stream":true,"model":"again","te\"st":1}"#,
        );
        let body = r.forward(
            "gpt-4o",
            false,
            &[("stream_options", Some(r#"{"include_usage":true}"#))],
        );
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v,
            json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}],
                   "stream": true, "te\"st": 1, "stream_options": {"include_usage": true}})
        );
        let v: Value = serde_json::from_slice(&r.forward("m", true, &[("stream", None)])).unwrap();
        assert_eq!(v["mock_response"], "m");
        assert!(v.get("stream").is_none());
    }

    #[test]
    fn names_written_with_escapes_are_the_same_names() {
        // `\u0064` is `d`: both spell `model`, and the last one counts.
        let r = req(r#"{"model":"a","mo\u0064el":"b","n":1}"#);
        assert_eq!(r.str("model").as_deref(), Some("b"));
        assert_eq!(
            format!("{r:?}"),
            r#"ClientRequest { bytes: 36, fields: ["model", "n"], .. }"#
        );
        // A model name that needs escaping is written as JSON.
        let v: Value = serde_json::from_slice(&r.forward("we\"ird", false, &[])).unwrap();
        assert_eq!(v, json!({"model": "we\"ird", "n": 1}));
    }

    #[test]
    fn a_repeated_field_keeps_its_last_value_as_json_does() {
        let r = req(r#"{"user":"a","user":"b"}"#);
        assert_eq!(r.str("user").as_deref(), Some("b"));
        let v: Value = serde_json::from_slice(&r.forward("m", false, &[])).unwrap();
        assert_eq!(v, json!({"model": "m", "user": "b"}));
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            ".{0,8}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                proptest::collection::btree_map(".{0,6}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Whatever object the client sends, the forwarded body is that object with the model
        /// set and the gateway's fields taken out.
        #[test]
        fn forwarding_is_the_object_less_the_gateways_fields(
            fields in proptest::collection::btree_map(".{0,8}", json_value(), 0..8),
            pretty in any::<bool>(),
        ) {
            let object = Value::Object(fields.into_iter().collect());
            let text = if pretty { serde_json::to_string_pretty(&object) } else { serde_json::to_string(&object) }.unwrap();
            let r = req(&text);
            prop_assert_eq!(r.value(), &object);
            let forwarded: Value = serde_json::from_slice(&r.forward("up", false, &[])).unwrap();
            let mut expected = object.as_object().cloned().unwrap_or_default();
            for k in GATEWAY_ONLY.iter().chain(&["mock_response"]) {
                expected.remove(*k);
            }
            expected.insert("model".into(), Value::from("up"));
            prop_assert_eq!(forwarded, Value::Object(expected));
        }

        /// Bytes that are not a JSON object are refused with a 400, never a panic.
        #[test]
        fn any_bytes_parse_or_are_refused(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = ClientRequest::parse(Bytes::from(bytes));
        }
    }
}
