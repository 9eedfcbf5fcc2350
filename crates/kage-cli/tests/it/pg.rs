//! A PostgreSQL database for one CLI test: created on the server
//! `kage_testkit` finds (`KAGE_TEST_DB_URL`, else 127.0.0.1:5432; without one
//! the test passes after a loud SKIPPED banner, or fails under
//! `KAGE_REQUIRE_POSTGRES=1`), handed to `kage` as `KAGE_DATABASE_URL`,
//! dropped when the guard goes, whether the test passed or not.

use sqlx::{Connection, Executor, PgConnection};

/// The database of one test; dropped with the guard.
pub(crate) struct PgDatabase {
    pub(crate) url: String,
    admin_url: String,
    name: String,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

impl PgDatabase {
    /// `None` without a server (after the skip banner).
    pub(crate) fn create(test: &str) -> Option<Self> {
        let admin_url = kage_testkit::postgres_url(test)?;
        let name = format!("kage_cli_{}", uuid::Uuid::new_v4().simple());
        runtime().block_on(async {
            let mut admin = PgConnection::connect(&admin_url)
                .await
                .unwrap_or_else(|e| panic!("cannot connect to the PostgreSQL test server: {e}"));
            admin
                .execute(format!("CREATE DATABASE \"{name}\"").as_str())
                .await
                .expect("create the test database");
            admin.close().await.expect("close");
        });
        Some(Self {
            url: kage_testkit::with_database(&admin_url, &name),
            admin_url,
            name,
        })
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        runtime().block_on(async move {
            if let Ok(mut admin) = PgConnection::connect(&admin_url).await {
                let _ = admin
                    .execute(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)").as_str())
                    .await;
                let _ = admin.close().await;
            }
        });
    }
}
