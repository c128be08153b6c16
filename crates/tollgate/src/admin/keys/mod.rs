//! `/key/*`: virtual keys. Generate, update, delete, info, list, regenerate, block, unblock.

mod fields;
mod info;
mod lifecycle;
mod list;
mod params;
mod write;

use serde_json::{Map, Value};
use tollgate_store::{KeyRecord, OrgMember, Query, TeamMember, TeamRecord};

pub use fields::{apply_metadata, KeyFields};
pub use info::{info, info_v2};
pub use lifecycle::delete_writes;
pub use lifecycle::{block, delete, regenerate, regenerate_path, unblock};
pub use list::list;
pub use write::{create_key, generate, missing, update};

use super::common::to_object;
use crate::auth::{keys, Principal, Role};
use crate::http::{Error, Result};
use crate::state::AppState;

/// A key as the API shows it; `raw` is the key value, shown only when it is created.
pub fn render(key: &KeyRecord, raw: Option<&str>) -> Result<Map<String, Value>> {
    let mut out = to_object(key)?;
    out.insert("token_id".into(), Value::from(key.token.clone()));
    for f in ["tags", "model_rpm_limit", "model_tpm_limit", "guardrails"] {
        if let Some(v) = key.metadata.get(f) {
            out.insert(f.into(), v.clone());
        }
    }
    if let Some(raw) = raw {
        out.insert("key".into(), Value::from(raw));
    }
    Ok(out)
}

/// Finds a live key by raw value or hash.
pub async fn find(state: &AppState, raw_or_hash: &str) -> Result<Option<KeyRecord>> {
    Ok(state
        .store
        .key_by_token(&keys::to_hash(raw_or_hash))
        .await?)
}

/// Whether the caller may change this key: proxy admins, its owner, admins of its team, and
/// org admins of its organization.
pub async fn can_manage(state: &AppState, p: &Principal, key: &KeyRecord) -> Result<bool> {
    if p.is_user(key.user_id.as_deref()) {
        return Ok(true);
    }
    administers(state, p, key).await
}

/// Whether the caller administers this key (proxy, team or org admin; owning it is not enough).
pub async fn administers(state: &AppState, p: &Principal, key: &KeyRecord) -> Result<bool> {
    if p.is_proxy_admin() {
        return Ok(true);
    }
    let Some(uid) = p.user_id.as_deref() else {
        return Ok(false);
    };
    if let Some(team) = key.team_id.as_deref() {
        if is_team_admin(state, team, uid).await? {
            return Ok(true);
        }
    }
    if let (Role::OrgAdmin, Some(org)) = (p.role, key.organization_id.as_deref()) {
        if is_org_admin(state, org, uid).await? {
            return Ok(true);
        }
    }
    Ok(false)
}

pub async fn is_team_admin(state: &AppState, team_id: &str, user_id: &str) -> Result<bool> {
    let m = state.store.get::<TeamMember>(&[team_id, user_id]).await?;
    Ok(m.is_some_and(|m| m.role == "admin"))
}

pub async fn is_org_admin(state: &AppState, org_id: &str, user_id: &str) -> Result<bool> {
    let m = state.store.get::<OrgMember>(&[org_id, user_id]).await?;
    Ok(m.is_some_and(|m| m.user_role == "org_admin"))
}

/// Checks a key against the store: unique alias, existing team, budget and organization, the
/// team's model list and budget ceiling. Fills the organization from the team.
pub async fn validate(state: &AppState, key: &mut KeyRecord) -> Result<()> {
    if let Some(alias) = key.key_alias.as_deref() {
        let same = state
            .store
            .list::<KeyRecord>(&Query::default().eq("key_alias", alias).page(2, 0))
            .await?;
        if same.items.iter().any(|k| k.key_id != key.key_id) {
            return Err(alias_taken(alias));
        }
    }
    if let Some(team_id) = key.team_id.clone() {
        let team = state
            .store
            .get::<TeamRecord>(&[&team_id])
            .await?
            .ok_or_else(|| {
                Error::bad_field("team_id", format!("Team not found for team_id={team_id}"))
            })?;
        check_against_team(key, &team)?;
        if key.organization_id.is_none() {
            key.organization_id = team.organization_id.clone();
        }
    }
    if let Some(budget_id) = key.budget_id.as_deref() {
        if state
            .store
            .get::<tollgate_store::BudgetRecord>(&[budget_id])
            .await?
            .is_none()
        {
            return Err(Error::bad_field(
                "budget_id",
                format!("Budget not found, passed budget_id={budget_id}"),
            ));
        }
    }
    if let Some(org) = key.organization_id.as_deref() {
        if state
            .store
            .get::<tollgate_store::OrgRecord>(&[org])
            .await?
            .is_none()
        {
            return Err(Error::bad_field(
                "organization_id",
                format!("Organization not found, passed organization_id={org}"),
            ));
        }
    }
    Ok(())
}

pub fn alias_taken(alias: &str) -> Error {
    Error::bad_field(
        "key_alias",
        format!("Key with alias '{alias}' already exists. Unique key aliases across all keys are required."),
    )
}

fn check_against_team(key: &KeyRecord, team: &TeamRecord) -> Result<()> {
    let open = team.models.is_empty()
        || team
            .models
            .iter()
            .any(|m| m == "all-proxy-models" || m == "*");
    if !open {
        if let Some(m) = key.models.iter().find(|m| !team.models.contains(m)) {
            return Err(Error::bad_field(
                "models",
                format!(
                    "Model '{m}' is not in the team's models. Team={}, team models={:?}",
                    team.team_id, team.models
                ),
            ));
        }
    }
    if let (Some(k), Some(t)) = (key.max_budget, team.max_budget) {
        if k > t {
            return Err(Error::bad_field(
                "max_budget",
                format!(
                    "max_budget={k} is higher than the team's max_budget={t}. Team={}",
                    team.team_id
                ),
            ));
        }
    }
    Ok(())
}
