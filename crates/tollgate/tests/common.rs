//! A gateway on a loopback port for one test, and helpers to call it.

use reqwest::StatusCode;
use serde_json::Value;
use tokio::sync::oneshot;
use tollgate_testkit::TestDb;

pub const MASTER: &str = "sk-master-key-for-tests";

/// Runs a scenario `async fn name(db: &TestDb)` once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = tollgate_testkit::TestDb::sqlite();
                    super::$name(&db).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(db) = tollgate_testkit::TestDb::postgres().await else { return };
                    super::$name(&db).await;
                }
            )*
        }
    };
}

/// A running gateway.
pub struct Gateway {
    pub url: String,
    pub state: tollgate::AppState,
    client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    /// This gateway's spend journal, deleted with it.
    _journal: tempfile::TempDir,
}

impl Gateway {
    /// Starts a gateway on `db` with the test master key.
    pub async fn start(db: &TestDb) -> Gateway {
        Self::start_with(db, &[("LITELLM_MASTER_KEY", MASTER)]).await
    }

    /// Starts a gateway with extra environment for its settings.
    pub async fn start_with(db: &TestDb, env: &[(&str, &str)]) -> Gateway {
        Self::start_config(db, None, env).await
    }

    /// Starts a gateway with a config.yaml (and the test master key).
    pub async fn with_config(db: &TestDb, yaml: &str) -> Gateway {
        Self::start_config(db, Some(yaml), &[("LITELLM_MASTER_KEY", MASTER)]).await
    }

    /// Starts a gateway with an optional config file and environment.
    pub async fn start_config(db: &TestDb, yaml: Option<&str>, env: &[(&str, &str)]) -> Gateway {
        let mut vars: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        vars.push(("DATABASE_URL".into(), db.url().to_owned()));
        let lookup = move |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        if let Some(y) = yaml {
            std::fs::write(&path, y).unwrap();
        }
        let settings = tollgate::config::load(yaml.map(|_| path.as_path()), &lookup)
            .unwrap_or_else(|e| panic!("settings: {e}"))
            .settings;
        Self::from_settings(settings).await
    }

    /// Starts a gateway from resolved settings, with a spend journal of its own.
    pub async fn from_settings(mut settings: tollgate::config::Settings) -> Gateway {
        let journal = tempfile::tempdir().unwrap();
        settings.journal_dir = journal.path().to_path_buf();
        let state = tollgate::open(settings)
            .await
            .unwrap_or_else(|e| panic!("open: {e:#}"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        let kept = state.clone();
        let task = tokio::spawn(async move {
            tollgate::run(listener, state, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        Gateway {
            url,
            state: kept,
            client: reqwest::Client::new(),
            stop: Some(tx),
            task: Some(task),
            _journal: journal,
        }
    }

    /// Writes every pending spend event to the store.
    pub async fn flush(&self) {
        assert!(self.state.spend.flush().await, "spend flush failed");
    }

    /// A POST with full control of the request, for inference calls.
    pub fn request(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.post(format!("{}{path}", self.url))
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap();
        }
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.client.request(method, format!("{}{path}", self.url));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    /// POST as the master key; panics unless 200.
    pub async fn post(&self, path: &str, body: Value) -> Value {
        let (s, v) = self.call("POST", path, Some(MASTER), Some(body)).await;
        assert_eq!(s, StatusCode::OK, "POST {path}: {v}");
        v
    }

    /// GET as the master key; panics unless 200.
    pub async fn get(&self, path: &str) -> Value {
        let (s, v) = self.call("GET", path, Some(MASTER), None).await;
        assert_eq!(s, StatusCode::OK, "GET {path}: {v}");
        v
    }

    pub async fn post_as(&self, key: &str, path: &str, body: Value) -> (StatusCode, Value) {
        self.call("POST", path, Some(key), Some(body)).await
    }

    pub async fn get_as(&self, key: &str, path: &str) -> (StatusCode, Value) {
        self.call("GET", path, Some(key), None).await
    }

    /// Creates a key as the master key and returns its raw value.
    pub async fn key(&self, body: Value) -> String {
        self.post("/key/generate", body).await["key"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Creates a user with a role and returns (user_id, raw key of the user).
    pub async fn user(&self, user_id: &str, role: &str) -> String {
        let v = self
            .post(
                "/user/new",
                serde_json::json!({"user_id": user_id, "user_role": role}),
            )
            .await;
        v["key"].as_str().unwrap().to_owned()
    }
}

/// Asserts an error envelope with the status and a message containing `needle`.
pub fn assert_error(status: StatusCode, body: &Value, expected: u16, needle: &str) {
    assert_eq!(status.as_u16(), expected, "{body}");
    let msg = body["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains(needle), "message {msg:?} lacks {needle:?}");
    assert_eq!(body["error"]["code"], expected.to_string(), "{body}");
}
