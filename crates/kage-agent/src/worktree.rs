//! One git worktree per task (`kage-agent run --worktree`).
//!
//! Each task gets `git worktree add -b kage/<run id>/<task id> <dir> <base>`
//! under the run folder (`<run folder>/worktrees/<task id>`, never inside
//! the user's tree), and every attempt of the task runs there, failovers
//! included: the resumed agent finds its edits and, since Claude Code keys
//! its transcripts by working directory, its conversation.
//!
//! The user's checkout, index and current branch are never touched: every
//! command runs with `-C` on the repository or on a task worktree, and the
//! only writes to the repository are the new branches and worktrees (and
//! their removal). Uncommitted changes in the user's tree are not carried
//! into the task worktrees, which start from a commit.
//!
//! After a task has ended, whatever it left uncommitted (tracked changes and
//! untracked files that are not ignored, but never the files `--copy` put
//! there) is committed on its branch as `kage: uncommitted work of task ID`
//! (no hooks, no signing, the user's identity or `kage-agent` when git has
//! none), so that the branch holds all of the task's work and can be
//! reviewed and merged like any other; the report says that it happened.
//! A task whose branch then has no commit is removed with its branch.
//!
//! Tasks run at once, but their `git worktree add` and stock-taking run one
//! at a time: git's worktree commands read each other's administrative
//! folders and fail on one another command has half written.
//!
//! Crash safety: the branch and worktree are made by one `git worktree add`,
//! which git runs in its own process group (a Ctrl-C lets it finish). After
//! a `kill -9` of Kage or of git itself, what is left is a branch under
//! `kage/<run id>/`, possibly a worktree git marked `locked initializing`,
//! possibly a folder that is gone: [`remove`] (`kage-agent worktrees
//! remove`) cleans all three (`git worktree remove --force --force`, which
//! also removes locked and missing worktrees, then `git branch -D`).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use kage_config::Isolation;

use crate::git::{GitError, git, git_succeeds};

/// The prefix of every branch Kage makes.
pub const BRANCH_PREFIX: &str = "kage/";

/// Where task worktrees go inside the run folder.
pub const WORKTREES_FOLDER: &str = "worktrees";

/// The isolation when neither the flags nor the config say: worktrees
/// when the working directory is in a git repository and more than one
/// agent runs at once. A bare repository, or a folder inside `.git`, counts
/// as a repository: the run is then refused (agents editing git's own files
/// side by side is never what was meant) rather than run there unisolated.
pub fn default_isolation(dir: &Path, agents_at_once: usize) -> Isolation {
    if agents_at_once > 1 && is_in_repository(dir) {
        Isolation::Worktree
    } else {
        Isolation::None
    }
}

/// Why worktrees cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum WorktreeError {
    #[error(
        "{dir} is not inside a git repository; run from a repository's working tree or pass --isolation none"
    )]
    NotARepository { dir: PathBuf },
    #[error(
        "{dir} is a bare repository (no working tree to branch from); run from a clone's working tree or pass --isolation none"
    )]
    Bare { dir: PathBuf },
    #[error(
        "{dir} is inside a git folder, not a working tree; run from the working tree or pass --isolation none"
    )]
    NotInWorkTree { dir: PathBuf },
    #[error(
        "HEAD of {dir} has no commit yet (branch {branch} is unborn); make a first commit, give --base REF, or pass --isolation none"
    )]
    UnbornHead { dir: PathBuf, branch: String },
    #[error("--base {base} is not a commit of {dir}; give a branch, tag or commit that exists")]
    BadBase { dir: PathBuf, base: String },
    #[error("--copy {path}: {problem}")]
    Copy { path: PathBuf, problem: String },
    #[error("cannot set up the worktree of task {task}: {source}")]
    Create {
        task: String,
        #[source]
        source: Box<WorktreeError>,
    },
    #[error(transparent)]
    Git(#[from] GitError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

/// The repository a run works on.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Repository {
    /// The top of the user's working tree.
    pub toplevel: PathBuf,
    /// Where the working directory is inside it (`""` at the top): the
    /// agents start in the same place inside their worktree.
    pub prefix: PathBuf,
}

/// Whether `dir` is in a git repository: a working tree, a bare
/// repository or a git folder (the default's question).
pub fn is_in_repository(dir: &Path) -> bool {
    git_succeeds(dir, ["rev-parse", "--git-dir"]).unwrap_or(false)
}

