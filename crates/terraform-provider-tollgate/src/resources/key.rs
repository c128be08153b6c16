//! `tollgate_key`: a virtual key. Its `id` is the key's token (the SHA-256 of the value).
//!
//! A change of `team_id` stays an in-place update: when the key was deleted with its old team
//! (a replaced team), the update finds it gone and generates a new key under the new team in
//! the same apply. The plan marks `id`, `key`, `token`, `spend` and `expires` unknown whenever
//! `team_id` changes, so either outcome is consistent with it. A change of `rotation_keepers`
//! regenerates the key in place: a new value, with alias, budget and spend kept.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::{json, Map, Value as Json};

use super::pick;
use crate::client::Client;
use crate::engine::{Object, Update};
use crate::error::{Error, Result};
use crate::plugin::Val;
use crate::spec::{self, Attr, Ty};

pub struct Key;

const ATTRS: &[Attr] = &[
    Attr::computed("id", Ty::Str, "The key's token (hex SHA-256 of its value). Changes when the key is regenerated or re-created."),
    Attr::computed("key", Ty::Str, "The key's value (`sk-...`). Known only to the state that created or rotated it; `null` after a rotation outside Terraform.").sensitive().kept(),
    Attr::computed("token", Ty::Str, "Same as `id`: the hash the gateway stores."),
    Attr::computed("spend", Ty::Float, "Spend so far, in USD."),
    Attr::computed("expires", Ty::Str, "When the key expires (RFC 3339), or null."),
    Attr::opt("key_alias", Ty::Str, "Unique alias. Not sent when unset, so several keys without an alias coexist."),
    Attr::opt("team_id", Ty::Str, "Team the key belongs to. Changing it moves the key in place (same value)."),
    Attr::opt("user_id", Ty::Str, "User who owns the key."),
    Attr::opt("models", Ty::StrList, "Models the key may call (empty: all the team or gateway allows)."),
    Attr::opt("max_budget", Ty::Float, "Budget in USD."),
    Attr::opt("soft_budget", Ty::Float, "Spend in USD at which alerts start."),
    Attr::opt("budget_duration", Ty::Str, "Budget reset period, e.g. `30d`, `1mo`."),
    Attr::opt("tpm_limit", Ty::Int, "Tokens per minute."),
    Attr::opt("rpm_limit", Ty::Int, "Requests per minute."),
    Attr::opt("max_parallel_requests", Ty::Int, "Concurrent requests."),
    Attr::opt("metadata", Ty::StrMap, "Free-form metadata."),
    Attr::opt("tags", Ty::StrList, "Tags recorded with the key's spend."),
    Attr::opt("blocked", Ty::Bool, "Blocked keys are refused."),
    Attr::opt("duration", Ty::Str, "Lifetime from now, e.g. `30d`; changing it renews the expiry.").kept(),
    Attr::opt("rotation_keepers", Ty::StrMap, "Arbitrary values; when any changes, the key is regenerated in place (new value, same alias, budget and spend).").kept().local(),
];

const FIELDS: &[&str] = &[
    "token",
    "spend",
    "expires",
    "key_alias",
    "team_id",
    "user_id",
    "models",
    "max_budget",
    "soft_budget",
    "budget_duration",
    "tpm_limit",
    "rpm_limit",
    "max_parallel_requests",
    "metadata",
    "tags",
    "blocked",
];

async fn info(api: &Client, key: &str) -> Result<Json> {
    let v = api.get("/key/info", &[("key", key)]).await?;
    Ok(v.get("info").cloned().unwrap_or(Json::Null))
}

/// The live token a regenerated key now answers to, from its token history.
fn active_token(info: &Json) -> Option<String> {
    info.get("token_history")?
        .as_array()?
        .iter()
        .find(|t| t.get("status").and_then(Json::as_str) == Some("active"))?
        .get("token")?
        .as_str()
        .map(str::to_owned)
}

fn status(info: &Json) -> &str {
    info.get("status")
        .and_then(Json::as_str)
        .unwrap_or("active")
}

/// The view of a key. A key rotated outside Terraform is followed to its live token; its value
/// is then unknown to us (`key` becomes null). A deleted key is gone.
async fn read_key(api: &Client, id: &str) -> Result<Json> {
    let mut found = info(api, id).await?;
    let mut followed = false;
    if status(&found) == "regenerated" {
        let Some(live) = active_token(&found) else {
            return Err(Error::Gone(format!("key {id}")));
        };
        found = info(api, &live).await?;
        followed = true;
    }
    if matches!(status(&found), "deleted" | "regenerated") {
        return Err(Error::Gone(format!("key {id}")));
    }
    let mut view = pick(&found, "token", FIELDS);
    if let Json::Object(m) = &mut view {
        if followed {
            m.insert("key".into(), Json::Null);
        } else if id.starts_with("sk-") {
            m.insert("key".into(), Json::from(id));
        }
    }
    Ok(view)
}

