//! Usage from Claude Code's transcripts: `kage claude` records each
//! assistant message on its lease as the transcript shows it (a streamed
//! message once, subagents' messages too, synthetic ones never); after a
//! kill -9 of `kage claude`, `kage usage import` records what was left,
//! and sessions run outside Kage, exactly once.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::env::{CLAUDE_SESSION_SH, TestEnv, running};

on_both_backends!(kill_9_of_kage_claude_then_import_counts_every_message_once);

/// A `claude` stand-in: writes the first part of its session and a
/// subagent's transcript, logs its pid and session, then waits to be
/// killed.
const WRITING_CLAUDE: &str = r#"
mkdir -p "$dir/$session/subagents"
cat "$KAGE_FAKE_FIRST" >> "$dir/$session.jsonl"
cat "$KAGE_FAKE_SUBAGENT" >> "$dir/$session/subagents/agent-a1.jsonl"
echo "$$ $session" >> "$KAGE_FAKE_LOG"
sleep 60 > /dev/null 2>&1 < /dev/null &
wait
"#;

/// One assistant line as Claude Code writes it (one per content block).
fn assistant(id: &str, input: u64, output: u64, minute: u32) -> String {
    format!(
        r#"{{"parentUuid":null,"isSidechain":false,"sessionId":"S1","message":{{"id":"msg_{id}","type":"message","role":"assistant","model":"claude-sonnet-5","content":[{{"type":"text","text":"ok"}}],"usage":{{"input_tokens":{input},"cache_creation_input_tokens":10,"cache_read_input_tokens":100,"output_tokens":{output}}}}},"requestId":"req_{id}","type":"assistant","uuid":"u-{id}-{minute}","timestamp":"2025-06-02T09:{minute:02}:00.000Z"}}"#
    ) + "\n"
}

/// An API error Claude Code retries itself (no failover), as a synthetic
/// message with usage (zero; never recorded).
const SYNTHETIC: &str = r#"{"type":"assistant","isApiErrorMessage":true,"error":"overloaded","apiErrorStatus":529,"message":{"id":"syn","model":"<synthetic>","content":[{"type":"text","text":"API Error: 529 Overloaded."}],"usage":{"input_tokens":7,"output_tokens":7}},"requestId":"req_syn","uuid":"u-syn","timestamp":"2025-06-02T09:05:00.000Z"}
"#;

const TOOL_RESULT: &str = r#"{"type":"user","message":{"role":"user","content":[{"type":"tool_result","content":"\"type\":\"assistant\" in a tool's output"}]},"toolUseResult":{"stdout":"x"},"uuid":"u-tool","timestamp":"2025-06-02T09:06:00.000Z"}
"#;

/// `work`'s input and output tokens and leases today.
fn usage_today(env: &TestEnv) -> (u64, u64, u64) {
    let run = env
        .run(&["subscription", "usage", "--period", "day", "--json"])
        .success();
    let document: serde_json::Value = serde_json::from_str(&run.stdout).expect("one document");
    let day = document["days"]
        .as_array()
        .expect("days")
        .iter()
        .find(|row| row["subscription"] == "work");
    day.map_or((0, 0, 0), |row| {
        (
            row["input_tokens"].as_u64().expect("input"),
            row["output_tokens"].as_u64().expect("output"),
            row["leases"].as_u64().expect("leases"),
        )
    })
}

fn append(path: &Path, text: &str) {
    use std::io::Write as _;
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .expect("the transcript")
        .write_all(text.as_bytes())
        .expect("append");
}

