//! Spend tracking's vocabulary: the event the gateway records once per request, the rows that
//! reports read back (spend logs, daily aggregates, totals), and budget resets.
//!
//! Field names of the rows read back are LiteLLM's (`startTime`, `custom_llm_provider`, ...), so
//! that the analytics routes can return them as they are.

use std::borrow::Cow;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::JsonMap;

/// One request, success or failure, as the gateway priced it. Recording the same `request_id`
/// twice counts it once.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SpendEvent {
    pub request_id: String,
    /// "chat_completion", "text_completion", "embedding", "responses", "anthropic_messages".
    pub call_type: Cow<'static, str>,
    /// The SHA-256 hex of the key used; "" when there was none.
    #[serde(default)]
    pub api_key: String,
    #[serde(default)]
    pub key_id: Option<String>,
    #[serde(default)]
    pub key_alias: Option<String>,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub team_id: Option<String>,
    #[serde(default)]
    pub organization_id: Option<String>,
    /// The customer: the `user` field of the inference request.
    #[serde(default)]
    pub end_user: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// The provider's model name. This and the deployment's other names are shared with the
    /// deployment, not copied for each event.
    pub model: Arc<str>,
    /// The deployment that served the call.
    #[serde(default)]
    pub model_id: Option<Arc<str>>,
    /// The public model name the client asked for.
    pub model_group: String,
    pub provider: Arc<str>,
    #[serde(default)]
    pub api_base: Option<Arc<str>>,
    /// e.g. "/v1/chat/completions".
    pub endpoint: Cow<'static, str>,
    pub success: bool,
    pub spend: f64,
    #[serde(default)]
    pub prompt_tokens: i64,
    #[serde(default)]
    pub completion_tokens: i64,
    #[serde(default)]
    pub cache_read_input_tokens: i64,
    #[serde(default)]
    pub cache_creation_input_tokens: i64,
    #[serde(with = "micros")]
    pub start_time: DateTime<Utc>,
    #[serde(with = "micros")]
    pub end_time: DateTime<Utc>,
    #[serde(default, with = "micros_opt")]
    pub completion_start_time: Option<DateTime<Utc>>,
    /// Small facts only (error text, status code); never a price map.
    #[serde(default)]
    pub metadata: JsonMap,
}

impl SpendEvent {
    /// The spend log's `status` column.
    pub fn status(&self) -> &'static str {
        if self.success {
            "success"
        } else {
            "failure"
        }
    }

    /// The spend log's `request_duration_ms` column (never negative, whatever the clocks did).
    pub fn duration_ms(&self) -> i64 {
        (self.end_time - self.start_time).num_milliseconds().max(0)
    }

    /// The tags as the spend log's JSON text; most calls have none, and `[]` costs no allocation.
    pub fn tags_json(&self) -> serde_json::Result<Cow<'static, str>> {
        if self.tags.is_empty() {
            return Ok(Cow::Borrowed("[]"));
        }
        serde_json::to_string(&self.tags).map(Cow::Owned)
    }

    /// The metadata as the spend log's JSON text; `{}` for the usual empty one, without an
    /// allocation.
    pub fn metadata_json(&self) -> serde_json::Result<Cow<'static, str>> {
        if self.metadata.is_empty() {
            return Ok(Cow::Borrowed("{}"));
        }
        serde_json::to_string(&self.metadata).map(Cow::Owned)
    }
}

/// A [`SpendEvent`]'s times as microseconds since the Unix epoch (cheap to write, exact).
/// RFC 3339 text, which earlier versions wrote, is read too.
mod micros {
    use chrono::{DateTime, Utc};
    use serde::de::{self, Visitor};
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(t.timestamp_micros())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        d.deserialize_any(Time)
    }

    pub(super) struct Time;

    impl Visitor<'_> for Time {
        type Value = DateTime<Utc>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("microseconds since the epoch, or an RFC 3339 time")
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            DateTime::from_timestamp_micros(v).ok_or_else(|| E::custom("time out of range"))
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            let v = i64::try_from(v).map_err(|_| E::custom("time out of range"))?;
            self.visit_i64(v)
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            DateTime::parse_from_rfc3339(v)
                .map(|t| t.with_timezone(&Utc))
                .map_err(E::custom)
        }
    }
}

