//! Every command's output formats (tables and `--json`) and behaviour.

use insta::assert_snapshot;
use serde_json::Value;

use crate::env::TestEnv;

/// Parse JSON Lines into (type, data) pairs, checking the envelope.
/// The whole of stdout as ONE JSON document (as `jq .` reads it): an
/// object or an array, never JSON Lines.
/// The pool's total (`subscription: null`) in `usage --json`.
pub(crate) fn pool_total(stdout: &str) -> Value {
    document(stdout)["totals"]
        .as_array()
        .and_then(|totals| totals.iter().find(|total| total["subscription"].is_null()))
        .cloned()
        .unwrap_or_else(|| panic!("no pool total in {stdout}"))
}

pub(crate) fn document(stdout: &str) -> Value {
    let value: Value = serde_json::from_str(stdout)
        .unwrap_or_else(|error| panic!("stdout is not one JSON document ({error}):\n{stdout}"));
    assert!(
        value.is_object() || value.is_array(),
        "not an object or array: {stdout}"
    );
    value
}

/// [`document`], which must be an array.
fn items(stdout: &str) -> Vec<Value> {
    document(stdout)
        .as_array()
        .unwrap_or_else(|| panic!("not a JSON array: {stdout}"))
        .clone()
}

fn route(env: &TestEnv, namespace: &str, subscriptions: &str) {
    env.run(&[
        "subscription",
        "route",
        "--namespace",
        namespace,
        "--subscriptions",
        subscriptions,
    ])
    .success();
}

