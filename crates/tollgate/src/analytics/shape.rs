//! The response shape of the daily-activity endpoints: per day, metrics and their breakdown by
//! model, model group, provider, endpoint, API key and entity.

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Map, Value};
use tollgate_store::{DailyRow, TokenMeta};

/// Summed counters.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Metrics {
    pub spend: f64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cache_read_input_tokens: i64,
    pub cache_creation_input_tokens: i64,
    pub api_requests: i64,
    pub successful_requests: i64,
    pub failed_requests: i64,
}

impl Metrics {
    pub fn add(&mut self, r: &DailyRow) {
        self.spend += r.spend;
        self.prompt_tokens += r.prompt_tokens;
        self.completion_tokens += r.completion_tokens;
        self.cache_read_input_tokens += r.cache_read_input_tokens;
        self.cache_creation_input_tokens += r.cache_creation_input_tokens;
        self.api_requests += r.api_requests;
        self.successful_requests += r.successful_requests;
        self.failed_requests += r.failed_requests;
    }

    pub fn json(&self) -> Value {
        json!({
            "spend": self.spend,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "successful_requests": self.successful_requests,
            "failed_requests": self.failed_requests,
            "api_requests": self.api_requests,
        })
    }
}

/// Metrics of one breakdown item, with its own per-key split.
#[derive(Debug, Default)]
struct Item {
    metrics: Metrics,
    keys: BTreeMap<String, Metrics>,
}

#[derive(Debug, Default)]
struct Day {
    metrics: Metrics,
    models: BTreeMap<String, Item>,
    model_groups: BTreeMap<String, Item>,
    providers: BTreeMap<String, Item>,
    endpoints: BTreeMap<String, Item>,
    api_keys: BTreeMap<String, Metrics>,
    entities: BTreeMap<String, Item>,
}

fn bump(map: &mut BTreeMap<String, Item>, name: &str, r: &DailyRow) {
    let item = map.entry(name.to_owned()).or_default();
    item.metrics.add(r);
    item.keys.entry(r.api_key.clone()).or_default().add(r);
}

/// Labels for entity ids (team aliases, ...), shown in `entities` breakdowns.
pub type Labels = HashMap<String, Value>;

/// Builds `results` (newest day first) and the totals.
pub fn build(
    rows: &[DailyRow],
    keys: &HashMap<String, TokenMeta>,
    labels: &Labels,
) -> (Vec<Value>, Metrics) {
    let mut days: BTreeMap<&str, Day> = BTreeMap::new();
    let mut total = Metrics::default();
    for r in rows {
        total.add(r);
        let day = days.entry(r.date.as_str()).or_default();
        day.metrics.add(r);
        bump(&mut day.models, &r.model, r);
        bump(&mut day.model_groups, &r.model_group, r);
        let provider = if r.provider.is_empty() {
            "unknown"
        } else {
            &r.provider
        };
        bump(&mut day.providers, provider, r);
        bump(&mut day.endpoints, &r.endpoint, r);
        day.api_keys.entry(r.api_key.clone()).or_default().add(r);
        if let Some(e) = &r.entity_id {
            bump(&mut day.entities, e, r);
        }
    }
    let results = days
        .into_iter()
        .rev()
        .map(|(date, day)| {
            json!({
                "date": date,
                "metrics": day.metrics.json(),
                "breakdown": {
                    "models": items(&day.models, keys, &Labels::new()),
                    "model_groups": items(&day.model_groups, keys, &Labels::new()),
                    "providers": items(&day.providers, keys, &Labels::new()),
                    "endpoints": items(&day.endpoints, keys, &Labels::new()),
                    "mcp_servers": {},
                    "api_keys": key_items(&day.api_keys, keys),
                    "entities": items(&day.entities, keys, labels),
                },
            })
        })
        .collect();
    (results, total)
}

fn key_meta(hash: &str, keys: &HashMap<String, TokenMeta>) -> Value {
    let m = keys.get(hash);
    json!({
        "key_alias": m.and_then(|m| m.key_alias.clone()),
        "team_id": m.and_then(|m| m.team_id.clone()),
    })
}

fn key_items(map: &BTreeMap<String, Metrics>, keys: &HashMap<String, TokenMeta>) -> Value {
    let out: Map<String, Value> = map
        .iter()
        .map(|(k, m)| {
            (
                k.clone(),
                json!({"metrics": m.json(), "metadata": key_meta(k, keys)}),
            )
        })
        .collect();
    Value::Object(out)
}

fn items(
    map: &BTreeMap<String, Item>,
    keys: &HashMap<String, TokenMeta>,
    labels: &Labels,
) -> Value {
    let out: Map<String, Value> = map
        .iter()
        .map(|(name, item)| {
            let metadata = labels.get(name).cloned().unwrap_or_else(|| json!({}));
            (
                name.clone(),
                json!({"metrics": item.metrics.json(), "metadata": metadata, "api_key_breakdown": key_items(&item.keys, keys)}),
            )
        })
        .collect();
    Value::Object(out)
}

/// The `metadata` object of a response.
pub fn totals(t: &Metrics, page: u32, total_pages: u64) -> Value {
    json!({
        "total_spend": t.spend,
        "total_prompt_tokens": t.prompt_tokens,
        "total_completion_tokens": t.completion_tokens,
        "total_tokens": t.prompt_tokens + t.completion_tokens,
        "total_api_requests": t.api_requests,
        "total_successful_requests": t.successful_requests,
        "total_failed_requests": t.failed_requests,
        "total_cache_read_input_tokens": t.cache_read_input_tokens,
        "total_cache_creation_input_tokens": t.cache_creation_input_tokens,
        "page": page,
        "total_pages": total_pages.max(1),
        "has_more": u64::from(page) < total_pages,
    })
}
