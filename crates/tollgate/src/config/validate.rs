//! Checks on a parsed [`Config`] that types alone do not catch: budgets, durations, model entries,
//! ports, pool sizes and timeouts. Every failure is a [`Problem`] naming the file and key.

use crate::limits::period;

use super::sections::KeyParams;
use super::{Config, Problem};

/// Every problem found in `config`; empty when it is valid.
pub(crate) fn check(config: &Config, file: &str) -> Vec<Problem> {
    let mut c = Checker {
        file,
        problems: Vec::new(),
    };
    c.models(config);
    c.litellm_settings(config);
    c.router_settings(config);
    c.general_settings(config);
    c.problems
}

struct Checker<'a> {
    file: &'a str,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn fail(&mut self, path: &str, message: impl Into<String>) {
        self.problems
            .push(Problem::at_key(self.file, path, message));
    }

    fn models(&mut self, config: &Config) {
        for (i, entry) in config.model_list.iter().enumerate() {
            let at = |key: &str| format!("model_list[{i}].{key}");
            if entry.model_name.trim().is_empty() {
                self.fail(
                    &at("model_name"),
                    "every model_list entry needs a model_name",
                );
            }
            let params = &entry.litellm_params;
            if params.model.trim().is_empty() {
                self.fail(
                    &at("litellm_params.model"),
                    "every model_list entry needs litellm_params.model, like \"openai/gpt-4o\"",
                );
            }
            self.non_negative(&at("litellm_params.timeout"), params.timeout);
            self.non_negative(&at("litellm_params.stream_timeout"), params.stream_timeout);
            self.non_negative(
                &at("litellm_params.input_cost_per_token"),
                params.input_cost_per_token,
            );
            self.non_negative(
                &at("litellm_params.output_cost_per_token"),
                params.output_cost_per_token,
            );
            self.non_negative(&at("litellm_params.weight"), params.weight);
        }
    }

    fn litellm_settings(&mut self, config: &Config) {
        let s = &config.litellm_settings;
        self.non_negative("litellm_settings.max_budget", s.max_budget);
        self.non_negative(
            "litellm_settings.max_end_user_budget",
            s.max_end_user_budget,
        );
        self.positive("litellm_settings.request_timeout", s.request_timeout);
        self.duration(
            "litellm_settings.budget_duration",
            s.budget_duration.as_deref(),
        );
        if let Some(params) = &s.default_key_generate_params {
            self.key_params("litellm_settings.default_key_generate_params", params);
        }
        if let Some(params) = &s.upperbound_key_generate_params {
            self.key_params("litellm_settings.upperbound_key_generate_params", params);
        }
        if let Some(cache) = &s.cache_params {
            self.port("litellm_settings.cache_params.port", cache.port);
            self.non_negative("litellm_settings.cache_params.ttl", cache.ttl);
        }
    }

    fn key_params(&mut self, section: &str, params: &KeyParams) {
        self.non_negative(&format!("{section}.max_budget"), params.max_budget);
        self.non_negative(&format!("{section}.soft_budget"), params.soft_budget);
        self.duration(
            &format!("{section}.budget_duration"),
            params.budget_duration.as_deref(),
        );
        self.duration(&format!("{section}.duration"), params.duration.as_deref());
    }

    fn router_settings(&mut self, config: &Config) {
        let s = &config.router_settings;
        self.port("router_settings.redis_port", s.redis_port);
        self.positive("router_settings.timeout", s.timeout);
        self.non_negative("router_settings.retry_after", s.retry_after);
        self.non_negative("router_settings.cooldown_time", s.cooldown_time);
        if let Some(name) = &s.routing_strategy {
            if crate::router::Strategy::parse(name).is_none() {
                self.fail(
                    "router_settings.routing_strategy",
                    format!(
                        "unknown routing strategy '{name}'; use one of: {}",
                        crate::router::strategy::NAMES
                    ),
                );
            }
        }
        let buffer = s
            .routing_strategy_args
            .get("lowest_latency_buffer")
            .and_then(serde_json::Value::as_f64);
        self.non_negative(
            "router_settings.routing_strategy_args.lowest_latency_buffer",
            buffer,
        );
    }

    fn general_settings(&mut self, config: &Config) {
        let s = &config.general_settings;
        if s.database_connection_pool_limit == Some(0) {
            self.fail(
                "general_settings.database_connection_pool_limit",
                "must be at least 1",
            );
        }
        self.positive(
            "general_settings.database_connection_timeout",
            s.database_connection_timeout,
        );
        self.positive(
            "general_settings.proxy_batch_write_at",
            s.proxy_batch_write_at,
        );
        self.non_negative("general_settings.alerting_threshold", s.alerting_threshold);
        self.duration(
            "general_settings.maximum_spend_logs_retention_period",
            s.maximum_spend_logs_retention_period.as_deref(),
        );
        if let (Some(min), Some(max)) = (
            s.proxy_budget_rescheduler_min_time,
            s.proxy_budget_rescheduler_max_time,
        ) {
            if min > max {
                self.fail(
                    "general_settings.proxy_budget_rescheduler_min_time",
                    format!("must not exceed proxy_budget_rescheduler_max_time ({min} > {max})"),
                );
            }
        }
    }

    /// Budgets, prices, weights: finite and at least 0.
    fn non_negative(&mut self, path: &str, value: Option<f64>) {
        if let Some(v) = value {
            if !v.is_finite() || v < 0.0 {
                self.fail(
                    path,
                    format!("must be a finite number of at least 0, got {v}"),
                );
            }
        }
    }

    /// Timeouts and intervals: finite and above 0.
    fn positive(&mut self, path: &str, value: Option<f64>) {
        if let Some(v) = value {
            if !v.is_finite() || v <= 0.0 {
                self.fail(path, format!("must be a finite number above 0, got {v}"));
            }
        }
    }

    fn duration(&mut self, path: &str, value: Option<&str>) {
        if let Some(Err(e)) = value.map(period::parse) {
            self.fail(path, e.to_string());
        }
    }

    fn port(&mut self, path: &str, value: Option<u16>) {
        if value == Some(0) {
            self.fail(path, "must be a port number from 1 to 65535, got 0");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModelEntry;

    #[test]
    fn a_default_config_is_valid() {
        assert!(check(&Config::default(), "c.yaml").is_empty());
    }

    #[test]
    fn names_each_bad_key() {
        let mut config = Config::default();
        config.model_list.push(ModelEntry::default());
        config.litellm_settings.max_budget = Some(-1.0);
        config.litellm_settings.max_end_user_budget = Some(f64::NAN);
        config.litellm_settings.budget_duration = Some("3x".into());
        config.general_settings.database_connection_pool_limit = Some(0);
        config.general_settings.maximum_spend_logs_retention_period = Some("ever".into());
        config.router_settings.redis_port = Some(0);
        let problems: Vec<String> = check(&config, "c.yaml")
            .iter()
            .map(|p| p.to_string())
            .collect();
        let expected = [
            "c.yaml: model_list[0].model_name: ",
            "c.yaml: model_list[0].litellm_params.model: ",
            "c.yaml: litellm_settings.max_budget: must be a finite number of at least 0, got -1",
            "c.yaml: litellm_settings.max_end_user_budget: ",
            "c.yaml: litellm_settings.budget_duration: invalid duration \"3x\"",
            "c.yaml: router_settings.redis_port: ",
            "c.yaml: general_settings.database_connection_pool_limit: must be at least 1",
            "c.yaml: general_settings.maximum_spend_logs_retention_period: invalid duration",
        ];
        for prefix in expected {
            assert!(
                problems.iter().any(|p| p.starts_with(prefix)),
                "{prefix} in {problems:#?}"
            );
        }
        assert_eq!(problems.len(), expected.len(), "{problems:#?}");
    }
}
