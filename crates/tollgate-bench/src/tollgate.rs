//! Starting Tollgate variants: their config, database, journal directory, Redis prefix and key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::load::call;
use crate::procs::{spawn, Server};

/// The admin key every variant is started with.
pub const MASTER_KEY: &str = "sk-bench-master-key";

/// Which Tollgate setup a variant runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// (a) SQLite, spend journal on tmpfs (/dev/shm): approximates no fsync cost.
    SqliteJournalTmpfs,
    /// (b) SQLite, spend journal on the real disk (the default deployment).
    SqliteJournalDisk,
    /// (c) PostgreSQL (a fresh database, dropped at the end), journal on disk.
    Postgres,
    /// (d) As (a) plus Redis-backed limits and budget spend.
    SqliteRedis,
}

impl Variant {
    /// Every variant, in report order.
    pub const ALL: [Variant; 4] = [
        Variant::SqliteJournalTmpfs,
        Variant::SqliteJournalDisk,
        Variant::Postgres,
        Variant::SqliteRedis,
    ];

    /// Short id used in the JSON report.
    pub fn id(self) -> &'static str {
        match self {
            Variant::SqliteJournalTmpfs => "tollgate-a-sqlite-journal-tmpfs",
            Variant::SqliteJournalDisk => "tollgate-b-sqlite-journal-disk",
            Variant::Postgres => "tollgate-c-postgres",
            Variant::SqliteRedis => "tollgate-d-sqlite-redis",
        }
    }

    /// Human label used in the tables.
    pub fn label(self) -> &'static str {
        match self {
            Variant::SqliteJournalTmpfs => "(a) tollgate sqlite, journal on tmpfs",
            Variant::SqliteJournalDisk => "(b) tollgate sqlite, journal on disk",
            Variant::Postgres => "(c) tollgate postgres, journal on disk",
            Variant::SqliteRedis => "(d) tollgate sqlite+redis, journal on tmpfs",
        }
    }
}

/// Where the shared services are.
#[derive(Clone)]
pub struct Env {
    /// The release `tollgate` binary.
    pub binary: PathBuf,
    /// A directory on the real disk for databases and journals.
    pub disk_dir: PathBuf,
    /// `postgres://user@host:port` (no database name).
    pub postgres: String,
    /// `redis://host:port`.
    pub redis: String,
    /// A command the binary is started under (`valgrind --tool=callgrind ...`); empty for none.
    pub wrap: Vec<String>,
}

/// A running variant and what to clean up after it.
pub struct Running {
    /// The process.
    pub server: Server,
    /// The virtual key to call it with.
    pub key: String,
    cleanup: Cleanup,
    _tmpfs: Option<tempfile::TempDir>,
}

enum Cleanup {
    None,
    DropDatabase(String, String),
    RedisPrefix(String, String),
}

fn tmpfs_dir(fallback: &Path) -> anyhow::Result<tempfile::TempDir> {
    let shm = Path::new("/dev/shm");
    let base = if shm.is_dir() { shm } else { fallback };
    Ok(tempfile::Builder::new()
        .prefix("tollgate-bench-")
        .tempdir_in(base)?)
}

