//! `/team/new`, `/team/update`, `/team/delete`, `/team/info`, `/team/list`, `/v2/team/list`,
//! `/team/block`, `/team/unblock`.

use axum::extract::State;
use axum::Json;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Value};
use tollgate_store::{
    Filter, KeyRecord, Kind, OrgRecord, Query, SqlValue, TeamMember, TeamRecord, Write,
};

use super::{
    blank_team, check_team_admin, get_team, members, render, render_membership, resolve_user,
    MemberRef, TeamFields,
};
use crate::admin::common::{new_id, paging, to_value, total_pages, Actor};
use crate::admin::keys::{self, delete_writes, is_org_admin};
use crate::auth::{Principal, Role};
use crate::http::{Body, Error, Params, Result};
use crate::state::AppState;

/// POST /team/new
pub async fn new(
    State(state): State<AppState>,
    actor: Actor,
    Body(mut req): Body<TeamFields>,
) -> Result<Json<Value>> {
    let now = Utc::now();
    let team_id = req
        .team_id
        .take()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(new_id);
    let members_with_roles = std::mem::take(&mut req.members_with_roles);
    if state.store.get::<TeamRecord>(&[&team_id]).await?.is_some() {
        return Err(Error::bad_field(
            "team_id",
            format!("Team id = {team_id} already exists. Please use a different team id."),
        ));
    }
    let mut team = blank_team(team_id, now);
    team.created_by = actor.who();
    team.updated_by = actor.who();
    req.apply(&mut team, now)?;
    check_org(&state, &actor.principal, &team).await?;
    let mut batch = vec![Write::insert(&team)?];
    let mut all = members_with_roles;
    if let (false, Some(uid)) = (
        actor.principal.is_proxy_admin(),
        actor.principal.user_id.clone(),
    ) {
        if !all
            .iter()
            .any(|m| m.user_id.as_deref() == Some(uid.as_str()))
        {
            all.push(MemberRef {
                user_id: Some(uid),
                user_email: None,
                role: Some("admin".into()),
            });
        }
    }
    let mut created = Vec::new();
    for m in &all {
        let (user, is_new) = resolve_user(&state, m, true, now).await?;
        if is_new {
            batch.push(Write::insert(&user)?);
        }
        let member = new_member(&team.team_id, &user, m.role.as_deref(), now)?;
        if created
            .iter()
            .any(|c: &TeamMember| c.user_id == member.user_id)
        {
            return Err(Error::bad_field(
                "members_with_roles",
                format!("User {} is listed twice", member.user_id),
            ));
        }
        batch.push(Write::insert(&member)?);
        created.push(member);
    }
    batch.push(actor.audit(
        "created",
        Kind::Team,
        &team.team_id,
        None,
        Some(to_value(&team)?),
    ));
    state.store.apply(batch).await?;
    Ok(Json(Value::Object(render(&team, &created)?)))
}

pub fn new_member(
    team_id: &str,
    user: &tollgate_store::UserRecord,
    role: Option<&str>,
    now: chrono::DateTime<Utc>,
) -> Result<TeamMember> {
    let role = role.unwrap_or("user");
    if !crate::auth::role::TEAM_ROLES.contains(&role) {
        return Err(Error::bad_field(
            "role",
            format!("Invalid team role '{role}': use admin or user"),
        ));
    }
    Ok(TeamMember {
        team_id: team_id.to_owned(),
        user_id: user.user_id.clone(),
        user_email: user.user_email.clone(),
        role: role.to_owned(),
        spend: 0.0,
        max_budget_in_team: None,
        budget_duration: None,
        budget_reset_at: None,
        tpm_limit: None,
        rpm_limit: None,
        created_at: now,
    })
}

