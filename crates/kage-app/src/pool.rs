//! The composition root: config, store, secret store and clock, built into
//! one [`AppPool`].
//!
//! `kage` and `kage-agent` open the pool the same way:
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use kage_app::pool::{GlobalOptions, open_pool};
//!
//! let options = GlobalOptions::from_process();
//! let pool = open_pool(&options).await?;
//! let status = pool.status().await?;
//! # drop(status);
//! # Ok(())
//! # }
//! ```
//!
//! What is chosen where:
//!
//! - **Config**: `--config FILE`, else `KAGE_CONFIG`, `KAGE_CONFIG_DIR`,
//!   `$XDG_CONFIG_HOME/kage/config.toml`, `~/.config/kage/config.toml`
//!   ([`kage_config::config_path`]); a missing file means the defaults,
//!   except one named by `--config` or `KAGE_CONFIG` (an error).
//! - **Store**: PostgreSQL when `[storage] database_url` (or
//!   `KAGE_DATABASE_URL`) is set, else the SQLite file at
//!   `[storage] database_path` (or `KAGE_DATABASE_PATH`), by default
//!   `$XDG_DATA_HOME/kage/kage.db`.
//! - **Secrets**: the OS keychain, unless `KAGE_SECRET_BACKEND` selects the
//!   insecure test file store ([`kage_secrets::secret_store_for`]).
//! - **Clock**: the system clock. **Test hook:** when `KAGE_TEST_NOW` holds an
//!   RFC 3339 time (`2025-06-02T09:30:00Z`), a clock fixed at that time is
//!   used instead (days are still cut in the `TZ` zone), so end-to-end tests
//!   of separate `kage` processes see the same "now". It is not meant for
//!   anything else.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use jiff::tz::TimeZone;
use kage_config::{Config, ConfigError, Env};
use kage_core::{Pool, PoolSettings};
use kage_domain::Timestamp;
use kage_ports::{Clock, FixedClock, SecretStore, SubscriptionStore, SystemClock};

/// The pool every app command works on, with its adapters chosen at run time.
pub type AppPool = Pool<Box<dyn SubscriptionStore>, Box<dyn SecretStore>, Box<dyn Clock>>;

/// The environment variable of the fixed-clock test hook.
pub const TEST_NOW_ENV: &str = "KAGE_TEST_NOW";

/// The schema version this build of Kage writes (`kage doctor` compares the
/// database's with it).
pub use kage_store_sql::SCHEMA_VERSION;

/// What decides how the pool is opened: an explicit config file, and the
/// environment (captured once, so tests can pass their own).
#[derive(Clone, Debug, Default)]
pub struct GlobalOptions {
    /// `--config FILE`: read this file instead of looking for one.
    pub config_file: Option<PathBuf>,
    /// The environment variables Kage reads (`KAGE_*`, `HOME`, `XDG_*`).
    pub env: Env,
}

impl GlobalOptions {
    /// The process's environment, no explicit config file.
    pub fn from_process() -> Self {
        Self {
            config_file: None,
            env: Env::from_process(),
        }
    }

    #[must_use]
    pub fn with_config_file(mut self, path: Option<PathBuf>) -> Self {
        self.config_file = path;
        self
    }
}

/// Load the config: the file (see the module docs), then `KAGE_*` variables.
///
/// # Errors
/// A [`ConfigError`] naming the file, line and column; `kage` exits 78.
pub fn load_config(options: &GlobalOptions) -> Result<Config, ConfigError> {
    match &options.config_file {
        Some(path) => {
            if !path.is_file() {
                return Err(ConfigError::Missing {
                    path: path.clone(),
                    named_by: "--config",
                });
            }
            Config::load_path(path, &options.env)
        }
        None => {
            // A file named by KAGE_CONFIG must exist, as one given with
            // --config: a typo there must not silently mean the defaults.
            let location = kage_config::config_path(&options.env)?;
            if location.rule == kage_config::PathRule::KageConfig && !location.path.exists() {
                return Err(ConfigError::Missing {
                    path: location.path,
                    named_by: "KAGE_CONFIG",
                });
            }
            Config::load_path(&location.path, &options.env)
        }
    }
}

/// The services' settings from the config.
pub fn pool_settings(config: &Config) -> PoolSettings {
    PoolSettings {
        state_policy: config.state_policy(),
        selection_policy: config.selection_policy(),
        lease_ttl: config.lease_ttl(),
        config_routes: config.routing().clone(),
        alert_thresholds: config.subscriptions().alert_thresholds.clone(),
    }
}

/// The clock: the system's, or the `KAGE_TEST_NOW` test hook's fixed one.
///
/// # Errors
/// When `KAGE_TEST_NOW` is set but is not an RFC 3339 time.
pub fn clock(options: &GlobalOptions) -> anyhow::Result<Box<dyn Clock>> {
    match options.env.get(TEST_NOW_ENV) {
        None => Ok(Box::new(SystemClock)),
        Some(text) => {
            let now: Timestamp = text.parse().with_context(|| {
                format!(
                    "{TEST_NOW_ENV}={text:?} is not an RFC 3339 time such as 2025-06-02T09:30:00Z"
                )
            })?;
            let zone = match options.env.get("TZ") {
                Some(name) => TimeZone::get(name.trim_start_matches(':'))
                    .with_context(|| format!("TZ={name:?} is not a known time zone"))?,
                None => TimeZone::system(),
            };
            Ok(Box::new(FixedClock::new(now, zone)))
        }
    }
}

