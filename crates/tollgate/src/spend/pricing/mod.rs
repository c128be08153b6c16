//! Pricing of one call: LiteLLM's public price map embedded in the binary ([`PriceTable`]), model
//! lookup with LiteLLM's key forms, the upstream's token usage ([`Usage`]), per-deployment
//! [`Overrides`], the [`cost`] formula, and local token counts for upstreams that report none.
//!
//! Everything here is pure: no I/O, no clock, no global state besides the lazily built tokenizers.
//! Load the table once at start ([`PriceTable::embedded`]) and share it.

mod cost;
mod counts;
mod overrides;
mod table;
mod tokens;
mod usage;

pub use cost::{cost, cost_with_duration, Cost};
pub use counts::{Counts, UsageObject};
pub use overrides::{price_for, Overrides};
pub use table::{ModelPrice, PriceTable, PricingError};
pub use tokens::{count_message_tokens, count_tokens};
pub use usage::Usage;

#[cfg(test)]
mod tests;
