//! A Terraform value of any type, as the plugin protocol carries it: msgpack (or JSON for state
//! upgrades) with cty's "unknown" extension. Objects and maps are both `Map`.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One value: null, unknown (known only after apply), or a known value.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Val {
    #[default]
    Null,
    Unknown,
    Bool(bool),
    Num(f64),
    Str(String),
    List(Vec<Val>),
    Map(BTreeMap<String, Val>),
}

impl Val {
    pub fn is_null(&self) -> bool {
        matches!(self, Val::Null)
    }

    pub fn is_unknown(&self) -> bool {
        matches!(self, Val::Unknown)
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Val::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&BTreeMap<String, Val>> {
        match self {
            Val::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The attribute `name` of an object value (null when absent).
    pub fn get(&self, name: &str) -> &Val {
        static NULL: Val = Val::Null;
        self.as_map().and_then(|m| m.get(name)).unwrap_or(&NULL)
    }

    pub fn str_of(&self, name: &str) -> Option<String> {
        self.get(name).as_str().map(str::to_owned)
    }
}

/// The payload of cty's unknown-value extension (type 0, no bytes).
struct NoBytes;

impl Serialize for NoBytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&[])
    }
}

impl Serialize for Val {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Val::Null => s.serialize_unit(),
            // rmp-serde writes a newtype struct of this name as a msgpack extension.
            Val::Unknown => s.serialize_newtype_struct("_ExtStruct", &(0i8, NoBytes)),
            Val::Bool(b) => s.serialize_bool(*b),
            Val::Num(n) => {
                if n.fract() == 0.0 && n.abs() < 9.0e15 {
                    #[expect(
                        clippy::cast_possible_truncation,
                        reason = "integral and well inside i64"
                    )]
                    let i = *n as i64;
                    s.serialize_i64(i)
                } else {
                    s.serialize_f64(*n)
                }
            }
            Val::Str(v) => s.serialize_str(v),
            Val::List(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for i in items {
                    seq.serialize_element(i)?;
                }
                seq.end()
            }
            Val::Map(m) => {
                let mut map = s.serialize_map(Some(m.len()))?;
                for (k, v) in m {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

struct ValVisitor;

impl<'de> Visitor<'de> for ValVisitor {
    type Value = Val;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Terraform value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Val, E> {
        Ok(Val::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Val, E> {
        Ok(Val::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Val, D::Error> {
        Val::deserialize(d)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Val, E> {
        Ok(Val::Bool(v))
    }
    #[expect(clippy::cast_precision_loss, reason = "Terraform numbers fit in f64")]
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Val, E> {
        Ok(Val::Num(v as f64))
    }
    #[expect(clippy::cast_precision_loss, reason = "Terraform numbers fit in f64")]
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Val, E> {
        Ok(Val::Num(v as f64))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Val, E> {
        Ok(Val::Num(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Val, E> {
        Ok(Val::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Val, E> {
        Ok(Val::Str(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Val, E> {
        Ok(Val::Str(String::from_utf8_lossy(v).into_owned()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Val, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element::<Val>()? {
            out.push(v);
        }
        Ok(Val::List(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Val, A::Error> {
        let mut out = BTreeMap::new();
        while let Some((k, v)) = map.next_entry::<String, Val>()? {
            out.insert(k, v);
        }
        Ok(Val::Map(out))
    }
    /// msgpack extensions (cty's unknown values, refined or not) arrive as newtype structs.
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Val, D::Error> {
        IgnoredAny::deserialize(d)?;
        Ok(Val::Unknown)
    }
}

impl<'de> Deserialize<'de> for Val {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Val, D::Error> {
        d.deserialize_any(ValVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(v: &Val) -> Val {
        let bytes = rmp_serde::to_vec_named(v).unwrap();
        rmp_serde::from_slice(&bytes).unwrap()
    }

    #[test]
    fn msgpack_roundtrip_keeps_unknown_and_numbers() {
        let mut m = BTreeMap::new();
        m.insert("a".to_owned(), Val::Unknown);
        m.insert("b".to_owned(), Val::Num(12.5));
        m.insert("c".to_owned(), Val::Num(3.0));
        m.insert(
            "d".to_owned(),
            Val::List(vec![Val::Str("x".into()), Val::Unknown]),
        );
        m.insert("e".to_owned(), Val::Null);
        let v = Val::Map(m);
        assert_eq!(roundtrip(&v), v);
    }

    #[test]
    fn json_state_decodes() {
        let v: Val = serde_json::from_str(r#"{"a": 1, "b": [true], "c": null}"#).unwrap();
        assert_eq!(v.get("a"), &Val::Num(1.0));
        assert_eq!(v.get("b"), &Val::List(vec![Val::Bool(true)]));
        assert!(v.get("c").is_null());
        assert!(v.get("missing").is_null());
    }
}
