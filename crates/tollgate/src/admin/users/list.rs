//! `/user/list`: users with their key counts, for admins and org admins.

use std::collections::HashMap;

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use tollgate_store::{Filter, KeyRecord, OrgMember, Query, SqlValue, TeamMember, UserRecord};

use crate::admin::common::{comma_list, paging, to_object, total_pages};
use crate::auth::Principal;
use crate::http::{Error, Params, Result};
use crate::state::AppState;

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
