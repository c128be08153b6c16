//! Shared setup: a fresh store per test, fixtures with every field set, and short helpers.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;
use tollgate_store::*;
use tollgate_testkit::TestDb;

/// One test's store, and the database behind it (dropped after the store).
pub struct Ctx {
    pub store: Arc<dyn Store>,
    pub db: TestDb,
}

impl Ctx {
    pub async fn sqlite() -> Option<Self> {
        Some(Self::open(TestDb::sqlite()).await)
    }

    pub async fn postgres() -> Option<Self> {
        Some(Self::open(TestDb::postgres().await?).await)
    }

    async fn open(db: TestDb) -> Self {
        let store = open_url(db.url()).await;
        Self { store, db }
    }

    /// Applies a batch that must succeed.
    pub async fn ok(&self, batch: Vec<Write>) {
        self.store.apply(batch).await.unwrap();
    }

    /// Applies a batch that must fail, and returns its error.
    pub async fn err(&self, batch: Vec<Write>) -> StoreError {
        self.store.apply(batch).await.unwrap_err()
    }

    pub async fn get<R: Record>(&self, pk: &[&str]) -> Option<R> {
        self.store.get::<R>(pk).await.unwrap()
    }

    pub async fn list<R: Record>(&self, query: &Query) -> Page<R> {
        self.store.list::<R>(query).await.unwrap()
    }

    pub async fn audit(&self, query: AuditQuery) -> Page<AuditEntry> {
        self.store.audit_log(&query).await.unwrap()
    }
}

pub async fn open_url(url: &str) -> Arc<dyn Store> {
    tollgate_store::open(&ConnectOptions::new(url))
        .await
        .unwrap()
}

pub fn ins<R: Record>(r: &R) -> Write {
    Write::insert(r).unwrap()
}

pub fn upd<R: Record>(r: &R) -> Write {
    Write::update(r).unwrap()
}

/// A timestamp `ms` milliseconds after 2025-01-01 (the store keeps projected times in millis).
pub fn at(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_735_689_600_000 + ms).unwrap()
}

/// A timestamp with nanoseconds, to check that documents keep them.
pub fn precise() -> DateTime<Utc> {
    Utc.timestamp_opt(1_740_000_000, 123_456_789).unwrap()
}

pub fn map(v: serde_json::Value) -> JsonMap {
    match v {
        serde_json::Value::Object(m) => m,
        _ => unreachable!(),
    }
}

pub fn key(id: &str) -> KeyRecord {
    KeyRecord {
        key_id: id.into(),
        token: format!("tok-{id}"),
        key_name: Some(format!("sk-...{id}")),
        key_alias: Some(format!("alias-{id}")),
        spend: 1.25,
        max_budget: Some(100.5),
        soft_budget: Some(80.0),
        expires: Some(precise()),
        models: vec!["gpt-4o".into(), "claude-3".into()],
        aliases: map(json!({"fast": "gpt-4o-mini"})),
        config: map(json!({"x": [1, 2]})),
        permissions: map(json!({"admin": false})),
        metadata: map(json!({"owner": "ünïcode ✓", "n": 1.5})),
        user_id: Some("u1".into()),
        team_id: Some("t1".into()),
        organization_id: Some("o1".into()),
        budget_id: Some("b1".into()),
        max_parallel_requests: Some(4),
        tpm_limit: Some(1000),
        rpm_limit: Some(60),
        budget_duration: Some("30d".into()),
        budget_reset_at: Some(precise()),
        allowed_routes: vec!["/chat/completions".into()],
        allowed_cache_controls: vec!["no-cache".into()],
        model_max_budget: map(json!({"gpt-4o": {"max_budget": 5.0}})),
        model_spend: map(json!({"gpt-4o": 0.5})),
        blocked: Some(false),
        rotation_count: 2,
        last_rotation_at: Some(precise()),
        created_at: precise(),
        updated_at: precise(),
        created_by: Some("admin".into()),
        updated_by: Some("admin".into()),
    }
}

