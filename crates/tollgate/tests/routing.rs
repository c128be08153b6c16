//! `routing_strategy` over HTTP: a group of two deployments on two fake upstreams, and traffic
//! goes where the strategy says; a deployment over its own `rpm` is skipped, and when every
//! deployment is, the answer is a 429.

use std::time::Duration;

use serde_json::json;
use tollgate_testkit::{FakeOpenAi, TestDb};

use crate::common::{Gateway, MASTER};

/// Group `g` with deployments `a` and `b` (extra `litellm_params` each), and `settings`.
fn config(a: &FakeOpenAi, b: &FakeOpenAi, a_extra: &str, b_extra: &str, settings: &str) -> String {
    format!(
        "model_list:\n\
         \x20 - model_name: g\n    litellm_params: {{model: openai/gpt-4o, api_base: \"{}\", api_key: k{a_extra}}}\n    model_info: {{id: a}}\n\
         \x20 - model_name: g\n    litellm_params: {{model: openai/gpt-4o, api_base: \"{}\", api_key: k{b_extra}}}\n    model_info: {{id: b}}\n\
         {settings}",
        a.url(),
        b.url()
    )
}

fn strategy(name: &str) -> String {
    format!("router_settings:\n  routing_strategy: {name}\n")
}

async fn call(gw: &Gateway) -> reqwest::StatusCode {
    let body = json!({"model": "g", "messages": [{"role": "user", "content": "x"}]});
    let (status, _) = gw.post_as(MASTER, "/v1/chat/completions", body).await;
    status
}

async fn calls(gw: &Gateway, n: usize) {
    for _ in 0..n {
        assert_eq!(call(gw).await, 200);
    }
}

#[tokio::test]
async fn least_busy_sends_to_the_deployment_with_fewer_calls_in_flight() {
    let db = TestDb::sqlite();
    let (a, b) = (FakeOpenAi::start().await, FakeOpenAi::start().await);
    for f in [&a, &b] {
        f.set_latency(Duration::from_millis(300));
    }
    let gw = Gateway::with_config(&db, &config(&a, &b, "", "", &strategy("least-busy"))).await;
    for round in 1..=3 {
        // The second call starts while the first is in flight: it goes to the idle deployment.
        let first = call(&gw);
        let second = async {
            while a.calls() + b.calls() < 2 * round - 1 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            call(&gw).await
        };
        let (s1, s2) = tokio::join!(first, second);
        assert_eq!((s1.as_u16(), s2.as_u16()), (200, 200));
        assert_eq!((a.calls(), b.calls()), (round, round));
    }
    gw.stop().await;
}

#[tokio::test]
async fn latency_based_tries_each_once_then_prefers_the_fastest() {
    let db = TestDb::sqlite();
    let (a, b) = (FakeOpenAi::start().await, FakeOpenAi::start().await);
    a.set_latency(Duration::from_millis(150));
    let gw = Gateway::with_config(
        &db,
        &config(&a, &b, "", "", &strategy("latency-based-routing")),
    )
    .await;
    calls(&gw, 10).await;
    assert_eq!((a.calls(), b.calls()), (1, 9));
    gw.stop().await;
}

#[tokio::test]
async fn usage_based_sends_to_the_deployment_with_fewer_tokens_this_minute() {
    let db = TestDb::sqlite();
    let (a, b) = (FakeOpenAi::start().await, FakeOpenAi::start().await);
    a.set_usage(900, 100);
    b.set_usage(5, 5);
    let gw = Gateway::with_config(
        &db,
        &config(&a, &b, "", "", &strategy("usage-based-routing-v2")),
    )
    .await;
    // The first call goes either way, the second to the unused one; then `b` has used fewer
    // tokens (10 a call against 1000) for the rest of the minute.
    calls(&gw, 10).await;
    assert_eq!((a.calls(), b.calls()), (1, 9));
    gw.stop().await;
}

#[tokio::test]
async fn cost_based_sends_to_the_cheapest_deployment() {
    let db = TestDb::sqlite();
    let (a, b) = (FakeOpenAi::start().await, FakeOpenAi::start().await);
    let dear = ", input_cost_per_token: 0.00003, output_cost_per_token: 0.00006";
    let cheap = ", input_cost_per_token: 0.000001, output_cost_per_token: 0.000002";
    let gw = Gateway::with_config(
        &db,
        &config(&a, &b, dear, cheap, &strategy("cost-based-routing")),
    )
    .await;
    calls(&gw, 8).await;
    assert_eq!((a.calls(), b.calls()), (0, 8));
    gw.stop().await;
}

#[tokio::test]
async fn deployments_over_their_rpm_are_skipped_then_429() {
    let db = TestDb::sqlite();
    let (a, b) = (FakeOpenAi::start().await, FakeOpenAi::start().await);
    let gw = Gateway::with_config(&db, &config(&a, &b, ", rpm: 2", ", rpm: 1", "")).await;
    calls(&gw, 3).await;
    assert_eq!((a.calls(), b.calls()), (2, 1));
    let body = json!({"model": "g", "messages": [{"role": "user", "content": "x"}]});
    let (status, v) = gw.post_as(MASTER, "/v1/chat/completions", body).await;
    assert_eq!(status, 429, "{v}");
    let message = v["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("No deployments available for selected model"),
        "{v}"
    );
    assert_eq!(a.calls() + b.calls(), 3);
    gw.stop().await;
}

#[tokio::test]
async fn an_unknown_routing_strategy_is_refused_at_startup() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(
        &path,
        "model_list: []\nrouter_settings:\n  routing_strategy: fastest-please\n",
    )
    .unwrap();
    let err = tollgate::config::load(Some(&path), &|_| None).expect_err("config accepted");
    let text = err.to_string();
    assert!(text.contains("router_settings.routing_strategy"), "{text}");
    assert!(text.contains("least-busy"), "{text}");
}
