//! The end of a run: a table per task and the totals on standard output
//! (or one `summary` record with `--json`), and the demo's pool table.

use comfy_table::{Cell, CellAlignment, Table, presets};
use kage_app::format::{NONE, cost, elapsed, thousands};
use kage_domain::SubscriptionState;

use super::json::summary_record;
use super::{Mode, TimeView, stdout_line, worktree};
use crate::run::events::{RunReport, TaskStatus};

/// The final table (or JSON summary), to standard output.
pub fn print_summary(mode: Mode, report: &RunReport) {
    if mode == Mode::Json {
        stdout_line(summary_record(report).trim_end());
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
                NONE.to_owned()
            } else {
                subscriptions.join(" → ")
            }),
            Cell::new(task.attempts.len()).set_alignment(CellAlignment::Right),
            Cell::new(thousands(usage.total_tokens())).set_alignment(CellAlignment::Right),
            Cell::new(cost(usage.cost_micros_usd)).set_alignment(CellAlignment::Right),
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
        elapsed(report.elapsed),
        thousands(total.total_tokens()),
        cost(total.cost_micros_usd)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::screen::fixture::report;

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
}
