//! `/v1/models` and `/model/info` (with `/v1/model/info` and the paginated `/v2/model/info`):
//! what the caller's key may use, with prices from the table. Secrets never leave.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::access::may_list;
use crate::admin::common::{paging, total_pages};
use crate::auth::Principal;
use crate::http::{Params, Result};
use crate::router::Deployment;
use crate::spend::pricing;
use crate::state::AppState;

/// GET /v1/models; Anthropic's list shape for callers that send `anthropic-version`.
pub async fn list(
    State(state): State<AppState>,
    p: Principal,
    headers: axum::http::HeaderMap,
) -> Json<Value> {
    let auth = p.key.as_deref();
    let names: Vec<String> = state
        .router()
        .model_names()
        .into_iter()
        .filter(|m| may_list(auth, m))
        .collect();
    if headers.contains_key("anthropic-version") {
        let data: Vec<Value> = names
            .iter()
            .map(|id| json!({"type": "model", "id": id, "display_name": id, "created_at": "2023-03-01T00:00:00Z"}))
            .collect();
        return Json(json!({
            "data": data,
            "has_more": false,
            "first_id": names.first(),
            "last_id": names.last(),
        }));
    }
    let data: Vec<Value> = names
        .into_iter()
        .map(|id| json!({"id": id, "object": "model", "created": 1_677_610_602, "owned_by": "openai"}))
        .collect();
    Json(json!({"data": data, "object": "list"}))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct InfoQuery {
    litellm_model_id: Option<String>,
    #[serde(rename = "modelId")]
    model_id: Option<String>,
    search: Option<String>,
    page: Option<u32>,
    size: Option<u32>,
}

/// GET /model/info
pub async fn info(
    State(state): State<AppState>,
    p: Principal,
    Params(q): Params<InfoQuery>,
) -> Json<Value> {
    Json(json!({ "data": infos(&state, &p, &q) }))
}

/// GET /v2/model/info
pub async fn info_v2(
    State(state): State<AppState>,
    p: Principal,
    Params(q): Params<InfoQuery>,
) -> Result<Json<Value>> {
    let (limit, offset) = paging(q.page, q.size, 50, 1000)?;
    let all = infos(&state, &p, &q);
    let total = all.len() as u64;
    let data: Vec<Value> = all
        .into_iter()
        .skip(offset as usize)
        .take(limit as usize)
        .collect();
    Ok(Json(json!({
        "data": data,
        "total_count": total,
        "current_page": q.page.unwrap_or(1),
        "total_pages": total_pages(total, limit),
        "size": limit,
    })))
}

fn infos(state: &AppState, p: &Principal, q: &InfoQuery) -> Vec<Value> {
    let router = state.router();
    let wanted_id = q.litellm_model_id.as_deref().or(q.model_id.as_deref());
    let mut out: Vec<Value> = router
        .deployments()
        .filter(|d| may_list(p.key.as_deref(), &d.model_name))
        .filter(|d| wanted_id.is_none_or(|id| *d.id == *id))
        .filter(|d| {
            q.search
                .as_deref()
                .is_none_or(|s| d.model_name.to_lowercase().contains(&s.to_lowercase()))
        })
        .map(|d| info_of(state, d))
        .collect();
    out.sort_by(|a, b| a["model_name"].as_str().cmp(&b["model_name"].as_str()));
    out
}

fn info_of(state: &AppState, d: &Deployment) -> Value {
    let mut info: Map<String, Value> = Map::new();
    let overrides = pricing::Overrides {
        input_cost_per_token: d.input_cost_per_token,
        output_cost_per_token: d.output_cost_per_token,
        base_model: d
            .model_info
            .get("base_model")
            .and_then(Value::as_str)
            .map(str::to_owned),
        ..pricing::Overrides::default()
    };
    if let Some(price) = pricing::price_for(
        &state.prices,
        &d.target.model,
        Some(&d.provider_name),
        &overrides,
    ) {
        if let Ok(Value::Object(fields)) = serde_json::to_value(price) {
            info.extend(fields.into_iter().filter(|(_, v)| !v.is_null()));
        }
    }
    info.extend(d.model_info.clone());
    info.insert("id".into(), Value::from(&*d.id));
    info.insert("db_model".into(), Value::from(d.db_model));
    info.insert("key".into(), Value::from(&*d.target.model));
    let mut params = json!({"model": d.litellm_model, "custom_llm_provider": d.provider_name});
    if !d.target.api_base.is_empty() {
        params["api_base"] = Value::from(&*d.target.api_base);
    }
    for (name, v) in [("rpm", d.rpm), ("tpm", d.tpm)] {
        if let Some(v) = v {
            params[name] = Value::from(v);
        }
    }
    json!({"model_name": d.model_name, "litellm_params": params, "model_info": info})
}
