//! Which roles may call which routes (LiteLLM's route groups). Handlers then scope what a caller
//! sees or changes inside a route (own keys, own teams, own organization).

use axum::http::Method;

use super::role::Role;
use crate::http::Error;

/// Routes anyone may call without a key.
pub const PUBLIC_ROUTES: &[&str] = &["/", "/health/liveliness", "/health/readiness"];

/// The route groups of the permission matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteClass {
    Public,
    /// Callable with the master key only.
    MasterOnly,
    /// Inference: any valid key.
    Llm,
    /// Reads that filter to what the caller may see.
    Info,
    /// Key management: internal users manage their own keys.
    KeyManagement,
    /// Spend and activity reports, scoped inside the handler.
    Spend,
    /// Team administration that team admins may do; checked inside the handler.
    SelfManaged,
    /// Organization administration that org admins may do for their organization.
    OrgManagement,
    /// Everything else: proxy admins only (viewers may read).
    Admin,
}

const MASTER_ONLY: &[&str] = &["/global/spend/reset"];

const INFO: &[&str] = &[
    "/key/info",
    "/v2/key/info",
    "/key/list",
    "/team/info",
    "/team/list",
    "/user/info",
    "/v2/user/info",
    "/model/info",
    "/v1/model/info",
    "/v2/model/info",
    "/models",
    "/v1/models",
    "/health",
];

const KEY_MANAGEMENT: &[&str] = &[
    "/key/generate",
    "/key/update",
    "/key/delete",
    "/key/regenerate",
    "/key/block",
    "/key/unblock",
    "/key/health",
    "/key/aliases",
];

const SELF_MANAGED: &[&str] = &[
    "/team/update",
    "/team/member_add",
    "/team/member_delete",
    "/team/member_update",
    "/team/block",
    "/team/unblock",
];

const ORG_MANAGEMENT: &[&str] = &[
    "/organization/info",
    "/organization/list",
    "/organization/member_add",
    "/organization/member_update",
    "/organization/member_delete",
    "/team/new",
    "/team/delete",
    "/user/new",
    "/user/list",
];

const SPEND_PREFIXES: &[&str] = &[
    "/spend/",
    "/global/spend",
    "/global/activity",
    "/user/daily/activity",
    "/team/daily/activity",
    "/organization/daily/activity",
    "/customer/daily/activity",
    "/end_user/daily/activity",
    "/tag/",
];

const LLM_PREFIXES: &[&str] = &[
    "/chat/completions",
    "/v1/chat/completions",
    "/completions",
    "/v1/completions",
    "/embeddings",
    "/v1/embeddings",
    "/responses",
    "/v1/responses",
    "/messages",
    "/v1/messages",
    "/openai/deployments/",
    "/engines/",
    "/v1beta/",
];

/// The class of a route path.
pub fn classify(path: &str) -> RouteClass {
    let path = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    if PUBLIC_ROUTES.contains(&path) {
        RouteClass::Public
    } else if MASTER_ONLY.contains(&path) {
        RouteClass::MasterOnly
    } else if LLM_PREFIXES.iter().any(|p| path.starts_with(p)) {
        RouteClass::Llm
    } else if INFO.contains(&path) {
        RouteClass::Info
    } else if KEY_MANAGEMENT.contains(&path)
        || (path.starts_with("/key/") && path.ends_with("/regenerate"))
    {
        RouteClass::KeyManagement
    } else if SPEND_PREFIXES.iter().any(|p| path.starts_with(p)) {
        RouteClass::Spend
    } else if SELF_MANAGED.contains(&path) {
        RouteClass::SelfManaged
    } else if ORG_MANAGEMENT.contains(&path) {
        RouteClass::OrgManagement
    } else {
        RouteClass::Admin
    }
}

/// Whether a read-only method (viewers may call these on admin routes).
fn is_read(method: &Method, path: &str) -> bool {
    method == Method::GET
        || method == Method::HEAD
        || (method == Method::POST && (path.ends_with("/info") || path.ends_with("/list")))
}

/// Checks a role against a route for a caller that is not the master key. `Ok(())` lets the
/// handler decide the rest.
pub fn check(role: Role, user_id: Option<&str>, method: &Method, path: &str) -> Result<(), Error> {
    let class = classify(path);
    let read = is_read(method, path);
    let allowed = match (class, role) {
        (RouteClass::Public | RouteClass::Llm | RouteClass::Info | RouteClass::Spend, _) => true,
        (RouteClass::MasterOnly, _) => false,
        (_, Role::ProxyAdmin) => true,
        (_, Role::ProxyAdminViewer) => read,
        (RouteClass::KeyManagement | RouteClass::SelfManaged, Role::InternalUser) => true,
        (RouteClass::KeyManagement | RouteClass::SelfManaged, Role::OrgAdmin) => true,
        (RouteClass::OrgManagement, Role::OrgAdmin) => true,
        _ => false,
    };
    if allowed {
        return Ok(());
    }
    if role == Role::ProxyAdminViewer {
        return Err(Error::Forbidden(format!(
            "User not allowed to access this route, role=proxy_admin_viewer. Trying to access: {path}"
        )));
    }
    if class == RouteClass::MasterOnly {
        return Err(Error::unauthorized(
            "auth_error",
            format!(
                "Authentication Error, Tried to access route={path}, which is only for MASTER KEY"
            ),
        ));
    }
    Err(Error::unauthorized(
        "auth_error",
        format!(
            "Authentication Error, Only proxy admin can be used to generate, delete, update info \
             for new keys/users/teams. Route={path}. Your role={role}. Your user_id={}",
            mask_id(user_id.unwrap_or("None"))
        ),
    ))
}

