//! Every kind of file error, with its exact line, column and suggestion.

use kage_config::{ConfigError, Location};

use crate::{PATH, error_of, parse};

#[test]
fn an_unknown_key_names_the_nearest_valid_key() {
    let text = "[subscriptions]\nrate_limit_window = \"1m\"\nrate_limt_window = \"1m\"\n";
    assert_eq!(
        error_of(text),
        "config error: /home/u/.config/kage/config.toml:3:1: unknown key `rate_limt_window` in [subscriptions]; did you mean `rate_limit_window`?"
    );
    match parse(text).unwrap_err() {
        ConfigError::UnknownKey {
            location,
            key,
            section,
            suggestion,
            ..
        } => {
            assert_eq!(
                location,
                Location {
                    path: PATH.into(),
                    line: 3,
                    column: 1
                }
            );
            assert_eq!(key, "rate_limt_window");
            assert_eq!(section, "[subscriptions]");
            assert_eq!(suggestion.as_deref(), Some("rate_limit_window"));
        }
        other => panic!("expected an unknown key, got {other:?}"),
    }
}

#[test]
fn an_unknown_key_far_from_any_lists_the_valid_ones() {
    assert_eq!(
        error_of("[storage]\n\nbackend = \"sqlite\"\n"),
        "config error: /home/u/.config/kage/config.toml:3:1: unknown key `backend` in [storage]; valid keys are `database_url`, `database_path`"
    );
}

#[test]
fn an_unknown_section_is_an_unknown_top_level_key() {
    assert_eq!(
        error_of("[subscription]\nrate_limit_window = \"1m\"\n"),
        "config error: /home/u/.config/kage/config.toml:1:2: unknown key `subscription` in the top level; did you mean `subscriptions`?"
    );
    assert_eq!(
        error_of("[agent]\nparallel = 2\n\n[agents]\n"),
        "config error: /home/u/.config/kage/config.toml:4:2: unknown key `agents` in the top level; did you mean `agent`?"
    );
}

#[test]
fn unknown_keys_of_every_section_are_caught() {
    assert_eq!(
        error_of("[agent]\n  max_retries = 2\n"),
        "config error: /home/u/.config/kage/config.toml:2:3: unknown key `max_retries` in [agent]; did you mean `max_api_retries`?"
    );
    assert_eq!(
        error_of("[subscriptions]\nLease_TTL = \"2m\"\n"),
        "config error: /home/u/.config/kage/config.toml:2:1: unknown key `Lease_TTL` in [subscriptions]; did you mean `lease_ttl`?"
    );
    assert_eq!(
        error_of("[subscriptions]\nstrategy = \"round-robin\"\n"),
        "config error: /home/u/.config/kage/config.toml:2:1: unknown key `strategy` in [subscriptions]; did you mean `default_priority`?"
    );
    assert_eq!(
        error_of("subscriptions.lease_tl = \"2m\"\n"),
        "config error: /home/u/.config/kage/config.toml:1:15: unknown key `lease_tl` in [subscriptions]; did you mean `lease_ttl`?"
    );
}

#[test]
fn a_wrong_type_names_the_key_and_what_it_wants() {
    assert_eq!(
        error_of("[subscriptions]\nunhealthy_threshold = \"3\"\n"),
        "config error: /home/u/.config/kage/config.toml:2:23: wrong type for `subscriptions.unhealthy_threshold`: expected a whole number, found string \"3\""
    );
    assert_eq!(
        error_of("[subscriptions]\nlease_ttl = 120\n"),
        "config error: /home/u/.config/kage/config.toml:2:13: wrong type for `subscriptions.lease_ttl`: expected a duration string such as \"30s\", \"5m\" or \"1h\", found integer `120`"
    );
    assert_eq!(
        error_of("[subscriptions]\napproaching_threshold = \"high\"\n"),
        "config error: /home/u/.config/kage/config.toml:2:25: wrong type for `subscriptions.approaching_threshold`: expected a number from 0 to 1, found string \"high\""
    );
    assert_eq!(
        error_of("subscriptions = 3\n"),
        "config error: /home/u/.config/kage/config.toml:1:17: wrong type for `subscriptions`: expected a table, found integer `3`"
    );
    assert_eq!(
        error_of("[agent]\ncommand = \"claude -p\"\n"),
        "config error: /home/u/.config/kage/config.toml:2:11: wrong type for `agent.command`: expected an array of strings, found string \"claude -p\""
    );
    assert_eq!(
        error_of("[agent]\ncommand = [\"claude\",\n  7]\n"),
        "config error: /home/u/.config/kage/config.toml:3:3: wrong type for `agent.command[1]`: expected a string, found integer `7`"
    );
    assert!(matches!(
        parse("[storage]\ndatabase_url = 5\n"),
        Err(ConfigError::WrongType { .. })
    ));
}

