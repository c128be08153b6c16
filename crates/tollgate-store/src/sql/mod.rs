//! The SQL implementation of [`Store`], for SQLite and PostgreSQL alike. Both speak the same
//! statements here (`$n` placeholders, `ON CONFLICT`, `LIMIT/OFFSET`); what differs is the
//! schema's column types, kept in one migrations folder per backend.

mod analytics;
mod audit;
mod builder;
mod daily_pack;
mod entities;
mod increments;
mod pg_copy;
mod pg_daily;
mod resets;
mod spend;
mod sqlite_daily;
mod sqlite_spend;
mod tokens;

use std::collections::HashMap;
use std::str::FromStr;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions as _, Executor};

use crate::spend::{
    DailyDays, DailyQuery, DueReset, RecordOutcome, SpendEvent, SpendLogQuery, SpendLogRow,
    TotalsQuery,
};
use crate::table::{AuditQuery, Kind, Page, Query, Write};
use crate::{
    AuditEntry, Backend, ConnectOptions, Result, Store, StoreError, TokenEntry, TokenKey, TokenMeta,
};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Reads the daily aggregates with each backend's own driver (see [`sqlite_daily`], [`pg_daily`]).
#[derive(Debug, Clone)]
enum DailyReader {
    Sqlite(std::sync::Arc<sqlite_daily::SqliteDaily>),
    Postgres(std::sync::Arc<pg_daily::PgDaily>),
}

/// A one-connection pool on sqlx's PostgreSQL driver, opened on first use: the daily reader's
/// and the spend recorder's own, beside the shared pool.
fn own_pg_pool(url: &str, acquire_timeout: std::time::Duration) -> Result<sqlx::PgPool> {
    Ok(sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .acquire_timeout(acquire_timeout)
        .connect_lazy(url)?)
}

/// Records spend with each backend's own driver (see [`sqlite_spend`], [`spend`]).
#[derive(Debug, Clone)]
enum SpendRecorder {
    Sqlite(std::sync::Arc<sqlite_spend::SqliteSpend>),
    Postgres(std::sync::Arc<spend::PgSpend>),
}

/// A store on SQLite or PostgreSQL.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: AnyPool,
    backend: Backend,
    /// The connection URL, for the PostgreSQL listener's own connection.
    url: String,
    /// The spend recorder, on a connection of its own.
    spend: SpendRecorder,
    /// The reader of daily aggregates, on a connection of its own.
    daily: DailyReader,
    /// SQLite has one writer at a time: writes of this process take turns here, instead of
    /// colliding in SQLite, whose busy handler sleeps 1, 2, 5, 10... ms between retries (16
    /// concurrent key creations managed 150 a second).
    sqlite_writes: Option<std::sync::Arc<tokio::sync::Mutex<()>>>,
}

impl SqlStore {
    /// Opens a pool. SQLite files are created on first use and run in WAL mode; a PostgreSQL
    /// database that does not exist yet is created.
    pub async fn connect(options: &ConnectOptions) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let (backend, url) = normalise_url(&options.url)?;
        if backend == Backend::Postgres {
            create_postgres_database(&url).await?;
        }
        let connect = AnyConnectOptions::from_str(&url)
            .map_err(|e| StoreError::BadUrl(e.to_string()))?
            .disable_statement_logging();
        let pool = AnyPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            // A ping before each use finds dead network connections; a SQLite connection is a
            // file handle and its worker thread, and the ping was one more trip to that thread
            // per query (a key's first lookup, an unknown key: 15-20 µs each).
            .test_before_acquire(backend != Backend::Sqlite)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                             PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(connect)
            .await?;
        let (spend, daily) = match backend {
            Backend::Sqlite => {
                let path = sqlite_path(&url)?;
                (
                    SpendRecorder::Sqlite(std::sync::Arc::new(sqlite_spend::SqliteSpend::open(
                        path,
                    )?)),
                    DailyReader::Sqlite(std::sync::Arc::new(sqlite_daily::SqliteDaily::new(path))),
                )
            }
            Backend::Postgres => (
                SpendRecorder::Postgres(std::sync::Arc::new(spend::PgSpend::new(
                    &url,
                    options.acquire_timeout,
                )?)),
                DailyReader::Postgres(std::sync::Arc::new(pg_daily::PgDaily::new(
                    &url,
                    options.acquire_timeout,
                )?)),
            ),
        };
        Ok(Self {
            pool,
            backend,
            url,
            sqlite_writes: (backend == Backend::Sqlite).then(Default::default),
            spend,
            daily,
        })
    }

    /// Applies pending migrations. On PostgreSQL the migrator holds an advisory lock, so replicas
    /// that start together apply them once, one after the other.
    pub async fn migrate(&self) -> Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&self.pool).await?;
        Ok(())
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// This process's turn to write, on SQLite (nothing to wait for on PostgreSQL).
    async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match &self.sqlite_writes {
            Some(lock) => Some(lock.lock().await),
            None => None,
        }
    }
}

