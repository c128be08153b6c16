//! The route table: every route of the gateway, in one place. Auth applies to all of them but
//! the public allowlist in [`crate::auth::access::PUBLIC_ROUTES`].

use axum::routing::{delete, get, patch, post};
use axum::Router;

use super::health;
use crate::admin;
use crate::admin::{audit, budgets, customers, keys, orgs, teams, users};
use crate::analytics::{daily, spend};
use crate::proxy;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(health::liveliness))
        .route("/health/liveliness", get(health::liveliness))
        .route("/health/readiness", get(health::readiness))
        .merge(key_routes())
        .merge(team_routes())
        .merge(user_routes())
        .merge(org_routes())
        .merge(customer_routes("/customer"))
        .merge(customer_routes("/end_user"))
        .merge(budget_routes())
        .route("/audit", get(audit::list))
        .route("/audit/{id}", get(audit::get))
        .merge(inference_routes())
        .merge(analytics_routes())
}

fn analytics_routes() -> Router<AppState> {
    Router::new()
        .route("/user/daily/activity", get(daily::user))
        .route(
            "/user/daily/activity/aggregated",
            get(daily::user_aggregated),
        )
        .route("/team/daily/activity", get(daily::team))
        .route(
            "/team/daily/activity/aggregated",
            get(daily::team_aggregated),
        )
        .route("/organization/daily/activity", get(daily::organization))
        .route(
            "/organization/daily/activity/aggregated",
            get(daily::organization_aggregated),
        )
        .route("/customer/daily/activity", get(daily::customer))
        .route(
            "/customer/daily/activity/aggregated",
            get(daily::customer_aggregated),
        )
        .route("/end_user/daily/activity", get(daily::customer))
        .route(
            "/end_user/daily/activity/aggregated",
            get(daily::customer_aggregated),
        )
        .route("/tag/daily/activity", get(daily::tag))
        .route("/tag/daily/activity/aggregated", get(daily::tag_aggregated))
        .route("/spend/logs", get(spend::logs))
        .route("/global/spend", get(spend::global))
        .route("/global/spend/keys", get(spend::by_key))
        .route("/global/spend/models", get(spend::by_model))
        .route("/global/spend/teams", get(spend::by_team))
        .route("/global/spend/end_users", get(spend::by_end_user))
        .route("/global/spend/tags", get(spend::by_tag))
        .route("/global/spend/reset", post(spend::reset))
}

/// Inference routes, each with and without `/v1`.
fn inference_routes() -> Router<AppState> {
    let mut r = Router::new();
    for prefix in ["", "/v1"] {
        r = r
            .route(&format!("{prefix}/chat/completions"), post(proxy::chat))
            .route(&format!("{prefix}/completions"), post(proxy::completions))
            .route(&format!("{prefix}/embeddings"), post(proxy::embeddings))
            .route(&format!("{prefix}/responses"), post(proxy::responses))
            .route(&format!("{prefix}/messages"), post(proxy::messages))
            .route(
                &format!("{prefix}/messages/count_tokens"),
                post(proxy::count_tokens),
            )
            .route(&format!("{prefix}/models"), get(proxy::models::list))
            .route(&format!("{prefix}/model/info"), get(proxy::models::info));
    }
    r.route("/model/new", post(admin::models::new))
        .route("/model/update", post(admin::models::update))
        .route(
            "/model/{model_id}/update",
            patch(admin::models::update_path),
        )
        .route("/model/{model_id}/info", get(admin::models::info))
        .route("/model/delete", post(admin::models::delete))
        .route(
            "/openai/deployments/{model}/chat/completions",
            post(proxy::azure_chat),
        )
        .route("/engines/{model}/chat/completions", post(proxy::azure_chat))
        .route("/v2/model/info", get(proxy::models::info_v2))
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

fn org_routes() -> Router<AppState> {
    Router::new()
        .route("/organization/new", post(orgs::new))
        .route(
            "/organization/update",
            patch(orgs::update).post(orgs::update),
        )
        .route("/organization/delete", delete(orgs::delete))
        .route("/organization/info", get(orgs::info).post(orgs::info_post))
        .route("/organization/list", get(orgs::list))
        .route("/organization/member_add", post(orgs::member_add))
        .route("/organization/member_update", patch(orgs::member_update))
        .route("/organization/member_delete", delete(orgs::member_delete))
}

/// Customers answer under `/customer/*` and, as LiteLLM's aliases, `/end_user/*`.
fn customer_routes(prefix: &str) -> Router<AppState> {
    Router::new()
        .route(&format!("{prefix}/new"), post(customers::new))
        .route(&format!("{prefix}/info"), get(customers::info))
        .route(&format!("{prefix}/update"), post(customers::update))
        .route(&format!("{prefix}/delete"), post(customers::delete))
        .route(&format!("{prefix}/list"), get(customers::list))
        .route(&format!("{prefix}/block"), post(customers::block))
        .route(&format!("{prefix}/unblock"), post(customers::unblock))
}

fn budget_routes() -> Router<AppState> {
    Router::new()
        .route("/budget/new", post(budgets::new))
        .route("/budget/update", post(budgets::update))
        .route("/budget/info", post(budgets::info))
        .route("/budget/list", get(budgets::list))
        .route("/budget/delete", post(budgets::delete))
}
