//! `/team/*`: teams and their members. Deleting a team deletes (archives) its keys.

mod crud;
mod members;

pub use crud::{block, delete, info, list, list_v2, new, new_member, unblock, update};
pub use members::{member_add, member_delete, member_update};

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value};
use tollgate_store::{JsonMap, Query, TeamMember, TeamRecord, UserRecord};

use super::common::{check_limit, check_money, clean_alias, reset_at, to_object, to_value};
use super::keys::{apply_metadata, is_org_admin, is_team_admin};
use crate::auth::Principal;
use crate::auth::Role;
use crate::http::{Error, Patch, Result};
use crate::state::AppState;

/// Settable fields of a team.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TeamFields {
    /// The team to act on (required by update; optional on new).
    pub team_id: Option<String>,
    /// New teams only: initial members.
    pub members_with_roles: Vec<MemberRef>,
    pub team_alias: Patch<String>,
    pub organization_id: Patch<String>,
    pub models: Patch<Vec<String>>,
    pub metadata: Patch<JsonMap>,
    pub max_budget: Patch<f64>,
    pub soft_budget: Patch<f64>,
    pub budget_duration: Patch<String>,
    pub tpm_limit: Patch<i64>,
    pub rpm_limit: Patch<i64>,
    pub max_parallel_requests: Patch<i64>,
    pub blocked: Patch<bool>,
    pub team_member_permissions: Patch<Vec<String>>,
    pub model_max_budget: Patch<JsonMap>,
    pub model_rpm_limit: Patch<BTreeMap<String, i64>>,
    pub model_tpm_limit: Patch<BTreeMap<String, i64>>,
    pub tags: Patch<Vec<String>>,
    pub guardrails: Patch<Vec<String>>,
}

impl TeamFields {
    pub fn apply(self, team: &mut TeamRecord, now: DateTime<Utc>) -> Result<()> {
        check_money("max_budget", self.max_budget.value().copied())?;
        check_money("soft_budget", self.soft_budget.value().copied())?;
        check_limit("tpm_limit", self.tpm_limit.value().copied())?;
        check_limit("rpm_limit", self.rpm_limit.value().copied())?;
        check_limit(
            "max_parallel_requests",
            self.max_parallel_requests.value().copied(),
        )?;
        if let Some(alias) = self.team_alias.into_change() {
            team.team_alias = clean_alias("team_alias", alias)?;
        }
        if let Some(d) = self.budget_duration.into_change() {
            team.budget_reset_at = reset_at("budget_duration", d.as_deref(), now)?;
            team.budget_duration = d;
        }
        self.organization_id.apply_to(&mut team.organization_id);
        self.models.apply_or_default(&mut team.models);
        self.max_budget.apply_to(&mut team.max_budget);
        self.soft_budget.apply_to(&mut team.soft_budget);
        self.tpm_limit.apply_to(&mut team.tpm_limit);
        self.rpm_limit.apply_to(&mut team.rpm_limit);
        self.max_parallel_requests
            .apply_to(&mut team.max_parallel_requests);
        self.blocked.apply_or_default(&mut team.blocked);
        self.team_member_permissions
            .apply_or_default(&mut team.team_member_permissions);
        self.model_max_budget
            .apply_or_default(&mut team.model_max_budget);
        apply_metadata(
            &mut team.metadata,
            self.metadata,
            [
                ("model_rpm_limit", self.model_rpm_limit.to_json()),
                ("model_tpm_limit", self.model_tpm_limit.to_json()),
                ("tags", self.tags.to_json()),
                ("guardrails", self.guardrails.to_json()),
            ],
        );
        if let (Some(soft), Some(max)) = (team.soft_budget, team.max_budget) {
            if soft >= max {
                return Err(Error::bad_field(
                    "soft_budget",
                    format!("soft_budget={soft} must be lower than max_budget={max}"),
                ));
            }
        }
        Ok(())
    }
}

/// A blank team.
pub fn blank_team(team_id: String, now: DateTime<Utc>) -> TeamRecord {
    TeamRecord {
        team_id,
        team_alias: None,
        organization_id: None,
        models: Vec::new(),
        metadata: JsonMap::new(),
        spend: 0.0,
        max_budget: None,
        soft_budget: None,
        budget_duration: None,
        budget_reset_at: None,
        tpm_limit: None,
        rpm_limit: None,
        max_parallel_requests: None,
        blocked: false,
        team_member_permissions: Vec::new(),
        model_max_budget: JsonMap::new(),
        created_at: now,
        updated_at: now,
        created_by: None,
        updated_by: None,
    }
}

