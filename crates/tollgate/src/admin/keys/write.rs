//! `/key/generate` and `/key/update`.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde_json::Value;
use tollgate_store::{JsonMap, KeyRecord, Kind, StoreError, TeamRecord, Write};

use super::{alias_taken, can_manage, find, is_org_admin, render, validate, KeyFields};
use crate::admin::common::{new_id, to_value, Actor};
use crate::auth::keys::{self, MIN_CUSTOM_KEY_LEN};
use crate::auth::{Principal, Role};
use crate::http::{Body, Error, Result};
use crate::state::AppState;

/// A fresh key record with nothing set.
pub fn blank_key(key_id: String, token: String, now: DateTime<Utc>) -> KeyRecord {
    KeyRecord {
        key_id,
        token,
        key_name: None,
        key_alias: None,
        spend: 0.0,
        max_budget: None,
        soft_budget: None,
        expires: None,
        models: Vec::new(),
        aliases: JsonMap::new(),
        config: JsonMap::new(),
        permissions: JsonMap::new(),
        metadata: JsonMap::new(),
        user_id: None,
        team_id: None,
        organization_id: None,
        budget_id: None,
        max_parallel_requests: None,
        tpm_limit: None,
        rpm_limit: None,
        budget_duration: None,
        budget_reset_at: None,
        allowed_routes: Vec::new(),
        allowed_cache_controls: Vec::new(),
        model_max_budget: JsonMap::new(),
        model_spend: JsonMap::new(),
        blocked: None,
        rotation_count: 0,
        last_rotation_at: None,
        created_at: now,
        updated_at: now,
        created_by: None,
        updated_by: None,
    }
}

/// Checks a custom key value.
pub fn check_custom_key(field: &str, raw: &str) -> Result<()> {
    if !raw.starts_with("sk-") {
        return Err(Error::bad_field(
            field,
            format!(
                "Invalid key format. Virtual keys must start with 'sk-'. Received: {}",
                keys::masked(raw)
            ),
        ));
    }
    if raw.len() < MIN_CUSTOM_KEY_LEN {
        return Err(Error::bad_field(
            field,
            format!(
                "Invalid key format. Keys must be at least {MIN_CUSTOM_KEY_LEN} characters long."
            ),
        ));
    }
    if raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(Error::bad_field(
            field,
            "Invalid key format. Keys must not contain whitespace.",
        ));
    }
    Ok(())
}

/// Creates a key and the first entry of its token history, in one transaction.
pub async fn create_key(
    state: &AppState,
    actor: &Actor,
    raw: Option<String>,
    fields: KeyFields,
) -> Result<(KeyRecord, String)> {
    let now = Utc::now();
    let raw = match raw {
        Some(k) => {
            check_custom_key("key", &k)?;
            k
        }
        None => keys::generate(),
    };
    let mut fields = fields;
    let litellm = &state.settings.config.litellm_settings;
    if let Some(defaults) = &litellm.default_key_generate_params {
        super::params::apply_defaults(&mut fields, defaults);
    }
    if let Some(bound) = &litellm.upperbound_key_generate_params {
        super::params::enforce_upperbound(&mut fields, bound, now)?;
    }
    let mut key = blank_key(new_id(), keys::hash(&raw), now);
    key.key_name = Some(keys::display_name(&raw));
    key.created_by = actor.who();
    key.updated_by = actor.who();
    fields.apply(&mut key, now)?;
    scope_to_caller(state, &actor.principal, &mut key).await?;
    validate(state, &mut key).await?;
    if state.store.token(&key.token).await?.is_some() {
        return Err(Error::bad_field(
            "key",
            "This key value has already been used. Pass a new key.",
        ));
    }
    let batch = vec![
        Write::insert(&key)?,
        Write::IssueToken {
            token: key.token.clone(),
            key_id: key.key_id.clone(),
            at: now,
        },
        actor.audit(
            "created",
            Kind::Key,
            &key.key_id,
            None,
            Some(to_value(&key)?),
        ),
    ];
    state
        .store
        .apply(batch)
        .await
        .map_err(|e| key_conflict(e, &key))?;
    Ok((key, raw))
}

/// POST /key/generate
pub async fn generate(
    State(state): State<AppState>,
    actor: Actor,
    Body(mut fields): Body<KeyFields>,
) -> Result<Json<Value>> {
    let custom = fields.key.take();
    let (key, raw) = create_key(&state, &actor, custom, fields).await?;
    Ok(Json(Value::Object(render(&key, Some(&raw))?)))
}

