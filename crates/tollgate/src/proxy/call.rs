//! One inference call from admission to its spend event: what kind of call it is, who it is
//! billed to, and the accounting when it ends (live spend, token counters, the spend log).

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use tollgate_store::SpendEvent;

use crate::limits::rate::RateLimiter;
use crate::limits::Entity;
use crate::router::Deployment;
use crate::spend::pricing::{self, Overrides, Usage};
use crate::state::AppState;

/// The OpenAI-format endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    Chat,
    Completion,
    Embedding,
    Responses,
    /// Anthropic's Messages API (`/v1/messages`).
    Messages,
}

impl CallKind {
    /// The format the client speaks.
    pub fn format(self) -> tollgate_llm::adapter::Format {
        match self {
            CallKind::Messages => tollgate_llm::adapter::Format::Anthropic,
            _ => tollgate_llm::adapter::Format::OpenAi,
        }
    }

    /// The upstream path, after the base URL.
    pub fn upstream_path(self) -> &'static str {
        match self {
            CallKind::Chat => "/chat/completions",
            CallKind::Completion => "/completions",
            CallKind::Embedding => "/embeddings",
            CallKind::Responses => "/responses",
            CallKind::Messages => "/messages",
        }
    }

    /// The endpoint as spend logs and daily rows name it.
    pub fn endpoint(self) -> &'static str {
        match self {
            CallKind::Chat => "/v1/chat/completions",
            CallKind::Completion => "/v1/completions",
            CallKind::Embedding => "/v1/embeddings",
            CallKind::Responses => "/v1/responses",
            CallKind::Messages => "/v1/messages",
        }
    }

    pub fn call_type(self) -> &'static str {
        match self {
            CallKind::Chat => "chat_completion",
            CallKind::Completion => "text_completion",
            CallKind::Embedding => "embedding",
            CallKind::Responses => "responses",
            CallKind::Messages => "anthropic_messages",
        }
    }
}

/// Everything about an admitted call that its accounting needs, owned, so that a stream can
/// finish after the handler has returned.
#[derive(Debug, Clone)]
pub struct CallMeta {
    pub call_id: String,
    pub kind: CallKind,
    pub requested_model: String,
    pub deployment: Arc<Deployment>,
    pub api_key: String,
    pub key_id: Option<String>,
    pub key_alias: Option<String>,
    pub user_id: Option<String>,
    pub team_id: Option<String>,
    pub organization_id: Option<String>,
    pub end_user: Option<String>,
    pub tags: Vec<String>,
    pub entities: Vec<Entity>,
    /// Rate-limit descriptors whose token counters this call feeds.
    pub rate_keys: Vec<String>,
    pub started: Instant,
    pub started_at: DateTime<Utc>,
    /// The request as the client sent it.
    pub request: Arc<super::request::ClientRequest>,
    /// Retries and fallbacks used (for the `x-litellm-attempted-*` headers).
    pub tried: super::attempts::Tried,
    /// Holds the serving deployment's in-flight count until the call (and its stream) ends.
    pub busy: Option<Arc<crate::router::load::Busy>>,
}

/// How a call ended.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub success: bool,
    pub usage: Option<Usage>,
    /// Text produced, for counting completion tokens when no usage came.
    pub completion_text: String,
    pub first_byte: Option<DateTime<Utc>>,
    pub error: Option<(u16, String)>,
}

/// Releases parallel-request slots when dropped.
pub struct Permit {
    pub limiter: Arc<dyn RateLimiter>,
    pub keys: Vec<String>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        if self.keys.is_empty() || self.limiter.release_now(&self.keys) {
            return;
        }
        let limiter = self.limiter.clone();
        let keys = std::mem::take(&mut self.keys);
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move { limiter.release(&keys).await });
        }
    }
}

/// The cost of a usage on a deployment (0 when the model has no price).
pub fn cost_of(state: &AppState, d: &Deployment, usage: &Usage) -> f64 {
    price_of(state, d).map_or(0.0, |p| pricing::cost(p, usage).total)
}

/// A deployment's input + output price per token, for cost-based routing.
pub fn price_per_token(state: &AppState, d: &Deployment) -> Option<f64> {
    let p = price_of(state, d)?;
    Some(p.input_cost_per_token.unwrap_or(0.0) + p.output_cost_per_token.unwrap_or(0.0))
}

/// A deployment's prices: its own, else the price table's for its (base) model. Looked up once
/// per deployment.
fn price_of<'d>(state: &AppState, d: &'d Deployment) -> Option<&'d pricing::ModelPrice> {
    d.price
        .get_or_init(|| {
            let overrides = Overrides {
                input_cost_per_token: d.input_cost_per_token,
                output_cost_per_token: d.output_cost_per_token,
                base_model: d
                    .model_info
                    .get("base_model")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                ..Overrides::default()
            };
            pricing::price_for(
                &state.prices,
                &d.target.model,
                Some(&d.provider_name),
                &overrides,
            )
        })
        .as_ref()
}