#[test]
fn a_bad_duration_points_at_the_value() {
    assert_eq!(
        error_of("[subscriptions]\nrate_limit_cooldown = \"soon\"\n"),
        "config error: /home/u/.config/kage/config.toml:2:23: invalid value for `subscriptions.rate_limit_cooldown`: \"soon\" is not a duration: write a number and a unit, such as \"30s\", \"5m\" or \"1h\""
    );
    assert_eq!(
        error_of("[agent]\nmax_wait = \"30\"\n"),
        "config error: /home/u/.config/kage/config.toml:2:12: invalid value for `agent.max_wait`: \"30\" is not a duration: write a number and a unit, such as \"30s\", \"5m\" or \"1h\""
    );
    assert_eq!(
        error_of("[subscriptions]\nlease_ttl = \"1s\"\n"),
        "config error: /home/u/.config/kage/config.toml:2:13: invalid value for `subscriptions.lease_ttl`: \"1s\" is too short: use at least 3s"
    );
    assert_eq!(
        error_of("[subscriptions]\nrate_limit_window = \"0s\"\n"),
        "config error: /home/u/.config/kage/config.toml:2:21: invalid value for `subscriptions.rate_limit_window`: \"0s\" is too short: use at least 1s"
    );
    assert_eq!(
        error_of("[subscriptions]\nexhausted_cooldown = \"400days\"\n"),
        "config error: /home/u/.config/kage/config.toml:2:22: invalid value for `subscriptions.exhausted_cooldown`: \"400days\" is too long: use at most 365d"
    );
    assert_eq!(
        error_of("[subscriptions]\nusage_window = \"2d\"\n"),
        "config error: /home/u/.config/kage/config.toml:2:16: invalid value for `subscriptions.usage_window`: \"2d\" is too long: use at most 1d"
    );
}

#[test]
fn approaching_threshold_must_be_a_fraction() {
    assert_eq!(
        error_of("[subscriptions]\napproaching_threshold = 1.5\n"),
        "config error: /home/u/.config/kage/config.toml:2:25: invalid value for `subscriptions.approaching_threshold`: 1.5 is out of range: use a number from 0 to 1, such as 0.8"
    );
    assert!(
        error_of("[subscriptions]\napproaching_threshold = -0.1\n")
            .contains("-0.1 is out of range")
    );
    assert!(
        error_of("[subscriptions]\napproaching_threshold = nan\n").contains("NaN is out of range")
    );
    let whole = crate::parse_ok("[subscriptions]\napproaching_threshold = 1\n");
    assert!((whole.subscriptions().approaching_threshold - 1.0).abs() < f64::EPSILON);
}

#[test]
fn counts_have_ranges() {
    assert_eq!(
        error_of("[subscriptions]\nunhealthy_threshold = 0\n"),
        "config error: /home/u/.config/kage/config.toml:2:23: invalid value for `subscriptions.unhealthy_threshold`: 0 is out of range: use a whole number from 1 to 1000"
    );
    assert!(
        error_of("[agent]\nmax_api_retries = -1\n")
            .contains("-1 is out of range: use a whole number from 0 to 100")
    );
    assert!(
        error_of("[agent]\nparallel = 5000000000\n")
            .contains("5000000000 is out of range: use a whole number from 1 to 1024")
    );
    assert_eq!(
        crate::parse_ok("[agent]\nmax_api_retries = 0\n")
            .agent()
            .max_api_retries,
        0
    );
}

