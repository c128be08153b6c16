//! `/model/new`, `/model/update` (and `PATCH /model/{id}/update`), `/model/delete`: model
//! deployments stored in the database (with `store_model_in_db`). Upstream secrets are stored
//! encrypted and never returned; every change rebuilds the router at once.

mod crypto;

use axum::extract::{Path, State};
use axum::Json;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tollgate_store::{JsonMap, Kind, ModelRecord, Query, Write};

pub use crypto::SecretBox;

use super::common::{new_id, Actor};
use crate::config::ModelEntry;
use crate::http::{Body, Error, Patch, Result};
use crate::router::{Deployment, Router};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ModelFields {
    /// Update: which model (also accepted as `model_info.id`).
    model_id: Option<String>,
    model_name: Patch<String>,
    litellm_params: Option<JsonMap>,
    model_info: Option<JsonMap>,
}

fn secret_box(state: &AppState) -> Result<SecretBox> {
    let s = &state.settings;
    let salt = s.salt_key.as_ref().or(s.master_key.as_ref()).ok_or_else(|| {
        Error::bad_request("Set LITELLM_SALT_KEY (or a master key) so that model secrets can be stored encrypted")
    })?;
    Ok(SecretBox::new(salt.expose()))
}

fn require_db_models(state: &AppState) -> Result<()> {
    if state.settings.store_model_in_db {
        return Ok(());
    }
    Err(Error::bad_request(
        "Set 'STORE_MODEL_IN_DB=True' in your env (or general_settings.store_model_in_db: true) to manage models through the API",
    ))
}

fn require_admin(actor: &Actor) -> Result<()> {
    if actor.principal.is_proxy_admin() {
        return Ok(());
    }
    Err(Error::Forbidden(
        "Only proxy admins can manage models".into(),
    ))
}

/// Encrypts secret fields of `litellm_params`, leaving others as they are.
fn seal(sb: &SecretBox, params: JsonMap) -> Result<JsonMap> {
    params
        .into_iter()
        .map(|(k, v)| match (&v, crypto::is_secret(&k)) {
            (Value::String(s), true) => Ok((
                k,
                Value::from(sb.encrypt(s).map_err(|e| Error::Internal(e.to_string()))?),
            )),
            _ => Ok((k, v)),
        })
        .collect()
}

/// Checks that a model would make a working deployment before storing it.
fn check_deployment(name: &str, params: &JsonMap, info: &JsonMap) -> Result<()> {
    let entry = entry_of(name, params.clone(), info.clone())?;
    let env = |_: &str| None;
    Deployment::from_entry(&entry, true, std::time::Duration::from_secs(600), &env)
        .map(|_| ())
        .map_err(|e| Error::bad_field("litellm_params", e.to_string()))?;
    Ok(())
}

fn entry_of(name: &str, params: JsonMap, info: JsonMap) -> Result<ModelEntry> {
    let v = json!({"model_name": name, "litellm_params": params, "model_info": info});
    serde_json::from_value(v)
        .map_err(|e| Error::bad_field("litellm_params", format!("litellm_params: {e}")))
}

/// POST /model/new
pub async fn new(
    State(state): State<AppState>,
    actor: Actor,
    Body(req): Body<ModelFields>,
) -> Result<Json<Value>> {
    require_db_models(&state)?;
    require_admin(&actor)?;
    let Some(name) = req.model_name.value().cloned().filter(|n| !n.is_empty()) else {
        return Err(Error::invalid(
            Some("model_name".into()),
            "Invalid request: field `model_name`: missing field `model_name`",
        ));
    };
    let params = req.litellm_params.unwrap_or_default();
    if params
        .get("model")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(Error::invalid(
            Some("litellm_params.model".into()),
            "Invalid request: field `litellm_params.model`: missing field `model`",
        ));
    }
    let mut info = req.model_info.unwrap_or_default();
    check_deployment(&name, &params, &info)?;
    let model_id = info
        .get("id")
        .and_then(Value::as_str)
        .map_or_else(new_id, str::to_owned);
    info.insert("id".into(), Value::from(model_id.clone()));
    let now = Utc::now();
    let record = ModelRecord {
        model_id: model_id.clone(),
        model_name: name,
        litellm_params: seal(&secret_box(&state)?, params)?,
        model_info: info,
        created_at: now,
        updated_at: now,
        created_by: actor.who(),
        updated_by: actor.who(),
    };
    state
        .store
        .apply(vec![
            Write::insert(&record)?,
            actor.audit(
                "created",
                Kind::Model,
                &model_id,
                None,
                Some(public(&record)),
            ),
        ])
        .await?;
    reload(&state).await?;
    state.announce(crate::changes::Change::Models);
    Ok(Json(public(&record)))
}

