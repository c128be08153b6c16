//! Tollgate, an LLM gateway: the HTTP server, its configuration, authentication, limits and the
//! management API. [`app`] builds the router; [`run`] serves it on a listener.

pub mod admin;
pub mod analytics;
pub mod auth;
pub mod changes;
pub mod config;
pub mod http;
pub mod limits;
pub mod proxy;
pub mod router;
pub mod spend;
pub mod state;

use std::future::Future;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tollgate_store::ConnectOptions;

use crate::config::Settings;
pub use crate::state::AppState;

/// The whole HTTP application for a state: the route table behind the one middleware.
pub fn app(state: AppState) -> http::layer::Front {
    let routes = http::routes::routes()
        .fallback(http::fallback::not_found)
        .method_not_allowed_fallback(http::fallback::method_not_allowed)
        .with_state(state.clone());
    http::layer::Front::new(state, routes)
}

/// Opens the database named by the settings (applying migrations) and builds the state.
pub async fn open(settings: Settings) -> anyhow::Result<AppState> {
    let mut options = ConnectOptions::new(settings.database_url.expose());
    options.max_connections = settings.pool_size;
    options.acquire_timeout = settings.pool_timeout;
    let store = tollgate_store::open(&options)
        .await
        .context("could not open the database")?;
    let prices =
        spend::pricing::PriceTable::embedded().context("could not load the price table")?;
    let journal =
        spend::replay::recover(&settings.journal_dir, settings.journal_sync, &*store).await?;
    let state = AppState::new(settings, store, prices, Some(journal))?;
    admin::models::reload(&state).await.map_err(|e| {
        anyhow::anyhow!("could not build the model list (model_list and stored models): {e}")
    })?;
    let global = state
        .store
        .global_spend(chrono::DateTime::UNIX_EPOCH)
        .await?;
    state.ledger.set(&limits::Entity::Global, global);
    start_jobs(&state);
    Ok(state)
}

/// Background jobs of a serving gateway.
fn start_jobs(state: &AppState) {
    let general = &state.settings.config.general_settings;
    if general.disable_reset_budget != Some(true) {
        let every = general.proxy_budget_rescheduler_min_time.unwrap_or(597);
        tokio::spawn(spend::reset::run(
            state.clone(),
            std::time::Duration::from_secs(every),
        ));
    }
    tokio::spawn(spend::retention::run(state.clone()));
    tokio::spawn(changes::listen(state.clone()));
}

/// Connections the kernel may hold for the gateway before it accepts them (capped by the
/// system's `net.core.somaxconn`). Bursts of clients connecting at once (hundreds of streams
/// opened together) overflowed the default of 128, and each dropped handshake costs its client
/// a one-second retransmission.
pub const LISTEN_BACKLOG: u32 = 4096;

/// A listener on `addr` with [`LISTEN_BACKLOG`].
pub fn listen(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// How long in-flight requests and streams may run on after shutdown begins.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

/// Serves the gateway on `listener` until `shutdown` resolves: then it stops accepting
/// connections, lets in-flight requests and streams finish (for at most 30 s), and flushes
/// pending spend before returning.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (begun, mut begun_rx) = tokio::sync::watch::channel(false);
    let graceful = async move {
        shutdown.await;
        let _ = begun.send(true);
    };
    let serve = http::serve::serve(listener, app(state.clone()), graceful);
    let deadline = async move {
        let _ = begun_rx.wait_for(|b| *b).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        () = serve => {}
        () = deadline => tracing::warn!("requests still running {SHUTDOWN_GRACE:?} after shutdown began; stopping them"),
    }
    drain(&state).await;
    Ok(())
}

/// After the server stops: lets streams finish (within a bound) and flushes pending spend.
pub async fn drain(state: &AppState) {
    state.tasks.close();
    if tokio::time::timeout(std::time::Duration::from_secs(30), state.tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!("streams still running after 30 s; recording what is known");
    }
    if !state.spend.flush().await {
        tracing::error!("some spend could not be written before exit");
    }
}
