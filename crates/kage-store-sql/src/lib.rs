//! Kage's pool store: [`kage_ports::SubscriptionStore`] over sqlx, for two
//! backends behind the same port.
//!
//! - [`SqliteStore`]: one SQLite file, the default (`$XDG_DATA_HOME/kage/kage.db`,
//!   see [`default_database_path`]); nothing to install or start.
//! - [`PostgresStore`]: a PostgreSQL database, for a pool shared by agents
//!   on several machines (`database_url = "postgres://…"` or
//!   `KAGE_DATABASE_URL`).
//!
//! Apps pick one with [`StoreLocation`] and [`open_store`], which returns an
//! [`AnyStore`]. Both backends run the same SQL from one implementation
//! (`store_impl`); the schema, the locking and the usage rollup are
//! described in `docs/storage.md`.

mod codec;
mod error;
mod lease;
mod postgres;
mod schema;
mod sqlite;
mod store_impl;
mod usage;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use kage_domain::{
    LeaseId, Outcome, PoolSnapshot, RouteEntry, RouteTarget, RoutingRules, StateKind, StatePolicy,
    Subscription, SubscriptionId, SubscriptionName, TransitionResult,
};
use kage_ports::{
    AcquireLeaseRequest, AcquireOutcome, DailyUsage, Lease, LeaseError, RecordedTransition,
    ReleaseLeaseRequest, ReleaseReport, StoreError, SubscriptionStore, UsageQuery,
};

pub use error::redact_url;
pub use postgres::{
    ACQUIRE_LOCK_KEY, MIGRATE_LOCK_KEY, PostgresOptions, PostgresStore, SUBSCRIPTION_LOCK_CLASS,
};
pub use schema::{SCHEMA_VERSION, postgres_migrations, sqlite_migrations};
pub use sqlite::{APPLICATION_ID, SqliteOptions, SqliteStore};

/// An opening store, boxed so that it is `Send`.
type BoxedOpen<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// The environment variable naming the database (a PostgreSQL URL or a
/// SQLite file path); it wins over the config file's `database_url`.
pub const DATABASE_URL_ENV: &str = "KAGE_DATABASE_URL";

/// Where the pool lives.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL URL (it may hold a password: see [`StoreLocation::describe`]).
    Postgres(String),
}

impl std::fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Self::Postgres(url) => f.debug_tuple("Postgres").field(&redact_url(url)).finish(),
        }
    }
}

impl StoreLocation {
    /// Read a `database_url`: `postgres://…` or `postgresql://…` is
    /// PostgreSQL; `sqlite://PATH`, `sqlite:PATH` or a plain path is a SQLite
    /// file.
    pub fn parse(value: &str) -> Self {
        let value = value.trim();
        if value.starts_with("postgres://") || value.starts_with("postgresql://") {
            return Self::Postgres(value.to_owned());
        }
        let path = value
            .strip_prefix("sqlite://")
            .or_else(|| value.strip_prefix("sqlite:"))
            .unwrap_or(value);
        Self::Sqlite(PathBuf::from(path))
    }

    /// The location in force: `KAGE_DATABASE_URL` if set, else the config
    /// file's `database_url`, else the default SQLite file.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the default path is needed and
    /// neither `XDG_DATA_HOME` nor `HOME` is set.
    pub fn resolve(configured: Option<&str>) -> Result<Self, StoreError> {
        let from_env = std::env::var(DATABASE_URL_ENV)
            .ok()
            .filter(|value| !value.trim().is_empty());
        match from_env
            .as_deref()
            .or(configured.filter(|value| !value.trim().is_empty()))
        {
            Some(value) => Ok(Self::parse(value)),
            None => default_database_path().map(Self::Sqlite),
        }
    }

    /// For screens and logs: the path, or the URL without its password.
    pub fn describe(&self) -> String {
        match self {
            Self::Sqlite(path) => path.display().to_string(),
            Self::Postgres(url) => redact_url(url),
        }
    }
}

