//! Loading whole files: a realistic LiteLLM config, warnings, errors, precedence, redaction.

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use super::*;

const LITELLM_CONFIG: &str = r#"
model_list:
  - model_name: gpt-4o
    litellm_params:
      model: openai/gpt-4o
      api_base: http://127.0.0.1:8190/v1
      api_key: os.environ/OPENAI_API_KEY
      rpm: 100
      tpm: "100000"
      timeout: 300
      max_retries: 2
      temperature: 0.2
    model_info: {id: gpt-4o-eu, mode: chat}
  - model_name: claude
    litellm_params:
      model: bedrock/anthropic.claude-3
      aws_access_key_id: os.environ/AWS_ACCESS_KEY_ID
      aws_secret_access_key: os.environ/AWS_SECRET_ACCESS_KEY
      aws_region_name: eu-west-1
  - model_name: "*"
    litellm_params: {model: "openai/*"}
litellm_settings:
  drop_params: true
  num_retries: 3
  request_timeout: 600
  fallbacks: [{"gpt-4o": ["claude"]}]
  max_budget: 100
  budget_duration: 30d
  cache: true
  cache_params: {type: redis, host: os.environ/CACHE_HOST, port: os.environ/CACHE_PORT, password: cache-pw-777}
  success_callback: ["prometheus"]
  callbacks: custom_callbacks.proxy_handler_instance
  default_key_generate_params: {max_budget: 5, budget_duration: 1mo, models: [gpt-4o]}
  upperbound_key_generate_params: {max_budget: 50, duration: 90d}
  telemetry: false
router_settings:
  routing_strategy: usage-based-routing-v2
  num_retries: 2
  allowed_fails: 3
  cooldown_time: 5
  model_group_alias: {gpt-4: gpt-4o}
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  database_url: os.environ/DATABASE_URL
  database_connection_pool_limit: 20
  database_connection_timeout: 30
  proxy_batch_write_at: 10
  maximum_spend_logs_retention_period: 90d
  alerting: [slack]
  store_model_in_db: true
environment_variables:
  OPENAI_API_KEY: sk-openai-from-file-123
  CACHE_HOST: redis.internal
  CACHE_PORT: 6380
"#;

fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| vars.get(name).cloned()
}

fn write(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new().suffix(".yaml").tempfile().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file
}

fn load_text(text: &str, vars: &[(&str, &str)]) -> (Result<Loaded, ConfigError>, String) {
    let file = write(text);
    let name = file.path().display().to_string();
    (load(Some(file.path()), &env_of(vars)), name)
}

const SECRETS: [(&str, &str); 4] = [
    ("LITELLM_MASTER_KEY", "sk-master-secret-42"),
    (
        "DATABASE_URL",
        "postgres://app:db-pw-999@db.internal:5432/tollgate",
    ),
    ("AWS_ACCESS_KEY_ID", "AKIA-SECRET-ID"),
    ("AWS_SECRET_ACCESS_KEY", "aws-secret-key-555"),
];

#[test]
fn a_realistic_litellm_config_loads() {
    let (loaded, _) = load_text(LITELLM_CONFIG, &SECRETS);
    let loaded = loaded.unwrap();
    assert!(loaded.warnings.is_empty(), "{:#?}", loaded.warnings);
    let s = &loaded.settings;
    let models = &s.config.model_list;
    assert_eq!(models.len(), 3);
    let gpt = &models[0].litellm_params;
    assert_eq!(
        gpt.api_key.as_ref().unwrap().expose(),
        "sk-openai-from-file-123"
    );
    assert_eq!(
        (gpt.rpm, gpt.tpm, gpt.max_retries),
        (Some(100), Some(100_000), Some(2))
    );
    assert_eq!(gpt.extra.get("temperature"), Some(&serde_json::json!(0.2)));
    assert_eq!(models[0].model_info["id"], "gpt-4o-eu");
    let claude = &models[1].litellm_params;
    assert_eq!(
        claude.aws_secret_access_key.as_ref().unwrap().expose(),
        "aws-secret-key-555"
    );
    let litellm = &s.config.litellm_settings;
    assert_eq!(litellm.fallbacks[0]["gpt-4o"], vec!["claude".to_owned()]);
    assert_eq!(
        litellm.callbacks,
        vec!["custom_callbacks.proxy_handler_instance".to_owned()]
    );
    assert_eq!(litellm.cache_params.as_ref().unwrap().port, Some(6380));
    assert_eq!(
        s.master_key.as_ref().unwrap().expose(),
        "sk-master-secret-42"
    );
    assert!(s
        .database_url
        .expose()
        .starts_with("postgres://app:db-pw-999@"));
    assert_eq!(
        s.redis_url.as_ref().unwrap().expose(),
        "redis://:cache-pw-777@redis.internal:6380"
    );
    assert_eq!(
        (s.port, s.pool_size, s.pool_timeout),
        (4000, 20, Duration::from_secs(30))
    );
    assert!(s.store_model_in_db);
}

