//! Lenient field readers for `config.yaml`. An `os.environ/NAME` reference always resolves to a
//! string, so numbers and booleans are also read from their text (`redis_port:
//! os.environ/REDIS_PORT` gives `"6379"`), and list fields also take a single string, as LiteLLM
//! does for `callbacks`.

use serde::de::{self, DeserializeOwned, Unexpected};
use serde::{Deserialize, Deserializer};
use serde_yaml_ng::Value;

/// A scalar type that can also be written as text.
pub(crate) trait Scalar: Sized + DeserializeOwned {
    /// How the expected type is named in error messages.
    const EXPECTED: &'static str;

    fn from_text(text: &str) -> Option<Self>;
}

macro_rules! numeric_scalar {
    ($($t:ty),*) => {$(
        impl Scalar for $t {
            const EXPECTED: &'static str = stringify!($t);

            fn from_text(text: &str) -> Option<Self> {
                text.trim().parse().ok()
            }
        }
    )*};
}

numeric_scalar!(u16, u32, u64, f64);

impl Scalar for bool {
    const EXPECTED: &'static str = "a boolean";

    fn from_text(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Some(true),
            "false" | "no" | "off" | "0" => Some(false),
            _ => None,
        }
    }
}

/// Reads an optional scalar from its YAML form or from its text; null is `None`.
pub(crate) fn opt<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Scalar,
{
    match Value::deserialize(deserializer)? {
        Value::Null => Ok(None),
        Value::String(text) => match T::from_text(&text) {
            Some(v) => Ok(Some(v)),
            None if is_numeric(&text) => Err(de::Error::invalid_value(
                Unexpected::Str(&text),
                &T::EXPECTED,
            )),
            None => Err(de::Error::invalid_type(
                Unexpected::Str(&text),
                &T::EXPECTED,
            )),
        },
        other => T::deserialize(other).map(Some).map_err(de::Error::custom),
    }
}

fn is_numeric(text: &str) -> bool {
    text.trim().parse::<f64>().is_ok()
}

/// Reads a list of strings, or one string as a list of one.
pub(crate) fn one_or_many<'de, D>(deserializer: D) -> Result<Vec<String>, D::Error>
where
    D: Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    match Option::<OneOrMany>::deserialize(deserializer) {
        Ok(None) => Ok(Vec::new()),
        Ok(Some(OneOrMany::One(s))) => Ok(vec![s]),
        Ok(Some(OneOrMany::Many(v))) => Ok(v),
        Err(_) => Err(de::Error::custom(
            "invalid type: expected a string or a list of strings",
        )),
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Probe {
        #[serde(default, deserialize_with = "super::opt")]
        port: Option<u16>,
        #[serde(default, deserialize_with = "super::opt")]
        on: Option<bool>,
        #[serde(default, deserialize_with = "super::opt")]
        cost: Option<f64>,
        #[serde(default, deserialize_with = "super::one_or_many")]
        list: Vec<String>,
    }

    fn probe(yaml: &str) -> Result<Probe, String> {
        serde_yaml_ng::from_str(yaml).map_err(|e| e.to_string())
    }

    #[test]
    fn reads_numbers_and_their_text() {
        let p = probe("port: 6379\non: true\ncost: 1").unwrap();
        assert_eq!((p.port, p.on, p.cost), (Some(6379), Some(true), Some(1.0)));
        let p = probe("port: '6379'\non: 'False'\ncost: '0.5'\nlist: one").unwrap();
        assert_eq!((p.port, p.on, p.cost), (Some(6379), Some(false), Some(0.5)));
        assert_eq!(p.list, vec!["one".to_owned()]);
        let p = probe("port: null\nlist: [a, b]").unwrap();
        assert_eq!((p.port, p.list.len()), (None, 2));
    }

    #[test]
    fn explains_bad_values() {
        assert!(probe("port: ten")
            .unwrap_err()
            .contains(r#"invalid type: string "ten", expected u16"#));
        assert!(probe("port: '70000'")
            .unwrap_err()
            .contains(r#"invalid value: string "70000""#));
        assert!(probe("port: 70000").unwrap_err().contains("70000"));
        assert!(probe("port: [1]").unwrap_err().contains("sequence"));
        assert!(probe("list: {a: 1}")
            .unwrap_err()
            .contains("list of strings"));
    }
}
