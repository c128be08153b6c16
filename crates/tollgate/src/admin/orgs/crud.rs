//! `/organization/new`, `/organization/update`, `/organization/delete`, `/organization/info`
//! (GET, and the deprecated POST), `/organization/list`.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use tollgate_store::{
    BudgetRecord, Filter, KeyRecord, Kind, OrgMember, OrgRecord, Query, SqlValue, StoreError,
    TeamRecord, UserRecord, Write,
};

use super::{
    check_alias, check_can_read, get_org, members_of, render_full, require_proxy_admin, OrgFields,
};
use crate::admin::budgets::{
    blank_budget, budget_id_and_fields, budget_to_link, sync_reset_writes, BudgetFields,
};
use crate::admin::common::{new_id, to_value, Actor};
use crate::auth::Principal;
use crate::http::{Body, Error, Params, Patch, Result};
use crate::state::AppState;

fn already_exists(organization_id: &str) -> Error {
    Error::bad_field(
        "organization_id",
        format!("Organization id = {organization_id} already exists. Please use a different organization id."),
    )
}

/// The one organization's full view (budget, members, teams).
async fn full_view(state: &AppState, org: OrgRecord) -> Result<Json<Value>> {
    let mut all = render_full(state, std::slice::from_ref(&org)).await?;
    Ok(Json(all.pop().unwrap_or(Value::Null)))
}

#[derive(Debug, Deserialize)]
pub struct NewOrg {
    organization_alias: String,
    #[serde(default)]
    organization_id: Option<String>,
    #[serde(default)]
    budget_id: Option<String>,
    #[serde(flatten)]
    fields: OrgFields,
    #[serde(flatten)]
    budget: BudgetFields,
}

/// The budget a new organization links: the named one, or one made from its budget fields
/// (whose writes join `batch`).
async fn new_org_budget(
    state: &AppState,
    actor: &Actor,
    budget_id: Option<String>,
    fields: BudgetFields,
    batch: &mut Vec<Write>,
    now: DateTime<Utc>,
) -> Result<BudgetRecord> {
    if let Some(id) = budget_id.filter(|b| !b.trim().is_empty()) {
        if fields.is_set() {
            return Err(budget_id_and_fields());
        }
        return budget_to_link(state, &id).await;
    }
    let mut budget = blank_budget(new_id(), now, actor.who());
    fields.apply(&mut budget, now)?;
    batch.push(Write::insert(&budget)?);
    batch.push(actor.audit(
        "created",
        Kind::Budget,
        &budget.budget_id,
        None,
        Some(to_value(&budget)?),
    ));
    Ok(budget)
}

/// POST /organization/new (proxy admins only)
pub async fn new(
    State(state): State<AppState>,
    actor: Actor,
    Body(req): Body<NewOrg>,
) -> Result<Json<Value>> {
    require_proxy_admin(&actor.principal, "create")?;
    let now = Utc::now();
    let alias = check_alias(req.organization_alias)?;
    let org_id = req
        .organization_id
        .filter(|o| !o.trim().is_empty())
        .unwrap_or_else(new_id);
    if state.store.get::<OrgRecord>(&[&org_id]).await?.is_some() {
        return Err(already_exists(&org_id));
    }
    let mut batch = Vec::new();
    let budget = new_org_budget(&state, &actor, req.budget_id, req.budget, &mut batch, now).await?;
    let mut org = OrgRecord {
        organization_id: org_id,
        organization_alias: alias,
        budget_id: budget.budget_id.clone(),
        models: Vec::new(),
        metadata: Default::default(),
        spend: 0.0,
        budget_reset_at: budget.budget_reset_at,
        created_at: now,
        updated_at: now,
        created_by: actor.who(),
        updated_by: actor.who(),
    };
    req.fields.apply(&mut org)?;
    batch.push(Write::insert(&org)?);
    batch.push(actor.audit(
        "created",
        Kind::Org,
        &org.organization_id,
        None,
        Some(to_value(&org)?),
    ));
    state.store.apply(batch).await.map_err(|e| match e {
        StoreError::Conflict(_) => already_exists(&org.organization_id),
        e => e.into(),
    })?;
    state.changed(crate::changes::Change::All);
    full_view(&state, org).await
}

