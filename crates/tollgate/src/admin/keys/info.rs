//! `/key/info` and `/v2/key/info`. A token that was regenerated or deleted still answers, with
//! its key as it was and `info.status` saying what became of it.

use axum::extract::State;
use axum::Json;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tollgate_store::{KeyRecord, TokenEntry};

use super::{administers, can_manage, render};
use crate::auth::{keys, Principal};
use crate::http::{Body, Error, Params, Result};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct InfoQuery {
    key: Option<String>,
}

/// GET /key/info
pub async fn info(
    State(state): State<AppState>,
    principal: Principal,
    Params(q): Params<InfoQuery>,
) -> Result<Json<Value>> {
    let (passed, token) = match (q.key, principal.token.clone()) {
        (Some(k), _) => {
            let h = keys::to_hash(&k);
            (k, h)
        }
        (None, Some(own)) => (own.clone(), own),
        (None, None) => {
            return Err(Error::invalid(
                Some("key".into()),
                "Pass the key to look up as ?key=",
            ))
        }
    };
    let info = key_info(&state, &principal, &token).await?;
    Ok(Json(json!({ "key": passed, "info": info })))
}

/// The info object of one token hash, live or retired.
async fn key_info(state: &AppState, p: &Principal, token: &str) -> Result<Value> {
    if let Some(key) = state.store.key_by_token(token).await? {
        check_visible(state, p, &key, token).await?;
        let mut out = render(&key, None)?;
        let live = state
            .ledger
            .current(&crate::limits::Entity::Key(key.key_id.clone()), key.spend);
        out.insert("spend".into(), Value::from(live));
        out.insert("status".into(), Value::from(live_status(&key)));
        add_history(state, &mut out, &key.key_id).await?;
        return Ok(Value::Object(out));
    }
    let Some(entry) = state.store.token(token).await? else {
        return Err(Error::NotFound("Key not found in database".into()));
    };
    let Some(snapshot) = entry.snapshot.clone() else {
        return Err(Error::NotFound("Key not found in database".into()));
    };
    check_visible(state, p, &snapshot, token).await?;
    let mut out = render(&snapshot, None)?;
    retired_fields(&mut out, &entry);
    add_history(state, &mut out, &entry.key_id).await?;
    Ok(Value::Object(out))
}

fn live_status(key: &KeyRecord) -> &'static str {
    if key.blocked == Some(true) {
        "blocked"
    } else if key.expires.is_some_and(|e| e < Utc::now()) {
        "expired"
    } else {
        "active"
    }
}

fn retired_fields(out: &mut Map<String, Value>, entry: &TokenEntry) {
    let status = entry.status.as_str();
    out.insert("status".into(), Value::from(status));
    out.insert(format!("{status}_at"), json!(entry.retired_at));
    out.insert(format!("{status}_by"), json!(entry.retired_by));
    if let Some(grace) = entry.grace_until {
        out.insert("grace_period_ends_at".into(), json!(grace));
    }
}

async fn add_history(state: &AppState, out: &mut Map<String, Value>, key_id: &str) -> Result<()> {
    let history: Vec<Value> = state
        .store
        .key_tokens(key_id)
        .await?
        .into_iter()
        .map(|t| {
            json!({
                "token": t.token,
                "status": t.status,
                "issued_at": t.issued_at,
                "retired_at": t.retired_at,
            })
        })
        .collect();
    out.insert("token_history".into(), Value::from(history));
    Ok(())
}

/// Admins see every key; others their own keys, keys they administer, and the key they call with.
async fn check_visible(
    state: &AppState,
    p: &Principal,
    key: &KeyRecord,
    token: &str,
) -> Result<()> {
    if p.sees_all() || p.token.as_deref() == Some(token) || can_manage(state, p, key).await? {
        return Ok(());
    }
    if administers(state, p, key).await? {
        return Ok(());
    }
    Err(Error::Forbidden(format!(
        "You are not allowed to access this key's info. Your role={}",
        p.role
    )))
}

#[derive(Debug, Deserialize)]
pub struct InfoV2Request {
    keys: Vec<String>,
}

/// POST /v2/key/info: several keys at once; unknown keys are left out.
pub async fn info_v2(
    State(state): State<AppState>,
    principal: Principal,
    Body(req): Body<InfoV2Request>,
) -> Result<Json<Value>> {
    let mut infos = Vec::with_capacity(req.keys.len());
    for k in &req.keys {
        match key_info(&state, &principal, &keys::to_hash(k)).await {
            Ok(v) => infos.push(v),
            Err(Error::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Json(json!({ "key": req.keys, "info": infos })))
}
