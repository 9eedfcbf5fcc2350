//! What the runner tells the screen, and the run's final report.
//!
//! The runner never prints: it sends [`RunEvent`]s to an [`EventSink`], and
//! the screen (live view, log lines or JSON Lines) shows them.

use std::path::PathBuf;
use std::time::Duration;

use kage_domain::{LeaseId, Outcome, QuotaAlert, StateKind, SubscriptionName, Timestamp, Usage};
use tokio::sync::mpsc;

use crate::worktree::{WorktreeReport, WorktreeSetup};

/// Which task an event is about.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TaskRef {
    pub index: usize,
    pub id: String,
}

/// A state change an attempt's release caused.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct StateChange {
    pub from: StateKind,
    pub to: StateKind,
    pub until: Option<Timestamp>,
    pub reason: String,
}

/// The pool at a glance.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct PoolSummary {
    pub total: usize,
    pub active: usize,
    pub rate_limited: usize,
    pub exhausted: usize,
    pub unhealthy: usize,
    pub disabled: usize,
    pub live_leases: u32,
}

#[derive(Clone, PartialEq, Debug)]
pub enum RunEvent {
    Started {
        run_dir: PathBuf,
        tasks: usize,
        parallel: usize,
    },
    /// No subscription is available for the task; it waits.
    Waiting {
        task: TaskRef,
        /// When it looks again.
        until: Timestamp,
        /// The first candidate to come back, and when.
        earliest: Option<(SubscriptionName, Timestamp)>,
        /// Why that one is unavailable now (`rate_limited (…)`, `busy …`).
        earliest_reason: Option<String>,
        /// `name: why` for every subscription passed over.
        passed_over: Vec<String>,
    },
    Leased {
        task: TaskRef,
        attempt: u32,
        subscription: SubscriptionName,
        lease_id: LeaseId,
        waited: Duration,
        /// The session being resumed, if any.
        resume: Option<String>,
    },
    /// Tokens so far in the running attempt.
    Progress {
        task: TaskRef,
        tokens: u64,
    },
    /// Something worth saying about a running agent (an approaching limit,
    /// a retry).
    Note {
        task: TaskRef,
        subscription: SubscriptionName,
        text: String,
    },
    /// A subscription's quota passed an alert threshold (recorded once
    /// across every process; `notify_command` runs for it).
    QuotaAlert {
        task: TaskRef,
        alert: QuotaAlert,
    },
    /// Kage is stopping the agent.
    Stopping {
        task: TaskRef,
        subscription: SubscriptionName,
        reason: String,
    },
    AttemptEnded {
        task: TaskRef,
        attempt: u32,
        subscription: SubscriptionName,
        outcome: Outcome,
        reason: String,
        usage: Usage,
        change: Option<StateChange>,
        /// What the task does next, in words (`resume elsewhere`, `done`…).
        next: String,
    },
    /// The task pauses before its next attempt.
    Backoff {
        task: TaskRef,
        until: Timestamp,
        reason: String,
    },
    TaskFinished {
        task: TaskRef,
        status: TaskStatus,
        attempts: u32,
        usage: Usage,
    },
    Pool(PoolSummary),
    /// Something went wrong around an agent (a heartbeat, a release) that
    /// does not end the run.
    Warning {
        text: String,
    },
    /// Ctrl-C: the children are being stopped.
    Interrupting,
}

/// How a task ended.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum TaskStatus {
    Succeeded,
    Failed(String),
    /// No subscription became available within `--max-wait`.
    Unavailable(String),
    /// Stopped by Ctrl-C.
    Interrupted,
    /// Never started (the run was interrupted first).
    NotStarted,
}

impl TaskStatus {
    pub fn label(&self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed(_) => "failed",
            Self::Unavailable(_) => "unavailable",
            Self::Interrupted => "interrupted",
            Self::NotStarted => "not started",
        }
    }

    pub fn detail(&self) -> Option<&str> {
        match self {
            Self::Failed(detail) | Self::Unavailable(detail) => Some(detail),
            _ => None,
        }
    }
}

