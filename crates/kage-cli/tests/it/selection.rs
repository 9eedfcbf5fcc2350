//! Selection that holds up in a real day (issue 10): least-used over the
//! usage window, model-scoped limits, unreadable credentials that never
//! stall the pool, and `kage subscription test`.

use crate::env::TestEnv;

on_both_backends!(
    least_used_compares_the_tokens_of_the_last_five_hours,
    explain_gives_the_lease_count_as_the_reason,
    a_seven_day_opus_limit_passes_the_subscription_over_for_opus_only,
    an_unreadable_credential_is_skipped_marked_and_shown,
    subscription_test_reads_every_credential_and_fails_on_an_unreadable_one,
);

/// The one JSON document a `--json` command printed.
fn document(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout).unwrap_or_else(|error| panic!("not JSON ({error}): {stdout}"))
}

/// The entry named `name` of a JSON array.
fn named<'a>(items: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    items
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {items}"))
        .iter()
        .find(|item| item["name"] == name)
        .unwrap_or_else(|| panic!("{name} in {items}"))
}

fn least_used_compares_the_tokens_of_the_last_five_hours(mut env: TestEnv) {
    env.write_config("[subscriptions]\ndefault_priority = \"least-used\"\n");
    env.add("a", &["--priority", "200"]);
    env.add("b", &["--priority", "150"]);
    env.add("c", &["--priority", "100"]);
    // This morning: a spends the most, b some; c nothing.
    let first = env.spend(&[], &["--usage", "input=50000,output=5000"]);
    assert_eq!(first, "a", "all idle: ties go by priority");
    env.set_now("2025-06-02T09:31:00Z");
    let second = env.spend(&[], &["--usage", "input=1000"]);
    assert_eq!(second, "b", "a spent more");

    // Two hours later: far beyond rate_limit_window (1m), inside usage_window (5h).
    env.set_now("2025-06-02T11:30:00Z");
    let explain = env.run(&["subscription", "explain"]).success();
    assert!(
        explain.stdout.contains("Would use: c\n"),
        "{}",
        explain.stdout
    );
    let lines = document(
        &env.run(&["subscription", "explain", "--json"])
            .success()
            .stdout,
    );
    let order: Vec<&str> = lines
        .as_array()
        .expect("an array")
        .iter()
        .map(|line| line["name"].as_str().expect("a name"))
        .collect();
    assert_eq!(order, ["c", "b", "a"]);
    assert_eq!(named(&lines, "a")["window_tokens"], 55_000);

    // Six hours after the usage it no longer counts: priority decides again.
    env.set_now("2025-06-02T15:31:00Z");
    let later = env.run(&["subscription", "explain"]).success();
    assert!(later.stdout.contains("Would use: a\n"), "{}", later.stdout);
}

fn explain_gives_the_lease_count_as_the_reason(env: TestEnv) {
    env.add("a", &["--priority", "200"]);
    env.add("b", &["--priority", "100"]);
    let _held = env.acquire(&[]);
    let explain = env.run(&["subscription", "explain"]).success();
    assert!(
        explain.stdout.contains("Would use: b\n"),
        "{}",
        explain.stdout
    );
    assert!(
        explain.stdout.contains(
            "eligible, ranked #2: 1 live lease; parallel work goes to fewer leases first"
        ),
        "{}",
        explain.stdout
    );
}