#[test]
fn unknown_keys_are_warned_by_path_at_every_depth() {
    let yaml = "model_lst: []\n\
                general_settings: {master_kye: sk-x}\n\
                litellm_settings:\n  cache_params: {hots: h}\n  default_key_generate_params: {max_budgt: 1}\n\
                model_list:\n  - model_name: a\n    litellm_params: {model: openai/a, unknown_param: 1}\n    modl_info: {}\n";
    let (loaded, file) = load_text(yaml, &[]);
    let warnings = loaded.unwrap().warnings;
    for path in [
        "model_lst",
        "general_settings.master_kye",
        "litellm_settings.cache_params.hots",
        "litellm_settings.default_key_generate_params.max_budgt",
        "model_list[0].modl_info",
    ] {
        let expected = format!("unknown key {path} in {file} (ignored)");
        assert!(
            warnings.contains(&expected),
            "{expected} not in {warnings:#?}"
        );
    }
    // Provider parameters are passed through, not warned about.
    assert_eq!(warnings.len(), 5, "{warnings:#?}");
}

#[test]
fn a_bad_value_names_the_file_and_the_key() {
    let (loaded, file) = load_text(
        "general_settings:\n  database_connection_pool_limit: ten\n",
        &[],
    );
    assert_eq!(
        loaded.unwrap_err().to_string(),
        format!(
            "{file}: general_settings.database_connection_pool_limit: invalid type: string \
             \"ten\", expected u32"
        )
    );
    let (loaded, file) = load_text(
        "model_list:\n  - model_name: a\n    litellm_params: {model: m, rpm: [1]}\n",
        &[],
    );
    let msg = loaded.unwrap_err().to_string();
    assert!(
        msg.starts_with(&format!("{file}: model_list[0].litellm_params.rpm: ")),
        "{msg}"
    );
    let (loaded, _) = load_text("router_settings: {redis_port: 70000}\n", &[]);
    assert!(loaded
        .unwrap_err()
        .to_string()
        .contains("router_settings.redis_port"));
}

#[test]
fn validation_failures_name_file_and_key() {
    let yaml = "litellm_settings: {max_budget: -5, budget_duration: 3x}\n\
                general_settings: {master_key: not-sk, database_url: 'mysql://u:hidden-pw@h/db'}\n\
                model_list: [{model_name: '', litellm_params: {model: m}}]\n";
    let (loaded, file) = load_text(yaml, &[]);
    let msg = loaded.unwrap_err().to_string();
    for key in [
        "litellm_settings.max_budget",
        "litellm_settings.budget_duration: invalid duration \"3x\"",
        "general_settings.master_key: the master key must start with \"sk-\"",
        "general_settings.database_url: must start with sqlite:, postgres:// or postgresql://",
        "model_list[0].model_name",
    ] {
        assert!(
            msg.contains(&format!("{file}: {key}")),
            "{key} not in {msg}"
        );
    }
    assert!(!msg.contains("hidden-pw"), "{msg}");
}

