//! `/spend/logs` and the `/global/spend` reports.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tollgate_store::{
    KeyRecord, Kind, Query, SpendLogQuery, TeamRecord, TotalsGroup, TotalsQuery, Write,
};

use crate::admin::common::Actor;
use crate::auth::{keys, Principal};
use crate::http::{Error, Params, Result};
use crate::limits::Entity;
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LogParams {
    request_id: Option<String>,
    api_key: Option<String>,
    user_id: Option<String>,
    team_id: Option<String>,
    end_user: Option<String>,
    start_date: Option<String>,
    end_date: Option<String>,
    summarize: Option<bool>,
    limit: Option<u32>,
}

fn day(field: &str, v: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(v.get(..10).unwrap_or(v), "%Y-%m-%d").map_err(|_| {
        Error::bad_field(
            field,
            format!("{field} must be a date like 2026-01-31, got {v:?}"),
        )
    })
}

fn midnight(d: NaiveDate) -> DateTime<Utc> {
    d.and_hms_opt(0, 0, 0)
        .map_or(DateTime::UNIX_EPOCH, |t| t.and_utc())
}

/// GET /spend/logs: rows, or with both dates (and `summarize`, the default) a per-day summary.
pub async fn logs(
    State(state): State<AppState>,
    p: Principal,
    Params(q): Params<LogParams>,
) -> Result<Json<Value>> {
    let user_id = if p.sees_all() {
        q.user_id.clone()
    } else {
        Some(p.user_id.clone().unwrap_or_default())
    };
    let range = match (&q.start_date, &q.end_date) {
        (Some(s), Some(e)) => Some((day("start_date", s)?, day("end_date", e)?)),
        (None, None) => None,
        _ => {
            return Err(Error::bad_field(
                "start_date",
                "Pass both start_date and end_date, or neither",
            ))
        }
    };
    let query = SpendLogQuery {
        request_id: q.request_id.clone(),
        api_key: q.api_key.as_deref().map(keys::to_hash),
        user_id,
        team_id: q.team_id.clone(),
        end_user: q.end_user.clone(),
        start: range.map(|(s, _)| midnight(s)),
        end: range.map(|(_, e)| midnight(e.checked_add_days(Days::new(1)).unwrap_or(e))),
        limit: Some(q.limit.unwrap_or(10_000).min(10_000)),
    };
    let rows = state.store.spend_logs(&query).await?;
    match range {
        Some((start, end)) if q.summarize.unwrap_or(true) => Ok(Json(summarize(&rows, start, end))),
        _ => Ok(Json(serde_json::to_value(rows)?)),
    }
}

/// Spend of one day, by user and by model.
type DaySummary = (f64, Map<String, Value>, Map<String, Value>);

/// Per day: `{startTime, spend, users, models}`, every day of the range present.
fn summarize(rows: &[tollgate_store::SpendLogRow], start: NaiveDate, end: NaiveDate) -> Value {
    let mut days: BTreeMap<NaiveDate, DaySummary> = BTreeMap::new();
    let mut d = start;
    while d <= end {
        days.insert(d, (0.0, Map::new(), Map::new()));
        match d.checked_add_days(Days::new(1)) {
            Some(n) => d = n,
            None => break,
        }
    }
    for r in rows {
        let Some(entry) = days.get_mut(&r.start_time.date_naive()) else {
            continue;
        };
        entry.0 += r.spend;
        let add = |m: &mut Map<String, Value>, k: &str| {
            let v = m.get(k).and_then(Value::as_f64).unwrap_or(0.0) + r.spend;
            m.insert(k.to_owned(), Value::from(v));
        };
        add(&mut entry.1, r.user_id.as_deref().unwrap_or(""));
        add(&mut entry.2, &r.model);
    }
    let out: Vec<Value> = days
        .into_iter()
        .map(|(d, (spend, users, models))| json!({"startTime": d.to_string(), "spend": spend, "users": users, "models": models}))
        .collect();
    Value::from(out)
}

fn last_30_days() -> DateTime<Utc> {
    Utc::now() - chrono::Duration::days(30)
}

fn admin_only(p: &Principal) -> Result<()> {
    if p.sees_all() {
        Ok(())
    } else {
        Err(Error::Forbidden(
            "Only admins can view global spend.".into(),
        ))
    }
}

