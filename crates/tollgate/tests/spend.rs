//! Spend: exact accounting on every entity, attribution across regeneration and deletion,
//! budgets, rate limits and budget resets.

use chrono::Utc;
use serde_json::{json, Value};
use tollgate_testkit::{FakeOpenAi, TestDb};

use crate::both;
use crate::common::{assert_error, Gateway, MASTER};
use crate::inference::{config, sse_data, GPT4O_IN, GPT4O_OUT};

fn chat(stream: bool) -> Value {
    json!({"model": "gpt-4o", "stream": stream, "messages": [{"role": "user", "content": "hello"}]})
}

async fn call(gw: &Gateway, key: &str, body: &Value) -> (u16, Value) {
    let resp = gw
        .request("/v1/chat/completions")
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    if body["stream"] == true && status == 200 {
        let _ = sse_data(resp).await;
        return (status, Value::Null);
    }
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

async fn spend_is_exact_on_every_entity(db: &TestDb) {
    let up = FakeOpenAi::start().await;
    up.set_usage(12, 8);
    let gw = Gateway::with_config(db, &config(&up.url())).await;
    gw.post(
        "/organization/new",
        json!({"organization_id": "org", "organization_alias": "Org"}),
    )
    .await;
    gw.post("/team/new", json!({"team_id": "team", "organization_id": "org", "members_with_roles": [{"role": "user", "user_id": "u1"}]})).await;
    let key = gw
        .key(json!({"team_id": "team", "user_id": "u1", "key_alias": "acc"}))
        .await;
    let n = 6;
    for i in 0..n {
        let (s, v) = call(&gw, &key, &chat(i % 2 == 0)).await;
        assert_eq!(s, 200, "{v}");
    }
    gw.flush().await;
    let expected = f64::from(n) * (12.0 * GPT4O_IN + 8.0 * GPT4O_OUT);
    let key_spend = gw.get(&format!("/key/info?key={key}")).await["info"]["spend"]
        .as_f64()
        .unwrap();
    let team_spend = gw.get("/team/info?team_id=team").await["team_info"]["spend"]
        .as_f64()
        .unwrap();
    let user_spend = gw.get("/user/info?user_id=u1").await["user_info"]["spend"]
        .as_f64()
        .unwrap();
    let org_spend = gw.get("/organization/info?organization_id=org").await["spend"]
        .as_f64()
        .unwrap();
    for (what, got) in [
        ("key", key_spend),
        ("team", team_spend),
        ("user", user_spend),
        ("org", org_spend),
    ] {
        assert!(close(got, expected), "{what}: {got} != {expected}");
    }
    let member = &gw.get("/team/info?team_id=team").await["team_memberships"][0];
    assert!(
        close(member["spend"].as_f64().unwrap(), expected),
        "{member}"
    );
    let logs = gw.get("/spend/logs").await;
    assert_eq!(logs.as_array().unwrap().len(), n as usize);
    gw.stop().await;
}

async fn attribution_survives_regeneration_and_deletion(db: &TestDb) {
    let up = FakeOpenAi::start().await;
    up.set_usage(10, 10);
    let gw = Gateway::with_config(db, &config(&up.url())).await;
    gw.post("/team/new", json!({"team_id": "T", "team_alias": "Team T"}))
        .await;
    let k1 = gw
        .key(json!({"key_alias": "K", "team_id": "T", "user_id": "owner"}))
        .await;
    for _ in 0..3 {
        assert_eq!(call(&gw, &k1, &chat(false)).await.0, 200);
    }
    let k2 = gw.post("/key/regenerate", json!({"key": k1})).await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..2 {
        assert_eq!(call(&gw, &k2, &chat(true)).await.0, 200);
    }
    gw.post("/key/delete", json!({"keys": [k2]})).await;
    gw.flush().await;
    let per_call = 10.0 * GPT4O_IN + 10.0 * GPT4O_OUT;
    let today = Utc::now().date_naive().to_string();
    let h1 = tollgate::auth::keys::hash(&k1);
    let h2 = tollgate::auth::keys::hash(&k2);
    for path in [
        format!("/user/daily/activity/aggregated?start_date={today}&end_date={today}"),
        format!("/team/daily/activity?start_date={today}&end_date={today}&team_ids=T"),
        format!("/team/daily/activity/aggregated?start_date={today}&end_date={today}"),
    ] {
        let v = gw.get(&path).await;
        let keys = &v["results"][0]["breakdown"]["api_keys"];
        for (hash, calls) in [(&h1, 3.0), (&h2, 2.0)] {
            let entry = &keys[hash.as_str()];
            assert_eq!(entry["metadata"]["key_alias"], "K", "{path}: {v}");
            assert_eq!(entry["metadata"]["team_id"], "T", "{path}: {v}");
            assert!(
                close(
                    entry["metrics"]["spend"].as_f64().unwrap(),
                    calls * per_call
                ),
                "{path}: {entry}"
            );
            assert_eq!(entry["metrics"]["api_requests"], calls as i64);
        }
        assert!(
            close(
                v["metadata"]["total_spend"].as_f64().unwrap(),
                5.0 * per_call
            ),
            "{path}"
        );
    }
    let team = gw
        .get(&format!(
            "/team/daily/activity?start_date={today}&end_date={today}"
        ))
        .await;
    assert_eq!(
        team["results"][0]["breakdown"]["entities"]["T"]["metadata"]["team_alias"],
        "Team T"
    );
    gw.stop().await;
}

async fn budgets_stop_spending(db: &TestDb) {
    let up = FakeOpenAi::start().await;
    up.set_usage(1000, 1000);
    let gw = Gateway::with_config(db, &config(&up.url())).await;
    // One call costs 0.0125: the first crosses 0.01, the second is refused.
    let key = gw.key(json!({"max_budget": 0.01})).await;
    assert_eq!(call(&gw, &key, &chat(false)).await.0, 200);
    let (s, v) = call(&gw, &key, &chat(false)).await;
    assert_error(
        reqwest::StatusCode::from_u16(s).unwrap(),
        &v,
        400,
        "Budget has been exceeded!",
    );
    assert_eq!(v["error"]["type"], "budget_exceeded");
    // Team budgets.
    gw.post("/team/new", json!({"team_id": "poor", "max_budget": 0.01}))
        .await;
    let tk = gw.key(json!({"team_id": "poor"})).await;
    assert_eq!(call(&gw, &tk, &chat(true)).await.0, 200);
    let (s, v) = call(&gw, &tk, &chat(false)).await;
    assert_eq!(s, 400, "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Team=poor"));
    // Customer budgets through the request's `user`.
    gw.post(
        "/customer/new",
        json!({"user_id": "cust", "max_budget": 0.01}),
    )
    .await;
    let open = gw.key(json!({})).await;
    let mut body = chat(false);
    body["user"] = json!("cust");
    assert_eq!(call(&gw, &open, &body).await.0, 200);
    let (s, v) = call(&gw, &open, &body).await;
    assert_eq!(s, 400, "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("End User=cust"));
    gw.stop().await;
}

async fn rate_limits_answer_429(db: &TestDb) {
    let up = FakeOpenAi::start().await;
    let gw = Gateway::with_config(db, &config(&up.url())).await;
    let key = gw.key(json!({"rpm_limit": 2})).await;
    let resp = gw
        .request("/v1/chat/completions")
        .bearer_auth(&key)
        .json(&chat(false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-ratelimit-limit-requests"], "2");
    assert_eq!(resp.headers()["x-ratelimit-remaining-requests"], "1");
    assert_eq!(call(&gw, &key, &chat(false)).await.0, 200);
    let resp = gw
        .request("/v1/chat/completions")
        .bearer_auth(&key)
        .json(&chat(false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    let v: Value = resp.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Limit type: requests"),
        "{v}"
    );
    // Per-model limits.
    let mk = gw.key(json!({"model_rpm_limit": {"gpt-4o": 1}})).await;
    assert_eq!(call(&gw, &mk, &chat(false)).await.0, 200);
    assert_eq!(call(&gw, &mk, &chat(false)).await.0, 429);
    // Token limits count the previous calls' tokens.
    up.set_usage(50, 50);
    let tk = gw.key(json!({"tpm_limit": 100})).await;
    assert_eq!(call(&gw, &tk, &chat(false)).await.0, 200);
    let (s, v) = call(&gw, &tk, &chat(false)).await;
    assert_eq!(s, 429, "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Limit type: tokens"));
    // Parallel requests.
    up.set_latency(std::time::Duration::from_millis(400));
    let pk = gw.key(json!({"max_parallel_requests": 1})).await;
    let body = chat(false);
    let (a, b) = tokio::join!(call(&gw, &pk, &body), async {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        call(&gw, &pk, &body).await
    });
    assert_eq!(a.0, 200);
    assert_eq!(b.0, 429, "{}", b.1);
    gw.stop().await;
}

async fn budgets_reset_on_their_boundary(db: &TestDb) {
    let up = FakeOpenAi::start().await;
    let yaml = format!(
        "{}  proxy_budget_rescheduler_min_time: 1\n",
        config(&up.url())
    );
    let gw = Gateway::with_config(db, &yaml).await;
    let key = gw
        .key(json!({"budget_duration": "2s", "max_budget": 100}))
        .await;
    assert_eq!(call(&gw, &key, &chat(false)).await.0, 200);
    gw.flush().await;
    let before = gw.get(&format!("/key/info?key={key}")).await["info"]["spend"]
        .as_f64()
        .unwrap();
    assert!(before > 0.0);
    let mut reset = false;
    for _ in 0..40 {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        let info = gw.get(&format!("/key/info?key={key}")).await;
        if info["info"]["spend"].as_f64() == Some(0.0) {
            assert!(info["info"]["budget_reset_at"].is_string(), "{info}");
            reset = true;
            break;
        }
    }
    assert!(reset, "the key's spend was never reset");
    gw.stop().await;
}

both!(
    spend_is_exact_on_every_entity,
    attribution_survives_regeneration_and_deletion,
    budgets_stop_spending,
    rate_limits_answer_429,
    budgets_reset_on_their_boundary,
);

#[tokio::test]
async fn a_key_without_a_master_key_gateway_is_still_usable() {
    let db = TestDb::sqlite();
    let gw = Gateway::start_config(&db, Some(&config("http://127.0.0.1:9")), &[]).await;
    let (s, v) = gw
        .call(
            "POST",
            "/v1/chat/completions",
            None,
            Some(json!({"model": "mock-model", "messages": []})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let _ = MASTER;
    gw.stop().await;
}
