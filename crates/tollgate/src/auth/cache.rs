//! The key cache: token hash → the key and what it resolves to (user, team, membership).
//! Every write to a key, user or team on this replica invalidates the affected entries at once;
//! a bounded TTL is the safety net for changes made elsewhere. Expired entries stay in a second,
//! size-bounded layer that is read only while the database cannot be reached, so that keys seen
//! before an outage keep working through it (invalidations remove them from both layers).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use foldhash::fast::RandomState;
use moka::future::Cache;
use tollgate_store::{BudgetRecord, KeyRecord, OrgRecord, TeamMember, TeamRecord, UserRecord};

/// A key with everything the auth checks need about it.
#[derive(Debug, Clone)]
pub struct KeyAuth {
    pub key: KeyRecord,
    pub user: Option<UserRecord>,
    pub team: Option<TeamRecord>,
    pub membership: Option<TeamMember>,
    pub org: Option<OrgRecord>,
    pub org_budget: Option<BudgetRecord>,
    /// The budget the key links through `budget_id`.
    pub key_budget: Option<BudgetRecord>,
    /// Set when the token is a regenerated one still in its grace period: when that ends.
    pub grace_until: Option<chrono::DateTime<chrono::Utc>>,
}

/// Cached key lookups.
pub struct KeyCache {
    entries: Cache<String, Arc<KeyAuth>, RandomState>,
    /// Last known value of every cached key, without TTL: the outage fallback.
    stale: Cache<String, Arc<KeyAuth>, RandomState>,
    /// Bumped by every invalidation, so that a lookup that raced one does not cache stale data.
    generation: AtomicU64,
}

impl KeyCache {
    pub fn new(capacity: u64, ttl: Duration) -> Self {
        Self {
            entries: Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl)
                .support_invalidation_closures()
                .build_with_hasher(RandomState::default()),
            stale: Cache::builder()
                .max_capacity(capacity)
                .support_invalidation_closures()
                .build_with_hasher(RandomState::default()),
            generation: AtomicU64::new(0),
        }
    }

    pub async fn get(&self, token: &str) -> Option<Arc<KeyAuth>> {
        self.entries.get(token).await
    }

    /// The last known value of a key, however old: only for when the store cannot answer.
    pub async fn get_stale(&self, token: &str) -> Option<Arc<KeyAuth>> {
        self.stale.get(token).await
    }

    /// The generation to pass to [`KeyCache::insert`] after loading from the store.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Caches a lookup unless an invalidation happened since `generation` was read.
    pub async fn insert(&self, token: String, auth: Arc<KeyAuth>, generation: u64) {
        if self.generation() == generation {
            self.stale.insert(token.clone(), auth.clone()).await;
            self.entries.insert(token, auth).await;
        }
    }

    fn bump(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Drops every entry of one key, whatever token it was cached under.
    pub fn invalidate_key(&self, key_id: &str) {
        self.bump();
        let key_id = key_id.to_owned();
        self.invalidate_if(move |a| a.key.key_id == key_id);
    }

    /// Drops entries of keys owned by a user or that resolved that user.
    pub fn invalidate_user(&self, user_id: &str) {
        self.bump();
        let user_id = user_id.to_owned();
        self.invalidate_if(move |a| a.key.user_id.as_deref() == Some(user_id.as_str()));
    }

    /// Drops entries of a team's keys.
    pub fn invalidate_team(&self, team_id: &str) {
        self.bump();
        let team_id = team_id.to_owned();
        self.invalidate_if(move |a| a.key.team_id.as_deref() == Some(team_id.as_str()));
    }

    /// Drops everything (organization and budget changes, which few entries carry).
    pub fn invalidate_all(&self) {
        self.bump();
        self.entries.invalidate_all();
        self.stale.invalidate_all();
    }

    fn invalidate_if(&self, pred: impl Fn(&Arc<KeyAuth>) -> bool + Clone + Send + Sync + 'static) {
        for layer in [&self.entries, &self.stale] {
            let pred = pred.clone();
            if layer.invalidate_entries_if(move |_, v| pred(v)).is_err() {
                // Only fails when closures are unsupported, which `new` enables; fall back safely.
                layer.invalidate_all();
            }
        }
    }
}
