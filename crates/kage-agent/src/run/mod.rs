//! The runner: N agents at once, each on a leased subscription, with
//! failover that keeps the work.
//!
//! For every task: acquire a lease for its namespace and level (waiting for
//! the earliest recovery up to `max_wait`), read the credential, run one
//! [`attempt`], release the lease with the attempt's outcome and usage, and
//! then either finish, fail over to another subscription resuming the same
//! session, back off and retry, or fail. Ctrl-C (a `true` on the cancel
//! channel) stops every child, releases every lease with the usage seen so
//! far, and ends the run.

pub mod attempt;
pub mod child;
pub mod events;
pub mod task;
pub mod watch;

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kage_core::{AcquireError, AcquireRequest, Pool, ReleaseRequest, WaitNotice};
use kage_domain::{
    ErrorKind, ModelFamily, Outcome, PassOverReason, SelectionRequest, SignedDuration, StateKind,
    Timestamp,
};
use kage_ports::{Clock, SecretStore, SubscriptionStore};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch as channel};
use tokio::task::JoinSet;

use self::attempt::{AttemptPlan, run_attempt};
use self::events::{
    AttemptRecord, EventSink, PoolSummary, RunEvent, RunReport, StateChange, TaskRef, TaskReport,
    TaskStatus, WorktreeRun,
};
use self::task::{CommandTemplate, Task};
use self::watch::{Next, WatchSettings, backoff};
use crate::worktree::{TaskWorktree, WorktreeReport, WorktreeSetup};

/// How a run behaves.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub command: CommandTemplate,
    /// Agents at once.
    pub parallel: usize,
    /// Wait at most this long for a subscription, per lease.
    pub max_wait: Option<Duration>,
    /// Attempts per task, failovers included.
    pub max_attempts: u32,
    pub watch: WatchSettings,
    /// Between TERM and KILL when stopping an agent.
    pub stop_grace: Duration,
    /// First pause after an overload or a plain error; doubles.
    pub retry_backoff: Duration,
    /// The lease TTL; the pool's `lease_ttl` when `None`.
    pub lease_ttl: Option<Duration>,
    /// Where `task-N.stdout` and `task-N.stderr` go; must exist.
    pub run_dir: PathBuf,
    /// `kage-agent@host:pid`.
    pub holder: String,
    /// Send a [`RunEvent::Pool`] this often (for the live view).
    pub pool_summary_every: Option<Duration>,
    /// One git worktree per task (`--worktree`); every agent in the task's
    /// own `cwd` when `None`.
    pub worktrees: Option<Arc<WorktreeSetup>>,
    /// Start agents through the parent-death shim of this binary
    /// ([`kage_app::parent_death`]), so a `kill -9` of the runner ends
    /// them; off where the running binary is not `kage-agent` (unit tests).
    pub children_end_with_us: bool,
    /// Where a release that cannot be written keeps its usage
    /// ([`kage_app::spool`]); `None`: retried, then lost.
    pub spool: Option<kage_app::spool::Spool>,
    /// Runs `notify_command` for each [`RunEvent::QuotaAlert`] (the app's
    /// screen loop does, beside the screen).
    pub notifier: Option<kage_app::notify::Notifier>,
}

impl RunOptions {
    pub fn new(command: CommandTemplate, run_dir: PathBuf, holder: String) -> Self {
        Self {
            command,
            parallel: 4,
            max_wait: Some(Duration::from_secs(30 * 60)),
            max_attempts: 5,
            watch: WatchSettings::default(),
            stop_grace: Duration::from_secs(5),
            retry_backoff: Duration::from_secs(2),
            lease_ttl: None,
            run_dir,
            holder,
            pool_summary_every: None,
            worktrees: None,
            children_end_with_us: false,
            spool: None,
            notifier: None,
        }
    }
}

