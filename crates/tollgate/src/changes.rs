//! Changes that cached state must see: applied on this replica at once, and sent to every other
//! replica through the store's notification channel (PostgreSQL `LISTEN/NOTIFY`), so that a
//! block, delete, regeneration, budget or model change made on one replica holds on all of them
//! within moments. The caches' TTL stays as the safety net for a lost message.

use serde::{Deserialize, Serialize};

use crate::limits::Entity;
use crate::state::AppState;

const CHANNEL: &str = "tollgate_changes";

/// What changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    Key {
        id: String,
    },
    User {
        id: String,
    },
    Team {
        id: String,
    },
    /// Customers and their budgets.
    Customers,
    /// Organizations, budgets, or anything else many keys hang on.
    All,
    /// Stored models: rebuild the router.
    Models,
    /// An entity's spend was set (admin edit, reset): live spend follows.
    Spend {
        entity: Entity,
        spend: f64,
    },
}

#[derive(Serialize, Deserialize)]
struct Message {
    origin: String,
    change: Change,
}

impl AppState {
    /// Applies a change here and tells the other replicas. A spend edit also sets the shared
    /// counter (Redis), once, from the replica that made it.
    pub fn changed(&self, change: Change) {
        self.apply_change(&change);
        if let (Change::Spend { entity, spend }, Some(shared)) =
            (&change, self.shared_limits.clone())
        {
            let (entity, spend) = (entity.clone(), *spend);
            tokio::spawn(async move { shared.set(&entity, spend).await });
        }
        self.announce(change);
    }

    /// Tells the other replicas of a change already applied here.
    pub fn announce(&self, change: Change) {
        let store = self.store.clone();
        let message = Message {
            origin: self.replica_id.clone(),
            change,
        };
        if let Ok(payload) = serde_json::to_string(&message) {
            tokio::spawn(async move {
                if let Err(e) = store.notify(CHANNEL, &payload).await {
                    tracing::warn!(
                        "could not tell other replicas of a change (their caches expire it): {e}"
                    );
                }
            });
        }
    }

    fn apply_change(&self, change: &Change) {
        match change {
            Change::Key { id } => self.keys.invalidate_key(id),
            Change::User { id } => self.keys.invalidate_user(id),
            Change::Team { id } => self.keys.invalidate_team(id),
            Change::Customers => self.customers.invalidate_all(),
            Change::All => self.invalidate_all(),
            Change::Models => {
                let state = self.clone();
                tokio::spawn(async move {
                    if let Err(e) = crate::admin::models::reload(&state).await {
                        tracing::error!("could not reload models: {e}");
                    }
                });
            }
            Change::Spend { entity, spend } => self.ledger.set(entity, *spend),
        }
    }
}

/// Applies the changes other replicas announce, for as long as the process runs.
pub async fn listen(state: AppState) {
    let mut rx = match state.store.listen(CHANNEL).await {
        Ok(Some(rx)) => rx,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(
                "not listening for other replicas' changes (caches expire them instead): {e}"
            );
            return;
        }
    };
    while let Some(payload) = rx.recv().await {
        match serde_json::from_str::<Message>(&payload) {
            Ok(m) if m.origin != state.replica_id => {
                // Models are reloaded by the replica that changed them before it answers.
                state.apply_change(&m.change);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("ignoring an unreadable change message: {e}"),
        }
    }
}