#[derive(Debug, Deserialize)]
pub struct UpdateOrg {
    organization_id: String,
    #[serde(default)]
    organization_alias: Patch<String>,
    #[serde(default)]
    budget_id: Patch<String>,
    #[serde(flatten)]
    fields: OrgFields,
    #[serde(flatten)]
    budget: BudgetFields,
}

/// Relinks or changes the organization's budget as the update asks, adding the writes to
/// `batch`; the organization takes the budget's reset time.
async fn update_org_budget(
    state: &AppState,
    actor: &Actor,
    org: &mut OrgRecord,
    budget_id: Patch<String>,
    fields: BudgetFields,
    batch: &mut Vec<Write>,
) -> Result<()> {
    match budget_id {
        Patch::Null => {
            return Err(Error::bad_field(
                "budget_id",
                "An organization always has a budget: pass another budget_id to relink it",
            ))
        }
        Patch::Value(id) if id != org.budget_id => {
            if fields.touches() {
                return Err(budget_id_and_fields());
            }
            let budget = budget_to_link(state, &id).await?;
            org.budget_id = budget.budget_id;
            org.budget_reset_at = budget.budget_reset_at;
            return Ok(());
        }
        _ => {}
    }
    if !fields.touches() {
        return Ok(());
    }
    let now = Utc::now();
    let current = state.store.get::<BudgetRecord>(&[&org.budget_id]).await?;
    let before = current.as_ref().map(to_value).transpose()?;
    let mut budget = current
        .clone()
        .unwrap_or_else(|| blank_budget(org.budget_id.clone(), now, actor.who()));
    fields.apply(&mut budget, now)?;
    budget.updated_at = now;
    budget.updated_by = actor.who();
    batch.push(if current.is_some() {
        Write::update(&budget)?
    } else {
        Write::insert(&budget)?
    });
    let action = if current.is_some() {
        "updated"
    } else {
        "created"
    };
    batch.push(actor.audit(
        action,
        Kind::Budget,
        &budget.budget_id,
        before,
        Some(to_value(&budget)?),
    ));
    let except = Some((Kind::Org, org.organization_id.as_str()));
    batch.extend(sync_reset_writes(state, actor, &budget, except).await?);
    org.budget_reset_at = budget.budget_reset_at;
    Ok(())
}

/// PATCH (or POST) /organization/update (proxy admins only)
pub async fn update(
    State(state): State<AppState>,
    actor: Actor,
    Body(req): Body<UpdateOrg>,
) -> Result<Json<Value>> {
    require_proxy_admin(&actor.principal, "update")?;
    let mut org = get_org(&state, &req.organization_id).await?;
    let before = to_value(&org)?;
    match req.organization_alias {
        Patch::Absent => {}
        Patch::Null => {
            return Err(Error::bad_field(
                "organization_alias",
                "organization_alias cannot be removed",
            ))
        }
        Patch::Value(a) => org.organization_alias = check_alias(a)?,
    }
    req.budget.check()?;
    let mut batch = Vec::new();
    update_org_budget(
        &state,
        &actor,
        &mut org,
        req.budget_id,
        req.budget,
        &mut batch,
    )
    .await?;
    req.fields.apply(&mut org)?;
    org.updated_at = Utc::now();
    org.updated_by = actor.who();
    batch.push(Write::update(&org)?);
    batch.push(actor.audit(
        "updated",
        Kind::Org,
        &org.organization_id,
        Some(before),
        Some(to_value(&org)?),
    ));
    state.store.apply(batch).await?;
    state.changed(crate::changes::Change::All);
    full_view(&state, org).await
}

#[derive(Debug, Deserialize)]
pub struct DeleteOrgs {
    organization_ids: Vec<String>,
}

