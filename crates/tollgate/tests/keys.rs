//! /key/generate, /key/info, /key/update, /key/list.

use serde_json::json;
use sha2::{Digest, Sha256};
use tollgate_testkit::TestDb;

use crate::both;
use crate::common::{assert_error, Gateway, MASTER};

async fn generate_returns_a_hashed_litellm_key(db: &TestDb) {
    let gw = Gateway::start(db).await;
    let v = gw.post("/key/generate", json!({"key_alias": "ci", "max_budget": 10.5, "models": ["gpt-4o"], "duration": "30d", "metadata": {"env": "ci"}, "tags": ["a"]})).await;
    let raw = v["key"].as_str().unwrap();
    assert!(raw.starts_with("sk-") && raw.len() == 25, "{raw}");
    let hash = hex::encode(Sha256::digest(raw.as_bytes()));
    assert_eq!(v["token"], hash);
    assert_eq!(v["token_id"], hash);
    assert_eq!(v["key_name"], format!("sk-...{}", &raw[raw.len() - 4..]));
    assert_eq!(v["max_budget"], 10.5);
    assert_eq!(v["models"], json!(["gpt-4o"]));
    assert_eq!(v["tags"], json!(["a"]));
    assert!(v["expires"].is_string());
    // The key authenticates.
    let (s, info) = gw.get_as(raw, "/key/info").await;
    assert_eq!(s, 200, "{info}");
    assert_eq!(info["info"]["key_alias"], "ci");
    assert_eq!(info["info"]["status"], "active");
    gw.stop().await;
}

