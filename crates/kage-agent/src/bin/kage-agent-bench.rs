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
//!
//! With `--worktree`: on a git repository of 10,000 files made at run time,
//! the runner with one worktree per task beside the runner without, and
//! `git worktree add` (and add + remove) alone, in the same run: rounds of
//! the four interleaved (order rotated, `sync` before each), reported as
//! medians with their interquartile range, and the worktree's cost compared
//! with git's within each round. Target: the worktree costs a task no more
//! than git's own `git worktree add` + `git worktree remove`.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::disallowed_methods,
    reason = "a benchmark prints its figures and reads the wall clock"
)]

use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use comfy_table::{Table, presets};
use kage_agent::git::git;
use kage_agent::run::events::{EventSink, TaskStatus};
use kage_agent::run::task::{CommandTemplate, Task};
use kage_agent::run::{RunOptions, Runner};
use kage_agent::simulate::{Behaviour, simulate};
use kage_agent::worktree::WorktreeSetup;
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
    let worktree = args.iter().any(|arg| arg == "--worktree");
    match runtime.block_on(bench(worktree)) {
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
    folder: &Path,
    agents: usize,
    parallel: usize,
) -> anyhow::Result<Duration> {
    through_runner_in(pool, argv, folder, agents, parallel, None, false).await
}

/// The runner, its agents in `cwd`, each task in its own worktree of
/// `cwd`'s repository when `worktrees`.
async fn through_runner_in(
    pool: &Arc<BenchPool>,
    argv: &[String],
    folder: &Path,
    agents: usize,
    parallel: usize,
    cwd: Option<&Path>,
    worktrees: bool,
) -> anyhow::Result<Duration> {
    let run_id = format!("run-{parallel}-{agents}-{}", uuid::Uuid::new_v4());
    let run_dir = folder.join(&run_id);
    std::fs::create_dir_all(&run_dir)?;
    let mut options = RunOptions::new(
        CommandTemplate::new(argv.to_vec())?,
        run_dir.clone(),
        "kage-agent-bench".to_owned(),
    );
    if worktrees {
        let repository = cwd.context("worktrees need a repository")?;
        options.worktrees = Some(Arc::new(WorktreeSetup::prepare(
            repository,
            None,
            &run_id,
            &run_dir,
            &[],
        )?));
    }
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
            cwd: cwd.map(Path::to_owned),
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
    if worktrees {
        // The simulated agent changes nothing: every worktree was removed.
        let kept = report
            .tasks
            .iter()
            .filter(|task| task.worktree.as_ref().is_none_or(|worktree| worktree.kept))
            .count();
        anyhow::ensure!(kept == 0, "{kept} worktrees were not made or not removed");
    }
    Ok(elapsed)
}

/// A repository of `files` files in folders of 100, one commit.
fn make_repository(folder: &Path, files: usize) -> anyhow::Result<PathBuf> {
    let repository = folder.join("repository");
    for index in 0..files {
        let dir = repository.join(format!("module-{:03}", index / 100));
        if index % 100 == 0 {
            std::fs::create_dir_all(&dir)?;
        }
        std::fs::write(
            dir.join(format!("file-{index:05}.rs")),
            format!("//! File {index}.\n\npub fn value() -> usize {{\n    {index}\n}}\n"),
        )?;
    }
    git(&repository, ["init", "--quiet", "--initial-branch=main"])?;
    git(&repository, ["add", "."])?;
    git(
        &repository,
        [
            "-c",
            "user.name=bench",
            "-c",
            "user.email=bench@localhost",
            "commit",
            "--quiet",
            "-m",
            "ten thousand files",
        ],
    )?;
    Ok(repository)
}

