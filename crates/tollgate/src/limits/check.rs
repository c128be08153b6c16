//! The budget and rate-limit checks of one inference request, from what auth resolved: the key
//! with its user, team, membership and organization, the customer named in the request, and
//! the gateway-wide budget.

use chrono::{TimeZone, Utc};
use serde_json::Value;
use tollgate_store::{BudgetRecord, CustomerRecord, JsonMap, KeyRecord};

use super::rate::{Limit, Refusal};
use super::Entity;
use crate::auth::KeyAuth;
use crate::http::Error;

/// A customer (the request's `user`) with its budget.
#[derive(Debug, Clone)]
pub struct CustomerAuth {
    pub record: CustomerRecord,
    pub budget: Option<BudgetRecord>,
}

/// Who a request is billed to.
#[derive(Debug, Clone, Copy, Default)]
pub struct Subject<'a> {
    pub auth: Option<&'a KeyAuth>,
    pub customer: Option<&'a CustomerAuth>,
    pub tags: &'a [String],
}

impl Subject<'_> {
    /// Every entity this request's spend is added to.
    pub fn entities(&self, end_user: Option<&str>) -> Vec<Entity> {
        let mut out = vec![Entity::Global];
        if let Some(a) = self.auth {
            out.push(Entity::Key(a.key.key_id.clone()));
            if let Some(u) = &a.key.user_id {
                out.push(Entity::User(u.clone()));
            }
            if let Some(t) = &a.key.team_id {
                out.push(Entity::Team(t.clone()));
                if let Some(u) = &a.key.user_id {
                    out.push(Entity::Member {
                        team: t.clone(),
                        user: u.clone(),
                    });
                }
            }
            if let Some(o) = &a.key.organization_id {
                out.push(Entity::Org(o.clone()));
            }
        }
        if let Some(c) = end_user {
            out.push(Entity::Customer(c.to_owned()));
        }
        out.extend(self.tags.iter().map(|t| Entity::Tag(t.clone())));
        out
    }
}

/// Whose budget it is, with what its refusal names.
#[derive(Debug, Clone, Copy)]
pub enum Owner<'a> {
    Gateway,
    Key(&'a KeyRecord),
    User(&'a str),
    Team(&'a str),
    Member { team: &'a str, user: &'a str },
    Org(&'a str),
    Customer(&'a str),
}

impl Owner<'_> {
    /// The entity whose spend counts against this budget.
    pub fn entity(&self) -> Entity {
        match *self {
            Owner::Gateway => Entity::Global,
            Owner::Key(k) => Entity::Key(k.key_id.clone()),
            Owner::User(id) => Entity::User(id.to_owned()),
            Owner::Team(id) => Entity::Team(id.to_owned()),
            Owner::Member { team, user } => Entity::Member {
                team: team.to_owned(),
                user: user.to_owned(),
            },
            Owner::Org(id) => Entity::Org(id.to_owned()),
            Owner::Customer(id) => Entity::Customer(id.to_owned()),
        }
    }

    /// The refusal's message, in LiteLLM's words.
    fn exceeded(&self, spend: f64, max: f64) -> String {
        match *self {
            Owner::Gateway => format!(
                "ExceededBudget: The gateway has exceeded its budget. Current spend: {spend}; Max Budget: {max}"
            ),
            Owner::Key(k) => {
                let alias = k.key_alias.as_deref().unwrap_or("key");
                let name = k.key_name.as_deref().unwrap_or("");
                format!("Budget has been exceeded! Key={alias} ({name}) Current cost: {spend}, Max budget: {max}")
            }
            Owner::User(id) => {
                format!("ExceededBudget: User={id} over budget. Spend={spend}, Budget={max}")
            }
            Owner::Team(id) => {
                format!("Budget has been exceeded! Team={id} Current cost: {spend}, Max budget: {max}")
            }
            Owner::Member { team, user } => format!(
                "Budget has been exceeded! User={user} in Team={team} Current cost: {spend}, Max budget: {max}"
            ),
            Owner::Org(id) => format!(
                "Budget has been exceeded! Organization={id} Current cost: {spend}, Max budget: {max}"
            ),
            Owner::Customer(id) => {
                format!("ExceededBudget: End User={id} over budget. Spend={spend}, Budget={max}")
            }
        }
    }
}

/// A budget on a request's path: its owner, the owner's stored spend and the limit.
#[derive(Debug, Clone, Copy)]
pub struct Budget<'a> {
    pub owner: Owner<'a>,
    pub stored: f64,
    pub max: f64,
}

/// Every budget on a request's path, in the order they are checked: the gateway's, the key's,
/// its user's, team's, team membership's and organization's, then the customer's.
pub fn budgets<'a>(s: &Subject<'a>, global_max: Option<f64>) -> Vec<Budget<'a>> {
    let mut out = Vec::new();
    let mut push = |owner, stored, max: Option<f64>| {
        if let Some(max) = max {
            out.push(Budget { owner, stored, max });
        }
    };
    push(Owner::Gateway, 0.0, global_max);
    if let Some(a) = s.auth {
        let k = &a.key;
        let key_max = k
            .max_budget
            .or_else(|| a.key_budget.as_ref().and_then(|b| b.max_budget));
        push(Owner::Key(k), k.spend, key_max);
        if let Some(u) = &a.user {
            push(Owner::User(&u.user_id), u.spend, u.max_budget);
        }
        if let Some(t) = &a.team {
            push(Owner::Team(&t.team_id), t.spend, t.max_budget);
        }
        if let Some(m) = &a.membership {
            let owner = Owner::Member {
                team: &m.team_id,
                user: &m.user_id,
            };
            push(owner, m.spend, m.max_budget_in_team);
        }
        if let Some(o) = &a.org {
            let max = a.org_budget.as_ref().and_then(|b| b.max_budget);
            push(Owner::Org(&o.organization_id), o.spend, max);
        }
    }
    if let Some(c) = s.customer {
        let max = c.budget.as_ref().and_then(|b| b.max_budget);
        push(Owner::Customer(&c.record.user_id), c.record.spend, max);
    }
    out
}