/// The team's organization must exist, the caller must administer it unless a proxy admin, and
/// the team must fit inside it (models and budget).
async fn check_org(state: &AppState, p: &Principal, team: &TeamRecord) -> Result<()> {
    let Some(org_id) = team.organization_id.as_deref() else {
        if p.role == Role::OrgAdmin {
            return Err(Error::bad_field(
                "organization_id",
                "Org admins must pass their organization_id",
            ));
        }
        return Ok(());
    };
    let org = state
        .store
        .get::<OrgRecord>(&[org_id])
        .await?
        .ok_or_else(|| {
            Error::bad_field(
                "organization_id",
                format!("Organization not found, passed organization_id={org_id}"),
            )
        })?;
    if !p.is_proxy_admin()
        && !is_org_admin(state, org_id, p.user_id.as_deref().unwrap_or("")).await?
    {
        return Err(Error::Forbidden(format!(
            "You are not an admin of organization {org_id}"
        )));
    }
    let open = org.models.is_empty()
        || org
            .models
            .iter()
            .any(|m| m == "all-proxy-models" || m == "*");
    if let Some(m) = team
        .models
        .iter()
        .find(|m| !open && !org.models.contains(m))
    {
        return Err(Error::bad_field(
            "models",
            format!(
                "Model '{m}' is not in the organization's models {:?}",
                org.models
            ),
        ));
    }
    let budget = state
        .store
        .get::<tollgate_store::BudgetRecord>(&[&org.budget_id])
        .await?;
    if let (Some(t), Some(o)) = (team.max_budget, budget.and_then(|b| b.max_budget)) {
        if t > o {
            return Err(Error::bad_field(
                "max_budget",
                format!("max_budget={t} is higher than the organization's max_budget={o}"),
            ));
        }
    }
    Ok(())
}

/// POST /team/update
pub async fn update(
    State(state): State<AppState>,
    actor: Actor,
    Body(mut req): Body<TeamFields>,
) -> Result<Json<Value>> {
    let Some(team_id) = req.team_id.take() else {
        return Err(crate::admin::keys::missing("team_id"));
    };
    let mut team = get_team(&state, &team_id).await?;
    check_team_admin(&state, &actor.principal, &team).await?;
    let before = to_value(&team)?;
    let org_changed = !req.organization_id.is_absent();
    let now = Utc::now();
    req.apply(&mut team, now)?;
    if org_changed {
        check_org(&state, &actor.principal, &team).await?;
    }
    team.updated_at = now;
    team.updated_by = actor.who();
    state
        .store
        .apply(vec![
            Write::update(&team)?,
            actor.audit(
                "updated",
                Kind::Team,
                &team.team_id,
                Some(before),
                Some(to_value(&team)?),
            ),
        ])
        .await?;
    state.changed(crate::changes::Change::Team {
        id: team.team_id.clone(),
    });
    let members = members(&state, &team.team_id).await?;
    Ok(Json(
        json!({ "team_id": team.team_id, "data": render(&team, &members)? }),
    ))
}

#[derive(Debug, Deserialize)]
pub struct DeleteTeams {
    team_ids: Vec<String>,
}

