//! Reading spend back: spend-log rows, daily aggregates grouped for the activity endpoints,
//! top-N totals for the global reports, and the running counters.
//!
//! Sums of integer columns are cast to BIGINT (PostgreSQL's SUM of a BIGINT is NUMERIC) and sums
//! of spend to DOUBLE PRECISION (SQLite's COALESCE(SUM(x), 0) is an integer on no rows).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row as _};

use super::audit::from_millis;
use super::builder::Sql;
use crate::spend::{DailyQuery, DailyRow, SpendLogQuery, SpendLogRow, TotalsGroup, TotalsQuery};
use crate::table::{Filter, SqlValue};
use crate::{Backend, JsonMap, Result};

const LOG_SELECT: &str = "SELECT request_id, call_type, api_key, key_id, key_alias, user_id, \
     team_id, organization_id, end_user, tags, model, model_id, model_group, provider, api_base, \
     endpoint, status, spend, prompt_tokens, completion_tokens, cache_read_input_tokens, \
     cache_creation_input_tokens, start_time, end_time, completion_start_time, \
     request_duration_ms, metadata FROM spend_logs";

pub(super) async fn spend_logs(pool: &AnyPool, q: &SpendLogQuery) -> Result<Vec<SpendLogRow>> {
    let mut filters = Vec::new();
    let text = |col, v: &Option<String>| v.clone().map(|v| Filter::Eq(col, SqlValue::from(v)));
    filters.extend(text("request_id", &q.request_id));
    filters.extend(text("api_key", &q.api_key));
    filters.extend(text("user_id", &q.user_id));
    filters.extend(text("team_id", &q.team_id));
    filters.extend(text("end_user", &q.end_user));
    filters.extend(time_filters("start_time", q.start, q.end));
    let limit = q
        .limit
        .unwrap_or(SpendLogQuery::MAX_LIMIT)
        .min(SpendLogQuery::MAX_LIMIT);
    let mut sql = Sql::new(LOG_SELECT);
    sql.push_filters(&filters, &[])
        .push(" ORDER BY start_time DESC, request_id DESC LIMIT ")
        .bind(i64::from(limit));
    let rows = sql.query().fetch_all(pool).await?;
    rows.iter().map(log_row).collect()
}

fn time_filters(
    col: &'static str,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
) -> Vec<Filter> {
    let mut out = Vec::new();
    if let Some(start) = start {
        out.push(Filter::Ge(col, start.timestamp_millis().into()));
    }
    if let Some(end) = end {
        out.push(Filter::Lt(col, end.timestamp_millis().into()));
    }
    out
}

fn log_row(r: &AnyRow) -> Result<SpendLogRow> {
    let tags: String = r.try_get("tags")?;
    let metadata: String = r.try_get("metadata")?;
    let prompt_tokens: i64 = r.try_get("prompt_tokens")?;
    let completion_tokens: i64 = r.try_get("completion_tokens")?;
    let completion_start: Option<i64> = r.try_get("completion_start_time")?;
    Ok(SpendLogRow {
        request_id: r.try_get("request_id")?,
        call_type: r.try_get("call_type")?,
        api_key: r.try_get("api_key")?,
        key_id: r.try_get("key_id")?,
        key_alias: r.try_get("key_alias")?,
        spend: r.try_get("spend")?,
        total_tokens: prompt_tokens + completion_tokens,
        prompt_tokens,
        completion_tokens,
        cache_read_input_tokens: r.try_get("cache_read_input_tokens")?,
        cache_creation_input_tokens: r.try_get("cache_creation_input_tokens")?,
        start_time: from_millis(r.try_get("start_time")?)?,
        end_time: from_millis(r.try_get("end_time")?)?,
        completion_start_time: completion_start.map(from_millis).transpose()?,
        model: r.try_get("model")?,
        model_id: r.try_get("model_id")?,
        model_group: r.try_get("model_group")?,
        provider: r.try_get("provider")?,
        api_base: r.try_get("api_base")?,
        endpoint: r.try_get("endpoint")?,
        user_id: r.try_get("user_id")?,
        team_id: r.try_get("team_id")?,
        organization_id: r.try_get("organization_id")?,
        end_user: r.try_get("end_user")?,
        tags: serde_json::from_str(&tags)?,
        metadata: serde_json::from_str::<JsonMap>(&metadata)?,
        status: r.try_get("status")?,
        request_duration_ms: r.try_get("request_duration_ms")?,
    })
}

const DAILY_GROUP: &str = "api_key, model, model_group, provider, endpoint";
const DAILY_COUNTERS: [&str; 8] = [
    "spend",
    "prompt_tokens",
    "completion_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "api_requests",
    "successful_requests",
    "failed_requests",
];

/// The counters, summed when rows are grouped (spend as DOUBLE PRECISION, the integers as
/// BIGINT) or as they are when every row is its own group.
fn daily_counters(summed: bool) -> String {
    let sum = |c: &str| match (summed, c) {
        (false, _) => c.to_owned(),
        (true, "spend") => format!("CAST(SUM({c}) AS DOUBLE PRECISION) AS {c}"),
        (true, _) => format!("CAST(SUM({c}) AS BIGINT) AS {c}"),
    };
    DAILY_COUNTERS.map(sum).join(", ")
}

