//! Plain mode: one log line per event on standard error, and the filter
//! that says a wait only when it changes (the live view shares both).

use std::collections::HashMap;
use std::time::Duration;

use kage_app::format::{elapsed, thousands};

use super::TimeView;
use crate::run::events::{RunEvent, TaskStatus};

/// Says a wait only when it changes, not on every look.
#[derive(Default)]
pub(super) struct WaitFilter {
    last: HashMap<usize, Option<String>>,
}

impl WaitFilter {
    pub(super) fn is_new(&mut self, event: &RunEvent) -> bool {
        match event {
            RunEvent::Waiting {
                task,
                earliest,
                earliest_reason,
                ..
            } => {
                let key = earliest
                    .as_ref()
                    .map(|(name, _)| format!("{name}: {earliest_reason:?}"));
                self.last.insert(task.index, key.clone()) != Some(key)
            }
            RunEvent::Leased { task, .. } | RunEvent::TaskFinished { task, .. } => {
                self.last.remove(&task.index);
                true
            }
            _ => true,
        }
    }
}

pub(super) fn short_session(session: &str) -> &str {
    session.get(..8).unwrap_or(session)
}

/// One log line per event (plain mode); `None` for events not worth a line.
pub fn plain_line(event: &RunEvent, times: &TimeView) -> Option<String> {
    let line = match event {
        RunEvent::Started {
            run_dir,
            tasks,
            parallel,
        } => format!(
            "running {tasks} task{} with up to {parallel} agents; output in {}",
            if *tasks == 1 { "" } else { "s" },
            run_dir.display()
        ),
        RunEvent::Waiting {
            task,
            until,
            earliest,
            earliest_reason,
            ..
        } => match earliest {
            Some((name, at)) => format!(
                "{}: every subscription is limited or busy; waiting for {name} ({}), back by {}",
                task.id,
                earliest_reason.as_deref().unwrap_or("unavailable"),
                times.at_relative(*at),
            ),
            None => format!(
                "{}: every subscription is busy; looking again at {}",
                task.id,
                times.at(*until)
            ),
        },
        RunEvent::Leased {
            task,
            attempt,
            subscription,
            waited,
            resume,
            ..
        } => {
            let mut line = format!("{}: attempt {attempt} on {subscription}", task.id);
            if let Some(session) = resume {
                line.push_str(&format!(", resuming session {}", short_session(session)));
            }
            if *waited >= Duration::from_millis(100) {
                line.push_str(&format!(" after waiting {}", elapsed(*waited)));
            }
            line
        }
        RunEvent::Progress { .. }
        | RunEvent::Pool(_)
        | RunEvent::TaskFinished {
            status: TaskStatus::NotStarted,
            ..
        } => return None,
        RunEvent::Note {
            task,
            subscription,
            text,
        } => format!("{}: on {subscription}: {text}", task.id),
        RunEvent::QuotaAlert { task, alert } => format!("{}: ! {alert}", task.id),
        RunEvent::Stopping {
            task,
            subscription,
            reason,
        } => format!(
            "{}: stopping the agent on {subscription}: {reason}",
            task.id
        ),
        RunEvent::AttemptEnded {
            task,
            attempt,
            subscription,
            reason,
            usage,
            change,
            next,
            ..
        } => {
            let mut line = format!(
                "{}: attempt {attempt} on {subscription}: {reason} ({} tokens)",
                task.id,
                thousands(usage.total_tokens())
            );
            if let Some(change) = change {
                line.push_str(&format!("; {subscription} is now {}", change.to));
                if let Some(until) = change.until {
                    line.push_str(&format!(" until {}", times.at_relative(until)));
                }
            }
            if next != "done" {
                line.push_str(&format!("; {next}"));
            }
            line
        }
        RunEvent::Backoff {
            task,
            until,
            reason,
        } => format!(
            "{}: {reason}; trying again at {}",
            task.id,
            times.at_relative(*until)
        ),
        RunEvent::TaskFinished {
            task,
            status,
            attempts,
            usage,
        } => {
            let mut line = format!(
                "{}: {} after {attempts} attempt{} ({} tokens)",
                task.id,
                status.label(),
                if *attempts == 1 { "" } else { "s" },
                thousands(usage.total_tokens())
            );
            if let Some(detail) = status.detail() {
                line.push_str(&format!(": {detail}"));
            }
            line
        }
        RunEvent::Warning { text } => format!("warning: {text}"),
        RunEvent::Interrupting => {
            "interrupted; stopping the agents and recording their usage".to_owned()
        }
    };
    Some(line)
}