/// The ids, without repeats, in the order given.
fn dedup(ids: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(ids.len());
    for id in ids {
        if !out.contains(&id) {
            out.push(id);
        }
    }
    out
}

/// Loads every organization named, or a 404 naming all that are missing.
async fn load_all(state: &AppState, ids: &[String]) -> Result<Vec<OrgRecord>> {
    let wanted = ids.iter().map(|i| SqlValue::from(i.as_str())).collect();
    let found = state
        .store
        .list::<OrgRecord>(&Query::default().filter(Filter::In("organization_id", wanted)))
        .await?
        .items;
    let missing: Vec<&str> = ids
        .iter()
        .filter(|id| !found.iter().any(|o| &o.organization_id == *id))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(Error::NotFound(format!(
            "Organization not found, passed organization_id(s)={}",
            missing.join(", ")
        )));
    }
    Ok(ids
        .iter()
        .filter_map(|id| found.iter().find(|o| &o.organization_id == id).cloned())
        .collect())
}

/// An organization is deleted only once no team or key belongs to it any more.
async fn check_empty(state: &AppState, organization_id: &str) -> Result<()> {
    let q = Query::default()
        .eq("organization_id", organization_id)
        .page(1, 0);
    let teams = state.store.list::<TeamRecord>(&q).await?.total;
    let keys = state.store.list::<KeyRecord>(&q).await?.total;
    if teams == 0 && keys == 0 {
        return Ok(());
    }
    Err(Error::bad_field(
        "organization_ids",
        format!(
            "Organization {organization_id} still has {teams} team(s) and {keys} key(s). \
             Delete the teams and keys or move them to another organization first."
        ),
    ))
}

/// Writes that clear `organization_id` on the members' users that point at this organization.
async fn unlink_users(
    state: &AppState,
    actor: &Actor,
    organization_id: &str,
    members: &[OrgMember],
) -> Result<Vec<Write>> {
    if members.is_empty() {
        return Ok(Vec::new());
    }
    let ids = members
        .iter()
        .map(|m| SqlValue::from(m.user_id.as_str()))
        .collect();
    let users = state
        .store
        .list::<UserRecord>(&Query::default().filter(Filter::In("user_id", ids)))
        .await?
        .items;
    let mut writes = Vec::new();
    for mut user in users
        .into_iter()
        .filter(|u| u.organization_id.as_deref() == Some(organization_id))
    {
        let before = to_value(&user)?;
        user.organization_id = None;
        user.updated_at = Utc::now();
        writes.push(Write::update(&user)?);
        writes.push(actor.audit(
            "updated",
            Kind::User,
            &user.user_id,
            Some(before),
            Some(to_value(&user)?),
        ));
    }
    Ok(writes)
}

