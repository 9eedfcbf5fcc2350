//! `kage doctor`: check everything a working pool needs and say what to
//! fix: the config file, the database, the keychain, every subscription's
//! credential (read, never printed), the agent program (`claude`), leases
//! left past their TTL, and the clock against a shared PostgreSQL server.
//!
//! Every check ends `ok`, `warning` (works, but worth knowing) or
//! `problem` (something will fail); each warning and problem carries its
//! fix. Any problem makes the command exit 1. `--json` prints the same as
//! one JSON document. The database is opened read-only for its checks and
//! never created or migrated by them.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use clap::Args;
use jiff::Timestamp;
use kage_config::{Config, DatabaseUrl, StorageBackend};
use kage_domain::{CredentialSource, Subscription};
use serde::Serialize;
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

use crate::command::Context;
use crate::credential;
use crate::output::json;
use kage_app::pool as app;

const EXAMPLES: &str = "\
Examples:
  kage doctor
  kage doctor --json | jq '.checks[] | select(.status != \"ok\")'
  KAGE_CONFIG=~/work/kage.toml kage doctor";

/// How long the agent program may take to print its version.
const VERSION_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a PostgreSQL server may take to answer.
const POSTGRES_TIMEOUT: Duration = Duration::from_secs(5);
/// Clock skew against a shared server beyond which lease times go wrong.
const MAX_CLOCK_SKEW_MS: i64 = 2_000;

#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub(crate) struct DoctorArgs {
    /// Print one JSON object {"healthy","problems","warnings","checks":[{"check","status","summary","fix"}]}
    #[arg(long)]
    json: bool,
}

#[derive(Serialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
enum Status {
    Ok,
    Warning,
    Problem,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Warning => "warning",
            Self::Problem => "PROBLEM",
        }
    }
}

/// One check's result.
#[derive(Serialize, Debug)]
struct Check {
    check: String,
    status: Status,
    summary: String,
    fix: Option<String>,
}

impl Check {
    fn ok(check: impl Into<String>, summary: impl Into<String>) -> Self {
        Self {
            check: check.into(),
            status: Status::Ok,
            summary: summary.into(),
            fix: None,
        }
    }

    fn warning(
        check: impl Into<String>,
        summary: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            check: check.into(),
            status: Status::Warning,
            summary: summary.into(),
            fix: Some(fix.into()),
        }
    }

    fn problem(
        check: impl Into<String>,
        summary: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            check: check.into(),
            status: Status::Problem,
            summary: summary.into(),
            fix: Some(fix.into()),
        }
    }
}

#[derive(Serialize)]
struct Report {
    healthy: bool,
    problems: usize,
    warnings: usize,
    checks: Vec<Check>,
}

/// What the database check learned, for the checks after it.
#[derive(Default)]
struct DatabaseFacts {
    /// The pool can be opened (the schema is not from a newer Kage).
    usable: bool,
    /// A SQLite pool that does not exist yet: nothing to open (opening
    /// would create it).
    not_created: bool,
    /// Leases past their TTL that nobody released: (lease id, subscription).
    expired_leases: Vec<(String, String)>,
    /// Server time minus local time, for a PostgreSQL pool.
    skew_ms: Option<i64>,
}

impl DoctorArgs {
    pub(crate) async fn run(self, context: &Context<'_>) -> anyhow::Result<()> {
        let mut checks = Vec::new();
        let config = check_config(context, &mut checks);
        let now = app::clock(&context.options)?.now();
        let facts = match &config {
            Some(config) => check_database(config, now, &mut checks).await,
            None => {
                checks.push(Check::warning(
                    "database",
                    "not checked: the config file must load first",
                    "fix the config problem above, then run `kage doctor` again",
                ));
                DatabaseFacts::default()
            }
        };
        let subscriptions = match (&config, facts.usable) {
            _ if facts.not_created => Some(Vec::new()),
            (Some(config), true) => list_subscriptions(context, config, &mut checks).await,
            _ => None,
        };
        let keychain = check_keychain(context, subscriptions.as_deref(), &mut checks).await;
        if let Some(subscriptions) = &subscriptions {
            check_credentials(context, subscriptions, &keychain, &mut checks).await;
        }
        check_agent_program(config.as_ref(), &mut checks).await;
        if facts.usable {
            check_leases(&facts, &mut checks);
        }
        if let Some(skew_ms) = facts.skew_ms {
            checks.push(check_clock_skew(skew_ms));
        }
        print_report(context, checks, self.json)
    }
}