#[test]
fn list_and_show_in_every_format() {
    let mut env = TestEnv::new();
    env.add(
        "personal",
        &["--description", "My own Max plan", "--tags", "frontend"],
    );
    env.run_with_stdin(
        &[
            "subscription",
            "add",
            "--name",
            "ci-key",
            "--kind",
            "api-key",
            "--priority",
            "60",
            "--max-concurrent",
            "2",
            "--credential-stdin",
        ],
        "sk-ant-api03-ci-secret\n",
    )
    .success();
    env.run(&[
        "subscription",
        "add",
        "--name",
        "from-pass",
        "--credential-command",
        "pass show claude/work",
    ])
    .success();
    env.set_env("KAGE_CI_TOKEN", "sk-ant-oat01-from-env");
    env.run(&[
        "subscription",
        "add",
        "--name",
        "from-env",
        "--credential-env",
        "KAGE_CI_TOKEN",
    ])
    .success();

    let list = env.run(&["subscription", "list"]).success();
    assert_snapshot!("list_table", list.both());
    let names = env.run(&["subscription", "list", "--names"]).success();
    assert_eq!(names.stdout, "ci-key\nfrom-env\nfrom-pass\npersonal\n");
    let json = env.run(&["subscription", "list", "--json"]).success();
    assert_snapshot!("list_json", json.stdout);
    let parsed = items(&json.stdout);
    assert_eq!(parsed.len(), 4);
    let ci = &parsed[0];
    assert_eq!(ci["kind"], "api-key");
    assert_eq!(ci["credential"]["store"], "insecure test file store");
    let stores: Vec<&str> = parsed
        .iter()
        .map(|item| item["credential"]["store"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        stores,
        [
            "insecure test file store",
            "env",
            "command",
            "insecure test file store"
        ]
    );
    assert_eq!(ci["credential"]["variable"], "ANTHROPIC_API_KEY");
    assert_eq!(ci["max_concurrent"], 2);
    assert!(
        !json.stdout.contains("secret"),
        "a credential leaked: {}",
        json.stdout
    );

    // Some history for `show`: used, rate limited, disabled and enabled.
    route(&env, "solo", "personal");
    env.set_now("2025-06-02T08:00:00Z");
    let lease = env.acquire(&["--namespace", "solo"]);
    env.run(&[
        "lease",
        "release",
        &lease,
        "--outcome",
        "exhausted",
        "--resets-at",
        "2025-06-02T09:00:00Z",
        "--reason",
        "5-hour limit, resets 09:00",
        "--usage",
        "input=1500,output=500",
        "--cost-usd",
        "0.05",
    ])
    .success();
    env.set_now("2025-06-02T09:10:00Z");
    env.run(&[
        "subscription",
        "disable",
        "personal",
        "--reason",
        "lent to a colleague",
    ])
    .success();
    env.set_now("2025-06-02T09:20:00Z");
    env.run(&["subscription", "enable", "personal"]).success();
    env.set_now("2025-06-02T09:30:00Z");
    let _live = env.acquire(&["--namespace", "solo"]);

    let show = env.run(&["subscription", "show", "personal"]).success();
    assert_snapshot!("show_table", show.both());
    let show_json = env
        .run(&["subscription", "show", "personal", "--json"])
        .success();
    let details = &document(&show_json.stdout);
    assert_eq!(details["name"], "personal");
    assert_eq!(details["state"]["state"], "active");
    assert_eq!(details["leases"].as_array().map(Vec::len), Some(1));
    assert_eq!(details["usage_today"]["total_tokens"], 2000);
    assert_eq!(details["usage_today"]["cost_usd"], 0.05);
    let transitions = details["transitions"].as_array().expect("transitions");
    let kinds: Vec<&str> = transitions
        .iter()
        .map(|t| t["to"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(kinds, ["active", "disabled", "exhausted"]);
}

#[test]
fn edit_renames_retags_and_rotates_the_credential() {
    let env = TestEnv::new();
    env.add("personal", &["--tags", "frontend,api"]);
    route(&env, "web", "personal");
    let edited = env
        .run_with_stdin(
            &[
                "subscription",
                "edit",
                "personal",
                "--name",
                "personal-backup",
                "--priority",
                "90",
                "--add-tag",
                "backup",
                "--remove-tag",
                "api",
                "--description",
                "Spare",
                "--rotate-credential",
                "--credential-stdin",
            ],
            "sk-ant-oat01-rotated\n",
        )
        .success();
    assert_snapshot!("edit_confirmation", edited.both());
    let list = env.run(&["subscription", "list", "--json"]).success();
    let parsed = items(&list.stdout);
    let data = &parsed[0];
    assert_eq!(data["name"], "personal-backup");
    assert_eq!(data["priority"], 90);
    assert_eq!(data["tags"], serde_json::json!(["backup", "frontend"]));
    assert_eq!(data["description"], "Spare");
    // The saved route followed the rename.
    let routes = env.run(&["subscription", "routes"]).success();
    assert!(
        routes.stdout.contains("personal-backup"),
        "{}",
        routes.stdout
    );
    // The new credential is the one a leased command gets.
    let shown = env
        .run(&[
            "exec",
            "--",
            "sh",
            "-c",
            "printf %s \"$CLAUDE_CODE_OAUTH_TOKEN\"",
        ])
        .success();
    assert_eq!(shown.stdout, "sk-ant-oat01-rotated\n");
    // In a terminal, --rotate-credential prompts like `add`.
    let prompted = env
        .run_in_terminal(
            &[
                "subscription",
                "edit",
                "personal-backup",
                "--rotate-credential",
            ],
            "sk-ant-oat01-typed",
        )
        .success();
    assert!(
        prompted.stdout.contains("Credential for personal-backup"),
        "{}",
        prompted.stdout
    );
    assert!(
        !prompted.stdout.contains("sk-ant-oat01-typed"),
        "the secret was echoed"
    );
    let shown = env
        .run(&[
            "exec",
            "--",
            "sh",
            "-c",
            "printf %s \"$CLAUDE_CODE_OAUTH_TOKEN\"",
        ])
        .success();
    assert_eq!(shown.stdout, "sk-ant-oat01-typed\n");
    // Replace all tags; nothing to change is a usage error.
    env.run(&["subscription", "edit", "personal-backup", "--tags", "x,y"])
        .success();
    let nothing = env
        .run(&["subscription", "edit", "personal-backup"])
        .code(2);
    assert!(
        nothing.stderr.contains("nothing to change"),
        "{}",
        nothing.stderr
    );
}

#[test]
fn remove_is_refused_while_leases_are_live_unless_forced() {
    let env = TestEnv::new();
    env.add("personal", &[]);
    let _lease = env.acquire(&[]);
    let refused = env.run(&["subscription", "remove", "personal"]).code(1);
    assert_snapshot!("remove_refused", refused.both());
    let forced = env
        .run(&["subscription", "remove", "personal", "--force"])
        .success();
    assert_snapshot!("remove_forced", forced.both());
    let list = env.run(&["subscription", "list", "--names"]).success();
    assert_eq!(list.stdout, "");
}

#[test]
fn disabled_and_limited_subscriptions_show_when_they_come_back() {
    let env = TestEnv::new();
    env.add("alpha", &["--priority", "200"]);
    env.add("beta", &["--priority", "150"]);
    env.add("gamma", &["--priority", "100"]);
    env.add("delta", &["--priority", "50"]);
    let disabled = env
        .run(&[
            "subscription",
            "disable",
            "delta",
            "--reason",
            "card expired",
        ])
        .success();
    assert_eq!(disabled.stderr, "delta: active → disabled (card expired)\n");
    // alpha: exhausted; beta: unhealthy after three server errors.
    let lease = env.acquire(&[]);
    env.run(&[
        "lease",
        "release",
        &lease,
        "--outcome",
        "exhausted",
        "--resets-at",
        "3h",
        "--reason",
        "weekly limit",
    ])
    .success();
    for _ in 0..3 {
        let lease = env.acquire(&[]);
        env.run(&[
            "lease",
            "release",
            &lease,
            "--outcome",
            "error",
            "--reason",
            "HTTP 500",
        ])
        .success();
    }
    let status = env.run(&["subscription", "status"]).success();
    assert_snapshot!("status_mixed_states", status.both());
    let json = env.run(&["subscription", "status", "--json"]).success();
    assert_snapshot!("status_json", json.stdout);
    let parsed = document(&json.stdout);
    assert_eq!(parsed["subscriptions"].as_array().map(Vec::len), Some(4));
    let summary = &parsed["summary"];
    assert_eq!(summary["active"], 1);
    assert_eq!(summary["exhausted"], 1);
    assert_eq!(summary["unhealthy"], 1);
    assert_eq!(summary["disabled"], 1);
    let enabled = env.run(&["subscription", "enable", "delta"]).success();
    assert_eq!(
        enabled.stderr,
        "delta: disabled → active (enabled by user)\n"
    );
}

#[test]
fn explain_tells_why_each_subscription_was_passed_over() {
    let env = TestEnv::new();
    env.add("premium", &["--priority", "200", "--tags", "backend"]);
    env.add(
        "dedicated",
        &[
            "--priority",
            "120",
            "--tags",
            "backend",
            "--max-concurrent",
            "1",
        ],
    );
    env.add("spare", &["--priority", "100", "--tags", "backend"]);
    env.add(
        "frontend-only",
        &["--priority", "100", "--tags", "frontend"],
    );
    env.add("limited", &["--priority", "90", "--tags", "backend"]);
    route(&env, "backend", "tag:backend");
    route(&env, "limits", "limited");
    let lease = env.acquire(&["--namespace", "limits"]);
    env.run(&[
        "lease",
        "release",
        &lease,
        "--outcome",
        "rate-limited",
        "--resets-at",
        "90s",
    ])
    .success();
    route(&env, "dedicated-only", "dedicated");
    let _busy = env.acquire(&["--namespace", "dedicated-only"]);

    let explain = env
        .run(&["subscription", "explain", "--namespace", "backend"])
        .success();
    assert_snapshot!("explain_backend", explain.both());
    let tags = env
        .run(&["subscription", "explain", "--tags", "frontend", "--json"])
        .success();
    let parsed = items(&tags.stdout);
    assert_eq!(parsed[0]["name"], "frontend-only");
    assert_eq!(parsed[0]["verdict"], "chosen");
    assert!(
        parsed
            .iter()
            .skip(1)
            .all(|line| line["verdict"] != "chosen")
    );
    let missing = parsed
        .iter()
        .find(|line| line["name"] == "spare")
        .expect("spare");
    assert_eq!(missing["verdict"], "missing_tags");
}

#[test]
fn routes_show_both_sources_and_flag_conflicts() {
    let mut env = TestEnv::new();
    // A relative config path keeps the table's width free of the temporary path.
    env.set_env("KAGE_CONFIG", "config.toml");
    // A file named by KAGE_CONFIG must exist.
    env.write_config("");
    env.add("personal", &[]);
    env.add("work", &[]);
    env.write_config(
        "[subscriptions.routing]\nbackend = [\"work\"]\nhigh = [\"personal\", \"tag:premium\"]\n",
    );
    let routed = env
        .run(&[
            "subscription",
            "route",
            "--namespace",
            "backend",
            "--subscriptions",
            "personal",
        ])
        .success();
    assert_snapshot!("route_config_wins", routed.both());
    route(&env, "frontend", "personal,work");
    let routes = env.run(&["subscription", "routes"]).success();
    assert_snapshot!("routes_table", routes.both());
    let json = env.run(&["subscription", "routes", "--json"]).success();
    let parsed = items(&json.stdout);
    assert_eq!(parsed.len(), 4);
    let overridden: Vec<&Value> = parsed.iter().filter(|r| r["overridden"] == true).collect();
    assert_eq!(overridden.len(), 1);
    assert_eq!(overridden[0]["target"], "backend");
    // The file wins in selection too.
    assert_eq!(env.spend(&["--namespace", "backend"], &[]), "work");
    let unrouted = env
        .run(&["subscription", "unroute", "--namespace", "frontend"])
        .success();
    assert_eq!(
        unrouted.stderr,
        "Removed the saved route for namespace frontend (was personal, work)\n"
    );
    let missing = env
        .run(&["subscription", "unroute", "--priority", "low"])
        .code(1);
    assert!(
        missing.stderr.contains("no saved route for priority low"),
        "{}",
        missing.stderr
    );
}

#[test]
fn lease_lifecycle_for_scripts() {
    let env = TestEnv::new();
    env.add("personal", &["--max-concurrent", "2"]);
    let acquired = env
        .run(&[
            "lease",
            "acquire",
            "--namespace",
            "backend",
            "--priority",
            "high",
            "--holder",
            "ci-job-17",
            "--ttl",
            "5m",
        ])
        .success();
    let mut words = acquired.stdout.split_whitespace();
    assert_eq!(words.next(), Some("[UUID]"));
    assert_eq!(words.next(), Some("personal"));
    assert!(!acquired.both().contains("sk-ant"), "a credential leaked");
    let json = env
        .command(&["lease", "acquire", "--holder", "ci-job-18", "--json"])
        .output()
        .expect("kage runs");
    assert!(json.status.success());
    let stdout = String::from_utf8_lossy(&json.stdout).to_string();
    let parsed = document(&stdout);
    let id = parsed["id"].as_str().expect("an id").to_owned();
    assert_eq!(parsed["credential_variable"], "CLAUDE_CODE_OAUTH_TOKEN");
    assert_snapshot!("lease_acquire_json", env.normalize(&stdout));

    let list = env.run(&["lease", "list"]).success();
    assert_snapshot!("lease_list", list.both());

    let heartbeat = env
        .run(&["lease", "heartbeat", &id, "--ttl", "10m"])
        .success();
    assert_snapshot!("lease_heartbeat", heartbeat.both());

    let released = env
        .run(&[
            "lease",
            "release",
            &id,
            "--usage",
            "input=100,output=20,cache-write=5,cache-read=1000",
            "--cost-usd",
            "0.0123",
        ])
        .success();
    assert_snapshot!("lease_release", released.both());
    let again = env.run(&["lease", "release", &id]).code(1);
    assert!(
        again.stderr.contains("was already released"),
        "{}",
        again.stderr
    );
    let unknown = env
        .run(&["lease", "heartbeat", "00000000-0000-4000-8000-000000000000"])
        .code(1);
    assert!(
        unknown.stderr.contains("no lease with id"),
        "{}",
        unknown.stderr
    );
    let leases = env.run(&["lease", "list", "--json"]).success();
    assert_eq!(items(&leases.stdout).len(), 1);
}

#[test]
fn acquire_waits_for_the_first_recovery() {
    let env = TestEnv::new();
    env.add("personal", &[]);
    let lease = env.acquire(&[]);
    env.run(&[
        "lease",
        "release",
        &lease,
        "--outcome",
        "rate-limited",
        "--resets-at",
        "5m",
    ])
    .success();
    let short = env.run(&["lease", "acquire", "--wait", "1m"]).code(75);
    assert_snapshot!("acquire_wait_too_short", short.both());
    let waited = env
        .run(&["lease", "acquire", "--wait", "10m", "--holder", "x"])
        .success();
    assert!(waited.stdout.ends_with(" personal\n"), "{}", waited.stdout);
    assert!(
        waited
            .stderr
            .contains("personal is available again at 09:35 (in 5m); waiting"),
        "{}",
        waited.stderr
    );
}

#[test]
fn metrics_are_prometheus_text() {
    let env = TestEnv::new();
    env.add("personal", &[]);
    env.add("work", &["--priority", "150"]);
    env.spend(
        &[],
        &[
            "--usage",
            "input=1000,output=200,cache-read=50",
            "--cost-usd",
            "0.25",
        ],
    );
    let lease = env.acquire(&[]);
    env.run(&["lease", "release", &lease, "--outcome", "rate-limited"])
        .success();
    let _live = env.acquire(&[]);
    let metrics = env.run(&["metrics"]).success();
    assert_snapshot!("metrics", metrics.both());
    for line in metrics.stdout.lines().filter(|line| !line.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').expect("series value");
        assert!(series.starts_with("kage_"), "{line}");
        assert!(value.parse::<f64>().is_ok(), "{line}");
    }
}

#[test]
fn usage_json_has_days_and_totals() {
    let mut env = TestEnv::new();
    env.add("personal", &[]);
    env.set_now("2025-06-01T10:00:00Z");
    env.spend(&[], &["--usage", "input=10,output=5"]);
    env.set_now("2025-06-02T09:00:00Z");
    env.spend(&[], &["--usage", "input=7,output=3", "--cost-usd", "0.01"]);
    let json = env
        .run(&["subscription", "usage", "--period", "week", "--json"])
        .success();
    assert_snapshot!("usage_json", json.stdout);
    let report = document(&json.stdout);
    assert_eq!(report["period"], "week");
    assert_eq!(report["days"].as_array().map(Vec::len), Some(2));
    let totals = report["totals"].as_array().expect("totals");
    assert_eq!(
        totals.last().expect("the pool's total")["subscription"],
        Value::Null
    );
    assert_eq!(totals.last().expect("the pool's total")["input_tokens"], 17);
    let day = env
        .run(&["subscription", "usage", "--period", "day"])
        .success();
    assert_snapshot!("usage_day", day.both());
}

#[test]
fn today_is_the_local_day() {
    let mut env = TestEnv::new();
    env.set_tz("Europe/Berlin");
    env.add("personal", &[]);
    // 23:30 Berlin on June 1st: yesterday.
    env.set_now("2025-06-01T21:30:00Z");
    env.spend(&[], &["--usage", "input=111"]);
    // 01:30 Berlin on June 2nd: today, though still June 1st in UTC.
    env.set_now("2025-06-01T23:30:00Z");
    env.spend(&[], &["--usage", "input=222"]);
    env.set_now("2025-06-02T09:30:00Z");
    let status = env.run(&["subscription", "status"]).success();
    assert!(
        status.stdout.contains("Total Usage:  222 tokens today"),
        "{}",
        status.stdout
    );
    let usage = env
        .run(&["subscription", "usage", "--period", "week", "--json"])
        .success();
    let days: Vec<String> = document(&usage.stdout)["days"]
        .as_array()
        .expect("days")
        .iter()
        .map(|data| {
            format!(
                "{}={}",
                data["day"].as_str().unwrap_or(""),
                data["input_tokens"]
            )
        })
        .collect();
    assert_eq!(days, ["2025-06-01=111", "2025-06-02=222"]);
}

#[test]
fn config_path_check_and_show() {
    let mut env = TestEnv::new();
    let path = env.run(&["config", "path"]).success();
    assert_eq!(path.stdout, "$TEST_ENV/config/kage/config.toml\n");
    // Relative paths keep the tables' widths free of the temporary path.
    env.set_env("KAGE_CONFIG", "config.toml");
    env.set_env("KAGE_DATABASE_PATH", "kage.db");
    let example = env.run(&["config", "show"]).success();
    assert!(
        example.stdout.contains("[subscriptions]"),
        "{}",
        example.stdout
    );
    assert!(
        example.stderr.contains("does not exist"),
        "{}",
        example.stderr
    );
    // A file named by KAGE_CONFIG must exist for every command that reads it.
    let missing = env.run(&["config", "check"]).code(78);
    assert!(
        missing.stderr.contains("cannot read config.toml")
            && missing.stderr.contains("named by KAGE_CONFIG")
            && missing
                .stderr
                .contains("unset KAGE_CONFIG to use the default location")
            && !missing.stderr.contains("readable file"),
        "{}",
        missing.stderr
    );
    assert_eq!(
        missing.stderr.matches("no such file").count(),
        1,
        "{}",
        missing.stderr
    );
    let flag = env
        .run(&["--config", "nowhere.toml", "config", "check"])
        .code(78);
    assert!(
        flag.stderr.contains(
            "nowhere.toml: no such file (named by --config); fix the path, or leave out --config"
        ),
        "{}",
        flag.stderr
    );
    env.write_config("");
    env.add("personal", &[]);
    env.write_config(
        "[subscriptions]\ndefault_priority = \"round-robin\"\nrate_limit_cooldown = \"10m\"\n\n[subscriptions.routing]\nbackend = [\"personal\"]\n",
    );
    let check = env.run(&["config", "check"]).success();
    assert_snapshot!("config_check_ok", check.both());
    let check_json = env.run(&["config", "check", "--json"]).success();
    assert_eq!(
        document(&check_json.stdout),
        serde_json::json!({"file": "config.toml", "routes": 1, "subscriptions": 1})
    );
    let path_json = env.run(&["config", "path", "--json"]).success();
    assert_eq!(
        document(&path_json.stdout),
        serde_json::json!({"path": "config.toml", "chosen_by": "KAGE_CONFIG", "exists": true})
    );
    let shown = env.run(&["config", "show"]).success();
    assert!(
        shown
            .stdout
            .starts_with("[subscriptions]\ndefault_priority = \"round-robin\"")
    );
    let mut with_env = env;
    with_env.set_env("KAGE_SUBSCRIPTIONS__LEASE_TTL", "3m");
    let resolved = with_env.run(&["config", "show", "--resolved"]).success();
    assert_snapshot!("config_show_resolved", resolved.both());
    let json = with_env
        .run(&["config", "show", "--resolved", "--json"])
        .success();
    let parsed = items(&json.stdout);
    let ttl = parsed
        .iter()
        .find(|data| data["key"] == "subscriptions.lease_ttl")
        .expect("lease_ttl");
    assert_eq!(ttl["source"], "env KAGE_SUBSCRIPTIONS__LEASE_TTL");
}

#[test]
fn color_follows_the_flag_and_no_color() {
    let mut env = TestEnv::new();
    env.add("personal", &[]);
    let always = env
        .command(&["--color", "always", "subscription", "status"])
        .output()
        .expect("runs");
    assert!(
        String::from_utf8_lossy(&always.stdout).contains("\u{1b}["),
        "no color with --color always"
    );
    let never = env
        .command(&["--color", "never", "subscription", "status"])
        .output()
        .expect("runs");
    assert!(!String::from_utf8_lossy(&never.stdout).contains("\u{1b}["));
    env.set_env("NO_COLOR", "1");
    let auto = env
        .command(&["subscription", "status"])
        .output()
        .expect("runs");
    assert!(!String::from_utf8_lossy(&auto.stdout).contains("\u{1b}["));
}

#[test]
fn quiet_silences_confirmations_and_completions_print() {
    let env = TestEnv::new();
    let quiet = env
        .run_with_stdin(
            &[
                "-q",
                "subscription",
                "add",
                "--name",
                "personal",
                "--credential-stdin",
            ],
            "sk-ant-oat01-x\n",
        )
        .success();
    assert_eq!(quiet.both(), "");
    for shell in ["bash", "zsh", "fish"] {
        // The dynamic script calls `COMPLETE=SHELL kage` back at each Tab.
        let script = env.run(&["completions", shell]).success();
        assert!(
            script.stdout.contains("COMPLETE=") && script.stdout.contains(shell),
            "{shell}: {}",
            script.stdout
        );
        let fixed = env.run(&["completions", shell, "--static"]).success();
        assert!(
            fixed.stdout.contains("subscription"),
            "{shell}: {}",
            fixed.stdout
        );
    }
    let dir = env.root().join("man");
    let dir_text = dir.display().to_string();
    env.run(&["generate-man", "--out-dir", &dir_text]).success();
    assert!(dir.join("kage.1").is_file());
    assert!(dir.join("kage-subscription-add.1").is_file());
    let page = std::fs::read_to_string(dir.join("kage.1")).expect("kage.1");
    assert!(page.contains("subscription"), "{page}");
}

#[test]
fn a_closed_pipe_exits_zero() {
    let env = TestEnv::new();
    for index in 0..30 {
        env.add(&format!("sub-{index:02}"), &[]);
    }
    let mut child = env
        .std_command(&["subscription", "list"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kage starts");
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("kage ends");
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr)
            .lines()
            .filter(|l| l.starts_with("kage:"))
            .count(),
        0
    );
}

#[test]
fn ctrl_c_while_waiting_exits_130() {
    let mut env = TestEnv::new();
    env.real_clock();
    env.add("personal", &[]);
    // A cap of one, taken: the next acquire waits for the lease to end.
    env.run(&["subscription", "edit", "personal", "--max-concurrent", "1"])
        .success();
    let _held = env.acquire(&["--ttl", "10m"]);
    let child = env
        .std_command(&["lease", "acquire", "--wait", "10m"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kage starts");
    std::thread::sleep(std::time::Duration::from_millis(700));
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("signal kage");
    let output = child.wait_with_output().expect("kage ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("waiting"), "{stderr}");
    assert!(stderr.ends_with("kage: interrupted\n"), "{stderr}");
}

#[test]
fn subscription_names_complete_from_the_pool() {
    let mut env = TestEnv::new();
    // Before the pool exists: no names, and no database is created.
    env.set_env("COMPLETE", "fish");
    let none = env
        .run(&["--", "kage", "subscription", "show", ""])
        .success();
    assert!(!none.stdout.contains("personal"), "{}", none.stdout);
    assert!(!env.root().join("data/kage/kage.db").exists());

    env.set_env("COMPLETE", "0");
    env.add("personal", &["--description", "My own plan"]);
    env.add("work", &[]);

    env.set_env("COMPLETE", "fish");
    let fish = env
        .run(&["--", "kage", "subscription", "show", ""])
        .success();
    let names: Vec<&str> = fish
        .stdout
        .lines()
        .filter(|line| !line.starts_with('-'))
        .collect();
    assert_eq!(names, ["personal\tMy own plan", "work"], "{}", fish.stdout);
    let usage = env
        .run(&["--", "kage", "subscription", "usage", "--subscription", "w"])
        .success();
    assert_eq!(usage.stdout, "work\n");

    env.set_env("COMPLETE", "bash");
    env.set_env("_CLAP_COMPLETE_INDEX", "3");
    env.set_env("_CLAP_COMPLETE_COMP_TYPE", "9");
    let bash = env
        .run(&["--", "kage", "subscription", "disable", "p"])
        .success();
    assert_eq!(bash.stdout.trim_end(), "personal");

    env.set_env("COMPLETE", "zsh");
    let zsh = env
        .run(&["--", "kage", "subscription", "edit", "w"])
        .success();
    assert_eq!(zsh.stdout.trim_end(), "work");
}

/// Every command that prints a result takes `--json` and prints one
/// document, for reads and changes alike.
#[test]
fn every_result_is_one_json_document() {
    let env = TestEnv::new();
    let added = env
        .run_with_stdin(
            &[
                "subscription",
                "add",
                "--name",
                "personal",
                "--credential-stdin",
                "--json",
            ],
            "sk-ant-oat01-json\n",
        )
        .success();
    let added = document(&added.stdout);
    assert_eq!(added["name"], "personal");
    assert_eq!(added["credential"]["store"], "insecure test file store");
    env.add("work", &[]);
    let edited = env
        .run(&[
            "subscription",
            "edit",
            "work",
            "--priority",
            "120",
            "--json",
        ])
        .success();
    assert_eq!(document(&edited.stdout)["priority"], 120);
    let disabled = env
        .run(&[
            "subscription",
            "disable",
            "work",
            "--reason",
            "holiday",
            "--json",
        ])
        .success();
    let disabled = document(&disabled.stdout);
    assert_eq!(disabled["changed"], true);
    assert_eq!(disabled["state"]["state"], "disabled");
    let enabled = env
        .run(&["subscription", "enable", "work", "--json"])
        .success();
    assert_eq!(document(&enabled.stdout)["state"]["state"], "active");
    let routed = env
        .run(&[
            "subscription",
            "route",
            "--namespace",
            "backend",
            "--subscriptions",
            "work,personal",
            "--json",
        ])
        .success();
    let routed = document(&routed.stdout);
    assert_eq!(routed["target"], "backend");
    assert_eq!(routed["entries"], serde_json::json!(["work", "personal"]));
    let unrouted = env
        .run(&[
            "subscription",
            "unroute",
            "--namespace",
            "backend",
            "--json",
        ])
        .success();
    assert_eq!(document(&unrouted.stdout)["target_kind"], "namespace");
    let lease = env.acquire(&[]);
    let released = env
        .run(&[
            "lease",
            "release",
            &lease,
            "--outcome",
            "rate-limited",
            "--resets-at",
            "5m",
            "--usage",
            "input=10,output=2",
            "--json",
        ])
        .success();
    let released = document(&released.stdout);
    // (ids read [UUID] in normalized output)
    assert_eq!(released["lease"]["subscription"], "work");
    assert_eq!(released["lease"]["id"], "[UUID]");
    assert_eq!(released["outcome"], "rate_limited");
    assert_eq!(released["usage"]["total_tokens"], 12);
    assert_eq!(released["transition"]["to"], "rate_limited");
    for args in [
        &["subscription", "list", "--json"][..],
        &["subscription", "status", "--json"],
        &["subscription", "usage", "--period", "week", "--json"],
        &["subscription", "routes", "--json"],
        &["subscription", "explain", "--json"],
        &["lease", "list", "--json"],
        &["config", "path", "--json"],
        &["config", "check", "--json"],
        &["config", "show", "--resolved", "--json"],
    ] {
        let run = env.run(args).success();
        document(&run.stdout);
    }
    let backup = env.run(&["backup", "copy.db", "--json"]).success();
    let backup = document(&backup.stdout);
    assert!(
        backup["backup"]
            .as_str()
            .is_some_and(|path| path.ends_with("copy.db")),
        "{backup}"
    );
    assert!(
        backup["bytes"].as_u64().is_some_and(|bytes| bytes > 0),
        "{backup}"
    );
    let removed = env
        .run(&["subscription", "remove", "personal", "--json"])
        .success();
    let removed = document(&removed.stdout);
    assert_eq!(removed["removed"], "personal");
    assert_eq!(removed["purged"], false);
}

#[test]
fn usage_draws_a_chart_to_the_width_unless_plain() {
    let mut env = TestEnv::new();
    env.add("personal", &[]);
    env.add("work", &[]);
    env.set_now("2025-05-30T10:00:00Z");
    env.spend(&[], &["--usage", "input=4000,output=1000"]);
    env.set_now("2025-06-02T09:00:00Z");
    env.spend(&[], &["--usage", "input=900,output=100"]);
    env.set_env("COLUMNS", "60");
    let week = env
        .run(&["subscription", "usage", "--period", "week"])
        .success();
    assert_snapshot!("usage_week_chart_60", week.stdout);
    let chart = week.stdout.split_once("Tokens per day").expect("a chart").1;
    assert!(
        chart.lines().all(|line| line.chars().count() <= 60),
        "{chart}"
    );
    let plain = env
        .run(&["subscription", "usage", "--period", "week", "--plain"])
        .success();
    assert!(!plain.stdout.contains("Tokens per day"), "{}", plain.stdout);
    assert!(
        week.stdout.starts_with(&plain.stdout),
        "the chart comes below the tables"
    );
    let day = env
        .run(&["subscription", "usage", "--period", "day"])
        .success();
    assert!(!day.stdout.contains("Tokens per day"), "{}", day.stdout);
    env.run(&["subscription", "usage", "--json", "--plain"])
        .code(2);
}

#[test]
fn a_writing_command_leaves_no_wal_and_backup_copies_the_pool() {
    let mut env = TestEnv::new();
    env.add("work", &[]);
    let lease = env.acquire(&[]);
    env.run(&["lease", "release", &lease, "--usage", "input=7"])
        .success();
    let database = env.root().join("data").join("kage").join("kage.db");
    let wal = database.with_file_name("kage.db-wal");
    assert!(
        !wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0,
        "the WAL was left at {} bytes",
        std::fs::metadata(&wal).unwrap().len()
    );

    let copy = env.root().join("copy.db");
    let copy_text = copy.display().to_string();
    let backup = env.run(&["backup", &copy_text]).success();
    assert!(backup.stderr.starts_with("backed up "), "{}", backup.stderr);
    let again = env.run(&["backup", &copy_text]).code(2);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);
    env.set_env("KAGE_DATABASE_PATH", &copy_text);
    let usage = env.run(&["subscription", "usage", "--json"]).success();
    assert_eq!(
        pool_total(&usage.stdout)["input_tokens"],
        7,
        "{}",
        usage.stdout
    );
}

#[test]
fn a_release_that_cannot_be_written_is_spooled_and_recorded_once_later() {
    let mut env = TestEnv::new();
    env.real_clock();
    env.add("work", &[]);
    let lease = {
        let output = env
            .command(&["lease", "acquire", "--holder", "test"])
            .output()
            .expect("kage runs");
        String::from_utf8_lossy(&output.stdout)
            .split_whitespace()
            .next()
            .expect("a lease id")
            .to_owned()
    };
    // A file-size limit stands for a full disk: the write-ahead log cannot
    // grow, so the release's write fails (SIGXFSZ ignored: EFBIG instead).
    let kage = assert_cmd::cargo::cargo_bin("kage");
    let script = format!(
        "trap '' XFSZ; ulimit -f 64; exec '{}' lease release {lease} --usage input=5,output=7",
        kage.display()
    );
    let template = env.std_command(&[]);
    let mut sh = std::process::Command::new("sh");
    sh.env_clear();
    for (name, value) in template.get_envs() {
        if let Some(value) = value {
            sh.env(name, value);
        }
    }
    let output = sh
        .args(["-c", &script])
        .current_dir(env.root())
        .output()
        .expect("sh runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_ne!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("the usage was kept in"), "{stderr}");
    let spool = env.root().join("data").join("kage").join("kage.db.spool");
    assert!(spool.exists());

    // Space is back: the next command records it, exactly once.
    for expected_notice in [true, false] {
        let usage = env.run(&["subscription", "usage", "--json"]).success();
        assert_eq!(
            usage
                .stderr
                .contains("recorded 1 release(s) kept from an earlier failed write"),
            expected_notice,
            "{}",
            usage.stderr
        );
        let total = pool_total(&usage.stdout);
        assert_eq!(
            (&total["input_tokens"], &total["output_tokens"]),
            (&Value::from(5), &Value::from(7)),
            "{}",
            usage.stdout
        );
        assert_eq!(
            document(&usage.stdout)["days"][0]["leases"],
            1,
            "{}",
            usage.stdout
        );
    }
    assert!(!spool.exists());
    let again = env.run(&["lease", "release", &lease]).code(1);
    assert!(
        again.stderr.contains("already released"),
        "{}",
        again.stderr
    );
}

/// Mount a tmpfs of `size` at `dir`; `None` when this process may not
/// mount (not root).
fn mount_tmpfs(dir: &std::path::Path, size: &str) -> Option<()> {
    std::fs::create_dir_all(dir).ok()?;
    let status = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .stderr(std::process::Stdio::null())
        .status()
        .ok()?;
    status.success().then_some(())
}

#[test]
#[allow(
    clippy::print_stderr,
    reason = "the banner of a test that cannot mount a tmpfs without root"
)]
fn a_nearly_full_disk_refuses_new_leases_and_releases_still_land() {
    let mut env = TestEnv::new();
    let disk = env.root().join("disk");
    if mount_tmpfs(&disk, "1m").is_none() {
        eprintln!("SKIPPED: mounting a 1 MB tmpfs needs root");
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(disk.clone());
    let database = disk.join("kage.db");
    env.set_env("KAGE_DATABASE_PATH", &database.display().to_string());
    env.add("work", &[]);
    let lease = {
        let output = env
            .command(&["lease", "acquire", "--holder", "test"])
            .output()
            .expect("kage runs");
        String::from_utf8_lossy(&output.stdout)
            .split_whitespace()
            .next()
            .expect("a lease id")
            .to_owned()
    };
    // Fill the disk but for a little.
    let filler = disk.join("filler");
    let free = || {
        let stats = nix::sys::statvfs::statvfs(&disk).expect("statvfs");
        stats.blocks_available() * stats.fragment_size()
    };
    let keep = 128 * 1024;
    std::fs::write(&filler, vec![0u8; usize::try_from(free() - keep).unwrap()]).unwrap();
    let refused = env.run(&["lease", "acquire"]).code(75);
    assert!(
        refused.stderr.contains("is nearly full"),
        "{}",
        refused.stderr
    );
    let refused = env.run(&["exec", "--", "true"]).code(75);
    assert!(
        refused.stderr.contains("is nearly full"),
        "{}",
        refused.stderr
    );
    // The lease already out is still released with its usage.
    env.run(&["lease", "release", &lease, "--usage", "input=11"])
        .success();
    std::fs::remove_file(&filler).unwrap();
    let usage = env.run(&["subscription", "usage", "--json"]).success();
    assert_eq!(
        pool_total(&usage.stdout)["input_tokens"],
        11,
        "{}",
        usage.stdout
    );
    env.run(&["lease", "acquire"]).success();
}