pub fn team(id: &str) -> TeamRecord {
    TeamRecord {
        team_id: id.into(),
        team_alias: Some(format!("team {id}")),
        organization_id: Some("o1".into()),
        models: vec!["gpt-4o".into()],
        metadata: map(json!({"k": "v"})),
        spend: 2.5,
        max_budget: Some(10.0),
        soft_budget: Some(8.0),
        budget_duration: Some("1d".into()),
        budget_reset_at: Some(precise()),
        tpm_limit: Some(10),
        rpm_limit: Some(20),
        max_parallel_requests: Some(3),
        blocked: true,
        team_member_permissions: vec!["/key/generate".into()],
        model_max_budget: map(json!({"m": 1})),
        created_at: precise(),
        updated_at: precise(),
        created_by: Some("admin".into()),
        updated_by: None,
    }
}

pub fn team_member(team_id: &str, user_id: &str) -> TeamMember {
    TeamMember {
        team_id: team_id.into(),
        user_id: user_id.into(),
        user_email: Some(format!("{user_id}@example.com")),
        role: "admin".into(),
        spend: 0.75,
        max_budget_in_team: Some(3.0),
        budget_duration: Some("7d".into()),
        budget_reset_at: Some(precise()),
        tpm_limit: Some(5),
        rpm_limit: Some(6),
        created_at: precise(),
    }
}

pub fn user(id: &str) -> UserRecord {
    UserRecord {
        user_id: id.into(),
        user_email: Some(format!("{id}@example.com")),
        user_alias: Some(format!("User {id}")),
        user_role: "internal_user".into(),
        organization_id: Some("o1".into()),
        models: vec!["a".into()],
        metadata: map(json!({"nested": {"deep": [true, null]}})),
        spend: 9.5,
        max_budget: Some(12.0),
        budget_duration: Some("1mo".into()),
        budget_reset_at: Some(precise()),
        tpm_limit: Some(1),
        rpm_limit: Some(2),
        max_parallel_requests: Some(3),
        created_at: precise(),
        updated_at: precise(),
    }
}

pub fn org(id: &str) -> OrgRecord {
    OrgRecord {
        organization_id: id.into(),
        organization_alias: format!("Org {id}"),
        budget_id: "b1".into(),
        models: vec!["m".into()],
        metadata: map(json!({"tier": 3})),
        spend: 4.0,
        budget_reset_at: Some(precise()),
        created_at: precise(),
        updated_at: precise(),
        created_by: Some("admin".into()),
        updated_by: Some("other".into()),
    }
}

pub fn org_member(org_id: &str, user_id: &str) -> OrgMember {
    OrgMember {
        organization_id: org_id.into(),
        user_id: user_id.into(),
        user_role: "org_admin".into(),
        user_email: Some(format!("{user_id}@example.com")),
        spend: 0.5,
        max_budget_in_organization: Some(2.0),
        created_at: precise(),
        updated_at: precise(),
    }
}

pub fn customer(id: &str) -> CustomerRecord {
    CustomerRecord {
        user_id: id.into(),
        alias: Some(format!("customer {id}")),
        spend: 6.25,
        blocked: true,
        budget_id: Some("b1".into()),
        budget_reset_at: Some(precise()),
        allowed_model_region: Some("eu".into()),
        default_model: Some("gpt-4o".into()),
        created_at: precise(),
        updated_at: precise(),
    }
}

pub fn budget(id: &str) -> BudgetRecord {
    BudgetRecord {
        budget_id: id.into(),
        max_budget: Some(50.0),
        soft_budget: Some(40.0),
        max_parallel_requests: Some(2),
        tpm_limit: Some(100),
        rpm_limit: Some(10),
        model_max_budget: map(json!({"gpt-4o": 1})),
        budget_duration: Some("30d".into()),
        budget_reset_at: Some(precise()),
        created_at: precise(),
        updated_at: precise(),
        created_by: None,
        updated_by: Some("admin".into()),
    }
}

/// An audit entry whose times are whole milliseconds, as the log keeps them.
pub fn audit_entry(id: &str, ms: i64, table: &str, object: &str, action: &str) -> AuditEntry {
    AuditEntry {
        id: id.into(),
        updated_at: at(ms),
        changed_by: Some("admin".into()),
        changed_by_api_key: Some("hash-of-admin-key".into()),
        action: action.into(),
        table_name: table.into(),
        object_id: object.into(),
        before_value: Some(json!({"before": 1})),
        updated_values: Some(json!({"after": [1, "two"]})),
    }
}

pub fn audit(entry: AuditEntry) -> Write {
    Write::Audit(Box::new(entry))
}