fn print_report(context: &Context<'_>, checks: Vec<Check>, as_json: bool) -> anyhow::Result<()> {
    let problems = count(&checks, Status::Problem);
    let warnings = count(&checks, Status::Warning);
    let printer = context.printer;
    if as_json {
        printer.out(&json::document(&Report {
            healthy: problems == 0,
            problems,
            warnings,
            checks,
        }))?;
    } else {
        printer.out(&render(&checks))?;
    }
    if problems > 0 {
        anyhow::bail!(
            "doctor found {problems} problem(s); fix each as its `fix:` line says, then run \
             `kage doctor` again"
        );
    }
    if !as_json {
        let note = if warnings > 0 {
            format!("all good, with {warnings} warning(s) to read above")
        } else {
            "all good".to_owned()
        };
        printer.info(format_args!("kage doctor: {note}"));
    }
    Ok(())
}

fn count(checks: &[Check], status: Status) -> usize {
    checks.iter().filter(|check| check.status == status).count()
}

/// The checks as aligned lines, each fix on the line below its check.
fn render(checks: &[Check]) -> String {
    let width = checks
        .iter()
        .map(|check| check.check.len())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for check in checks {
        out.push_str(&format!(
            "{:<8} {:<width$}  {}\n",
            check.status.label(),
            check.check,
            check.summary
        ));
        if let Some(fix) = &check.fix {
            out.push_str(&format!("{:<8} {:<width$}  fix: {fix}\n", "", ""));
        }
    }
    out
}

/// The config file: where it is, who chose it, whether it parses.
fn check_config(context: &Context<'_>, checks: &mut Vec<Check>) -> Option<Config> {
    let options = &context.options;
    let location = match &options.config_file {
        Some(path) => Some((path.clone(), "--config".to_owned())),
        None => kage_config::config_path(&options.env)
            .ok()
            .map(|found| (found.path, found.rule.to_string())),
    };
    match app::load_config(options) {
        Ok(config) => {
            let summary = match (config.file(), &location) {
                (Some(file), Some((_, rule))) => format!(
                    "{} (chosen by {rule}) parses; {} route(s)",
                    file.display(),
                    config.routing().iter().count()
                ),
                (Some(file), None) => format!("{} parses", file.display()),
                (None, Some((path, rule))) => format!(
                    "no config file at {} (chosen by {rule}), so the defaults apply",
                    path.display()
                ),
                (None, None) => "no config file, so the defaults apply".to_owned(),
            };
            checks.push(Check::ok("config", summary));
            Some(config)
        }
        Err(error) => {
            let file = location.map_or_else(
                || "the config file".to_owned(),
                |(path, _)| path.display().to_string(),
            );
            let fix = match &error {
                kage_config::ConfigError::Missing { named_by, .. } => format!(
                    "point {named_by} at the file you meant, or create {file} (`kage config show` \
                     prints a commented example to start from)"
                ),
                _ => format!(
                    "edit {file} at the place the message names (`kage config show` prints a \
                     commented example), or point KAGE_CONFIG at the right file"
                ),
            };
            checks.push(Check::problem("config", error.to_string(), fix));
            None
        }
    }
}

async fn check_database(config: &Config, now: Timestamp, checks: &mut Vec<Check>) -> DatabaseFacts {
    let backend = match config.storage().backend() {
        Ok(backend) => backend,
        Err(error) => {
            checks.push(Check::problem(
                "database",
                error.to_string(),
                "set [storage] database_path or database_url in the config file (or \
                 KAGE_DATABASE_PATH / KAGE_DATABASE_URL)",
            ));
            return DatabaseFacts::default();
        }
    };
    match backend {
        StorageBackend::Sqlite(path) => check_sqlite(&path, now, checks).await,
        StorageBackend::Postgres(url) => check_postgres(&url, now, checks).await,
    }
}

