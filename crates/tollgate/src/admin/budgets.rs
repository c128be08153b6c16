//! `/budget/*`: shared budgets (LiteLLM's `LiteLLM_BudgetTable`), referenced by organizations,
//! customers and keys; and the budget fields that organizations and customers accept inline.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use tollgate_store::{
    BudgetRecord, CustomerRecord, Filter, JsonMap, Kind, OrgRecord, Query, SqlValue, StoreError,
    Write,
};

use crate::admin::audit::parse_time;
use crate::admin::common::{
    check_limit, check_money, new_id, parse_period, reset_at, to_value, Actor,
};
use crate::auth::Principal;
use crate::http::{Body, Error, Patch, Result};
use crate::state::AppState;

/// Budget fields, as `/budget/*`, `/organization/*` and `/customer/*` accept them. Absent
/// fields are left alone; `null` clears.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct BudgetFields {
    pub max_budget: Patch<f64>,
    pub soft_budget: Patch<f64>,
    pub max_parallel_requests: Patch<i64>,
    pub tpm_limit: Patch<i64>,
    pub rpm_limit: Patch<i64>,
    pub budget_duration: Patch<String>,
    pub model_max_budget: Patch<JsonMap>,
    /// When the budget next resets; computed from `budget_duration` unless given.
    pub budget_reset_at: Patch<String>,
}

impl BudgetFields {
    /// Whether any field carries a value (enough to create a budget from).
    pub fn is_set(&self) -> bool {
        self.max_budget.value().is_some()
            || self.soft_budget.value().is_some()
            || self.max_parallel_requests.value().is_some()
            || self.tpm_limit.value().is_some()
            || self.rpm_limit.value().is_some()
            || self.budget_duration.value().is_some()
            || self.model_max_budget.value().is_some()
            || self.budget_reset_at.value().is_some()
    }

    /// Whether any field is present, a value or `null` (enough to change a budget).
    pub fn touches(&self) -> bool {
        !(self.max_budget.is_absent()
            && self.soft_budget.is_absent()
            && self.max_parallel_requests.is_absent()
            && self.tpm_limit.is_absent()
            && self.rpm_limit.is_absent()
            && self.budget_duration.is_absent()
            && self.model_max_budget.is_absent()
            && self.budget_reset_at.is_absent())
    }

    /// Checks every given value, naming the failing field.
    pub fn check(&self) -> Result<()> {
        check_money("max_budget", self.max_budget.value().copied())?;
        check_money("soft_budget", self.soft_budget.value().copied())?;
        check_limit(
            "max_parallel_requests",
            self.max_parallel_requests.value().copied(),
        )?;
        check_limit("tpm_limit", self.tpm_limit.value().copied())?;
        check_limit("rpm_limit", self.rpm_limit.value().copied())?;
        if let Some(d) = self.budget_duration.value() {
            parse_period("budget_duration", d)?;
        }
        if let Some(m) = self.model_max_budget.value() {
            check_model_max_budget(m)?;
        }
        Ok(())
    }

    /// Applies the fields to a budget. A new `budget_duration` restarts the budget window
    /// unless `budget_reset_at` is given too.
    pub fn apply(self, b: &mut BudgetRecord, now: DateTime<Utc>) -> Result<()> {
        self.check()?;
        if let Some(d) = self.budget_duration.into_change() {
            b.budget_reset_at = reset_at("budget_duration", d.as_deref(), now)?;
            b.budget_duration = d;
        }
        match self.budget_reset_at {
            Patch::Absent => {}
            Patch::Null => b.budget_reset_at = None,
            Patch::Value(t) => b.budget_reset_at = Some(parse_time("budget_reset_at", &t, false)?),
        }
        self.max_budget.apply_to(&mut b.max_budget);
        self.soft_budget.apply_to(&mut b.soft_budget);
        self.max_parallel_requests
            .apply_to(&mut b.max_parallel_requests);
        self.tpm_limit.apply_to(&mut b.tpm_limit);
        self.rpm_limit.apply_to(&mut b.rpm_limit);
        self.model_max_budget
            .apply_or_default(&mut b.model_max_budget);
        Ok(())
    }
}

