//! Which models a key may call: the key's own list, then its team's, its user's (for personal
//! keys) and its organization's. An empty list means no restriction at that level;
//! `all-proxy-models` and `*` patterns widen a list.

use crate::auth::KeyAuth;
use crate::http::Error;
use crate::router::pattern;

fn allows(list: &[String], model: &str) -> bool {
    list.is_empty()
        || list
            .iter()
            .any(|m| m == "all-proxy-models" || pattern::matches(m, model))
}

/// Checks every level; the error names the level that refused, in LiteLLM's words.
pub fn check_model(auth: &KeyAuth, model: &str) -> Result<(), Error> {
    let k = &auth.key;
    if !allows(&k.models, model) {
        return Err(Error::Unauthorized {
            message: format!(
                "key not allowed to access model. This key can only access models={:?}. Tried to access {model}",
                k.models
            ),
            kind: "key_model_access_denied",
            param: Some("model".into()),
        });
    }
    if let Some(t) = auth.team.as_ref().filter(|t| !allows(&t.models, model)) {
        return Err(Error::Unauthorized {
            message: format!(
                "Team not allowed to access model. Team={}, Model={model}. Allowed team models = {:?}",
                t.team_id, t.models
            ),
            kind: "team_model_access_denied",
            param: Some("model".into()),
        });
    }
    if auth.team.is_none() {
        if let Some(u) = auth.user.as_ref().filter(|u| !allows(&u.models, model)) {
            return Err(Error::Unauthorized {
                message: format!(
                    "User not allowed to access model. User={}, Model={model}. Allowed user models = {:?}",
                    u.user_id, u.models
                ),
                kind: "user_model_access_denied",
                param: Some("model".into()),
            });
        }
    }
    if let Some(o) = auth.org.as_ref().filter(|o| !allows(&o.models, model)) {
        return Err(Error::Unauthorized {
            message: format!(
                "Organization not allowed to access model. Organization={}, Model={model}. Allowed organization models = {:?}",
                o.organization_id, o.models
            ),
            kind: "organization_model_access_denied",
            param: Some("model".into()),
        });
    }
    Ok(())
}

/// Whether a key may see a model in /v1/models.
pub fn may_list(auth: Option<&KeyAuth>, model: &str) -> bool {
    auth.is_none_or(|a| check_model(a, model).is_ok())
}
