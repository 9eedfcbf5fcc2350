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
            .contains("is not a duration: write a number and a unit"),
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

#[test]
fn a_token_where_a_variable_name_or_command_belongs_is_never_echoed() {
    let env = TestEnv::new();
    let token = "sk-ant-oat01-CANARY-token-given-as-a-name";
    for flag in ["--credential-env", "--credential-command"] {
        let run = env
            .run(&["subscription", "add", "--name", "work", flag, token])
            .code(2);
        assert!(!run.both().contains("CANARY"), "{}", run.both());
        assert!(
            run.stderr.contains("but a token was given"),
            "{}",
            run.stderr
        );
    }
    // Nothing was stored.
    let list = env.run(&["subscription", "list", "--json"]).success();
    assert_eq!(list.stdout.trim_end(), "[]");
}

/// A terminal escape: sets the window title and clears the screen.
const ESCAPE: &str = "\u{1b}]0;pwned\u{7}\u{1b}[2J";

#[test]
fn control_characters_are_refused_in_every_text_input() {
    let env = TestEnv::new();
    env.add("work", &[]);
    let text = format!("hello{ESCAPE}");
    let attempts: [(&[&str], &str); 6] = [
        (
            &[
                "subscription",
                "add",
                "--name",
                "x",
                "--credential-env",
                "TOK",
                "--description",
            ],
            "--description",
        ),
        (
            &["subscription", "add", "--name", "x", "--credential-command"],
            "--credential-command",
        ),
        (
            &["subscription", "edit", "work", "--description"],
            "--description",
        ),
        (&["subscription", "disable", "work", "--reason"], "--reason"),
        (&["lease", "acquire", "--holder"], "--holder"),
        (
            &[
                "lease",
                "release",
                "00000000-0000-0000-0000-000000000000",
                "--reason",
            ],
            "--reason",
        ),
    ];
    for (args, flag) in attempts {
        let mut args = args.to_vec();
        args.push(&text);
        let run = env.run(&args).code(2);
        assert!(
            run.stderr
                .contains(&format!("{flag} holds a control character")),
            "{args:?}: {}",
            run.stderr
        );
        assert!(!run.both().contains('\u{1b}'), "{args:?}: {}", run.both());
    }
    let list = env.run(&["subscription", "list", "--json"]).success();
    assert_eq!(
        crate::commands::document(&list.stdout)
            .as_array()
            .map(Vec::len),
        Some(1),
        "{}",
        list.stdout
    );
    assert!(!list.stdout.contains("pwned"), "{}", list.stdout);
}

#[test]
fn control_characters_in_stored_text_are_escaped_on_human_output_and_exact_in_json() {
    let env = TestEnv::new();
    env.add("work", &[]);
    env.run(&["subscription", "disable", "work", "--reason", "maintenance"])
        .success();
    let database = env.root().join("data").join("kage").join("kage.db");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        use sqlx::Connection as _;
        let mut connection =
            sqlx::SqliteConnection::connect(&format!("sqlite://{}", database.display()))
                .await
                .expect("the database opens");
        sqlx::query("UPDATE subscriptions SET description = ?1, state_reason = ?1")
            .bind(format!("evil{ESCAPE}"))
            .execute(&mut connection)
            .await
            .expect("the text is stored");
    });
    for args in [
        &["subscription", "list"][..],
        &["subscription", "show", "work"],
        &["subscription", "status"],
    ] {
        let run = env.run(args).success();
        assert!(!run.both().contains('\u{1b}'), "{args:?}: {}", run.both());
        assert!(
            run.both().contains("evil\\u{1b}]0;pwned\\u{7}"),
            "{args:?}: {}",
            run.both()
        );
    }
    let json = env
        .run(&["subscription", "show", "work", "--json"])
        .success();
    assert!(
        json.stdout.contains("evil\\u001b]0;pwned\\u0007\\u001b[2J"),
        "{}",
        json.stdout
    );
}

#[test]
fn every_duration_flag_is_bounded_like_the_config() {
    let env = TestEnv::new();
    env.add("work", &[]);
    let refused: [(&[&str], &str); 7] = [
        (
            &["lease", "acquire", "--ttl", "0s"],
            "too short: use at least 3s",
        ),
        (
            &["lease", "acquire", "--ttl", "1ms"],
            "too short: use at least 3s",
        ),
        (
            &["lease", "acquire", "--ttl", "100000000h"],
            "too long: use at most 365d",
        ),
        (
            &["lease", "acquire", "--wait", "400d"],
            "too long: use at most 365d",
        ),
        (
            &[
                "lease",
                "heartbeat",
                "00000000-0000-0000-0000-000000000000",
                "--ttl",
                "2s",
            ],
            "too short",
        ),
        (
            &["exec", "--ttl", "1ms", "--", "true"],
            "too short: use at least 3s",
        ),
        (
            &[
                "lease",
                "release",
                "00000000-0000-0000-0000-000000000000",
                "--outcome",
                "rate-limited",
                "--resets-at",
                "100000000h",
            ],
            "--resets-at",
        ),
    ];
    for (args, expected) in refused {
        let run = env.run(args).code(2);
        assert!(run.stderr.contains(expected), "{args:?}: {}", run.stderr);
    }
    // Nothing was leased.
    assert_eq!(
        env.run(&["lease", "list", "--json"])
            .success()
            .stdout
            .trim_end(),
        "[]"
    );
    env.run(&["lease", "acquire", "--ttl", "365d"]).success();
    env.run(&["subscription", "status"]).success();
}

#[test]
fn an_absurd_token_count_is_refused_at_release() {
    let env = TestEnv::new();
    env.add("work", &[]);
    let lease = env.acquire(&[]);
    let run = env
        .run(&[
            "lease",
            "release",
            &lease,
            "--usage",
            "input=9223372036854775807",
        ])
        .code(2);
    assert!(
        run.stderr.contains("is more than one release can report"),
        "{}",
        run.stderr
    );
    let cost = env
        .run(&[
            "lease",
            "release",
            &lease,
            "--usage",
            "input=1",
            "--cost-usd",
            "2000000",
        ])
        .code(2);
    assert!(
        cost.stderr.contains("is more than one release can report"),
        "{}",
        cost.stderr
    );
    // The lease is still held and releases normally.
    env.run(&["lease", "release", &lease, "--usage", "input=1000000000000"])
        .success();
    env.run(&["subscription", "status"]).success();
}

#[test]
fn a_nul_byte_in_a_credential_is_refused_at_add() {
    let env = TestEnv::new();
    let run = env
        .run_with_stdin(
            &[
                "subscription",
                "add",
                "--name",
                "work",
                "--credential-stdin",
            ],
            "sk-ant-oat01-CANARY\0tail\n",
        )
        .code(2);
    assert!(run.stderr.contains("holds a NUL byte"), "{}", run.stderr);
    assert!(!run.both().contains("CANARY"), "{}", run.both());
    assert_eq!(
        env.run(&["subscription", "list", "--json"])
            .success()
            .stdout
            .trim_end(),
        "[]"
    );
}

#[test]
fn a_subscription_only_at_its_cap_is_said_to_be_at_its_cap() {
    let env = TestEnv::new();
    env.add("solo", &["--max-concurrent", "1"]);
    let _held = env.acquire(&["--ttl", "2m"]);
    let run = env.run(&["lease", "acquire"]).code(75);
    assert!(
        run.stderr.contains(
            "solo is at its cap (1/1 leases); one of them ends by 09:32 (in 2m) at the latest"
        ),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("available again"), "{}", run.stderr);
}
