//! `kage-agent run` with one git worktree per task, end to end: a real
//! repository made by the test, the real binary, and the simulated Claude
//! Code told to append a line to the same file in every run
//! (`KAGE_SIMULATE_WRITE`).
//!
//! What issue 15 is checked by: four tasks writing the same file end on four
//! branches with four versions and the user's checkout as it was; a task
//! that fails over resumes in its worktree and finds attempt 1's edits; the
//! user's uncommitted changes stay in their tree (and the run says so);
//! unborn `HEAD` and bare repositories are refused before anything is made;
//! Ctrl-C and `kill -9` (of Kage, and of Kage and git half-way through
//! `git worktree add`) leave nothing `kage-agent worktrees remove` and
//! `git worktree prune` cannot clean.

use std::collections::BTreeSet;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use kage_agent::simulate;
use kage_domain::CredentialKind;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

use super::harness::{World, json_lines};

/// `kage-agent worktrees list --json` (or `remove --json`): one JSON array.
fn branches(stdout: &[u8]) -> Vec<Value> {
    let text = String::from_utf8_lossy(stdout);
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Array(branches)) => branches,
        other => panic!("not one JSON array ({other:?}):\n{text}"),
    }
}

const FAST: &str = "[subscriptions]\nrate_limit_cooldown = \"5m\"\nlease_ttl = \"30s\"\n";
/// The file every simulated run appends its line to.
const SHARED: &str = "notes/shared.txt";

/// `git -C dir ARGS` with the test's identity; its trimmed output.
fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.invalid",
        ])
        .args(args)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .stdin(Stdio::null())
        .output()
        .expect("run git");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .trim_end()
        .to_owned()
}

/// The world's working folder as a repository with one commit on `main`
/// and a clean status (the `.env` there is ignored): its `HEAD`.
fn user_repository(world: &World) -> String {
    let repo = world.workdir();
    std::fs::create_dir_all(repo.join("notes")).unwrap();
    std::fs::write(repo.join(SHARED), "base\n").unwrap();
    std::fs::write(repo.join("README.md"), "project\n").unwrap();
    std::fs::write(repo.join(".gitignore"), ".env\n").unwrap();
    git(&repo, &["init", "--quiet", "--initial-branch=main"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "--quiet", "-m", "first"]);
    std::fs::write(repo.join(".env"), "SETTING=fake\n").unwrap();
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");
    git(&repo, &["rev-parse", "HEAD"])
}

/// A world whose pool holds one subscription, `name` (priority 100, the
/// simulated Claude Code told `behaviour`), and whose working folder is the
/// user's repository ([`user_repository`]): the world, the repository's
/// `HEAD` and its path.
async fn world_in_repository(name: &str, behaviour: &str) -> (World, String, PathBuf) {
    let mut world = World::new(FAST);
    let pool = world.pool().await;
    world
        .add(&pool, name, 100, CredentialKind::OAuth, behaviour, None)
        .await;
    let base = user_repository(&world);
    let repo = world.workdir();
    (world, base, repo)
}

/// `kage-agent run` of two tasks, "one" and "two", at once, each appending
/// to [`SHARED`], printing JSON.
fn two_writing_tasks(world: &World) -> Command {
    let mut command = world.kage_agent();
    command
        .env(simulate::WRITE_VARIABLE, SHARED)
        .args(["run", "--task", "one", "--task", "two", "-j", "2", "--json"]);
    command
}

/// The user's checkout as Kage must leave it: `HEAD` at `base` on `main`,
/// `status` as it was, nothing stashed, no branch but `main` and `kage/…`.
fn assert_checkout_untouched(repo: &Path, base: &str, status: &str) {
    assert_eq!(git(repo, &["rev-parse", "HEAD"]), base);
    assert_eq!(git(repo, &["symbolic-ref", "--short", "HEAD"]), "main");
    assert_eq!(git(repo, &["status", "--porcelain"]), status);
    assert_eq!(git(repo, &["stash", "list"]), "");
    let branches = git(
        repo,
        &["for-each-ref", "--format=%(refname:short)", "refs/heads/"],
    );
    assert!(
        branches
            .lines()
            .all(|branch| branch == "main" || branch.starts_with("kage/")),
        "{branches}"
    );
}

