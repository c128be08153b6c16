//! Every record kind survives insert, get, update and delete exactly.

use std::fmt::Debug;

use serde_json::json;
use tollgate_store::*;

use crate::common::*;

/// Inserts `record`, reads it back, updates it with `change` applied, reads it back, deletes it.
async fn round_trip<R>(ctx: &Ctx, record: R, change: impl FnOnce(&mut R))
where
    R: Record + PartialEq + Debug + Clone,
{
    let pk = record.pk();
    let pk: Vec<&str> = pk.iter().map(String::as_str).collect();
    assert_eq!(ctx.get::<R>(&pk).await, None);

    ctx.ok(vec![ins(&record)]).await;
    assert_eq!(ctx.get::<R>(&pk).await, Some(record.clone()));

    let mut changed = record.clone();
    change(&mut changed);
    assert_ne!(changed, record);
    ctx.ok(vec![upd(&changed)]).await;
    assert_eq!(ctx.get::<R>(&pk).await, Some(changed.clone()));

    ctx.ok(vec![Write::delete(&changed)]).await;
    assert_eq!(ctx.get::<R>(&pk).await, None);
}

pub async fn key_round_trip(ctx: &Ctx) {
    round_trip(ctx, key("k1"), |k| {
        k.key_alias = None;
        k.team_id = None;
        k.models.clear();
        k.metadata = map(json!({"changed": true}));
        k.expires = None;
        k.rotation_count = 3;
    })
    .await;
}

pub async fn team_round_trip(ctx: &Ctx) {
    round_trip(ctx, team("t1"), |t| {
        t.team_alias = Some("renamed".into());
        t.blocked = false;
        t.budget_reset_at = None;
    })
    .await;
}

pub async fn team_member_round_trip(ctx: &Ctx) {
    round_trip(ctx, team_member("t1", "u1"), |m| {
        m.role = "user".into();
        m.max_budget_in_team = None;
    })
    .await;
}

pub async fn user_round_trip(ctx: &Ctx) {
    round_trip(ctx, user("u1"), |u| {
        u.user_email = None;
        u.user_role = "proxy_admin".into();
    })
    .await;
}

pub async fn org_round_trip(ctx: &Ctx) {
    round_trip(ctx, org("o1"), |o| {
        o.organization_alias = "Renamed".into();
        o.budget_id = "b2".into();
    })
    .await;
}

pub async fn org_member_round_trip(ctx: &Ctx) {
    round_trip(ctx, org_member("o1", "u1"), |m| {
        m.user_role = "internal_user".into();
        m.user_email = None;
    })
    .await;
}

pub async fn customer_round_trip(ctx: &Ctx) {
    round_trip(ctx, customer("c1"), |c| {
        c.blocked = false;
        c.default_model = None;
    })
    .await;
}

pub async fn budget_round_trip(ctx: &Ctx) {
    round_trip(ctx, budget("b1"), |b| {
        b.max_budget = Some(0.1);
        b.model_max_budget = JsonMap::new();
    })
    .await;
}
