//! Recording spend: idempotent replay, exact increments on every entity, missing entities,
//! customer creation, and concurrent writers.

use std::collections::HashMap;

use tollgate_store::*;

use crate::common::*;

/// Inserts key k1, user u1, team t1, member t1/u1, organization o1 and customer c1.
async fn entities(ctx: &Ctx) {
    ctx.ok(vec![
        ins(&key("k1")),
        ins(&user("u1")),
        ins(&team("t1")),
        ins(&team_member("t1", "u1")),
        ins(&org("o1")),
        ins(&customer("c1")),
    ])
    .await;
}

/// Current spend of each entity the fixture events charge, and of their tags and the gateway.
async fn spends(ctx: &Ctx) -> [f64; 9] {
    let tags = ctx.store.spend_counters("tag").await.unwrap();
    let global = ctx.store.spend_counters("global").await.unwrap();
    [
        ctx.get::<KeyRecord>(&["k1"]).await.unwrap().spend,
        ctx.get::<UserRecord>(&["u1"]).await.unwrap().spend,
        ctx.get::<TeamRecord>(&["t1"]).await.unwrap().spend,
        ctx.get::<TeamMember>(&["t1", "u1"]).await.unwrap().spend,
        ctx.get::<OrgRecord>(&["o1"]).await.unwrap().spend,
        ctx.get::<CustomerRecord>(&["c1"]).await.unwrap().spend,
        tags.get("prod").copied().unwrap_or(0.0),
        tags.get("blue").copied().unwrap_or(0.0),
        global.get("global").copied().unwrap_or(0.0),
    ]
}

fn assert_grew(before: [f64; 9], after: [f64; 9], by: f64) {
    for (b, a) in before.iter().zip(after) {
        assert_close(a, b + by);
    }
}

pub async fn replay_is_idempotent(ctx: &Ctx) {
    entities(ctx).await;
    let before = spends(ctx).await;
    let events: Vec<_> = (0..3)
        .map(|i| spend_event(&format!("r{i}"), 0.25, i))
        .collect();
    let first = record(ctx, &events).await;
    assert_eq!(
        first,
        RecordOutcome {
            inserted: 3,
            duplicates: 0
        }
    );
    let again = record(ctx, &events).await;
    assert_eq!(
        again,
        RecordOutcome {
            inserted: 0,
            duplicates: 3
        }
    );
    // Old and new mixed, and a request repeated inside one batch.
    let mixed = vec![
        events[2].clone(),
        spend_event("r3", 0.25, 3),
        spend_event("r3", 9.0, 3),
    ];
    let third = record(ctx, &mixed).await;
    assert_eq!(
        third,
        RecordOutcome {
            inserted: 1,
            duplicates: 2
        }
    );
    assert_grew(before, spends(ctx).await, 1.0);

    let user = daily_rows(ctx, daily(EntityType::User)).await;
    assert_eq!(user.len(), 1);
    assert_eq!(user[0].api_requests, 4);
    assert_close(user[0].spend, 1.0);
    let logs = ctx
        .store
        .spend_logs(&SpendLogQuery::default())
        .await
        .unwrap();
    assert_eq!(logs.len(), 4);
    assert_eq!(record(ctx, &[]).await, RecordOutcome::default());
}

pub async fn increments_land_exactly(ctx: &Ctx) {
    entities(ctx).await;
    let before = spends(ctx).await;
    let events: Vec<_> = (0..100)
        .map(|i| {
            spend_event(
                &format!("r{i}"),
                0.000_123_4 * f64::from(i) + 1e-7,
                i64::from(i),
            )
        })
        .collect();
    for batch in events.chunks(7) {
        record(ctx, batch).await;
    }
    let sum: f64 = events.iter().map(|e| e.spend).sum();
    assert_grew(before, spends(ctx).await, sum);
    // The fixture's other fields survive the increments.
    let k = ctx.get::<KeyRecord>(&["k1"]).await.unwrap();
    assert_eq!(
        KeyRecord {
            spend: key("k1").spend,
            ..k
        },
        key("k1")
    );
    let c = ctx.get::<CustomerRecord>(&["c1"]).await.unwrap();
    assert_eq!(c.alias, customer("c1").alias);
}

/// A batch naming a deleted key, and users, teams and organizations that do not exist, is
/// recorded: what exists is charged, the rest is skipped.
pub async fn missing_entities_do_not_fail_the_batch(ctx: &Ctx) {
    ctx.ok(vec![ins(&key("k1")), ins(&team("t1"))]).await;
    ctx.ok(vec![Write::delete(&key("k1"))]).await;
    let mut e = spend_event("r1", 0.5, 0);
    e.team_id = Some("t1".into());
    let mut other = spend_event("r2", 0.25, 0);
    other.key_id = Some("never-existed".into());
    other.team_id = Some("t9".into());
    let outcome = record(ctx, &[e, other]).await;
    assert_eq!(outcome.inserted, 2);
    assert_close(
        ctx.get::<TeamRecord>(&["t1"]).await.unwrap().spend,
        team("t1").spend + 0.5,
    );
    assert_eq!(ctx.get::<KeyRecord>(&["k1"]).await, None);
    assert_eq!(ctx.get::<TeamRecord>(&["t9"]).await, None);
    assert_eq!(ctx.get::<UserRecord>(&["u1"]).await, None);
    // Daily rows do not need the entity rows.
    let teams = daily_rows(
        ctx,
        DailyQuery {
            group_by_entity: true,
            ..daily(EntityType::Team)
        },
    )
    .await;
    let ids: Vec<_> = teams
        .iter()
        .filter_map(|r| r.entity_id.as_deref())
        .collect();
    assert_eq!(ids, ["t1", "t9"]);
}

