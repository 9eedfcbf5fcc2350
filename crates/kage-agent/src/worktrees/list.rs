//! `kage-agent worktrees list [--run ID] [--merged] [--json]`.

use serde_json::json;

use super::{matching, path_text, place};
use crate::cli::WorktreesListArgs;
use crate::screen;

/// Print the matching Kage branches: a table, or one JSON array (`[]` when
/// none).
///
/// # Errors
/// Not in a repository, or git fails.
pub fn run(args: &WorktreesListArgs) -> anyhow::Result<u8> {
    let (_repository, branches) = matching(&args.filter)?;
    if args.json {
        let listed: Vec<serde_json::Value> = branches
            .iter()
            .map(|branch| {
                json!({
                    "branch": branch.branch,
                    "run_id": branch.run_id,
                    "task": branch.task,
                    "worktree": path_text(branch.path.as_ref()),
                    "worktree_missing": branch.missing,
                    "locked": branch.locked,
                    "commits_not_in_head": branch.ahead,
                    "merged": branch.merged,
                })
            })
            .collect();
        screen::document(&kage_app::json::document(&listed));
        return Ok(0);
    }
    if branches.is_empty() {
        screen::say("no kage/… branches here match; `kage-agent run --worktree` makes them");
        return Ok(0);
    }
    let rows = branches
        .iter()
        .map(|branch| {
            vec![
                branch.branch.clone(),
                branch.ahead.to_string(),
                if branch.merged { "yes" } else { "no" }.to_owned(),
                place(branch),
            ]
        })
        .collect();
    screen::print_table(
        &["Branch", "Commits not in HEAD", "Merged", "Worktree"],
        rows,
    );
    screen::say(
        "review: git log -p HEAD..BRANCH · merge: git merge BRANCH · drop: kage-agent worktrees remove --run ID (or --merged)",
    );
    Ok(0)
}
