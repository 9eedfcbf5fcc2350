//! Whole files: the seed's and design's examples, the shipped example, the
//! defaults, reading from disk.

use std::path::Path;
use std::time::Duration;

use kage_config::{
    Config, ConfigError, DEFAULT_AGENT_COMMAND, EXAMPLE_CONFIG, Env, Location, Source,
    StorageBackend,
};
use kage_domain::{PriorityLevel, RouteEntry, RouteTarget, SelectionPolicy, StatePolicy, Strategy};

use crate::{PATH, home_env, parse_ok};

const SEED: &str = include_str!("fixtures/seed.toml");
const DESIGN: &str = include_str!("fixtures/design.toml");

fn minutes(minutes: u64) -> Duration {
    Duration::from_secs(minutes * 60)
}

fn entries(names: &[&str]) -> Vec<RouteEntry> {
    names.iter().map(|name| name.parse().unwrap()).collect()
}

fn namespace(name: &str) -> RouteTarget {
    RouteTarget::from_key(name).unwrap()
}

fn at(line: usize, column: usize) -> Source {
    Source::File(Location {
        path: PATH.into(),
        line,
        column,
    })
}

#[test]
fn the_seed_example_parses_as_written() {
    let config = parse_ok(SEED);

    assert_eq!(config.strategy(), Strategy::RoundRobin);
    assert_eq!(config.subscriptions().rate_limit_window, minutes(1));
    assert_eq!(config.subscriptions().rate_limit_cooldown, minutes(5));
    let routing = config.routing();
    assert_eq!(
        routing.get(&namespace("backend")),
        Some(entries(&["backend-dedicated", "work-premium"]).as_slice())
    );
    assert_eq!(
        routing.get(&namespace("frontend")),
        Some(entries(&["frontend-1", "personal"]).as_slice())
    );
    assert_eq!(
        routing.get(&RouteTarget::Level(PriorityLevel::High)),
        Some(entries(&["premium-1", "premium-2"]).as_slice())
    );
    assert_eq!(
        routing.get(&RouteTarget::Level(PriorityLevel::Batch)),
        Some(entries(&["batch-1", "batch-2"]).as_slice())
    );
    assert_eq!(routing.iter().count(), 4);
    // What the seed leaves out keeps its default.
    assert_eq!(config.subscriptions().exhausted_cooldown, minutes(60));
    assert_eq!(
        config.source("subscriptions.exhausted_cooldown"),
        Some(&Source::Default)
    );
    assert_eq!(
        config.source("subscriptions.default_priority"),
        Some(&at(3, 20))
    );
    assert_eq!(config.file(), Some(Path::new(PATH)));
}

#[test]
fn the_design_example_parses_as_written() {
    let config = parse_ok(DESIGN);

    assert_eq!(config.strategy(), Strategy::RoundRobin);
    assert_eq!(config.lease_ttl(), minutes(2));
    assert_eq!(
        config.routing().get(&namespace("security")),
        Some([RouteEntry::Tag("security".parse().unwrap())].as_slice())
    );
    match config.storage().backend().unwrap() {
        StorageBackend::Postgres(url) => {
            assert_eq!(url.expose(), "postgres://kage@db.internal/kage")
        }
        other => panic!("expected postgres, got {other:?}"),
    }
    assert_eq!(config.agent().command, DEFAULT_AGENT_COMMAND.to_vec());
    assert_eq!(config.agent().max_api_retries, 2);
    assert_eq!(config.agent().max_wait, minutes(30));
    assert_eq!(config.source("storage.database_url"), Some(&at(16, 16)));
}

