//! The worktree part of the summary: each task's branch and what it
//! changed, then the kept worktrees with the commands to review, merge or
//! drop them; and the same as JSON.

use serde_json::{Value, json};

use crate::run::events::{RunReport, WorktreeRun};
use crate::worktree::WorktreeReport;

fn count(number: u32, word: &str) -> String {
    if number == 1 {
        format!("{number} {word}")
    } else {
        format!("{number} {word}s")
    }
}

/// The table's "Changes" cell: `1 commit · 2 files +10 −3`.
pub(super) fn changes(report: Option<&WorktreeReport>) -> String {
    let Some(report) = report else {
        return "—".to_owned();
    };
    if report.problem.is_some() {
        return "unknown (kept)".to_owned();
    }
    if !report.kept {
        return "no change (removed)".to_owned();
    }
    let mut text = format!(
        "{} · {} +{} −{}",
        count(report.commits, "commit"),
        count(report.files_changed, "file"),
        report.insertions,
        report.deletions
    );
    if report.committed_leftovers {
        text.push_str(" + uncommitted");
    }
    text
}

/// The table's "Branch" cell.
pub(super) fn branch(report: Option<&WorktreeReport>) -> String {
    match report {
        Some(report) if report.kept => report.branch.clone(),
        Some(_) | None => "—".to_owned(),
    }
}

/// The lines under the table: the kept worktrees and what to do with them.
pub(super) fn kept_lines(report: &RunReport) -> String {
    let Some(run) = &report.worktrees else {
        return String::new();
    };
    let base = run.base.get(..12).unwrap_or(&run.base);
    let kept: Vec<(&str, &WorktreeReport)> = report
        .tasks
        .iter()
        .filter_map(|task| Some((task.id.as_str(), task.worktree.as_ref()?)))
        .filter(|(_, worktree)| worktree.kept)
        .collect();
    let mut out = String::new();
    for (id, worktree) in &kept {
        if let Some(problem) = &worktree.problem {
            out.push_str(&format!(
                "{id}: could not take stock of its worktree ({problem}); it is kept as it is\n"
            ));
        }
    }
    if kept.is_empty() {
        out.push_str(&format!(
            "no task changed anything: every worktree and kage/{}/… branch was removed\n",
            run.run_id
        ));
        return out;
    }
    out.push_str(&format!(
        "worktrees kept (from {base}; uncommitted work was committed on its branch):\n"
    ));
    for (id, worktree) in &kept {
        out.push_str(&format!(
            "  {id}  {}  {}\n",
            worktree.branch,
            worktree.path.display()
        ));
    }
    let example = kept
        .first()
        .map_or("BRANCH", |(_, worktree)| &worktree.branch);
    out.push_str(&format!(
        "review: git log -p {base}..{example} · merge: git merge {example} · drop: kage-agent worktrees remove --run {}\n",
        run.run_id
    ));
    out
}

/// A task's `worktree` in the JSON summary (`null` without worktrees).
pub(super) fn task_json(report: Option<&WorktreeReport>) -> Value {
    let Some(report) = report else {
        return Value::Null;
    };
    json!({
        "branch": report.branch,
        "path": report.path.display().to_string(),
        "commits": report.commits,
        "files_changed": report.files_changed,
        "insertions": report.insertions,
        "deletions": report.deletions,
        "uncommitted_work_committed": report.committed_leftovers,
        "kept": report.kept,
        "problem": report.problem,
    })
}

/// The summary's `worktrees` (`null` without worktrees).
pub(super) fn run_json(run: Option<&WorktreeRun>) -> Value {
    let Some(run) = run else {
        return Value::Null;
    };
    json!({
        "repository": run.repository.display().to_string(),
        "base": run.base,
        "run_id": run.run_id,
        "folder": run.folder.display().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;
    use crate::run::events::{TaskReport, TaskStatus};

    fn task(id: &str, worktree: WorktreeReport) -> TaskReport {
        TaskReport {
            index: 1,
            id: id.to_owned(),
            prompt: "p".to_owned(),
            status: TaskStatus::Succeeded,
            attempts: Vec::new(),
            worktree: Some(worktree),
        }
    }

    fn report(tasks: Vec<TaskReport>) -> RunReport {
        RunReport {
            run_dir: PathBuf::from("/runs/r1"),
            worktrees: Some(WorktreeRun {
                repository: PathBuf::from("/src/app"),
                base: "0123456789abcdef0123".to_owned(),
                run_id: "r1".to_owned(),
                folder: PathBuf::from("/runs/r1/worktrees"),
            }),
            tasks,
            interrupted: false,
            elapsed: Duration::from_secs(1),
        }
    }

    fn changed() -> WorktreeReport {
        WorktreeReport {
            branch: "kage/r1/task-1".to_owned(),
            path: PathBuf::from("/runs/r1/worktrees/task-1"),
            commits: 2,
            files_changed: 3,
            insertions: 10,
            deletions: 1,
            committed_leftovers: true,
            kept: true,
            problem: None,
        }
    }

    #[test]
    fn kept_worktrees_come_with_the_commands_for_them() {
        let unchanged = WorktreeReport {
            branch: "kage/r1/task-2".to_owned(),
            ..WorktreeReport::default()
        };
        let report = report(vec![task("task-1", changed()), task("task-2", unchanged)]);
        assert_eq!(
            changes(report.tasks[0].worktree.as_ref()),
            "2 commits · 3 files +10 −1 + uncommitted"
        );
        assert_eq!(
            changes(report.tasks[1].worktree.as_ref()),
            "no change (removed)"
        );
        assert_eq!(branch(report.tasks[1].worktree.as_ref()), "—");
        let lines = kept_lines(&report);
        assert!(
            lines.contains("  task-1  kage/r1/task-1  /runs/r1/worktrees/task-1\n"),
            "{lines}"
        );
        assert!(!lines.contains("task-2"), "{lines}");
        assert!(
            lines.contains("git log -p 0123456789ab..kage/r1/task-1")
                && lines.contains("git merge kage/r1/task-1")
                && lines.contains("kage-agent worktrees remove --run r1"),
            "{lines}"
        );
        let value = task_json(report.tasks[0].worktree.as_ref());
        assert_eq!(value["commits"], 2);
        assert_eq!(value["uncommitted_work_committed"], true);
        assert_eq!(run_json(report.worktrees.as_ref())["run_id"], "r1");
        assert_eq!(task_json(None), Value::Null);
    }

    #[test]
    fn a_run_that_changed_nothing_says_so() {
        let report = report(vec![task("task-1", WorktreeReport::default())]);
        assert!(kept_lines(&report).starts_with("no task changed anything"));
        let mut without = report.clone();
        without.worktrees = None;
        assert_eq!(kept_lines(&without), "");
    }
}
