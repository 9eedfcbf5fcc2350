//! Worktree tests on real repositories made in temporary folders.

use std::path::{Path, PathBuf};

use super::*;

/// A repository with one commit (`README.md`, `src/lib.txt`).
fn repository() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(repo.join("src")).unwrap();
    git(&repo, ["init", "--quiet", "--initial-branch=main"]).unwrap();
    git(&repo, ["config", "user.name", "Test"]).unwrap();
    git(&repo, ["config", "user.email", "test@example.invalid"]).unwrap();
    std::fs::write(repo.join("README.md"), "hello\n").unwrap();
    std::fs::write(repo.join("src/lib.txt"), "one\ntwo\n").unwrap();
    std::fs::write(repo.join(".gitignore"), ".env\n").unwrap();
    git(&repo, ["add", "."]).unwrap();
    git(&repo, ["commit", "--quiet", "-m", "first"]).unwrap();
    (dir, repo)
}

fn head(repo: &Path) -> String {
    git(repo, ["rev-parse", "HEAD"])
        .unwrap()
        .trimmed()
        .to_owned()
}

fn porcelain(repo: &Path) -> String {
    git(repo, ["status", "--porcelain"]).unwrap().stdout
}

fn branches(repo: &Path) -> Vec<String> {
    git(
        repo,
        ["for-each-ref", "--format=%(refname:short)", "refs/heads/"],
    )
    .unwrap()
    .stdout
    .lines()
    .map(str::to_owned)
    .collect()
}

fn worktree_count(repo: &Path) -> usize {
    git(repo, ["worktree", "list", "--porcelain"])
        .unwrap()
        .stdout
        .lines()
        .filter(|line| line.starts_with("worktree "))
        .count()
}

fn setup(repo: &Path, run_dir: &Path, copy: &[PathBuf]) -> WorktreeSetup {
    WorktreeSetup::prepare(repo, None, "20261205T230000Z-abcd1234", run_dir, copy).unwrap()
}

#[test]
fn an_unborn_head_is_refused_saying_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), ["init", "--quiet", "--initial-branch=trunk"]).unwrap();
    let error =
        WorktreeSetup::prepare(dir.path(), None, "r", &dir.path().join("run"), &[]).unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, WorktreeError::UnbornHead { .. }),
        "{message}"
    );
    assert!(
        message.contains("trunk")
            && message.contains("first commit")
            && message.contains("--isolation none"),
        "{message}"
    );
    assert!(!dir.path().join("run").exists());
}

#[test]
fn a_bare_repository_and_a_plain_folder_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bare = dir.path().join("bare.git");
    std::fs::create_dir_all(&bare).unwrap();
    git(&bare, ["init", "--quiet", "--bare"]).unwrap();
    let error = WorktreeSetup::prepare(&bare, None, "r", &dir.path().join("run"), &[]).unwrap_err();
    assert!(matches!(error, WorktreeError::Bare { .. }), "{error}");
    assert!(
        error.to_string().contains("bare repository")
            && error.to_string().contains("--isolation none"),
        "{error}"
    );
    // Several agents in a bare repository: the default is worktrees, so
    // the run is refused rather than run in git's own files.
    assert!(is_in_repository(&bare));
    assert_eq!(default_isolation(&bare, 2), Isolation::Worktree);
    assert!(!dir.path().join("run").exists());

    let plain = dir.path().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let error = Repository::open(&plain).unwrap_err();
    assert!(
        matches!(error, WorktreeError::NotARepository { .. }),
        "{error}"
    );
    assert!(!is_in_repository(&plain));
    assert_eq!(default_isolation(&plain, 4), Isolation::None);

    let (_repo_dir, repo) = repository();
    let error = Repository::open(&repo.join(".git")).unwrap_err();
    assert!(
        matches!(error, WorktreeError::NotInWorkTree { .. }),
        "{error}"
    );
    assert_eq!(default_isolation(&repo, 4), Isolation::Worktree);
    assert_eq!(default_isolation(&repo, 1), Isolation::None);
    let error = WorktreeSetup::prepare(&repo, Some("no-such-branch"), "r", &repo, &[]).unwrap_err();
    assert!(matches!(error, WorktreeError::BadBase { .. }), "{error}");
}

