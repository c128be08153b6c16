//! Retries and fallbacks: a failed upstream call is tried again on the group's deployments
//! (`num_retries`, with a backoff that honours the upstream's `retry-after`), then on the
//! fallback groups (`fallbacks` in the config, or passed by the client), in order. Only errors a
//! retry could fix (429, 5xx, timeouts, connection failures) are retried. A prompt too long for
//! the model goes to `context_window_fallbacks` instead, and a content-filter refusal to
//! `content_policy_fallbacks` (see [`crate::router::classify`]); without such fallbacks for the
//! group, that error is the answer. The deployment that served is what the call is accounted
//! to; every attempt feeds the load figures the routing strategies read.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tollgate_llm::LlmError;

use super::admit::pick;
use super::call::{CallKind, CallMeta};
use super::request::ClientRequest;
use crate::config::Fallbacks;
use crate::router::classify::{classify, FailureKind};
use crate::router::Deployment;
use crate::state::AppState;

/// Longest wait between attempts, whatever the upstream asks.
const MAX_WAIT: Duration = Duration::from_secs(30);

/// Which groups to try and how many retries each gets.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The requested group, then its ordinary fallbacks.
    pub groups: Vec<String>,
    pub num_retries: u32,
    /// Groups to try when the prompt is too long for the model.
    pub context_window: Vec<String>,
    /// Groups to try when a content filter refused the request.
    pub content_policy: Vec<String>,
}

/// The fallback groups of `model` in config lists (router_settings first) and in the request's
/// own `field` (a list of names, or LiteLLM's `[{"model": [...]}]` form).
fn fallbacks_of(
    model: &str,
    configured: [&Fallbacks; 2],
    request: &ClientRequest,
    field: &str,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for entry in configured.into_iter().flatten() {
        if let Some(list) = entry.get(model) {
            out.extend(list.iter().cloned());
        }
    }
    let listed = request.raw(field).and_then(|_| request.field(field));
    for item in listed
        .as_ref()
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match item {
            Value::String(m) => out.push(m.clone()),
            Value::Object(map) => {
                let names = map
                    .get(model)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten();
                out.extend(names.filter_map(Value::as_str).map(str::to_owned));
            }
            _ => {}
        }
    }
    out.dedup();
    out.truncate(5);
    out
}

/// The plan of a call: the request's `num_retries` and `fallbacks` win over the config's.
pub fn plan(state: &AppState, meta: &CallMeta) -> Plan {
    let cfg = &state.settings.config;
    let num_retries = meta
        .request
        .get::<u64>("num_retries")
        .and_then(|n| u32::try_from(n).ok())
        .or(cfg.router_settings.num_retries)
        .or(cfg.litellm_settings.num_retries)
        .unwrap_or(0)
        .min(10);
    let (model, request) = (&meta.requested_model, meta.request.as_ref());
    let (r, l) = (&cfg.router_settings, &cfg.litellm_settings);
    let mut groups = vec![model.clone()];
    groups.extend(fallbacks_of(
        model,
        [&r.fallbacks, &l.fallbacks],
        request,
        "fallbacks",
    ));
    groups.dedup();
    Plan {
        groups,
        num_retries,
        context_window: fallbacks_of(
            model,
            [&r.context_window_fallbacks, &l.context_window_fallbacks],
            request,
            "context_window_fallbacks",
        ),
        content_policy: fallbacks_of(
            model,
            [&r.content_policy_fallbacks, &l.content_policy_fallbacks],
            request,
            "content_policy_fallbacks",
        ),
    }
}

impl Plan {
    /// The groups an error that no retry fixes sends the call to, if any.
    fn redirect(&self, e: &LlmError) -> Option<&[String]> {
        let groups = match classify(e) {
            FailureKind::ContextWindow => &self.context_window,
            FailureKind::ContentPolicy => &self.content_policy,
            FailureKind::Other => return None,
        };
        (!groups.is_empty()).then_some(groups.as_slice())
    }
}

/// How many retries and fallbacks a call used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tried {
    pub retries: u32,
    pub fallbacks: u32,
}

fn backoff(retry: u32, asked: Option<Duration>) -> Duration {
    asked
        .unwrap_or_else(|| Duration::from_millis(100 * 2u64.pow(retry.min(5))))
        .min(MAX_WAIT)
}

