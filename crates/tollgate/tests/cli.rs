//! The `tollgate` binary: check-config, migrate, and serve's defaults and shutdown.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_tollgate");

fn tollgate(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn check_config_prints_the_resolved_config_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.yaml");
    std::fs::write(
        &file,
        "model_list:\n  - model_name: gpt-4o\n    litellm_params:\n      model: openai/gpt-4o\n      api_key: os.environ/UPSTREAM_KEY\n\
         general_settings:\n  master_key: sk-very-secret-master\n  database_url: postgres://u:dbpassword@h/db\n  mystery_setting: 1\n",
    )
    .unwrap();
    let out = tollgate(
        &["check-config", file.to_str().unwrap()],
        &[("UPSTREAM_KEY", "sk-upstream-secret")],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("gpt-4o"), "{stdout}");
    for secret in ["sk-very-secret-master", "dbpassword", "sk-upstream-secret"] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{secret} leaked"
        );
    }
    assert!(
        stderr.contains("general_settings.mystery_setting"),
        "{stderr}"
    );
}

#[test]
fn check_config_fails_naming_the_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(
        &file,
        "general_settings:\n  database_connection_pool_limit: ten\n",
    )
    .unwrap();
    let out = tollgate(&["check-config", file.to_str().unwrap()], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("bad.yaml"), "{stderr}");
    assert!(
        stderr.contains("general_settings.database_connection_pool_limit"),
        "{stderr}"
    );
}

#[test]
fn migrate_creates_the_sqlite_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let url = format!("sqlite://{}", db.display());
    let journal = dir.path().join("journal");
    let out = tollgate(
        &["migrate"],
        &[
            ("DATABASE_URL", &url),
            ("TOLLGATE_JOURNAL_DIR", journal.to_str().unwrap()),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(db.exists());
}

#[test]
fn serve_without_a_master_key_binds_loopback_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/s.db", dir.path().display());
    let mut child = Command::new(BIN)
        .args(["serve", "--port", "0"])
        .env_clear()
        .env("DATABASE_URL", &url)
        .env("TOLLGATE_JOURNAL_DIR", dir.path().join("journal"))
        .env("TOLLGATE_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let (mut warned, mut addr) = (false, None);
    let deadline = Instant::now() + Duration::from_secs(30);
    while addr.is_none() && Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        warned |= line.contains("no master key is set");
        if let Some(rest) = line.split("listening on http://").nth(1) {
            addr = Some(rest.trim().to_owned());
        }
    }
    let addr = addr.expect("the server said where it listens");
    assert!(warned, "no warning about the missing master key");
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
}

/// Starts `tollgate serve` and returns it with its address.
pub(crate) fn serve(args: &[&str], env: &[(&str, &str)]) -> (std::process::Child, String) {
    let mut cmd = Command::new(BIN);
    cmd.arg("serve")
        .args(args)
        .env_clear()
        .env("TOLLGATE_LOG", "info")
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        if let Some(rest) = line.split("listening on http://").nth(1) {
            // Keep draining stderr so the child never blocks on a full pipe.
            std::thread::spawn(move || for _ in lines {});
            return (child, rest.trim().to_owned());
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the gateway did not start");
}

#[tokio::test]
async fn pending_spend_is_written_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/g.db", dir.path().display());
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        "model_list:\n  - model_name: m\n    litellm_params: {model: mock/m, input_cost_per_token: 0.001, output_cost_per_token: 0.002}\n\
         general_settings:\n  proxy_batch_write_at: 3600\n",
    )
    .unwrap();
    let master = "sk-sigterm-master-key";
    let (mut child, addr) = serve(
        &["--config", config.to_str().unwrap(), "--port", "0"],
        &[
            ("DATABASE_URL", &url),
            ("LITELLM_MASTER_KEY", master),
            (
                "TOLLGATE_JOURNAL_DIR",
                dir.path().join("journal").to_str().unwrap(),
            ),
        ],
    );
    let http = reqwest::Client::new();
    let key: serde_json::Value = http
        .post(format!("http://{addr}/key/generate"))
        .bearer_auth(master)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = key["key"].as_str().unwrap().to_owned();
    let mut expected = 0.0;
    for _ in 0..5 {
        let resp = http
            .post(format!("http://{addr}/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "hello there"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        expected += resp.headers()["x-litellm-response-cost"]
            .to_str()
            .unwrap()
            .parse::<f64>()
            .unwrap();
    }
    assert!(expected > 0.0);
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success());
    let store = tollgate_store::open(&tollgate_store::ConnectOptions::new(&url))
        .await
        .unwrap();
    let rec = store
        .key_by_token(&tollgate::auth::keys::hash(&key))
        .await
        .unwrap()
        .unwrap();
    assert!(
        (rec.spend - expected).abs() < 1e-9,
        "{} != {expected}",
        rec.spend
    );
}