#[test]
fn a_task_that_changes_files_keeps_its_branch_with_everything_committed() {
    let (dir, repo) = repository();
    let before = head(&repo);
    // The user's own uncommitted edit stays theirs.
    std::fs::write(repo.join("README.md"), "user's edit\n").unwrap();
    let user_status = porcelain(&repo);
    let run_dir = dir.path().join("run");
    let setup = setup(&repo, &run_dir, &[]);
    assert_eq!(setup.repository.uncommitted_paths().unwrap(), 1);

    let worktree = setup.create("task-1", 1).unwrap();
    assert_eq!(worktree.branch, "kage/20261205T230000Z-abcd1234/task-1");
    assert_eq!(worktree.path, run_dir.join("worktrees").join("task-1"));
    assert_eq!(
        std::fs::read_to_string(worktree.path.join("README.md")).unwrap(),
        "hello\n",
        "uncommitted changes of the user are not carried over"
    );
    // The agent commits one change and leaves another uncommitted.
    std::fs::write(worktree.path.join("new.txt"), "a\nb\nc\n").unwrap();
    git(&worktree.path, ["add", "new.txt"]).unwrap();
    git(&worktree.path, ["commit", "--quiet", "-m", "agent"]).unwrap();
    std::fs::write(worktree.path.join("src/lib.txt"), "one\n").unwrap();

    let report = setup.finish(&worktree, "task-1", "succeeded").unwrap();
    assert!(report.kept && report.committed_leftovers, "{report:?}");
    assert_eq!(report.commits, 2);
    assert_eq!(
        (report.files_changed, report.insertions, report.deletions),
        (2, 3, 1)
    );
    let message = git(&worktree.path, ["log", "-1", "--format=%s"]).unwrap();
    assert_eq!(
        message.trimmed(),
        "kage: uncommitted work of task task-1 (succeeded)"
    );
    assert_eq!(porcelain(&worktree.path), "");
    // The user's checkout: same HEAD, same branch, same uncommitted edit.
    assert_eq!(head(&repo), before);
    assert_eq!(porcelain(&repo), user_status);
    assert_eq!(
        git(&repo, ["symbolic-ref", "--short", "HEAD"])
            .unwrap()
            .trimmed(),
        "main"
    );
}

#[test]
fn a_task_that_changes_nothing_is_removed_with_its_branch() {
    let (dir, repo) = repository();
    let setup = setup(&repo, &dir.path().join("run"), &[]);
    let worktree = setup.create("task-2", 2).unwrap();
    assert!(worktree.path.join("README.md").is_file());
    let report = setup.finish(&worktree, "task-2", "failed").unwrap();
    assert!(!report.kept && !report.committed_leftovers, "{report:?}");
    assert_eq!(report.commits, 0);
    assert!(!worktree.path.exists());
    assert_eq!(branches(&repo), ["main"]);
    assert_eq!(worktree_count(&repo), 1);
}

#[test]
fn a_task_that_only_commits_keeps_its_branch() {
    let (dir, repo) = repository();
    let setup = setup(&repo, &dir.path().join("run"), &[]);
    let worktree = setup.create("task-3", 3).unwrap();
    std::fs::write(worktree.path.join("new.txt"), "a\n").unwrap();
    git(&worktree.path, ["add", "new.txt"]).unwrap();
    git(&worktree.path, ["commit", "--quiet", "-m", "agent"]).unwrap();
    let report = setup.finish(&worktree, "task-3", "succeeded").unwrap();
    assert!(report.kept && !report.committed_leftovers, "{report:?}");
    assert_eq!(report.commits, 1);
    assert_eq!(report.files_changed, 1);
}

#[test]
fn a_task_that_commits_on_another_branch_of_its_worktree_keeps_its_own() {
    // The branch Kage made is what counts: the agent switched away from it
    // and committed elsewhere, so Kage's branch has no commit and goes.
    let (dir, repo) = repository();
    let setup = setup(&repo, &dir.path().join("run"), &[]);
    let worktree = setup.create("task-4", 4).unwrap();
    git(&worktree.path, ["switch", "--quiet", "-c", "elsewhere"]).unwrap();
    std::fs::write(worktree.path.join("new.txt"), "a\n").unwrap();
    git(&worktree.path, ["add", "new.txt"]).unwrap();
    git(&worktree.path, ["commit", "--quiet", "-m", "agent"]).unwrap();
    let report = setup.finish(&worktree, "task-4", "succeeded").unwrap();
    assert!(!report.kept && report.commits == 0, "{report:?}");
    assert!(branches(&repo).contains(&"elsewhere".to_owned()));
}

#[test]
fn porcelain_v2_status_is_read() {
    let clean = "# branch.oid 1234abcd\0# branch.head kage/run/task-1\0";
    assert_eq!(
        WorktreeStatus::parse(clean),
        WorktreeStatus {
            oid: Some("1234abcd".to_owned()),
            head: Some("kage/run/task-1".to_owned()),
            leftovers: false,
        }
    );
    let dirty = "# branch.oid 1234abcd\0# branch.head (detached)\0? new.txt\0";
    let status = WorktreeStatus::parse(dirty);
    assert!(status.leftovers && status.head.is_none(), "{status:?}");
    assert_eq!(
        WorktreeStatus::parse("# branch.oid (initial)\0# branch.head main\0").oid,
        None
    );
}

