//! Tollgate, an LLM gateway: the HTTP server, its configuration, authentication, limits and the
//! management API. [`app`] builds the router; [`run`] serves it on a listener.

pub mod admin;
pub mod auth;
pub mod config;
pub mod http;
pub mod limits;
pub mod spend;
pub mod state;

use std::future::Future;

use anyhow::Context as _;
use axum::middleware;
use axum::Router;
use tokio::net::TcpListener;
use tollgate_store::ConnectOptions;

use crate::config::Settings;
pub use crate::state::AppState;

/// The whole HTTP application for a state.
pub fn app(state: AppState) -> Router {
    http::routes::routes()
        .fallback(http::fallback::not_found)
        .method_not_allowed_fallback(http::fallback::method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .layer(middleware::from_fn(http::log::log_requests))
        .with_state(state)
}

/// Opens the database named by the settings (applying migrations) and builds the state.
pub async fn open(settings: Settings) -> anyhow::Result<AppState> {
    let mut options = ConnectOptions::new(settings.database_url.expose());
    options.max_connections = settings.pool_size;
    options.acquire_timeout = settings.pool_timeout;
    let store = tollgate_store::open(&options)
        .await
        .context("could not open the database")?;
    Ok(AppState::new(settings, store))
}

/// Serves the gateway on `listener` until `shutdown` resolves, then lets in-flight requests finish.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
}
