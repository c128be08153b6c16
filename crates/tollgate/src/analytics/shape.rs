//! The response shape of the daily-activity endpoints: per day, metrics and their breakdown by
//! model, model group, provider, endpoint, API key and entity.

use std::collections::{BTreeMap, HashMap};

use serde::ser::{SerializeMap as _, Serializer};
use serde::Serialize;
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
}

impl Serialize for Metrics {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(9))?;
        m.serialize_entry("spend", &self.spend)?;
        m.serialize_entry("prompt_tokens", &self.prompt_tokens)?;
        m.serialize_entry("completion_tokens", &self.completion_tokens)?;
        m.serialize_entry("cache_read_input_tokens", &self.cache_read_input_tokens)?;
        m.serialize_entry(
            "cache_creation_input_tokens",
            &self.cache_creation_input_tokens,
        )?;
        m.serialize_entry(
            "total_tokens",
            &(self.prompt_tokens + self.completion_tokens),
        )?;
        m.serialize_entry("successful_requests", &self.successful_requests)?;
        m.serialize_entry("failed_requests", &self.failed_requests)?;
        m.serialize_entry("api_requests", &self.api_requests)?;
        m.end()
    }
}

/// Metrics of one breakdown item, with its own per-key split.
#[derive(Debug, Default)]
struct Item {
    metrics: Metrics,
    keys: BTreeMap<String, Metrics>,
}

/// One day of the answer, summed.
#[derive(Debug, Default)]
pub struct Day {
    date: String,
    metrics: Metrics,
    models: BTreeMap<String, Item>,
    model_groups: BTreeMap<String, Item>,
    providers: BTreeMap<String, Item>,
    endpoints: BTreeMap<String, Item>,
    api_keys: BTreeMap<String, Metrics>,
    entities: BTreeMap<String, Item>,
}

fn bump(map: &mut BTreeMap<String, Item>, name: &str, r: &DailyRow) {
    let item = match map.get_mut(name) {
        Some(item) => item,
        None => map.entry(name.to_owned()).or_default(),
    };
    item.metrics.add(r);
    add_key(&mut item.keys, r);
}

fn add_key(keys: &mut BTreeMap<String, Metrics>, r: &DailyRow) {
    match keys.get_mut(&r.api_key) {
        Some(m) => m.add(r),
        None => keys.entry(r.api_key.clone()).or_default().add(r),
    }
}

/// Labels for entity ids (team aliases, ...), shown in `entities` breakdowns.
pub type Labels = HashMap<String, Value>;

/// The days of an answer (newest first) with what their breakdowns need to be written out.
pub struct Results {
    pub days: Vec<Day>,
    keys: HashMap<String, TokenMeta>,
    labels: Labels,
}

/// Sums `rows` into days (newest first) and the totals. The answer is serialized straight from
/// these sums: for a month of a large deployment it holds hundreds of thousands of breakdown
/// entries, too many to build as a JSON tree first.
pub fn build(
    rows: &[DailyRow],
    keys: HashMap<String, TokenMeta>,
    labels: Labels,
) -> (Results, Metrics) {
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
        add_key(&mut day.api_keys, r);
        if let Some(e) = &r.entity_id {
            bump(&mut day.entities, e, r);
        }
    }
    let days = days
        .into_iter()
        .rev()
        .map(|(date, mut day)| {
            day.date = date.to_owned();
            day
        })
        .collect();
    (Results { days, keys, labels }, total)
}

impl Serialize for Results {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.days.iter().map(|day| DayOut { day, of: self }))
    }
}

struct DayOut<'a> {
    day: &'a Day,
    of: &'a Results,
}

impl Serialize for DayOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (day, keys) = (self.day, &self.of.keys);
        let none = Labels::new();
        let items = |map, labels| Items { map, keys, labels };
        let breakdown = Breakdown {
            models: items(&day.models, &none),
            model_groups: items(&day.model_groups, &none),
            providers: items(&day.providers, &none),
            endpoints: items(&day.endpoints, &none),
            api_keys: KeyItems {
                map: &day.api_keys,
                keys,
            },
            entities: items(&day.entities, &self.of.labels),
        };
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("date", &day.date)?;
        m.serialize_entry("metrics", &day.metrics)?;
        m.serialize_entry("breakdown", &breakdown)?;
        m.end()
    }
}

struct Breakdown<'a> {
    models: Items<'a>,
    model_groups: Items<'a>,
    providers: Items<'a>,
    endpoints: Items<'a>,
    api_keys: KeyItems<'a>,
    entities: Items<'a>,
}

impl Serialize for Breakdown<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(7))?;
        m.serialize_entry("models", &self.models)?;
        m.serialize_entry("model_groups", &self.model_groups)?;
        m.serialize_entry("providers", &self.providers)?;
        m.serialize_entry("endpoints", &self.endpoints)?;
        m.serialize_entry("mcp_servers", &Map::new())?;
        m.serialize_entry("api_keys", &self.api_keys)?;
        m.serialize_entry("entities", &self.entities)?;
        m.end()
    }
}

/// `{name: {metrics, metadata, api_key_breakdown}}`.
struct Items<'a> {
    map: &'a BTreeMap<String, Item>,
    keys: &'a HashMap<String, TokenMeta>,
    labels: &'a Labels,
}

impl Serialize for Items<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let empty = Value::Object(Map::new());
        let mut m = s.serialize_map(Some(self.map.len()))?;
        for (name, item) in self.map {
            m.serialize_entry(
                name,
                &ItemOut {
                    item,
                    metadata: self.labels.get(name).unwrap_or(&empty),
                    keys: self.keys,
                },
            )?;
        }
        m.end()
    }
}

struct ItemOut<'a> {
    item: &'a Item,
    metadata: &'a Value,
    keys: &'a HashMap<String, TokenMeta>,
}

impl Serialize for ItemOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("metrics", &self.item.metrics)?;
        m.serialize_entry("metadata", self.metadata)?;
        m.serialize_entry(
            "api_key_breakdown",
            &KeyItems {
                map: &self.item.keys,
                keys: self.keys,
            },
        )?;
        m.end()
    }
}

/// `{hash: {metrics, metadata: {key_alias, team_id}}}`.
struct KeyItems<'a> {
    map: &'a BTreeMap<String, Metrics>,
    keys: &'a HashMap<String, TokenMeta>,
}

impl Serialize for KeyItems<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.map.len()))?;
        for (hash, metrics) in self.map {
            let meta = self.keys.get(hash);
            m.serialize_entry(
                hash,
                &KeyOut {
                    metrics,
                    key_alias: meta.and_then(|m| m.key_alias.as_deref()),
                    team_id: meta.and_then(|m| m.team_id.as_deref()),
                },
            )?;
        }
        m.end()
    }
}

struct KeyOut<'a> {
    metrics: &'a Metrics,
    key_alias: Option<&'a str>,
    team_id: Option<&'a str>,
}

impl Serialize for KeyOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("metrics", self.metrics)?;
        m.serialize_entry(
            "metadata",
            &json!({"key_alias": self.key_alias, "team_id": self.team_id}),
        )?;
        m.end()
    }
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
