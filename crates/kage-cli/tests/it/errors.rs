//! Bad input of each kind: the message says what happened and what to do,
//! and the exit code says which kind it was.

use insta::assert_snapshot;

use crate::env::TestEnv;

#[test]
fn unknown_subscription_suggests_the_nearest_name() {
    let env = TestEnv::new();
    env.add("work-premium", &[]);
    let shown = env.run(&["subscription", "show", "work-premum"]).code(1);
    assert_snapshot!("error_unknown_subscription", shown.both());
    let routed = env
        .run(&[
            "subscription",
            "route",
            "--namespace",
            "backend",
            "--subscriptions",
            "work-premum",
        ])
        .code(2);
    assert_snapshot!("error_route_unknown_subscription", routed.both());
    let far = env.run(&["subscription", "disable", "zzz"]).code(1);
    assert_eq!(
        far.stderr,
        "kage: no subscription named zzz; see `kage subscription list`\n"
    );
}

#[test]
fn bad_values_are_usage_errors() {
    let env = TestEnv::new();
    let priority = env
        .run(&[
            "subscription",
            "add",
            "--name",
            "x",
            "--priority",
            "300",
            "--credential-stdin",
        ])
        .code(2);
    assert_snapshot!("error_priority_300", priority.both());
    // A negative number gets the same range message, not "unexpected argument".
    for (flag, expected) in [
        ("--priority", "use a whole number from 0 to 255"),
        ("--max-concurrent", "-1 is not in 1.."),
    ] {
        let negative = env
            .run(&[
                "subscription",
                "add",
                "--name",
                "x",
                flag,
                "-1",
                "--credential-stdin",
            ])
            .code(2);
        assert!(
            negative.stderr.contains(expected),
            "{flag}: {}",
            negative.stderr
        );
        assert!(
            !negative.stderr.contains("unexpected argument"),
            "{flag}: {}",
            negative.stderr
        );
    }
    // A priority level too: the level's possible values, not "unexpected argument".
    for args in [
        &["lease", "acquire", "--priority", "-1"][..],
        &["exec", "--priority", "-1", "--", "true"],
        &["subscription", "explain", "--priority", "-1"],
        &[
            "subscription",
            "route",
            "--priority",
            "-1",
            "--subscriptions",
            "x",
        ],
    ] {
        let negative = env.run(args).code(2);
        assert!(
            negative
                .stderr
                .contains("invalid value '-1' for '--priority <LEVEL>'"),
            "{args:?}: {}",
            negative.stderr
        );
    }
    let name = env
        .run(&["subscription", "add", "--name", "bad name!"])
        .code(2);
    assert!(
        name.stderr.contains("invalid subscription name"),
        "{}",
        name.stderr
    );
    let level = env
        .run(&[
            "subscription",
            "route",
            "--priority",
            "urgent",
            "--subscriptions",
            "x",
        ])
        .code(2);
    assert!(
        level
            .stderr
            .contains("[possible values: high, normal, low, batch]"),
        "{}",
        level.stderr
    );
    let both = env
        .run(&[
            "subscription",
            "route",
            "--namespace",
            "a",
            "--priority",
            "high",
            "--subscriptions",
            "x",
        ])
        .code(2);
    assert!(
        both.stderr.contains("cannot be used with"),
        "{}",
        both.stderr
    );
    let neither = env
        .run(&["subscription", "route", "--subscriptions", "x"])
        .code(2);
    assert!(
        neither
            .stderr
            .contains("--namespace <NS>|--priority <LEVEL>"),
        "{}",
        neither.stderr
    );
    let usage = env
        .run(&[
            "lease",
            "release",
            "00000000-0000-4000-8000-000000000000",
            "--usage",
            "inputs=3",
        ])
        .code(2);
    assert!(
        usage.stderr.contains("unknown token kind `inputs`"),
        "{}",
        usage.stderr
    );
    let wait = env.run(&["lease", "acquire", "--wait", "soon"]).code(2);
    assert!(
        wait.stderr
            .contains("write a duration such as 30s, 5m or 1h30m"),
        "{}",
        wait.stderr
    );
}

#[test]
fn add_without_a_terminal_asks_for_credential_stdin() {
    let env = TestEnv::new();
    let run = env
        .run(&["subscription", "add", "--name", "personal"])
        .code(2);
    assert_snapshot!("error_add_no_terminal", run.both());
    let empty = env
        .run_with_stdin(
            &[
                "subscription",
                "add",
                "--name",
                "personal",
                "--credential-stdin",
            ],
            "\n",
        )
        .code(2);
    assert!(
        empty.stderr.contains("standard input held no credential"),
        "{}",
        empty.stderr
    );
    env.add("personal", &[]);
    let twice = env
        .run_with_stdin(
            &[
                "subscription",
                "add",
                "--name",
                "personal",
                "--credential-stdin",
            ],
            "sk-ant-oat01-x\n",
        )
        .code(2);
    assert_eq!(
        twice.stderr,
        "kage: a subscription named personal already exists; pick another name or `kage subscription edit personal`\n"
    );
}

