//! The WAL checkpointer of [`super::SqliteStore`]: a thread of its own with
//! a connection of its own, so that no commit pays for copying the WAL into
//! the database, and no caller ever waits for it.
//!
//! It runs on an OS thread rather than as a task on the caller's runtime:
//! a checkpoint holds its connection for as long as the copy and the sync
//! take (tens of milliseconds under load), and a task on a sqlx connection
//! made the caller's thread wait for that connection's lock when it dropped
//! the result (measured: a ~100 ms stall every ~250 ms on a single-threaded
//! runtime). A thread that shares nothing with callers cannot stall them.
//!
//! Under constant writes the log never starts over by itself: it restarts
//! only when a write begins with every page already copied, and a copy
//! running beside the writers never catches the last ones. Left alone it
//! grows to `wal_autocheckpoint` pages, and the commit that crosses the line
//! copies the rest on its caller's thread. So once the log is long, the
//! checkpointer copies again while each pass shrinks what is left, then
//! copies the last few pages with `RESTART`, which holds new writers off for
//! those pages only and lets the next write start the log from the
//! beginning.

use std::path::Path;
use std::sync::Mutex;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::time::Duration;

use kage_ports::StoreError;
use rusqlite::{Connection, OpenFlags};

use crate::error::Place;

/// How often the log is copied into the database while it is short.
const EVERY: Duration = Duration::from_millis(200);
/// How often while writes keep it long.
const EVERY_WHILE_LONG: Duration = Duration::from_millis(20);
/// WAL pages from which the log is restarted: far below the commits' own
/// `wal_autocheckpoint`, so that a commit never has to.
const RESTART_LOG_AT_PAGES: i64 = 1_000;
/// Pages left to copy under which a `RESTART` holds writers off only
/// briefly.
const RESTART_WHEN_LEFT_PAGES: i64 = 500;
/// Copy passes one round may make while writers keep adding pages.
const PASSES: usize = 6;
/// How long a `RESTART` waits for the current writer and readers.
const RESTART_BUSY_TIMEOUT: Duration = Duration::from_millis(100);

/// Stops the thread when dropped (with the last clone of the store) or
/// closed.
pub(super) struct Checkpointer {
    stop: Mutex<Option<Sender<()>>>,
}

impl Checkpointer {
    /// Start checkpointing the database at `path` (already in WAL mode).
    pub(super) fn start(path: &Path, place: &Place) -> Result<Self, StoreError> {
        let what = "opening the database for checkpoints";
        let error = |e: rusqlite::Error| super::direct::sqlite_error(place, what, &e);
        let connection = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(error)?;
        connection
            .busy_timeout(RESTART_BUSY_TIMEOUT)
            .map_err(error)?;
        connection
            .execute_batch("PRAGMA synchronous = NORMAL")
            .map_err(error)?;
        let (stop, stopped) = mpsc::channel::<()>();
        let location = place.location.clone();
        std::thread::Builder::new()
            .name("kage-sqlite-checkpoint".to_owned())
            .spawn(move || {
                let mut pause = EVERY;
                // A stop message, or the store gone (the sender dropped).
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(pause) {
                    pause = match checkpoint(&connection) {
                        Ok(Log::Short) => EVERY,
                        Ok(Log::Long) => EVERY_WHILE_LONG,
                        Err(error) => {
                            tracing::debug!(%location, %error, "background checkpoint failed; the next one will try again");
                            EVERY
                        }
                    };
                }
            })
            .map_err(|e| StoreError::Unavailable {
                location: place.location.clone(),
                detail: format!("starting the WAL checkpoint thread: {e}"),
            })?;
        Ok(Self {
            stop: Mutex::new(Some(stop)),
        })
    }

    /// Stop the thread (it closes its connection after the copy under way).
    pub(super) fn stop(&self) {
        let mut stop = self
            .stop
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        drop(stop.take());
    }
}

/// How long the WAL was after a round of checkpoints.
enum Log {
    Short,
    Long,
}

/// One round: copy the log beside the writers (`PASSIVE`), and restart it
/// once it is long (see the module doc).
fn checkpoint(connection: &Connection) -> rusqlite::Result<Log> {
    for _ in 0..PASSES {
        // (busy, pages in the log, pages copied); -1s when not in WAL mode.
        let (log, copied): (i64, i64) =
            connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
                Ok((row.get(1)?, row.get(2)?))
            })?;
        if log < RESTART_LOG_AT_PAGES {
            return Ok(Log::Short);
        }
        if log - copied <= RESTART_WHEN_LEFT_PAGES {
            connection.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()))?;
            return Ok(Log::Short);
        }
    }
    Ok(Log::Long)
}
