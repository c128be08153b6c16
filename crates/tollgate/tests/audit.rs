//! /audit.

use serde_json::{json, Value};
use tollgate_testkit::TestDb;

use crate::both;
use crate::common::{assert_error, Gateway, MASTER};

fn actions(v: &Value) -> Vec<&str> {
    v["audit_logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect()
}

async fn audit_log_records_writes(db: &TestDb) {
    let gw = Gateway::start(db).await;
    let created = gw.post("/key/generate", json!({"key_alias": "a1"})).await;
    let raw = created["key"].as_str().unwrap().to_owned();
    let key_id = created["key_id"].as_str().unwrap().to_owned();
    let resp = reqwest::Client::new()
        .post(format!("{}/key/update", gw.url))
        .bearer_auth(MASTER)
        .header("litellm-changed-by", "alice")
        .json(&json!({"key": raw, "max_budget": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    gw.post("/key/delete", json!({"keys": [raw]})).await;

    let v = gw
        .get(&format!("/audit?table_name=keys&object_id={key_id}"))
        .await;
    assert_eq!(v["total"], 3);
    assert_eq!(actions(&v), ["deleted", "updated", "created"]);
    let logs = &v["audit_logs"];
    assert!(logs
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["object_id"] == key_id.as_str() && e["table_name"] == "keys"));
    assert_eq!(logs[1]["changed_by"], "alice");
    assert_ne!(logs[0]["changed_by"], "alice");
    assert_eq!(logs[1]["before_value"]["max_budget"], Value::Null);
    assert_eq!(logs[1]["updated_values"]["max_budget"], 5.0);
    assert_eq!(logs[0]["before_value"]["key_alias"], "a1");
    assert_eq!(logs[0]["updated_values"], Value::Null);
    assert_eq!(logs[2]["before_value"], Value::Null);
    assert_eq!(logs[2]["updated_values"]["key_alias"], "a1");
    let by_alice = gw.get("/audit?changed_by=alice").await;
    assert_eq!(by_alice["total"], 1);
    assert_eq!(by_alice["audit_logs"][0]["object_id"], key_id.as_str());

    gw.post("/team/new", json!({"team_id": "t", "team_alias": "one"}))
        .await;
    gw.post("/team/update", json!({"team_id": "t", "team_alias": "two"}))
        .await;
    gw.post("/team/delete", json!({"team_ids": ["t"]})).await;
    let v = gw
        .get("/audit?table_name=LiteLLM_TeamTable&object_id=t")
        .await;
    assert_eq!(actions(&v), ["deleted", "updated", "created"]);
    let logs = &v["audit_logs"];
    assert_eq!(logs[1]["before_value"]["team_alias"], "one");
    assert_eq!(logs[1]["updated_values"]["team_alias"], "two");
    assert_eq!(logs[0]["before_value"]["team_alias"], "two");
    gw.stop().await;
}

async fn audit_filters_and_pages(db: &TestDb) {
    let gw = Gateway::start(db).await;
    gw.post("/team/new", json!({"team_id": "t", "team_alias": "one"}))
        .await;
    gw.post("/team/update", json!({"team_id": "t", "team_alias": "two"}))
        .await;
    gw.post(
        "/team/update",
        json!({"team_id": "t", "team_alias": "three"}),
    )
    .await;
    let base = "/audit?table_name=team&object_id=t";

    let v = gw.get(&format!("{base}&page=2&page_size=1")).await;
    assert_eq!(v["total"], 3);
    assert_eq!(v["page"], 2);
    assert_eq!(v["page_size"], 1);
    assert_eq!(v["total_pages"], 3);
    assert_eq!(actions(&v), ["updated"]);
    assert_eq!(v["audit_logs"][0]["updated_values"]["team_alias"], "two");
    let v = gw.get(&format!("{base}&page=3&page_size=1")).await;
    assert_eq!(actions(&v), ["created"]);
    let v = gw.get(&format!("{base}&page=4&page_size=1")).await;
    assert_eq!(v["audit_logs"].as_array().unwrap().len(), 0);

    let v = gw
        .get(&format!("{base}&start_date=2000-01-01&end_date=2999-12-31"))
        .await;
    assert_eq!(v["total"], 3);
    let v = gw
        .get(&format!("{base}&start_date=2000-01-01&end_date=2000-01-02"))
        .await;
    assert_eq!(v["total"], 0);
    let v = gw.get(&format!("{base}&start_date=2999-01-01")).await;
    assert_eq!(v["total"], 0);
    let v = gw.get(&format!("{base}&action=created")).await;
    assert_eq!(v["total"], 1);
    let (s, v) = gw
        .get_as(MASTER, &format!("{base}&start_date=yesterday"))
        .await;
    assert_error(s, &v, 400, "start_date must be a date");
    let (s, v) = gw.get_as(MASTER, &format!("{base}&page_size=0")).await;
    assert_error(s, &v, 400, "page_size must be between 1 and 1000");
    gw.stop().await;
}

async fn audit_is_for_admins(db: &TestDb) {
    let gw = Gateway::start(db).await;
    let key = gw.user("u", "internal_user").await;
    let (s, v) = gw.get_as(&key, "/audit").await;
    // The route gate refuses non-admins before the handler runs, with LiteLLM's 401.
    assert_error(s, &v, 401, "Route=/audit. Your role=internal_user");
    gw.stop().await;
}

both!(
    audit_log_records_writes,
    audit_filters_and_pages,
    audit_is_for_admins
);