impl Repository {
    /// The repository whose working tree holds `dir`.
    ///
    /// # Errors
    /// Not a repository, a bare one, or inside a `.git` folder.
    pub fn open(dir: &Path) -> Result<Self, WorktreeError> {
        let answers = git(
            dir,
            ["rev-parse", "--is-bare-repository", "--is-inside-work-tree"],
        )
        .map_err(|error| match error {
            GitError::Failed { .. } => WorktreeError::NotARepository {
                dir: dir.to_owned(),
            },
            other => other.into(),
        })?;
        let mut lines = answers.stdout.lines();
        let bare = lines.next() == Some("true");
        let in_work_tree = lines.next() == Some("true");
        if bare {
            return Err(WorktreeError::Bare {
                dir: dir.to_owned(),
            });
        }
        if !in_work_tree {
            return Err(WorktreeError::NotInWorkTree {
                dir: dir.to_owned(),
            });
        }
        let places = git(dir, ["rev-parse", "--show-toplevel", "--show-prefix"])?;
        let mut lines = places.stdout.lines();
        let toplevel = PathBuf::from(lines.next().unwrap_or_default());
        let prefix = PathBuf::from(lines.next().unwrap_or_default());
        Ok(Self { toplevel, prefix })
    }

    /// The commit tasks start from: `base`, else `HEAD`.
    ///
    /// # Errors
    /// `HEAD` is unborn, or `base` names no commit.
    pub fn resolve_base(&self, base: Option<&str>) -> Result<String, WorktreeError> {
        let name = base.unwrap_or("HEAD");
        let spec = format!("{name}^{{commit}}");
        match git(
            &self.toplevel,
            [
                "rev-parse",
                "--verify",
                "--quiet",
                "--end-of-options",
                &spec,
            ],
        ) {
            Ok(out) => Ok(out.trimmed().to_owned()),
            Err(GitError::Failed { .. }) if base.is_none() => {
                let branch = git(&self.toplevel, ["symbolic-ref", "--short", "HEAD"])
                    .map(|out| out.trimmed().to_owned())
                    .unwrap_or_else(|_| "HEAD".to_owned());
                Err(WorktreeError::UnbornHead {
                    dir: self.toplevel.clone(),
                    branch,
                })
            }
            Err(GitError::Failed { .. }) => Err(WorktreeError::BadBase {
                dir: self.toplevel.clone(),
                base: name.to_owned(),
            }),
            Err(other) => Err(other.into()),
        }
    }

    /// How many paths of the user's tree differ from `HEAD` (modified,
    /// staged or untracked and not ignored).
    ///
    /// # Errors
    /// git fails.
    pub fn uncommitted_paths(&self) -> Result<usize, WorktreeError> {
        let status = git(&self.toplevel, ["status", "--porcelain", "-z"])?;
        Ok(status
            .stdout
            .split('\0')
            .filter(|entry| entry.len() > 3)
            .count())
    }
}

/// A task's worktree.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TaskWorktree {
    /// `kage/<run id>/<task id>`.
    pub branch: String,
    /// The worktree's top folder.
    pub path: PathBuf,
    /// Where the agent runs: the same place inside the worktree as the
    /// run's working directory is inside the user's tree.
    pub cwd: PathBuf,
}

/// What a task left in its worktree, for the summary.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct WorktreeReport {
    pub branch: String,
    pub path: PathBuf,
    /// Commits on the branch since the base (Kage's own commit included).
    pub commits: u32,
    pub files_changed: u32,
    pub insertions: u32,
    pub deletions: u32,
    /// Kage committed what the agent left uncommitted.
    pub committed_leftovers: bool,
    /// The worktree and branch are kept (the task changed something).
    pub kept: bool,
    /// Something went wrong while taking stock (the worktree is kept).
    pub problem: Option<String>,
}

/// The worktree plan of one run.
#[derive(Debug)]
pub struct WorktreeSetup {
    pub repository: Repository,
    /// The commit every task starts from.
    pub base: String,
    pub run_id: String,
    /// `<run folder>/worktrees`.
    pub folder: PathBuf,
    /// `--copy` paths, relative to the top of the working tree.
    pub copy: Vec<PathBuf>,
    names: Mutex<HashSet<String>>,
    /// Held around every git command that adds, reads or removes the
    /// repository's worktrees: git does not make them safe to run at once
    /// (a `git worktree add` reading the others can find one another add has
    /// only half written, and fail with `failed to read
    /// .git/worktrees/<name>/commondir`).
    git_lock: Mutex<()>,
}

