//! Token history: issuing, retiring (regeneration and deletion), listing.

use chrono::{DateTime, Utc};
use tollgate_store::*;

use crate::assert_err;
use crate::common::*;

fn issue(token: &str, key_id: &str, ms: i64) -> Write {
    Write::IssueToken {
        token: token.into(),
        key_id: key_id.into(),
        at: at(ms),
    }
}

fn retire(token: &str, status: TokenStatus, snapshot: &KeyRecord, ms: i64) -> Write {
    Write::RetireToken {
        token: token.into(),
        status,
        snapshot: Box::new(snapshot.clone()),
        at: at(ms),
        by: Some("admin".into()),
        grace_until: (status == TokenStatus::Regenerated).then(|| at(ms + 60_000)),
    }
}

/// Inserts key `id` with its first token issued at `at(0)`.
async fn live_key(ctx: &Ctx, id: &str) -> KeyRecord {
    let k = key(id);
    ctx.ok(vec![ins(&k), issue(&k.token, id, 0)]).await;
    k
}

/// The batch that regenerates `k` to `new_token` at `at(ms)`.
fn regenerate(k: &KeyRecord, new_token: &str, ms: i64) -> Vec<Write> {
    let renewed = KeyRecord {
        token: new_token.into(),
        rotation_count: k.rotation_count + 1,
        ..k.clone()
    };
    vec![
        retire(&k.token, TokenStatus::Regenerated, k, ms),
        upd(&renewed),
        issue(new_token, &k.key_id, ms),
    ]
}

fn active(token: &str, key_id: &str, issued_at: DateTime<Utc>) -> TokenEntry {
    TokenEntry {
        token: token.into(),
        key_id: key_id.into(),
        status: TokenStatus::Active,
        issued_at,
        retired_at: None,
        retired_by: None,
        grace_until: None,
        snapshot: None,
    }
}

pub async fn issued_token_is_active(ctx: &Ctx) {
    let k = live_key(ctx, "k1").await;
    assert_eq!(
        ctx.store.token(&k.token).await.unwrap(),
        Some(active(&k.token, "k1", at(0)))
    );
    assert_eq!(ctx.store.token("never-issued").await.unwrap(), None);
    assert_eq!(ctx.store.key_for_token("never-issued").await.unwrap(), None);
    assert_eq!(
        ctx.store.key_for_token(&k.token).await.unwrap(),
        Some(TokenKey {
            status: TokenStatus::Active,
            grace_until: None,
            key: Some(k.clone()),
        })
    );
    assert_eq!(ctx.store.key_by_token(&k.token).await.unwrap(), Some(k));
}

pub async fn regenerated_token_is_archived(ctx: &Ctx) {
    let k = live_key(ctx, "k1").await;
    ctx.ok(regenerate(&k, "tok-new", 100)).await;

    let old = ctx.store.token(&k.token).await.unwrap().unwrap();
    assert_eq!(
        old,
        TokenEntry {
            status: TokenStatus::Regenerated,
            retired_at: Some(at(100)),
            retired_by: Some("admin".into()),
            grace_until: Some(at(60_100)),
            snapshot: Some(k.clone()),
            ..active(&k.token, "k1", at(0))
        }
    );
    assert_eq!(
        ctx.store.token("tok-new").await.unwrap(),
        Some(active("tok-new", "k1", at(100)))
    );
    // The key now authenticates by its new token only.
    let now = ctx.store.key_by_token("tok-new").await.unwrap().unwrap();
    assert_eq!((now.key_id.as_str(), now.rotation_count), ("k1", 3));
    assert_eq!(ctx.store.key_by_token(&k.token).await.unwrap(), None);
    // In one read: the old token is regenerated, with its grace period and the key as it is now.
    let old = ctx.store.key_for_token(&k.token).await.unwrap().unwrap();
    assert_eq!(
        (old.status, old.grace_until, old.key),
        (
            TokenStatus::Regenerated,
            Some(at(60_100)),
            Some(now.clone())
        )
    );
    let new = ctx.store.key_for_token("tok-new").await.unwrap().unwrap();
    assert_eq!((new.status, new.key), (TokenStatus::Active, Some(now)));
}