#[test]
fn copied_setup_files_arrive_but_are_never_committed() {
    let (dir, repo) = repository();
    std::fs::write(repo.join(".env"), "TOKEN=fake\n").unwrap();
    std::fs::create_dir_all(repo.join("local")).unwrap();
    std::fs::write(repo.join("local/settings.json"), "{}\n").unwrap();
    std::fs::write(repo.join("other-untracked"), "not copied\n").unwrap();
    let setup = setup(
        &repo,
        &dir.path().join("run"),
        &[PathBuf::from(".env"), PathBuf::from("local")],
    );
    let worktree = setup.create("t", 1).unwrap();
    assert_eq!(
        std::fs::read_to_string(worktree.path.join(".env")).unwrap(),
        "TOKEN=fake\n"
    );
    assert!(worktree.path.join("local/settings.json").is_file());
    assert!(!worktree.path.join("other-untracked").exists());
    // Only copied files: no change, removed.
    let report = setup.finish(&worktree, "t", "succeeded").unwrap();
    assert!(!report.kept, "{report:?}");

    let worktree = setup.create("u", 2).unwrap();
    std::fs::write(worktree.path.join("work.txt"), "done\n").unwrap();
    let report = setup.finish(&worktree, "u", "succeeded").unwrap();
    assert!(report.kept);
    let files = git(&worktree.path, ["show", "--name-only", "--format=", "HEAD"]).unwrap();
    assert_eq!(files.trimmed(), "work.txt");
}

#[test]
fn copy_refuses_tracked_missing_and_outside_paths() {
    let (dir, repo) = repository();
    std::fs::write(dir.path().join("outside"), "x").unwrap();
    for (path, expected) in [
        ("README.md", "tracked"),
        ("missing.env", "cannot read"),
        ("../outside", "outside the working tree"),
    ] {
        let error = WorktreeSetup::prepare(
            &repo,
            None,
            "r",
            &dir.path().join("run"),
            &[PathBuf::from(path)],
        )
        .unwrap_err();
        assert!(matches!(error, WorktreeError::Copy { .. }), "{error}");
        assert!(error.to_string().contains(expected), "{path}: {error}");
    }
}

#[test]
fn the_agent_starts_where_the_run_started_inside_the_tree() {
    let (dir, repo) = repository();
    let setup = setup(&repo.join("src"), &dir.path().join("run"), &[]);
    let worktree = setup.create("t", 1).unwrap();
    assert_eq!(worktree.cwd, worktree.path.join("src"));
    assert!(worktree.cwd.join("lib.txt").is_file());
}

#[test]
fn names_become_safe_and_unique_branch_components() {
    assert_eq!(ref_component("fix the bug!", "x"), "fix-the-bug-");
    assert_eq!(ref_component("..hidden..lock.lock", "x"), "hidden");
    assert_eq!(ref_component("-./", "task-3"), "task-3");
    assert_eq!(ref_component("a..b", "x"), "a.b");
    let (dir, repo) = repository();
    let setup = setup(&repo, &dir.path().join("run"), &[]);
    let first = setup.create("a b", 1).unwrap();
    let second = setup.create("a/b", 2).unwrap();
    assert_eq!(first.branch.rsplit('/').next(), Some("a-b"));
    assert_eq!(second.branch.rsplit('/').next(), Some("a-b-2"));
    for branch in [&first.branch, &second.branch] {
        assert!(
            git_succeeds(&repo, ["check-ref-format", &format!("refs/heads/{branch}")]).unwrap()
        );
    }
}

#[test]
fn shortstat_is_read_in_every_form() {
    assert_eq!(
        parse_shortstat(" 3 files changed, 10 insertions(+), 2 deletions(-)"),
        (3, 10, 2)
    );
    assert_eq!(
        parse_shortstat(" 1 file changed, 1 insertion(+)"),
        (1, 1, 0)
    );
    assert_eq!(
        parse_shortstat(" 1 file changed, 4 deletions(-)"),
        (1, 0, 4)
    );
    assert_eq!(parse_shortstat(""), (0, 0, 0));
}

