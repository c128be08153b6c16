//! `routing_strategy`: how one deployment of a group is chosen. Every strategy first leaves out
//! the deployments over their own `rpm` / `tpm` in the current minute, then:
//! - `simple-shuffle` (default): at random, weighted by `weight`;
//! - `least-busy`: fewest calls in flight on this replica;
//! - `latency-based-routing`: lowest average of the recent latencies; deployments without any
//!   are tried first; with `routing_strategy_args.lowest_latency_buffer` (e.g. 0.5), any
//!   deployment within that fraction of the fastest is picked at random;
//! - `usage-based-routing` / `-v2`: fewest tokens used in the current minute;
//! - `cost-based-routing`: lowest input + output price per token.
//!
//! Ties are broken at random, without allocating.

use std::sync::Arc;

use rand::Rng as _;

use super::load::Loads;
use super::Deployment;

/// A `routing_strategy` value.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Strategy {
    #[default]
    SimpleShuffle,
    LeastBusy,
    /// With LiteLLM's `lowest_latency_buffer` (0 = always the fastest).
    LowestLatency {
        buffer: f64,
    },
    LowestUsage,
    LowestCost,
}

/// The names `routing_strategy` accepts.
pub const NAMES: &str = "simple-shuffle, least-busy, latency-based-routing, usage-based-routing, usage-based-routing-v2, cost-based-routing";

impl Strategy {
    /// The strategy a name stands for; `None` for names LiteLLM does not know.
    pub fn parse(name: &str) -> Option<Strategy> {
        Some(match name {
            "simple-shuffle" => Strategy::SimpleShuffle,
            "least-busy" => Strategy::LeastBusy,
            "latency-based-routing" => Strategy::LowestLatency { buffer: 0.0 },
            "usage-based-routing" | "usage-based-routing-v2" => Strategy::LowestUsage,
            "cost-based-routing" => Strategy::LowestCost,
            _ => return None,
        })
    }
}

/// A strategy with the load figures it reads.
#[derive(Debug, Default)]
pub struct Balancer {
    pub strategy: Strategy,
    pub loads: Loads,
}

impl Balancer {
    pub fn new(strategy: Strategy) -> Self {
        Balancer {
            strategy,
            loads: Loads::default(),
        }
    }

    /// Whether `d` is still under its own `rpm` and `tpm` in the current minute.
    pub fn has_room(&self, d: &Deployment) -> bool {
        if d.rpm.is_none() && d.tpm.is_none() {
            return true;
        }
        let (requests, tokens) = self.loads.this_minute(&d.id);
        d.rpm.is_none_or(|limit| requests < limit) && d.tpm.is_none_or(|limit| tokens < limit)
    }

    /// Chooses among `open` (deployments not cooling down and with room). `cost` is a
    /// deployment's input + output price per token, when known.
    pub fn choose<'a>(
        &self,
        open: &'a [Arc<Deployment>],
        cost: &dyn Fn(&Deployment) -> Option<f64>,
    ) -> Option<&'a Arc<Deployment>> {
        if open.len() <= 1 {
            return open.first();
        }
        let loads = &self.loads;
        match self.strategy {
            Strategy::SimpleShuffle => weighted(open),
            Strategy::LeastBusy => lowest(open, 0.0, |d| loads.in_flight(&d.id) as f64),
            // No latency yet counts as the fastest: new deployments are tried first.
            Strategy::LowestLatency { buffer } => {
                lowest(open, buffer, |d| loads.latency(&d.id).unwrap_or(0.0))
            }
            Strategy::LowestUsage => lowest(open, 0.0, |d| loads.this_minute(&d.id).1 as f64),
            // An unknown price sorts last.
            Strategy::LowestCost => lowest(open, 0.0, |d| cost(d).unwrap_or(f64::MAX)),
        }
    }
}

/// Picks by weight (`weight`, else 1 each).
pub fn weighted(group: &[Arc<Deployment>]) -> Option<&Arc<Deployment>> {
    if group.len() <= 1 {
        return group.first();
    }
    let total: f64 = group.iter().map(|d| d.weight).sum();
    let mut x = rand::thread_rng().gen_range(0.0..total);
    for d in group {
        if x < d.weight {
            return Some(d);
        }
        x -= d.weight;
    }
    group.last()
}