fn mask_id(id: &str) -> String {
    let n = id.chars().count();
    if n <= 4 {
        return id.to_owned();
    }
    let keep: String = id.chars().take(2).collect();
    let tail: String = id.chars().skip(n - 2).collect();
    format!("{keep}{}{tail}", "*".repeat(n - 4))
}

/// Checks a key's own `allowed_routes` (exact paths, prefixes ending in `*`, or route groups).
pub fn check_key_routes(allowed: &[String], path: &str) -> Result<(), Error> {
    if allowed.is_empty() {
        return Ok(());
    }
    let class = classify(path);
    let ok = allowed.iter().any(|a| match a.as_str() {
        "llm_api_routes" => class == RouteClass::Llm,
        "info_routes" => class == RouteClass::Info,
        "management_routes" => !matches!(class, RouteClass::Llm | RouteClass::Public),
        "spend_tracking_routes" => class == RouteClass::Spend,
        pattern => match pattern.strip_suffix('*') {
            Some(prefix) => path.starts_with(prefix),
            None => path == pattern,
        },
    });
    if ok {
        return Ok(());
    }
    Err(Error::Forbidden(format!(
        "Virtual key is not allowed to call this route. Only allowed to call routes: {allowed:?}. Tried to call route: {path}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert_eq!(classify("/health/liveliness"), RouteClass::Public);
        assert_eq!(classify("/v1/chat/completions"), RouteClass::Llm);
        assert_eq!(classify("/key/generate"), RouteClass::KeyManagement);
        assert_eq!(
            classify("/key/sk-abc/regenerate"),
            RouteClass::KeyManagement
        );
        assert_eq!(classify("/key/info"), RouteClass::Info);
        assert_eq!(classify("/team/new"), RouteClass::OrgManagement);
        assert_eq!(classify("/budget/new"), RouteClass::Admin);
        assert_eq!(classify("/global/spend/reset"), RouteClass::MasterOnly);
        assert_eq!(
            classify("/user/daily/activity/aggregated"),
            RouteClass::Spend
        );
    }

    #[test]
    fn viewer_reads_but_never_writes() {
        assert!(check(Role::ProxyAdminViewer, None, &Method::GET, "/customer/list").is_ok());
        assert!(check(Role::ProxyAdminViewer, None, &Method::POST, "/budget/info").is_ok());
        let e = check(Role::ProxyAdminViewer, None, &Method::POST, "/key/generate").unwrap_err();
        assert_eq!(e.status_code(), 403);
    }

    #[test]
    fn internal_users_manage_keys_not_teams() {
        assert!(check(Role::InternalUser, None, &Method::POST, "/key/generate").is_ok());
        let e = check(
            Role::InternalUser,
            Some("alice-1234"),
            &Method::POST,
            "/team/new",
        )
        .unwrap_err();
        assert_eq!(e.status_code(), 401);
        assert!(e.to_string().contains("Your role=internal_user"));
        assert!(e.to_string().contains("al******34"));
        assert!(check(
            Role::InternalUserViewer,
            None,
            &Method::POST,
            "/key/generate"
        )
        .is_err());
    }

    #[test]
    fn master_only_routes() {
        assert!(check(Role::ProxyAdmin, None, &Method::POST, "/global/spend/reset").is_err());
        let e = check(
            Role::InternalUser,
            None,
            &Method::POST,
            "/global/spend/reset",
        )
        .unwrap_err();
        assert!(e.to_string().contains("only for MASTER KEY"));
    }

    #[test]
    fn key_allowed_routes() {
        let allowed = vec!["llm_api_routes".to_owned(), "/key/info".to_owned()];
        assert!(check_key_routes(&allowed, "/v1/chat/completions").is_ok());
        assert!(check_key_routes(&allowed, "/key/info").is_ok());
        assert_eq!(
            check_key_routes(&allowed, "/key/generate")
                .unwrap_err()
                .status_code(),
            403
        );
        assert!(check_key_routes(&["/team/*".to_owned()], "/team/info").is_ok());
        assert!(check_key_routes(&[], "/anything").is_ok());
    }
}
