//! Entity rows: writes inside a transaction, reads by key and by query.

use serde_json::Value;
use sqlx::{Any, AnyPool, Row as _, Transaction};

use super::builder::Sql;
use super::tokens;
use crate::table::{overlay_reset_at, overlay_spend, Kind, Page, Query, Row, SqlValue, Write};
use crate::{Result, StoreError};

pub(super) async fn apply_one(tx: &mut Transaction<'_, Any>, write: Write) -> Result<()> {
    match write {
        Write::Insert(row) => insert(tx, &row).await,
        Write::Update(row) => update(tx, &row).await,
        Write::Delete { kind, pk } => {
            check_pk(kind, pk.len())?;
            let mut sql = Sql::new(format!("DELETE FROM {}", kind.def().name));
            push_pk(&mut sql, kind, &pk);
            expect_one(
                sql.query().execute(&mut **tx).await?.rows_affected(),
                kind,
                &pk,
            )
        }
        Write::DeleteWhere {
            kind,
            column,
            value,
        } => {
            if !kind.has_column(column) {
                return Err(StoreError::Database(format!("no column {column}")));
            }
            let mut sql = Sql::new(format!("DELETE FROM {} WHERE {column} = ", kind.def().name));
            sql.bind(value);
            sql.query().execute(&mut **tx).await?;
            Ok(())
        }
        Write::SetSpend { kind, pk, spend } => {
            check_pk(kind, pk.len())?;
            let mut sql = Sql::new(format!("UPDATE {} SET spend = ", kind.def().name));
            sql.bind(SqlValue::Real(Some(spend)));
            push_pk(&mut sql, kind, &pk);
            expect_one(
                sql.query().execute(&mut **tx).await?.rows_affected(),
                kind,
                &pk,
            )
        }
        Write::IssueToken { token, key_id, at } => tokens::issue(tx, &token, &key_id, at).await,
        Write::RetireToken {
            token,
            status,
            snapshot,
            at,
            by,
            grace_until,
        } => tokens::retire(tx, &token, status, &snapshot, at, by, grace_until).await,
        Write::Audit(entry) => super::audit::insert(tx, &entry).await,
        Write::ResetBudget {
            kind,
            pk,
            expected_reset_at,
            next_reset_at,
        } => {
            check_pk(kind, pk.len())?;
            super::resets::reset(tx, kind, &pk, expected_reset_at, next_reset_at).await
        }
    }
}

async fn insert(tx: &mut Transaction<'_, Any>, row: &Row) -> Result<()> {
    let def = row.kind.def();
    let names: Vec<&str> = def.pk.iter().chain(def.columns).copied().collect();
    let mut sql = Sql::new(format!(
        "INSERT INTO {} ({}, spend, data) VALUES (",
        def.name,
        names.join(", ")
    ));
    let values = row
        .pk
        .iter()
        .map(|v| SqlValue::Text(Some(v.clone())))
        .chain(row.columns.iter().cloned())
        .chain([
            SqlValue::Real(Some(row.spend)),
            SqlValue::Text(Some(row.data.clone())),
        ]);
    sql.bind_list(values).push(")");
    match sql.query().execute(&mut **tx).await {
        Ok(_) => Ok(()),
        Err(e) => Err(match StoreError::from(e) {
            StoreError::Conflict(msg) => {
                StoreError::Conflict(format!("{} {}: {msg}", def.name, row.pk.join("/")))
            }
            other => other,
        }),
    }
}

async fn update(tx: &mut Transaction<'_, Any>, row: &Row) -> Result<()> {
    check_pk(row.kind, row.pk.len())?;
    let def = row.kind.def();
    let mut sql = Sql::new(format!("UPDATE {} SET ", def.name));
    for (name, value) in def.columns.iter().zip(&row.columns) {
        sql.push(name).push(" = ").bind(value.clone()).push(", ");
    }
    sql.push("data = ").bind(row.data.clone());
    push_pk(&mut sql, row.kind, &row.pk);
    let affected = sql.query().execute(&mut **tx).await?.rows_affected();
    expect_one(affected, row.kind, &row.pk)
}

