//! `/organization/member_add`, `/organization/member_update`, `/organization/member_delete`.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use tollgate_store::{Kind, OrgMember, OrgRecord, Query, UserRecord, Write};

use super::{check_org_admin, get_org, member_object_id, members_of, render_membership};
use crate::admin::common::{check_money, to_value, Actor};
use crate::admin::teams::{one_or_many, resolve_user, MemberRef};
use crate::auth::role::ORG_ROLES;
use crate::http::{Body, Error, Patch, Result};
use crate::state::AppState;

/// The role a member gets: `internal_user` unless given; one of [`ORG_ROLES`].
fn org_role(role: Option<&str>) -> Result<String> {
    let role = role.unwrap_or("internal_user");
    if !ORG_ROLES.contains(&role) {
        return Err(Error::bad_field(
            "role",
            format!(
                "Invalid organization role '{role}': use one of {}",
                ORG_ROLES.join(", ")
            ),
        ));
    }
    Ok(role.to_owned())
}

#[derive(Debug, Deserialize)]
pub struct MemberAdd {
    organization_id: String,
    #[serde(deserialize_with = "one_or_many")]
    member: Vec<MemberRef>,
    #[serde(default)]
    max_budget_in_organization: Option<f64>,
}

fn new_membership(
    org: &OrgRecord,
    user: &UserRecord,
    role: String,
    max_budget: Option<f64>,
    now: DateTime<Utc>,
) -> OrgMember {
    OrgMember {
        organization_id: org.organization_id.clone(),
        user_id: user.user_id.clone(),
        user_role: role,
        user_email: user.user_email.clone(),
        spend: 0.0,
        max_budget_in_organization: max_budget,
        created_at: now,
        updated_at: now,
    }
}

