//! The budget and rate-limit checks of one inference request, from what auth resolved: the key
//! with its user, team, membership and organization, the customer named in the request, and
//! the gateway-wide budget.

use chrono::{TimeZone, Utc};
use serde_json::Value;
use tollgate_store::{BudgetRecord, CustomerRecord, JsonMap};

use super::ledger::Ledger;
use super::rate::{Limit, Refusal};
use super::Entity;
use crate::auth::KeyAuth;
use crate::http::Error;

/// Where budget checks read spend: this replica's [`Ledger`], or a view that adds the spend of
/// other replicas.
pub trait SpendView {
    /// Current spend of an entity whose stored spend is `stored`.
    fn spend(&self, entity: &Entity, stored: f64) -> f64;
}

impl SpendView for Ledger {
    fn spend(&self, entity: &Entity, stored: f64) -> f64 {
        self.current(entity, stored)
    }
}

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

/// Refuses when any budget on the request's path is spent (`spend >= max_budget`: the call that
/// crosses a budget is allowed, later ones are not).
pub fn check_budgets(
    ledger: &dyn SpendView,
    s: &Subject<'_>,
    global_max: Option<f64>,
) -> Result<(), Error> {
    if let Some(max) = global_max {
        let spend = ledger.spend(&Entity::Global, 0.0);
        if spend >= max {
            return Err(Error::BudgetExceeded(format!(
                "ExceededBudget: The gateway has exceeded its budget. Current spend: {spend}; Max Budget: {max}"
            )));
        }
    }
    if let Some(a) = s.auth {
        check_key_path(ledger, a)?;
    }
    if let Some(c) = s.customer {
        let max = c.budget.as_ref().and_then(|b| b.max_budget);
        let id = &c.record.user_id;
        over(
            ledger,
            Entity::Customer(id.clone()),
            c.record.spend,
            max,
            |spend, max| {
                format!("ExceededBudget: End User={id} over budget. Spend={spend}, Budget={max}")
            },
        )?;
    }
    Ok(())
}

fn check_key_path(ledger: &dyn SpendView, a: &KeyAuth) -> Result<(), Error> {
    let k = &a.key;
    let key_max = k
        .max_budget
        .or_else(|| a.key_budget.as_ref().and_then(|b| b.max_budget));
    over(
        ledger,
        Entity::Key(k.key_id.clone()),
        k.spend,
        key_max,
        |spend, max| {
            let alias = k.key_alias.as_deref().unwrap_or("key");
            let name = k.key_name.as_deref().unwrap_or("");
            format!("Budget has been exceeded! Key={alias} ({name}) Current cost: {spend}, Max budget: {max}")
        },
    )?;
    if let Some(u) = &a.user {
        let id = &u.user_id;
        over(
            ledger,
            Entity::User(id.clone()),
            u.spend,
            u.max_budget,
            |spend, max| {
                format!("ExceededBudget: User={id} over budget. Spend={spend}, Budget={max}")
            },
        )?;
    }
    if let Some(t) = &a.team {
        let id = &t.team_id;
        over(
            ledger,
            Entity::Team(id.clone()),
            t.spend,
            t.max_budget,
            |spend, max| {
                format!(
                    "Budget has been exceeded! Team={id} Current cost: {spend}, Max budget: {max}"
                )
            },
        )?;
    }
    if let Some(m) = &a.membership {
        let (team, user) = (&m.team_id, &m.user_id);
        let entity = Entity::Member {
            team: team.clone(),
            user: user.clone(),
        };
        over(
            ledger,
            entity,
            m.spend,
            m.max_budget_in_team,
            |spend, max| {
                format!("Budget has been exceeded! User={user} in Team={team} Current cost: {spend}, Max budget: {max}")
            },
        )?;
    }
    if let Some(o) = &a.org {
        let max = a.org_budget.as_ref().and_then(|b| b.max_budget);
        let id = &o.organization_id;
        over(
            ledger,
            Entity::Org(id.clone()),
            o.spend,
            max,
            |spend, max| {
                format!("Budget has been exceeded! Organization={id} Current cost: {spend}, Max budget: {max}")
            },
        )?;
    }
    Ok(())
}

fn over(
    ledger: &dyn SpendView,
    entity: Entity,
    stored: f64,
    max: Option<f64>,
    message: impl FnOnce(f64, f64) -> String,
) -> Result<(), Error> {
    let Some(max) = max else { return Ok(()) };
    let spend = ledger.spend(&entity, stored);
    if spend >= max {
        return Err(Error::BudgetExceeded(message(spend, max)));
    }
    Ok(())
}

/// The rate limits that apply to a request for `model`.
pub fn rate_limits(s: &Subject<'_>, model: &str) -> Vec<Limit> {
    let mut out = Vec::new();
    let mut push = |key: String, rpm: Option<i64>, tpm: Option<i64>, parallel: Option<i64>| {
        let pos = |v: Option<i64>| v.and_then(|v| u64::try_from(v).ok());
        if rpm.is_some() || tpm.is_some() || parallel.is_some() {
            out.push(Limit {
                key,
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
            format!("api_key:{}", k.key_id),
            k.rpm_limit.or(kb.and_then(|b| b.rpm_limit)),
            k.tpm_limit.or(kb.and_then(|b| b.tpm_limit)),
            k.max_parallel_requests
                .or(kb.and_then(|b| b.max_parallel_requests)),
        );
        push(
            format!("model_per_key:{}:{model}", k.key_id),
            model_limit(&k.metadata, "model_rpm_limit", model),
            model_limit(&k.metadata, "model_tpm_limit", model),
            None,
        );
        if let Some(u) = &a.user {
            push(
                format!("user:{}", u.user_id),
                u.rpm_limit,
                u.tpm_limit,
                u.max_parallel_requests,
            );
        }
        if let Some(t) = &a.team {
            push(
                format!("team:{}", t.team_id),
                t.rpm_limit,
                t.tpm_limit,
                t.max_parallel_requests,
            );
            push(
                format!("model_per_team:{}:{model}", t.team_id),
                model_limit(&t.metadata, "model_rpm_limit", model),
                model_limit(&t.metadata, "model_tpm_limit", model),
                None,
            );
        }
        if let Some(m) = &a.membership {
            push(
                format!("team_member:{}:{}", m.team_id, m.user_id),
                m.rpm_limit,
                m.tpm_limit,
                None,
            );
        }
        if let (Some(o), Some(b)) = (&a.org, &a.org_budget) {
            push(
                format!("organization:{}", o.organization_id),
                b.rpm_limit,
                b.tpm_limit,
                b.max_parallel_requests,
            );
        }
    }
    if let Some(c) = s.customer {
        if let Some(b) = &c.budget {
            push(
                format!("end_user:{}", c.record.user_id),
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