/// Runs tasks on a pool.
pub struct Runner<S, K, C> {
    pool: Arc<Pool<S, K, C>>,
    options: RunOptions,
    events: EventSink,
    cancel: channel::Receiver<bool>,
}

impl<S, K, C> Runner<S, K, C>
where
    S: SubscriptionStore + 'static,
    K: SecretStore + 'static,
    C: Clock + 'static,
{
    /// `cancel`: set to `true` to stop the run (Ctrl-C).
    pub fn new(
        pool: Arc<Pool<S, K, C>>,
        options: RunOptions,
        events: EventSink,
        cancel: channel::Receiver<bool>,
    ) -> Self {
        Self {
            pool,
            options,
            events,
            cancel,
        }
    }

    fn cancelled(&self) -> bool {
        *self.cancel.borrow()
    }

    fn ttl(&self) -> Duration {
        self.options
            .lease_ttl
            .unwrap_or(self.pool.settings().lease_ttl)
    }

    /// Run every task; returns when all have ended or the run was
    /// interrupted and every child stopped.
    pub async fn run(self: Arc<Self>, tasks: Vec<Task>) -> RunReport {
        let started = std::time::Instant::now();
        let total = tasks.len();
        let parallel = self.options.parallel.max(1);
        self.events.send(RunEvent::Started {
            run_dir: self.options.run_dir.clone(),
            tasks: total,
            parallel,
        });
        let summary_poller = self.options.pool_summary_every.map(|every| {
            let runner = Arc::clone(&self);
            tokio::spawn(async move {
                loop {
                    if let Ok(summary) = runner.pool_summary().await {
                        runner.events.send(RunEvent::Pool(summary));
                    }
                    tokio::time::sleep(every).await;
                }
            })
        });

        let semaphore = Arc::new(Semaphore::new(parallel));
        let mut running = JoinSet::new();
        let mut reports: Vec<Option<TaskReport>> = vec![None; total];
        let mut not_started = Vec::new();
        let mut cancel = self.cancel.clone();
        let mut tasks = tasks.into_iter().enumerate();
        for (slot, task) in tasks.by_ref() {
            let Some(permit) = free_slot(&semaphore, &mut cancel).await else {
                not_started.push((slot, task));
                break;
            };
            let runner = Arc::clone(&self);
            running.spawn(async move {
                let report = runner.run_task(task).await;
                drop(permit);
                (slot, report)
            });
        }
        not_started.extend(tasks);
        while let Some(joined) = running.join_next().await {
            match joined {
                Ok((slot, report)) => reports[slot] = Some(report),
                Err(error) => self.events.send(RunEvent::Warning {
                    text: format!("a task ended abnormally: {error}"),
                }),
            }
        }
        for (slot, task) in not_started {
            let report = TaskReport {
                index: task.index,
                id: task.id.clone(),
                prompt: task.prompt.clone(),
                status: TaskStatus::NotStarted,
                attempts: Vec::new(),
                worktree: None,
            };
            self.events.send(RunEvent::TaskFinished {
                task: TaskRef {
                    index: task.index,
                    id: task.id,
                },
                status: TaskStatus::NotStarted,
                attempts: 0,
                usage: Default::default(),
            });
            reports[slot] = Some(report);
        }
        if let Some(poller) = summary_poller {
            poller.abort();
        }
        if let Ok(summary) = self.pool_summary().await {
            self.events.send(RunEvent::Pool(summary));
        }
        RunReport {
            run_dir: self.options.run_dir.clone(),
            worktrees: self.options.worktrees.as_deref().map(WorktreeRun::of),
            tasks: reports.into_iter().flatten().collect(),
            interrupted: self.cancelled(),
            elapsed: started.elapsed(),
        }
    }

    async fn pool_summary(&self) -> Result<PoolSummary, kage_core::PoolError> {
        let status = self.pool.status().await?;
        Ok(PoolSummary {
            total: status.subscriptions.len(),
            active: status.count(StateKind::Active),
            rate_limited: status.count(StateKind::RateLimited),
            exhausted: status.count(StateKind::Exhausted),
            unhealthy: status.count(StateKind::Unhealthy),
            disabled: status.count(StateKind::Disabled),
            live_leases: status.subscriptions.iter().map(|s| s.live_leases).sum(),
        })
    }

    async fn run_task(&self, mut task: Task) -> TaskReport {
        let task_ref = TaskRef {
            index: task.index,
            id: task.id.clone(),
        };
        let worktree = match self.create_worktree(&task).await {
            Ok(worktree) => worktree,
            Err(reason) => {
                let status = TaskStatus::Failed(reason);
                self.events.send(RunEvent::TaskFinished {
                    task: task_ref,
                    status: status.clone(),
                    attempts: 0,
                    usage: Default::default(),
                });
                return TaskReport {
                    index: task.index,
                    id: task.id.clone(),
                    prompt: task.prompt.clone(),
                    status,
                    attempts: Vec::new(),
                    worktree: None,
                };
            }
        };
        if let Some(worktree) = &worktree {
            // Every attempt, failovers included, runs here: the resumed
            // agent finds its edits and its transcript.
            task.cwd = Some(worktree.cwd.clone());
        }
        let (status, attempts) = self.drive(&task, &task_ref).await;
        let worktree = match worktree {
            Some(worktree) => Some(self.finish_worktree(worktree, &task, &status).await),
            None => None,
        };
        let report = TaskReport {
            index: task.index,
            id: task.id.clone(),
            prompt: task.prompt.clone(),
            status,
            attempts,
            worktree,
        };
        self.events.send(RunEvent::TaskFinished {
            task: task_ref,
            status: report.status.clone(),
            attempts: u32::try_from(report.attempts.len()).unwrap_or(u32::MAX),
            usage: report.usage(),
        });
        report
    }

    /// The task's worktree, when the run has them. git runs on a blocking
    /// thread; it is never cancelled half-way (a Ctrl-C lets it finish).
    async fn create_worktree(&self, task: &Task) -> Result<Option<TaskWorktree>, String> {
        let Some(setup) = &self.options.worktrees else {
            return Ok(None);
        };
        let setup = Arc::clone(setup);
        let (id, index) = (task.id.clone(), task.index);
        match tokio::task::spawn_blocking(move || setup.create(&id, index)).await {
            Ok(Ok(worktree)) => Ok(Some(worktree)),
            Ok(Err(error)) => Err(error.to_string()),
            Err(error) => Err(format!(
                "cannot set up the worktree of {}: {error}",
                task.id
            )),
        }
    }

    /// Take stock of the task's worktree; a failure keeps it and says why.
    async fn finish_worktree(
        &self,
        worktree: TaskWorktree,
        task: &Task,
        status: &TaskStatus,
    ) -> WorktreeReport {
        let Some(setup) = self.options.worktrees.clone() else {
            return WorktreeReport::default();
        };
        let (id, label) = (task.id.clone(), status.label());
        let kept = worktree.clone();
        let joined = tokio::task::spawn_blocking(move || setup.finish(&worktree, &id, label)).await;
        let problem = match joined {
            Ok(Ok(report)) => return report,
            Ok(Err(error)) => error.to_string(),
            Err(error) => error.to_string(),
        };
        self.events.send(RunEvent::Warning {
            text: format!(
                "could not take stock of the worktree of {} ({problem}); it is kept at {}",
                task.id,
                kept.path.display()
            ),
        });
        WorktreeReport {
            branch: kept.branch,
            path: kept.path,
            kept: true,
            problem: Some(problem),
            ..WorktreeReport::default()
        }
    }

    fn open_log(&self, task: &Task, stream: &str) -> std::io::Result<File> {
        let path = log_path(&self.options.run_dir, task.index, stream);
        OpenOptions::new().create(true).append(true).open(path)
    }

    /// The attempts of one task until it ends.
    async fn drive(&self, task: &Task, task_ref: &TaskRef) -> (TaskStatus, Vec<AttemptRecord>) {
        let mut attempts: Vec<AttemptRecord> = Vec::new();
        let mut session: Option<String> = None;
        let mut retries_after_errors = 0;
        let mut last_reason = String::new();
        let mut cancel = self.cancel.clone();
        let mut stdout_log = match self.open_log(task, "stdout") {
            Ok(file) => file,
            Err(error) => {
                return (
                    TaskStatus::Failed(format!(
                        "cannot write the output of {} to {}: {error}",
                        task.id,
                        self.options.run_dir.display()
                    )),
                    attempts,
                );
            }
        };
        let ttl = self.ttl();
        // The agent command's own `--model X` is what the agent runs; else
        // the task's (or `--model`'s) model.
        let model = self
            .options
            .command
            .model()
            .or(task.model.as_deref())
            .and_then(ModelFamily::of);
        let mut request = AcquireRequest {
            selection: SelectionRequest {
                namespace: task.namespace.clone(),
                level: task.level,
                required_tags: task.tags.clone(),
                model,
            },
            ttl: Some(ttl),
            max_wait: self.options.max_wait,
            holder: kage_app::with_task(&self.options.holder, &task.id),
        };

        loop {
            if self.cancelled() {
                return (TaskStatus::Interrupted, attempts);
            }
            let number = u32::try_from(attempts.len()).unwrap_or(u32::MAX) + 1;
            if number > self.options.max_attempts {
                let plural = if self.options.max_attempts == 1 {
                    ""
                } else {
                    "s"
                };
                return (
                    TaskStatus::Failed(format!(
                        "gave up after {} attempt{plural} (last: {last_reason}); raise --max-attempts or see `kage subscription status`",
                        self.options.max_attempts
                    )),
                    attempts,
                );
            }

            // Lease.
            let events = self.events.clone();
            let on_wait = |notice: &WaitNotice| {
                events.send(waiting_event(task_ref, notice));
            };
            if let Some(spool) = &self.options.spool
                && let Err(error) = spool.check_room()
            {
                return (TaskStatus::Unavailable(format!("{error:#}")), attempts);
            }
            // A subscription whose credential cannot be read is marked
            // unhealthy and the acquire moves on to the next one.
            let granted = tokio::select! {
                granted = self.pool.acquire_with_credential(&request, on_wait) => granted,
                () = wait_cancelled(&mut cancel) => return (TaskStatus::Interrupted, attempts),
            };
            let granted = match granted {
                Ok(granted) => granted,
                Err(error @ AcquireError::Unavailable { .. }) => {
                    return (TaskStatus::Unavailable(error.to_string()), attempts);
                }
                Err(error) => return (TaskStatus::Failed(error.to_string()), attempts),
            };
            for unreadable in &granted.unreadable {
                self.events.send(RunEvent::Note {
                    task: task_ref.clone(),
                    subscription: unreadable.subscription.clone(),
                    text: format!(
                        "credential unreadable ({}); marked unhealthy, trying the next subscription",
                        unreadable.error
                    ),
                });
            }
            let grant = granted.grant;
            let credential = granted.credential;
            let lease = grant.lease;
            let environment = match self.pool.child_environment(&lease).await {
                Ok(environment) => environment,
                Err(error) => {
                    let reason =
                        format!("could not list the subscriptions' credential variables: {error}");
                    self.release(
                        &lease,
                        Outcome::Error {
                            kind: ErrorKind::Agent,
                            detail: "credential variables unreadable".to_owned(),
                        },
                        Default::default(),
                    )
                    .await;
                    return (TaskStatus::Failed(reason), attempts);
                }
            };
            self.events.send(RunEvent::Leased {
                task: task_ref.clone(),
                attempt: number,
                subscription: lease.subscription_name.clone(),
                lease_id: lease.id,
                waited: grant.waited,
                resume: session.clone(),
            });

            // Run.
            let argv = self.options.command.build(&task.prompt, session.as_deref());
            let stderr_log = match self.open_log(task, "stderr") {
                Ok(file) => file,
                Err(error) => {
                    self.release(
                        &lease,
                        Outcome::Error {
                            kind: ErrorKind::Agent,
                            detail: "run folder not writable".to_owned(),
                        },
                        Default::default(),
                    )
                    .await;
                    return (
                        TaskStatus::Failed(format!("cannot write the run folder: {error}")),
                        attempts,
                    );
                }
            };
            let run = run_attempt(
                &self.pool,
                AttemptPlan {
                    task: task_ref,
                    attempt: number,
                    lease: &lease,
                    environment: &environment,
                    credential: &credential,
                    argv: &argv,
                    cwd: task.cwd.as_deref(),
                    resume: session.clone(),
                    stdout_log: &mut stdout_log,
                    stderr_log,
                    settings: self.options.watch,
                    heartbeat_every: (ttl / 3).max(Duration::from_millis(50)),
                    ttl,
                    stop_grace: self.options.stop_grace,
                    end_with_us: self.options.children_end_with_us,
                },
                &self.events,
                &mut cancel,
            )
            .await;
            drop(credential);
            let end = run.end;

            // Release with what the attempt spent.
            let change = self
                .release(&lease, end.outcome.clone(), end.usage.clone())
                .await;
            attempts.push(AttemptRecord {
                subscription: lease.subscription_name.clone(),
                outcome: end.outcome.clone(),
                reason: end.reason.clone(),
                usage: end.usage.clone(),
                session_id: end.session_id.clone(),
                resumed: session.clone(),
            });
            let next_words = match (&end.next, run.interrupted) {
                (Next::Done, _) => "done",
                (_, true) => "interrupted",
                (Next::Failover, _) if end.session_id.is_some() => "resume on another subscription",
                (Next::Failover, _) => "retry on another subscription",
                (Next::RetryAfterBackoff, _) => "retry after a pause",
                (Next::RestartFresh, _) => "start a new session",
                (Next::Fail(_), _) => "failed",
            };
            self.events.send(RunEvent::AttemptEnded {
                task: task_ref.clone(),
                attempt: number,
                subscription: lease.subscription_name.clone(),
                outcome: end.outcome.clone(),
                reason: end.reason.clone(),
                usage: end.usage.clone(),
                change,
                next: next_words.to_owned(),
            });
            if end.next == Next::Done {
                return (TaskStatus::Succeeded, attempts);
            }
            if run.interrupted {
                return (TaskStatus::Interrupted, attempts);
            }
            if end.session_id.is_some() {
                session.clone_from(&end.session_id);
            }
            last_reason = end.reason.clone();
            // A model limit shows which model the agent uses: later attempts
            // pass over every subscription at its limit for that family.
            if let Outcome::ModelLimitReached { family, .. } = &end.outcome {
                request.selection.model.get_or_insert(*family);
            }
            match end.next {
                Next::Done => unreachable!("handled above"),
                Next::Failover => {}
                Next::RestartFresh => session = None,
                Next::RetryAfterBackoff => {
                    retries_after_errors += 1;
                    let pause = backoff(self.options.retry_backoff, retries_after_errors);
                    let until = add(self.pool.clock().now(), pause);
                    self.events.send(RunEvent::Backoff {
                        task: task_ref.clone(),
                        until,
                        reason: end.reason.clone(),
                    });
                    tokio::select! {
                        () = self.pool.clock().sleep_until(until) => {}
                        () = wait_cancelled(&mut cancel) => return (TaskStatus::Interrupted, attempts),
                    }
                }
                Next::Fail(reason) => return (TaskStatus::Failed(reason), attempts),
            }
        }
    }

    /// Release a lease; a failure is a warning (the lease expires by
    /// itself, but its usage would be lost, so say so).
    async fn release(
        &self,
        lease: &kage_ports::Lease,
        outcome: Outcome,
        usage: kage_domain::Usage,
    ) -> Option<StateChange> {
        // Retried for up to a TTL while the database cannot take the write,
        // then kept in the spool.
        match kage_app::spool::release_with_retry(
            &self.pool,
            ReleaseRequest {
                lease_id: lease.id,
                outcome,
                usage,
            },
            self.ttl(),
            self.options.spool.as_ref(),
        )
        .await
        {
            Ok(report) => report.transition.map(|transition| StateChange {
                from: transition.from,
                to: transition.to,
                until: transition.until,
                reason: transition.reason,
            }),
            Err(error) => {
                self.events.send(RunEvent::Warning {
                    text: format!(
                        "could not release the lease on {} ({error:#})",
                        lease.subscription_name
                    ),
                });
                None
            }
        }
    }
}

