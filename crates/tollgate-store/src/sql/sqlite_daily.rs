//! Reading the daily aggregates on SQLite, on a connection of this module's own (rusqlite): a
//! month of a large deployment is hundreds of thousands of rows, and through sqlx's Any driver
//! each of them was built on sqlx's worker thread, sent over a channel and copied value by value
//! into an `AnyRow` (4 s for 300,000 rows). Here the texts are read in place and interned.
//!
//! The read runs on the blocking pool: it is one scan of a date range, tens of milliseconds, too
//! long to hold a runtime worker. It hands each day over as soon as the day's last row is read.
//! A report of whole days takes the closed days it can from their packs ([`super::daily_pack`])
//! and packs the closed days it read from rows, storing the packs once it is done.

use std::collections::HashMap;
use std::sync::Arc;

use rusqlite::{params, params_from_iter, Connection, TransactionBehavior};

use super::analytics::{daily_row, daily_sql, daily_sql_of_days, Columns, Names};
use super::builder::Sql;
use super::daily_pack::{self, NewPack, Packer, Segment, StoredPack};
use crate::spend::{DailyQuery, DailyRow, DayCutter, DaySender, EntityType};
use crate::{Backend, Result, StoreError};

/// The daily-aggregate reader of one SQLite file.
#[derive(Debug)]
pub(super) struct SqliteDaily {
    path: String,
}

impl Columns for rusqlite::Row<'_> {
    fn text(&self, i: usize) -> Result<&[u8]> {
        Ok(self.get_ref(i)?.as_bytes()?)
    }
    fn int(&self, i: usize) -> Result<i64> {
        Ok(self.get(i)?)
    }
    fn real(&self, i: usize) -> Result<f64> {
        Ok(self.get(i)?)
    }
}

impl From<rusqlite::types::FromSqlError> for StoreError {
    fn from(e: rusqlite::types::FromSqlError) -> Self {
        StoreError::Database(e.to_string())
    }
}

impl SqliteDaily {
    /// A reader of the database file (already created and migrated by the pool).
    pub fn new(path: &str) -> Self {
        Self {
            path: path.to_owned(),
        }
    }

    /// Starts reading the rows that match `q` into `days`; a failure is the last thing sent.
    /// Each read has a connection of its own: a read lasts as long as its answer takes to reach
    /// the client, and a slow client must not hold up the next report.
    pub fn read(&self, q: DailyQuery, days: DaySender) {
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let read = open(&path).and_then(|mut conn| {
                if daily_pack::whole_days(&q) {
                    read_packed(&mut conn, &q, &days)
                } else {
                    let sql = daily_sql(Backend::Sqlite, &q);
                    read_rows(
                        &conn,
                        &sql,
                        q.group_by_entity,
                        &mut Names::default(),
                        |day| Ok(send(&days, day)),
                    )
                    .map(|_| Vec::new())
                }
            });
            match read {
                Ok(packs) => {
                    if let Err(e) = store_packs(&path, q.entity_type, &packs) {
                        tracing::warn!("could not store the packs of {} days: {e}", packs.len());
                    }
                }
                // Nobody to tell when the caller is gone.
                Err(e) => _ = days.blocking_send(Err(e)),
            }
        });
    }
}

/// Opens the file for reading only.
fn open(path: &str) -> Result<Connection> {
    let conn = Connection::open(path)?;
    // The file is read through a mapping rather than copied page by page into the connection's
    // small cache: a month's rows are tens of megabytes, read once.
    conn.execute_batch(
        "PRAGMA busy_timeout = 5000; PRAGMA query_only = ON; PRAGMA mmap_size = 1073741824;",
    )?;
    Ok(conn)
}

/// Hands a day over; false when the caller is gone.
fn send(days: &DaySender, day: Vec<DailyRow>) -> bool {
    days.blocking_send(Ok(day)).is_ok()
}

