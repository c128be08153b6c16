//! token_metadata: who a hash belongs to, whether its key is live, regenerated or deleted.

use tollgate_store::*;

use crate::common::*;

fn issue(k: &KeyRecord, ms: i64) -> Write {
    Write::IssueToken {
        token: k.token.clone(),
        key_id: k.key_id.clone(),
        at: at(ms),
    }
}

fn retire(k: &KeyRecord, status: TokenStatus) -> Write {
    Write::RetireToken {
        token: k.token.clone(),
        status,
        snapshot: Box::new(k.clone()),
        at: at(10),
        by: None,
        grace_until: None,
    }
}

fn meta(k: &KeyRecord, status: TokenStatus) -> TokenMeta {
    TokenMeta {
        key_id: Some(k.key_id.clone()),
        key_alias: k.key_alias.clone(),
        team_id: k.team_id.clone(),
        user_id: k.user_id.clone(),
        organization_id: k.organization_id.clone(),
        status: Some(status),
    }
}

fn strings(tokens: &[&str]) -> Vec<String> {
    tokens.iter().map(|s| s.to_string()).collect()
}

pub async fn live_key_shows_current_values(ctx: &Ctx) {
    let v1 = key("k1");
    let v2 = KeyRecord {
        token: "tok-k1-v2".into(),
        ..v1.clone()
    };
    ctx.ok(vec![ins(&v1), issue(&v1, 0)]).await;
    ctx.ok(vec![
        retire(&v1, TokenStatus::Regenerated),
        upd(&v2),
        issue(&v2, 10),
    ])
    .await;
    // Rename and move the key after the regeneration.
    let v3 = KeyRecord {
        key_alias: Some("renamed".into()),
        team_id: Some("t9".into()),
        user_id: None,
        ..v2.clone()
    };
    ctx.ok(vec![upd(&v3)]).await;

    let got = ctx
        .store
        .token_metadata(&strings(&[&v1.token, &v2.token]))
        .await
        .unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[&v2.token], meta(&v3, TokenStatus::Active));
    // The old token is attributed to the key as it is now, not as it was.
    assert_eq!(got[&v1.token], meta(&v3, TokenStatus::Regenerated));
}

pub async fn deleted_key_shows_snapshot(ctx: &Ctx) {
    let gone = KeyRecord {
        key_alias: Some("was-here".into()),
        organization_id: None,
        ..key("gone")
    };
    let live = key("live");
    ctx.ok(vec![
        ins(&gone),
        issue(&gone, 0),
        ins(&live),
        issue(&live, 0),
    ])
    .await;
    ctx.ok(vec![
        retire(&gone, TokenStatus::Deleted),
        Write::delete(&gone),
    ])
    .await;

    let got = ctx
        .store
        .token_metadata(&strings(&[&gone.token, &live.token]))
        .await
        .unwrap();
    assert_eq!(got[&gone.token], meta(&gone, TokenStatus::Deleted));
    assert_eq!(got[&live.token], meta(&live, TokenStatus::Active));
    assert_eq!(got.len(), 2);
}

pub async fn unknown_hashes_are_absent(ctx: &Ctx) {
    let k = key("k1");
    ctx.ok(vec![ins(&k), issue(&k, 0)]).await;
    assert!(ctx.store.token_metadata(&[]).await.unwrap().is_empty());
    let got = ctx
        .store
        .token_metadata(&strings(&["unknown", &k.token, "also-unknown", &k.token]))
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[&k.token], meta(&k, TokenStatus::Active));
    // A key row alone, with no issued token, is not enough: only issued hashes are known.
    let unissued = key("k2");
    ctx.ok(vec![ins(&unissued)]).await;
    let got = ctx.store.token_metadata(&[unissued.token]).await.unwrap();
    assert!(got.is_empty());
}

/// More hashes than one statement binds, so the store must chunk.
pub async fn many_hashes_at_once(ctx: &Ctx) {
    const N: usize = 1234;
    let keys: Vec<KeyRecord> = (0..N)
        .map(|i| KeyRecord {
            key_alias: Some(format!("alias-{i}")),
            team_id: Some(format!("team-{}", i % 7)),
            ..key(&format!("k{i}"))
        })
        .collect();
    let mut batch = Vec::with_capacity(2 * N);
    for k in &keys {
        batch.push(ins(k));
        batch.push(issue(k, 0));
    }
    ctx.ok(batch).await;

    let mut asked: Vec<String> = keys.iter().map(|k| k.token.clone()).collect();
    asked.extend((0..300).map(|i| format!("unknown-{i}")));
    let got = ctx.store.token_metadata(&asked).await.unwrap();
    assert_eq!(got.len(), N);
    for k in &keys {
        assert_eq!(got[&k.token], meta(k, TokenStatus::Active), "{}", k.key_id);
    }
}
