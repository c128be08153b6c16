//! The price table: LiteLLM's `model_prices_and_context_window.json` (MIT), embedded in the binary
//! and parsed once at start into typed [`ModelPrice`] entries, and the lookup that finds a model's
//! entry under the key forms LiteLLM uses.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::value::RawValue;

/// The price map shipped with the binary, byte-identical to LiteLLM's.
const EMBEDDED: &str = include_str!("../../../data/model_prices.json");

/// The one error of the pricing module.
#[derive(Debug, thiserror::Error)]
pub enum PricingError {
    /// The document is not a JSON object mapping model names to entries.
    #[error("the price table is not a JSON object of model entries: {0}")]
    Table(#[from] serde_json::Error),
}

/// One entry of the price map. Every field is optional: entries carry only what applies to them.
/// Rates are USD per token (or per second). Fields not named here (`supports_*`, batch, priority
/// and flex service tiers, image and search prices, ...) are ignored when parsing.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct ModelPrice {
    pub litellm_provider: Option<String>,
    /// `chat`, `completion`, `embedding`, `image_generation`, `audio_transcription`, ...
    pub mode: Option<String>,
    pub max_tokens: Option<u64>,
    pub max_input_tokens: Option<u64>,
    pub max_output_tokens: Option<u64>,
    pub input_cost_per_token: Option<f64>,
    pub output_cost_per_token: Option<f64>,
    /// Rate for prompt tokens read from the provider's prompt cache.
    pub cache_read_input_token_cost: Option<f64>,
    /// Rate for prompt tokens written to the prompt cache (Anthropic's default 5-minute cache).
    pub cache_creation_input_token_cost: Option<f64>,
    /// Rate for prompt tokens written to Anthropic's 1-hour cache.
    pub cache_creation_input_token_cost_above_1hr: Option<f64>,
    pub output_cost_per_reasoning_token: Option<f64>,
    pub input_cost_per_token_above_128k_tokens: Option<f64>,
    pub input_cost_per_token_above_200k_tokens: Option<f64>,
    pub input_cost_per_token_above_272k_tokens: Option<f64>,
    pub output_cost_per_token_above_128k_tokens: Option<f64>,
    pub output_cost_per_token_above_200k_tokens: Option<f64>,
    pub output_cost_per_token_above_272k_tokens: Option<f64>,
    pub cache_read_input_token_cost_above_200k_tokens: Option<f64>,
    pub cache_read_input_token_cost_above_272k_tokens: Option<f64>,
    pub cache_creation_input_token_cost_above_200k_tokens: Option<f64>,
    pub cache_creation_input_token_cost_above_272k_tokens: Option<f64>,
    pub input_cost_per_audio_token: Option<f64>,
    pub output_cost_per_audio_token: Option<f64>,
    pub input_cost_per_second: Option<f64>,
    pub output_cost_per_second: Option<f64>,
}

impl ModelPrice {
    /// True for embedding models, which are priced on their input only.
    pub fn is_embedding(&self) -> bool {
        self.mode.as_deref() == Some("embedding")
    }
}

/// The whole price map, keyed as LiteLLM keys it (`gpt-4o`, `azure/gpt-4o`,
/// `anthropic.claude-3-5-sonnet-20240620-v1:0`, `gemini/gemini-2.5-pro`, ...).
#[derive(Debug, Clone, Default)]
pub struct PriceTable {
    entries: HashMap<String, ModelPrice>,
    skipped: Vec<String>,
}

impl PriceTable {
    /// Parses the price map embedded in the binary. Call once at start and share the result.
    pub fn embedded() -> Result<Self, PricingError> {
        Self::from_json(EMBEDDED)
    }

    /// Parses a price map in LiteLLM's format. An entry that does not fit [`ModelPrice`] (such as
    /// LiteLLM's `sample_spec`, whose values are descriptions) is skipped and listed in
    /// [`skipped`](Self::skipped); only a document that is not an object of entries is an error.
    pub fn from_json(json: &str) -> Result<Self, PricingError> {
        // Split the document into entries without building a `Value` tree, then parse each entry
        // on its own so that one bad entry cannot fail the whole load.
        let raw: HashMap<String, &RawValue> = serde_json::from_str(json)?;
        let mut entries = HashMap::with_capacity(raw.len());
        let mut skipped = Vec::new();
        for (key, value) in raw {
            match serde_json::from_str::<ModelPrice>(value.get()) {
                Ok(price) => {
                    entries.insert(key, price);
                }
                Err(_) => skipped.push(key),
            }
        }
        skipped.sort_unstable();
        Ok(Self { entries, skipped })
    }

    /// Number of priced entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Keys of the entries that failed to parse, sorted.
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }

    /// Every key, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        let mut keys: Vec<&str> = self.entries.keys().map(String::as_str).collect();
        keys.sort_unstable();
        keys.into_iter()
    }

    /// The entry stored under exactly `key`.
    pub fn get(&self, key: &str) -> Option<&ModelPrice> {
        self.entries.get(key)
    }

    /// Finds the entry for `model` served by `provider` (LiteLLM's provider name: `openai`,
    /// `azure`, `bedrock`, `vertex_ai`, `gemini`, `anthropic`, ...). Tried in order:
    ///
    /// 1. `provider/model`, unless `model` already starts with `provider/` (`azure/gpt-4o`,
    ///    `gemini/gemini-2.5-pro`, `vertex_ai/claude-3-5-sonnet`);
    /// 2. `model` as given;
    /// 3. `model` without its leading `segment/`, repeatedly (`openai/gpt-4o` → `gpt-4o`;
    ///    `bedrock/us-east-1/anthropic.claude-...` → `anthropic.claude-...`, Bedrock's bare key;
    ///    Vertex Gemini models are keyed bare too, `gemini-2.5-pro`);
    /// 4. the same again with a trailing `-YYYY-MM-DD` removed, so a dated OpenAI snapshot that
    ///    the table does not list yet is priced as its undated alias.
    ///
    /// Nothing fuzzier: a model that matches none of these has no price, and the caller decides.
    pub fn lookup(&self, model: &str, provider: Option<&str>) -> Option<&ModelPrice> {
        self.lookup_undated(model, provider).or_else(|| {
            strip_date_suffix(model).and_then(|base| self.lookup_undated(base, provider))
        })
    }

    fn lookup_undated(&self, model: &str, provider: Option<&str>) -> Option<&ModelPrice> {
        if let Some(provider) = provider.filter(|p| !p.is_empty()) {
            let prefixed = model
                .strip_prefix(provider)
                .is_some_and(|rest| rest.starts_with('/'));
            if !prefixed {
                if let Some(hit) = self.entries.get(&format!("{provider}/{model}")) {
                    return Some(hit);
                }
            }
        }
        let mut candidate = model;
        loop {
            if let Some(hit) = self.entries.get(candidate) {
                return Some(hit);
            }
            match candidate.split_once('/') {
                Some((_, rest)) if !rest.is_empty() => candidate = rest,
                _ => return None,
            }
        }
    }
}

/// `gpt-4o-2024-08-06` → `gpt-4o`; `None` when the name does not end in `-YYYY-MM-DD`.
pub(super) fn strip_date_suffix(model: &str) -> Option<&str> {
    let split = model.len().checked_sub(11)?;
    let (base, suffix) = (model.get(..split)?, model.get(split..)?);
    let bytes = suffix.as_bytes();
    let shape_ok = bytes.iter().enumerate().all(|(i, b)| match i {
        0 | 5 | 8 => *b == b'-',
        _ => b.is_ascii_digit(),
    });
    (shape_ok && !base.is_empty()).then_some(base)
}
