//! `/audit`: the audit log (LiteLLM's `LiteLLM_AuditLog`), newest first, for admins only.

use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use tollgate_store::AuditQuery;

use crate::admin::common::{paging, to_value, total_pages};
use crate::auth::Principal;
use crate::http::{Error, Params, Result};
use crate::state::AppState;

/// Page size limits of `/audit`.
const DEFAULT_PAGE_SIZE: u32 = 50;
const MAX_PAGE_SIZE: u32 = 1000;

/// Parses a time given as `YYYY-MM-DD`, RFC 3339, or a date-time without offset (read as UTC).
/// With `end` set, the bound is exclusive and covers the named day or instant entirely.
pub fn parse_time(field: &str, value: &str, end: bool) -> Result<DateTime<Utc>> {
    let value = value.trim();
    if let Ok(day) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        let start = day.and_time(chrono::NaiveTime::MIN).and_utc();
        return Ok(if end {
            start + Duration::days(1)
        } else {
            start
        });
    }
    let instant = DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| {
            NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S%.f").map(|t| t.and_utc())
        })
        .or_else(|_| {
            NaiveDateTime::parse_from_str(value, "%Y-%m-%d %H:%M:%S%.f").map(|t| t.and_utc())
        })
        .map_err(|_| {
            Error::bad_field(
                field,
                format!("{field} must be a date (YYYY-MM-DD) or an RFC 3339 time, got '{value}'"),
            )
        })?;
    Ok(if end {
        instant + Duration::milliseconds(1)
    } else {
        instant
    })
}

/// The audit name of a table, accepting LiteLLM's table names and singular object names too.
pub fn table_name(name: &str) -> String {
    let lower = name.trim().to_ascii_lowercase();
    let ours = match lower.as_str() {
        "litellm_verificationtoken" | "key" | "keys" => "keys",
        "litellm_teamtable" | "team" | "teams" => "teams",
        "litellm_teammembership" | "team_member" | "team_members" => "team_members",
        "litellm_usertable" | "user" | "users" => "users",
        "litellm_organizationtable" | "organization" | "org" | "organizations" => "organizations",
        "litellm_organizationmembership"
        | "organization_member"
        | "org_member"
        | "organization_members" => "organization_members",
        "litellm_endusertable" | "customer" | "end_user" | "customers" => "customers",
        "litellm_budgettable" | "budget" | "budgets" => "budgets",
        _ => return name.trim().to_owned(),
    };
    ours.to_owned()
}

fn check_access(p: &Principal) -> Result<()> {
    if p.sees_all() {
        return Ok(());
    }
    Err(Error::Forbidden(format!(
        "Only proxy admins may read the audit log. Your role={}",
        p.role
    )))
}

fn given(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AuditParams {
    table_name: Option<String>,
    object_type: Option<String>,
    object_id: Option<String>,
    action: Option<String>,
    changed_by: Option<String>,
    start_date: Option<String>,
    end_date: Option<String>,
    page: Option<u32>,
    page_size: Option<u32>,
}

impl AuditParams {
    /// The store query, with `(page, page_size)`.
    fn query(self) -> Result<(AuditQuery, u32, u32)> {
        let page = self.page.unwrap_or(1);
        if page == 0 {
            return Err(Error::bad_field("page", "page must be >= 1"));
        }
        let size = self.page_size.unwrap_or(DEFAULT_PAGE_SIZE);
        if size == 0 || size > MAX_PAGE_SIZE {
            return Err(Error::bad_field(
                "page_size",
                format!("page_size must be between 1 and {MAX_PAGE_SIZE}"),
            ));
        }
        let (limit, offset) = paging(Some(page), Some(size), DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
        let since = given(self.start_date)
            .map(|s| parse_time("start_date", &s, false))
            .transpose()?;
        let until = given(self.end_date)
            .map(|s| parse_time("end_date", &s, true))
            .transpose()?;
        if let (Some(s), Some(u)) = (since, until) {
            if s >= u {
                return Err(Error::bad_field(
                    "start_date",
                    "start_date must be before end_date",
                ));
            }
        }
        let query = AuditQuery {
            table_name: given(self.table_name.or(self.object_type)).map(|t| table_name(&t)),
            object_id: given(self.object_id),
            action: given(self.action),
            changed_by: given(self.changed_by),
            since,
            until,
            limit,
            offset,
        };
        Ok((query, page, size))
    }
}

/// GET /audit
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Params(q): Params<AuditParams>,
) -> Result<Json<Value>> {
    check_access(&principal)?;
    let (query, page, size) = q.query()?;
    let found = state.store.audit_log(&query).await?;
    Ok(Json(json!({
        "audit_logs": to_value(&found.items)?,
        "total": found.total,
        "page": page,
        "page_size": size,
        "total_pages": total_pages(found.total, size),
    })))
}

/// GET /audit/{id}: one entry. The store has no lookup by id, so this pages through the log.
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    check_access(&principal)?;
    let mut query = AuditQuery {
        limit: MAX_PAGE_SIZE,
        ..AuditQuery::default()
    };
    loop {
        let page = state.store.audit_log(&query).await?;
        if let Some(entry) = page.items.iter().find(|e| e.id == id) {
            return Ok(Json(to_value(entry)?));
        }
        if page.items.len() < MAX_PAGE_SIZE as usize {
            break;
        }
        query.offset = query.offset.saturating_add(MAX_PAGE_SIZE);
    }
    Err(Error::NotFound(format!(
        "Audit log entry not found, passed id={id}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_end_covers_the_whole_day() {
        let start = parse_time("start_date", "2026-03-01", false).unwrap();
        let end = parse_time("end_date", "2026-03-01", true).unwrap();
        assert_eq!(start.to_rfc3339(), "2026-03-01T00:00:00+00:00");
        assert_eq!(end.to_rfc3339(), "2026-03-02T00:00:00+00:00");
    }

    #[test]
    fn rfc3339_and_naive_times_parse() {
        let t = parse_time("start_date", "2026-03-01T10:00:00+02:00", false).unwrap();
        assert_eq!(t.to_rfc3339(), "2026-03-01T08:00:00+00:00");
        let t = parse_time("start_date", "2026-03-01T10:00:00", false).unwrap();
        assert_eq!(t.to_rfc3339(), "2026-03-01T10:00:00+00:00");
    }

    #[test]
    fn bad_dates_name_their_field() {
        let e = parse_time("end_date", "yesterday", true).unwrap_err();
        assert_eq!(e.status_code(), 400);
        assert!(e.to_string().contains("end_date"));
    }

    #[test]
    fn litellm_table_names_map_to_ours() {
        assert_eq!(table_name("LiteLLM_VerificationToken"), "keys");
        assert_eq!(table_name("organization"), "organizations");
        assert_eq!(table_name("budgets"), "budgets");
        assert_eq!(table_name("something_else"), "something_else");
    }

    #[test]
    fn page_size_is_bounded() {
        let q = AuditParams {
            page_size: Some(1001),
            ..AuditParams::default()
        };
        let e = q.query().unwrap_err();
        assert!(e.to_string().contains("page_size"));
        let (q, page, size) = AuditParams::default().query().unwrap();
        assert_eq!((q.limit, q.offset, page, size), (50, 0, 1, 50));
    }
}
