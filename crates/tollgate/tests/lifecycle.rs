//! Key history: regenerate, delete, grace periods, block, and persistence across a restart.

use serde_json::json;
use sha2::{Digest, Sha256};
use tollgate_testkit::TestDb;

use crate::both;
use crate::common::{assert_error, Gateway, MASTER};

fn hash(raw: &str) -> String {
    hex::encode(Sha256::digest(raw.as_bytes()))
}

async fn regenerate_keeps_the_key_and_archives_the_old_token(db: &TestDb) {
    let gw = Gateway::start(db).await;
    gw.post("/team/new", json!({"team_id": "team-r"})).await;
    let old = gw
        .key(json!({"key_alias": "rot", "team_id": "team-r", "max_budget": 3}))
        .await;
    gw.post("/key/update", json!({"key": old, "spend": 0.5}))
        .await;
    let v = gw.post(&format!("/key/{old}/regenerate"), json!({})).await;
    let new = v["key"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert_eq!(v["key_alias"], "rot");
    assert_eq!(v["max_budget"], 3.0);
    assert_eq!(v["spend"], 0.5);
    assert_eq!(v["rotation_count"], 1);
    // The old key no longer authenticates; the new one does.
    let (s, _) = gw.get_as(&old, "/key/info").await;
    assert_eq!(s, 401);
    let (s, _) = gw.get_as(&new, "/key/info").await;
    assert_eq!(s, 200);
    // The old token still resolves, to its key as it was.
    let info = gw.get(&format!("/key/info?key={}", hash(&old))).await;
    assert_eq!(info["info"]["status"], "regenerated");
    assert_eq!(info["info"]["key_alias"], "rot");
    assert_eq!(info["info"]["team_id"], "team-r");
    let history = info["info"]["token_history"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    // The body form works too.
    let v = gw
        .post("/key/regenerate", json!({"key": new, "key_alias": "rot2"}))
        .await;
    assert_eq!(v["key_alias"], "rot2");
    assert_eq!(v["rotation_count"], 2);
    gw.stop().await;
}

async fn grace_period_keeps_the_old_key_working(db: &TestDb) {
    let gw = Gateway::start(db).await;
    let old = gw.key(json!({})).await;
    let v = gw
        .post("/key/regenerate", json!({"key": old, "grace_period": "1h"}))
        .await;
    let new = v["key"].as_str().unwrap();
    let (s, v) = gw.get_as(&old, "/key/info").await;
    assert_eq!(s, 200, "{v}");
    let (s, _) = gw.get_as(new, "/key/info").await;
    assert_eq!(s, 200);
    let (s, v) = gw
        .post_as(
            MASTER,
            "/key/regenerate",
            json!({"key": new, "grace_period": "soon"}),
        )
        .await;
    assert_error(s, &v, 400, "grace_period");
    gw.stop().await;
}

async fn deleted_keys_keep_their_history(db: &TestDb) {
    let gw = Gateway::start(db).await;
    let raw = gw
        .key(json!({"key_alias": "gone", "user_id": "u-del"}))
        .await;
    let v = gw.post("/key/delete", json!({"keys": [raw]})).await;
    assert_eq!(v["deleted_keys"], json!([raw]));
    let (s, _) = gw.get_as(&raw, "/key/info").await;
    assert_eq!(s, 401);
    let info = gw.get(&format!("/key/info?key={raw}")).await;
    assert_eq!(info["info"]["status"], "deleted");
    assert_eq!(info["info"]["key_alias"], "gone");
    assert_eq!(info["info"]["user_id"], "u-del");
    assert!(info["info"]["deleted_at"].is_string());
    // The alias is free again, and deleting twice is a 404.
    gw.key(json!({"key_alias": "gone"})).await;
    let (s, v) = gw
        .post_as(MASTER, "/key/delete", json!({"keys": [raw]}))
        .await;
    assert_error(s, &v, 404, "No keys found");
    let (s, v) = gw.post_as(MASTER, "/key/delete", json!({})).await;
    assert_error(s, &v, 422, "At least one of 'keys' or 'key_aliases'");
    // Delete by alias.
    let v = gw
        .post("/key/delete", json!({"key_aliases": ["gone"]}))
        .await;
    assert_eq!(v["deleted_keys"], json!(["gone"]));
    gw.stop().await;
}

async fn blocking_takes_effect_at_once(db: &TestDb) {
    let gw = Gateway::start(db).await;
    let raw = gw.key(json!({})).await;
    // Warm the cache.
    assert_eq!(gw.get_as(&raw, "/key/info").await.0, 200);
    let v = gw.post("/key/block", json!({"key": raw})).await;
    assert_eq!(v["blocked"], true);
    let (s, v) = gw.get_as(&raw, "/key/info").await;
    assert_error(s, &v, 401, "Key is blocked");
    gw.post("/key/unblock", json!({"key": raw})).await;
    assert_eq!(gw.get_as(&raw, "/key/info").await.0, 200);
    let (s, v) = gw
        .post_as(
            MASTER,
            "/key/block",
            json!({"key": "sk-not-a-real-key-123"}),
        )
        .await;
    assert_error(s, &v, 404, "Key not found");
    gw.stop().await;
}

async fn expired_keys_are_refused(db: &TestDb) {
    let gw = Gateway::start(db).await;
    let raw = gw.key(json!({"duration": "1s"})).await;
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let (s, v) = gw.get_as(&raw, "/key/info").await;
    assert_eq!(s, 401, "{v}");
    assert_eq!(v["error"]["type"], "expired_key");
    gw.stop().await;
}

async fn state_survives_a_restart(db: &TestDb) {
    let gw = Gateway::start(db).await;
    gw.post(
        "/team/new",
        json!({"team_id": "persist", "team_alias": "P"}),
    )
    .await;
    let raw = gw
        .key(json!({"key_alias": "persist", "team_id": "persist"}))
        .await;
    gw.stop().await;
    let gw = Gateway::start(db).await;
    let (s, v) = gw.get_as(&raw, "/key/info").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["info"]["team_id"], "persist");
    let t = gw.get("/team/info?team_id=persist").await;
    assert_eq!(t["team_info"]["team_alias"], "P");
    gw.stop().await;
}

both!(
    regenerate_keeps_the_key_and_archives_the_old_token,
    grace_period_keeps_the_old_key_working,
    deleted_keys_keep_their_history,
    blocking_takes_effect_at_once,
    expired_keys_are_refused,
    state_survives_a_restart,
);

#[tokio::test]
async fn two_gateways_start_together_on_a_fresh_postgres() {
    let Some(db) = TestDb::postgres_uncreated().await else {
        return;
    };
    let (a, b) = tokio::join!(Gateway::start(&db), Gateway::start(&db));
    let raw = a.key(json!({"key_alias": "race"})).await;
    assert_eq!(b.get_as(&raw, "/key/info").await.0, 200);
    a.stop().await;
    b.stop().await;
}
