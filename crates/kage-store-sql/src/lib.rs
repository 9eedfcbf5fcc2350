//! Kage's pool store: [`kage_ports::SubscriptionStore`] over sqlx, for two
//! backends behind the same port.
//!
//! - [`SqliteStore`]: one SQLite file, the default; nothing to install or
//!   start.
//! - [`PostgresStore`]: a PostgreSQL database, for a pool shared by agents
//!   on several machines.
//!
//! The store reads no environment and no config: the apps decide where the
//! pool lives (`kage-cli`'s `app.rs`) and open it with
//! [`SqliteStore::open`] or [`PostgresStore::connect`].
//!
//! Both are a [`Store`] over a backend: one generic `impl SubscriptionStore`
//! (`store.rs`) calls the operations both backends run the same way, written
//! once in `common.rs` over a small `Backend` trait (and `db.rs`, the sqlx
//! bounds stated once) with the SQL text of `sql.rs`. Each backend's file
//! (`sqlite.rs`, `postgres.rs`) opens it, answers what `Backend` asks (how a
//! write begins, its row locks) and writes its own hot paths, acquire and
//! release, with the SQL only it runs in `sqlite/sql.rs` and
//! `postgres/sql.rs`. The schema, the locking and the usage rollup are
//! described in `docs/storage.md`.

mod codec;
mod common;
mod db;
mod error;
mod lease;
mod lock_clock;
mod postgres;
mod schema;
mod sql;
mod sqlite;
mod store;
mod usage;

use kage_ports::StoreError;

pub use error::redact_url;
pub use postgres::{
    ACQUIRE_LOCK_KEY, MIGRATE_LOCK_KEY, PostgresBackend, PostgresOptions, PostgresStore,
    SUBSCRIPTION_LOCK_CLASS,
};
pub use schema::{SCHEMA_VERSION, postgres_migrations, sqlite_migrations};
pub use sqlite::{APPLICATION_ID, SqliteBackend, SqliteOptions, SqliteStore};
pub use store::Store;

/// An opening store, boxed so that it is `Send`.
type BoxedOpen<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, StoreError>> + Send + 'a>>;
