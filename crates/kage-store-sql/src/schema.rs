//! Schema versions: applying this Kage's migrations, and refusing a
//! database written by a newer Kage.
//!
//! The migrations are sqlx migrations (`migrations/sqlite`,
//! `migrations/postgres`, embedded at build time) recorded in sqlx's own
//! `_sqlx_migrations` table, so `sqlx migrate info` reads them. Kage applies
//! them itself, all pending ones in one write transaction that also holds
//! the backend's migration lock (the SQLite write lock; an advisory lock on
//! PostgreSQL): several processes opening a new database at once apply them
//! exactly once, and a failed migration leaves the database as it was.

use anyhow::anyhow;
use kage_ports::StoreError;
use sqlx::migrate::Migrator;

use crate::error::Place;

/// The newest schema version this Kage knows (the same on both backends).
pub const SCHEMA_VERSION: i64 = 8;

/// The SQLite migrations, embedded.
pub fn sqlite_migrations() -> &'static Migrator {
    static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");
    &MIGRATOR
}

/// The PostgreSQL migrations, embedded.
pub fn postgres_migrations() -> &'static Migrator {
    static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");
    &MIGRATOR
}

/// A row of `_sqlx_migrations`.
pub(crate) struct Applied {
    pub(crate) version: i64,
    pub(crate) checksum: Vec<u8>,
    pub(crate) success: bool,
}

/// Fail if the applied migrations are not a prefix of the known ones.
pub(crate) fn check_applied(
    applied: &[Applied],
    migrator: &Migrator,
    place: &Place,
) -> Result<(), StoreError> {
    let supported = migrator
        .iter()
        .map(|migration| migration.version)
        .max()
        .unwrap_or(0);
    if let Some(found) = applied.iter().map(|row| row.version).max()
        && found > supported
    {
        return Err(StoreError::NewerSchema {
            location: place.location.clone(),
            found,
            supported,
        });
    }
    for row in applied {
        if !row.success {
            return Err(StoreError::Unknown(anyhow!(
                "migration {} of the database at {} failed part-way earlier; restore a backup",
                row.version,
                place.location
            )));
        }
        let known = migrator
            .iter()
            .find(|migration| migration.version == row.version);
        match known {
            Some(migration) if *migration.checksum == *row.checksum => {}
            Some(_) => {
                return Err(StoreError::Unknown(anyhow!(
                    "migration {} of the database at {} differs from the one this Kage knows \
                     (the migrations of another program, or of a different Kage build); \
                     it was left as it is; point Kage at its own database",
                    row.version,
                    place.location
                )));
            }
            None => {
                return Err(StoreError::Unknown(anyhow!(
                    "the database at {} holds migration {}, which this Kage does not know",
                    place.location,
                    row.version
                )));
            }
        }
    }
    Ok(())
}

/// Define `async fn migrate(connection, place)` for one backend: create
/// sqlx's table if needed, check the versions, apply what is pending. The
/// caller holds a write transaction and the backend's migration lock.
macro_rules! migrate_fn {
    ($conn:ty, $migrator:expr, create_table = $create:literal) => {
        pub(crate) async fn migrate(
            connection: &mut $conn,
            place: &$crate::error::Place,
        ) -> Result<(), kage_ports::StoreError> {
            use $crate::schema::Applied;
            let migrator = $migrator;
            let what = "applying the schema migrations";
            sqlx::Executor::execute(&mut *connection, $create)
                .await
                .map_err(|e| place.error(what, e))?;
            let applied: Vec<(i64, Vec<u8>, bool)> = sqlx::query_as(
                "SELECT version, checksum, success FROM _sqlx_migrations ORDER BY version",
            )
            .fetch_all(&mut *connection)
            .await
            .map_err(|e| place.error(what, e))?;
            let applied: Vec<Applied> = applied
                .into_iter()
                .map(|(version, checksum, success)| Applied {
                    version,
                    checksum,
                    success,
                })
                .collect();
            $crate::schema::check_applied(&applied, migrator, place)?;
            for migration in migrator.iter() {
                if migration.migration_type.is_down_migration()
                    || applied.iter().any(|row| row.version == migration.version)
                {
                    continue;
                }
                let started = std::time::Instant::now();
                let sql: &'static str = &migration.sql;
                sqlx::Executor::execute(&mut *connection, sql)
                    .await
                    .map_err(|e| {
                        place.error(&format!("applying migration {}", migration.version), e)
                    })?;
                sqlx::query(
                    "INSERT INTO _sqlx_migrations (version, description, success, checksum, \
                     execution_time) VALUES ($1, $2, TRUE, $3, $4)",
                )
                .bind(migration.version)
                .bind(migration.description.as_ref())
                .bind(migration.checksum.as_ref())
                .bind(i64::try_from(started.elapsed().as_nanos()).unwrap_or(i64::MAX))
                .execute(&mut *connection)
                .await
                .map_err(|e| place.error("recording a migration", e))?;
            }
            Ok(())
        }
    };
}

pub(crate) use migrate_fn;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_backends_know_the_same_versions() {
        let sqlite: Vec<i64> = sqlite_migrations().iter().map(|m| m.version).collect();
        let postgres: Vec<i64> = postgres_migrations().iter().map(|m| m.version).collect();
        assert_eq!(sqlite, postgres);
        assert_eq!(sqlite.iter().max(), Some(&SCHEMA_VERSION));
    }
}
