//! Rate-limit counters and budget spend in Redis, shared by every replica. A request costs two
//! round trips, each one Lua script that runs atomically on the server: [`RedisLimits::gate`]
//! before the upstream call (budget counters read, then rate limits counted) and
//! [`RedisLimits::settle`] after it (cost and tokens added). Rate-limit keys live under
//! `<prefix>rl:`: a hash per descriptor with the requests (`r`) and tokens (`t`) of its fixed
//! window, which expires 60 s after the first request, and `<prefix>rl:<descriptor>:inflight`
//! for requests in flight, with a safety TTL so that a crashed replica cannot hold slots forever.
//! Spend counters are described in [`super::redis_spend`].

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::rate::{Limit, LimitType, Refusal, Remaining, WINDOW};
use super::redis_link::{RedisError, RedisLink, RedisResult, Script};
use super::redis_spend::COUNTER_TTL_SECS;
use super::resp::{Command, Reply};
use super::Entity;

/// How long an in-flight counter lives without a new request (a crashed replica's slots).
const INFLIGHT_TTL: Duration = Duration::from_secs(15 * 60);
/// How long to serve from local counters after Redis failed, before trying it again.
pub const RETRY_AFTER: Duration = Duration::from_secs(3);

/// Reads the budget counters (creating missing ones from the spend the replica knows); when
/// every budget has room, checks every rate-limit descriptor (rolled windows), then counts the
/// request on all of them, or none. A window is read once and written once: each `redis.call`
/// is a good part of the script's work on the server (5,000-9,000 instructions each), and so is
/// each key and argument Redis takes in (~1,500): the constants are written into the script
/// ([`script`]), and a descriptor's in-flight key is sent only when it has a parallel limit. A
/// window's expiry is read only to answer a refusal: a window that exists has one (whoever
/// creates a window sets it), so only a new window gets one here; a window found without one
/// when it refuses gets one then, so that none can hold a limit forever.
/// KEYS: `m` spend counters, then the window of each descriptor, then the in-flight key of each
/// descriptor that has a parallel limit. ARGV: `m`, (known spend, budget) per counter, then rpm,
/// tpm, parallel per descriptor (-1: none).
/// Returns `{spends, admission}`: the counters as strings (Lua numbers would lose the fraction),
/// and `{}` when a budget is spent (nothing counted), `{1, r1, t1, r2, t2...}` when admitted,
/// `{0, index, kind, retry_ms}` when a rate limit refused.
const GATE: &str = r"
local m = tonumber(ARGV[1])
local spends = {}
local spent = false
for i = 1, m do
  local known = ARGV[2 * i]
  local v = redis.call('GET', KEYS[i])
  if not v then
    redis.call('SET', KEYS[i], known, 'EX', @COUNTER_TTL_SECS@)
    v = known
  end
  spends[i] = v
  if math.max(tonumber(v), tonumber(known)) >= tonumber(ARGV[2 * i + 1]) then spent = true end
