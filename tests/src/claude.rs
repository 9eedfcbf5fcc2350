//! The real Claude Code for end-to-end tests: an isolated home pointed at a
//! [`crate::standin::StandIn`], runs in print mode (`-p … --output-format
//! stream-json --verbose`) and interactive sessions in a private tmux server.
//!
//! Claude Code is the npm package pinned in `tests/package.json`; `npm ci` in
//! `tests/` installs it (CI does, in `.ci/run`). A test that needs it and
//! finds it missing fails with that instruction: it never skips.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The installed `claude` of `tests/node_modules`; panics, saying how to
/// install it, when it is missing.
pub fn binary() -> PathBuf {
    binary_in(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap_or_else(|message| panic!("{message}"))
}

/// `node_modules/.bin/claude` under `tests`, or what to do when it is missing.
pub fn binary_in(tests: &Path) -> Result<PathBuf, String> {
    let path = tests.join("node_modules/.bin/claude");
    if path.exists() {
        Ok(path)
    } else {
        Err(format!(
            "the real Claude Code is not installed at {}: run `npm ci` in {} \
             (tests/package.json pins @anthropic-ai/claude-code; CI installs it in .ci/run)",
            path.display(),
            tests.display()
        ))
    }
}

/// The credential a Claude Code run gets, and how.
#[derive(Debug, Clone)]
pub enum Credential {
    /// A subscription token: `CLAUDE_CODE_OAUTH_TOKEN` (sent as a bearer token).
    OAuth(String),
    /// A Console API key: `ANTHROPIC_API_KEY` (sent as `x-api-key`).
    ApiKey(String),
}

impl Credential {
    /// The environment variable Claude Code reads it from.
    pub fn variable(&self) -> &'static str {
        match self {
            Credential::OAuth(_) => "CLAUDE_CODE_OAUTH_TOKEN",
            Credential::ApiKey(_) => "ANTHROPIC_API_KEY",
        }
    }

    pub fn value(&self) -> &str {
        match self {
            Credential::OAuth(value) | Credential::ApiKey(value) => value,
        }
    }
}

/// A test credential value: recognisable, unique, obviously fake.
pub fn fake_oauth_token(label: &str) -> String {
    format!(
        "sk-ant-oat01-canary-{label}-{}-fake",
        uuid::Uuid::new_v4().simple()
    )
}

/// A temporary HOME, `CLAUDE_CONFIG_DIR` and working directory for Claude
/// Code, onboarded and with the working directory trusted, talking to the
/// API at `base_url` only.
#[derive(Debug)]
pub struct ClaudeHome {
    dir: tempfile::TempDir,
    base_url: String,
}

