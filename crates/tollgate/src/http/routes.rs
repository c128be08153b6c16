//! The route table: every route of the gateway, in one place. Auth applies to all of them but
//! the public allowlist in [`crate::auth::access::PUBLIC_ROUTES`].

use axum::routing::{get, post};
use axum::Router;

use super::health;
use crate::admin::{keys, teams, users};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(health::liveliness))
        .route("/health/liveliness", get(health::liveliness))
        .route("/health/readiness", get(health::readiness))
        .merge(key_routes())
        .merge(team_routes())
        .merge(user_routes())
}

fn key_routes() -> Router<AppState> {
    Router::new()
        .route("/key/generate", post(keys::generate))
        .route("/key/update", post(keys::update))
        .route("/key/delete", post(keys::delete))
        .route("/key/info", get(keys::info))
        .route("/v2/key/info", post(keys::info_v2))
        .route("/key/list", get(keys::list))
        .route("/key/regenerate", post(keys::regenerate))
        .route("/key/{key}/regenerate", post(keys::regenerate_path))
        .route("/key/block", post(keys::block))
        .route("/key/unblock", post(keys::unblock))
}

fn team_routes() -> Router<AppState> {
    Router::new()
        .route("/team/new", post(teams::new))
        .route("/team/update", post(teams::update))
        .route("/team/delete", post(teams::delete))
        .route("/team/info", get(teams::info))
        .route("/team/list", get(teams::list))
        .route("/v2/team/list", get(teams::list_v2))
        .route("/team/member_add", post(teams::member_add))
        .route("/team/member_delete", post(teams::member_delete))
        .route("/team/member_update", post(teams::member_update))
        .route("/team/block", post(teams::block))
        .route("/team/unblock", post(teams::unblock))
}

fn user_routes() -> Router<AppState> {
    Router::new()
        .route("/user/new", post(users::new))
        .route("/user/update", post(users::update))
        .route("/user/delete", post(users::delete))
        .route("/user/info", get(users::info))
        .route("/v2/user/info", get(users::info_v2))
        .route("/user/list", get(users::list))
}