/// A deployment whose score is at most the lowest score times `1 + buffer`, at random among
/// those (reservoir sampling: one pass for the minimum, one for the choice).
fn lowest(
    group: &[Arc<Deployment>],
    buffer: f64,
    score: impl Fn(&Deployment) -> f64,
) -> Option<&Arc<Deployment>> {
    let min = group.iter().map(|d| score(d)).fold(f64::INFINITY, f64::min);
    let bound = if buffer > 0.0 && min.is_finite() {
        min * (1.0 + buffer)
    } else {
        min
    };
    let mut rng = rand::thread_rng();
    let mut seen = 0u32;
    let mut chosen = None;
    for d in group {
        if score(d) <= bound {
            seen += 1;
            if rng.gen_range(0..seen) == 0 {
                chosen = Some(d);
            }
        }
    }
    chosen.or_else(|| group.first())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModelEntry;
    use std::collections::HashSet;
    use std::time::Duration;

    fn deployment(id: &str, params: serde_json::Value) -> Arc<Deployment> {
        let mut litellm_params = serde_json::json!({"model": "mock/m"});
        if let (Some(p), Some(extra)) = (litellm_params.as_object_mut(), params.as_object()) {
            p.extend(extra.clone());
        }
        let entry: ModelEntry = serde_json::from_value(serde_json::json!({
            "model_name": "g", "litellm_params": litellm_params, "model_info": {"id": id},
        }))
        .unwrap();
        Arc::new(Deployment::from_entry(&entry, false, Duration::from_secs(1), &|_| None).unwrap())
    }

    fn two() -> Vec<Arc<Deployment>> {
        vec![
            deployment("a", serde_json::json!({})),
            deployment("b", serde_json::json!({})),
        ]
    }

    /// The ids a strategy picks over many tries.
    fn picks(b: &Balancer, group: &[Arc<Deployment>]) -> HashSet<String> {
        (0..200)
            .map(|_| b.choose(group, &|_| None).unwrap().id.to_string())
            .collect()
    }

    fn only(id: &str) -> HashSet<String> {
        HashSet::from([id.to_owned()])
    }

    #[test]
    fn names_parse_like_litellm() {
        assert_eq!(Strategy::parse("least-busy"), Some(Strategy::LeastBusy));
        assert_eq!(
            Strategy::parse("usage-based-routing-v2"),
            Some(Strategy::LowestUsage)
        );
        assert_eq!(Strategy::parse("fastest"), None);
        for name in NAMES.split(", ") {
            assert!(Strategy::parse(name).is_some(), "{name}");
        }
    }

    #[test]
    fn least_busy_picks_fewest_in_flight() {
        let b = Balancer::new(Strategy::LeastBusy);
        let group = two();
        let busy = b.loads.begin("a");
        assert_eq!(picks(&b, &group), only("b"));
        let _busier = (b.loads.begin("b"), b.loads.begin("b"));
        assert_eq!(picks(&b, &group), only("a"));
        drop(busy);
        assert_eq!(picks(&b, &group), only("a"));
    }

    #[test]
    fn latency_based_tries_new_deployments_first_then_the_fastest() {
        let b = Balancer::new(Strategy::LowestLatency { buffer: 0.0 });
        let group = two();
        b.loads.add_latency("a", Duration::from_millis(100));
        assert_eq!(picks(&b, &group), only("b"));
        b.loads.add_latency("b", Duration::from_millis(300));
        assert_eq!(picks(&b, &group), only("a"));
        // A buffer of 2 (within 200 % of the fastest) admits both.
        let wide = Balancer {
            strategy: Strategy::LowestLatency { buffer: 2.0 },
            loads: Loads::default(),
        };
        wide.loads.add_latency("a", Duration::from_millis(100));
        wide.loads.add_latency("b", Duration::from_millis(300));
        assert_eq!(picks(&wide, &group).len(), 2);
    }

    #[test]
    fn usage_based_picks_fewest_tokens_and_respects_limits() {
        let b = Balancer::new(Strategy::LowestUsage);
        let group = two();
        b.loads.add_tokens("a", 500);
        b.loads.add_tokens("b", 100);
        assert_eq!(picks(&b, &group), only("b"));
        b.loads.add_tokens("b", 1000);
        assert_eq!(picks(&b, &group), only("a"));
    }

    #[test]
    fn cost_based_picks_the_cheapest_known_price() {
        let b = Balancer::new(Strategy::LowestCost);
        let group = vec![
            deployment("dear", serde_json::json!({})),
            deployment("cheap", serde_json::json!({})),
            deployment("unknown", serde_json::json!({})),
        ];
        let cost = |d: &Deployment| match &*d.id {
            "dear" => Some(3e-5),
            "cheap" => Some(1e-6),
            _ => None,
        };
        assert!((0..100).all(|_| b.choose(&group, &cost).unwrap().id.as_ref() == "cheap"));
    }

    #[test]
    fn deployments_over_their_rpm_or_tpm_have_no_room() {
        let b = Balancer::default();
        let limited = deployment("r", serde_json::json!({"rpm": 2, "tpm": 100}));
        let free = deployment("f", serde_json::json!({}));
        drop(b.loads.begin("r"));
        assert!(b.has_room(&limited));
        drop(b.loads.begin("r"));
        assert!(!b.has_room(&limited));
        let tokens = deployment("t", serde_json::json!({"tpm": 100}));
        b.loads.add_tokens("t", 100);
        assert!(!b.has_room(&tokens));
        for _ in 0..10 {
            drop(b.loads.begin("f"));
        }
        assert!(b.has_room(&free));
    }
}
