//! A finished run for the screen's tests: one task that failed over from
//! `work` to `personal`, one that never found a subscription.

use std::path::PathBuf;
use std::time::Duration;

use kage_domain::{Outcome, SubscriptionName, Usage};

use crate::run::events::{AttemptRecord, RunReport, TaskReport, TaskStatus};

pub(super) fn report() -> RunReport {
    let name = |n: &str| SubscriptionName::new(n).unwrap();
    let usage = |tokens: u64, cost: u64| Usage {
        input_tokens: tokens,
        cost_micros_usd: Some(cost),
        ..Usage::default()
    };
    RunReport {
        run_dir: PathBuf::from("/runs/x"),
        worktrees: None,
        interrupted: false,
        elapsed: Duration::from_millis(12_300),
        tasks: vec![
            TaskReport {
                index: 1,
                id: "task-1".into(),
                prompt: "p".into(),
                status: TaskStatus::Succeeded,
                attempts: vec![
                    AttemptRecord {
                        subscription: name("work"),
                        outcome: Outcome::QuotaExhausted {
                            resets_at: None,
                            reason: "5-hour limit".into(),
                        },
                        reason: "5-hour limit".into(),
                        usage: usage(1000, 100),
                        session_id: Some("sess".into()),
                        resumed: None,
                    },
                    AttemptRecord {
                        subscription: name("personal"),
                        outcome: Outcome::Success,
                        reason: "completed".into(),
                        usage: usage(2000, 200),
                        session_id: Some("sess".into()),
                        resumed: Some("sess".into()),
                    },
                ],
                worktree: None,
            },
            TaskReport {
                index: 2,
                id: "task-2".into(),
                prompt: "q".into(),
                status: TaskStatus::Unavailable("all subscriptions are limited".into()),
                attempts: vec![],
                worktree: None,
            },
        ],
    }
}