/// `run_dir/task-N.stdout` or `.stderr`.
pub fn log_path(run_dir: &Path, index: usize, stream: &str) -> PathBuf {
    run_dir.join(format!("task-{index}.{stream}"))
}

fn add(at: Timestamp, duration: Duration) -> Timestamp {
    at.checked_add(SignedDuration::try_from(duration).unwrap_or(SignedDuration::MAX))
        .unwrap_or(Timestamp::MAX)
}

/// A slot for the next task, or `None` once the run is cancelled. The
/// cancellation wins over a slot freed at the same moment (a biased select,
/// the cancel branch first), so a task not started at Ctrl-C is always
/// reported "not started", never "interrupted".
async fn free_slot(
    semaphore: &Arc<Semaphore>,
    cancel: &mut channel::Receiver<bool>,
) -> Option<OwnedSemaphorePermit> {
    tokio::select! {
        biased;
        () = wait_cancelled(cancel) => None,
        permit = Arc::clone(semaphore).acquire_owned() => Some(permit.expect("semaphore open")),
    }
}

/// Resolves when the cancel channel says `true`; never if its sender is
/// gone without saying so.
async fn wait_cancelled(cancel: &mut channel::Receiver<bool>) {
    if cancel.wait_for(|cancelled| *cancelled).await.is_err() {
        std::future::pending::<()>().await;
    }
}

