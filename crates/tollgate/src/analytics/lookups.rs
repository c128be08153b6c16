//! What an activity answer shows beside the sums: each API key's alias and team (through the
//! token history, so deleted and regenerated keys keep theirs) and each entity's label (team
//! and organization aliases). Looked up a day at a time, as the days are read, for the keys and
//! entities not seen on an earlier day.

use std::collections::HashMap;
use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde_json::json;
use tollgate_store::{
    DailyRow, EntityType, Filter, OrgRecord, Query, SqlValue, TeamRecord, TokenMeta,
};

use super::shape::address;
use crate::http::Result;
use crate::state::AppState;

/// Texts already looked up, by address: the store hands out one allocation per distinct text
/// of a read, so a text seen before is found without hashing it (the `Arc` kept here holds the
/// address for as long as it is a key).
#[derive(Default)]
struct Seen(FxHashMap<usize, Arc<str>>);

impl Seen {
    /// `true` the first time `text` is offered.
    fn first(&mut self, text: &Arc<str>) -> bool {
        self.0.insert(address(text), Arc::clone(text)).is_none()
    }
}

/// The keys' and entities' metadata of one answer.
pub struct Lookups {
    state: AppState,
    kind: EntityType,
    /// Entities are labelled only in the per-entity (paginated) answers.
    labelled: bool,
    keys_seen: Seen,
    entities_seen: Seen,
    /// Alias and team by key hash.
    pub keys: HashMap<String, TokenMeta>,
    /// The `metadata` object of each entity, as JSON, by entity id.
    pub labels: HashMap<String, String>,
}

impl Lookups {
    pub fn new(state: AppState, kind: EntityType, labelled: bool) -> Self {
        Self {
            state,
            kind,
            labelled,
            keys_seen: Seen::default(),
            entities_seen: Seen::default(),
            keys: HashMap::new(),
            labels: HashMap::new(),
        }
    }

    /// Looks up the keys and entities of `rows` not seen before.
    pub async fn fill(&mut self, rows: &[DailyRow]) -> Result<()> {
        let mut new_keys = Vec::new();
        let mut new_entities = Vec::new();
        for r in rows {
            if !r.api_key.is_empty() && self.keys_seen.first(&r.api_key) {
                new_keys.push(r.api_key.to_string());
            }
            match &r.entity_id {
                Some(e) if self.labelled && self.entities_seen.first(e) => {
                    new_entities.push(SqlValue::from(&**e));
                }
                _ => {}
            }
        }
        if !new_keys.is_empty() {
            let found = self.state.store.token_metadata(&new_keys).await?;
            self.keys.extend(found);
        }
        if !new_entities.is_empty() {
            self.label(new_entities).await?;
        }
        Ok(())
    }

    /// Labels of entities: team and organization aliases; other kinds have none.
    async fn label(&mut self, ids: Vec<SqlValue>) -> Result<()> {
        let store = &self.state.store;
        match self.kind {
            EntityType::Team => {
                let teams = store
                    .list::<TeamRecord>(&Query::default().filter(Filter::In("team_id", ids)))
                    .await?;
                for t in teams.items {
                    let label = json!({"team_alias": t.team_alias}).to_string();
                    self.labels.insert(t.team_id, label);
                }
            }
            EntityType::Organization => {
                let orgs = store
                    .list::<OrgRecord>(&Query::default().filter(Filter::In("organization_id", ids)))
                    .await?;
                for o in orgs.items {
                    let label = json!({"organization_alias": o.organization_alias}).to_string();
                    self.labels.insert(o.organization_id, label);
                }
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_is_new_once_per_allocation() {
        let (a, b): (Arc<str>, Arc<str>) = ("k".into(), "k".into());
        let mut seen = Seen::default();
        assert!(seen.first(&a));
        assert!(!seen.first(&Arc::clone(&a)));
        // Another allocation of the same text is looked up again: harmless, and never wrong.
        assert!(seen.first(&b));
    }
}
