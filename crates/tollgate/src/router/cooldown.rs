//! Cooldown of failing deployments (`router_settings.allowed_fails`, `cooldown_time`): a
//! deployment that fails `allowed_fails` times within a minute gets no traffic for
//! `cooldown_time` seconds. With Redis the counts and cooldowns are shared by every replica (one
//! round trip to record a failure; one to read a group's cooldowns, only for groups of more
//! than one deployment); without it, or while Redis is down, each replica keeps its own.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::limits::redis::RedisLimits;
use crate::limits::redis_link::Script;
use crate::limits::resp::{Command, Reply};

/// The window failures are counted in.
const FAIL_WINDOW: Duration = Duration::from_secs(60);

/// INCR the failure count (window starts at the first failure); at the threshold, set the
/// cooldown key with its TTL. KEYS: fails, cool. ARGV: allowed, window ms, cooldown ms.
const FAIL: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if n >= tonumber(ARGV[1]) then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
  redis.call('DEL', KEYS[1])
end
return n
";

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[derive(Debug)]
struct Slot {
    start: Instant,
    fails: u32,
    cooled_until: Option<Instant>,
}

/// Failure counts and cooldowns of deployments.
pub struct Cooldowns {
    allowed_fails: u32,
    cooldown: Duration,
    local: Mutex<HashMap<String, Slot>>,
    redis: Option<Arc<RedisLimits>>,
    fail_script: Script,
}

impl Cooldowns {
    pub fn new(allowed_fails: u32, cooldown: Duration, redis: Option<Arc<RedisLimits>>) -> Self {
        Self {
            allowed_fails: allowed_fails.max(1),
            cooldown,
            local: Mutex::new(HashMap::new()),
            redis,
            fail_script: Script::new(FAIL),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, Slot>) -> T) -> T {
        let mut m = match self.local.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        f(&mut m)
    }

    fn keys(redis: &RedisLimits, id: &str) -> (String, String) {
        (
            format!("{}cd:fails:{id}", redis.prefix),
            format!("{}cd:cool:{id}", redis.prefix),
        )
    }

    /// Records a failed call to a deployment.
    pub async fn failed(&self, id: &str) {
        if let Some(redis) = &self.redis {
            let (fails, cool) = Self::keys(redis, id);
            let (mut keys, mut args) = (Command::list(), Command::list());
            keys.arg(fails).arg(cool);
            args.arg(self.allowed_fails)
                .arg(millis(FAIL_WINDOW))
                .arg(millis(self.cooldown));
            let call = redis.link().eval(&self.fail_script, &keys, &args);
            if redis.guarded(call).await.is_some() {
                return;
            }
        }
        self.fail_locally(id, Instant::now());
    }

    fn fail_locally(&self, id: &str, now: Instant) {
        let (allowed, cooldown) = (self.allowed_fails, self.cooldown);
        self.with(|m| {
            let slot = m.entry(id.to_owned()).or_insert(Slot {
                start: now,
                fails: 0,
                cooled_until: None,
            });
            if now.duration_since(slot.start) >= FAIL_WINDOW {
                slot.start = now;
                slot.fails = 0;
            }
            slot.fails += 1;
            if slot.fails >= allowed {
                slot.cooled_until = Some(now + cooldown);
                slot.fails = 0;
            }
        });
    }

    /// Which of these deployments are cooling down now.
    pub async fn cooled(&self, ids: &[String]) -> HashSet<String> {
        if let Some(redis) = &self.redis {
            let mut mget = Command::new("MGET");
            for id in ids {
                mget.arg(Self::keys(redis, id).1);
            }
            let read = redis.link().query(&mget);
            if let Some(Reply::Array(values)) = redis.guarded(read).await {
                return ids
                    .iter()
                    .zip(values)
                    .filter(|(_, v)| *v != Reply::Nil)
                    .map(|(id, _)| id.clone())
                    .collect();
            }
        }
        let now = Instant::now();
        self.with(|m| {
            ids.iter()
                .filter(|id| {
                    m.get(*id)
                        .and_then(|s| s.cooled_until)
                        .is_some_and(|t| t > now)
                })
                .cloned()
                .collect()
        })
    }

    /// How long a cooldown lasts (for retry-after when a whole group is cooling down).
    pub fn cooldown(&self) -> Duration {
        self.cooldown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn cools_down_after_allowed_fails_then_recovers() {
        let c = Cooldowns::new(2, Duration::from_millis(150), None);
        let ids = vec!["a".to_owned(), "b".to_owned()];
        c.failed("a").await;
        assert!(c.cooled(&ids).await.is_empty());
        c.failed("a").await;
        assert_eq!(c.cooled(&ids).await, HashSet::from(["a".to_owned()]));
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(c.cooled(&ids).await.is_empty());
    }
}
