//! Three-state fields for updates: absent (leave alone), `null` (clear), or a value.

use serde::{Deserialize, Deserializer};

/// A field of an update request.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Patch<T> {
    #[default]
    Absent,
    Null,
    Value(T),
}

impl<T> Patch<T> {
    /// The value, if one was given.
    pub fn value(&self) -> Option<&T> {
        match self {
            Patch::Value(v) => Some(v),
            _ => None,
        }
    }

    pub fn is_absent(&self) -> bool {
        matches!(self, Patch::Absent)
    }

    /// Applies this patch to a nullable field.
    pub fn apply_to(self, field: &mut Option<T>) {
        match self {
            Patch::Absent => {}
            Patch::Null => *field = None,
            Patch::Value(v) => *field = Some(v),
        }
    }

    /// Applies this patch to a field with a default (`null` resets it).
    pub fn apply_or_default(self, field: &mut T)
    where
        T: Default,
    {
        match self {
            Patch::Absent => {}
            Patch::Null => *field = T::default(),
            Patch::Value(v) => *field = v,
        }
    }

    /// The same patch with its value as JSON (for fields stored inside `metadata`).
    pub fn to_json(self) -> Patch<serde_json::Value>
    where
        T: serde::Serialize,
    {
        match self {
            Patch::Absent => Patch::Absent,
            Patch::Null => Patch::Null,
            Patch::Value(v) => serde_json::to_value(v).map_or(Patch::Null, Patch::Value),
        }
    }

    /// `Some(new value)` if the patch changes the field (`Some(None)` for a clear).
    pub fn into_change(self) -> Option<Option<T>> {
        match self {
            Patch::Absent => None,
            Patch::Null => Some(None),
            Patch::Value(v) => Some(Some(v)),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Option::<T>::deserialize(d)?.map_or(Patch::Null, Patch::Value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Req {
        a: Patch<i64>,
        b: Patch<i64>,
        c: Patch<i64>,
    }

    #[test]
    fn absent_null_and_value_differ() {
        let r: Req = serde_json::from_str(r#"{"b": null, "c": 3}"#).unwrap();
        assert_eq!(r.a, Patch::Absent);
        assert_eq!(r.b, Patch::Null);
        assert_eq!(r.c, Patch::Value(3));
        let mut f = Some(1);
        r.b.apply_to(&mut f);
        assert_eq!(f, None);
    }
}
