//! The database going away and coming back: cached keys keep working, management writes get a
//! clear 503, readiness says so, and spend made during the outage is written afterwards.

use serde_json::{json, Value};
use tollgate_testkit::{CutProxy, TestDb};

use crate::common::{Gateway, MASTER};

const CONFIG: &str = "model_list:\n  - model_name: m\n    litellm_params: {model: mock/m, input_cost_per_token: 0.001, output_cost_per_token: 0.002}\n\
general_settings:\n  proxy_batch_write_at: 0.1\n  user_api_key_cache_ttl: 0.5\n  database_connection_timeout: 1\n";

/// The database URL with its host and port replaced by the proxy's.
fn through(url: &str, proxy: std::net::SocketAddr) -> String {
    let (scheme_user, rest) = url.split_once('@').unwrap();
    let (_, path) = rest.split_once('/').unwrap();
    format!("{scheme_user}@{proxy}/{path}")
}

fn admin_addr() -> std::net::SocketAddr {
    let admin = tollgate_testkit::admin_url();
    let host = admin.split('@').nth(1).unwrap().split('/').next().unwrap();
    host.parse().unwrap()
}

#[tokio::test]
async fn a_database_outage_is_survived() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let proxy = CutProxy::start(admin_addr()).await;
    let url = through(db.url(), proxy.addr());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, CONFIG).unwrap();
    let env = [
        ("LITELLM_MASTER_KEY", MASTER),
        ("DATABASE_URL", url.as_str()),
    ];
    let settings = tollgate::config::load(Some(&path), &|n| {
        env.iter()
            .find(|(k, _)| *k == n)
            .map(|(_, v)| v.to_string())
    })
    .unwrap()
    .settings;
    let gw = Gateway::from_settings(settings).await;
    let key = gw.key(json!({"key_alias": "outage"})).await;
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "hello"}]});
    let mut expected = 0.0;
    let mut call = |cost: f64| expected += cost;
    let cost_of = |resp: &reqwest::Response| {
        resp.headers()["x-litellm-response-cost"]
            .to_str()
            .unwrap()
            .parse::<f64>()
            .unwrap()
    };
    let resp = gw
        .request("/v1/chat/completions")
        .bearer_auth(&key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    call(cost_of(&resp));

    proxy.cut();
    // Past the cache TTL, the key is served from the last known value.
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    for _ in 0..5 {
        let resp = gw
            .request("/v1/chat/completions")
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
        call(cost_of(&resp));
    }
    let (s, v) = gw
        .post_as(MASTER, "/team/new", json!({"team_id": "during"}))
        .await;
    assert_eq!(s, 503, "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Database unavailable"));
    let (s, v) = gw.call("GET", "/health/readiness", None, None).await;
    assert_eq!(s, 200);
    assert_eq!(v["db"], "Not connected");
    // An unknown key is refused with 503, never 401: the database cannot say.
    let (s, _) = gw
        .post_as(
            "sk-never-seen-before-0000",
            "/v1/chat/completions",
            body.clone(),
        )
        .await;
    assert_eq!(s, 503);

    proxy.restore();
    let mut written = false;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let (s, v) = gw.get_as(MASTER, &format!("/key/info?key={key}")).await;
        if s == 200 && (v["info"]["spend"].as_f64().unwrap_or(0.0) - expected).abs() < 1e-9 {
            written = true;
            break;
        }
    }
    assert!(written, "spend made during the outage was not written");
    gw.flush().await;
    let logs: Value = gw.get(&format!("/spend/logs?api_key={key}")).await;
    assert_eq!(logs.as_array().unwrap().len(), 6);
    gw.stop().await;
}

#[tokio::test]
async fn old_spend_logs_are_deleted() {
    let db = TestDb::sqlite();
    let yaml = format!("{CONFIG}  maximum_spend_logs_retention_period: 1s\n  maximum_spend_logs_cleanup_interval: 0.3\n");
    let gw = Gateway::with_config(&db, &yaml).await;
    let key = gw.key(json!({})).await;
    let (s, _) = gw
        .post_as(
            &key,
            "/v1/chat/completions",
            json!({"model": "m", "messages": []}),
        )
        .await;
    assert_eq!(s, 200);
    gw.flush().await;
    let mut gone = false;
    for _ in 0..30 {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        if gw.get("/spend/logs").await.as_array().unwrap().is_empty() {
            gone = true;
            break;
        }
    }
    assert!(gone, "the spend log was never deleted");
    let info = gw.get(&format!("/key/info?key={key}")).await;
    assert!(
        info["info"]["spend"].as_f64().unwrap() > 0.0,
        "key spend must stay"
    );
    gw.stop().await;
}
