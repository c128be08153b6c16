//! Customers (the `user` of a request) with their budgets, cached like keys: the first request
//! of a customer reads the store, later ones read memory until a write invalidates the entry.

use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use tollgate_store::{BudgetRecord, CustomerRecord};

use crate::http::Result;
use crate::limits::check::CustomerAuth;
use crate::state::AppState;

pub struct CustomerCache {
    entries: Cache<String, Option<Arc<CustomerAuth>>>,
}

impl CustomerCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            entries: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ttl)
                .build(),
        }
    }

    /// The customer and its budget; `None` for a customer the gateway has not seen (it is
    /// created when its first spend is written).
    pub async fn get(&self, state: &AppState, id: &str) -> Result<Option<Arc<CustomerAuth>>> {
        if let Some(hit) = self.entries.get(id).await {
            return Ok(hit);
        }
        let record = state.store.get::<CustomerRecord>(&[id]).await?;
        let auth = match record {
            Some(record) => {
                let budget = match record.budget_id.as_deref() {
                    Some(b) => state.store.get::<BudgetRecord>(&[b]).await?,
                    None => None,
                };
                Some(Arc::new(CustomerAuth { record, budget }))
            }
            None => None,
        };
        self.entries.insert(id.to_owned(), auth.clone()).await;
        Ok(auth)
    }

    pub fn invalidate_all(&self) {
        self.entries.invalidate_all();
    }
}