fn worktree_entries(repo: &Path) -> String {
    git(repo, &["worktree", "list", "--porcelain"])
}

/// Only the user's own worktree and `main` are left, and git has nothing
/// to prune.
fn assert_only_the_users_worktree(repo: &Path) {
    git(repo, &["worktree", "prune"]);
    let entries = worktree_entries(repo);
    assert_eq!(entries.matches("worktree ").count(), 1, "{entries}");
    assert_eq!(
        git(
            repo,
            &["for-each-ref", "--format=%(refname:short)", "refs/heads/"]
        ),
        "main"
    );
    let admin = repo.join(".git/worktrees");
    assert!(
        !admin.exists() || std::fs::read_dir(&admin).unwrap().next().is_none(),
        "git still keeps worktrees in {}",
        admin.display()
    );
}

fn summary(lines: &[Value]) -> &Value {
    &lines
        .iter()
        .find(|line| line["type"] == "summary")
        .expect("a summary line")["data"]
}

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_tasks_write_the_same_file_on_four_branches_and_the_checkout_is_left_as_it_was() {
    let (world, base, repo) = world_in_repository("beta", "ok").await;
    let run_dir = world.run_dir();

    // No --worktree: four agents at once in a repository is the default.
    let output = world
        .kage_agent()
        .env(simulate::WRITE_VARIABLE, SHARED)
        .args([
            "run",
            "--task",
            "task number 1",
            "--task",
            "task number 2",
            "--task",
            "task number 3",
            "--task",
            "task number 4",
            "-j",
            "4",
            "--json",
            "--copy",
            ".env",
            "--run-dir",
            run_dir.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(0), "stderr: {stderr}");
    assert!(stderr.contains("own git worktree"), "{stderr}");
    assert!(!stderr.contains("uncommitted"), "a clean tree: {stderr}");
    world.assert_no_secret("stderr", &stderr);
    let lines = json_lines(&output.stdout);
    let summary = summary(&lines);
    let run_id = summary["worktrees"]["run_id"].as_str().unwrap().to_owned();
    assert_eq!(summary["worktrees"]["base"], base.as_str());

    // Four branches, each with its own version of the file, committed by
    // Kage (the simulated agent does not commit).
    let tasks = summary["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 4);
    let mut versions = BTreeSet::new();
    let mut folders = BTreeSet::new();
    for (index, task) in tasks.iter().enumerate() {
        let number = index + 1;
        assert_eq!(task["status"], "succeeded", "{task}");
        let worktree = &task["worktree"];
        let branch = format!("kage/{run_id}/task-{number}");
        assert_eq!(worktree["branch"], branch.as_str(), "{task}");
        assert_eq!(worktree["commits"], 1, "{task}");
        assert_eq!(
            (
                &worktree["files_changed"],
                &worktree["insertions"],
                &worktree["deletions"]
            ),
            (&1.into(), &1.into(), &0.into()),
            "{task}"
        );
        assert_eq!(worktree["kept"], true, "{task}");
        assert_eq!(worktree["uncommitted_work_committed"], true, "{task}");
        let content = git(&repo, &["show", &format!("{branch}:{SHARED}")]);
        let lines: Vec<&str> = content.lines().collect();
        assert_eq!(lines.len(), 2, "{branch}: {content}");
        assert_eq!(lines[0], "base");
        assert!(
            lines[1].ends_with(&format!(": task number {number}")),
            "{branch} holds another task's line: {content}"
        );
        versions.insert(git(&repo, &["rev-parse", &format!("{branch}:{SHARED}")]));
        // Only the file was committed: not the copied .env.
        let files = git(&repo, &["diff", "--name-only", &base, &branch]);
        assert_eq!(files, SHARED);
        let path = PathBuf::from(worktree["path"].as_str().unwrap());
        assert!(
            path.starts_with(run_dir.join("worktrees")),
            "{}",
            path.display()
        );
        assert_eq!(
            std::fs::read_to_string(path.join(".env")).unwrap(),
            "SETTING=fake\n"
        );
        folders.insert(path);
    }
    assert_eq!(versions.len(), 4, "four different versions of {SHARED}");
    // Each agent ran in its own task's worktree.
    let log = world.log();
    assert_eq!(log.len(), 4);
    let cwds: BTreeSet<PathBuf> = log
        .iter()
        .map(|entry| PathBuf::from(entry["cwd"].as_str().unwrap()))
        .collect();
    assert_eq!(cwds, folders);

    // The user's checkout: same HEAD, same branch, `git status` empty, and
    // the file as committed.
    assert_checkout_untouched(&repo, &base, "");
    assert_eq!(
        std::fs::read_to_string(repo.join(SHARED)).unwrap(),
        "base\n"
    );

    // `worktrees list` shows the four; `remove --run` drops them all.
    let listed = world
        .kage_agent()
        .args(["worktrees", "list", "--json"])
        .output()
        .unwrap();
    assert!(listed.status.success());
    let listed = branches(&listed.stdout);
    assert_eq!(listed.len(), 4);
    assert!(listed.iter().all(|b| b["run_id"] == run_id.as_str()
        && b["merged"] == false
        && b["commits_not_in_head"] == 1));
    let removed = world
        .kage_agent()
        .args(["worktrees", "remove", "--run", &run_id, "--json"])
        .output()
        .unwrap();
    assert!(removed.status.success(), "{}", stderr_of(&removed));
    let removed = branches(&removed.stdout);
    assert_eq!(removed.len(), 4, "{removed:?}");
    assert!(
        removed
            .iter()
            .all(|b| b["merged"] == false && b["commits_dropped"] == 1),
        "{removed:?}"
    );
    assert_only_the_users_worktree(&repo);
    assert_checkout_untouched(&repo, &base, "");
}

/// alpha (preferred) hits its 5-hour limit on every run, after the
/// simulated agent has written its line: each task that started there
/// fails over to beta, which resumes the session in the same worktree and
/// finds attempt 1's edit in its working directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_that_fails_over_resumes_in_its_worktree_with_attempt_1s_edits() {
    let mut world = World::new(FAST);
    let pool = world.pool().await;
    world
        .add(
            &pool,
            "alpha",
            200,
            CredentialKind::OAuth,
            "limit-after-0",
            None,
        )
        .await;
    world
        .add(&pool, "beta", 100, CredentialKind::OAuth, "ok", None)
        .await;
    let base = user_repository(&world);
    let repo = world.workdir();
    let output = world
        .kage_agent()
        .env(simulate::WRITE_VARIABLE, SHARED)
        .args([
            "run",
            "--task",
            "first task",
            "--task",
            "second task",
            "-j",
            "2",
            "--json",
        ])
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(0), "stderr: {stderr}");
    let lines = json_lines(&output.stdout);
    let summary = summary(&lines);
    let log = world.log();

    let mut failed_over = 0;
    for task in summary["tasks"].as_array().unwrap() {
        assert_eq!(task["status"], "succeeded", "{task}");
        let prompt = match task["id"].as_str().unwrap() {
            "task-1" => "first task",
            "task-2" => "second task",
            other => panic!("task {other}"),
        };
        let worktree = PathBuf::from(task["worktree"]["path"].as_str().unwrap());
        let branch = task["worktree"]["branch"].as_str().unwrap();
        let attempts = task["attempts"].as_array().unwrap();
        let runs: Vec<&Value> = attempts
            .iter()
            .map(|attempt| {
                log.iter()
                    .find(|entry| {
                        entry["session_id"] == attempt["session_id"]
                            && entry["resumed"] == attempt["resumed_session_id"]
                    })
                    .unwrap_or_else(|| panic!("no run of {attempt}"))
            })
            .collect();
        // Every run of the task, first and resumed, ran in its worktree.
        for run in &runs {
            assert_eq!(
                PathBuf::from(run["cwd"].as_str().unwrap()),
                worktree,
                "{run}"
            );
        }
        if attempts.len() == 1 {
            assert_eq!(attempts[0]["subscription"], "beta", "{task}");
            continue;
        }
        failed_over += 1;
        assert_eq!(attempts.len(), 2, "{task}");
        assert_eq!(attempts[0]["subscription"], "alpha");
        assert_eq!(attempts[0]["outcome"]["kind"], "quota_exhausted", "{task}");
        assert_eq!(attempts[1]["subscription"], "beta");
        let session = attempts[0]["session_id"].as_str().unwrap();
        assert_eq!(attempts[1]["resumed_session_id"], session);
        // Attempt 1 found a fresh worktree (the file as committed); attempt
        // 2 found it with attempt 1's line, and only that.
        assert_eq!(runs[0]["write_found"], "base\n", "{}", runs[0]);
        let found = runs[1]["write_found"].as_str().unwrap();
        let found: Vec<&str> = found.lines().collect();
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0], "base");
        assert!(
            found[1].starts_with(&format!("{session} run "))
                && found[1].ends_with(&format!(" limit: {prompt}")),
            "{found:?}"
        );
        // The branch has both attempts' edits.
        let content = git(&repo, &["show", &format!("{branch}:{SHARED}")]);
        assert_eq!(content.lines().count(), 3, "{content}");
        assert!(
            content
                .lines()
                .skip(1)
                .all(|line| line.starts_with(session) && line.ends_with(prompt)),
            "{content}"
        );
    }
    assert!(
        failed_over >= 1,
        "the first task to start leases alpha and fails over"
    );
    assert_checkout_untouched(&repo, &base, "");
}