impl WorktreeSetup {
    /// Check the repository, the base and the `--copy` paths.
    ///
    /// `dir` is the run's working directory, `copy` paths are relative to it
    /// (or absolute, inside the working tree).
    ///
    /// # Errors
    /// A refusal ([`WorktreeError`]) saying what to do instead.
    pub fn prepare(
        dir: &Path,
        base: Option<&str>,
        run_id: &str,
        run_dir: &Path,
        copy: &[PathBuf],
    ) -> Result<Self, WorktreeError> {
        let repository = Repository::open(dir)?;
        let base = repository.resolve_base(base)?;
        let copy = copy
            .iter()
            .map(|path| copy_source(&repository, dir, path))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            repository,
            base,
            run_id: ref_component(run_id, "run"),
            folder: run_dir.join(WORKTREES_FOLDER),
            copy,
            names: Mutex::new(HashSet::new()),
            git_lock: Mutex::new(()),
        })
    }

    /// `git worktree add -b kage/<run>/<task> <folder>/<task> <base>`, then
    /// the `--copy` files.
    ///
    /// # Errors
    /// git refuses (the branch exists, the folder is not empty…) or a copy
    /// fails; the error names the task.
    pub fn create(&self, task_id: &str, index: usize) -> Result<TaskWorktree, WorktreeError> {
        let name = self.unique_name(task_id, index);
        let branch = format!("{BRANCH_PREFIX}{}/{name}", self.run_id);
        let path = self.folder.join(&name);
        let wrap = |source: WorktreeError| WorktreeError::Create {
            task: task_id.to_owned(),
            source: Box::new(source),
        };
        std::fs::create_dir_all(&self.folder)
            .map_err(|source| WorktreeError::Io {
                what: format!("cannot create {}", self.folder.display()),
                source,
            })
            .map_err(wrap)?;
        let serial = self.serial();
        // Parallel checkout (one worker per core): on a large tree this
        // makes the task's worktree about twice as fast to write as a plain
        // `git worktree add` (docs/benchmarks.md, agent-worktree).
        git(
            &self.repository.toplevel,
            [
                "-c".as_ref(),
                "checkout.workers=0".as_ref(),
                "worktree".as_ref(),
                "add".as_ref(),
                "--quiet".as_ref(),
                "-b".as_ref(),
                branch.as_ref(),
                path.as_os_str(),
                self.base.as_ref(),
            ],
        )
        .map_err(|error| wrap(error.into()))?;
        drop(serial);
        for relative in &self.copy {
            copy_path(
                &self.repository.toplevel.join(relative),
                &path.join(relative),
            )
            .map_err(wrap)?;
        }
        // A folder the base commit does not have (untracked, or made after
        // it) leaves the agent at the top of its worktree.
        let cwd = Some(path.join(&self.repository.prefix))
            .filter(|cwd| cwd.is_dir())
            .unwrap_or_else(|| path.clone());
        Ok(TaskWorktree { branch, path, cwd })
    }

    /// Take stock of a task's worktree once the task has ended: commit what
    /// it left uncommitted, count its commits and changes, and remove it
    /// (with its branch) when it changed nothing.
    ///
    /// # Errors
    /// git fails; the worktree is then left as it is.
    pub fn finish(
        &self,
        worktree: &TaskWorktree,
        task_id: &str,
        outcome: &str,
    ) -> Result<WorktreeReport, WorktreeError> {
        let _serial = self.serial();
        // One git process answers both questions when the task changed
        // nothing (the common case): what is left uncommitted, and where
        // the worktree's branch points. `--no-optional-locks`: the index
        // refreshed by the stock-taking is not written back, since a
        // worktree without changes is removed right after.
        let mut status_args = vec![
            "--no-optional-locks".to_owned(),
            "status".to_owned(),
            "--porcelain=v2".to_owned(),
            "--branch".to_owned(),
            "--untracked-files=all".to_owned(),
            "-z".to_owned(),
            "--".to_owned(),
            ".".to_owned(),
        ];
        status_args.extend(self.copy_excludes());
        let status = WorktreeStatus::parse(&git(&worktree.path, &status_args)?.stdout);
        let leftovers = status.leftovers;
        if leftovers {
            git(&worktree.path, ["add", "--all", "--", "."])?;
            if !self.copy.is_empty() {
                // Copied files that are not ignored were just staged: take
                // them back out (they are untracked at the base).
                let mut reset_args =
                    vec!["reset".to_owned(), "--quiet".to_owned(), "--".to_owned()];
                reset_args.extend(
                    self.copy
                        .iter()
                        .map(|path| format!(":(top,literal){}", path.display())),
                );
                git(&worktree.path, &reset_args)?;
            }
            let message = format!("kage: uncommitted work of task {task_id} ({outcome})");
            let mut commit_args: Vec<String> = Vec::new();
            if !git_succeeds(&worktree.path, ["var", "GIT_COMMITTER_IDENT"])? {
                commit_args.extend(
                    [
                        "-c",
                        "user.name=kage-agent",
                        "-c",
                        "user.email=kage-agent@localhost",
                    ]
                    .map(str::to_owned),
                );
            }
            commit_args.extend(
                [
                    "commit",
                    "--quiet",
                    "--no-verify",
                    "--no-gpg-sign",
                    "-m",
                    &message,
                ]
                .map(str::to_owned),
            );
            git(&worktree.path, &commit_args)?;
        }
        let branch_ref = format!("refs/heads/{}", worktree.branch);
        let unmoved = !leftovers
            && status.head.as_deref() == Some(worktree.branch.as_str())
            && status.oid.as_deref() == Some(self.base.as_str());
        let commits = if unmoved {
            0
        } else {
            let range = format!("{}..{branch_ref}", self.base);
            git(&self.repository.toplevel, ["rev-list", "--count", &range])?
                .trimmed()
                .parse()
                .unwrap_or(0)
        };
        let kept = commits > 0;
        let (files_changed, insertions, deletions) = if kept {
            let stat = git(
                &self.repository.toplevel,
                ["diff", "--shortstat", &self.base, &branch_ref],
            )?;
            parse_shortstat(stat.trimmed())
        } else {
            (0, 0, 0)
        };
        if !kept {
            remove_worktree(
                &self.repository.toplevel,
                Some(&worktree.path),
                &worktree.branch,
            )?;
        }
        Ok(WorktreeReport {
            branch: worktree.branch.clone(),
            path: worktree.path.clone(),
            commits,
            files_changed,
            insertions,
            deletions,
            committed_leftovers: leftovers,
            kept,
            problem: None,
        })
    }

    /// One worktree operation at a time (see `git_lock`).
    fn serial(&self) -> std::sync::MutexGuard<'_, ()> {
        self.git_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `:(top,exclude,literal)PATH` for every `--copy` path.
    fn copy_excludes(&self) -> Vec<String> {
        self.copy
            .iter()
            .map(|path| format!(":(top,exclude,literal){}", path.display()))
            .collect()
    }

    fn unique_name(&self, task_id: &str, index: usize) -> String {
        let fallback = format!("task-{index}");
        let mut name = ref_component(task_id, &fallback);
        let mut names = self
            .names
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if names.contains(&name) {
            name = format!("{name}-{index}");
        }
        while names.contains(&name) {
            name.push('x');
        }
        names.insert(name.clone());
        name
    }
}

