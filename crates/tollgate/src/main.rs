//! The `tollgate` binary: parses the command line and hands over to the library.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use tollgate::config::{self, Settings};

/// mimalloc: the system allocator's locking showed as a sixth of the gateway's CPU under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "tollgate",
    version,
    about = "An LLM gateway: virtual keys, budgets, rate limits, routing"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (the default).
    Serve {
        /// A LiteLLM-style config.yaml.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Address to bind (default 0.0.0.0, or 127.0.0.1 without a master key).
        #[arg(long)]
        host: Option<String>,
        /// Port (default 4000, or PORT).
        #[arg(long, short)]
        port: Option<u16>,
    },
    /// Apply database migrations and exit.
    Migrate {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Print the resolved configuration with secrets hidden; exit non-zero on errors.
    CheckConfig {
        /// The config file to check.
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    init_logging();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => return fail(&anyhow::anyhow!("cannot start the runtime: {e}")),
    };
    let result = runtime.block_on(async {
        match cli.command.unwrap_or(Command::Serve {
            config: None,
            host: None,
            port: None,
        }) {
            Command::Serve { config, host, port } => serve(config, host, port).await,
            Command::Migrate { config } => migrate(config).await,
            Command::CheckConfig { file } => check_config(file),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn fail(e: &anyhow::Error) -> ExitCode {
    tracing::error!("{e:#}");
    let _ = writeln!(std::io::stderr(), "error: {e:#}");
    ExitCode::FAILURE
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TOLLGATE_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let json = std::env::var("JSON_LOGS").is_ok_and(|v| v == "true" || v == "1");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn load(path: Option<PathBuf>) -> anyhow::Result<Settings> {
    let env = |name: &str| std::env::var(name).ok();
    let loaded = config::load(path.as_deref(), &env)?;
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    Ok(loaded.settings)
}

async fn serve(
    config: Option<PathBuf>,
    host: Option<String>,
    port: Option<u16>,
) -> anyhow::Result<()> {
    let settings = load(config)?;
    let open = settings.master_key.is_none();
    let host = match (host, open) {
        (Some(h), _) => h,
        (None, true) => "127.0.0.1".to_owned(),
        (None, false) => "0.0.0.0".to_owned(),
    };
    if open {
        tracing::warn!(
            "no master key is set (LITELLM_MASTER_KEY or general_settings.master_key): every caller \
             is accepted as an admin, so the gateway listens on {host} only"
        );
    }
    let port = port.unwrap_or(settings.port);
    let addr: SocketAddr = format!("{host}:{port}")
        .parse()
        .or_else(|_| format!("[{host}]:{port}").parse())
        .with_context(|| format!("bad listen address {host}:{port}"))?;
    let state = tollgate::open(settings).await?;
    let shutdown = shutdown_signal();
    let listener = tollgate::listen(addr).with_context(|| format!("cannot listen on {addr}"))?;
    let bound = listener.local_addr().unwrap_or(addr);
    tracing::info!("tollgate listening on http://{bound}");
    tollgate::run(listener, state, shutdown).await?;
    tracing::info!("tollgate stopped");
    Ok(())
}

async fn migrate(config: Option<PathBuf>) -> anyhow::Result<()> {
    let settings = load(config)?;
    tollgate::open(settings).await?;
    tracing::info!("migrations applied");
    Ok(())
}

fn check_config(file: PathBuf) -> anyhow::Result<()> {
    let settings = load(Some(file))?;
    writeln!(std::io::stdout(), "{}", settings.redacted_yaml())?;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is called, not when the
/// future is first polled, so a signal that arrives right after start-up is not lost.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    #[cfg(unix)]
    let int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
    async move {
        #[cfg(unix)]
        {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(term) => {},
                () = wait(int) => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutting down: finishing in-flight requests");
    }
}
