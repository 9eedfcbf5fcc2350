//! [`SqliteStore`]: the pool in one SQLite file, the default (nothing to
//! install or start).
//!
//! - The file (default `$XDG_DATA_HOME/kage/kage.db`) is created on first use
//!   with mode 0600, its folder with 0700. An existing file is read before
//!   SQLite touches it: a file that does not start with the SQLite header,
//!   or a SQLite database of another program, is refused and left as it was
//!   ([`StoreError::NotADatabase`]).
//! - Connections use WAL, `synchronous = NORMAL` (a commit is durable once
//!   the OS has written it; a crash of the process never loses it, a power
//!   cut may lose the last moments; the file is never corrupt), a busy
//!   timeout and foreign keys. A thread of its own checkpoints the WAL
//!   ([`checkpointer`]), so commits do not pay for checkpoints.
//! - Writes of one process go through one connection (they are serial in
//!   SQLite anyway): they queue in order in the process instead of polling
//!   SQLite's lock. Reads use up to four more connections, beside it.
//! - The hot paths, acquire and release, first run on the caller's thread
//!   through a connection of their own ([`direct`]) when the write lock is
//!   free: no hand-off to sqlx's connection thread, which costs more than
//!   the SQLite work on a small VM. When another process holds the lock
//!   they take the sqlx path, which waits for it on sqlx's thread in two
//!   round trips: `BEGIN IMMEDIATE` with the read, then the writes with
//!   `COMMIT`, as statement batches.
//! - Every write is one `BEGIN IMMEDIATE` transaction: it takes the file's
//!   write lock up front, so two processes never both read the last free
//!   slot of a capped subscription, and a transaction never has to upgrade
//!   from a read lock (the source of "database is locked" in WAL mode). When
//!   the lock stays busy past the busy timeout, `BEGIN IMMEDIATE` is retried
//!   a few times before [`StoreError::Busy`] is returned.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{ErrorKind, Read};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use kage_ports::StoreError;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection, Sqlite, SqliteConnection, Transaction};

use std::sync::{Arc, LazyLock};

use jiff::Timestamp;
use kage_domain::Selection;
use kage_ports::{
    AcquireLeaseRequest, AcquireOutcome, LeaseError, ReleaseLeaseRequest, ReleaseReport,
};
use sqlx::pool::PoolConnection;

use crate::codec::{LeaseWithSubscriptionRow, SnapshotRow, before, to_ms, truncate};
use crate::error::{Backend, Place, is_sqlite_busy};
use crate::lease;
use crate::schema;
use crate::store_impl::{SqlValue, bind_values, impl_subscription_store};

mod checkpointer;
mod direct;

use checkpointer::Checkpointer;
use direct::{Attempt, DirectWriter};

/// `PRAGMA application_id` of a Kage database: "KAGE" in ASCII.
pub const APPLICATION_ID: i32 = 0x4B41_4745;

const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// WAL pages after which a commit checkpoints by itself (SQLite's default
/// is 1000): the safety net for processes too short-lived to run the task.
const WAL_AUTOCHECKPOINT_PAGES: u32 = 10_000;
/// The WAL file is cut back to this size after a checkpoint.
const WAL_SIZE_LIMIT_BYTES: u64 = 64 * 1024 * 1024;

/// Tuning for [`SqliteStore::open_with`].
#[derive(Clone, Debug)]
pub struct SqliteOptions {
    /// How long one statement waits for another process's write lock.
    pub busy_timeout: Duration,
    /// How many more times `BEGIN IMMEDIATE` is tried after a busy timeout.
    pub busy_retries: u32,
    /// Read connections per process (writes use one more, their own).
    pub max_connections: u32,
    /// Run acquire and release on the caller's thread when the write lock
    /// is free, on a SQLite connection of its own (no hand-off to sqlx's
    /// connection thread); off, every write goes through sqlx.
    pub direct_hot_path: bool,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            busy_timeout: Duration::from_secs(5),
            busy_retries: 5,
            max_connections: 4,
            direct_hot_path: true,
        }
    }
}

