//! Reading spend back: spend-log rows, daily aggregates for the activity endpoints, top-N totals
//! for the global reports, and the running counters.
//!
//! Sums of integer columns are cast to BIGINT (PostgreSQL's SUM of a BIGINT is NUMERIC) and sums
//! of spend to DOUBLE PRECISION (SQLite's COALESCE(SUM(x), 0) is an integer on no rows).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rustc_hash::FxBuildHasher;
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

/// The daily table's columns as [`daily_spend`] reads them; [`daily_row`] takes them by position.
const DAILY_SELECT: &str = "SELECT date, entity_id, api_key, model, model_group, provider, \
     endpoint, spend, prompt_tokens, completion_tokens, cache_read_input_tokens, \
     cache_creation_input_tokens, api_requests, successful_requests, failed_requests \
     FROM daily_spend WHERE entity_type = ";

/// The statement reading the daily rows that match `q`, not grouped (grouping a month of 10⁵
/// rows cost SQLite a second). On SQLite it walks the table, kept in (entity type, date, ...)
/// order, backwards from the newest date, so rows of one date come together and each day can be
/// answered as soon as it is read.
/// PostgreSQL reads a month faster by scanning the table (100 ms for 300,000 rows, against
/// 150-200 ms walking the index backwards), so there the rows come in no order at all.
pub(super) fn daily_sql(backend: Backend, q: &DailyQuery) -> Sql {
    daily_sql_of_days(backend, q, &[(&q.start_date, &q.end_date)])
}

/// [`daily_sql`] for the days of the inclusive ranges `days` instead of the query's range.
pub(super) fn daily_sql_of_days(backend: Backend, q: &DailyQuery, days: &[(&str, &str)]) -> Sql {
    let mut sql = Sql::for_backend(DAILY_SELECT, backend);
    sql.bind(q.entity_type.as_str()).push(" AND (");
    for (i, (from, to)) in days.iter().enumerate() {
        if i > 0 {
            sql.push(" OR ");
        }
        sql.push("date >= ")
            .bind(*from)
            .push(" AND date <= ")
            .bind(*to);
    }
    sql.push(")");
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
    if backend == Backend::Sqlite {
        sql.push(" ORDER BY date DESC");
    }
    sql
}

/// One text per distinct value: the rows of an answer repeat a few hundred dates, keys and
/// models hundreds of thousands of times. Rows read in a row mostly repeat the row before in
/// most columns (a date's rows, a key's models), so each column's last text is checked first,
/// byte for byte, before its bytes are checked for UTF-8 and hashed.
#[derive(Default)]
pub(super) struct Names {
    all: HashSet<Arc<str>, FxBuildHasher>,
    last: [Option<Arc<str>>; 7],
}

impl Names {
    /// The text whose bytes are `bytes`, of column `column` (0-6).
    pub fn get(&mut self, column: usize, bytes: &[u8]) -> Result<Arc<str>> {
        if let Some(last) = &self.last[column] {
            if last.as_bytes() == bytes {
                return Ok(Arc::clone(last));
            }
        }
        let name = self.intern(bytes)?;
        self.last[column] = Some(Arc::clone(&name));
        Ok(name)
    }

    /// The text whose bytes are `bytes`, without looking at a column's last text.
    pub fn intern(&mut self, bytes: &[u8]) -> Result<Arc<str>> {
        let s = std::str::from_utf8(bytes)
            .map_err(|e| crate::StoreError::Database(format!("daily row text: {e}")))?;
        Ok(match self.all.get(s) {
            Some(name) => Arc::clone(name),
            None => {
                let name: Arc<str> = Arc::from(s);
                self.all.insert(Arc::clone(&name));
                name
            }
        })
    }
}

/// A result row whose columns are read by position.
pub(super) trait Columns {
    /// A text column's bytes (UTF-8, checked by [`Names::get`] when the text is new).
    fn text(&self, i: usize) -> Result<&[u8]>;
    fn int(&self, i: usize) -> Result<i64>;
    fn real(&self, i: usize) -> Result<f64>;
}

/// A row of [`DAILY_SELECT`].
pub(super) fn daily_row(
    r: &impl Columns,
    with_entity: bool,
    names: &mut Names,
) -> Result<DailyRow> {
    let mut text = |i| names.get(i, r.text(i)?);
    Ok(DailyRow {
        date: text(0)?,
        entity_id: if with_entity { Some(text(1)?) } else { None },
        api_key: text(2)?,
        model: text(3)?,
        model_group: text(4)?,
        provider: text(5)?,
        endpoint: text(6)?,
        spend: r.real(7)?,
        prompt_tokens: r.int(8)?,
        completion_tokens: r.int(9)?,
        cache_read_input_tokens: r.int(10)?,
        cache_creation_input_tokens: r.int(11)?,
        api_requests: r.int(12)?,
        successful_requests: r.int(13)?,
        failed_requests: r.int(14)?,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_distinct_text_is_one_allocation_whichever_column_brings_it() {
        let mut names = Names::default();
        let mut get = |column, text: &str| names.get(column, text.as_bytes()).unwrap();
        let a = get(3, "gpt-4o");
        let again = get(3, "gpt-4o");
        let other_column = get(4, "gpt-4o");
        let b = get(3, "gpt-4o-mini");
        let back = get(3, "gpt-4o");
        assert!(
            Arc::ptr_eq(&a, &again) && Arc::ptr_eq(&a, &other_column) && Arc::ptr_eq(&a, &back)
        );
        assert_eq!(&*b, "gpt-4o-mini");
        assert_eq!(names.all.len(), 2);
    }

    #[test]
    fn a_text_that_is_not_utf8_is_an_error() {
        let mut names = Names::default();
        names.get(0, b"2026-01-01").unwrap();
        assert!(matches!(
            names.get(0, b"2026-01-\xff"),
            Err(crate::StoreError::Database(_))
        ));
    }
}