/// Usage when the upstream gave none: counted locally from the request and the output.
fn counted_usage(meta: &CallMeta, outcome: &Outcome) -> Usage {
    let model = &meta.deployment.target.model;
    let request = meta.request.value();
    let prompt = match request.get("messages") {
        Some(messages) => pricing::count_message_tokens(model, messages),
        None => ["prompt", "input"]
            .iter()
            .filter_map(|f| request.get(*f))
            .map(|v| {
                pricing::count_tokens(
                    model,
                    &v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                )
            })
            .sum(),
    };
    Usage {
        prompt_tokens: prompt,
        completion_tokens: pricing::count_tokens(model, &outcome.completion_text),
        ..Usage::default()
    }
}

/// What a finished call cost, once the live counters hold it.
pub struct Settled {
    pub cost: f64,
    usage: Usage,
}

/// Accounts for a finished call: live spend, token counters and the spend log. Returns its cost
/// once the spend event is durable in the journal, so that a response sent after this cannot be
/// lost to a crash. Streams call this when they end, after their response has started.
pub async fn finish(state: &AppState, meta: CallMeta, outcome: Outcome) -> f64 {
    let settled = settle(state, &meta, &outcome).await;
    let cost = settled.cost;
    record(state, meta, outcome, settled).await;
    cost
}

/// The first half of [`finish`]: prices the call and adds it to the live spend and the token
/// counters, so that the response's headers can report them.
pub async fn settle(state: &AppState, meta: &CallMeta, outcome: &Outcome) -> Settled {
    let usage = match (&outcome.usage, outcome.success) {
        (Some(u), _) => *u,
        (None, true) => counted_usage(meta, outcome),
        (None, false) => Usage::default(),
    };
    let cost = if outcome.success {
        cost_of(state, &meta.deployment, &usage)
    } else {
        0.0
    };
    state.ledger.add(&meta.entities, cost);
    let tokens = usage.prompt_tokens + usage.completion_tokens;
    if tokens > 0 {
        state.balancer.loads.add_tokens(&meta.deployment.id, tokens);
    }
    share(state, meta, cost, tokens).await;
    Settled { cost, usage }
}

/// The second half of [`finish`]: the spend event, journaled (durable when this returns) and
/// queued for the store. It takes the call's own strings rather than copies.
pub async fn record(state: &AppState, meta: CallMeta, outcome: Outcome, settled: Settled) {
    state
        .spend
        .record(event(meta, &outcome, &settled.usage, settled.cost))
        .await;
}

/// Feeds a finished call's tokens to the rate counters and, with Redis, its cost to the shared
/// spend counters. This replica's own ledger already holds the cost, so the response does not
/// wait for Redis's answer (the command is on its way to Redis before the response is sent).
async fn share(state: &AppState, meta: &CallMeta, cost: f64, tokens: u64) {
    let tokens_to_count = tokens > 0 && !meta.rate_keys.is_empty();
    let Some(shared) = &state.shared_limits else {
        if tokens_to_count && !state.limiter.add_tokens_now(&meta.rate_keys, tokens) {
            state.limiter.add_tokens(&meta.rate_keys, tokens).await;
        }
        return;
    };
    shared.settle_soon(&state.tasks, &meta.entities, cost, &meta.rate_keys, tokens);
}

fn event(meta: CallMeta, outcome: &Outcome, usage: &Usage, cost: f64) -> SpendEvent {
    let d = &meta.deployment;
    let mut metadata = Map::new();
    if let Some((status, message)) = &outcome.error {
        metadata.insert("error_status".into(), Value::from(*status));
        metadata.insert(
            "error".into(),
            Value::from(message.chars().take(500).collect::<String>()),
        );
    }
    let to_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    SpendEvent {
        request_id: meta.call_id,
        call_type: Cow::Borrowed(meta.kind.call_type()),
        api_key: meta.api_key,
        key_id: meta.key_id,
        key_alias: meta.key_alias,
        user_id: meta.user_id,
        team_id: meta.team_id,
        organization_id: meta.organization_id,
        end_user: meta.end_user,
        tags: meta.tags,
        // The deployment's names are shared with it, not copied.
        model: Arc::clone(&d.target.model),
        model_id: Some(Arc::clone(&d.id)),
        model_group: meta.requested_model,
        provider: Arc::clone(&d.provider_name),
        api_base: (!d.target.api_base.is_empty()).then(|| Arc::clone(&d.target.api_base)),
        endpoint: Cow::Borrowed(meta.kind.endpoint()),
        success: outcome.success,
        spend: cost,
        prompt_tokens: to_i64(usage.prompt_tokens),
        completion_tokens: to_i64(usage.completion_tokens),
        cache_read_input_tokens: to_i64(usage.cached_tokens),
        cache_creation_input_tokens: to_i64(usage.cache_creation_tokens),
        start_time: meta.started_at,
        end_time: Utc::now(),
        completion_start_time: outcome.first_byte,
        metadata,
    }
}
