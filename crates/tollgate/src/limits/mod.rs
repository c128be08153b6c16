//! Budgets and rate limits.
