//! A hermetic environment for running `kage` (jj's `TestEnvironment`):
//! an empty process environment, a temporary HOME with its config and data
//! folders, the insecure test file secret backend, a fixed clock
//! (`KAGE_TEST_NOW`) and a fixed zone (`TZ`). Output is normalized so
//! snapshots do not depend on the temporary path or on random ids.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use tempfile::TempDir;

/// The fixed "now" of most tests: a Monday morning.
pub(crate) const NOW: &str = "2025-06-02T09:30:00Z";

pub(crate) struct TestEnv {
    // Declared first: dropped before the folder, after every run.
    postgres: Option<crate::pg::PgDatabase>,
    dir: TempDir,
    now: Option<String>,
    tz: String,
    extra: Vec<(String, String)>,
}

/// What one `kage` run did, normalized.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    /// Stdout, then stderr (when any) under a marker, for snapshots.
    pub(crate) fn both(&self) -> String {
        if self.stderr.is_empty() {
            self.stdout.clone()
        } else {
            format!("{}----- stderr -----\n{}", self.stdout, self.stderr)
        }
    }

    #[track_caller]
    pub(crate) fn success(self) -> Self {
        assert_eq!(self.code, 0, "kage failed:\n{}", self.both());
        self
    }

    #[track_caller]
    pub(crate) fn code(self, expected: i32) -> Self {
        assert_eq!(
            self.code,
            expected,
            "unexpected exit code:\n{}",
            self.both()
        );
        self
    }
}

/// The first lines of a `claude` stand-in's script: `$session` is the
/// session Claude Code writes to (the value of `--session-id` or
/// `--resume`; empty without either), `$settings` the `--settings` JSON,
/// and `$dir` the working directory's project folder (created).
pub(crate) const CLAUDE_SESSION_SH: &str = r#"
session=
settings=
previous=
for argument in "$@"; do
  case "$previous" in
    --session-id|--resume) session="$argument";;
    --settings) settings="$argument";;
  esac
  previous="$argument"
done
dir="$CLAUDE_CONFIG_DIR/projects/$(pwd | sed 's/[^A-Za-z0-9]/-/g')"
mkdir -p "$dir"
"#;

fn is_hex(text: &str) -> bool {
    text.chars().all(|c| c.is_ascii_hexdigit())
}

/// Replace every hyphenated UUID with `[UUID]`.
pub(crate) fn hide_uuids(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while rest.len() >= 36 {
        let parts: Vec<&str> = rest
            .get(..36)
            .map_or_else(Vec::new, |candidate| candidate.split('-').collect());
        let shape = parts.iter().map(|part| part.len()).collect::<Vec<_>>();
        if shape == [8, 4, 4, 4, 12] && parts.iter().all(|part| is_hex(part)) {
            out.push_str("[UUID]");
            rest = &rest[36..];
        } else {
            let next = rest.chars().next().map_or(1, char::len_utf8);
            out.push_str(&rest[..next]);
            rest = &rest[next..];
        }
    }
    out.push_str(rest);
    out
}

