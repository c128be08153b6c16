//! `/key/list`: paginated, filtered, scoped to what the caller may see.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use tollgate_store::{Filter, KeyRecord, Query, SqlValue, TeamMember};

use super::{is_org_admin, is_team_admin, render};
use crate::admin::common::{paging, total_pages};
use crate::auth::{keys, Principal};
use crate::http::{Error, Params, Result};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListQuery {
    page: Option<u32>,
    size: Option<u32>,
    user_id: Option<String>,
    team_id: Option<String>,
    organization_id: Option<String>,
    key_hash: Option<String>,
    key_alias: Option<String>,
    return_full_object: Option<bool>,
    include_team_keys: Option<bool>,
    sort_by: Option<String>,
    sort_order: Option<String>,
}

/// GET /key/list
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Params(q): Params<ListQuery>,
) -> Result<Json<Value>> {
    let (limit, offset) = paging(q.page, q.size, 10, 100)?;
    let mut query = Query::default().page(limit, offset);
    query.sort_by = sort_column(q.sort_by.as_deref())?;
    query.descending = !matches!(q.sort_order.as_deref(), Some("asc" | "ASC"));
    if let Some(u) = &q.user_id {
        query = query.eq("user_id", u.as_str());
    }
    if let Some(t) = &q.team_id {
        query = query.eq("team_id", t.as_str());
    }
    if let Some(o) = &q.organization_id {
        query = query.eq("organization_id", o.as_str());
    }
    if let Some(h) = &q.key_hash {
        query = query.eq("token", keys::to_hash(h));
    }
    if let Some(a) = &q.key_alias {
        query = query.eq("key_alias", a.as_str());
    }
    if !principal.sees_all() {
        scope(&state, &principal, &q, &mut query).await?;
    }
    let page = state.store.list::<KeyRecord>(&query).await?;
    let keys: Vec<Value> = if q.return_full_object.unwrap_or(false) {
        page.items
            .iter()
            .map(|k| render(k, None).map(Value::Object))
            .collect::<Result<_>>()?
    } else {
        page.items
            .iter()
            .map(|k| Value::from(k.token.clone()))
            .collect()
    };
    Ok(Json(json!({
        "keys": keys,
        "total_count": page.total,
        "current_page": q.page.unwrap_or(1),
        "total_pages": total_pages(page.total, limit),
    })))
}

fn sort_column(s: Option<&str>) -> Result<&'static str> {
    Ok(match s.unwrap_or("created_at") {
        "created_at" => "created_at",
        "spend" => "spend",
        "key_alias" => "key_alias",
        "expires" => "expires",
        "user_id" => "user_id",
        "team_id" => "team_id",
        other => {
            return Err(Error::bad_field(
                "sort_by",
                format!("cannot sort keys by {other}: use created_at, spend, key_alias, expires, user_id or team_id"),
            ))
        }
    })
}

/// Non-admins see their own keys, plus keys of teams they administer when asked.
async fn scope(state: &AppState, p: &Principal, q: &ListQuery, query: &mut Query) -> Result<()> {
    let uid = p.user_id.clone().unwrap_or_default();
    if q.user_id.as_deref().is_some_and(|u| u != uid) {
        return Err(Error::Forbidden(
            "You are not authorized to check another user's keys".into(),
        ));
    }
    if let Some(team) = q.team_id.as_deref() {
        if !is_team_admin(state, team, &uid).await? {
            return Err(Error::Forbidden(
                "You are not authorized to check this team's keys".into(),
            ));
        }
        return Ok(());
    }
    if let Some(org) = q.organization_id.as_deref() {
        if !is_org_admin(state, org, &uid).await? {
            return Err(Error::Forbidden(
                "You are not authorized to check this organization's keys".into(),
            ));
        }
        return Ok(());
    }
    let mut any_of = vec![Filter::Eq("user_id", SqlValue::from(uid.clone()))];
    if q.include_team_keys.unwrap_or(false) {
        let memberships = state
            .store
            .list::<TeamMember>(&Query::default().eq("user_id", uid.as_str()))
            .await?;
        let admin_of: Vec<SqlValue> = memberships
            .items
            .into_iter()
            .filter(|m| m.role == "admin")
            .map(|m| SqlValue::from(m.team_id))
            .collect();
        any_of.push(Filter::In("team_id", admin_of));
    }
    query.any_of = any_of;
    Ok(())
}
