//! The records the gateway stores. Field names are LiteLLM's, so that the management API can
//! return them as they are. Each record is a [`Record`]: it names its table, its primary key and
//! the columns that queries filter on; the rest of it lives in the row's JSON document.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::table::{Kind, SqlValue};

/// A JSON object, as LiteLLM's `metadata`, `aliases`, `config`, ... fields are.
pub type JsonMap = Map<String, Value>;

/// A record stored in one of the entity tables.
pub trait Record: Serialize + for<'de> Deserialize<'de> + Send + Sync {
    /// Which table holds it.
    const KIND: Kind;
    /// Primary-key values, in the order of [`crate::table::TableDef::pk`].
    fn pk(&self) -> Vec<String>;
    /// Values of the projected columns, in the order of [`crate::table::TableDef::columns`].
    fn columns(&self) -> Vec<SqlValue>;
    /// Current spend, kept in its own column so that increments never race document writes.
    fn spend(&self) -> f64 {
        0.0
    }
}

fn millis(t: &Option<DateTime<Utc>>) -> SqlValue {
    SqlValue::Int(t.map(|t| t.timestamp_millis()))
}

fn text(s: &Option<String>) -> SqlValue {
    SqlValue::Text(s.clone())
}

/// A virtual key. `key_id` is its identity for life; `token` (the SHA-256 hex of the raw key)
/// changes when the key is regenerated.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KeyRecord {
    pub key_id: String,
    pub token: String,
    #[serde(default)]
    pub key_name: Option<String>,
    #[serde(default)]
    pub key_alias: Option<String>,
    #[serde(default)]
    pub spend: f64,
    #[serde(default)]
    pub max_budget: Option<f64>,
    #[serde(default)]
    pub soft_budget: Option<f64>,
    #[serde(default)]
    pub expires: Option<DateTime<Utc>>,
    #[serde(default)]
    pub models: Vec<String>,
    #[serde(default)]
    pub aliases: JsonMap,
    #[serde(default)]
    pub config: JsonMap,
    #[serde(default)]
    pub permissions: JsonMap,
    #[serde(default)]
    pub metadata: JsonMap,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub team_id: Option<String>,
    #[serde(default)]
    pub organization_id: Option<String>,
    #[serde(default)]
    pub budget_id: Option<String>,
    #[serde(default)]
    pub max_parallel_requests: Option<i64>,
    #[serde(default)]
    pub tpm_limit: Option<i64>,
    #[serde(default)]
    pub rpm_limit: Option<i64>,
    #[serde(default)]
    pub budget_duration: Option<String>,
    #[serde(default)]
    pub budget_reset_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub allowed_routes: Vec<String>,
    #[serde(default)]
    pub allowed_cache_controls: Vec<String>,
    #[serde(default)]
    pub model_max_budget: JsonMap,
    #[serde(default)]
    pub model_spend: JsonMap,
    #[serde(default)]
    pub blocked: Option<bool>,
    #[serde(default)]
    pub rotation_count: i64,
    #[serde(default)]
    pub last_rotation_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub created_by: Option<String>,
    #[serde(default)]
    pub updated_by: Option<String>,
}

impl Record for KeyRecord {
    const KIND: Kind = Kind::Key;
    fn pk(&self) -> Vec<String> {
        vec![self.key_id.clone()]
    }
    fn columns(&self) -> Vec<SqlValue> {
        vec![
            SqlValue::Text(Some(self.token.clone())),
            text(&self.key_alias),
            text(&self.user_id),
            text(&self.team_id),
            text(&self.organization_id),
            text(&self.budget_duration),
            millis(&self.budget_reset_at),
            millis(&self.expires),
            SqlValue::Int(Some(self.created_at.timestamp_millis())),
        ]
    }
    fn spend(&self) -> f64 {
        self.spend
    }
}

/// A team. Members live in [`TeamMember`] rows; `members_with_roles` is rendered from them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TeamRecord {
    pub team_id: String,
    #[serde(default)]
    pub team_alias: Option<String>,
    #[serde(default)]
    pub organization_id: Option<String>,
    #[serde(default)]
    pub models: Vec<String>,
    #[serde(default)]
    pub metadata: JsonMap,
    #[serde(default)]
    pub spend: f64,
    #[serde(default)]
    pub max_budget: Option<f64>,
    #[serde(default)]
    pub soft_budget: Option<f64>,
    #[serde(default)]
    pub budget_duration: Option<String>,
    #[serde(default)]
    pub budget_reset_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub tpm_limit: Option<i64>,
    #[serde(default)]
    pub rpm_limit: Option<i64>,
    #[serde(default)]
    pub max_parallel_requests: Option<i64>,
    #[serde(default)]
    pub blocked: bool,
    #[serde(default)]
    pub team_member_permissions: Vec<String>,
    #[serde(default)]
    pub model_max_budget: JsonMap,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub created_by: Option<String>,
    #[serde(default)]
    pub updated_by: Option<String>,
}