/// GET /global/spend: spend of the last 30 days and the gateway's budget.
pub async fn global(State(state): State<AppState>, p: Principal) -> Result<Json<Value>> {
    admin_only(&p)?;
    let spend = state.store.global_spend(last_30_days()).await?;
    Ok(Json(
        json!({"spend": spend, "max_budget": state.settings.config.litellm_settings.max_budget}),
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TopParams {
    limit: Option<u32>,
}

async fn top(
    state: &AppState,
    group_by: TotalsGroup,
    limit: Option<u32>,
) -> Result<Vec<(String, f64)>> {
    let q = TotalsQuery {
        group_by,
        start: Some(last_30_days()),
        end: None,
        limit: Some(limit.unwrap_or(100).min(10_000)),
    };
    Ok(state.store.spend_totals(&q).await?)
}

macro_rules! top_report {
    ($name:ident, $group:expr, $label:literal) => {
        pub async fn $name(State(state): State<AppState>, p: Principal, Params(q): Params<TopParams>) -> Result<Json<Value>> {
            admin_only(&p)?;
            let rows = top(&state, $group, q.limit).await?;
            Ok(Json(Value::from(
                rows.into_iter().map(|(k, s)| json!({$label: k, "total_spend": s})).collect::<Vec<_>>(),
            )))
        }
    };
}

top_report!(by_model, TotalsGroup::ModelGroup, "model");
top_report!(by_end_user, TotalsGroup::EndUser, "end_user");
top_report!(by_tag, TotalsGroup::Tag, "individual_request_tag");

/// GET /global/spend/keys: the top keys of the last 30 days, with alias and team.
pub async fn by_key(
    State(state): State<AppState>,
    p: Principal,
    Params(q): Params<TopParams>,
) -> Result<Json<Value>> {
    admin_only(&p)?;
    let rows = top(&state, TotalsGroup::ApiKey, q.limit).await?;
    let hashes: Vec<String> = rows.iter().map(|(k, _)| k.clone()).collect();
    let metas = state.store.token_metadata(&hashes).await?;
    let out: Vec<Value> = rows
        .into_iter()
        .map(|(k, s)| {
            let m = metas.get(&k);
            json!({"api_key": k, "total_spend": s, "key_alias": m.and_then(|m| m.key_alias.clone()), "team_id": m.and_then(|m| m.team_id.clone())})
        })
        .collect();
    Ok(Json(Value::from(out)))
}

/// GET /global/spend/teams
pub async fn by_team(
    State(state): State<AppState>,
    p: Principal,
    Params(q): Params<TopParams>,
) -> Result<Json<Value>> {
    admin_only(&p)?;
    let rows = top(&state, TotalsGroup::Team, q.limit).await?;
    let mut out = Vec::with_capacity(rows.len());
    for (team_id, spend) in rows {
        let alias = state
            .store
            .get::<TeamRecord>(&[&team_id])
            .await?
            .and_then(|t| t.team_alias);
        out.push(json!({"team_id": team_id, "team_alias": alias, "total_spend": spend}));
    }
    Ok(Json(json!({"total_spend_per_team": out})))
}

/// POST /global/spend/reset (master key only): zeroes the spend of every key and team.
pub async fn reset(State(state): State<AppState>, actor: Actor) -> Result<Json<Value>> {
    let mut batch = Vec::new();
    for k in state
        .store
        .list::<KeyRecord>(&Query::default())
        .await?
        .items
    {
        batch.push(Write::SetSpend {
            kind: Kind::Key,
            pk: vec![k.key_id.clone()],
            spend: 0.0,
        });
        state.set_spend(&Entity::Key(k.key_id), 0.0).await;
    }
    for t in state
        .store
        .list::<TeamRecord>(&Query::default())
        .await?
        .items
    {
        batch.push(Write::SetSpend {
            kind: Kind::Team,
            pk: vec![t.team_id.clone()],
            spend: 0.0,
        });
        state.set_spend(&Entity::Team(t.team_id), 0.0).await;
    }
    batch.push(actor.audit("spend_reset", Kind::Key, "*", None, None));
    state.store.apply(batch).await?;
    state.keys.invalidate_all();
    Ok(Json(
        json!({"message": "Spend for all API Keys and Teams reset successfully", "status": "success"}),
    ))
}