#[test]
fn defaults_follow_the_design() {
    let config = Config::defaults(&home_env());
    let subscriptions = config.subscriptions();

    assert_eq!(subscriptions.strategy, Strategy::Priority);
    assert_eq!(subscriptions.rate_limit_window, minutes(1));
    assert_eq!(subscriptions.rate_limit_cooldown, minutes(5));
    assert_eq!(subscriptions.exhausted_cooldown, minutes(60));
    assert_eq!(subscriptions.unhealthy_threshold, 3);
    assert!((subscriptions.approaching_threshold - 0.8).abs() < f64::EPSILON);
    assert_eq!(subscriptions.lease_ttl, minutes(2));
    assert_eq!(config.state_policy(), StatePolicy::default());
    assert_eq!(config.selection_policy(), SelectionPolicy::default());
    assert!(config.routing().is_empty());
    assert_eq!(
        config.agent().command,
        [
            "claude",
            "-p",
            "{prompt}",
            "--output-format",
            "stream-json",
            "--verbose"
        ]
    );
    assert_eq!(config.agent().max_api_retries, 2);
    assert_eq!(config.agent().max_wait, minutes(30));
    assert_eq!(config.agent().parallel, 4);
    assert_eq!(
        config.storage().backend().unwrap(),
        StorageBackend::Sqlite("/home/u/.local/share/kage/kage.db".into())
    );
    assert!(
        config
            .resolved_entries()
            .iter()
            .all(|entry| entry.source == Source::Default)
    );
    assert_eq!(config.file(), None);
}

#[test]
fn policies_carry_the_configured_values() {
    let config = parse_ok(
        "[subscriptions]\ndefault_priority = \"least-used\"\nrate_limit_window = \"2m\"\n\
         rate_limit_cooldown = \"7m\"\nexhausted_cooldown = \"2h\"\nunhealthy_threshold = 5\n\
         approaching_threshold = 0.5\n",
    );
    let state = config.state_policy();
    assert_eq!(state.rate_limit_cooldown, minutes(7));
    assert_eq!(state.exhausted_cooldown, minutes(120));
    assert_eq!(state.unhealthy_threshold, 5);
    assert_eq!(
        state.unhealthy_backoff,
        StatePolicy::default().unhealthy_backoff
    );
    let selection = config.selection_policy();
    assert_eq!(selection.strategy, Strategy::LeastUsed);
    assert_eq!(selection.rate_limit_window, minutes(2));
    assert!((selection.approaching_threshold - 0.5).abs() < f64::EPSILON);
}

#[test]
fn the_shipped_example_holds_exactly_the_defaults() {
    let example = parse_ok(EXAMPLE_CONFIG);
    let defaults = Config::defaults(&home_env());

    assert_eq!(example.subscriptions(), defaults.subscriptions());
    assert_eq!(example.storage(), defaults.storage());
    assert_eq!(example.agent(), defaults.agent());
    assert_eq!(example.routing(), defaults.routing());
    let values = |config: &Config| -> Vec<(String, String)> {
        config
            .resolved_entries()
            .into_iter()
            .map(|entry| (entry.key, entry.value))
            .collect()
    };
    assert_eq!(values(&example), values(&defaults));
    // Every key of the example is really read from it, except the commented-out storage keys.
    let from_file = example
        .resolved_entries()
        .into_iter()
        .filter(|entry| matches!(entry.source, Source::File(_)))
        .count();
    assert_eq!(from_file, 14);
}

#[test]
fn a_missing_file_means_the_defaults() {
    let folder = tempfile::tempdir().unwrap();
    let env = home_env().with("KAGE_CONFIG_DIR", folder.path().to_str().unwrap());

    let config = Config::load(&env).unwrap();

    assert_eq!(config, Config::defaults(&env));
}

#[test]
fn load_reads_the_located_file() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("config.toml");
    std::fs::write(&path, "[agent]\nparallel = 9\n").unwrap();
    let env = home_env().with("KAGE_CONFIG_DIR", folder.path().to_str().unwrap());

    let config = Config::load(&env).unwrap();

    assert_eq!(config.agent().parallel, 9);
    assert_eq!(config.file(), Some(path.as_path()));
    assert_eq!(
        config.source("agent.parallel"),
        Some(&Source::File(Location {
            path,
            line: 2,
            column: 12
        }))
    );
}

#[test]
fn an_unreadable_file_is_an_error() {
    let folder = tempfile::tempdir().unwrap();

    let error = Config::load_path(folder.path(), &Env::empty()).unwrap_err();

    assert!(
        matches!(error, ConfigError::Read { ref path, .. } if path == folder.path()),
        "{error:?}"
    );
    assert!(error.to_string().starts_with(&format!(
        "config error: cannot read {}: ",
        folder.path().display()
    )));
}

