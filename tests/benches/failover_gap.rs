//! `cargo bench -p kage-tests --bench failover_gap`
//!
//! The goal: when an interactive session hits a limit, `kage claude` adds
//! under 200 ms to the time Claude Code itself takes to start again.
//!
//! Each run: the real Claude Code (`npm ci` in tests/) under `kage claude`
//! in a terminal (tmux), against the API stand-in; turn 1 succeeds on
//! alpha, turn 2 gets alpha's 5-hour-limit 429. Measured: from the moment
//! the stand-in answered that 429 to the first conversation request on beta
//! (Kage sees the limit in the transcript, stops Claude Code, marks alpha,
//! leases beta and starts `claude --resume … -- PROMPT`). The baseline, in
//! the same run: plain `claude --resume SESSION -- PROMPT` started in the
//! same home, from spawning tmux to its first conversation request (Claude
//! Code's own start-up and resume). `claude` on PATH is a wrapper that
//! notes when it was started, so the gap splits into Kage's part (429 →
//! the new Claude Code started) and Claude Code's (start → first request).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kage_tests::claude::{ClaudeHome, Credential, binary, fake_oauth_token};
use kage_tests::standin::{Behaviour, RecordedRequest, StandIn};

const RUNS: usize = 5;
const GOAL: Duration = Duration::from_millis(200);
const WAIT: Duration = Duration::from_secs(60);

fn is_turn(request: &RecordedRequest, credential: &str) -> bool {
    request.credential.as_deref() == Some(credential)
        && request.is_message()
        && !request.is_side_query()
}

/// `kage` with a database and credential store in `root`, Claude Code's
/// environment from `home`, and the real `claude` first on PATH.
fn kage_env(root: &Path, home: &ClaudeHome) -> anyhow::Result<Vec<(OsString, OsString)>> {
    use std::os::unix::fs::PermissionsExt as _;
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin)?;
    let wrapper = bin.join("claude");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\ndate +%s.%N >> '{}'\nexec '{}' \"$@\"\n",
            root.join("spawns.log").display(),
            binary().display()
        ),
    )?;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755))?;
    let mut path = OsString::from(&bin);
    path.push(":");
    path.push(std::env::var_os("PATH").unwrap_or_default());
    let mut env: Vec<(OsString, OsString)> = home
        .env()
        .into_iter()
        .filter(|(name, _)| name != "PATH")
        .collect();
    env.push(("PATH".into(), path));
    env.push(("KAGE_DATABASE_PATH".into(), root.join("kage.db").into()));
    env.push((
        "KAGE_SECRET_BACKEND".into(),
        format!("insecure-test-file:{}", root.join("secrets").display()).into(),
    ));
    env.push(("KAGE_CONFIG".into(), root.join("config.toml").into()));
    env.push(("RUST_LOG".into(), "kage_cli=debug".into()));
    Ok(env)
}

#[allow(
    clippy::disallowed_methods,
    reason = "compared with `date` in the wrapper"
)]
fn wall_clock() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64())
}

