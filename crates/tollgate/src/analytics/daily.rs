//! `/{user,team,organization,customer,tag}/daily/activity` and their `/aggregated` forms.
//! Each reads the daily aggregates, keeps the caller to what it may see, and fills every API
//! key's alias and team through the token history ([`Lookups`]), so deleted and regenerated keys
//! keep theirs. The days are answered as they are read ([`Answer`]).

use axum::extract::State;
use chrono::{Days, NaiveDate};
use serde::Deserialize;
use tollgate_store::{DailyQuery, EntityType, OrgMember, Query, TeamMember};

use super::lookups::Lookups;
use super::write::Answer;
use crate::admin::common::comma_list;
use crate::auth::{keys, Principal};
use crate::http::{Error, Params, Result};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DailyParams {
    start_date: Option<String>,
    end_date: Option<String>,
    model: Option<String>,
    api_key: Option<String>,
    user_id: Option<String>,
    team_ids: Option<String>,
    exclude_team_ids: Option<String>,
    organization_ids: Option<String>,
    end_user_ids: Option<String>,
    tags: Option<String>,
    page: Option<u32>,
    page_size: Option<u32>,
    /// Minutes west of UTC, as JavaScript's `getTimezoneOffset` gives them.
    timezone: Option<i64>,
}

macro_rules! endpoints {
    ($($paginated:ident, $aggregated:ident => $kind:expr;)*) => {$(
        pub async fn $paginated(State(s): State<AppState>, p: Principal, Params(q): Params<DailyParams>) -> Result<Answer> {
            activity(&s, &p, q, $kind, false).await
        }
        pub async fn $aggregated(State(s): State<AppState>, p: Principal, Params(q): Params<DailyParams>) -> Result<Answer> {
            activity(&s, &p, q, $kind, true).await
        }
    )*};
}

endpoints! {
    user, user_aggregated => EntityType::User;
    team, team_aggregated => EntityType::Team;
    organization, organization_aggregated => EntityType::Organization;
    customer, customer_aggregated => EntityType::Customer;
    tag, tag_aggregated => EntityType::Tag;
}

fn date(field: &str, v: Option<&str>) -> Result<NaiveDate> {
    let Some(v) = v else {
        return Err(Error::bad_field(
            field,
            "Please provide start_date and end_date",
        ));
    };
    NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| {
        Error::bad_field(
            field,
            format!("{field} must be a date like 2026-01-31, got {v:?}"),
        )
    })
}

/// The inclusive date range, widened by a day on the side a timezone offset reaches into.
fn range(q: &DailyParams) -> Result<(String, String)> {
    let mut start = date("start_date", q.start_date.as_deref())?;
    let mut end = date("end_date", q.end_date.as_deref())?;
    if end < start {
        return Err(Error::bad_field(
            "end_date",
            "end_date is before start_date",
        ));
    }
    match q.timezone.unwrap_or(0) {
        tz if tz > 0 => end = end.checked_add_days(Days::new(1)).unwrap_or(end),
        tz if tz < 0 => start = start.checked_sub_days(Days::new(1)).unwrap_or(start),
        _ => {}
    }
    Ok((start.to_string(), end.to_string()))
}

async fn activity(
    state: &AppState,
    p: &Principal,
    q: DailyParams,
    kind: EntityType,
    aggregated: bool,
) -> Result<Answer> {
    let (start_date, end_date) = range(&q)?;
    let (ids, exclude) = scope(state, p, &q, kind).await?;
    let query = DailyQuery {
        entity_type: kind,
        entity_ids: ids,
        exclude_entity_ids: exclude,
        start_date,
        end_date,
        model: q.model.clone(),
        api_key: q.api_key.as_deref().map(keys::to_hash),
        group_by_entity: !aggregated,
    };
    let mut days = state.store.daily_spend_days(&query).await?;
    // The first day is read and its keys and entities looked up before the answer starts, so
    // that a failing database is still an error status rather than a cut-off answer.
    let first = days.next().await.transpose()?;
    let mut lookups = Lookups::new(state.clone(), kind, !aggregated);
    if let Some(rows) = &first {
        lookups.fill(rows).await?;
    }
    let page = (!aggregated).then(|| {
        let size = q.page_size.unwrap_or(50).clamp(1, 1000);
        (q.page.unwrap_or(1).max(1), size)
    });
    Ok(Answer {
        first,
        days,
        lookups,
        page,
    })
}

