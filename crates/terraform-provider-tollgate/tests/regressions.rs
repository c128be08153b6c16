//! The failures users reported against the LiteLLM providers, each as a test.

use serde_json::json;

use crate::harness::{terraform_available, Gateway, Tf};

async fn setup() -> Option<(Gateway, Tf)> {
    if !terraform_available() {
        return None;
    }
    let gw = Gateway::start(Some(
        "model_list:\n  - model_name: demo\n    litellm_params: {model: mock/demo, input_cost_per_token: 0.001, output_cost_per_token: 0.002}\n",
    ))
    .await;
    let tf = Tf::new(&gw);
    Some((gw, tf))
}

async fn chat(gw: &Gateway, key: &str) -> u16 {
    reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", gw.url))
        .bearer_auth(key)
        .json(&json!({"model": "demo", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn s(v: &serde_json::Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// LiteLLM provider issue #12: a replaced team deletes its keys on the gateway; one apply
/// re-creates the key under the new team and the next plan is empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn team_replaced_while_a_key_points_at_it_converges_in_one_apply() {
    let Some((gw, tf)) = setup().await else {
        return;
    };
    let config = |team_id: &str| {
        format!(
            "resource \"tollgate_team\" \"t\" {{\n  team_id = \"{team_id}\"\n  team_alias = \"eng\"\n}}\n\
             resource \"tollgate_key\" \"k\" {{\n  key_alias = \"svc\"\n  team_id = tollgate_team.t.id\n  max_budget = 5\n}}\n\
             output \"key\" {{\n  value = tollgate_key.k.key\n  sensitive = true\n}}\n"
        )
    };
    tf.config(&config("eng"));
    tf.apply().await;
    let old = tf.state("tollgate_key.k").await;

    // Replaced with the same fixed id: the key is re-created in the same apply.
    let out = tf.apply_args(&["-replace=tollgate_team.t"]).await;
    assert!(
        out.contains("re-created") || out.contains("new key"),
        "{out}"
    );
    tf.plan().await.assert_empty();
    let new = tf.state("tollgate_key.k").await;
    assert_ne!(new["id"], old["id"]);
    assert_eq!(new["team_id"], "eng");
    assert_eq!(new["key_alias"], "svc");
    assert_eq!(chat(&gw, &s(&new["key"])).await, 200, "the new key works");
    let info = gw
        .ok("GET", &format!("/key/info?key={}", s(&new["id"])), None)
        .await;
    assert_eq!(info["info"]["team_id"], "eng");

    // Replaced by a change of team_id: same story.
    tf.config(&config("eng2"));
    tf.apply().await;
    tf.plan().await.assert_empty();
    let moved = tf.state("tollgate_key.k").await;
    assert_eq!(moved["team_id"], "eng2");
    assert_eq!(chat(&gw, &s(&moved["key"])).await, 200);
    tf.destroy().await;
    gw.stop().await;
}

/// The same with a gateway-generated team id referenced as `team_id`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn team_with_generated_id_replaced_under_a_key_converges() {
    let Some((gw, tf)) = setup().await else {
        return;
    };
    tf.config(
        "resource \"tollgate_team\" \"t\" {\n  team_alias = \"eng\"\n}\n\
         resource \"tollgate_key\" \"k\" {\n  team_id = tollgate_team.t.team_id\n}\n",
    );
    tf.apply().await;
    let old_team = tf.state("tollgate_team.t").await;
    tf.apply_args(&["-replace=tollgate_team.t"]).await;
    tf.plan().await.assert_empty();
    let team = tf.state("tollgate_team.t").await;
    let key = tf.state("tollgate_key.k").await;
    assert_ne!(team["id"], old_team["id"]);
    assert_eq!(key["team_id"], team["id"]);
    assert_eq!(chat(&gw, &s(&key["key"])).await, 200);
    gw.stop().await;
}

/// Moving a key between two live teams is an in-place update that keeps its value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_moved_between_live_teams_keeps_its_value() {
    let Some((gw, tf)) = setup().await else {
        return;
    };
    let config = |team: &str| {
        format!(
            "resource \"tollgate_team\" \"a\" {{\n  team_alias = \"a\"\n}}\nresource \"tollgate_team\" \"b\" {{\n  team_alias = \"b\"\n}}\n\
             resource \"tollgate_key\" \"k\" {{\n  team_id = tollgate_team.{team}.id\n}}\n"
        )
    };
    tf.config(&config("a"));
    tf.apply().await;
    let before = tf.state("tollgate_key.k").await;
    tf.config(&config("b"));
    tf.plan().await.assert_action("tollgate_key.k", &["update"]);
    tf.apply().await;
    let after = tf.state("tollgate_key.k").await;
    assert_eq!(after["id"], before["id"]);
    assert_eq!(after["key"], before["key"]);
    assert_eq!(after["team_id"], tf.state("tollgate_team.b").await["id"]);
    tf.plan().await.assert_empty();
    assert_eq!(chat(&gw, &s(&after["key"])).await, 200);
    gw.stop().await;
}

/// Team-less keys update (LiteLLM provider #53) and alias-less keys coexist (LiteLLM #40705):
/// attributes the user did not set are never sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teamless_and_aliasless_keys_update_and_coexist() {
    let Some((gw, tf)) = setup().await else {
        return;
    };
    let config = |budget: u32| {
        format!(
            "resource \"tollgate_key\" \"a\" {{\n  max_budget = {budget}\n}}\nresource \"tollgate_key\" \"b\" {{\n  max_budget = {budget}\n}}\n"
        )
    };
    tf.config(&config(1));
    tf.apply().await;
    tf.config(&config(2));
    tf.plan().await.assert_action("tollgate_key.a", &["update"]);
    tf.apply().await;
    tf.plan().await.assert_empty();
    for k in ["tollgate_key.a", "tollgate_key.b"] {
        let st = tf.state(k).await;
        assert!(st["key_alias"].is_null() && st["team_id"].is_null(), "{st}");
        let info = gw
            .ok("GET", &format!("/key/info?key={}", s(&st["id"])), None)
            .await;
        assert_eq!(info["info"]["max_budget"], 2.0);
        assert!(info["info"]["key_alias"].is_null() && info["info"]["team_id"].is_null());
    }
    gw.stop().await;
}

/// A key rotated or deleted outside Terraform never blocks a plan (LiteLLM provider #51, #44).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotated_or_deleted_outside_never_blocks_a_plan() {
    let Some((gw, tf)) = setup().await else {
        return;
    };
    tf.config("resource \"tollgate_key\" \"k\" {\n  key_alias = \"x\"\n}\n");
    tf.apply().await;
    let before = tf.state("tollgate_key.k").await;
    let rotated = gw
        .ok(
            "POST",
            "/key/regenerate",
            Some(json!({"key": before["id"]})),
        )
        .await;
    // The state follows the key to its new token; its value is no longer known.
    tf.plan().await.assert_empty();
    tf.must(&["apply", "-refresh-only", "-auto-approve", "-no-color"])
        .await;
    let after = tf.state("tollgate_key.k").await;
    assert_eq!(after["id"], rotated["token"]);
    assert!(after["key"].is_null(), "{after}");
    // Deleted outside: the plan shows a create.
    gw.ok("POST", "/key/delete", Some(json!({"keys": [after["id"]]})))
        .await;
    tf.plan().await.assert_action("tollgate_key.k", &["create"]);
    tf.apply().await;
    tf.plan().await.assert_empty();
    gw.stop().await;
}

