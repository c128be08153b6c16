//! /customer/* and its /end_user/* aliases.

use serde_json::json;
use tollgate_testkit::TestDb;

use crate::both;
use crate::common::{assert_error, Gateway, MASTER};

async fn customer_crud(db: &TestDb) {
    let gw = Gateway::start(db).await;
    let v = gw
        .post(
            "/customer/new",
            json!({"user_id": "c1", "alias": "Cust", "max_budget": 10, "allowed_model_region": "eu"}),
        )
        .await;
    assert_eq!(v["user_id"], "c1");
    assert_eq!(v["alias"], "Cust");
    assert_eq!(v["blocked"], false);
    assert_eq!(v["allowed_model_region"], "eu");
    assert_eq!(v["litellm_budget_table"]["max_budget"], 10.0);
    let (s, v) = gw
        .post_as(MASTER, "/customer/new", json!({"user_id": "c1"}))
        .await;
    assert_error(s, &v, 400, "Customer already exists, passed user_id=c1");
    let (s, v) = gw
        .post_as(
            MASTER,
            "/customer/new",
            json!({"user_id": "c2", "allowed_model_region": "apac"}),
        )
        .await;
    assert_error(s, &v, 400, "allowed_model_region must be one of");

    let v = gw.get("/customer/info?end_user_id=c1").await;
    assert_eq!(v["alias"], "Cust");
    assert_eq!(v["litellm_budget_table"]["max_budget"], 10.0);
    let (s, v) = gw.get_as(MASTER, "/customer/info?end_user_id=nope").await;
    assert_error(s, &v, 404, "End User Id=nope does not exist in db");

    let v = gw
        .post(
            "/customer/update",
            json!({"user_id": "c1", "alias": "Cust2", "max_budget": 20}),
        )
        .await;
    assert_eq!(v["alias"], "Cust2");
    assert_eq!(v["litellm_budget_table"]["max_budget"], 20.0);
    let (s, v) = gw
        .post_as(
            MASTER,
            "/customer/update",
            json!({"user_id": "c1", "allowed_model_region": "mars"}),
        )
        .await;
    assert_error(s, &v, 400, "allowed_model_region");
    let (s, v) = gw
        .post_as(
            MASTER,
            "/customer/update",
            json!({"user_id": "nope", "alias": "x"}),
        )
        .await;
    assert_error(s, &v, 404, "does not exist in db");

    gw.post("/customer/new", json!({"user_id": "c2"})).await;
    let list = gw.get("/customer/list").await;
    assert_eq!(list.as_array().unwrap().len(), 2);

    let v = gw
        .post("/customer/block", json!({"user_ids": ["c1", "c3"]}))
        .await;
    let blocked = v["blocked_users"].as_array().unwrap();
    assert_eq!(blocked.len(), 2);
    assert!(blocked.iter().all(|c| c["blocked"] == true));
    assert_eq!(
        gw.get("/customer/info?end_user_id=c3").await["blocked"],
        true
    );
    let v = gw
        .post("/customer/unblock", json!({"user_ids": ["c1"]}))
        .await;
    assert_eq!(v["unblocked_users"][0]["user_id"], "c1");
    assert_eq!(v["unblocked_users"][0]["blocked"], false);
    assert_eq!(
        gw.get("/customer/info?end_user_id=c1").await["blocked"],
        false
    );
    let (s, v) = gw
        .post_as(MASTER, "/customer/unblock", json!({"user_ids": ["ghost"]}))
        .await;
    assert_error(s, &v, 404, "do not exist in db");

    let v = gw
        .post("/customer/delete", json!({"user_ids": ["c1"]}))
        .await;
    assert_eq!(v["deleted_customers"], json!(["c1"]));
    let (s, v) = gw.get_as(MASTER, "/customer/info?end_user_id=c1").await;
    assert_error(s, &v, 404, "End User Id=c1 does not exist in db");
    let (s, v) = gw
        .post_as(MASTER, "/customer/delete", json!({"user_ids": ["c1"]}))
        .await;
    assert_error(s, &v, 404, "do not exist in db");
    assert_eq!(gw.get("/customer/list").await.as_array().unwrap().len(), 2);
    gw.stop().await;
}

async fn end_user_aliases(db: &TestDb) {
    let gw = Gateway::start(db).await;
    let v = gw
        .post(
            "/end_user/new",
            json!({"user_id": "e1", "allowed_model_region": "us"}),
        )
        .await;
    assert_eq!(v["user_id"], "e1");
    assert_eq!(v["allowed_model_region"], "us");
    let (s, v) = gw
        .post_as(MASTER, "/end_user/new", json!({"user_id": "e1"}))
        .await;
    assert_error(s, &v, 400, "Customer already exists");
    // Both prefixes see the same customers.
    assert_eq!(
        gw.get("/customer/info?end_user_id=e1").await["user_id"],
        "e1"
    );
    let list = gw.get("/end_user/list").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (s, v) = gw.get_as(MASTER, "/end_user/info?end_user_id=zz").await;
    assert_error(s, &v, 404, "End User Id=zz does not exist in db");
    gw.post("/end_user/block", json!({"user_ids": ["e1"]}))
        .await;
    assert_eq!(
        gw.get("/end_user/info?end_user_id=e1").await["blocked"],
        true
    );
    gw.stop().await;
}

both!(customer_crud, end_user_aliases);
