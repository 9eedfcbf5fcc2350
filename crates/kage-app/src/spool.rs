//! Usage that could not be released is never lost: a release that fails on
//! a database that cannot be written (a full disk) is retried with backoff
//! until it lands or the lease's TTL passes; if it still fails, the lease id
//! and its usage go to a small spool file beside the SQLite database
//! (`kage.db.spool`, one JSON line per release), and the next Kage process
//! that opens the pool replays them. A replay is a release of that lease id,
//! which the store does at most once, so a spooled usage is counted exactly
//! once even when two processes replay at the same time. The file is locked
//! while it is appended to or replayed.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::time::Duration;

use kage_config::{Config, StorageBackend};
use kage_core::{Pool, ReleaseRequest};
use kage_domain::{ErrorKind, LeaseId, Outcome, Usage};
use kage_ports::{Clock, LeaseError, ReleaseReport, SecretStore, StoreError, SubscriptionStore};
use serde::{Deserialize, Serialize};

/// The first pause between release attempts; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(200);
const MAX_PAUSE: Duration = Duration::from_secs(5);

/// Below this much free space on the database's disk no new lease is
/// granted, so that the leases already out can still be released.
pub const MIN_FREE_BYTES: u64 = 256 * 1024;

/// Whether `free` bytes leave room for a new lease.
fn has_room(free: u64) -> bool {
    free >= MIN_FREE_BYTES
}

/// One release that did not land.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
struct Spooled {
    lease_id: String,
    input_tokens: u64,
    output_tokens: u64,
    cache_write_tokens: u64,
    cache_read_tokens: u64,
    cost_micros_usd: Option<u64>,
    model: Option<String>,
}

/// The spool of one pool: beside its SQLite file. A PostgreSQL pool has
/// none (its server's disk is not ours to watch).
#[derive(Clone, Debug)]
pub struct Spool {
    path: PathBuf,
}

/// Whether a release failed because the database could not take the write
/// now (worth retrying and spooling), not because of the lease itself.
fn is_transient(error: &LeaseError) -> bool {
    matches!(
        error,
        LeaseError::Store(
            StoreError::WriteFailed { .. }
                | StoreError::Busy { .. }
                | StoreError::Unavailable { .. }
        )
    )
}

impl Spool {
    /// The spool of the pool `config` names, if it is a SQLite pool.
    pub fn for_config(config: &Config) -> Option<Self> {
        match config.storage().backend().ok()? {
            StorageBackend::Sqlite(path) => {
                let mut name = path.file_name()?.to_os_string();
                name.push(".spool");
                Some(Self {
                    path: path.with_file_name(name),
                })
            }
            StorageBackend::Postgres(_) => None,
        }
    }

    /// Refuse a new lease when the disk holding the database is nearly full:
    /// the leases already out must still be releasable. Unknown free space
    /// (the file system does not say) lets the lease through.
    ///
    /// # Errors
    /// Less than [`MIN_FREE_BYTES`] are free.
    pub fn check_room(&self) -> anyhow::Result<()> {
        let folder = self
            .path
            .parent()
            .filter(|folder| !folder.as_os_str().is_empty())
            .unwrap_or_else(|| std::path::Path::new("."));
        let Ok(stats) = nix::sys::statvfs::statvfs(folder) else {
            return Ok(());
        };
        let free = stats
            .blocks_available()
            .saturating_mul(stats.fragment_size());
        if has_room(free) {
            return Ok(());
        }
        Err(crate::exit::Unavailable {
            message: format!(
                "the disk holding the pool database ({}) is nearly full ({free} bytes free); no new lease is granted so that the leases already out can be released; free some space and try again",
                folder.display()
            ),
        }
        .into())
    }

