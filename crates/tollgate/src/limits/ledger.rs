//! Live spend per entity on this replica, so that a budget check sees spend at most one request
//! old without waiting for the database. An entry starts from the stored spend the first time
//! the entity is seen and grows with every finished request; the stored value can only raise it
//! (other writers), never lower it, except through [`Ledger::set`] (admin edits, budget resets).

use foldhash::HashMap;
use std::sync::Mutex;

use super::Entity;

#[derive(Debug, Default)]
pub struct Ledger {
    spend: Mutex<HashMap<Entity, f64>>,
}

impl Ledger {
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<Entity, f64>) -> T) -> T {
        let mut map = match self.spend.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut map)
    }

    /// Current spend of an entity whose stored spend is `stored`.
    pub fn current(&self, entity: &Entity, stored: f64) -> f64 {
        self.with(|m| match m.get_mut(entity) {
            Some(v) => {
                if stored > *v {
                    *v = stored;
                }
                *v
            }
            None => {
                m.insert(entity.clone(), stored);
                stored
            }
        })
    }

    /// Adds spend to entities; returns nothing, as callers read back with [`Ledger::current`].
    pub fn add(&self, entities: &[Entity], amount: f64) {
        if amount == 0.0 {
            return;
        }
        self.with(|m| {
            for e in entities {
                match m.get_mut(e) {
                    Some(v) => *v += amount,
                    None => {
                        m.insert(e.clone(), amount);
                    }
                }
            }
        });
    }

    /// Sets spend (an admin edit or a budget reset).
    pub fn set(&self, entity: &Entity, spend: f64) {
        self.with(|m| {
            m.insert(entity.clone(), spend);
        });
    }

    /// Forgets an entity, so the next read starts from the stored value.
    pub fn forget(&self, entity: &Entity) {
        self.with(|m| {
            m.remove(entity);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_from_storage_and_grows() {
        let l = Ledger::new();
        let k = Entity::Key("k".into());
        assert_eq!(l.current(&k, 1.0), 1.0);
        l.add(std::slice::from_ref(&k), 0.5);
        assert_eq!(l.current(&k, 1.0), 1.5);
        // A higher stored value (another writer) raises it; a lower one does not.
        assert_eq!(l.current(&k, 2.0), 2.0);
        assert_eq!(l.current(&k, 0.0), 2.0);
        l.set(&k, 0.0);
        assert_eq!(l.current(&k, 0.0), 0.0);
    }
}