/// Drop ANSI color sequences (`ESC [ … m`).
pub(crate) fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for next in chars.by_ref() {
                if next.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl TestEnv {
    pub(crate) fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("kage-cli-test")
            .tempdir()
            .expect("temporary folder");
        for folder in ["home", "config", "data", "secrets"] {
            std::fs::create_dir_all(dir.path().join(folder)).expect("test folders");
        }
        Self {
            postgres: None,
            dir,
            now: Some(NOW.to_owned()),
            tz: "UTC".to_owned(),
            extra: Vec::new(),
        }
    }

    /// The same, with the pool in a fresh PostgreSQL database
    /// (`KAGE_DATABASE_URL`) instead of the SQLite file; `None` when there is
    /// no PostgreSQL server (the test `test` was skipped, loudly).
    pub(crate) fn postgres(test: &str) -> Option<Self> {
        let mut env = Self::new();
        let database = crate::pg::PgDatabase::create(test)?;
        env.set_env("KAGE_DATABASE_URL", &database.url);
        env.postgres = Some(database);
        Some(env)
    }

    pub(crate) fn root(&self) -> &Path {
        self.dir.path()
    }

    /// The config file `kage` reads here (`$XDG_CONFIG_HOME/kage/config.toml`).
    /// With `KAGE_CONFIG` set (relative to the root), that file instead.
    pub(crate) fn config_path(&self) -> PathBuf {
        if let Some((_, file)) = self
            .extra
            .iter()
            .rev()
            .find(|(name, _)| name == "KAGE_CONFIG")
        {
            return self.root().join(file);
        }
        self.root().join("config").join("kage").join("config.toml")
    }

    pub(crate) fn write_config(&self, text: &str) {
        let path = self.config_path();
        std::fs::create_dir_all(path.parent().expect("config folder")).expect("config folder");
        std::fs::write(path, text).expect("config file");
    }

    /// Move the fixed clock.
    pub(crate) fn set_now(&mut self, now: &str) {
        self.now = Some(now.to_owned());
    }

    /// Use the real clock (no `KAGE_TEST_NOW`).
    pub(crate) fn real_clock(&mut self) {
        self.now = None;
    }

    pub(crate) fn set_tz(&mut self, tz: &str) {
        self.tz = tz.to_owned();
    }

    /// Add an environment variable to every later run.
    pub(crate) fn set_env(&mut self, name: &str, value: &str) {
        self.extra.push((name.to_owned(), value.to_owned()));
    }

    /// The variables every run gets (for programs that start `kage`
    /// themselves, such as a tmux server).
    pub(crate) fn environment_vars(&self) -> Vec<(String, String)> {
        self.environment()
    }

    fn environment(&self) -> Vec<(String, String)> {
        let root = self.root();
        let mut vars = vec![
            ("HOME".to_owned(), root.join("home").display().to_string()),
            (
                "XDG_CONFIG_HOME".to_owned(),
                root.join("config").display().to_string(),
            ),
            (
                "XDG_DATA_HOME".to_owned(),
                root.join("data").display().to_string(),
            ),
            (
                "KAGE_SECRET_BACKEND".to_owned(),
                format!("insecure-test-file:{}", root.join("secrets").display()),
            ),
            ("TZ".to_owned(), self.tz.clone()),
            ("PATH".to_owned(), std::env::var("PATH").unwrap_or_default()),
        ];
        if let Some(now) = &self.now {
            vars.push(("KAGE_TEST_NOW".to_owned(), now.clone()));
        }
        vars.extend(self.extra.iter().cloned());
        vars
    }

    /// `kage ARGS` in this environment, not yet run.
    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::cargo_bin("kage").expect("the kage binary");
        command.env_clear().envs(self.environment()).args(args);
        command.current_dir(self.root());
        command
    }

    pub(crate) fn normalize(&self, text: &str) -> String {
        let root = self.root().display().to_string();
        let text = strip_ansi(&text.replace("\r\n", "\n")).replace(&root, "$TEST_ENV");
        let text: String = text
            .lines()
            .filter(|line| !line.contains("INSECURE test file store"))
            .map(|line| format!("{line}\n"))
            .collect();
        hide_uuids(&text)
    }

    fn finish(&self, output: &Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: self.normalize(&String::from_utf8_lossy(&output.stdout)),
            stderr: self.normalize(&String::from_utf8_lossy(&output.stderr)),
        }
    }

    /// `kage ARGS` as a plain `std::process::Command` in this environment.
    pub(crate) fn std_command(&self, args: &[&str]) -> std::process::Command {
        let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("kage"));
        command.env_clear().envs(self.environment()).args(args);
        command.current_dir(self.root());
        command
    }

    /// Run `kage ARGS` with empty stdin.
    pub(crate) fn run(&self, args: &[&str]) -> Run {
        let output = self
            .command(args)
            .write_stdin("")
            .output()
            .expect("kage runs");
        self.finish(&output)
    }

    /// Run `kage ARGS` with `input` on stdin.
    pub(crate) fn run_with_stdin(&self, args: &[&str], input: &str) -> Run {
        let output = self
            .command(args)
            .write_stdin(input.to_owned())
            .output()
            .expect("kage runs");
        self.finish(&output)
    }

    /// Run `kage ARGS` in a pseudo-terminal, answer the credential prompt
    /// with `secret`, and return everything it showed (stdout and stderr
    /// share the terminal) and its exit code.
    pub(crate) fn run_in_terminal(&self, args: &[&str], secret: &str) -> Run {
        let command = self.std_command(args);
        let mut session = rexpect::session::spawn_command(command, Some(20_000)).expect("pty");
        let prompt = session
            .exp_string("input is hidden): ")
            .expect("kage prompts for the credential");
        session.send_line(secret).expect("type the secret");
        let rest = session.exp_eof().expect("kage finishes");
        let status = session.process().wait().expect("exit status");
        let code = match status {
            rexpect::process::WaitStatus::Exited(_, code) => code,
            other => panic!("kage did not exit normally: {other:?}"),
        };
        Run {
            code,
            stdout: self.normalize(&format!("{prompt}input is hidden): {rest}")),
            stderr: String::new(),
        }
    }

    /// Add a subscription quickly, its credential on stdin.
    pub(crate) fn add(&self, name: &str, extra: &[&str]) {
        let mut args = vec!["subscription", "add", "--name", name, "--credential-stdin"];
        args.extend_from_slice(extra);
        self.run_with_stdin(&args, &format!("sk-ant-oat01-{name}-secret\n"))
            .success();
    }

    /// Acquire a lease and return its id.
    pub(crate) fn acquire(&self, extra: &[&str]) -> String {
        let mut args = vec!["lease", "acquire", "--holder", "test"];
        args.extend_from_slice(extra);
        let output = self
            .command(&args)
            .write_stdin("")
            .output()
            .expect("kage runs");
        assert!(
            output.status.success(),
            "acquire failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        stdout
            .split_whitespace()
            .next()
            .expect("a lease id")
            .to_owned()
    }

    /// Acquire a lease on `extra`'s best subscription and release it with
    /// `release` arguments; returns the subscription leased.
    pub(crate) fn spend(&self, acquire: &[&str], release: &[&str]) -> String {
        let mut args = vec!["lease", "acquire", "--holder", "test"];
        args.extend_from_slice(acquire);
        let output = self
            .command(&args)
            .write_stdin("")
            .output()
            .expect("kage runs");
        assert!(
            output.status.success(),
            "acquire failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8_lossy(&output.stdout).to_string();
        let mut words = stdout.split_whitespace();
        let id = words.next().expect("a lease id").to_owned();
        let name = words.next().expect("a subscription").to_owned();
        let mut args = vec!["lease", "release", id.as_str()];
        args.extend_from_slice(release);
        self.run(&args).success();
        name
    }
}

/// Whether process `pid` is alive (not gone, not a zombie).
pub(crate) fn running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X']))
    })
}