/// `-rw-------` style mode of a file (Unix), for the summary.
#[cfg(unix)]
fn mode(path: &Path) -> String {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).map_or_else(
        |_| "mode unknown".to_owned(),
        |metadata| format!("mode {:o}", metadata.permissions().mode() & 0o777),
    )
}

#[cfg(not(unix))]
fn mode(_path: &Path) -> String {
    "mode n/a".to_owned()
}

const SCHEMA_VERSION_SQL: &str = "SELECT MAX(version) FROM _sqlx_migrations WHERE success";
const EXPIRED_LEASES_SQLITE: &str = "SELECT l.id, s.name FROM leases l \
     JOIN subscriptions s ON s.id = l.subscription_id \
     WHERE l.released_at IS NULL AND l.expires_at < ?1 ORDER BY l.expires_at";
const EXPIRED_LEASES_POSTGRES: &str = "SELECT l.id, s.name FROM leases l \
     JOIN subscriptions s ON s.id = l.subscription_id \
     WHERE l.released_at IS NULL AND l.expires_at < $1 ORDER BY l.expires_at";
const SERVER_TIME_MS: &str = "SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT";

async fn check_sqlite(path: &Path, now: Timestamp, checks: &mut Vec<Check>) -> DatabaseFacts {
    if !path.exists() {
        checks.push(Check::ok(
            "database",
            format!(
                "SQLite {} does not exist yet; it is created on first use (`kage subscription add`)",
                path.display()
            ),
        ));
        return DatabaseFacts {
            usable: true,
            not_created: true,
            ..DatabaseFacts::default()
        };
    }
    let corrupt_fix = format!(
        "the file is damaged or is not a Kage database: move it aside (`mv {0} {0}.broken`) and \
         restore a backup, or add the subscriptions again to a new pool",
        path.display()
    );
    let result = async {
        let mut connection = SqliteConnectOptions::new()
            .filename(path)
            .read_only(true)
            .connect()
            .await?;
        let quick_check: Vec<String> = sqlx::query_scalar("PRAGMA quick_check")
            .fetch_all(&mut connection)
            .await?;
        let version: Option<i64> = sqlx::query_scalar(SCHEMA_VERSION_SQL)
            .fetch_one(&mut connection)
            .await?;
        let expired: Vec<(String, String)> = sqlx::query_as(EXPIRED_LEASES_SQLITE)
            .bind(now.as_millisecond())
            .fetch_all(&mut connection)
            .await?;
        connection.close().await?;
        Ok::<_, sqlx::Error>((quick_check, version, expired))
    }
    .await;
    let (quick_check, version, expired) = match result {
        Ok(found) => found,
        Err(error) => {
            checks.push(Check::problem(
                "database",
                format!("SQLite {} cannot be read: {error}", path.display()),
                corrupt_fix,
            ));
            return DatabaseFacts::default();
        }
    };
    if quick_check != ["ok"] {
        checks.push(Check::problem(
            "database",
            format!(
                "SQLite {} fails `PRAGMA quick_check`: {}",
                path.display(),
                quick_check.join("; ")
            ),
            corrupt_fix,
        ));
        return DatabaseFacts::default();
    }
    let where_ = format!("SQLite {} ({})", path.display(), mode(path));
    let usable = schema_check(&where_, version, checks);
    DatabaseFacts {
        usable,
        expired_leases: expired,
        ..DatabaseFacts::default()
    }
}