/// Accepts `sqlite://path`, `sqlite:path`, `postgres://...` and `postgresql://...`; SQLite files
/// are created when missing.
fn normalise_url(url: &str) -> Result<(Backend, String)> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok((Backend::Postgres, url.to_owned()));
    }
    let Some(rest) = url.strip_prefix("sqlite:") else {
        return Err(StoreError::BadUrl(format!(
            "unsupported database URL (expected sqlite://... or postgres://...): {}",
            redact_url(url)
        )));
    };
    let path = rest.strip_prefix("//").unwrap_or(rest);
    if path.is_empty() {
        return Err(StoreError::BadUrl("sqlite URL names no file".into()));
    }
    let sep = if path.contains('?') { '&' } else { '?' };
    let mode = if path.contains("mode=") {
        String::new()
    } else {
        format!("{sep}mode=rwc")
    };
    Ok((Backend::Sqlite, format!("sqlite://{path}{mode}")))
}

/// The file of a normalised SQLite URL. An in-memory database is refused: spend is recorded on
/// a second connection, which would see a database of its own.
fn sqlite_path(url: &str) -> Result<&str> {
    let rest = url.strip_prefix("sqlite://").unwrap_or(url);
    let (path, options) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path == ":memory:" || options.contains("mode=memory") {
        return Err(StoreError::BadUrl(
            "an in-memory SQLite database cannot hold spend: name a file (sqlite://tollgate.db)"
                .into(),
        ));
    }
    Ok(path)
}

/// A database URL with its password hidden, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

