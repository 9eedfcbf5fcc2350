//! Exit codes, documented in `kage --help` and the man page:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | ok (also a broken pipe, as in ripgrep) |
//! | 1 | failure |
//! | 2 | usage error (a bad flag or value) |
//! | 75 | no subscription available (sysexits `TEMPFAIL`) |
//! | 78 | config error (sysexits `CONFIG`) |
//! | 130 | interrupted by Ctrl-C |
//!
//! `kage exec` exits with its child's code instead.

use std::io;

use kage_config::ConfigError;

pub const OK: u8 = 0;
pub const FAILURE: u8 = 1;
pub const USAGE: u8 = 2;
pub const UNAVAILABLE: u8 = 75;
pub const CONFIG: u8 = 78;
pub const INTERRUPTED: u8 = 130;

/// No subscription could be leased; the message says when one comes back.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Unavailable {
    pub message: String,
}

/// The command line was well formed for clap but asks for something that
/// makes no sense (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Ctrl-C (or SIGTERM) stopped the command.
#[derive(Debug, thiserror::Error)]
#[error("interrupted")]
pub struct Interrupted;

/// The exit code for an error, from the first cause in its chain that
/// decides one.
pub fn code_for(error: &anyhow::Error) -> u8 {
    for cause in error.chain() {
        if let Some(io_error) = cause.downcast_ref::<io::Error>()
            && io_error.kind() == io::ErrorKind::BrokenPipe
        {
            return OK;
        }
        if cause.is::<Interrupted>() {
            return INTERRUPTED;
        }
        if cause.is::<Unavailable>()
            || matches!(
                cause.downcast_ref::<kage_core::AcquireError>(),
                Some(kage_core::AcquireError::Unavailable { .. })
            )
        {
            return UNAVAILABLE;
        }
        if cause.is::<ConfigError>() {
            return CONFIG;
        }
        if cause.is::<UsageError>() || asks_for_the_impossible(cause) {
            return USAGE;
        }
    }
    FAILURE
}

/// Errors of a well-formed command line that asks for something that cannot
/// be: a taken name, a route to an unknown subscription, an empty route, an
/// `edit` without a change. Exit 2, like a bad flag.
fn asks_for_the_impossible(cause: &(dyn std::error::Error + 'static)) -> bool {
    use kage_core::{EditSubscriptionError, RouteError};
    use kage_ports::StoreError;
    matches!(
        cause.downcast_ref::<StoreError>(),
        Some(StoreError::NameTaken(_))
    ) || matches!(
        cause.downcast_ref::<RouteError>(),
        Some(RouteError::UnknownSubscription(_) | RouteError::Empty)
    ) || matches!(
        cause.downcast_ref::<EditSubscriptionError>(),
        Some(EditSubscriptionError::NothingToChange)
    )
}

/// The error and its causes joined with `: `, leaving out a cause whose
/// text the line already holds (many errors repeat their source in their
/// own message), so nothing is said twice. `kage` and `kage-agent` print
/// their errors with it.
pub fn error_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// Whether the error is a closed stdout, which is not worth a message.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|io_error| io_error.kind() == io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_first_deciding_cause() {
        let broken =
            anyhow::Error::new(io::Error::from(io::ErrorKind::BrokenPipe)).context("writing");
        assert_eq!(code_for(&broken), OK);
        assert!(is_broken_pipe(&broken));
        let unavailable = anyhow::Error::new(Unavailable {
            message: "none".into(),
        });
        assert_eq!(code_for(&unavailable), UNAVAILABLE);
        let usage = anyhow::Error::new(UsageError("pass --namespace".into())).context("route");
        assert_eq!(code_for(&usage), USAGE);
        assert_eq!(code_for(&anyhow::Error::new(Interrupted)), INTERRUPTED);
        assert_eq!(
            code_for(&anyhow::Error::new(ConfigError::NoConfigLocation)),
            CONFIG
        );
        let taken = anyhow::Error::new(kage_ports::StoreError::NameTaken(
            kage_domain::SubscriptionName::new("work").unwrap(),
        ))
        .context("could not add subscription work");
        assert_eq!(code_for(&taken), USAGE);
        let empty_edit = anyhow::Error::new(kage_core::EditSubscriptionError::NothingToChange);
        assert_eq!(code_for(&empty_edit), USAGE);
        let other = anyhow::anyhow!("something else");
        assert_eq!(code_for(&other), FAILURE);
        assert!(!is_broken_pipe(&other));
    }
}