/// Runs `attempt` until a deployment answers; the first attempt uses the admitted deployment.
/// On success `meta.deployment` is the one that served.
pub async fn run<T, F, Fut>(
    state: &AppState,
    meta: &mut CallMeta,
    plan: &Plan,
    mut attempt: F,
) -> (Result<T, LlmError>, Tried)
where
    F: FnMut(Arc<Deployment>) -> Fut,
    Fut: Future<Output = Result<T, LlmError>>,
{
    let mut tried = Tried::default();
    let mut last: Option<LlmError> = None;
    let mut groups: &[String] = &plan.groups;
    let mut redirected = false;
    let mut g = 0;
    'groups: while let Some(group) = groups.get(g) {
        for n in 0..=plan.num_retries {
            let first = !redirected && g == 0 && n == 0;
            let d = if first {
                meta.deployment.clone()
            } else {
                match pick(state, group, meta.kind).await {
                    Ok(d) => d,
                    Err(_) => break,
                }
            };
            if !first {
                if n > 0 {
                    tried.retries += 1;
                    let asked = match &last {
                        Some(LlmError::Status { retry_after, .. }) => *retry_after,
                        _ => None,
                    };
                    tokio::time::sleep(backoff(n, asked)).await;
                } else {
                    tried.fallbacks += 1;
                }
            }
            let busy = state.balancer.loads.begin(&d.id);
            let started = std::time::Instant::now();
            let result = attempt(d.clone()).await;
            meta.deployment = d.clone();
            let e = match result {
                Ok(v) => {
                    state.balancer.loads.add_latency(&d.id, started.elapsed());
                    meta.busy = Some(Arc::new(busy));
                    return (Ok(v), tried);
                }
                Err(e) => e,
            };
            if matches!(e, LlmError::Timeout(_)) {
                state.balancer.loads.add_latency(&d.id, started.elapsed());
            }
            if e.is_retryable() {
                state.cooldowns.failed(&d.id).await;
                last = Some(e);
                continue;
            }
            match plan.redirect(&e).filter(|_| !redirected) {
                Some(next) => {
                    // Once only: the special fallbacks' own failures are not redirected again.
                    (groups, g, redirected) = (next, 0, true);
                    last = Some(e);
                    continue 'groups;
                }
                None => return (Err(e), tried),
            }
        }
        g += 1;
    }
    let err = last.unwrap_or_else(|| LlmError::Connect("no deployment could be tried".into()));
    (Err(err), tried)
}

/// The body for a deployment: the model it expects.
/// The body one attempt sends to deployment `d`: the client's request with the deployment's
/// model, the gateway's own parameters taken out, and usage asked for on streams.
pub fn body_for(request: &Value, kind: CallKind, d: &Deployment) -> Value {
    let mut body = request.clone();
    let Some(o) = body.as_object_mut() else {
        return body;
    };
    o.insert("model".into(), Value::from(&*d.target.model));
    for gateway_only in [
        "fallbacks",
        "context_window_fallbacks",
        "content_policy_fallbacks",
        "num_retries",
    ] {
        o.remove(gateway_only);
    }
    if !d.provider.is_mock() {
        o.remove("mock_response");
    }
    let streams = o.get("stream").and_then(Value::as_bool) == Some(true);
    if streams && matches!(kind, CallKind::Chat | CallKind::Completion) {
        match o.get_mut("stream_options").and_then(Value::as_object_mut) {
            Some(opts) => {
                opts.insert("include_usage".into(), Value::Bool(true));
            }
            None => {
                o.insert(
                    "stream_options".into(),
                    serde_json::json!({"include_usage": true}),
                );
            }
        }
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(model: &str) -> Deployment {
        let entry: crate::config::ModelEntry = serde_json::from_value(serde_json::json!({
            "model_name": "group",
            "litellm_params": {"model": model, "api_base": "http://127.0.0.1:1/v1"},
        }))
        .unwrap();
        Deployment::from_entry(&entry, false, Duration::from_secs(1), &|_| None).unwrap()
    }

    #[test]
    fn each_attempt_body_is_the_request_for_its_deployment() {
        let request = serde_json::json!({
            "model": "group", "stream": true, "messages": [],
            "fallbacks": ["other"], "num_retries": 2, "context_window_fallbacks": [],
            "content_policy_fallbacks": [], "mock_response": "hi",
        });
        let body = body_for(&request, CallKind::Chat, &deployment("openai/gpt-4o"));
        assert_eq!(
            body,
            serde_json::json!({
                "model": "gpt-4o", "stream": true, "messages": [],
                "stream_options": {"include_usage": true},
            })
        );
        // The mock keeps its canned answer; the client's request is left as it was.
        let body = body_for(&request, CallKind::Embedding, &deployment("mock/m"));
        assert_eq!(body["mock_response"], "hi");
        assert!(body.get("stream_options").is_none());
        assert_eq!(request["num_retries"], 2);
    }

    #[test]
    fn backoff_honours_retry_after_within_a_bound() {
        assert_eq!(
            backoff(1, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(backoff(1, Some(Duration::from_secs(600))), MAX_WAIT);
        assert_eq!(backoff(1, None), Duration::from_millis(200));
        assert!(backoff(30, None) <= MAX_WAIT);
    }
}
