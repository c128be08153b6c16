//! /user/*.

use serde_json::json;
use tollgate_testkit::TestDb;

use crate::both;
use crate::common::{assert_error, Gateway, MASTER};

async fn user_crud(db: &TestDb) {
    let gw = Gateway::start(db).await;
    gw.post("/team/new", json!({"team_id": "ut"})).await;
    let v = gw.post("/user/new", json!({"user_id": "ann", "user_email": "ann@example.com", "user_role": "internal_user", "max_budget": 20, "teams": ["ut"]})).await;
    assert_eq!(v["user_id"], "ann");
    assert!(v["key"].as_str().unwrap().starts_with("sk-"));
    assert_eq!(v["teams"], json!(["ut"]));
    let key = v["key"].as_str().unwrap().to_owned();
    let (s, v) = gw
        .post_as(MASTER, "/user/new", json!({"user_id": "ann"}))
        .await;
    assert_error(s, &v, 400, "already exists");
    let (s, v) = gw
        .post_as(
            MASTER,
            "/user/new",
            json!({"user_email": "ann@example.com"}),
        )
        .await;
    assert_error(s, &v, 400, "already exists");
    let (s, v) = gw
        .post_as(MASTER, "/user/new", json!({"user_role": "god"}))
        .await;
    assert_error(s, &v, 400, "Invalid user_role");
    let no_key = gw
        .post(
            "/user/new",
            json!({"user_id": "nokey", "auto_create_key": false}),
        )
        .await;
    assert!(no_key.get("key").is_none());

    let v = gw
        .post(
            "/user/update",
            json!({"user_id": "ann", "user_alias": "Ann", "spend": 2}),
        )
        .await;
    assert_eq!(v["data"]["user_alias"], "Ann");
    let info = gw.get("/user/info?user_id=ann").await;
    assert_eq!(info["user_info"]["spend"], 2.0);
    assert_eq!(info["keys"].as_array().unwrap().len(), 1);
    assert_eq!(info["teams"][0]["team_id"], "ut");
    // Own info without a user_id.
    let (s, v) = gw.get_as(&key, "/user/info").await;
    assert_eq!(s, 200);
    assert_eq!(v["user_id"], "ann");
    let (s, v) = gw.get_as(&key, "/user/info?user_id=nokey").await;
    assert_error(s, &v, 403, "not allowed to access this user's info");

    let list = gw.get("/user/list?page_size=10").await;
    assert_eq!(list["total"], 2);
    let ann = list["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["user_id"] == "ann")
        .unwrap();
    assert_eq!(ann["key_count"], 1);
    let list = gw.get("/user/list?user_email=ANN@").await;
    assert_eq!(list["total"], 1);
    let list = gw
        .get("/user/list?user_ids=ann,nokey&role=internal_user")
        .await;
    assert_eq!(list["total"], 2);

    let v = gw.post("/user/delete", json!({"user_ids": ["ann"]})).await;
    assert_eq!(v["deleted_users"], json!(["ann"]));
    assert_eq!(gw.get_as(&key, "/key/info").await.0, 401);
    let (s, v) = gw.get_as(MASTER, "/user/info?user_id=ann").await;
    assert_error(s, &v, 404, "User not found");
    gw.stop().await;
}

both!(user_crud);
