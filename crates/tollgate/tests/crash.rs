//! Crash safety: spend that got a success response survives `kill -9` of the real binary.

use std::process::{Child, Command};
use std::time::Duration;

use serde_json::{json, Value};
use tollgate_store::TeamRecord;

use crate::cli::serve;

const MASTER: &str = "sk-crash-master-key";

/// A database (PostgreSQL when it answers, else a SQLite file), a config and a journal directory
/// that outlive one process.
struct Site {
    dir: tempfile::TempDir,
    url: String,
    _db: Option<tollgate_testkit::TestDb>,
}

impl Site {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = tollgate_testkit::TestDb::postgres().await;
        let url = match &db {
            Some(db) => db.url().to_owned(),
            None => format!("sqlite://{}/c.db", dir.path().display()),
        };
        std::fs::write(
            dir.path().join("config.yaml"),
            "model_list:\n  - model_name: m\n    litellm_params: {model: mock/m, input_cost_per_token: 0.001, output_cost_per_token: 0.002}\n\
             general_settings:\n  proxy_batch_write_at: 3600\n",
        )
        .unwrap();
        Self { dir, url, _db: db }
    }

    fn start(&self) -> (Child, String) {
        let config = self.dir.path().join("config.yaml");
        let journal = self.dir.path().join("journal");
        serve(
            &["--config", config.to_str().unwrap(), "--port", "0"],
            &[
                ("DATABASE_URL", &self.url),
                ("LITELLM_MASTER_KEY", MASTER),
                ("TOLLGATE_JOURNAL_DIR", journal.to_str().unwrap()),
            ],
        )
    }

    /// The team's spend in today's daily aggregates.
    async fn daily_team_spend(&self) -> f64 {
        let store = tollgate_store::open(&tollgate_store::ConnectOptions::new(&self.url))
            .await
            .unwrap();
        let today = chrono::Utc::now().date_naive().to_string();
        let rows = store
            .daily_spend(&tollgate_store::DailyQuery {
                entity_type: tollgate_store::EntityType::Team,
                entity_ids: vec!["crash-team".into()],
                exclude_entity_ids: vec![],
                start_date: today.clone(),
                end_date: today,
                model: None,
                api_key: None,
                group_by_entity: false,
            })
            .await
            .unwrap();
        rows.iter().map(|r| r.spend).sum()
    }

    /// The key's and the team's spend as stored.
    async fn spend(&self, key: &str) -> (f64, f64) {
        let store = tollgate_store::open(&tollgate_store::ConnectOptions::new(&self.url))
            .await
            .unwrap();
        let rec = store
            .key_by_token(&tollgate::auth::keys::hash(key))
            .await
            .unwrap()
            .unwrap();
        let team: TeamRecord = store.get(&["crash-team"]).await.unwrap().unwrap();
        (rec.spend, team.spend)
    }
}

fn kill_9(child: &mut Child) {
    let status = Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let _ = child.wait();
}

/// A team and a key in it.
async fn team_key(http: &reqwest::Client, addr: &str) -> String {
    let team = http
        .post(format!("http://{addr}/team/new"))
        .bearer_auth(MASTER)
        .json(&json!({"team_id": "crash-team"}))
        .send()
        .await
        .unwrap();
    assert_eq!(team.status(), 200);
    let key: Value = http
        .post(format!("http://{addr}/key/generate"))
        .bearer_auth(MASTER)
        .json(&json!({"team_id": "crash-team"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    key["key"].as_str().unwrap().to_owned()
}

/// One chat call; its cost when it succeeded.
async fn call(http: &reqwest::Client, addr: &str, key: &str, i: usize) -> Option<f64> {
    let resp = http
        .post(format!("http://{addr}/v1/chat/completions"))
        .bearer_auth(key)
        .json(&json!({"model": "m", "messages": [{"role": "user", "content": format!("hello {}", "there ".repeat(i % 7))}]}))
        .send()
        .await
        .ok()?;
    if resp.status() != 200 {
        return None;
    }
    resp.headers()["x-litellm-response-cost"]
        .to_str()
        .ok()?
        .parse()
        .ok()
}

#[tokio::test]
async fn accepted_spend_survives_kill_9() {
    let site = Site::new().await;
    let (mut child, addr) = site.start();
    let http = reqwest::Client::new();
    let key = team_key(&http, &addr).await;
    let mut expected = 0.0;
    for i in 0..20 {
        expected += call(&http, &addr, &key, i).await.unwrap();
    }
    assert!(expected > 0.0);
    kill_9(&mut child);
    assert_eq!(
        site.spend(&key).await,
        (0.0, 0.0),
        "written before the crash"
    );
    let (mut child, _) = site.start();
    let (key_spend, team_spend) = site.spend(&key).await;
    let daily = site.daily_team_spend().await;
    assert!(
        (daily - expected).abs() < 1e-9,
        "daily {daily} != {expected}"
    );
    kill_9(&mut child);
    assert!(
        (key_spend - expected).abs() < 1e-9,
        "{key_spend} != {expected}"
    );
    assert!(
        (team_spend - expected).abs() < 1e-9,
        "{team_spend} != {expected}"
    );
    // A second restart replays nothing twice.
    let (mut child, _) = site.start();
    let (again, _) = site.spend(&key).await;
    kill_9(&mut child);
    assert!((again - expected).abs() < 1e-9, "{again} != {expected}");
}

#[tokio::test]
async fn spend_of_a_replica_killed_under_load_is_exact_after_restart() {
    let site = Site::new().await;
    let (mut child, addr) = site.start();
    let http = reqwest::Client::new();
    let key = team_key(&http, &addr).await;
    const TASKS: usize = 8;
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let (http, addr, key) = (http.clone(), addr.clone(), key.clone());
            tokio::spawn(async move {
                let (mut costs, mut i) = (Vec::new(), t);
                while let Some(c) = call(&http, &addr, &key, i).await {
                    costs.push(c);
                    i += TASKS;
                }
                costs
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    kill_9(&mut child);
    let mut costs = Vec::new();
    for t in tasks {
        costs.extend(t.await.unwrap());
    }
    assert!(!costs.is_empty(), "no call succeeded before the kill");
    let expected: f64 = costs.iter().sum();
    let largest = costs.iter().copied().fold(0.0, f64::max);
    let (mut child, _) = site.start();
    let (key_spend, team_spend) = site.spend(&key).await;
    kill_9(&mut child);
    // Every success response is counted. A call journaled in the instant before the kill, whose
    // response never left, is counted too: at most one per client task.
    let slack = TASKS as f64 * largest * 1.5;
    assert!(
        key_spend >= expected - 1e-9 && key_spend <= expected + slack,
        "key spend {key_spend}, successes {expected} ({} calls)",
        costs.len()
    );
    assert!(
        (team_spend - key_spend).abs() < 1e-9,
        "{team_spend} != {key_spend}"
    );
}
