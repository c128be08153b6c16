//! `/customer/*` (and its `/end_user/*` aliases): customers, the end users named by the `user`
//! field of inference requests, with an optional linked budget. Admin-only.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use tollgate_store::{
    BudgetRecord, CustomerRecord, Filter, Kind, Query, SqlValue, StoreError, Write,
};

use crate::admin::budgets::{
    admin_only, blank_budget, budget_id_and_fields, budget_to_link, render_budget,
    sync_reset_writes, BudgetFields,
};
use crate::admin::common::{check_money, clean_alias, new_id, to_object, to_value, Actor};
use crate::auth::Principal;
use crate::http::{Body, Error, Params, Patch, Result};
use crate::state::AppState;

/// Regions a customer's requests may be pinned to.
const REGIONS: [&str; 2] = ["eu", "us"];

fn check_region(region: Option<&str>) -> Result<()> {
    match region {
        Some(r) if !REGIONS.contains(&r) => Err(Error::bad_field(
            "allowed_model_region",
            format!("allowed_model_region must be one of \"eu\" or \"us\", got '{r}'"),
        )),
        _ => Ok(()),
    }
}

fn not_found(user_id: &str) -> Error {
    Error::NotFound(format!("End User Id={user_id} does not exist in db"))
}

fn already_exists(user_id: &str) -> Error {
    Error::bad_field(
        "user_id",
        format!("Customer already exists, passed user_id={user_id}. Please pass a new user_id."),
    )
}

/// A customer with nothing set.
pub fn blank_customer(user_id: String, now: DateTime<Utc>) -> CustomerRecord {
    CustomerRecord {
        user_id,
        alias: None,
        spend: 0.0,
        blocked: false,
        budget_id: None,
        budget_reset_at: None,
        allowed_model_region: None,
        default_model: None,
        created_at: now,
        updated_at: now,
    }
}

/// A customer as the API shows it: the row plus `litellm_budget_table` (`null` without one).
pub fn render(c: &CustomerRecord, budget: Option<&BudgetRecord>) -> Result<Value> {
    let mut out = to_object(c)?;
    out.insert("litellm_budget_table".into(), render_budget(budget)?);
    Ok(Value::Object(out))
}

/// Customers with their budgets, in the order given.
async fn render_all(state: &AppState, customers: &[CustomerRecord]) -> Result<Vec<Value>> {
    let ids: Vec<SqlValue> = customers
        .iter()
        .filter_map(|c| c.budget_id.as_deref().map(SqlValue::from))
        .collect();
    let budgets = if ids.is_empty() {
        Vec::new()
    } else {
        let q = Query::default().filter(Filter::In("budget_id", ids));
        state.store.list::<BudgetRecord>(&q).await?.items
    };
    customers
        .iter()
        .map(|c| {
            render(
                c,
                budgets
                    .iter()
                    .find(|b| c.budget_id.as_ref() == Some(&b.budget_id)),
            )
        })
        .collect()
}

async fn budget_of(state: &AppState, c: &CustomerRecord) -> Result<Option<BudgetRecord>> {
    match c.budget_id.as_deref() {
        Some(id) => Ok(state.store.get::<BudgetRecord>(&[id]).await?),
        None => Ok(None),
    }
}

async fn get_customer(state: &AppState, user_id: &str) -> Result<CustomerRecord> {
    state
        .store
        .get::<CustomerRecord>(&[user_id])
        .await?
        .ok_or_else(|| not_found(user_id))
}

/// Loads every customer named, or a 404 naming all that are missing.
async fn load_all(state: &AppState, ids: &[String]) -> Result<Vec<CustomerRecord>> {
    let found = find_all(state, ids).await?;
    let missing: Vec<&str> = ids
        .iter()
        .filter(|id| !found.iter().any(|c| &c.user_id == *id))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(Error::NotFound(format!(
            "End User Id(s)={} do not exist in db",
            missing.join(", ")
        )));
    }
    Ok(found)
}

async fn find_all(state: &AppState, ids: &[String]) -> Result<Vec<CustomerRecord>> {
    let wanted = ids.iter().map(|i| SqlValue::from(i.as_str())).collect();
    let q = Query::default().filter(Filter::In("user_id", wanted));
    Ok(state.store.list::<CustomerRecord>(&q).await?.items)
}

/// The ids of a bulk request: at least one, without repeats.
fn user_ids(ids: Vec<String>) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(ids.len());
    for id in ids {
        if !out.contains(&id) {
            out.push(id);
        }
    }
    if out.is_empty() {
        return Err(Error::invalid(
            Some("user_ids".into()),
            "user_ids must list at least one customer",
        ));
    }
    Ok(out)
}