async fn create_postgres_database(url: &str) -> Result<()> {
    use sqlx::migrate::MigrateDatabase;
    // Replicas starting together race here. Another creator wins with 42P04 (duplicate
    // database, once committed) or 23505 (unique violation on pg_database, while both are in
    // flight); CREATE DATABASE fails with 55006 while another session copies the template.
    let mut attempt = 0;
    loop {
        if sqlx::Postgres::database_exists(url).await? {
            return Ok(());
        }
        match sqlx::Postgres::create_database(url).await {
            Ok(()) => return Ok(()),
            Err(sqlx::Error::Database(db))
                if matches!(db.code().as_deref(), Some("42P04") | Some("23505")) =>
            {
                return Ok(())
            }
            Err(sqlx::Error::Database(db))
                if db.code().as_deref() == Some("55006") && attempt < 50 =>
            {
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> Backend {
        self.backend
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn apply(&self, batch: Vec<Write>) -> Result<()> {
        let _turn = self.write_turn().await;
        let mut tx = self.pool.begin().await?;
        for write in batch {
            entities::apply_one(&mut tx, write).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn get_row(&self, kind: Kind, pk: &[&str]) -> Result<Option<Value>> {
        entities::get_row(&self.pool, kind, pk).await
    }

    async fn list_rows(&self, kind: Kind, query: &Query) -> Result<Page<Value>> {
        entities::list_rows(&self.pool, kind, query).await
    }

    async fn token(&self, token: &str) -> Result<Option<TokenEntry>> {
        tokens::token(&self.pool, token).await
    }

    async fn token_key(&self, token: &str) -> Result<Option<TokenKey<Value>>> {
        tokens::token_key(&self.pool, token).await
    }

    async fn key_tokens(&self, key_id: &str) -> Result<Vec<TokenEntry>> {
        tokens::key_tokens(&self.pool, key_id).await
    }

    async fn token_metadata(&self, tokens: &[String]) -> Result<HashMap<String, TokenMeta>> {
        tokens::token_metadata(&self.pool, tokens).await
    }

    async fn audit_log(&self, query: &AuditQuery) -> Result<Page<AuditEntry>> {
        audit::audit_log(&self.pool, query).await
    }

    async fn record_spend(&self, events: &[SpendEvent]) -> Result<RecordOutcome> {
        match &self.spend {
            SpendRecorder::Sqlite(sqlite) => {
                let _turn = self.write_turn().await;
                sqlite.record(events)
            }
            SpendRecorder::Postgres(pg) => pg.record(events).await,
        }
    }

    async fn spend_logs(&self, query: &SpendLogQuery) -> Result<Vec<SpendLogRow>> {
        analytics::spend_logs(&self.pool, query).await
    }

    async fn daily_spend_days(&self, query: &DailyQuery) -> Result<DailyDays> {
        let (tx, days) = DailyDays::channel();
        match &self.daily {
            DailyReader::Sqlite(sqlite) => sqlite.read(query.clone(), tx),
            DailyReader::Postgres(pg) => pg.read(query.clone(), tx),
        }
        Ok(days)
    }

    async fn spend_totals(&self, query: &TotalsQuery) -> Result<Vec<(String, f64)>> {
        analytics::spend_totals(&self.pool, self.backend, query).await
    }

    async fn global_spend(&self, since: DateTime<Utc>) -> Result<f64> {
        analytics::global_spend(&self.pool, since).await
    }

    async fn spend_counters(&self, scope: &str) -> Result<HashMap<String, f64>> {
        analytics::spend_counters(&self.pool, scope).await
    }

    async fn due_budget_resets(&self, kind: Kind, now: DateTime<Utc>) -> Result<Vec<DueReset>> {
        resets::due(&self.pool, kind, now).await
    }

    async fn notify(&self, channel: &str, payload: &str) -> Result<()> {
        if self.backend == Backend::Postgres {
            let mut sql = builder::Sql::new("SELECT pg_notify(");
            sql.bind(channel).push(", ").bind(payload).push(")");
            sql.query().execute(&self.pool).await?;
        }
        Ok(())
    }

    async fn listen(&self, channel: &str) -> Result<Option<tokio::sync::mpsc::Receiver<String>>> {
        if self.backend != Backend::Postgres {
            return Ok(None);
        }
        let mut listener = sqlx::postgres::PgListener::connect(&self.url).await?;
        listener.listen(channel).await?;
        let (tx, rx) = tokio::sync::mpsc::channel(1024);
        tokio::spawn(async move {
            loop {
                match listener.recv().await {
                    Ok(n) => {
                        if tx.send(n.payload().to_owned()).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        tracing::warn!("change listener lost its connection, reconnecting: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                    }
                }
            }
        });
        Ok(Some(rx))
    }

    async fn delete_spend_logs_before(&self, before: DateTime<Utc>, batch: u32) -> Result<u64> {
        spend::delete_before(&self.pool, before, batch).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_are_created_on_first_use() {
        let (b, u) = normalise_url("sqlite://./tollgate.db").unwrap();
        assert_eq!(b, Backend::Sqlite);
        assert_eq!(u, "sqlite://./tollgate.db?mode=rwc");
        let (_, u) = normalise_url("sqlite:/tmp/x.db?mode=ro").unwrap();
        assert_eq!(u, "sqlite:///tmp/x.db?mode=ro");
        assert!(normalise_url("mysql://x").is_err());
        assert!(normalise_url("sqlite://").is_err());
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
    }
}