/// `rotation_keepers` regenerates the key in place: new value, same alias, budget and spend.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_keepers_rotate_in_place_and_keep_spend() {
    let Some((gw, tf)) = setup().await else {
        return;
    };
    let config = |v: &str| {
        format!(
            "resource \"tollgate_key\" \"k\" {{\n  key_alias = \"rotating\"\n  max_budget = 50\n  rotation_keepers = {{ v = \"{v}\" }}\n}}\n"
        )
    };
    tf.config(&config("1"));
    tf.apply().await;
    let before = tf.state("tollgate_key.k").await;
    assert_eq!(chat(&gw, &s(&before["key"])).await, 200);
    let spent = gw
        .ok("GET", &format!("/key/info?key={}", s(&before["id"])), None)
        .await["info"]["spend"]
        .as_f64()
        .unwrap();
    assert!(spent > 0.0);
    tf.config(&config("2"));
    tf.plan().await.assert_action("tollgate_key.k", &["update"]);
    tf.apply().await;
    let after = tf.state("tollgate_key.k").await;
    assert_ne!(after["key"], before["key"]);
    assert_ne!(after["id"], before["id"]);
    assert_eq!(after["key_alias"], "rotating");
    assert_eq!(after["max_budget"], 50.0);
    assert!(
        after["spend"].as_f64().unwrap() >= spent,
        "spend kept: {after}"
    );
    assert_eq!(chat(&gw, &s(&after["key"])).await, 200, "new value works");
    assert_eq!(
        chat(&gw, &s(&before["key"])).await,
        401,
        "old value is retired"
    );
    tf.plan().await.assert_empty();
    gw.stop().await;
}

