//! Failing deployments cool down: after `allowed_fails` failures no traffic reaches them for
//! `cooldown_time`, on this replica and, with Redis, on every replica.

use serde_json::json;
use tollgate_testkit::{FakeOpenAi, TestDb};

use crate::common::{Gateway, MASTER};

fn pair(bad: &str, good: &str) -> String {
    format!(
        "model_list:\n\
         \x20 - model_name: pair\n    litellm_params: {{model: openai/gpt-4o, api_base: \"{bad}\", api_key: k}}\n\
         \x20 - model_name: pair\n    litellm_params: {{model: openai/gpt-4o-mini, api_base: \"{good}\", api_key: k}}\n\
         router_settings:\n  allowed_fails: 1\n  cooldown_time: 60\n"
    )
}

async fn send(gw: &Gateway, n: usize) -> Vec<u16> {
    let mut out = Vec::new();
    for _ in 0..n {
        let (s, _) = gw
            .post_as(
                MASTER,
                "/v1/chat/completions",
                json!({"model": "pair", "messages": [{"role": "user", "content": "x"}]}),
            )
            .await;
        out.push(s.as_u16());
    }
    out
}

#[tokio::test]
async fn a_failing_deployment_gets_no_traffic_during_its_cooldown() {
    let db = TestDb::sqlite();
    let (bad, good) = (FakeOpenAi::start().await, FakeOpenAi::start().await);
    bad.fail_next(500, 1_000);
    let gw = Gateway::with_config(&db, &pair(&bad.url(), &good.url())).await;
    let statuses = send(&gw, 20).await;
    assert_eq!(
        bad.calls(),
        1,
        "traffic reached a deployment in cooldown: {statuses:?}"
    );
    assert_eq!(statuses.iter().filter(|s| **s == 500).count(), 1);
    assert_eq!(good.calls(), 19);
    gw.stop().await;
}

#[tokio::test]
async fn cooldowns_are_shared_through_redis() {
    if crate::replicas::redis().await.is_none() {
        return;
    }
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let (bad, good) = (FakeOpenAi::start().await, FakeOpenAi::start().await);
    bad.fail_next(500, 1_000);
    let redis = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!("tollgate-cd:{}:", uuid::Uuid::new_v4());
    let env = [
        ("LITELLM_MASTER_KEY", MASTER),
        ("REDIS_URL", redis.as_str()),
        ("TOLLGATE_REDIS_PREFIX", prefix.as_str()),
    ];
    let yaml = pair(&bad.url(), &good.url());
    let a = Gateway::start_config(&db, Some(&yaml), &env).await;
    let b = Gateway::start_config(&db, Some(&yaml), &env).await;
    while bad.calls() == 0 {
        send(&a, 1).await;
    }
    let statuses = send(&b, 20).await;
    assert_eq!(
        bad.calls(),
        1,
        "replica B sent traffic to a deployment A cooled down: {statuses:?}"
    );
    assert!(statuses.iter().all(|s| *s == 200));
    a.stop().await;
    b.stop().await;
}
