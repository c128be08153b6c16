//! The token counts of a usage object as it is written, before [`super::Usage`] gives them
//! OpenAI's semantics. They are read from a parsed JSON tree ([`Counts::of`]) or straight from
//! the JSON text (`Deserialize`, which builds no tree and allocates nothing: a non-streaming
//! response is read this way once per call), with the same result either way:
//!
//! * a count is a non-negative integer, or a non-negative finite number rounded down
//!   (saturating at `u64::MAX`); any other value reads as 0;
//! * a nested object (`prompt_tokens_details`, ...) that is not an object reads as empty;
//! * of two equal keys, the later one counts (as in a parsed tree).

use std::fmt;

use serde::de::{
    self, Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde_json::Value;

/// The counts of one usage object (OpenAI's chat, completions, embeddings and Responses
/// shapes, OpenAI-compatible servers' cache fields, and Anthropic's Messages shape).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// `prompt_tokens`; `None` when the key is absent (the Responses API has none).
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    /// `input_tokens` (Responses API, Anthropic); `None` when absent.
    pub input_tokens: Option<u64>,
    /// `output_tokens` (Responses API, Anthropic); `None` when absent.
    pub output_tokens: Option<u64>,
    /// DeepSeek's cache hits.
    pub prompt_cache_hit_tokens: u64,
    pub cache_read_input_tokens: u64,
    pub cache_creation_input_tokens: u64,
    pub prompt_tokens_details: Details,
    pub completion_tokens_details: Details,
    pub input_tokens_details: Details,
    pub output_tokens_details: Details,
    /// Anthropic's cache-write breakdown.
    pub cache_creation: Details,
}

/// The counts of one of the nested breakdown objects (every name any of them uses).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Details {
    pub cached_tokens: u64,
    pub cache_creation_tokens: u64,
    pub audio_tokens: u64,
    pub reasoning_tokens: u64,
    pub ephemeral_5m_input_tokens: u64,
    pub ephemeral_1h_input_tokens: u64,
}

/// Where the value of one key goes.
enum Slot<'a> {
    Count(&'a mut u64),
    Present(&'a mut Option<u64>),
    Details(&'a mut Details),
    Ignored,
}

/// An object whose keys are read into slots.
trait Slots: Default {
    fn slot(&mut self, key: &str) -> Slot<'_>;
}

impl Slots for Counts {
    fn slot(&mut self, key: &str) -> Slot<'_> {
        match key {
            "prompt_tokens" => Slot::Present(&mut self.prompt_tokens),
            "completion_tokens" => Slot::Count(&mut self.completion_tokens),
            "total_tokens" => Slot::Count(&mut self.total_tokens),
            "input_tokens" => Slot::Present(&mut self.input_tokens),
            "output_tokens" => Slot::Present(&mut self.output_tokens),
            "prompt_cache_hit_tokens" => Slot::Count(&mut self.prompt_cache_hit_tokens),
            "cache_read_input_tokens" => Slot::Count(&mut self.cache_read_input_tokens),
            "cache_creation_input_tokens" => Slot::Count(&mut self.cache_creation_input_tokens),
            "prompt_tokens_details" => Slot::Details(&mut self.prompt_tokens_details),
            "completion_tokens_details" => Slot::Details(&mut self.completion_tokens_details),
            "input_tokens_details" => Slot::Details(&mut self.input_tokens_details),
            "output_tokens_details" => Slot::Details(&mut self.output_tokens_details),
            "cache_creation" => Slot::Details(&mut self.cache_creation),
            _ => Slot::Ignored,
        }
    }
}

impl Slots for Details {
    fn slot(&mut self, key: &str) -> Slot<'_> {
        match key {
            "cached_tokens" => Slot::Count(&mut self.cached_tokens),
            "cache_creation_tokens" => Slot::Count(&mut self.cache_creation_tokens),
            "audio_tokens" => Slot::Count(&mut self.audio_tokens),
            "reasoning_tokens" => Slot::Count(&mut self.reasoning_tokens),
            "ephemeral_5m_input_tokens" => Slot::Count(&mut self.ephemeral_5m_input_tokens),
            "ephemeral_1h_input_tokens" => Slot::Count(&mut self.ephemeral_1h_input_tokens),
            _ => Slot::Ignored,
        }
    }
}

