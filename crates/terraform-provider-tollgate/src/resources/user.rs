//! `tollgate_user`: an internal user. Created without the gateway's automatic key.

use async_trait::async_trait;
use serde_json::{json, Map, Value as Json};

use super::{need, object, pick};
use crate::client::Client;
use crate::engine::{Object, Update};
use crate::error::Result;
use crate::plugin::Val;
use crate::spec::{Attr, Ty};

pub struct User;

const ATTRS: &[Attr] = &[
    Attr::computed("id", Ty::Str, "The user's id."),
    Attr::opt_computed("user_id", Ty::Str, "The user's id; generated when unset. Changing it replaces the user.").force_new(),
    Attr::opt("user_email", Ty::Str, "Email address (unique)."),
    Attr::opt("user_alias", Ty::Str, "Display name."),
    Attr::opt_computed("user_role", Ty::Str, "`proxy_admin`, `proxy_admin_viewer`, `org_admin`, `internal_user` (default) or `internal_user_viewer`."),
    Attr::opt("models", Ty::StrList, "Models the user may call."),
    Attr::opt("max_budget", Ty::Float, "Budget in USD."),
    Attr::opt("budget_duration", Ty::Str, "Budget reset period, e.g. `30d`."),
    Attr::opt("tpm_limit", Ty::Int, "Tokens per minute."),
    Attr::opt("rpm_limit", Ty::Int, "Requests per minute."),
    Attr::opt("metadata", Ty::StrMap, "Free-form metadata."),
];

const FIELDS: &[&str] = &[
    "user_id",
    "user_email",
    "user_alias",
    "user_role",
    "models",
    "max_budget",
    "budget_duration",
    "tpm_limit",
    "rpm_limit",
    "metadata",
];

/// The view of a user row.
pub fn user_view(row: &Json) -> Json {
    pick(row, "user_id", FIELDS)
}

#[async_trait]
impl Object for User {
    const DESCRIPTION: &'static str = "An internal user of the gateway.";

    fn attrs() -> &'static [Attr] {
        ATTRS
    }

    async fn create(api: &Client, _planned: &Val, body: Map<String, Json>) -> Result<Json> {
        let mut body = body;
        body.insert("auto_create_key".into(), Json::Bool(false));
        Ok(user_view(&api.post("/user/new", &object(body)).await?))
    }

    async fn read(api: &Client, id: &str) -> Result<Json> {
        Ok(user_view(
            &api.get("/v2/user/info", &[("user_id", id)]).await?,
        ))
    }

    async fn update(
        api: &Client,
        prior: &Val,
        _planned: &Val,
        changes: Map<String, Json>,
    ) -> Result<Update> {
        let id = need(prior, "id")?;
        if !changes.is_empty() {
            let mut body = changes;
            body.insert("user_id".into(), Json::from(id.clone()));
            api.post("/user/update", &object(body)).await?;
        }
        Ok(Update::plain(json!({"id": id})))
    }

    async fn delete(api: &Client, state: &Val) -> Result<()> {
        let id = need(state, "id")?;
        api.post("/user/delete", &json!({"user_ids": [id]})).await?;
        Ok(())
    }
}
