//! `tollgate_model`: a model deployment stored in the gateway's database (the gateway needs
//! `store_model_in_db`). `litellm_params.api_key` is stored encrypted and never returned, so
//! the state keeps the configured value.

use std::collections::BTreeSet;

use async_trait::async_trait;
use serde_json::{json, Map, Value as Json};

use super::{need, object};
use crate::client::Client;
use crate::engine::{Object, Update};
use crate::error::Result;
use crate::plugin::Val;
use crate::spec::{to_json, Attr, Ty};

pub struct Model;

const PARAMS: &[Attr] = &[
    Attr::req(
        "model",
        Ty::Str,
        "Provider and model, e.g. `openai/gpt-4o` or `mock/demo`.",
    ),
    Attr::opt("api_base", Ty::Str, "Upstream base URL."),
    Attr::opt(
        "api_key",
        Ty::Str,
        "Upstream API key (stored encrypted, never read back).",
    )
    .sensitive()
    .kept(),
    Attr::opt("api_version", Ty::Str, "Upstream API version (Azure)."),
    Attr::opt("rpm", Ty::Int, "Requests per minute for this deployment."),
    Attr::opt("tpm", Ty::Int, "Tokens per minute for this deployment."),
    Attr::opt(
        "input_cost_per_token",
        Ty::Float,
        "Price override, USD per input token.",
    ),
    Attr::opt(
        "output_cost_per_token",
        Ty::Float,
        "Price override, USD per output token.",
    ),
];

const ATTRS: &[Attr] = &[
    Attr::computed("id", Ty::Str, "The deployment's id (same as `model_id`)."),
    Attr::computed("model_id", Ty::Str, "The deployment's id."),
    Attr::req(
        "model_name",
        Ty::Str,
        "The name clients call (the model group).",
    ),
    Attr::req(
        "litellm_params",
        Ty::Block(PARAMS),
        "How to reach the upstream.",
    ),
    Attr::opt(
        "model_info",
        Ty::StrMap,
        "Extra model information (e.g. `mode`, `base_model`).",
    ),
];

/// The view of a stored model (`/model/{id}/info`, `/model/new`).
pub fn model_view(m: &Json) -> Json {
    let mut info = m.get("model_info").cloned().unwrap_or(json!({}));
    if let Json::Object(i) = &mut info {
        i.remove("id");
    }
    json!({
        "id": m.get("model_id"),
        "model_id": m.get("model_id"),
        "model_name": m.get("model_name"),
        "litellm_params": m.get("litellm_params"),
        "model_info": info,
    })
}

/// The update of a merged object: new values, and `null` for what was removed.
fn merge_patch(prior: &Json, planned: &Json) -> Json {
    let keys = |j: &Json| -> BTreeSet<String> {
        j.as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    let mut out = Map::new();
    for k in keys(prior).union(&keys(planned)) {
        out.insert(k.clone(), planned.get(k).cloned().unwrap_or(Json::Null));
    }
    Json::Object(out)
}

#[async_trait]
impl Object for Model {
    const DESCRIPTION: &'static str = "A model deployment stored in the gateway.";

    fn attrs() -> &'static [Attr] {
        ATTRS
    }

    async fn create(api: &Client, _planned: &Val, body: Map<String, Json>) -> Result<Json> {
        Ok(model_view(&api.post("/model/new", &object(body)).await?))
    }

    async fn read(api: &Client, id: &str) -> Result<Json> {
        let path = format!("/model/{id}/info");
        Ok(model_view(&api.get(&path, &[]).await?))
    }

    async fn update(
        api: &Client,
        prior: &Val,
        planned: &Val,
        changes: Map<String, Json>,
    ) -> Result<Update> {
        let id = need(prior, "id")?;
        let mut body = Map::new();
        if let Some(name) = changes.get("model_name") {
            body.insert("model_name".into(), name.clone());
        }
        // The gateway merges these objects: removed entries are sent as null.
        for (name, ty) in [
            ("litellm_params", Ty::Block(PARAMS)),
            ("model_info", Ty::StrMap),
        ] {
            if changes.contains_key(name) {
                let (old, new) = (to_json(ty, prior.get(name)), to_json(ty, planned.get(name)));
                body.insert(name.to_owned(), merge_patch(&old, &new));
            }
        }
        if !body.is_empty() {
            api.patch(&format!("/model/{id}/update"), &object(body))
                .await?;
        }
        Ok(Update::plain(json!({"id": id})))
    }

    async fn delete(api: &Client, state: &Val) -> Result<()> {
        let id = need(state, "id")?;
        api.post("/model/delete", &json!({"id": id})).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removed_entries_are_sent_as_null() {
        let p = merge_patch(&json!({"a": "1", "b": "2"}), &json!({"b": "3", "c": "4"}));
        assert_eq!(p, json!({"a": null, "b": "3", "c": "4"}));
    }
}