fn kage(env: &[(OsString, OsString)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kage-it"));
    command.env_clear().envs(env.iter().cloned());
    command
}

fn add(
    env: &[(OsString, OsString)],
    name: &str,
    priority: &str,
    credential: &str,
) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut child = kage(env)
        .args([
            "subscription",
            "add",
            "--name",
            name,
            "--priority",
            priority,
            "--credential-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(format!("{credential}\n").as_bytes())?;
    anyhow::ensure!(child.wait()?.success(), "could not add {name}");
    Ok(())
}

struct Run {
    gap: Duration,
    /// From the 429 to the new Claude Code's start.
    kage: Duration,
    /// From the 429 to the limit line's `timestamp` in the transcript.
    written: Duration,
    baseline: Duration,
}

#[allow(clippy::print_stdout, reason = "a benchmark prints its figures")]
fn one_run(standin: &StandIn, scratch: &Path, index: usize) -> anyhow::Result<Run> {
    let root: PathBuf = scratch.join(format!("run-{index}"));
    std::fs::create_dir_all(root.join("secrets"))?;
    std::fs::write(
        root.join("config.toml"),
        "[subscriptions]\ndefault_priority = \"priority\"\n",
    )?;
    let home = ClaudeHome::new(&standin.base_url());
    let env = kage_env(&root, &home)?;
    let (alpha, beta, gamma) = (
        fake_oauth_token("alpha"),
        fake_oauth_token("beta"),
        fake_oauth_token("gamma"),
    );
    for credential in [&alpha, &beta, &gamma] {
        standin.set(credential, Behaviour::Ok);
    }
    add(&env, "alpha", "200", &alpha)?;
    add(&env, "beta", "100", &beta)?;

    let kage_binary = PathBuf::from(env!("CARGO_BIN_EXE_kage-it"));
    let session = home.interactive_program(&kage_binary, &[OsString::from("claude")], env);
    session.wait_for_screen(WAIT, |screen| {
        screen.contains("Claude Code v") && screen.contains('❯')
    });
    session.submit("remember the word tangerine");
    session.wait_for_screen(WAIT, |screen| screen.contains("Stand-in reply"));
    standin.set(
        &alpha,
        Behaviour::FiveHourLimit {
            at_request: 1,
            resets_at: None,
        },
    );
    session.submit("now say the word");
    anyhow::ensure!(
        standin.wait_for(WAIT, |requests| requests
            .iter()
            .any(|r| is_turn(r, &alpha) && r.status == 429)),
        "alpha never answered 429"
    );
    let limited = Instant::now();
    let limited_at = wall_clock();
    anyhow::ensure!(
        standin.wait_for(WAIT, |requests| requests.iter().any(|r| is_turn(r, &beta))),
        "no request reached beta:\n{}",
        session.screen()
    );
    let gap = limited.elapsed();
    let spawns: Vec<f64> = std::fs::read_to_string(root.join("spawns.log"))?
        .lines()
        .filter_map(|line| line.trim().parse().ok())
        .collect();
    anyhow::ensure!(spawns.len() == 2, "claude started {} times", spawns.len());
    let kage = Duration::from_secs_f64((spawns[1] - limited_at).max(0.0));
    let session_id = standin
        .message_requests(&beta)
        .into_iter()
        .find_map(|request| request.claude_session_id)
        .ok_or_else(|| anyhow::anyhow!("beta's request names no session"))?;
    let screen = session.screen();
    // Kage's own timings (RUST_LOG=kage_cli=debug, on the session's screen).
    for line in screen
        .lines()
        .filter(|line| line.contains("claude stopped") || line.contains("next lease granted"))
    {
        println!("run {index}: {}", line.trim());
    }
    drop(session);
    // The tmux server of the session must be gone before the next starts.
    let socket = home.root().join("tmux.sock");
    let deadline = Instant::now() + Duration::from_secs(5);
    while socket.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    let written_at = home
        .transcript(&session_id)
        .iter()
        .filter(|line| line["isApiErrorMessage"] == true)
        .find_map(|line| line["timestamp"].as_str()?.parse::<jiff::Timestamp>().ok())
        .ok_or_else(|| anyhow::anyhow!("no limit line in the transcript"))?;
    let written = Duration::from_secs_f64(
        (written_at.as_millisecond() as f64 / 1000.0 - limited_at).max(0.0),
    );

    // The baseline: Claude Code alone, resuming the same session.
    let started = Instant::now();
    let plain = home.interactive(
        &Credential::OAuth(gamma.clone()),
        &["--resume", &session_id, "--", "now say the word"],
    );
    anyhow::ensure!(
        standin.wait_for(WAIT, |requests| requests.iter().any(|r| is_turn(r, &gamma))),
        "the plain resume made no request:\n{}",
        plain.screen()
    );
    let baseline = started.elapsed();
    drop(plain);
    Ok(Run {
        gap,
        kage,
        written,
        baseline,
    })
}

fn millis(duration: Duration) -> String {
    format!("{:.0} ms", duration.as_secs_f64() * 1000.0)
}

fn sorted(values: &[f64]) -> Vec<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted
}

#[allow(clippy::print_stdout, reason = "a benchmark prints its figures")]
fn main() -> anyhow::Result<()> {
    let standin = StandIn::start();
    let scratch = tempfile::Builder::new()
        .prefix("kage-failover-bench")
        .tempdir()?;
    let mut runs = Vec::with_capacity(RUNS);
    for index in 0..RUNS {
        runs.push(one_run(&standin, scratch.path(), index)?);
    }
    println!(
        "{:<58} {:>5} {:>8} {:>8} {:>8}",
        "measure (real Claude Code 2.1.197, stand-in API)", "runs", "min", "p50", "max"
    );
    let ms = |duration: Duration| duration.as_secs_f64() * 1000.0;
    let rows: [(&str, Vec<f64>); 7] = [
        (
            "failover gap: 429 on alpha -> first request on beta",
            runs.iter().map(|run| ms(run.gap)).collect(),
        ),
        (
            "  Kage: 429 -> the next claude started",
            runs.iter().map(|run| ms(run.kage)).collect(),
        ),
        (
            "    of which Claude Code writes the limit line",
            runs.iter().map(|run| ms(run.written)).collect(),
        ),
        (
            "    of which Kage: line -> next claude started",
            runs.iter()
                .map(|run| ms(run.kage) - ms(run.written))
                .collect(),
        ),
        (
            "  Claude Code: started -> first request",
            runs.iter().map(|run| ms(run.gap) - ms(run.kage)).collect(),
        ),
        (
            "baseline: `claude --resume` start -> first request",
            runs.iter().map(|run| ms(run.baseline)).collect(),
        ),
        (
            "difference per run (gap - baseline)",
            runs.iter()
                .map(|run| ms(run.gap) - ms(run.baseline))
                .collect(),
        ),
    ];
    for (label, values) in &rows {
        let sorted = sorted(values);
        println!(
            "{label:<58} {:>5} {:>6.0} ms {:>5.0} ms {:>5.0} ms",
            sorted.len(),
            sorted[0],
            sorted[sorted.len() / 2],
            sorted[sorted.len() - 1],
        );
    }
    let share = sorted(&rows[3].1)[RUNS / 2];
    let worst = sorted(&rows[3].1)[RUNS - 1];
    println!();
    println!(
        "goal: Kage adds under {} to Claude Code's own start-up — p50 {share:.0} ms, max {worst:.0} ms ({})",
        millis(GOAL),
        if share < ms(GOAL) { "met" } else { "NOT met" }
    );
    Ok(())
}
