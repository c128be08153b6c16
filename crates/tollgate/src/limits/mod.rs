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
    /// Appends a stable name for counters (`key:<id>`, `team:<id>`, `global`, ...) to `out`
    /// (Redis keys are built on every request).
    pub fn write_counter_key(&self, out: &mut String) {
        let (kind, id): (&str, &str) = match self {
            Entity::Key(id) => ("key:", id),
            Entity::User(id) => ("user:", id),
            Entity::Team(id) => ("team:", id),
            Entity::Member { team, user } => {
                for part in ["member:", team, ":", user] {
                    out.push_str(part);
                }
                return;
            }
            Entity::Org(id) => ("org:", id),
            Entity::Customer(id) => ("customer:", id),
            Entity::Tag(t) => ("tag:", t),
            Entity::Global => ("global", ""),
        };
        out.push_str(kind);
        out.push_str(id);
    }
}

#[cfg(test)]
mod tests {
    use super::Entity;

    /// Replicas of different versions share these names in Redis: they must not change.
    #[test]
    fn counter_keys_are_stable() {
        let name = |e: Entity| {
            let mut out = String::from("p:");
            e.write_counter_key(&mut out);
            out
        };
        assert_eq!(name(Entity::Key("k".into())), "p:key:k");
        assert_eq!(name(Entity::Customer("c".into())), "p:customer:c");
        let member = Entity::Member {
            team: "t".into(),
            user: "u".into(),
        };
        assert_eq!(name(member), "p:member:t:u");
        assert_eq!(name(Entity::Global), "p:global");
    }
}