#[derive(Debug, Deserialize)]
pub struct NewCustomer {
    user_id: String,
    #[serde(default)]
    alias: Option<String>,
    #[serde(default)]
    blocked: Option<bool>,
    #[serde(default)]
    budget_id: Option<String>,
    #[serde(default)]
    allowed_model_region: Option<String>,
    #[serde(default)]
    default_model: Option<String>,
    #[serde(default)]
    spend: Option<f64>,
    #[serde(flatten)]
    budget: BudgetFields,
}

/// The budget a new customer links, if any: the named one, or one made from its budget
/// fields (whose writes join `batch`).
async fn new_customer_budget(
    state: &AppState,
    actor: &Actor,
    budget_id: Option<String>,
    fields: BudgetFields,
    batch: &mut Vec<Write>,
    now: DateTime<Utc>,
) -> Result<Option<BudgetRecord>> {
    if let Some(id) = budget_id.filter(|b| !b.trim().is_empty()) {
        if fields.is_set() {
            return Err(budget_id_and_fields());
        }
        return budget_to_link(state, &id).await.map(Some);
    }
    fields.check()?;
    if !fields.is_set() {
        return Ok(None);
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
    Ok(Some(budget))
}

/// POST /customer/new
pub async fn new(
    State(state): State<AppState>,
    actor: Actor,
    Body(req): Body<NewCustomer>,
) -> Result<Json<Value>> {
    admin_only(&actor.principal, true)?;
    if req.user_id.trim().is_empty() {
        return Err(Error::bad_field("user_id", "user_id must not be empty"));
    }
    check_region(req.allowed_model_region.as_deref())?;
    check_money("spend", req.spend)?;
    let now = Utc::now();
    if state
        .store
        .get::<CustomerRecord>(&[&req.user_id])
        .await?
        .is_some()
    {
        return Err(already_exists(&req.user_id));
    }
    let mut c = blank_customer(req.user_id, now);
    c.alias = clean_alias("alias", req.alias)?;
    c.blocked = req.blocked.unwrap_or(false);
    c.allowed_model_region = req.allowed_model_region;
    c.default_model = req.default_model;
    c.spend = req.spend.unwrap_or(0.0);
    let mut batch = Vec::new();
    let budget =
        new_customer_budget(&state, &actor, req.budget_id, req.budget, &mut batch, now).await?;
    c.budget_id = budget.as_ref().map(|b| b.budget_id.clone());
    c.budget_reset_at = budget.as_ref().and_then(|b| b.budget_reset_at);
    batch.push(Write::insert(&c)?);
    batch.push(actor.audit(
        "created",
        Kind::Customer,
        &c.user_id,
        None,
        Some(to_value(&c)?),
    ));
    state.store.apply(batch).await.map_err(|e| match e {
        StoreError::Conflict(_) => already_exists(&c.user_id),
        e => e.into(),
    })?;
    if budget.is_some() {
        state.invalidate_all();
    }
    Ok(Json(render(&c, budget.as_ref())?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct InfoQuery {
    end_user_id: Option<String>,
}

/// GET /customer/info?end_user_id=
pub async fn info(
    State(state): State<AppState>,
    principal: Principal,
    Params(q): Params<InfoQuery>,
) -> Result<Json<Value>> {
    admin_only(&principal, false)?;
    let Some(id) = q.end_user_id.filter(|s| !s.is_empty()) else {
        return Err(Error::invalid(
            Some("end_user_id".into()),
            "Malformed request. No end_user_id passed in.",
        ));
    };
    let c = get_customer(&state, &id).await?;
    let budget = budget_of(&state, &c).await?;
    Ok(Json(render(&c, budget.as_ref())?))
}

#[derive(Debug, Deserialize)]
pub struct UpdateCustomer {
    user_id: String,
    #[serde(default)]
    alias: Patch<String>,
    #[serde(default)]
    blocked: Patch<bool>,
    #[serde(default)]
    budget_id: Patch<String>,
    #[serde(default)]
    allowed_model_region: Patch<String>,
    #[serde(default)]
    default_model: Patch<String>,
    #[serde(default)]
    spend: Patch<f64>,
    #[serde(flatten)]
    budget: BudgetFields,
}

/// Relinks, creates or changes the customer's budget as the update asks, adding the writes to
/// `batch`. Answers the budget the customer ends up with.
async fn update_customer_budget(
    state: &AppState,
    actor: &Actor,
    c: &mut CustomerRecord,
    budget_id: Patch<String>,
    fields: BudgetFields,
    batch: &mut Vec<Write>,
) -> Result<Option<BudgetRecord>> {
    let relink = match budget_id {
        Patch::Null => Some(None),
        Patch::Value(id) if c.budget_id.as_deref() != Some(id.as_str()) => Some(Some(id)),
        _ => None,
    };
    if let Some(target) = relink {
        if fields.touches() {
            return Err(budget_id_and_fields());
        }
        let budget = match target {
            Some(id) => Some(budget_to_link(state, &id).await?),
            None => None,
        };
        c.budget_id = budget.as_ref().map(|b| b.budget_id.clone());
        c.budget_reset_at = budget.as_ref().and_then(|b| b.budget_reset_at);
        return Ok(budget);
    }
    let current = budget_of(state, c).await?;
    if !fields.touches() || (current.is_none() && !fields.is_set()) {
        return Ok(current);
    }
    let now = Utc::now();
    let before = current.as_ref().map(to_value).transpose()?;
    let mut budget = current
        .clone()
        .unwrap_or_else(|| blank_budget(new_id(), now, actor.who()));
    fields.apply(&mut budget, now)?;
    budget.updated_at = now;
    budget.updated_by = actor.who();
    let (write, action) = match current {
        Some(_) => (Write::update(&budget)?, "updated"),
        None => (Write::insert(&budget)?, "created"),
    };
    batch.push(write);
    batch.push(actor.audit(
        action,
        Kind::Budget,
        &budget.budget_id,
        before,
        Some(to_value(&budget)?),
    ));
    batch.extend(
        sync_reset_writes(
            state,
            actor,
            &budget,
            Some((Kind::Customer, c.user_id.as_str())),
        )
        .await?,
    );
    c.budget_id = Some(budget.budget_id.clone());
    c.budget_reset_at = budget.budget_reset_at;
    Ok(Some(budget))
}

/// POST /customer/update: budget fields change the linked budget, or create one.
pub async fn update(
    State(state): State<AppState>,
    actor: Actor,
    Body(req): Body<UpdateCustomer>,
) -> Result<Json<Value>> {
    admin_only(&actor.principal, true)?;
    check_region(req.allowed_model_region.value().map(String::as_str))?;
    check_money("spend", req.spend.value().copied())?;
    req.budget.check()?;
    let mut c = get_customer(&state, &req.user_id).await?;
    let before = to_value(&c)?;
    if let Some(alias) = req.alias.into_change() {
        c.alias = clean_alias("alias", alias)?;
    }
    req.blocked.apply_or_default(&mut c.blocked);
    req.allowed_model_region
        .apply_to(&mut c.allowed_model_region);
    req.default_model.apply_to(&mut c.default_model);
    let budget_changes = req.budget.touches() || !req.budget_id.is_absent();
    let mut batch = Vec::new();
    let budget = update_customer_budget(
        &state,
        &actor,
        &mut c,
        req.budget_id,
        req.budget,
        &mut batch,
    )
    .await?;
    c.updated_at = Utc::now();
    batch.push(Write::update(&c)?);
    let spend_change = req.spend.into_change();
    if let Some(spend) = spend_change {
        c.spend = spend.unwrap_or(0.0);
        batch.push(Write::SetSpend {
            kind: Kind::Customer,
            pk: vec![c.user_id.clone()],
            spend: c.spend,
        });
    }
    batch.push(actor.audit(
        "updated",
        Kind::Customer,
        &c.user_id,
        Some(before),
        Some(to_value(&c)?),
    ));
    state.store.apply(batch).await?;
    if spend_change.is_some() {
        let entity = crate::limits::Entity::Customer(c.user_id.clone());
        state.set_spend(&entity, c.spend).await;
    }
    state.customers.invalidate_all();
    if budget_changes {
        state.invalidate_all();
    }
    Ok(Json(render(&c, budget.as_ref())?))
}

#[derive(Debug, Deserialize)]
pub struct UserIds {
    user_ids: Vec<String>,
}

/// POST /customer/delete: all or nothing; 404 naming any unknown id.
pub async fn delete(
    State(state): State<AppState>,
    actor: Actor,
    Body(req): Body<UserIds>,
) -> Result<Json<Value>> {
    admin_only(&actor.principal, true)?;
    let ids = user_ids(req.user_ids)?;
    let customers = load_all(&state, &ids).await?;
    let mut batch = Vec::new();
    for c in &customers {
        batch.push(Write::delete(c));
        batch.push(actor.audit(
            "deleted",
            Kind::Customer,
            &c.user_id,
            Some(to_value(c)?),
            None,
        ));
    }
    state.store.apply(batch).await?;
    state.customers.invalidate_all();
    Ok(Json(json!({
        "deleted_customers": ids,
        "message": format!("Successfully deleted customers with ids: {ids:?}"),
    })))
}

/// GET /customer/list
pub async fn list(State(state): State<AppState>, principal: Principal) -> Result<Json<Value>> {
    admin_only(&principal, false)?;
    let all = state
        .store
        .list::<CustomerRecord>(&Query::default())
        .await?
        .items;
    Ok(Json(Value::from(render_all(&state, &all).await?)))
}

/// POST /customer/block: blocks the customers, creating those not seen yet (as LiteLLM does),
/// so that a customer can be refused before its first request.
pub async fn block(
    State(state): State<AppState>,
    actor: Actor,
    Body(req): Body<UserIds>,
) -> Result<Json<Value>> {
    admin_only(&actor.principal, true)?;
    let ids = user_ids(req.user_ids)?;
    let found = find_all(&state, &ids).await?;
    let now = Utc::now();
    let (mut batch, mut out) = (Vec::new(), Vec::new());
    for id in &ids {
        let (before, mut c) = match found.iter().find(|c| &c.user_id == id) {
            Some(c) => (Some(to_value(c)?), c.clone()),
            None => (None, blank_customer(id.clone(), now)),
        };
        c.blocked = true;
        c.updated_at = now;
        batch.push(if before.is_some() {
            Write::update(&c)?
        } else {
            Write::insert(&c)?
        });
        batch.push(actor.audit("blocked", Kind::Customer, id, before, Some(to_value(&c)?)));
        out.push(c);
    }
    state.store.apply(batch).await?;
    state.customers.invalidate_all();
    Ok(Json(
        json!({ "blocked_users": render_all(&state, &out).await? }),
    ))
}

/// POST /customer/unblock: 404 naming any unknown id, nothing changed.
pub async fn unblock(
    State(state): State<AppState>,
    actor: Actor,
    Body(req): Body<UserIds>,
) -> Result<Json<Value>> {
    admin_only(&actor.principal, true)?;
    let ids = user_ids(req.user_ids)?;
    let mut customers = load_all(&state, &ids).await?;
    let now = Utc::now();
    let mut batch = Vec::new();
    for c in &mut customers {
        let before = to_value(&*c)?;
        c.blocked = false;
        c.updated_at = now;
        batch.push(Write::update(&*c)?);
        batch.push(actor.audit(
            "unblocked",
            Kind::Customer,
            &c.user_id,
            Some(before),
            Some(to_value(&*c)?),
        ));
    }
    state.store.apply(batch).await?;
    state.customers.invalidate_all();
    Ok(Json(
        json!({ "unblocked_users": render_all(&state, &customers).await? }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_requests_take_customer_and_budget_fields() {
        let body = br#"{"user_id": "c", "spend": 3, "max_budget": 7, "blocked": null}"#;
        let req: NewCustomer = crate::http::extract::parse_json(body).unwrap();
        assert_eq!(req.spend, Some(3.0));
        assert_eq!(req.blocked, None);
        assert!(req.budget.is_set());
        let e = crate::http::extract::parse_json::<NewCustomer>(b"{}").unwrap_err();
        assert!(e.to_string().contains("user_id"), "{e}");
    }

    #[test]
    fn only_eu_and_us_regions() {
        assert!(check_region(None).is_ok());
        assert!(check_region(Some("eu")).is_ok());
        assert!(check_region(Some("us")).is_ok());
        let e = check_region(Some("apac")).unwrap_err();
        assert_eq!(e.status_code(), 400);
        assert!(e.to_string().contains("allowed_model_region"));
    }

    #[test]
    fn bulk_ids_are_deduplicated_and_required() {
        assert_eq!(
            user_ids(vec!["a".into(), "a".into(), "b".into()]).unwrap(),
            vec!["a", "b"]
        );
        assert_eq!(user_ids(Vec::new()).unwrap_err().status_code(), 422);
    }

    #[test]
    fn a_customer_without_budget_renders_null() {
        let c = blank_customer("c".into(), Utc::now());
        let v = render(&c, None).unwrap();
        assert_eq!(v["litellm_budget_table"], Value::Null);
        assert_eq!(v["user_id"], "c");
    }
}