/// `git worktree add -b` of `tasks` new branches, `parallel` tasks at a
/// time but one git worktree command at a time, as in the runner (git's
/// worktree commands are not safe at once: an add can fail reading another
/// one's half-written folder); with `remove`, each is also removed with its
/// branch (timed too). Returns the wall clock of the timed part.
async fn git_worktree_alone(
    repository: &Path,
    folder: &Path,
    tasks: usize,
    parallel: usize,
    remove: bool,
) -> anyhow::Result<Duration> {
    let round = uuid::Uuid::new_v4().simple().to_string();
    let semaphore = Arc::new(Semaphore::new(parallel));
    let serial = Arc::new(std::sync::Mutex::new(()));
    let started = Instant::now();
    let mut running = tokio::task::JoinSet::new();
    for index in 0..tasks {
        let permit = Arc::clone(&semaphore).acquire_owned().await?;
        let serial = Arc::clone(&serial);
        let repository = repository.to_owned();
        let path = folder.join(format!("alone-{round}-{index}"));
        let branch = format!("alone/{round}/{index}");
        running.spawn_blocking(move || -> anyhow::Result<(PathBuf, String)> {
            let one_at_a_time = serial
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            git(
                &repository,
                [
                    "worktree".as_ref(),
                    "add".as_ref(),
                    "--quiet".as_ref(),
                    "-b".as_ref(),
                    branch.as_ref(),
                    path.as_os_str(),
                    "HEAD".as_ref(),
                ],
            )?;
            drop(one_at_a_time);
            if remove {
                let _one_at_a_time = serial
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                remove_worktree(&repository, &path, &branch)?;
            }
            drop(permit);
            Ok((path, branch))
        });
    }
    let mut made = Vec::new();
    while let Some(joined) = running.join_next().await {
        made.push(joined??);
    }
    let elapsed = started.elapsed();
    if !remove {
        for (path, branch) in made {
            remove_worktree(repository, &path, &branch)?;
        }
    }
    Ok(elapsed)
}

fn remove_worktree(repository: &Path, path: &Path, branch: &str) -> anyhow::Result<()> {
    git(
        repository,
        [
            "worktree".as_ref(),
            "remove".as_ref(),
            "--force".as_ref(),
            path.as_os_str(),
        ],
    )?;
    git(repository, ["branch", "--quiet", "-D", branch])?;
    Ok(())
}