async fn check_postgres(
    url: &DatabaseUrl,
    now: Timestamp,
    checks: &mut Vec<Check>,
) -> DatabaseFacts {
    let shown = url.redacted();
    let result = tokio::time::timeout(POSTGRES_TIMEOUT, async {
        let mut connection = PgConnectOptions::from_str(url.expose())?.connect().await?;
        let server_ms: i64 = sqlx::query_scalar(SERVER_TIME_MS)
            .fetch_one(&mut connection)
            .await?;
        let version: Option<i64> = sqlx::query_scalar(SCHEMA_VERSION_SQL)
            .fetch_optional(&mut connection)
            .await
            .unwrap_or(None)
            .flatten();
        let expired: Vec<(String, String)> = sqlx::query_as(EXPIRED_LEASES_POSTGRES)
            .bind(now.as_millisecond())
            .fetch_all(&mut connection)
            .await
            .unwrap_or_default();
        connection.close().await?;
        Ok::<_, sqlx::Error>((server_ms, version, expired))
    })
    .await;
    let (server_ms, version, expired) = match result {
        Ok(Ok(found)) => found,
        Ok(Err(error)) => {
            checks.push(Check::problem(
                "database",
                format!("PostgreSQL {shown} does not answer a query: {error}"),
                "check that the server runs and that database_url (or KAGE_DATABASE_URL) names \
                 the right host, user, password and database",
            ));
            return DatabaseFacts::default();
        }
        Err(_elapsed) => {
            checks.push(Check::problem(
                "database",
                format!(
                    "PostgreSQL {shown} did not answer within {}s",
                    POSTGRES_TIMEOUT.as_secs()
                ),
                "check that the server runs and that nothing blocks its port",
            ));
            return DatabaseFacts::default();
        }
    };
    let usable = schema_check(
        &format!("PostgreSQL {shown} (round trip ok)"),
        version,
        checks,
    );
    DatabaseFacts {
        usable,
        expired_leases: expired,
        skew_ms: Some(server_ms - now.as_millisecond()),
        ..DatabaseFacts::default()
    }
}

/// The schema version against this Kage's; whether the pool can be opened.
fn schema_check(where_: &str, version: Option<i64>, checks: &mut Vec<Check>) -> bool {
    let ours = app::SCHEMA_VERSION;
    match version {
        Some(version) if version > ours => {
            checks.push(Check::problem(
                "database",
                format!(
                    "{where_}: schema version {version} is from a newer Kage (this one knows {ours})"
                ),
                "upgrade kage and kage-agent on this machine to the version that wrote it",
            ));
            false
        }
        Some(version) if version < ours => {
            checks.push(Check::ok(
                "database",
                format!(
                    "{where_}: schema version {version}, migrated to {ours} on the next command"
                ),
            ));
            true
        }
        Some(version) => {
            checks.push(Check::ok(
                "database",
                format!("{where_}: schema version {version}, quick check ok"),
            ));
            true
        }
        None => {
            checks.push(Check::ok(
                "database",
                format!("{where_}: empty; the schema is created on first use"),
            ));
            true
        }
    }
}

async fn list_subscriptions(
    context: &Context<'_>,
    config: &Config,
    checks: &mut Vec<Check>,
) -> Option<Vec<Subscription>> {
    let listed = async {
        let pool = app::open_pool_with(&context.options, config).await?;
        anyhow::Ok(pool.list().await?)
    }
    .await;
    match listed {
        Ok(subscriptions) => Some(subscriptions),
        Err(error) => {
            checks.push(Check::problem(
                "pool",
                format!(
                    "the pool cannot be opened: {}",
                    crate::exit::error_line(&error)
                ),
                "fix the database problem the message names, then run `kage doctor` again",
            ));
            None
        }
    }
}