#[test]
fn an_empty_file_means_the_defaults() {
    let config = parse_ok("# nothing yet\n");
    let defaults = Config::defaults(&home_env());
    assert_eq!(config.subscriptions(), defaults.subscriptions());
    assert_eq!(config.agent(), defaults.agent());
}

#[test]
fn humantime_durations_of_every_spelling() {
    let config = parse_ok(
        "[subscriptions]\nrate_limit_cooldown = \"5 minutes\"\nexhausted_cooldown = \"1h 30m\"\nlease_ttl = \"90s\"\n\
         [agent]\nmax_wait = \"0s\"\n",
    );
    assert_eq!(config.subscriptions().rate_limit_cooldown, minutes(5));
    assert_eq!(config.subscriptions().exhausted_cooldown, minutes(90));
    assert_eq!(config.lease_ttl(), Duration::from_secs(90));
    assert_eq!(config.agent().max_wait, Duration::ZERO);
}

#[test]
fn database_path_is_taken_from_the_config_files_folder() {
    let relative = parse_ok("[storage]\ndatabase_path = \"data/kage.db\"\n");
    assert_eq!(
        relative.storage().database_path.as_deref(),
        Some(Path::new("/home/u/.config/kage/data/kage.db"))
    );

    let home = parse_ok("[storage]\ndatabase_path = \"~/pool.db\"\n");
    assert_eq!(
        home.storage().database_path.as_deref(),
        Some(Path::new("/home/u/pool.db"))
    );

    let absolute = parse_ok("[storage]\ndatabase_path = \"/srv/kage.db\"\n");
    assert_eq!(
        absolute.storage().backend().unwrap(),
        StorageBackend::Sqlite("/srv/kage.db".into())
    );
}

#[test]
fn no_home_and_no_database_is_an_error_only_when_storage_is_opened() {
    let config = Config::from_toml("", Path::new("config.toml"), &Env::empty()).unwrap();
    let error = config.storage().backend().unwrap_err();
    assert_eq!(
        error.to_string(),
        "config error: cannot find a place for the database: set HOME, XDG_DATA_HOME or KAGE_DATABASE_PATH, or set [storage] database_url"
    );
}

#[test]
fn a_database_password_never_shows() {
    let config = parse_ok(
        "[storage]\ndatabase_url = \"postgres://kage:hunter2@db/kage?sslmode=require&password=hunter2\"\n",
    );
    let url = config.storage().database_url.clone().unwrap();

    assert_eq!(
        url.expose(),
        "postgres://kage:hunter2@db/kage?sslmode=require&password=hunter2"
    );
    assert_eq!(url.to_string(), "postgres://kage@db/kage?sslmode=require");
    assert!(!format!("{config:?}").contains("hunter2"));
    let resolved = config.resolved_entries();
    let entry = resolved
        .iter()
        .find(|entry| entry.key == "storage.database_url")
        .unwrap();
    assert_eq!(entry.value, "\"postgres://kage@db/kage?sslmode=require\"");
}

