//! Reading the daily aggregates on PostgreSQL as a binary `COPY` of the daily statement's
//! result, on a pool of its own of one connection, opened on first use. Through the driver's
//! query interface each of a month's hundreds of thousands of rows cost it a row object, its
//! column list and a typed decode of every value, more than twice the work of everything else
//! in the answer; the `COPY` stream is the same values in a plain binary layout, read here as
//! spans of the bytes that came ([`super::pg_copy`]). The rows come in no order (see
//! [`super::analytics::daily_sql`]), so the days are handed over once every row is read. A
//! report of whole days takes the closed days it can from their packs ([`super::daily_pack`])
//! and packs the closed days it read from rows, storing the packs once it is done.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use futures_util::TryStreamExt as _;
use sqlx::postgres::PgPool;

use super::analytics::{daily_row, daily_sql, daily_sql_of_days, Names};
use super::daily_pack::{self, NewPack, Packer, Segment};
use super::pg_copy::CopyReader;
use crate::spend::{DailyQuery, DailyRow, DaySender, EntityType};
use crate::{Backend, Result};

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

    /// Starts reading the rows that match `q` into `days`; a failure is the last thing sent.
    pub fn read(&self, q: DailyQuery, days: DaySender) {
        let pool = self.pool.clone();
        tokio::spawn(async move {
            match read(&pool, &q, &days).await {
                Ok(packs) => {
                    if let Err(e) = store_packs(&pool, q.entity_type, &packs).await {
                        tracing::warn!("could not store the packs of {} days: {e}", packs.len());
                    }
                }
                // Nobody to tell when the caller is gone.
                Err(e) => _ = days.send(Err(e)).await,
            }
        });
    }
}

/// The rows of one read, by date.
type ByDate = BTreeMap<Arc<str>, Vec<DailyRow>>;

/// Reads every row, then hands over the days, newest first; returns the packs made of the closed
/// days read from rows. Stops early, without error, when the caller is gone.
async fn read(pool: &PgPool, q: &DailyQuery, days: &DaySender) -> Result<Vec<NewPack>> {
    let mut names = Names::default();
    let mut by_date = ByDate::new();
    let mut packer = None;
    let mut sql = Some(daily_sql(Backend::Postgres, q));
    if daily_pack::whole_days(q) {
        let mut conn = pool.acquire().await?;
        // The versions before the packs and the rows: a day read from rows is then never
        // packed under a version later than its rows'.
        let versions: HashMap<String, i64> = sqlx::query_as(daily_pack::VERSIONS)
            .bind(&q.start_date)
            .bind(&q.end_date)
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .collect();
        let packs: Vec<(String, Vec<u8>)> = sqlx::query_as(daily_pack::VALID_PACKS)
            .bind(q.entity_type.as_str())
            .bind(&q.start_date)
            .bind(&q.end_date)
            .fetch_all(&mut *conn)
            .await?;
        let mut packed = Vec::with_capacity(packs.len());
        for (date, body) in &packs {
            let day: Arc<str> = names.intern(date.as_bytes())?;
            // A pack that does not decode is read again from its rows and packed anew.
            match daily_pack::decode(body, &day, q.group_by_entity, &mut names) {
                Ok(rows) => {
                    packed.push(date.as_str());
                    by_date.insert(day, rows);
                }
                Err(e) => tracing::warn!("{date}: {e}; reading the day's rows"),
            }
        }
        if let Some(segments) = daily_pack::segments(&q.start_date, &q.end_date, &packed) {
            let ranges: Vec<(&str, &str)> = segments
                .iter()
                .filter_map(|s| match s {
                    Segment::Rows { from, to } => Some((from.as_str(), to.as_str())),
                    Segment::Pack(_) => None,
                })
                .collect();
            sql = (!ranges.is_empty()).then(|| daily_sql_of_days(Backend::Postgres, q, &ranges));
            packer = Some(Packer::new(versions, q.group_by_entity));
        }
    }
    if let Some(sql) = sql {
        let copy = format!("COPY ({}) TO STDOUT (FORMAT binary)", sql.pg_inline()?);
        let mut read = ByDate::new();
        let with_entity = packer.is_some() || q.group_by_entity;
        let mut conn = pool.acquire().await?;
        let done = copy_rows(&mut conn, &copy, with_entity, &mut names, &mut read).await;
        if done.is_err() {
            // A `COPY` left unread would be drained by the connection's next user.
            conn.close_on_drop();
        }
        done?;
        for (date, day) in read {
            let day = match &mut packer {
                Some(packer) => packer.take(day),
                None => day,
            };
            by_date.insert(date, day);
        }
    }
    for (_, day) in by_date.into_iter().rev() {
        if days.send(Ok(day)).await.is_err() {
            break;
        }
    }
    Ok(packer.map(|p| p.new).unwrap_or_default())
}

async fn copy_rows(
    conn: &mut sqlx::PgConnection,
    copy: &str,
    with_entity: bool,
    names: &mut Names,
    by_date: &mut ByDate,
) -> Result<()> {
    let mut reader = CopyReader::default();
    let mut pieces = conn.copy_out_raw(copy).await?;
    while let Some(piece) = pieces.try_next().await? {
        reader.feed(&piece, |tuple| {
            let row = daily_row(tuple, with_entity, names)?;
            by_date.entry(Arc::clone(&row.date)).or_default().push(row);
            Ok(())
        })?;
    }
    reader.finish()
}

/// Stores the packs a report made.
async fn store_packs(pool: &PgPool, entity_type: EntityType, packs: &[NewPack]) -> Result<()> {
    if packs.is_empty() {
        return Ok(());
    }
    let mut tx = pool.begin().await?;
    for p in packs {
        sqlx::query(daily_pack::STORE_PACK)
            .bind(entity_type.as_str())
            .bind(&*p.date)
            .bind(p.version)
            .bind(&p.body)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}