/// The secret store: the OS keychain unless `KAGE_SECRET_BACKEND` says
/// otherwise.
///
/// # Errors
/// An unknown `KAGE_SECRET_BACKEND` value, or a test file folder that
/// cannot be created.
pub fn secret_store(options: &GlobalOptions) -> anyhow::Result<Box<dyn SecretStore>> {
    let selected = options
        .env
        .get(kage_secrets::SECRET_BACKEND_ENV)
        .map(OsStr::new);
    let store = kage_secrets::secret_store_for(selected)
        .context("could not set up the credential store")?;
    Ok(Box::new(store))
}

/// Open the store the config names, creating the SQLite file and running
/// migrations on first use. The store reads `clock` again once a write has
/// won its lock, so a write that waited is stamped with when it happened.
///
/// # Errors
/// When the database cannot be opened or migrated; the message names it
/// (never a password).
pub async fn open_store(
    config: &Config,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Box<dyn SubscriptionStore>> {
    let backend = config.storage().backend()?;
    store::open(&backend, clock).await
}

/// [`open_store`] for one quick read and write (`kage statusline`, after
/// every response of Claude Code): an up-to-date SQLite file opens with one
/// connection and no migration transaction
/// ([`kage_store_sql::SqliteStore::open_quick`]); PostgreSQL as usual.
///
/// # Errors
/// As [`open_store`].
pub async fn open_store_quick(
    config: &Config,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Box<dyn SubscriptionStore>> {
    let backend = config.storage().backend()?;
    match &backend {
        kage_config::StorageBackend::Sqlite(path) => {
            let store = kage_store_sql::SqliteStore::open_quick(path)
                .await
                .with_context(|| format!("could not open the pool database {}", path.display()))?;
            Ok(Box::new(store.with_clock(clock)))
        }
        kage_config::StorageBackend::Postgres(_) => store::open(&backend, clock).await,
    }
}

/// Load the config and open the pool it describes.
///
/// # Errors
/// A [`ConfigError`] (exit 78), or a store that cannot be opened.
pub async fn open_pool(options: &GlobalOptions) -> anyhow::Result<AppPool> {
    let config = load_config(options)?;
    open_pool_with(options, &config).await
}

/// [`open_pool`] with the config already loaded.
///
/// # Errors
/// As [`open_pool`].
pub async fn open_pool_with(options: &GlobalOptions, config: &Config) -> anyhow::Result<AppPool> {
    let clock = clock(options)?;
    let secrets = secret_store(options)?;
    let store = open_store(config, Arc::from(self::clock(options)?)).await?;
    Ok(Pool::new(store, secrets, clock, pool_settings(config)))
}

/// Check the config file's routes against the pool's subscriptions.
///
/// # Errors
/// [`ConfigError::UnknownRouteSubscription`] with the file, line and column
/// of the first unknown name.
pub async fn check_config_routes(pool: &AppPool, config: &Config) -> anyhow::Result<()> {
    let subscriptions = pool.list().await?;
    config.check_routing(subscriptions.iter().map(|subscription| &subscription.name))?;
    Ok(())
}

pub mod store {
    //! Opening the store the config names.

    use std::sync::Arc;

    use anyhow::Context;
    use kage_config::StorageBackend;
    use kage_ports::{Clock, SubscriptionStore};
    use kage_store_sql::{PostgresStore, SqliteStore};

    /// The SQLite stores this process opened, closed by [`close_all`] on
    /// exit so that the last connection checkpoints the WAL into the
    /// database file (a copy of `kage.db` is then a backup).
    static OPENED: std::sync::Mutex<Vec<Arc<SqliteStore>>> = std::sync::Mutex::new(Vec::new());

    /// Close every SQLite store this process opened.
    pub async fn close_all() {
        let opened: Vec<Arc<SqliteStore>> = match OPENED.lock() {
            Ok(mut opened) => opened.drain(..).collect(),
            Err(_) => return,
        };
        for store in opened {
            store.close().await;
        }
    }

    /// Open the SQLite file at `path`, to be closed on exit; with a clock,
    /// [`SqliteStore::with_clock`].
    pub async fn open_sqlite(
        path: &std::path::Path,
        clock: Option<Arc<dyn Clock>>,
    ) -> anyhow::Result<Arc<SqliteStore>> {
        let store = SqliteStore::open(path)
            .await
            .with_context(|| format!("could not open the pool database {}", path.display()))?;
        let store = match clock {
            Some(clock) => store.with_clock(clock),
            None => store,
        };
        let store = Arc::new(store);
        if let Ok(mut opened) = OPENED.lock() {
            opened.push(Arc::clone(&store));
        }
        Ok(store)
    }

    /// Write a consistent copy of the SQLite pool at `database` to
    /// `target`, a new file (`SqliteStore::backup`: `VACUUM INTO`).
    ///
    /// # Errors
    /// The database cannot be opened, or the copy cannot be written.
    pub async fn backup_sqlite(
        database: &std::path::Path,
        target: &std::path::Path,
    ) -> anyhow::Result<()> {
        let store = open_sqlite(database, None).await?;
        store.backup(target).await.with_context(|| {
            format!(
                "could not back up the pool database to {}",
                target.display()
            )
        })
    }

    pub(super) async fn open(
        backend: &StorageBackend,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Box<dyn SubscriptionStore>> {
        match backend {
            StorageBackend::Sqlite(path) => Ok(Box::new(open_sqlite(path, Some(clock)).await?)),
            StorageBackend::Postgres(url) => {
                let store = PostgresStore::connect(url.expose())
                    .await
                    .with_context(|| format!("could not open the pool database {url}"))?;
                Ok(Box::new(store.with_clock(clock)))
            }
        }
    }
}
