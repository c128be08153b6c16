//! Configuration: LiteLLM's `config.yaml` and the environment. The serde structs here are the only
//! config schema; [`load`] reads the file, resolves `os.environ/NAME` references, warns about
//! unknown keys, validates, and resolves the runtime [`Settings`] against the environment.
//! Secrets are held in [`Secret`] and never printed.

mod environ;
mod load;
mod model;
mod redact;
mod redis;
mod scalar;
mod secret;
mod sections;
mod settings;
mod validate;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

pub use load::{load, Loaded};
pub use model::{LitellmParams, ModelEntry};
pub use secret::Secret;
pub use sections::{
    CacheParams, Fallbacks, GeneralSettings, KeyParams, LitellmSettings, RouterSettings,
};
pub use settings::Settings;

/// The whole `config.yaml`, as LiteLLM lays it out.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    pub model_list: Vec<ModelEntry>,
    pub litellm_settings: LitellmSettings,
    pub router_settings: RouterSettings,
    pub general_settings: GeneralSettings,
    /// Looked up before the process environment for `os.environ/NAME` references and for the
    /// variables Tollgate reads (`DATABASE_URL`...). Held as secrets: they are mostly API keys.
    pub environment_variables: BTreeMap<String, Secret>,
}

/// Everything that can stop the configuration from loading.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {file}: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: invalid YAML: {message}")]
    Yaml { file: String, message: String },
    #[error(
        "{file}: the top level must be a mapping of sections (model_list, general_settings, ...)"
    )]
    NotAMapping { file: String },
    /// One or more values are wrong; each problem names where it is.
    #[error("{}", Problems(.0))]
    Invalid(Vec<Problem>),
}

/// A wrong value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub location: Location,
    pub message: String,
}

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A key of the config file, as a path like `model_list[0].litellm_params.rpm`.
    Key { file: String, path: String },
    /// An environment variable.
    Env(String),
}

impl Problem {
    pub(crate) fn at_key(file: &str, path: impl Into<String>, message: impl Into<String>) -> Self {
        let path = path.into();
        let path = if path.is_empty() || path == "." {
            "(top level)".to_owned()
        } else {
            path
        };
        Self {
            location: Location::Key {
                file: file.to_owned(),
                path,
            },
            message: message.into(),
        }
    }

    pub(crate) fn at_env(var: &str, message: impl Into<String>) -> Self {
        Self {
            location: Location::Env(var.to_owned()),
            message: message.into(),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Key { file, path } => write!(f, "{file}: {path}"),
            Location::Env(var) => write!(f, "environment variable {var}"),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// One problem per line.
struct Problems<'a>(&'a [Problem]);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}
