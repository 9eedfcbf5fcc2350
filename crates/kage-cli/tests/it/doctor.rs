//! `kage doctor`: a healthy pool exits 0; a broken credential command, a
//! corrupt database and a config typo each exit 1 naming the problem and
//! its fix; `--json` is one document; no credential is ever printed.

use std::os::unix::fs::PermissionsExt;

use crate::commands::document;
use crate::env::TestEnv;

const SECRET: &str = "sk-ant-oat01-doctor-canary-secret";

/// A stand-in `claude` on PATH that only answers `--version`.
fn with_fake_claude(env: &mut TestEnv) {
    let bin = env.root().join("bin");
    std::fs::create_dir_all(&bin).expect("bin folder");
    let claude = bin.join("claude");
    std::fs::write(&claude, "#!/bin/sh\necho '2.0.0 (Claude Code)'\n").expect("fake claude");
    std::fs::set_permissions(&claude, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    env.set_env("PATH", &path);
}

fn healthy_env() -> TestEnv {
    let mut env = TestEnv::new();
    with_fake_claude(&mut env);
    env.run_with_stdin(
        &[
            "subscription",
            "add",
            "--name",
            "personal",
            "--credential-stdin",
        ],
        &format!("{SECRET}\n"),
    )
    .success();
    env
}

#[test]
fn a_healthy_pool_passes() {
    let env = healthy_env();
    let run = env.run(&["doctor"]).success();
    for expected in [
        "ok       config",
        "ok       database",
        "schema version",
        "quick check ok",
        "ok       keychain",
        "the insecure test file store answers",
        "ok       credential personal",
        "ok       agent claude",
        "2.0.0 (Claude Code)",
        "ok       leases",
    ] {
        assert!(run.stdout.contains(expected), "{expected}:\n{}", run.both());
    }
    assert!(!run.both().contains(SECRET), "the credential was printed");
    let json = env.run(&["doctor", "--json"]).success();
    let report = document(&json.stdout);
    assert_eq!(report["healthy"], true);
    assert_eq!(report["problems"], 0);
    assert!(
        report["checks"]
            .as_array()
            .is_some_and(|checks| checks.len() >= 6)
    );
}

#[test]
fn a_broken_credential_command_is_named_with_its_fix() {
    let env = healthy_env();
    env.run(&[
        "subscription",
        "add",
        "--name",
        "work",
        "--credential-command",
        "false",
    ])
    .success();
    let run = env.run(&["doctor"]).code(1);
    assert!(
        run.stdout.contains("PROBLEM  credential work")
            && run.stdout.contains("fix: run the command yourself"),
        "{}",
        run.both()
    );
    // The command is named once, by the error itself.
    assert_eq!(run.stdout.matches("`false`").count(), 1, "{}", run.both());
    assert!(
        run.stdout.contains("ok       credential personal"),
        "{}",
        run.both()
    );
    assert!(
        run.stderr.contains("doctor found 1 problem(s)"),
        "{}",
        run.stderr
    );
    let json = env.run(&["doctor", "--json"]).code(1);
    let report = document(&json.stdout);
    assert_eq!(report["healthy"], false);
    assert_eq!(report["problems"], 1);
    assert!(!json.both().contains(SECRET), "the credential was printed");
}

#[test]
fn a_corrupt_database_is_named_with_its_fix() {
    let env = healthy_env();
    let database = env.root().join("data/kage/kage.db");
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", database.display()));
    }
    std::fs::write(
        &database,
        "this is not a SQLite database, only text ".repeat(200),
    )
    .expect("corrupt the database");
    let run = env.run(&["doctor"]).code(1);
    assert!(
        run.stdout.contains("PROBLEM  database")
            && run.stdout.contains("kage.db cannot be read")
            && run
                .stdout
                .contains("fix: the file is damaged or is not a Kage database"),
        "{}",
        run.both()
    );
}

#[test]
fn a_config_typo_is_named_with_its_fix() {
    let env = healthy_env();
    env.write_config("[subscriptions]\nlease_tll = \"5m\"\n");
    let run = env.run(&["doctor"]).code(1);
    assert!(
        run.stdout.contains("PROBLEM  config")
            && run.stdout.contains("unknown key `lease_tll`")
            && run.stdout.contains("config.toml:2:1")
            && run
                .stdout
                .contains("fix: edit $TEST_ENV/config/kage/config.toml"),
        "{}",
        run.both()
    );
}

/// A KAGE_CONFIG that names no file is a problem, not the defaults.
#[test]
fn a_config_path_that_names_no_file_is_a_problem() {
    let mut env = healthy_env();
    env.set_env("KAGE_CONFIG", "typo.toml");
    let run = env.run(&["doctor"]).code(1);
    assert!(
        run.stdout.contains("PROBLEM  config")
            && run
                .stdout
                .contains("typo.toml: no such file (named by KAGE_CONFIG)")
            && run
                .stdout
                .contains("fix: point KAGE_CONFIG at the file you meant"),
        "{}",
        run.both()
    );
}

#[test]
fn a_missing_claude_is_a_problem() {
    let mut env = TestEnv::new();
    env.set_env("PATH", "/nonexistent");
    let run = env.run(&["doctor"]).code(1);
    assert!(
        run.stdout.contains("PROBLEM  agent claude")
            && run.stdout.contains("`claude` is not on PATH")
            && run
                .stdout
                .contains("npm install -g @anthropic-ai/claude-code"),
        "{}",
        run.both()
    );
    // A pool that does not exist yet is not a problem, and is not created.
    assert!(run.stdout.contains("does not exist yet"), "{}", run.both());
    assert!(!env.root().join("data/kage/kage.db").exists());
}

/// A pool on PostgreSQL: the round trip, and the clock against the server's
/// (a fixed test clock far in the past is a problem; the real one is not).
#[test]
fn postgres_pool_round_trip_and_clock_skew() {
    let Some(admin_url) = kage_testkit::postgres_url("postgres_pool_round_trip_and_clock_skew")
    else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let name = format!("kage_test_{}", uuid::Uuid::new_v4().simple());
    let admin = |sql: String| {
        runtime.block_on(async {
            use sqlx::{Connection, Executor};
            let mut connection = sqlx::PgConnection::connect(&admin_url)
                .await
                .expect("connect to the test server");
            connection.execute(sql.as_str()).await.expect("admin SQL");
            connection.close().await.expect("close");
        });
    };
    admin(format!("CREATE DATABASE \"{name}\""));
    let base = admin_url
        .rsplit_once('/')
        .map_or(admin_url.as_str(), |(base, _)| base);
    let url = format!("{base}/{name}");

    let mut env = TestEnv::new();
    with_fake_claude(&mut env);
    env.set_env("KAGE_DATABASE_URL", &url);
    env.add("personal", &[]);
    let skewed = env.run(&["doctor"]);
    env.real_clock();
    let real = env.run(&["doctor"]);
    admin(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));

    let skewed = skewed.code(1);
    assert!(
        skewed.stdout.contains("(round trip ok): schema version")
            && skewed.stdout.contains("PROBLEM  clock")
            && skewed.stdout.contains("fix: sync the clock"),
        "{}",
        skewed.both()
    );
    let real = real.success();
    assert!(
        real.stdout.contains("ok       clock")
            && real.stdout.contains("of the PostgreSQL server's"),
        "{}",
        real.both()
    );
}
