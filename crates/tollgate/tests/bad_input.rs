//! Bad input gets a 4xx in the OpenAI envelope naming the field, never a 500, and a failed
//! write leaves nothing behind.

use serde_json::json;
use tollgate_testkit::TestDb;

use crate::both;
use crate::common::{assert_error, Gateway, MASTER};

async fn malformed_and_mistyped_bodies(db: &TestDb) {
    let gw = Gateway::start(db).await;
    let resp = reqwest::Client::new()
        .post(format!("{}/key/generate", gw.url))
        .bearer_auth(MASTER)
        .header("content-type", "application/json")
        .body("{\"key_alias\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Malformed JSON"));

    for (path, body, field) in [
        ("/key/generate", json!({"max_budget": "lots"}), "max_budget"),
        ("/key/generate", json!({"models": "gpt-4o"}), "models"),
        ("/key/generate", json!({"rpm_limit": 1.5}), "rpm_limit"),
        (
            "/team/new",
            json!({"members_with_roles": [{"user_id": 5}]}),
            "members_with_roles[0].user_id",
        ),
        ("/team/update", json!({"team_alias": "x"}), "team_id"),
        ("/key/update", json!({}), "key"),
        ("/user/delete", json!({}), "user_ids"),
    ] {
        let (s, v) = gw.post_as(MASTER, path, body).await;
        assert_error(s, &v, 422, field);
        assert_eq!(v["error"]["param"], field, "{path}: {v}");
    }
    gw.stop().await;
}

async fn bad_values(db: &TestDb) {
    let gw = Gateway::start(db).await;
    for (path, body, needle) in [
        ("/key/generate", json!({"max_budget": -1}), "max_budget"),
        ("/key/generate", json!({"soft_budget": -0.5}), "soft_budget"),
        ("/key/generate", json!({"tpm_limit": -1}), "tpm_limit"),
        ("/key/generate", json!({"duration": "3 days"}), "duration"),
        (
            "/key/generate",
            json!({"budget_duration": "1x"}),
            "budget_duration",
        ),
        ("/team/new", json!({"max_budget": -5}), "max_budget"),
        (
            "/team/new",
            json!({"max_budget": 5, "soft_budget": 6}),
            "soft_budget",
        ),
        (
            "/team/new",
            json!({"budget_duration": "0d"}),
            "budget_duration",
        ),
        ("/user/new", json!({"max_budget": -1}), "max_budget"),
    ] {
        let (s, v) = gw.post_as(MASTER, path, body).await;
        assert_error(s, &v, 400, needle);
    }
    // Numbers JSON cannot hold are malformed input, not a crash.
    let resp = reqwest::Client::new()
        .post(format!("{}/key/generate", gw.url))
        .bearer_auth(MASTER)
        .body("{\"max_budget\": 1e400}")
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_client_error());
    gw.stop().await;
}

async fn failed_writes_leave_nothing(db: &TestDb) {
    let gw = Gateway::start(db).await;
    let (s, v) = gw
        .post_as(MASTER, "/team/new", json!({"team_id": "half", "members_with_roles": [{"role": "user", "user_id": "first"}, {"role": "boss", "user_id": "second"}]}))
        .await;
    assert_error(s, &v, 400, "Invalid team role");
    assert_eq!(gw.get_as(MASTER, "/team/info?team_id=half").await.0, 404);
    assert_eq!(gw.get_as(MASTER, "/user/info?user_id=first").await.0, 404);
    // Deleting a mix of real and unknown keys deletes none.
    let real = gw.key(json!({})).await;
    let (s, _) = gw
        .post_as(
            MASTER,
            "/key/delete",
            json!({"keys": [real, "sk-not-there-0000000"]}),
        )
        .await;
    assert_eq!(s, 404);
    assert_eq!(gw.get_as(&real, "/key/info").await.0, 200);
    gw.stop().await;
}

async fn unknown_routes_and_methods(db: &TestDb) {
    let gw = Gateway::start(db).await;
    let (s, v) = gw.get_as(MASTER, "/no/such/route").await;
    assert_error(s, &v, 404, "Route not found");
    let (s, v) = gw.get_as(MASTER, "/key/generate").await;
    assert_eq!(s, 422, "{v}");
    gw.stop().await;
}

both!(
    malformed_and_mistyped_bodies,
    bad_values,
    failed_writes_leave_nothing,
    unknown_routes_and_methods,
);