/// Maps a unique-constraint failure on a key to the error its field deserves.
pub fn key_conflict(e: StoreError, key: &KeyRecord) -> Error {
    match (&e, key.key_alias.as_deref()) {
        (StoreError::Conflict(msg), Some(alias)) if msg.contains("key_alias") => alias_taken(alias),
        _ => e.into(),
    }
}

/// Non-admins create and move keys only for themselves, and only into teams that let them.
async fn scope_to_caller(state: &AppState, p: &Principal, key: &mut KeyRecord) -> Result<()> {
    if p.is_proxy_admin() {
        return Ok(());
    }
    let Some(uid) = p.user_id.clone() else {
        return Err(Error::Forbidden(
            "Only keys that belong to a user may create or move keys.".into(),
        ));
    };
    match key.user_id.as_deref() {
        Some(other) if other != uid => {
            return Err(Error::Forbidden(format!(
            "You can only manage keys of your own user. Your user_id={uid}, passed user_id={other}"
        )))
        }
        _ => key.user_id = Some(uid.clone()),
    }
    if let Some(team_id) = key.team_id.clone() {
        check_team_key_permission(state, p, &uid, &team_id).await?;
    }
    Ok(())
}

async fn check_team_key_permission(
    state: &AppState,
    p: &Principal,
    uid: &str,
    team_id: &str,
) -> Result<()> {
    let Some(team) = state.store.get::<TeamRecord>(&[team_id]).await? else {
        return Err(Error::bad_field(
            "team_id",
            format!("Team not found for team_id={team_id}"),
        ));
    };
    if let (Role::OrgAdmin, Some(org)) = (p.role, team.organization_id.as_deref()) {
        if is_org_admin(state, org, uid).await? {
            return Ok(());
        }
    }
    let member = state
        .store
        .get::<tollgate_store::TeamMember>(&[team_id, uid])
        .await?
        .ok_or_else(|| Error::Forbidden(format!("User={uid} is not a member of Team={team_id}")))?;
    let allowed = member.role == "admin"
        || team
            .team_member_permissions
            .iter()
            .any(|r| r == "/key/generate");
    if !allowed {
        return Err(Error::Forbidden(format!(
            "User={uid} may not create keys for Team={team_id}: ask a team admin to add \
             /key/generate to the team's team_member_permissions"
        )));
    }
    Ok(())
}

/// POST /key/update
pub async fn update(
    State(state): State<AppState>,
    actor: Actor,
    Body(mut fields): Body<KeyFields>,
) -> Result<Json<Value>> {
    let Some(passed) = fields.key.take() else {
        return Err(missing("key"));
    };
    let Some(mut key) = find(&state, &passed).await? else {
        return Err(Error::NotFound("Key not found.".into()));
    };
    if !can_manage(&state, &actor.principal, &key).await? {
        return Err(Error::Forbidden(
            "You are not authorized to update this key".into(),
        ));
    }
    let before = to_value(&key)?;
    let new_spend = fields.spend.value().copied();
    let moved = !fields.team_id.is_absent() || !fields.user_id.is_absent();
    let now = Utc::now();
    fields.apply(&mut key, now)?;
    if moved {
        if !req_changes_org(&before, &key) {
            key.organization_id = None;
        }
        scope_to_caller(&state, &actor.principal, &mut key).await?;
    }
    validate(&state, &mut key).await?;
    key.updated_at = now;
    key.updated_by = actor.who();
    let mut batch = vec![Write::update(&key)?];
    if let Some(spend) = new_spend {
        batch.push(Write::SetSpend {
            kind: Kind::Key,
            pk: vec![key.key_id.clone()],
            spend,
        });
    }
    batch.push(actor.audit(
        "updated",
        Kind::Key,
        &key.key_id,
        Some(before),
        Some(to_value(&key)?),
    ));
    state
        .store
        .apply(batch)
        .await
        .map_err(|e| key_conflict(e, &key))?;
    if let Some(spend) = new_spend {
        let entity = crate::limits::Entity::Key(key.key_id.clone());
        state.set_spend(&entity, spend).await;
    }
    state.keys.invalidate_key(&key.key_id);
    let mut out = render(&key, None)?;
    out.insert("key".into(), Value::from(passed));
    Ok(Json(Value::Object(out)))
}

/// Whether the update set the organization explicitly (else it follows the new team).
fn req_changes_org(before: &Value, key: &KeyRecord) -> bool {
    before.get("organization_id").and_then(Value::as_str) != key.organization_id.as_deref()
}

/// The 422 of a missing required field.
pub fn missing(field: &str) -> Error {
    Error::invalid(
        Some(field.to_owned()),
        format!("Invalid request: field `{field}`: missing field `{field}`"),
    )
}
