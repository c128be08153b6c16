//! Models stored in the database: /model/new, /model/update, /model/delete.

use serde_json::json;
use tollgate_testkit::{FakeOpenAi, TestDb};

use crate::both;
use crate::common::{assert_error, Gateway, MASTER};

async fn stored_models_route_and_hide_their_secrets(db: &TestDb) {
    let up = FakeOpenAi::start().await;
    let gw = Gateway::start_config(
        db,
        Some("general_settings:\n  store_model_in_db: true\n"),
        &[
            ("LITELLM_MASTER_KEY", MASTER),
            ("LITELLM_SALT_KEY", "salty"),
        ],
    )
    .await;
    let v = gw
        .post(
            "/model/new",
            json!({"model_name": "db-gpt", "litellm_params": {"model": "openai/gpt-4o", "api_base": up.url(), "api_key": "sk-stored-secret"}, "model_info": {"id": "m1"}}),
        )
        .await;
    assert_eq!(v["model_id"], "m1");
    assert!(!v.to_string().contains("sk-stored-secret"));
    let (s, r) = gw
        .post_as(
            MASTER,
            "/v1/chat/completions",
            json!({"model": "db-gpt", "messages": [{"role": "user", "content": "x"}]}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(
        up.last_request().unwrap().header("authorization"),
        Some("Bearer sk-stored-secret")
    );
    let info = gw.get("/model/info").await;
    assert!(!info.to_string().contains("sk-stored-secret"), "{info}");
    assert_eq!(info["data"][0]["model_info"]["db_model"], true);
    // The secret is encrypted at rest.
    let stored = gw
        .state
        .store
        .get::<tollgate_store::ModelRecord>(&["m1"])
        .await
        .unwrap()
        .unwrap();
    let at_rest = stored.litellm_params["api_key"].as_str().unwrap();
    assert_ne!(at_rest, "sk-stored-secret");
    // Update renames the group; the old name stops working.
    gw.post(
        "/model/update",
        json!({"model_id": "m1", "model_name": "db-gpt-2"}),
    )
    .await;
    let (s, _) = gw
        .post_as(
            MASTER,
            "/v1/chat/completions",
            json!({"model": "db-gpt", "messages": []}),
        )
        .await;
    assert_eq!(s, 400);
    let (s, _) = gw
        .post_as(
            MASTER,
            "/v1/chat/completions",
            json!({"model": "db-gpt-2", "messages": []}),
        )
        .await;
    assert_eq!(s, 200);
    // Survives a restart.
    gw.stop().await;
    let gw = Gateway::start_config(
        db,
        Some("general_settings:\n  store_model_in_db: true\n"),
        &[
            ("LITELLM_MASTER_KEY", MASTER),
            ("LITELLM_SALT_KEY", "salty"),
        ],
    )
    .await;
    let (s, r) = gw
        .post_as(
            MASTER,
            "/v1/chat/completions",
            json!({"model": "db-gpt-2", "messages": []}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    gw.post("/model/delete", json!({"id": "m1"})).await;
    let (s, _) = gw
        .post_as(
            MASTER,
            "/v1/chat/completions",
            json!({"model": "db-gpt-2", "messages": []}),
        )
        .await;
    assert_eq!(s, 400);
    let (s, v) = gw
        .post_as(MASTER, "/model/delete", json!({"id": "m1"}))
        .await;
    assert_error(s, &v, 404, "not found");
    let (s, v) = gw
        .post_as(
            MASTER,
            "/model/new",
            json!({"model_name": "bad", "litellm_params": {"model": "unknownprovider/x"}}),
        )
        .await;
    assert_error(s, &v, 400, "not supported");
    gw.stop().await;
}

async fn model_management_needs_store_model_in_db(db: &TestDb) {
    let gw = Gateway::start(db).await;
    let (s, v) = gw
        .post_as(
            MASTER,
            "/model/new",
            json!({"model_name": "x", "litellm_params": {"model": "mock/x"}}),
        )
        .await;
    assert_error(s, &v, 400, "STORE_MODEL_IN_DB");
    gw.stop().await;
}

/// `/model/{id}/info`: the stored model as written, secrets left out; 404 once deleted.
async fn one_stored_model_reads_back_as_written(db: &TestDb) {
    let gw = Gateway::start_config(
        db,
        Some("general_settings:\n  store_model_in_db: true\n"),
        &[("LITELLM_MASTER_KEY", MASTER)],
    )
    .await;
    gw.post(
        "/model/new",
        json!({"model_name": "m", "litellm_params": {"model": "mock/x", "api_key": "sk-hidden", "rpm": 5},
               "model_info": {"id": "m9", "mode": "chat"}}),
    )
    .await;
    let v = gw.get("/model/m9/info").await;
    assert_eq!(v["model_id"], "m9");
    assert_eq!(v["model_name"], "m");
    assert_eq!(v["litellm_params"], json!({"model": "mock/x", "rpm": 5}));
    assert_eq!(v["model_info"]["mode"], "chat");
    let (s, v) = gw.get_as(MASTER, "/model/nope/info").await;
    assert_error(s, &v, 404, "not found");
    gw.post("/model/delete", json!({"id": "m9"})).await;
    let (s, v) = gw.get_as(MASTER, "/model/m9/info").await;
    assert_error(s, &v, 404, "not found");
    gw.stop().await;
}

both!(
    stored_models_route_and_hide_their_secrets,
    model_management_needs_store_model_in_db,
    one_stored_model_reads_back_as_written
);
