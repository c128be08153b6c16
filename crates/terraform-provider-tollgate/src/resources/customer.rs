//! `tollgate_customer`: an end user named in inference requests. Budget fields live in its
//! linked budget (`litellm_budget_table`); setting them creates one.

use async_trait::async_trait;
use serde_json::{json, Map, Value as Json};

use super::{need, object, pick};
use crate::client::Client;
use crate::engine::{Object, Update};
use crate::error::Result;
use crate::plugin::Val;
use crate::spec::{Attr, Ty};

pub struct Customer;

const ATTRS: &[Attr] = &[
    Attr::computed("id", Ty::Str, "The customer's `user_id`."),
    Attr::req("user_id", Ty::Str, "The id clients send in the `user` field. Changing it replaces the customer.").force_new(),
    Attr::opt("alias", Ty::Str, "Display name."),
    Attr::opt_computed("max_budget", Ty::Float, "Budget in USD (kept in the customer's own budget). Shows the linked budget's value when `budget_id` is set."),
    Attr::opt_computed("budget_id", Ty::Str, "A shared budget to link instead of `max_budget`/limits; set by the gateway when those are given."),
    Attr::opt("blocked", Ty::Bool, "Blocked customers' requests are refused."),
    Attr::opt_computed("tpm_limit", Ty::Int, "Tokens per minute (from the linked budget when not set)."),
    Attr::opt_computed("rpm_limit", Ty::Int, "Requests per minute (from the linked budget when not set)."),
];

const FIELDS: &[&str] = &["user_id", "alias", "budget_id", "blocked"];
const BUDGET_FIELDS: &[&str] = &["max_budget", "tpm_limit", "rpm_limit"];

pub fn customer_view(c: &Json) -> Json {
    let mut view = pick(c, "user_id", FIELDS);
    let budget = c.get("litellm_budget_table").unwrap_or(&Json::Null);
    if let Json::Object(m) = &mut view {
        for f in BUDGET_FIELDS {
            m.insert(
                (*f).to_owned(),
                budget.get(*f).cloned().unwrap_or(Json::Null),
            );
        }
    }
    view
}

#[async_trait]
impl Object for Customer {
    const DESCRIPTION: &'static str = "A customer (end user) with an optional budget.";

    fn attrs() -> &'static [Attr] {
        ATTRS
    }

    async fn create(api: &Client, _planned: &Val, body: Map<String, Json>) -> Result<Json> {
        Ok(customer_view(
            &api.post("/customer/new", &object(body)).await?,
        ))
    }

    async fn read(api: &Client, id: &str) -> Result<Json> {
        Ok(customer_view(
            &api.get("/customer/info", &[("end_user_id", id)]).await?,
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
            api.post("/customer/update", &object(body)).await?;
        }
        Ok(Update::plain(json!({"id": id})))
    }

    async fn delete(api: &Client, state: &Val) -> Result<()> {
        let id = need(state, "id")?;
        api.post("/customer/delete", &json!({"user_ids": [id]}))
            .await?;
        Ok(())
    }
}
