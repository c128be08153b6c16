//! Admission of an inference request: the model, access, customer, budgets, rate limits and
//! the deployment, all from memory. What comes out is an owned [`Admitted`] call.

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use serde_json::Value;

use super::access;
use super::call::{CallKind, CallMeta, Permit};
use super::request::ClientRequest;
use crate::auth::Principal;
use crate::http::{Error, Result};
use crate::limits::check::{self, Subject};
use crate::limits::rate::Limit;
use crate::limits::rate::Remaining;
use crate::limits::shared::admission;
use crate::state::AppState;

/// A call that passed every check.
pub struct Admitted {
    pub meta: CallMeta,
    /// Whether the client asked for the usage chunk of a stream.
    pub client_wants_usage: bool,
    pub permit: Permit,
    pub remaining: Vec<Remaining>,
}

pub async fn admit(
    state: &AppState,
    p: &Principal,
    kind: CallKind,
    request: ClientRequest,
    path_model: Option<String>,
) -> Result<Admitted> {
    let started = Instant::now();
    let requested =
        match path_model.or_else(|| request.str("model").map(std::borrow::Cow::into_owned)) {
            Some(m) if !m.is_empty() => m,
            _ => {
                return Err(Error::bad_field(
                    "model",
                    "model is required: pass the model to call",
                ))
            }
        };
    let auth = p.key.clone();
    let model: &str = auth
        .as_ref()
        .and_then(|a| a.key.aliases.get(&requested))
        .and_then(Value::as_str)
        .unwrap_or(&requested);
    if let Some(a) = &auth {
        access::check_model(a, model)?;
    }
    let end_user = request
        .str("user")
        .filter(|u| !u.is_empty())
        .map(std::borrow::Cow::into_owned);
    let customer = match &end_user {
        Some(id) => state.customers.get(state, id).await?,
        None => None,
    };
    if let Some(c) = customer.as_ref().filter(|c| c.record.blocked) {
        return Err(Error::Forbidden(format!(
            "End user {} is blocked. Update via /customer/unblock",
            c.record.user_id
        )));
    }
    let tags = request_tags(&request, auth.as_ref().map(|a| &a.key.metadata));
    let subject = Subject {
        auth: auth.as_deref(),
        customer: customer.as_deref(),
        tags: &tags,
    };
    let global_max = state.settings.config.litellm_settings.max_budget;
    let budgets = check::budgets(&subject, global_max);
    let limits = check::rate_limits(&subject, model);
    // The deployment is chosen from memory first, so that the one Redis round trip (with
    // Redis) both reads the budgets' spend and counts the request; a spent budget is still
    // reported before an unknown model.
    let deployment = pick(state, model, kind).await;
    let to_count = if deployment.is_ok() { &limits[..] } else { &[] };
    let shared = state.shared_limits.as_deref();
    let admission = admission(&state.ledger, shared, &budgets, to_count).await;
    // Counted already: a refusal below must give back its parallel slots.
    let counted = matches!(admission.rate, Some(Ok(_))).then(|| permit(state, to_count));
    check::check_budgets(&budgets, &admission.spend)?;
    let deployment = deployment?;
    let remaining = match admission.rate {
        Some(answer) => answer,
        None => match state.limiter.admit_now(&limits) {
            Some(answer) => answer,
            None => state.limiter.admit(&limits).await,
        },
    }
    .map_err(|r| check::refused(&r))?;
    let permit = counted.unwrap_or_else(|| permit(state, &limits));
    let entities = subject.entities(end_user.as_deref());
    let rate_keys = limits
        .iter()
        .filter(|l| l.tpm.is_some())
        .map(|l| l.key.clone())
        .collect();
    let client_wants_usage = request
        .get::<StreamOptions>("stream_options")
        .and_then(|o| o.include_usage)
        == Some(true);
    // The request as the client sent it; each attempt derives its upstream body from it, for
    // the deployment that attempt goes to.
    let request = Arc::new(request);
    let key = auth.as_ref().map(|a| &a.key);
    let meta = CallMeta {
        // Time-ordered ids: spend logs are keyed by them, and appending to an index is cheaper
        // than inserting at random places in it.
        call_id: uuid::Uuid::now_v7().to_string(),
        kind,
        requested_model: requested,
        deployment,
        api_key: p.token.clone().unwrap_or_default(),
        key_id: key.map(|k| k.key_id.clone()),
        key_alias: key.and_then(|k| k.key_alias.clone()),
        user_id: key.and_then(|k| k.user_id.clone()),
        team_id: key.and_then(|k| k.team_id.clone()),
        organization_id: key.and_then(|k| k.organization_id.clone()),
        end_user,
        tags,
        entities,
        rate_keys,
        started,
        started_at: Utc::now(),
        request,
        tried: super::attempts::Tried::default(),
        busy: None,
    };
    Ok(Admitted {
        meta,
        client_wants_usage,
        permit,
        remaining,
    })
}

/// Gives back the parallel-request slots of `limits` when dropped.
fn permit(state: &AppState, limits: &[Limit]) -> Permit {
    Permit {
        limiter: state.limiter.clone(),
        keys: limits
            .iter()
            .filter(|l| l.parallel.is_some())
            .map(|l| l.key.clone())
            .collect(),
    }
}

/// `stream_options` of a request, as far as admission reads it.
#[derive(serde::Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: Option<bool>,
}

/// Tags of a request: `metadata.tags` of the body, then the key's own tags.
fn request_tags(
    request: &ClientRequest,
    key_metadata: Option<&tollgate_store::JsonMap>,
) -> Vec<String> {
    let mut tags: Vec<String> = Vec::new();
    let metadata = request
        .raw("metadata")
        .and_then(|_| request.field("metadata"));
    let lists = [
        metadata.as_ref().and_then(|m| m.get("tags")),
        key_metadata.and_then(|m| m.get("tags")),
    ];
    for list in lists.into_iter().flatten() {
        for t in list
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !tags.iter().any(|x| x == t) {
                tags.push(t.to_owned());
            }
        }
    }
    tags
}

/// A deployment for the model, chosen by the `routing_strategy`, leaving out those cooling down
/// (groups of one never cool down) and those over their own rpm / tpm this minute.
pub(super) async fn pick(
    state: &AppState,
    model: &str,
    kind: CallKind,
) -> Result<std::sync::Arc<crate::router::Deployment>> {
    let router = state.router();
    let group = router.group(model);
    let cooled = if group.len() > 1 {
        let ids: Vec<String> = group.iter().map(|d| d.id.to_string()).collect();
        state.cooldowns.cooled(&ids).await
    } else {
        std::collections::HashSet::new()
    };
    let cost = |d: &crate::router::Deployment| super::call::price_per_token(state, d);
    if let Some(d) = router.pick_balanced(model, &cooled, &state.balancer, &cost) {
        return Ok(d);
    }
    if !group.is_empty() {
        // Every deployment is cooling down, or over its own limits until the minute ends.
        let secs = if cooled.len() == group.len() {
            state.cooldowns.cooldown().as_secs().max(1)
        } else {
            state.balancer.loads.secs_to_next_minute()
        };
        return Err(Error::RateLimited {
            message: format!(
                "No deployments available for selected model, Try again in {secs} seconds. Passed model={model}"
            ),
            retry_after: secs,
            limit_type: "cooldown",
        });
    }
    Err(Error::bad_field(
        "model",
        format!(
            "{}: Invalid model name passed in model={model}. Call `/v1/models` to view available models for your key.",
            kind.endpoint()
        ),
    ))
}