/// `model_max_budget` maps a model to `{max_budget, budget_duration, tpm_limit, rpm_limit}`.
pub fn check_model_max_budget(map: &JsonMap) -> Result<()> {
    const FIELD: &str = "model_max_budget";
    for (model, v) in map {
        let Some(entry) = v.as_object() else {
            return Err(Error::bad_field(
                FIELD,
                format!("model_max_budget[{model}] must be an object like {{\"max_budget\": 10.0, \"budget_duration\": \"1d\"}}"),
            ));
        };
        if let Some(b) = entry.get("max_budget").filter(|b| !b.is_null()) {
            let ok = b.as_f64().is_some_and(|b| b.is_finite() && b >= 0.0);
            if !ok {
                return Err(Error::bad_field(
                    FIELD,
                    format!("model_max_budget[{model}].max_budget must be a number >= 0"),
                ));
            }
        }
        if let Some(d) = entry.get("budget_duration").and_then(Value::as_str) {
            parse_period(FIELD, d)?;
        }
        for limit in ["tpm_limit", "rpm_limit"] {
            if let Some(l) = entry.get(limit).filter(|l| !l.is_null()) {
                if l.as_i64().is_none_or(|l| l < 0) {
                    return Err(Error::bad_field(
                        FIELD,
                        format!("model_max_budget[{model}].{limit} must be an integer >= 0"),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// A budget with nothing set.
pub fn blank_budget(budget_id: String, now: DateTime<Utc>, who: Option<String>) -> BudgetRecord {
    BudgetRecord {
        budget_id,
        max_budget: None,
        soft_budget: None,
        max_parallel_requests: None,
        tpm_limit: None,
        rpm_limit: None,
        model_max_budget: JsonMap::new(),
        budget_duration: None,
        budget_reset_at: None,
        created_at: now,
        updated_at: now,
        created_by: who.clone(),
        updated_by: who,
    }
}

/// A budget as `litellm_budget_table`: the row, or `null` without one.
pub fn render_budget(b: Option<&BudgetRecord>) -> Result<Value> {
    b.map_or(Ok(Value::Null), to_value)
}

/// A budget by id, 404 when missing.
pub async fn get_budget(state: &AppState, budget_id: &str) -> Result<BudgetRecord> {
    state
        .store
        .get::<BudgetRecord>(&[budget_id])
        .await?
        .ok_or_else(|| Error::NotFound(format!("Budget not found, passed budget_id={budget_id}")))
}

/// A budget that a request wants to link to: a 400 naming `budget_id` when missing.
pub async fn budget_to_link(state: &AppState, budget_id: &str) -> Result<BudgetRecord> {
    state.store.get::<BudgetRecord>(&[budget_id]).await?.ok_or_else(|| {
        Error::bad_field(
            "budget_id",
            format!("Budget not found, passed budget_id={budget_id}. Create it with /budget/new first."),
        )
    })
}

/// The 400 for a request that links a budget and also sets budget fields.
pub fn budget_id_and_fields() -> Error {
    Error::bad_field(
        "budget_id",
        "Pass either budget_id or budget fields (max_budget, soft_budget, tpm_limit, rpm_limit, \
         max_parallel_requests, budget_duration, model_max_budget), not both",
    )
}

/// Admin-only endpoints: writes need a proxy admin, reads any admin (viewers included).
pub fn admin_only(p: &Principal, write: bool) -> Result<()> {
    let allowed = if write {
        p.is_proxy_admin()
    } else {
        p.sees_all()
    };
    if allowed {
        return Ok(());
    }
    Err(Error::unauthorized(
        "auth_error",
        format!("Admin-only endpoint. Your user role={}", p.role),
    ))
}

/// Writes that carry a budget's reset time over to the organizations and customers linked to
/// it (their own `budget_reset_at` drives their spend resets). `except` is a row the caller
/// updates itself.
pub async fn sync_reset_writes(
    state: &AppState,
    actor: &Actor,
    budget: &BudgetRecord,
    except: Option<(Kind, &str)>,
) -> Result<Vec<Write>> {
    let q = Query::default().eq("budget_id", budget.budget_id.as_str());
    let skip = |kind: Kind, id: &str| except.is_some_and(|(k, e)| k == kind && e == id);
    let now = Utc::now();
    let mut out = Vec::new();
    for mut org in state.store.list::<OrgRecord>(&q).await?.items {
        if org.budget_reset_at == budget.budget_reset_at || skip(Kind::Org, &org.organization_id) {
            continue;
        }
        let before = to_value(&org)?;
        org.budget_reset_at = budget.budget_reset_at;
        org.updated_at = now;
        out.push(Write::update(&org)?);
        out.push(actor.audit(
            "updated",
            Kind::Org,
            &org.organization_id,
            Some(before),
            Some(to_value(&org)?),
        ));
    }
    for mut c in state.store.list::<CustomerRecord>(&q).await?.items {
        if c.budget_reset_at == budget.budget_reset_at || skip(Kind::Customer, &c.user_id) {
            continue;
        }
        let before = to_value(&c)?;
        c.budget_reset_at = budget.budget_reset_at;
        c.updated_at = now;
        out.push(Write::update(&c)?);
        out.push(actor.audit(
            "updated",
            Kind::Customer,
            &c.user_id,
            Some(before),
            Some(to_value(&c)?),
        ));
    }
    Ok(out)
}

fn already_exists(budget_id: &str) -> Error {
    Error::bad_field(
        "budget_id",
        format!("Budget with id '{budget_id}' already exists."),
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NewBudget {
    budget_id: Option<String>,
    #[serde(flatten)]
    fields: BudgetFields,
}

/// POST /budget/new
pub async fn new(
    State(state): State<AppState>,
    actor: Actor,
    Body(req): Body<NewBudget>,
) -> Result<Json<Value>> {
    admin_only(&actor.principal, true)?;
    let now = Utc::now();
    let id = req
        .budget_id
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(new_id);
    if state.store.get::<BudgetRecord>(&[&id]).await?.is_some() {
        return Err(already_exists(&id));
    }
    let mut budget = blank_budget(id, now, actor.who());
    req.fields.apply(&mut budget, now)?;
    let batch = vec![
        Write::insert(&budget)?,
        actor.audit(
            "created",
            Kind::Budget,
            &budget.budget_id,
            None,
            Some(to_value(&budget)?),
        ),
    ];
    state.store.apply(batch).await.map_err(|e| match e {
        StoreError::Conflict(_) => already_exists(&budget.budget_id),
        e => e.into(),
    })?;
    Ok(Json(to_value(&budget)?))
}

#[derive(Debug, Deserialize)]
pub struct UpdateBudget {
    budget_id: String,
    #[serde(flatten)]
    fields: BudgetFields,
}

/// POST /budget/update
pub async fn update(
    State(state): State<AppState>,
    actor: Actor,
    Body(req): Body<UpdateBudget>,
) -> Result<Json<Value>> {
    admin_only(&actor.principal, true)?;
    let mut budget = get_budget(&state, &req.budget_id).await?;
    let before = to_value(&budget)?;
    let old_reset = budget.budget_reset_at;
    let now = Utc::now();
    req.fields.apply(&mut budget, now)?;
    budget.updated_at = now;
    budget.updated_by = actor.who();
    let mut batch = vec![
        Write::update(&budget)?,
        actor.audit(
            "updated",
            Kind::Budget,
            &budget.budget_id,
            Some(before),
            Some(to_value(&budget)?),
        ),
    ];
    if budget.budget_reset_at != old_reset {
        batch.extend(sync_reset_writes(&state, &actor, &budget, None).await?);
    }
    state.store.apply(batch).await?;
    state.changed(crate::changes::Change::All);
    Ok(Json(to_value(&budget)?))
}

#[derive(Debug, Deserialize)]
pub struct BudgetIds {
    budgets: Vec<String>,
}

/// POST /budget/info: the budgets asked for, in the order asked; 404 naming any unknown id.
pub async fn info(
    State(state): State<AppState>,
    principal: Principal,
    Body(req): Body<BudgetIds>,
) -> Result<Json<Value>> {
    admin_only(&principal, false)?;
    if req.budgets.is_empty() {
        return Err(Error::bad_field(
            "budgets",
            "Specify list of budget id's to query. Passed in=[]",
        ));
    }
    let ids = req
        .budgets
        .iter()
        .map(|b| SqlValue::from(b.as_str()))
        .collect();
    let found = state
        .store
        .list::<BudgetRecord>(&Query::default().filter(Filter::In("budget_id", ids)))
        .await?
        .items;
    let missing: Vec<&str> = req
        .budgets
        .iter()
        .filter(|id| !found.iter().any(|b| &b.budget_id == *id))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(Error::NotFound(format!(
            "Budget not found, passed budget_id(s)={}",
            missing.join(", ")
        )));
    }
    let ordered = req
        .budgets
        .iter()
        .filter_map(|id| found.iter().find(|b| &b.budget_id == id))
        .map(to_value)
        .collect::<Result<Vec<_>>>()?;
    Ok(Json(Value::from(ordered)))
}

/// GET /budget/list
pub async fn list(State(state): State<AppState>, principal: Principal) -> Result<Json<Value>> {
    admin_only(&principal, false)?;
    let all = state
        .store
        .list::<BudgetRecord>(&Query::default())
        .await?
        .items;
    Ok(Json(to_value(&all)?))
}

#[derive(Debug, Deserialize)]
pub struct DeleteBudget {
    id: String,
}

/// POST /budget/delete: refuses while an organization or customer still uses the budget.
pub async fn delete(
    State(state): State<AppState>,
    actor: Actor,
    Body(req): Body<DeleteBudget>,
) -> Result<Json<Value>> {
    admin_only(&actor.principal, true)?;
    let budget = get_budget(&state, &req.id).await?;
    let q = Query::default().eq("budget_id", req.id.as_str()).page(1, 0);
    let orgs = state.store.list::<OrgRecord>(&q).await?.total;
    let customers = state.store.list::<CustomerRecord>(&q).await?.total;
    if orgs > 0 || customers > 0 {
        return Err(Error::bad_field(
            "id",
            format!(
                "Budget {} is still used by {orgs} organization(s) and {customers} customer(s). \
                 Link them to another budget or delete them first.",
                req.id
            ),
        ));
    }
    state
        .store
        .apply(vec![
            Write::delete(&budget),
            actor.audit(
                "deleted",
                Kind::Budget,
                &budget.budget_id,
                Some(to_value(&budget)?),
                None,
            ),
        ])
        .await?;
    state.changed(crate::changes::Change::All);
    Ok(Json(to_value(&budget)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn set_and_touched_differ() {
        let f: BudgetFields = serde_json::from_value(json!({"max_budget": null})).unwrap();
        assert!(!f.is_set());
        assert!(f.touches());
        let f: BudgetFields = serde_json::from_value(json!({"rpm_limit": 5})).unwrap();
        assert!(f.is_set());
        assert!(!BudgetFields::default().touches());
    }

    #[test]
    fn explicit_reset_time_wins_over_the_duration() {
        let now = Utc::now();
        let mut b = blank_budget("b".into(), now, None);
        let f: BudgetFields = serde_json::from_value(
            json!({"max_budget": 10, "budget_reset_at": "2030-01-02T00:00:00Z"}),
        )
        .unwrap();
        f.apply(&mut b, now).unwrap();
        assert_eq!(b.max_budget, Some(10.0));
        assert_eq!(
            b.budget_reset_at.map(|t| t.to_rfc3339()),
            Some("2030-01-02T00:00:00+00:00".into())
        );
    }

    #[test]
    fn bad_values_name_their_field() {
        for (body, field) in [
            (json!({"max_budget": -1}), "max_budget"),
            (json!({"tpm_limit": -1}), "tpm_limit"),
            (
                json!({"model_max_budget": {"gpt-4": 5}}),
                "model_max_budget",
            ),
            (
                json!({"model_max_budget": {"gpt-4": {"max_budget": -2}}}),
                "model_max_budget",
            ),
            (json!({"budget_reset_at": "soon"}), "budget_reset_at"),
        ] {
            let f: BudgetFields = serde_json::from_value(body).unwrap();
            let e = f
                .apply(&mut blank_budget("b".into(), Utc::now(), None), Utc::now())
                .unwrap_err();
            assert_eq!(e.status_code(), 400);
            assert!(e.to_string().contains(field), "{e}");
        }
    }
}
