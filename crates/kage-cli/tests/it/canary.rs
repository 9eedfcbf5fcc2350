//! The canary test: obviously fake credentials go through every command
//! with full tracing (`RUST_LOG=trace`, `-vvv`), and must show up nowhere —
//! no stdout, stderr, log line or error message, not the database (its
//! `-wal` and `-shm` files included), the config file or any other file
//! Kage writes, not an argument list — except in the environment of the
//! child `kage exec` runs, exactly once, under the variable its kind needs.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::env::TestEnv;

/// An OAuth token, given on standard input.
const OAUTH_CANARY: &str = "sk-ant-oat01-CANARY-DO-NOT-LEAK-7f3a9c";
/// An API key, read from [`API_CANARY_VARIABLE`] (`--credential-env`).
const API_CANARY: &str = "sk-ant-api03-CANARY-DO-NOT-LEAK-41b2e8";
/// An OAuth token printed by a credential command (`--credential-command`).
const COMMAND_CANARY: &str = "sk-ant-oat01-CANARY-DO-NOT-LEAK-c0d3e5";
/// What every canary shares: a leak of any part of one is caught too.
const MARK: &str = "CANARY-DO-NOT-LEAK";
/// Named `KAGE_…` on purpose: Kage captures `KAGE_*` variables for its
/// config, so this one goes through the config loader as well.
const API_CANARY_VARIABLE: &str = "KAGE_CANARY_API_KEY";

/// The child `kage exec` runs records, itself, into the folder `$1`: its
/// argument list, its environment (`env`, and the exact bytes of
/// `/proc/$$/environ`), its `/proc` command line and that of its parent,
/// `kage` itself.
const RECORDER: &str = r#"d=$1
printf '%s\n' "$0" "$@" > "$d/argv.txt"
env > "$d/env.txt"
cat /proc/$$/environ > "$d/environ" 2>/dev/null
cat /proc/$$/cmdline > "$d/cmdline" 2>/dev/null
cat /proc/$PPID/cmdline > "$d/parent-cmdline" 2>/dev/null
exit 0"#;

/// Files that hold a canary by design, relative to the test root: the
/// insecure test keychain, the credential command's source file, and what
/// the children recorded of their environment (checked on their own).
fn holds_a_secret_by_design(relative: &Path) -> bool {
    relative.starts_with("secrets")
        || relative.starts_with("source")
        || (relative.starts_with("child")
            && matches!(
                relative.file_name().and_then(|name| name.to_str()),
                Some("env.txt" | "environ")
            ))
}

fn find(haystack: &[u8], needle: &str) -> usize {
    let needle = needle.as_bytes();
    haystack
        .windows(needle.len())
        .filter(|window| *window == needle)
        .count()
}

/// Which canaries (or their shared mark) `bytes` contains.
fn canaries_in(bytes: &[u8]) -> Vec<&'static str> {
    [OAUTH_CANARY, API_CANARY, COMMAND_CANARY, MARK]
        .into_iter()
        .filter(|canary| find(bytes, canary) > 0)
        .collect()
}

/// Every `kage` run in one hermetic environment, with all it printed.
struct Canary {
    env: TestEnv,
    /// `(label, bytes)` of every stdout and stderr seen.
    outputs: Vec<(String, Vec<u8>)>,
}

impl Canary {
    fn new() -> Self {
        let mut env = TestEnv::new();
        env.set_env("RUST_LOG", "trace");
        env.set_env(API_CANARY_VARIABLE, API_CANARY);
        // Decoys the children must not see.
        env.set_env("ANTHROPIC_API_KEY", "decoy-parent-api-key");
        env.set_env("ANTHROPIC_AUTH_TOKEN", "decoy-parent-auth-token");
        env.set_env("CLAUDE_CODE_OAUTH_TOKEN", "decoy-parent-oauth-token");
        std::fs::create_dir_all(env.root().join("source")).expect("source folder");
        std::fs::create_dir_all(env.root().join("child")).expect("child folder");
        Self {
            env,
            outputs: Vec::new(),
        }
    }

    fn root(&self) -> &Path {
        self.env.root()
    }

