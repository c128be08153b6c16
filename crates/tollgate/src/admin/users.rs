//! `/user/*`: internal users. `/user/new` also creates a key unless `auto_create_key` is false.

use std::collections::HashMap;

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use tollgate_store::{
    Filter, JsonMap, KeyRecord, Kind, OrgMember, Query, SqlValue, TeamMember, TeamRecord,
    UserRecord, Write,
};

use super::common::{
    check_limit, check_money, comma_list, new_id, paging, reset_at, to_object, to_value,
    total_pages, Actor,
};
use super::keys::{self, delete_writes, KeyFields};
use super::teams::new_member;
use crate::auth::{Principal, Role};
use crate::http::{Body, Error, Params, Patch, Result};
use crate::state::AppState;

/// A user with nothing set but its id (and email).
pub fn blank_user(user_id: String, user_email: Option<String>, now: DateTime<Utc>) -> UserRecord {
    UserRecord {
        user_id,
        user_email,
        user_alias: None,
        user_role: Role::InternalUser.as_str().to_owned(),
        organization_id: None,
        models: Vec::new(),
        metadata: JsonMap::new(),
        spend: 0.0,
        max_budget: None,
        budget_duration: None,
        budget_reset_at: None,
        tpm_limit: None,
        rpm_limit: None,
        max_parallel_requests: None,
        created_at: now,
        updated_at: now,
    }
}

/// Settable fields of a user.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UserFields {
    /// The user to act on (optional on new, or `user_email` on update).
    user_id: Option<String>,
    /// New users only.
    teams: Vec<TeamJoin>,
    auto_create_key: Option<bool>,
    key_alias: Option<String>,
    duration: Option<String>,
    /// Update only: set the user's spend.
    spend: Option<f64>,
    user_email: Patch<String>,
    user_alias: Patch<String>,
    user_role: Patch<String>,
    models: Patch<Vec<String>>,
    metadata: Patch<JsonMap>,
    max_budget: Patch<f64>,
    budget_duration: Patch<String>,
    tpm_limit: Patch<i64>,
    rpm_limit: Patch<i64>,
    max_parallel_requests: Patch<i64>,
}

impl UserFields {
    fn apply(self, user: &mut UserRecord, now: DateTime<Utc>) -> Result<()> {
        check_money("max_budget", self.max_budget.value().copied())?;
        check_limit("tpm_limit", self.tpm_limit.value().copied())?;
        check_limit("rpm_limit", self.rpm_limit.value().copied())?;
        check_limit(
            "max_parallel_requests",
            self.max_parallel_requests.value().copied(),
        )?;
        if let Some(role) = self.user_role.into_change() {
            let role = role.unwrap_or_else(|| Role::InternalUser.as_str().to_owned());
            if Role::parse(&role).is_none() {
                return Err(Error::bad_field(
                    "user_role",
                    format!("Invalid user_role '{role}': use proxy_admin, proxy_admin_viewer, org_admin, internal_user or internal_user_viewer"),
                ));
            }
            user.user_role = role;
        }
        if let Some(d) = self.budget_duration.into_change() {
            user.budget_reset_at = reset_at("budget_duration", d.as_deref(), now)?;
            user.budget_duration = d;
        }
        self.user_email.apply_to(&mut user.user_email);
        self.user_alias.apply_to(&mut user.user_alias);
        self.models.apply_or_default(&mut user.models);
        self.metadata.apply_or_default(&mut user.metadata);
        self.max_budget.apply_to(&mut user.max_budget);
        self.tpm_limit.apply_to(&mut user.tpm_limit);
        self.rpm_limit.apply_to(&mut user.rpm_limit);
        self.max_parallel_requests
            .apply_to(&mut user.max_parallel_requests);
        Ok(())
    }
}

/// A team to join on creation: an id, or an object with a budget inside the team.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum TeamJoin {
    Id(String),
    Detailed {
        team_id: String,
        #[serde(default)]
        max_budget_in_team: Option<f64>,
        #[serde(default)]
        user_role: Option<String>,
    },
}