/// The pool store in one SQLite file.
#[derive(Clone)]
pub struct SqliteStore {
    /// One connection for writes: writers of this process queue here (in
    /// order) rather than in SQLite's busy handler, and its page cache stays
    /// warm.
    writer: SqlitePool,
    /// Connections for reads, which WAL lets run beside the writer.
    pool: SqlitePool,
    /// Acquire and release on the caller's thread, when the lock is free.
    direct: Option<Arc<DirectWriter>>,
    place: Place,
    path: PathBuf,
    busy_retries: u32,
    /// Copies the WAL into the database, on a thread of its own, while a
    /// clone of the store is alive.
    checkpointer: Arc<Checkpointer>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// What was found at the database path.
enum FileState {
    /// Created just now, or empty: a new database.
    New,
    /// An existing SQLite file; `kage` when its header names Kage.
    Existing { kage: bool },
}

impl SqliteStore {
    /// Open (or create) the database at the default path,
    /// [`crate::default_database_path`].
    ///
    /// # Errors
    /// As [`SqliteStore::open`], and [`StoreError::Unavailable`] when neither
    /// `XDG_DATA_HOME` nor `HOME` is set.
    pub async fn open_default() -> Result<Self, StoreError> {
        Self::open(crate::default_database_path()?).await
    }

    /// Open (or create) the database file at `path`, applying pending
    /// migrations.
    ///
    /// # Errors
    /// [`StoreError::NotADatabase`] for a file that is not a Kage database
    /// (left untouched), [`StoreError::NewerSchema`] for one written by a
    /// newer Kage, [`StoreError::Unavailable`] when the file or its folder
    /// cannot be created, read or written.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path, SqliteOptions::default()).await
    }

    /// [`SqliteStore::open`] with explicit tuning.
    ///
    /// # Errors
    /// As [`SqliteStore::open`].
    pub async fn open_with(
        path: impl AsRef<Path>,
        options: SqliteOptions,
    ) -> Result<Self, StoreError> {
        // Boxed as `Send` here, where the compiler can prove it, so callers
        // can spawn the future.
        let opening: crate::BoxedOpen<'_, Self> =
            Box::pin(Self::open_inner(path.as_ref().to_path_buf(), options));
        opening.await
    }

