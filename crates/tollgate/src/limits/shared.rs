//! Limits shared across replicas when Redis is configured, with this replica's counters as the
//! fallback: [`SharedLimits`] is the rate limiter of such a gateway and makes budget checks see
//! the spend of every replica. A request makes one round trip before its upstream call
//! ([`admission`]) and one after it ([`SharedLimits::settle_soon`], written before the response
//! and not waited for). When Redis fails, both log it once, serve from memory (per-replica
//! limits), and try Redis again a few seconds later. Nothing fails because Redis is down.

use std::sync::Arc;

use async_trait::async_trait;
use tokio_util::task::TaskTracker;

use super::check::Budget;
use super::ledger::Ledger;
use super::rate::{Limit, LocalRateLimiter, RateLimiter, Refusal, Remaining};
use super::redis::{BudgetProbe, RedisLimits};
use super::Entity;

/// Rate limits and budget spend in Redis, else rate limits in this process.
pub struct SharedLimits {
    pub redis: Arc<RedisLimits>,
    pub local: Arc<LocalRateLimiter>,
}

#[async_trait]
impl RateLimiter for SharedLimits {
    async fn admit(&self, limits: &[Limit]) -> Result<Vec<Remaining>, Refusal> {
        if limits.is_empty() {
            return Ok(Vec::new());
        }
        match self.redis.guarded(self.redis.admit(limits)).await {
            Some(answer) => answer,
            None => self.local.admit(limits).await,
        }
    }

    async fn add_tokens(&self, keys: &[String], tokens: u64) {
        self.settle(&[], 0.0, keys, tokens).await;
    }

    async fn release(&self, keys: &[String]) {
        if keys.is_empty() {
            return;
        }
        if self.redis.guarded(self.redis.release(keys)).await.is_none() {
            self.local.release(keys).await;
        }
    }

    /// Written to Redis before this returns, so that the next request, on any replica, finds
    /// the slot free.
    fn release_now(&self, keys: &[String]) -> bool {
        keys.is_empty() || self.redis.release_unawaited(keys)
    }
}

impl SharedLimits {
    /// Adds a finished call's cost to the shared spend of its entities and its tokens to the
    /// rate windows of `rate_keys` without waiting for Redis: the command is written before this
    /// returns, so a request that follows the call's response, on any replica, sees it. When
    /// it cannot be written, a task of `tasks` settles (or counts the tokens here).
    pub fn settle_soon(
        self: &Arc<Self>,
        tasks: &TaskTracker,
        entities: &[Entity],
        cost: f64,
        rate_keys: &[String],
        tokens: u64,
    ) {
        if self
            .redis
            .settle_unawaited(entities, cost, rate_keys, tokens)
        {
            return;
        }
        let (me, entities, rate_keys) = (self.clone(), entities.to_vec(), rate_keys.to_vec());
        tasks.spawn(async move { me.settle(&entities, cost, &rate_keys, tokens).await });
    }

    /// Adds a finished call's cost to the shared spend of its entities and its tokens to the
    /// rate windows of `rate_keys`, in one round trip. When Redis fails the tokens count here
    /// (this replica's ledger already holds the cost).
    pub async fn settle(&self, entities: &[Entity], cost: f64, rate_keys: &[String], tokens: u64) {
        let shared = self
            .redis
            .guarded(self.redis.settle(entities, cost, rate_keys, tokens))
            .await;
        if shared.is_none() && tokens > 0 && !rate_keys.is_empty() {
            self.local.add_tokens(rate_keys, tokens).await;
        }
    }

    /// Sets an entity's shared spend (budget resets, admin edits).
    pub async fn set(&self, entity: &Entity, spend: f64) {
        self.redis
            .guarded(self.redis.set_spend(entity, spend))
            .await;
    }
}

/// What a request's budgets and rate limits said before its upstream call.
pub struct Admission {
    /// Each budget's current spend: what this replica knows, raised by the shared counter.
    pub spend: Vec<f64>,
    /// The rate limits' answer when it came with the spend; `None`: ask the rate limiter (no
    /// Redis, Redis down, or a budget is spent and nothing was counted).
    pub rate: Option<Result<Vec<Remaining>, Refusal>>,
}

/// A request's budgets and rate limits before its upstream call. With Redis, one round trip
/// reads the shared spend of every budget and, when each has room, counts the request against
/// the rate limits; without, or when Redis fails, the spend is this replica's ledger alone.
pub async fn admission(
    ledger: &Ledger,
    shared: Option<&SharedLimits>,
    budgets: &[Budget<'_>],
    limits: &[Limit],
) -> Admission {
    let probes: Vec<BudgetProbe> = budgets
        .iter()
        .map(|b| {
            let entity = b.owner.entity();
            let known = ledger.current(&entity, b.stored);
            BudgetProbe {
                entity,
                known,
                max: b.max,
            }
        })
        .collect();
    let mut out = Admission {
        spend: probes.iter().map(|p| p.known).collect(),
        rate: None,
    };
    let Some(shared) = shared else { return out };
    if budgets.is_empty() && limits.is_empty() {
        return out;
    }
    if let Some(gate) = shared
        .redis
        .guarded(shared.redis.gate(&probes, limits))
        .await
    {
        for (spend, remote) in out.spend.iter_mut().zip(gate.spend) {
            *spend = spend.max(remote);
        }
        out.rate = gate.admission;
    }
    out
}
