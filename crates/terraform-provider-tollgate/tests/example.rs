//! `examples/terraform/` applies against a real gateway, and its key works for a chat call.

use std::path::Path;

use serde_json::json;

use crate::harness::{terraform_available, Gateway, Tf, MASTER};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_applies_and_its_key_calls_the_model() {
    if !terraform_available() {
        return;
    }
    let gw = Gateway::start(None).await;
    let tf = Tf::new(&gw);
    tf.copy_from(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/terraform"));
    let base = format!("api_base={}", gw.url);
    let key = format!("api_key={MASTER}");
    let vars = ["-var", base.as_str(), "-var", key.as_str()];
    tf.apply_args(&vars).await;
    let out = tf.must(&["output", "-raw", "ci_key"]).await;
    let ci_key = out.lines().next().unwrap_or_default().trim().to_owned();
    assert!(ci_key.starts_with("sk-"), "{out}");
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", gw.url))
        .bearer_auth(&ci_key)
        .json(&json!({"model": "demo", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(
        body["choices"][0]["message"]["content"].is_string(),
        "{body}"
    );
    let mut plan = vec!["plan", "-detailed-exitcode", "-no-color"];
    plan.extend_from_slice(&vars);
    let (code, o, e) = tf.run(&plan).await;
    assert_eq!(code, 0, "the example's second plan is empty:\n{o}\n{e}");
    let mut destroy = vec!["destroy", "-auto-approve", "-no-color"];
    destroy.extend_from_slice(&vars);
    tf.must(&destroy).await;
    gw.stop().await;
}
