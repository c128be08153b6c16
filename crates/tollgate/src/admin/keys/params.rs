//! `litellm_settings.default_key_generate_params` (fills what a new key's request leaves out) and
//! `upperbound_key_generate_params` (caps what any key may be given).

use chrono::{DateTime, Utc};

use super::KeyFields;
use crate::config::KeyParams;
use crate::http::{Error, Patch, Result};
use crate::limits::period;

/// Fills absent fields of a new key from the configured defaults.
pub fn apply_defaults(fields: &mut KeyFields, defaults: &KeyParams) {
    fill(&mut fields.max_budget, defaults.max_budget);
    fill(&mut fields.soft_budget, defaults.soft_budget);
    fill(
        &mut fields.budget_duration,
        defaults.budget_duration.clone(),
    );
    fill(&mut fields.duration, defaults.duration.clone());
    fill(
        &mut fields.tpm_limit,
        defaults.tpm_limit.and_then(|v| i64::try_from(v).ok()),
    );
    fill(
        &mut fields.rpm_limit,
        defaults.rpm_limit.and_then(|v| i64::try_from(v).ok()),
    );
    fill(
        &mut fields.max_parallel_requests,
        defaults.max_parallel_requests.map(i64::from),
    );
    fill(&mut fields.team_id, defaults.team_id.clone());
    fill(&mut fields.user_id, defaults.user_id.clone());
    if !defaults.models.is_empty() {
        fill(&mut fields.models, Some(defaults.models.clone()));
    }
    if !defaults.metadata.is_empty() {
        fill(&mut fields.metadata, Some(defaults.metadata.clone()));
    }
}

fn fill<T>(field: &mut Patch<T>, default: Option<T>) {
    if let (Patch::Absent, Some(v)) = (&field, default) {
        *field = Patch::Value(v);
    }
}

/// Refuses values above the configured upper bounds; a bounded value left out takes the bound.
pub fn enforce_upperbound(
    fields: &mut KeyFields,
    bound: &KeyParams,
    now: DateTime<Utc>,
) -> Result<()> {
    cap("max_budget", &mut fields.max_budget, bound.max_budget)?;
    cap("soft_budget", &mut fields.soft_budget, bound.soft_budget)?;
    cap(
        "tpm_limit",
        &mut fields.tpm_limit,
        bound.tpm_limit.and_then(|v| i64::try_from(v).ok()),
    )?;
    cap(
        "rpm_limit",
        &mut fields.rpm_limit,
        bound.rpm_limit.and_then(|v| i64::try_from(v).ok()),
    )?;
    cap(
        "max_parallel_requests",
        &mut fields.max_parallel_requests,
        bound.max_parallel_requests.map(i64::from),
    )?;
    if let Some(max) = bound.duration.as_deref() {
        cap_duration("duration", &mut fields.duration, max, now)?;
    }
    if let Some(max) = bound.budget_duration.as_deref() {
        cap_duration("budget_duration", &mut fields.budget_duration, max, now)?;
    }
    Ok(())
}

fn cap<T: PartialOrd + Copy + std::fmt::Display>(
    name: &str,
    field: &mut Patch<T>,
    bound: Option<T>,
) -> Result<()> {
    let Some(max) = bound else { return Ok(()) };
    match field {
        Patch::Value(v) if *v > max => Err(over(name, &v.to_string(), &max.to_string())),
        Patch::Value(_) => Ok(()),
        Patch::Absent | Patch::Null => {
            *field = Patch::Value(max);
            Ok(())
        }
    }
}

fn cap_duration(
    name: &str,
    field: &mut Patch<String>,
    max: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let bound =
        period::parse(max).map_err(|e| Error::Internal(format!("upperbound {name}: {e}")))?;
    match field {
        Patch::Value(v) if v.as_str() != "-1" => {
            let asked =
                period::parse(v).map_err(|e| Error::bad_field(name, format!("{name}: {e}")))?;
            if asked.add_to(now) > bound.add_to(now) {
                return Err(over(name, v, max));
            }
            Ok(())
        }
        _ => {
            *field = Patch::Value(max.to_owned());
            Ok(())
        }
    }
}

fn over(name: &str, value: &str, max: &str) -> Error {
    Error::bad_field(
        name,
        format!("{name} is over max limit set in config - user_value={value}; max_value={max}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(v: serde_json::Value) -> KeyParams {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn defaults_fill_only_what_is_absent() {
        let mut f: KeyFields = serde_json::from_value(json!({"max_budget": 1})).unwrap();
        apply_defaults(
            &mut f,
            &params(json!({"max_budget": 5, "rpm_limit": 10, "models": ["m"]})),
        );
        assert_eq!(f.max_budget, Patch::Value(1.0));
        assert_eq!(f.rpm_limit, Patch::Value(10));
        assert_eq!(f.models, Patch::Value(vec!["m".to_owned()]));
    }

    #[test]
    fn upperbound_refuses_and_fills() {
        let bound = params(json!({"max_budget": 50, "duration": "90d"}));
        let mut f: KeyFields = serde_json::from_value(json!({"max_budget": 60})).unwrap();
        let e = enforce_upperbound(&mut f, &bound, Utc::now()).unwrap_err();
        assert!(e.to_string().contains("max_budget is over max limit"));
        let mut f: KeyFields = serde_json::from_value(json!({"duration": "1y0"})).unwrap();
        assert!(enforce_upperbound(&mut f, &bound, Utc::now()).is_err());
        let mut f: KeyFields = serde_json::from_value(json!({"duration": "100d"})).unwrap();
        assert!(enforce_upperbound(&mut f, &bound, Utc::now()).is_err());
        let mut f: KeyFields = serde_json::from_value(json!({})).unwrap();
        enforce_upperbound(&mut f, &bound, Utc::now()).unwrap();
        assert_eq!(f.max_budget, Patch::Value(50.0));
        assert_eq!(f.duration, Patch::Value("90d".to_owned()));
    }
}
