//! `kage-agent run` end to end: the real binary, the embedded SQLite pool,
//! the test-file credential store and the fake Claude Code.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::time::{Duration, Instant};

use kage_domain::{CredentialKind, Outcome, StateKind, SubscriptionState, Timestamp};
use kage_ports::{Clock, SubscriptionStore};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

use super::harness::{
    World, json_lines, process_gone, recorded_usage, reported_usage, run_folder_text, state,
    usage_tuple,
};

const FAST: &str = "[subscriptions]\nrate_limit_cooldown = \"5m\"\nlease_ttl = \"30s\"\n";

fn summary(lines: &[Value]) -> &Value {
    lines
        .iter()
        .find(|line| line["type"] == "summary")
        .expect("a summary line")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_tasks_fail_over_with_resume_and_every_one_completes() {
    let mut world = World::new(FAST);
    let pool = world.pool().await;
    world
        .add(
            &pool,
            "alpha",
            100,
            CredentialKind::OAuth,
            "limit-after-2",
            None,
        )
        .await;
    world
        .add(&pool, "beta", 100, CredentialKind::OAuth, "reject", None)
        .await;
    world
        .add(&pool, "gamma", 100, CredentialKind::ApiKey, "ok", None)
        .await;
    let tasks: String = (1..=20).map(|n| format!("task number {n}\n")).collect();
    let tasks_file = world.root().join("tasks.txt");
    std::fs::write(&tasks_file, tasks).unwrap();
    let run_dir = world.run_dir();

    let output = world.run(&[
        "run",
        "--tasks",
        tasks_file.to_str().unwrap(),
        "--parallel",
        "4",
        "--json",
        "--run-dir",
        run_dir.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "stderr: {stderr}");
    let lines = json_lines(&output.stdout);
    let summary = &summary(&lines)["data"];

    // Every task completed, its last attempt a success on a healthy
    // subscription (never the rejected one).
    let tasks = summary["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 20);
    for task in tasks {
        assert_eq!(task["status"], "succeeded", "{task}");
        let last = task["attempts"].as_array().unwrap().last().unwrap();
        assert_eq!(last["outcome"]["kind"], "success", "{task}");
        assert_ne!(last["subscription"], "beta", "{task}");
    }

    let log = world.log();
    // The limited subscription did two tasks, then hit its limit: it is
    // exhausted until the reset time its agent reported.
    let alpha_runs: Vec<&Value> = log
        .iter()
        .filter(|e| e["subscription"] == "alpha")
        .collect();
    assert_eq!(alpha_runs.iter().filter(|e| e["plan"] == "ok").count(), 2);
    let latest_reset = alpha_runs
        .iter()
        .filter_map(|e| e["resets_at"].as_i64())
        .max()
        .expect("alpha hit its limit");
    assert_eq!(
        state(&pool, "alpha").await,
        SubscriptionState::Exhausted {
            until: Timestamp::from_second(latest_reset).unwrap(),
            reason: state(&pool, "alpha").await.reason().unwrap().to_owned(),
        }
    );
    assert!(
        state(&pool, "alpha")
            .await
            .reason()
            .unwrap()
            .starts_with("5-hour limit")
    );
    assert_eq!(state(&pool, "beta").await.kind(), StateKind::Unhealthy);
    assert!(
        state(&pool, "beta")
            .await
            .reason()
            .unwrap()
            .contains("credential rejected")
    );
    assert_eq!(state(&pool, "gamma").await.kind(), StateKind::Active);

    // Usage: what each subscription's agents reported, recorded once, on it.
    let recorded: BTreeMap<String, _> = recorded_usage(&pool)
        .await
        .iter()
        .map(|(name, usage)| (name.clone(), usage_tuple(usage)))
        .collect();
    let reported: BTreeMap<String, _> = reported_usage(&log)
        .into_iter()
        .filter(|(_, usage)| *usage != (0, 0, 0, 0, 0))
        .collect();
    assert_eq!(recorded, reported);
    let summary_tokens = summary["usage"]["total_tokens"].as_u64().unwrap();
    let reported_tokens: u64 = reported.values().map(|u| u.0 + u.1 + u.2 + u.3).sum();
    assert_eq!(summary_tokens, reported_tokens);

    // Resumed runs carried the session their first agent printed, from the
    // same working directory.
    let resumed: Vec<&Value> = log.iter().filter(|e| e["resumed"].is_string()).collect();
    assert!(!resumed.is_empty(), "some task was resumed");
    for entry in &resumed {
        let session = entry["resumed"].as_str().unwrap();
        let first = log
            .iter()
            .find(|e| e["session_id"] == session && e["resumed"].is_null())
            .expect("the session was started by an earlier agent");
        assert!(
            matches!(first["plan"].as_str(), Some("limit" | "reject")),
            "{first}"
        );
        assert_ne!(first["subscription"], entry["subscription"]);
        assert_eq!(first["cwd"], entry["cwd"]);
        let args: Vec<&str> = entry["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(&args[args.len() - 2..], ["--resume", session]);
    }

    // Each agent saw exactly one credential variable, the one its kind
    // needs, plus the markers.
    for entry in &log {
        let expected = if entry["subscription"] == "gamma" {
            "ANTHROPIC_API_KEY"
        } else {
            "CLAUDE_CODE_OAUTH_TOKEN"
        };
        assert_eq!(
            entry["credential_variables"],
            serde_json::json!([expected]),
            "{entry}"
        );
        let names: BTreeSet<&str> = entry["env_names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap())
            .collect();
        assert!(names.contains("KAGE_SUBSCRIPTION") && names.contains("KAGE_LEASE_ID"));
        assert!(!names.contains("ANTHROPIC_AUTH_TOKEN"));
        assert_eq!(entry["cwd"], world.workdir().display().to_string());
    }

    // No lease is left, no credential was printed or written.
    assert!(pool.live_leases().await.unwrap().is_empty());
    world.assert_no_secret("stdout", &String::from_utf8_lossy(&output.stdout));
    world.assert_no_secret("stderr", &stderr);
    world.assert_no_secret("the run folder", &run_folder_text(&run_dir));
    for n in 1..=20 {
        assert!(run_dir.join(format!("task-{n}.stdout")).is_file());
        assert!(run_dir.join(format!("task-{n}.stderr")).is_file());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_the_agents_records_their_usage_releases_and_exits_130() {
    let mut world = World::new(FAST);
    let pool = world.pool().await;
    world
        .add(&pool, "alpha", 100, CredentialKind::OAuth, "slow", None)
        .await;
    let child = world
        .kage_agent()
        .args([
            "run", "--task", "one", "--task", "two", "--task", "three", "-j", "2",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(world.wait_for(Duration::from_secs(20), |w| w.log().len() == 2));
    // Let the agents' first lines be read.
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    kill(
        Pid::from_raw(i32::try_from(child.id()).unwrap()),
        Signal::SIGINT,
    )
    .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(output.status.code(), Some(130));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("interrupted"), "{stdout}");
    assert!(stdout.contains("not started"), "{stdout}");

    let log = world.log();
    for entry in &log {
        assert!(process_gone(
            u32::try_from(entry["pid"].as_u64().unwrap()).unwrap()
        ));
    }
    assert!(pool.live_leases().await.unwrap().is_empty());
    let recorded = recorded_usage(&pool).await;
    assert_eq!(
        usage_tuple(&recorded["alpha"]),
        reported_usage(&log)["alpha"]
    );
    assert_eq!(state(&pool, "alpha").await.kind(), StateKind::Active);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_sigkill_leases_expire_with_their_ttl_and_recorded_usage_stays() {
    let mut world = World::new("[subscriptions]\nlease_ttl = \"3s\"\n");
    let pool = world.pool().await;
    world
        .add(&pool, "fast", 200, CredentialKind::OAuth, "ok", Some(1))
        .await;
    world
        .add(&pool, "slow", 100, CredentialKind::OAuth, "slow", None)
        .await;
    let mut child = world
        .kage_agent()
        .args(["run", "--task", "quick", "--task", "long", "-j", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the quick task's usage is recorded and the long one runs,
    // its first message recorded as it came (issue 14, item 5).
    let mut recorded = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        recorded = recorded_usage(&pool).await;
        if recorded.contains_key("fast") && recorded.contains_key("slow") && world.log().len() == 2
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        recorded.contains_key("fast"),
        "the quick task finished: recorded {recorded:?}, log {:?}",
        world.log()
    );
    assert!(
        recorded.contains_key("slow"),
        "the usage the slow agent printed is recorded before its lease is released: recorded {recorded:?}, log {:?}",
        world.log()
    );
    kill(
        Pid::from_raw(i32::try_from(child.id()).unwrap()),
        Signal::SIGKILL,
    )
    .unwrap();
    let _ = child.wait();
    let killed_at = pool.clock().now();
    // The agent ends with its runner (parent-death signal), within a second.
    let log = world.log();
    let slow_pid = log.iter().find(|e| e["subscription"] == "slow").unwrap()["pid"]
        .as_u64()
        .unwrap();
    assert!(
        world.wait_for(Duration::from_secs(1), |_| process_gone(
            u32::try_from(slow_pid).unwrap()
        )),
        "the slow agent outlived kage-agent"
    );

    // The slow agent's lease still counts until its TTL runs out…
    let live = pool.live_leases().await.unwrap();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].subscription_name.as_str(), "slow");
    assert!(
        live[0].expires_at
            <= killed_at
                .checked_add(kage_domain::SignedDuration::from_secs(4))
                .unwrap()
    );
    // …then no longer.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert!(pool.live_leases().await.unwrap().is_empty());

    // What was recorded before the kill is still there, exactly: the quick
    // task's release, and the slow agent's message, seen but never released.
    let log = world.log();
    let recorded = recorded_usage(&pool).await;
    assert_eq!(usage_tuple(&recorded["fast"]), reported_usage(&log)["fast"]);
    let (input, output, cache_write, cache_read, _) = reported_usage(&log)["slow"];
    assert_eq!(
        usage_tuple(&recorded["slow"]),
        (input, output, cache_write, cache_read, 0),
        "the slow agent's message, no cost (Claude Code prices only in its result)"
    );
    assert!(input + output > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_everything_is_limited_it_waits_up_to_max_wait_then_exits_75() {
    let mut world = World::new(FAST);
    let pool = world.pool().await;
    world
        .add(&pool, "alpha", 100, CredentialKind::OAuth, "ok", None)
        .await;
    world
        .add(&pool, "beta", 100, CredentialKind::OAuth, "ok", None)
        .await;
    let now = pool.clock().now();
    let reset = now
        .checked_add(kage_domain::SignedDuration::from_hours(1))
        .unwrap();
    for name in ["alpha", "beta"] {
        let subscription = pool
            .find(&kage_domain::SubscriptionName::new(name).unwrap())
            .await
            .unwrap();
        pool.store()
            .record_outcome(
                subscription.id,
                &Outcome::QuotaExhausted {
                    resets_at: Some(reset),
                    reason: "5-hour limit".into(),
                },
                None,
                &Default::default(),
                now,
            )
            .await
            .unwrap();
    }
    let started = Instant::now();
    let output = world.run(&["run", "--task", "x", "--max-wait", "1s"]);
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(75), "{stderr}");
    assert!(elapsed >= Duration::from_secs(1) && elapsed < Duration::from_secs(15));
    assert!(
        stderr.contains("waiting for alpha") || stderr.contains("waiting for beta"),
        "{stderr}"
    );
    assert!(stdout.contains("unavailable"), "{stdout}");
    assert!(world.log().is_empty(), "no agent ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_agent_is_resumed_and_an_overload_retries_without_marking() {
    let mut world = World::new(FAST);
    let pool = world.pool().await;
    world
        .add(
            &pool,
            "alpha",
            100,
            CredentialKind::OAuth,
            "crash-once",
            None,
        )
        .await;
    let output = world.run(&["run", "--task", "x", "--json"]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let log = world.log();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0]["plan"], "crash");
    assert_eq!(log[1]["resumed"], log[0]["session_id"]);
    assert_eq!(state(&pool, "alpha").await.kind(), StateKind::Active);

    let mut world = World::new(FAST);
    let pool = world.pool().await;
    world
        .add(
            &pool,
            "alpha",
            100,
            CredentialKind::ApiKey,
            "overloaded-once",
            None,
        )
        .await;
    let output = world.run(&["run", "--task", "x", "--json"]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines = json_lines(&output.stdout);
    let attempts = &summary(&lines)["data"]["tasks"][0]["attempts"];
    assert_eq!(attempts[0]["outcome"]["kind"], "overloaded");
    assert_eq!(attempts[1]["outcome"]["kind"], "success");
    assert!(lines.iter().any(|l| l["type"] == "backoff"));
    assert_eq!(state(&pool, "alpha").await.kind(), StateKind::Active);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nesting_is_refused_unless_asked_for() {
    let mut world = World::new(FAST);
    let pool = world.pool().await;
    world
        .add(&pool, "alpha", 100, CredentialKind::OAuth, "ok", None)
        .await;
    let output = world
        .kage_agent()
        .env("KAGE_SUBSCRIPTION", "outer")
        .args(["run", "--task", "x"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("KAGE_SUBSCRIPTION=outer") && stderr.contains("--nested"),
        "{stderr}"
    );
    assert!(world.log().is_empty());

    let output = world
        .kage_agent()
        .env("KAGE_SUBSCRIPTION", "outer")
        .args(["run", "--nested", "--task", "x"])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The child runs under its own lease, not the outer one.
    assert_eq!(world.log()[0]["subscription"], "alpha");
}

#[test]
fn usage_and_config_errors_have_their_exit_codes() {
    let world = World::new(FAST);
    let output = world.run(&["run"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no tasks to run"));

    let output = world.run(&["run", "--task", "x", "--priority", "urgent"]);
    assert_eq!(output.status.code(), Some(2));

    let world = World::new("[agent]\nmax_wiat = \"1m\"\n");
    let output = world.run(&["run", "--task", "x"]);
    assert_eq!(
        output.status.code(),
        Some(78),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_demo_shows_failover_waiting_and_the_pool_afterwards() {
    let world = World::new("");
    let output = world
        .kage_agent()
        .env("KAGE_SIMULATE_PACE_MS", "300")
        .args(["demo", "--json"])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines = json_lines(&output.stdout);
    let finished: Vec<&Value> = lines
        .iter()
        .filter(|l| l["type"] == "task_finished")
        .collect();
    assert_eq!(finished.len(), 12);
    assert!(finished.iter().all(|l| l["data"]["status"] == "succeeded"));
    assert!(lines.iter().any(|l| l["type"] == "waiting"));
    assert!(
        lines
            .iter()
            .any(|l| l["type"] == "leased" && l["data"]["resume_session_id"].is_string())
    );
    let status = lines.iter().find(|l| l["type"] == "pool_status").unwrap();
    let states: BTreeMap<&str, &str> = status["data"]["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["state"].as_str().unwrap()))
        .collect();
    assert_eq!(states["work-premium"], "exhausted");
    assert_eq!(states["backup"], "unhealthy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_kage_agent_ends_an_agent_that_never_writes_within_a_second() {
    let pid_file = tempfile::NamedTempFile::new().unwrap();
    let script = format!(
        "echo $$ > '{}'; while :; do sleep 0.1; done",
        pid_file.path().display()
    );
    let mut world = World::with_command(
        &format!("[\"sh\", \"-c\", {script:?}, \"agent\", \"{{prompt}}\"]"),
        "",
    );
    let pool = world.pool().await;
    world
        .add(&pool, "only", 100, CredentialKind::OAuth, "ok", None)
        .await;
    let mut child = world
        .kage_agent()
        .args(["run", "--task", "forever"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut agent = None;
    assert!(world.wait_for(Duration::from_secs(20), |_| {
        agent = std::fs::read_to_string(pid_file.path())
            .ok()
            .and_then(|text| text.trim().parse::<u32>().ok());
        agent.is_some()
    }));
    let agent = agent.unwrap();
    assert!(!process_gone(agent));
    kill(
        Pid::from_raw(i32::try_from(child.id()).unwrap()),
        Signal::SIGKILL,
    )
    .unwrap();
    let _ = child.wait();
    let ended = world.wait_for(Duration::from_secs(1), |_| process_gone(agent));
    if !ended {
        let _ = kill(
            Pid::from_raw(i32::try_from(agent).unwrap()),
            Signal::SIGKILL,
        );
    }
    assert!(ended, "the agent {agent} outlived kage-agent");
}