/// `$XDG_DATA_HOME/kage/kage.db`, else `~/.local/share/kage/kage.db`.
///
/// # Errors
/// [`StoreError::Unavailable`] when neither variable is set.
pub fn default_database_path() -> Result<PathBuf, StoreError> {
    database_path_from(std::env::var_os("XDG_DATA_HOME"), std::env::var_os("HOME")).ok_or_else(
        || StoreError::Unavailable {
            location: "$XDG_DATA_HOME/kage/kage.db".to_owned(),
            detail: "neither XDG_DATA_HOME nor HOME is set; set one, or give database_url"
                .to_owned(),
        },
    )
}

/// The default path from the values of `XDG_DATA_HOME` and `HOME`. A
/// relative `XDG_DATA_HOME` is ignored, as the XDG spec says.
pub fn database_path_from(
    xdg_data_home: Option<OsString>,
    home: Option<OsString>,
) -> Option<PathBuf> {
    let data_home = xdg_data_home
        .map(PathBuf::from)
        .filter(|path| path.is_absolute())
        .or_else(|| {
            home.filter(|home| !home.is_empty())
                .map(|home| Path::new(&home).join(".local").join("share"))
        })?;
    Some(data_home.join("kage").join("kage.db"))
}

/// Open the store at `location` (a SQLite path or a PostgreSQL URL, as
/// [`StoreLocation::parse`] reads it).
///
/// # Errors
/// As [`SqliteStore::open`] and [`PostgresStore::connect`].
pub async fn open_store(location: &str) -> Result<AnyStore, StoreError> {
    open_location(&StoreLocation::parse(location)).await
}

/// Open the store at a parsed location.
///
/// # Errors
/// As [`SqliteStore::open`] and [`PostgresStore::connect`].
pub async fn open_location(location: &StoreLocation) -> Result<AnyStore, StoreError> {
    match location {
        StoreLocation::Sqlite(path) => SqliteStore::open(path).await.map(AnyStore::Sqlite),
        StoreLocation::Postgres(url) => PostgresStore::connect(url).await.map(AnyStore::Postgres),
    }
}

/// Either backend, chosen at run time.
#[derive(Debug, Clone)]
pub enum AnyStore {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

impl AnyStore {
    /// The path, or the URL without its password.
    pub fn describe(&self) -> String {
        match self {
            Self::Sqlite(store) => store.path().display().to_string(),
            Self::Postgres(store) => store.location().to_owned(),
        }
    }

    /// Close every connection.
    pub async fn close(&self) {
        match self {
            Self::Sqlite(store) => store.close().await,
            Self::Postgres(store) => store.close().await,
        }
    }
}

macro_rules! delegate {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match $self {
            AnyStore::Sqlite(store) => store.$method($($arg),*).await,
            AnyStore::Postgres(store) => store.$method($($arg),*).await,
        }
    };
}

#[async_trait]
impl SubscriptionStore for AnyStore {
    async fn insert_subscription(&self, subscription: &Subscription) -> Result<(), StoreError> {
        delegate!(self.insert_subscription(subscription))
    }

    async fn update_subscription(&self, subscription: &Subscription) -> Result<(), StoreError> {
        delegate!(self.update_subscription(subscription))
    }

    async fn delete_subscription(&self, id: SubscriptionId) -> Result<(), StoreError> {
        delegate!(self.delete_subscription(id))
    }

    async fn list_subscriptions(&self) -> Result<Vec<Subscription>, StoreError> {
        delegate!(self.list_subscriptions())
    }

    async fn subscription_by_name(
        &self,
        name: &SubscriptionName,
    ) -> Result<Option<Subscription>, StoreError> {
        delegate!(self.subscription_by_name(name))
    }

    async fn record_outcome(
        &self,
        id: SubscriptionId,
        outcome: &Outcome,
        lease_id: Option<LeaseId>,
        policy: &StatePolicy,
        now: Timestamp,
    ) -> Result<TransitionResult, StoreError> {
        delegate!(self.record_outcome(id, outcome, lease_id, policy, now))
    }