#[test]
fn resolved_entries_name_every_source() {
    let env = home_env()
        .with("KAGE_SUBSCRIPTIONS__LEASE_TTL", "5m")
        .with("KAGE_DATABASE_PATH", "/tmp/kage.db");
    let mut config = Config::from_toml(SEED, Path::new(PATH), &env).unwrap();
    config
        .set("agent.max_wait", "10m", Source::Flag("--max-wait".into()))
        .unwrap();

    let table: String = config
        .resolved_entries()
        .iter()
        .map(|entry| format!("{} = {}  # {}\n", entry.key, entry.value, entry.source))
        .collect();

    insta::assert_snapshot!(table, @r#"
    subscriptions.default_priority = "round-robin"  # /home/u/.config/kage/config.toml:3:20
    subscriptions.rate_limit_window = "1m"  # /home/u/.config/kage/config.toml:6:21
    subscriptions.rate_limit_cooldown = "5m"  # /home/u/.config/kage/config.toml:7:23
    subscriptions.exhausted_cooldown = "1h"  # default
    subscriptions.unhealthy_threshold = 3  # default
    subscriptions.approaching_threshold = 0.8  # default
    subscriptions.lease_ttl = "5m"  # env KAGE_SUBSCRIPTIONS__LEASE_TTL
    subscriptions.alert_thresholds = [0.5, 0.8, 0.95]  # default
    subscriptions.notify_command = []  # default
    subscriptions.notify_timeout = "10s"  # default
    storage.database_path = "/tmp/kage.db"  # env KAGE_DATABASE_PATH
    agent.command = ["claude", "-p", "{prompt}", "--output-format", "stream-json", "--verbose"]  # default
    agent.max_api_retries = 2  # default
    agent.max_wait = "10m"  # flag --max-wait
    agent.parallel = 4  # default
    subscriptions.routing.backend = ["backend-dedicated", "work-premium"]  # /home/u/.config/kage/config.toml:11:1
    subscriptions.routing.frontend = ["frontend-1", "personal"]  # /home/u/.config/kage/config.toml:12:1
    subscriptions.routing.high = ["premium-1", "premium-2"]  # /home/u/.config/kage/config.toml:15:1
    subscriptions.routing.batch = ["batch-1", "batch-2"]  # /home/u/.config/kage/config.toml:16:1
    "#);
}

#[test]
fn set_applies_a_flag_or_changes_nothing() {
    let mut config = parse_ok(SEED);
    let before = config.clone();

    let error = config
        .set("agent.parallel", "0", Source::Flag("--parallel".into()))
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "config error: flag --parallel: invalid value for `agent.parallel`: 0 is out of range: use a whole number from 1 to 1024"
    );
    let error = config
        .set("agent.paralel", "3", Source::Flag("--parallel".into()))
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "config error: flag --parallel: invalid value for `agent.paralel`: unknown key; did you mean `agent.parallel`?"
    );
    assert_eq!(config, before);

    config
        .set(
            "agent.command",
            "my-agent --prompt '{prompt}'",
            Source::Flag("--command".into()),
        )
        .unwrap();
    assert_eq!(config.agent().command, ["my-agent", "--prompt", "{prompt}"]);
    assert_eq!(
        config.source("agent.command"),
        Some(&Source::Flag("--command".into()))
    );
}

#[test]
fn alert_thresholds_and_the_notify_command_are_read_and_checked() {
    let config = parse_ok(
        "[subscriptions]\nalert_thresholds = [0.95, 0.5]\nnotify_command = [\"notify\", \"--urgent\"]\nnotify_timeout = \"3s\"\n",
    );
    let subscriptions = config.subscriptions();
    assert_eq!(subscriptions.alert_thresholds.values(), &[0.5, 0.95]);
    assert_eq!(subscriptions.notify_command, vec!["notify", "--urgent"]);
    assert_eq!(subscriptions.notify_timeout, Duration::from_secs(3));
    assert!(
        parse_ok("[subscriptions]\nalert_thresholds = []\n")
            .subscriptions()
            .alert_thresholds
            .is_empty()
    );
    assert!(
        Config::defaults(&home_env())
            .subscriptions()
            .notify_command
            .is_empty()
    );

    let error = Config::from_toml(
        "[subscriptions]\nalert_thresholds = [0.5, 80]\n",
        Path::new(PATH),
        &home_env(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("alert_thresholds") && error.contains("above 0 and at most 1"),
        "{error}"
    );
    assert!(error.contains(":2:"), "names the line: {error}");

    let mut config = Config::defaults(&home_env());
    config
        .set(
            "subscriptions.alert_thresholds",
            "0.7, 0.9",
            Source::Flag("--test".into()),
        )
        .unwrap();
    assert_eq!(
        config.subscriptions().alert_thresholds.values(),
        &[0.7, 0.9]
    );
    config
        .set(
            "subscriptions.notify_command",
            "notify-send 'Kage alert'",
            Source::Flag("--test".into()),
        )
        .unwrap();
    assert_eq!(
        config.subscriptions().notify_command,
        vec!["notify-send", "Kage alert"]
    );
}