impl Record for TeamRecord {
    const KIND: Kind = Kind::Team;
    fn pk(&self) -> Vec<String> {
        vec![self.team_id.clone()]
    }
    fn columns(&self) -> Vec<SqlValue> {
        vec![
            text(&self.team_alias),
            text(&self.organization_id),
            text(&self.budget_duration),
            millis(&self.budget_reset_at),
            SqlValue::Int(Some(self.created_at.timestamp_millis())),
        ]
    }
    fn spend(&self) -> f64 {
        self.spend
    }
}

/// A user's membership of a team, with its own budget and limits inside the team.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TeamMember {
    pub team_id: String,
    pub user_id: String,
    #[serde(default)]
    pub user_email: Option<String>,
    pub role: String,
    #[serde(default)]
    pub spend: f64,
    #[serde(default)]
    pub max_budget_in_team: Option<f64>,
    #[serde(default)]
    pub budget_duration: Option<String>,
    #[serde(default)]
    pub budget_reset_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub tpm_limit: Option<i64>,
    #[serde(default)]
    pub rpm_limit: Option<i64>,
    pub created_at: DateTime<Utc>,
}

impl Record for TeamMember {
    const KIND: Kind = Kind::TeamMember;
    fn pk(&self) -> Vec<String> {
        vec![self.team_id.clone(), self.user_id.clone()]
    }
    fn columns(&self) -> Vec<SqlValue> {
        vec![
            text(&self.budget_duration),
            millis(&self.budget_reset_at),
            SqlValue::Int(Some(self.created_at.timestamp_millis())),
        ]
    }
    fn spend(&self) -> f64 {
        self.spend
    }
}

/// An internal user of the gateway.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UserRecord {
    pub user_id: String,
    #[serde(default)]
    pub user_email: Option<String>,
    #[serde(default)]
    pub user_alias: Option<String>,
    pub user_role: String,
    #[serde(default)]
    pub organization_id: Option<String>,
    #[serde(default)]
    pub models: Vec<String>,
    #[serde(default)]
    pub metadata: JsonMap,
    #[serde(default)]
    pub spend: f64,
    #[serde(default)]
    pub max_budget: Option<f64>,
    #[serde(default)]
    pub budget_duration: Option<String>,
    #[serde(default)]
    pub budget_reset_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub tpm_limit: Option<i64>,
    #[serde(default)]
    pub rpm_limit: Option<i64>,
    #[serde(default)]
    pub max_parallel_requests: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Record for UserRecord {
    const KIND: Kind = Kind::User;
    fn pk(&self) -> Vec<String> {
        vec![self.user_id.clone()]
    }
    fn columns(&self) -> Vec<SqlValue> {
        vec![
            text(&self.user_email),
            SqlValue::Text(Some(self.user_role.clone())),
            text(&self.budget_duration),
            millis(&self.budget_reset_at),
            SqlValue::Int(Some(self.created_at.timestamp_millis())),
        ]
    }
    fn spend(&self) -> f64 {
        self.spend
    }
}

/// An organization. Its budget and limits live in the linked [`BudgetRecord`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OrgRecord {
    pub organization_id: String,
    pub organization_alias: String,
    pub budget_id: String,
    #[serde(default)]
    pub models: Vec<String>,
    #[serde(default)]
    pub metadata: JsonMap,
    #[serde(default)]
    pub spend: f64,
    #[serde(default)]
    pub budget_reset_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub created_by: Option<String>,
    #[serde(default)]
    pub updated_by: Option<String>,
}

impl Record for OrgRecord {
    const KIND: Kind = Kind::Org;
    fn pk(&self) -> Vec<String> {
        vec![self.organization_id.clone()]
    }
    fn columns(&self) -> Vec<SqlValue> {
        vec![
            SqlValue::Text(Some(self.organization_alias.clone())),
            SqlValue::Text(Some(self.budget_id.clone())),
            millis(&self.budget_reset_at),
            SqlValue::Int(Some(self.created_at.timestamp_millis())),
        ]
    }
    fn spend(&self) -> f64 {
        self.spend
    }
}

/// A user's membership of an organization.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OrgMember {
    pub organization_id: String,
    pub user_id: String,
    pub user_role: String,
    #[serde(default)]
    pub user_email: Option<String>,
    #[serde(default)]
    pub spend: f64,
    #[serde(default)]
    pub max_budget_in_organization: Option<f64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Record for OrgMember {
    const KIND: Kind = Kind::OrgMember;
    fn pk(&self) -> Vec<String> {
        vec![self.organization_id.clone(), self.user_id.clone()]
    }
    fn columns(&self) -> Vec<SqlValue> {
        vec![SqlValue::Int(Some(self.created_at.timestamp_millis()))]
    }
    fn spend(&self) -> f64 {
        self.spend
    }
}