/// `text` made into one safe branch-name component (letters, digits, `.`,
/// `_`, `-`; no `..`, no leading `.` or `-`, no trailing `.` or `.lock`).
pub fn ref_component(text: &str, fallback: &str) -> String {
    let mut name: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    while name.contains("..") {
        name = name.replace("..", ".");
    }
    let mut name = name
        .trim_start_matches(['.', '-'])
        .trim_end_matches('.')
        .to_owned();
    while let Some(stripped) = name.strip_suffix(".lock") {
        name = stripped.trim_end_matches('.').to_owned();
    }
    if name.is_empty() {
        fallback.to_owned()
    } else {
        name
    }
}

/// What `git status --porcelain=v2 --branch -z` says of a task's worktree.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct WorktreeStatus {
    /// The commit checked out (`# branch.oid`); `None` before the first.
    pub oid: Option<String>,
    /// The branch checked out (`# branch.head`); `None` when detached.
    pub head: Option<String>,
    /// Something is modified, staged or untracked (and not ignored).
    pub leftovers: bool,
}

impl WorktreeStatus {
    /// Read the NUL-separated output: `# ` headers, then one entry per
    /// changed path (a rename's entry carries its old path as the next
    /// field).
    pub fn parse(output: &str) -> Self {
        let mut status = Self::default();
        for field in output.split('\0').filter(|field| !field.is_empty()) {
            if let Some(oid) = field.strip_prefix("# branch.oid ") {
                status.oid = Some(oid.to_owned()).filter(|oid| oid != "(initial)");
            } else if let Some(head) = field.strip_prefix("# branch.head ") {
                status.head = Some(head.to_owned()).filter(|head| head != "(detached)");
            } else if !field.starts_with("# ") {
                status.leftovers = true;
            }
        }
        status
    }
}

