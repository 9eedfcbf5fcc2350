//! [`SqliteStore`]: the pool in one SQLite file, the default (nothing to
//! install or start).
//!
//! - The file is created on first use with mode 0600, its folder with 0700.
//!   An existing file is read before SQLite touches it: a file that does not
//!   start with the SQLite header, or a SQLite database of another program,
//!   is refused and left as it was ([`StoreError::NotADatabase`]).
//! - Connections use WAL, `synchronous = NORMAL` (a commit is durable once
//!   the OS has written it; a crash of the process never loses it, a power
//!   cut may lose the last moments; the file is never corrupt), a busy
//!   timeout and foreign keys. SQLite checkpoints the WAL itself, in the
//!   commit that crosses [`WAL_AUTOCHECKPOINT_PAGES`].
//! - Every write goes through sqlx, on one connection per process (writes
//!   are serial in SQLite anyway): writers of a process queue in order in
//!   the process instead of polling SQLite's lock. Reads use up to four more
//!   connections, beside it.
//! - Every write is one `BEGIN IMMEDIATE` transaction: it takes the file's
//!   write lock up front, so two processes never both read the last free
//!   slot of a capped subscription, and a transaction never has to upgrade
//!   from a read lock (the source of "database is locked" in WAL mode). When
//!   the lock stays busy past the busy timeout, `BEGIN IMMEDIATE` is retried
//!   a few times before [`StoreError::Busy`] is returned.

mod sql;

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{ErrorKind, Read};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use kage_domain::Selection;
use kage_ports::{
    AcquireLeaseRequest, AcquireOutcome, Clock, LeaseError, ReleaseLeaseRequest, ReleaseReport,
    StoreError,
};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection, Pool, Row, Sqlite, SqliteConnection, Transaction};

use crate::codec::{to_ms, truncate};
use crate::common::{self, Backend, ReleasePlan};
use crate::error::{Backend as Kind, Place, is_sqlite_busy};
use crate::lease;
use crate::lock_clock::LockClock;
use crate::schema;
use crate::store::Store;

/// `PRAGMA application_id` of a Kage database: "KAGE" in ASCII.
pub const APPLICATION_ID: i32 = 0x4B41_4745;

const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// WAL pages after which a commit checkpoints (SQLite's default is 1,000).
/// A cycle writes ~14 pages, so at 1,000 one cycle in ~70 paid for a
/// checkpoint and its sync, above the 99th percentile; at 10,000 one in
/// ~700 does (see `docs/storage.md`).
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
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            busy_timeout: Duration::from_secs(5),
            busy_retries: 5,
            max_connections: 4,
        }
    }
}

/// The pool store in one SQLite file: [`Store`] over [`SqliteBackend`].
pub type SqliteStore = Store<SqliteBackend>;

/// The SQLite backend of [`SqliteStore`]: its connections and tuning.
#[derive(Clone)]
pub struct SqliteBackend {
    /// One connection for writes: writers of this process queue here (in
    /// order) rather than in SQLite's busy handler, and its page cache stays
    /// warm.
    writer: SqlitePool,
    /// Connections for reads, which WAL lets run beside the writer.
    pool: SqlitePool,
    place: Place,
    path: PathBuf,
    busy_retries: u32,
    /// Read once a write's lock is won ([`SqliteStore::with_clock`]).
    clock: LockClock,
}