/// [`micros`] for an optional time.
mod micros_opt {
    use chrono::{DateTime, Utc};
    use serde::de::{self, Visitor};
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_some(&t.timestamp_micros()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        d.deserialize_option(Maybe)
    }

    struct Maybe;

    impl<'de> Visitor<'de> for Maybe {
        type Value = Option<DateTime<Utc>>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a time or nothing")
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(super::micros::Time).map(Some)
        }
    }
}

/// What [`crate::Store::record_spend`] did with a batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordOutcome {
    /// Events recorded now, and counted.
    pub inserted: usize,
    /// Events already recorded (or repeated within the batch), not counted again.
    pub duplicates: usize,
}

/// Filters for [`crate::Store::spend_logs`]. Times select on the request's start:
/// `start <= start_time < end`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpendLogQuery {
    pub request_id: Option<String>,
    pub api_key: Option<String>,
    pub user_id: Option<String>,
    pub team_id: Option<String>,
    pub end_user: Option<String>,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    /// At most this many rows, newest first; `None` (or more than the cap) means
    /// [`SpendLogQuery::MAX_LIMIT`].
    pub limit: Option<u32>,
}

impl SpendLogQuery {
    /// LiteLLM caps `/spend/logs` at 10,000 rows.
    pub const MAX_LIMIT: u32 = 10_000;
}

/// One spend-log row, named as LiteLLM's `LiteLLM_SpendLogs` columns are.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SpendLogRow {
    pub request_id: String,
    pub call_type: String,
    pub api_key: String,
    pub key_id: Option<String>,
    pub key_alias: Option<String>,
    pub spend: f64,
    pub total_tokens: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cache_read_input_tokens: i64,
    pub cache_creation_input_tokens: i64,
    #[serde(rename = "startTime")]
    pub start_time: DateTime<Utc>,
    #[serde(rename = "endTime")]
    pub end_time: DateTime<Utc>,
    #[serde(rename = "completionStartTime")]
    pub completion_start_time: Option<DateTime<Utc>>,
    pub model: String,
    pub model_id: Option<String>,
    pub model_group: String,
    #[serde(rename = "custom_llm_provider")]
    pub provider: String,
    pub api_base: Option<String>,
    pub endpoint: String,
    #[serde(rename = "user")]
    pub user_id: Option<String>,
    pub team_id: Option<String>,
    pub organization_id: Option<String>,
    pub end_user: Option<String>,
    #[serde(rename = "request_tags")]
    pub tags: Vec<String>,
    pub metadata: JsonMap,
    /// "success" or "failure".
    pub status: String,
    pub request_duration_ms: i64,
}

/// The kinds of entity that daily aggregates are kept for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntityType {
    User,
    Team,
    Organization,
    /// A customer (end user); its id is the request's `user` field.
    Customer,
    Tag,
}

impl EntityType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Team => "team",
            Self::Organization => "organization",
            Self::Customer => "customer",
            Self::Tag => "tag",
        }
    }
}

/// Filters and grouping for [`crate::Store::daily_spend_days`].
#[derive(Debug, Clone, PartialEq)]
pub struct DailyQuery {
    pub entity_type: EntityType,
    /// Only these entities; empty means all.
    pub entity_ids: Vec<String>,
    pub exclude_entity_ids: Vec<String>,
    /// First day, "YYYY-MM-DD" (UTC), inclusive.
    pub start_date: String,
    /// Last day, "YYYY-MM-DD" (UTC), inclusive.
    pub end_date: String,
    pub model: Option<String>,
    pub api_key: Option<String>,
    /// Fill each row's `entity_id` (the paginated endpoints); without it rows carry none (the
    /// aggregated ones).
    pub group_by_entity: bool,
}

/// One row of the daily aggregates: one entity's counters for a (date, key, model, model group,
/// provider, endpoint). [`crate::Store::daily_spend`] returns them as stored, in no particular
/// order and not summed across entities: a reader sums what it groups. Equal texts of one answer
/// share one allocation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DailyRow {
    pub date: Arc<str>,
    /// Set when the query asked for it (`group_by_entity`).
    pub entity_id: Option<Arc<str>>,
    pub api_key: Arc<str>,
    pub model: Arc<str>,
    pub model_group: Arc<str>,
    pub provider: Arc<str>,
    pub endpoint: Arc<str>,
    pub spend: f64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cache_read_input_tokens: i64,
    pub cache_creation_input_tokens: i64,
    pub api_requests: i64,
    pub successful_requests: i64,
    pub failed_requests: i64,
}

