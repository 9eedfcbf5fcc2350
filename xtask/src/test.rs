//! `cargo xtask test`: the README's tests under cargo-nextest, as CI runs them.
//!
//! Runs `cargo nextest run --workspace --locked`, then the keychain tests.
//!
//! PostgreSQL, decided by `kage_testkit::decide` (the rule every PostgreSQL
//! test applies under plain `cargo test` too): `KAGE_TEST_DB_URL` if set and
//! its host answers; otherwise, if something answers on 127.0.0.1:5432,
//! `postgres://postgres@127.0.0.1:5432/test`; otherwise the PostgreSQL tests
//! are filtered out with `-E 'not test(postgres)'` and a banner says so
//! before and after the run. `KAGE_REQUIRE_POSTGRES=1` (CI) turns that skip
//! into a failure.
//!
//! Keychain: `crates/kage-secrets/tests/run-keychain-tests.sh` runs when it
//! exists and either `KAGE_REQUIRE_KEYCHAIN=1` or all of its tools are on
//! `PATH`; otherwise a banner says the keychain tests were skipped.
//! `KAGE_REQUIRE_KEYCHAIN=1` with no script is a failure.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Result, bail};

use crate::shell;

/// The nextest filter that leaves out every PostgreSQL test (their names contain `postgres`).
pub(crate) const WITHOUT_POSTGRES: &str = "not test(postgres)";

const KEYCHAIN_SCRIPT: &str = "crates/kage-secrets/tests/run-keychain-tests.sh";
/// What the keychain script needs (its own check lists the same): a private D-Bus
/// session, the Secret Service and the kernel keyring. Building needs no system
/// library: the Secret Service client is pure Rust (zbus).
const KEYCHAIN_TOOLS: &[&str] = &[
    "dbus-run-session",
    "dbus-send",
    "gnome-keyring-daemon",
    "keyctl",
];

#[derive(Debug, Default)]
pub(crate) struct TestOptions {
    /// A nextest profile from `.config/nextest.toml` (`ci` in CI).
    pub(crate) profile: Option<String>,
    /// Passed to nextest after ours (test name filters, `--no-capture`, …).
    pub(crate) nextest_args: Vec<String>,
}

impl TestOptions {
    pub(crate) fn parse(args: &[String]) -> Result<Self> {
        let mut options = Self::default();
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--profile" => match args.next() {
                    Some(profile) => options.profile = Some(profile.clone()),
                    None => bail!("`--profile` needs a nextest profile name, such as `ci`"),
                },
                "--" => options.nextest_args.extend(args.by_ref().cloned()),
                other => bail!(
                    "unknown option `{other}` for `cargo xtask test`; pass nextest options after `--`"
                ),
            }
        }
        Ok(options)
    }
}

/// What was left out of a run, for the `ci` summary.
#[derive(Debug, Default)]
pub(crate) struct TestReport {
    pub(crate) skipped: Vec<&'static str>,
}

/// How this run reaches PostgreSQL.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Postgres {
    /// `KAGE_TEST_DB_URL` was set.
    FromEnv(String),
    /// Found a server on 127.0.0.1:5432.
    Local(String),
    /// No server: the PostgreSQL tests are filtered out.
    Skipped,
}

/// Why no server was found, for the banner.
static SKIPPED_BECAUSE: std::sync::OnceLock<String> = std::sync::OnceLock::new();

impl Postgres {
    /// Decides from the environment: `KAGE_TEST_DB_URL` (probing its host),
    /// else a probe of 127.0.0.1:5432.
    pub(crate) fn from_env() -> Result<Self> {
        Self::decide(
            std::env::var(kage_testkit::TEST_DB_URL_ENV).ok(),
            shell::flag(kage_testkit::REQUIRE_POSTGRES_ENV),
            kage_testkit::answers,
        )
    }

    fn decide(
        url: Option<String>,
        required: bool,
        answers: impl FnOnce(&str) -> bool,
    ) -> Result<Self> {
        match kage_testkit::decide(url, answers) {
            kage_testkit::Postgres::FromEnv(url) => Ok(Self::FromEnv(url)),
            kage_testkit::Postgres::Local(url) => Ok(Self::Local(url)),
            kage_testkit::Postgres::Missing(why) if required => bail!(
                "KAGE_REQUIRE_POSTGRES=1 but {why}; start PostgreSQL (`pg_ctlcluster \
                 --skip-systemctl-redirect $(ls /etc/postgresql) main start`) or set \
                 KAGE_TEST_DB_URL"
            ),
            kage_testkit::Postgres::Missing(why) => {
                let _ = SKIPPED_BECAUSE.set(why);
                Ok(Self::Skipped)
            }
        }
    }