/// POST /user/new
pub async fn new(
    State(state): State<AppState>,
    actor: Actor,
    Body(mut req): Body<UserFields>,
) -> Result<Json<Value>> {
    let now = Utc::now();
    let user_id = req
        .user_id
        .take()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(new_id);
    let teams = std::mem::take(&mut req.teams);
    let (auto_key, key_alias, duration) = (
        req.auto_create_key.take(),
        req.key_alias.take(),
        req.duration.take(),
    );
    if state.store.get::<UserRecord>(&[&user_id]).await?.is_some() {
        return Err(Error::bad_field(
            "user_id",
            format!("User with id {user_id} already exists"),
        ));
    }
    let mut user = blank_user(user_id.clone(), None, now);
    req.apply(&mut user, now)?;
    if !actor.principal.is_proxy_admin() && Role::parse(&user.user_role).is_some_and(Role::is_admin)
    {
        return Err(Error::Forbidden(
            "Only proxy admins may create admin users".into(),
        ));
    }
    if let Some(email) = user.user_email.as_deref() {
        let q = Query::default().eq("user_email", email);
        if state.store.list::<UserRecord>(&q).await?.total > 0 {
            return Err(Error::bad_field(
                "user_email",
                format!("User with email {email} already exists"),
            ));
        }
    }
    let mut batch = vec![Write::insert(&user)?];
    for join in &teams {
        batch.push(Write::insert(&membership(&state, &user, join, now).await?)?);
    }
    batch.push(actor.audit(
        "created",
        Kind::User,
        &user_id,
        None,
        Some(to_value(&user)?),
    ));
    state.store.apply(batch).await?;
    let mut out = to_object(&user)?;
    out.insert(
        "teams".into(),
        json!(teams.iter().map(team_id_of).collect::<Vec<_>>()),
    );
    if auto_key.unwrap_or(true) {
        let fields = KeyFields {
            key_alias: key_alias.map_or(Patch::Absent, Patch::Value),
            duration: duration.map_or(Patch::Absent, Patch::Value),
            user_id: Patch::Value(user_id),
            models: Patch::Value(user.models.clone()),
            ..KeyFields::default()
        };
        let (key, raw) = keys::create_key(&state, &actor, None, fields).await?;
        for (k, v) in keys::render(&key, Some(&raw))? {
            if !out.contains_key(&k) || k == "spend" {
                out.insert(k, v);
            }
        }
        out.insert("spend".into(), json!(user.spend));
    }
    Ok(Json(Value::Object(out)))
}

fn team_id_of(j: &TeamJoin) -> &str {
    match j {
        TeamJoin::Id(id) | TeamJoin::Detailed { team_id: id, .. } => id,
    }
}

async fn membership(
    state: &AppState,
    user: &UserRecord,
    join: &TeamJoin,
    now: DateTime<Utc>,
) -> Result<TeamMember> {
    let team_id = team_id_of(join);
    if state.store.get::<TeamRecord>(&[team_id]).await?.is_none() {
        return Err(Error::bad_field(
            "teams",
            format!("Team not found, passed team_id={team_id}"),
        ));
    }
    let (budget, role) = match join {
        TeamJoin::Id(_) => (None, None),
        TeamJoin::Detailed {
            max_budget_in_team,
            user_role,
            ..
        } => (*max_budget_in_team, user_role.as_deref()),
    };
    check_money("max_budget_in_team", budget)?;
    let mut m = new_member(team_id, user, role, now)?;
    m.max_budget_in_team = budget;
    Ok(m)
}

async fn find_user(
    state: &AppState,
    user_id: Option<&str>,
    email: Option<&str>,
) -> Result<UserRecord> {
    if let Some(id) = user_id {
        return state
            .store
            .get::<UserRecord>(&[id])
            .await?
            .ok_or_else(|| Error::NotFound(format!("User not found, passed user_id={id}")));
    }
    if let Some(email) = email {
        let q = Query::default().eq("user_email", email);
        return state
            .store
            .list::<UserRecord>(&q)
            .await?
            .items
            .into_iter()
            .next()
            .ok_or_else(|| Error::NotFound(format!("User not found, passed user_email={email}")));
    }
    Err(Error::invalid(
        Some("user_id".into()),
        "Pass user_id or user_email",
    ))
}

/// POST /user/update
pub async fn update(
    State(state): State<AppState>,
    actor: Actor,
    Body(mut req): Body<UserFields>,
) -> Result<Json<Value>> {
    check_money("spend", req.spend)?;
    let email = req.user_email.value().cloned();
    let mut user = find_user(&state, req.user_id.as_deref(), email.as_deref()).await?;
    let p = &actor.principal;
    let own_harmless = p.is_user(Some(&user.user_id))
        && req.user_role.is_absent()
        && req.max_budget.is_absent()
        && req.spend.is_none();
    if !p.is_proxy_admin() && !own_harmless {
        return Err(Error::Forbidden(
            "Only proxy admins may change users' roles, budgets and spend".into(),
        ));
    }
    let before = to_value(&user)?;
    let now = Utc::now();
    let new_spend = req.spend.take();
    req.apply(&mut user, now)?;
    user.updated_at = now;
    let mut batch = vec![Write::update(&user)?];
    if let Some(spend) = new_spend {
        user.spend = spend;
        batch.push(Write::SetSpend {
            kind: Kind::User,
            pk: vec![user.user_id.clone()],
            spend,
        });
    }
    batch.push(actor.audit(
        "updated",
        Kind::User,
        &user.user_id,
        Some(before),
        Some(to_value(&user)?),
    ));
    state.store.apply(batch).await?;
    if let Some(spend) = new_spend {
        let entity = crate::limits::Entity::User(user.user_id.clone());
        state.set_spend(&entity, spend).await;
    }
    state.keys.invalidate_user(&user.user_id);
    Ok(Json(json!({ "user_id": user.user_id, "data": user })))
}

