//! The settable fields of a key, shared by generate, update and regenerate, and how they apply
//! to a stored key. Absent fields are left alone; `null` clears.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use tollgate_store::{JsonMap, KeyRecord};

use crate::admin::common::{check_limit, check_money, clean_alias, parse_period, reset_at};
use crate::http::{Patch, Result};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct KeyFields {
    /// The key to act on (update, regenerate) or a custom value (generate); taken out before
    /// the other fields apply.
    pub key: Option<String>,
    /// Regenerate: the new value, and how long the old one keeps working.
    pub new_key: Option<String>,
    pub grace_period: Option<String>,
    pub key_alias: Patch<String>,
    pub duration: Patch<String>,
    pub models: Patch<Vec<String>>,
    pub aliases: Patch<JsonMap>,
    pub config: Patch<JsonMap>,
    pub permissions: Patch<JsonMap>,
    pub metadata: Patch<JsonMap>,
    pub spend: Patch<f64>,
    pub max_budget: Patch<f64>,
    pub soft_budget: Patch<f64>,
    pub budget_duration: Patch<String>,
    pub budget_id: Patch<String>,
    pub user_id: Patch<String>,
    pub team_id: Patch<String>,
    pub organization_id: Patch<String>,
    pub max_parallel_requests: Patch<i64>,
    pub tpm_limit: Patch<i64>,
    pub rpm_limit: Patch<i64>,
    pub model_rpm_limit: Patch<BTreeMap<String, i64>>,
    pub model_tpm_limit: Patch<BTreeMap<String, i64>>,
    pub model_max_budget: Patch<JsonMap>,
    pub allowed_cache_controls: Patch<Vec<String>>,
    pub allowed_routes: Patch<Vec<String>>,
    pub tags: Patch<Vec<String>>,
    pub guardrails: Patch<Vec<String>>,
    pub blocked: Patch<bool>,
}

/// Fields LiteLLM keeps inside `metadata`.
const METADATA_FIELDS: [&str; 4] = ["model_rpm_limit", "model_tpm_limit", "tags", "guardrails"];

impl KeyFields {
    /// Applies the fields to `key`, validating each.
    pub fn apply(self, key: &mut KeyRecord, now: DateTime<Utc>) -> Result<()> {
        self.check()?;
        if let Some(alias) = self.key_alias.into_change() {
            key.key_alias = clean_alias("key_alias", alias)?;
        }
        match self.duration {
            Patch::Absent => {}
            Patch::Null => key.expires = None,
            Patch::Value(d) if d == "-1" => key.expires = None,
            Patch::Value(d) => key.expires = Some(parse_period("duration", &d)?.add_to(now)),
        }
        if let Some(d) = self.budget_duration.into_change() {
            key.budget_reset_at = reset_at("budget_duration", d.as_deref(), now)?;
            key.budget_duration = d;
        }
        self.models.apply_or_default(&mut key.models);
        self.aliases.apply_or_default(&mut key.aliases);
        self.config.apply_or_default(&mut key.config);
        self.permissions.apply_or_default(&mut key.permissions);
        self.model_max_budget
            .apply_or_default(&mut key.model_max_budget);
        self.allowed_cache_controls
            .apply_or_default(&mut key.allowed_cache_controls);
        self.allowed_routes
            .apply_or_default(&mut key.allowed_routes);
        if let Some(v) = self.spend.value() {
            key.spend = *v;
        }
        self.max_budget.apply_to(&mut key.max_budget);
        self.soft_budget.apply_to(&mut key.soft_budget);
        self.budget_id.apply_to(&mut key.budget_id);
        self.user_id.apply_to(&mut key.user_id);
        self.team_id.apply_to(&mut key.team_id);
        self.organization_id.apply_to(&mut key.organization_id);
        self.max_parallel_requests
            .apply_to(&mut key.max_parallel_requests);
        self.tpm_limit.apply_to(&mut key.tpm_limit);
        self.rpm_limit.apply_to(&mut key.rpm_limit);
        self.blocked.apply_to(&mut key.blocked);
        apply_metadata(
            &mut key.metadata,
            self.metadata,
            [
                ("model_rpm_limit", self.model_rpm_limit.to_json()),
                ("model_tpm_limit", self.model_tpm_limit.to_json()),
                ("tags", self.tags.to_json()),
                ("guardrails", self.guardrails.to_json()),
            ],
        );
        Ok(())
    }