fn waiting_event(task: &TaskRef, notice: &WaitNotice) -> RunEvent {
    RunEvent::Waiting {
        task: task.clone(),
        until: notice.until,
        earliest: notice.earliest_name.clone().zip(notice.earliest_recovery),
        earliest_reason: notice.earliest_name.as_ref().and_then(|name| {
            notice
                .passed_over
                .iter()
                .find(|passed| &passed.name == name)
                .map(|passed| pass_over_words(&passed.reason))
        }),
        passed_over: notice
            .passed_over
            .iter()
            .map(|passed| format!("{}: {}", passed.name, pass_over_words(&passed.reason)))
            .collect(),
    }
}

fn pass_over_words(reason: &PassOverReason) -> String {
    match reason {
        PassOverReason::NotRouted { rule } => format!("not routed by {rule}"),
        PassOverReason::MissingTags { missing } => {
            let tags: Vec<&str> = missing.iter().map(|tag| tag.as_str()).collect();
            format!("lacks tags {}", tags.join(","))
        }
        PassOverReason::NotActive { state } => match state.reason() {
            Some(reason) if !reason.is_empty() => format!("{}: {reason}", state.kind()),
            _ => state.kind().to_string(),
        },
        PassOverReason::AtCapacity {
            live_leases,
            max_concurrent,
            ..
        } => format!("busy ({live_leases}/{max_concurrent} leases)"),
        PassOverReason::ModelLimited { family, reason, .. } => {
            format!("{family} limit ({reason})")
        }
    }
}

#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;
