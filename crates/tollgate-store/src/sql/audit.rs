//! The audit log: appended inside the transaction of the write it describes.

use chrono::{DateTime, TimeZone, Utc};
use sqlx::{Any, AnyPool, Row as _, Transaction};

use super::builder::Sql;
use crate::table::{AuditQuery, Filter, Page, SqlValue};
use crate::{AuditEntry, Result, StoreError};

pub(super) async fn insert(tx: &mut Transaction<'_, Any>, e: &AuditEntry) -> Result<()> {
    let mut sql = Sql::new(
        "INSERT INTO audit_log (id, updated_at, changed_by, changed_by_api_key, action, \
         table_name, object_id, before_value, updated_values) VALUES (",
    );
    sql.bind_list([
        SqlValue::Text(Some(e.id.clone())),
        SqlValue::Int(Some(e.updated_at.timestamp_millis())),
        SqlValue::Text(e.changed_by.clone()),
        SqlValue::Text(e.changed_by_api_key.clone()),
        SqlValue::Text(Some(e.action.clone())),
        SqlValue::Text(Some(e.table_name.clone())),
        SqlValue::Text(Some(e.object_id.clone())),
        SqlValue::Text(e.before_value.as_ref().map(ToString::to_string)),
        SqlValue::Text(e.updated_values.as_ref().map(ToString::to_string)),
    ])
    .push(")");
    sql.query().execute(&mut **tx).await?;
    Ok(())
}

pub(super) async fn audit_log(pool: &AnyPool, q: &AuditQuery) -> Result<Page<AuditEntry>> {
    let mut filters = Vec::new();
    let text = |col, v: &Option<String>| v.clone().map(|v| Filter::Eq(col, SqlValue::from(v)));
    filters.extend(text("table_name", &q.table_name));
    filters.extend(text("object_id", &q.object_id));
    filters.extend(text("action", &q.action));
    filters.extend(text("changed_by", &q.changed_by));
    if let Some(since) = q.since {
        filters.push(Filter::Ge("updated_at", since.timestamp_millis().into()));
    }
    if let Some(until) = q.until {
        filters.push(Filter::Lt("updated_at", until.timestamp_millis().into()));
    }
    let mut count = Sql::new("SELECT COUNT(*) FROM audit_log");
    count.push_filters(&filters, &[]);
    let total: i64 = count.query().fetch_one(pool).await?.try_get(0)?;

    let mut sql = Sql::new(
        "SELECT id, updated_at, changed_by, changed_by_api_key, action, table_name, object_id, \
         before_value, updated_values FROM audit_log",
    );
    sql.push_filters(&filters, &[]);
    sql.push(" ORDER BY updated_at DESC, id DESC LIMIT ")
        .bind(i64::from(q.limit))
        .push(" OFFSET ")
        .bind(i64::from(q.offset));
    let rows = sql.query().fetch_all(pool).await?;
    let items = rows.iter().map(entry).collect::<Result<Vec<_>>>()?;
    Ok(Page {
        items,
        total: u64::try_from(total).unwrap_or(0),
    })
}

fn entry(r: &sqlx::any::AnyRow) -> Result<AuditEntry> {
    let json = |col: &str| -> Result<Option<serde_json::Value>> {
        let s: Option<String> = r.try_get(col)?;
        Ok(s.map(|s| serde_json::from_str(&s)).transpose()?)
    };
    Ok(AuditEntry {
        id: r.try_get("id")?,
        updated_at: from_millis(r.try_get("updated_at")?)?,
        changed_by: r.try_get("changed_by")?,
        changed_by_api_key: r.try_get("changed_by_api_key")?,
        action: r.try_get("action")?,
        table_name: r.try_get("table_name")?,
        object_id: r.try_get("object_id")?,
        before_value: json("before_value")?,
        updated_values: json("updated_values")?,
    })
}

pub(super) fn from_millis(ms: i64) -> Result<DateTime<Utc>> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {ms} out of range")))
}
