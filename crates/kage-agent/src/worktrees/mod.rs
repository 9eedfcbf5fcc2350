//! `kage-agent worktrees list|remove`: the `kage/<run id>/<task id>`
//! branches and worktrees that `run` kept (or a crash left).

pub mod list;
pub mod remove;

use std::path::PathBuf;

use anyhow::Context;

use crate::cli::{WorktreesArgs, WorktreesCommand, WorktreesFilter};
use crate::worktree::{KageBranch, Repository, inventory};

/// `kage-agent worktrees …`; returns the exit status.
///
/// # Errors
/// Not in a repository, git fails, or `remove` was not told which.
pub fn run(args: WorktreesArgs) -> anyhow::Result<u8> {
    match args.command {
        WorktreesCommand::List(args) => list::run(&args),
        WorktreesCommand::Remove(args) => remove::run(&args),
    }
}

/// The repository and its Kage branches that pass the filter.
fn matching(filter: &WorktreesFilter) -> anyhow::Result<(Repository, Vec<KageBranch>)> {
    let dir = match &filter.cwd {
        Some(dir) => dir.clone(),
        None => std::env::current_dir().context("cannot read the current folder")?,
    };
    let repository = Repository::open(&dir)?;
    let branches = inventory(&repository)?
        .into_iter()
        .filter(|branch| selected(filter, branch))
        .collect();
    Ok((repository, branches))
}

fn selected(filter: &WorktreesFilter, branch: &KageBranch) -> bool {
    filter.run.as_ref().is_none_or(|run| &branch.run_id == run) && (!filter.merged || branch.merged)
}

/// Where a branch's worktree is, in words.
fn place(branch: &KageBranch) -> String {
    match (&branch.path, branch.missing, branch.locked) {
        (None, _, _) => "no worktree".to_owned(),
        (Some(path), true, _) => format!("{} (gone)", path.display()),
        (Some(path), false, true) => format!("{} (locked: half-made)", path.display()),
        (Some(path), false, false) => path.display().to_string(),
    }
}

fn path_text(path: Option<&PathBuf>) -> Option<String> {
    path.map(|path| path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn branch(run: &str, merged: bool) -> KageBranch {
        KageBranch {
            branch: format!("kage/{run}/t"),
            run_id: run.to_owned(),
            task: "t".to_owned(),
            path: None,
            missing: false,
            locked: false,
            ahead: 0,
            merged,
        }
    }

    #[test]
    fn filters_combine() {
        let filter = WorktreesFilter {
            run: Some("a".into()),
            merged: true,
            cwd: None,
        };
        assert!(selected(&filter, &branch("a", true)));
        assert!(!selected(&filter, &branch("a", false)));
        assert!(!selected(&filter, &branch("b", true)));
        assert!(selected(&WorktreesFilter::default(), &branch("b", false)));
    }
}
