//! `/team/member_add`, `/team/member_delete`, `/team/member_update`.

use axum::extract::State;
use axum::Json;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Value};
use tollgate_store::{Kind, TeamMember, Write};

use super::crud::new_member;
use super::{
    check_team_admin, get_team, members, one_or_many, render, render_membership, resolve_user,
    MemberRef,
};
use crate::admin::common::{check_limit, check_money, to_value, Actor};
use crate::http::{Body, Error, Patch, Result};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct MemberAdd {
    team_id: String,
    #[serde(deserialize_with = "one_or_many")]
    member: Vec<MemberRef>,
    #[serde(default)]
    max_budget_in_team: Option<f64>,
}

/// POST /team/member_add: creates missing users.
pub async fn member_add(
    State(state): State<AppState>,
    actor: Actor,
    Body(req): Body<MemberAdd>,
) -> Result<Json<Value>> {
    check_money("max_budget_in_team", req.max_budget_in_team)?;
    let team = get_team(&state, &req.team_id).await?;
    check_team_admin(&state, &actor.principal, &team).await?;
    let existing = members(&state, &team.team_id).await?;
    let now = Utc::now();
    let mut batch = Vec::new();
    let (mut users, mut added) = (Vec::new(), Vec::new());
    for m in &req.member {
        let (user, is_new) = resolve_user(&state, m, true, now).await?;
        if existing
            .iter()
            .chain(&added)
            .any(|e: &TeamMember| e.user_id == user.user_id)
        {
            return Err(Error::bad_field(
                "member",
                format!(
                    "User {} is already a member of team {}",
                    user.user_id, team.team_id
                ),
            ));
        }
        if is_new {
            batch.push(Write::insert(&user)?);
        }
        let mut member = new_member(&team.team_id, &user, m.role.as_deref(), now)?;
        member.max_budget_in_team = req.max_budget_in_team;
        batch.push(Write::insert(&member)?);
        batch.push(actor.audit(
            "member_added",
            Kind::Team,
            &team.team_id,
            None,
            Some(to_value(&member)?),
        ));
        users.push(user);
        added.push(member);
    }
    state.store.apply(batch).await?;
    state.changed(crate::changes::Change::Team {
        id: team.team_id.clone(),
    });
    let all = members(&state, &team.team_id).await?;
    let mut out = render(&team, &all)?;
    out.insert("updated_users".into(), to_value(&users)?);
    out.insert(
        "updated_team_memberships".into(),
        Value::from(
            added
                .iter()
                .map(render_membership)
                .collect::<Result<Vec<_>>>()?,
        ),
    );
    Ok(Json(Value::Object(out)))
}

#[derive(Debug, Deserialize)]
pub struct MemberRefReq {
    team_id: String,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    user_email: Option<String>,
}

impl MemberRefReq {
    fn who(&self) -> MemberRef {
        MemberRef {
            user_id: self.user_id.clone(),
            user_email: self.user_email.clone(),
            role: None,
        }
    }
}

async fn find_member(state: &AppState, team_id: &str, who: &MemberRef) -> Result<TeamMember> {
    let all = members(state, team_id).await?;
    let found = all
        .into_iter()
        .find(|m| match (&who.user_id, &who.user_email) {
            (Some(id), _) if !id.is_empty() => &m.user_id == id,
            (_, Some(email)) => m.user_email.as_deref() == Some(email.as_str()),
            _ => false,
        });
    if who.user_id.is_none() && who.user_email.is_none() {
        return Err(Error::bad_field("user_id", "Pass user_id or user_email"));
    }
    found.ok_or_else(|| Error::NotFound(format!("User is not a member of team {team_id}")))
}

/// POST /team/member_delete
pub async fn member_delete(
    State(state): State<AppState>,
    actor: Actor,
    Body(req): Body<MemberRefReq>,
) -> Result<Json<Value>> {
    let team = get_team(&state, &req.team_id).await?;
    check_team_admin(&state, &actor.principal, &team).await?;
    let member = find_member(&state, &team.team_id, &req.who()).await?;
    state
        .store
        .apply(vec![
            Write::delete(&member),
            actor.audit(
                "member_deleted",
                Kind::Team,
                &team.team_id,
                Some(to_value(&member)?),
                None,
            ),
        ])
        .await?;
    state.changed(crate::changes::Change::Team {
        id: team.team_id.clone(),
    });
    let all = members(&state, &team.team_id).await?;
    Ok(Json(Value::Object(render(&team, &all)?)))
}

#[derive(Debug, Deserialize)]
pub struct MemberUpdate {
    team_id: String,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    user_email: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    max_budget_in_team: Patch<f64>,
    #[serde(default)]
    budget_duration: Patch<String>,
    #[serde(default)]
    tpm_limit: Patch<i64>,
    #[serde(default)]
    rpm_limit: Patch<i64>,
}

/// POST /team/member_update
pub async fn member_update(
    State(state): State<AppState>,
    actor: Actor,
    Body(req): Body<MemberUpdate>,
) -> Result<Json<Value>> {
    check_money(
        "max_budget_in_team",
        req.max_budget_in_team.value().copied(),
    )?;
    check_limit("tpm_limit", req.tpm_limit.value().copied())?;
    check_limit("rpm_limit", req.rpm_limit.value().copied())?;
    let team = get_team(&state, &req.team_id).await?;
    check_team_admin(&state, &actor.principal, &team).await?;
    let who = MemberRef {
        user_id: req.user_id.clone(),
        user_email: req.user_email.clone(),
        role: None,
    };
    let mut member = find_member(&state, &team.team_id, &who).await?;
    let before = to_value(&member)?;
    if let Some(role) = req.role.as_deref() {
        if !crate::auth::role::TEAM_ROLES.contains(&role) {
            return Err(Error::bad_field(
                "role",
                format!("Invalid team role '{role}': use admin or user"),
            ));
        }
        member.role = role.to_owned();
    }
    if let Some(d) = req.budget_duration.into_change() {
        member.budget_reset_at =
            crate::admin::common::reset_at("budget_duration", d.as_deref(), Utc::now())?;
        member.budget_duration = d;
    }
    req.max_budget_in_team
        .apply_to(&mut member.max_budget_in_team);
    req.tpm_limit.apply_to(&mut member.tpm_limit);
    req.rpm_limit.apply_to(&mut member.rpm_limit);
    state
        .store
        .apply(vec![
            Write::update(&member)?,
            actor.audit(
                "member_updated",
                Kind::Team,
                &team.team_id,
                Some(before),
                Some(to_value(&member)?),
            ),
        ])
        .await?;
    state.changed(crate::changes::Change::Team {
        id: team.team_id.clone(),
    });
    Ok(Json(json!({
        "team_id": member.team_id,
        "user_id": member.user_id,
        "user_email": member.user_email,
        "role": member.role,
        "max_budget_in_team": member.max_budget_in_team,
        "budget_duration": member.budget_duration,
        "tpm_limit": member.tpm_limit,
        "rpm_limit": member.rpm_limit,
    })))
}