    async fn set_disabled(
        &self,
        id: SubscriptionId,
        disabled: Option<String>,
        now: Timestamp,
    ) -> Result<TransitionResult, StoreError> {
        delegate!(self.set_disabled(id, disabled, now))
    }

    async fn transitions(
        &self,
        id: SubscriptionId,
        limit: u32,
    ) -> Result<Vec<RecordedTransition>, StoreError> {
        delegate!(self.transitions(id, limit))
    }

    async fn transition_counts(&self) -> Result<Vec<(SubscriptionId, StateKind, u64)>, StoreError> {
        delegate!(self.transition_counts())
    }

    async fn save_route(
        &self,
        target: &RouteTarget,
        entries: &[RouteEntry],
    ) -> Result<(), StoreError> {
        delegate!(self.save_route(target, entries))
    }

    async fn delete_route(&self, target: &RouteTarget) -> Result<bool, StoreError> {
        delegate!(self.delete_route(target))
    }

    async fn load_routes(&self) -> Result<RoutingRules, StoreError> {
        delegate!(self.load_routes())
    }

    async fn acquire_lease(
        &self,
        request: &AcquireLeaseRequest,
        now: Timestamp,
    ) -> Result<AcquireOutcome, StoreError> {
        delegate!(self.acquire_lease(request, now))
    }

    async fn heartbeat_lease(
        &self,
        id: LeaseId,
        ttl: Duration,
        now: Timestamp,
    ) -> Result<Lease, LeaseError> {
        delegate!(self.heartbeat_lease(id, ttl, now))
    }

    async fn release_lease(
        &self,
        request: &ReleaseLeaseRequest,
        now: Timestamp,
    ) -> Result<ReleaseReport, LeaseError> {
        delegate!(self.release_lease(request, now))
    }

    async fn live_leases(&self, now: Timestamp) -> Result<Vec<Lease>, StoreError> {
        delegate!(self.live_leases(now))
    }

    async fn pool_snapshot(
        &self,
        window: Duration,
        now: Timestamp,
    ) -> Result<PoolSnapshot, StoreError> {
        delegate!(self.pool_snapshot(window, now))
    }

    async fn daily_usage(&self, query: &UsageQuery) -> Result<Vec<DailyUsage>, StoreError> {
        delegate!(self.daily_usage(query))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_read_by_scheme() {
        assert_eq!(
            StoreLocation::parse("postgres://kage@db/kage"),
            StoreLocation::Postgres("postgres://kage@db/kage".to_owned())
        );
        assert_eq!(
            StoreLocation::parse("postgresql://db/kage"),
            StoreLocation::Postgres("postgresql://db/kage".to_owned())
        );
        assert_eq!(
            StoreLocation::parse("sqlite:///tmp/k.db"),
            StoreLocation::Sqlite("/tmp/k.db".into())
        );
        assert_eq!(
            StoreLocation::parse("sqlite:k.db"),
            StoreLocation::Sqlite("k.db".into())
        );
        assert_eq!(
            StoreLocation::parse("/var/kage.db"),
            StoreLocation::Sqlite("/var/kage.db".into())
        );
    }

    #[test]
    fn descriptions_hide_passwords() {
        let location = StoreLocation::parse("postgres://kage:hunter2@db/kage");
        assert_eq!(location.describe(), "postgres://kage@db/kage");
        assert!(!format!("{location:?}").contains("hunter2"));
    }

    #[test]
    fn the_default_path_follows_xdg() {
        assert_eq!(
            database_path_from(Some("/data".into()), Some("/home/u".into())),
            Some(PathBuf::from("/data/kage/kage.db"))
        );
        assert_eq!(
            database_path_from(Some("relative".into()), Some("/home/u".into())),
            Some(PathBuf::from("/home/u/.local/share/kage/kage.db"))
        );
        assert_eq!(
            database_path_from(None, Some("/home/u".into())),
            Some(PathBuf::from("/home/u/.local/share/kage/kage.db"))
        );
        assert_eq!(database_path_from(None, None), None);
    }
}