    /// `kage -vvv ARGS` with `stdin`; checks the exit code, keeps both
    /// outputs and returns stdout.
    #[track_caller]
    fn run(&mut self, args: &[&str], stdin: &str, expected: i32) -> String {
        self.run_with(args, stdin, expected, &[])
    }

    /// [`Self::run`] without some of the environment's variables.
    #[track_caller]
    fn run_with(&mut self, args: &[&str], stdin: &str, expected: i32, unset: &[&str]) -> String {
        let mut all = vec!["-vvv"];
        all.extend_from_slice(args);
        let mut command = self.env.command(&all);
        for variable in unset {
            command.env_remove(variable);
        }
        let output = command
            .write_stdin(stdin.to_owned())
            .output()
            .expect("kage runs");
        let label = args
            .iter()
            .map(|arg| if arg.contains('\n') { "<script>" } else { arg })
            .collect::<Vec<_>>()
            .join(" ");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert_eq!(
            output.status.code(),
            Some(expected),
            "`kage {label}`:\n{stdout}\n----- stderr -----\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        self.outputs
            .push((format!("stdout of `kage {label}`"), output.stdout));
        self.outputs
            .push((format!("stderr of `kage {label}`"), output.stderr));
        stdout
    }

    /// A folder for one child's records.
    fn child_dir(&self, name: &str) -> PathBuf {
        let dir = self.root().join("child").join(name);
        std::fs::create_dir_all(&dir).expect("child folder");
        dir
    }

    /// `kage exec OPTIONS -- sh -c RECORDER child-sh DIR --child-flag`.
    fn exec_recorder(&mut self, options: &[&str], child: &str, unset: &[&str]) -> Record {
        let dir = self.child_dir(child);
        let dir_text = dir.display().to_string();
        let mut args = vec!["exec"];
        args.extend_from_slice(options);
        args.extend_from_slice(&[
            "--",
            "sh",
            "-c",
            RECORDER,
            "child-sh",
            &dir_text,
            "--child-flag",
        ]);
        self.run_with(&args, "", 0, unset);
        Record::read(&dir)
    }

    /// Every file under the test root, but those that hold a canary by
    /// design; `(relative path, bytes)`, read after every `kage` ended.
    fn files(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut files = Vec::new();
        let mut folders = vec![self.root().to_path_buf()];
        while let Some(folder) = folders.pop() {
            for entry in std::fs::read_dir(&folder).expect("a readable folder") {
                let path = entry.expect("a folder entry").path();
                let relative = path
                    .strip_prefix(self.root())
                    .expect("under the root")
                    .to_path_buf();
                if path.is_dir() {
                    folders.push(path);
                } else if !holds_a_secret_by_design(&relative) {
                    files.push((relative, std::fs::read(&path).expect("a readable file")));
                }
            }
        }
        files.sort();
        files
    }
}

/// What one `kage exec` child recorded of itself.
struct Record {
    argv: Vec<u8>,
    env_text: String,
    /// `/proc/$$/environ`, split at NULs (Linux only).
    environ: Option<Vec<(String, String)>>,
    cmdline: Option<Vec<u8>>,
    parent_cmdline: Option<Vec<u8>>,
}

impl Record {
    fn read(dir: &Path) -> Self {
        let read_optional = |name: &str| std::fs::read(dir.join(name)).ok();
        let environ = read_optional("environ").map(|bytes| {
            String::from_utf8(bytes)
                .expect("a UTF-8 environment")
                .split('\0')
                .filter(|entry| !entry.is_empty())
                .map(|entry| {
                    let (name, value) = entry.split_once('=').expect("NAME=VALUE");
                    (name.to_owned(), value.to_owned())
                })
                .collect()
        });
        let record = Self {
            argv: std::fs::read(dir.join("argv.txt")).expect("the child wrote its argv"),
            env_text: std::fs::read_to_string(dir.join("env.txt"))
                .expect("the child wrote its environment"),
            environ,
            cmdline: read_optional("cmdline"),
            parent_cmdline: read_optional("parent-cmdline"),
        };
        if cfg!(target_os = "linux") {
            assert!(
                record.environ.is_some()
                    && record.cmdline.is_some()
                    && record.parent_cmdline.is_some(),
                "the child could not read /proc in {}",
                dir.display()
            );
        }
        record
    }

