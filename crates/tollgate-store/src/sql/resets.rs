//! Budget resets: finding the rows whose `budget_reset_at` has passed, and resetting one with a
//! compare-and-set on that column, so that two replicas running the reset job cannot both reset
//! the same window (the second finds the column moved and changes nothing).

use chrono::{DateTime, Utc};
use sqlx::{Any, AnyPool, Row as _, Transaction};

use super::builder::Sql;
use super::entities::push_pk;
use crate::table::{Kind, SqlValue};
use crate::{DueReset, Result, StoreError};

fn require_reset_column(kind: Kind) -> Result<()> {
    if kind.has_budget_reset() {
        return Ok(());
    }
    Err(StoreError::Database(format!(
        "{} has no budget_reset_at",
        kind.def().name
    )))
}

/// `UPDATE t SET spend = 0, budget_reset_at = next WHERE pk AND budget_reset_at = expected`.
/// Zero rows affected means another writer got there first: not an error.
pub(super) async fn reset(
    tx: &mut Transaction<'_, Any>,
    kind: Kind,
    pk: &[String],
    expected_reset_at: Option<i64>,
    next_reset_at: Option<DateTime<Utc>>,
) -> Result<()> {
    require_reset_column(kind)?;
    let mut sql = Sql::new(format!("UPDATE {} SET spend = ", kind.def().name));
    sql.bind(SqlValue::Real(Some(0.0)))
        .push(", budget_reset_at = ")
        .bind(SqlValue::Int(next_reset_at.map(|t| t.timestamp_millis())));
    push_pk(&mut sql, kind, pk);
    match expected_reset_at {
        Some(ms) => sql.push(" AND budget_reset_at = ").bind(ms),
        None => sql.push(" AND budget_reset_at IS NULL"),
    };
    sql.query().execute(&mut **tx).await?;
    Ok(())
}

/// Rows of `kind` whose `budget_reset_at` is at or before `now`, soonest first.
pub(super) async fn due(pool: &AnyPool, kind: Kind, now: DateTime<Utc>) -> Result<Vec<DueReset>> {
    require_reset_column(kind)?;
    let def = kind.def();
    let has_duration = def.columns.contains(&"budget_duration");
    let mut select = def.pk.join(", ");
    if has_duration {
        select.push_str(", budget_duration");
    }
    let mut sql = Sql::new(format!(
        "SELECT {select}, budget_reset_at FROM {} WHERE budget_reset_at <= ",
        def.name
    ));
    sql.bind(now.timestamp_millis())
        .push(" ORDER BY budget_reset_at, ")
        .push(&def.pk.join(", "));
    let rows = sql.query().fetch_all(pool).await?;
    rows.iter()
        .map(|r| {
            let pk = def
                .pk
                .iter()
                .map(|col| r.try_get::<String, _>(*col))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(DueReset {
                pk,
                budget_duration: if has_duration {
                    r.try_get("budget_duration")?
                } else {
                    None
                },
                budget_reset_at: r.try_get("budget_reset_at")?,
            })
        })
        .collect()
}
