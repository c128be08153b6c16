//! `/key/delete`, `/key/regenerate` (both forms), `/key/block` and `/key/unblock`. Deletion and
//! regeneration retire the old token into the token history in the same transaction as the
//! change itself: if the archive step fails, nothing changes and the request fails.

use axum::extract::{Path, State};
use axum::Json;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Value};
use tollgate_store::{KeyRecord, Kind, Query, SqlValue, TokenStatus, Write};

use super::write::{check_custom_key, key_conflict, missing};
use super::{administers, can_manage, find, render, validate, KeyFields};
use crate::admin::common::{parse_period, to_value, Actor};
use crate::auth::keys;
use crate::http::{Body, Error, Result};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DeleteRequest {
    keys: Option<Vec<String>>,
    key_aliases: Option<Vec<String>>,
}

/// POST /key/delete
pub async fn delete(
    State(state): State<AppState>,
    actor: Actor,
    Body(req): Body<DeleteRequest>,
) -> Result<Json<Value>> {
    let (found, passed) = match (req.keys, req.key_aliases) {
        (Some(k), _) if !k.is_empty() => {
            let hashes: Vec<SqlValue> = k.iter().map(|k| keys::to_hash(k).into()).collect();
            (lookup(&state, "token", hashes).await?, k)
        }
        (_, Some(a)) if !a.is_empty() => {
            let aliases: Vec<SqlValue> = a.iter().map(|a| a.as_str().into()).collect();
            (lookup(&state, "key_alias", aliases).await?, a)
        }
        _ => {
            return Err(Error::invalid(
                Some("keys".into()),
                "At least one of 'keys' or 'key_aliases' must be provided.",
            ))
        }
    };
    if found.is_empty() {
        return Err(Error::NotFound("No keys found".into()));
    }
    if found.len() < passed.len() {
        return Err(Error::NotFound(format!(
            "Only {} of the {} keys passed exist; nothing was deleted",
            found.len(),
            passed.len()
        )));
    }
    for key in &found {
        if !can_manage(&state, &actor.principal, key).await? {
            return Err(Error::Forbidden(
                "You are not authorized to delete this key".into(),
            ));
        }
    }
    let mut batch = Vec::new();
    for key in &found {
        batch.extend(delete_writes(&actor, key)?);
    }
    state.store.apply(batch).await?;
    for key in &found {
        state.changed(crate::changes::Change::Key {
            id: key.key_id.clone(),
        });
    }
    Ok(Json(json!({ "deleted_keys": passed })))
}

async fn lookup(
    state: &AppState,
    column: &'static str,
    values: Vec<SqlValue>,
) -> Result<Vec<KeyRecord>> {
    let q = Query::default().filter(tollgate_store::Filter::In(column, values));
    Ok(state.store.list::<KeyRecord>(&q).await?.items)
}

/// The writes that delete one key: retire its token with a snapshot, remove the row, audit.
pub fn delete_writes(actor: &Actor, key: &KeyRecord) -> Result<Vec<Write>> {
    Ok(vec![
        Write::RetireToken {
            token: key.token.clone(),
            status: TokenStatus::Deleted,
            snapshot: Box::new(key.clone()),
            at: Utc::now(),
            by: actor.who(),
            grace_until: None,
        },
        Write::delete(key),
        actor.audit(
            "deleted",
            Kind::Key,
            &key.key_id,
            Some(to_value(key)?),
            None,
        ),
    ])
}

/// POST /key/regenerate
pub async fn regenerate(
    State(state): State<AppState>,
    actor: Actor,
    Body(mut req): Body<KeyFields>,
) -> Result<Json<Value>> {
    let Some(key) = req.key.take() else {
        return Err(missing("key"));
    };
    regenerate_key(&state, &actor, &key, req).await
}

/// POST /key/{key}/regenerate
pub async fn regenerate_path(
    State(state): State<AppState>,
    actor: Actor,
    Path(key): Path<String>,
    Body(req): Body<KeyFields>,
) -> Result<Json<Value>> {
    regenerate_key(&state, &actor, &key, req).await
}

