//! Budgets and rate limits.

pub mod period;
