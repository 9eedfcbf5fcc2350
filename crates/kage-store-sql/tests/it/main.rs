//! Integration tests of kage-store-sql: one contract suite run against
//! SQLite and PostgreSQL, each backend's faults, and multi-process stress
//! and crash tests with the `kage-store-worker` binary.
//!
//! Every PostgreSQL test has `postgres` in its path and finds its server
//! through `kage_testkit`: `KAGE_TEST_DB_URL` (e.g.
//! `postgres://postgres@127.0.0.1:5432/test`), else 127.0.0.1:5432 when it
//! answers; without one it passes after a loud SKIPPED banner, or fails
//! when `KAGE_REQUIRE_POSTGRES=1`. Each one works in a database of its own.

mod contract;
mod postgres;
mod sqlite;
mod stress;
mod support;