/// Which entities the caller may see: `(only these, except these)`.
async fn scope(
    state: &AppState,
    p: &Principal,
    q: &DailyParams,
    kind: EntityType,
) -> Result<(Vec<String>, Vec<String>)> {
    let uid = p.user_id.clone().unwrap_or_default();
    match kind {
        EntityType::User => match (&q.user_id, p.sees_all()) {
            (Some(u), true) => Ok((vec![u.clone()], vec![])),
            (None, true) => Ok((vec![], vec![])),
            (Some(u), false) if *u != uid => Err(Error::Forbidden(
                "Non-admin users can only view their own spend data.".into(),
            )),
            _ => Ok((vec![uid], vec![])),
        },
        EntityType::Team => {
            let asked = comma_list(q.team_ids.as_deref());
            let exclude = comma_list(q.exclude_team_ids.as_deref());
            if p.sees_all() {
                return Ok((asked, exclude));
            }
            let mine = state
                .store
                .list::<TeamMember>(&Query::default().eq("user_id", uid.as_str()))
                .await?;
            let mine: Vec<String> = mine.items.into_iter().map(|m| m.team_id).collect();
            restrict(asked, mine, "teams you belong to").map(|ids| (ids, exclude))
        }
        EntityType::Organization => {
            let asked = comma_list(q.organization_ids.as_deref());
            if p.sees_all() {
                return Ok((asked, vec![]));
            }
            let mine = state
                .store
                .list::<OrgMember>(&Query::default().eq("user_id", uid.as_str()))
                .await?;
            let admin_of = mine
                .items
                .into_iter()
                .filter(|m| m.user_role == "org_admin")
                .map(|m| m.organization_id)
                .collect();
            restrict(asked, admin_of, "organizations you administer").map(|ids| (ids, vec![]))
        }
        EntityType::Customer => {
            if !p.sees_all() {
                return Err(Error::Forbidden(
                    "Only admins can view customer spend.".into(),
                ));
            }
            Ok((comma_list(q.end_user_ids.as_deref()), vec![]))
        }
        EntityType::Tag => Ok((comma_list(q.tags.as_deref()), vec![])),
    }
}

/// Non-admins: the asked ids must be theirs; asking for none means all of theirs.
fn restrict(asked: Vec<String>, mine: Vec<String>, what: &str) -> Result<Vec<String>> {
    if let Some(other) = asked.iter().find(|a| !mine.contains(a)) {
        return Err(Error::Forbidden(format!(
            "You can only view spend of {what}; {other} is not one of them."
        )));
    }
    if asked.is_empty() {
        // An empty list would mean "all"; a caller with nothing gets a list that matches nothing.
        return Ok(if mine.is_empty() {
            vec![String::new()]
        } else {
            mine
        });
    }
    Ok(asked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timezone_widens_the_range() {
        let q = |tz| DailyParams {
            start_date: Some("2026-01-10".into()),
            end_date: Some("2026-01-12".into()),
            timezone: Some(tz),
            ..DailyParams::default()
        };
        assert_eq!(
            range(&q(0)).unwrap(),
            ("2026-01-10".into(), "2026-01-12".into())
        );
        assert_eq!(
            range(&q(300)).unwrap(),
            ("2026-01-10".into(), "2026-01-13".into())
        );
        assert_eq!(
            range(&q(-60)).unwrap(),
            ("2026-01-09".into(), "2026-01-12".into())
        );
        assert!(range(&DailyParams::default())
            .unwrap_err()
            .to_string()
            .contains("Please provide start_date and end_date"));
    }
}
