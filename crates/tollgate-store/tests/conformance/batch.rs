//! A batch is one transaction: all of it, or none of it.

use chrono::Utc;
use tollgate_store::*;

use crate::assert_err;
use crate::common::*;

/// Writes of every sort, none of which can fail on an empty store.
fn good_writes() -> Vec<Write> {
    let k = key("k1");
    vec![
        ins(&budget("b1")),
        ins(&team("t1")),
        ins(&team_member("t1", "u1")),
        ins(&k),
        Write::IssueToken {
            token: k.token.clone(),
            key_id: k.key_id.clone(),
            at: at(0),
        },
        Write::SetSpend {
            kind: Kind::Team,
            pk: vec!["t1".into()],
            spend: 7.0,
        },
        audit(audit_entry("a1", 0, "keys", "k1", "created")),
    ]
}

async fn assert_empty(ctx: &Ctx) {
    assert_eq!(ctx.get::<BudgetRecord>(&["b1"]).await, None);
    assert_eq!(ctx.get::<TeamRecord>(&["t1"]).await, None);
    assert_eq!(ctx.get::<TeamMember>(&["t1", "u1"]).await, None);
    assert_eq!(ctx.get::<KeyRecord>(&["k1"]).await, None);
    assert_eq!(ctx.store.token("tok-k1").await.unwrap(), None);
    assert!(ctx.store.key_tokens("k1").await.unwrap().is_empty());
    let log = ctx
        .audit(AuditQuery {
            limit: 100,
            ..Default::default()
        })
        .await;
    assert_eq!((log.total, log.items.len()), (0, 0));
}

pub async fn batch_applies_every_write(ctx: &Ctx) {
    ctx.ok(good_writes()).await;
    assert_eq!(ctx.get::<TeamRecord>(&["t1"]).await.unwrap().spend, 7.0);
    assert_eq!(ctx.get::<KeyRecord>(&["k1"]).await, Some(key("k1")));
    assert!(ctx.store.token("tok-k1").await.unwrap().is_some());
    let log = ctx
        .audit(AuditQuery {
            limit: 100,
            ..Default::default()
        })
        .await;
    assert_eq!(log.total, 1);
    // An empty batch is a no-op.
    ctx.ok(vec![]).await;
}

pub async fn failed_batch_leaves_nothing(ctx: &Ctx) {
    // The last write fails in a different way each time.
    let failing_last = [
        (upd(&user("missing")), "update of a missing row"),
        (ins(&budget("b1")), "duplicate primary key"),
        (
            ins(&KeyRecord {
                token: "tok-k1".into(),
                key_alias: Some("other".into()),
                ..key("k2")
            }),
            "duplicate token",
        ),
        (
            Write::RetireToken {
                token: "never-issued".into(),
                status: TokenStatus::Deleted,
                snapshot: Box::new(key("k1")),
                at: Utc::now(),
                by: None,
                grace_until: None,
            },
            "retiring an unknown token",
        ),
        (
            Write::IssueToken {
                token: "tok-k1".into(),
                key_id: "k1".into(),
                at: at(1),
            },
            "issuing a token twice",
        ),
        (
            audit(audit_entry("a1", 1, "keys", "k1", "updated")),
            "duplicate audit id",
        ),
    ];
    for (last, why) in failing_last {
        let mut batch = good_writes();
        batch.push(last);
        assert!(ctx.store.apply(batch).await.is_err(), "{why}");
        assert_empty(ctx).await;
    }
}

pub async fn failed_batch_leaves_store_usable(ctx: &Ctx) {
    for _ in 0..3 {
        let mut batch = good_writes();
        batch.push(Write::Delete {
            kind: Kind::Org,
            pk: vec!["missing".into()],
        });
        assert_err!(ctx.err(batch).await, NotFound);
    }
    ctx.store.ping().await.unwrap();
    ctx.ok(good_writes()).await;
    assert_eq!(ctx.get::<KeyRecord>(&["k1"]).await, Some(key("k1")));
}
