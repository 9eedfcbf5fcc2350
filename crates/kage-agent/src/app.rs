//! `kage-agent run`: config, pool, tasks and screen wired to the runner.
//!
//! The pool is opened the way `kage` opens it (`kage_app::pool`), so both
//! see the same config, database and credentials.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use kage_app::exit;
use kage_app::pool::{GlobalOptions, check_config_routes, load_config, open_pool_with};
use kage_config::{Env, Isolation};
use kage_core::Pool;
use kage_core::launch::is_nested;
use kage_domain::Timestamp;
use kage_ports::{Clock, SecretStore, SubscriptionStore};
use tokio::sync::{mpsc, watch};

use crate::cli::RunArgs;
use crate::run::events::{EventSink, RunEvent, RunReport};
use crate::run::task::{CommandTemplate, TaskDefaults, collect_tasks};
use crate::run::watch::WatchSettings;
use crate::run::{RunOptions, Runner};
use crate::screen::{self, Mode, TimeView};
use crate::worktree::{WorktreeSetup, default_isolation};

/// An error with the exit status it should end the process with.
#[derive(Debug)]
pub struct Failure {
    pub error: anyhow::Error,
    pub code: u8,
}

impl Failure {
    fn new(code: u8, error: anyhow::Error) -> Self {
        Self { error, code }
    }
}

impl From<anyhow::Error> for Failure {
    /// The exit code `kage` would give the same error ([`exit::code_for`]).
    fn from(error: anyhow::Error) -> Self {
        let code = exit::code_for(&error);
        Self { error, code }
    }
}

/// `kage-agent@host:pid`.
pub fn holder() -> String {
    kage_app::holder("kage-agent", std::process::id())
}

/// `$XDG_STATE_HOME/kage/runs`, else `~/.local/state/kage/runs`.
pub fn runs_folder(env: &Env) -> Option<PathBuf> {
    let state = env
        .get("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|path| path.is_absolute())
        .or_else(|| env.home_dir().map(|home| home.join(".local").join("state")))?;
    Some(state.join("kage").join("runs"))
}

/// A new run folder name: `20261120T120000Z-1a2b3c4d`.
pub fn run_folder_name(now: Timestamp) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "{}-{}",
        now.strftime("%Y%m%dT%H%M%SZ"),
        id.get(..8).unwrap_or(&id)
    )
}

/// Create the run folder (private to the user: agent output may hold
/// anything).
pub fn create_run_dir(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .with_context(|| format!("cannot create the run folder {}", path.display()))
}

/// Ctrl-C and SIGTERM set the cancel flag and say so.
pub fn watch_signals(
    cancel: watch::Sender<bool>,
    events: EventSink,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for Ctrl-C")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    Ok(tokio::spawn(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        events.send(RunEvent::Interrupting);
        let _ = cancel.send(true);
        // Further signals are absorbed: the children are being stopped.
        loop {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        }
    }))
}

/// Run the runner with a screen and Ctrl-C handling; print the summary.
pub async fn run_with_screen<S, K, C>(
    pool: Arc<Pool<S, K, C>>,
    mut options: RunOptions,
    tasks: Vec<crate::run::task::Task>,
    mode: Mode,
) -> anyhow::Result<RunReport>
where
    S: SubscriptionStore + 'static,
    K: SecretStore + 'static,
    C: Clock + 'static,
{
    if mode == Mode::Live {
        options.pool_summary_every = Some(Duration::from_secs(1));
    }
    let (sender, mut raw) = mpsc::unbounded_channel();
    let events = EventSink::new(sender);
    // Between the runner and the screen: run `notify_command` for each
    // quota alert (without holding the screen up).
    let (screen_sender, receiver) = mpsc::unbounded_channel();
    let notifier = options.notifier.take();
    let forward = tokio::spawn(async move {
        let mut notifying = Vec::new();
        while let Some(event) = raw.recv().await {
            if let (Some(notifier), RunEvent::QuotaAlert { alert, .. }) = (&notifier, &event) {
                let (notifier, alert) = (notifier.clone(), alert.clone());
                notifying.push(tokio::spawn(async move { notifier.notify(&alert).await }));
            }
            if screen_sender.send(event).is_err() {
                break;
            }
        }
        for notify in notifying {
            let _ = notify.await;
        }
    });
    let (cancel_sender, cancel) = watch::channel(false);
    let signals = watch_signals(cancel_sender, events.clone())?;
    let clock_pool = Arc::clone(&pool);
    let times = TimeView::new(
        pool.clock().time_zone(),
        Arc::new(move || clock_pool.clock().now()),
    );
    let screen_task = tokio::spawn(screen::show(mode, times, receiver));
    let runner = Arc::new(Runner::new(pool, options, events, cancel));
    let report = runner.run(tasks).await;
    signals.abort();
    let _ = signals.await;
    let _ = forward.await;
    let _ = screen_task.await;
    screen::print_summary(mode, &report);
    Ok(report)
}

