//! One module per resource: its attributes and its calls to the gateway's management API.

pub mod budget;
pub mod customer;
pub mod key;
pub mod model;
pub mod org;
pub mod team;
pub mod user;

use serde_json::{Map, Value as Json};

use crate::error::{Error, Result};

/// Fields the gateway keeps inside `metadata` and shows at the top level; they are attributes
/// of their own, so they are left out of the `metadata` attribute.
const METADATA_BACKED: [&str; 4] = ["tags", "model_rpm_limit", "model_tpm_limit", "guardrails"];

/// The named fields of a gateway object, with `id` taken from `id_field`.
pub fn pick(obj: &Json, id_field: &str, fields: &[&str]) -> Json {
    let mut out = Map::new();
    for f in fields {
        if let Some(v) = obj.get(*f) {
            out.insert((*f).to_owned(), v.clone());
        }
    }
    if let Some(id) = obj.get(id_field) {
        out.insert("id".into(), id.clone());
    }
    if let Some(Json::Object(meta)) = out.get_mut("metadata") {
        for f in METADATA_BACKED {
            meta.remove(f);
        }
    }
    Json::Object(out)
}

/// A JSON object from fields.
pub fn object(fields: Map<String, Json>) -> Json {
    Json::Object(fields)
}

/// `"a:b"` → `("a", "b")`, the import ID of a membership.
pub fn pair(id: &str, what: &str) -> Result<(String, String)> {
    id.split_once(':')
        .filter(|(a, b)| !a.is_empty() && !b.is_empty())
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .ok_or_else(|| {
            Error::Invalid(format!(
                "{what} IDs look like `<{what}_id>:<user_id>`, got `{id}`"
            ))
        })
}

/// A required string in a planned state.
pub fn need(state: &crate::plugin::Val, name: &str) -> Result<String> {
    state
        .str_of(name)
        .ok_or_else(|| Error::Invalid(format!("{name} must be known")))
}
