//! `/health/liveliness` and `/health/readiness`.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::state::AppState;

/// GET /health/liveliness
pub async fn liveliness() -> Json<&'static str> {
    Json("I'm alive!")
}

/// GET /health/readiness: reports whether the database answers.
pub async fn readiness(State(state): State<AppState>) -> Json<Value> {
    let db = match state.store.ping().await {
        Ok(()) => "connected",
        Err(_) => "Not connected",
    };
    Json(json!({
        "status": if db == "connected" { "healthy" } else { "unhealthy" },
        "db": db,
        "database_backend": format!("{:?}", state.store.backend()).to_lowercase(),
        "version": env!("CARGO_PKG_VERSION"),
    }))
}