/// Refuses when any budget on the request's path is spent (`spend >= max_budget`: the call that
/// crosses a budget is allowed, later ones are not); `spend` holds each budget's current spend.
pub fn check_budgets(budgets: &[Budget<'_>], spend: &[f64]) -> Result<(), Error> {
    for (b, &spend) in budgets.iter().zip(spend) {
        if spend >= b.max {
            return Err(Error::BudgetExceeded(b.owner.exceeded(spend, b.max)));
        }
    }
    Ok(())
}

/// The rate limits that apply to a request for `model`.
pub fn rate_limits(s: &Subject<'_>, model: &str) -> Vec<Limit> {
    let mut out = Vec::new();
    // The counter's key is written only for a limit that is set: most entities have none.
    let mut push =
        |key: &dyn Fn() -> String, rpm: Option<i64>, tpm: Option<i64>, parallel: Option<i64>| {
            let pos = |v: Option<i64>| v.and_then(|v| u64::try_from(v).ok());
            if rpm.is_some() || tpm.is_some() || parallel.is_some() {
                out.push(Limit {
                    key: key(),
                    rpm: pos(rpm),
                    tpm: pos(tpm),
                    parallel: pos(parallel),
                });
            }
        };
    if let Some(a) = s.auth {
        let k = &a.key;
        let kb = a.key_budget.as_ref();
        push(
            &|| format!("api_key:{}", k.key_id),
            k.rpm_limit.or(kb.and_then(|b| b.rpm_limit)),
            k.tpm_limit.or(kb.and_then(|b| b.tpm_limit)),
            k.max_parallel_requests
                .or(kb.and_then(|b| b.max_parallel_requests)),
        );
        push(
            &|| format!("model_per_key:{}:{model}", k.key_id),
            model_limit(&k.metadata, "model_rpm_limit", model),
            model_limit(&k.metadata, "model_tpm_limit", model),
            None,
        );
        if let Some(u) = &a.user {
            push(
                &|| format!("user:{}", u.user_id),
                u.rpm_limit,
                u.tpm_limit,
                u.max_parallel_requests,
            );
        }
        if let Some(t) = &a.team {
            push(
                &|| format!("team:{}", t.team_id),
                t.rpm_limit,
                t.tpm_limit,
                t.max_parallel_requests,
            );
            push(
                &|| format!("model_per_team:{}:{model}", t.team_id),
                model_limit(&t.metadata, "model_rpm_limit", model),
                model_limit(&t.metadata, "model_tpm_limit", model),
                None,
            );
        }
        if let Some(m) = &a.membership {
            push(
                &|| format!("team_member:{}:{}", m.team_id, m.user_id),
                m.rpm_limit,
                m.tpm_limit,
                None,
            );
        }
        if let (Some(o), Some(b)) = (&a.org, &a.org_budget) {
            push(
                &|| format!("organization:{}", o.organization_id),
                b.rpm_limit,
                b.tpm_limit,
                b.max_parallel_requests,
            );
        }
    }
    if let Some(c) = s.customer {
        if let Some(b) = &c.budget {
            push(
                &|| format!("end_user:{}", c.record.user_id),
                b.rpm_limit,
                b.tpm_limit,
                b.max_parallel_requests,
            );
        }
    }
    out
}

fn model_limit(metadata: &JsonMap, field: &str, model: &str) -> Option<i64> {
    metadata.get(field)?.get(model).and_then(Value::as_i64)
}

/// The 429 of a refusal, in LiteLLM's words.
pub fn refused(r: &Refusal) -> Error {
    let (descriptor, value) = r.key.split_once(':').unwrap_or((&r.key, ""));
    let secs = r.retry_after.as_secs().max(1);
    let resets = Utc
        .timestamp_opt(
            Utc::now().timestamp() + i64::try_from(secs).unwrap_or(60),
            0,
        )
        .single()
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default();
    Error::RateLimited {
        message: format!(
            "Rate limit exceeded for {descriptor}: {value}. Limit type: {}. Current limit: {}, Remaining: 0. Limit resets at: {resets}",
            r.kind.as_str(),
            r.limit
        ),
        retry_after: secs,
        limit_type: r.kind.as_str(),
    }
}