    pub(crate) fn url(&self) -> Option<&str> {
        match self {
            Self::FromEnv(url) | Self::Local(url) => Some(url),
            Self::Skipped => None,
        }
    }

    /// Sets `KAGE_TEST_DB_URL` on `command` when there is a server.
    pub(crate) fn apply(&self, command: &mut Command) {
        if let Some(url) = self.url() {
            command.env("KAGE_TEST_DB_URL", url);
        }
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            Self::FromEnv(url) => format!(
                "PostgreSQL tests: KAGE_TEST_DB_URL={}",
                kage_domain::redact_url(url)
            ),
            Self::Local(url) => format!("PostgreSQL tests: found a server, KAGE_TEST_DB_URL={url}"),
            Self::Skipped => "PostgreSQL tests: SKIPPED".to_owned(),
        }
    }
}

/// Whether and how the keychain tests run.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Keychain {
    Run(PathBuf),
    /// The kage-secrets crate has no keychain script yet.
    NoScript,
    /// The script is there but these tools are not on `PATH`.
    MissingTools(Vec<String>),
}

impl Keychain {
    fn from_env(root: &Path) -> Result<Self> {
        let script = root.join(KEYCHAIN_SCRIPT);
        let missing: Vec<&str> = KEYCHAIN_TOOLS
            .iter()
            .copied()
            .filter(|tool| !shell::on_path(tool))
            .collect();
        Self::decide(
            script.is_file().then_some(script),
            shell::flag("KAGE_REQUIRE_KEYCHAIN"),
            &missing,
        )
    }

    fn decide(script: Option<PathBuf>, required: bool, missing_tools: &[&str]) -> Result<Self> {
        match script {
            None if required => bail!(
                "KAGE_REQUIRE_KEYCHAIN=1 but {KEYCHAIN_SCRIPT} does not exist; the keychain tests \
                 cannot run"
            ),
            None => Ok(Self::NoScript),
            // Required: run it even with tools missing, so it fails with its own message.
            Some(script) if required || missing_tools.is_empty() => Ok(Self::Run(script)),
            Some(_) => Ok(Self::MissingTools(
                missing_tools
                    .iter()
                    .map(|tool| (*tool).to_owned())
                    .collect(),
            )),
        }
    }
}

/// Runs the test suite; `Err` if any part fails or a required service is missing.
pub(crate) fn run(options: &TestOptions) -> Result<TestReport> {
    let root = shell::root();
    let postgres = Postgres::from_env()?;
    let keychain = Keychain::from_env(&root)?;

    let mut report = TestReport::default();
    let mut notices = Vec::new();
    if postgres == Postgres::Skipped {
        report.skipped.push("PostgreSQL");
        notices.extend(postgres_skipped_notice());
    }
    if let Some(lines) = keychain_notice(&keychain) {
        report.skipped.push("keychain");
        notices.extend(lines);
    }

    eprintln!("{}", postgres.describe());
    if !notices.is_empty() {
        shell::banner(&notices);
    }

    let mut nextest = shell::cargo();
    nextest.args(["nextest", "run", "--workspace", "--locked"]);
    if let Some(profile) = &options.profile {
        nextest.args(["--profile", profile]);
    }
    if postgres == Postgres::Skipped {
        nextest.args(["-E", WITHOUT_POSTGRES]);
    }
    nextest.args(&options.nextest_args);
    postgres.apply(&mut nextest);
    let nextest_result = shell::run(&mut nextest);

    let keychain_result = match &keychain {
        Keychain::Run(script) => shell::run(Command::new("bash").arg(script).current_dir(&root)),
        Keychain::NoScript | Keychain::MissingTools(_) => Ok(()),
    };

    if !notices.is_empty() {
        shell::banner(&notices);
    }

    match (nextest_result, keychain_result) {
        (Ok(()), Ok(())) => Ok(report),
        (Err(error), Ok(())) => Err(error.context("tests failed")),
        (Ok(()), Err(error)) => Err(error.context("keychain tests failed")),
        (Err(tests), Err(keychain)) => {
            bail!("tests failed: {tests:#}; keychain tests failed too: {keychain:#}")
        }
    }
}

fn postgres_skipped_notice() -> Vec<String> {
    let why = SKIPPED_BECAUSE.get().map_or(
        "nothing answers on 127.0.0.1:5432, KAGE_TEST_DB_URL unset",
        String::as_str,
    );
    vec![
        format!("SKIPPED: PostgreSQL tests ({why})"),
        format!("nextest ran with -E '{WITHOUT_POSTGRES}'"),
        "to run them: start PostgreSQL, or export KAGE_TEST_DB_URL=postgres://USER@HOST:PORT/DB"
            .to_owned(),
        "CI sets KAGE_REQUIRE_POSTGRES=1, which makes a missing server an error".to_owned(),
    ]
}

