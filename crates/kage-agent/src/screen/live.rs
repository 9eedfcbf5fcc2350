//! Live mode (standard error is a terminal): an indicatif view with one
//! line per running agent (task, subscription, state, tokens, elapsed), the
//! pool at a glance and the waits; finished attempts scroll above it as the
//! plain lines.

use std::collections::HashMap;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use kage_app::format::thousands;
use tokio::sync::mpsc;

use super::TimeView;
use super::plain::{WaitFilter, plain_line, short_session};
use crate::run::events::{PoolSummary, RunEvent, TaskRef};

fn pool_words(summary: &PoolSummary) -> String {
    let mut parts = vec![format!("{}/{} active", summary.active, summary.total)];
    for (count, word) in [
        (summary.rate_limited, "rate limited"),
        (summary.exhausted, "exhausted"),
        (summary.unhealthy, "unhealthy"),
        (summary.disabled, "disabled"),
    ] {
        if count > 0 {
            parts.push(format!("{count} {word}"));
        }
    }
    parts.push(format!("{} leased", summary.live_leases));
    parts.join(", ")
}

/// The live view: one spinner per running agent under a header.
pub(super) async fn live(times: TimeView, mut events: mpsc::UnboundedReceiver<RunEvent>) {
    let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(8));
    let header = multi.add(ProgressBar::new_spinner());
    header.set_style(
        ProgressStyle::with_template("{spinner:.cyan} {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    header.enable_steady_tick(Duration::from_millis(120));
    let style = ProgressStyle::with_template("  {prefix:<14.bold} {msg:<60} {elapsed:>5}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());

    struct Agent {
        bar: ProgressBar,
        subscription: String,
        state: String,
        /// Tokens of the task's ended attempts.
        earlier_tokens: u64,
        /// Tokens of the running attempt.
        tokens: u64,
    }
    let mut agents: HashMap<usize, Agent> = HashMap::new();
    let mut pool = String::from("starting");
    let mut waits: HashMap<usize, String> = HashMap::new();
    let mut done = 0usize;
    let mut total = 0usize;
    let mut wait_filter = WaitFilter::default();

    let render = |agent: &Agent| {
        agent.bar.set_message(format!(
            "{:<18} {:<30} {:>9} tok",
            agent.subscription,
            agent.state,
            thousands(agent.earlier_tokens + agent.tokens)
        ));
    };
    let header_message = |pool: &str, waits: &HashMap<usize, String>, done: usize, total: usize| {
        let mut message = format!("{done}/{total} tasks done · pool: {pool}");
        if let Some(wait) = waits.values().next() {
            message.push_str(&format!(" · {wait}"));
            if waits.len() > 1 {
                message.push_str(&format!(" (+{} waiting)", waits.len() - 1));
            }
        }
        message
    };

    while let Some(event) = events.recv().await {
        match &event {
            RunEvent::Started { tasks, .. } => total = *tasks,
            RunEvent::Pool(summary) => pool = pool_words(summary),
            RunEvent::Waiting {
                task,
                until,
                earliest,
                ..
            } => {
                let text = match earliest {
                    Some((name, at)) => {
                        format!("waiting for {name} until {}", times.at_relative(*at))
                    }
                    None => format!("waiting for a free slot (next look {})", times.at(*until)),
                };
                let agent = agents.entry(task.index).or_insert_with(|| Agent {
                    bar: new_bar(&multi, &style, task),
                    subscription: String::new(),
                    state: String::new(),
                    earlier_tokens: 0,
                    tokens: 0,
                });
                agent.subscription = "—".to_owned();
                agent.state = match earliest {
                    Some((name, _)) => format!("waiting for {name}"),
                    None => "waiting".to_owned(),
                };
                render(agent);
                waits.insert(task.index, text);
            }
            RunEvent::Leased {
                task,
                subscription,
                resume,
                ..
            } => {
                waits.remove(&task.index);
                let agent = agents.entry(task.index).or_insert_with(|| Agent {
                    bar: new_bar(&multi, &style, task),
                    subscription: String::new(),
                    state: String::new(),
                    earlier_tokens: 0,
                    tokens: 0,
                });
                agent.tokens = 0;
                agent.subscription = subscription.to_string();
                agent.state = match resume {
                    Some(session) => format!("resuming {}", short_session(session)),
                    None => "running".to_owned(),
                };
                render(agent);
            }
            RunEvent::Progress { task, tokens } => {
                if let Some(agent) = agents.get_mut(&task.index) {
                    agent.tokens = *tokens;
                    render(agent);
                }
            }
            RunEvent::Stopping { task, .. } => {
                if let Some(agent) = agents.get_mut(&task.index) {
                    agent.state = "stopping".to_owned();
                    render(agent);
                }
            }
            RunEvent::AttemptEnded { task, usage, .. } => {
                if let Some(agent) = agents.get_mut(&task.index) {
                    agent.earlier_tokens += usage.total_tokens();
                    agent.tokens = 0;
                    agent.state = "between attempts".to_owned();
                    render(agent);
                }
            }
            RunEvent::Backoff { task, .. } => {
                if let Some(agent) = agents.get_mut(&task.index) {
                    agent.state = "pausing".to_owned();
                    render(agent);
                }
            }
            RunEvent::TaskFinished { task, .. } => {
                done += 1;
                waits.remove(&task.index);
                if let Some(agent) = agents.remove(&task.index) {
                    agent.bar.finish_and_clear();
                    multi.remove(&agent.bar);
                }
            }
            _ => {}
        }
        if wait_filter.is_new(&event)
            && let Some(line) = plain_line(&event, &times)
        {
            let _ = multi.println(line);
        }
        header.set_message(header_message(&pool, &waits, done, total));
    }
    for (_, agent) in agents.drain() {
        agent.bar.finish_and_clear();
    }
    header.finish_and_clear();
    let _ = multi.clear();
}

fn new_bar(multi: &MultiProgress, style: &ProgressStyle, task: &TaskRef) -> ProgressBar {
    let bar = multi.add(ProgressBar::new_spinner());
    bar.set_style(style.clone());
    bar.set_prefix(task.id.clone());
    bar.enable_steady_tick(Duration::from_millis(500));
    bar
}
