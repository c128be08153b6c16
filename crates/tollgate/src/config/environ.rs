//! Environment look-ups: `environment_variables` from the file first, then the process
//! environment (never modified), and the replacement of `os.environ/NAME` references in the YAML
//! tree.

use std::collections::BTreeMap;

use serde_yaml_ng::{Mapping, Value};

const REFERENCE_PREFIX: &str = "os.environ/";
const ENV_SECTION: &str = "environment_variables";

/// Where variables are looked up: the file's `environment_variables`, then the environment.
pub(crate) struct Lookup<'a> {
    overlay: BTreeMap<String, String>,
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> Lookup<'a> {
    pub(crate) fn new(
        overlay: BTreeMap<String, String>,
        env: &'a dyn Fn(&str) -> Option<String>,
    ) -> Self {
        Self { overlay, env }
    }

    /// The variable's value, if it is set.
    pub(crate) fn get(&self, name: &str) -> Option<String> {
        self.overlay.get(name).cloned().or_else(|| (self.env)(name))
    }

    /// The first of `names` set to a non-empty value, with its name.
    pub(crate) fn first(&self, names: &[&'static str]) -> Option<(&'static str, String)> {
        names.iter().find_map(|name| {
            self.get(name)
                .filter(|v| !v.trim().is_empty())
                .map(|v| (*name, v))
        })
    }
}

/// The scalar entries of the raw `environment_variables` mapping, as text.
pub(crate) fn overlay(root: &Value) -> BTreeMap<String, String> {
    let Some(Value::Mapping(vars)) = root.get(ENV_SECTION) else {
        return BTreeMap::new();
    };
    vars.iter()
        .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), scalar_text(v)?)))
        .collect()
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Replaces every `os.environ/NAME` string (outside `environment_variables`) by the variable's
/// value. An unset variable leaves null and a warning naming the key and the variable.
pub(crate) fn resolve(root: &mut Value, lookup: &Lookup<'_>, file: &str) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Value::Mapping(sections) = root {
        for (key, value) in sections.iter_mut() {
            if key.as_str() == Some(ENV_SECTION) {
                continue;
            }
            let mut walk = Walk {
                lookup,
                file,
                warnings: &mut warnings,
            };
            walk.value(value, &key_text(key));
        }
    }
    warnings
}

struct Walk<'w, 'a> {
    lookup: &'w Lookup<'a>,
    file: &'w str,
    warnings: &'w mut Vec<String>,
}

impl Walk<'_, '_> {
    fn value(&mut self, value: &mut Value, path: &str) {
        match value {
            Value::String(s) => {
                if let Some(name) = s.strip_prefix(REFERENCE_PREFIX) {
                    *value = self.reference(name.to_owned(), path);
                }
            }
            Value::Sequence(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    self.value(item, &format!("{path}[{i}]"));
                }
            }
            Value::Mapping(map) => self.mapping(map, path),
            Value::Tagged(tagged) => self.value(&mut tagged.value, path),
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    fn mapping(&mut self, map: &mut Mapping, path: &str) {
        for (key, value) in map.iter_mut() {
            self.value(value, &format!("{path}.{}", key_text(key)));
        }
    }

    fn reference(&mut self, name: String, path: &str) -> Value {
        match self.lookup.get(&name) {
            Some(v) => Value::String(v),
            None => {
                self.warnings.push(format!(
                    "{path} in {}: environment variable {name:?} (from {REFERENCE_PREFIX}{name}) \
                     is not set; the value is left empty",
                    self.file
                ));
                Value::Null
            }
        }
    }
}

/// A mapping key as text for paths.
pub(crate) fn key_text(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => "?".to_owned(),
    }
}

/// Removes null entries from every mapping: an empty value means the same as an absent key
/// (`litellm_settings:` with nothing under it, or an unset `os.environ/` reference).
pub(crate) fn drop_nulls(value: &mut Value) {
    match value {
        Value::Mapping(map) => {
            map.retain(|_, v| !v.is_null());
            for (_, v) in map.iter_mut() {
                drop_nulls(v);
            }
        }
        Value::Sequence(items) => items.iter_mut().for_each(drop_nulls),
        Value::Tagged(tagged) => drop_nulls(&mut tagged.value),
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn file_variables_come_before_the_environment() {
        let env = |name: &str| (name == "A" || name == "B").then(|| format!("env-{name}"));
        let root: Value =
            serde_yaml_ng::from_str("environment_variables: {A: file-a, N: 5}").unwrap();
        let lookup = Lookup::new(overlay(&root), &env);
        assert_eq!(lookup.get("A").as_deref(), Some("file-a"));
        assert_eq!(lookup.get("B").as_deref(), Some("env-B"));
        assert_eq!(lookup.get("N").as_deref(), Some("5"));
        assert_eq!(lookup.get("C"), None);
    }

    #[test]
    fn references_are_replaced_anywhere_and_unset_ones_warned() {
        let yaml = "a: {b: [x, os.environ/SET, {c: os.environ/MISSING}]}\n\
                    environment_variables: {SET: value, KEEP: os.environ/SET}";
        let mut root: Value = serde_yaml_ng::from_str(yaml).unwrap();
        let lookup = Lookup::new(overlay(&root), &no_env);
        let warnings = resolve(&mut root, &lookup, "c.yaml");
        assert_eq!(root["a"]["b"][1], Value::String("value".into()));
        assert_eq!(root["a"]["b"][2]["c"], Value::Null);
        assert_eq!(
            root["environment_variables"]["KEEP"],
            Value::String("os.environ/SET".into())
        );
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].starts_with("a.b[2].c in c.yaml"),
            "{}",
            warnings[0]
        );
        assert!(warnings[0].contains("\"MISSING\""));
        drop_nulls(&mut root);
        assert!(root["a"]["b"][2].as_mapping().unwrap().is_empty());
    }
}