    async fn open_inner(path: PathBuf, options: SqliteOptions) -> Result<Self, StoreError> {
        let place = Place {
            backend: Backend::Sqlite,
            location: path.display().to_string(),
            busy_timeout: options.busy_timeout,
        };
        match prepare_file(&path, &place)? {
            FileState::Existing { kage: false } => probe(&path, &place, &options).await?,
            FileState::Existing { kage: true } | FileState::New => {}
        }
        let connect = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(false)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(options.busy_timeout)
            .foreign_keys(true)
            // Commits do not checkpoint: a thread of its own does (see
            // `checkpointer`); this only bounds the WAL if it cannot keep up.
            .pragma("wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES.to_string())
            .pragma("journal_size_limit", WAL_SIZE_LIMIT_BYTES.to_string());
        let acquire_timeout = options
            .busy_timeout
            .saturating_mul(options.busy_retries + 2);
        let pool_options = |connections: u32| {
            SqlitePoolOptions::new()
                .max_connections(connections.max(1))
                .min_connections(0)
                .test_before_acquire(false)
                .acquire_timeout(acquire_timeout)
        };
        // Turning a new file to WAL takes a lock the busy timeout cannot wait
        // for; a few processes opening a new file at once retry.
        let mut attempt = 0;
        let writer = loop {
            match pool_options(1).connect_with(connect.clone()).await {
                Ok(pool) => break pool,
                Err(error) if is_sqlite_busy(&error) && attempt < options.busy_retries * 10 => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(error) => return Err(place.error("opening the database", error)),
            }
        };
        let pool = pool_options(options.max_connections).connect_lazy_with(connect);
        let checkpointer = Arc::new(Checkpointer::start(&path, &place)?);
        let store = Self {
            writer,
            pool,
            direct: None,
            place,
            path,
            busy_retries: options.busy_retries,
            checkpointer,
        };
        let mut tx = store.begin_write("applying the schema migrations").await?;
        migrate(&mut tx, &store.place).await?;
        tx.commit()
            .await
            .map_err(|e| store.place.error("applying the schema migrations", e))?;
        if !options.direct_hot_path {
            return Ok(store);
        }
        let direct = DirectWriter::open(
            &store.path,
            &store.place,
            WAL_AUTOCHECKPOINT_PAGES,
            WAL_SIZE_LIMIT_BYTES,
        )?;
        Ok(Self {
            direct: Some(Arc::new(direct)),
            ..store
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Write a consistent copy of the database to `target`, a file that
    /// must not exist yet (SQLite's `VACUUM INTO`: online, other processes
    /// keep reading and writing, the copy is compact and has no WAL).
    ///
    /// # Errors
    /// `target` exists or cannot be written.
    pub async fn backup(&self, target: &Path) -> Result<(), StoreError> {
        let target = target.to_string_lossy().into_owned();
        sqlx::query("VACUUM INTO ?1")
            .bind(&target)
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(|e| self.place.error(&format!("backing up to {target}"), e))
    }

    /// Close every connection (the last one checkpoints the WAL).
    pub async fn close(&self) {
        self.checkpointer.stop();
        if let Some(direct) = &self.direct {
            direct.close();
        }
        self.pool.close().await;
        self.writer.close().await;
    }

    fn place(&self) -> &Place {
        &self.place
    }

    fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// `BEGIN IMMEDIATE`, retried when the write lock stays busy.
    async fn begin_write(&self, what: &str) -> Result<Transaction<'static, Sqlite>, StoreError> {
        let mut attempt = 0;
        loop {
            match self.writer.begin_with("BEGIN IMMEDIATE").await {
                Ok(tx) => return Ok(tx),
                Err(error) if is_sqlite_busy(&error) && attempt < self.busy_retries => {
                    attempt += 1;
                    tracing::debug!(%what, attempt, "the database stayed busy; trying again");
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err(error) if is_sqlite_busy(&error) => {
                    let waited = self
                        .place
                        .busy_timeout
                        .saturating_mul(attempt + 1)
                        .as_secs();
                    return Err(StoreError::Busy {
                        location: self.place.location.clone(),
                        seconds: waited.max(1),
                    });
                }
                Err(error) => return Err(self.place.error(what, error)),
            }
        }
    }

    /// SQLite write transactions are serial already.
    async fn lock_usage_records(
        &self,
        _tx: &mut Transaction<'static, Sqlite>,
        _what: &str,
    ) -> Result<(), StoreError> {
        Ok(())
    }
}

schema::migrate_fn!(
    SqliteConnection,
    schema::sqlite_migrations(),
    create_table = "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
        version BIGINT PRIMARY KEY,
        description TEXT NOT NULL,
        installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
        success BOOLEAN NOT NULL,
        checksum BLOB NOT NULL,
        execution_time BIGINT NOT NULL
    )"
);

impl_subscription_store!(
    SqliteStore,
    Sqlite,
    SqliteConnection,
    lock_lease = "",
    lock_subscription = "",
);

/// `BEGIN IMMEDIATE` and the pool snapshot, in one round trip.
static BEGIN_SNAPSHOT_SQL: LazyLock<String> =
    LazyLock::new(|| format!("BEGIN IMMEDIATE; {SNAPSHOT_SQL}"));

/// `BEGIN IMMEDIATE` and the lease to release with its subscription.
static BEGIN_LEASE_SQL: LazyLock<String> =
    LazyLock::new(|| format!("BEGIN IMMEDIATE; {LEASE_FOR_CHANGE_SQL}"));

/// The granted lease; no change when a retried acquire already took its id.
const INSERT_LEASE_SQL: &str = "INSERT INTO leases (id, subscription_id, namespace, level, \
    holder, acquired_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
    ON CONFLICT (id) DO NOTHING";

/// The granted lease and the commit, in one round trip (no row back: the
/// lease id was taken by a retried acquire).
static INSERT_LEASE_COMMIT_SQL: LazyLock<String> =
    LazyLock::new(|| format!("{INSERT_LEASE_SQL} RETURNING id; COMMIT"));

// The writes of a release, numbered as one argument list: $1 lease, $2 now,
// $3..$5 outcome, $6 subscription, $7..$13 usage, $14..$21 health,
// $22..$25 transition.
const RELEASE_LEASE_SQL: &str = "UPDATE leases SET released_at = $2, outcome = $3, \
    outcome_detail = $4, was_expired = $5 WHERE id = $1 AND released_at IS NULL; ";
const RELEASE_USAGE_SQL: &str = "INSERT INTO usage_records (lease_id, subscription_id, at, \
    input_tokens, output_tokens, cache_write_tokens, cache_read_tokens, total_tokens, cost_micros, \
    model) VALUES ($1, $6, $2, $7, $8, $9, $10, $11, $12, $13); ";
const RELEASE_HEALTH_SQL: &str = "UPDATE subscriptions SET state = $14, state_until = $15, \
    state_reason = $16, consecutive_errors = $17, unhealthy_relapses = $18, last_utilization = $19, \
    last_utilization_at = $20, last_limited_at = $21 WHERE id = $6; ";
const RELEASE_EVENT_SQL: &str = "INSERT INTO state_events (subscription_id, at, from_state, \
    to_state, until, reason, lease_id) VALUES ($6, $2, $22, $23, $24, $25, $1); ";

/// Every combination of a release's writes, then `COMMIT`: bit 1 usage,
/// bit 2 health, bit 4 transition.
static RELEASE_COMMIT_SQL: LazyLock<Vec<String>> = LazyLock::new(|| {
    (0..8)
        .map(|parts: u8| {
            let mut sql = RELEASE_LEASE_SQL.to_owned();
            for (bit, part) in [
                (1, RELEASE_USAGE_SQL),
                (2, RELEASE_HEALTH_SQL),
                (4, RELEASE_EVENT_SQL),
            ] {
                if parts & bit != 0 {
                    sql.push_str(part);
                }
            }
            sql.push_str("COMMIT");
            sql
        })
        .collect()
});

/// The writer connection with a transaction begun by hand, so that a batch
/// of statements can begin or commit it in the same round trip to the
/// connection's thread. Dropped while the transaction may be open (an error,
/// or a cancelled future), the connection is closed, which rolls it back.
struct Writer {
    connection: PoolConnection<Sqlite>,
    open: bool,
}

impl Drop for Writer {
    fn drop(&mut self) {
        if self.open {
            self.connection.close_on_drop();
        }
    }
}

impl Writer {
    /// Roll back, or leave the connection to be closed.
    async fn rollback(&mut self) {
        if !self.open {
            return;
        }
        match sqlx::query("ROLLBACK").execute(&mut *self.connection).await {
            Ok(_) => self.open = false,
            Err(error) if error.to_string().contains("no transaction is active") => {
                self.open = false
            }
            Err(_) => {}
        }
    }
}

impl SqliteStore {
    /// Take the writer connection and run `BEGIN IMMEDIATE; <select>` in one
    /// round trip, retrying while the write lock stays busy.
    async fn begin_batch<O>(
        &self,
        what: &str,
        sql: &'static str,
        binds: &[SqlValue],
    ) -> Result<(Writer, Vec<O>), StoreError>
    where
        O: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> + Send + Unpin,
    {
        let connection = self
            .writer
            .acquire()
            .await
            .map_err(|e| self.place.error(what, e))?;
        let mut writer = Writer {
            connection,
            open: false,
        };
        let mut attempt = 0;
        loop {
            let query = bind_values!(sqlx::query_as::<_, O>(sql), binds);
            writer.open = true;
            match query.fetch_all(&mut *writer.connection).await {
                Ok(rows) => return Ok((writer, rows)),
                // `BEGIN IMMEDIATE` itself was refused: no transaction.
                Err(error) if is_sqlite_busy(&error) => {
                    writer.open = false;
                    if attempt >= self.busy_retries {
                        let waited = self
                            .place
                            .busy_timeout
                            .saturating_mul(attempt + 1)
                            .as_secs();
                        return Err(StoreError::Busy {
                            location: self.place.location.clone(),
                            seconds: waited.max(1),
                        });
                    }
                    attempt += 1;
                    tracing::debug!(%what, attempt, "the database stayed busy; trying again");
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err(error) => {
                    writer.rollback().await;
                    return Err(self.place.error(what, error));
                }
            }
        }
    }

    /// Acquire in two round trips: `BEGIN IMMEDIATE` + snapshot, then the
    /// lease + `COMMIT`.
    async fn acquire_lease_impl(
        &self,
        request: &AcquireLeaseRequest,
        now: Timestamp,
    ) -> Result<AcquireOutcome, StoreError> {
        let now = truncate(now);
        let lease_id = request.lease_id;
        let what = format!("acquiring lease {lease_id}");
        if let Some(direct) = &self.direct
            && let Attempt::Done(outcome) = direct.acquire(request, now, &what)?
        {
            yield_after_direct().await;
            return Ok(outcome);
        }
        let window_start = before(now, request.policy.rate_limit_window);
        let (mut writer, rows) = self
            .begin_batch::<SnapshotRow>(
                &what,
                BEGIN_SNAPSHOT_SQL.as_str(),
                &[
                    SqlValue::Int(Some(to_ms(now))),
                    SqlValue::Int(Some(to_ms(window_start))),
                ],
            )
            .await?;
        let snapshot = match lease::snapshot_from_rows(rows) {
            Ok(snapshot) => snapshot,
            Err(error) => {
                writer.rollback().await;
                return Err(error);
            }
        };
        let selection = lease::select(&snapshot, request, now);
        let index = match selection {
            Selection::Chosen { index, .. } => index,
            Selection::Unavailable {
                earliest_recovery,
                passed_over,
            } => {
                // A retried acquire whose first try was granted (and now
                // fills the pool) gets that lease.
                let existing = self.fetch_lease(&mut writer.connection, lease_id).await;
                writer.rollback().await;
                if let Some(lease) = existing? {
                    return Ok(AcquireOutcome::Granted(lease));
                }
                return Ok(lease::unavailable(
                    &snapshot,
                    earliest_recovery,
                    passed_over,
                ));
            }
        };
        let lease = lease::new_lease(request, &snapshot.entries[index].subscription, now);
        let inserted: Result<Vec<(String,)>, sqlx::Error> =
            sqlx::query_as(INSERT_LEASE_COMMIT_SQL.as_str())
                .bind(lease_id.to_string())
                .bind(lease.subscription_id.to_string())
                .bind(lease.namespace.as_ref().map(|namespace| namespace.as_str()))
                .bind(lease.level.as_str())
                .bind(lease.holder.as_str())
                .bind(to_ms(lease.acquired_at))
                .bind(to_ms(lease.expires_at))
                .fetch_all(&mut *writer.connection)
                .await;
        let inserted = match inserted {
            Ok(inserted) => {
                writer.open = false;
                inserted
            }
            Err(error) => {
                writer.rollback().await;
                return Err(self.place.error(&what, error));
            }
        };
        drop(writer);
        if inserted.is_empty() {
            // A retried acquire: the lease exists; grant it again rather
            // than a second one.
            let mut reader = self
                .pool
                .acquire()
                .await
                .map_err(|e| self.place.error(&what, e))?;
            return self
                .fetch_lease(&mut reader, lease_id)
                .await?
                .map(AcquireOutcome::Granted)
                .ok_or_else(|| {
                    StoreError::Unknown(anyhow::anyhow!(
                        "{what}: the lease id is taken but its lease cannot be read"
                    ))
                });
        }
        Ok(AcquireOutcome::Granted(lease))
    }

    /// Release in two round trips: `BEGIN IMMEDIATE` + the lease, then every
    /// write + `COMMIT`.
    async fn release_lease_impl(
        &self,
        request: &ReleaseLeaseRequest,
        now: Timestamp,
    ) -> Result<ReleaseReport, LeaseError> {
        let now = truncate(now);
        let id = request.lease_id;
        let what = format!("releasing lease {id}");
        if let Some(direct) = &self.direct
            && let Attempt::Done(report) = direct.release(request, now, &what)?
        {
            yield_after_direct().await;
            return Ok(report);
        }
        let (mut writer, mut rows) = self
            .begin_batch::<LeaseWithSubscriptionRow>(
                &what,
                BEGIN_LEASE_SQL.as_str(),
                &[SqlValue::Text(Some(id.to_string()))],
            )
            .await?;
        let Some(row) = rows.pop() else {
            writer.rollback().await;
            return Err(LeaseError::NotFound(id));
        };
        let decoded = row
            .lease
            .into_domain()
            .and_then(|lease| Ok((lease, row.subscription.into_domain()?)));
        let (mut lease, subscription) = match decoded {
            Ok(decoded) => decoded,
            Err(error) => {
                writer.rollback().await;
                return Err(error.into());
            }
        };
        if lease.released_at.is_some() {
            // Retried after a timeout: the first release counted everything.
            writer.rollback().await;
            return Err(LeaseError::AlreadyReleased(id));
        }
        let plan = crate::store_impl::ReleasePlan::new(&lease, &subscription, request, now);
        let values = plan.values(request, now, &subscription);
        let written = bind_values!(sqlx::query(&RELEASE_COMMIT_SQL[plan.parts]), &values)
            .execute(&mut *writer.connection)
            .await;
        match written {
            Ok(_) => writer.open = false,
            Err(error) => {
                writer.rollback().await;
                return Err(self.place.error(&what, error).into());
            }
        }
        lease.released_at = Some(now);
        Ok(ReleaseReport {
            lease,
            transition: plan.result.transition,
            was_expired: plan.was_expired,
        })
    }
}

/// Let the runtime run its other tasks once. The direct path never waits, so
/// without this a caller acquiring and releasing in a loop would never give
/// the runtime back, and on a single-threaded runtime every other task
/// (timers, heartbeats, the agents' output) would starve.
async fn yield_after_direct() {
    tokio::task::yield_now().await;
}

/// Make the folder and the file if needed, and look at an existing file's
/// header without letting SQLite touch it.
fn prepare_file(path: &Path, place: &Place) -> Result<FileState, StoreError> {
    let unavailable = |detail: String| StoreError::Unavailable {
        location: place.location.clone(),
        detail,
    };
    if path.is_dir() {
        return Err(StoreError::NotADatabase {
            location: place.location.clone(),
            detail: "it is a folder".to_owned(),
        });
    }
    if let Some(folder) = path
        .parent()
        .filter(|folder| !folder.as_os_str().is_empty())
    {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(folder)
            .map_err(|error| {
                unavailable(format!(
                    "cannot create its folder {}: {error}",
                    folder.display()
                ))
            })?;
    }
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => return Ok(FileState::New),
        Err(error) if error.kind() == ErrorKind::AlreadyExists => {}
        Err(error) => return Err(unavailable(format!("cannot create the file: {error}"))),
    }
    let mut header = Vec::with_capacity(100);
    File::open(path)
        .and_then(|file| file.take(100).read_to_end(&mut header))
        .map_err(|error| unavailable(format!("cannot read the file: {error}")))?;
    if header.is_empty() {
        return Ok(FileState::New);
    }
    if !header.starts_with(SQLITE_HEADER) {
        return Err(StoreError::NotADatabase {
            location: place.location.clone(),
            detail: "the file does not start with the SQLite header".to_owned(),
        });
    }
    let kage = header.get(68..72) == Some(&APPLICATION_ID.to_be_bytes()[..]);
    Ok(FileState::Existing { kage })
}

/// Look inside an existing SQLite file (without changing its journal mode)
/// and refuse it unless it is empty or Kage's.
async fn probe(path: &Path, place: &Place, options: &SqliteOptions) -> Result<(), StoreError> {
    let not_ours = |detail: String| StoreError::NotADatabase {
        location: place.location.clone(),
        detail,
    };
    let connect = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(false)
        .busy_timeout(options.busy_timeout);
    let mut connection = SqliteConnection::connect_with(&connect)
        .await
        .map_err(|e| place.error("opening the database", e))?;
    let read = async {
        let application_id: i64 = sqlx::query_scalar("PRAGMA application_id")
            .fetch_one(&mut connection)
            .await?;
        let (tables, kage_tables): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), \
                    COALESCE(SUM(type = 'table' AND name IN ('_sqlx_migrations', 'subscriptions')), 0) \
             FROM sqlite_master",
        )
        .fetch_one(&mut connection)
        .await?;
        let applied: Vec<(i64, Vec<u8>, bool)> = if kage_tables == 2 {
            sqlx::query_as("SELECT version, checksum, success FROM _sqlx_migrations")
                .fetch_all(&mut connection)
                .await?
        } else {
            Vec::new()
        };
        Ok::<_, sqlx::Error>((application_id, tables, kage_tables, applied))
    }
    .await;
    let _ = connection.close().await;
    let (application_id, tables, kage_tables, applied) =
        read.map_err(|e| place.error("reading the database", e))?;
    if application_id == i64::from(APPLICATION_ID) {
        return Ok(());
    }
    if application_id != 0 {
        return Err(not_ours(format!(
            "it is a SQLite database of another program (application id {application_id:#x})"
        )));
    }
    if tables == 0 {
        return Ok(());
    }
    if kage_tables == 2 {
        // An older Kage's file (before the application id) has Kage's
        // migrations; another program's `_sqlx_migrations` is refused here,
        // before the journal mode or anything else is changed.
        let applied: Vec<schema::Applied> = applied
            .into_iter()
            .map(|(version, checksum, success)| schema::Applied {
                version,
                checksum,
                success,
            })
            .collect();
        return match schema::check_applied(&applied, schema::sqlite_migrations(), place) {
            Ok(()) => Ok(()),
            Err(newer @ StoreError::NewerSchema { .. }) => Err(newer),
            Err(_) => Err(not_ours(
                "it is a SQLite database of another program (its sqlx migrations are not Kage's)"
                    .to_owned(),
            )),
        };
    }
    Err(not_ours(format!(
        "it is a SQLite database of another program ({tables} tables, views, indexes or triggers, not Kage's)"
    )))
}