/// Check the repository for task worktrees and say, on standard error,
/// what the tasks start from and that uncommitted changes stay behind.
fn prepare_worktrees(
    work_dir: &Path,
    base: Option<&str>,
    run_id: &str,
    run_dir: &Path,
    copy: &[PathBuf],
) -> Result<WorktreeSetup, Failure> {
    let setup = WorktreeSetup::prepare(work_dir, base, run_id, run_dir, copy)
        .map_err(|error| Failure::new(exit::USAGE, error.into()))?;
    let short = setup.base.get(..12).unwrap_or(&setup.base);
    screen::say(&format!(
        "each task runs in its own git worktree under {} on a branch kage/{}/<task>, from {short} (--isolation none to share one folder)",
        setup.folder.display(),
        setup.run_id
    ));
    match setup.repository.uncommitted_paths() {
        Ok(0) => {}
        Ok(count) => screen::say(&format!(
            "note: {count} uncommitted change{} in {} {} not carried into the task worktrees, which start from commit {short}; commit {} first if the agents need {}",
            if count == 1 { "" } else { "s" },
            setup.repository.toplevel.display(),
            if count == 1 { "is" } else { "are" },
            if count == 1 { "it" } else { "them" },
            if count == 1 { "it" } else { "them" },
        )),
        Err(error) => return Err(Failure::new(exit::FAILURE, error.into())),
    }
    Ok(setup)
}

