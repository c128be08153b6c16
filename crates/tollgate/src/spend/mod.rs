//! Pricing, spend events, the crash-safe journal, batching writer, daily aggregates.

pub mod journal;
pub mod pricing;
pub mod replay;
pub mod reset;
pub mod retention;
pub mod writer;
