//! Reading the daily aggregates on PostgreSQL as a binary `COPY` of the daily statement's
//! result, on a pool of its own of one connection, opened on first use. Through the driver's
//! query interface each of a month's hundreds of thousands of rows cost it a row object, its
//! column list and a typed decode of every value, more than twice the work of everything else
//! in the answer; the `COPY` stream is the same values in a plain binary layout, read here as
//! spans of the bytes that came ([`super::pg_copy`]). The rows come in no order (see
//! [`super::analytics::daily_sql`]), so the days are handed over once every row is read.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::TryStreamExt as _;
use sqlx::postgres::PgPool;

use super::analytics::{daily_row, Names};
use super::builder::Sql;
use super::pg_copy::CopyReader;
use crate::spend::{DailyRow, DaySender};
use crate::Result;

/// The daily-aggregate reader of one PostgreSQL database.
#[derive(Debug)]
pub(super) struct PgDaily {
    pool: PgPool,
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

/// The rows of one read, by date.
type ByDate = BTreeMap<Arc<str>, Vec<DailyRow>>;

/// Reads every row, then hands over the days, newest first; stops early, without error, when
/// the caller is gone.
async fn read(pool: &PgPool, sql: &Sql, with_entity: bool, days: &DaySender) -> Result<()> {
    let copy = format!("COPY ({}) TO STDOUT (FORMAT binary)", sql.pg_inline()?);
    let mut by_date = ByDate::new();
    {
        let mut conn = pool.acquire().await?;
        let read = copy_rows(&mut conn, &copy, with_entity, &mut by_date).await;
        if read.is_err() {
            // A `COPY` left unread would be drained by the connection's next user.
            conn.close_on_drop();
        }
        read?;
    }
    for (_, day) in by_date.into_iter().rev() {
        if days.send(Ok(day)).await.is_err() {
            break;
        }
    }
    Ok(())
}

async fn copy_rows(
    conn: &mut sqlx::PgConnection,
    copy: &str,
    with_entity: bool,
    by_date: &mut ByDate,
) -> Result<()> {
    let mut names = Names::default();
    let mut reader = CopyReader::default();
    let mut pieces = conn.copy_out_raw(copy).await?;
    while let Some(piece) = pieces.try_next().await? {
        reader.feed(&piece, |tuple| {
            let row = daily_row(tuple, with_entity, &mut names)?;
            by_date.entry(Arc::clone(&row.date)).or_default().push(row);
            Ok(())
        })?;
    }
    reader.finish()
}