pub(super) async fn daily_spend(
    pool: &AnyPool,
    backend: Backend,
    q: &DailyQuery,
) -> Result<Vec<DailyRow>> {
    let group = if q.group_by_entity {
        format!("date, entity_id, {DAILY_GROUP}")
    } else {
        format!("date, {DAILY_GROUP}")
    };
    // The primary key is (entity_type, entity_id, date, api_key, ...): rows of one entity, or
    // kept per entity, are their groups already, and need no GROUP BY (the costly part).
    let summed = !q.group_by_entity && q.entity_ids.len() != 1;
    let mut sql = Sql::for_backend(
        format!(
            "SELECT {group}, {} FROM daily_spend WHERE entity_type = ",
            daily_counters(summed)
        ),
        backend,
    );
    sql.bind(q.entity_type.as_str())
        .push(" AND date >= ")
        .bind(q.start_date.as_str())
        .push(" AND date <= ")
        .bind(q.end_date.as_str());
    let ids = |ids: &[String]| {
        ids.iter()
            .map(|v| SqlValue::from(v.as_str()))
            .collect::<Vec<_>>()
    };
    if !q.entity_ids.is_empty() {
        sql.push(" AND entity_id IN (")
            .bind_list(ids(&q.entity_ids))
            .push(")");
    }
    if !q.exclude_entity_ids.is_empty() {
        sql.push(" AND entity_id NOT IN (")
            .bind_list(ids(&q.exclude_entity_ids))
            .push(")");
    }
    if let Some(model) = &q.model {
        sql.push(" AND model = ").bind(model.as_str());
    }
    if let Some(api_key) = &q.api_key {
        sql.push(" AND api_key = ").bind(api_key.as_str());
    }
    if summed {
        sql.push(&format!(" GROUP BY {group}"));
    }
    sql.push(" ORDER BY date DESC")
        .push(if q.group_by_entity {
            ", entity_id, "
        } else {
            ", "
        })
        .push(DAILY_GROUP);
    let rows = sql.query().fetch_all(pool).await?;
    rows.iter()
        .map(|r| daily_row(r, q.group_by_entity))
        .collect()
}

fn daily_row(r: &AnyRow, with_entity: bool) -> Result<DailyRow> {
    Ok(DailyRow {
        date: r.try_get("date")?,
        entity_id: if with_entity {
            Some(r.try_get("entity_id")?)
        } else {
            None
        },
        api_key: r.try_get("api_key")?,
        model: r.try_get("model")?,
        model_group: r.try_get("model_group")?,
        provider: r.try_get("provider")?,
        endpoint: r.try_get("endpoint")?,
        spend: r.try_get("spend")?,
        prompt_tokens: r.try_get("prompt_tokens")?,
        completion_tokens: r.try_get("completion_tokens")?,
        cache_read_input_tokens: r.try_get("cache_read_input_tokens")?,
        cache_creation_input_tokens: r.try_get("cache_creation_input_tokens")?,
        api_requests: r.try_get("api_requests")?,
        successful_requests: r.try_get("successful_requests")?,
        failed_requests: r.try_get("failed_requests")?,
    })
}

/// The FROM clause and grouping expression of a totals report. Tags are a JSON array in one
/// column, unnested with each backend's own function.
fn totals_source(backend: Backend, group: TotalsGroup) -> (&'static str, &'static str) {
    let column = match group {
        TotalsGroup::ApiKey => "s.api_key",
        TotalsGroup::User => "s.user_id",
        TotalsGroup::Team => "s.team_id",
        TotalsGroup::Organization => "s.organization_id",
        TotalsGroup::Model => "s.model",
        TotalsGroup::ModelGroup => "s.model_group",
        TotalsGroup::EndUser => "s.end_user",
        TotalsGroup::Tag => {
            return match backend {
                Backend::Sqlite => ("spend_logs s, json_each(s.tags) j", "j.value"),
                Backend::Postgres => (
                    "spend_logs s CROSS JOIN LATERAL \
                     json_array_elements_text(CAST(s.tags AS json)) AS j(value)",
                    "j.value",
                ),
            }
        }
    };
    ("spend_logs s", column)
}

pub(super) async fn spend_totals(
    pool: &AnyPool,
    backend: Backend,
    q: &TotalsQuery,
) -> Result<Vec<(String, f64)>> {
    let (from, key) = totals_source(backend, q.group_by);
    let mut sql = Sql::new(format!(
        "SELECT {key} AS k, CAST(SUM(s.spend) AS DOUBLE PRECISION) AS total FROM {from} \
         WHERE {key} IS NOT NULL AND {key} <> ''"
    ));
    if let Some(start) = q.start {
        sql.push(" AND s.start_time >= ")
            .bind(start.timestamp_millis());
    }
    if let Some(end) = q.end {
        sql.push(" AND s.start_time < ")
            .bind(end.timestamp_millis());
    }
    sql.push(&format!(" GROUP BY {key} ORDER BY total DESC, k"));
    if let Some(limit) = q.limit {
        sql.push(" LIMIT ").bind(i64::from(limit));
    }
    let rows = sql.query().fetch_all(pool).await?;
    rows.iter()
        .map(|r| Ok((r.try_get("k")?, r.try_get("total")?)))
        .collect()
}

pub(super) async fn global_spend(pool: &AnyPool, since: DateTime<Utc>) -> Result<f64> {
    let mut sql = Sql::new(
        "SELECT CAST(COALESCE(SUM(spend), 0) AS DOUBLE PRECISION) FROM spend_logs \
         WHERE start_time >= ",
    );
    sql.bind(since.timestamp_millis());
    Ok(sql.query().fetch_one(pool).await?.try_get(0)?)
}

pub(super) async fn spend_counters(pool: &AnyPool, scope: &str) -> Result<HashMap<String, f64>> {
    let mut sql = Sql::new("SELECT id, spend FROM spend_counters WHERE scope = ");
    sql.bind(scope);
    let rows = sql.query().fetch_all(pool).await?;
    rows.iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("spend")?)))
        .collect()
}
