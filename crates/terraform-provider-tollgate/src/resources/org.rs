//! `tollgate_organization` and `tollgate_organization_member`. An organization's budget
//! fields live in its linked budget (`litellm_budget_table`).

use async_trait::async_trait;
use serde_json::{json, Map, Value as Json};

use super::{need, object, pair, pick};
use crate::client::Client;
use crate::engine::{Object, Update};
use crate::error::{Error, Result};
use crate::plugin::Val;
use crate::spec::{Attr, Ty};

pub struct Org;

const ORG_ATTRS: &[Attr] = &[
    Attr::computed("id", Ty::Str, "The organization's id."),
    Attr::opt_computed(
        "organization_id",
        Ty::Str,
        "The organization's id; generated when unset. Changing it replaces the organization.",
    )
    .force_new(),
    Attr::req("organization_alias", Ty::Str, "Display name."),
    Attr::opt(
        "models",
        Ty::StrList,
        "Models the organization's teams may use.",
    ),
    Attr::opt("max_budget", Ty::Float, "Budget in USD."),
    Attr::opt(
        "budget_duration",
        Ty::Str,
        "Budget reset period, e.g. `30d`.",
    ),
    Attr::opt("tpm_limit", Ty::Int, "Tokens per minute."),
    Attr::opt("rpm_limit", Ty::Int, "Requests per minute."),
    Attr::opt("metadata", Ty::StrMap, "Free-form metadata."),
];

const FIELDS: &[&str] = &[
    "organization_id",
    "organization_alias",
    "models",
    "metadata",
];
const BUDGET_FIELDS: &[&str] = &["max_budget", "budget_duration", "tpm_limit", "rpm_limit"];

/// The view of an organization, its budget fields flattened.
pub fn org_view(org: &Json) -> Json {
    let mut view = pick(org, "organization_id", FIELDS);
    let budget = org.get("litellm_budget_table").unwrap_or(&Json::Null);
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

async fn org_info(api: &Client, id: &str) -> Result<Json> {
    api.get("/organization/info", &[("organization_id", id)])
        .await
}

#[async_trait]
impl Object for Org {
    const DESCRIPTION: &'static str = "An organization: teams and users under one budget.";

    fn attrs() -> &'static [Attr] {
        ORG_ATTRS
    }

    async fn create(api: &Client, _planned: &Val, body: Map<String, Json>) -> Result<Json> {
        Ok(org_view(
            &api.post("/organization/new", &object(body)).await?,
        ))
    }

    async fn read(api: &Client, id: &str) -> Result<Json> {
        Ok(org_view(&org_info(api, id).await?))
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
            body.insert("organization_id".into(), Json::from(id.clone()));
            api.patch("/organization/update", &object(body)).await?;
        }
        Ok(Update::plain(json!({"id": id})))
    }

    async fn delete(api: &Client, state: &Val) -> Result<()> {
        let id = need(state, "id")?;
        api.delete("/organization/delete", &json!({"organization_ids": [id]}))
            .await?;
        Ok(())
    }
}

pub struct OrgMember;

const MEMBER_ATTRS: &[Attr] = &[
    Attr::computed("id", Ty::Str, "`<organization_id>:<user_id>`."),
    Attr::req("organization_id", Ty::Str, "The organization.").force_new(),
    Attr::req(
        "user_id",
        Ty::Str,
        "The user (created by the gateway when missing).",
    )
    .force_new(),
    Attr::opt_computed(
        "role",
        Ty::Str,
        "`org_admin`, `internal_user` (default) or `internal_user_viewer`.",
    ),
];

#[async_trait]
impl Object for OrgMember {
    const DESCRIPTION: &'static str = "A user's membership in an organization.";

    fn attrs() -> &'static [Attr] {
        MEMBER_ATTRS
    }

    async fn create(api: &Client, planned: &Val, body: Map<String, Json>) -> Result<Json> {
        let (org, user) = (need(planned, "organization_id")?, need(planned, "user_id")?);
        let mut member = json!({"user_id": user});
        if let Some(role) = body.get("role") {
            member["role"] = role.clone();
        }
        api.post(
            "/organization/member_add",
            &json!({"organization_id": org, "member": member}),
        )
        .await?;
        Ok(json!({"id": format!("{org}:{user}")}))
    }

    async fn read(api: &Client, id: &str) -> Result<Json> {
        let (org, user) = pair(id, "organization")?;
        let info = org_info(api, &org).await?;
        let member = info
            .get("members")
            .and_then(Json::as_array)
            .and_then(|ms| {
                ms.iter()
                    .find(|m| m.get("user_id").and_then(Json::as_str) == Some(user.as_str()))
            })
            .ok_or_else(|| Error::Gone(format!("membership {id}")))?;
        Ok(json!({
            "id": id,
            "organization_id": org,
            "user_id": user,
            "role": member.get("user_role"),
        }))
    }

    async fn update(
        api: &Client,
        prior: &Val,
        _planned: &Val,
        changes: Map<String, Json>,
    ) -> Result<Update> {
        let id = need(prior, "id")?;
        let (org, user) = pair(&id, "organization")?;
        if let Some(role) = changes.get("role") {
            api.patch(
                "/organization/member_update",
                &json!({"organization_id": org, "user_id": user, "role": role}),
            )
            .await?;
        }
        Ok(Update::plain(json!({"id": id})))
    }

    async fn delete(api: &Client, state: &Val) -> Result<()> {
        let (org, user) = pair(&need(state, "id")?, "organization")?;
        api.delete(
            "/organization/member_delete",
            &json!({"organization_id": org, "user_id": user}),
        )
        .await?;
        Ok(())
    }
}