/// Writes that create the user, or point an existing user without an organization at this one.
fn user_writes(
    actor: &Actor,
    user: &mut UserRecord,
    is_new: bool,
    organization_id: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Write>> {
    if is_new {
        user.organization_id = Some(organization_id.to_owned());
        return Ok(vec![
            Write::insert(&*user)?,
            actor.audit(
                "created",
                Kind::User,
                &user.user_id,
                None,
                Some(to_value(&*user)?),
            ),
        ]);
    }
    if user.organization_id.is_some() {
        return Ok(Vec::new());
    }
    let before = to_value(&*user)?;
    user.organization_id = Some(organization_id.to_owned());
    user.updated_at = now;
    Ok(vec![
        Write::update(&*user)?,
        actor.audit(
            "updated",
            Kind::User,
            &user.user_id,
            Some(before),
            Some(to_value(&*user)?),
        ),
    ])
}

/// POST /organization/member_add: creates missing users; a user already in the organization
/// is a 400.
pub async fn member_add(
    State(state): State<AppState>,
    actor: Actor,
    Body(req): Body<MemberAdd>,
) -> Result<Json<Value>> {
    check_money("max_budget_in_organization", req.max_budget_in_organization)?;
    if req.member.is_empty() {
        return Err(Error::bad_field("member", "Pass at least one member"));
    }
    let org = get_org(&state, &req.organization_id).await?;
    check_org_admin(&state, &actor.principal, &org.organization_id).await?;
    let existing = members_of(&state, &org.organization_id).await?;
    let now = Utc::now();
    let (mut batch, mut users, mut added) = (Vec::new(), Vec::new(), Vec::<OrgMember>::new());
    for m in &req.member {
        let role = org_role(m.role.as_deref())?;
        let (mut user, is_new) = resolve_user(&state, m, true, now).await?;
        let twice = |e: &OrgMember| {
            e.user_id == user.user_id
                || (is_new && e.user_email.is_some() && e.user_email == user.user_email)
        };
        if existing.iter().chain(&added).any(twice) {
            return Err(Error::bad_field(
                "member",
                format!(
                    "User {} is already a member of organization {}",
                    m.user_id
                        .clone()
                        .or(m.user_email.clone())
                        .unwrap_or_default(),
                    org.organization_id
                ),
            ));
        }
        batch.extend(user_writes(
            &actor,
            &mut user,
            is_new,
            &org.organization_id,
            now,
        )?);
        let member = new_membership(&org, &user, role, req.max_budget_in_organization, now);
        batch.push(Write::insert(&member)?);
        batch.push(actor.audit(
            "created",
            Kind::OrgMember,
            &member_object_id(&member),
            None,
            Some(to_value(&member)?),
        ));
        users.push(user);
        added.push(member);
    }
    state.store.apply(batch).await?;
    for u in &users {
        state.changed(crate::changes::Change::User {
            id: u.user_id.clone(),
        });
    }
    Ok(Json(json!({
        "organization_id": org.organization_id,
        "updated_users": to_value(&users)?,
        "updated_organization_memberships": added.iter().map(render_membership).collect::<Result<Vec<_>>>()?,
    })))
}

/// The membership a request names by `user_id` or `user_email`; 404 when not a member.
async fn find_member(
    state: &AppState,
    organization_id: &str,
    who: &MemberRef,
) -> Result<OrgMember> {
    let not_member = || {
        Error::NotFound(format!(
            "User {} is not a member of organization {organization_id}",
            who.user_id
                .clone()
                .or(who.user_email.clone())
                .unwrap_or_default()
        ))
    };
    if let Some(uid) = who.user_id.as_deref().filter(|s| !s.is_empty()) {
        return state
            .store
            .get::<OrgMember>(&[organization_id, uid])
            .await?
            .ok_or_else(not_member);
    }
    let Some(email) = who.user_email.as_deref().filter(|s| !s.is_empty()) else {
        return Err(Error::bad_field("user_id", "Pass user_id or user_email"));
    };
    let members = members_of(state, organization_id).await?;
    if let Some(m) = members
        .iter()
        .find(|m| m.user_email.as_deref() == Some(email))
    {
        return Ok(m.clone());
    }
    let q = Query::default().eq("user_email", email);
    let users = state.store.list::<UserRecord>(&q).await?.items;
    members
        .into_iter()
        .find(|m| users.iter().any(|u| u.user_id == m.user_id))
        .ok_or_else(not_member)
}

#[derive(Debug, Deserialize)]
pub struct MemberUpdate {
    organization_id: String,
    #[serde(flatten)]
    who: MemberRef,
    #[serde(default)]
    max_budget_in_organization: Patch<f64>,
}

/// PATCH /organization/member_update: role and budget of one member; answers the membership.
pub async fn member_update(
    State(state): State<AppState>,
    actor: Actor,
    Body(req): Body<MemberUpdate>,
) -> Result<Json<Value>> {
    check_money(
        "max_budget_in_organization",
        req.max_budget_in_organization.value().copied(),
    )?;
    let org = get_org(&state, &req.organization_id).await?;
    check_org_admin(&state, &actor.principal, &org.organization_id).await?;
    let mut member = find_member(&state, &org.organization_id, &req.who).await?;
    let before = to_value(&member)?;
    if let Some(role) = req.who.role.as_deref() {
        member.user_role = org_role(Some(role))?;
    }
    req.max_budget_in_organization
        .apply_to(&mut member.max_budget_in_organization);
    member.updated_at = Utc::now();
    state
        .store
        .apply(vec![
            Write::update(&member)?,
            actor.audit(
                "updated",
                Kind::OrgMember,
                &member_object_id(&member),
                Some(before),
                Some(to_value(&member)?),
            ),
        ])
        .await?;
    state.changed(crate::changes::Change::User {
        id: member.user_id.clone(),
    });
    Ok(Json(render_membership(&member)?))
}

#[derive(Debug, Deserialize)]
pub struct MemberDelete {
    organization_id: String,
    #[serde(flatten)]
    who: MemberRef,
}

/// DELETE /organization/member_delete: answers the deleted membership with `"deleted": true`.
pub async fn member_delete(
    State(state): State<AppState>,
    actor: Actor,
    Body(req): Body<MemberDelete>,
) -> Result<Json<Value>> {
    let org = get_org(&state, &req.organization_id).await?;
    check_org_admin(&state, &actor.principal, &org.organization_id).await?;
    let member = find_member(&state, &org.organization_id, &req.who).await?;
    let mut batch = vec![
        Write::delete(&member),
        actor.audit(
            "deleted",
            Kind::OrgMember,
            &member_object_id(&member),
            Some(to_value(&member)?),
            None,
        ),
    ];
    if let Some(mut user) = state.store.get::<UserRecord>(&[&member.user_id]).await? {
        if user.organization_id.as_deref() == Some(org.organization_id.as_str()) {
            let before = to_value(&user)?;
            user.organization_id = None;
            user.updated_at = Utc::now();
            batch.push(Write::update(&user)?);
            batch.push(actor.audit(
                "updated",
                Kind::User,
                &user.user_id,
                Some(before),
                Some(to_value(&user)?),
            ));
        }
    }
    state.store.apply(batch).await?;
    state.changed(crate::changes::Change::User {
        id: member.user_id.clone(),
    });
    let mut out = match render_membership(&member)? {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    out.insert("deleted".into(), Value::Bool(true));
    Ok(Json(Value::Object(out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_default_to_internal_user_and_are_checked() {
        assert_eq!(org_role(None).unwrap(), "internal_user");
        assert_eq!(org_role(Some("org_admin")).unwrap(), "org_admin");
        let e = org_role(Some("admin")).unwrap_err();
        assert_eq!(e.status_code(), 400);
        assert!(e.to_string().contains("'admin'"));
    }

    #[test]
    fn member_accepts_one_or_many() {
        let one: MemberAdd = serde_json::from_value(
            serde_json::json!({"organization_id": "o", "member": {"user_id": "u", "role": "org_admin"}}),
        )
        .unwrap();
        assert_eq!(one.member.len(), 1);
        let many: MemberAdd = serde_json::from_value(
            serde_json::json!({"organization_id": "o", "member": [{"user_id": "u"}, {"user_email": "e@x"}]}),
        )
        .unwrap();
        assert_eq!(many.member.len(), 2);
    }
}
