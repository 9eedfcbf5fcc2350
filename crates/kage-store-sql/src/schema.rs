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

use crate::db::Db;
use crate::error::Place;
use crate::sql;

/// The newest schema version this Kage knows (the same on both backends).
pub const SCHEMA_VERSION: i64 = 10;

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

/// Create sqlx's table (`create_table`) if needed, check the versions,
/// apply what is pending, and commit `tx`: a write transaction that holds
/// the backend's migration lock.
pub(crate) async fn migrate<DB: Db>(
    mut tx: sqlx::Transaction<'static, DB>,
    migrator: &Migrator,
    create_table: &str,
    place: &Place,
) -> Result<(), StoreError> {
    let what = "applying the schema migrations";
    let connection: &mut DB::Connection = &mut tx;
    DB::execute_script(create_table, connection)
        .await
        .map_err(|e| place.error(what, e))?;
    let rows = DB::fetch_all(sqlx::query(sql::APPLIED_MIGRATIONS), connection)
        .await
        .map_err(|e| place.error(what, e))?;
    let applied = rows
        .iter()
        .map(|row| {
            Ok(Applied {
                version: DB::int(row, "version")?.unwrap_or_default(),
                checksum: DB::bytes(row, "checksum")?,
                success: DB::boolean(row, "success")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(|e| place.error(what, e))?;
    check_applied(&applied, migrator, place)?;
    for migration in migrator.iter() {
        if migration.migration_type.is_down_migration()
            || applied.iter().any(|row| row.version == migration.version)
        {
            continue;
        }
        let started = std::time::Instant::now();
        DB::execute_script(&migration.sql, connection)
            .await
            .map_err(|e| place.error(&format!("applying migration {}", migration.version), e))?;
        let statement = DB::bind_int(sqlx::query(sql::RECORD_MIGRATION), Some(migration.version));
        let statement = DB::bind_text(statement, Some(migration.description.to_string()));
        let statement = DB::bind_bytes(statement, migration.checksum.to_vec());
        let elapsed = i64::try_from(started.elapsed().as_nanos()).unwrap_or(i64::MAX);
        DB::execute(DB::bind_int(statement, Some(elapsed)), connection)
            .await
            .map_err(|e| place.error("recording a migration", e))?;
    }
    tx.commit().await.map_err(|e| place.error(what, e))
}

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
