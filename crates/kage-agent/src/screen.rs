//! Everything `kage-agent` prints.
//!
//! Three modes ([`Mode`]):
//! - **live** (standard error is a terminal): an indicatif view with one
//!   line per running agent (task, subscription, state, tokens, elapsed),
//!   the pool at a glance and the waits; finished attempts scroll above it;
//! - **plain** (not a terminal): one log line per event on standard error;
//! - **json** (`--json`): every event as a JSON Lines envelope
//!   `{"type": …, "data": …}` on standard output.
//!
//! At the end, [`print_summary`] prints a table per task to standard output
//! (or one `summary` event with `--json`). A closed standard output (a
//! broken pipe) is not an error.
#![allow(
    clippy::print_stderr,
    reason = "the screen module is where kage-agent talks to people"
)]

mod worktree;

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use comfy_table::{Cell, CellAlignment, Table, presets};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use jiff::tz::TimeZone;
use kage_domain::signal::{ClassifyContext, describe_time};
use kage_domain::{Outcome, SubscriptionState, Timestamp, Usage};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::run::events::{PoolSummary, RunEvent, RunReport, TaskRef, TaskStatus};
use crate::run::watch::describe;

/// How events are shown.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    Live,
    Plain,
    Json,
}

impl Mode {
    /// `--json` wins; else live on a terminal, plain otherwise.
    pub fn choose(json: bool) -> Self {
        if json {
            Self::Json
        } else if std::io::stderr().is_terminal() {
            Self::Live
        } else {
            Self::Plain
        }
    }
}

/// How times are shown: `15:00` today, `Nov 26 15:00` otherwise, in the
/// pool clock's zone.
#[derive(Clone)]
pub struct TimeView {
    zone: TimeZone,
    now: Arc<dyn Fn() -> Timestamp + Send + Sync>,
}

impl TimeView {
    /// `now` reads the pool's clock.
    pub fn new(zone: TimeZone, now: Arc<dyn Fn() -> Timestamp + Send + Sync>) -> Self {
        Self { zone, now }
    }

    pub fn at(&self, at: Timestamp) -> String {
        describe_time(at, &ClassifyContext::new((self.now)(), self.zone.clone()))
    }

    pub fn now(&self) -> Timestamp {
        (self.now)()
    }

    /// [`TimeView::at`], plus how long from now when it is within the hour:
    /// `17:50 (in 8s)`.
    pub fn at_relative(&self, at: Timestamp) -> String {
        let now = self.now();
        let absolute = describe_time(at, &ClassifyContext::new(now, self.zone.clone()));
        let seconds = at.as_second() - now.as_second();
        match seconds {
            1..60 => format!("{absolute} (in {seconds}s)"),
            60..3600 => format!("{absolute} (in {}m)", (seconds + 59) / 60),
            _ => absolute,
        }
    }
}

/// Says a wait only when it changes, not on every look.
#[derive(Default)]
struct WaitFilter {
    last: HashMap<usize, Option<String>>,
}