async fn aliases_are_unique_but_empty_means_none(db: &TestDb) {
    let gw = Gateway::start(db).await;
    gw.key(json!({"key_alias": "shared"})).await;
    let (s, v) = gw
        .call(
            "POST",
            "/key/generate",
            Some(MASTER),
            Some(json!({"key_alias": "shared"})),
        )
        .await;
    assert_error(s, &v, 400, "Key with alias 'shared' already exists");
    assert_eq!(v["error"]["param"], "key_alias");
    let a = gw.post("/key/generate", json!({"key_alias": ""})).await;
    let b = gw.post("/key/generate", json!({"key_alias": ""})).await;
    assert!(a["key_alias"].is_null() && b["key_alias"].is_null());
    // Updating to an empty alias also clears it, and never collides.
    let (s, v) = gw
        .post_as(
            MASTER,
            "/key/update",
            json!({"key": a["key"], "key_alias": ""}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    gw.stop().await;
}

async fn custom_keys_are_checked(db: &TestDb) {
    let gw = Gateway::start(db).await;
    let (s, v) = gw
        .post_as(
            MASTER,
            "/key/generate",
            json!({"key": "pk-12345678901234567890"}),
        )
        .await;
    assert_error(s, &v, 400, "must start with 'sk-'");
    let (s, v) = gw
        .post_as(MASTER, "/key/generate", json!({"key": "sk-short"}))
        .await;
    assert_error(s, &v, 400, "at least 16");
    let v = gw
        .post("/key/generate", json!({"key": "sk-my-custom-key-0001"}))
        .await;
    assert_eq!(v["key"], "sk-my-custom-key-0001");
    let (s, v) = gw
        .post_as(
            MASTER,
            "/key/generate",
            json!({"key": "sk-my-custom-key-0001"}),
        )
        .await;
    assert_error(s, &v, 400, "already been used");
    gw.stop().await;
}

async fn update_changes_only_what_is_passed(db: &TestDb) {
    let gw = Gateway::start(db).await;
    let raw = gw
        .key(json!({"key_alias": "u1", "max_budget": 5, "rpm_limit": 10, "metadata": {"a": 1}}))
        .await;
    let v = gw
        .post(
            "/key/update",
            json!({"key": raw, "tpm_limit": 1000, "max_budget": null}),
        )
        .await;
    assert_eq!(v["key"], raw);
    assert_eq!(v["tpm_limit"], 1000);
    assert!(v["max_budget"].is_null());
    assert_eq!(v["rpm_limit"], 10);
    assert_eq!(v["key_alias"], "u1");
    assert_eq!(v["metadata"], json!({"a": 1}));
    let (s, v) = gw
        .post_as(
            MASTER,
            "/key/update",
            json!({"key": "sk-does-not-exist-000"}),
        )
        .await;
    assert_error(s, &v, 404, "Key not found");
    // Update by hash works too.
    let hash = hex::encode(Sha256::digest(raw.as_bytes()));
    let v = gw
        .post("/key/update", json!({"key": hash, "spend": 1.25}))
        .await;
    assert_eq!(v["spend"], 1.25);
    let info = gw.get(&format!("/key/info?key={raw}")).await;
    assert_eq!(info["info"]["spend"], 1.25);
    gw.stop().await;
}

async fn list_paginates_and_filters(db: &TestDb) {
    let gw = Gateway::start(db).await;
    gw.post("/team/new", json!({"team_id": "t1"})).await;
    for i in 0..5 {
        gw.key(
            json!({"key_alias": format!("k{i}"), "team_id": if i < 3 { Some("t1") } else { None }}),
        )
        .await;
    }
    let v = gw.get("/key/list?size=2&page=1").await;
    assert_eq!(v["total_count"], 5);
    assert_eq!(v["total_pages"], 3);
    assert_eq!(v["keys"].as_array().unwrap().len(), 2);
    assert!(v["keys"][0].is_string());
    let v = gw
        .get("/key/list?team_id=t1&return_full_object=true&sort_by=key_alias&sort_order=asc")
        .await;
    assert_eq!(v["total_count"], 3);
    assert_eq!(v["keys"][0]["key_alias"], "k0");
    let v = gw.get("/key/list?key_alias=k4").await;
    assert_eq!(v["total_count"], 1);
    let (s, v) = gw.get_as(MASTER, "/key/list?sort_by=nope").await;
    assert_error(s, &v, 400, "cannot sort keys by nope");
    gw.stop().await;
}

async fn internal_users_see_only_their_own_keys(db: &TestDb) {
    let gw = Gateway::start(db).await;
    let alice = gw.user("alice", "internal_user").await;
    let bob = gw.user("bob", "internal_user").await;
    let (s, v) = gw
        .post_as(&alice, "/key/generate", json!({"key_alias": "alice-2"}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["user_id"], "alice");
    // Creating for someone else is refused.
    let (s, v) = gw
        .post_as(&alice, "/key/generate", json!({"user_id": "bob"}))
        .await;
    assert_error(s, &v, 403, "own user");
    let (s, v) = gw.get_as(&alice, "/key/list").await;
    assert_eq!(s, 200);
    assert_eq!(v["total_count"], 2, "{v}");
    let (s, v) = gw.get_as(&alice, "/key/list?user_id=bob").await;
    assert_error(s, &v, 403, "another user's keys");
    // Another user's key: 403; a key that does not exist: 404.
    let (s, v) = gw.get_as(&alice, &format!("/key/info?key={bob}")).await;
    assert_error(s, &v, 403, "not allowed to access this key's info");
    let (s, v) = gw
        .get_as(&alice, "/key/info?key=sk-nonexistent-key-1234")
        .await;
    assert_error(s, &v, 404, "Key not found");
    // Bob cannot delete Alice's key.
    let (s, v) = gw
        .post_as(&bob, "/key/delete", json!({"keys": [alice]}))
        .await;
    assert_error(s, &v, 403, "not authorized to delete");
    gw.stop().await;
}

async fn batch_and_v2_info(db: &TestDb) {
    let gw = Gateway::start(db).await;
    let a = gw.key(json!({"key_alias": "a"})).await;
    let b = gw.key(json!({"key_alias": "b"})).await;
    let v = gw
        .post(
            "/v2/key/info",
            json!({"keys": [a, b, "sk-unknown-key-000000"]}),
        )
        .await;
    let aliases: Vec<&str> = v["info"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["key_alias"].as_str().unwrap())
        .collect();
    assert_eq!(aliases, vec!["a", "b"]);
    gw.post(
        "/user/new",
        json!({"user_id": "v2u", "auto_create_key": false}),
    )
    .await;
    let u = gw.get("/v2/user/info?user_id=v2u").await;
    assert_eq!(u["user_id"], "v2u");
    let log = gw.get("/audit?table_name=users&object_id=v2u").await;
    let id = log["audit_logs"][0]["id"].as_str().unwrap().to_owned();
    let one = gw.get(&format!("/audit/{id}")).await;
    assert_eq!(one["object_id"], "v2u");
    assert_eq!(one["action"], "created");
    let (s, _) = gw.get_as(MASTER, "/audit/not-an-id").await;
    assert_eq!(s, 404);
    gw.stop().await;
}

both!(
    batch_and_v2_info,
    generate_returns_a_hashed_litellm_key,
    aliases_are_unique_but_empty_means_none,
    custom_keys_are_checked,
    update_changes_only_what_is_passed,
    list_paginates_and_filters,
    internal_users_see_only_their_own_keys,
);
