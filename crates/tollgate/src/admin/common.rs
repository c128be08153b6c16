//! Helpers every management handler uses: the acting caller, audit entries, validation of
//! money, limits and durations, and JSON rendering of records.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use tollgate_store::{AuditEntry, Kind, Write};

use crate::auth::Principal;
use crate::http::{Error, Result};
use crate::limits::period::{self, Period};

/// The caller of a write, for permission checks and the audit log.
#[derive(Debug, Clone)]
pub struct Actor {
    pub principal: Principal,
    /// The `litellm-changed-by` header: who a tool is acting for.
    pub changed_by: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Actor {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        let principal = Principal::from_request_parts(parts, state).await?;
        let changed_by = parts
            .headers
            .get("litellm-changed-by")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(Actor {
            principal,
            changed_by,
        })
    }
}

impl Actor {
    /// Who to record as the author of a change.
    pub fn who(&self) -> Option<String> {
        self.changed_by
            .clone()
            .or_else(|| self.principal.user_id.clone())
    }

    /// An audit entry for a change to one object.
    pub fn audit(
        &self,
        action: &str,
        kind: Kind,
        object_id: &str,
        before: Option<Value>,
        after: Option<Value>,
    ) -> Write {
        Write::Audit(Box::new(AuditEntry {
            // Time-ordered (and ordered within a millisecond by this process): the log lists
            // by time, then id, so writes in one millisecond keep their order.
            id: uuid::Uuid::now_v7().to_string(),
            updated_at: Utc::now(),
            changed_by: self.who(),
            changed_by_api_key: self.principal.token.clone(),
            action: action.to_owned(),
            table_name: kind.audit_name().to_owned(),
            object_id: object_id.to_owned(),
            before_value: before,
            updated_values: after,
        }))
    }
}

pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A record as a JSON object, to extend with rendered fields.
pub fn to_object<T: Serialize>(record: &T) -> Result<Map<String, Value>> {
    match serde_json::to_value(record)? {
        Value::Object(map) => Ok(map),
        _ => Err(Error::Internal("record did not render as an object".into())),
    }
}

pub fn to_value<T: Serialize>(record: &T) -> Result<Value> {
    Ok(serde_json::to_value(record)?)
}

/// A money amount must be a finite number >= 0.
pub fn check_money(field: &str, value: Option<f64>) -> Result<()> {
    match value {
        Some(v) if !v.is_finite() || v < 0.0 => Err(Error::bad_field(
            field,
            format!("{field} must be a finite number >= 0, got {v}"),
        )),
        _ => Ok(()),
    }
}

/// A limit (tpm, rpm, parallel requests) must be >= 0.
pub fn check_limit(field: &str, value: Option<i64>) -> Result<()> {
    match value {
        Some(v) if v < 0 => Err(Error::bad_field(
            field,
            format!("{field} must be >= 0, got {v}"),
        )),
        _ => Ok(()),
    }
}

/// Parses a duration field ("30s", "30d", "1mo", ...).
pub fn parse_period(field: &str, value: &str) -> Result<Period> {
    period::parse(value).map_err(|e| Error::bad_field(field, format!("{field}: {e}")))
}

/// The next reset of a budget with this duration, or `None` without one.
pub fn reset_at(
    field: &str,
    duration: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>> {
    duration
        .map(|d| parse_period(field, d).map(|p| p.next_reset(now)))
        .transpose()
}

/// An empty or blank alias means no alias (LiteLLM issue #40705).
pub fn clean_alias(field: &str, alias: Option<String>) -> Result<Option<String>> {
    let Some(alias) = alias else { return Ok(None) };
    if alias.trim().is_empty() {
        return Ok(None);
    }
    if alias.chars().any(char::is_control) {
        return Err(Error::bad_field(
            field,
            format!("{field} must not contain control characters"),
        ));
    }
    Ok(Some(alias))
}

/// Page arithmetic for list endpoints: `(limit, offset, total_pages)`.
pub fn paging(page: Option<u32>, size: Option<u32>, default: u32, max: u32) -> Result<(u32, u32)> {
    let page = page.unwrap_or(1);
    if page == 0 {
        return Err(Error::bad_field("page", "page must be >= 1"));
    }
    let size = size.unwrap_or(default);
    if size == 0 || size > max {
        return Err(Error::bad_field(
            "size",
            format!("page size must be between 1 and {max}"),
        ));
    }
    Ok((size, (page - 1).saturating_mul(size)))
}

pub fn total_pages(total: u64, size: u32) -> u64 {
    total.div_ceil(u64::from(size.max(1)))
}

/// A comma-separated query list (`team_ids=a,b`).
pub fn comma_list(s: Option<&str>) -> Vec<String> {
    s.map(|s| {
        s.split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(str::to_owned)
            .collect()
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_must_be_finite_and_non_negative() {
        assert!(check_money("max_budget", Some(0.0)).is_ok());
        assert!(check_money("max_budget", None).is_ok());
        for bad in [-1.0, f64::NAN, f64::INFINITY] {
            let e = check_money("max_budget", Some(bad)).unwrap_err();
            assert_eq!(e.status_code(), 400);
            assert!(e.to_string().contains("max_budget"));
        }
    }

    #[test]
    fn blank_alias_is_no_alias() {
        assert_eq!(clean_alias("key_alias", Some("".into())).unwrap(), None);
        assert_eq!(clean_alias("key_alias", Some("  ".into())).unwrap(), None);
        assert_eq!(
            clean_alias("key_alias", Some("a".into())).unwrap(),
            Some("a".into())
        );
        assert!(clean_alias("key_alias", Some("a\nb".into())).is_err());
    }

    #[test]
    fn paging_bounds() {
        assert_eq!(paging(Some(2), Some(10), 10, 100).unwrap(), (10, 10));
        assert!(paging(Some(0), None, 10, 100).is_err());
        assert!(paging(None, Some(101), 10, 100).is_err());
        assert_eq!(total_pages(21, 10), 3);
        assert_eq!(total_pages(0, 10), 0);
    }
}
