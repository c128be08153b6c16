//! Token history: every hash a key ever had, so that spend stays attributable after a key is
//! regenerated or deleted.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{Any, AnyPool, Row as _, Transaction};

use super::audit::from_millis;
use super::builder::Sql;
use super::entities;
use crate::table::SqlValue;
use crate::{KeyRecord, Kind, Result, StoreError, TokenEntry, TokenKey, TokenMeta, TokenStatus};

/// SQLite allows 32,766 bound values per statement; stay far below.
const CHUNK: usize = 500;

pub(super) async fn issue(
    tx: &mut Transaction<'_, Any>,
    token: &str,
    key_id: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    let mut sql = Sql::new("INSERT INTO key_tokens (token, key_id, status, issued_at) VALUES (");
    sql.bind_list([
        SqlValue::from(token),
        SqlValue::from(key_id),
        SqlValue::from(TokenStatus::Active.as_str()),
        SqlValue::from(at.timestamp_millis()),
    ])
    .push(")");
    match sql.query().execute(&mut **tx).await {
        Ok(_) => Ok(()),
        Err(e) => Err(match StoreError::from(e) {
            StoreError::Conflict(_) => {
                StoreError::Conflict("this key value has already been issued".into())
            }
            other => other,
        }),
    }
}

pub(super) async fn retire(
    tx: &mut Transaction<'_, Any>,
    token: &str,
    status: TokenStatus,
    snapshot: &KeyRecord,
    at: DateTime<Utc>,
    by: Option<String>,
    grace_until: Option<DateTime<Utc>>,
) -> Result<()> {
    let mut sql = Sql::new("UPDATE key_tokens SET status = ");
    sql.bind(status.as_str())
        .push(", retired_at = ")
        .bind(at.timestamp_millis())
        .push(", retired_by = ")
        .bind(SqlValue::Text(by))
        .push(", grace_until = ")
        .bind(SqlValue::Int(grace_until.map(|t| t.timestamp_millis())))
        .push(", snapshot = ")
        .bind(serde_json::to_string(snapshot)?)
        .push(" WHERE token = ")
        .bind(token)
        .push(" AND status = ")
        .bind(TokenStatus::Active.as_str());
    if sql.query().execute(&mut **tx).await?.rows_affected() == 0 {
        return Err(StoreError::NotFound(format!(
            "active token {} to archive",
            short(token)
        )));
    }
    Ok(())
}

fn short(token: &str) -> &str {
    token.get(..12).unwrap_or(token)
}

const COLUMNS: &str =
    "token, key_id, status, issued_at, retired_at, retired_by, grace_until, snapshot";

pub(super) async fn token(pool: &AnyPool, token: &str) -> Result<Option<TokenEntry>> {
    let mut sql = Sql::new(format!("SELECT {COLUMNS} FROM key_tokens WHERE token = "));
    sql.bind(token);
    let row = sql.query().fetch_optional(pool).await?;
    row.map(|r| entry(&r)).transpose()
}

/// The token's status and its key, joined: an unknown token is one probe of `key_tokens`'
/// primary key, a known one that probe and the key's row.
pub(super) async fn token_key(pool: &AnyPool, token: &str) -> Result<Option<TokenKey<Value>>> {
    // The key's columns are those `get_row` reads; `key_tokens` has none of the same names.
    let mut sql = Sql::new(format!(
        "SELECT t.status, t.grace_until, k.key_id, {} \
         FROM key_tokens t LEFT JOIN keys k ON k.key_id = t.key_id WHERE t.token = ",
        entities::read_columns(Kind::Key)
    ));
    sql.bind(token);
    let Some(r) = sql.query().fetch_optional(pool).await? else {
        return Ok(None);
    };
    let status: String = r.try_get("status")?;
    let grace_until: Option<i64> = r.try_get("grace_until")?;
    let key_id: Option<String> = r.try_get("key_id")?;
    Ok(Some(TokenKey {
        status: TokenStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("token status {status}")))?,
        grace_until: grace_until.map(from_millis).transpose()?,
        key: key_id
            .map(|_| entities::document(&r, Kind::Key))
            .transpose()?,
    }))
}

pub(super) async fn key_tokens(pool: &AnyPool, key_id: &str) -> Result<Vec<TokenEntry>> {
    let mut sql = Sql::new(format!("SELECT {COLUMNS} FROM key_tokens WHERE key_id = "));
    sql.bind(key_id).push(" ORDER BY issued_at DESC, token");
    let rows = sql.query().fetch_all(pool).await?;
    rows.iter().map(entry).collect()
}

fn entry(r: &sqlx::any::AnyRow) -> Result<TokenEntry> {
    let status: String = r.try_get("status")?;
    let snapshot: Option<String> = r.try_get("snapshot")?;
    let opt_time = |col: &str| -> Result<Option<DateTime<Utc>>> {
        let v: Option<i64> = r.try_get(col)?;
        v.map(from_millis).transpose()
    };
    Ok(TokenEntry {
        token: r.try_get("token")?,
        key_id: r.try_get("key_id")?,
        status: TokenStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("token status {status}")))?,
        issued_at: from_millis(r.try_get("issued_at")?)?,
        retired_at: opt_time("retired_at")?,
        retired_by: r.try_get("retired_by")?,
        grace_until: opt_time("grace_until")?,
        snapshot: snapshot.map(|s| serde_json::from_str(&s)).transpose()?,
    })
}

/// For each hash: the live key's current owner if the key still exists, else the owner recorded
/// when its token was retired.
pub(super) async fn token_metadata(
    pool: &AnyPool,
    tokens: &[String],
) -> Result<HashMap<String, TokenMeta>> {
    let mut out = HashMap::with_capacity(tokens.len());
    for chunk in tokens.chunks(CHUNK) {
        let mut sql = Sql::new(
            "SELECT t.token, t.key_id, t.status, t.snapshot, k.data FROM key_tokens t \
             LEFT JOIN keys k ON k.key_id = t.key_id WHERE t.token IN (",
        );
        sql.bind_list(chunk.iter().map(|t| SqlValue::from(t.as_str())))
            .push(")");
        for r in sql.query().fetch_all(pool).await? {
            let token: String = r.try_get("token")?;
            let status: String = r.try_get("status")?;
            let live: Option<String> = r.try_get("data")?;
            let snapshot: Option<String> = r.try_get("snapshot")?;
            let doc = live
                .or(snapshot)
                .map(|s| serde_json::from_str::<Value>(&s))
                .transpose()?;
            let field = |name: &str| {
                doc.as_ref()
                    .and_then(|d| d.get(name))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            };
            let meta = TokenMeta {
                key_id: Some(r.try_get("key_id")?),
                key_alias: field("key_alias"),
                team_id: field("team_id"),
                user_id: field("user_id"),
                organization_id: field("organization_id"),
                status: TokenStatus::parse(&status),
            };
            out.insert(token, meta);
        }
    }
    Ok(out)
}
