//! Warnings before the limit: a replayed status-line feed crossing an
//! alert threshold runs `notify_command` exactly once, with the alert as
//! JSON on stdin and no credential in its environment; `kage top` marks it.

use std::path::{Path, PathBuf};

use crate::env::TestEnv;

/// A canary credential in `kage statusline`'s environment (as under a
/// lease): it must never reach the notify command.
const CANARY: &str = "sk-ant-oat01-canary-notify-0123456789";

/// A `notify_command` that appends its stdin to `calls.jsonl` and its
/// environment to `env.txt`, beside the script.
fn notify_script(env: &TestEnv) -> PathBuf {
    let script = env.root().join("notify.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\ndir=$(dirname \"$0\")\ncat >> \"$dir/calls.jsonl\"\nenv >> \"$dir/env.txt\"\necho --- >> \"$dir/env.txt\"\n",
    )
    .unwrap();
    make_executable(&script);
    script
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mut permissions = std::fs::metadata(path).unwrap().permissions();
    permissions.set_mode(0o755);
    std::fs::set_permissions(path, permissions).unwrap();
}

fn calls(env: &TestEnv) -> Vec<serde_json::Value> {
    std::fs::read_to_string(env.root().join("calls.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON record per call"))
        .collect()
}

/// A status-line input with the 5-hour window at `five` percent.
fn feed(five: u32, resets_at: u64) -> String {
    format!(
        r#"{{"session_id":"S","rate_limits":{{"five_hour":{{"used_percentage":{five},"resets_at":{resets_at}}},"seven_day":{{"used_percentage":12,"resets_at":"2025-06-05T00:00:00Z"}}}}}}"#
    )
}

/// 2025-06-02T12:00:00Z, after the test's fixed now (09:30).
const RESET: u64 = 1_748_865_600;

fn world() -> TestEnv {
    let mut env = TestEnv::new();
    let script = notify_script(&env);
    env.write_config(&format!(
        "[subscriptions]\nnotify_command = [{:?}]\nalert_thresholds = [0.5, 0.8, 0.95]\n",
        script.display().to_string()
    ));
    env.add("work-premium", &[]);
    let lease = env.acquire(&[]);
    env.set_env("KAGE_SUBSCRIPTION", "work-premium");
    env.set_env("KAGE_LEASE_ID", &lease);
    env.set_env("CLAUDE_CODE_OAUTH_TOKEN", CANARY);
    env.set_env("ANTHROPIC_API_KEY", CANARY);
    env
}

#[test]
fn a_threshold_crossing_in_a_replayed_feed_notifies_exactly_once() {
    let env = world();
    // Claude Code's status line after each response, as a session would
    // feed it: under 50 %, across it once, a dip, and on below 80 %.
    for five in [12, 31, 47, 52, 58, 63, 49, 66, 71] {
        env.run_with_stdin(&["statusline"], &feed(five, RESET))
            .success();
    }
    let told = calls(&env);
    assert_eq!(told.len(), 1, "exactly one notification: {told:?}");
    let alert = &told[0];
    assert_eq!(alert["type"], "quota_alert");
    assert_eq!(alert["data"]["subscription"], "work-premium");
    assert_eq!(alert["data"]["window"], "five_hour");
    assert_eq!(alert["data"]["threshold"], 0.5);
    assert_eq!(alert["data"]["utilization"], 0.52);
    assert_eq!(alert["data"]["resets_at"], "2025-06-02T12:00:00Z");
    assert_eq!(
        alert["data"]["message"],
        "work-premium passed 50% of its 5-hour quota (52% used)"
    );

    // The same feed replayed (another session on the same subscription)
    // tells nothing new.
    for five in [52, 58, 63] {
        env.run_with_stdin(&["statusline"], &feed(five, RESET))
            .success();
    }
    assert_eq!(calls(&env).len(), 1);

    // Never a credential in the command's environment.
    let environment = std::fs::read_to_string(env.root().join("env.txt")).unwrap();
    assert!(!environment.contains(CANARY), "{environment}");
    assert!(!environment.contains("CLAUDE_CODE_OAUTH_TOKEN"));
    assert!(!environment.contains("KAGE_LEASE_ID"));
    assert!(environment.contains("PATH="), "{environment}");

    // 95 % after a jump tells only the highest threshold crossed.
    env.run_with_stdin(&["statusline"], &feed(96, RESET))
        .success();
    let told = calls(&env);
    assert_eq!(told.len(), 2, "{told:?}");
    assert_eq!(told[1]["data"]["threshold"], 0.95);

    // The next 5-hour window starts afresh.
    env.run_with_stdin(&["statusline"], &feed(55, RESET + 5 * 3600))
        .success();
    assert_eq!(calls(&env).len(), 3);

    // `kage top` marks the subscription and names the newest alert.
    let top = env.run(&["top", "--once"]).success();
    assert!(
        top.stdout.contains("! work-premium passed"),
        "{}",
        top.stdout
    );
}

#[test]
fn concurrent_status_lines_notify_once() {
    let env = world();
    let children: Vec<_> = (0..6)
        .map(|_| {
            let mut child = env
                .std_command(&["statusline"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("kage runs");
            use std::io::Write as _;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(feed(83, RESET).as_bytes())
                .unwrap();
            child
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let told = calls(&env);
    assert_eq!(
        told.len(),
        1,
        "one notification for six processes: {told:?}"
    );
    assert_eq!(told[0]["data"]["threshold"], 0.8);
}

#[test]
fn a_slow_notify_command_is_stopped_and_the_status_line_still_prints() {
    let mut env = world();
    let script = env.root().join("slow.sh");
    std::fs::write(&script, "#!/bin/sh\nsleep 30\n").unwrap();
    make_executable(&script);
    env.write_config(&format!(
        "[subscriptions]\nnotify_command = [{:?}]\nnotify_timeout = \"300ms\"\n",
        script.display().to_string()
    ));
    env.set_env("RUST_LOG", "warn");
    let started = std::time::Instant::now();
    let run = env
        .run_with_stdin(&["statusline"], &feed(60, RESET))
        .success();
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert_eq!(run.stdout, "kage · work-premium · 5h 60% · 7d 12%\n");
    assert!(run.stderr.contains("was stopped"), "{}", run.stderr);
}
