//! Authentication and route permissions. Every route but the public allowlist passes through
//! [`authenticate`], which finds the caller's key, resolves it from the cache (or the store on a
//! miss), checks it, and leaves a [`Principal`] in the request for the handlers.

pub mod access;
pub mod cache;
pub mod extract;
pub mod keys;
pub mod role;

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use chrono::Utc;
use subtle::ConstantTimeEq;
use tollgate_store::{
    BudgetRecord, KeyRecord, OrgRecord, TeamMember, TeamRecord, TokenStatus, UserRecord,
};

pub use cache::{KeyAuth, KeyCache};
pub use role::Role;

use crate::http::Error;
use crate::state::AppState;

/// The user id LiteLLM gives the master key.
pub const MASTER_USER_ID: &str = "default_user_id";

/// Who is calling.
#[derive(Debug, Clone)]
pub struct Principal {
    pub role: Role,
    pub user_id: Option<String>,
    /// The master key, or any caller when no master key is configured.
    pub is_master: bool,
    /// The virtual key used, with what it resolves to.
    pub key: Option<Arc<KeyAuth>>,
    /// Hash of the key that was presented (an old token during a grace period, say).
    pub token: Option<String>,
}

impl Principal {
    fn master() -> Self {
        Principal {
            role: Role::ProxyAdmin,
            user_id: Some(MASTER_USER_ID.to_owned()),
            is_master: true,
            key: None,
            token: None,
        }
    }

    /// May change anything.
    pub fn is_proxy_admin(&self) -> bool {
        self.role == Role::ProxyAdmin
    }

    /// May read anything.
    pub fn sees_all(&self) -> bool {
        self.role.is_admin()
    }

    /// Whether this caller's user id is `user_id`.
    pub fn is_user(&self, user_id: Option<&str>) -> bool {
        user_id.is_some() && self.user_id.as_deref() == user_id
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| Error::Internal("route is missing authentication".into()))
    }
}

/// Authenticates a request to a non-public route: the request with its [`Principal`], or why
/// it may not go on.
pub async fn authenticate(state: &AppState, req: Request) -> Result<Request, Error> {
    if access::classify(req.uri().path()) == access::RouteClass::Public {
        return Ok(req);
    }
    let (mut head, body) = req.into_parts();
    let principal = resolve(state, &head).await?;
    head.extensions.insert(principal);
    Ok(Request::from_parts(head, body))
}

async fn resolve(state: &AppState, parts: &Parts) -> Result<Principal, Error> {
    let presented = extract::api_key(parts, state.settings.key_header_name.as_deref())?;
    let Some(master) = state.settings.master_key.as_ref() else {
        return Ok(Principal::master());
    };
    let Some(raw) = presented else {
        return Err(Error::unauthorized(
            "auth_error",
            "Authentication Error, No api key passed in.",
        ));
    };
    if bool::from(raw.as_bytes().ct_eq(master.expose().as_bytes())) {
        return Ok(Principal::master());
    }
    if !raw.starts_with("sk-") {
        return Err(Error::unauthorized(
            "auth_error",
            format!(
                "Authentication Error, Virtual key expected. Received={}, expected to start with 'sk-'.",
                keys::masked(&raw)
            ),
        ));
    }
    let token = keys::hash(&raw);
    let auth = lookup(state, &token)
        .await?
        .ok_or_else(|| Error::Unauthorized {
            message: "Authentication Error, Invalid API key provided.".into(),
            kind: "token_not_found_in_db",
            param: Some("key".into()),
        })?;
    check_key(&auth)?;
    let path = parts.uri.path();
    access::check_key_routes(&auth.key.allowed_routes, path)?;
    let role = auth
        .user
        .as_ref()
        .and_then(|u| Role::parse(&u.user_role))
        .unwrap_or(Role::InternalUser);
    access::check(role, auth.key.user_id.as_deref(), &parts.method, path)?;
    Ok(Principal {
        role,
        user_id: auth.key.user_id.clone(),
        is_master: false,
        key: Some(auth),
        token: Some(token),
    })
}

