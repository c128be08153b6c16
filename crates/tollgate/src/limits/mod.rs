//! Budgets and rate limits, checked on the hot path from memory: live spend per entity
//! ([`ledger`]), request/token/parallel counters behind a trait ([`rate`]), and the checks that
//! combine them for one request ([`check`]). With Redis, counters and spend are shared by every
//! replica ([`redis`], [`redis_spend`], over [`redis_link`]), with this replica's counters as the fallback
//! ([`shared`]).

pub mod check;
pub mod ledger;
pub mod period;
pub mod rate;
pub mod redis;
pub mod redis_link;
pub mod redis_spend;
pub mod resp;
pub mod shared;

/// Something that has spend and limits.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum Entity {
    Key(String),
    User(String),
    Team(String),
    Member { team: String, user: String },
    Org(String),
    Customer(String),
    Tag(String),
    Global,
}

impl Entity {
    /// A stable name for counters (`key:<id>`, `team:<id>`, ...).
    pub fn counter_key(&self) -> String {
        match self {
            Entity::Key(id) => format!("key:{id}"),
            Entity::User(id) => format!("user:{id}"),
            Entity::Team(id) => format!("team:{id}"),
            Entity::Member { team, user } => format!("member:{team}:{user}"),
            Entity::Org(id) => format!("org:{id}"),
            Entity::Customer(id) => format!("customer:{id}"),
            Entity::Tag(t) => format!("tag:{t}"),
            Entity::Global => "global".to_owned(),
        }
    }
}