/// POST /team/delete: deletes the teams, their memberships and (archived) their keys.
pub async fn delete(
    State(state): State<AppState>,
    actor: Actor,
    Body(req): Body<DeleteTeams>,
) -> Result<Json<Value>> {
    if req.team_ids.is_empty() {
        return Err(Error::invalid(
            Some("team_ids".into()),
            "team_ids must list at least one team",
        ));
    }
    let mut batch = Vec::new();
    for id in &req.team_ids {
        let team = get_team(&state, id).await?;
        check_team_admin(&state, &actor.principal, &team).await?;
        let team_keys = state
            .store
            .list::<KeyRecord>(&Query::default().eq("team_id", id.as_str()))
            .await?;
        for key in &team_keys.items {
            batch.extend(delete_writes(&actor, key)?);
        }
        batch.push(Write::DeleteWhere {
            kind: Kind::TeamMember,
            column: "team_id",
            value: id.clone(),
        });
        batch.push(Write::delete(&team));
        batch.push(actor.audit("deleted", Kind::Team, id, Some(to_value(&team)?), None));
    }
    state.store.apply(batch).await?;
    for id in &req.team_ids {
        state.changed(crate::changes::Change::Team { id: id.to_string() });
    }
    Ok(Json(json!({ "deleted_teams": req.team_ids })))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct InfoQuery {
    team_id: Option<String>,
}

/// GET /team/info
pub async fn info(
    State(state): State<AppState>,
    principal: Principal,
    Params(q): Params<InfoQuery>,
) -> Result<Json<Value>> {
    let Some(team_id) = q.team_id.filter(|t| !t.is_empty()) else {
        return Err(Error::invalid(
            Some("team_id".into()),
            "Malformed request. No team id passed in.",
        ));
    };
    let Some(team) = state.store.get::<TeamRecord>(&[&team_id]).await? else {
        return Err(Error::NotFound(format!(
            "Team not found, passed team id: {team_id}."
        )));
    };
    let members = members(&state, &team_id).await?;
    let is_member = principal
        .user_id
        .as_deref()
        .is_some_and(|u| members.iter().any(|m| m.user_id == u));
    let own_team_key = principal
        .key
        .as_ref()
        .is_some_and(|k| k.key.team_id.as_deref() == Some(&team_id));
    if !principal.sees_all() && !is_member && !own_team_key {
        check_team_admin(&state, &principal, &team).await?;
    }
    let team_keys = state
        .store
        .list::<KeyRecord>(&Query::default().eq("team_id", team_id.as_str()))
        .await?;
    let keys: Vec<Value> = team_keys
        .items
        .iter()
        .map(|k| keys::render(k, None).map(Value::Object))
        .collect::<Result<_>>()?;
    let memberships: Vec<Value> = members
        .iter()
        .map(render_membership)
        .collect::<Result<_>>()?;
    Ok(Json(json!({
        "team_id": team_id,
        "team_info": live_team(&state, &team, &members)?,
        "keys": keys,
        "team_memberships": memberships,
    })))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListQuery {
    user_id: Option<String>,
    organization_id: Option<String>,
    team_alias: Option<String>,
    page: Option<u32>,
    page_size: Option<u32>,
}

/// The teams a caller may list, as a query.
async fn list_query(state: &AppState, p: &Principal, q: &ListQuery) -> Result<Query> {
    let mut query = Query::default();
    if let Some(org) = &q.organization_id {
        query = query.eq("organization_id", org.as_str());
    }
    if let Some(alias) = &q.team_alias {
        query = query.filter(Filter::Contains("team_alias", alias.clone()));
    }
    let user = match (&q.user_id, p.sees_all()) {
        (Some(u), true) => Some(u.clone()),
        (Some(u), false) if p.is_user(Some(u)) => Some(u.clone()),
        (Some(_), false) => {
            return Err(Error::Forbidden(
                "You are not authorized to list another user's teams".into(),
            ))
        }
        (None, true) => None,
        (None, false) => Some(p.user_id.clone().unwrap_or_default()),
    };
    if let Some(u) = user {
        let mine = state
            .store
            .list::<TeamMember>(&Query::default().eq("user_id", u.as_str()))
            .await?;
        let ids = mine
            .items
            .into_iter()
            .map(|m| SqlValue::from(m.team_id))
            .collect();
        query = query.filter(Filter::In("team_id", ids));
    }
    Ok(query)
}

async fn render_teams(state: &AppState, teams: &[TeamRecord]) -> Result<Vec<Value>> {
    let ids: Vec<SqlValue> = teams
        .iter()
        .map(|t| SqlValue::from(t.team_id.clone()))
        .collect();
    let all_members = state
        .store
        .list::<TeamMember>(&Query::default().filter(Filter::In("team_id", ids.clone())))
        .await?
        .items;
    let all_keys = state
        .store
        .list::<KeyRecord>(&Query::default().filter(Filter::In("team_id", ids)))
        .await?
        .items;
    teams
        .iter()
        .map(|t| {
            let ms: Vec<TeamMember> = all_members
                .iter()
                .filter(|m| m.team_id == t.team_id)
                .cloned()
                .collect();
            let mut out = render(t, &ms)?;
            out.insert(
                "team_memberships".into(),
                Value::from(
                    ms.iter()
                        .map(render_membership)
                        .collect::<Result<Vec<_>>>()?,
                ),
            );
            let ks: Vec<Value> = all_keys
                .iter()
                .filter(|k| k.team_id.as_deref() == Some(&t.team_id))
                .map(|k| keys::render(k, None).map(Value::Object))
                .collect::<Result<_>>()?;
            out.insert("keys".into(), Value::from(ks));
            Ok(Value::Object(out))
        })
        .collect()
}

/// GET /team/list
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Params(q): Params<ListQuery>,
) -> Result<Json<Value>> {
    let query = list_query(&state, &principal, &q).await?;
    let teams = state.store.list::<TeamRecord>(&query).await?.items;
    Ok(Json(Value::from(render_teams(&state, &teams).await?)))
}

/// GET /v2/team/list: paginated.
pub async fn list_v2(
    State(state): State<AppState>,
    principal: Principal,
    Params(q): Params<ListQuery>,
) -> Result<Json<Value>> {
    let (limit, offset) = paging(q.page, q.page_size, 10, 100)?;
    let query = list_query(&state, &principal, &q)
        .await?
        .page(limit, offset);
    let page = state.store.list::<TeamRecord>(&query).await?;
    Ok(Json(json!({
        "teams": render_teams(&state, &page.items).await?,
        "total": page.total,
        "page": q.page.unwrap_or(1),
        "page_size": limit,
        "total_pages": total_pages(page.total, limit),
    })))
}

#[derive(Debug, Deserialize)]
pub struct TeamRef {
    team_id: String,
}

/// POST /team/block
pub async fn block(
    State(state): State<AppState>,
    actor: Actor,
    Body(req): Body<TeamRef>,
) -> Result<Json<Value>> {
    set_blocked(&state, &actor, &req.team_id, true).await
}

/// POST /team/unblock
pub async fn unblock(
    State(state): State<AppState>,
    actor: Actor,
    Body(req): Body<TeamRef>,
) -> Result<Json<Value>> {
    set_blocked(&state, &actor, &req.team_id, false).await
}

async fn set_blocked(
    state: &AppState,
    actor: &Actor,
    team_id: &str,
    blocked: bool,
) -> Result<Json<Value>> {
    let mut team = get_team(state, team_id).await?;
    check_team_admin(state, &actor.principal, &team).await?;
    let before = to_value(&team)?;
    team.blocked = blocked;
    team.updated_at = Utc::now();
    team.updated_by = actor.who();
    let action = if blocked { "blocked" } else { "unblocked" };
    state
        .store
        .apply(vec![
            Write::update(&team)?,
            actor.audit(
                action,
                Kind::Team,
                team_id,
                Some(before),
                Some(to_value(&team)?),
            ),
        ])
        .await?;
    state.changed(crate::changes::Change::Team {
        id: team_id.to_string(),
    });
    let members = members(state, team_id).await?;
    Ok(Json(Value::Object(render(&team, &members)?)))
}

/// A team with its live spend (this replica's requests not yet written included).
fn live_team(state: &AppState, team: &TeamRecord, members: &[TeamMember]) -> Result<Value> {
    let mut out = render(team, members)?;
    let live = state.ledger.current(
        &crate::limits::Entity::Team(team.team_id.clone()),
        team.spend,
    );
    out.insert("spend".into(), Value::from(live));
    Ok(Value::Object(out))
}
