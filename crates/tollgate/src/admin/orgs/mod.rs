//! `/organization/*`: organizations, their members and their budget. Every organization links
//! one budget record (`budget_id`), created with it unless an existing one is named.

mod crud;
mod members;

pub use crud::{delete, info, info_post, list, new, update};
pub use members::{member_add, member_delete, member_update};

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};
use tollgate_store::{
    BudgetRecord, Filter, JsonMap, OrgMember, OrgRecord, Query, SqlValue, TeamRecord,
};

use super::common::{check_limit, to_object, to_value};
use super::keys::{apply_metadata, is_org_admin};
use crate::auth::{Principal, Role};
use crate::http::{Error, Patch, Result};
use crate::state::AppState;

/// Settable fields of an organization, other than its alias and its budget.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct OrgFields {
    pub models: Patch<Vec<String>>,
    pub metadata: Patch<JsonMap>,
    pub model_rpm_limit: Patch<BTreeMap<String, i64>>,
    pub model_tpm_limit: Patch<BTreeMap<String, i64>>,
    pub tags: Patch<Vec<String>>,
}

/// Fields LiteLLM keeps in an organization's `metadata` and shows at the top level.
const METADATA_FIELDS: [&str; 3] = ["model_rpm_limit", "model_tpm_limit", "tags"];

impl OrgFields {
    pub fn apply(self, org: &mut OrgRecord) -> Result<()> {
        for (field, map) in [
            ("model_rpm_limit", &self.model_rpm_limit),
            ("model_tpm_limit", &self.model_tpm_limit),
        ] {
            for v in map.value().into_iter().flat_map(|m| m.values()) {
                check_limit(field, Some(*v))?;
            }
        }
        self.models.apply_or_default(&mut org.models);
        apply_metadata(
            &mut org.metadata,
            self.metadata,
            [
                ("model_rpm_limit", to_json(self.model_rpm_limit)),
                ("model_tpm_limit", to_json(self.model_tpm_limit)),
                ("tags", to_json(self.tags)),
            ],
        );
        Ok(())
    }
}

fn to_json<T: serde::Serialize>(p: Patch<T>) -> Patch<Value> {
    match p {
        Patch::Absent => Patch::Absent,
        Patch::Null => Patch::Null,
        Patch::Value(v) => serde_json::to_value(v).map_or(Patch::Null, Patch::Value),
    }
}

/// An organization alias must be non-blank and free of control characters.
pub fn check_alias(alias: String) -> Result<String> {
    if alias.trim().is_empty() {
        return Err(Error::bad_field(
            "organization_alias",
            "organization_alias must not be empty",
        ));
    }
    if alias.chars().any(char::is_control) {
        return Err(Error::bad_field(
            "organization_alias",
            "organization_alias must not contain control characters",
        ));
    }
    Ok(alias)
}

/// The object id of a membership in the audit log (also the Terraform import id).
pub fn member_object_id(m: &OrgMember) -> String {
    format!("{}:{}", m.organization_id, m.user_id)
}

pub async fn get_org(state: &AppState, organization_id: &str) -> Result<OrgRecord> {
    state
        .store
        .get::<OrgRecord>(&[organization_id])
        .await?
        .ok_or_else(|| {
            Error::NotFound(format!(
                "Organization not found, passed organization_id={organization_id}"
            ))
        })
}

pub async fn members_of(state: &AppState, organization_id: &str) -> Result<Vec<OrgMember>> {
    let q = Query::default().eq("organization_id", organization_id);
    Ok(state.store.list::<OrgMember>(&q).await?.items)
}

/// Creating, updating and deleting organizations is for proxy admins (LiteLLM answers 401).
pub fn require_proxy_admin(p: &Principal, verb: &str) -> Result<()> {
    if p.is_proxy_admin() {
        return Ok(());
    }
    Err(Error::unauthorized(
        "auth_error",
        format!("Only admins can {verb} orgs. Your role is = {}", p.role),
    ))
}

/// Proxy admins and the organization's own admins manage its members.
pub async fn check_org_admin(state: &AppState, p: &Principal, organization_id: &str) -> Result<()> {
    if p.is_proxy_admin() {
        return Ok(());
    }
    if let (Role::OrgAdmin, Some(uid)) = (p.role, p.user_id.as_deref()) {
        if is_org_admin(state, organization_id, uid).await? {
            return Ok(());
        }
    }
    Err(Error::Forbidden(format!(
        "Only proxy admins and admins of organization {organization_id} may do this. Your role={}",
        p.role
    )))
}