/// A customer (end user): the value of the `user` field of inference requests.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CustomerRecord {
    pub user_id: String,
    #[serde(default)]
    pub alias: Option<String>,
    #[serde(default)]
    pub spend: f64,
    #[serde(default)]
    pub blocked: bool,
    #[serde(default)]
    pub budget_id: Option<String>,
    #[serde(default)]
    pub budget_reset_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub allowed_model_region: Option<String>,
    #[serde(default)]
    pub default_model: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Record for CustomerRecord {
    const KIND: Kind = Kind::Customer;
    fn pk(&self) -> Vec<String> {
        vec![self.user_id.clone()]
    }
    fn columns(&self) -> Vec<SqlValue> {
        vec![
            text(&self.budget_id),
            millis(&self.budget_reset_at),
            SqlValue::Int(Some(self.created_at.timestamp_millis())),
        ]
    }
    fn spend(&self) -> f64 {
        self.spend
    }
}

/// A shared budget, referenced by organizations, customers and keys.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BudgetRecord {
    pub budget_id: String,
    #[serde(default)]
    pub max_budget: Option<f64>,
    #[serde(default)]
    pub soft_budget: Option<f64>,
    #[serde(default)]
    pub max_parallel_requests: Option<i64>,
    #[serde(default)]
    pub tpm_limit: Option<i64>,
    #[serde(default)]
    pub rpm_limit: Option<i64>,
    #[serde(default)]
    pub model_max_budget: JsonMap,
    #[serde(default)]
    pub budget_duration: Option<String>,
    #[serde(default)]
    pub budget_reset_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub created_by: Option<String>,
    #[serde(default)]
    pub updated_by: Option<String>,
}

impl Record for BudgetRecord {
    const KIND: Kind = Kind::Budget;
    fn pk(&self) -> Vec<String> {
        vec![self.budget_id.clone()]
    }
    fn columns(&self) -> Vec<SqlValue> {
        vec![
            text(&self.budget_duration),
            millis(&self.budget_reset_at),
            SqlValue::Int(Some(self.created_at.timestamp_millis())),
        ]
    }
}

/// Where a token hash stands in its key's life.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TokenStatus {
    Active,
    Regenerated,
    Deleted,
}

impl TokenStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Regenerated => "regenerated",
            Self::Deleted => "deleted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "regenerated" => Some(Self::Regenerated),
            "deleted" => Some(Self::Deleted),
            _ => None,
        }
    }
}

/// One token hash the gateway issued, and what became of it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TokenEntry {
    pub token: String,
    pub key_id: String,
    pub status: TokenStatus,
    pub issued_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
    pub retired_by: Option<String>,
    /// Until when a regenerated token still authenticates (the regeneration's grace period).
    pub grace_until: Option<DateTime<Utc>>,
    /// The key as it was when this token was retired.
    pub snapshot: Option<KeyRecord>,
}

/// What a token hash opens, read in one statement: its status and grace period, and the key
/// it belongs to (`None` once the key is deleted).
#[derive(Debug, Clone, PartialEq)]
pub struct TokenKey<K> {
    pub status: TokenStatus,
    pub grace_until: Option<DateTime<Utc>>,
    pub key: Option<K>,
}

/// Who a token hash belongs to, for spend attribution.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct TokenMeta {
    pub key_id: Option<String>,
    pub key_alias: Option<String>,
    pub team_id: Option<String>,
    pub user_id: Option<String>,
    pub organization_id: Option<String>,
    pub status: Option<TokenStatus>,
}

/// One entry of the audit log: who changed what, and how.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AuditEntry {
    pub id: String,
    pub updated_at: DateTime<Utc>,
    pub changed_by: Option<String>,
    pub changed_by_api_key: Option<String>,
    pub action: String,
    pub table_name: String,
    pub object_id: String,
    pub before_value: Option<Value>,
    pub updated_values: Option<Value>,
}

/// A model deployment stored in the database (`/model/new`). Secret values inside
/// `litellm_params` are stored encrypted by the gateway.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ModelRecord {
    pub model_id: String,
    pub model_name: String,
    #[serde(default)]
    pub litellm_params: JsonMap,
    #[serde(default)]
    pub model_info: JsonMap,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub created_by: Option<String>,
    #[serde(default)]
    pub updated_by: Option<String>,
}

impl Record for ModelRecord {
    const KIND: Kind = Kind::Model;
    fn pk(&self) -> Vec<String> {
        vec![self.model_id.clone()]
    }
    fn columns(&self) -> Vec<SqlValue> {
        vec![
            SqlValue::Text(Some(self.model_name.clone())),
            SqlValue::Int(Some(self.created_at.timestamp_millis())),
        ]
    }
}