fn check_key(auth: &KeyAuth) -> Result<(), Error> {
    if auth.grace_until.is_some_and(|t| t <= Utc::now()) {
        return Err(Error::Unauthorized {
            message: "Authentication Error, Invalid API key provided.".into(),
            kind: "token_not_found_in_db",
            param: Some("key".into()),
        });
    }
    if auth.key.blocked == Some(true) {
        return Err(Error::unauthorized(
            "auth_error",
            "Authentication Error, Key is blocked. Update via `/key/unblock` if you're an admin.",
        ));
    }
    if let Some(expires) = auth.key.expires {
        let now = Utc::now();
        if expires < now {
            return Err(Error::unauthorized(
                "expired_key",
                format!(
                    "Authentication Error - Expired Key. Key Expiry time {expires} and current time {now}"
                ),
            ));
        }
    }
    if let Some(team) = auth.team.as_ref().filter(|t| t.blocked) {
        return Err(Error::unauthorized(
            "team_blocked",
            format!(
                "Authentication Error, Team={} is blocked. Update via `/team/unblock` if you're an admin.",
                team.team_id
            ),
        ));
    }
    Ok(())
}

/// The key behind a token hash: from the cache, else from the store (and then cached).
/// A regenerated token still resolves during its grace period.
pub async fn lookup(state: &AppState, token: &str) -> Result<Option<Arc<KeyAuth>>, Error> {
    if let Some(hit) = state.keys.get(token).await {
        return Ok(Some(hit));
    }
    if state.db_down.is_open() && serve_when_db_down(state) {
        if let Some(stale) = state.keys.get_stale(token).await {
            return Ok(Some(stale));
        }
    }
    // Boxed: the store lookup is the rare path, and would make every lookup's future large.
    match Box::pin(load(state, token)).await {
        Err(Error::Unavailable(why)) if serve_when_db_down(state) => {
            state.db_down.trip();
            match state.keys.get_stale(token).await {
                Some(stale) => {
                    tracing::warn!("database unavailable, serving a cached key: {why}");
                    Ok(Some(stale))
                }
                None => Err(Error::Unavailable(why)),
            }
        }
        other => other,
    }
}

/// Loads a key and what it resolves to from the store, and caches it.
async fn load(state: &AppState, token: &str) -> Result<Option<Arc<KeyAuth>>, Error> {
    let generation = state.keys.generation();
    let Some((key, grace_until)) = load_key(state, token).await? else {
        return Ok(None);
    };
    let store = &state.store;
    let user = match &key.user_id {
        Some(id) => store.get::<UserRecord>(&[id]).await?,
        None => None,
    };
    let team = match &key.team_id {
        Some(id) => store.get::<TeamRecord>(&[id]).await?,
        None => None,
    };
    let membership = match (&key.team_id, &key.user_id) {
        (Some(t), Some(u)) => store.get::<TeamMember>(&[t, u]).await?,
        _ => None,
    };
    let org = match &key.organization_id {
        Some(id) => store.get::<OrgRecord>(&[id]).await?,
        None => None,
    };
    let org_budget = match &org {
        Some(o) => store.get::<BudgetRecord>(&[&o.budget_id]).await?,
        None => None,
    };
    let key_budget = match &key.budget_id {
        Some(id) => store.get::<BudgetRecord>(&[id]).await?,
        None => None,
    };
    let auth = Arc::new(KeyAuth {
        key,
        user,
        team,
        membership,
        org,
        org_budget,
        key_budget,
        grace_until,
    });
    state
        .keys
        .insert(token.to_owned(), auth.clone(), generation)
        .await;
    Ok(Some(auth))
}

/// The key of a token, with the end of its grace period when it is a regenerated token. One
/// read whatever the token is: a token never issued costs one index probe.
async fn load_key(
    state: &AppState,
    token: &str,
) -> Result<Option<(KeyRecord, Option<chrono::DateTime<Utc>>)>, Error> {
    let Some(found) = state.store.key_for_token(token).await? else {
        return Ok(None);
    };
    let Some(key) = found.key else {
        return Ok(None);
    };
    match found.status {
        TokenStatus::Active if key.token == token => Ok(Some((key, None))),
        TokenStatus::Regenerated if found.grace_until.is_some_and(|t| t > Utc::now()) => {
            Ok(Some((key, found.grace_until)))
        }
        _ => Ok(None),
    }
}

/// `general_settings.allow_requests_on_db_unavailable` (on unless set to false).
fn serve_when_db_down(state: &AppState) -> bool {
    state
        .settings
        .config
        .general_settings
        .allow_requests_on_db_unavailable
        != Some(false)
}