fn a_seven_day_opus_limit_passes_the_subscription_over_for_opus_only(env: TestEnv) {
    env.add("work", &["--priority", "200"]);
    env.add("spare", &["--priority", "100"]);
    // Replay the rejection Claude Code reports: rateLimitType seven_day_opus.
    let limited = env.spend(
        &[],
        &[
            "--outcome",
            "exhausted",
            "--window",
            "seven_day_opus",
            "--resets-at",
            "2025-06-03T14:00:00Z",
        ],
    );
    assert_eq!(limited, "work");

    let opus = env.run(&[
        "lease",
        "acquire",
        "--holder",
        "test",
        "--model",
        "claude-opus-4-5",
    ]);
    assert!(
        opus.success().stdout.contains(" spare"),
        "an Opus request goes elsewhere"
    );
    let sonnet = env
        .run(&[
            "lease",
            "acquire",
            "--holder",
            "test",
            "--model",
            "claude-sonnet-4-5",
        ])
        .success();
    assert!(sonnet.stdout.contains(" work"), "{}", sonnet.stdout);

    // With no other subscription, the Opus request says why and when.
    env.run(&["subscription", "disable", "spare"]).success();
    let refused = env.run(&["lease", "acquire", "--model", "opus"]).code(75);
    assert!(
        refused
            .stderr
            .contains("work: opus limit until Tue 3 Jun 14:00"),
        "{}",
        refused.stderr
    );
    let explain = env
        .run(&["subscription", "explain", "--model", "opus"])
        .success();
    assert!(
        explain.stdout.contains("opus limit until Tue 3 Jun 14:00"),
        "{}",
        explain.stdout
    );

    let status = env.run(&["subscription", "status"]).success();
    assert!(
        status
            .stdout
            .contains("active · opus exhausted until Tue 3 Jun 14:00"),
        "{}",
        status.stdout
    );
    let json = document(
        &env.run(&["subscription", "status", "--json"])
            .success()
            .stdout,
    );
    let work = named(&json["subscriptions"], "work");
    assert_eq!(work["state"], "active", "{work}");
    assert_eq!(work["model_limits"][0]["family"], "opus", "{work}");
    assert_eq!(
        work["model_limits"][0]["until"], "2025-06-03T14:00:00Z",
        "{work}"
    );
    let metrics = env.run(&["metrics"]).success();
    assert!(
        metrics.stdout.contains(
            "kage_subscription_model_limit_until_timestamp_seconds{subscription=\"work\",model=\"opus\"} 1748959200"
        ),
        "{}",
        metrics.stdout
    );
}

fn an_unreadable_credential_is_skipped_marked_and_shown(env: TestEnv) {
    env.run(&[
        "subscription",
        "add",
        "--name",
        "broken",
        "--priority",
        "200",
        "--credential-command",
        "false",
    ])
    .success();
    env.add("good", &["--priority", "100"]);

    // As the issue checks it: the command runs on the next one, exit 0.
    let plain = env.run(&["exec", "--", "true"]).success();
    assert!(
        plain.stderr.contains("kage: leased good for `true`"),
        "{}",
        plain.stderr
    );
    assert!(
        plain.stderr.contains(
            "broken: credential command `false` for subscription broken failed (exit status 1)"
        ),
        "{}",
        plain.stderr
    );
    assert!(!plain.both().contains("sk-ant-oat01-good-secret"));

    let status = env.run(&["subscription", "status"]).success();
    assert!(
        status
            .stdout
            .contains("unhealthy: credential unreadable: command `false` failed"),
        "{}",
        status.stdout
    );
    // The next exec goes straight to the working one, with its credential.
    let again = env
        .run(&["exec", "--", "sh", "-c", "printf %s \"$KAGE_SUBSCRIPTION\""])
        .success();
    assert_eq!(again.stdout.trim(), "good");
    assert!(!again.stderr.contains("broken"), "{}", again.stderr);
}

fn subscription_test_reads_every_credential_and_fails_on_an_unreadable_one(env: TestEnv) {
    env.add("good", &[]);
    let fine = env.run(&["subscription", "test"]).success();
    assert!(
        fine.stdout.starts_with("good  readable    OS keychain"),
        "{}",
        fine.stdout
    );
    assert!(!fine.both().contains("sk-ant-oat01-good-secret"));

    env.run(&[
        "subscription",
        "add",
        "--name",
        "viaenv",
        "--credential-env",
        "KAGE_TEST_UNSET_VARIABLE",
    ])
    .success();
    let run = env.run(&["subscription", "test"]).code(1);
    assert!(run.stdout.contains("viaenv  UNREADABLE"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("fix: export KAGE_TEST_UNSET_VARIABLE in the environment Kage runs in"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("1 of 2 credentials cannot be read"),
        "{}",
        run.stderr
    );
    assert!(!run.both().contains("sk-ant-oat01-good-secret"));

    let json = env
        .run(&["subscription", "test", "good", "--json"])
        .success();
    assert_eq!(
        document(&json.stdout),
        serde_json::json!([
            {"name": "good", "source": "keychain", "readable": true, "error": null}
        ])
    );
    // Nothing was leased and no state changed.
    let status = document(
        &env.run(&["subscription", "status", "--json"])
            .success()
            .stdout,
    );
    for row in status["subscriptions"].as_array().expect("subscriptions") {
        assert_ne!(row["state"], "unhealthy", "{status}");
    }
}
