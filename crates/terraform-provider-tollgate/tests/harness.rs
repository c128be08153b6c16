//! A Tollgate gateway on a loopback port, and the real `terraform` CLI driving the provider
//! binary offline through `dev_overrides`, each test in its own directory with its own
//! database.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tokio::sync::oneshot;
use tollgate_testkit::TestDb;

pub const MASTER: &str = "sk-master-key-for-terraform-tests";
const PROVIDER: &str = env!("CARGO_BIN_EXE_terraform-provider-tollgate");

/// Whether the `terraform` CLI is there. Missing: the test is skipped with a message, except
/// with CI=true, where it must be there.
pub fn terraform_available() -> bool {
    let ok = std::process::Command::new("terraform")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("the terraform CLI is required when CI=true but is not on PATH");
        }
        eprintln!(
            "SKIPPED: terraform CLI not on PATH; install Terraform >= 1.8 to run these tests"
        );
    }
    ok
}

/// A running gateway.
pub struct Gateway {
    pub url: String,
    client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    _db: TestDb,
    _journal: tempfile::TempDir,
}

impl Gateway {
    /// A gateway on SQLite that stores models in its database; `yaml` is its config file.
    pub async fn start(yaml: Option<&str>) -> Gateway {
        let db = TestDb::sqlite();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        if let Some(y) = yaml {
            std::fs::write(&path, y).unwrap();
        }
        let vars = [
            ("DATABASE_URL", db.url().to_owned()),
            ("LITELLM_MASTER_KEY", MASTER.to_owned()),
            ("STORE_MODEL_IN_DB", "True".to_owned()),
        ];
        let lookup = move |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        };
        let mut settings = tollgate::config::load(yaml.map(|_| path.as_path()), &lookup)
            .unwrap()
            .settings;
        settings.journal_dir = dir.path().to_path_buf();
        let state = tollgate::open(settings).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            tollgate::run(listener, state, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        Gateway {
            url,
            client: reqwest::Client::new(),
            stop: Some(tx),
            task: Some(task),
            _db: db,
            _journal: dir,
        }
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(MASTER);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// A call that must answer 200.
    pub async fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (s, v) = self.call(method, path, body).await;
        assert_eq!(s, 200, "{method} {path}: {v}");
        v
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap();
        }
    }
}

/// One Terraform working directory against one gateway.
pub struct Tf {
    dir: tempfile::TempDir,
    url: String,
}

/// What `terraform plan` would do.
pub struct Plan {
    /// 0: no changes, 2: changes.
    pub code: i32,
    /// Address → actions (`["create"]`, `["update"]`, `["delete", "create"]`, ...).
    pub actions: BTreeMap<String, Vec<String>>,
    pub json: Value,
}

impl Plan {
    pub fn action(&self, addr: &str) -> Vec<String> {
        self.actions.get(addr).cloned().unwrap_or_default()
    }

    pub fn assert_empty(&self) {
        let changes: Vec<&Value> = self.json["resource_changes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|rc| {
                self.actions
                    .contains_key(rc["address"].as_str().unwrap_or_default())
            })
            .map(|rc| &rc["change"])
            .collect();
        assert_eq!(
            self.code, 0,
            "plan is not empty: {:?}\n{changes:#?}",
            self.actions
        );
    }

    pub fn assert_action(&self, addr: &str, actions: &[&str]) {
        assert_eq!(
            self.action(addr),
            actions,
            "plan of {addr}: {:?}",
            self.actions
        );
    }
}

fn provider_dir() -> PathBuf {
    Path::new(PROVIDER).parent().unwrap().to_path_buf()
}

impl Tf {
    pub fn new(gw: &Gateway) -> Tf {
        let dir = tempfile::tempdir().unwrap();
        let rc = format!(
            "provider_installation {{\n  dev_overrides {{\n    \"registry.terraform.io/tollgate/tollgate\" = \"{}\"\n  }}\n  direct {{}}\n}}\n",
            provider_dir().display()
        );
        std::fs::write(dir.path().join("terraformrc"), rc).unwrap();
        Tf {
            dir,
            url: gw.url.clone(),
        }
    }

    /// Copies the `.tf` files of a directory in.
    pub fn copy_from(&self, dir: &Path) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "tf") {
                std::fs::copy(&p, self.dir.path().join(p.file_name().unwrap())).unwrap();
            }
        }
    }

    /// Writes `main.tf`: the provider requirement plus `body`.
    pub fn config(&self, body: &str) {
        let hcl = format!(
            "terraform {{\n  required_providers {{\n    tollgate = {{ source = \"tollgate/tollgate\" }}\n  }}\n}}\n\n{body}\n"
        );
        std::fs::write(self.dir.path().join("main.tf"), hcl).unwrap();
    }

    /// Runs terraform; answers (exit code, stdout, stderr).
    pub async fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = tokio::process::Command::new("terraform")
            .args(args)
            .current_dir(self.dir.path())
            .env("TF_CLI_CONFIG_FILE", self.dir.path().join("terraformrc"))
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_INPUT", "0")
            .env("CHECKPOINT_DISABLE", "1")
            .env("TOLLGATE_API_BASE", &self.url)
            .env("TOLLGATE_API_KEY", MASTER)
            .env_remove("RUST_BACKTRACE")
            .env_remove("TF_LOG")
            .output()
            .await
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs terraform and requires success; answers stdout and stderr together.
    pub async fn must(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args).await;
        assert_eq!(code, 0, "terraform {args:?} failed:\n{out}\n{err}");
        format!("{out}\n{err}")
    }

    pub async fn apply(&self) -> String {
        self.must(&["apply", "-auto-approve", "-no-color"]).await
    }

    pub async fn apply_args(&self, extra: &[&str]) -> String {
        let mut args = vec!["apply", "-auto-approve", "-no-color"];
        args.extend_from_slice(extra);
        self.must(&args).await
    }

    pub async fn plan(&self) -> Plan {
        let (code, out, err) = self
            .run(&["plan", "-detailed-exitcode", "-no-color", "-out=tfplan"])
            .await;
        assert!(code == 0 || code == 2, "plan failed:\n{out}\n{err}");
        let shown = self.must(&["show", "-json", "tfplan"]).await;
        let json: Value = serde_json::from_str(shown.lines().next().unwrap_or_default()).unwrap();
        let mut actions = BTreeMap::new();
        for rc in json["resource_changes"].as_array().into_iter().flatten() {
            let acts: Vec<String> = rc["change"]["actions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_owned())
                .collect();
            if acts != ["no-op"] {
                actions.insert(rc["address"].as_str().unwrap().to_owned(), acts);
            }
        }
        Plan {
            code,
            actions,
            json,
        }
    }

    /// The state's attribute values of one resource (or data source) address.
    pub async fn state(&self, addr: &str) -> Value {
        let out = self.must(&["show", "-json"]).await;
        let json: Value = serde_json::from_str(out.lines().next().unwrap_or_default()).unwrap();
        json["values"]["root_module"]["resources"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["address"] == addr)
            .map(|r| r["values"].clone())
            .unwrap_or(Value::Null)
    }

    pub async fn destroy(&self) {
        self.must(&["destroy", "-auto-approve", "-no-color"]).await;
    }
}
