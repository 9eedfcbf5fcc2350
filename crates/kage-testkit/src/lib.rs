//! Helpers shared by Kage's test crates (a dev-dependency only).
//!
//! [`postgres_url`] finds the PostgreSQL server for the PostgreSQL tests the
//! same way `cargo xtask test` does, so plain `cargo test --workspace` passes
//! wherever `cargo xtask test` does:
//!
//! 1. `KAGE_TEST_DB_URL`, when set and not empty, if its host and port
//!    answer;
//! 2. else, when the variable is unset, `postgres://postgres@127.0.0.1:5432/test`
//!    if something answers on 127.0.0.1:5432;
//! 3. else no server: the test prints a loud `SKIPPED` banner on stderr and
//!    returns without checking anything, unless `KAGE_REQUIRE_POSTGRES=1`
//!    (CI), where it fails with the way to start one.
//!
//! ```no_run
//! // In a test named `postgres_round_trip`:
//! let Some(url) = kage_testkit::postgres_url("postgres_round_trip") else {
//!     return; // skipped, loudly
//! };
//! // … connect to `url`
//! # drop(url);
//! ```

use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};
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
    /// No server: the tests are skipped. Holds why (for the banner).
    Missing(String),
}

impl Postgres {
    /// The server's URL, if there is one.
    pub fn url(&self) -> Option<&str> {
        match self {
            Self::FromEnv(url) | Self::Local(url) => Some(url),
            Self::Missing(_) => None,
        }
    }
}

/// Decide from `KAGE_TEST_DB_URL`'s value and `answers`, a probe of a
/// `host:port` (the variable's, else 127.0.0.1:5432). Pure over the probe,
/// so the order is tested.
pub fn decide(url: Option<String>, answers: impl FnOnce(&str) -> bool) -> Postgres {
    match url.filter(|url| !url.trim().is_empty()) {
        Some(url) => {
            let address = server_address(&url);
            if answers(&address) {
                Postgres::FromEnv(url)
            } else {
                Postgres::Missing(format!(
                    "nothing answers on {address}, from {TEST_DB_URL_ENV}"
                ))
            }
        }
        None if answers(LOCAL_POSTGRES) => Postgres::Local(LOCAL_POSTGRES_URL.to_owned()),
        None => Postgres::Missing(format!(
            "{TEST_DB_URL_ENV} is unset and nothing answers on {LOCAL_POSTGRES}"
        )),
    }
}

/// `host:port` of a `postgres://user:password@host:port/db?…` URL (port
/// 5432 when it names none).
pub fn server_address(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let has_port = host
        .rsplit_once(':')
        .is_some_and(|(_, port)| !port.is_empty() && port.chars().all(|c| c.is_ascii_digit()));
    if has_port {
        host.to_owned()
    } else {
        format!("{host}:5432")
    }
}

/// `url` (`postgres://…/db?…`) with its database name replaced by
/// `database`, the query kept: a test's own database on the test server.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let after_scheme = base.find("://").map_or(0, |at| at + 3);
    let base = match base[after_scheme..].find('/') {
        Some(slash) => &base[..after_scheme + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}

/// The decision for this process, made once.
pub fn postgres() -> &'static Postgres {
    static DECIDED: OnceLock<Postgres> = OnceLock::new();
    DECIDED.get_or_init(|| decide(std::env::var(TEST_DB_URL_ENV).ok(), answers))
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
        Postgres::Missing(why) => {
            if postgres_required() {
                panic!("{}", missing_message(test, why, true));
            }
            say_skipped(&missing_message(test, why, false));
            None
        }
    }
}

/// Write the banner straight to the process's stderr: `eprintln!` would be
/// captured by the test harness and never shown for a passing test, and a
/// skip must be seen. (nextest shows it with `--no-capture`; `cargo xtask
/// test` prints its own banner and filters these tests out.)
fn say_skipped(banner: &str) {
    let mut stderr = std::io::stderr().lock();
    // Nothing to do if stderr is gone.
    let _ = writeln!(stderr, "{banner}");
    let _ = stderr.flush();
}

