//! The budget-reset job: every so often, entities whose `budget_reset_at` has passed get their
//! spend set to 0 and their next calendar-aligned reset time. The store's compare-and-set makes
//! a reset happen once even when several replicas run the job.

use std::time::Duration;

use chrono::Utc;
use tollgate_store::{BudgetRecord, CustomerRecord, Kind, OrgRecord, StoreError, Write};

use crate::limits::period;
use crate::limits::Entity;
use crate::state::AppState;

const KINDS: [Kind; 6] = [
    Kind::Key,
    Kind::User,
    Kind::Team,
    Kind::TeamMember,
    Kind::Org,
    Kind::Customer,
];

/// Runs the job forever, every `every`.
pub async fn run(state: AppState, every: Duration) {
    let mut tick = tokio::time::interval(every.max(Duration::from_secs(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match reset_due(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(reset = n, "budgets reset"),
            Err(e) => tracing::warn!("budget reset failed, will retry: {e}"),
        }
    }
}

/// Resets every due budget once; returns how many.
pub async fn reset_due(state: &AppState) -> Result<usize, StoreError> {
    let now = Utc::now();
    let mut count = 0;
    for kind in KINDS {
        for due in state.store.due_budget_resets(kind, now).await? {
            let duration = match due.budget_duration {
                Some(d) => Some(d),
                None => linked_duration(state, kind, &due.pk).await?,
            };
            let next = duration
                .as_deref()
                .and_then(|d| period::parse(d).ok())
                .map(|p| p.next_reset(now));
            let pk = due.pk;
            state
                .store
                .apply(vec![Write::ResetBudget {
                    kind,
                    pk: pk.clone(),
                    expected_reset_at: Some(due.budget_reset_at),
                    next_reset_at: next,
                }])
                .await?;
            if let Some(e) = entity(kind, &pk) {
                state.set_spend(&e, 0.0).await;
            }
            count += 1;
        }
    }
    if count > 0 {
        state.keys.invalidate_all();
        state.customers.invalidate_all();
    }
    Ok(count)
}

/// Organizations and customers take their budget duration from their linked budget.
async fn linked_duration(
    state: &AppState,
    kind: Kind,
    pk: &[String],
) -> Result<Option<String>, StoreError> {
    let id = pk.first().map(String::as_str).unwrap_or_default();
    let budget_id = match kind {
        Kind::Org => state
            .store
            .get::<OrgRecord>(&[id])
            .await?
            .map(|o| o.budget_id),
        Kind::Customer => state
            .store
            .get::<CustomerRecord>(&[id])
            .await?
            .and_then(|c| c.budget_id),
        _ => None,
    };
    let Some(budget_id) = budget_id else {
        return Ok(None);
    };
    Ok(state
        .store
        .get::<BudgetRecord>(&[&budget_id])
        .await?
        .and_then(|b| b.budget_duration))
}

fn entity(kind: Kind, pk: &[String]) -> Option<Entity> {
    let id = pk.first()?.clone();
    Some(match kind {
        Kind::Key => Entity::Key(id),
        Kind::User => Entity::User(id),
        Kind::Team => Entity::Team(id),
        Kind::TeamMember => Entity::Member {
            team: id,
            user: pk.get(1)?.clone(),
        },
        Kind::Org => Entity::Org(id),
        Kind::Customer => Entity::Customer(id),
        _ => return None,
    })
}