/// The members of a team.
pub async fn members(state: &AppState, team_id: &str) -> Result<Vec<TeamMember>> {
    let q = Query::default().eq("team_id", team_id);
    Ok(state.store.list::<TeamMember>(&q).await?.items)
}

/// A team as the API shows it: the row plus `members_with_roles`.
pub fn render(team: &TeamRecord, members: &[TeamMember]) -> Result<Map<String, Value>> {
    let mut out = to_object(team)?;
    let with_roles: Vec<Value> = members
        .iter()
        .map(|m| {
            serde_json::json!({"user_id": m.user_id, "user_email": m.user_email, "role": m.role})
        })
        .collect();
    out.insert("members_with_roles".into(), Value::from(with_roles));
    for f in ["tags", "model_rpm_limit", "model_tpm_limit", "guardrails"] {
        if let Some(v) = team.metadata.get(f) {
            out.insert(f.into(), v.clone());
        }
    }
    Ok(out)
}

/// A membership as the API shows it (LiteLLM's TeamMembership with its budget table).
pub fn render_membership(m: &TeamMember) -> Result<Value> {
    let mut out = to_object(m)?;
    out.insert(
        "litellm_budget_table".into(),
        serde_json::json!({
            "max_budget": m.max_budget_in_team,
            "budget_duration": m.budget_duration,
            "budget_reset_at": m.budget_reset_at,
            "tpm_limit": m.tpm_limit,
            "rpm_limit": m.rpm_limit,
        }),
    );
    to_value(&out)
}

pub async fn get_team(state: &AppState, team_id: &str) -> Result<TeamRecord> {
    state
        .store
        .get::<TeamRecord>(&[team_id])
        .await?
        .ok_or_else(|| Error::NotFound(format!("Team not found, passed team_id={team_id}")))
}

/// Proxy admins, admins of the team, and org admins of its organization administer a team.
pub async fn check_team_admin(state: &AppState, p: &Principal, team: &TeamRecord) -> Result<()> {
    if p.is_proxy_admin() {
        return Ok(());
    }
    if let Some(uid) = p.user_id.as_deref() {
        if is_team_admin(state, &team.team_id, uid).await? {
            return Ok(());
        }
        if let (Role::OrgAdmin, Some(org)) = (p.role, team.organization_id.as_deref()) {
            if is_org_admin(state, org, uid).await? {
                return Ok(());
            }
        }
    }
    Err(Error::Forbidden(format!(
        "Only proxy admins, admins of team {} and admins of its organization may do this. Your role={}",
        team.team_id, p.role
    )))
}

/// A member reference: `user_id` or `user_email`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct MemberRef {
    pub user_id: Option<String>,
    pub user_email: Option<String>,
    pub role: Option<String>,
}

/// Finds the user a member reference names; creates it when `create` is set and it is missing.
pub async fn resolve_user(
    state: &AppState,
    m: &MemberRef,
    create: bool,
    now: DateTime<Utc>,
) -> Result<(UserRecord, bool)> {
    if let Some(id) = m.user_id.as_deref().filter(|s| !s.is_empty()) {
        if let Some(u) = state.store.get::<UserRecord>(&[id]).await? {
            return Ok((u, false));
        }
    } else if let Some(email) = m.user_email.as_deref().filter(|s| !s.is_empty()) {
        let q = Query::default().eq("user_email", email);
        if let Some(u) = state
            .store
            .list::<UserRecord>(&q)
            .await?
            .items
            .into_iter()
            .next()
        {
            return Ok((u, false));
        }
    } else {
        return Err(Error::bad_field(
            "member",
            "Each member needs a user_id or a user_email",
        ));
    }
    if !create {
        return Err(Error::NotFound(format!(
            "User not found: {}",
            m.user_id
                .clone()
                .or(m.user_email.clone())
                .unwrap_or_default()
        )));
    }
    let id = m
        .user_id
        .clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(super::common::new_id);
    Ok((
        crate::admin::users::blank_user(id, m.user_email.clone(), now),
        true,
    ))
}

/// One member or a list of them.
pub fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<MemberRef>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(MemberRef),
        Many(Vec<MemberRef>),
    }
    Ok(match <OneOrMany as Deserialize>::deserialize(d)? {
        OneOrMany::One(m) => vec![m],
        OneOrMany::Many(v) => v,
    })
}
