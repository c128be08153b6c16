//! Longer runs across replicas: exact rate limits over a whole window, and eight replicas
//! writing overlapping spend to one PostgreSQL without a deadlock. Under `CI=true` they run for
//! the full minute the issue names; elsewhere for a few seconds.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::json;
use tollgate_testkit::TestDb;

use crate::common::{Gateway, MASTER};

fn run_for() -> Duration {
    if std::env::var("CI").as_deref() == Ok("true") {
        Duration::from_secs(58)
    } else {
        Duration::from_secs(6)
    }
}

const MOCK: &str = "model_list:\n  - model_name: m\n    litellm_params: {model: mock/m, input_cost_per_token: 0.000001, output_cost_per_token: 0.000002}\n\
general_settings:\n  proxy_batch_write_at: 0.05\n  database_connection_pool_limit: 3\n";

async fn call(gw: &Gateway, key: &str) -> (u16, f64) {
    let resp = gw
        .request("/v1/chat/completions")
        .bearer_auth(key)
        .json(&json!({"model": "m", "messages": [{"role": "user", "content": "hello"}]}))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let cost = resp
        .headers()
        .get("x-litellm-response-cost")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    let _ = resp.bytes().await;
    (status, cost)
}

#[tokio::test]
async fn rpm_holds_over_a_whole_window_across_replicas() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let redis = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!("tollgate-soak:{}:", uuid::Uuid::new_v4());
    let env = [
        ("LITELLM_MASTER_KEY", MASTER),
        ("REDIS_URL", redis.as_str()),
        ("TOLLGATE_REDIS_PREFIX", prefix.as_str()),
    ];
    let mut gws = Vec::new();
    for _ in 0..3 {
        gws.push(Gateway::start_config(&db, Some(MOCK), &env).await);
    }
    let key = gws[0].key(json!({"rpm_limit": 30})).await;
    let (start, span) = (Instant::now(), run_for());
    let pause = span / 90;
    let (mut ok, mut limited, mut i) = (0, 0, 0);
    while start.elapsed() < span {
        match call(&gws[i % 3], &key).await.0 {
            200 => ok += 1,
            429 => limited += 1,
            other => panic!("unexpected status {other}"),
        }
        i += 1;
        tokio::time::sleep(pause).await;
    }
    assert_eq!(
        ok, 30,
        "{ok} succeeded and {limited} were limited in {span:?}"
    );
    assert!(limited > 0);
    for gw in gws {
        gw.stop().await;
    }
}

#[tokio::test]
async fn eight_replicas_write_overlapping_spend_without_deadlocks() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let mut gws = Vec::new();
    for _ in 0..8 {
        gws.push(Gateway::with_config(&db, MOCK).await);
    }
    gws[0].post("/team/new", json!({"team_id": "ta"})).await;
    gws[0].post("/team/new", json!({"team_id": "tb"})).await;
    let mut keys = Vec::new();
    for i in 0..4 {
        let team = if i % 2 == 0 { "ta" } else { "tb" };
        keys.push((
            gws[0]
                .key(json!({"team_id": team, "user_id": format!("u{}", i % 2)}))
                .await,
            team,
        ));
    }
    let span = run_for();
    let gws = std::sync::Arc::new(gws);
    let mut tasks = Vec::new();
    for r in 0..8 {
        let (gws, keys) = (gws.clone(), keys.clone());
        tasks.push(tokio::spawn(async move {
            let mut spent: HashMap<String, f64> = HashMap::new();
            let (start, mut i) = (Instant::now(), r);
            while start.elapsed() < span {
                let (key, team) = &keys[i % keys.len()];
                let (status, cost) = call(&gws[r], key).await;
                assert_eq!(status, 200);
                *spent.entry(key.clone()).or_default() += cost;
                *spent.entry((*team).to_owned()).or_default() += cost;
                i += 1;
            }
            spent
        }));
    }
    let mut expected: HashMap<String, f64> = HashMap::new();
    for t in tasks {
        for (k, v) in t.await.unwrap() {
            *expected.entry(k).or_default() += v;
        }
    }
    for gw in gws.iter() {
        gw.flush().await;
        assert_eq!(
            gw.state.spend.failures(),
            0,
            "a spend write failed (deadlock?)"
        );
    }
    for (key, _) in &keys {
        let info = gws[0].get(&format!("/key/info?key={key}")).await;
        let got = info["info"]["spend"].as_f64().unwrap();
        assert!(
            (got - expected[key]).abs() < 1e-9,
            "key spend {got} != {}",
            expected[key]
        );
    }
    for team in ["ta", "tb"] {
        let info = gws[0].get(&format!("/team/info?team_id={team}")).await;
        let got = info["team_info"]["spend"].as_f64().unwrap();
        assert!(
            (got - expected[team]).abs() < 1e-9,
            "team spend {got} != {}",
            expected[team]
        );
    }
    let gws = std::sync::Arc::try_unwrap(gws).unwrap_or_else(|_| panic!("replicas still shared"));
    for gw in gws {
        gw.stop().await;
    }
}
