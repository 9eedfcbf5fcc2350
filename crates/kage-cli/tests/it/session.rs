//! `kage statusline` and `kage claude` (with a stand-in `claude` script):
//! the status line records the live quota and never breaks, a limit in the
//! transcript moves the conversation to the next subscription, and two
//! sessions in one repository each record their own usage only.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::env::{CLAUDE_SESSION_SH, TestEnv, running};

const SAMPLE_TRANSCRIPT: &str =
    include_str!("../../../kage-claude-code/tests/fixtures/transcript-session-limit-2.1.197.jsonl");

on_both_backends!(
    the_status_line_records_the_quota_and_prints_one_line,
    status_line_reports_are_the_windows_least_used_and_status_read,
);

fn quota(five: u32, seven: u32) -> String {
    format!(
        r#"{{"session_id":"S","rate_limits":{{"five_hour":{{"used_percentage":{five},"resets_at":1748867400}},"seven_day":{{"used_percentage":{seven},"resets_at":"2025-06-05T00:00:00Z"}}}}}}"#
    )
}

fn status_of(env: &TestEnv, name: &str) -> serde_json::Value {
    let status = env.run(&["subscription", "status", "--json"]).success();
    let document: serde_json::Value = serde_json::from_str(&status.stdout).expect("one document");
    document["subscriptions"]
        .as_array()
        .expect("subscriptions")
        .iter()
        .find(|row| row["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("{name} in\n{}", status.stdout))
}

fn leased(env: &mut TestEnv, name: &str) {
    let lease = env.acquire(&[]);
    env.set_env("KAGE_SUBSCRIPTION", name);
    env.set_env("KAGE_LEASE_ID", &lease);
}

fn the_status_line_records_the_quota_and_prints_one_line(mut env: TestEnv) {
    env.add("work-premium", &[]);
    leased(&mut env, "work-premium");
    let run = env
        .run_with_stdin(&["statusline"], &quota(42, 18))
        .success();
    assert_eq!(run.stdout, "kage · work-premium · 5h 42% · 7d 18%\n");
    assert_eq!(run.stderr, "");
    assert_eq!(status_of(&env, "work-premium")["approaching_limit"], false);

    // Past the config's approaching_threshold (0.8): selection sees it.
    let run = env
        .run_with_stdin(&["statusline"], &quota(30, 85))
        .success();
    assert_eq!(run.stdout, "kage · work-premium · 5h 30% · 7d 85%\n");
    assert_eq!(status_of(&env, "work-premium")["approaching_limit"], true);
}

/// `--json`: one document with the subscription, both windows and the
/// line; the quota is recorded all the same.
#[test]
fn the_status_line_as_one_json_document() {
    let mut env = TestEnv::new();
    env.add("work-premium", &[]);
    leased(&mut env, "work-premium");
    let run = env
        .run_with_stdin(&["statusline", "--json"], &quota(30, 85))
        .success();
    let document: serde_json::Value = serde_json::from_str(&run.stdout).expect("one document");
    assert_eq!(document["subscription"], "work-premium");
    assert_eq!(document["five_hour"]["used_percentage"], 30.0);
    assert_eq!(document["seven_day"]["used_percentage"], 85.0);
    assert_eq!(document["seven_day"]["resets_at"], "2025-06-05T00:00:00Z");
    assert_eq!(document["line"], "kage · work-premium · 5h 30% · 7d 85%");
    assert_eq!(status_of(&env, "work-premium")["approaching_limit"], true);

    // Outside a lease, with no quota yet: nulls, and still a document.
    let env = TestEnv::new();
    let run = env
        .run_with_stdin(&["statusline", "--json"], "{}")
        .success();
    let document: serde_json::Value = serde_json::from_str(&run.stdout).expect("one document");
    assert_eq!(document["subscription"], serde_json::Value::Null);
    assert_eq!(document["five_hour"], serde_json::Value::Null);
    assert_eq!(document["line"], "kage");
}

#[test]
fn the_first_call_has_no_quota_and_records_nothing() {
    let mut env = TestEnv::new();
    env.add("work-premium", &[]);
    leased(&mut env, "work-premium");
    let run = env
        .run_with_stdin(
            &["statusline"],
            r#"{"session_id":"S","model":{"id":"claude-sonnet-5"}}"#,
        )
        .success();
    assert_eq!(run.stdout, "kage · work-premium\n");
    assert_eq!(status_of(&env, "work-premium")["approaching_limit"], false);
}

/// Put `body` on `PATH` as `claude`, logging to `$KAGE_FAKE_LOG` (the path
/// returned), with its own `CLAUDE_CONFIG_DIR`.
fn claude_stand_in(env: &mut TestEnv, body: &str) -> PathBuf {
    write_script(env, "claude", body);
    let log = env.root().join("claude.log");
    let path = format!(
        "{}:{}",
        env.root().join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    env.set_env("PATH", &path);
    env.set_env("KAGE_FAKE_LOG", &log.display().to_string());
    env.set_env(
        "CLAUDE_CONFIG_DIR",
        &env.root().join("claude-config").display().to_string(),
    );
    log
}

fn write_script(env: &TestEnv, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let bin = env.root().join("bin");
    std::fs::create_dir_all(&bin).expect("bin folder");
    let path = bin.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

#[test]
fn the_users_status_line_runs_after_kages_part() {
    let mut env = TestEnv::new();
    env.add("work-premium", &[]);
    leased(&mut env, "work-premium");
    // A plain command (no shell needed) gets the same input on stdin.
    let script = write_script(&env, "line", r#"input=$(cat); echo "mine ${#input}""#);
    env.set_env("KAGE_USER_STATUSLINE", &script.display().to_string());
    let input = quota(42, 18);
    let run = env.run_with_stdin(&["statusline"], &input).success();
    assert_eq!(
        run.stdout,
        format!(
            "kage · work-premium · 5h 42% · 7d 18% · mine {}\n",
            input.len()
        )
    );
    // A shell command runs through sh, as Claude Code runs it.
    env.set_env(
        "KAGE_USER_STATUSLINE",
        "echo first | tr a-z A-Z; echo second",
    );
    let run = env.run_with_stdin(&["statusline"], &input).success();
    assert_eq!(
        run.stdout,
        "kage · work-premium · 5h 42% · 7d 18% · FIRST\nsecond\n"
    );
}

#[test]
fn without_a_lease_the_status_line_is_harmless() {
    let mut env = TestEnv::new();
    env.add("work-premium", &[]);
    let run = env
        .run_with_stdin(&["statusline"], &quota(42, 18))
        .success();
    assert_eq!(run.stdout, "kage\n");
    assert_eq!(run.stderr, "");
    env.set_env("KAGE_USER_STATUSLINE", "echo only mine");
    let run = env
        .run_with_stdin(&["statusline"], "not json at all")
        .success();
    assert_eq!(run.stdout, "only mine\n");

    // A lease of a subscription that is gone, and a database that cannot be opened.
    env.set_env("KAGE_SUBSCRIPTION", "removed-long-ago");
    env.set_env("KAGE_LEASE_ID", "0195f0c4-0000-7000-8000-000000000000");
    let run = env
        .run_with_stdin(&["statusline"], &quota(42, 18))
        .success();
    assert_eq!(
        run.stdout,
        "kage · removed-long-ago · 5h 42% · 7d 18% · only mine\n"
    );
    assert_eq!(run.stderr, "");
    std::fs::write(env.root().join("not-a-db"), "plain text").expect("write");
    env.set_env(
        "KAGE_DATABASE_PATH",
        &env.root().join("not-a-db").display().to_string(),
    );
    let run = env
        .run_with_stdin(&["statusline"], &quota(42, 18))
        .success();
    assert_eq!(
        run.stdout,
        "kage · removed-long-ago · 5h 42% · 7d 18% · only mine\n"
    );
    assert_eq!(run.stderr, "");
}

/// Logs the stand-in's subscription and arguments to `$KAGE_FAKE_LOG`.
const LOG_ARGUMENTS: &str = r#"
log="$KAGE_FAKE_LOG"
printf '%s' "$KAGE_SUBSCRIPTION" >> "$log"
for argument in "$@"; do printf ' [%s]' "$argument" >> "$log"; done
echo >> "$log"
"#;

/// A `claude` stand-in: logs its subscription and arguments; the first run
/// writes the sample transcript (a turn, then the 5-hour limit on the
/// second) to its session and waits to be stopped; a `--resume` run
/// answers and exits.
const FAKE_CLAUDE: &str = r#"
case " $* " in
  *" --resume "*)
    echo '{"type":"assistant","message":{"model":"claude-sonnet-5","content":[{"type":"text","text":"Hi again!"}]}}' >> "$dir/$session.jsonl"
    exit 0;;
esac
sleep 30 > /dev/null 2>&1 < /dev/null &
trap 'kill $!; echo stopped >> "$log"; exit 143' TERM
cat "$KAGE_FAKE_TRANSCRIPT" >> "$dir/$session.jsonl"
wait
echo "not stopped" >> "$log"
"#;

fn fake_claude(env: &mut TestEnv) -> PathBuf {
    let log = claude_stand_in(
        env,
        &format!("{CLAUDE_SESSION_SH}{LOG_ARGUMENTS}{FAKE_CLAUDE}"),
    );
    let transcript = env.root().join("sample.jsonl");
    std::fs::write(&transcript, SAMPLE_TRANSCRIPT).expect("transcript");
    env.set_env("KAGE_FAKE_TRANSCRIPT", &transcript.display().to_string());
    env.write_config("[subscriptions]\ndefault_priority = \"priority\"\n");
    env.add("work-premium", &["--priority", "200"]);
    env.add("personal", &["--priority", "100"]);
    log
}

/// The stand-in's log, one line a run, with the `--settings` JSON as
/// `[SETTINGS]` and the session Kage named (a UUID v4) as `GENERATED`.
fn log_lines(log: &Path) -> Vec<String> {
    let mut text = std::fs::read_to_string(log).expect("the stand-in ran");
    let marker = "[--session-id] [";
    let ids: Vec<String> = text
        .match_indices(marker)
        .filter_map(|(at, _)| text[at + marker.len()..].split(']').next())
        .map(str::to_owned)
        .collect();
    for id in ids {
        let parsed = uuid::Uuid::parse_str(&id)
            .unwrap_or_else(|error| panic!("the session id {id:?} is no UUID: {error}"));
        assert_eq!(parsed.get_version_num(), 4, "{id}");
        assert_eq!(parsed.hyphenated().to_string(), id, "hyphenated, lowercase");
        text = text.replace(&id, "GENERATED");
    }
    text.lines()
        .map(|line| {
            // The --settings JSON names a temporary file; keep its shape only.
            match line.find("[{\"statusLine\"") {
                Some(start) => {
                    let end = line[start..]
                        .find("}}]")
                        .map_or(line.len(), |end| start + end + 3);
                    format!("{}[SETTINGS]{}", &line[..start], &line[end..])
                }
                None => line.to_owned(),
            }
        })
        .collect()
}

#[test]
fn a_limit_moves_the_conversation_to_the_next_subscription() {
    let mut env = TestEnv::new();
    let log = fake_claude(&mut env);
    let run = env.run(&["claude", "--model", "opus", "say hi"]).success();
    assert_eq!(
        log_lines(&log),
        vec![
            "work-premium [--settings] [SETTINGS] [--session-id] [GENERATED] [--model] [opus] [say hi]",
            "stopped",
            "personal [--settings] [SETTINGS] [--resume] [GENERATED] [--model] [opus] [--] [say hi again]",
        ]
    );
    assert!(
        run.stderr.contains(
            "kage: work-premium hit its 5-hour limit, resets 23:32; continuing on personal\n"
        ),
        "{}",
        run.stderr
    );
    let exhausted = status_of(&env, "work-premium");
    assert_eq!(exhausted["state"], "exhausted", "{exhausted}");
    assert_eq!(status_of(&env, "personal")["state"], "active");
    let leases = env.run(&["lease", "list", "--json"]).success();
    assert_eq!(leases.stdout.trim_end(), "[]");
}

#[test]
fn without_failover_the_limit_is_recorded_and_the_session_stays() {
    let mut env = TestEnv::new();
    let log = fake_claude(&mut env);
    // The stand-in waits to be stopped; send SIGTERM once the limit is recorded.
    let child = env
        .std_command(&["exec", "--no-failover", "--", "claude", "say hi"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kage runs");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let status = status_of(&env, "work-premium");
        if status["state"] == "exhausted" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never recorded: {status}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("signal");
    let output = child.wait_with_output().expect("kage ends");
    assert_eq!(output.status.code(), Some(143));
    assert_eq!(
        log_lines(&log),
        vec![
            "work-premium [--settings] [SETTINGS] [--session-id] [GENERATED] [say hi]",
            "stopped"
        ]
    );
    assert!(!String::from_utf8_lossy(&output.stderr).contains("continuing on"));
}

/// A `claude` stand-in that writes its pid and every variable holding a
/// token to `$KAGE_FAKE_LOG`, then runs until it is stopped.
const ENV_CLAUDE: &str = r#"
{ echo "$$"; env | grep 'sk-ant-' | sort; echo end; } > "$KAGE_FAKE_LOG.tmp"
mv "$KAGE_FAKE_LOG.tmp" "$KAGE_FAKE_LOG"
while :; do sleep 0.1; done
"#;

/// `kage claude` started on subscriptions that read their tokens from
/// `TOK_A` and `TOK_B`; returns kage's process and the stand-in's log (its
/// pid, then the token variables it sees).
fn claude_on_env_tokens() -> (TestEnv, std::process::Child, Vec<String>) {
    let mut env = TestEnv::new();
    let log = claude_stand_in(&mut env, ENV_CLAUDE);
    env.set_env("TOK_A", "sk-ant-oat01-token-of-a");
    env.set_env("TOK_B", "sk-ant-oat01-token-of-b");
    for (name, variable, priority) in [("a", "TOK_A", "200"), ("b", "TOK_B", "100")] {
        env.run(&[
            "subscription",
            "add",
            "--name",
            name,
            "--priority",
            priority,
            "--credential-env",
            variable,
        ])
        .success();
    }
    let kage = env
        .std_command(&["claude"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("kage starts");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !log.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the stand-in never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let lines = std::fs::read_to_string(&log)
        .expect("the log")
        .lines()
        .map(str::to_owned)
        .collect();
    (env, kage, lines)
}

#[test]
fn kage_claude_gives_claude_exactly_one_credential_and_kill_9_ends_it() {
    let (_env, mut kage, lines) = claude_on_env_tokens();
    let claude: i32 = lines[0].parse().expect("the stand-in's pid");
    assert_eq!(
        lines[1..],
        [
            "CLAUDE_CODE_OAUTH_TOKEN=sk-ant-oat01-token-of-a".to_owned(),
            "end".to_owned()
        ],
        "TOK_A and TOK_B are removed, the leased token is the only one"
    );
    assert!(running(claude));
    kage.kill().expect("kill -9 kage");
    kage.wait().expect("kage ends");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    while running(claude) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let alive = running(claude);
    if alive {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(claude),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    assert!(!alive, "claude ({claude}) outlived kage claude");
}

/// A `claude` stand-in for a lost lease: the first run writes a prompt to
/// its session and runs until stopped; a `--resume` run logs and exits.
const LONG_CLAUDE: &str = r#"
case " $* " in *" --resume "*) exit 0;; esac
trap 'echo stopped >> "$log"; exit 143' TERM
echo '{"type":"user","message":{"role":"user","content":"refactor it"}}' >> "$dir/$session.jsonl"
while :; do sleep 0.1; done
"#;

#[test]
fn a_lease_lost_to_a_removal_moves_the_session_on() {
    let mut env = TestEnv::new();
    env.real_clock();
    let log = claude_stand_in(
        &mut env,
        &format!("{CLAUDE_SESSION_SH}{LOG_ARGUMENTS}{LONG_CLAUDE}"),
    );
    env.write_config("[subscriptions]\ndefault_priority = \"priority\"\n");
    env.add("solo", &["--priority", "200"]);
    env.add("spare", &["--priority", "100"]);
    let mut kage = env
        .std_command(&["claude", "--ttl", "3s"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kage starts");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !std::fs::read_to_string(&log).is_ok_and(|text| text.contains("solo")) {
        assert!(std::time::Instant::now() < deadline, "claude never started");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // Let the watch see the session, then remove the subscription: the next
    // heartbeat finds the lease on a removed subscription.
    std::thread::sleep(std::time::Duration::from_millis(300));
    env.run(&["subscription", "remove", "solo", "--force"])
        .success();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(status) = kage.try_wait().expect("kage's status") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = kage.kill();
            panic!("kage claude did not move on: {:?}", log_lines(&log));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut kage.stderr.take().expect("stderr"), &mut stderr)
        .expect("stderr");
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_eq!(
        log_lines(&log),
        vec![
            "solo [--settings] [SETTINGS] [--session-id] [GENERATED]",
            "stopped",
            "spare [--settings] [SETTINGS] [--resume] [GENERATED]",
        ]
    );
    assert!(
        stderr.contains("the lease on solo was lost") && stderr.contains("continuing on spare"),
        "{stderr}"
    );
    // The lease on the removed subscription was released, not left to expire.
    let leases = env.run(&["lease", "list", "--json"]).success();
    assert_eq!(leases.stdout.trim_end(), "[]");
}

/// `kage statusline` for `name` with the status line's `input`, under a
/// lease id that holds no live lease (so spread does not decide).
fn report_quota(env: &TestEnv, name: &str, input: &str) {
    let mut command = env.command(&["statusline"]);
    command
        .env("KAGE_SUBSCRIPTION", name)
        .env("KAGE_LEASE_ID", "0195f0c4-0000-7000-8000-000000000000");
    let output = command
        .write_stdin(input.to_owned())
        .output()
        .expect("kage runs");
    assert!(output.status.success(), "{output:?}");
}

fn status_line_reports_are_the_windows_least_used_and_status_read(mut env: TestEnv) {
    env.write_config("[subscriptions]\ndefault_priority = \"least-used\"\n");
    env.add("a", &["--priority", "200"]);
    env.add("b", &["--priority", "100"]);
    // By tokens alone a is the least used: b spent fifty times more.
    env.set_now("2025-06-02T09:00:00Z");
    assert_eq!(env.spend(&[], &["--usage", "input=1000"]), "a");
    env.set_now("2025-06-02T09:10:00Z");
    assert_eq!(env.spend(&[], &["--usage", "input=50000"]), "b");
    env.set_now("2025-06-02T09:30:00Z");
    let explain = env.run(&["subscription", "explain"]).success();
    assert!(
        explain.stdout.contains("Would use: a\n"),
        "{}",
        explain.stdout
    );

    // The status lines of two sessions: a's 5-hour window is further gone.
    report_quota(&env, "a", &quota(60, 20));
    report_quota(&env, "b", &quota(10, 70));
    let explain = env.run(&["subscription", "explain"]).success();
    assert!(
        explain.stdout.contains("Would use: b\n"),
        "{}",
        explain.stdout
    );

    // status --json carries both windows of each, as reported.
    let a = status_of(&env, "a");
    assert_eq!(
        a["quota"],
        serde_json::json!([
            {"window": "five_hour", "utilization": 0.6, "resets_at": "2025-06-02T12:30:00Z", "reported_at": "2025-06-02T09:30:00Z"},
            {"window": "seven_day", "utilization": 0.2, "resets_at": "2025-06-05T00:00:00Z", "reported_at": "2025-06-02T09:30:00Z"}
        ]),
        "{a}"
    );
    let show = env.run(&["subscription", "show", "b"]).success();
    assert!(
        show.stdout.contains(
            "Quota:        5h 10% (resets 12:30), 7d 70% (resets Thu 5 Jun 00:00), reported now"
        ),
        "{}",
        show.stdout
    );
    let metrics = env.run(&["metrics"]).success();
    assert!(
        metrics.stdout.contains(
            "kage_subscription_quota_utilization{subscription=\"b\",window=\"seven_day\"} 0.7"
        ),
        "{}",
        metrics.stdout
    );

    // A later report replaces the earlier one of its window.
    report_quota(&env, "b", &quota(75, 71));
    let explain = env.run(&["subscription", "explain"]).success();
    assert!(
        explain.stdout.contains("Would use: a\n"),
        "{}",
        explain.stdout
    );
}

/// A `claude` stand-in that logs its subscription and arguments and exits.
fn logging_claude(env: &mut TestEnv) -> PathBuf {
    let log = claude_stand_in(env, LOG_ARGUMENTS);
    env.add("work-premium", &["--priority", "200"]);
    env.add("personal", &["--priority", "100"]);
    log
}

#[test]
fn kage_claude_moves_past_a_credential_it_cannot_read() {
    let mut env = TestEnv::new();
    let log = logging_claude(&mut env);
    env.run(&[
        "subscription",
        "add",
        "--name",
        "broken",
        "--priority",
        "255",
        "--credential-command",
        "false",
    ])
    .success();
    let run = env.run(&["claude", "hi"]).success();
    assert_eq!(
        log_lines(&log),
        ["work-premium [--settings] [SETTINGS] [--session-id] [GENERATED] [hi]"],
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("broken: credential command `false`"),
        "{}",
        run.stderr
    );
    let broken = status_of(&env, "broken");
    assert_eq!(broken["state"], "unhealthy", "{broken}");
}

#[test]
fn kage_claude_asks_for_the_model_family_it_runs() {
    let mut env = TestEnv::new();
    let log = logging_claude(&mut env);
    // work-premium's weekly Opus window is spent (rateLimitType seven_day_opus).
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
    assert_eq!(limited, "work-premium");
    // Kage's --model picks the subscription and reaches Claude Code.
    env.run(&["claude", "--model", "opus", "hi"]).success();
    // Claude Code's own --model picks it when Kage has none.
    env.run(&["claude", "--", "--model=claude-opus-4-5", "hi"])
        .success();
    env.run(&["claude", "--", "--model", "sonnet", "hi"])
        .success();
    // Claude Code's --model wins over Kage's: it is the model that runs.
    env.run(&[
        "exec", "--model", "sonnet", "--", "claude", "--model", "opus",
    ])
    .success();
    assert_eq!(
        log_lines(&log),
        [
            "personal [--settings] [SETTINGS] [--session-id] [GENERATED] [--model] [opus] [hi]",
            "personal [--settings] [SETTINGS] [--session-id] [GENERATED] [--model=claude-opus-4-5] [hi]",
            "work-premium [--settings] [SETTINGS] [--session-id] [GENERATED] [--model] [sonnet] [hi]",
            "personal [--settings] [SETTINGS] [--session-id] [GENERATED] [--model] [opus]",
        ]
    );
}

#[test]
fn an_opus_limit_moves_an_opus_session_and_leaves_the_subscription_to_others() {
    let mut env = TestEnv::new();
    let log = fake_claude(&mut env);
    let opus_transcript = SAMPLE_TRANSCRIPT.replace(
        "You've hit your session limit · resets 11:32pm (UTC)",
        "You've hit your Opus limit · resets 11:32pm (UTC)",
    );
    assert_ne!(opus_transcript, SAMPLE_TRANSCRIPT);
    std::fs::write(env.root().join("sample.jsonl"), opus_transcript).expect("transcript");
    // No model named: Claude Code's default met the Opus limit, so the
    // session goes on where Opus has room and keeps asking for it.
    let run = env.run(&["claude", "say hi"]).success();
    assert_eq!(
        log_lines(&log),
        vec![
            "work-premium [--settings] [SETTINGS] [--session-id] [GENERATED] [say hi]",
            "stopped",
            "personal [--settings] [SETTINGS] [--resume] [GENERATED] [--] [say hi again]",
        ]
    );
    assert!(
        run.stderr.contains(
            "kage: work-premium hit its weekly Opus limit, resets 23:32; continuing on personal"
        ),
        "{}",
        run.stderr
    );
    let work = status_of(&env, "work-premium");
    assert_eq!(work["state"], "active", "{work}");
    assert_eq!(work["model_limits"][0]["family"], "opus", "{work}");
    // Sonnet work still gets work-premium.
    let sonnet = env
        .run(&["lease", "acquire", "--model", "sonnet"])
        .success();
    assert!(sonnet.stdout.contains(" work-premium"), "{}", sonnet.stdout);
}

/// A `claude` stand-in for one of two terminals in the same repository:
/// it writes its subscription's first message to its session (with
/// `--continue`, to the earlier session `EARLIER`, which only the status
/// line names to Kage: it runs Kage's status-line command), says it is
/// ready, waits for `go`, writes its second message and exits.
const TERMINAL_CLAUDE: &str = r#"
if [ -z "$session" ]; then
  session=EARLIER
  command=$(printf '%s' "$settings" | sed 's/.*"command":"\([^"]*\)".*/\1/')
fi
echo "$session" > "$KAGE_FAKE_DIR/$KAGE_SUBSCRIPTION.session"
message() {
  printf '{"type":"assistant","message":{"id":"%s-%s","model":"claude-sonnet-5","content":[],"usage":{"input_tokens":%s,"output_tokens":1}},"requestId":"r-%s-%s"}\n' \
    "$KAGE_SUBSCRIPTION" "$1" "$2" "$KAGE_SUBSCRIPTION" "$1" >> "$dir/$session.jsonl"
}
case "$KAGE_SUBSCRIPTION" in a) first=1; second=20;; *) first=300; second=4000;; esac
message 1 "$first"
if [ -n "$command" ]; then
  echo '{"session_id":"EARLIER"}' | sh -c "$command" > /dev/null
fi
touch "$KAGE_FAKE_DIR/$KAGE_SUBSCRIPTION.ready"
while [ ! -e "$KAGE_FAKE_DIR/go" ]; do sleep 0.05; done
message 2 "$second"
"#;

/// `name`'s input tokens and leases today.
fn usage_of(env: &TestEnv, name: &str) -> (u64, u64) {
    let run = env
        .run(&["subscription", "usage", "--period", "day", "--json"])
        .success();
    let document: serde_json::Value = serde_json::from_str(&run.stdout).expect("one document");
    document["days"]
        .as_array()
        .expect("days")
        .iter()
        .find(|row| row["subscription"] == name)
        .map_or((0, 0), |row| {
            (
                row["input_tokens"].as_u64().expect("input"),
                row["leases"].as_u64().expect("leases"),
            )
        })
}

fn wait_for_file(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !path.exists() {
        assert!(Instant::now() < deadline, "{} never came", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn two_sessions_in_one_repository_each_record_their_own_usage() {
    let mut env = TestEnv::new();
    claude_stand_in(&mut env, &format!("{CLAUDE_SESSION_SH}{TERMINAL_CLAUDE}"));
    let fake = env.root().join("fake");
    std::fs::create_dir_all(&fake).expect("fake folder");
    env.set_env("KAGE_FAKE_DIR", &fake.display().to_string());
    env.add("a", &["--tags", "a"]);
    env.add("b", &["--tags", "b"]);
    let project = env.root().join("claude-config").join("projects").join(
        env.root()
            .display()
            .to_string()
            .replace(|c: char| !c.is_ascii_alphanumeric(), "-"),
    );
    std::fs::create_dir_all(&project).expect("project folder");
    let line = |id: &str, input: u64| {
        format!(
            r#"{{"type":"assistant","message":{{"id":"{id}","model":"claude-sonnet-5","content":[],"usage":{{"input_tokens":{input},"output_tokens":1}}}},"requestId":"r-{id}"}}"#
        ) + "\n"
    };
    // The session `--continue` picks up, from before either lease.
    std::fs::write(project.join("EARLIER.jsonl"), line("old", 50_000)).expect("write");

    // Terminal one: a new session on a; terminal two: `--continue` on b.
    let start = |tag: &str, extra: &[&str]| {
        let mut arguments = vec!["claude", "--tags", tag, "--"];
        arguments.extend_from_slice(extra);
        env.std_command(&arguments)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("kage starts")
    };
    let one = start("a", &[]);
    wait_for_file(&fake.join("a.ready"));
    let two = start("b", &["--continue"]);
    wait_for_file(&fake.join("b.ready"));
    // A plain `claude` in the same folder, outside Kage.
    std::fs::write(project.join("outside.jsonl"), line("plain", 600_000)).expect("write");
    std::fs::write(fake.join("go"), "").expect("go");
    for kage in [one, two] {
        let output = kage.wait_with_output().expect("kage ends");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    // Each subscription has its own session's messages, exactly: b's
    // first one was written before the status line named its session;
    // the earlier session's old message and the plain session's are no
    // lease's.
    assert_eq!(usage_of(&env, "a"), (1 + 20, 1));
    assert_eq!(usage_of(&env, "b"), (300 + 4000, 1));
    // The session Kage named is a UUID v4, given to Claude Code.
    let named = std::fs::read_to_string(fake.join("a.session")).expect("a's session");
    let named = uuid::Uuid::parse_str(named.trim()).expect("a UUID");
    assert_eq!(named.get_version_num(), 4);
    assert!(project.join(format!("{named}.jsonl")).exists());
}
