//! Reading the daily aggregates on PostgreSQL through sqlx's own PostgreSQL driver rather than
//! its Any driver: the Any driver copies every value of a row into a value of its own (seven
//! texts per daily row, hundreds of thousands of rows for a month of a large deployment), where
//! the PostgreSQL driver decodes texts in place from the row's buffer. The rows come through a
//! pool of its own, of one connection, opened on first use. They come in no order (see
//! [`super::analytics::daily_sql`]), so the days are handed over once every row is read.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::TryStreamExt as _;
use sqlx::postgres::{PgPool, PgRow};
use sqlx::Row as _;

use super::analytics::{daily_row, Columns, Names};
use super::builder::Sql;
use crate::spend::{DailyRow, DaySender};
use crate::Result;

/// The daily-aggregate reader of one PostgreSQL database.
#[derive(Debug)]
pub(super) struct PgDaily {
    pool: PgPool,
}

/// The columns are read without sqlx's check of each value's type against the Rust type (a
/// third of the decoding's work for 300,000 rows of 15 columns): the statement is ours and
/// reads the table our migrations made (texts, `BIGINT` counters, `DOUBLE PRECISION` spend).
/// Texts are taken as their bytes, in the binary format prepared statements are answered in
/// (sqlx refuses the text format for bytes rather than misread it); [`Names`] checks them.
impl Columns for PgRow {
    fn text(&self, i: usize) -> Result<&[u8]> {
        Ok(self.try_get_unchecked(i)?)
    }
    fn int(&self, i: usize) -> Result<i64> {
        Ok(self.try_get_unchecked(i)?)
    }
    fn real(&self, i: usize) -> Result<f64> {
        Ok(self.try_get_unchecked(i)?)
    }
}

impl PgDaily {
    /// A reader of the database at `url`; it connects when it first reads.
    pub fn new(url: &str, acquire_timeout: std::time::Duration) -> Result<Self> {
        Ok(Self {
            pool: super::own_pg_pool(url, acquire_timeout)?,
        })
    }

    /// Starts reading the rows of a statement built by [`super::analytics::daily_sql`] into
    /// `days`; a failure is the last thing sent.
    pub fn read(&self, sql: Sql, with_entity: bool, days: DaySender) {
        let pool = self.pool.clone();
        tokio::spawn(async move {
            if let Err(e) = read(&pool, &sql, with_entity, &days).await {
                // Nobody to tell when the caller is gone.
                let _ = days.send(Err(e)).await;
            }
        });
    }
}

/// Reads every row, then hands over the days, newest first; stops early, without error, when
/// the caller is gone.
async fn read(pool: &PgPool, sql: &Sql, with_entity: bool, days: &DaySender) -> Result<()> {
    let mut names = Names::default();
    let mut by_date: BTreeMap<Arc<str>, Vec<DailyRow>> = BTreeMap::new();
    {
        // The connection goes back to the pool once the rows are in.
        let mut rows = sql.pg_query().fetch(pool);
        while let Some(r) = rows.try_next().await? {
            let row = daily_row(&r, with_entity, &mut names)?;
            by_date.entry(Arc::clone(&row.date)).or_default().push(row);
        }
    }
    for (_, day) in by_date.into_iter().rev() {
        if days.send(Ok(day)).await.is_err() {
            break;
        }
    }
    Ok(())
}
