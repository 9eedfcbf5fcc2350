//! A hermetic world for `kage-agent`: a temporary HOME, config, SQLite
//! database, test-file credential store, and the simulated Claude Code
//! (`kage-agent simulate-claude`) or the real one against the API stand-in.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use kage_agent::simulate;
use kage_core::{AddSubscriptionRequest, CredentialInput, Pool, PoolSettings};
use kage_domain::{CredentialKind, Priority, SubscriptionName, SubscriptionState, Usage};
use kage_ports::{Clock, SecretString, SubscriptionStore, SystemClock, UsageQuery};
use kage_secrets::SelectedSecretStore;
use kage_store_sql::SqliteStore;
use kage_tests::claude::ClaudeHome;
use kage_tests::standin::StandIn;
use serde_json::Value;

pub(crate) type TestPool = Pool<SqliteStore, SelectedSecretStore, SystemClock>;

/// Credential values: never printed by Kage, checked for in its output.
pub(crate) fn fake_credential(kind: CredentialKind, script: &str) -> String {
    let prefix = match kind {
        CredentialKind::OAuth => "sk-ant-oat01",
        CredentialKind::ApiKey => "sk-ant-api03",
    };
    format!(
        "{prefix}-canary-{}{}{script}-x",
        uuid::Uuid::new_v4().simple(),
        simulate::MARKER
    )
}

pub(crate) struct World {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) credentials: Vec<String>,
    /// Set on `kage-agent` and `kage` on top of the hermetic environment.
    extra_env: Vec<(OsString, OsString)>,
    /// The real Claude Code's config folder, when agents are the real one.
    claude_home: Option<ClaudeHome>,
}

impl World {
    /// A world whose config file holds `config` after the `[agent]` command.
    pub(crate) fn new(config: &str) -> Self {
        let agent = env!("CARGO_BIN_EXE_kage-agent-it");
        Self::with_config(&format!(
            "[agent]\ncommand = [{agent:?}, \"simulate-claude\", \"-p\", \"{{prompt}}\", \"--output-format\", \"stream-json\", \"--verbose\"]\n{config}\n"
        ))
    }

    /// A world whose agent is `command` (a TOML array) instead of the
    /// simulated Claude Code.
    pub(crate) fn with_command(command: &str, config: &str) -> Self {
        Self::with_config(&format!("[agent]\ncommand = {command}\n{config}\n"))
    }

    /// A world whose agents are the real Claude Code (`tests/node_modules`,
    /// first on PATH) with the default agent command, talking to `standin`
    /// only; `config` is the whole config file.
    pub(crate) fn with_real_claude(config: &str, standin: &StandIn) -> Self {
        let claude = kage_tests::claude::binary();
        let mut world = Self::with_config(config);
        let home = ClaudeHome::new(&standin.base_url());
        let mut path = OsString::from(claude.parent().unwrap());
        path.push(":");
        path.push(std::env::var_os("PATH").unwrap_or_default());
        world.extra_env = home
            .env()
            .into_iter()
            .filter(|(name, _)| !matches!(name.to_str(), Some("PATH" | "HOME")))
            .chain([(OsString::from("PATH"), path)])
            .collect();
        world.claude_home = Some(home);
        world
    }

    fn with_config(text: &str) -> Self {
        let dir = tempfile::tempdir().expect("temporary folder");
        let world = Self {
            dir,
            credentials: Vec::new(),
            extra_env: Vec::new(),
            claude_home: None,
        };
        std::fs::create_dir_all(world.home()).unwrap();
        std::fs::create_dir_all(world.secrets_dir()).unwrap();
        std::fs::create_dir_all(world.workdir()).unwrap();
        std::fs::write(world.config_path(), text).unwrap();
        world
    }

    /// The last credential added (to script it on the stand-in).
    pub(crate) fn last_credential(&self) -> &str {
        self.credentials.last().expect("a subscription was added")
    }

    /// The real Claude Code's config folder (transcripts), if it runs here.
    pub(crate) fn claude_home(&self) -> Option<&ClaudeHome> {
        self.claude_home.as_ref()
    }

    pub(crate) fn root(&self) -> &Path {
        self.dir.path()
    }

    fn home(&self) -> PathBuf {
        self.root().join("home")
    }

    pub(crate) fn config_path(&self) -> PathBuf {
        self.root().join("config.toml")
    }

    fn db_path(&self) -> PathBuf {
        self.root().join("kage.db")
    }

    fn secrets_dir(&self) -> PathBuf {
        self.root().join("secrets")
    }

    pub(crate) fn log_path(&self) -> PathBuf {
        self.root().join("fake-claude.log")
    }

    pub(crate) fn run_dir(&self) -> PathBuf {
        self.root().join("run")
    }

    /// The agents' working directory.
    pub(crate) fn workdir(&self) -> PathBuf {
        self.root().join("work")
    }

    pub(crate) async fn pool(&self) -> TestPool {
        let store = SqliteStore::open(self.db_path())
            .await
            .expect("open the database");
        let backend = format!("insecure-test-file:{}", self.secrets_dir().display());
        let secrets = kage_secrets::secret_store_for(Some(OsStr::new(&backend)))
            .expect("test file secret store");
        Pool::new(store, secrets, SystemClock, PoolSettings::default())
    }

    /// Register a subscription whose fake credential runs `script`.
    pub(crate) async fn add(
        &mut self,
        pool: &TestPool,
        name: &str,
        priority: u8,
        kind: CredentialKind,
        script: &str,
        max_concurrent: Option<u32>,
    ) {
        let credential = fake_credential(kind, script);
        self.credentials.push(credential.clone());
        pool.add_subscription(AddSubscriptionRequest {
            name: SubscriptionName::new(name).unwrap(),
            description: None,
            priority: Priority(priority),
            tags: Default::default(),
            kind,
            credential: CredentialInput::Keychain(SecretString::from(credential)),
            max_concurrent,
        })
        .await
        .expect("add a subscription");
    }

