//! Per-deployment prices from a `model_list` entry (`litellm_params` or `model_info`), and
//! [`price_for`], which lays them over the table's entry.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::table::{ModelPrice, PriceTable};

/// Prices set on one deployment. Each field that is set wins over the table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Overrides {
    pub input_cost_per_token: Option<f64>,
    pub output_cost_per_token: Option<f64>,
    pub input_cost_per_second: Option<f64>,
    pub output_cost_per_second: Option<f64>,
    pub cache_read_input_token_cost: Option<f64>,
    pub cache_creation_input_token_cost: Option<f64>,
    /// The table key to price this deployment as (e.g. `azure/gpt-4o` for an Azure deployment
    /// named `my-gpt4o`).
    pub base_model: Option<String>,
}

impl Overrides {
    /// Reads the override fields from a JSON object such as a deployment's `litellm_params` or
    /// `model_info`. Numbers and numeric strings (`"3e-7"`, as YAML may hand them over) are
    /// accepted; anything else, and a missing field, leaves the field unset.
    pub fn from_json(value: &Value) -> Self {
        Self {
            input_cost_per_token: number(value, "input_cost_per_token"),
            output_cost_per_token: number(value, "output_cost_per_token"),
            input_cost_per_second: number(value, "input_cost_per_second"),
            output_cost_per_second: number(value, "output_cost_per_second"),
            cache_read_input_token_cost: number(value, "cache_read_input_token_cost"),
            cache_creation_input_token_cost: number(value, "cache_creation_input_token_cost"),
            base_model: value
                .get("base_model")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        }
    }

    /// `self`, with each unset field taken from `fallback` (e.g. `litellm_params` over
    /// `model_info`).
    pub fn or(self, fallback: Self) -> Self {
        Self {
            input_cost_per_token: self.input_cost_per_token.or(fallback.input_cost_per_token),
            output_cost_per_token: self
                .output_cost_per_token
                .or(fallback.output_cost_per_token),
            input_cost_per_second: self
                .input_cost_per_second
                .or(fallback.input_cost_per_second),
            output_cost_per_second: self
                .output_cost_per_second
                .or(fallback.output_cost_per_second),
            cache_read_input_token_cost: self
                .cache_read_input_token_cost
                .or(fallback.cache_read_input_token_cost),
            cache_creation_input_token_cost: self
                .cache_creation_input_token_cost
                .or(fallback.cache_creation_input_token_cost),
            base_model: self.base_model.or(fallback.base_model),
        }
    }

    /// True when any price (not just `base_model`) is set.
    pub fn has_prices(&self) -> bool {
        self.has_token_prices()
            || self.input_cost_per_second.is_some()
            || self.output_cost_per_second.is_some()
    }

    fn has_token_prices(&self) -> bool {
        self.input_cost_per_token.is_some()
            || self.output_cost_per_token.is_some()
            || self.cache_read_input_token_cost.is_some()
            || self.cache_creation_input_token_cost.is_some()
    }

    /// Lays the set fields over `price`.
    ///
    /// * A per-token input or output override replaces the table's threshold tiers too: those are
    ///   the public schedule around the public base rate, not the deployment's negotiated one.
    /// * A per-second override without any per-token override makes the deployment priced by
    ///   time only (LiteLLM's custom per-second pricing): the table's token rates are dropped.
    fn apply(&self, price: &mut ModelPrice) {
        if self.has_prices() && !self.has_token_prices() {
            *price = ModelPrice {
                litellm_provider: price.litellm_provider.take(),
                mode: price.mode.take(),
                max_tokens: price.max_tokens,
                max_input_tokens: price.max_input_tokens,
                max_output_tokens: price.max_output_tokens,
                ..ModelPrice::default()
            };
        }
        if self.input_cost_per_token.is_some() || self.output_cost_per_token.is_some() {
            clear_tiers(price);
        }
        let pairs = [
            (&mut price.input_cost_per_token, self.input_cost_per_token),
            (&mut price.output_cost_per_token, self.output_cost_per_token),
            (&mut price.input_cost_per_second, self.input_cost_per_second),
            (
                &mut price.output_cost_per_second,
                self.output_cost_per_second,
            ),
            (
                &mut price.cache_read_input_token_cost,
                self.cache_read_input_token_cost,
            ),
            (
                &mut price.cache_creation_input_token_cost,
                self.cache_creation_input_token_cost,
            ),
        ];
        for (slot, value) in pairs {
            if value.is_some() {
                *slot = value;
            }
        }
    }
}

fn clear_tiers(price: &mut ModelPrice) {
    price.input_cost_per_token_above_128k_tokens = None;
    price.input_cost_per_token_above_200k_tokens = None;
    price.input_cost_per_token_above_272k_tokens = None;
    price.output_cost_per_token_above_128k_tokens = None;
    price.output_cost_per_token_above_200k_tokens = None;
    price.output_cost_per_token_above_272k_tokens = None;
    price.cache_read_input_token_cost_above_200k_tokens = None;
    price.cache_read_input_token_cost_above_272k_tokens = None;
    price.cache_creation_input_token_cost_above_200k_tokens = None;
    price.cache_creation_input_token_cost_above_272k_tokens = None;
}

/// The price of a deployment: the table entry for `overrides.base_model` when set (falling back
/// to `model` when the table has no such entry), otherwise for `model` (see
/// [`PriceTable::lookup`]), with the override fields laid over it. A deployment whose model is
/// not in the table is still priced when its overrides carry prices. `None` when neither gives a
/// price: the caller decides what that means (LiteLLM logs the call at cost 0).
pub fn price_for(
    table: &PriceTable,
    model: &str,
    provider: Option<&str>,
    overrides: &Overrides,
) -> Option<ModelPrice> {
    let entry = overrides
        .base_model
        .as_deref()
        .and_then(|base| table.lookup(base, provider))
        .or_else(|| table.lookup(model, provider));
    let mut price = match entry {
        Some(entry) => entry.clone(),
        None if overrides.has_prices() => ModelPrice::default(),
        None => return None,
    };
    overrides.apply(&mut price);
    Some(price)
}

fn number(value: &Value, key: &str) -> Option<f64> {
    let parsed = match value.get(key)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    parsed.filter(|f| f.is_finite())
}