/// The banner lines for skipped keychain tests, or `None` when they run.
fn keychain_notice(keychain: &Keychain) -> Option<Vec<String>> {
    let mut lines = match keychain {
        Keychain::Run(_) => return None,
        Keychain::NoScript => vec![
            format!("SKIPPED: keychain tests ({KEYCHAIN_SCRIPT} does not exist yet)"),
            "kage-secrets provides that script; until then no test touches a real keychain"
                .to_owned(),
        ],
        Keychain::MissingTools(tools) => vec![
            format!(
                "SKIPPED: keychain tests (not on PATH: {})",
                tools.join(", ")
            ),
            "to run them: see the apt-get line in that script (.ci/run installs it)".to_owned(),
        ],
    };
    lines.push("CI sets KAGE_REQUIRE_KEYCHAIN=1, which makes a skip an error".to_owned());
    Some(lines)
}

#[cfg(test)]
mod tests {
    use kage_testkit::LOCAL_POSTGRES_URL;

    use super::*;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|word| (*word).to_owned()).collect()
    }

    #[test]
    fn database_url_from_env_is_probed_at_its_host() {
        let decided = Postgres::decide(Some("postgres://u@db/x".into()), true, |address| {
            assert_eq!(address, "db:5432", "only the variable's host is probed");
            true
        });
        assert_eq!(
            decided.unwrap(),
            Postgres::FromEnv("postgres://u@db/x".into())
        );
        let closed = Postgres::decide(Some("postgres://u@db:1/x".into()), false, |_| false);
        assert_eq!(closed.unwrap(), Postgres::Skipped);
    }

    #[test]
    fn local_server_gets_the_default_database_url() {
        let decided = Postgres::decide(None, false, |_| true).unwrap();
        assert_eq!(
            decided.url(),
            Some("postgres://postgres@127.0.0.1:5432/test")
        );
    }

    #[test]
    fn missing_server_is_skipped_unless_required() {
        assert_eq!(
            Postgres::decide(None, false, |_| false).unwrap(),
            Postgres::Skipped
        );
        let error = Postgres::decide(None, true, |_| false)
            .unwrap_err()
            .to_string();
        assert!(error.contains("KAGE_REQUIRE_POSTGRES=1"), "{error}");
    }

    #[test]
    fn skipping_leaves_kage_test_db_url_unset() {
        let mut command = Command::new("true");
        Postgres::Skipped.apply(&mut command);
        assert_eq!(command.get_envs().count(), 0);
        Postgres::Local(LOCAL_POSTGRES_URL.into()).apply(&mut command);
        assert_eq!(
            shell::display(&command),
            format!("KAGE_TEST_DB_URL={LOCAL_POSTGRES_URL} true")
        );
    }

    #[test]
    fn the_banner_hides_the_password() {
        let banner = Postgres::FromEnv("postgres://kage:hunter2@db:5432/test".into()).describe();
        assert!(!banner.contains("hunter2"), "{banner}");
        assert!(banner.contains("postgres://kage@db:5432/test"), "{banner}");
    }

    #[test]
    fn keychain_decisions() {
        let script = PathBuf::from("run-keychain-tests.sh");
        let run = Keychain::Run(script.clone());
        assert_eq!(
            Keychain::decide(Some(script.clone()), false, &[]).unwrap(),
            run
        );
        assert_eq!(
            Keychain::decide(Some(script.clone()), true, &["keyctl"]).unwrap(),
            run
        );
        let missing = Keychain::decide(Some(script), false, &["keyctl"]).unwrap();
        assert_eq!(missing, Keychain::MissingTools(vec!["keyctl".to_owned()]));
        assert!(keychain_notice(&missing).unwrap()[0].contains("keyctl"));
        assert_eq!(
            Keychain::decide(None, false, &[]).unwrap(),
            Keychain::NoScript
        );
        assert!(keychain_notice(&Keychain::NoScript).is_some());
        assert_eq!(keychain_notice(&run), None);
        assert!(Keychain::decide(None, true, &[]).is_err());
    }

    #[test]
    fn options_parse() {
        let options =
            TestOptions::parse(&args(&["--profile", "ci", "--", "-p", "kage-domain"])).unwrap();
        assert_eq!(options.profile.as_deref(), Some("ci"));
        assert_eq!(options.nextest_args, args(&["-p", "kage-domain"]));
        assert!(TestOptions::parse(&args(&["--profile"])).is_err());
        assert!(TestOptions::parse(&args(&["-p", "x"])).is_err());
    }
}
