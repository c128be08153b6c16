//! Recording spend on SQLite, on a connection of this module's own (rusqlite) rather than
//! through sqlx's Any driver: the spend log is written once per request, and binding a row's 27
//! values through the Any driver (each text copied into its value type, then again into
//! SQLite's arguments, rows handed between threads) cost more than SQLite's own work. Here each
//! row is one execution of a prepared statement, its values borrowed from the event.
//!
//! The statements are those of [`super::spend`], one row at a time; SQLite has a single writer,
//! so no lock order is needed. The transaction begins `IMMEDIATE`, taking the write lock at once
//! (waiting on `busy_timeout` when the pool's connections hold it). The work runs in
//! [`tokio::task::block_in_place`] on a multi-threaded runtime, so that the runtime's other tasks
//! move to another thread while this one writes.

use std::collections::BTreeMap;
use std::sync::{LazyLock, Mutex, PoisonError};

use chrono::Utc;
use rusqlite::{params, Connection, Statement, Transaction, TransactionBehavior};

use super::daily_pack;
use super::increments::{id, Increments, UPDATED};
use super::spend::{DAILY_COUNTERS, DAILY_KEY, LOG_COLUMNS};
use crate::spend::{RecordOutcome, SpendEvent};
use crate::table::{Row, SqlValue};
use crate::{CustomerRecord, Kind, Result, StoreError};

/// The spend recorder of one SQLite file.
pub(super) struct SqliteSpend {
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for SqliteSpend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteSpend").finish_non_exhaustive()
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                StoreError::Unavailable(e.to_string())
            }
            _ => StoreError::Database(e.to_string()),
        }
    }
}

impl rusqlite::ToSql for SqlValue {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, Value, ValueRef};
        Ok(match self {
            SqlValue::Text(Some(s)) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            SqlValue::Int(Some(i)) => ToSqlOutput::Owned(Value::Integer(*i)),
            SqlValue::Real(Some(r)) => ToSqlOutput::Owned(Value::Real(*r)),
            SqlValue::Bool(Some(b)) => ToSqlOutput::Owned(Value::Integer(i64::from(*b))),
            _ => ToSqlOutput::Owned(Value::Null),
        })
    }
}