/// The keychain check; the keychain's name for the credential checks.
async fn check_keychain(
    context: &Context<'_>,
    subscriptions: Option<&[Subscription]>,
    checks: &mut Vec<Check>,
) -> String {
    let needed = subscriptions.is_some_and(|subscriptions| {
        subscriptions
            .iter()
            .any(|subscription| subscription.credential == CredentialSource::Keychain)
    });
    let described = credential::keychain(&context.options).await;
    let name = described.as_ref().map_or_else(
        |_| credential::NO_KEYCHAIN.to_owned(),
        |keychain| keychain.name.clone(),
    );
    match described {
        Ok(keychain) if keychain.lost_at_reboot => checks.push(Check::warning(
            "keychain",
            format!(
                "the {} answers, but it is session-scoped: its credentials are LOST AT REBOOT \
                 (no Secret Service answered)",
                keychain.name
            ),
            "keep credentials in your password manager and use `--credential-command \"pass \
             show claude/NAME\"`, or run a Secret Service (GNOME Keyring, KWallet, KeePassXC)",
        )),
        Ok(keychain) => checks.push(Check::ok(
            "keychain",
            format!("the {} answers", keychain.name),
        )),
        Err(error) if needed => checks.push(Check::problem(
            "keychain",
            format!("no keychain answers: {error}"),
            "start a Secret Service (GNOME Keyring, KWallet, KeePassXC), or move each credential \
             to `kage subscription edit NAME --credential-command CMD`",
        )),
        Err(error) => checks.push(Check::warning(
            "keychain",
            format!("no keychain answers: {error}"),
            "no subscription needs one now; add subscriptions with --credential-command or \
             --credential-env, or start a Secret Service",
        )),
    }
    name
}

async fn check_credentials(
    context: &Context<'_>,
    subscriptions: &[Subscription],
    keychain: &str,
    checks: &mut Vec<Check>,
) {
    if subscriptions.is_empty() {
        checks.push(Check::warning(
            "credentials",
            "the pool has no subscription",
            "add one with `kage subscription add --name NAME`",
        ));
        return;
    }
    let secrets = match app::secret_store(&context.options) {
        Ok(secrets) => secrets,
        Err(error) => {
            checks.push(Check::problem(
                "credentials",
                crate::exit::error_line(&error),
                "unset KAGE_SECRET_BACKEND to use the OS keychain",
            ));
            return;
        }
    };
    for subscription in subscriptions {
        let name = format!("credential {}", subscription.name);
        let source = match &subscription.credential {
            CredentialSource::Keychain => format!("the {keychain}"),
            other => other.describe(),
        };
        match secrets
            .fetch(
                subscription.id,
                &subscription.name,
                &subscription.credential,
            )
            .await
        {
            // The value is dropped (and wiped) unseen.
            Ok(secret) => {
                drop(secret);
                checks.push(Check::ok(name, format!("readable from {source}")));
            }
            Err(error) => {
                // Say the source once: a command's error already names it.
                let error = error.to_string();
                let summary = if error.contains(&source) {
                    format!("cannot be read: {error}")
                } else {
                    format!("cannot be read from {source}: {error}")
                };
                checks.push(Check::problem(name, summary, credential_fix(subscription)));
            }
        }
    }
}

fn credential_fix(subscription: &Subscription) -> String {
    let name = &subscription.name;
    match &subscription.credential {
        CredentialSource::Keychain => {
            format!("store it again with `kage subscription edit {name} --rotate-credential`")
        }
        CredentialSource::Command(_) => format!(
            "run the command yourself to see why it fails, then fix it or change it with `kage \
             subscription edit {name} --credential-command CMD`"
        ),
        CredentialSource::Env(variable) => format!(
            "export {variable} wherever Kage and its agents run, or change the source with `kage \
             subscription edit {name} --credential-env VAR`"
        ),
    }
}

