//! Printing configuration without its secrets: [`Settings::redacted_yaml`] for `check-config`,
//! and `Debug` for the config structs. Typed secrets already serialize as `"***"`; on top of that,
//! free-form values (provider parameters, `model_info`, pass-through endpoints) are scrubbed by
//! key name, and passwords inside URLs are masked (`postgres://u:***@h/db`).

use std::fmt;

use serde::Serialize;
use serde_yaml_ng::Value;

use super::secret::REDACTED;
use super::sections::{CacheParams, GeneralSettings, KeyParams, LitellmSettings, RouterSettings};
use super::{Config, LitellmParams, ModelEntry, Secret, Settings};
use crate::spend::journal::Durability;

/// Key names whose string values are treated as secrets wherever they appear.
const SECRET_WORDS: [&str; 8] = [
    "key",
    "secret",
    "token",
    "password",
    "passwd",
    "credential",
    "authorization",
    "cookie",
];

/// What `check-config` prints: the runtime settings, then the file as resolved.
#[derive(Serialize)]
struct View<'a> {
    config_path: Option<String>,
    port: u16,
    master_key: Option<&'a Secret>,
    salt_key: Option<&'a Secret>,
    database_url: String,
    redis_url: Option<String>,
    pool_size: u32,
    pool_timeout_seconds: f64,
    key_header_name: Option<&'a str>,
    store_model_in_db: bool,
    journal_dir: String,
    journal_sync: String,
    config: &'a Config,
}

impl Settings {
    /// The resolved configuration as YAML with every secret shown as `"***"`, including
    /// passwords inside database and Redis URLs. Empty values (null, `[]`, `{}`) are left out.
    pub fn redacted_yaml(&self) -> String {
        let view = View {
            config_path: self.config_path.as_ref().map(|p| p.display().to_string()),
            port: self.port,
            master_key: self.master_key.as_ref(),
            salt_key: self.salt_key.as_ref(),
            database_url: redact_url(self.database_url.expose()),
            redis_url: self.redis_url.as_ref().map(|u| redact_url(u.expose())),
            pool_size: self.pool_size,
            pool_timeout_seconds: self.pool_timeout.as_secs_f64(),
            key_header_name: self.key_header_name.as_deref(),
            store_model_in_db: self.store_model_in_db,
            journal_dir: self.journal_dir.display().to_string(),
            journal_sync: match self.journal_sync {
                Durability::EachCall => "always".to_owned(),
                Durability::Every(d) => format!("{}ms", d.as_millis()),
            },
            config: &self.config,
        };
        match scrubbed(&view).and_then(|v| serde_yaml_ng::to_string(&v)) {
            Ok(yaml) => yaml,
            Err(e) => format!("# the configuration could not be printed: {e}\n"),
        }
    }
}

/// `value` serialized, then scrubbed.
fn scrubbed<T: Serialize>(value: &T) -> Result<Value, serde_yaml_ng::Error> {
    let mut tree = serde_yaml_ng::to_value(value)?;
    scrub(&mut tree);
    Ok(tree)
}

/// Masks string values under secret-sounding keys and URL passwords, and drops empty entries
/// (null, `[]`, `{}`) from mappings.
fn scrub(value: &mut Value) {
    match value {
        Value::Mapping(map) => {
            for (key, v) in map.iter_mut() {
                if v.is_string() && key.as_str().is_some_and(is_secret_name) {
                    *v = Value::String(REDACTED.to_owned());
                } else {
                    scrub(v);
                }
            }
            map.retain(|_, v| !is_empty(v));
        }
        Value::Sequence(items) => items.iter_mut().for_each(scrub),
        Value::Tagged(tagged) => scrub(&mut tagged.value),
        Value::String(s) if s.contains("://") => *s = redact_url(s),
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Sequence(items) => items.is_empty(),
        Value::Mapping(map) => map.is_empty(),
        _ => false,
    }
}

fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    !name.ends_with("_name") && SECRET_WORDS.iter().any(|word| name.contains(word))
}

/// Masks the password of a URL (`scheme://user:***@host/...`), a lone user part for Redis
/// (`redis://***@host`), and secret-sounding query parameters. Other text is returned as is.
pub(crate) fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let start = scheme_end + 3;
    let end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    let authority = &url[start..end];
    let authority = match authority.rfind('@') {
        None => authority.to_owned(),
        Some(at) => {
            let (userinfo, host) = (&authority[..at], &authority[at + 1..]);
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{user}:{REDACTED}@{host}"),
                None if url.starts_with("redis") => format!("{REDACTED}@{host}"),
                None => format!("{userinfo}@{host}"),
            }
        }
    };
    format!("{}{authority}{}", &url[..start], redact_query(&url[end..]))
}

fn redact_query(rest: &str) -> String {
    let Some((path, query)) = rest.split_once('?') else {
        return rest.to_owned();
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if is_secret_name(k) || k.to_ascii_lowercase().contains("pass") => {
                format!("{k}={REDACTED}")
            }
            _ => pair.to_owned(),
        })
        .collect();
    format!("{path}?{}", pairs.join("&"))
}

/// `Debug` through the scrubbed serialization, so free-form values cannot leak secrets either.
fn debug_scrubbed<T: Serialize>(name: &str, value: &T, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let json = scrubbed(value)
        .ok()
        .and_then(|tree| serde_json::to_string(&tree).ok())
        .unwrap_or_else(|| "{..}".to_owned());
    write!(f, "{name} {json}")
}

macro_rules! scrubbed_debug {
    ($($t:ident),*) => {$(
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                debug_scrubbed(stringify!($t), self, f)
            }
        }
    )*};
}

scrubbed_debug!(
    Config,
    ModelEntry,
    LitellmParams,
    LitellmSettings,
    CacheParams,
    KeyParams,
    RouterSettings,
    GeneralSettings
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_url_passwords_only() {
        assert_eq!(
            redact_url("postgres://u:pw@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("postgresql://u@h/db"), "postgresql://u@h/db");
        assert_eq!(redact_url("redis://:pw@h:6379"), "redis://:***@h:6379");
        assert_eq!(redact_url("rediss://pw@h:6379/0"), "rediss://***@h:6379/0");
        assert_eq!(redact_url("sqlite://tollgate.db"), "sqlite://tollgate.db");
        assert_eq!(redact_url("sqlite:x.db"), "sqlite:x.db");
        assert_eq!(
            redact_url("postgres://h/db?user=u&password=pw&sslmode=require"),
            "postgres://h/db?user=u&password=***&sslmode=require"
        );
        assert_eq!(redact_url("https://a:b@c@h/x"), "https://a:***@h/x");
    }

    #[test]
    fn scrubs_by_key_name_but_keeps_numbers_and_names() {
        let mut tree: Value = serde_yaml_ng::from_str(
            "aws_secret_access_key: s1\nmax_tokens: 5\nlitellm_key_header_name: X-Key\n\
             headers: {Authorization: Bearer s2}\nempty: null\nnone: []\napi_base: https://u:s3@h\n\
             list: [{private_key: s4}]",
        )
        .unwrap();
        scrub(&mut tree);
        let text = serde_yaml_ng::to_string(&tree).unwrap();
        for secret in ["s1", "s2", "s3", "s4"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert!(
            text.contains("max_tokens: 5") && text.contains("X-Key"),
            "{text}"
        );
        assert!(!text.contains("empty") && !text.contains("none"), "{text}");
    }
}
