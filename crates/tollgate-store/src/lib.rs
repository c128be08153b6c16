//! Tollgate's storage: one [`Store`] trait with SQLite (the embedded default) and PostgreSQL
//! behind it, each with its own embedded migrations. The store knows nothing of HTTP: it keeps
//! records, applies batches of writes atomically, and answers queries.

mod error;
pub mod model;
pub mod spend;
mod sql;
pub mod table;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

pub use error::StoreError;
pub use model::*;
pub use spend::{
    DailyDays, DailyQuery, DailyRow, DueReset, EntityType, RecordOutcome, SpendEvent,
    SpendLogQuery, SpendLogRow, TotalsGroup, TotalsQuery,
};
pub use sql::SqlStore;
pub use table::{AuditQuery, Filter, Kind, Page, Query, Row, SqlValue, Write};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// How to connect.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// `sqlite://path` or `postgres://...`.
    pub url: String,
    /// Upper bound on open connections.
    pub max_connections: u32,
    /// How long to wait for a free connection before reporting the database unavailable.
    pub acquire_timeout: Duration,
}

impl ConnectOptions {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// Everything the gateway keeps. Writes go through [`Store::apply`], one transaction per batch.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    fn backend(&self) -> Backend;

    /// Checks that the database answers.
    async fn ping(&self) -> Result<()>;

    /// Applies every write of the batch in one transaction, or none of them.
    async fn apply(&self, batch: Vec<Write>) -> Result<()>;

    /// One row's document, with its spend laid over it.
    async fn get_row(&self, kind: Kind, pk: &[&str]) -> Result<Option<Value>>;

    /// The rows matching a query, with the total count of matches.
    async fn list_rows(&self, kind: Kind, query: &Query) -> Result<Page<Value>>;

    /// What the store knows of one token hash.
    async fn token(&self, token: &str) -> Result<Option<TokenEntry>>;

    /// A token hash's status and its key's document, in one read (the auth path's lookup: a
    /// token never issued costs one index probe).
    async fn token_key(&self, token: &str) -> Result<Option<TokenKey<Value>>>;

    /// Every token hash a key has had, newest first.
    async fn key_tokens(&self, key_id: &str) -> Result<Vec<TokenEntry>>;

    /// Metadata (key alias, team, user, organization) for these token hashes, whether their key
    /// is live, regenerated or deleted. Hashes the gateway never issued are absent.
    async fn token_metadata(&self, tokens: &[String]) -> Result<HashMap<String, TokenMeta>>;

    /// Audit log entries, newest first.
    async fn audit_log(&self, query: &AuditQuery) -> Result<Page<AuditEntry>>;

    /// Sends a message to every process listening on `channel` (PostgreSQL `NOTIFY`; nothing on
    /// SQLite, which has one process).
    async fn notify(&self, channel: &str, payload: &str) -> Result<()>;

    /// Messages on `channel` from every process, as they come (`None` on SQLite). The listener
    /// reconnects by itself after a connection loss.
    async fn listen(&self, channel: &str) -> Result<Option<tokio::sync::mpsc::Receiver<String>>>;

    /// Records a batch of requests in one transaction: their spend-log rows, and for the events
    /// not recorded before, their spend on keys (by `key_id`; a deleted key is skipped), users,
    /// teams, team members, organizations, customers (created when missing), tags, the
    /// gateway-wide counter, and the daily aggregates. Replaying events counts nothing twice.
    async fn record_spend(&self, events: &[SpendEvent]) -> Result<RecordOutcome>;

    /// Spend-log rows matching the query, newest first, at most 10,000.
    async fn spend_logs(&self, query: &SpendLogQuery) -> Result<Vec<SpendLogRow>>;

    /// Rows of the daily aggregates of one entity kind that match the query, as stored (see
    /// [`DailyRow`]), handed over a day at a time, newest day first: the caller sums them.
    /// Reading them is one scan, without sorting or grouping in the database (a month of a large
    /// deployment is ~10⁵-10⁶ rows); where the scan yields the days in order (SQLite), each is
    /// handed over as soon as it is read.
    async fn daily_spend_days(&self, query: &DailyQuery) -> Result<DailyDays>;

    /// All the rows of [`Self::daily_spend_days`], newest day first.
    async fn daily_spend(&self, query: &DailyQuery) -> Result<Vec<DailyRow>> {
        let mut days = self.daily_spend_days(query).await?;
        let mut rows = Vec::new();
        while let Some(day) = days.next().await {
            rows.extend(day?);
        }
        Ok(rows)
    }

    /// Spend by api_key, user, team, ... over a time range, largest first.
    async fn spend_totals(&self, query: &TotalsQuery) -> Result<Vec<(String, f64)>>;

    /// Total spend of requests started at or after `since`.
    async fn global_spend(&self, since: DateTime<Utc>) -> Result<f64>;

    /// The running spend counters of a scope (`"tag"`: one per tag; `"global"`: id `"global"`,
    /// the whole gateway), by id.
    async fn spend_counters(&self, scope: &str) -> Result<HashMap<String, f64>>;

    /// Rows of an entity table whose `budget_reset_at` is at or before `now`, soonest first.
    /// Reset each with [`Write::ResetBudget`]. Fails for tables without `budget_reset_at`.
    async fn due_budget_resets(&self, kind: Kind, now: DateTime<Utc>) -> Result<Vec<DueReset>>;

    /// Deletes spend-log rows of requests started before `before`, at most `batch` rows per
    /// statement, and returns how many went. Daily aggregates are kept.
    async fn delete_spend_logs_before(&self, before: DateTime<Utc>, batch: u32) -> Result<u64>;
}

impl dyn Store {
    /// One record by primary key.
    pub async fn get<R: Record>(&self, pk: &[&str]) -> Result<Option<R>> {
        match self.get_row(R::KIND, pk).await? {
            Some(v) => Ok(Some(decode(v)?)),
            None => Ok(None),
        }
    }

    /// Records matching a query.
    pub async fn list<R: Record>(&self, query: &Query) -> Result<Page<R>> {
        let page = self.list_rows(R::KIND, query).await?;
        let items = page
            .items
            .into_iter()
            .map(decode)
            .collect::<Result<Vec<R>>>()?;
        Ok(Page {
            items,
            total: page.total,
        })
    }

    /// What `token` opens: its status, grace period and key.
    pub async fn key_for_token(&self, token: &str) -> Result<Option<TokenKey<KeyRecord>>> {
        let Some(found) = self.token_key(token).await? else {
            return Ok(None);
        };
        Ok(Some(TokenKey {
            status: found.status,
            grace_until: found.grace_until,
            key: found.key.map(decode).transpose()?,
        }))
    }

    /// The live key whose current token is `token`.
    pub async fn key_by_token(&self, token: &str) -> Result<Option<KeyRecord>> {
        let page = self
            .list::<KeyRecord>(&Query::default().eq("token", token).first())
            .await?;
        Ok(page.items.into_iter().next())
    }
}

fn decode<R: Record>(v: Value) -> Result<R> {
    serde_json::from_value(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Connects to the database named by the URL and applies pending migrations.
pub async fn open(options: &ConnectOptions) -> Result<Arc<dyn Store>> {
    let store = SqlStore::connect(options).await?;
    store.migrate().await?;
    Ok(Arc::new(store))
}