impl WaitFilter {
    fn is_new(&mut self, event: &RunEvent) -> bool {
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

/// Write one line to standard output; a closed pipe is ignored.
fn stdout_line(line: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

/// Show events until the sender side is dropped.
pub async fn show(mode: Mode, times: TimeView, mut events: mpsc::UnboundedReceiver<RunEvent>) {
    match mode {
        Mode::Json => {
            while let Some(event) = events.recv().await {
                stdout_line(&envelope(&event).to_string());
            }
        }
        Mode::Plain => {
            let mut waits = WaitFilter::default();
            while let Some(event) = events.recv().await {
                if !waits.is_new(&event) {
                    continue;
                }
                if let Some(line) = plain_line(&event, &times) {
                    eprintln!("kage-agent: {line}");
                }
            }
        }
        Mode::Live => live(times, events).await,
    }
}

fn tokens(count: u64) -> String {
    let digits = count.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn dollars(micros: Option<u64>) -> String {
    match micros {
        Some(micros) => format!("${:.4}", micros as f64 / 1_000_000.0),
        None => "—".to_owned(),
    }
}

fn short_session(session: &str) -> &str {
    session.get(..8).unwrap_or(session)
}

fn duration_words(duration: Duration) -> String {
    let seconds = duration.as_secs();
    if seconds >= 3600 {
        format!("{}h{:02}m", seconds / 3600, (seconds % 3600) / 60)
    } else if seconds >= 60 {
        format!("{}m{:02}s", seconds / 60, seconds % 60)
    } else {
        format!("{:.1}s", duration.as_secs_f64())
    }
}

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
                line.push_str(&format!(" after waiting {}", duration_words(*waited)));
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
                tokens(usage.total_tokens())
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
                tokens(usage.total_tokens())
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

/// The live view: one spinner per running agent under a header.
async fn live(times: TimeView, mut events: mpsc::UnboundedReceiver<RunEvent>) {
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
            tokens(agent.earlier_tokens + agent.tokens)
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

fn usage_json(usage: &Usage) -> Value {
    json!({
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
        "cache_read_tokens": usage.cache_read_tokens,
        "total_tokens": usage.total_tokens(),
        "cost_micros_usd": usage.cost_micros_usd,
        "model": usage.model,
    })
}

fn outcome_json(outcome: &Outcome) -> Value {
    let mut value = json!({"kind": outcome.label(), "description": describe(outcome)});
    match outcome {
        Outcome::QuotaExhausted {
            resets_at: Some(at),
            ..
        } => value["resets_at"] = json!(at.to_string()),
        Outcome::RateLimited {
            retry_at: Some(at), ..
        } => value["retry_at"] = json!(at.to_string()),
        _ => {}
    }
    value
}

fn task_json(task: &TaskRef) -> Value {
    json!({"index": task.index, "id": task.id})
}

/// The ripgrep-style envelope of one event.
pub fn envelope(event: &RunEvent) -> Value {
    let (kind, data) = match event {
        RunEvent::Started {
            run_dir,
            tasks,
            parallel,
        } => (
            "started",
            json!({"run_dir": run_dir.display().to_string(), "tasks": tasks, "parallel": parallel}),
        ),
        RunEvent::Waiting {
            task,
            until,
            earliest,
            earliest_reason,
            passed_over,
        } => (
            "waiting",
            json!({
                "task": task_json(task),
                "until": until.to_string(),
                "earliest_subscription": earliest.as_ref().map(|(name, _)| name.to_string()),
                "earliest_reason": earliest_reason,
                "earliest_recovery": earliest.as_ref().map(|(_, at)| at.to_string()),
                "passed_over": passed_over,
            }),
        ),
        RunEvent::Leased {
            task,
            attempt,
            subscription,
            lease_id,
            waited,
            resume,
        } => (
            "leased",
            json!({
                "task": task_json(task),
                "attempt": attempt,
                "subscription": subscription.to_string(),
                "lease_id": lease_id.to_string(),
                "waited_ms": u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
                "resume_session_id": resume,
            }),
        ),
        RunEvent::Progress { task, tokens } => (
            "progress",
            json!({"task": task_json(task), "tokens": tokens}),
        ),
        RunEvent::Note {
            task,
            subscription,
            text,
        } => (
            "note",
            json!({"task": task_json(task), "subscription": subscription.to_string(), "text": text}),
        ),
        RunEvent::Stopping {
            task,
            subscription,
            reason,
        } => (
            "stopping",
            json!({"task": task_json(task), "subscription": subscription.to_string(), "reason": reason}),
        ),
        RunEvent::AttemptEnded {
            task,
            attempt,
            subscription,
            outcome,
            reason,
            usage,
            change,
            next,
        } => (
            "attempt_ended",
            json!({
                "task": task_json(task),
                "attempt": attempt,
                "subscription": subscription.to_string(),
                "outcome": outcome_json(outcome),
                "reason": reason,
                "usage": usage_json(usage),
                "state_change": change.as_ref().map(|change| json!({
                    "from": change.from.as_str(),
                    "to": change.to.as_str(),
                    "until": change.until.map(|at| at.to_string()),
                    "reason": change.reason,
                })),
                "next": next,
            }),
        ),
        RunEvent::Backoff {
            task,
            until,
            reason,
        } => (
            "backoff",
            json!({"task": task_json(task), "until": until.to_string(), "reason": reason}),
        ),
        RunEvent::TaskFinished {
            task,
            status,
            attempts,
            usage,
        } => (
            "task_finished",
            json!({
                "task": task_json(task),
                "status": status.label(),
                "detail": status.detail(),
                "attempts": attempts,
                "usage": usage_json(usage),
            }),
        ),
        RunEvent::Pool(summary) => (
            "pool",
            json!({
                "total": summary.total,
                "active": summary.active,
                "rate_limited": summary.rate_limited,
                "exhausted": summary.exhausted,
                "unhealthy": summary.unhealthy,
                "disabled": summary.disabled,
                "live_leases": summary.live_leases,
            }),
        ),
        RunEvent::Warning { text } => ("warning", json!({"text": text})),
        RunEvent::Interrupting => ("interrupting", json!({})),
    };
    json!({"type": kind, "data": data})
}

/// The summary as one JSON value.
pub fn summary_json(report: &RunReport) -> Value {
    let tasks: Vec<Value> = report
        .tasks
        .iter()
        .map(|task| {
            json!({
                "index": task.index,
                "id": task.id,
                "status": task.status.label(),
                "detail": task.status.detail(),
                "subscriptions": task.subscriptions().iter().map(|name| name.to_string()).collect::<Vec<_>>(),
                "attempts": task.attempts.iter().map(|attempt| json!({
                    "subscription": attempt.subscription.to_string(),
                    "outcome": outcome_json(&attempt.outcome),
                    "reason": attempt.reason,
                    "usage": usage_json(&attempt.usage),
                    "session_id": attempt.session_id,
                    "resumed_session_id": attempt.resumed,
                })).collect::<Vec<_>>(),
                "usage": usage_json(&task.usage()),
                "worktree": worktree::task_json(task.worktree.as_ref()),
            })
        })
        .collect();
    json!({
        "type": "summary",
        "data": {
            "run_dir": report.run_dir.display().to_string(),
            "interrupted": report.interrupted,
            "elapsed_ms": u64::try_from(report.elapsed.as_millis()).unwrap_or(u64::MAX),
            "exit_code": report.exit_code(),
            "worktrees": worktree::run_json(report.worktrees.as_ref()),
            "tasks": tasks,
            "usage": usage_json(&report.usage()),
        }
    })
}

/// The final table (or JSON summary), to standard output.
pub fn print_summary(mode: Mode, report: &RunReport) {
    if mode == Mode::Json {
        stdout_line(&summary_json(report).to_string());
        return;
    }
    stdout_line(&summary_table(report));
}

/// The summary table and the lines under it, as text.
pub fn summary_table(report: &RunReport) -> String {
    let mut table = Table::new();
    table.load_preset(presets::UTF8_FULL_CONDENSED);
    let mut header = vec![
        "Task",
        "Outcome",
        "Subscriptions",
        "Attempts",
        "Tokens",
        "Cost",
    ];
    let worktrees = report.worktrees.is_some();
    if worktrees {
        header.extend(["Branch", "Changes"]);
    }
    table.set_header(header);
    for task in &report.tasks {
        let usage = task.usage();
        let subscriptions: Vec<String> = task
            .subscriptions()
            .iter()
            .map(|name| name.to_string())
            .collect();
        let mut row = vec![
            Cell::new(&task.id),
            Cell::new(task.status.label()),
            Cell::new(if subscriptions.is_empty() {
                "—".to_owned()
            } else {
                subscriptions.join(" → ")
            }),
            Cell::new(task.attempts.len()).set_alignment(CellAlignment::Right),
            Cell::new(tokens(usage.total_tokens())).set_alignment(CellAlignment::Right),
            Cell::new(dollars(usage.cost_micros_usd)).set_alignment(CellAlignment::Right),
        ];
        if worktrees {
            row.push(Cell::new(worktree::branch(task.worktree.as_ref())));
            row.push(Cell::new(worktree::changes(task.worktree.as_ref())));
        }
        table.add_row(row);
    }
    let total = report.usage();
    let succeeded = report
        .tasks
        .iter()
        .filter(|task| task.status == TaskStatus::Succeeded)
        .count();
    let mut out = table.to_string();
    out.push('\n');
    out.push_str(&format!(
        "{succeeded}/{} tasks succeeded in {} · {} tokens · {}\n",
        report.tasks.len(),
        duration_words(report.elapsed),
        tokens(total.total_tokens()),
        dollars(total.cost_micros_usd)
    ));
    for task in &report.tasks {
        if let Some(detail) = task.status.detail() {
            out.push_str(&format!("{}: {detail}\n", task.id));
        }
    }
    if report.interrupted {
        out.push_str("interrupted: every agent was stopped and its usage recorded\n");
    }
    out.push_str(&worktree::kept_lines(report));
    out.push_str(&format!(
        "output of every task: {}",
        report.run_dir.display()
    ));
    out
}

/// A subscription's state for the demo's closing status table.
pub fn state_words(state: &SubscriptionState, times: &TimeView) -> String {
    match state.until() {
        Some(until) => format!(
            "{} until {} ({})",
            state.kind(),
            times.at(until),
            state.reason().unwrap_or("")
        ),
        None => match state.reason() {
            Some(reason) if !reason.is_empty() => format!("{} ({reason})", state.kind()),
            _ => state.kind().to_string(),
        },
    }
}

/// Print a table of rows to standard output.
pub fn print_table(header: &[&str], rows: Vec<Vec<String>>) {
    let mut table = Table::new();
    table.load_preset(presets::UTF8_FULL_CONDENSED);
    table.set_header(header.to_vec());
    for row in rows {
        table.add_row(row);
    }
    stdout_line(&table.to_string());
}

/// A line for people, on standard error.
pub fn say(line: &str) {
    eprintln!("{line}");
}

/// A line of data, on standard output.
pub fn data(line: &str) {
    stdout_line(line);
}

/// An error as `kage-agent: <chain>`.
pub fn error(error: &anyhow::Error) {
    eprintln!("kage-agent: {error:#}");
}

/// The amount of tokens as the tables show it (`12,450`).
pub fn token_count(count: u64) -> String {
    tokens(count)
}

/// Dollars from micros as the tables show them.
pub fn cost(micros: Option<u64>) -> String {
    dollars(micros)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use kage_domain::SubscriptionName;

    use super::*;
    use crate::run::events::{AttemptRecord, TaskReport};

    #[test]
    fn token_counts_get_thousands_separators() {
        assert_eq!(tokens(0), "0");
        assert_eq!(tokens(999), "999");
        assert_eq!(tokens(12_450), "12,450");
        assert_eq!(tokens(1_234_567), "1,234,567");
    }

    fn report() -> RunReport {
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

    #[test]
    fn summary_table_shows_each_task_and_the_totals() {
        let text = summary_table(&report());
        assert!(text.contains("work → personal"), "{text}");
        assert!(text.contains("3,000"), "{text}");
        assert!(text.contains("$0.0003"), "{text}");
        assert!(text.contains("1/2 tasks succeeded in 12.3s"), "{text}");
        assert!(
            text.contains("task-2: all subscriptions are limited"),
            "{text}"
        );
        assert!(text.ends_with("output of every task: /runs/x"), "{text}");
    }

    #[test]
    fn json_summary_and_events_use_the_envelope() {
        let value = summary_json(&report());
        assert_eq!(value["type"], "summary");
        assert_eq!(value["data"]["exit_code"], 75);
        assert_eq!(value["data"]["tasks"][0]["subscriptions"][1], "personal");
        assert_eq!(
            value["data"]["tasks"][0]["attempts"][1]["resumed_session_id"],
            "sess"
        );
        assert_eq!(value["data"]["usage"]["total_tokens"], 3000);
        let event = envelope(&RunEvent::Warning { text: "w".into() });
        assert_eq!(event, json!({"type": "warning", "data": {"text": "w"}}));
    }
}