/// A stored model as the API shows it: secret fields removed.
fn public(r: &ModelRecord) -> Value {
    let params: Map<String, Value> = r
        .litellm_params
        .iter()
        .filter(|(k, _)| !crypto::is_secret(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    json!({"model_id": r.model_id, "model_name": r.model_name, "litellm_params": params, "model_info": r.model_info,
           "created_at": r.created_at, "updated_at": r.updated_at})
}

/// GET /model/{model_id}/info: one stored model as it was written (secrets left out), 404
/// when there is none. `/model/info` shows the router's view instead, which normalises fields.
pub async fn info(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    require_db_models(&state)?;
    require_admin(&actor)?;
    let Some(record) = state.store.get::<ModelRecord>(&[&id]).await? else {
        return Err(Error::NotFound(format!(
            "Model with id={id} not found in db"
        )));
    };
    Ok(Json(public(&record)))
}

/// POST /model/update
pub async fn update(
    State(state): State<AppState>,
    actor: Actor,
    Body(req): Body<ModelFields>,
) -> Result<Json<Value>> {
    let id = req.model_id.clone().or_else(|| {
        req.model_info
            .as_ref()
            .and_then(|i| i.get("id"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    let Some(id) = id else {
        return Err(Error::invalid(
            Some("model_id".into()),
            "Pass model_id (or model_info.id) to update a model",
        ));
    };
    update_model(&state, &actor, &id, req).await
}

/// PATCH /model/{model_id}/update
pub async fn update_path(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    Body(req): Body<ModelFields>,
) -> Result<Json<Value>> {
    update_model(&state, &actor, &id, req).await
}

async fn update_model(
    state: &AppState,
    actor: &Actor,
    id: &str,
    req: ModelFields,
) -> Result<Json<Value>> {
    require_db_models(state)?;
    require_admin(actor)?;
    let Some(mut record) = state.store.get::<ModelRecord>(&[id]).await? else {
        return Err(Error::NotFound(format!(
            "Model with id={id} not found in db"
        )));
    };
    let before = public(&record);
    let sb = secret_box(state)?;
    if let Some(name) = req.model_name.value() {
        record.model_name = name.clone();
    }
    if let Some(params) = req.litellm_params {
        record.litellm_params.extend(seal(&sb, params)?);
    }
    if let Some(info) = req.model_info {
        record.model_info.extend(info);
        record
            .model_info
            .insert("id".into(), Value::from(record.model_id.clone()));
    }
    let plain = open(&sb, &record.litellm_params)?;
    check_deployment(&record.model_name, &plain, &record.model_info)?;
    record.updated_at = Utc::now();
    record.updated_by = actor.who();
    state
        .store
        .apply(vec![
            Write::update(&record)?,
            actor.audit(
                "updated",
                Kind::Model,
                id,
                Some(before),
                Some(public(&record)),
            ),
        ])
        .await?;
    reload(state).await?;
    state.announce(crate::changes::Change::Models);
    Ok(Json(public(&record)))
}

#[derive(Debug, Deserialize)]
pub struct DeleteModel {
    id: String,
}

/// POST /model/delete
pub async fn delete(
    State(state): State<AppState>,
    actor: Actor,
    Body(req): Body<DeleteModel>,
) -> Result<Json<Value>> {
    require_db_models(&state)?;
    require_admin(&actor)?;
    let Some(record) = state.store.get::<ModelRecord>(&[&req.id]).await? else {
        return Err(Error::NotFound(format!(
            "Model with id={} not found in db",
            req.id
        )));
    };
    state
        .store
        .apply(vec![
            Write::delete(&record),
            actor.audit("deleted", Kind::Model, &req.id, Some(public(&record)), None),
        ])
        .await?;
    reload(&state).await?;
    state.announce(crate::changes::Change::Models);
    Ok(Json(
        json!({"message": format!("Model: {} deleted successfully", req.id)}),
    ))
}

fn open(sb: &SecretBox, params: &JsonMap) -> Result<JsonMap> {
    params
        .iter()
        .map(|(k, v)| match (v, crypto::is_secret(k)) {
            (Value::String(s), true) => sb
                .decrypt(s)
                .map(|p| (k.clone(), Value::from(p)))
                .map_err(|e| Error::Internal(format!("model secret {k}: {e}"))),
            _ => Ok((k.clone(), v.clone())),
        })
        .collect()
}

/// Rebuilds the router from the config and the stored models.
pub async fn reload(state: &AppState) -> Result<()> {
    let router = build(state).await?;
    state.set_router(router);
    Ok(())
}

/// The config's deployments plus every stored model that can be read.
pub async fn build(state: &AppState) -> Result<Router> {
    let mut deployments = crate::state::config_deployments(&state.settings)
        .map_err(|e| Error::Internal(e.to_string()))?;
    if state.settings.store_model_in_db {
        let sb = secret_box(state).ok();
        let stored = state.store.list::<ModelRecord>(&Query::default()).await?;
        for r in stored.items {
            let params = match sb.as_ref().map(|sb| open(sb, &r.litellm_params)) {
                Some(Ok(p)) => p,
                Some(Err(e)) => {
                    tracing::error!(model_id = %r.model_id, "skipping stored model: {e}");
                    continue;
                }
                None => r.litellm_params.clone(),
            };
            let entry = entry_of(&r.model_name, params, r.model_info.clone())?;
            let env = |name: &str| std::env::var(name).ok();
            match Deployment::from_entry(
                &entry,
                true,
                crate::state::default_timeout(&state.settings),
                &env,
            ) {
                Ok(d) => deployments.push(d),
                Err(e) => tracing::error!(model_id = %r.model_id, "skipping stored model: {e}"),
            }
        }
    }
    Ok(Router::new(
        deployments,
        crate::state::aliases(&state.settings),
    ))
}
