//! Reading the daily aggregates on SQLite, on a connection of this module's own (rusqlite): a
//! month of a large deployment is hundreds of thousands of rows, and through sqlx's Any driver
//! each of them was built on sqlx's worker thread, sent over a channel and copied value by value
//! into an `AnyRow` (4 s for 300,000 rows). Here the texts are read in place and interned.
//!
//! The read runs on the blocking pool: it is one scan of a date range, tens of milliseconds, too
//! long to hold a runtime worker. It hands each day over as soon as the day's last row is read.

use rusqlite::{params_from_iter, Connection};

use super::analytics::{daily_row, Columns, Names};
use super::builder::Sql;
use crate::spend::{DayCutter, DaySender};
use crate::{Result, StoreError};

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

    /// Starts reading the rows of a statement built by [`super::analytics::daily_sql`] into
    /// `days`; a failure is the last thing sent. Each read has a connection of its own: a read
    /// lasts as long as its answer takes to reach the client, and a slow client must not hold
    /// up the next report.
    pub fn read(&self, sql: Sql, with_entity: bool, days: DaySender) {
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = open(&path).and_then(|conn| read(&conn, &sql, with_entity, &days)) {
                // Nobody to tell when the caller is gone.
                let _ = days.blocking_send(Err(e));
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

/// Reads and hands over every day; stops early, without error, when the caller is gone.
fn read(conn: &Connection, sql: &Sql, with_entity: bool, days: &DaySender) -> Result<()> {
    let mut stmt = conn.prepare(&sql.text)?;
    let mut rows = stmt.query(params_from_iter(sql.args()))?;
    let (mut names, mut cutter) = (Names::default(), DayCutter::default());
    while let Some(r) = rows.next()? {
        if let Some(day) = cutter.push(daily_row(r, with_entity, &mut names)?) {
            if days.blocking_send(Ok(day)).is_err() {
                return Ok(());
            }
        }
    }
    if let Some(day) = cutter.finish() {
        let _ = days.blocking_send(Ok(day));
    }
    Ok(())
}