    fn open(&self) -> io::Result<File> {
        OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&self.path)
    }

    /// Keep `usage` of `lease_id` for the next process to release.
    ///
    /// # Errors
    /// The spool file cannot be written either.
    pub fn save(&self, lease_id: LeaseId, usage: &Usage) -> io::Result<()> {
        let entry = Spooled {
            lease_id: lease_id.to_string(),
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
            cache_write_tokens: usage.cache_write_tokens,
            cache_read_tokens: usage.cache_read_tokens,
            cost_micros_usd: usage.cost_micros_usd,
            model: usage.model.clone(),
        };
        let mut line = serde_json::to_string(&entry).map_err(io::Error::other)?;
        line.push('\n');
        let mut file = self.open()?;
        file.lock()?;
        file.write_all(line.as_bytes())?;
        file.sync_all()
    }

    /// Release every spooled lease with its usage; entries that land (or
    /// whose lease was already released or is gone) leave the spool.
    /// Returns how many were recorded now.
    pub async fn replay<S, K, C>(&self, pool: &Pool<S, K, C>) -> usize
    where
        S: SubscriptionStore,
        K: SecretStore,
        C: Clock,
    {
        if !self.path.exists() {
            return 0;
        }
        let Ok(mut file) = self.open() else { return 0 };
        if file.lock().is_err() {
            return 0;
        }
        let entries: Vec<Spooled> = BufReader::new(&file)
            .lines()
            .map_while(Result::ok)
            .filter_map(|line| serde_json::from_str(&line).ok())
            .collect();
        let mut kept = Vec::new();
        let mut recorded = 0;
        for entry in entries {
            let Ok(lease_id) = entry.lease_id.parse::<LeaseId>() else {
                continue;
            };
            let usage = Usage {
                input_tokens: entry.input_tokens,
                output_tokens: entry.output_tokens,
                cache_write_tokens: entry.cache_write_tokens,
                cache_read_tokens: entry.cache_read_tokens,
                cost_micros_usd: entry.cost_micros_usd,
                model: entry.model.clone(),
            };
            match pool.release(replayed(lease_id, usage)).await {
                Ok(_) => recorded += 1,
                Err(LeaseError::AlreadyReleased(_) | LeaseError::NotFound(_)) => {}
                Err(error) => {
                    tracing::warn!(lease = %lease_id, %error, "a spooled release still does not land; it stays in the spool");
                    kept.push(entry);
                }
            }
        }
        let mut rewrite = || -> io::Result<()> {
            file.set_len(0)?;
            file.rewind()?;
            for entry in &kept {
                let mut line = serde_json::to_string(entry).map_err(io::Error::other)?;
                line.push('\n');
                file.write_all(line.as_bytes())?;
            }
            file.sync_all()
        };
        if let Err(error) = rewrite() {
            tracing::warn!(%error, spool = %self.path.display(), "could not rewrite the release spool");
        }
        if kept.is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
        recorded
    }
}

/// A spooled release: its usage, and an outcome that says nothing about the
/// subscription (the real one was not kept).
fn replayed(lease_id: LeaseId, usage: Usage) -> ReleaseRequest {
    ReleaseRequest {
        lease_id,
        outcome: Outcome::Error {
            kind: ErrorKind::Agent,
            detail: "released from the spool after a failed write".to_owned(),
        },
        usage,
    }
}

/// Release, retrying with backoff while the database cannot take the write,
/// for up to `patience` (the lease's TTL); if it never lands, spool the
/// usage (when there is a spool) and return the last error.
///
/// # Errors
/// The release failed for good; the message says whether the usage was
/// spooled.
pub async fn release_with_retry<S, K, C>(
    pool: &Pool<S, K, C>,
    request: ReleaseRequest,
    patience: Duration,
    spool: Option<&Spool>,
) -> Result<ReleaseReport, anyhow::Error>
where
    S: SubscriptionStore,
    K: SecretStore,
    C: Clock,
{
    let deadline = tokio::time::Instant::now() + patience;
    let mut pause = FIRST_PAUSE;
    loop {
        match pool.release(request.clone()).await {
            Ok(report) => return Ok(report),
            Err(error)
                if is_transient(&error) && tokio::time::Instant::now() + pause < deadline =>
            {
                tracing::warn!(lease = %request.lease_id, %error, "release failed; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_PAUSE);
            }
            Err(error) if is_transient(&error) => {
                let Some(spool) = spool else {
                    return Err(anyhow::Error::new(error));
                };
                return match spool.save(request.lease_id, &request.usage) {
                    Ok(()) => Err(anyhow::Error::new(error).context(format!(
                        "the usage was kept in {} and is recorded by the next kage that opens the pool",
                        spool.path.display()
                    ))),
                    Err(spool_error) => Err(anyhow::Error::new(error)
                        .context(format!("the usage could not be kept either ({spool_error})"))),
                };
            }
            Err(error) => return Err(anyhow::Error::new(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_leases_need_room_for_the_releases() {
        assert!(!has_room(0));
        assert!(!has_room(MIN_FREE_BYTES - 1));
        assert!(has_room(MIN_FREE_BYTES));
    }
}