pub fn psql(server: &str, sql: &str) -> anyhow::Result<()> {
    let out = Command::new("psql")
        .args([
            &format!("{server}/postgres"),
            "-v",
            "ON_ERROR_STOP=1",
            "-qc",
            sql,
        ])
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

fn redis_cli(url: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("redis-cli")
        .arg("-u")
        .arg(url)
        .args(args)
        .output()?;
    anyhow::ensure!(out.status.success(), "redis-cli failed");
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Starts `variant` against the upstream at `upstream`, and creates its virtual key.
pub async fn start(variant: Variant, env: &Env, upstream: SocketAddr) -> anyhow::Result<Running> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let run_dir = env.disk_dir.join(format!("{}-{}", variant.id(), &id[..8]));
    std::fs::create_dir_all(&run_dir)?;
    let sqlite = format!("sqlite://{}", run_dir.join("tollgate.db").display());
    let disk_journal = run_dir.join("journal");
    let mut vars: Vec<(&str, String)> = Vec::new();
    let (mut cleanup, mut tmpfs) = (Cleanup::None, None);
    match variant {
        Variant::SqliteJournalTmpfs | Variant::SqliteRedis => {
            let dir = tmpfs_dir(&run_dir)?;
            vars.push(("DATABASE_URL", sqlite));
            vars.push((
                "TOLLGATE_JOURNAL_DIR",
                dir.path().join("journal").display().to_string(),
            ));
            tmpfs = Some(dir);
            if variant == Variant::SqliteRedis {
                let prefix = format!("tollgate-bench:{id}:");
                redis_cli(&env.redis, &["PING"])?;
                vars.push(("REDIS_URL", env.redis.clone()));
                vars.push(("TOLLGATE_REDIS_PREFIX", prefix.clone()));
                cleanup = Cleanup::RedisPrefix(env.redis.clone(), prefix);
            }
        }
        Variant::SqliteJournalDisk => {
            vars.push(("DATABASE_URL", sqlite));
            vars.push(("TOLLGATE_JOURNAL_DIR", disk_journal.display().to_string()));
        }
        Variant::Postgres => {
            let db = format!("tollgate_bench_{id}");
            psql(&env.postgres, &format!("CREATE DATABASE {db}"))?;
            vars.push(("DATABASE_URL", format!("{}/{db}", env.postgres)));
            vars.push(("TOLLGATE_JOURNAL_DIR", disk_journal.display().to_string()));
            cleanup = Cleanup::DropDatabase(env.postgres.clone(), db);
        }
    }
    let running = launch(env, &run_dir, upstream, &vars, variant.label(), cleanup)?;
    let running = Running {
        _tmpfs: tmpfs,
        ..running
    };
    with_key(running).await
}

/// Starts Tollgate on an existing database (the scale cases seed it first); no key is made.
pub fn start_on(
    env: &Env,
    upstream: SocketAddr,
    label: &str,
    database_url: &str,
) -> anyhow::Result<Running> {
    let run_dir = env
        .disk_dir
        .join(format!("scale-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&run_dir)?;
    let vars = [
        ("DATABASE_URL", database_url.to_owned()),
        (
            "TOLLGATE_JOURNAL_DIR",
            run_dir.join("journal").display().to_string(),
        ),
    ];
    launch(env, &run_dir, upstream, &vars, label, Cleanup::None)
}

/// Writes the config and starts the binary with `vars`.
fn launch(
    env: &Env,
    run_dir: &Path,
    upstream: SocketAddr,
    vars: &[(&str, String)],
    label: &str,
    cleanup: Cleanup,
) -> anyhow::Result<Running> {
    let config = run_dir.join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "model_list:\n  - model_name: gpt-4o\n    litellm_params:\n      model: openai/gpt-4o\n      \
             api_base: http://{upstream}/v1\n      api_key: sk-bench-upstream\n      \
             input_cost_per_token: 0.000001\n      output_cost_per_token: 0.000002\n\
             general_settings:\n  master_key: {MASTER_KEY}\n"
        ),
    )?;
    let mut cmd = match env.wrap.split_first() {
        Some((wrapper, args)) => {
            let mut cmd = Command::new(wrapper);
            cmd.args(args).arg(&env.binary);
            cmd
        }
        None => Command::new(&env.binary),
    };
    cmd.args(["serve", "--host", "127.0.0.1", "--port", "0", "--config"])
        .arg(&config)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("LITELLM_MASTER_KEY", MASTER_KEY);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    // The allocator's options (`MIMALLOC_SHOW_STATS=1`, ...), for experiments.
    for (k, v) in std::env::vars().filter(|(k, _)| k.starts_with("MIMALLOC_")) {
        cmd.env(k, v);
    }
    match spawn(cmd, label) {
        Ok(server) => Ok(Running {
            server,
            key: String::new(),
            cleanup,
            _tmpfs: None,
        }),
        Err(e) => {
            run_cleanup(&cleanup);
            Err(e)
        }
    }
}

/// Gives a started variant its bench key.
async fn with_key(running: Running) -> anyhow::Result<Running> {
    match generate_key(running.server.addr).await {
        Ok(key) => Ok(Running { key, ..running }),
        Err(e) => {
            let tail = running.server.tail();
            running.stop();
            Err(e.context(tail))
        }
    }
}

/// Creates a key with a budget and rate limits far above what the bench can reach.
pub async fn generate_key(addr: SocketAddr) -> anyhow::Result<String> {
    make_key(addr, Some("bench")).await
}

/// Creates a key like [`generate_key`]'s, with `alias` (aliases are unique; keys without one
/// are not limited in number).
pub async fn make_key(addr: SocketAddr, alias: Option<&str>) -> anyhow::Result<String> {
    let mut body = serde_json::json!({
        "max_budget": 1_000_000_000,
        "rpm_limit": 1_000_000_000u64,
        "tpm_limit": 1_000_000_000_000u64,
    });
    if let Some(alias) = alias {
        body["key_alias"] = alias.into();
    }
    let body = body.to_string();
    let (status, text) = call(addr, "POST", "/key/generate", MASTER_KEY, &body).await?;
    anyhow::ensure!(status.is_success(), "/key/generate: {status} {text}");
    let v: serde_json::Value = serde_json::from_str(&text)?;
    v.get("key")
        .and_then(|k| k.as_str())
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("/key/generate answered without a key: {text}"))
}

fn run_cleanup(cleanup: &Cleanup) {
    match cleanup {
        Cleanup::None => {}
        Cleanup::DropDatabase(server, db) => {
            let _ = psql(
                server,
                &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
            );
        }
        Cleanup::RedisPrefix(url, prefix) => {
            let pattern = format!("{prefix}*");
            if let Ok(keys) = redis_cli(url, &["--scan", "--pattern", &pattern]) {
                let keys: Vec<&str> = keys.lines().filter(|k| !k.is_empty()).collect();
                for chunk in keys.chunks(500) {
                    let mut args = vec!["DEL"];
                    args.extend_from_slice(chunk);
                    let _ = redis_cli(url, &args);
                }
            }
        }
    }
}

impl Running {
    /// Stops the process (flushing its spend) and removes its database or Redis keys.
    pub fn stop(self) {
        self.server.stop();
        run_cleanup(&self.cleanup);
    }
}
