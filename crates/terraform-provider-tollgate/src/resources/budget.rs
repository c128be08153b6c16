//! `tollgate_budget`: a shared budget that organizations, customers and keys can link.

use async_trait::async_trait;
use serde_json::{json, Map, Value as Json};

use super::{need, object, pick};
use crate::client::Client;
use crate::engine::{Object, Update};
use crate::error::{Error, Result};
use crate::plugin::Val;
use crate::spec::{Attr, Ty};

pub struct Budget;

const ATTRS: &[Attr] = &[
    Attr::computed("id", Ty::Str, "The budget's id."),
    Attr::opt_computed(
        "budget_id",
        Ty::Str,
        "The budget's id; generated when unset. Changing it replaces the budget.",
    )
    .force_new(),
    Attr::opt("max_budget", Ty::Float, "Budget in USD."),
    Attr::opt(
        "soft_budget",
        Ty::Float,
        "Spend in USD at which alerts start.",
    ),
    Attr::opt("budget_duration", Ty::Str, "Reset period, e.g. `30d`."),
    Attr::opt("tpm_limit", Ty::Int, "Tokens per minute."),
    Attr::opt("rpm_limit", Ty::Int, "Requests per minute."),
    Attr::opt("max_parallel_requests", Ty::Int, "Concurrent requests."),
];

const FIELDS: &[&str] = &[
    "budget_id",
    "max_budget",
    "soft_budget",
    "budget_duration",
    "tpm_limit",
    "rpm_limit",
    "max_parallel_requests",
];

pub fn budget_view(b: &Json) -> Json {
    pick(b, "budget_id", FIELDS)
}

#[async_trait]
impl Object for Budget {
    const DESCRIPTION: &'static str = "A budget with limits, shareable between objects.";

    fn attrs() -> &'static [Attr] {
        ATTRS
    }

    async fn create(api: &Client, _planned: &Val, body: Map<String, Json>) -> Result<Json> {
        Ok(budget_view(&api.post("/budget/new", &object(body)).await?))
    }

    async fn read(api: &Client, id: &str) -> Result<Json> {
        let found = api.post("/budget/info", &json!({"budgets": [id]})).await?;
        let first = found
            .as_array()
            .and_then(|a| a.first())
            .ok_or_else(|| Error::Unexpected(format!("budget info: {found}")))?;
        Ok(budget_view(first))
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
            body.insert("budget_id".into(), Json::from(id.clone()));
            api.post("/budget/update", &object(body)).await?;
        }
        Ok(Update::plain(json!({"id": id})))
    }

    async fn delete(api: &Client, state: &Val) -> Result<()> {
        let id = need(state, "id")?;
        api.post("/budget/delete", &json!({"id": id})).await?;
        Ok(())
    }
}