impl std::fmt::Debug for SqliteBackend {
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
            backend: Kind::Sqlite,
            location: path.display().to_string(),
            busy_timeout: options.busy_timeout,
        };
        match prepare_file(&path, &place)? {
            FileState::Existing { kage: false } => probe(&path, &place, &options).await?,
            FileState::Existing { kage: true } | FileState::New => {}
        }
        let connect = connect_options(&path, &options);
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
        let backend = SqliteBackend {
            writer,
            pool,
            place,
            path,
            busy_retries: options.busy_retries,
            clock: LockClock::default(),
        };
        let what = "applying the schema migrations";
        let tx = backend.begin_write(what).await?;
        schema::migrate(
            tx,
            schema::sqlite_migrations(),
            sql::CREATE_MIGRATIONS_TABLE,
            &backend.place,
        )
        .await?;
        Ok(Store { backend })
    }

    /// Open an existing database at the current schema for one quick read
    /// and write (`kage statusline`, after every response of Claude Code):
    /// one connection for both, and a read of the schema version instead of
    /// the migration transaction. A database that is missing or not at
    /// [`crate::SCHEMA_VERSION`] gets the full [`SqliteStore::open`].
    ///
    /// # Errors
    /// As [`SqliteStore::open`].
    pub async fn open_quick(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        // Only a file that carries Kage's application id is connected to
        // directly (which turns on WAL); any other gets the full open, which
        // looks before it changes anything.
        if !path.is_file() || !marked_as_kage(&path) {
            return Self::open(&path).await;
        }
        let options = SqliteOptions::default();
        let place = Place {
            backend: Kind::Sqlite,
            location: path.display().to_string(),
            busy_timeout: options.busy_timeout,
        };
        let connect = connect_options(&path, &options);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .test_before_acquire(false)
            .acquire_timeout(options.busy_timeout)
            .connect_with(connect)
            .await
            .map_err(|e| place.error("opening the database", e))?;
        let version: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&writer)
                .await
                .ok()
                .flatten();
        if version != Some(crate::SCHEMA_VERSION) {
            writer.close().await;
            return Self::open(&path).await;
        }
        Ok(Store {
            backend: SqliteBackend {
                pool: writer.clone(),
                writer,
                place,
                path,
                busy_retries: options.busy_retries,
                clock: LockClock::default(),
            },
        })
    }

    /// Read `clock` once a write has won the database's lock, and stamp
    /// leases, releases and transitions with that time (never earlier than
    /// the `now` the caller passed): a write that waited for another
    /// process's does not date itself back to before that write.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.backend.clock = LockClock::new(clock);
        self
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.backend.path
    }

    /// Write a consistent copy of the database to `target`, a file that
    /// must not exist yet (SQLite's `VACUUM INTO`: online, other processes
    /// keep reading and writing, the copy is compact and has no WAL).
    ///
    /// # Errors
    /// `target` exists or cannot be written.
    pub async fn backup(&self, target: &Path) -> Result<(), StoreError> {
        let target = target.to_string_lossy().into_owned();
        let backend = &self.backend;
        sqlx::query("VACUUM INTO ?1")
            .bind(&target)
            .execute(&backend.pool)
            .await
            .map(|_| ())
            .map_err(|e| backend.place.error(&format!("backing up to {target}"), e))
    }

    /// Close every connection (the last one checkpoints the WAL).
    pub async fn close(&self) {
        self.backend.pool.close().await;
        self.backend.writer.close().await;
    }
}

