//! Turning sqlx errors into the port's errors, naming what failed and where.

use std::time::Duration;

use anyhow::anyhow;
use kage_ports::StoreError;

pub use kage_domain::redact_url;

/// Which database an error came from; their error codes differ.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

/// Where a store lives, for error messages: a file path, or a PostgreSQL URL
/// without its password.
#[derive(Clone, Debug)]
pub(crate) struct Place {
    pub(crate) backend: Backend,
    pub(crate) location: String,
    /// How long one wait for a busy SQLite file may last.
    pub(crate) busy_timeout: Duration,
}

impl Place {
    /// Map an error met while doing `what` (a phrase like "releasing lease X").
    pub(crate) fn error(&self, what: &str, error: sqlx::Error) -> StoreError {
        let location = self.location.clone();
        match &error {
            sqlx::Error::PoolTimedOut => StoreError::Unavailable {
                location,
                detail: format!(
                    "{what}: no database connection became free in time; is the server up?"
                ),
            },
            sqlx::Error::PoolClosed => StoreError::Unavailable {
                location,
                detail: format!("{what}: the store was closed"),
            },
            sqlx::Error::Io(io) => StoreError::Unavailable {
                location,
                detail: format!("{what}: {io}"),
            },
            sqlx::Error::Database(database) => {
                let code = database
                    .code()
                    .map(|code| code.into_owned())
                    .unwrap_or_default();
                match self.backend {
                    Backend::Sqlite => self.sqlite_error(what, &code, error),
                    Backend::Postgres => self.postgres_error(what, &code, error),
                }
            }
            _ => self.unknown(what, &error),
        }
    }

    fn unknown(&self, what: &str, error: &dyn std::fmt::Display) -> StoreError {
        StoreError::Unknown(anyhow!(
            "{what} in the database at {}: {error}",
            self.location
        ))
    }

    fn sqlite_error(&self, what: &str, code: &str, error: sqlx::Error) -> StoreError {
        let code = code.parse::<i32>().unwrap_or(-1);
        self.sqlite_code_error(what, code, &error)
    }

    /// Map a SQLite error by its (extended) result code; -1 when it has none.
    pub(crate) fn sqlite_code_error(
        &self,
        what: &str,
        code: i32,
        error: &dyn std::fmt::Display,
    ) -> StoreError {
        let primary = if code < 0 { -1 } else { code & 0xff };
        let location = self.location.clone();
        match primary {
            // SQLITE_BUSY, SQLITE_LOCKED
            5 | 6 => StoreError::Busy {
                location,
                seconds: self.busy_timeout.as_secs().max(1),
            },
            // SQLITE_CORRUPT, SQLITE_NOTADB
            11 | 26 => StoreError::NotADatabase {
                location,
                detail: error.to_string(),
            },
            // SQLITE_READONLY, SQLITE_IOERR, SQLITE_FULL: open, but not writable
            8 | 10 | 13 => StoreError::WriteFailed {
                location,
                detail: format!("{what}: {error}"),
            },
            // SQLITE_CANTOPEN, SQLITE_PERM
            14 | 3 => StoreError::Unavailable {
                location,
                detail: format!("{what}: {error}"),
            },
            _ => self.unknown(what, error),
        }
    }

    fn postgres_error(&self, what: &str, code: &str, error: sqlx::Error) -> StoreError {
        let location = self.location.clone();
        let unavailable = |detail: String| StoreError::Unavailable {
            location: location.clone(),
            detail,
        };
        match code {
            // connection exceptions, admin shutdown, cannot connect now
            _ if code.starts_with("08") || code.starts_with("57P") => {
                unavailable(format!("{what}: {error}"))
            }
            _ if code.starts_with("28") => unavailable(format!(
                "{what}: authentication failed ({error}); check the user and password of the URL"
            )),
            "3D000" => unavailable(format!(
                "{what}: {error}; create the database (`createdb`) or fix the URL"
            )),
            "53300" => unavailable(format!(
                "{what}: the server has no connection slot left ({error})"
            )),
            _ => self.unknown(what, &error),
        }
    }
}

/// Whether an error is SQLite's "busy" or "locked", worth a retry.
pub(crate) fn is_sqlite_busy(error: &sqlx::Error) -> bool {
    let Some(database) = error.as_database_error() else {
        return false;
    };
    database
        .code()
        .and_then(|code| code.parse::<i32>().ok())
        .is_some_and(|code| matches!(code & 0xff, 5 | 6))
}

/// Whether an error is a unique-constraint violation on a column named
/// `column` (of any table).
pub(crate) fn is_unique_violation_on(error: &sqlx::Error, column: &str) -> bool {
    let Some(database) = error.as_database_error() else {
        return false;
    };
    if !database.is_unique_violation() {
        return false;
    }
    let in_constraint = database
        .constraint()
        .is_some_and(|name| name.contains(column));
    let in_message = database.message().contains(&format!(".{column}"));
    in_constraint || in_message
}
