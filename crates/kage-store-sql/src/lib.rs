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
//! Each backend implements the port in its own file (`sqlite.rs`,
//! `postgres.rs`) and keeps the SQL only it runs in `sqlite/sql.rs` and
//! `postgres/sql.rs`; what both do the same way is written once in
//! `common.rs` (over `db.rs`, the sqlx bounds stated once) with the SQL
//! text of `sql.rs`. The schema, the locking and the usage rollup are
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
mod usage;

use kage_ports::StoreError;

pub use error::redact_url;
pub use postgres::{
    ACQUIRE_LOCK_KEY, MIGRATE_LOCK_KEY, PostgresOptions, PostgresStore, SUBSCRIPTION_LOCK_CLASS,
};
pub use schema::{SCHEMA_VERSION, postgres_migrations, sqlite_migrations};
pub use sqlite::{APPLICATION_ID, SqliteOptions, SqliteStore};

/// An opening store, boxed so that it is `Send`.
type BoxedOpen<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, StoreError>> + Send + 'a>>;