/// What `kill -9` can leave: a worktree git left locked half-made whose
/// folder is gone, a worktree with uncommitted edits, and a branch whose
/// worktree was never made. `remove` cleans all of them, and afterwards
/// `git worktree prune` has nothing left to do.
#[test]
fn remove_cleans_what_a_crash_left() {
    let (dir, repo) = repository();
    let before = head(&repo);
    let setup = setup(&repo, &dir.path().join("run"), &[]);
    let half_made = setup.create("half", 1).unwrap();
    let admin = git(&half_made.path, ["rev-parse", "--git-dir"]).unwrap();
    std::fs::write(Path::new(admin.trimmed()).join("locked"), "initializing\n").unwrap();
    std::fs::remove_dir_all(&half_made.path).unwrap();
    let dirty = setup.create("dirty", 2).unwrap();
    std::fs::write(dirty.path.join("README.md"), "half-written").unwrap();
    git(&repo, ["branch", "kage/20261205T230000Z-abcd1234/orphan"]).unwrap();
    // Another run's branch, which `--run` leaves alone.
    git(&repo, ["branch", "kage/other-run/task-1"]).unwrap();

    let repository = Repository::open(&repo).unwrap();
    let found = inventory(&repository).unwrap();
    let ours: Vec<&KageBranch> = found
        .iter()
        .filter(|branch| branch.run_id == "20261205T230000Z-abcd1234")
        .collect();
    assert_eq!(ours.len(), 3, "{found:?}");
    let half = ours.iter().find(|branch| branch.task == "half").unwrap();
    assert!(half.locked && half.missing, "{half:?}");
    assert!(ours.iter().all(|branch| branch.merged && branch.ahead == 0));

    for branch in ours {
        remove(&repository, branch).unwrap();
    }
    assert_eq!(branches(&repo), ["kage/other-run/task-1", "main"]);
    assert_eq!(worktree_count(&repo), 1);
    assert!(!dirty.path.exists());
    git(&repo, ["worktree", "prune", "--verbose"]).unwrap();
    assert_eq!(worktree_count(&repo), 1);
    assert_eq!(head(&repo), before);
    assert_eq!(porcelain(&repo), "");
}

#[test]
fn copied_files_that_are_not_ignored_are_not_committed_either() {
    let (dir, repo) = repository();
    std::fs::write(repo.join("setup.local"), "secret-ish\n").unwrap();
    let setup = setup(
        &repo,
        &dir.path().join("run"),
        &[PathBuf::from("setup.local")],
    );
    let worktree = setup.create("t", 1).unwrap();
    std::fs::write(worktree.path.join("work.txt"), "done\n").unwrap();
    let report = setup.finish(&worktree, "t", "succeeded").unwrap();
    assert!(report.kept && report.files_changed == 1, "{report:?}");
    let files = git(&worktree.path, ["show", "--name-only", "--format=", "HEAD"]).unwrap();
    assert_eq!(files.trimmed(), "work.txt");
    assert!(worktree.path.join("setup.local").is_file());
}

#[test]
fn a_folder_the_base_lacks_starts_the_agent_at_the_top() {
    let (dir, repo) = repository();
    std::fs::create_dir_all(repo.join("scratch")).unwrap();
    let setup = setup(&repo.join("scratch"), &dir.path().join("run"), &[]);
    let worktree = setup.create("t", 1).unwrap();
    assert_eq!(worktree.cwd, worktree.path);
}

/// Tasks start at once, but their `git worktree add`s run one at a time:
/// git reads the other worktrees' folders, and fails on one half written
/// (`failed to read .git/worktrees/<name>/commondir`). A smudge filter holds
/// the first add half-way (until a file appears); the second must not have
/// begun meanwhile.
#[test]
fn worktrees_are_added_one_at_a_time() {
    let (dir, repo) = repository();
    std::fs::write(repo.join(".gitattributes"), "slow.txt filter=slow\n").unwrap();
    std::fs::write(repo.join("slow.txt"), "slow\n").unwrap();
    git(&repo, ["add", "."]).unwrap();
    git(&repo, ["commit", "--quiet", "-m", "slow"]).unwrap();
    let started = dir.path().join("started");
    let release = dir.path().join("release");
    let filter = format!(
        "touch '{started}'; i=0; while [ ! -e '{release}' ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done; cat",
        started = started.display(),
        release = release.display()
    );
    git(&repo, ["config", "filter.slow.smudge", &filter]).unwrap();
    let setup = std::sync::Arc::new(setup(&repo, &dir.path().join("run"), &[]));
    let spawn = |index: usize| {
        let setup = std::sync::Arc::clone(&setup);
        std::thread::spawn(move || setup.create(&format!("task-{index}"), index))
    };
    let first = spawn(1);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !started.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(started.exists(), "the first add reached the slow file");
    let second = spawn(2);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let admin: Vec<String> = std::fs::read_dir(repo.join(".git/worktrees"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    std::fs::write(&release, "").unwrap();
    let first = first.join().unwrap().unwrap();
    let second = second.join().unwrap().unwrap();
    assert_eq!(admin, ["task-1"], "the second add waited for the first");
    assert!(first.path.join("slow.txt").is_file() && second.path.join("slow.txt").is_file());
    assert_eq!(worktree_count(&repo), 3);
}