#[test]
fn empty_and_missing_files() {
    let (loaded, _) = load_text("# only a comment\n", &[]);
    let s = loaded.unwrap().settings;
    assert_eq!(s.config, Config::default());
    assert_eq!(s.database_url.expose(), "sqlite://tollgate.db");
    let (loaded, _) = load_text("litellm_settings:\ngeneral_settings:\n", &[]);
    assert!(loaded.is_ok());
    let missing = std::path::Path::new("/nonexistent/tollgate.yaml");
    let err = load(Some(missing), &env_of(&[])).unwrap_err().to_string();
    assert!(
        err.starts_with("cannot read config file /nonexistent/tollgate.yaml"),
        "{err}"
    );
    let (loaded, _) = load_text("- a\n- b\n", &[]);
    assert!(matches!(loaded, Err(ConfigError::NotAMapping { .. })));
    let (loaded, _) = load_text("a: [\n", &[]);
    assert!(matches!(loaded, Err(ConfigError::Yaml { .. })));
}

#[test]
fn the_environment_alone_is_enough() {
    let s = load(None, &env_of(&[])).unwrap().settings;
    assert_eq!(
        (s.port, s.pool_size, s.store_model_in_db),
        (4000, 10, false)
    );
    assert_eq!(s.database_url.expose(), "sqlite://tollgate.db");
    assert!(s.master_key.is_none() && s.redis_url.is_none() && s.salt_key.is_none());
    let vars = [
        ("LITELLM_MASTER_KEY", "sk-litellm"),
        ("DATABASE_URL", "postgresql://h/db"),
        ("PORT", "8080"),
        ("LITELLM_SALT_KEY", "salt"),
        ("STORE_MODEL_IN_DB", "True"),
        ("REDIS_HOST", "r"),
    ];
    let s = load(None, &env_of(&vars)).unwrap().settings;
    assert_eq!(s.master_key.unwrap().expose(), "sk-litellm");
    assert_eq!(s.database_url.expose(), "postgresql://h/db");
    assert_eq!((s.port, s.store_model_in_db), (8080, true));
    assert_eq!(s.salt_key.unwrap().expose(), "salt");
    assert_eq!(s.redis_url.unwrap().expose(), "redis://r:6379");
}

#[test]
fn file_then_tollgate_variables_then_litellm_variables() {
    let vars = [
        ("LITELLM_MASTER_KEY", "sk-litellm"),
        ("TOLLGATE_MASTER_KEY", "sk-tollgate"),
        ("DATABASE_URL", "postgres://litellm/db"),
        ("TOLLGATE_DATABASE_URL", "sqlite://tollgate-env.db"),
        ("PORT", "1111"),
        ("TOLLGATE_PORT", "2222"),
        ("STORE_MODEL_IN_DB", "true"),
    ];
    let s = load(None, &env_of(&vars)).unwrap().settings;
    assert_eq!(s.master_key.unwrap().expose(), "sk-tollgate");
    assert_eq!(s.database_url.expose(), "sqlite://tollgate-env.db");
    assert_eq!(s.port, 2222);
    let yaml = "general_settings: {master_key: sk-file, database_url: 'sqlite:file.db', store_model_in_db: false}";
    let (loaded, _) = load_text(yaml, &vars);
    let s = loaded.unwrap().settings;
    assert_eq!(s.master_key.unwrap().expose(), "sk-file");
    assert_eq!(s.database_url.expose(), "sqlite:file.db");
    assert!(!s.store_model_in_db);
}

#[test]
fn bad_variables_are_named() {
    let err = load(None, &env_of(&[("PORT", "http")]))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "environment variable PORT: must be a port number from 0 to 65535, got \"http\""
    );
    let err = load(None, &env_of(&[("LITELLM_MASTER_KEY", "1234")]))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("environment variable LITELLM_MASTER_KEY: the master key must start"));
    let err = load(None, &env_of(&[("STORE_MODEL_IN_DB", "maybe")]))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("environment variable STORE_MODEL_IN_DB: "),
        "{err}"
    );
}

