//! Helpers shared by Kage's test crates (a dev-dependency only).
//!
//! [`postgres_url`] finds the PostgreSQL server for the PostgreSQL tests the
//! same way `cargo xtask test` does, so plain `cargo test --workspace` passes
//! wherever `cargo xtask test` does:
//!
//! 1. `KAGE_TEST_DB_URL`, when set and not empty;
//! 2. else `postgres://postgres@127.0.0.1:5432/test` when something answers
//!    on 127.0.0.1:5432;
//! 3. else no server: the test prints a loud `SKIPPED` banner on stderr and
//!    returns without checking anything, unless `KAGE_REQUIRE_POSTGRES=1`
//!    (CI), where it fails with the way to start one.
//!
//! ```no_run
//! #[test]
//! fn postgres_round_trip() {
//!     let Some(url) = kage_testkit::postgres_url("postgres_round_trip") else {
//!         return; // skipped, loudly
//!     };
//!     // … connect to `url`
//! #   drop(url);
//! }
//! ```

#![allow(
    clippy::print_stderr,
    reason = "a skipped test must say so on stderr, where cargo test and nextest show it"
)]

use std::net::{SocketAddr, TcpStream};
use std::sync::OnceLock;
use std::time::Duration;

/// The variable that names the PostgreSQL test server.
pub const TEST_DB_URL_ENV: &str = "KAGE_TEST_DB_URL";
/// Set to `1` to make a missing server a failure instead of a skip.
pub const REQUIRE_POSTGRES_ENV: &str = "KAGE_REQUIRE_POSTGRES";
/// Where a server is looked for when [`TEST_DB_URL_ENV`] is unset.
pub const LOCAL_POSTGRES: &str = "127.0.0.1:5432";
/// The URL used for a server found on [`LOCAL_POSTGRES`].
pub const LOCAL_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// How the PostgreSQL tests reach a server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Postgres {
    /// `KAGE_TEST_DB_URL` was set.
    FromEnv(String),
    /// Something answers on 127.0.0.1:5432.
    Local(String),
    /// No server: the tests are skipped.
    Missing,
}

impl Postgres {
    /// The server's URL, if there is one.
    pub fn url(&self) -> Option<&str> {
        match self {
            Self::FromEnv(url) | Self::Local(url) => Some(url),
            Self::Missing => None,
        }
    }
}

/// Decide from `KAGE_TEST_DB_URL`'s value and a probe of 127.0.0.1:5432
/// (only called when the variable is unset). Pure, so the order is tested.
pub fn decide(url: Option<String>, local_answers: impl FnOnce() -> bool) -> Postgres {
    match url.filter(|url| !url.trim().is_empty()) {
        Some(url) => Postgres::FromEnv(url),
        None if local_answers() => Postgres::Local(LOCAL_POSTGRES_URL.to_owned()),
        None => Postgres::Missing,
    }
}

/// The decision for this process, made once.
pub fn postgres() -> &'static Postgres {
    static DECIDED: OnceLock<Postgres> = OnceLock::new();
    DECIDED.get_or_init(|| decide(std::env::var(TEST_DB_URL_ENV).ok(), local_postgres_answers))
}

/// Whether `KAGE_REQUIRE_POSTGRES=1`.
pub fn postgres_required() -> bool {
    std::env::var(REQUIRE_POSTGRES_ENV).is_ok_and(|value| value.trim() == "1")
}

/// The PostgreSQL server for the test `test`, or `None` after a loud
/// banner saying it was skipped.
///
/// # Panics
/// When there is no server and `KAGE_REQUIRE_POSTGRES=1`.
pub fn postgres_url(test: &str) -> Option<String> {
    match postgres() {
        Postgres::FromEnv(url) | Postgres::Local(url) => Some(url.clone()),
        Postgres::Missing => {
            if postgres_required() {
                panic!("{}", missing_message(test, true));
            }
            eprintln!("{}", missing_message(test, false));
            None
        }
    }
}

/// The banner (or, when required, the failure) for a test without a server.
pub fn missing_message(test: &str, required: bool) -> String {
    let how = format!(
        "start PostgreSQL (`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main \
         start`), or export {TEST_DB_URL_ENV}=postgres://USER@HOST:PORT/DB"
    );
    if required {
        format!(
            "{REQUIRE_POSTGRES_ENV}=1 but {TEST_DB_URL_ENV} is unset and nothing answers on \
             {LOCAL_POSTGRES}, so {test} cannot run; {how}"
        )
    } else {
        let rule = "!".repeat(78);
        format!(
            "{rule}\n!!! SKIPPED: {test} (PostgreSQL test; {TEST_DB_URL_ENV} is unset and nothing \
             answers on {LOCAL_POSTGRES})\n!!! it passed WITHOUT checking anything; to run it: \
             {how}\n!!! {REQUIRE_POSTGRES_ENV}=1 (as in CI) makes this a failure\n{rule}"
        )
    }
}

fn local_postgres_answers() -> bool {
    let address: SocketAddr = LOCAL_POSTGRES.parse().expect("a valid socket address");
    TcpStream::connect_timeout(&address, Duration::from_millis(500)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variable_wins_without_probing() {
        let decided = decide(Some("postgres://u@db/x".to_owned()), || {
            panic!("must not probe when KAGE_TEST_DB_URL is set")
        });
        assert_eq!(decided, Postgres::FromEnv("postgres://u@db/x".to_owned()));
    }

    #[test]
    fn an_empty_variable_counts_as_unset() {
        assert_eq!(decide(Some("  ".to_owned()), || false), Postgres::Missing);
    }

    #[test]
    fn a_local_server_gets_the_default_url() {
        assert_eq!(decide(None, || true).url(), Some(LOCAL_POSTGRES_URL));
        assert_eq!(decide(None, || false).url(), None);
    }

    #[test]
    fn the_banner_says_skipped_and_how_to_run() {
        let banner = missing_message("postgres_x", false);
        assert!(banner.contains("SKIPPED: postgres_x"), "{banner}");
        assert!(banner.contains("KAGE_TEST_DB_URL="), "{banner}");
        assert!(banner.contains("KAGE_REQUIRE_POSTGRES=1"), "{banner}");
        let failure = missing_message("postgres_x", true);
        assert!(failure.starts_with("KAGE_REQUIRE_POSTGRES=1"), "{failure}");
        assert!(failure.contains("pg_ctlcluster"), "{failure}");
    }
}
