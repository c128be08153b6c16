//! Table descriptions shared by both backends, and the vocabulary of reads and writes.
//!
//! Every entity table has the same shape: primary-key columns, projected columns that queries
//! filter and sort on, a `spend` counter, and `data`, the record as a JSON document. The
//! projected columns are derived from the record on every write, so they cannot drift from it.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde_json::Value;

use crate::model::{AuditEntry, KeyRecord, Record, TokenStatus};

/// The entity tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Key,
    Team,
    TeamMember,
    User,
    Org,
    OrgMember,
    Customer,
    Budget,
    Model,
}

/// How one entity table is laid out.
#[derive(Debug)]
pub struct TableDef {
    pub name: &'static str,
    pub pk: &'static [&'static str],
    pub columns: &'static [&'static str],
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::Key,
        Kind::Team,
        Kind::TeamMember,
        Kind::User,
        Kind::Org,
        Kind::OrgMember,
        Kind::Customer,
        Kind::Budget,
        Kind::Model,
    ];

    pub fn def(self) -> &'static TableDef {
        match self {
            Kind::Key => &TableDef {
                name: "keys",
                pk: &["key_id"],
                columns: &[
                    "token",
                    "key_alias",
                    "user_id",
                    "team_id",
                    "organization_id",
                    "budget_duration",
                    "budget_reset_at",
                    "expires",
                    "created_at",
                ],
            },
            Kind::Team => &TableDef {
                name: "teams",
                pk: &["team_id"],
                columns: &[
                    "team_alias",
                    "organization_id",
                    "budget_duration",
                    "budget_reset_at",
                    "created_at",
                ],
            },
            Kind::TeamMember => &TableDef {
                name: "team_members",
                pk: &["team_id", "user_id"],
                columns: &["budget_duration", "budget_reset_at", "created_at"],
            },
            Kind::User => &TableDef {
                name: "users",
                pk: &["user_id"],
                columns: &[
                    "user_email",
                    "user_role",
                    "budget_duration",
                    "budget_reset_at",
                    "created_at",
                ],
            },
            Kind::Org => &TableDef {
                name: "organizations",
                pk: &["organization_id"],
                columns: &[
                    "organization_alias",
                    "budget_id",
                    "budget_reset_at",
                    "created_at",
                ],
            },
            Kind::OrgMember => &TableDef {
                name: "organization_members",
                pk: &["organization_id", "user_id"],
                columns: &["created_at"],
            },
            Kind::Customer => &TableDef {
                name: "customers",
                pk: &["user_id"],
                columns: &["budget_id", "budget_reset_at", "created_at"],
            },
            Kind::Budget => &TableDef {
                name: "budgets",
                pk: &["budget_id"],
                columns: &["budget_duration", "budget_reset_at", "created_at"],
            },
            Kind::Model => &TableDef {
                name: "models",
                pk: &["model_id"],
                columns: &["model_name", "created_at"],
            },
        }
    }

    /// The name used for this kind in the audit log.
    pub fn audit_name(self) -> &'static str {
        self.def().name
    }

    /// Whether the table keeps `budget_reset_at` in a column (which then wins over the
    /// document's copy on reads).
    pub fn has_budget_reset(self) -> bool {
        self.def().columns.contains(&"budget_reset_at")
    }

    /// Whether `column` may be used in a filter or a sort on this table.
    pub fn has_column(self, column: &str) -> bool {
        let def = self.def();
        column == "spend" || def.pk.contains(&column) || def.columns.contains(&column)
    }
}

/// A value bound to a statement.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Text(Option<String>),
    Int(Option<i64>),
    Real(Option<f64>),
    Bool(Option<bool>),
}

impl From<&str> for SqlValue {
    fn from(s: &str) -> Self {
        SqlValue::Text(Some(s.to_owned()))
    }
}

impl From<String> for SqlValue {
    fn from(s: String) -> Self {
        SqlValue::Text(Some(s))
    }
}

impl From<i64> for SqlValue {
    fn from(v: i64) -> Self {
        SqlValue::Int(Some(v))
    }
}

