//! `tollgate_team` and `tollgate_team_member`.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::{json, Map, Value as Json};

use super::{need, object, pair, pick};
use crate::client::Client;
use crate::engine::{Object, Update};
use crate::error::{Error, Result};
use crate::plugin::Val;
use crate::spec::{Attr, Ty};

pub struct Team;

const TEAM_ATTRS: &[Attr] = &[
    Attr::computed("id", Ty::Str, "The team's id. Unknown until a new team exists, so keys that reference it follow a replaced team."),
    Attr::opt_computed("team_id", Ty::Str, "The team's id; generated when unset. Changing it replaces the team.").force_new(),
    Attr::opt("team_alias", Ty::Str, "Display name."),
    Attr::opt("organization_id", Ty::Str, "Organization the team belongs to."),
    Attr::opt("models", Ty::StrList, "Models the team may call."),
    Attr::opt("max_budget", Ty::Float, "Budget in USD."),
    Attr::opt("budget_duration", Ty::Str, "Budget reset period, e.g. `30d`."),
    Attr::opt("tpm_limit", Ty::Int, "Tokens per minute."),
    Attr::opt("rpm_limit", Ty::Int, "Requests per minute."),
    Attr::opt("max_parallel_requests", Ty::Int, "Concurrent requests."),
    Attr::opt("metadata", Ty::StrMap, "Free-form metadata."),
    Attr::opt("blocked", Ty::Bool, "A blocked team's keys are refused."),
];

const TEAM_FIELDS: &[&str] = &[
    "team_id",
    "team_alias",
    "organization_id",
    "models",
    "max_budget",
    "budget_duration",
    "tpm_limit",
    "rpm_limit",
    "max_parallel_requests",
    "metadata",
    "blocked",
];

pub async fn team_info(api: &Client, team_id: &str) -> Result<Json> {
    api.get("/team/info", &[("team_id", team_id)]).await
}

/// The view of a team object as `/team/info`, `/team/new` and `/team/list` show it.
pub fn team_view(team: &Json) -> Json {
    pick(team, "team_id", TEAM_FIELDS)
}

#[async_trait]
impl Object for Team {
    const DESCRIPTION: &'static str =
        "A team: a group of users and keys with shared budgets and limits.";

    fn attrs() -> &'static [Attr] {
        TEAM_ATTRS
    }

    async fn create(api: &Client, _planned: &Val, body: Map<String, Json>) -> Result<Json> {
        Ok(team_view(&api.post("/team/new", &object(body)).await?))
    }

    async fn read(api: &Client, id: &str) -> Result<Json> {
        let info = team_info(api, id).await?;
        Ok(team_view(info.get("team_info").unwrap_or(&Json::Null)))
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
            body.insert("team_id".into(), Json::from(id.clone()));
            api.post("/team/update", &object(body)).await?;
        }
        Ok(Update::plain(json!({"id": id})))
    }

    async fn delete(api: &Client, state: &Val) -> Result<()> {
        let id = need(state, "id")?;
        api.post("/team/delete", &json!({"team_ids": [id]})).await?;
        Ok(())
    }

    fn plan_create(planned: &mut BTreeMap<String, Val>) {
        // Even with a fixed team_id the new team is another object: keys that reference `id`
        // see a change and re-check themselves in the same apply.
        planned.insert("id".into(), Val::Unknown);
    }
}

pub struct TeamMember;

const MEMBER_ATTRS: &[Attr] = &[
    Attr::computed("id", Ty::Str, "`<team_id>:<user_id>`."),
    Attr::req("team_id", Ty::Str, "The team.").force_new(),
    Attr::req(
        "user_id",
        Ty::Str,
        "The user (created by the gateway when missing).",
    )
    .force_new(),
    Attr::opt_computed("role", Ty::Str, "`admin` or `user` (default `user`)."),
    Attr::opt(
        "max_budget_in_team",
        Ty::Float,
        "The member's budget inside the team, in USD.",
    ),
];

#[async_trait]
impl Object for TeamMember {
    const DESCRIPTION: &'static str = "A user's membership in a team.";

    fn attrs() -> &'static [Attr] {
        MEMBER_ATTRS
    }

    async fn create(api: &Client, planned: &Val, body: Map<String, Json>) -> Result<Json> {
        let (team, user) = (need(planned, "team_id")?, need(planned, "user_id")?);
        let mut member = json!({"user_id": user});
        if let Some(role) = body.get("role") {
            member["role"] = role.clone();
        }
        let mut req = json!({"team_id": team, "member": member});
        if let Some(b) = body.get("max_budget_in_team") {
            req["max_budget_in_team"] = b.clone();
        }
        api.post("/team/member_add", &req).await?;
        Ok(json!({"id": format!("{team}:{user}")}))
    }

    async fn read(api: &Client, id: &str) -> Result<Json> {
        let (team, user) = pair(id, "team")?;
        let info = team_info(api, &team).await?;
        let member = info
            .get("team_memberships")
            .and_then(Json::as_array)
            .and_then(|ms| {
                ms.iter()
                    .find(|m| m.get("user_id").and_then(Json::as_str) == Some(user.as_str()))
            })
            .ok_or_else(|| Error::Gone(format!("membership {id}")))?;
        Ok(json!({
            "id": id,
            "team_id": team,
            "user_id": user,
            "role": member.get("role"),
            "max_budget_in_team": member.get("max_budget_in_team"),
        }))
    }

    async fn update(
        api: &Client,
        prior: &Val,
        _planned: &Val,
        changes: Map<String, Json>,
    ) -> Result<Update> {
        let id = need(prior, "id")?;
        let (team, user) = pair(&id, "team")?;
        if !changes.is_empty() {
            let mut body = changes;
            body.insert("team_id".into(), Json::from(team));
            body.insert("user_id".into(), Json::from(user));
            api.post("/team/member_update", &object(body)).await?;
        }
        Ok(Update::plain(json!({"id": id})))
    }

    async fn delete(api: &Client, state: &Val) -> Result<()> {
        let (team, user) = pair(&need(state, "id")?, "team")?;
        api.post(
            "/team/member_delete",
            &json!({"team_id": team, "user_id": user}),
        )
        .await?;
        Ok(())
    }
}
