//! Running `git` as a child process, for the task worktrees.
//!
//! Always the `git` program found on `PATH`, never through a shell, with
//! every `GIT_*` variable removed (a `GIT_DIR`, `GIT_WORK_TREE` or
//! `GIT_INDEX_FILE` inherited from a hook or a wrapper would otherwise make
//! git act on another repository, tree or index than the one named with
//! `-C`), with `LC_ALL=C` (the output read back is English) and in its own
//! process group (a Ctrl-C at the terminal reaches Kage, which lets a
//! `git worktree add` in progress finish and then cleans up, instead of
//! killing git half-way).

use std::ffi::OsStr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What went wrong running git.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("cannot run git ({source}); install git or pass --isolation none")]
    Spawn {
        #[source]
        source: std::io::Error,
    },
    #[error("`git {args}` in {dir} failed: {stderr}")]
    Failed {
        args: String,
        dir: PathBuf,
        stderr: String,
    },
}

/// The standard output of a git command that succeeded.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct GitOutput {
    pub stdout: String,
}

impl GitOutput {
    /// The output without its trailing newline.
    pub fn trimmed(&self) -> &str {
        self.stdout.trim_end_matches(['\n', '\r'])
    }
}

/// `git -C dir ARGS`: its output, or why it failed.
///
/// # Errors
/// git cannot be started, or it exits non-zero (its standard error, trimmed,
/// is in the error).
pub fn git<I, S>(dir: &Path, args: I) -> Result<GitOutput, GitError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<std::ffi::OsString> = args
        .into_iter()
        .map(|arg| arg.as_ref().to_owned())
        .collect();
    let output = command(dir)
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| GitError::Spawn { source })?;
    if output.status.success() {
        return Ok(GitOutput {
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        });
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stderr = stderr
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    Err(GitError::Failed {
        args: args
            .iter()
            .map(|arg| arg.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" "),
        dir: dir.to_owned(),
        stderr: if stderr.is_empty() {
            format!("exit status {}", output.status)
        } else {
            stderr
        },
    })
}

/// Whether `git -C dir ARGS` exits 0 (for questions such as
/// `merge-base --is-ancestor`).
///
/// # Errors
/// git cannot be started.
pub fn git_succeeds<I, S>(dir: &Path, args: I) -> Result<bool, GitError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let status = command(dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|source| GitError::Spawn { source })?;
    Ok(status.success())
}

fn command(dir: &Path) -> Command {
    let mut command = Command::new("git");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("GIT_") {
            command.env_remove(&name);
        }
    }
    command
        .env("LC_ALL", "C")
        .env("GIT_TERMINAL_PROMPT", "0")
        .arg("-C")
        .arg(dir)
        .process_group(0);
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_names_the_command_and_what_git_said() {
        let dir = tempfile::tempdir().unwrap();
        let error = git(dir.path(), ["rev-parse", "--show-toplevel"]).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("git rev-parse --show-toplevel")
                && message.contains("not a git repository"),
            "{message}"
        );
        assert!(!git_succeeds(dir.path(), ["rev-parse", "--show-toplevel"]).unwrap());
    }
}
