//! `kage backup PATH`: a consistent copy of the SQLite pool database,
//! taken online with SQLite's `VACUUM INTO` while other Kage processes keep
//! leasing. PostgreSQL pools are backed up with the server's own tools.

use std::path::PathBuf;

use clap::Args;
use kage_config::StorageBackend;

use crate::command::Context;
use crate::exit::UsageError;
use crate::output::json;

const EXAMPLES: &str = "\
Examples:
  kage backup ~/kage-$(date +%F).db
  kage backup /backups/kage.db && sqlite3 /backups/kage.db 'PRAGMA integrity_check'
  kage backup /backups/kage.db --json | jq .bytes";

#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub(crate) struct BackupArgs {
    /// The new file to write; it must not exist yet
    #[arg(value_name = "PATH")]
    path: PathBuf,

    /// Print the result as one JSON object on stdout (the database, the copy, its size)
    #[arg(long)]
    json: bool,
}

impl BackupArgs {
    pub(crate) async fn run(self, context: &Context<'_>) -> anyhow::Result<()> {
        let config = context.config()?;
        let database = match config.storage().backend()? {
            StorageBackend::Sqlite(database) => database,
            StorageBackend::Postgres(_) => {
                return Err(UsageError(
                    "kage backup copies a SQLite pool database; this pool lives in PostgreSQL, so back it up with pg_dump".to_owned(),
                )
                .into());
            }
        };
        if self.path.exists() {
            return Err(UsageError(format!(
                "{} already exists; kage backup writes a new file, so choose another path or move that one away",
                self.path.display()
            ))
            .into());
        }
        kage_app::pool::store::backup_sqlite(&database, &self.path).await?;
        context.printer.info(format_args!(
            "backed up {} to {}",
            database.display(),
            self.path.display()
        ));
        if self.json {
            let bytes = std::fs::metadata(&self.path).map_or(0, |metadata| metadata.len());
            context.printer.out(&json::document(&json::BackupJson {
                database: database.display().to_string(),
                backup: self.path.display().to_string(),
                bytes,
            }))?;
        }
        Ok(())
    }
}