    /// `kage-agent` in this world, with a clean environment plus decoy
    /// credentials that must never reach an agent.
    pub(crate) fn kage_agent(&self) -> Command {
        self.hermetic(env!("CARGO_BIN_EXE_kage-agent-it"))
    }

    /// `kage` (the CLI) in this world.
    pub(crate) fn kage(&self) -> Command {
        self.hermetic(env!("CARGO_BIN_EXE_kage-it"))
    }

    fn hermetic(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home())
            .env("KAGE_CONFIG", self.config_path())
            .env("KAGE_DATABASE_PATH", self.db_path())
            .env(
                "KAGE_SECRET_BACKEND",
                format!("insecure-test-file:{}", self.secrets_dir().display()),
            )
            .env("TZ", "UTC")
            .env(simulate::LOG_VARIABLE, self.log_path())
            .env(simulate::STATE_VARIABLE, self.root().join("fake-state"))
            .env(simulate::PACE_VARIABLE, "50")
            .env("ANTHROPIC_API_KEY", "sk-ant-api03-decoy-from-the-parent")
            .env("ANTHROPIC_AUTH_TOKEN", "decoy-auth-token")
            .env(
                "CLAUDE_CODE_OAUTH_TOKEN",
                "sk-ant-oat01-decoy-from-the-parent",
            )
            .current_dir(self.workdir())
            .stdin(Stdio::null())
            .envs(self.extra_env.iter().map(|(name, value)| (name, value)));
        command
    }

    /// Run `kage-agent ARGS` to its end.
    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.kage_agent()
            .args(args)
            .output()
            .expect("run kage-agent")
    }

    /// The fake agents' log, one entry per run.
    pub(crate) fn log(&self) -> Vec<Value> {
        std::fs::read_to_string(self.log_path())
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON log line"))
            .collect()
    }

    /// Wait until `check` holds, up to `timeout`.
    pub(crate) fn wait_for(&self, timeout: Duration, mut check: impl FnMut(&Self) -> bool) -> bool {
        let started = Instant::now();
        while started.elapsed() < timeout {
            if check(self) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        check(self)
    }

    /// No credential value anywhere in `text`.
    pub(crate) fn assert_no_secret(&self, what: &str, text: &str) {
        for credential in &self.credentials {
            assert!(
                !text.contains(credential.as_str()),
                "a credential leaked into {what}"
            );
            let canary = credential.split(simulate::MARKER).next().unwrap();
            assert!(!text.contains(canary), "a credential leaked into {what}");
        }
        assert!(
            !text.contains("decoy"),
            "a decoy credential leaked into {what}"
        );
    }
}

/// Usage recorded per subscription name, over all time.
pub(crate) async fn recorded_usage(pool: &TestPool) -> BTreeMap<String, Usage> {
    let names: BTreeMap<_, _> = pool
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.id, s.name.to_string()))
        .collect();
    let query = UsageQuery {
        from: kage_domain::Timestamp::UNIX_EPOCH,
        to: kage_domain::Timestamp::from_second(4_102_444_800).unwrap(),
        utc_offset_seconds: 0,
        subscription: None,
    };
    let mut totals: BTreeMap<String, Usage> = BTreeMap::new();
    for daily in pool.store().daily_usage(&query).await.unwrap() {
        totals
            .entry(names[&daily.subscription_id].clone())
            .or_default()
            .add(&daily.usage);
    }
    totals
}

/// Usage the fake agents reported, per subscription.
pub(crate) fn reported_usage(log: &[Value]) -> BTreeMap<String, (u64, u64, u64, u64, u64)> {
    let mut totals: BTreeMap<String, (u64, u64, u64, u64, u64)> = BTreeMap::new();
    for entry in log {
        let name = entry["subscription"].as_str().unwrap().to_owned();
        let reported = &entry["reported"];
        let field = |key: &str| reported[key].as_u64().unwrap();
        let total = totals.entry(name).or_default();
        total.0 += field("input_tokens");
        total.1 += field("output_tokens");
        total.2 += field("cache_write_tokens");
        total.3 += field("cache_read_tokens");
        total.4 += field("cost_micros_usd");
    }
    totals
}

pub(crate) fn usage_tuple(usage: &Usage) -> (u64, u64, u64, u64, u64) {
    (
        usage.input_tokens,
        usage.output_tokens,
        usage.cache_write_tokens,
        usage.cache_read_tokens,
        usage.cost_micros_usd.unwrap_or(0),
    )
}

pub(crate) async fn state(pool: &TestPool, name: &str) -> SubscriptionState {
    let subscription = pool
        .find(&SubscriptionName::new(name).unwrap())
        .await
        .unwrap();
    subscription.health.state.effective(pool.clock().now())
}

/// JSON Lines of `kage-agent --json`.
pub(crate) fn json_lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect()
}

/// Whether a process is gone (or a zombie nobody will reap: not ours).
pub(crate) fn process_gone(pid: u32) -> bool {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap());
    match nix::sys::signal::kill(pid, None) {
        Err(_) => true,
        Ok(()) => std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|stat| stat.split_whitespace().nth(2) == Some("Z"))
            .unwrap_or(true),
    }
}

/// Run folder files' text, for leak checks.
pub(crate) fn run_folder_text(dir: &Path) -> String {
    let mut text = String::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            text.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
        }
    }
    text
}