/// DELETE /organization/delete (proxy admins only): deletes the organizations and their
/// memberships; refuses while teams or keys still belong to one. Answers the deleted
/// organizations, as LiteLLM does.
pub async fn delete(
    State(state): State<AppState>,
    actor: Actor,
    Body(req): Body<DeleteOrgs>,
) -> Result<Json<Value>> {
    require_proxy_admin(&actor.principal, "delete")?;
    let ids = dedup(req.organization_ids);
    if ids.is_empty() {
        return Err(Error::invalid(
            Some("organization_ids".into()),
            "organization_ids must list at least one organization",
        ));
    }
    let orgs = load_all(&state, &ids).await?;
    for org in &orgs {
        check_empty(&state, &org.organization_id).await?;
    }
    let rendered = render_full(&state, &orgs).await?;
    let mut batch = Vec::new();
    for (org, view) in orgs.iter().zip(&rendered) {
        let members = members_of(&state, &org.organization_id).await?;
        batch.extend(unlink_users(&state, &actor, &org.organization_id, &members).await?);
        batch.push(Write::DeleteWhere {
            kind: Kind::OrgMember,
            column: "organization_id",
            value: org.organization_id.clone(),
        });
        batch.push(Write::delete(org));
        batch.push(actor.audit(
            "deleted",
            Kind::Org,
            &org.organization_id,
            Some(view.clone()),
            None,
        ));
    }
    state.store.apply(batch).await?;
    state.changed(crate::changes::Change::All);
    Ok(Json(Value::from(rendered)))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct InfoQuery {
    organization_id: Option<String>,
}

/// GET /organization/info?organization_id=
pub async fn info(
    State(state): State<AppState>,
    principal: Principal,
    Params(q): Params<InfoQuery>,
) -> Result<Json<Value>> {
    let Some(org_id) = q.organization_id.filter(|o| !o.is_empty()) else {
        return Err(Error::invalid(
            Some("organization_id".into()),
            "Malformed request. No organization_id passed in.",
        ));
    };
    let org = get_org(&state, &org_id).await?;
    check_can_read(&state, &principal, &org_id).await?;
    full_view(&state, org).await
}

#[derive(Debug, Deserialize)]
pub struct OrgIds {
    organizations: Vec<String>,
}

/// POST /organization/info `{"organizations": [...]}` (deprecated in LiteLLM): a list.
pub async fn info_post(
    State(state): State<AppState>,
    principal: Principal,
    Body(req): Body<OrgIds>,
) -> Result<Json<Value>> {
    let ids = dedup(req.organizations);
    if ids.is_empty() {
        return Err(Error::bad_field(
            "organizations",
            "Specify list of organization id's to query. Passed in=[]",
        ));
    }
    let orgs = load_all(&state, &ids).await?;
    for org in &orgs {
        check_can_read(&state, &principal, &org.organization_id).await?;
    }
    Ok(Json(Value::from(render_full(&state, &orgs).await?)))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListQuery {
    org_id: Option<String>,
    org_alias: Option<String>,
}

/// GET /organization/list: admins see every organization, others those they belong to.
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Params(q): Params<ListQuery>,
) -> Result<Json<Value>> {
    let mut query = Query::default();
    if let Some(id) = q.org_id.filter(|s| !s.is_empty()) {
        query = query.eq("organization_id", id);
    }
    if let Some(alias) = q.org_alias.filter(|s| !s.is_empty()) {
        query = query.filter(Filter::Contains("organization_alias", alias));
    }
    if !principal.sees_all() {
        let uid = principal.user_id.clone().unwrap_or_default();
        let mine = state
            .store
            .list::<OrgMember>(&Query::default().eq("user_id", uid))
            .await?
            .items;
        if mine.is_empty() {
            return Ok(Json(Value::Array(Vec::new())));
        }
        let ids = mine
            .into_iter()
            .map(|m| SqlValue::from(m.organization_id))
            .collect();
        query = query.filter(Filter::In("organization_id", ids));
    }
    let orgs = state.store.list::<OrgRecord>(&query).await?.items;
    Ok(Json(Value::from(render_full(&state, &orgs).await?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_split_into_org_and_budget_fields() {
        let body =
            br#"{"organization_alias": "acme", "max_budget": 10, "tpm_limit": 5, "models": ["m"]}"#;
        let req: NewOrg = crate::http::extract::parse_json(body).unwrap();
        assert_eq!(req.budget.max_budget, Patch::Value(10.0));
        assert_eq!(req.budget.tpm_limit, Patch::Value(5));
        assert_eq!(req.fields.models, Patch::Value(vec!["m".to_owned()]));
        let e = crate::http::extract::parse_json::<NewOrg>(br#"{"models": []}"#).unwrap_err();
        assert_eq!(e.status_code(), 422);
        assert!(e.to_string().contains("organization_alias"), "{e}");
        let up: UpdateOrg =
            crate::http::extract::parse_json(br#"{"organization_id": "o", "max_budget": null}"#)
                .unwrap();
        assert_eq!(up.budget.max_budget, Patch::Null);
        assert!(up.organization_alias.is_absent());
    }

    #[test]
    fn dedup_keeps_the_first_of_each() {
        let ids = vec!["a".to_owned(), "b".to_owned(), "a".to_owned()];
        assert_eq!(dedup(ids), vec!["a".to_owned(), "b".to_owned()]);
    }
}
