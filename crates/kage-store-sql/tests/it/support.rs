//! Fixtures: subscriptions, requests, a temporary SQLite store, and a fresh
//! PostgreSQL database per test (created on the server `kage_testkit` finds:
//! `KAGE_TEST_DB_URL`, else 127.0.0.1:5432; dropped at the end whether the
//! test passed or not). Without a server a PostgreSQL test returns after
//! a loud SKIPPED banner, or fails when `KAGE_REQUIRE_POSTGRES=1`.

use std::future::Future;
use std::time::Duration;

use jiff::Timestamp;
use kage_domain::{
    LeaseId, Outcome, SelectionPolicy, SelectionRequest, StatePolicy, Subscription, SubscriptionId,
    SubscriptionName, Usage,
};
use kage_ports::{
    AcquireLeaseRequest, AcquireOutcome, Lease, ReleaseLeaseRequest, SubscriptionStore,
};
use kage_store_sql::{PostgresStore, SqliteStore};
use sqlx::{Connection, Executor, PgConnection};
use tempfile::TempDir;
use uuid::Uuid;

pub(crate) const PG_URL_ENV: &str = kage_testkit::TEST_DB_URL_ENV;

pub(crate) fn t(text: &str) -> Timestamp {
    text.parse()
        .unwrap_or_else(|e| panic!("bad test timestamp {text}: {e}"))
}

pub(crate) fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

pub(crate) fn plus(at: Timestamp, seconds: i64) -> Timestamp {
    at.checked_add(jiff::SignedDuration::from_secs(seconds))
        .unwrap()
}

pub(crate) fn subscription(name: &str) -> Subscription {
    Subscription::new(
        SubscriptionId::from_uuid(Uuid::new_v4()),
        SubscriptionName::new(name).unwrap(),
        t("2025-06-01T00:00:00Z"),
    )
}

pub(crate) fn acquire(ttl: Duration) -> AcquireLeaseRequest {
    AcquireLeaseRequest {
        lease_id: LeaseId::from_uuid(Uuid::new_v4()),
        selection: SelectionRequest::default(),
        rules: Default::default(),
        policy: SelectionPolicy::default(),
        ttl,
        holder: "test@host:1".to_owned(),
    }
}

pub(crate) fn release(lease_id: LeaseId, outcome: Outcome, usage: Usage) -> ReleaseLeaseRequest {
    ReleaseLeaseRequest {
        lease_id,
        outcome,
        usage,
        policy: StatePolicy::default(),
    }
}

pub(crate) fn tokens(input: u64, output: u64) -> Usage {
    Usage {
        input_tokens: input,
        output_tokens: output,
        ..Usage::default()
    }
}

/// Acquire and insist on a lease.
pub(crate) async fn granted<S: SubscriptionStore + ?Sized>(
    store: &S,
    request: &AcquireLeaseRequest,
    now: Timestamp,
) -> Lease {
    match store.acquire_lease(request, now).await.expect("acquire") {
        AcquireOutcome::Granted(lease) => lease,
        other => panic!("expected a lease at {now}, got {other:?}"),
    }
}

/// A store in a fresh temporary folder.
pub(crate) async fn sqlite_store() -> (TempDir, SqliteStore) {
    let folder = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(folder.path().join("kage.db"))
        .await
        .expect("open sqlite store");
    (folder, store)
}

/// Run a test body against a fresh SQLite store (acquire and release on the
/// caller's thread whenever the write lock is free, as in production).
pub(crate) async fn with_sqlite<F, Fut>(body: F)
where
    F: FnOnce(SqliteStore) -> Fut,
    Fut: Future<Output = ()>,
{
    let (_folder, store) = sqlite_store().await;
    body(store.clone()).await;
    store.close().await;
}

/// A store of either backend, opened from a location (a PostgreSQL URL or
/// a SQLite path) the way the worker process opens it.
pub(crate) enum AnyStore {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

impl AnyStore {
    pub(crate) async fn open(location: &str) -> Self {
        if location.starts_with("postgres://") {
            Self::Postgres(PostgresStore::connect(location).await.expect("connect"))
        } else {
            Self::Sqlite(SqliteStore::open(location).await.expect("open"))
        }
    }

    pub(crate) async fn close(&self) {
        match self {
            Self::Sqlite(store) => store.close().await,
            Self::Postgres(store) => store.close().await,
        }
    }
}

impl std::ops::Deref for AnyStore {
    type Target = dyn SubscriptionStore;

    fn deref(&self) -> &Self::Target {
        match self {
            Self::Sqlite(store) => store,
            Self::Postgres(store) => store,
        }
    }
}

/// The PostgreSQL server's URL (see [`kage_testkit::postgres_url`]), or
/// `None` after a banner saying this test was skipped.
pub(crate) fn pg_admin_url() -> Option<String> {
    let thread = std::thread::current();
    kage_testkit::postgres_url(thread.name().unwrap_or("a PostgreSQL test"))
}

/// A database made for one test.
pub(crate) struct PgTestDb {
    pub(crate) url: String,
    admin_url: String,
    name: String,
}

impl PgTestDb {
    /// A fresh database, or `None` when there is no server (skipped).
    pub(crate) async fn create() -> Option<Self> {
        let admin_url = pg_admin_url()?;
        let name = format!("kage_test_{}", Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {PG_URL_ENV}: {e}"));
        admin
            .execute(format!("CREATE DATABASE \"{name}\"").as_str())
            .await
            .unwrap();
        admin.close().await.unwrap();
        Some(Self {
            url: kage_testkit::with_database(&admin_url, &name),
            admin_url,
            name,
        })
    }

    pub(crate) async fn drop_database(self) {
        let mut admin = PgConnection::connect(&self.admin_url).await.unwrap();
        admin
            .execute(format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name).as_str())
            .await
            .unwrap();
        admin.close().await.unwrap();
    }
}

/// Run a test body with the URL of a fresh database; the database is
/// dropped afterwards even when the body panics. Without a server the body
/// does not run (see [`pg_admin_url`]).
pub(crate) async fn with_pg_database<F, Fut>(body: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(database) = PgTestDb::create().await else {
        return;
    };
    let outcome = tokio::spawn(body(database.url.clone())).await;
    database.drop_database().await;
    if let Err(error) = outcome {
        std::panic::resume_unwind(error.into_panic());
    }
}

/// Run a test body against a fresh PostgreSQL store.
pub(crate) async fn with_postgres<F, Fut>(body: F)
where
    F: FnOnce(PostgresStore) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    with_pg_database(|url| async move {
        let store = PostgresStore::connect(&url)
            .await
            .expect("connect to the test database");
        body(store.clone()).await;
        store.close().await;
    })
    .await;
}