#[test]
fn a_misspelt_strategy_gets_a_suggestion() {
    assert_eq!(
        error_of("[subscriptions]\ndefault_priority = \"round_robin\"\n"),
        "config error: /home/u/.config/kage/config.toml:2:20: invalid value for `subscriptions.default_priority`: unknown strategy \"round_robin\": use \"priority\", \"round-robin\" or \"least-used\"; did you mean \"round-robin\"?"
    );
    assert!(
        error_of("[subscriptions]\ndefault_priority = \"fastest\"\n")
            .ends_with("use \"priority\", \"round-robin\" or \"least-used\"")
    );
}

#[test]
fn storage_and_agent_values_are_checked() {
    assert_eq!(
        error_of("[storage]\ndatabase_url = \"mysql://root:pw@db/kage\"\n"),
        "config error: /home/u/.config/kage/config.toml:2:16: invalid value for `storage.database_url`: mysql://root@db/kage is not a PostgreSQL URL: write \"postgres://USER@HOST/DATABASE\", or remove the key to use the embedded SQLite file"
    );
    assert!(
        error_of("[storage]\ndatabase_path = \"\"\n")
            .contains("`storage.database_path`: the path is empty")
    );
    assert_eq!(
        error_of("[agent]\ncommand = []\n"),
        "config error: /home/u/.config/kage/config.toml:2:11: invalid value for `agent.command`: the command is empty; name the agent program, such as [\"claude\", \"-p\", \"{prompt}\"]"
    );
    assert!(
        error_of("[agent]\ncommand = [\"\", \"-p\"]\n")
            .contains("the program name (the first word) is empty")
    );
}

#[test]
fn invalid_toml_is_a_syntax_error_with_its_place() {
    let error = error_of("[subscriptions]\nlease_ttl = = \"2m\"\n");
    assert!(
        error.starts_with("config error: /home/u/.config/kage/config.toml:2:13: invalid TOML: "),
        "{error}"
    );
    assert!(!error.contains('\n'), "one line: {error}");
    let duplicate = error_of("[agent]\nparallel = 1\nparallel = 2\n");
    assert!(
        duplicate.starts_with("config error: /home/u/.config/kage/config.toml:3:1: invalid TOML: "),
        "{duplicate}"
    );
    assert!(duplicate.contains("duplicate key"), "{duplicate}");
}

#[test]
fn columns_count_characters_not_bytes() {
    assert_eq!(
        error_of("# café ☕\n[agent] # ☕☕\nparallel = \"x\"\n"),
        "config error: /home/u/.config/kage/config.toml:3:12: wrong type for `agent.parallel`: expected a whole number, found string \"x\""
    );
    assert!(
        error_of("[agent]\nmax_wait = \"x\" # ☕\ncommand = [\"☕\", 1]\n").starts_with(
            "config error: /home/u/.config/kage/config.toml:3:17: wrong type for `agent.command[1]`"
        )
    );
}

#[test]
fn the_first_bad_value_in_the_file_is_reported() {
    let text = "[agent]\nmax_wait = \"later\"\n\n[subscriptions]\nlease_ttl = \"soon\"\n";
    assert!(error_of(text).starts_with(
        "config error: /home/u/.config/kage/config.toml:2:12: invalid value for `agent.max_wait`"
    ));
}

#[test]
fn agent_isolation_is_worktree_or_none() {
    use kage_config::Isolation;
    assert_eq!(parse("[agent]\n").unwrap().agent().isolation, None);
    assert_eq!(
        parse("[agent]\nisolation = \"worktree\"\n")
            .unwrap()
            .agent()
            .isolation,
        Some(Isolation::Worktree)
    );
    assert_eq!(
        parse("[agent]\nisolation = \"none\"\n")
            .unwrap()
            .agent()
            .isolation,
        Some(Isolation::None)
    );
    assert_eq!(
        error_of("[agent]\nisolation = \"branch\"\n"),
        "config error: /home/u/.config/kage/config.toml:2:13: invalid value for `agent.isolation`: \"branch\" is not an isolation: use \"worktree\" (one git worktree per task) or \"none\""
    );
    let entries = parse("[agent]\nisolation = \"none\"\n")
        .unwrap()
        .resolved_entries();
    let entry = entries
        .iter()
        .find(|entry| entry.key == "agent.isolation")
        .expect("listed when set");
    assert_eq!(entry.value, "\"none\"");
}