/// Whether the caller may read this organization: admins and its members.
pub async fn check_can_read(state: &AppState, p: &Principal, organization_id: &str) -> Result<()> {
    if p.sees_all() {
        return Ok(());
    }
    if let Some(uid) = p.user_id.as_deref() {
        if state
            .store
            .get::<OrgMember>(&[organization_id, uid])
            .await?
            .is_some()
        {
            return Ok(());
        }
    }
    Err(Error::Forbidden(format!(
        "You are not a member of organization {organization_id}"
    )))
}

/// A membership as the API shows it, with its budget as `litellm_budget_table`.
pub fn render_membership(m: &OrgMember) -> Result<Value> {
    let mut out = to_object(m)?;
    let budget = m
        .max_budget_in_organization
        .map_or(Value::Null, |b| serde_json::json!({ "max_budget": b }));
    out.insert("litellm_budget_table".into(), budget);
    Ok(Value::Object(out))
}

/// An organization as the API shows it: the row, its budget as `litellm_budget_table`, and
/// the metadata-backed fields at the top level.
pub fn render(org: &OrgRecord, budget: Option<&BudgetRecord>) -> Result<Map<String, Value>> {
    let mut out = to_object(org)?;
    out.insert(
        "litellm_budget_table".into(),
        super::budgets::render_budget(budget)?,
    );
    for f in METADATA_FIELDS {
        if let Some(v) = org.metadata.get(f) {
            out.insert(f.into(), v.clone());
        }
    }
    Ok(out)
}

/// Organizations with their budget, `members` and `teams`, in the order given.
pub async fn render_full(state: &AppState, orgs: &[OrgRecord]) -> Result<Vec<Value>> {
    if orgs.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<SqlValue> = orgs
        .iter()
        .map(|o| SqlValue::from(o.organization_id.as_str()))
        .collect();
    let in_orgs = Query::default().filter(Filter::In("organization_id", ids));
    let members = state.store.list::<OrgMember>(&in_orgs).await?.items;
    let teams = state.store.list::<TeamRecord>(&in_orgs).await?.items;
    let budget_ids = orgs
        .iter()
        .map(|o| SqlValue::from(o.budget_id.as_str()))
        .collect();
    let budgets = state
        .store
        .list::<BudgetRecord>(&Query::default().filter(Filter::In("budget_id", budget_ids)))
        .await?
        .items;
    orgs.iter()
        .map(|org| {
            let budget = budgets.iter().find(|b| b.budget_id == org.budget_id);
            let mut out = render(org, budget)?;
            let ms = members
                .iter()
                .filter(|m| m.organization_id == org.organization_id)
                .map(render_membership)
                .collect::<Result<Vec<_>>>()?;
            out.insert("members".into(), Value::from(ms));
            let ts: Vec<&TeamRecord> = teams
                .iter()
                .filter(|t| t.organization_id.as_deref() == Some(org.organization_id.as_str()))
                .collect();
            out.insert("teams".into(), to_value(&ts)?);
            Ok(Value::Object(out))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use serde_json::json;

    fn org() -> OrgRecord {
        let now = Utc::now();
        OrgRecord {
            organization_id: "o".into(),
            organization_alias: "acme".into(),
            budget_id: "b".into(),
            models: Vec::new(),
            metadata: JsonMap::new(),
            spend: 0.0,
            budget_reset_at: None,
            created_at: now,
            updated_at: now,
            created_by: None,
            updated_by: None,
        }
    }

    #[test]
    fn metadata_backed_fields_show_at_the_top_level() {
        let mut o = org();
        let f: OrgFields = serde_json::from_value(
            json!({"tags": ["x"], "models": ["gpt-4"], "metadata": {"a": 1}}),
        )
        .unwrap();
        f.apply(&mut o).unwrap();
        let out = render(&o, None).unwrap();
        assert_eq!(out["tags"], json!(["x"]));
        assert_eq!(out["models"], json!(["gpt-4"]));
        assert_eq!(out["metadata"]["a"], json!(1));
        assert_eq!(out["litellm_budget_table"], Value::Null);
    }

    #[test]
    fn negative_model_limits_are_refused() {
        let f: OrgFields = serde_json::from_value(json!({"model_rpm_limit": {"m": -1}})).unwrap();
        let e = f.apply(&mut org()).unwrap_err();
        assert!(e.to_string().contains("model_rpm_limit"));
    }

    #[test]
    fn blank_aliases_are_refused() {
        assert!(check_alias("  ".into()).is_err());
        assert!(check_alias("a\u{0}".into()).is_err());
        assert_eq!(check_alias("acme".into()).unwrap(), "acme");
    }
}
