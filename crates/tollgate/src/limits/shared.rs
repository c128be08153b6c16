//! Limits shared across replicas when Redis is configured, with this replica's counters as the
//! fallback: [`SharedRateLimiter`] is the [`RateLimiter`] of such a gateway, and [`SharedSpend`]
//! makes budget checks see the spend of every replica. When Redis fails, both log it once, serve
//! from memory (per-replica limits), and try Redis again a few seconds later. Nothing fails
//! because Redis is down.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;

use super::check::{self, SpendView, Subject};
use super::ledger::Ledger;
use super::rate::{Limit, LocalRateLimiter, RateLimiter, Refusal, Remaining};
use super::redis::RedisLimits;
use super::Entity;

/// Rate limits in Redis, else in this process.
pub struct SharedRateLimiter {
    pub redis: Arc<RedisLimits>,
    pub local: Arc<LocalRateLimiter>,
}

#[async_trait]
impl RateLimiter for SharedRateLimiter {
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
        if keys.is_empty() {
            return;
        }
        if self
            .redis
            .guarded(self.redis.add_tokens(keys, tokens))
            .await
            .is_none()
        {
            self.local.add_tokens(keys, tokens).await;
        }
    }

    async fn release(&self, keys: &[String]) {
        if keys.is_empty() {
            return;
        }
        if self.redis.guarded(self.redis.release(keys)).await.is_none() {
            self.local.release(keys).await;
        }
    }
}

/// Budget spend in Redis, on top of this replica's [`Ledger`].
pub struct SharedSpend {
    pub redis: Arc<RedisLimits>,
}

impl SharedSpend {
    /// Adds a finished call's cost to the shared counters of its entities (one round trip).
    pub async fn add(&self, entities: &[Entity], amount: f64) {
        if amount != 0.0 && !entities.is_empty() {
            self.redis
                .guarded(self.redis.add_spend(entities, amount))
                .await;
        }
    }

    /// Sets an entity's shared spend (budget resets, admin edits).
    pub async fn set(&self, entity: &Entity, spend: f64) {
        self.redis
            .guarded(self.redis.set_spend(entity, spend))
            .await;
    }
}

/// Spend for budget checks: this replica's ledger, raised by the shared counters read for the
/// request.
pub struct BudgetView<'a> {
    ledger: &'a Ledger,
    shared: HashMap<Entity, f64>,
}

impl SpendView for BudgetView<'_> {
    fn spend(&self, entity: &Entity, stored: f64) -> f64 {
        let local = self.ledger.current(entity, stored);
        self.shared
            .get(entity)
            .map_or(local, |remote| local.max(*remote))
    }
}

/// Records which entities a budget check reads, and what this replica knows of them, without
/// refusing anything.
struct Probe<'a> {
    ledger: &'a Ledger,
    seen: RefCell<Vec<(Entity, f64)>>,
}

impl SpendView for Probe<'_> {
    fn spend(&self, entity: &Entity, stored: f64) -> f64 {
        let known = self.ledger.current(entity, stored);
        self.seen.borrow_mut().push((entity.clone(), known));
        f64::NEG_INFINITY
    }
}

/// The spend view of a request's budget check: with shared spend, the counters of the entities
/// that have a budget are read in one round trip; without, or when Redis fails, the ledger alone.
pub async fn budget_view<'a>(
    ledger: &'a Ledger,
    shared: Option<&SharedSpend>,
    subject: &Subject<'_>,
    global_max: Option<f64>,
) -> BudgetView<'a> {
    let mut view = BudgetView {
        ledger,
        shared: HashMap::new(),
    };
    let Some(shared) = shared else { return view };
    let seen = budgeted(ledger, subject, global_max);
    if seen.is_empty() {
        return view;
    }
    if let Some(values) = shared.redis.guarded(shared.redis.read_spend(&seen)).await {
        view.shared = seen.into_iter().map(|(e, _)| e).zip(values).collect();
    }
    view
}

/// The entities with a budget on a request's path, with the spend this replica knows of them.
fn budgeted(ledger: &Ledger, subject: &Subject<'_>, global_max: Option<f64>) -> Vec<(Entity, f64)> {
    let probe = Probe {
        ledger,
        seen: RefCell::new(Vec::new()),
    };
    // The probe never refuses, so the check visits every entity with a budget.
    let _ = check::check_budgets(&probe, subject, global_max);
    probe.seen.into_inner()
}