/// `3 files changed, 10 insertions(+), 2 deletions(-)` → (3, 10, 2).
pub fn parse_shortstat(text: &str) -> (u32, u32, u32) {
    let mut counts = (0, 0, 0);
    for part in text.split(',') {
        let mut words = part.split_whitespace();
        let (Some(number), Some(word)) = (words.next(), words.next()) else {
            continue;
        };
        let Ok(number) = number.parse::<u32>() else {
            continue;
        };
        if word.starts_with("file") {
            counts.0 = number;
        } else if word.starts_with("insertion") {
            counts.1 = number;
        } else if word.starts_with("deletion") {
            counts.2 = number;
        }
    }
    counts
}

/// A `--copy` path, relative to the top of the working tree; it must exist,
/// be inside the working tree and not be tracked (tracked files are in
/// every worktree already, as committed).
fn copy_source(repository: &Repository, dir: &Path, path: &Path) -> Result<PathBuf, WorktreeError> {
    let problem = |problem: String| WorktreeError::Copy {
        path: path.to_owned(),
        problem,
    };
    let absolute = dir.join(path);
    let metadata = std::fs::symlink_metadata(&absolute)
        .map_err(|error| problem(format!("cannot read it ({error}); give an existing file")))?;
    // The folder holding it, resolved, so that `..` and symbolic links in
    // the way cannot point outside the tree; the last component is kept
    // as it is (a symbolic link is copied as a link).
    let file_name = absolute
        .file_name()
        .ok_or_else(|| problem("name a file or folder, not `.` or `..`".to_owned()))?;
    let parent = absolute
        .parent()
        .unwrap_or(Path::new("/"))
        .canonicalize()
        .map_err(|error| problem(format!("cannot resolve its folder ({error})")))?;
    let toplevel = repository
        .toplevel
        .canonicalize()
        .map_err(|error| problem(format!("cannot resolve the working tree ({error})")))?;
    let relative = parent
        .join(file_name)
        .strip_prefix(&toplevel)
        .map(Path::to_owned)
        .map_err(|_| {
            problem(format!(
                "it is outside the working tree {}; copy only files of the repository",
                toplevel.display()
            ))
        })?;
    if relative.as_os_str().is_empty() || relative.starts_with(".git") {
        return Err(problem(
            "that is the repository itself; name a file or folder in it".to_owned(),
        ));
    }
    let tracked = git(
        &repository.toplevel,
        ["ls-files".as_ref(), "--".as_ref(), relative.as_os_str()],
    )?;
    if !tracked.trimmed().is_empty() {
        return Err(problem(
            "it is tracked by git, so every worktree has it as committed; --copy is for untracked files such as .env".to_owned(),
        ));
    }
    if !(metadata.is_file() || metadata.is_dir() || metadata.is_symlink()) {
        return Err(problem(
            "give a file, a folder or a symbolic link".to_owned(),
        ));
    }
    Ok(relative)
}

/// Copy a file, a folder (recursively) or a symbolic link (as a link).
fn copy_path(from: &Path, to: &Path) -> Result<(), WorktreeError> {
    let io = |what: String| move |source| WorktreeError::Io { what, source };
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)
            .map_err(io(format!("cannot create {}", parent.display())))?;
    }
    let metadata =
        std::fs::symlink_metadata(from).map_err(io(format!("cannot read {}", from.display())))?;
    if metadata.is_symlink() {
        let target =
            std::fs::read_link(from).map_err(io(format!("cannot read {}", from.display())))?;
        std::os::unix::fs::symlink(target, to)
            .map_err(io(format!("cannot create {}", to.display())))?;
    } else if metadata.is_dir() {
        std::fs::create_dir_all(to).map_err(io(format!("cannot create {}", to.display())))?;
        let entries =
            std::fs::read_dir(from).map_err(io(format!("cannot read {}", from.display())))?;
        for entry in entries {
            let entry = entry.map_err(io(format!("cannot read {}", from.display())))?;
            copy_path(&entry.path(), &to.join(entry.file_name()))?;
        }
    } else {
        std::fs::copy(from, to).map_err(io(format!(
            "cannot copy {} to {}",
            from.display(),
            to.display()
        )))?;
    }
    Ok(())
}