#[test]
fn a_credential_of_the_wrong_shape_is_stored_with_a_warning() {
    let env = TestEnv::new();
    let run = env
        .run_with_stdin(
            &[
                "subscription",
                "add",
                "--name",
                "personal",
                "--credential-stdin",
            ],
            "sk-ant-api03-this-is-an-api-key\n",
        )
        .success();
    assert_snapshot!("warning_credential_shape", run.both());
    assert!(
        !run.both().contains("this-is-an-api-key"),
        "the secret was printed"
    );
}

#[test]
fn bad_config_exits_78_with_file_line_and_column() {
    let env = TestEnv::new();
    env.write_config("[subscriptions]\nrate_limit_window = \"1m\"\nrate_limit_cooldwn = \"5m\"\n");
    let status = env.run(&["subscription", "status"]).code(78);
    assert_snapshot!("error_config_unknown_key", status.both());
    env.write_config("[subscriptions]\nlease_ttl = \"soon\"\n");
    let check = env.run(&["config", "check"]).code(78);
    assert!(
        check.stderr.starts_with("kage: config error: $TEST_ENV/config/kage/config.toml:2:13: invalid value for `subscriptions.lease_ttl`"),
        "{}",
        check.stderr
    );
}

#[test]
fn config_routes_naming_unknown_subscriptions_fail_the_check() {
    let env = TestEnv::new();
    // The seed's config file, as written.
    env.write_config(
        r#"[subscriptions]
# Default routing priority
default_priority = "round-robin"  # or "priority", "least-used"

# Rate limit settings
rate_limit_window = "1m"
rate_limit_cooldown = "5m"

[subscriptions.routing]
# Namespace-specific routing
backend = ["backend-dedicated", "work-premium"]
frontend = ["frontend-1", "personal"]

# Priority-level routing
high = ["premium-1", "premium-2"]
batch = ["batch-1", "batch-2"]
"#,
    );
    for name in [
        "backend-dedicated",
        "work-premium",
        "personal",
        "premium-1",
        "premium-2",
        "batch-1",
        "batch-2",
    ] {
        env.add(name, &[]);
    }
    let check = env.run(&["config", "check"]).code(78);
    assert_snapshot!("error_config_unknown_route_subscription", check.both());
    // Other commands still run (so the missing one can be added), with a warning.
    let routes = env.run(&["subscription", "routes"]).success();
    assert!(routes.stderr.contains("frontend-1"), "{}", routes.stderr);
    env.add("frontend-1", &[]);
    let fixed = env.run(&["config", "check"]).success();
    assert_snapshot!("config_check_seed_file", fixed.both());
}

#[test]
fn nothing_available_exits_75_and_says_when() {
    let env = TestEnv::new();
    let empty = env.run(&["lease", "acquire"]).code(75);
    assert_eq!(
        empty.stderr,
        "kage: no subscription is registered; add one with `kage subscription add --name NAME`\n"
    );
    env.add("personal", &[]);
    env.add("work", &["--priority", "150"]);
    for _ in 0..2 {
        let lease = env.acquire(&[]);
        env.run(&[
            "lease",
            "release",
            &lease,
            "--outcome",
            "exhausted",
            "--resets-at",
            "2025-06-02T14:00:00Z",
        ])
        .success();
    }
    env.run(&[
        "subscription",
        "route",
        "--namespace",
        "x",
        "--subscriptions",
        "personal",
    ])
    .success();
    let now = env
        .run(&["lease", "acquire", "--namespace", "backend"])
        .code(75);
    assert_snapshot!("error_nothing_available", now.both());
    let unrouted = env.run(&["lease", "acquire", "--tags", "gpu"]).code(75);
    assert!(
        unrouted.stderr.contains("none comes back by itself"),
        "{}",
        unrouted.stderr
    );
}

#[test]
fn a_bad_test_clock_is_reported() {
    let mut env = TestEnv::new();
    env.set_now("yesterday");
    let run = env.run(&["subscription", "status"]).code(1);
    assert!(
        run.stderr
            .contains("KAGE_TEST_NOW=\"yesterday\" is not an RFC 3339 time"),
        "{}",
        run.stderr
    );
}

#[test]
fn requests_that_cannot_be_met_are_usage_errors() {
    let env = TestEnv::new();
    env.add("personal", &[]);
    let empty_edit = env.run(&["subscription", "edit", "personal"]).code(2);
    assert!(
        empty_edit.stderr.contains("nothing to change"),
        "{}",
        empty_edit.stderr
    );
    let unknown = env
        .run(&[
            "subscription",
            "route",
            "--namespace",
            "backend",
            "--subscriptions",
            "personl",
        ])
        .code(2);
    assert!(
        unknown.stderr.contains("did you mean personal?"),
        "{}",
        unknown.stderr
    );
    for args in [
        &["subscription", "list", "--json"][..],
        &["subscription", "status", "--json"],
        &["doctor", "--json"],
    ] {
        let run = env.run(args);
        assert!(
            !run.stderr
                .lines()
                .any(|line| run.stderr.matches(line).count() > 1),
            "{args:?} said something twice: {}",
            run.stderr
        );
    }
}