    fn variable(&self, name: &str) -> Option<&str> {
        self.environ.as_ref().and_then(|environ| {
            environ
                .iter()
                .find(|(variable, _)| variable == name)
                .map(|(_, value)| value.as_str())
        })
    }

    /// The variables whose value holds `needle`.
    fn variables_holding(&self, needle: &str) -> Vec<&str> {
        self.environ
            .iter()
            .flatten()
            .filter(|(_, value)| value.contains(needle))
            .map(|(name, _)| name.as_str())
            .collect()
    }

    /// The child got `secret` once, under `variable`, and no other
    /// Anthropic credential variable; no variable but `variable` and `also`
    /// (variables the user set themselves, inherited) holds a canary.
    #[track_caller]
    fn check_credential(&self, child: &str, variable: &str, secret: &str, also: &[&str]) {
        let mut expected_holders = vec![variable];
        expected_holders.extend_from_slice(also);
        expected_holders.sort_unstable();
        let expected_lines = expected_holders.len();
        assert_eq!(
            self.env_text.matches(MARK).count(),
            expected_lines,
            "{child}: `env` shows the canary mark {} times, not {expected_lines}:\n{}",
            self.env_text.matches(MARK).count(),
            self.env_text
        );
        assert_eq!(
            self.env_text
                .lines()
                .filter(|line| *line == format!("{variable}={secret}"))
                .count(),
            1,
            "{child}: `env` lacks {variable}=<the canary>:\n{}",
            self.env_text
        );
        if self.environ.is_some() {
            assert_eq!(self.variable(variable), Some(secret), "{child}: {variable}");
            let mut holders = self.variables_holding(MARK);
            holders.sort_unstable();
            assert_eq!(
                holders, expected_holders,
                "{child}: the variables holding a canary"
            );
            for other in [
                "ANTHROPIC_API_KEY",
                "ANTHROPIC_AUTH_TOKEN",
                "CLAUDE_CODE_OAUTH_TOKEN",
            ] {
                if other != variable {
                    assert_eq!(self.variable(other), None, "{child}: {other} must be unset");
                }
            }
            assert!(
                self.variable("KAGE_SUBSCRIPTION").is_some()
                    && self.variable("KAGE_LEASE_ID").is_some(),
                "{child}: the lease markers are missing"
            );
        }
        assert!(
            self.argv.starts_with(b"child-sh\n") && find(&self.argv, "--child-flag") == 1,
            "{child}: the recorded argv is not the child's: {}",
            String::from_utf8_lossy(&self.argv)
        );
    }