end
if spent then return {spends, {}} end
local a = 2 * m + 1
local n = (#ARGV - a) / 3
local function left(w)
  local ttl = redis.call('PTTL', w)
  if ttl < 0 then
    redis.call('PEXPIRE', w, @WINDOW_MS@)
    ttl = @WINDOW_MS@
  end
  return ttl
end
local tokens, fresh, inflight = {}, {}, {}
local f = m + n
for i = 1, n do
  local w = KEYS[m + i]
  local rpm = tonumber(ARGV[a + 3 * i - 2])
  local tpm = tonumber(ARGV[a + 3 * i - 1])
  local par = tonumber(ARGV[a + 3 * i])
  local rt = redis.call('HMGET', w, 'r', 't')
  local r = tonumber(rt[1] or '0')
  local t = tonumber(rt[2] or '0')
  tokens[i], fresh[i] = t, not rt[1] and not rt[2]
  if rpm >= 0 and r >= rpm then return {spends, {0, i, 1, left(w)}} end
  if tpm >= 0 and t >= tpm then return {spends, {0, i, 2, left(w)}} end
  if par >= 0 then
    f = f + 1
    inflight[i] = KEYS[f]
    if tonumber(redis.call('GET', KEYS[f]) or '0') >= par then
      return {spends, {0, i, 3, 1000}}
    end
  end
end
local out = {1}
for i = 1, n do
  local w = KEYS[m + i]
  local r = redis.call('HINCRBY', w, 'r', 1)
  if fresh[i] then redis.call('PEXPIRE', w, @WINDOW_MS@) end
  if inflight[i] then
    redis.call('INCR', inflight[i])
    redis.call('PEXPIRE', inflight[i], @INFLIGHT_TTL_MS@)
  end
  out[#out + 1] = r
  out[#out + 1] = tokens[i]
end
return {spends, out}
";

/// Adds a finished call's cost to the spend counters that exist (missing ones start from the
/// database when next read) and its tokens to the rate windows (starting one if none is open).
/// A window whose tokens were more than zero before already has an expiry (whoever created it
/// gave it one), so the expiry is looked at only when these tokens are its first.
/// KEYS: `m` spend counters, then windows. ARGV: `m`, cost, tokens.
const SETTLE: &str = r"
local m = tonumber(ARGV[1])
local tokens = tonumber(ARGV[3])
for i = 1, m do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('INCRBYFLOAT', KEYS[i], ARGV[2])
  end
end
for i = m + 1, #KEYS do
  if redis.call('HINCRBY', KEYS[i], 't', tokens) <= tokens and redis.call('PTTL', KEYS[i]) < 0 then
    redis.call('PEXPIRE', KEYS[i], @WINDOW_MS@)
  end
end
return 1
";

/// A script's text with its constants written in (`@NAME@`).
fn script(body: &str) -> Script {
    Script::new(
        body.replace("@COUNTER_TTL_SECS@", &COUNTER_TTL_SECS.to_string())
            .replace("@WINDOW_MS@", &millis(WINDOW).to_string())
            .replace("@INFLIGHT_TTL_MS@", &millis(INFLIGHT_TTL).to_string()),
    )
}

/// Ends one in-flight request on each counter.
const RELEASE: &str = r"
for i = 1, #KEYS do
  if redis.call('DECR', KEYS[i]) <= 0 then redis.call('DEL', KEYS[i]) end
end
return 1
";

/// A budget a request must be under, as the gate checks it.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetProbe {
    pub entity: Entity,
    /// The spend this replica knows (stored plus its own live spend).
    pub known: f64,
    pub max: f64,
}

/// The gate's answer.
#[derive(Debug)]
pub struct Gate {
    /// The shared spend of each budget, in order.
    pub spend: Vec<f64>,
    /// The rate limits' answer; `None` when a budget was spent, and nothing was counted.
    pub admission: Option<Result<Vec<Remaining>, Refusal>>,
}

/// A Redis connection with the scripts of shared limits and whether Redis currently answers.
pub struct RedisLimits {
    link: RedisLink,
    pub(crate) prefix: String,
    gate: Script,
    settle: Script,
    release: Script,
    /// Since when Redis has been failing (`None`: healthy).
    down_since: Mutex<Option<Instant>>,
}

impl RedisLimits {
    /// A client for `url`; connects on first use, so a Redis that is down does not stop startup.
    pub fn open(url: &str, prefix: &str) -> RedisResult<Self> {
        Ok(Self {
            link: RedisLink::new(url)?,
            prefix: prefix.to_owned(),
            gate: script(GATE),
            settle: script(SETTLE),
            release: script(RELEASE),
            down_since: Mutex::new(None),
        })
    }

    pub(crate) fn link(&self) -> &RedisLink {
        &self.link
    }

    fn with_health<T>(&self, f: impl FnOnce(&mut Option<Instant>) -> T) -> T {
        let mut m = match self.down_since.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        f(&mut m)
    }

    /// Whether to try Redis now: it is healthy, or it failed long enough ago to retry.
    pub fn available(&self) -> bool {
        self.with_health(|d| d.is_none_or(|t| t.elapsed() >= RETRY_AFTER))
    }

    /// Runs one Redis operation unless Redis is resting after a failure; records the outcome.
    /// `None` means: serve from this replica.
    pub async fn guarded<T>(
        &self,
        op: impl std::future::Future<Output = RedisResult<T>>,
    ) -> Option<T> {
        if !self.available() {
            return None;
        }
        match op.await {
            Ok(v) => {
                if self.with_health(Option::take).is_some() {
                    tracing::info!("Redis is reachable again: limits are shared across replicas");
                }
                Some(v)
            }
            Err(e) => {
                let first = self.with_health(|d| d.replace(Instant::now()).is_none());
                if first {
                    tracing::warn!("Redis unavailable, falling back to per-replica limits: {e}");
                }
                None
            }
        }
    }

    fn window_key(&self, descriptor: &str) -> String {
        [&self.prefix, "rl:", descriptor].concat()
    }

    fn inflight_key(&self, descriptor: &str) -> String {
        [&self.prefix, "rl:", descriptor, ":inflight"].concat()
    }

    /// Counts a request against every limit in one round trip, or refuses it.
    pub async fn admit(&self, limits: &[Limit]) -> RedisResult<Result<Vec<Remaining>, Refusal>> {
        let gate = self.gate(&[], limits).await?;
        Ok(gate.admission.unwrap_or_else(|| Ok(Vec::new())))
    }

    /// A request's budgets and rate limits in one round trip: the shared spend of each budget
    /// (its counter created from the spend this replica knows when missing) and, when every
    /// budget has room, the rate limits' answer.
    pub async fn gate(&self, budgets: &[BudgetProbe], limits: &[Limit]) -> RedisResult<Gate> {
        let (mut keys, mut args) = (Command::list(), Command::list());
        args.arg(budgets.len());
        for b in budgets {
            keys.arg(self.spend_key(&b.entity));
            args.arg(b.known).arg(b.max);
        }
        let opt = |v: Option<u64>| v.map_or(-1, |v| i64::try_from(v).unwrap_or(i64::MAX));
        for l in limits {
            keys.arg(self.window_key(&l.key));
            args.arg(opt(l.rpm)).arg(opt(l.tpm)).arg(opt(l.parallel));
        }
        for l in limits.iter().filter(|l| l.parallel.is_some()) {
            keys.arg(self.inflight_key(&l.key));
        }
        let reply = self.link.eval(&self.gate, &keys, &args).await?;
        let (spends, out) = gate_reply(reply)?;
        Ok(Gate {
            spend: spends,
            admission: (!out.is_empty()).then(|| decode(limits, &out)),
        })
    }

    /// Adds a finished call's cost to its entities' spend counters and its tokens to the rate
    /// windows of `rate_keys`, in one round trip.
    pub async fn settle(
        &self,
        entities: &[Entity],
        cost: f64,
        rate_keys: &[String],
        tokens: u64,
    ) -> RedisResult<()> {
        let Some((keys, args)) = self.settle_call(entities, cost, rate_keys, tokens) else {
            return Ok(());
        };
        self.link.eval(&self.settle, &keys, &args).await.map(drop)
    }

    /// As [`Self::settle`], but without waiting: the command is written to Redis before this
    /// returns (so a request that follows the call's response sees it), and its reply is read
    /// and dropped later. `false` when it could not be written (no open connection, or Redis is
    /// resting after a failure): [`Self::settle`] then.
    pub fn settle_unawaited(
        &self,
        entities: &[Entity],
        cost: f64,
        rate_keys: &[String],
        tokens: u64,
    ) -> bool {
        if !self.available() {
            return false;
        }
        match self.settle_call(entities, cost, rate_keys, tokens) {
            Some((keys, args)) => self.link.eval_unawaited(&self.settle, &keys, &args),
            None => true,
        }
    }

    /// The settle script's keys and arguments; `None` when there is nothing to add.
    fn settle_call(
        &self,
        entities: &[Entity],
        cost: f64,
        rate_keys: &[String],
        tokens: u64,
    ) -> Option<(Command, Command)> {
        let entities = if cost == 0.0 { &[][..] } else { entities };
        let rate_keys = if tokens == 0 { &[][..] } else { rate_keys };
        if entities.is_empty() && rate_keys.is_empty() {
            return None;
        }
        let (mut keys, mut args) = (Command::list(), Command::list());
        args.arg(entities.len()).arg(cost).arg(tokens);
        for e in entities {
            keys.arg(self.spend_key(e));
        }
        for k in rate_keys {
            keys.arg(self.window_key(k));
        }
        Some((keys, args))
    }

    /// Adds a finished request's tokens, in one round trip.
    pub async fn add_tokens(&self, keys: &[String], tokens: u64) -> RedisResult<()> {
        self.settle(&[], 0.0, keys, tokens).await
    }

    /// As [`Self::release`], but without waiting (see [`Self::settle_unawaited`]); `false` when
    /// nothing could be written.
    pub fn release_unawaited(&self, keys: &[String]) -> bool {
        if !self.available() {
            return false;
        }
        self.link
            .eval_unawaited(&self.release, &self.inflight_keys(keys), &Command::list())
    }

    /// Ends a request on its parallel counters, in one round trip.
    pub async fn release(&self, keys: &[String]) -> RedisResult<()> {
        self.link
            .eval(&self.release, &self.inflight_keys(keys), &Command::list())
            .await
            .map(drop)
    }

    /// The in-flight counters of `keys`, as the release script's keys.
    fn inflight_keys(&self, keys: &[String]) -> Command {
        let mut inflight = Command::list();
        for k in keys {
            inflight.arg(self.inflight_key(k));
        }
        inflight
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The gate script's `{spends, admission}`: spends as strings (exact fractions), admission as
/// integers.
fn gate_reply(reply: Reply) -> RedisResult<(Vec<f64>, Vec<i64>)> {
    let bad = || RedisError::unexpected(&reply);
    let Reply::Array(parts) = &reply else {
        return Err(bad());
    };
    let [Reply::Array(spends), Reply::Array(out)] = parts.as_slice() else {
        return Err(bad());
    };
    let spends = spends
        .iter()
        .map(|s| match s {
            Reply::Bulk(b) => std::str::from_utf8(b).ok().and_then(|t| t.parse().ok()),
            Reply::Int(i) => Some(*i as f64),
            _ => None,
        })
        .collect::<Option<Vec<f64>>>()
        .ok_or_else(bad)?;
    let out = out
        .iter()
        .map(|v| match v {
            Reply::Int(i) => Some(*i),
            _ => None,
        })
        .collect::<Option<Vec<i64>>>()
        .ok_or_else(bad)?;
    Ok((spends, out))
}

/// The script's answer as remaining capacity or a refusal.
fn decode(limits: &[Limit], out: &[i64]) -> Result<Vec<Remaining>, Refusal> {
    let num = |i: usize| out.get(i).copied().unwrap_or(0);
    let pos = |v: i64| u64::try_from(v).unwrap_or(0);
    if num(0) == 0 {
        let l = usize::try_from(num(1) - 1).ok().and_then(|i| limits.get(i));
        let (kind, limit) = match (num(2), l) {
            (1, Some(l)) => (LimitType::Requests, l.rpm),
            (2, Some(l)) => (LimitType::Tokens, l.tpm),
            (_, l) => (LimitType::Parallel, l.and_then(|l| l.parallel)),
        };
        return Err(Refusal {
            key: l.map(|l| l.key.clone()).unwrap_or_default(),
            kind,
            limit: limit.unwrap_or(0),
            retry_after: Duration::from_millis(pos(num(3))).max(Duration::from_secs(1)),
        });
    }
    Ok(limits
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let (r, t) = (pos(num(1 + 2 * i)), pos(num(2 + 2 * i)));
            Remaining {
                rpm: l.rpm.map(|lim| (lim, lim.saturating_sub(r))),
                tpm: l.tpm.map(|lim| (lim, lim.saturating_sub(t))),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(rpm: Option<u64>) -> Limit {
        Limit {
            key: "api_key:k".into(),
            rpm,
            tpm: Some(100),
            parallel: None,
        }
    }

    #[test]
    fn scripts_have_every_constant_written_in() {
        for body in [GATE, SETTLE, RELEASE] {
            let text = script(body).body().to_owned();
            assert!(!text.contains('@'), "{text}");
        }
        let gate = script(GATE).body().to_owned();
        assert!(gate.contains("'EX', 86400)"), "{gate}");
        assert!(gate.contains("PEXPIRE', w, 60000)"), "{gate}");
        assert!(gate.contains("inflight[i], 900000)"), "{gate}");
    }

    #[test]
    fn decodes_remaining_and_refusals() {
        let l = [limit(Some(3))];
        let ok = decode(&l, &[1, 1, 40]).unwrap();
        assert_eq!(ok[0].rpm, Some((3, 2)));
        assert_eq!(ok[0].tpm, Some((100, 60)));
        let no = decode(&l, &[0, 1, 1, 30_000]).unwrap_err();
        assert_eq!(no.kind, LimitType::Requests);
        assert_eq!(no.limit, 3);
        assert_eq!(no.retry_after, Duration::from_secs(30));
    }
}
