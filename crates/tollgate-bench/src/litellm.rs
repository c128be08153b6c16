//! LiteLLM side by side: its proxy (installed by `scripts/bench --with-litellm` from PyPI into a
//! venv) started with one worker, no database, the same model list and a master key.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::procs::{spawn_ready, Server};

/// The master key LiteLLM is started with (no database, so no virtual keys).
pub const MASTER_KEY: &str = "sk-bench-master-key";

/// A free loopback port (bound, then released for the child to take).
fn free_port() -> anyhow::Result<SocketAddr> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?)
}

/// Starts `litellm` against the fake upstream and waits until it answers.
pub async fn start(litellm: &Path, dir: &Path, upstream: SocketAddr) -> anyhow::Result<Server> {
    let config = dir.join("litellm-config.yaml");
    std::fs::write(
        &config,
        format!(
            "model_list:\n  - model_name: gpt-4o\n    litellm_params:\n      model: openai/gpt-4o\n      \
             api_base: http://{upstream}/v1\n      api_key: sk-bench-upstream\n      \
             input_cost_per_token: 0.000001\n      output_cost_per_token: 0.000002\n\
             general_settings:\n  master_key: {MASTER_KEY}\n"
        ),
    )?;
    let addr = free_port()?;
    let mut cmd = Command::new(litellm);
    cmd.arg("--config")
        .arg(&config)
        .args(["--host", "127.0.0.1", "--port", &addr.port().to_string()])
        .args(["--num_workers", "1"])
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env("LITELLM_LOG", "ERROR")
        .env("LITELLM_TELEMETRY", "False")
        .env("NO_DOCS", "True");
    spawn_ready(
        cmd,
        "LiteLLM",
        addr,
        "/health/liveliness",
        Duration::from_secs(180),
    )
    .await
}
