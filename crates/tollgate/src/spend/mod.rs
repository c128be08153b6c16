//! Pricing, spend events, batching writer, daily aggregates.

pub mod pricing;
pub mod reset;
pub mod retention;
pub mod writer;
