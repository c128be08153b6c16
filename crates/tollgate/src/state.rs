//! The application state: one `Clone` struct of shared parts, handed to every handler.

use std::sync::Arc;
use std::time::Duration;

use tollgate_store::Store;

use crate::auth::KeyCache;
use crate::config::Settings;

/// Shared state of one gateway process.
#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: Arc<dyn Store>,
    pub keys: Arc<KeyCache>,
}

impl AppState {
    pub fn new(settings: Settings, store: Arc<dyn Store>) -> Self {
        Self {
            settings: Arc::new(settings),
            store,
            keys: Arc::new(KeyCache::new(100_000, Duration::from_secs(60))),
        }
    }
}