/// `kage-agent run`.
pub async fn run(args: RunArgs, config_file: Option<PathBuf>) -> Result<u8, Failure> {
    let options = GlobalOptions::from_process().with_config_file(config_file);
    if !args.nested
        && let Some(name) = is_nested(|variable| options.env.get(variable).map(str::to_owned))
    {
        return Err(Failure::new(
            exit::FAILURE,
            anyhow::anyhow!(
                "kage-agent is running inside an agent that holds a Kage lease (KAGE_SUBSCRIPTION={name}); pass --nested to run agents from here anyway"
            ),
        ));
    }
    let config = load_config(&options).map_err(|error| Failure::new(exit::CONFIG, error.into()))?;
    let agent = config.agent();

    let command = if args.command.is_empty() {
        CommandTemplate::new(agent.command.clone())
    } else {
        CommandTemplate::new(args.command.clone())
    }
    .map_err(|error| Failure::new(exit::USAGE, error))?;

    let file_content = match &args.tasks_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the tasks file {}", path.display()))
                .map_err(|error| Failure::new(exit::USAGE, error))?,
        ),
        None => None,
    };
    let defaults = TaskDefaults {
        namespace: args.namespace.clone(),
        level: args.priority,
        tags: args.tags.clone(),
        model: args.model.clone(),
        cwd: args.cwd.clone(),
    };
    let tasks = collect_tasks(
        &args.tasks,
        args.tasks_file.as_deref().zip(file_content.as_deref()),
        &defaults,
    )
    .map_err(|error| Failure::new(exit::USAGE, error))?;
    if tasks.is_empty() {
        return Err(Failure::new(
            exit::USAGE,
            anyhow::anyhow!("no tasks to run; give --task TEXT or --tasks FILE"),
        ));
    }

    let parallel = usize::try_from(args.parallel.unwrap_or(agent.parallel))
        .unwrap_or(1)
        .max(1);
    let work_dir = match &args.cwd {
        Some(dir) => dir.clone(),
        None => std::env::current_dir().context("cannot read the current folder")?,
    };
    let isolation = if args.worktree {
        Isolation::Worktree
    } else {
        args.isolation
            .or(agent.isolation)
            .unwrap_or_else(|| default_isolation(&work_dir, parallel.min(tasks.len())))
    };
    if isolation == Isolation::None && (args.base.is_some() || !args.copy.is_empty()) {
        return Err(Failure::new(
            exit::USAGE,
            anyhow::anyhow!(
                "--base and --copy apply to task worktrees, and this run has none (--isolation none); drop them or pass --worktree"
            ),
        ));
    }
    if isolation == Isolation::Worktree
        && let Some(task) = tasks.iter().find(|task| task.cwd != defaults.cwd)
    {
        return Err(Failure::new(
            exit::USAGE,
            anyhow::anyhow!(
                "task {} has its own cwd, but with worktrees every task runs in its own worktree of {}; remove its cwd or pass --isolation none",
                task.id,
                work_dir.display()
            ),
        ));
    }

    let pool = open_pool_with(&options, &config).await?;
    check_config_routes(&pool, &config).await?;
    let spool = kage_app::spool::Spool::for_config(&config);
    if let Some(spool) = &spool {
        spool.replay(&pool).await;
    }
    let pool = Arc::new(pool);

    let run_id = run_folder_name(pool.clock().now());
    let run_dir = match &args.run_dir {
        Some(dir) => dir.clone(),
        None => runs_folder(&options.env)
            .context("cannot tell where to keep the run's output (neither XDG_STATE_HOME nor HOME is set); pass --run-dir DIR")?
            .join(&run_id),
    };
    let worktrees = match isolation {
        Isolation::None => None,
        Isolation::Worktree => Some(prepare_worktrees(
            &work_dir,
            args.base.as_deref(),
            &run_id,
            &run_dir,
            &args.copy,
        )?),
    };
    create_run_dir(&run_dir)?;

    let mut run_options = RunOptions::new(command, run_dir, holder());
    run_options.parallel = parallel;
    run_options.worktrees = worktrees.map(Arc::new);
    run_options.max_wait = Some(args.max_wait.unwrap_or(agent.max_wait));
    run_options.max_attempts = args.max_attempts;
    run_options.children_end_with_us = true;
    run_options.spool = spool;
    run_options.watch = WatchSettings {
        max_api_retries: args.max_api_retries.unwrap_or(agent.max_api_retries),
    };
    run_options.notifier = Some(kage_app::notify::Notifier::from_config(&config));
    let report = run_with_screen(pool, run_options, tasks, Mode::choose(args.json)).await?;
    Ok(report.exit_code())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_go_under_the_state_folder() {
        let env = Env::empty().with("HOME", "/home/me");
        assert_eq!(
            runs_folder(&env).unwrap(),
            PathBuf::from("/home/me/.local/state/kage/runs")
        );
        let env = env.with("XDG_STATE_HOME", "/state");
        assert_eq!(
            runs_folder(&env).unwrap(),
            PathBuf::from("/state/kage/runs")
        );
        let env = Env::empty().with("XDG_STATE_HOME", "relative");
        assert_eq!(runs_folder(&env), None);
    }

    #[test]
    fn run_folder_names_sort_by_time() {
        let name = run_folder_name(Timestamp::from_second(1_795_694_400).unwrap());
        assert!(name.starts_with("20261126T120000Z-"), "{name}");
        assert_eq!(name.len(), "20261126T120000Z-".len() + 8);
    }
}