/// Reads the rows of `sql` and hands each day to `on_day` as soon as it is read, until
/// `on_day` says to stop (false, which this returns).
fn read_rows(
    conn: &Connection,
    sql: &Sql,
    with_entity: bool,
    names: &mut Names,
    mut on_day: impl FnMut(Vec<DailyRow>) -> Result<bool>,
) -> Result<bool> {
    let mut stmt = conn.prepare(&sql.text)?;
    let mut rows = stmt.query(params_from_iter(sql.args()))?;
    let mut cutter = DayCutter::default();
    while let Some(r) = rows.next()? {
        if let Some(day) = cutter.push(daily_row(r, with_entity, names)?) {
            if !on_day(day)? {
                return Ok(false);
            }
        }
    }
    match cutter.finish() {
        Some(day) => on_day(day),
        None => Ok(true),
    }
}

/// Reads a report of whole days, newest first, from packs where there are valid ones and from
/// rows elsewhere, all in one snapshot; returns the packs made of the closed days read from
/// rows. Stops early, without error, when the caller is gone.
fn read_packed(conn: &mut Connection, q: &DailyQuery, days: &DaySender) -> Result<Vec<NewPack>> {
    let tx = conn.transaction()?;
    let versions: HashMap<String, i64> = tx
        .prepare(daily_pack::VERSIONS)?
        .query_map(params![q.start_date, q.end_date], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let packs: Vec<StoredPack> = tx
        .prepare(daily_pack::VALID_PACKS)?
        .query_map(
            params![q.entity_type.as_str(), q.start_date, q.end_date],
            |r| {
                Ok(StoredPack {
                    date: r.get(0)?,
                    body: r.get(1)?,
                })
            },
        )?
        .collect::<rusqlite::Result<_>>()?;
    let dates: Vec<&str> = packs.iter().map(|p| p.date.as_str()).collect();
    let mut made = Packer::new(versions, q.group_by_entity);
    let mut names = Names::default();
    let Some(segments) = daily_pack::segments(&q.start_date, &q.end_date, &dates) else {
        // Dates that do not parse match no pack: read the rows as asked.
        read_rows(
            &tx,
            &daily_sql(Backend::Sqlite, q),
            q.group_by_entity,
            &mut names,
            |day| Ok(send(days, day)),
        )?;
        return Ok(Vec::new());
    };
    for segment in segments {
        let (from, to) = match &segment {
            Segment::Pack(i) => {
                let pack = &packs[*i];
                let date: Arc<str> = names.intern(pack.date.as_bytes())?;
                match daily_pack::decode(&pack.body, &date, q.group_by_entity, &mut names) {
                    Ok(day) => {
                        if send(days, day) {
                            continue;
                        }
                        break;
                    }
                    // A pack that does not decode is read again from its rows and packed anew.
                    Err(e) => tracing::warn!("{date}: {e}; reading the day's rows"),
                }
                (pack.date.as_str(), pack.date.as_str())
            }
            Segment::Rows { from, to } => (from.as_str(), to.as_str()),
        };
        let sql = daily_sql_of_days(Backend::Sqlite, q, &[(from, to)]);
        let go_on = read_rows(&tx, &sql, true, &mut names, |day| {
            Ok(send(days, made.take(day)))
        })?;
        if !go_on {
            break;
        }
    }
    Ok(made.new)
}

/// Stores the packs a report made, on a connection of their own.
fn store_packs(path: &str, entity_type: EntityType, packs: &[NewPack]) -> Result<()> {
    if packs.is_empty() {
        return Ok(());
    }
    let mut conn = Connection::open(path)?;
    conn.execute_batch("PRAGMA busy_timeout = 5000;")?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    {
        let mut st = tx.prepare(daily_pack::STORE_PACK)?;
        for p in packs {
            st.execute(params![entity_type.as_str(), &*p.date, p.version, p.body])?;
        }
    }
    tx.commit()?;
    Ok(())
}