impl Counts {
    /// The counts of a parsed usage object (empty when `usage` is not an object).
    pub fn of(usage: &Value) -> Self {
        from_tree(usage)
    }
}

fn from_tree<T: Slots>(value: &Value) -> T {
    let mut out = T::default();
    if let Value::Object(map) = value {
        for (key, v) in map {
            match out.slot(key) {
                Slot::Count(c) => *c = count(v),
                Slot::Present(p) => *p = Some(count(v)),
                Slot::Details(d) => *d = from_tree(v),
                Slot::Ignored => {}
            }
        }
    }
    out
}

/// A count in a parsed tree.
fn count(value: &Value) -> u64 {
    match value {
        Value::Number(n) => n
            .as_u64()
            .unwrap_or_else(|| n.as_f64().map_or(0, float_count)),
        _ => 0,
    }
}

fn float_count(f: f64) -> u64 {
    if f.is_finite() && f > 0.0 {
        // `as` saturates for floats beyond u64's range.
        f as u64
    } else {
        0
    }
}

/// Reads an object key into the slot of `T` it names: without allocating, whether the text
/// escapes the key or not.
struct KeySeed<'a, T>(&'a mut T);

impl<'de, 'a, T: Slots> DeserializeSeed<'de> for KeySeed<'a, T> {
    type Value = Slot<'a>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Slot<'a>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'a, T: Slots> Visitor<'_> for KeySeed<'a, T> {
    type Value = Slot<'a>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Slot<'a>, E> {
        Ok(self.0.slot(key))
    }
}

/// A count read from the text.
struct Count(u64);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Count;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }

            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Count, E> {
                Ok(Count(n))
            }

            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Count, E> {
                Ok(Count(u64::try_from(n).unwrap_or(0)))
            }

            fn visit_f64<E: de::Error>(self, f: f64) -> Result<Count, E> {
                Ok(Count(float_count(f)))
            }

            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Count, E> {
                Ok(Count(0))
            }

            fn visit_str<E: de::Error>(self, _: &str) -> Result<Count, E> {
                Ok(Count(0))
            }

            fn visit_unit<E: de::Error>(self) -> Result<Count, E> {
                Ok(Count(0))
            }

            fn visit_none<E: de::Error>(self) -> Result<Count, E> {
                Ok(Count(0))
            }

            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Count, D::Error> {
                d.deserialize_any(self)
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Count, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Count(0))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Count, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Count(0))
            }
        }
        d.deserialize_any(V)
    }
}

/// A nested breakdown read from the text (empty when it is not an object).
struct DetailsValue(Details);

impl<'de> Deserialize<'de> for DetailsValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self(
            d.deserialize_any(ObjectOr::new())?.unwrap_or_default(),
        ))
    }
}

/// A usage object read from the text: `None` when the value is not an object.
#[derive(Debug, Default)]
pub struct UsageObject(pub Option<Counts>);

impl<'de> Deserialize<'de> for UsageObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self(d.deserialize_any(ObjectOr::new())?))
    }
}

/// Reads any JSON value: an object into `T`, anything else (consumed) as `None`.
struct ObjectOr<T>(std::marker::PhantomData<T>);

impl<T> ObjectOr<T> {
    fn new() -> Self {
        Self(std::marker::PhantomData)
    }
}

impl<'de, T: Slots> Visitor<'de> for ObjectOr<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<T>, A::Error> {
        let mut out = T::default();
        while let Some(slot) = map.next_key_seed(KeySeed(&mut out))? {
            match slot {
                Slot::Count(c) => *c = map.next_value::<Count>()?.0,
                Slot::Present(p) => *p = Some(map.next_value::<Count>()?.0),
                Slot::Details(d) => *d = map.next_value::<DetailsValue>()?.0,
                Slot::Ignored => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Some(out))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<T>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        d.deserialize_any(self)
    }
}