pub(super) fn push_pk<S: AsRef<str>>(sql: &mut Sql, kind: Kind, pk: &[S]) {
    for (i, (name, value)) in kind.def().pk.iter().zip(pk).enumerate() {
        sql.push(if i == 0 { " WHERE " } else { " AND " })
            .push(name)
            .push(" = ")
            .bind(value.as_ref());
    }
}

fn expect_one<S: AsRef<str>>(affected: u64, kind: Kind, pk: &[S]) -> Result<()> {
    if affected == 0 {
        let id: Vec<&str> = pk.iter().map(AsRef::as_ref).collect();
        return Err(StoreError::NotFound(format!(
            "{} {}",
            kind.def().name,
            id.join("/")
        )));
    }
    Ok(())
}

/// A key with the wrong number of parts would widen a one-row write to many rows (or, with no
/// parts at all, to the whole table).
pub(super) fn check_pk(kind: Kind, parts: usize) -> Result<()> {
    if parts != kind.def().pk.len() {
        return Err(StoreError::Database(format!(
            "{} has a {}-part key, not {parts}",
            kind.def().name,
            kind.def().pk.len()
        )));
    }
    Ok(())
}

pub(super) async fn get_row(pool: &AnyPool, kind: Kind, pk: &[&str]) -> Result<Option<Value>> {
    check_pk(kind, pk.len())?;
    let mut sql = Sql::new(format!(
        "SELECT {} FROM {}",
        read_columns(kind),
        kind.def().name
    ));
    push_pk(&mut sql, kind, pk);
    let row = sql.query().fetch_optional(pool).await?;
    row.map(|r| document(&r, kind)).transpose()
}

pub(super) async fn list_rows(pool: &AnyPool, kind: Kind, query: &Query) -> Result<Page<Value>> {
    let def = kind.def();
    for col in query
        .filters
        .iter()
        .chain(&query.any_of)
        .map(filter_column)
        .chain([query.sort_by])
    {
        if !kind.has_column(col) {
            return Err(StoreError::Database(format!(
                "{} cannot be queried by {col}",
                def.name
            )));
        }
    }
    let mut sql = Sql::new(format!("SELECT {} FROM {}", read_columns(kind), def.name));
    sql.push_filters(&query.filters, &query.any_of);
    let dir = if query.descending { "DESC" } else { "ASC" };
    sql.push(&format!(" ORDER BY {} {dir}", query.sort_by));
    for pk in def.pk {
        sql.push(&format!(", {pk} {dir}"));
    }
    if let Some(limit) = query.limit {
        sql.push(" LIMIT ")
            .bind(i64::from(limit))
            .push(" OFFSET ")
            .bind(i64::from(query.offset));
    }
    let rows = sql.query().fetch_all(pool).await?;
    let items = rows
        .iter()
        .map(|r| document(r, kind))
        .collect::<Result<Vec<_>>>()?;
    let total = if query.count {
        let mut count = Sql::new(format!("SELECT COUNT(*) FROM {}", def.name));
        count.push_filters(&query.filters, &query.any_of);
        let total: i64 = count.query().fetch_one(pool).await?.try_get(0)?;
        u64::try_from(total).unwrap_or(0)
    } else {
        items.len() as u64
    };
    Ok(Page { items, total })
}

fn filter_column(f: &crate::table::Filter) -> &'static str {
    use crate::table::Filter::*;
    match f {
        Eq(c, _) | In(c, _) | IsNull(c) | Contains(c, _) | Lt(c, _) | Ge(c, _) => c,
    }
}

/// What a read selects: the document and the columns laid over it.
pub(super) fn read_columns(kind: Kind) -> &'static str {
    if kind.has_budget_reset() {
        "spend, budget_reset_at, data"
    } else {
        "spend, data"
    }
}

pub(super) fn document(row: &sqlx::any::AnyRow, kind: Kind) -> Result<Value> {
    let spend: f64 = row.try_get("spend")?;
    let data: String = row.try_get("data")?;
    let mut value = overlay_spend(&data, spend)?;
    if kind.has_budget_reset() {
        overlay_reset_at(&mut value, row.try_get("budget_reset_at")?);
    }
    Ok(value)
}
