//! Model groups and deployment selection. A request names a model group (`model_name` in the
//! config); the router picks one of its deployments with the `routing_strategy`
//! ([`strategy`]), from the load figures of this replica ([`load`]). Wildcard entries
//! (`*`, `openai/*`) serve names no group claims.

pub mod classify;
pub mod compatible;
pub mod cooldown;
mod deployment;
pub mod load;
pub mod pattern;
pub mod strategy;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

pub use deployment::{Deployment, DeploymentError, Provider};
pub use strategy::{Balancer, Strategy};

/// The deployments of the gateway, grouped by public name.
#[derive(Debug, Default)]
pub struct Router {
    groups: HashMap<String, Vec<Arc<Deployment>>>,
    wildcards: Vec<Arc<Deployment>>,
    aliases: BTreeMap<String, String>,
}

impl Router {
    pub fn new(deployments: Vec<Deployment>, aliases: BTreeMap<String, String>) -> Self {
        let mut router = Router {
            aliases,
            ..Router::default()
        };
        for d in deployments {
            let d = Arc::new(d);
            if d.model_name.contains('*') {
                router.wildcards.push(d);
            } else {
                router
                    .groups
                    .entry(d.model_name.clone())
                    .or_default()
                    .push(d);
            }
        }
        // Most specific wildcard first: `openai/gpt-4*` before `openai/*` before `*`.
        router
            .wildcards
            .sort_by_key(|d| std::cmp::Reverse(d.model_name.len()));
        router
    }

    /// The group a requested name resolves to, after `model_group_alias`.
    pub fn resolve<'a>(&'a self, requested: &'a str) -> &'a str {
        self.aliases
            .get(requested)
            .map_or(requested, String::as_str)
    }

    /// Picks a deployment for a model name, or `None` when nothing serves it.
    pub fn pick(&self, requested: &str) -> Option<Arc<Deployment>> {
        self.pick_except(requested, &HashSet::new())
    }

    /// A group's deployments (none for wildcard-served names).
    pub fn group(&self, requested: &str) -> &[Arc<Deployment>] {
        self.groups
            .get(self.resolve(requested))
            .map_or(&[], Vec::as_slice)
    }

    /// Picks a deployment at random by weight, leaving out the `excluded` ones (cooling down).
    pub fn pick_except(
        &self,
        requested: &str,
        excluded: &HashSet<String>,
    ) -> Option<Arc<Deployment>> {
        self.pick_balanced(requested, excluded, &Balancer::default(), &|_| None)
    }

    /// Picks a deployment with the balancer's strategy, leaving out the `excluded` ones and
    /// those over their own `rpm` / `tpm` this minute. `cost` prices a deployment per token.
    pub fn pick_balanced(
        &self,
        requested: &str,
        excluded: &HashSet<String>,
        balancer: &Balancer,
        cost: &dyn Fn(&Deployment) -> Option<f64>,
    ) -> Option<Arc<Deployment>> {
        let name = self.resolve(requested);
        if let Some(group) = self.groups.get(name) {
            let open = |d: &&Arc<Deployment>| !excluded.contains(&*d.id) && balancer.has_room(d);
            // Most groups have one deployment: no list of the open ones to make.
            if let [only] = group.as_slice() {
                return Some(only).filter(open).cloned();
            }
            let open: Vec<Arc<Deployment>> = group.iter().filter(open).cloned().collect();
            return balancer.choose(&open, cost).cloned();
        }
        let wild = self
            .wildcards
            .iter()
            .find(|d| pattern::matches(&d.model_name, name))?;
        Some(Arc::new(wild.for_model(name)))
    }

    /// Every deployment, for /model/info.
    pub fn deployments(&self) -> impl Iterator<Item = &Arc<Deployment>> {
        self.groups.values().flatten().chain(&self.wildcards)
    }

    /// Public model names: groups, aliases and wildcard patterns, sorted.
    pub fn model_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .groups
            .keys()
            .chain(self.aliases.keys())
            .chain(self.wildcards.iter().map(|d| &d.model_name))
            .cloned()
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModelEntry;

    fn deployment(name: &str, id: &str, weight: f64) -> Deployment {
        let entry: ModelEntry = serde_json::from_value(serde_json::json!({
            "model_name": name,
            "litellm_params": {"model": "mock/m", "weight": weight},
            "model_info": {"id": id},
        }))
        .unwrap();
        Deployment::from_entry(&entry, false, std::time::Duration::from_secs(1), &|_| None).unwrap()
    }

    #[test]
    fn weighted_shuffle_follows_the_weights() {
        let router = Router::new(
            vec![deployment("g", "light", 1.0), deployment("g", "heavy", 3.0)],
            BTreeMap::new(),
        );
        let n = 20_000;
        let heavy = (0..n)
            .filter(|_| router.pick("g").unwrap().id.as_ref() == "heavy")
            .count();
        let share = heavy as f64 / f64::from(n);
        // 0.75 expected; six standard deviations is about ±0.018.
        assert!((share - 0.75).abs() < 0.02, "heavy share {share}");
    }

    #[test]
    fn excluded_deployments_are_not_picked() {
        let router = Router::new(
            vec![deployment("g", "a", 1.0), deployment("g", "b", 1.0)],
            BTreeMap::new(),
        );
        let excluded = HashSet::from(["a".to_owned()]);
        assert!((0..100).all(|_| router.pick_except("g", &excluded).unwrap().id.as_ref() == "b"));
        let all = HashSet::from(["a".to_owned(), "b".to_owned()]);
        assert!(router.pick_except("g", &all).is_none());
        // A group of one, picked or left out alike.
        let router = Router::new(vec![deployment("g", "a", 1.0)], BTreeMap::new());
        assert_eq!(
            router
                .pick_except("g", &HashSet::new())
                .unwrap()
                .id
                .as_ref(),
            "a"
        );
        assert!(router.pick_except("g", &excluded).is_none());
    }

    #[test]
    fn aliases_and_wildcards() {
        let mut aliases = BTreeMap::new();
        aliases.insert("smart".to_owned(), "g".to_owned());
        let router = Router::new(
            vec![deployment("g", "a", 1.0), deployment("openai/*", "w", 1.0)],
            aliases,
        );
        assert_eq!(router.pick("smart").unwrap().id.as_ref(), "a");
        let w = router.pick("openai/gpt-x").unwrap();
        assert_eq!(&*w.target.model, "gpt-x");
        assert!(router.pick("other").is_none());
    }
}
