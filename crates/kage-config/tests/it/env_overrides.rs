//! `KAGE_*` variables over the file, and their sources.

use std::path::Path;
use std::time::Duration;

use kage_config::{Config, ConfigError, Location, Source, StorageBackend};

use crate::{PATH, home_env};

const FILE: &str = "[subscriptions]\nlease_ttl = \"2m\"\n\n[storage]\ndatabase_url = \"postgres://kage@file-host/kage\"\n";

fn load(env: &kage_config::Env) -> Result<Config, ConfigError> {
    Config::from_toml(FILE, Path::new(PATH), env)
}

#[test]
fn kage_database_url_overrides_the_file() {
    let config =
        load(&home_env().with("KAGE_DATABASE_URL", "postgres://kage@env-host/kage")).unwrap();

    assert_eq!(
        config.storage().database_url.as_ref().unwrap().expose(),
        "postgres://kage@env-host/kage"
    );
    assert_eq!(
        config.source("storage.database_url"),
        Some(&Source::Env("KAGE_DATABASE_URL".into()))
    );
}

#[test]
fn without_variables_the_file_wins_over_defaults() {
    let config = load(&home_env()).unwrap();

    assert_eq!(
        config.source("storage.database_url"),
        Some(&Source::File(Location {
            path: PATH.into(),
            line: 5,
            column: 16
        }))
    );
    assert_eq!(config.source("agent.parallel"), Some(&Source::Default));
}

#[test]
fn kage_database_path_sets_the_sqlite_file() {
    let env = home_env().with("KAGE_DATABASE_PATH", "~/elsewhere/kage.db");
    let config = Config::from_toml("", Path::new(PATH), &env).unwrap();

    assert_eq!(
        config.storage().backend().unwrap(),
        StorageBackend::Sqlite("/home/u/elsewhere/kage.db".into())
    );
    assert_eq!(
        config.source("storage.database_path"),
        Some(&Source::Env("KAGE_DATABASE_PATH".into()))
    );
}

#[test]
fn nested_variables_set_every_scalar_key() {
    let env = home_env()
        .with("KAGE_SUBSCRIPTIONS__DEFAULT_PRIORITY", "least-used")
        .with("KAGE_SUBSCRIPTIONS__RATE_LIMIT_WINDOW", "2m")
        .with("KAGE_SUBSCRIPTIONS__RATE_LIMIT_COOLDOWN", "1m")
        .with("KAGE_SUBSCRIPTIONS__EXHAUSTED_COOLDOWN", "3h")
        .with("KAGE_SUBSCRIPTIONS__UNHEALTHY_THRESHOLD", "7")
        .with("KAGE_SUBSCRIPTIONS__APPROACHING_THRESHOLD", "0.9")
        .with("KAGE_SUBSCRIPTIONS__LEASE_TTL", "45s")
        .with("KAGE_SUBSCRIPTIONS__ALERT_THRESHOLDS", "[0.6, 0.9]")
        .with("KAGE_SUBSCRIPTIONS__NOTIFY_COMMAND", "notify-send Kage")
        .with("KAGE_SUBSCRIPTIONS__NOTIFY_TIMEOUT", "2s")
        .with(
            "KAGE_AGENT__COMMAND",
            "claude -p '{prompt}' --output-format stream-json",
        )
        .with("KAGE_AGENT__MAX_API_RETRIES", "0")
        .with("KAGE_AGENT__MAX_WAIT", "1h")
        .with("KAGE_AGENT__PARALLEL", "16")
        .with("KAGE_STORAGE__DATABASE_PATH", "/var/kage.db");

    let config = load(&env).unwrap();

    let subscriptions = config.subscriptions();
    assert_eq!(subscriptions.strategy, kage_domain::Strategy::LeastUsed);
    assert_eq!(subscriptions.rate_limit_window, Duration::from_secs(120));
    assert_eq!(subscriptions.rate_limit_cooldown, Duration::from_secs(60));
    assert_eq!(
        subscriptions.exhausted_cooldown,
        Duration::from_secs(3 * 3600)
    );
    assert_eq!(subscriptions.unhealthy_threshold, 7);
    assert!((subscriptions.approaching_threshold - 0.9).abs() < f64::EPSILON);
    assert_eq!(subscriptions.lease_ttl, Duration::from_secs(45));
    assert_eq!(subscriptions.alert_thresholds.values(), &[0.6, 0.9]);
    assert_eq!(subscriptions.notify_command, ["notify-send", "Kage"]);
    assert_eq!(subscriptions.notify_timeout, Duration::from_secs(2));
    assert_eq!(
        config.agent().command,
        ["claude", "-p", "{prompt}", "--output-format", "stream-json"]
    );
    assert_eq!(config.agent().max_api_retries, 0);
    assert_eq!(config.agent().max_wait, Duration::from_secs(3600));
    assert_eq!(config.agent().parallel, 16);
    assert_eq!(
        config.storage().database_path.as_deref(),
        Some(Path::new("/var/kage.db"))
    );
    for entry in config.resolved_entries() {
        if entry.key == "storage.database_url" {
            assert!(matches!(entry.source, Source::File(_)));
            continue;
        }
        let expected = format!("KAGE_{}", entry.key.replace('.', "__").to_ascii_uppercase());
        assert_eq!(entry.source, Source::Env(expected), "{}", entry.key);
    }
}

