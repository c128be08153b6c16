//! Reading `config.yaml`: YAML to a value tree, `os.environ/` references resolved, then the typed
//! [`Config`] with every unknown key reported by its path and every bad value by file and path.

use std::path::Path;

use serde_yaml_ng::{Mapping, Value};

use super::environ::{self, Lookup};
use super::settings::Settings;
use super::{validate, Config, ConfigError, Problem};

/// The outcome of a successful load: the settings, and what the operator should be told.
#[derive(Debug)]
pub struct Loaded {
    pub settings: Settings,
    /// Unknown keys, unset `os.environ/` variables. One sentence each, ready to log.
    pub warnings: Vec<String>,
}

/// Loads the configuration from `path` (or from the environment alone when `None`), looking
/// variables up with `env` after the file's `environment_variables`.
pub fn load(
    path: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Loaded, ConfigError> {
    let Some(path) = path else {
        let lookup = Lookup::new(Default::default(), env);
        let settings = Settings::resolve(Config::default(), None, "config", &lookup)
            .map_err(ConfigError::Invalid)?;
        return Ok(Loaded {
            settings,
            warnings: Vec::new(),
        });
    };
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        file: file.clone(),
        source,
    })?;
    let root = parse_yaml(&text, &file)?;
    let lookup = Lookup::new(environ::overlay(&root), env);
    let (config, warnings) = to_config(root, &lookup, &file)?;
    let mut problems = validate::check(&config, &file);
    let settings = Settings::resolve(config, Some(path.to_path_buf()), &file, &lookup);
    match settings {
        Ok(settings) if problems.is_empty() => Ok(Loaded { settings, warnings }),
        Ok(_) => Err(ConfigError::Invalid(problems)),
        Err(more) => {
            problems.extend(more);
            Err(ConfigError::Invalid(problems))
        }
    }
}

/// Parses the text into a mapping; an empty file (or one of comments only) is an empty mapping.
fn parse_yaml(text: &str, file: &str) -> Result<Value, ConfigError> {
    let yaml_error = |e: serde_yaml_ng::Error| ConfigError::Yaml {
        file: file.to_owned(),
        message: e.to_string(),
    };
    let mut root: Value = serde_yaml_ng::from_str(text).map_err(yaml_error)?;
    root.apply_merge().map_err(yaml_error)?;
    match root {
        Value::Null => Ok(Value::Mapping(Mapping::new())),
        Value::Mapping(_) => Ok(root),
        _ => Err(ConfigError::NotAMapping {
            file: file.to_owned(),
        }),
    }
}

/// Resolves references and deserializes, collecting warnings for unset variables and unknown
/// keys.
fn to_config(
    mut root: Value,
    lookup: &Lookup<'_>,
    file: &str,
) -> Result<(Config, Vec<String>), ConfigError> {
    let mut warnings = environ::resolve(&mut root, lookup, file);
    environ::drop_nulls(&mut root);
    let mut unknown = Vec::new();
    let mut on_unknown = |path: serde_ignored::Path<'_>| unknown.push(render_path(&path));
    let deserializer = serde_ignored::Deserializer::new(root, &mut on_unknown);
    let config: Config = serde_path_to_error::deserialize(deserializer).map_err(|e| {
        ConfigError::Invalid(vec![Problem::at_key(
            file,
            e.path().to_string(),
            e.inner().to_string(),
        )])
    })?;
    warnings.extend(
        unknown
            .into_iter()
            .map(|path| format!("unknown key {path} in {file} (ignored)")),
    );
    Ok((config, warnings))
}

/// `model_list[0].litellm_paramz`, the same shape as `serde_path_to_error`'s paths.
fn render_path(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path as P;
    match path {
        P::Root => String::new(),
        P::Seq { parent, index } => format!("{}[{index}]", render_path(parent)),
        P::Map { parent, key } => {
            let parent = render_path(parent);
            if parent.is_empty() {
                key.clone()
            } else {
                format!("{parent}.{key}")
            }
        }
        P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => {
            render_path(parent)
        }
    }
}