#[derive(Debug, Deserialize)]
pub struct DeleteUsers {
    user_ids: Vec<String>,
}

/// POST /user/delete: deletes the users, their keys (archived) and memberships.
pub async fn delete(
    State(state): State<AppState>,
    actor: Actor,
    Body(req): Body<DeleteUsers>,
) -> Result<Json<Value>> {
    let mut batch = Vec::new();
    for id in &req.user_ids {
        let user = find_user(&state, Some(id), None).await?;
        let owned = state
            .store
            .list::<KeyRecord>(&Query::default().eq("user_id", id.as_str()))
            .await?;
        for key in &owned.items {
            batch.extend(delete_writes(&actor, key)?);
        }
        batch.push(Write::DeleteWhere {
            kind: Kind::TeamMember,
            column: "user_id",
            value: id.clone(),
        });
        batch.push(Write::DeleteWhere {
            kind: Kind::OrgMember,
            column: "user_id",
            value: id.clone(),
        });
        batch.push(Write::delete(&user));
        batch.push(actor.audit("deleted", Kind::User, id, Some(to_value(&user)?), None));
    }
    state.store.apply(batch).await?;
    for id in &req.user_ids {
        state.keys.invalidate_user(id);
    }
    Ok(Json(json!({ "deleted_users": req.user_ids })))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct InfoQuery {
    user_id: Option<String>,
}

/// GET /user/info
pub async fn info(
    State(state): State<AppState>,
    principal: Principal,
    Params(q): Params<InfoQuery>,
) -> Result<Json<Value>> {
    let Some(user_id) = q.user_id.or(principal.user_id.clone()) else {
        return Err(Error::invalid(Some("user_id".into()), "Pass ?user_id="));
    };
    if !principal.sees_all() && !principal.is_user(Some(&user_id)) {
        return Err(Error::Forbidden(format!(
            "key not allowed to access this user's info. user_id={user_id}, key's user_id={}",
            principal.user_id.as_deref().unwrap_or("None")
        )));
    }
    let mut user = state.store.get::<UserRecord>(&[&user_id]).await?;
    if let Some(u) = user.as_mut() {
        u.spend = state
            .ledger
            .current(&crate::limits::Entity::User(u.user_id.clone()), u.spend);
    }
    let owned = state
        .store
        .list::<KeyRecord>(&Query::default().eq("user_id", user_id.as_str()))
        .await?;
    let memberships = state
        .store
        .list::<TeamMember>(&Query::default().eq("user_id", user_id.as_str()))
        .await?;
    if user.is_none() && owned.total == 0 {
        return Err(Error::NotFound(format!(
            "User not found, passed user_id={user_id}"
        )));
    }
    let ids: Vec<SqlValue> = memberships
        .items
        .iter()
        .map(|m| SqlValue::from(m.team_id.clone()))
        .collect();
    let teams = state
        .store
        .list::<TeamRecord>(&Query::default().filter(Filter::In("team_id", ids)))
        .await?;
    let keys: Vec<Value> = owned
        .items
        .iter()
        .map(|k| keys::render(k, None).map(Value::Object))
        .collect::<Result<_>>()?;
    Ok(Json(
        json!({ "user_id": user_id, "user_info": user, "keys": keys, "teams": teams.items }),
    ))
}

/// GET /v2/user/info: just the user row.
pub async fn info_v2(
    State(state): State<AppState>,
    principal: Principal,
    Params(q): Params<InfoQuery>,
) -> Result<Json<Value>> {
    let Some(user_id) = q.user_id.or(principal.user_id.clone()) else {
        return Err(Error::invalid(Some("user_id".into()), "Pass ?user_id="));
    };
    if !principal.sees_all() && !principal.is_user(Some(&user_id)) {
        return Err(Error::Forbidden(format!(
            "key not allowed to access this user's info. user_id={user_id}"
        )));
    }
    let user = find_user(&state, Some(&user_id), None).await?;
    Ok(Json(to_value(&user)?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListQuery {
    role: Option<String>,
    user_ids: Option<String>,
    user_email: Option<String>,
    team: Option<String>,
    organization_id: Option<String>,
    page: Option<u32>,
    page_size: Option<u32>,
    sort_by: Option<String>,
    sort_order: Option<String>,
}

/// GET /user/list
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Params(q): Params<ListQuery>,
) -> Result<Json<Value>> {
    let (limit, offset) = paging(q.page, q.page_size, 25, 100)?;
    let mut query = Query::default().page(limit, offset);
    query.sort_by = match q.sort_by.as_deref().unwrap_or("created_at") {
        "created_at" => "created_at",
        "spend" => "spend",
        "user_email" => "user_email",
        "user_id" => "user_id",
        other => {
            return Err(Error::bad_field(
                "sort_by",
                format!(
                    "cannot sort users by {other}: use created_at, spend, user_email or user_id"
                ),
            ))
        }
    };
    query.descending = !matches!(q.sort_order.as_deref(), Some("asc" | "ASC"));
    if let Some(role) = &q.role {
        query = query.eq("user_role", role.as_str());
    }
    let ids = comma_list(q.user_ids.as_deref());
    if !ids.is_empty() {
        query = query.filter(Filter::In(
            "user_id",
            ids.into_iter().map(SqlValue::from).collect(),
        ));
    }
    if let Some(email) = &q.user_email {
        query = query.filter(Filter::Contains("user_email", email.clone()));
    }
    if let Some(team) = &q.team {
        let ms = state
            .store
            .list::<TeamMember>(&Query::default().eq("team_id", team.as_str()))
            .await?;
        query = query.filter(Filter::In(
            "user_id",
            ms.items
                .into_iter()
                .map(|m| SqlValue::from(m.user_id))
                .collect(),
        ));
    }
    let org = scope_org(&state, &principal, q.organization_id.clone()).await?;
    if let Some(org) = org {
        let ms = state
            .store
            .list::<OrgMember>(&Query::default().eq("organization_id", org.as_str()))
            .await?;
        query = query.filter(Filter::In(
            "user_id",
            ms.items
                .into_iter()
                .map(|m| SqlValue::from(m.user_id))
                .collect(),
        ));
    }
    let page = state.store.list::<UserRecord>(&query).await?;
    let counts = key_counts(&state, &page.items).await?;
    let users: Vec<Value> = page
        .items
        .iter()
        .map(|u| {
            let mut o = to_object(u)?;
            o.insert(
                "key_count".into(),
                json!(counts.get(&u.user_id).copied().unwrap_or(0)),
            );
            Ok(Value::Object(o))
        })
        .collect::<Result<_>>()?;
    Ok(Json(json!({
        "users": users,
        "total": page.total,
        "page": q.page.unwrap_or(1),
        "page_size": limit,
        "total_pages": total_pages(page.total, limit),
    })))
}

/// Proxy admins list anyone; org admins only members of an organization they administer.
async fn scope_org(state: &AppState, p: &Principal, org: Option<String>) -> Result<Option<String>> {
    if p.sees_all() {
        return Ok(org);
    }
    let uid = p.user_id.clone().unwrap_or_default();
    let mine = state
        .store
        .list::<OrgMember>(&Query::default().eq("user_id", uid.as_str()))
        .await?;
    let admin_of: Vec<String> = mine
        .items
        .into_iter()
        .filter(|m| m.user_role == "org_admin")
        .map(|m| m.organization_id)
        .collect();
    match org {
        Some(o) if admin_of.contains(&o) => Ok(Some(o)),
        None if admin_of.len() == 1 => Ok(admin_of.into_iter().next()),
        _ => Err(Error::Forbidden("Only proxy admins, and org admins for their organization, may list users. Pass organization_id".into())),
    }
}

async fn key_counts(state: &AppState, users: &[UserRecord]) -> Result<HashMap<String, u64>> {
    let ids: Vec<SqlValue> = users
        .iter()
        .map(|u| SqlValue::from(u.user_id.clone()))
        .collect();
    let owned = state
        .store
        .list::<KeyRecord>(&Query::default().filter(Filter::In("user_id", ids)))
        .await?;
    let mut counts = HashMap::new();
    for k in owned.items {
        if let Some(u) = k.user_id {
            *counts.entry(u).or_insert(0) += 1;
        }
    }
    Ok(counts)
}