impl SqliteBackend {
    /// `BEGIN IMMEDIATE` on the writer connection, retried when the write
    /// lock stays busy.
    async fn begin_immediate(
        &self,
        what: &str,
    ) -> Result<Transaction<'static, Sqlite>, StoreError> {
        let mut attempt = 0;
        loop {
            match self.writer.begin_with(sql::BEGIN_IMMEDIATE).await {
                Ok(tx) => return Ok(tx),
                // A write that failed on I/O (a full disk) makes SQLite roll
                // the transaction back itself; sqlx's ROLLBACK then fails and
                // leaves the connection counting a transaction that is gone,
                // refusing every later BEGIN. Replace that connection.
                Err(sqlx::Error::InvalidSavePointStatement) if attempt < self.busy_retries => {
                    attempt += 1;
                    tracing::debug!(%what, "the write connection lost track of a failed transaction; reopening it");
                    if let Ok(stuck) = self.writer.acquire().await {
                        let _ = stuck.close().await;
                    }
                }
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
}

#[async_trait]
impl Backend for SqliteBackend {
    type Db = Sqlite;

    /// Acquire in one transaction: `BEGIN IMMEDIATE`, the pool, the lease,
    /// `COMMIT`. The write lock is held from the read on, so the choice
    /// stays right under any number of processes.
    async fn acquire(
        &self,
        request: &AcquireLeaseRequest,
        now: Timestamp,
    ) -> Result<AcquireOutcome, StoreError> {
        let now = truncate(now);
        let what = format!("acquiring lease {}", request.lease_id);
        let place = &self.place;
        let mut tx = self.begin_immediate(&what).await?;
        let now = self.clock.after_lock(now);
        let snapshot =
            common::read_snapshot::<Sqlite>(&mut tx, place, request.policy.usage_window, now)
                .await?;
        let index = match lease::select(&snapshot, request, now) {
            Selection::Chosen { index, .. } => index,
            Selection::Unavailable {
                earliest_recovery,
                passed_over,
            } => {
                // A retried acquire whose first try was granted (and now
                // fills the pool) gets that lease.
                let existing = common::fetch_lease::<Sqlite>(&mut tx, request.lease_id, place);
                return Ok(match existing.await? {
                    Some(lease) => AcquireOutcome::Granted(lease),
                    None => lease::unavailable(&snapshot, earliest_recovery, passed_over),
                });
            }
        };
        let lease = lease::new_lease(request, &snapshot.entries[index].subscription, now);
        let inserted = sqlx::query(sql::INSERT_LEASE)
            .bind(lease.id.to_string())
            .bind(lease.subscription_id.to_string())
            .bind(lease.namespace.as_ref().map(|namespace| namespace.as_str()))
            .bind(lease.level.as_str())
            .bind(lease.holder.as_str())
            .bind(to_ms(lease.acquired_at))
            .bind(to_ms(lease.expires_at))
            .execute(&mut *tx)
            .await
            .map_err(|e| place.error(&what, e))?;
        let lease = if inserted.rows_affected() == 1 {
            lease
        } else {
            // A retried acquire: the lease exists; grant it again rather
            // than a second one.
            common::fetch_lease::<Sqlite>(&mut tx, request.lease_id, place)
                .await?
                .ok_or_else(|| {
                    StoreError::Unknown(anyhow::anyhow!(
                        "{what}: the lease id is taken but its lease cannot be read"
                    ))
                })?
        };
        tx.commit().await.map_err(|e| place.error(&what, e))?;
        Ok(AcquireOutcome::Granted(lease))
    }

    /// Release in one transaction: `BEGIN IMMEDIATE`, the lease and its
    /// subscription, every write as one batch, `COMMIT`.
    async fn release(
        &self,
        request: &ReleaseLeaseRequest,
        now: Timestamp,
    ) -> Result<ReleaseReport, LeaseError> {
        let now = truncate(now);
        let id = request.lease_id;
        let what = format!("releasing lease {id}");
        let place = &self.place;
        let mut tx = self.begin_immediate(&what).await?;
        let now = self.clock.after_lock(now);
        let read = common::fetch_lease_for_change::<Sqlite>(
            &mut tx,
            &crate::sql::LEASE_WITH_SUBSCRIPTION,
            id,
            place,
        )
        .await?;
        let Some((mut lease, subscription)) = read else {
            return Err(LeaseError::NotFound(id));
        };
        if lease.released_at.is_some() {
            // Retried after a timeout: the first release counted everything.
            return Err(LeaseError::AlreadyReleased(id));
        }
        let plan = ReleasePlan::new(&lease, &subscription, request, now);
        plan.bind(
            sqlx::query(&sql::RELEASE[plan.parts]),
            request,
            now,
            &subscription,
        )
        .execute(&mut *tx)
        .await
        .map_err(|e| place.error(&what, e))?;
        tx.commit().await.map_err(|e| place.error(&what, e))?;
        lease.released_at = Some(now);
        Ok(ReleaseReport {
            lease,
            transition: plan.result.transition,
            was_expired: plan.was_expired,
        })
    }

    fn place(&self) -> &Place {
        &self.place
    }

    fn read_pool(&self) -> &Pool<Sqlite> {
        &self.pool
    }

    async fn begin_write(&self, what: &str) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.begin_immediate(what).await
    }

    // No usage-record lock and no row locks (the trait's defaults): the
    // write transaction holds the whole file.

    fn after_lock(&self, now: Timestamp) -> Timestamp {
        self.clock.after_lock(now)
    }
}

/// How every connection to a Kage database is made: WAL, `synchronous =
/// NORMAL`, the busy timeout, foreign keys and the WAL's limits.
fn connect_options(path: &Path, options: &SqliteOptions) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(false)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(options.busy_timeout)
        .foreign_keys(true)
        .pragma("wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES.to_string())
        .pragma("journal_size_limit", WAL_SIZE_LIMIT_BYTES.to_string())
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

/// Whether the file at `path` is a SQLite database carrying Kage's
/// application id (read from its header, nothing changed).
fn marked_as_kage(path: &Path) -> bool {
    let mut header = Vec::with_capacity(100);
    File::open(path)
        .and_then(|file| file.take(100).read_to_end(&mut header))
        .is_ok_and(|_| {
            header.starts_with(SQLITE_HEADER)
                && header.get(68..72) == Some(&APPLICATION_ID.to_be_bytes()[..])
        })
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
        let application_id: i64 = sqlx::query(sql::READ_APPLICATION_ID)
            .fetch_one(&mut connection)
            .await?
            .try_get("application_id")?;
        let tables = sqlx::query(sql::TABLES).fetch_one(&mut connection).await?;
        let (tables, kage_tables): (i64, i64) =
            (tables.try_get("tables")?, tables.try_get("kage_tables")?);
        let applied: Vec<(i64, Vec<u8>, bool)> = if kage_tables == 2 {
            sqlx::query_as(sql::APPLIED_MIGRATIONS)
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