#[test]
fn the_short_alias_wins_over_the_nested_name() {
    let env = home_env()
        .with("KAGE_STORAGE__DATABASE_URL", "postgres://kage@nested/kage")
        .with("KAGE_DATABASE_URL", "postgres://kage@short/kage");

    let config = load(&env).unwrap();

    assert_eq!(
        config.storage().database_url.as_ref().unwrap().expose(),
        "postgres://kage@short/kage"
    );
    assert_eq!(
        config.source("storage.database_url"),
        Some(&Source::Env("KAGE_DATABASE_URL".into()))
    );
}

#[test]
fn a_bad_variable_names_itself_and_the_key() {
    let error = load(&home_env().with("KAGE_SUBSCRIPTIONS__LEASE_TTL", "soon")).unwrap_err();
    assert_eq!(
        error.to_string(),
        "config error: env KAGE_SUBSCRIPTIONS__LEASE_TTL: invalid value for `subscriptions.lease_ttl`: \"soon\" is not a duration: write a number and a unit, such as \"30s\", \"5m\" or \"1h\""
    );
    let error = load(&home_env().with("KAGE_AGENT__PARALLEL", "many")).unwrap_err();
    assert_eq!(
        error.to_string(),
        "config error: env KAGE_AGENT__PARALLEL: invalid value for `agent.parallel`: expected a whole number, found \"many\""
    );
    let error = load(&home_env().with("KAGE_DATABASE_URL", "sqlite://kage.db")).unwrap_err();
    assert!(
        matches!(error, ConfigError::InvalidOverride { origin: Source::Env(ref var), .. } if var == "KAGE_DATABASE_URL")
    );
}

#[test]
fn an_unknown_nested_variable_is_an_error_with_a_suggestion() {
    let error = load(&home_env().with("KAGE_SUBSCRIPTIONS__LEASE_TIL", "5m")).unwrap_err();
    assert_eq!(
        error.to_string(),
        "config error: unknown environment variable KAGE_SUBSCRIPTIONS__LEASE_TIL; did you mean KAGE_SUBSCRIPTIONS__LEASE_TTL?"
    );
    let error = load(&home_env().with("KAGE_AGNT__MAX_WAIT", "5m")).unwrap_err();
    assert!(
        matches!(error, ConfigError::UnknownEnvVar { suggestion: Some(ref var), .. } if var == "KAGE_AGENT__MAX_WAIT"),
        "{error:?}"
    );
    let error = load(&home_env().with("KAGE_SUBSCRIPTIONS__ROUTING__BACKEND", "a")).unwrap_err();
    assert!(
        matches!(
            error,
            ConfigError::UnknownEnvVar {
                suggestion: None,
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn other_variables_and_empty_ones_are_ignored() {
    let env = home_env()
        .with("KAGE_CONFIG_DIR", "/nowhere")
        .with("KAGE_SUBSCRIPTION", "work-premium")
        .with("KAGE_LEASE_ID", "abc")
        .with("KAGE_TEST_DB_URL", "postgres://x@y/z")
        .with("OTHER__THING", "1")
        .with("KAGE_DATABASE_URL", "")
        .with("KAGE_AGENT__PARALLEL", "");

    let config = load(&env).unwrap();

    assert_eq!(config, load(&home_env()).unwrap());
}

#[test]
fn nothing_is_half_applied() {
    let env = home_env()
        .with("KAGE_AGENT__PARALLEL", "8")
        .with("KAGE_AGENT__MAX_WAIT", "forever");

    assert!(load(&env).is_err());
}

#[test]
fn the_environment_debug_shows_names_only() {
    let env = home_env().with("ANTHROPIC_API_KEY", "sk-ant-api-secret");
    let shown = format!("{env:?}");
    assert!(shown.contains("ANTHROPIC_API_KEY"), "{shown}");
    assert!(!shown.contains("sk-ant-api-secret"), "{shown}");
}