fn created_view(resp: &Json) -> Json {
    json!({"id": resp.get("token"), "key": resp.get("key")})
}

async fn generate(api: &Client, body: Map<String, Json>) -> Result<Json> {
    let resp = api.post("/key/generate", &Json::Object(body)).await?;
    Ok(created_view(&resp))
}

#[async_trait]
impl Object for Key {
    const DESCRIPTION: &'static str = "A virtual key.";

    fn attrs() -> &'static [Attr] {
        ATTRS
    }

    async fn create(api: &Client, _planned: &Val, body: Map<String, Json>) -> Result<Json> {
        generate(api, body).await
    }

    async fn read(api: &Client, id: &str) -> Result<Json> {
        read_key(api, id).await
    }

    async fn update(
        api: &Client,
        prior: &Val,
        planned: &Val,
        changes: Map<String, Json>,
    ) -> Result<Update> {
        let mut token = super::need(prior, "id")?;
        // Unless the key is re-created or rotated, its value stays what it was.
        let mut out = json!({"id": token, "key": crate::spec::to_json(Ty::Str, prior.get("key"))});
        let mut warning = None;
        if !changes.is_empty() || planned.get("id").is_unknown() {
            let mut body = changes;
            body.insert("key".into(), Json::from(token.clone()));
            match api.post("/key/update", &Json::Object(body)).await {
                Ok(_) => {}
                Err(e) if e.is_gone() => {
                    // Confirm: only a key the gateway really deleted is generated anew.
                    match read_key(api, &token).await {
                        Err(again) if again.is_gone() => {}
                        Err(other) => return Err(other),
                        Ok(_) => return Err(e),
                    }
                    out = generate(api, spec::body(ATTRS, planned)).await?;
                    token = out
                        .get("id")
                        .and_then(Json::as_str)
                        .ok_or_else(|| Error::Unexpected(format!("no token in {out}")))?
                        .to_owned();
                    warning = Some(format!(
                        "The key had been deleted on the gateway (its team was deleted or replaced); \
                         a new key was generated, new token {token}. Its value differs from the old one."
                    ));
                }
                Err(e) => return Err(e),
            }
        }
        if prior.get("rotation_keepers") != planned.get("rotation_keepers") {
            let resp = api.post("/key/regenerate", &json!({"key": token})).await?;
            out = created_view(&resp);
        }
        Ok(Update { view: out, warning })
    }

    async fn delete(api: &Client, state: &Val) -> Result<()> {
        let token = super::need(state, "id")?;
        api.post("/key/delete", &json!({"keys": [token]})).await?;
        Ok(())
    }

    /// A key is deleted with its team or its user. When one of them was replaced earlier in
    /// this apply, Terraform plans the key again with the same team id and no change; the
    /// key is gone by then, so plan its re-creation (the update generates it anew).
    async fn recheck(api: &Client, prior: &Val, planned: &mut BTreeMap<String, Val>) -> Result<()> {
        if prior.get("team_id").is_null() && prior.get("user_id").is_null() {
            return Ok(());
        }
        let id = super::need(prior, "id")?;
        match read_key(api, &id).await {
            Err(e) if e.is_gone() => {
                for name in ["id", "key", "token", "spend", "expires"] {
                    planned.insert(name.to_owned(), Val::Unknown);
                }
                Ok(())
            }
            Err(e) => Err(e),
            Ok(_) => Ok(()),
        }
    }

    fn plan_update(prior: &Val, planned: &mut BTreeMap<String, Val>) {
        let changed = |name: &str, planned: &BTreeMap<String, Val>| {
            prior.get(name) != planned.get(name).unwrap_or(&Val::Null)
        };
        let mut unknown: Vec<&str> = Vec::new();
        if changed("team_id", planned) {
            unknown.extend(["id", "key", "token", "spend", "expires"]);
        }
        if changed("rotation_keepers", planned) {
            unknown.extend(["id", "key", "token"]);
        }
        if changed("duration", planned) {
            unknown.push("expires");
        }
        for name in unknown {
            planned.insert(name.to_owned(), Val::Unknown);
        }
    }
}