/// Days handed over by a reader before the caller takes them: enough to keep the reader busy
/// while the caller sums and writes the day before.
const DAYS_AHEAD: usize = 4;

/// The daily rows of a [`DailyQuery`], one day at a time, newest day first (see
/// [`crate::Store::daily_spend_days`]). The reader runs ahead of the caller by a few days, so
/// that reading the database and answering overlap; dropping this stops the reader.
#[derive(Debug)]
pub struct DailyDays {
    rx: tokio::sync::mpsc::Receiver<crate::Result<Vec<DailyRow>>>,
}

/// Where a reader hands over its days.
pub(crate) type DaySender = tokio::sync::mpsc::Sender<crate::Result<Vec<DailyRow>>>;

impl DailyDays {
    pub(crate) fn channel() -> (DaySender, Self) {
        let (tx, rx) = tokio::sync::mpsc::channel(DAYS_AHEAD);
        (tx, Self { rx })
    }

    /// The next day's rows (all of one date, never empty); `None` after the last.
    pub async fn next(&mut self) -> Option<crate::Result<Vec<DailyRow>>> {
        self.rx.recv().await
    }

    /// [`Self::next`] for a thread outside the runtime (`spawn_blocking`).
    pub fn blocking_next(&mut self) -> Option<crate::Result<Vec<DailyRow>>> {
        self.rx.blocking_recv()
    }
}

/// Cuts rows arriving in date order into days.
#[derive(Debug, Default)]
pub(crate) struct DayCutter {
    day: Vec<DailyRow>,
}

impl DayCutter {
    /// Adds a row; returns the previous day when this row starts a new one.
    pub fn push(&mut self, row: DailyRow) -> Option<Vec<DailyRow>> {
        let done = match self.day.last() {
            Some(last) if last.date != row.date => {
                // Days are alike in size: the next starts with room for as many rows.
                let room = Vec::with_capacity(self.day.len());
                Some(std::mem::replace(&mut self.day, room))
            }
            _ => None,
        };
        self.day.push(row);
        done
    }

    /// The last day, if any rows came.
    pub fn finish(self) -> Option<Vec<DailyRow>> {
        (!self.day.is_empty()).then_some(self.day)
    }
}

/// What [`crate::Store::spend_totals`] groups spend logs by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TotalsGroup {
    ApiKey,
    User,
    Team,
    Organization,
    /// The provider's model name.
    Model,
    /// The public model name.
    ModelGroup,
    EndUser,
    Tag,
}

/// A top-N spend report over the spend logs of a time range (`start <= start_time < end`).
/// Requests without a value for the grouping column (NULL or "") are left out.
#[derive(Debug, Clone, PartialEq)]
pub struct TotalsQuery {
    pub group_by: TotalsGroup,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    /// The N of top-N; `None` for every group.
    pub limit: Option<u32>,
}

/// A row whose budget is due for reset, as [`crate::Store::due_budget_resets`] finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueReset {
    /// Primary-key values, in the order of [`crate::table::TableDef::pk`].
    pub pk: Vec<String>,
    /// The row's own `budget_duration` column; `None` for tables without one (organizations and
    /// customers take theirs from their budget).
    pub budget_duration: Option<String>,
    /// The stored `budget_reset_at`, in epoch milliseconds: pass it back as
    /// `Write::ResetBudget::expected_reset_at`.
    pub budget_reset_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(date: &str) -> DailyRow {
        DailyRow {
            date: date.into(),
            ..DailyRow::default()
        }
    }

    #[test]
    fn rows_in_date_order_are_cut_into_days() {
        let mut cutter = DayCutter::default();
        let mut days = Vec::new();
        for d in [
            "2026-01-03",
            "2026-01-03",
            "2026-01-02",
            "2026-01-01",
            "2026-01-01",
        ] {
            days.extend(cutter.push(row(d)));
        }
        days.extend(cutter.finish());
        let shape: Vec<(&str, usize)> = days.iter().map(|d| (&*d[0].date, d.len())).collect();
        assert_eq!(
            shape,
            [("2026-01-03", 2), ("2026-01-02", 1), ("2026-01-01", 2)]
        );
        assert!(DayCutter::default().finish().is_none());
    }
}