    /// Where this child holds a canary it should not: its argument list
    /// (as it wrote it, and from `/proc`) and `kage`'s.
    fn leaks(&self, child: &str) -> Vec<String> {
        let mut places = vec![(format!("{child}: argv"), Some(&self.argv))];
        places.push((format!("{child}: /proc cmdline"), self.cmdline.as_ref()));
        places.push((
            format!("{child}: kage's /proc cmdline"),
            self.parent_cmdline.as_ref(),
        ));
        places
            .into_iter()
            .filter_map(|(place, bytes)| {
                let found = canaries_in(bytes?);
                (!found.is_empty()).then(|| format!("{place} holds {found:?}"))
            })
            .collect()
    }
}

fn lease_id(json: &str) -> String {
    let value: Value = serde_json::from_str(json).expect("one JSON document");
    value["id"].as_str().expect("a lease id").to_owned()
}

const CONFIG: &str = r#"# Canary test config: sets a few things, holds no secret.
[subscriptions]
lease_ttl = "3m"
unhealthy_threshold = 4

[subscriptions.routing]
backend = ["canary-oauth"]
"#;

#[test]
fn the_canary_credentials_reach_only_the_childs_environment() {
    let mut canary = Canary::new();
    canary.env.write_config(CONFIG);
    let source = canary.root().join("source").join("command-token");
    std::fs::write(&source, format!("{COMMAND_CANARY}\n")).expect("the command's source");
    let source = source.display().to_string();

    // Add: standard input, an environment variable, a command, a command
    // that fails after printing the canary on both outputs.
    canary.run(
        &[
            "subscription",
            "add",
            "--name",
            "canary-oauth",
            "--tags",
            "oauth",
            "--description",
            "fake canary token",
            "--credential-stdin",
        ],
        &format!("{OAUTH_CANARY}\n"),
        0,
    );
    canary.run(
        &[
            "subscription",
            "add",
            "--name",
            "canary-key",
            "--kind",
            "api-key",
            "--tags",
            "key",
            "--credential-env",
            API_CANARY_VARIABLE,
        ],
        "",
        0,
    );
    canary.run(
        &[
            "subscription",
            "add",
            "--name",
            "canary-command",
            "--tags",
            "command",
            "--credential-command",
            &format!("cat '{source}'"),
        ],
        "",
        0,
    );
    canary.run(
        &[
            "subscription",
            "add",
            "--name",
            "canary-broken",
            "--tags",
            "broken",
            "--priority",
            "1",
            "--credential-command",
            &format!("sh -c \"cat '{source}'; cat '{source}' >&2; exit 3\""),
        ],
        "",
        0,
    );
    // A credential of the wrong kind: the warning must not quote it.
    canary.run(
        &[
            "subscription",
            "add",
            "--name",
            "canary-shape",
            "--tags",
            "shape",
            "--credential-stdin",
        ],
        &format!("{API_CANARY}\n"),
        0,
    );
    // Errors with a credential on standard input: a taken name, a bad name.
    canary.run(
        &[
            "subscription",
            "add",
            "--name",
            "canary-oauth",
            "--credential-stdin",
        ],
        &format!("{OAUTH_CANARY}\n"),
        2,
    );
    canary.run(
        &[
            "subscription",
            "add",
            "--name",
            "Not A Name!",
            "--credential-stdin",
        ],
        &format!("{OAUTH_CANARY}\n"),
        2,
    );
    canary.run(
        &[
            "subscription",
            "edit",
            "canary-oauth",
            "--rotate-credential",
            "--credential-stdin",
        ],
        &format!("{OAUTH_CANARY}\n"),
        0,
    );
    canary.run(&["subscription", "remove", "canary-shape"], "", 0);

    // Every read command, in every format.
    for args in [
        &["subscription", "list"][..],
        &["subscription", "list", "--json"],
        &["subscription", "list", "--names"],
        &["subscription", "show", "canary-oauth"],
        &["subscription", "show", "canary-oauth", "--json"],
        &["subscription", "show", "canary-key"],
        &["subscription", "show", "canary-key", "--json"],
        &["subscription", "show", "canary-command", "--json"],
        &["subscription", "status"],
        &["subscription", "status", "--json"],
        &["subscription", "explain"],
        &["subscription", "explain", "--json"],
        &[
            "subscription",
            "explain",
            "--namespace",
            "backend",
            "--json",
        ],
        &["subscription", "routes"],
        &["subscription", "routes", "--json"],
        &["subscription", "usage"],
        &["subscription", "usage", "--json"],
        &["config", "path"],
        &["config", "check"],
        &["config", "show"],
        &["config", "show", "--resolved"],
        &["config", "show", "--resolved", "--json"],
        &["metrics"],
    ] {
        canary.run(args, "", 0);
    }

    // Leases for scripts.
    let acquired = canary.run(&["lease", "acquire", "--json", "--tags", "oauth"], "", 0);
    let first = lease_id(&acquired);
    canary.run(&["lease", "list"], "", 0);
    canary.run(&["lease", "list", "--json"], "", 0);
    canary.run(&["lease", "heartbeat", &first, "--json"], "", 0);
    canary.run(&["subscription", "show", "canary-oauth", "--json"], "", 0);
    canary.run(
        &[
            "lease",
            "release",
            &first,
            "--usage",
            "input=1200,output=340",
            "--cost-usd",
            "0.04",
        ],
        "",
        0,
    );
    let acquired = canary.run(&["lease", "acquire", "--json", "--tags", "key"], "", 0);
    let second = lease_id(&acquired);
    canary.run(
        &[
            "lease",
            "release",
            &second,
            "--outcome",
            "error",
            "--error-kind",
            "server",
        ],
        "",
        0,
    );
    canary.run(&["lease", "release", &second], "", 1);
    canary.run(&["metrics"], "", 0);
    canary.run(&["subscription", "usage", "--json"], "", 0);

    // `kage exec`: the children record their environment and arguments.
    let oauth = canary.exec_recorder(&["--namespace", "backend"], "oauth", &[API_CANARY_VARIABLE]);
    let key = canary.exec_recorder(&["--tags", "key"], "key", &[]);
    let command = canary.exec_recorder(&["--tags", "command"], "command", &[API_CANARY_VARIABLE]);
    // Children that fail, and a credential command that fails.
    canary.run(
        &["exec", "--tags", "oauth", "--", "sh", "-c", "exit 7"],
        "",
        7,
    );
    canary.run(
        &[
            "exec",
            "--tags",
            "oauth",
            "--",
            "no-such-program-kage-canary",
        ],
        "",
        127,
    );
    canary.run(&["exec", "--tags", "broken", "--", "true"], "", 1);

    // Nothing available: leases and exec exit 75.
    for name in [
        "canary-oauth",
        "canary-key",
        "canary-command",
        "canary-broken",
    ] {
        canary.run(&["subscription", "disable", name], "", 0);
    }
    canary.run(&["lease", "acquire", "--json"], "", 75);
    canary.run(&["lease", "acquire"], "", 75);
    canary.run(&["exec", "--", "true"], "", 75);
    canary.run(&["subscription", "enable", "canary-oauth"], "", 0);
    canary.run(&["subscription", "status", "--json"], "", 0);
    canary.run(&["subscription", "show", "canary-broken", "--json"], "", 0);

    // The right credential reached each child, once, in the right variable.
    oauth.check_credential("oauth child", "CLAUDE_CODE_OAUTH_TOKEN", OAUTH_CANARY, &[]);
    // The key comes from the user's own variable, which is removed from the
    // child's environment: it sees the key once, where its kind needs it.
    key.check_credential("api-key child", "ANTHROPIC_API_KEY", API_CANARY, &[]);
    command.check_credential(
        "command child",
        "CLAUDE_CODE_OAUTH_TOKEN",
        COMMAND_CANARY,
        &[],
    );

    // The search finds what is there: the test keychain holds the canary.
    let keychain: Vec<u8> = std::fs::read_dir(canary.root().join("secrets"))
        .expect("the test keychain")
        .flat_map(|entry| std::fs::read(entry.expect("an entry").path()).expect("a file"))
        .collect();
    assert_eq!(canaries_in(&keychain), [OAUTH_CANARY, MARK]);
    // The logs are on, from Kage and from the store (nothing logs at trace
    // level yet; RUST_LOG=trace would show it).
    let stderr: Vec<u8> = canary
        .outputs
        .iter()
        .filter(|(label, _)| label.starts_with("stderr"))
        .flat_map(|(_, bytes)| bytes.iter().copied())
        .collect();
    for expected in ["DEBUG", "sqlx::query", "kage_core"] {
        assert!(find(&stderr, expected) > 0, "no {expected} in the logs");
    }

    let mut leaks = Vec::new();
    for (label, bytes) in &canary.outputs {
        let found = canaries_in(bytes);
        if !found.is_empty() {
            let text = String::from_utf8_lossy(bytes);
            let lines: Vec<&str> = text.lines().filter(|line| line.contains(MARK)).collect();
            leaks.push(format!("{label} holds {found:?}:\n{}", lines.join("\n")));
        }
    }
    let files = canary.files();
    let names: Vec<String> = files
        .iter()
        .map(|(path, _)| path.display().to_string())
        .collect();
    for expected in ["data/kage/kage.db", "config/kage/config.toml"] {
        assert!(
            names.iter().any(|name| name == expected),
            "{expected} is missing: {names:?}"
        );
    }
    for (path, bytes) in &files {
        let found = canaries_in(bytes);
        if !found.is_empty() {
            leaks.push(format!("file {} holds {found:?}", path.display()));
        }
    }
    for (child, record) in [
        ("oauth child", &oauth),
        ("api-key child", &key),
        ("command child", &command),
    ] {
        leaks.extend(record.leaks(child));
    }
    assert!(
        leaks.is_empty(),
        "a canary credential leaked:\n{}",
        leaks.join("\n")
    );
}