/// Values the gateway normalises never cause a perpetual diff, and optional+computed values
/// are known after apply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn normalised_values_and_computed_ids_give_empty_plans() {
    let Some((gw, tf)) = setup().await else {
        return;
    };
    tf.config(
        "resource \"tollgate_team\" \"t\" {\n  models = []\n  metadata = {}\n  max_budget = 10\n  blocked = false\n}\n\
         resource \"tollgate_key\" \"k\" {\n  team_id = tollgate_team.t.id\n  models = []\n  tags = []\n  max_budget = 1.50\n  key_alias = \"\"\n}\n\
         resource \"tollgate_user\" \"u\" {\n  user_email = \"u@example.com\"\n}\n\
         resource \"tollgate_budget\" \"b\" {\n  max_budget = 3\n}\n\
         output \"ids\" {\n  value = [tollgate_team.t.team_id, tollgate_user.u.user_id, tollgate_user.u.user_role, tollgate_budget.b.budget_id]\n}\n",
    );
    tf.apply().await;
    tf.plan().await.assert_empty();
    let out = tf.must(&["output", "-json", "ids"]).await;
    let ids: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    for v in ids.as_array().unwrap() {
        assert!(
            v.as_str().is_some_and(|s| !s.is_empty()),
            "known after apply: {ids}"
        );
    }
    assert_eq!(ids[2], "internal_user");
    gw.stop().await;
}

/// A key made outside Terraform imports by its value (then `key` is known) or by its token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_imports_by_value_or_token() {
    let Some((gw, tf)) = setup().await else {
        return;
    };
    let made = gw
        .ok(
            "POST",
            "/key/generate",
            Some(json!({"key_alias": "legacy", "max_budget": 3})),
        )
        .await;
    let (raw, token) = (s(&made["key"]), s(&made["token"]));
    tf.config("resource \"tollgate_key\" \"k\" {\n  key_alias = \"legacy\"\n  max_budget = 3\n}\n");
    tf.must(&["import", "-no-color", "tollgate_key.k", &raw])
        .await;
    let st = tf.state("tollgate_key.k").await;
    assert_eq!(st["id"], token.as_str());
    assert_eq!(st["key"], raw.as_str());
    tf.plan().await.assert_empty();
    tf.must(&["state", "rm", "tollgate_key.k"]).await;
    tf.must(&["import", "-no-color", "tollgate_key.k", &token])
        .await;
    let st = tf.state("tollgate_key.k").await;
    assert_eq!(st["id"], token.as_str());
    assert!(st["key"].is_null());
    tf.plan().await.assert_empty();
    gw.stop().await;
}

/// `duration` renews the expiry when changed (LiteLLM provider #54: it was create-only).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_duration_renews_the_expiry() {
    let Some((gw, tf)) = setup().await else {
        return;
    };
    let config =
        |d: &str| format!("resource \"tollgate_key\" \"k\" {{\n  duration = \"{d}\"\n}}\n");
    tf.config(&config("1d"));
    tf.apply().await;
    tf.plan().await.assert_empty();
    let first = tf.state("tollgate_key.k").await;
    assert!(first["expires"].is_string(), "{first}");
    tf.config(&config("30d"));
    tf.plan().await.assert_action("tollgate_key.k", &["update"]);
    tf.apply().await;
    let second = tf.state("tollgate_key.k").await;
    assert!(
        s(&second["expires"]) > s(&first["expires"]),
        "{first} {second}"
    );
    assert_eq!(second["id"], first["id"]);
    let info = gw
        .ok("GET", &format!("/key/info?key={}", s(&second["id"])), None)
        .await;
    assert_eq!(info["info"]["expires"], second["expires"]);
    tf.plan().await.assert_empty();
    gw.stop().await;
}
