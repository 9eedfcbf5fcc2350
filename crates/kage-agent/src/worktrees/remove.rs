//! `kage-agent worktrees remove [--run ID] [--merged] [--all]`.

use anyhow::bail;

use super::matching;
use crate::cli::WorktreesRemoveArgs;
use crate::screen;
use crate::worktree::remove;

/// Remove the matching Kage branches and their worktrees, whatever state
/// they are in (locked half-made, folder gone, uncommitted edits).
///
/// # Errors
/// No filter and no `--all`, not in a repository, or git fails.
pub fn run(args: &WorktreesRemoveArgs) -> anyhow::Result<u8> {
    if args.filter.run.is_none() && !args.filter.merged && !args.all {
        bail!(
            "say which branches to remove: --run ID (one run's), --merged (those HEAD contains) or --all; `kage-agent worktrees list` shows them"
        );
    }
    let (repository, branches) = matching(&args.filter)?;
    if branches.is_empty() {
        screen::say("no kage/… branches here match; nothing removed");
        return Ok(0);
    }
    for branch in &branches {
        remove(&repository, branch)?;
        let unmerged = if branch.merged {
            String::new()
        } else {
            format!(" ({} commits not in HEAD dropped)", branch.ahead)
        };
        screen::data(&format!("removed {}{unmerged}", branch.branch));
    }
    Ok(0)
}