#[test]
fn references_resolve_from_the_file_variables_then_the_environment() {
    let yaml = "environment_variables: {MY_KEY: sk-file-var, DATABASE_URL: 'sqlite:from-file-vars.db'}\n\
                model_list:\n  - model_name: a\n    litellm_params: {model: m, api_key: os.environ/MY_KEY, api_base: os.environ/BASE, organization: os.environ/UNSET}\n";
    let (loaded, file) = load_text(yaml, &[("MY_KEY", "sk-env"), ("BASE", "http://env")]);
    let loaded = loaded.unwrap();
    let params = &loaded.settings.config.model_list[0].litellm_params;
    assert_eq!(params.api_key.as_ref().unwrap().expose(), "sk-file-var");
    assert_eq!(params.api_base.as_deref(), Some("http://env"));
    assert_eq!(params.organization, None);
    assert_eq!(
        loaded.settings.database_url.expose(),
        "sqlite:from-file-vars.db"
    );
    assert_eq!(loaded.warnings.len(), 1);
    let warning = &loaded.warnings[0];
    assert!(warning.starts_with(&format!(
        "model_list[0].litellm_params.organization in {file}"
    )));
    assert!(warning.contains("\"UNSET\""), "{warning}");
}

#[test]
fn secrets_never_leak() {
    let (loaded, _) = load_text(LITELLM_CONFIG, &SECRETS);
    let settings = loaded.unwrap().settings;
    let debug = format!("{settings:?}");
    let serialized = serde_json::to_string(&settings.config).unwrap();
    let yaml = settings.redacted_yaml();
    let leaks = [
        "sk-master-secret-42",
        "db-pw-999",
        "AKIA-SECRET-ID",
        "aws-secret-key-555",
        "sk-openai-from-file-123",
        "cache-pw-777",
    ];
    for (what, text) in [
        ("Debug", &debug),
        ("Serialize", &serialized),
        ("redacted_yaml", &yaml),
    ] {
        for secret in leaks {
            assert!(!text.contains(secret), "{what} leaks {secret}:\n{text}");
        }
    }
    assert!(
        yaml.contains("postgres://app:***@db.internal:5432/tollgate"),
        "{yaml}"
    );
    assert!(yaml.contains("redis://:***@redis.internal:6380"), "{yaml}");
    assert!(yaml.contains("model: openai/gpt-4o"), "{yaml}");
    let reparsed: serde_yaml_ng::Value = serde_yaml_ng::from_str(&yaml).unwrap();
    assert_eq!(reparsed["config"]["general_settings"]["master_key"], "***");
}

#[test]
fn the_journal_dir_comes_from_the_environment_else_the_working_directory() {
    let (loaded, _) = load_text("general_settings: {}\n", &[]);
    assert_eq!(
        loaded.unwrap().settings.journal_dir,
        std::path::PathBuf::from("tollgate-journal")
    );
    let (loaded, _) = load_text(
        "general_settings: {}\n",
        &[("TOLLGATE_JOURNAL_DIR", "/var/lib/tollgate/journal-a")],
    );
    assert_eq!(
        loaded.unwrap().settings.journal_dir,
        std::path::PathBuf::from("/var/lib/tollgate/journal-a")
    );
}

#[test]
fn the_journal_sync_is_an_interval_by_default_always_or_milliseconds_when_set() {
    use crate::spend::journal::Durability;
    let sync = |env: &[(&str, &str)]| load_text("general_settings: {}\n", env).0;
    assert_eq!(
        sync(&[]).unwrap().settings.journal_sync,
        Durability::Every(Duration::from_millis(50))
    );
    assert_eq!(
        sync(&[("TOLLGATE_JOURNAL_SYNC", "always")])
            .unwrap()
            .settings
            .journal_sync,
        Durability::EachCall
    );
    assert_eq!(
        sync(&[("TOLLGATE_JOURNAL_SYNC", "200")])
            .unwrap()
            .settings
            .journal_sync,
        Durability::Every(Duration::from_millis(200))
    );
    let err = sync(&[("TOLLGATE_JOURNAL_SYNC", "sometimes")]).unwrap_err();
    let text = format!("{err:?}");
    assert!(
        text.contains("TOLLGATE_JOURNAL_SYNC") && text.contains("always"),
        "{text}"
    );
}