/// Runs blocking work without holding up the runtime's other tasks.
fn blocking<T>(work: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

/// `?1, ?2, ..., ?n`.
fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The statements, written once (they are the keys of each connection's statement cache).
struct Statements {
    insert_log: String,
    add_spend: Vec<String>,
    customer: String,
    daily: String,
}

static SQL: LazyLock<Statements> = LazyLock::new(|| {
    let add_spend = UPDATED
        .iter()
        .map(|kind| {
            let def = kind.def();
            let filter: Vec<String> = def
                .pk
                .iter()
                .enumerate()
                .map(|(i, col)| format!("{col} = ?{}", i + 2))
                .collect();
            format!(
                "UPDATE {} SET spend = spend + ?1 WHERE {}",
                def.name,
                filter.join(" AND ")
            )
        })
        .collect();
    let def = Kind::Customer.def();
    let names: Vec<&str> = def.pk.iter().chain(def.columns).copied().collect();
    let set: Vec<String> = DAILY_COUNTERS
        .iter()
        .map(|c| format!("{c} = daily_spend.{c} + excluded.{c}"))
        .collect();
    Statements {
        insert_log: format!(
            "INSERT INTO spend_logs ({}) VALUES ({}) ON CONFLICT (request_id) DO NOTHING",
            LOG_COLUMNS.join(", "),
            placeholders(LOG_COLUMNS.len())
        ),
        add_spend,
        customer: format!(
            "INSERT INTO customers ({}, spend, data) VALUES ({}) \
             ON CONFLICT (user_id) DO UPDATE SET spend = customers.spend + excluded.spend",
            names.join(", "),
            placeholders(names.len() + 2)
        ),
        daily: format!(
            "INSERT INTO daily_spend ({DAILY_KEY}, {}) VALUES ({}) \
             ON CONFLICT ({DAILY_KEY}) DO UPDATE SET {}",
            DAILY_COUNTERS.join(", "),
            placeholders(16),
            set.join(", ")
        ),
    }
});

impl SqliteSpend {
    /// Opens the database file (already created and migrated by the pool).
    pub fn open(path: &str) -> Result<Self> {
        let conn = Connection::open(path)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
             PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;",
        )?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    pub fn record(&self, events: &[SpendEvent]) -> Result<RecordOutcome> {
        blocking(|| {
            let mut conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
            record(&mut conn, events)
        })
    }
}

fn record(conn: &mut Connection, events: &[SpendEvent]) -> Result<RecordOutcome> {
    // One event per request id (the first).
    let mut unique: BTreeMap<&str, &SpendEvent> = BTreeMap::new();
    for e in events {
        unique.entry(e.request_id.as_str()).or_insert(e);
    }
    if unique.is_empty() {
        return Ok(RecordOutcome::default());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut new = Vec::with_capacity(unique.len());
    {
        let mut insert = tx.prepare_cached(&SQL.insert_log)?;
        for e in unique.values().copied() {
            if insert_log(&mut insert, e)? == 1 {
                new.push(e);
            }
        }
    }
    let inserted = new.len();
    let inc = Increments::of(new);
    add_spend(&tx, &inc)?;
    upsert_customers(&tx, &inc.customers)?;
    {
        let mut st = tx.prepare_cached(
            "INSERT INTO spend_counters (scope, id, spend) VALUES (?1, ?2, ?3) \
             ON CONFLICT (scope, id) DO UPDATE SET spend = spend_counters.spend + excluded.spend",
        )?;
        for ((scope, id), delta) in inc.counters.iter().filter(|(_, d)| **d != 0.0) {
            st.execute(params![scope, id, delta])?;
        }
    }
    upsert_daily(&tx, &inc)?;
    for day in inc.late_days(Utc::now().date_naive()) {
        tx.prepare_cached(daily_pack::BUMP_VERSION)?
            .execute(params![day.as_str()])?;
    }
    tx.commit()?;
    Ok(RecordOutcome {
        inserted,
        duplicates: events.len().saturating_sub(inserted),
    })
}

/// Inserts one spend-log row; 1 when it is new, 0 when the request id was recorded before.
fn insert_log(st: &mut Statement<'_>, e: &SpendEvent) -> Result<usize> {
    let tags = e.tags_json()?;
    let metadata = e.metadata_json()?;
    Ok(st.execute(params![
        e.request_id,
        e.call_type,
        e.api_key,
        id(&e.key_id),
        id(&e.key_alias),
        id(&e.user_id),
        id(&e.team_id),
        id(&e.organization_id),
        id(&e.end_user),
        tags.as_ref(),
        e.model,
        id(&e.model_id),
        e.model_group,
        e.provider,
        id(&e.api_base),
        e.endpoint,
        e.status(),
        e.spend,
        e.prompt_tokens,
        e.completion_tokens,
        e.cache_read_input_tokens,
        e.cache_creation_input_tokens,
        e.start_time.timestamp_millis(),
        e.end_time.timestamp_millis(),
        e.completion_start_time.map(|t| t.timestamp_millis()),
        e.duration_ms(),
        metadata.as_ref(),
    ])?)
}

/// Adds spend to keys, users, teams, members and organizations; rows that do not exist (a
/// deleted key) are simply not updated.
fn add_spend(tx: &Transaction<'_>, inc: &Increments<'_>) -> Result<()> {
    for ((_, deltas), sql) in inc.updates().into_iter().zip(&SQL.add_spend) {
        let mut st = tx.prepare_cached(sql)?;
        for (pk, delta) in deltas.iter().filter(|(_, d)| **d != 0.0) {
            let mut values: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(pk.len() + 1);
            values.push(delta);
            values.extend(pk.iter().map(|v| v as &dyn rusqlite::ToSql));
            st.execute(values.as_slice())?;
        }
    }
    Ok(())
}

/// Adds spend to customers, creating the ones not seen before with a fresh record.
fn upsert_customers(tx: &Transaction<'_>, customers: &BTreeMap<&str, f64>) -> Result<()> {
    if customers.is_empty() {
        return Ok(());
    }
    let mut st = tx.prepare_cached(&SQL.customer)?;
    let now = Utc::now();
    for (user_id, delta) in customers {
        let row = Row::of(&CustomerRecord {
            user_id: (*user_id).to_owned(),
            alias: None,
            spend: 0.0,
            blocked: false,
            budget_id: None,
            budget_reset_at: None,
            allowed_model_region: None,
            default_model: None,
            created_at: now,
            updated_at: now,
        })?;
        let mut values: Vec<SqlValue> = row.pk.into_iter().map(SqlValue::from).collect();
        values.extend(row.columns);
        values.push(SqlValue::Real(Some(*delta)));
        values.push(SqlValue::from(row.data));
        st.execute(rusqlite::params_from_iter(values.iter()))?;
    }
    Ok(())
}

fn upsert_daily(tx: &Transaction<'_>, inc: &Increments<'_>) -> Result<()> {
    let mut st = tx.prepare_cached(&SQL.daily)?;
    for (k, c) in &inc.daily {
        st.execute(params![
            k.entity_type.as_str(),
            k.entity_id,
            k.date.as_str(),
            k.api_key,
            k.model,
            k.model_group,
            k.provider,
            k.endpoint,
            c.spend,
            c.prompt_tokens,
            c.completion_tokens,
            c.cache_read_input_tokens,
            c.cache_creation_input_tokens,
            c.api_requests,
            c.successful_requests,
            c.failed_requests,
        ])?;
    }
    Ok(())
}