pub async fn customers_are_created_on_first_spend(ctx: &Ctx) {
    ctx.ok(vec![ins(&customer("c1"))]).await;
    let mut e = spend_event("r1", 0.75, 0);
    e.end_user = Some("new-customer".into());
    let before = chrono::Utc::now();
    record(ctx, &[e, spend_event("r2", 0.5, 0)]).await;
    let created = ctx.get::<CustomerRecord>(&["new-customer"]).await.unwrap();
    assert_close(created.spend, 0.75);
    assert_eq!(created.alias, None);
    assert!(!created.blocked);
    assert!(created.created_at >= before - chrono::Duration::seconds(1));
    assert_eq!(created.created_at, created.updated_at);
    let page = ctx.list::<CustomerRecord>(&Query::default()).await;
    assert_eq!(page.total, 2);
    // An existing customer keeps its record and gains the spend.
    let c1 = ctx.get::<CustomerRecord>(&["c1"]).await.unwrap();
    assert_eq!(
        CustomerRecord {
            spend: customer("c1").spend,
            ..c1.clone()
        },
        customer("c1")
    );
    assert_close(c1.spend, customer("c1").spend + 0.5);
    // A failed request of a new customer creates it too, with no spend.
    let mut failed = spend_event("r3", 0.0, 0);
    failed.success = false;
    failed.end_user = Some("failing".into());
    record(ctx, &[failed]).await;
    assert_eq!(
        ctx.get::<CustomerRecord>(&["failing"]).await.unwrap().spend,
        0.0
    );
}

/// Eight writers at once, on overlapping keys, users, teams and members, each in its own order:
/// every increment lands and no batch fails (on PostgreSQL, no deadlock).
pub async fn concurrent_writers_get_exact_totals(ctx: &Ctx) {
    let mut batch = Vec::new();
    for i in 0..4 {
        let (k, u, t) = (format!("k{i}"), format!("u{i}"), format!("t{i}"));
        batch.push(ins(&KeyRecord {
            token: format!("tok-{k}"),
            spend: 0.0,
            ..key(&k)
        }));
        batch.push(ins(&UserRecord {
            spend: 0.0,
            ..user(&u)
        }));
        batch.push(ins(&TeamRecord {
            spend: 0.0,
            ..team(&t)
        }));
        for j in 0..4 {
            batch.push(ins(&TeamMember {
                spend: 0.0,
                ..team_member(&t, &format!("u{j}"))
            }));
        }
    }
    ctx.ok(batch).await;

    let tasks: Vec<_> = (0..8)
        .map(|task| {
            let store = ctx.store.clone();
            tokio::spawn(async move {
                for round in 0..10 {
                    let mut events: Vec<_> = (0..12)
                        .map(|n| {
                            let mut e = spend_event(
                                &format!("r{task}-{round}-{n}"),
                                0.001 * f64::from(n + 1),
                                0,
                            );
                            e.key_id = Some(format!("k{}", (n + task) % 4));
                            e.user_id = Some(format!("u{}", n % 4));
                            e.team_id = Some(format!("t{}", (n / 3) % 4));
                            e.end_user = Some(format!("c{}", n % 3));
                            e
                        })
                        .collect();
                    if task % 2 == 1 {
                        events.reverse();
                    }
                    store.record_spend(&events).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }

    let per_round: f64 = (1..=12).map(|n| 0.001 * f64::from(n)).sum();
    let total = per_round * 80.0;
    let mut keys = 0.0;
    for i in 0..4 {
        keys += ctx
            .get::<KeyRecord>(&[&format!("k{i}")])
            .await
            .unwrap()
            .spend;
    }
    assert_close(keys, total);
    // User u0 is charged by n = 0, 4, 8 in every batch.
    let u0 = ctx.get::<UserRecord>(&["u0"]).await.unwrap().spend;
    assert_close(u0, 0.001 * (1.0 + 5.0 + 9.0) * 80.0);
    let mut members = HashMap::new();
    for m in ctx.list::<TeamMember>(&Query::default()).await.items {
        members.insert((m.team_id, m.user_id), m.spend);
    }
    assert_close(members.values().sum(), total);
    let global = ctx.store.spend_counters("global").await.unwrap();
    assert_close(global["global"], total);
    let customers: f64 = ctx
        .list::<CustomerRecord>(&Query::default())
        .await
        .items
        .iter()
        .map(|c| c.spend)
        .sum();
    assert_close(customers, total);
    let daily_total: f64 = daily_rows(ctx, daily(EntityType::Team))
        .await
        .iter()
        .map(|r| r.spend)
        .sum();
    assert_close(daily_total, total);
}