/// The agent program (`claude` unless `[agent] command` says otherwise):
/// on PATH, and what `--version` prints.
async fn check_agent_program(config: Option<&Config>, checks: &mut Vec<Check>) {
    let program = config
        .and_then(|config| config.agent().command.first().cloned())
        .unwrap_or_else(|| "claude".to_owned());
    let check = format!("agent {program}");
    let Some(path) = find_program(&program) else {
        checks.push(Check::problem(
            check,
            format!("`{program}` is not on PATH"),
            "install Claude Code (`npm install -g @anthropic-ai/claude-code`) and make sure its \
             folder is on PATH, or set [agent] command in the config file",
        ));
        return;
    };
    let mut command = tokio::process::Command::new(&path);
    command
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    match tokio::time::timeout(VERSION_TIMEOUT, command.output()).await {
        Ok(Ok(output)) if output.status.success() => {
            let version = String::from_utf8_lossy(&output.stdout)
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned();
            checks.push(Check::ok(
                check,
                format!("{} answers `--version`: {version}", path.display()),
            ));
        }
        Ok(Ok(output)) => checks.push(Check::problem(
            check,
            format!(
                "`{} --version` failed ({}): {}",
                path.display(),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
            "reinstall Claude Code (`npm install -g @anthropic-ai/claude-code`)",
        )),
        Ok(Err(error)) => checks.push(Check::problem(
            check,
            format!("{} cannot be run: {error}", path.display()),
            "check that the file is an executable program; reinstall Claude Code",
        )),
        Err(_elapsed) => checks.push(Check::problem(
            check,
            format!(
                "`{} --version` did not finish within {}s",
                path.display(),
                VERSION_TIMEOUT.as_secs()
            ),
            "run it yourself to see what it waits for; reinstall Claude Code",
        )),
    }
}

/// `program` itself when it names a path, else the first match on PATH.
fn find_program(program: &str) -> Option<PathBuf> {
    if program.contains(std::path::MAIN_SEPARATOR) {
        let path = PathBuf::from(program);
        return path.is_file().then_some(path);
    }
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|folder| folder.join(program))
        .find(|candidate| candidate.is_file())
}

fn check_leases(facts: &DatabaseFacts, checks: &mut Vec<Check>) {
    if facts.expired_leases.is_empty() {
        checks.push(Check::ok("leases", "no lease is past its TTL"));
        return;
    }
    let listed: Vec<String> = facts
        .expired_leases
        .iter()
        .take(5)
        .map(|(id, name)| format!("{id} on {name}"))
        .collect();
    let more = facts.expired_leases.len().saturating_sub(listed.len());
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    let first = &facts.expired_leases[0].0;
    checks.push(Check::warning(
        "leases",
        format!(
            "{} lease(s) past their TTL and never released (their agents stopped without a \
             heartbeat): {}{more}",
            facts.expired_leases.len(),
            listed.join(", ")
        ),
        format!(
            "they no longer hold a subscription; record how they ended with `kage lease release \
             {first} --outcome error --error-kind agent`, and check that agents heartbeat"
        ),
    ));
}

fn check_clock_skew(skew_ms: i64) -> Check {
    let seconds = skew_ms as f64 / 1000.0;
    if skew_ms.abs() > MAX_CLOCK_SKEW_MS {
        Check::problem(
            "clock",
            format!(
                "this machine's clock is {:.1}s {} the PostgreSQL server's",
                seconds.abs(),
                if skew_ms > 0 { "behind" } else { "ahead of" }
            ),
            "sync the clock (`timedatectl set-ntp true`, or chrony/ntpd); lease expiry and \
             cooldowns are shared times",
        )
    } else {
        Check::ok(
            "clock",
            format!("within {:.1}s of the PostgreSQL server's", seconds.abs()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_shows_its_fix_under_it() {
        let text = render(&[
            Check::ok("config", "parses"),
            Check::problem("database", "cannot be read", "move it aside"),
        ]);
        assert_eq!(
            text,
            "ok       config    parses\nPROBLEM  database  cannot be read\n                   fix: move it aside\n"
        );
    }

    #[test]
    fn clock_skew_beyond_two_seconds_is_a_problem() {
        assert_eq!(check_clock_skew(1_500).status, Status::Ok);
        let behind = check_clock_skew(5_000);
        assert_eq!(behind.status, Status::Problem);
        assert!(behind.summary.contains("5.0s behind"), "{}", behind.summary);
        assert!(check_clock_skew(-3_000).summary.contains("ahead of"));
    }

    #[test]
    fn schema_versions() {
        let mut checks = Vec::new();
        let ours = app::SCHEMA_VERSION;
        assert!(schema_check("db", Some(ours), &mut checks));
        assert!(schema_check("db", Some(ours - 1), &mut checks));
        assert!(schema_check("db", None, &mut checks));
        assert!(!schema_check("db", Some(ours + 1), &mut checks));
        assert_eq!(checks.last().unwrap().status, Status::Problem);
    }
}
