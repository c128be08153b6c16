//! Retries and fallbacks: a failed upstream call is tried again on the group's deployments
//! (`num_retries`, with a backoff that honours the upstream's `retry-after`), then on the
//! fallback groups (`fallbacks` in the config, or passed by the client), in order. Only errors a
//! retry could fix (429, 5xx, timeouts, connection failures) are retried; the deployment that
//! served is what the call is accounted to.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tollgate_llm::LlmError;

use super::admit::pick;
use super::call::CallMeta;
use crate::router::Deployment;
use crate::state::AppState;

/// Longest wait between attempts, whatever the upstream asks.
const MAX_WAIT: Duration = Duration::from_secs(30);

/// Which groups to try and how many retries each gets.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub groups: Vec<String>,
    pub num_retries: u32,
}

/// The plan of a call: the request's `num_retries` and `fallbacks` win over the config's.
pub fn plan(state: &AppState, meta: &CallMeta) -> Plan {
    let cfg = &state.settings.config;
    let num_retries = meta
        .request
        .get("num_retries")
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .or(cfg.router_settings.num_retries)
        .or(cfg.litellm_settings.num_retries)
        .unwrap_or(0)
        .min(10);
    let mut groups = vec![meta.requested_model.clone()];
    let configured = cfg
        .router_settings
        .fallbacks
        .iter()
        .chain(&cfg.litellm_settings.fallbacks);
    for entry in configured {
        if let Some(list) = entry.get(&meta.requested_model) {
            groups.extend(list.iter().cloned());
        }
    }
    for m in meta
        .request
        .get("fallbacks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(m) = m.as_str() {
            groups.push(m.to_owned());
        }
    }
    groups.dedup();
    groups.truncate(6);
    Plan {
        groups,
        num_retries,
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
    for (g, group) in plan.groups.iter().enumerate() {
        for n in 0..=plan.num_retries {
            let first = g == 0 && n == 0;
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
            match attempt(d.clone()).await {
                Ok(v) => {
                    meta.deployment = d;
                    return (Ok(v), tried);
                }
                Err(e) => {
                    let retryable = e.is_retryable();
                    if retryable {
                        state.cooldowns.failed(&d.id).await;
                    }
                    meta.deployment = d;
                    if !retryable {
                        return (Err(e), tried);
                    }
                    last = Some(e);
                }
            }
        }
    }
    let err = last.unwrap_or_else(|| LlmError::Connect("no deployment could be tried".into()));
    (Err(err), tried)
}

/// The body for a deployment: the model it expects.
pub fn body_for(body: &Value, d: &Deployment) -> Value {
    let mut b = body.clone();
    b["model"] = Value::from(d.target.model.clone());
    b
}

#[cfg(test)]
mod tests {
    use super::*;

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