/// The user's staged, unstaged and untracked changes: not in the task
/// worktrees, said on standard error, and still there (still staged,
/// still unstaged) after the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_users_uncommitted_changes_stay_in_their_tree_and_the_run_says_so() {
    let (world, base, repo) = world_in_repository("beta", "ok").await;
    std::fs::write(repo.join("README.md"), "project, staged by the user\n").unwrap();
    git(&repo, &["add", "README.md"]);
    std::fs::write(repo.join(SHARED), "base\nthe user's own line\n").unwrap();
    std::fs::write(repo.join("draft.txt"), "the user's draft\n").unwrap();
    let status = git(&repo, &["status", "--porcelain"]);
    assert_eq!(status.lines().count(), 3, "{status}");
    let staged = git(&repo, &["diff", "--cached"]);
    let unstaged = git(&repo, &["diff"]);

    let output = two_writing_tasks(&world).output().unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(0), "stderr: {stderr}");
    let top = std::fs::canonicalize(&repo).unwrap();
    assert!(
        stderr.contains(&format!(
            "note: 3 uncommitted changes in {} are not carried into the task worktrees, which start from commit {}",
            top.display(),
            &base[..12]
        )),
        "{stderr}"
    );
    let lines = json_lines(&output.stdout);
    for task in summary(&lines)["tasks"].as_array().unwrap() {
        let path = PathBuf::from(task["worktree"]["path"].as_str().unwrap());
        let branch = task["worktree"]["branch"].as_str().unwrap();
        assert_eq!(
            std::fs::read_to_string(path.join("README.md")).unwrap(),
            "project\n"
        );
        assert!(!path.join("draft.txt").exists());
        let content = std::fs::read_to_string(path.join(SHARED)).unwrap();
        assert!(
            content.starts_with("base\n") && !content.contains("the user's own line"),
            "{content}"
        );
        assert_eq!(
            git(&repo, &["diff", "--name-only", &base, branch]),
            SHARED,
            "only the agent's edit is on {branch}"
        );
    }
    assert_checkout_untouched(&repo, &base, &status);
    assert_eq!(git(&repo, &["diff", "--cached"]), staged);
    assert_eq!(git(&repo, &["diff"]), unstaged);
    assert_eq!(
        std::fs::read_to_string(repo.join("draft.txt")).unwrap(),
        "the user's draft\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_that_change_nothing_leave_nothing_and_the_table_says_so() {
    let (world, base, repo) = world_in_repository("beta", "ok").await;
    let output = world.run(&[
        "run",
        "--task",
        "look only",
        "--task",
        "look again",
        "-j",
        "2",
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("no change"), "{stdout}");
    assert!(stderr.contains("own git worktree"), "{stderr}");
    assert_only_the_users_worktree(&repo);
    assert_checkout_untouched(&repo, &base, "");
}

/// Unborn `HEAD`, a bare repository, a plain folder: refused with what to
/// do instead (exit 2), before any branch, worktree, run folder or agent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_stop_the_run_before_anything_is_made() {
    let mut world = World::new(FAST);
    let pool = world.pool().await;
    world
        .add(&pool, "beta", 100, CredentialKind::OAuth, "ok", None)
        .await;
    let run_dir = world.run_dir();
    let refused = |world: &World, args: &[&str], expected: &[&str]| {
        let mut all = vec!["run", "--run-dir", run_dir.to_str().unwrap()];
        all.extend(args);
        let output = world.run(&all);
        let stderr = stderr_of(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        for text in expected {
            assert!(stderr.contains(text), "{args:?}: {stderr}");
        }
        assert!(world.log().is_empty(), "{args:?}: no agent ran");
        assert!(!run_dir.exists(), "{args:?}: no run folder");
    };

    // Unborn HEAD: with --worktree, and by default with two agents.
    let repo = world.workdir();
    git(&repo, &["init", "--quiet", "--initial-branch=trunk"]);
    let unborn = [
        "HEAD of",
        "has no commit yet (branch trunk is unborn)",
        "make a first commit",
        "--isolation none",
    ];
    refused(&world, &["--task", "a", "--worktree"], &unborn);
    refused(&world, &["--task", "a", "--task", "b", "-j", "2"], &unborn);
    assert_eq!(git(&repo, &["for-each-ref"]), "", "no branch was made");
    assert!(!repo.join(".git/worktrees").exists());

    // A bare repository: the same.
    let bare = world.root().join("bare.git");
    std::fs::create_dir_all(&bare).unwrap();
    git(&bare, &["init", "--quiet", "--bare"]);
    let bare_arg = bare.to_str().unwrap();
    let is_bare = [
        "is a bare repository",
        "run from a clone's working tree",
        "--isolation none",
    ];
    refused(
        &world,
        &["--task", "a", "--worktree", "--cwd", bare_arg],
        &is_bare,
    );
    refused(
        &world,
        &["--task", "a", "--task", "b", "-j", "2", "--cwd", bare_arg],
        &is_bare,
    );
    assert_eq!(git(&bare, &["for-each-ref"]), "");
    assert!(!bare.join("worktrees").exists());

    // Not a repository at all: refused with --worktree; by default the
    // agents share the folder.
    let plain = world.root().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let plain_arg = plain.to_str().unwrap();
    refused(
        &world,
        &["--task", "a", "--worktree", "--cwd", plain_arg],
        &["not inside a git repository", "--isolation none"],
    );
    let output = world.run(&[
        "run", "--task", "a", "--task", "b", "-j", "2", "--cwd", plain_arg,
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert!(!stderr_of(&output).contains("worktree"));
}

/// `kill -9` of kage-agent while its agents run: the worktrees stay (with
/// whatever the agents wrote), `worktrees remove --run` cleans them, and
/// `git worktree prune` has nothing left to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_worktrees_remove_cleans_up() {
    let (world, base, repo) = world_in_repository("slowpoke", "slow").await;
    let mut child = two_writing_tasks(&world)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        world.wait_for(Duration::from_secs(20), |world| world.log().len() == 2),
        "both agents started"
    );
    kill(
        Pid::from_raw(i32::try_from(child.id()).unwrap()),
        Signal::SIGKILL,
    )
    .unwrap();
    child.wait().unwrap();

    let listed = world
        .kage_agent()
        .args(["worktrees", "list", "--json"])
        .output()
        .unwrap();
    let listed = branches(&listed.stdout);
    assert_eq!(listed.len(), 2, "{listed:?}");
    let run_id = listed[0]["run_id"].as_str().unwrap().to_owned();
    for branch in &listed {
        let path = Path::new(branch["worktree"].as_str().unwrap());
        // The agent's edit is there, uncommitted.
        assert_eq!(
            std::fs::read_to_string(path.join(SHARED))
                .unwrap()
                .lines()
                .count(),
            2
        );
    }
    let refused = world
        .kage_agent()
        .args(["worktrees", "remove"])
        .output()
        .unwrap();
    // A request that says nothing to remove is a usage error.
    assert_eq!(refused.status.code(), Some(2), "{}", stderr_of(&refused));
    assert!(stderr_of(&refused).contains("--run ID"));
    let removed = world
        .kage_agent()
        .args(["worktrees", "remove", "--run", &run_id])
        .output()
        .unwrap();
    assert!(removed.status.success(), "{}", stderr_of(&removed));
    assert_only_the_users_worktree(&repo);
    assert_checkout_untouched(&repo, &base, "");
}

/// A file whose checkout blocks: `slow.txt` goes through a smudge filter
/// that writes its shell's pid to `<root>/smudge.pid` and waits (up to 30
/// seconds) for `<root>/release`. `git worktree add` is then caught half-way,
/// with its worktree locked `initializing`. Returns the new `HEAD`.
fn slow_checkout(world: &World) -> String {
    let repo = world.workdir();
    std::fs::write(repo.join(".gitattributes"), "slow.txt filter=slow\n").unwrap();
    std::fs::write(repo.join("slow.txt"), "slow\n").unwrap();
    git(&repo, &["add", ".gitattributes", "slow.txt"]);
    git(&repo, &["commit", "--quiet", "-m", "a slow file"]);
    let root = world.root();
    let pid_file = root.join("smudge.pid");
    let release = root.join("release");
    let filter = format!(
        "echo $$ > '{pid}.tmp' && mv '{pid}.tmp' '{pid}'; i=0; while [ ! -e '{release}' ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; cat",
        pid = pid_file.display(),
        release = release.display()
    );
    git(&repo, &["config", "filter.slow.smudge", &filter]);
    git(&repo, &["rev-parse", "HEAD"])
}

/// The pid of the smudge filter's shell, once `git worktree add` is
/// half-way (the filter runs, the worktree is locked `initializing`).
fn wait_for_half_made_worktree(world: &World) -> i32 {
    let pid_file = world.root().join("smudge.pid");
    assert!(
        world.wait_for(Duration::from_secs(20), |_| pid_file.exists()),
        "git worktree add reached the slow file"
    );
    let locked = git(&world.workdir(), &["worktree", "list", "--porcelain"]);
    assert!(locked.contains("locked initializing"), "{locked}");
    std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// `kill -9` of kage-agent and of git half-way through `git worktree add`
/// (git runs in its own process group, so it is killed separately): a
/// branch and a worktree locked `initializing` with half its files are
/// left. `git worktree prune` alone cannot clean a locked worktree;
/// `kage-agent worktrees remove --run` does, and prune then has nothing
/// left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_half_way_through_git_worktree_add_leaves_nothing_remove_cannot_clean() {
    let (world, _, repo) = world_in_repository("beta", "ok").await;
    let base = slow_checkout(&world);
    let mut child = world
        .kage_agent()
        .args(["run", "--task", "one", "--worktree", "--json"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let kage = i32::try_from(child.id()).unwrap();
    let filter = wait_for_half_made_worktree(&world);
    let git_group = nix::unistd::getpgid(Some(Pid::from_raw(filter))).unwrap();
    assert_ne!(
        git_group.as_raw(),
        kage,
        "git runs in its own process group"
    );
    kill(Pid::from_raw(-kage), Signal::SIGKILL).unwrap();
    kill(Pid::from_raw(-git_group.as_raw()), Signal::SIGKILL).unwrap();
    child.wait().unwrap();
    assert!(
        world.wait_for(Duration::from_secs(10), |_| {
            super::harness::process_gone(u32::try_from(filter).unwrap())
        }),
        "git and its filter are gone"
    );
    assert!(world.log().is_empty(), "no agent started");

    // What the crash left: the branch and a locked, half-made worktree
    // that prune leaves alone.
    git(&repo, &["worktree", "prune"]);
    assert_eq!(worktree_entries(&repo).matches("worktree ").count(), 2);
    let listed = world
        .kage_agent()
        .args(["worktrees", "list", "--json"])
        .output()
        .unwrap();
    let listed = branches(&listed.stdout);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["locked"], true, "{listed:?}");
    let folder = PathBuf::from(listed[0]["worktree"].as_str().unwrap());
    assert!(folder.join(".git").is_file());
    assert!(
        !folder.join("slow.txt").exists(),
        "the checkout was cut short"
    );
    let run_id = listed[0]["run_id"].as_str().unwrap().to_owned();

    let removed = world
        .kage_agent()
        .args(["worktrees", "remove", "--run", &run_id])
        .output()
        .unwrap();
    assert!(removed.status.success(), "{}", stderr_of(&removed));
    assert!(!folder.exists());
    assert_only_the_users_worktree(&repo);
    assert_checkout_untouched(&repo, &base, "");
}

/// Ctrl-C at the terminal (SIGINT to kage-agent's process group) half-way
/// through `git worktree add`: git, in its own process group, finishes; the
/// task ends interrupted without an agent, and its worktree, which changed
/// nothing, is removed with its branch. Nothing is left locked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_half_way_through_git_worktree_add_lets_git_finish_and_cleans_up() {
    let (world, _, repo) = world_in_repository("beta", "ok").await;
    let base = slow_checkout(&world);
    let child = world
        .kage_agent()
        .args(["run", "--task", "one", "--worktree", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let kage = i32::try_from(child.id()).unwrap();
    wait_for_half_made_worktree(&world);
    kill(Pid::from_raw(-kage), Signal::SIGINT).unwrap();
    // Give the signal time to land before git may go on.
    std::thread::sleep(Duration::from_millis(200));
    std::fs::write(world.root().join("release"), "").unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    let lines = json_lines(&output.stdout);
    let task = &summary(&lines)["tasks"][0];
    assert_eq!(task["status"], "interrupted", "{task}");
    assert_eq!(task["attempts"].as_array().map(Vec::len), Some(0), "{task}");
    assert_eq!(task["worktree"]["kept"], false, "{task}");
    assert!(world.log().is_empty(), "no agent started");
    let entries = worktree_entries(&repo);
    assert!(!entries.contains("locked"), "{entries}");
    assert_only_the_users_worktree(&repo);
    assert_checkout_untouched(&repo, &base, "");
}

/// Ctrl-C while agents run: the agents are stopped, and each started
/// task's work is committed on its branch before the summary; nothing is
/// left locked or half-made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_commits_what_the_agents_did_and_leaves_no_half_made_worktree() {
    let (world, base, repo) = world_in_repository("slowpoke", "slow").await;
    let mut child = two_writing_tasks(&world)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if !world.wait_for(Duration::from_secs(20), |world| world.log().len() == 2) {
        child.kill().unwrap();
        let output = child.wait_with_output().unwrap();
        panic!(
            "both agents did not start: {:?}\nstdout: {}\nstderr: {}",
            world.log(),
            String::from_utf8_lossy(&output.stdout),
            stderr_of(&output)
        );
    }
    kill(
        Pid::from_raw(i32::try_from(child.id()).unwrap()),
        Signal::SIGINT,
    )
    .unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{}", stderr_of(&output));
    let lines = json_lines(&output.stdout);
    let summary = summary(&lines);
    for task in summary["tasks"].as_array().unwrap() {
        assert_eq!(task["status"], "interrupted", "{task}");
        let worktree = &task["worktree"];
        assert_eq!(worktree["kept"], true, "{task}");
        assert_eq!(worktree["commits"], 1, "{task}");
        let branch = worktree["branch"].as_str().unwrap();
        let message = git(&repo, &["log", "-1", "--format=%s", branch]);
        assert!(
            message.starts_with("kage: uncommitted work of task")
                && message.ends_with("(interrupted)"),
            "{message}"
        );
        let path = Path::new(worktree["path"].as_str().unwrap());
        assert_eq!(git(path, &["status", "--porcelain"]), "");
    }
    let worktrees = worktree_entries(&repo);
    assert_eq!(worktrees.matches("worktree ").count(), 3, "{worktrees}");
    assert!(
        !worktrees.contains("locked") && !worktrees.contains("prunable"),
        "{worktrees}"
    );
    assert_checkout_untouched(&repo, &base, "");
}
