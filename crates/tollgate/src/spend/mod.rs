//! Pricing, spend events, batching writer, daily aggregates.

pub mod pricing;