/// The banner (or, when required, the failure) for a test without a server;
/// `why` says what was tried.
pub fn missing_message(test: &str, why: &str, required: bool) -> String {
    let how = format!(
        "start PostgreSQL (`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main \
         start`), or export {TEST_DB_URL_ENV}=postgres://USER@HOST:PORT/DB"
    );
    if required {
        format!("{REQUIRE_POSTGRES_ENV}=1 but {why}, so {test} cannot run; {how}")
    } else {
        let rule = "!".repeat(78);
        format!(
            "{rule}\n!!! SKIPPED: {test} (PostgreSQL test; {why})\n!!! it passed WITHOUT \
             checking anything; to run it: {how}\n!!! {REQUIRE_POSTGRES_ENV}=1 (as in CI) makes \
             this a failure\n{rule}"
        )
    }
}

/// Whether something accepts a TCP connection on `address` (`host:port`).
pub fn answers(address: &str) -> bool {
    let Ok(addresses) = address.to_socket_addrs() else {
        return false;
    };
    addresses
        .into_iter()
        .any(|address| TcpStream::connect_timeout(&address, Duration::from_millis(500)).is_ok())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_database_name_is_replaced_and_the_query_kept() {
        use super::with_database;
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "t2"),
            "postgres://u:p@h/t2?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5433", "t3"),
            "postgres://h:5433/t3"
        );
    }

    use super::*;

    #[test]
    fn the_variable_is_probed_at_its_own_address() {
        let decided = decide(Some("postgres://u:pw@db:6000/x".to_owned()), |address| {
            assert_eq!(address, "db:6000");
            true
        });
        assert_eq!(
            decided,
            Postgres::FromEnv("postgres://u:pw@db:6000/x".to_owned())
        );
        let closed = decide(Some("postgres://u@127.0.0.1:1/x".to_owned()), |_| false);
        assert_eq!(
            closed,
            Postgres::Missing("nothing answers on 127.0.0.1:1, from KAGE_TEST_DB_URL".to_owned())
        );
    }

    #[test]
    fn an_empty_variable_counts_as_unset() {
        let decided = decide(Some("  ".to_owned()), |address| {
            assert_eq!(address, LOCAL_POSTGRES);
            false
        });
        assert_eq!(decided.url(), None);
    }

    #[test]
    fn a_local_server_gets_the_default_url() {
        assert_eq!(decide(None, |_| true).url(), Some(LOCAL_POSTGRES_URL));
        assert_eq!(decide(None, |_| false).url(), None);
    }

    #[test]
    fn addresses_of_urls() {
        assert_eq!(server_address("postgres://u:p@h:5433/db?x=1"), "h:5433");
        assert_eq!(server_address("postgres://u@h/db"), "h:5432");
        assert_eq!(server_address("postgres://127.0.0.1:1/db"), "127.0.0.1:1");
    }

    #[test]
    fn a_closed_port_answers_nothing() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let open = listener.local_addr().unwrap().to_string();
        assert!(answers(&open));
        drop(listener);
        assert!(!answers(&open));
    }

    #[test]
    fn the_banner_says_skipped_and_how_to_run() {
        let banner = missing_message("postgres_x", "nothing answers on h:1", false);
        assert!(banner.contains("SKIPPED: postgres_x"), "{banner}");
        assert!(banner.contains("nothing answers on h:1"), "{banner}");
        assert!(banner.contains("KAGE_TEST_DB_URL="), "{banner}");
        assert!(banner.contains("KAGE_REQUIRE_POSTGRES=1"), "{banner}");
        let failure = missing_message("postgres_x", "nothing answers on h:1", true);
        assert!(failure.starts_with("KAGE_REQUIRE_POSTGRES=1"), "{failure}");
        assert!(failure.contains("pg_ctlcluster"), "{failure}");
    }
}