async fn regenerate_key(
    state: &AppState,
    actor: &Actor,
    passed: &str,
    mut req: KeyFields,
) -> Result<Json<Value>> {
    let Some(old) = find(state, passed).await? else {
        return Err(Error::NotFound(format!("Key {} not found.", shown(passed))));
    };
    if !can_manage(state, &actor.principal, &old).await? {
        return Err(Error::Forbidden(
            "You are not authorized to regenerate this key".into(),
        ));
    }
    let now = Utc::now();
    let grace_until = match req.grace_period.as_deref().filter(|g| !g.is_empty()) {
        Some(g) => Some(parse_period("grace_period", g)?.add_to(now)),
        None => None,
    };
    let raw = match req.new_key.take() {
        Some(k) => {
            check_custom_key("new_key", &k)?;
            k
        }
        None => keys::generate(),
    };
    let mut key = old.clone();
    req.apply(&mut key, now)?;
    validate(state, &mut key).await?;
    key.token = keys::hash(&raw);
    key.key_name = Some(keys::display_name(&raw));
    key.rotation_count += 1;
    key.last_rotation_at = Some(now);
    key.updated_at = now;
    key.updated_by = actor.who();
    if state.store.token(&key.token).await?.is_some() {
        return Err(Error::bad_field(
            "new_key",
            "This key value has already been used. Pass a new key.",
        ));
    }
    let batch = vec![
        Write::RetireToken {
            token: old.token.clone(),
            status: TokenStatus::Regenerated,
            snapshot: Box::new(old.clone()),
            at: now,
            by: actor.who(),
            grace_until,
        },
        Write::IssueToken {
            token: key.token.clone(),
            key_id: key.key_id.clone(),
            at: now,
        },
        Write::update(&key)?,
        actor.audit(
            "regenerated",
            Kind::Key,
            &key.key_id,
            Some(to_value(&old)?),
            Some(to_value(&key)?),
        ),
    ];
    state.store.apply(batch).await.map_err(|e| match e {
        tollgate_store::StoreError::NotFound(what) => Error::Internal(format!(
            "Regeneration failed and nothing was changed: could not archive the old token ({what})"
        )),
        other => key_conflict(other, &key),
    })?;
    state.changed(crate::changes::Change::Key {
        id: key.key_id.clone(),
    });
    Ok(Json(Value::Object(render(&key, Some(&raw))?)))
}

fn shown(passed: &str) -> String {
    if passed.starts_with("sk-") {
        keys::masked(passed)
    } else {
        passed.to_owned()
    }
}

#[derive(Debug, Deserialize)]
pub struct BlockRequest {
    key: String,
}

/// POST /key/block
pub async fn block(
    State(state): State<AppState>,
    actor: Actor,
    Body(req): Body<BlockRequest>,
) -> Result<Json<Value>> {
    set_blocked(&state, &actor, &req.key, true).await
}

/// POST /key/unblock
pub async fn unblock(
    State(state): State<AppState>,
    actor: Actor,
    Body(req): Body<BlockRequest>,
) -> Result<Json<Value>> {
    set_blocked(&state, &actor, &req.key, false).await
}

async fn set_blocked(
    state: &AppState,
    actor: &Actor,
    passed: &str,
    blocked: bool,
) -> Result<Json<Value>> {
    let Some(mut key) = find(state, passed).await? else {
        return Err(Error::NotFound("Key not found.".into()));
    };
    if !administers(state, &actor.principal, &key).await? {
        return Err(Error::Forbidden(
            "Only proxy admins, team admins and org admins may block or unblock keys".into(),
        ));
    }
    let before = to_value(&key)?;
    key.blocked = Some(blocked);
    key.updated_at = Utc::now();
    key.updated_by = actor.who();
    let action = if blocked { "blocked" } else { "unblocked" };
    state
        .store
        .apply(vec![
            Write::update(&key)?,
            actor.audit(
                action,
                Kind::Key,
                &key.key_id,
                Some(before),
                Some(to_value(&key)?),
            ),
        ])
        .await?;
    state.changed(crate::changes::Change::Key {
        id: key.key_id.clone(),
    });
    Ok(Json(Value::Object(render(&key, None)?)))
}
