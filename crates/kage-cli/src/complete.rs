//! Dynamic shell completion (clap_complete's `CompleteEnv`): the shell
//! calls `kage` back with `COMPLETE=<shell>` at every Tab, so subscription
//! names come from the pool as it is now.
//!
//! `kage completions SHELL` prints the registration script that does this
//! (the same as `COMPLETE=SHELL kage`); `--static` prints the older
//! script that knows commands and flags only.
//!
//! Completing never creates or migrates a database: a SQLite pool that does
//! not exist yet offers no names, and any failure offers none (a Tab must
//! never print an error into the prompt).

use std::ffi::OsString;
use std::process::ExitCode;
use std::time::Duration;

use clap_complete::CompletionCandidate;
use clap_complete::env::{EnvCompleter, Shells};
use kage_config::StorageBackend;

use kage_app::pool::{self as app, GlobalOptions};

/// The variable that turns a `kage` run into a completion request.
pub(crate) const COMPLETE_ENV: &str = "COMPLETE";

/// How long a Tab may wait for the pool (a PostgreSQL server far away).
const NAMES_TIMEOUT: Duration = Duration::from_secs(2);

/// Answer a completion request when `COMPLETE` is set; `None` otherwise.
pub(crate) fn answer_if_asked() -> Option<ExitCode> {
    let current_dir = std::env::current_dir().ok();
    match clap_complete::CompleteEnv::with_factory(crate::cli::command)
        .var(COMPLETE_ENV)
        .try_complete(std::env::args_os(), current_dir.as_deref())
    {
        Ok(true) => Some(ExitCode::SUCCESS),
        Ok(false) => None,
        Err(error) => Some(crate::output::clap_error(&error)),
    }
}

/// The registration script for `shell` (`bash`, `zsh`, `fish`, `elvish`,
/// `powershell`), calling back `kage` on PATH.
pub(crate) fn registration(shell: &str) -> std::io::Result<Vec<u8>> {
    let shells = Shells::builtins();
    let completer: &dyn EnvCompleter = shells.completer(shell).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("no dynamic completion for {shell}"),
        )
    })?;
    let mut script = Vec::new();
    completer.write_registration(COMPLETE_ENV, "kage", "kage", "kage", &mut script)?;
    Ok(script)
}

/// The pool's subscription names, for `ArgValueCandidates`.
pub(crate) fn subscription_names() -> Vec<CompletionCandidate> {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return Vec::new();
    };
    let names = runtime.block_on(async {
        tokio::time::timeout(NAMES_TIMEOUT, names(&GlobalOptions::from_process()))
            .await
            .ok()
            .flatten()
            .unwrap_or_default()
    });
    runtime.shutdown_background();
    names
        .into_iter()
        .map(|(name, description)| {
            let candidate = CompletionCandidate::new(OsString::from(name));
            match description {
                Some(text) => candidate.help(Some(text.into())),
                None => candidate,
            }
        })
        .collect()
}

/// Names and descriptions, or `None` when the pool cannot be read without
/// creating it.
async fn names(options: &GlobalOptions) -> Option<Vec<(String, Option<String>)>> {
    let config = app::load_config(options).ok()?;
    if let Ok(StorageBackend::Sqlite(path)) = config.storage().backend()
        && !path.is_file()
    {
        return None;
    }
    let pool = app::open_pool_with(options, &config).await.ok()?;
    let subscriptions = pool.list().await.ok()?;
    Some(
        subscriptions
            .into_iter()
            .map(|subscription| (subscription.name.to_string(), subscription.description))
            .collect(),
    )
}