fn kill_9_of_kage_claude_then_import_counts_every_message_once(mut env: TestEnv) {
    use std::os::unix::fs::PermissionsExt as _;
    let bin = env.root().join("bin");
    std::fs::create_dir_all(&bin).expect("bin folder");
    let script = bin.join("claude");
    std::fs::write(
        &script,
        format!("#!/bin/sh\n{CLAUDE_SESSION_SH}{WRITING_CLAUDE}\n"),
    )
    .expect("script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    env.set_env("PATH", &path);
    let config_dir = env.root().join("claude-config");
    env.set_env("CLAUDE_CONFIG_DIR", &config_dir.display().to_string());
    // Streamed as two content blocks, a synthetic error, a tool result
    // that mentions an assistant line, a second message.
    let first = [
        assistant("m1", 1000, 50, 1),
        assistant("m1", 1000, 50, 1),
        SYNTHETIC.to_owned(),
        TOOL_RESULT.to_owned(),
        assistant("m2", 2000, 60, 7),
    ]
    .concat();
    let subagent =
        assistant("sub1", 300, 7, 8).replace(r#""isSidechain":false"#, r#""isSidechain":true"#);
    let files = env.root().join("fake");
    std::fs::create_dir_all(&files).expect("fake folder");
    std::fs::write(files.join("first.jsonl"), &first).expect("write");
    std::fs::write(files.join("subagent.jsonl"), &subagent).expect("write");
    let log = files.join("claude.log");
    env.set_env(
        "KAGE_FAKE_FIRST",
        &files.join("first.jsonl").display().to_string(),
    );
    env.set_env(
        "KAGE_FAKE_SUBAGENT",
        &files.join("subagent.jsonl").display().to_string(),
    );
    env.set_env("KAGE_FAKE_LOG", &log.display().to_string());
    env.write_config("[subscriptions]\ndefault_priority = \"priority\"\n");
    env.add("work", &["--priority", "200"]);
    env.add("personal", &["--priority", "100"]);

    // A session run outside Kage, before: not the lease's.
    let project = config_dir.join("projects").join(
        env.root()
            .display()
            .to_string()
            .replace(|c: char| !c.is_ascii_alphanumeric(), "-"),
    );
    std::fs::create_dir_all(&project).expect("project folder");
    std::fs::write(project.join("S0.jsonl"), assistant("m0", 5, 5, 0)).expect("write");

    let mut kage = env
        .std_command(&["claude"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("kage starts");
    // Recorded as it lands: m1 once, m2, the subagent's message.
    let expected = (1000 + 2000 + 300, 50 + 60 + 7, 1);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = usage_today(&env);
    while seen != expected && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        seen = usage_today(&env);
    }
    assert_eq!(
        seen, expected,
        "kage claude records each message of the session on its lease while it runs"
    );
    let logged = std::fs::read_to_string(&log).expect("the stand-in ran");
    let (claude, session) = logged
        .trim()
        .split_once(' ')
        .unwrap_or_else(|| panic!("a pid and a session in {logged:?}"));
    let claude: i32 = claude
        .parse()
        .unwrap_or_else(|_| panic!("a pid in {logged:?}"));
    let transcript = project.join(format!("{session}.jsonl"));

    kage.kill().expect("kill -9 kage");
    kage.wait().expect("kage ends");
    let deadline = Instant::now() + Duration::from_secs(2);
    while running(claude) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    // Claude Code wrote its last messages (and a replay of m1) just before
    // it ended with kage: nothing recorded them.
    append(
        &transcript,
        &[
            assistant("m3", 4000, 70, 20),
            assistant("m1", 1000, 50, 21),
            assistant("m4", 8000, 80, 22),
        ]
        .concat(),
    );
    assert_eq!(usage_today(&env), expected);

    let run = env
        .run(&["usage", "import", "--subscription", "work", "--json"])
        .success();
    let document: serde_json::Value = serde_json::from_str(&run.stdout).expect("one document");
    assert_eq!(document["subscription"], "work");
    assert_eq!(
        (
            &document["messages"],
            &document["recorded"],
            &document["already_recorded"]
        ),
        (&4.into(), &3.into(), &1.into()),
        "read from kage claude's offsets: m3, m1 again, m4; and S0 whole: {document}"
    );
    assert!(
        run.stderr.contains("read 4 message(s) (")
            && run
                .stderr
                .contains("recorded 3 on work, 1 were recorded before"),
        "{}",
        run.stderr
    );
    let all = (
        5 + 1000 + 2000 + 300 + 4000 + 8000,
        5 + 50 + 60 + 7 + 70 + 80,
        1,
    );
    assert_eq!(
        usage_today(&env),
        all,
        "every message once; the lease counts once"
    );

    // Again: nothing new is read, nothing is counted twice.
    let run = env
        .run(&["usage", "import", "--subscription", "work", "--json"])
        .success();
    let document: serde_json::Value = serde_json::from_str(&run.stdout).expect("one document");
    assert_eq!(
        (&document["messages"], &document["recorded"]),
        (&0.into(), &0.into())
    );
    // A copy of the transcripts (a backup, another machine's) is read from
    // its start: the keys still keep every message once.
    let copy = env.root().join("copy");
    std::fs::create_dir_all(&copy).expect("copy folder");
    std::fs::copy(&transcript, copy.join("S1.jsonl")).expect("copy");
    let run = env
        .run(&[
            "usage",
            "import",
            "--subscription",
            "personal",
            "--json",
            &copy.display().to_string(),
        ])
        .success();
    let document: serde_json::Value = serde_json::from_str(&run.stdout).expect("one document");
    assert_eq!(
        (&document["messages"], &document["recorded"]),
        (&4.into(), &0.into())
    );
    assert_eq!(usage_today(&env), all);
}

#[test]
fn import_refuses_a_missing_path_and_an_unknown_subscription() {
    let env = TestEnv::new();
    env.add("work", &[]);
    let run = env
        .run(&[
            "usage",
            "import",
            "--subscription",
            "work",
            "/no/such/transcripts",
        ])
        .code(2);
    assert!(
        run.stderr.contains("/no/such/transcripts does not exist"),
        "{}",
        run.stderr
    );
    let run = env.run(&["usage", "import", "--subscription", "wrok"]);
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("work"), "{}", run.stderr);
}
