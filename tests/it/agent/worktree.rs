//! `kage-agent run` with one git worktree per task, end to end: a real
//! repository made by the test, the real binary, and the simulated Claude
//! Code told to append a line to the same file in every run.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use kage_agent::simulate;
use kage_domain::CredentialKind;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

use super::harness::{World, json_lines};

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

/// The world's working folder as a repository with one commit, and the
/// user's own uncommitted edit in it.
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
    git(&repo, &["rev-parse", "HEAD"])
}

fn summary(lines: &[Value]) -> &Value {
    &lines
        .iter()
        .find(|line| line["type"] == "summary")
        .expect("a summary line")["data"]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_tasks_write_the_same_file_on_four_branches_and_a_failover_resumes_in_its_worktree() {
    let mut world = World::new(FAST);
    let pool = world.pool().await;
    // alpha is preferred and does two runs before its 5-hour limit: two of
    // the four tasks fail over to beta mid-way, resuming.
    world
        .add(
            &pool,
            "alpha",
            200,
            CredentialKind::OAuth,
            "limit-after-2",
            None,
        )
        .await;
    world
        .add(&pool, "beta", 100, CredentialKind::OAuth, "ok", None)
        .await;
    let base = user_repository(&world);
    let repo = world.workdir();
    // The user has uncommitted work: it stays theirs, and is not carried over.
    std::fs::write(repo.join("README.md"), "project, edited by the user\n").unwrap();
    let user_status = git(&repo, &["status", "--porcelain"]);
    let run_dir = world.run_dir();

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
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "stderr: {stderr}");
    assert!(
        stderr.contains("1 uncommitted change")
            && stderr.contains("not carried into the task worktrees"),
        "{stderr}"
    );
    world.assert_no_secret("stderr", &stderr);
    let lines = json_lines(&output.stdout);
    let summary = summary(&lines);
    let run_id = summary["worktrees"]["run_id"].as_str().unwrap().to_owned();
    assert_eq!(summary["worktrees"]["base"], base.as_str());

    // Four branches, each with its own version of the file, committed by
    // Kage (the simulated agent does not commit).
    let tasks = summary["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 4);
    let mut failed_over = 0;
    for (index, task) in tasks.iter().enumerate() {
        let number = index + 1;
        assert_eq!(task["status"], "succeeded", "{task}");
        let worktree = &task["worktree"];
        let branch = format!("kage/{run_id}/task-{number}");
        assert_eq!(worktree["branch"], branch.as_str(), "{task}");
        assert_eq!(worktree["commits"], 1, "{task}");
        assert_eq!(worktree["files_changed"], 1, "{task}");
        assert_eq!(worktree["deletions"], 0, "{task}");
        assert_eq!(worktree["kept"], true, "{task}");
        assert_eq!(worktree["uncommitted_work_committed"], true, "{task}");
        let content = git(&repo, &["show", &format!("{branch}:{SHARED}")]);
        let written: Vec<&str> = content.lines().skip(1).collect();
        assert_eq!(content.lines().next(), Some("base"));
        assert!(
            written
                .iter()
                .all(|line| line.contains(&format!("task number {number}"))),
            "{branch}: {content}"
        );
        assert_eq!(worktree["insertions"], written.len(), "{task}");
        // Only the file was committed: not the copied .env.
        let files = git(&repo, &["diff", "--name-only", &base, &branch]);
        assert_eq!(files, SHARED);
        let path = Path::new(worktree["path"].as_str().unwrap());
        assert!(
            path.starts_with(run_dir.join("worktrees")),
            "{}",
            path.display()
        );
        assert_eq!(
            std::fs::read_to_string(path.join(".env")).unwrap(),
            "SETTING=fake\n"
        );
        assert_eq!(
            std::fs::read_to_string(path.join("README.md")).unwrap(),
            "project\n",
            "the user's uncommitted edit is not in the task's worktree"
        );

        let attempts = task["attempts"].as_array().unwrap();
        if attempts.len() == 2 {
            failed_over += 1;
            // Attempt 1 wrote its line and hit the limit; attempt 2 resumed
            // the same session in the same worktree and appended to the
            // file attempt 1 had written: both lines are on the branch.
            assert_eq!(attempts[0]["subscription"], "alpha");
            assert_eq!(attempts[0]["outcome"]["kind"], "quota_exhausted", "{task}");
            assert_eq!(attempts[1]["subscription"], "beta");
            assert_eq!(attempts[1]["resumed_session_id"], attempts[0]["session_id"]);
            assert_eq!(written.len(), 2, "{branch}: {content}");
            let session = attempts[0]["session_id"].as_str().unwrap();
            assert!(
                written.iter().all(|line| line.starts_with(session)),
                "{content}"
            );
        } else {
            assert_eq!(written.len(), 1, "{branch}: {content}");
        }
    }
    assert_eq!(failed_over, 2, "alpha did two tasks, then its limit");
    // Every run of a task, first and resumed, ran in the task's worktree.
    let log = world.log();
    assert_eq!(log.len(), 6);
    for entry in &log {
        let cwd = entry["cwd"].as_str().unwrap();
        assert!(
            Path::new(cwd).starts_with(run_dir.join("worktrees")),
            "{entry}"
        );
    }
    for entry in log.iter().filter(|entry| entry["resumed"].is_string()) {
        let first = log
            .iter()
            .find(|other| other["session_id"] == entry["resumed"] && other["resumed"].is_null())
            .unwrap();
        assert_eq!(first["cwd"], entry["cwd"]);
    }

    // The user's checkout: same HEAD, same branch, same status.
    assert_eq!(git(&repo, &["rev-parse", "HEAD"]), base);
    assert_eq!(git(&repo, &["symbolic-ref", "--short", "HEAD"]), "main");
    assert_eq!(git(&repo, &["status", "--porcelain"]), user_status);
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
    let listed = json_lines(&listed.stdout);
    assert_eq!(listed.len(), 4);
    assert!(listed.iter().all(|b| b["run_id"] == run_id.as_str()
        && b["merged"] == false
        && b["commits_not_in_head"] == 1));
    let removed = world
        .kage_agent()
        .args(["worktrees", "remove", "--run", &run_id])
        .output()
        .unwrap();
    assert!(
        removed.status.success(),
        "{}",
        String::from_utf8_lossy(&removed.stderr)
    );
    assert_eq!(
        git(
            &repo,
            &["for-each-ref", "--format=%(refname:short)", "refs/heads/"]
        ),
        "main"
    );
    assert_eq!(
        git(&repo, &["worktree", "list", "--porcelain"])
            .matches("worktree ")
            .count(),
        1
    );
    assert_eq!(git(&repo, &["status", "--porcelain"]), user_status);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_that_change_nothing_leave_nothing_and_the_table_says_so() {
    let mut world = World::new(FAST);
    let pool = world.pool().await;
    world
        .add(&pool, "beta", 100, CredentialKind::OAuth, "ok", None)
        .await;
    let base = user_repository(&world);
    let repo = world.workdir();
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
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("no change"), "{stdout}");
    assert!(stderr.contains("own git worktree"), "{stderr}");
    assert_eq!(
        git(
            &repo,
            &["for-each-ref", "--format=%(refname:short)", "refs/heads/"]
        ),
        "main"
    );
    assert_eq!(
        git(&repo, &["worktree", "list", "--porcelain"])
            .matches("worktree ")
            .count(),
        1
    );
    assert_eq!(git(&repo, &["rev-parse", "HEAD"]), base);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_stop_the_run_before_anything_is_made() {
    let mut world = World::new(FAST);
    let pool = world.pool().await;
    world
        .add(&pool, "beta", 100, CredentialKind::OAuth, "ok", None)
        .await;
    let repo = world.workdir();
    git(&repo, &["init", "--quiet", "--initial-branch=main"]);
    let output = world.run(&["run", "--task", "a", "--worktree"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("no commit yet") && stderr.contains("--isolation none"),
        "{stderr}"
    );
    assert!(world.log().is_empty(), "no agent ran");
    // Not a repository at all: the default is to share the folder.
    let plain = world.root().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let output = world.run(&[
        "run",
        "--task",
        "a",
        "--task",
        "b",
        "--cwd",
        plain.to_str().unwrap(),
    ]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let output = world.run(&[
        "run",
        "--task",
        "a",
        "--worktree",
        "--cwd",
        plain.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("not inside a git repository"));
}

/// `kill -9` of kage-agent while its agents run: the worktrees stay (with
/// whatever the agents wrote), `worktrees remove --run` cleans them, and
/// `git worktree prune` has nothing left to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_worktrees_remove_cleans_up() {
    let mut world = World::new(FAST);
    let pool = world.pool().await;
    world
        .add(&pool, "slowpoke", 100, CredentialKind::OAuth, "slow", None)
        .await;
    let base = user_repository(&world);
    let repo = world.workdir();
    let mut child = world
        .kage_agent()
        .env(simulate::WRITE_VARIABLE, SHARED)
        .args(["run", "--task", "one", "--task", "two", "-j", "2", "--json"])
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
    let listed = json_lines(&listed.stdout);
    assert_eq!(listed.len(), 2, "{listed:?}");
    let run_id = listed[0]["run_id"].as_str().unwrap().to_owned();
    for branch in &listed {
        let path = Path::new(branch["worktree"].as_str().unwrap());
        // The agent's edit is there, uncommitted.
        assert!(
            std::fs::read_to_string(path.join(SHARED))
                .unwrap()
                .lines()
                .count()
                == 2
        );
    }
    let refused = world
        .kage_agent()
        .args(["worktrees", "remove"])
        .output()
        .unwrap();
    assert_ne!(refused.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--run ID"));
    let removed = world
        .kage_agent()
        .args(["worktrees", "remove", "--run", &run_id])
        .output()
        .unwrap();
    assert!(
        removed.status.success(),
        "{}",
        String::from_utf8_lossy(&removed.stderr)
    );
    git(&repo, &["worktree", "prune"]);
    assert_eq!(
        git(&repo, &["worktree", "list", "--porcelain"])
            .matches("worktree ")
            .count(),
        1
    );
    assert_eq!(
        git(
            &repo,
            &["for-each-ref", "--format=%(refname:short)", "refs/heads/"]
        ),
        "main"
    );
    assert_eq!(git(&repo, &["rev-parse", "HEAD"]), base);
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");
}

/// Ctrl-C while agents run: the agents are stopped, and each started
/// task's work is committed on its branch before the summary; nothing is
/// left locked or half-made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_commits_what_the_agents_did_and_leaves_no_half_made_worktree() {
    let mut world = World::new(FAST);
    let pool = world.pool().await;
    world
        .add(&pool, "slowpoke", 100, CredentialKind::OAuth, "slow", None)
        .await;
    let base = user_repository(&world);
    let repo = world.workdir();
    let child = world
        .kage_agent()
        .env(simulate::WRITE_VARIABLE, SHARED)
        .args(["run", "--task", "one", "--task", "two", "-j", "2", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        world.wait_for(Duration::from_secs(20), |world| world.log().len() == 2),
        "both agents started"
    );
    kill(
        Pid::from_raw(i32::try_from(child.id()).unwrap()),
        Signal::SIGINT,
    )
    .unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
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
    let worktrees = git(&repo, &["worktree", "list", "--porcelain"]);
    assert_eq!(worktrees.matches("worktree ").count(), 3, "{worktrees}");
    assert!(
        !worktrees.contains("locked") && !worktrees.contains("prunable"),
        "{worktrees}"
    );
    assert_eq!(git(&repo, &["rev-parse", "HEAD"]), base);
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");
}