/// Remove a worktree (locked, dirty or already gone) and its branch.
fn remove_worktree(
    toplevel: &Path,
    path: Option<&Path>,
    branch: &str,
) -> Result<(), WorktreeError> {
    if let Some(path) = path {
        git(
            toplevel,
            [
                "worktree".as_ref(),
                "remove".as_ref(),
                "--force".as_ref(),
                "--force".as_ref(),
                path.as_os_str(),
            ],
        )?;
    }
    git(
        toplevel,
        ["branch", "--quiet", "-D", "--end-of-options", branch],
    )?;
    Ok(())
}

/// A branch Kage made, and its worktree if it has one.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct KageBranch {
    /// `kage/<run id>/<task id>`.
    pub branch: String,
    pub run_id: String,
    pub task: String,
    /// The worktree checked out on it, if any.
    pub path: Option<PathBuf>,
    /// The worktree's folder is gone (a crash, or deleted by hand).
    pub missing: bool,
    /// git left it locked (`git worktree add` was killed half-way).
    pub locked: bool,
    /// Commits on it that `HEAD` does not have.
    pub ahead: u32,
    /// `HEAD` already contains it.
    pub merged: bool,
}

/// Every `kage/…` branch of the repository, with its worktree.
///
/// # Errors
/// git fails.
pub fn inventory(repository: &Repository) -> Result<Vec<KageBranch>, WorktreeError> {
    let top = &repository.toplevel;
    let list = git(top, ["worktree", "list", "--porcelain"])?;
    let mut worktrees: BTreeMap<String, (PathBuf, bool, bool)> = BTreeMap::new();
    for block in list.stdout.split("\n\n") {
        let mut path = None;
        let mut branch = None;
        let mut locked = false;
        let mut prunable = false;
        for line in block.lines() {
            if let Some(value) = line.strip_prefix("worktree ") {
                path = Some(PathBuf::from(value));
            } else if let Some(value) = line.strip_prefix("branch refs/heads/") {
                branch = Some(value.to_owned());
            } else if line == "locked" || line.starts_with("locked ") {
                locked = true;
            } else if line == "prunable" || line.starts_with("prunable ") {
                prunable = true;
            }
        }
        if let (Some(path), Some(branch)) = (path, branch) {
            let missing = prunable || !path.exists();
            worktrees.insert(branch, (path, locked, missing));
        }
    }
    let refs = git(
        top,
        [
            "for-each-ref",
            "--format=%(refname:short)",
            &format!("refs/heads/{BRANCH_PREFIX}"),
        ],
    )?;
    let mut branches = Vec::new();
    for branch in refs.stdout.lines().filter(|line| !line.is_empty()) {
        let rest = branch.strip_prefix(BRANCH_PREFIX).unwrap_or(branch);
        let (run_id, task) = rest.split_once('/').unwrap_or((rest, ""));
        let branch_ref = format!("refs/heads/{branch}");
        let ahead = git(top, ["rev-list", "--count", &format!("HEAD..{branch_ref}")])
            .map(|out| out.trimmed().parse().unwrap_or(0))
            .unwrap_or(0);
        let merged = git_succeeds(top, ["merge-base", "--is-ancestor", &branch_ref, "HEAD"])?;
        let (path, locked, missing) = match worktrees.get(branch) {
            Some((path, locked, missing)) => (Some(path.clone()), *locked, *missing),
            None => (None, false, false),
        };
        branches.push(KageBranch {
            branch: branch.to_owned(),
            run_id: run_id.to_owned(),
            task: task.to_owned(),
            path,
            missing,
            locked,
            ahead,
            merged,
        });
    }
    Ok(branches)
}

/// Remove a Kage branch and its worktree, whatever state a crash left them
/// in; then let git forget worktrees whose folders are gone.
///
/// # Errors
/// git fails.
pub fn remove(repository: &Repository, branch: &KageBranch) -> Result<(), WorktreeError> {
    remove_worktree(&repository.toplevel, branch.path.as_deref(), &branch.branch)?;
    git(&repository.toplevel, ["worktree", "prune"])?;
    Ok(())
}

#[cfg(test)]
mod tests;