impl ClaudeHome {
    pub fn new(base_url: &str) -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder for Claude Code");
        let home = Self {
            dir,
            base_url: base_url.to_owned(),
        };
        for folder in [home.home(), home.config_dir(), home.workdir()] {
            std::fs::create_dir_all(folder).expect("create Claude Code's folders");
        }
        let workdir = home.workdir().display().to_string();
        let state = json!({
            "hasCompletedOnboarding": true,
            "lastOnboardingVersion": "2.1.197",
            "numStartups": 1,
            "bypassPermissionsModeAccepted": true,
            "projects": {workdir: {"hasTrustDialogAccepted": true, "hasCompletedProjectOnboarding": true}},
        });
        std::fs::write(home.config_dir().join(".claude.json"), state.to_string())
            .expect("write .claude.json");
        let script = home.root().join("statusline.sh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\n{{ cat; echo; }} >> '{}'\necho 'kage-test status line'\n",
                home.statusline_log().display()
            ),
        )
        .expect("write the status-line script");
        make_executable(&script);
        home
    }

    /// The folder holding everything (canonical: no symlinks).
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn home(&self) -> PathBuf {
        self.root().join("home")
    }

    /// `CLAUDE_CONFIG_DIR`: `.claude.json`, `projects/…` transcripts.
    pub fn config_dir(&self) -> PathBuf {
        self.root().join("claude-config")
    }

    /// Where Claude Code runs (trusted in `.claude.json`).
    pub fn workdir(&self) -> PathBuf {
        self.root().join("work")
    }

    /// The environment Claude Code runs with (no credential): PATH, HOME,
    /// `CLAUDE_CONFIG_DIR`, `ANTHROPIC_BASE_URL`, no nonessential traffic,
    /// no auto-updater, telemetry or error reporting, `TZ=UTC`.
    pub fn env(&self) -> Vec<(OsString, OsString)> {
        let pairs: [(&str, OsString); 10] = [
            ("PATH", std::env::var_os("PATH").unwrap_or_default()),
            ("HOME", self.home().into()),
            ("CLAUDE_CONFIG_DIR", self.config_dir().into()),
            ("ANTHROPIC_BASE_URL", self.base_url.clone().into()),
            ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1".into()),
            ("DISABLE_AUTOUPDATER", "1".into()),
            ("DISABLE_TELEMETRY", "1".into()),
            ("DISABLE_ERROR_REPORTING", "1".into()),
            ("TZ", "UTC".into()),
            ("LANG", "C.UTF-8".into()),
        ];
        pairs
            .into_iter()
            .map(|(name, value)| (OsString::from(name), value))
            .collect()
    }

    /// `claude` in this home: a clean environment, the working directory,
    /// and `credential` (if any) in its variable.
    pub fn command(&self, credential: Option<&Credential>) -> Command {
        let mut command = Command::new(binary());
        command
            .env_clear()
            .envs(self.env())
            .current_dir(self.workdir())
            .stdin(Stdio::null());
        if let Some(credential) = credential {
            command.env(credential.variable(), credential.value());
        }
        command
    }

    /// `claude -p PROMPT --output-format stream-json --verbose EXTRA…` to
    /// its end.
    pub fn headless(&self, credential: &Credential, prompt: &str, extra: &[&str]) -> Headless {
        let output = self
            .command(Some(credential))
            .args(["-p", prompt, "--output-format", "stream-json", "--verbose"])
            .args(extra)
            .output()
            .expect("run claude -p");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        Headless {
            status: output.status,
            events: stdout
                .lines()
                .filter_map(|line| serde_json::from_str(line).ok())
                .collect(),
            stdout,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// The transcript of `session_id` (one JSON value per line), wherever
    /// under `projects/` Claude Code put it; empty when there is none yet.
    pub fn transcript(&self, session_id: &str) -> Vec<Value> {
        self.transcript_path(session_id)
            .and_then(|path| std::fs::read_to_string(path).ok())
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }

    /// `projects/<encoded cwd>/<session_id>.jsonl`, if written.
    pub fn transcript_path(&self, session_id: &str) -> Option<PathBuf> {
        let projects = std::fs::read_dir(self.config_dir().join("projects")).ok()?;
        projects
            .flatten()
            .map(|project| project.path().join(format!("{session_id}.jsonl")))
            .find(|path| path.is_file())
    }

    /// Session ids with a transcript, in no particular order.
    pub fn sessions(&self) -> Vec<String> {
        let Ok(projects) = std::fs::read_dir(self.config_dir().join("projects")) else {
            return Vec::new();
        };
        projects
            .flatten()
            .filter_map(|project| std::fs::read_dir(project.path()).ok())
            .flatten()
            .flatten()
            .filter_map(|file| {
                let name = file.file_name().to_string_lossy().into_owned();
                name.strip_suffix(".jsonl").map(str::to_owned)
            })
            .collect()
    }

    /// `--settings` JSON that installs a status-line command recording every
    /// input it gets (read them with [`ClaudeHome::statusline_inputs`]).
    pub fn statusline_settings(&self) -> String {
        json!({"statusLine": {
            "type": "command",
            "command": self.root().join("statusline.sh").display().to_string(),
        }})
        .to_string()
    }

    fn statusline_log(&self) -> PathBuf {
        self.root().join("statusline.jsonl")
    }

    /// The JSON inputs the status-line command received, in order.
    pub fn statusline_inputs(&self) -> Vec<Value> {
        std::fs::read_to_string(self.statusline_log())
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }

    /// Start `claude ARGS…` interactively in a private tmux server (its own
    /// socket in this home) with `credential`.
    pub fn interactive(&self, credential: &Credential, args: &[&str]) -> Interactive {
        let mut env = self.env();
        env.push((credential.variable().into(), credential.value().into()));
        let binary = binary();
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        self.interactive_program(&binary, &args, env)
    }

    /// Start `program ARGS…` (`kage claude`, say) interactively in this
    /// home's private tmux server, in the working directory, with exactly
    /// the environment `env`.
    pub fn interactive_program(
        &self,
        program: &Path,
        args: &[OsString],
        env: Vec<(OsString, OsString)>,
    ) -> Interactive {
        let socket = self.root().join("tmux.sock");
        let conf = self.root().join("tmux.conf");
        std::fs::write(
            &conf,
            "set -g remain-on-exit on\nset -g history-limit 20000\nset -g status off\nset -g focus-events on\n",
        )
        .expect("write tmux.conf");
        let mut command = Command::new("tmux");
        command
            .env_clear()
            .envs(env)
            .env("TERM", "xterm-256color")
            .arg("-S")
            .arg(&socket)
            .arg("-f")
            .arg(&conf)
            .args([
                "new-session",
                "-d",
                "-s",
                "claude",
                "-x",
                "200",
                "-y",
                "50",
                "-c",
            ])
            .arg(self.workdir())
            .arg(program)
            .args(args)
            .stdin(Stdio::null());
        let output = command
            .output()
            .expect("start tmux (is tmux installed? apt-get install tmux)");
        assert!(
            output.status.success(),
            "tmux new-session failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Interactive { socket }
    }
}

/// What `claude -p` did.
#[derive(Debug)]
pub struct Headless {
    pub status: ExitStatus,
    /// stdout's JSON lines (`system/init` first, `result` last).
    pub events: Vec<Value>,
    pub stdout: String,
    pub stderr: String,
}

impl Headless {
    /// The `result` event.
    pub fn result(&self) -> &Value {
        self.events
            .iter()
            .rev()
            .find(|event| event["type"] == "result")
            .unwrap_or_else(|| {
                panic!(
                    "claude printed no result event\nstdout: {}\nstderr: {}",
                    self.stdout, self.stderr
                )
            })
    }

    pub fn session_id(&self) -> &str {
        self.result()["session_id"]
            .as_str()
            .expect("a session id in the result")
    }

    /// Events of `kind` (the `type` field).
    pub fn events_of(&self, kind: &str) -> Vec<&Value> {
        self.events
            .iter()
            .filter(|event| event["type"] == kind)
            .collect()
    }
}

/// An interactive Claude Code in a private tmux server; killed when dropped.
#[derive(Debug)]
pub struct Interactive {
    socket: PathBuf,
}

impl Interactive {
    fn tmux(&self) -> Command {
        let mut command = Command::new("tmux");
        command.arg("-S").arg(&self.socket);
        command
    }

    fn run(&self, args: &[&str]) -> String {
        let output = self.tmux().args(args).output().expect("run tmux");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The screen and its scroll-back, wrapped lines joined.
    pub fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-J", "-S", "-", "-t", "claude"])
    }

    /// Type `text` (literally), wait until it shows, then press Enter.
    pub fn submit(&self, text: &str) {
        self.run(&["send-keys", "-t", "claude", "-l", text]);
        let shown: String = text.chars().take(40).collect();
        self.wait_for_screen(Duration::from_secs(30), |screen| screen.contains(&shown));
        self.run(&["send-keys", "-t", "claude", "Enter"]);
    }

    /// Press keys by tmux name (`Enter`, `Escape`, `C-c`, `Down`).
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "claude"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    /// Wait until the screen satisfies `check` and return it; panics with
    /// the last screen when `timeout` passes first.
    pub fn wait_for_screen(&self, timeout: Duration, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.screen();
            if check(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "the screen did not show what was expected within {timeout:?}; it shows:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether Claude Code has exited (its pane stays, dead).
    pub fn exited(&self) -> bool {
        self.run(&["display-message", "-p", "-t", "claude", "#{pane_dead}"])
            .trim()
            == "1"
    }
}

impl Drop for Interactive {
    fn drop(&mut self) {
        let _ = self
            .tmux()
            .arg("kill-server")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mut permissions = std::fs::metadata(path)
        .expect("the script exists")
        .permissions();
    permissions.set_mode(0o755);
    std::fs::set_permissions(path, permissions).expect("make the script executable");
}
