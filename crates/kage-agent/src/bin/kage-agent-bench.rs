//! The runner's overhead per agent: `cargo run --release -p kage-agent --bin
//! kage-agent-bench`.
//!
//! The same simulated agent (this binary re-invoked as `simulate-claude`,
//! which prints Claude Code's stream-json for an instant success) is run
//! twice for each level of parallelism: spawned directly (spawn, read its
//! output to the end, wait), and through the runner (acquire a lease on an
//! embedded SQLite pool, read the credential, spawn with the leased
//! environment, parse every line, release with the usage, write the
//! output files). The difference, per agent, is the runner's overhead.
//! Target: under 5 ms per agent, and no more than linear growth up to 64
//! agents in parallel.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::disallowed_methods,
    reason = "a benchmark prints its figures and reads the wall clock"
)]

use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use comfy_table::{Table, presets};
use kage_agent::run::events::{EventSink, TaskStatus};
use kage_agent::run::task::{CommandTemplate, Task};
use kage_agent::run::{RunOptions, Runner};
use kage_agent::simulate::{Behaviour, simulate};
use kage_core::{
    AcquireRequest, AddSubscriptionRequest, CredentialInput, Pool, PoolSettings, ReleaseRequest,
};
use kage_domain::{CredentialKind, Outcome, Priority, SelectionRequest, SubscriptionName};
use kage_ports::{SecretString, SystemClock};
use kage_secrets::InMemorySecretStore;
use kage_store_sql::SqliteStore;
use tokio::io::AsyncReadExt;
use tokio::sync::{Semaphore, watch};

type BenchPool = Pool<SqliteStore, InMemorySecretStore, SystemClock>;