/// Asserts that an error is the variant named, showing it otherwise.
#[macro_export]
macro_rules! assert_err {
    ($err:expr, $variant:ident) => {{
        let e = $err;
        assert!(
            matches!(e, tollgate_store::StoreError::$variant(_)),
            "expected {}, got {e:?}",
            stringify!($variant)
        );
    }};
}

/// A successful chat request by key k1 (token "tok-k1") of user u1 in team t1 and organization
/// o1, for customer c1, tagged "prod" and "blue", started `at(start_ms)`.
pub fn spend_event(request_id: &str, spend: f64, start_ms: i64) -> SpendEvent {
    SpendEvent {
        request_id: request_id.into(),
        call_type: "chat_completion".into(),
        api_key: "tok-k1".into(),
        key_id: Some("k1".into()),
        key_alias: Some("alias-k1".into()),
        user_id: Some("u1".into()),
        team_id: Some("t1".into()),
        organization_id: Some("o1".into()),
        end_user: Some("c1".into()),
        tags: vec!["prod".into(), "blue".into()],
        model: "gpt-4o-2024-08-06".into(),
        model_id: Some("dep-1".into()),
        model_group: "gpt-4o".into(),
        provider: "openai".into(),
        api_base: Some("https://api.openai.com/v1".into()),
        endpoint: "/v1/chat/completions".into(),
        success: true,
        spend,
        prompt_tokens: 10,
        completion_tokens: 5,
        cache_read_input_tokens: 2,
        cache_creation_input_tokens: 1,
        start_time: at(start_ms),
        end_time: at(start_ms + 1500),
        completion_start_time: Some(at(start_ms + 300)),
        metadata: map(json!({"status_code": 200})),
    }
}

/// Records events that must be accepted.
pub async fn record(ctx: &Ctx, events: &[SpendEvent]) -> RecordOutcome {
    ctx.store.record_spend(events).await.unwrap()
}

/// A daily query of one entity kind over 2025-01-01 ..= 2025-12-31, entities collapsed.
pub fn daily(entity_type: EntityType) -> DailyQuery {
    DailyQuery {
        entity_type,
        entity_ids: vec![],
        exclude_entity_ids: vec![],
        start_date: "2025-01-01".into(),
        end_date: "2025-12-31".into(),
        model: None,
        api_key: None,
        group_by_entity: false,
    }
}

/// The daily rows of `q` summed per group (date, entity, key, model, model group, provider,
/// endpoint) and sorted newest day first, then by the group's other columns: the store returns
/// its rows as stored, in no particular order.
pub async fn daily_rows(ctx: &Ctx, q: DailyQuery) -> Vec<DailyRow> {
    let mut rows = ctx.store.daily_spend(&q).await.unwrap();
    let group = |r: &DailyRow| {
        (
            std::cmp::Reverse(r.date.clone()),
            r.entity_id.clone(),
            [
                r.api_key.clone(),
                r.model.clone(),
                r.model_group.clone(),
                r.provider.clone(),
                r.endpoint.clone(),
            ],
        )
    };
    rows.sort_by_key(group);
    let mut out: Vec<DailyRow> = Vec::with_capacity(rows.len());
    for r in rows {
        match out.last_mut() {
            Some(last) if group(last) == group(&r) => {
                last.spend += r.spend;
                last.prompt_tokens += r.prompt_tokens;
                last.completion_tokens += r.completion_tokens;
                last.cache_read_input_tokens += r.cache_read_input_tokens;
                last.cache_creation_input_tokens += r.cache_creation_input_tokens;
                last.api_requests += r.api_requests;
                last.successful_requests += r.successful_requests;
                last.failed_requests += r.failed_requests;
            }
            _ => out.push(r),
        }
    }
    out
}

/// Asserts two sums of money agree to 1e-9.
#[track_caller]
pub fn assert_close(got: f64, want: f64) {
    assert!((got - want).abs() < 1e-9, "got {got}, want {want}");
}

/// Milliseconds in a day.
pub const DAY: i64 = 86_400_000;

/// A fixture event of `user` on day `day` (from 2025-01-01), one second into the day.
pub fn ev(id: &str, spend: f64, day: i64, user: &str, model: &str, api_key: &str) -> SpendEvent {
    let mut e = spend_event(id, spend, day * DAY + 1000);
    e.user_id = Some(user.into());
    e.model = model.into();
    e.api_key = api_key.into();
    e
}
