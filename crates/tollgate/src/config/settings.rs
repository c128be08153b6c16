//! [`Settings`]: the runtime view of the configuration. Each value comes from the config file
//! when it is set there, else from the `TOLLGATE_*` variable, else from LiteLLM's variable, else
//! a default.

use std::path::PathBuf;
use std::time::Duration;

use super::environ::Lookup;
use super::scalar::Scalar;
use super::{redis, Config, Problem, Secret};
use crate::spend::journal::Durability;

const DEFAULT_DATABASE_URL: &str = "sqlite://tollgate.db";
const DEFAULT_PORT: u16 = 4000;
const DEFAULT_JOURNAL_DIR: &str = "tollgate-journal";
const DEFAULT_JOURNAL_SYNC: Duration = Duration::from_millis(50);
const DEFAULT_POOL_SIZE: u32 = 10;
const DEFAULT_POOL_TIMEOUT: Duration = Duration::from_secs(5);
const DATABASE_SCHEMES: [&str; 3] = ["sqlite:", "postgres://", "postgresql://"];

/// The resolved configuration the gateway runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The file as written (after `os.environ/` resolution).
    pub config: Config,
    pub config_path: Option<PathBuf>,
    /// `general_settings.master_key`, `TOLLGATE_MASTER_KEY` or `LITELLM_MASTER_KEY`.
    pub master_key: Option<Secret>,
    /// `general_settings.database_url`, `TOLLGATE_DATABASE_URL`, `DATABASE_URL`, or SQLite.
    pub database_url: Secret,
    /// `TOLLGATE_SALT_KEY` or `LITELLM_SALT_KEY`: encrypts credentials stored in the database.
    pub salt_key: Option<Secret>,
    /// Redis shared between replicas, from the router settings, the cache settings, or the
    /// `REDIS_*` variables.
    pub redis_url: Option<Secret>,
    /// `TOLLGATE_REDIS_PREFIX`: the prefix of every Redis key (`tollgate:` by default), so that
    /// gateways sharing one Redis can keep apart.
    pub redis_prefix: String,
    /// `TOLLGATE_PORT` or `PORT`.
    pub port: u16,
    /// `general_settings.database_connection_pool_limit`.
    pub pool_size: u32,
    /// `general_settings.database_connection_timeout`.
    pub pool_timeout: Duration,
    /// `general_settings.litellm_key_header_name`.
    pub key_header_name: Option<String>,
    /// `general_settings.store_model_in_db`, `TOLLGATE_STORE_MODEL_IN_DB` or `STORE_MODEL_IN_DB`.
    pub store_model_in_db: bool,
    /// `TOLLGATE_JOURNAL_DIR`, else `./tollgate-journal`: this replica's spend journal (one
    /// directory per replica).
    pub journal_dir: PathBuf,
    /// `TOLLGATE_JOURNAL_SYNC`: `always` (each call waits for its record's `fdatasync`), or a
    /// sync interval in milliseconds (default 50): the journal's protection against power loss.
    pub journal_sync: Durability,
}

/// A value and where it came from, for error messages.
struct Sourced<T> {
    value: T,
    from: Source,
}

