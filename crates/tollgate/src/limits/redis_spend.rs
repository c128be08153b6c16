//! Budget spend counters in Redis, shared by every replica: `<prefix>spend:<entity>` holds the
//! live spend of an entity. A counter starts from the spend this replica knows (stored plus its
//! own live spend) the first time a budget check needs it (the gate script of [`super::redis`]),
//! grows by `INCRBYFLOAT` with every finished call (the settle script), and is overwritten by
//! budget resets and admin edits. Counters expire after a day without a reset, and then start
//! again from the database.

use super::redis::RedisLimits;
use super::redis_link::RedisResult;
use super::resp::Command;
use super::Entity;

/// How long a counter lives before it starts again from the database.
pub(super) const COUNTER_TTL_SECS: u64 = 24 * 3600;

impl RedisLimits {
    pub(super) fn spend_key(&self, e: &Entity) -> String {
        let mut key = String::with_capacity(self.prefix.len() + 64);
        key.push_str(&self.prefix);
        key.push_str("spend:");
        e.write_counter_key(&mut key);
        key
    }

    /// Sets an entity's spend (a budget reset or an admin edit).
    pub async fn set_spend(&self, entity: &Entity, spend: f64) -> RedisResult<()> {
        let mut set = Command::new("SET");
        set.arg(self.spend_key(entity))
            .arg(spend)
            .arg("EX")
            .arg(COUNTER_TTL_SECS);
        self.link().query(&set).await.map(drop)
    }
}
