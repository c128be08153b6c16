//! Budget spend counters in Redis, shared by every replica: `<prefix>spend:<entity>` holds the
//! live spend of an entity. A counter starts from the spend this replica knows (stored plus its
//! own live spend) the first time a budget check needs it, grows by `INCRBYFLOAT` with every
//! finished call, and is overwritten by budget resets and admin edits. Counters expire after a
//! day without a reset, and then start again from the database.

use std::sync::LazyLock;

use redis::{RedisResult, Script};

use super::redis::RedisLimits;
use super::Entity;

/// How long a counter lives before it starts again from the database.
const COUNTER_TTL_SECS: u64 = 24 * 3600;

/// Reads each counter, creating the missing ones from ARGV (the known spend); ARGV[n+1] is the
/// TTL. Returns the values as strings (Lua numbers would lose the fraction).
static READ: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local out = {}
local ttl = ARGV[#KEYS + 1]
for i = 1, #KEYS do
  local v = redis.call('GET', KEYS[i])
  if not v then
    redis.call('SET', KEYS[i], ARGV[i], 'EX', ttl)
    v = ARGV[i]
  end
  out[i] = v
end
return out
",
    )
});

/// Adds ARGV[1] to the counters that exist (missing ones start from the database when read).
static ADD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('INCRBYFLOAT', KEYS[i], ARGV[1])
  end
end
return 1
",
    )
});

impl RedisLimits {
    fn spend_key(&self, e: &Entity) -> String {
        format!("{}spend:{}", self.prefix, e.counter_key())
    }

    /// The shared spend of entities, each created from `known` when missing: one round trip.
    pub async fn read_spend(&self, entities: &[(Entity, f64)]) -> RedisResult<Vec<f64>> {
        let mut inv = READ.prepare_invoke();
        for (e, known) in entities {
            inv.key(self.spend_key(e)).arg(known.to_string());
        }
        inv.arg(COUNTER_TTL_SECS);
        let values: Vec<String> = inv.invoke_async(&mut self.conn()).await?;
        Ok(values
            .iter()
            .map(|v| v.parse::<f64>().unwrap_or(0.0))
            .collect())
    }

    /// Adds a call's cost to every entity it is billed to: one round trip.
    pub async fn add_spend(&self, entities: &[Entity], amount: f64) -> RedisResult<()> {
        let mut inv = ADD.prepare_invoke();
        inv.arg(amount.to_string());
        for e in entities {
            inv.key(self.spend_key(e));
        }
        inv.invoke_async::<i64>(&mut self.conn()).await.map(drop)
    }

    /// Sets an entity's spend (a budget reset or an admin edit).
    pub async fn set_spend(&self, entity: &Entity, spend: f64) -> RedisResult<()> {
        redis::cmd("SET")
            .arg(self.spend_key(entity))
            .arg(spend.to_string())
            .arg("EX")
            .arg(COUNTER_TTL_SECS)
            .query_async::<()>(&mut self.conn())
            .await
    }
}