/// One attempt, as the summary shows it.
#[derive(Clone, PartialEq, Debug)]
pub struct AttemptRecord {
    pub subscription: SubscriptionName,
    pub outcome: Outcome,
    pub reason: String,
    pub usage: Usage,
    pub session_id: Option<String>,
    /// The session this attempt resumed.
    pub resumed: Option<String>,
}

#[derive(Clone, PartialEq, Debug)]
pub struct TaskReport {
    pub index: usize,
    pub id: String,
    pub prompt: String,
    pub status: TaskStatus,
    pub attempts: Vec<AttemptRecord>,
    /// The task's branch and what it changed, when the run used worktrees.
    pub worktree: Option<WorktreeReport>,
}

impl TaskReport {
    pub fn usage(&self) -> Usage {
        self.attempts.iter().fold(Usage::default(), |mut sum, a| {
            sum.add(&a.usage);
            sum
        })
    }

    /// The subscriptions used, in order (a run of attempts on the same
    /// one counts once).
    pub fn subscriptions(&self) -> Vec<&SubscriptionName> {
        let mut names: Vec<&SubscriptionName> = Vec::new();
        for attempt in &self.attempts {
            if names.last() != Some(&&attempt.subscription) {
                names.push(&attempt.subscription);
            }
        }
        names
    }
}

/// Where a run's worktrees came from, for the commands the summary shows.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct WorktreeRun {
    /// The user's working tree.
    pub repository: PathBuf,
    /// The commit every task started from.
    pub base: String,
    /// The `<run id>` of the `kage/<run id>/<task id>` branches.
    pub run_id: String,
    /// Where the worktrees are.
    pub folder: PathBuf,
}

impl WorktreeRun {
    pub fn of(setup: &WorktreeSetup) -> Self {
        Self {
            repository: setup.repository.toplevel.clone(),
            base: setup.base.clone(),
            run_id: setup.run_id.clone(),
            folder: setup.folder.clone(),
        }
    }
}

#[derive(Clone, PartialEq, Debug)]
pub struct RunReport {
    pub run_dir: PathBuf,
    /// Set when every task ran in its own worktree.
    pub worktrees: Option<WorktreeRun>,
    pub tasks: Vec<TaskReport>,
    pub interrupted: bool,
    pub elapsed: Duration,
}

impl RunReport {
    /// 0 all succeeded, 130 interrupted, 75 when every failure was "no
    /// subscription available", else 1.
    pub fn exit_code(&self) -> u8 {
        if self.interrupted {
            return 130;
        }
        let failures: Vec<&TaskStatus> = self
            .tasks
            .iter()
            .map(|task| &task.status)
            .filter(|status| **status != TaskStatus::Succeeded)
            .collect();
        if failures.is_empty() {
            0
        } else if failures
            .iter()
            .all(|status| matches!(status, TaskStatus::Unavailable(_)))
        {
            75
        } else {
            1
        }
    }

    pub fn usage(&self) -> Usage {
        self.tasks.iter().fold(Usage::default(), |mut sum, task| {
            sum.add(&task.usage());
            sum
        })
    }
}

/// Where events go. Sending never fails: with no listener, events are
/// dropped.
#[derive(Clone, Debug)]
pub struct EventSink {
    sender: Option<mpsc::UnboundedSender<RunEvent>>,
}

impl EventSink {
    pub fn new(sender: mpsc::UnboundedSender<RunEvent>) -> Self {
        Self {
            sender: Some(sender),
        }
    }

    /// A sink that drops everything.
    pub fn discard() -> Self {
        Self { sender: None }
    }

    pub fn send(&self, event: RunEvent) {
        if let Some(sender) = &self.sender {
            let _ = sender.send(event);
        }
    }
}
