//! Spend reports: daily activity per user, team, organization, customer and tag (LiteLLM's
//! `/…/daily/activity` shape), spend logs, and the global reports.

pub mod daily;
mod lookups;
mod reuse;
mod shape;
pub mod spend;
mod write;
