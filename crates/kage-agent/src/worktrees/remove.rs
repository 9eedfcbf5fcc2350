//! `kage-agent worktrees remove [--run ID] [--merged] [--all]`.

use kage_app::exit::UsageError;
use serde_json::json;

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
        return Err(UsageError(
            "say which branches to remove: --run ID (one run's), --merged (those HEAD contains) or --all; `kage-agent worktrees list` shows them"
                .to_owned(),
        )
        .into());
    }
    let (repository, branches) = matching(&args.filter)?;
    if branches.is_empty() {
        screen::say("no kage/… branches here match; nothing removed");
        if args.json {
            screen::document("[]");
        }
        return Ok(0);
    }
    let mut removed = Vec::new();
    for branch in &branches {
        remove(&repository, branch)?;
        let dropped = if branch.merged { 0 } else { branch.ahead };
        if args.json {
            removed.push(json!({
                "branch": branch.branch,
                "merged": branch.merged,
                "commits_dropped": dropped,
            }));
        } else if branch.merged {
            screen::data(&format!("removed {}", branch.branch));
        } else {
            screen::data(&format!(
                "removed {} ({dropped} commits not in HEAD dropped)",
                branch.branch
            ));
        }
    }
    if args.json {
        screen::document(&kage_app::json::document(&removed));
    }
    Ok(0)
}