/// One condition of a list query.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Eq(&'static str, SqlValue),
    In(&'static str, Vec<SqlValue>),
    IsNull(&'static str),
    /// Case-insensitive substring match.
    Contains(&'static str, String),
    /// `column < value`
    Lt(&'static str, SqlValue),
    /// `column >= value`
    Ge(&'static str, SqlValue),
}

/// A list query over one entity table.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub filters: Vec<Filter>,
    /// Matches when any of these holds (an OR group, ANDed with `filters`).
    pub any_of: Vec<Filter>,
    pub sort_by: &'static str,
    pub descending: bool,
    pub limit: Option<u32>,
    pub offset: u32,
    /// Whether [`Page::total`] counts every matching row (one more statement); without it, the
    /// total is the page's length.
    pub count: bool,
}

impl Default for Query {
    fn default() -> Self {
        Self {
            filters: Vec::new(),
            any_of: Vec::new(),
            sort_by: "created_at",
            descending: true,
            limit: None,
            offset: 0,
            count: true,
        }
    }
}

impl Query {
    pub fn filter(mut self, f: Filter) -> Self {
        self.filters.push(f);
        self
    }

    pub fn eq(self, column: &'static str, value: impl Into<SqlValue>) -> Self {
        self.filter(Filter::Eq(column, value.into()))
    }

    pub fn page(mut self, limit: u32, offset: u32) -> Self {
        self.limit = Some(limit);
        self.offset = offset;
        self
    }

    /// The first matching row only, without counting the others.
    pub fn first(mut self) -> Self {
        self.count = false;
        self.page(1, 0)
    }
}

/// One page of a list, with the number of rows that match in all.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
}

/// A row to write: a record, flattened.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub kind: Kind,
    pub pk: Vec<String>,
    pub columns: Vec<SqlValue>,
    pub spend: f64,
    pub data: String,
}

impl Row {
    pub fn of<R: Record>(record: &R) -> Result<Self, serde_json::Error> {
        Ok(Row {
            kind: R::KIND,
            pk: record.pk(),
            columns: record.columns(),
            spend: record.spend(),
            data: serde_json::to_string(record)?,
        })
    }
}

/// One change inside a [`crate::Store::apply`] batch. A batch is applied in one transaction: every
/// change takes effect, or none does.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Insert a new row; fails with [`crate::StoreError::Conflict`] if its key or a unique column is taken.
    Insert(Row),
    /// Replace an existing row's document and columns, leaving `spend` alone; fails with
    /// [`crate::StoreError::NotFound`] if the row does not exist.
    Update(Row),
    /// Delete one row; fails with NotFound if it does not exist.
    Delete { kind: Kind, pk: Vec<String> },
    /// Delete every row whose `column` equals `value` (no error when there is none).
    DeleteWhere {
        kind: Kind,
        column: &'static str,
        value: String,
    },
    /// Set a row's spend counter.
    SetSpend {
        kind: Kind,
        pk: Vec<String>,
        spend: f64,
    },
    /// Record a newly issued token hash of a key.
    IssueToken {
        token: String,
        key_id: String,
        at: DateTime<Utc>,
    },
    /// Retire an active token hash, keeping a snapshot of its key. Fails with NotFound if the
    /// token is not active, so that a retirement can never be lost silently.
    RetireToken {
        token: String,
        status: TokenStatus,
        snapshot: Box<KeyRecord>,
        at: DateTime<Utc>,
        by: Option<String>,
        grace_until: Option<DateTime<Utc>>,
    },
    /// Append an entry to the audit log.
    Audit(Box<AuditEntry>),
    /// Zero a row's spend and move its `budget_reset_at` on, if (compare-and-set) the column
    /// still holds `expected_reset_at` (epoch milliseconds; `None` for NULL). When another
    /// replica reset the row first, this changes nothing and is not an error. Only for tables
    /// with a `budget_reset_at` column.
    ResetBudget {
        kind: Kind,
        pk: Vec<String>,
        expected_reset_at: Option<i64>,
        next_reset_at: Option<DateTime<Utc>>,
    },
}

impl Write {
    pub fn insert<R: Record>(record: &R) -> Result<Self, serde_json::Error> {
        Row::of(record).map(Write::Insert)
    }

    pub fn update<R: Record>(record: &R) -> Result<Self, serde_json::Error> {
        Row::of(record).map(Write::Update)
    }

    pub fn delete<R: Record>(record: &R) -> Self {
        Write::Delete {
            kind: R::KIND,
            pk: record.pk(),
        }
    }
}

/// Filters for the audit log.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditQuery {
    pub table_name: Option<String>,
    pub object_id: Option<String>,
    pub action: Option<String>,
    pub changed_by: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub limit: u32,
    pub offset: u32,
}

/// The JSON document of a row with its counters laid over it.
pub(crate) fn overlay_spend(data: &str, spend: f64) -> Result<Value, serde_json::Error> {
    let mut value: Value = serde_json::from_str(data)?;
    if let Value::Object(map) = &mut value {
        map.insert("spend".into(), Value::from(spend));
    }
    Ok(value)
}

/// Lays the `budget_reset_at` column (epoch milliseconds) over a document, so that the column,
/// which budget resets move, is the one truth. A document that agrees with the column to the
/// millisecond keeps its own, more precise, value.
pub(crate) fn overlay_reset_at(value: &mut Value, column: Option<i64>) {
    let Value::Object(map) = value else {
        return;
    };
    let in_document = map
        .get("budget_reset_at")
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.timestamp_millis());
    if in_document == column {
        return;
    }
    let time = column.and_then(|ms| Utc.timestamp_millis_opt(ms).single());
    let rendered = time.map_or(Value::Null, |t| {
        Value::String(t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    });
    map.insert("budget_reset_at".into(), rendered);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_at_column_wins_unless_the_document_agrees() {
        let mut doc = serde_json::json!({"budget_reset_at": "2025-01-01T00:00:00.123456789Z"});
        overlay_reset_at(&mut doc, Some(1_735_689_600_123));
        assert_eq!(doc["budget_reset_at"], "2025-01-01T00:00:00.123456789Z");
        overlay_reset_at(&mut doc, Some(1_735_776_000_000));
        assert_eq!(doc["budget_reset_at"], "2025-01-02T00:00:00Z");
        overlay_reset_at(&mut doc, None);
        assert_eq!(doc["budget_reset_at"], Value::Null);
        let mut missing = serde_json::json!({});
        overlay_reset_at(&mut missing, None);
        assert_eq!(missing, serde_json::json!({}));
    }
}