    fn check(&self) -> Result<()> {
        check_money("spend", self.spend.value().copied())?;
        check_money("max_budget", self.max_budget.value().copied())?;
        check_money("soft_budget", self.soft_budget.value().copied())?;
        check_limit(
            "max_parallel_requests",
            self.max_parallel_requests.value().copied(),
        )?;
        check_limit("tpm_limit", self.tpm_limit.value().copied())?;
        check_limit("rpm_limit", self.rpm_limit.value().copied())?;
        for (field, map) in [
            ("model_rpm_limit", &self.model_rpm_limit),
            ("model_tpm_limit", &self.model_tpm_limit),
        ] {
            for v in map.value().into_iter().flat_map(|m| m.values()) {
                check_limit(field, Some(*v))?;
            }
        }
        Ok(())
    }
}

/// `metadata` replaces the stored object wholesale, except that metadata-backed fields are kept
/// unless given (LiteLLM's merge rule).
pub fn apply_metadata<const N: usize>(
    stored: &mut JsonMap,
    metadata: Patch<JsonMap>,
    backed: [(&str, Patch<Value>); N],
) {
    if let Some(new) = metadata.into_change() {
        let mut new = new.unwrap_or_default();
        for f in METADATA_FIELDS {
            if let (Some(v), false) = (stored.get(f), new.contains_key(f)) {
                new.insert(f.to_owned(), v.clone());
            }
        }
        *stored = new;
    }
    for (name, patch) in backed {
        match patch {
            Patch::Absent => {}
            Patch::Null => {
                stored.remove(name);
            }
            Patch::Value(v) => {
                stored.insert(name.to_owned(), v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key() -> KeyRecord {
        serde_json::from_value(json!({
            "key_id": "k", "token": "t",
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"
        }))
        .unwrap()
    }

    #[test]
    fn metadata_replaces_but_keeps_backed_fields() {
        let mut k = key();
        let f: KeyFields =
            serde_json::from_value(json!({"tags": ["a"], "metadata": {"x": 1}})).unwrap();
        f.apply(&mut k, Utc::now()).unwrap();
        assert_eq!(k.metadata["tags"], json!(["a"]));
        let f: KeyFields = serde_json::from_value(json!({"metadata": {"y": 2}})).unwrap();
        f.apply(&mut k, Utc::now()).unwrap();
        assert_eq!(k.metadata.get("x"), None);
        assert_eq!(k.metadata["y"], json!(2));
        assert_eq!(k.metadata["tags"], json!(["a"]));
    }

    #[test]
    fn bad_values_name_their_field() {
        for (body, field) in [
            (json!({"max_budget": -1}), "max_budget"),
            (json!({"rpm_limit": -5}), "rpm_limit"),
            (json!({"duration": "forever"}), "duration"),
            (json!({"budget_duration": "3x"}), "budget_duration"),
            (json!({"model_rpm_limit": {"gpt-4": -1}}), "model_rpm_limit"),
        ] {
            let f: KeyFields = serde_json::from_value(body).unwrap();
            let e = f.apply(&mut key(), Utc::now()).unwrap_err();
            assert!(e.to_string().contains(field), "{e}");
        }
    }

    #[test]
    fn empty_alias_is_none_and_duration_sets_expiry() {
        let mut k = key();
        let now = Utc::now();
        let f: KeyFields =
            serde_json::from_value(json!({"key_alias": "", "duration": "30s"})).unwrap();
        f.apply(&mut k, now).unwrap();
        assert_eq!(k.key_alias, None);
        assert_eq!(k.expires, Some(now + chrono::Duration::seconds(30)));
    }
}
