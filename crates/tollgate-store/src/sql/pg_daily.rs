//! Reading the daily aggregates on PostgreSQL through sqlx's own PostgreSQL driver rather than
//! its Any driver: the Any driver copies every value of a row into a value of its own (seven
//! texts per daily row, hundreds of thousands of rows for a month of a large deployment), where
//! the PostgreSQL driver decodes texts in place from the row's buffer. The rows come through a
//! pool of its own, of one connection, opened on first use.

use futures_util::TryStreamExt as _;
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::Row as _;

use super::analytics::{daily_row, Columns, Names};
use super::builder::Sql;
use crate::spend::DailyRow;
use crate::Result;

/// The daily-aggregate reader of one PostgreSQL database.
#[derive(Debug)]
pub(super) struct PgDaily {
    pool: PgPool,
}

impl Columns for PgRow {
    fn text(&self, i: usize) -> Result<&str> {
        Ok(self.try_get(i)?)
    }
    fn int(&self, i: usize) -> Result<i64> {
        Ok(self.try_get(i)?)
    }
    fn real(&self, i: usize) -> Result<f64> {
        Ok(self.try_get(i)?)
    }
}

impl PgDaily {
    /// A reader of the database at `url`; it connects when it first reads.
    pub fn new(url: &str, acquire_timeout: std::time::Duration) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .acquire_timeout(acquire_timeout)
            .connect_lazy(url)?;
        Ok(Self { pool })
    }

    /// The rows of a statement built by [`super::analytics::daily_sql`].
    pub async fn read(&self, sql: &Sql, with_entity: bool) -> Result<Vec<DailyRow>> {
        let (mut names, mut out) = (Names::default(), Vec::new());
        let mut rows = sql.pg_query().fetch(&self.pool);
        while let Some(r) = rows.try_next().await? {
            out.push(daily_row(&r, with_entity, &mut names)?);
        }
        Ok(out)
    }
}