enum Source {
    Key(&'static str),
    Env(&'static str),
}

impl Source {
    fn problem(&self, file: &str, message: impl Into<String>) -> Problem {
        match self {
            Source::Key(path) => Problem::at_key(file, *path, message),
            Source::Env(var) => Problem::at_env(var, message),
        }
    }
}

impl Settings {
    /// Resolves `config` against the environment; `file` names the config file in errors.
    pub(crate) fn resolve(
        config: Config,
        config_path: Option<PathBuf>,
        file: &str,
        env: &Lookup<'_>,
    ) -> Result<Self, Vec<Problem>> {
        let mut problems = Vec::new();
        let p = &mut problems;
        let master_key = keep(p, master_key(&config, file, env)).flatten();
        let database_url = keep(p, database_url(&config, file, env));
        let port = keep(p, port(env));
        let store_model_in_db = keep(p, store_model_in_db(&config, env));
        let redis_url = keep(p, redis::url(&config, env)).flatten();
        let journal_sync = keep(p, journal_sync(env));
        let (Some(database_url), Some(port), Some(store_model_in_db), Some(journal_sync), true) = (
            database_url,
            port,
            store_model_in_db,
            journal_sync,
            problems.is_empty(),
        ) else {
            return Err(problems);
        };
        let general = &config.general_settings;
        Ok(Self {
            master_key,
            database_url,
            salt_key: secret_env(env, &["TOLLGATE_SALT_KEY", "LITELLM_SALT_KEY"]),
            redis_url,
            redis_prefix: env
                .first(&["TOLLGATE_REDIS_PREFIX"])
                .map_or_else(|| "tollgate:".to_owned(), |(_, p)| p),
            port,
            pool_size: general
                .database_connection_pool_limit
                .unwrap_or(DEFAULT_POOL_SIZE),
            pool_timeout: general
                .database_connection_timeout
                .and_then(|s| Duration::try_from_secs_f64(s).ok())
                .unwrap_or(DEFAULT_POOL_TIMEOUT),
            key_header_name: general.litellm_key_header_name.clone(),
            store_model_in_db,
            journal_dir: env
                .first(&["TOLLGATE_JOURNAL_DIR"])
                .map_or_else(|| PathBuf::from(DEFAULT_JOURNAL_DIR), |(_, v)| v.into()),
            journal_sync,
            config,
            config_path,
        })
    }
}

fn keep<T>(problems: &mut Vec<Problem>, result: Result<T, Problem>) -> Option<T> {
    result.map_err(|p| problems.push(p)).ok()
}

fn secret_env(env: &Lookup<'_>, names: &[&'static str]) -> Option<Secret> {
    env.first(names).map(|(_, v)| Secret::new(v))
}

/// The config file's secret, else the first variable set.
fn pick_secret(
    from_file: Option<&Secret>,
    key: &'static str,
    env: &Lookup<'_>,
    names: &[&'static str],
) -> Option<Sourced<Secret>> {
    match from_file {
        Some(s) => Some(Sourced {
            value: s.clone(),
            from: Source::Key(key),
        }),
        None => env.first(names).map(|(var, v)| Sourced {
            value: Secret::new(v),
            from: Source::Env(var),
        }),
    }
}

fn master_key(config: &Config, file: &str, env: &Lookup<'_>) -> Result<Option<Secret>, Problem> {
    let names = ["TOLLGATE_MASTER_KEY", "LITELLM_MASTER_KEY"];
    let from_file = config.general_settings.master_key.as_ref();
    let Some(key) = pick_secret(from_file, "general_settings.master_key", env, &names) else {
        return Ok(None);
    };
    if !key.value.expose().starts_with("sk-") {
        return Err(key.from.problem(
            file,
            "the master key must start with \"sk-\", as in LiteLLM (keys without it are taken \
             for stored key hashes)",
        ));
    }
    Ok(Some(key.value))
}

fn database_url(config: &Config, file: &str, env: &Lookup<'_>) -> Result<Secret, Problem> {
    let names = ["TOLLGATE_DATABASE_URL", "DATABASE_URL"];
    let from_file = config.general_settings.database_url.as_ref();
    let Some(url) = pick_secret(from_file, "general_settings.database_url", env, &names) else {
        return Ok(Secret::new(DEFAULT_DATABASE_URL));
    };
    let text = url.value.expose();
    if DATABASE_SCHEMES
        .iter()
        .any(|scheme| text.starts_with(scheme))
    {
        return Ok(url.value);
    }
    // Name only the scheme: the rest of a URL may hold a password.
    let shown = match text.split_once(':') {
        Some((scheme, _)) if scheme.len() <= 20 => format!("it starts with {scheme:?}"),
        _ => "it has no scheme".to_owned(),
    };
    Err(url.from.problem(
        file,
        format!("must start with sqlite:, postgres:// or postgresql:// ({shown})"),
    ))
}

fn port(env: &Lookup<'_>) -> Result<u16, Problem> {
    match env.first(&["TOLLGATE_PORT", "PORT"]) {
        None => Ok(DEFAULT_PORT),
        Some((var, text)) => text.trim().parse().map_err(|_| {
            Problem::at_env(
                var,
                format!("must be a port number from 0 to 65535, got {text:?}"),
            )
        }),
    }
}

fn journal_sync(env: &Lookup<'_>) -> Result<Durability, Problem> {
    let Some((var, text)) = env.first(&["TOLLGATE_JOURNAL_SYNC"]) else {
        return Ok(Durability::Every(DEFAULT_JOURNAL_SYNC));
    };
    let text = text.trim();
    if text.eq_ignore_ascii_case("always") {
        return Ok(Durability::EachCall);
    }
    match text.parse::<u64>() {
        Ok(ms) if (1..=60_000).contains(&ms) => Ok(Durability::Every(Duration::from_millis(ms))),
        _ => Err(Problem::at_env(
            var,
            format!(
                "must be `always` or a sync interval in milliseconds from 1 to 60000, got {text:?}"
            ),
        )),
    }
}

fn store_model_in_db(config: &Config, env: &Lookup<'_>) -> Result<bool, Problem> {
    if let Some(v) = config.general_settings.store_model_in_db {
        return Ok(v);
    }
    match env.first(&["TOLLGATE_STORE_MODEL_IN_DB", "STORE_MODEL_IN_DB"]) {
        None => Ok(false),
        Some((var, text)) => bool::from_text(&text)
            .ok_or_else(|| Problem::at_env(var, format!("must be true or false, got {text:?}"))),
    }
}