pub async fn deleted_token_is_archived(ctx: &Ctx) {
    let k = live_key(ctx, "k1").await;
    let delete = Write::RetireToken {
        token: k.token.clone(),
        status: TokenStatus::Deleted,
        snapshot: Box::new(k.clone()),
        at: at(500),
        by: None,
        grace_until: None,
    };
    ctx.ok(vec![delete, Write::delete(&k)]).await;
    assert_eq!(
        ctx.store.token(&k.token).await.unwrap(),
        Some(TokenEntry {
            status: TokenStatus::Deleted,
            retired_at: Some(at(500)),
            snapshot: Some(k.clone()),
            ..active(&k.token, "k1", at(0))
        })
    );
    assert_eq!(ctx.get::<KeyRecord>(&["k1"]).await, None);
    assert_eq!(
        ctx.store.key_for_token(&k.token).await.unwrap(),
        Some(TokenKey {
            status: TokenStatus::Deleted,
            grace_until: None,
            key: None,
        })
    );
}

pub async fn retiring_an_inactive_token_is_not_found(ctx: &Ctx) {
    let k = live_key(ctx, "k1").await;
    assert_err!(
        ctx.err(vec![retire("never-issued", TokenStatus::Deleted, &k, 1)])
            .await,
        NotFound
    );
    ctx.ok(vec![retire(&k.token, TokenStatus::Regenerated, &k, 1)])
        .await;
    for status in [TokenStatus::Regenerated, TokenStatus::Deleted] {
        assert_err!(
            ctx.err(vec![retire(&k.token, status, &k, 2)]).await,
            NotFound
        );
    }
    // The first retirement stands.
    let entry = ctx.store.token(&k.token).await.unwrap().unwrap();
    assert_eq!(
        (entry.status, entry.retired_at),
        (TokenStatus::Regenerated, Some(at(1)))
    );
}

/// Two regenerations race from the same state: the second one's archive step finds the old
/// token already retired, so none of its writes may land.
pub async fn failed_regeneration_rolls_back(ctx: &Ctx) {
    let k = live_key(ctx, "k1").await;
    ctx.ok(regenerate(&k, "tok-a", 100)).await;

    let mut stale = regenerate(&k, "tok-b", 200);
    stale.rotate_left(1); // archive last, after the key update and the issue
    assert_err!(ctx.err(stale).await, NotFound);

    let now = ctx.get::<KeyRecord>(&["k1"]).await.unwrap();
    assert_eq!(now.token, "tok-a");
    assert_eq!(ctx.store.token("tok-b").await.unwrap(), None);
    let old = ctx.store.token(&k.token).await.unwrap().unwrap();
    assert_eq!(old.retired_at, Some(at(100)));
    assert_eq!(ctx.store.key_tokens("k1").await.unwrap().len(), 2);
}

pub async fn issuing_twice_conflicts(ctx: &Ctx) {
    let k = live_key(ctx, "k1").await;
    assert_err!(ctx.err(vec![issue(&k.token, "k1", 5)]).await, Conflict);
    // Even for another key, and even once retired: a hash is issued once, ever.
    assert_err!(ctx.err(vec![issue(&k.token, "k2", 5)]).await, Conflict);
    ctx.ok(vec![retire(&k.token, TokenStatus::Deleted, &k, 6)])
        .await;
    assert_err!(ctx.err(vec![issue(&k.token, "k1", 7)]).await, Conflict);
    // Twice in one batch.
    assert_err!(
        ctx.err(vec![issue("fresh", "k1", 8), issue("fresh", "k1", 8)])
            .await,
        Conflict
    );
    assert_eq!(ctx.store.token("fresh").await.unwrap(), None);
    assert_eq!(
        ctx.store.token(&k.token).await.unwrap().unwrap().issued_at,
        at(0)
    );
}

pub async fn key_tokens_newest_first(ctx: &Ctx) {
    let k = live_key(ctx, "k1").await;
    ctx.ok(regenerate(&k, "tok-2", 1000)).await;
    let k2 = ctx.get::<KeyRecord>(&["k1"]).await.unwrap();
    ctx.ok(regenerate(&k2, "tok-3", 2000)).await;
    live_key(ctx, "other").await;

    let history = ctx.store.key_tokens("k1").await.unwrap();
    let summary: Vec<(&str, TokenStatus)> = history
        .iter()
        .map(|e| (e.token.as_str(), e.status))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("tok-3", TokenStatus::Active),
            ("tok-2", TokenStatus::Regenerated),
            (k.token.as_str(), TokenStatus::Regenerated),
        ]
    );
    assert_eq!(history[1].snapshot.as_ref(), Some(&k2));
    assert!(ctx.store.key_tokens("nope").await.unwrap().is_empty());
}
