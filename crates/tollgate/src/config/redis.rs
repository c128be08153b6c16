//! Where the Redis shared between replicas is. In order: `router_settings.redis_url`,
//! `router_settings.redis_host` (with `redis_port`, `redis_password`), `litellm_settings.
//! cache_params` when the cache is Redis (`url`, else `host`, `port`, `password`), then the
//! environment: `TOLLGATE_REDIS_URL`, `REDIS_URL`, else a URL built from `TOLLGATE_REDIS_HOST` /
//! `REDIS_HOST`, `..._PORT` and `..._PASSWORD`.

use super::environ::Lookup;
use super::{Config, Problem, Secret};

const DEFAULT_REDIS_PORT: u16 = 6379;

/// The Redis URL, or `None` when no Redis is configured.
pub(crate) fn url(config: &Config, env: &Lookup<'_>) -> Result<Option<Secret>, Problem> {
    if let Some(url) = from_config(config) {
        return Ok(Some(url));
    }
    from_env(env)
}

fn from_config(config: &Config) -> Option<Secret> {
    let router = &config.router_settings;
    if let Some(url) = &router.redis_url {
        return Some(url.clone());
    }
    if let Some(host) = &router.redis_host {
        let password = router.redis_password.as_ref().map(Secret::expose);
        return Some(url_from_parts(host, router.redis_port, password));
    }
    let litellm = &config.litellm_settings;
    let cache = litellm.cache_params.as_ref().filter(|c| {
        litellm.cache != Some(false) && c.kind.as_deref().is_none_or(|k| k == "redis")
    })?;
    if let Some(url) = &cache.url {
        return Some(url.clone());
    }
    let password = cache.password.as_ref().map(Secret::expose);
    cache
        .host
        .as_ref()
        .map(|host| url_from_parts(host, cache.port, password))
}

fn from_env(env: &Lookup<'_>) -> Result<Option<Secret>, Problem> {
    if let Some((_, url)) = env.first(&["TOLLGATE_REDIS_URL", "REDIS_URL"]) {
        return Ok(Some(Secret::new(url)));
    }
    let Some((_, host)) = env.first(&["TOLLGATE_REDIS_HOST", "REDIS_HOST"]) else {
        return Ok(None);
    };
    let port = match env.first(&["TOLLGATE_REDIS_PORT", "REDIS_PORT"]) {
        None => None,
        Some((var, text)) => match text.trim().parse::<u16>() {
            Ok(port) if port > 0 => Some(port),
            _ => {
                let message = format!("must be a port number from 1 to 65535, got {text:?}");
                return Err(Problem::at_env(var, message));
            }
        },
    };
    let password = env.first(&["TOLLGATE_REDIS_PASSWORD", "REDIS_PASSWORD"]);
    Ok(Some(url_from_parts(
        &host,
        port,
        password.as_ref().map(|(_, p)| p.as_str()),
    )))
}

/// `redis://[:password@]host:port`, the password percent-encoded, the port 6379 by default.
fn url_from_parts(host: &str, port: Option<u16>, password: Option<&str>) -> Secret {
    let host = host.trim();
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    let port = port.unwrap_or(DEFAULT_REDIS_PORT);
    match password.filter(|p| !p.is_empty()) {
        Some(p) => Secret::new(format!("redis://:{}@{host}:{port}", percent_encode(p))),
        None => Secret::new(format!("redis://{host}:{port}")),
    }
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::config::CacheParams;

    fn resolve(config: &Config, vars: &[(&str, &str)]) -> Result<Option<String>, Problem> {
        let vars: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let env = move |name: &str| vars.get(name).cloned();
        let lookup = Lookup::new(BTreeMap::new(), &env);
        url(config, &lookup).map(|u| u.map(|s| s.expose().to_owned()))
    }

    #[test]
    fn builds_from_parts_with_an_encoded_password() {
        let secret = url_from_parts("cache.local", None, Some("p@ss/word"));
        assert_eq!(secret.expose(), "redis://:p%40ss%2Fword@cache.local:6379");
        assert_eq!(
            url_from_parts("::1", Some(7000), None).expose(),
            "redis://[::1]:7000"
        );
    }

    #[test]
    fn the_config_file_comes_before_the_environment() {
        let env = [("REDIS_URL", "redis://env:6379")];
        let mut config = Config::default();
        assert_eq!(
            resolve(&config, &env).unwrap().as_deref(),
            Some("redis://env:6379")
        );
        config.litellm_settings.cache_params = Some(CacheParams {
            host: Some("cache".into()),
            port: Some(6380),
            ..CacheParams::default()
        });
        assert_eq!(
            resolve(&config, &env).unwrap().as_deref(),
            Some("redis://cache:6380")
        );
        config.router_settings.redis_host = Some("router".into());
        config.router_settings.redis_password = Some(Secret::new("pw"));
        assert_eq!(
            resolve(&config, &env).unwrap().as_deref(),
            Some("redis://:pw@router:6379")
        );
        config.router_settings.redis_url = Some(Secret::new("rediss://url:1"));
        assert_eq!(
            resolve(&config, &env).unwrap().as_deref(),
            Some("rediss://url:1")
        );
    }

    #[test]
    fn a_non_redis_cache_is_not_a_redis_server() {
        let mut config = Config::default();
        config.litellm_settings.cache_params = Some(CacheParams {
            kind: Some("local".into()),
            host: Some("cache".into()),
            ..CacheParams::default()
        });
        assert_eq!(resolve(&config, &[]).unwrap(), None);
    }

    #[test]
    fn host_port_and_password_variables() {
        let env = [
            ("REDIS_HOST", "r"),
            ("REDIS_PORT", "6390"),
            ("TOLLGATE_REDIS_PASSWORD", "pw"),
            ("REDIS_PASSWORD", "ignored"),
        ];
        let config = Config::default();
        assert_eq!(
            resolve(&config, &env).unwrap().as_deref(),
            Some("redis://:pw@r:6390")
        );
        let err = resolve(&config, &[("REDIS_HOST", "r"), ("REDIS_PORT", "x")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable REDIS_PORT: must be a port number from 1 to 65535, got \"x\""
        );
    }
}