/// The runner with and without worktrees on a repository of 10,000 files,
/// beside `git worktree add` alone.
async fn worktree_bench(
    pool: &Arc<BenchPool>,
    argv: &[String],
    folder: &Path,
) -> anyhow::Result<()> {
    let files = 10_000;
    let started = Instant::now();
    let repository = make_repository(folder, files)?;
    println!(
        "repository of {files} files made and committed in {} ms",
        ms(started.elapsed())
    );
    let runs = folder.join("worktree-runs");
    std::fs::create_dir_all(&runs)?;
    // Warm up the page cache and git's.
    through_runner_in(pool, argv, &runs, 2, 2, Some(&repository), true).await?;
    git_worktree_alone(&repository, &runs, 2, 2, true).await?;

    let mut times = Table::new();
    times.load_preset(presets::UTF8_FULL_CONDENSED);
    times.set_header([
        "parallel",
        "tasks",
        "runner",
        "runner --worktree",
        "worktree cost",
        "git worktree add",
        "git worktree add + remove",
    ]);
    let mut paired = Table::new();
    paired.load_preset(presets::UTF8_FULL_CONDENSED);
    paired.set_header([
        "parallel",
        "cost − (add + remove)",
        "cost ÷ add",
        "cost ÷ (add + remove)",
        "goal: cost ÷ (add + remove) ≤ 1",
    ]);
    for (parallel, tasks) in [(1, 4), (4, 8)] {
        // Rounds of the four back to back, interleaved: each round in
        // another order and each measurement after a `sync` (10,000 new
        // files are tens of megabytes of dirty pages, and whichever
        // measurement runs while the kernel writes back the one before it
        // pays for both). Each figure is the median over the rounds with
        // its interquartile range, and each comparison is made within a
        // round (the runner beside git measured a few seconds apart), so
        // that a shared disk's load, which changes from one minute to the
        // next, weighs on both sides alike.
        let mut rounds: Vec<[Duration; 4]> = Vec::new();
        for round in 0..ROUNDS {
            let mut measured = [Duration::ZERO; 4];
            for step in 0..4 {
                let which = (step + round) % 4;
                sync_disks()?;
                measured[which] = match which {
                    0 | 1 => {
                        through_runner_in(
                            pool,
                            argv,
                            &runs,
                            tasks,
                            parallel,
                            Some(&repository),
                            which == 1,
                        )
                        .await?
                    }
                    other => {
                        git_worktree_alone(&repository, &runs, tasks, parallel, other == 3).await?
                    }
                };
            }
            rounds.push(measured);
        }
        let count = u32::try_from(tasks)?;
        // Per task, in seconds: the runner, with worktrees, the worktree's
        // cost (the difference), git's add, git's add + remove.
        let per_task: Vec<[f64; 5]> = rounds
            .iter()
            .map(|round| {
                let each = |index: usize| (round[index] / count).as_secs_f64();
                [each(0), each(1), each(1) - each(0), each(2), each(3)]
            })
            .collect();
        let column = |index: usize| -> Vec<f64> { per_task.iter().map(|row| row[index]).collect() };
        let in_ms = |seconds: f64| format!("{:.1}", seconds * 1000.0);
        let ratio = |value: f64| format!("{value:.2}");
        times.add_row(vec![
            parallel.to_string(),
            tasks.to_string(),
            spread(column(0), in_ms),
            spread(column(1), in_ms),
            spread(column(2), in_ms),
            spread(column(3), in_ms),
            spread(column(4), in_ms),
        ]);
        let over: Vec<f64> = per_task.iter().map(|row| row[2] - row[4]).collect();
        let to_add: Vec<f64> = per_task
            .iter()
            .map(|row| row[2] / row[3].max(1e-9))
            .collect();
        let to_both: Vec<f64> = per_task
            .iter()
            .map(|row| row[2] / row[4].max(1e-9))
            .collect();
        let (low, middle, _) = quartiles(to_both.clone());
        let verdict = if middle <= 1.0 {
            "met".to_owned()
        } else if low <= 1.0 {
            format!("not shown: median {middle:.2}, within the spread")
        } else {
            format!("NOT met: median {middle:.2}")
        };
        paired.add_row(vec![
            parallel.to_string(),
            spread(over, in_ms),
            spread(to_add, ratio),
            spread(to_both, ratio),
            verdict,
        ]);
    }
    println!("per task, ms: median (interquartile range) of {ROUNDS} rounds");
    println!("{times}");
    println!(
        "each round's worktree cost beside git's in the same round: median (interquartile range)"
    );
    println!("{paired}");
    println!(
        "{ROUNDS} rounds of the four, interleaved (order rotated, sync before each); worktree cost per task = (runner --worktree − runner) / tasks, wall clock. The runner's cost is a worktree's whole life: git worktree add, taking stock when the task ends (one git status) and removing it with its branch (the simulated agent changes nothing), with git's worktree commands one at a time as git needs, here as in the runner. Goal (issue 15): no cost beyond git's own, i.e. cost ÷ (add + remove) at most 1"
    );
    Ok(())
}

/// `median (p25–p75)` of `values`, each shown with `show`.
fn spread(values: Vec<f64>, show: impl Fn(f64) -> String) -> String {
    let (low, middle, high) = quartiles(values);
    format!("{} ({}–{})", show(middle), show(low), show(high))
}

/// The first quartile, the median and the third quartile (nearest rank).
fn quartiles(mut values: Vec<f64>) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    let at = |fraction: f64| {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss,
            reason = "an index into a few rounds"
        )]
        let index = ((values.len().saturating_sub(1)) as f64 * fraction).round() as usize;
        values.get(index).copied().unwrap_or_default()
    };
    (at(0.25), at(0.5), at(0.75))
}

/// `sync`: write every dirty page back before a measurement.
fn sync_disks() -> anyhow::Result<()> {
    let status = std::process::Command::new("sync")
        .status()
        .context("cannot run sync")?;
    anyhow::ensure!(status.success(), "sync failed: {status}");
    Ok(())
}

/// Rounds of the worktree benchmark.
const ROUNDS: usize = 9;

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

async fn bench(worktree: bool) -> anyhow::Result<()> {
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

    if worktree {
        worktree_bench(&pool, &argv, folder.path()).await?;
        pool.store().close().await;
        return Ok(());
    }

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