const SUBSCRIPTIONS: usize = 8;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("simulate-claude") {
        let code = simulate(&args[1..], &mut std::io::stdout().lock());
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(bench()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("kage-agent-bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn command() -> anyhow::Result<Vec<String>> {
    let exe = std::env::current_exe().context("cannot find this executable")?;
    Ok(vec![
        exe.display().to_string(),
        "simulate-claude".to_owned(),
        "-p".to_owned(),
        "{prompt}".to_owned(),
        "--output-format".to_owned(),
        "stream-json".to_owned(),
        "--verbose".to_owned(),
    ])
}

/// Spawn `agents` simulated agents directly, `parallel` at a time.
async fn direct(argv: &[String], credential: &str, agents: usize, parallel: usize) -> Duration {
    let semaphore = Arc::new(Semaphore::new(parallel));
    let started = Instant::now();
    let mut running = tokio::task::JoinSet::new();
    for index in 0..agents {
        let permit = Arc::clone(&semaphore).acquire_owned().await.expect("open");
        let mut args: Vec<String> = argv[1..].to_vec();
        args[2] = format!("task number {index}");
        let program = argv[0].clone();
        let credential = credential.to_owned();
        running.spawn(async move {
            let mut child = tokio::process::Command::new(program)
                .args(args)
                .env("CLAUDE_CODE_OAUTH_TOKEN", credential)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn the simulated agent");
            let mut output = Vec::new();
            let mut stdout = child.stdout.take().expect("piped");
            stdout.read_to_end(&mut output).await.expect("read");
            let status = child.wait().await.expect("wait");
            assert!(status.success() && output.ends_with(b"}\n"));
            drop(permit);
        });
    }
    while running.join_next().await.is_some() {}
    started.elapsed()
}

async fn through_runner(
    pool: &Arc<BenchPool>,
    argv: &[String],
    folder: &std::path::Path,
    agents: usize,
    parallel: usize,
) -> anyhow::Result<Duration> {
    let run_dir = folder.join(format!("run-{parallel}-{agents}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&run_dir)?;
    let mut options = RunOptions::new(
        CommandTemplate::new(argv.to_vec())?,
        run_dir,
        "kage-agent-bench".to_owned(),
    );
    options.parallel = parallel;
    options.max_wait = Some(Duration::from_secs(60));
    let (_cancel_sender, cancel) = watch::channel(false);
    let runner = Arc::new(Runner::new(
        Arc::clone(pool),
        options,
        EventSink::discard(),
        cancel,
    ));
    let tasks = (0..agents)
        .map(|index| Task {
            index: index + 1,
            id: format!("task-{}", index + 1),
            prompt: format!("task number {index}"),
            namespace: None,
            level: Default::default(),
            tags: Vec::new(),
            model: None,
            cwd: None,
        })
        .collect();
    let started = Instant::now();
    let report = runner.run(tasks).await;
    let elapsed = started.elapsed();
    let failed: Vec<_> = report
        .tasks
        .iter()
        .filter(|task| task.status != TaskStatus::Succeeded)
        .map(|task| format!("{}: {:?}", task.id, task.status))
        .collect();
    anyhow::ensure!(failed.is_empty(), "tasks failed: {failed:?}");
    Ok(elapsed)
}

/// Acquire + release alone: `parallel` loops of `rounds` each, at once.
async fn lease_only_parallel(
    pool: &Arc<BenchPool>,
    rounds: usize,
    parallel: usize,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut loops = tokio::task::JoinSet::new();
    for _ in 0..parallel {
        let pool = Arc::clone(pool);
        loops.spawn(async move { lease_only(&pool, rounds).await });
    }
    while let Some(result) = loops.join_next().await {
        result??;
    }
    Ok(started.elapsed())
}

/// Acquire + release alone, `rounds` times in a row.
async fn lease_only(pool: &BenchPool, rounds: usize) -> anyhow::Result<Duration> {
    let request = AcquireRequest {
        selection: SelectionRequest::default(),
        ttl: None,
        max_wait: None,
        holder: "kage-agent-bench".to_owned(),
    };
    let started = Instant::now();
    for _ in 0..rounds {
        let grant = pool.acquire(&request, |_| {}).await?;
        let _credential = pool.credential(&grant.lease).await?;
        pool.release(ReleaseRequest {
            lease_id: grant.lease.id,
            outcome: Outcome::Success,
            usage: Default::default(),
        })
        .await?;
    }
    Ok(started.elapsed())
}

fn ms(duration: Duration) -> String {
    format!("{:.1}", duration.as_secs_f64() * 1000.0)
}

async fn bench() -> anyhow::Result<()> {
    let folder = tempfile::tempdir()?;
    let store = SqliteStore::open(folder.path().join("kage.db")).await?;
    let pool = Arc::new(Pool::new(
        store,
        InMemorySecretStore::new(),
        SystemClock,
        PoolSettings::default(),
    ));
    let credential = Behaviour::Instant.fake_credential("bench");
    for index in 0..SUBSCRIPTIONS {
        pool.add_subscription(AddSubscriptionRequest {
            name: SubscriptionName::new(&format!("bench-{index}"))?,
            description: None,
            priority: Priority::DEFAULT,
            tags: Default::default(),
            kind: CredentialKind::OAuth,
            credential: CredentialInput::Keychain(SecretString::from(credential.clone())),
            max_concurrent: None,
        })
        .await?;
    }
    let argv = command()?;

    // Warm up the page cache, the database and the runtime.
    direct(&argv, &credential, 8, 4).await;
    through_runner(&pool, &argv, folder.path(), 8, 4).await?;

    let rounds = 200;
    let lease = lease_only(&pool, rounds).await?;
    println!(
        "lease only (acquire + read credential + release, {rounds} in a row): {} ms per agent",
        ms(lease / u32::try_from(rounds)?)
    );

    for parallel in [4, 64] {
        let per_loop = 512 / parallel;
        let elapsed = lease_only_parallel(&pool, per_loop, parallel).await?;
        println!(
            "lease only, {parallel} at once ({} leases): {} ms per agent, wall clock",
            per_loop * parallel,
            ms(elapsed / u32::try_from(per_loop * parallel)?)
        );
    }

    let mut table = Table::new();
    table.load_preset(presets::UTF8_FULL_CONDENSED);
    table.set_header([
        "parallel",
        "agents",
        "direct (ms)",
        "runner (ms)",
        "overhead per agent (ms)",
        "added latency per agent (ms)",
    ]);
    for (parallel, agents) in [(1, 64), (4, 128), (16, 128), (64, 128), (64, 256)] {
        // Best of three, alternating, to damp the noise of a shared machine.
        let mut best_direct = Duration::MAX;
        let mut best_runner = Duration::MAX;
        for _ in 0..3 {
            best_direct = best_direct.min(direct(&argv, &credential, agents, parallel).await);
            best_runner = best_runner
                .min(through_runner(&pool, &argv, folder.path(), agents, parallel).await?);
        }
        let overhead = best_runner.saturating_sub(best_direct);
        let per_agent = overhead / u32::try_from(agents)?;
        // Each agent waits for its own lease and release: with `parallel`
        // slots, the wall-clock overhead per agent times the slots is the
        // latency one agent sees added.
        let latency = per_agent * u32::try_from(parallel)?;
        table.add_row(vec![
            parallel.to_string(),
            agents.to_string(),
            ms(best_direct),
            ms(best_runner),
            ms(per_agent),
            ms(latency),
        ]);
    }
    println!("{table}");
    println!(
        "overhead per agent = (runner − direct) / agents, wall clock; added latency = overhead × parallel"
    );
    pool.store().close().await;
    Ok(())
}
