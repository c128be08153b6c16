//! /budget/*.

use serde_json::json;
use tollgate_testkit::TestDb;

use crate::both;
use crate::common::{assert_error, Gateway, MASTER};

async fn budget_crud(db: &TestDb) {
    let gw = Gateway::start(db).await;
    let v = gw
        .post(
            "/budget/new",
            json!({"budget_id": "b1", "max_budget": 10, "tpm_limit": 100, "budget_duration": "30d"}),
        )
        .await;
    assert_eq!(v["budget_id"], "b1");
    assert_eq!(v["max_budget"], 10.0);
    assert_eq!(v["tpm_limit"], 100);
    assert_eq!(v["budget_duration"], "30d");
    assert!(v["budget_reset_at"].is_string(), "{v}");
    let (s, v) = gw
        .post_as(MASTER, "/budget/new", json!({"budget_id": "b1"}))
        .await;
    assert_error(s, &v, 400, "Budget with id 'b1' already exists.");
    let (s, v) = gw
        .post_as(
            MASTER,
            "/budget/new",
            json!({"budget_id": "neg", "max_budget": -1}),
        )
        .await;
    assert_error(s, &v, 400, "max_budget");
    let (s, v) = gw
        .post_as(
            MASTER,
            "/budget/new",
            json!({"budget_id": "dur", "budget_duration": "often"}),
        )
        .await;
    assert_error(s, &v, 400, "budget_duration");

    let v = gw
        .post(
            "/budget/update",
            json!({"budget_id": "b1", "max_budget": 20}),
        )
        .await;
    assert_eq!(v["max_budget"], 20.0);
    assert_eq!(v["tpm_limit"], 100);
    let (s, v) = gw
        .post_as(
            MASTER,
            "/budget/update",
            json!({"budget_id": "b1", "max_budget": -5}),
        )
        .await;
    assert_error(s, &v, 400, "max_budget");
    let (s, v) = gw
        .post_as(
            MASTER,
            "/budget/update",
            json!({"budget_id": "nope", "max_budget": 1}),
        )
        .await;
    assert_error(s, &v, 404, "Budget not found, passed budget_id=nope");

    gw.post("/budget/new", json!({"budget_id": "b2", "rpm_limit": 7}))
        .await;
    let v = gw
        .post("/budget/info", json!({"budgets": ["b2", "b1"]}))
        .await;
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(v[0]["rpm_limit"], 7);
    assert_eq!(v[1]["max_budget"], 20.0);
    let (s, v) = gw
        .post_as(MASTER, "/budget/info", json!({"budgets": ["b1", "nope"]}))
        .await;
    assert_error(s, &v, 404, "Budget not found, passed budget_id(s)=nope");
    let (s, v) = gw
        .post_as(MASTER, "/budget/info", json!({"budgets": []}))
        .await;
    assert_error(s, &v, 400, "Specify list of budget id's");

    let list = gw.get("/budget/list").await;
    let mut ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["budget_id"].as_str().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, ["b1", "b2"]);
    gw.stop().await;
}

async fn budget_delete_waits_for_its_users(db: &TestDb) {
    let gw = Gateway::start(db).await;
    gw.post("/budget/new", json!({"budget_id": "b", "max_budget": 3}))
        .await;
    gw.post(
        "/organization/new",
        json!({"organization_id": "o", "organization_alias": "Org", "budget_id": "b"}),
    )
    .await;
    let (s, v) = gw
        .post_as(MASTER, "/budget/delete", json!({"id": "b"}))
        .await;
    assert_error(s, &v, 400, "Budget b is still used by 1 organization(s)");
    let (s, v) = gw
        .call(
            "DELETE",
            "/organization/delete",
            Some(MASTER),
            Some(json!({"organization_ids": ["o"]})),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{v}");
    let v = gw.post("/budget/delete", json!({"id": "b"})).await;
    assert_eq!(v["budget_id"], "b");
    assert_eq!(v["max_budget"], 3.0);
    let (s, v) = gw
        .post_as(MASTER, "/budget/info", json!({"budgets": ["b"]}))
        .await;
    assert_error(s, &v, 404, "Budget not found");
    let (s, v) = gw
        .post_as(MASTER, "/budget/delete", json!({"id": "b"}))
        .await;
    assert_error(s, &v, 404, "Budget not found, passed budget_id=b");
    gw.stop().await;
}

both!(budget_crud, budget_delete_waits_for_its_users);
