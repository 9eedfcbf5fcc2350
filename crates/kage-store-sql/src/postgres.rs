//! [`PostgresStore`]: the pool in PostgreSQL, shared by agents on several
//! machines.
//!
//! - Connecting is bounded by a timeout (5 s by default): an unreachable
//!   server or a wrong password is a clear [`StoreError::Unavailable`] naming
//!   the URL without its password, never a hang.
//! - An acquire reads the pool and selects without a lock or a transaction.
//!   An uncapped choice is then one `INSERT` (two round trips in all) that
//!   also counts a claim on the subscription (`subscription_claims`) and
//!   inserts nothing if other acquires claimed it since the snapshot (more
//!   than were released): two acquires that chose it at once queue on its
//!   claim row, the second sees the first's claim and selects again, so
//!   parallel acquires spread over idle subscriptions as on SQLite. A
//!   capped one takes, in the same round trip as `BEGIN`, that
//!   subscription's advisory lock (transaction-level, so held until
//!   commit), then claims it and inserts the lease only if its live leases,
//!   counted again in that statement, are below the cap, then commits (four
//!   round trips); if another host took the last slot meanwhile, the
//!   attempt starts over. After a few lost races an attempt takes the pool-wide lock
//!   exclusively before reading the pool (capped claims hold it shared), so
//!   it cannot lose again. This is correct under any number of hosts, and
//!   acquires on different subscriptions never wait for each other. Their
//!   commits do not wait for the WAL flush (see `acquire_lease_impl`);
//!   releases, which carry usage and outcomes, do.
//! - A release that leaves the subscription's health as it was (a success
//!   on a healthy subscription, the common case) takes two round trips and
//!   no transaction: the lease and its subscription read, then every write
//!   in one statement of data-modifying CTEs that does nothing if either row
//!   changed since the read (by its `xmin`; see `release_lease_impl`). One
//!   that changes the health, or whose rows changed, then locks both in
//!   three more: `BEGIN` with the read, the lease `FOR UPDATE` and the
//!   subscription `FOR NO KEY UPDATE` (so health changes never interleave),
//!   the writes, `COMMIT`. Either way a retried release waits for the first
//!   on the lease row and then finds it released. Releases commit durably.
//! - Both hot paths run on one pooled connection each and begin their
//!   transactions by hand (see `Session`), with `BEGIN` in the same
//!   simple-query batch as the statement after it; such a batch holds only
//!   integers and UUIDs formatted by Kage, never text from a request. The
//!   connection of the last one is kept for the next (see `Kept`): sqlx
//!   pings every connection that goes back to its pool, one more round trip
//!   per operation.
//! - Migrations run under their own advisory lock, in one transaction.

mod sql;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use jiff::Timestamp;
use kage_domain::{PoolSnapshot, Selection};
use kage_ports::{
    AcquireLeaseRequest, AcquireOutcome, Clock, Lease, LeaseError, ReleaseLeaseRequest,
    ReleaseReport, StoreError,
};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Connection, Executor, FromRow, PgConnection, Pool, Postgres, Row, Transaction};

use crate::codec::{LeaseWithSubscriptionRow, to_ms, truncate};
use crate::common::{self, Backend, ReleasePlan};
use crate::error::{Backend as Kind, Place, redact_url};
use crate::lease;
use crate::lock_clock::LockClock;
use crate::schema;
use crate::store::Store;

/// The advisory lock key serialising acquires ("KAGE" then 1).
pub const ACQUIRE_LOCK_KEY: i64 = 0x4B41_4745_0000_0001;
/// The advisory lock key serialising migrations ("KAGE" then 2).
pub const MIGRATE_LOCK_KEY: i64 = 0x4B41_4745_0000_0002;
/// The first key of the two-key advisory locks of capped subscriptions
/// ("KAGE"); the second is `hashtext(subscription id)`.
pub const SUBSCRIPTION_LOCK_CLASS: i32 = 0x4B41_4745;
/// How long a pooled connection may sit idle before it is pinged again
/// when taken out of the pool.
const PING_IDLE_AFTER: Duration = Duration::from_secs(1);
/// How long one connection may be kept out of the pool (see [`Kept`]).
const KEEP_AT_MOST: Duration = Duration::from_secs(60);
/// Acquire attempts that may lose a race for a capped subscription's last
/// slot before one takes the pool-wide lock.
const OPTIMISTIC_ATTEMPTS: u32 = 3;

/// Tuning for [`PostgresStore::connect_with`].
#[derive(Clone, Debug)]
pub struct PostgresOptions {
    /// How long the first connection may take before the server counts as
    /// unreachable.
    pub connect_timeout: Duration,
    /// How long an operation waits for a free (or new) connection.
    pub acquire_timeout: Duration,
    /// Connections per process.
    pub max_connections: u32,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(10),
            max_connections: 8,
        }
    }
}

/// The pool store in a PostgreSQL database: [`Store`] over
/// [`PostgresBackend`].
pub type PostgresStore = Store<PostgresBackend>;

/// The PostgreSQL backend of [`PostgresStore`]: its connections.
#[derive(Clone)]
pub struct PostgresBackend {
    pool: PgPool,
    /// The connection of the last acquire or release, for the next one.
    kept: Arc<Kept>,
    place: Place,
    /// Read once a write's lock is won ([`PostgresStore::with_clock`]).
    clock: LockClock,
}

impl std::fmt::Debug for PostgresBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("location", &self.place.location)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connect to `url` (`postgres://user:password@host:port/database`),
    /// applying pending migrations.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the URL is malformed, the server does
    /// not answer within the connect timeout, refuses the connection or the
    /// credentials; [`StoreError::NewerSchema`] for a database written by a
    /// newer Kage.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, PostgresOptions::default()).await
    }

    /// [`PostgresStore::connect`] with explicit tuning.
    ///
    /// # Errors
    /// As [`PostgresStore::connect`].
    pub async fn connect_with(url: &str, options: PostgresOptions) -> Result<Self, StoreError> {
        // Boxed as `Send` here, where the compiler can prove it, so callers
        // can spawn the future.
        let connecting: crate::BoxedOpen<'_, Self> = Box::pin(Self::connect_inner(url, options));
        connecting.await
    }

    async fn connect_inner(url: &str, options: PostgresOptions) -> Result<Self, StoreError> {
        let place = Place {
            backend: Kind::Postgres,
            location: redact_url(url),
            busy_timeout: options.acquire_timeout,
        };
        let unavailable = |detail: String| StoreError::Unavailable {
            location: place.location.clone(),
            detail,
        };
        let connect: PgConnectOptions = url.parse().map_err(|_| {
            unavailable(
                "not a valid PostgreSQL URL; write postgres://USER@HOST:PORT/DATABASE".to_owned(),
            )
        })?;
        // Parallel workers cost more to start than these small queries take.
        let connect = connect
            .application_name("kage")
            .options([("max_parallel_workers_per_gather", "0")]);
        // One connection first, bounded by the connect timeout, so an
        // unreachable server fails fast and says why.
        match tokio::time::timeout(
            options.connect_timeout,
            PgConnection::connect_with(&connect),
        )
        .await
        {
            Err(_) => {
                return Err(unavailable(format!(
                    "no answer within {}s; is the server running and reachable?",
                    options.connect_timeout.as_secs_f64()
                )));
            }
            Ok(Err(sqlx::Error::Io(error))) => {
                return Err(unavailable(format!(
                    "{error}; is the server running and reachable?"
                )));
            }
            Ok(Err(error)) => return Err(place.error("connecting", error)),
            Ok(Ok(connection)) => {
                let _ = connection.close().await;
            }
        }
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            // sqlx pings every connection when it goes back to the pool, and
            // by default again when it is taken out: a round trip per
            // operation. A connection back for less than `PING_IDLE_AFTER`
            // answered that first ping just now; one idle for longer (the
            // server may have restarted, a firewall may have dropped it) is
            // pinged, and replaced if it does not answer.
            .test_before_acquire(false)
            .before_acquire(|connection, metadata| {
                Box::pin(async move {
                    if metadata.idle_for >= PING_IDLE_AFTER {
                        connection.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect_lazy_with(connect);
        let backend = PostgresBackend {
            pool,
            // Never the pool's only connection: everything else waits for
            // the pool.
            kept: Arc::new(Kept {
                session: Mutex::new(None),
                enabled: options.max_connections >= 2,
            }),
            place,
            clock: LockClock::default(),
        };
        let what = "applying the schema migrations";
        let mut tx = backend.begin_write(what).await?;
        sqlx::query(sql::LOCK_FOR_MIGRATIONS)
            .bind(MIGRATE_LOCK_KEY)
            .execute(&mut *tx)
            .await
            .map_err(|e| backend.place.error(what, e))?;
        schema::migrate(
            tx,
            schema::postgres_migrations(),
            sql::CREATE_MIGRATIONS_TABLE,
            &backend.place,
        )
        .await?;
        Ok(Store { backend })
    }

    /// Read `clock` once a write has won its lock, and stamp leases,
    /// releases and transitions with that time (never earlier than the
    /// `now` the caller passed): a write that waited for another host's
    /// does not date itself back to before that write.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.backend.clock = LockClock::new(clock);
        self
    }

    /// The URL, without its password.
    pub fn location(&self) -> &str {
        &self.backend.place.location
    }

    /// Close every connection.
    pub async fn close(&self) {
        // The pool waits for every connection taken from it.
        drop(self.backend.kept.take());
        self.backend.pool.close().await;
    }
}

#[async_trait]
impl Backend for PostgresBackend {
    type Db = Postgres;

    /// See [`PostgresBackend::acquire_on`].
    async fn acquire(
        &self,
        request: &AcquireLeaseRequest,
        now: Timestamp,
    ) -> Result<AcquireOutcome, StoreError> {
        let what = format!("acquiring lease {}", request.lease_id);
        self.on_session(what, async |session, what| {
            self.acquire_on(session, request, truncate(now), what).await
        })
        .await
    }

    /// See [`PostgresBackend::release_on`].
    async fn release(
        &self,
        request: &ReleaseLeaseRequest,
        now: Timestamp,
    ) -> Result<ReleaseReport, LeaseError> {
        self.on_session(
            format!("releasing lease {}", request.lease_id),
            async |session, what| self.release_on(session, request, truncate(now), what).await,
        )
        .await
    }

    fn place(&self) -> &Place {
        &self.place
    }

    fn read_pool(&self) -> &Pool<Postgres> {
        &self.pool
    }

    async fn begin_write(&self, what: &str) -> Result<Transaction<'static, Postgres>, StoreError> {
        self.pool
            .begin()
            .await
            .map_err(|e| self.place.error(what, e))
    }

    async fn lock_usage_records(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        what: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(sql::LOCK_USAGE_RECORDS)
            .execute(&mut **tx)
            .await
            .map(drop)
            .map_err(|e| self.place.error(what, e))
    }

    fn lease_for_change_sql(&self) -> &'static str {
        &sql::LEASE_FOR_CHANGE
    }

    fn subscription_for_change_sql(&self) -> &'static str {
        &sql::SUBSCRIPTION_FOR_CHANGE
    }

    fn after_lock(&self, now: Timestamp) -> Timestamp {
        self.clock.after_lock(now)
    }
}

/// A lease as a release reads it, with the versions of both rows.
#[derive(FromRow)]
struct ReadLeaseRow {
    #[sqlx(flatten)]
    row: LeaseWithSubscriptionRow,
    lease_version: String,
    subscription_version: String,
}

/// A pooled connection whose transaction is begun and ended by hand, so
/// that `BEGIN` travels in one simple-query batch with the statement after
/// it (sqlx's `Transaction` discards the rows of its `BEGIN` batch, and
/// cannot tell whether a failed batch left a transaction open). Dropped
/// while the transaction may be open (an error, or a cancelled future), the
/// connection is closed, which rolls it back: it never goes back to the
/// pool mid-transaction.
struct Session {
    /// Always present; taken only by [`Kept`]'s drop.
    connection: Option<PoolConnection<Postgres>>,
    open: bool,
    /// When the connection was taken from the pool.
    taken_at: Instant,
    /// When its last operation ended, while it is kept.
    idle_since: Instant,
}

impl Drop for Session {
    fn drop(&mut self) {
        if let (true, Some(connection)) = (self.open, &mut self.connection) {
            connection.close_on_drop();
        }
    }
}

impl Session {
    fn new(connection: PoolConnection<Postgres>) -> Self {
        let now = Instant::now();
        Self {
            connection: Some(connection),
            open: false,
            taken_at: now,
            idle_since: now,
        }
    }

    fn connection(&mut self) -> &mut PgConnection {
        self.connection
            .as_deref_mut()
            .expect("a session holds its connection until it is dropped")
    }

    /// Run `batch`, which starts with `BEGIN`, and return its rows. A simple
    /// query takes no bind values: the batch holds integer and UUID
    /// literals formatted by Kage, never text from a request.
    async fn begin(&mut self, batch: &str) -> Result<Vec<PgRow>, sqlx::Error> {
        // Open from here on: a batch that fails halfway may have begun.
        self.open = true;
        let rows = self.connection().fetch_all(batch).await;
        if rows.is_err() {
            self.rollback().await;
        }
        rows
    }

    /// Commit the transaction, if one is open.
    async fn commit(&mut self) -> Result<(), sqlx::Error> {
        if !self.open {
            return Ok(());
        }
        self.connection().execute("COMMIT").await?;
        self.open = false;
        Ok(())
    }

    /// Roll back, or leave the connection to be closed.
    async fn rollback(&mut self) {
        if self.open && self.connection().execute("ROLLBACK").await.is_ok() {
            self.open = false;
        }
    }
}

/// The connection of the last acquire or release, kept out of the pool for
/// the next one: sqlx pings every connection that goes back to the pool, a
/// round trip per operation. Errors and open transactions are never kept.
struct Kept {
    session: Mutex<Option<Session>>,
    enabled: bool,
}

impl Kept {
    fn take(&self) -> Option<Session> {
        self.session
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// Keep `session` (the one kept before goes back to the pool), unless
    /// it has been out of the pool for long: back there, the pool's limits
    /// on a connection's age apply to it again.
    fn keep(&self, mut session: Session) {
        if !self.enabled || session.open || session.taken_at.elapsed() >= KEEP_AT_MOST {
            return;
        }
        session.idle_since = Instant::now();
        let previous = self
            .session
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .replace(session);
        drop(previous);
    }
}

impl Drop for Kept {
    fn drop(&mut self) {
        // A connection goes back to the pool in a task of the runtime; a
        // store dropped after its runtime ended only closes it.
        if tokio::runtime::Handle::try_current().is_err() {
            let kept = self
                .session
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(connection) = kept.as_mut().and_then(|session| session.connection.take()) {
                drop(connection.detach());
            }
        }
    }
}

/// The error of an acquire whose lease id exists but cannot be read.
/// How a claim went.
enum Claimed {
    Granted(Lease),
    /// Other acquires claimed the subscription (more than were released)
    /// or took its last slot since the snapshot.
    Lost,
}

fn lease_id_taken(what: &str) -> StoreError {
    StoreError::Unknown(anyhow::anyhow!(
        "{what}: the lease id is taken but its lease cannot be read"
    ))
}

impl PostgresBackend {
    /// The kept connection, or one from the pool. One kept for longer than
    /// [`PING_IDLE_AFTER`] is pinged first, as the pool would.
    async fn session(&self, what: &str) -> Result<Session, StoreError> {
        if let Some(mut session) = self.kept.take()
            && (session.idle_since.elapsed() < PING_IDLE_AFTER
                || session.connection().ping().await.is_ok())
        {
            return Ok(session);
        }
        let connection = self
            .pool
            .acquire()
            .await
            .map_err(|e| self.place.error(what, e))?;
        Ok(Session::new(connection))
    }

    /// Run `operation` on [`PostgresBackend::session`]'s connection, and
    /// keep that connection for the next operation when it succeeded.
    /// `what` says what the operation does, for errors.
    async fn on_session<T, E: From<StoreError>>(
        &self,
        what: String,
        operation: impl AsyncFnOnce(&mut Session, &str) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut session = self.session(&what).await?;
        let done = operation(&mut session, &what).await?;
        self.kept.keep(session);
        Ok(done)
    }

    /// Acquire on one connection. Up to [`OPTIMISTIC_ATTEMPTS`] reads of
    /// the snapshot outside any transaction (selection only; the claim
    /// checks again), each followed by claims: for an uncapped choice one
    /// statement and no transaction (two round trips in all), for a capped
    /// one `BEGIN` with its locks, the insert with the cap check, `COMMIT`
    /// (four). A claim inserts nothing if other acquires claimed the
    /// subscription (more than were released) or took its last slot since
    /// the read; then that subscription counts one more lease and selection
    /// runs again on what is known, without a round trip, until it picks a
    /// subscription it already lost once (then the pool is read again).
    /// After the last read the attempt takes the pool-wide lock exclusively
    /// before its snapshot, which waits for every capped claim in flight and
    /// keeps new ones out, so its choice is final.
    ///
    /// Every acquire commits without waiting for the WAL flush: locks are
    /// held for round trips, not for a disk flush. The lease is visible to
    /// every other transaction at once and durable at the next flush (any
    /// release, which stays synchronous, flushes it); only a server crash in
    /// that fraction of a second can lose it, and then its holder's
    /// heartbeat or release gets [`kage_ports::LeaseError::NotFound`].
    async fn acquire_on(
        &self,
        session: &mut Session,
        request: &AcquireLeaseRequest,
        now: Timestamp,
        what: &str,
    ) -> Result<AcquireOutcome, StoreError> {
        // The pool last read, each entry's claims as read (`None` once
        // another acquire is known to have claimed it since).
        let mut pool: Option<(PoolSnapshot, Vec<Option<i64>>)> = None;
        let mut reads = 0;
        loop {
            let (mut snapshot, mut claims) = match pool.take() {
                Some(pool) => pool,
                None if reads == OPTIMISTIC_ATTEMPTS => break,
                None => {
                    reads += 1;
                    let (snapshot, claims) = self.read_pool(session, request, now).await?;
                    (snapshot, claims.into_iter().map(Some).collect())
                }
            };
            let index = match lease::select(&snapshot, request, now) {
                Selection::Chosen { index, .. } => index,
                Selection::Unavailable {
                    earliest_recovery,
                    passed_over,
                } => {
                    if claims.iter().any(Option::is_none) {
                        // Nothing left by this acquire's own account: read
                        // what the others did.
                        continue;
                    }
                    return self
                        .unavailable(session, request, &snapshot, earliest_recovery, passed_over)
                        .await;
                }
            };
            let Some(claim) = claims[index] else {
                // Chosen again after another acquire claimed it: read again.
                continue;
            };
            let subscription = &snapshot.entries[index].subscription;
            let cap = subscription.max_concurrent;
            // The lease starts when the subscription's lock is won.
            let claimed_at = if cap.is_some() {
                session
                    .begin(&sql::begin_claim(subscription.id))
                    .await
                    .map_err(|e| self.place.error(what, e))?;
                self.clock.after_lock(now)
            } else {
                now
            };
            let claimed = self
                .insert_lease(
                    session,
                    request,
                    subscription,
                    cap,
                    Some(claim),
                    claimed_at,
                    what,
                )
                .await?;
            if let Claimed::Granted(lease) = claimed {
                session
                    .commit()
                    .await
                    .map_err(|e| self.place.error(what, e))?;
                return Ok(AcquireOutcome::Granted(lease));
            }
            if cap.is_some() {
                session.rollback().await;
            }
            // Another acquire claimed it or took its last slot since the
            // read: count one more lease there and select
            // again on what is known, without a round trip; choosing it
            // again reads the pool again.
            let entry = &mut snapshot.entries[index];
            entry.live_leases += 1;
            entry.last_leased_at = Some(now);
            claims[index] = None;
            pool = Some((snapshot, claims));
        }
        self.acquire_serialized(session, request, now, what).await
    }

    /// The last attempt: the pool-wide lock exclusively, then the snapshot,
    /// whose choice no capped claim can overtake (so no cap is checked
    /// again).
    async fn acquire_serialized(
        &self,
        session: &mut Session,
        request: &AcquireLeaseRequest,
        now: Timestamp,
        what: &str,
    ) -> Result<AcquireOutcome, StoreError> {
        session
            .begin(&sql::BEGIN_SERIALIZED)
            .await
            .map_err(|e| self.place.error(what, e))?;
        let now = self.clock.after_lock(now);
        let (snapshot, _) = self.read_pool(session, request, now).await?;
        let index = match lease::select(&snapshot, request, now) {
            Selection::Chosen { index, .. } => index,
            Selection::Unavailable {
                earliest_recovery,
                passed_over,
            } => {
                return self
                    .unavailable(session, request, &snapshot, earliest_recovery, passed_over)
                    .await;
            }
        };
        let subscription = &snapshot.entries[index].subscription;
        // Its claim is counted, not checked: an unlocked claim of the same
        // subscription in flight may still land, the one case where two
        // acquires share a subscription an idle one could take.
        let Claimed::Granted(lease) = self
            .insert_lease(session, request, subscription, None, None, now, what)
            .await?
        else {
            return Err(lease_id_taken(what));
        };
        session
            .commit()
            .await
            .map_err(|e| self.place.error(what, e))?;
        Ok(AcquireOutcome::Granted(lease))
    }

    /// Claim the subscription and insert the lease, checking `cap` and the
    /// claims seen in the snapshot `claim` (if any) in the same statement
    /// ([`sql::INSERT_LEASE`]). When no row is inserted, a retried acquire
    /// whose first try was granted gets that lease rather than a second one.
    #[allow(
        clippy::too_many_arguments,
        reason = "one statement's parameters, named at the call"
    )]
    async fn insert_lease(
        &self,
        session: &mut Session,
        request: &AcquireLeaseRequest,
        subscription: &kage_domain::Subscription,
        cap: Option<u32>,
        claim: Option<i64>,
        now: Timestamp,
        what: &str,
    ) -> Result<Claimed, StoreError> {
        let lease = lease::new_lease(request, subscription, now);
        let statement = match claim {
            Some(_) => sql::INSERT_LEASE,
            None => sql::INSERT_LEASE_SERIALIZED,
        };
        let row = sqlx::query(statement)
            .bind(lease.id.to_string())
            .bind(subscription.id.to_string())
            .bind(lease.namespace.as_ref().map(|namespace| namespace.as_str()))
            .bind(lease.level.as_str())
            .bind(lease.holder.as_str())
            .bind(to_ms(lease.acquired_at))
            .bind(to_ms(lease.expires_at))
            .bind(cap.map(i64::from))
            .bind(claim)
            .fetch_one(session.connection())
            .await
            .map_err(|e| self.place.error(what, e))?;
        let inserted: i64 = row
            .try_get("inserted")
            .map_err(|e| self.place.error(what, e))?;
        if inserted == 1 {
            return Ok(Claimed::Granted(lease));
        }
        if let Some(lease) =
            common::fetch_lease::<Postgres>(session.connection(), lease.id, &self.place).await?
        {
            return Ok(Claimed::Granted(lease));
        }
        Ok(Claimed::Lost)
    }

    /// The pool with each subscription's claims (`net_claims`).
    async fn read_pool(
        &self,
        session: &mut Session,
        request: &AcquireLeaseRequest,
        now: Timestamp,
    ) -> Result<(PoolSnapshot, Vec<i64>), StoreError> {
        common::read_snapshot_with::<Postgres>(
            session.connection(),
            &self.place,
            &sql::SNAPSHOT_WITH_CLAIMS,
            request.policy.usage_window,
            now,
        )
        .await
    }

    /// The outcome when nothing can be chosen: a retried acquire whose
    /// first try was granted (and now fills the pool) gets that lease, any
    /// other "unavailable".
    async fn unavailable(
        &self,
        session: &mut Session,
        request: &AcquireLeaseRequest,
        snapshot: &PoolSnapshot,
        earliest_recovery: Option<Timestamp>,
        passed_over: Vec<(usize, kage_domain::PassOverReason)>,
    ) -> Result<AcquireOutcome, StoreError> {
        let existing =
            common::fetch_lease::<Postgres>(session.connection(), request.lease_id, &self.place)
                .await?;
        session.rollback().await;
        Ok(match existing {
            Some(lease) => AcquireOutcome::Granted(lease),
            None => lease::unavailable(snapshot, earliest_recovery, passed_over),
        })
    }

    /// Release. Most releases leave the subscription's health as it was
    /// (a success on a healthy subscription): those read the lease and its
    /// subscription without a lock or a transaction, then write everything
    /// in one statement that checks that neither row changed since (two
    /// round trips). Releases that change the health, and those whose rows
    /// changed since they were read, then lock both rows: `BEGIN` with the
    /// read again, every write in one statement, `COMMIT` (three more).
    ///
    /// The unlocked form is as safe as the locked one: the lease row is
    /// locked by the `UPDATE` that releases it, so a retried release (or a
    /// heartbeat) in between is seen, and a health change committed before
    /// the write is seen too; one committed after it did not depend on this
    /// release, which did not change the health.
    async fn release_on(
        &self,
        session: &mut Session,
        request: &ReleaseLeaseRequest,
        now: Timestamp,
        what: &str,
    ) -> Result<ReleaseReport, LeaseError> {
        let id = request.lease_id;
        let read = sqlx::query(&sql::READ_LEASE)
            .bind(id.to_string())
            .fetch_optional(session.connection())
            .await
            .and_then(|row| row.as_ref().map(ReadLeaseRow::from_row).transpose())
            .map_err(|e| self.place.error(what, e))?;
        // No lock is waited for here; the time is read just before the
        // write all the same.
        let optimistic_now = self.clock.after_lock(now);
        if let Some(report) = self
            .write_release(session, request, read, false, optimistic_now, what)
            .await?
        {
            return Ok(report);
        }
        let rows = session
            .begin(&sql::begin_locked_release(id))
            .await
            .map_err(|e| self.place.error(what, e))?;
        let now = self.clock.after_lock(now);
        let read = rows
            .first()
            .map(ReadLeaseRow::from_row)
            .transpose()
            .map_err(|e| self.place.error(what, e));
        let written = match read {
            Ok(read) => {
                self.write_release(session, request, read, true, now, what)
                    .await
            }
            Err(error) => Err(error.into()),
        };
        match written {
            Ok(Some(report)) => {
                session
                    .commit()
                    .await
                    .map_err(|e| self.place.error(what, e))?;
                Ok(report)
            }
            // Both rows are locked: only a release earlier in this
            // transaction could have released it, and there is none.
            Ok(None) => {
                session.rollback().await;
                Err(LeaseError::AlreadyReleased(id))
            }
            Err(error) => {
                session.rollback().await;
                Err(error)
            }
        }
    }

    /// Write the release of the lease `read`: under the locks of `locked`,
    /// or else only if it leaves the health as it was and neither row
    /// changed since it was read. `None` when that was not the case.
    async fn write_release(
        &self,
        session: &mut Session,
        request: &ReleaseLeaseRequest,
        read: Option<ReadLeaseRow>,
        locked: bool,
        now: Timestamp,
        what: &str,
    ) -> Result<Option<ReleaseReport>, LeaseError> {
        let id = request.lease_id;
        let Some(read) = read else {
            return Err(LeaseError::NotFound(id));
        };
        let (mut lease, subscription) = read.row.into_domain()?;
        if lease.released_at.is_some() {
            // Retried after a timeout: the first release counted everything.
            return Err(LeaseError::AlreadyReleased(id));
        }
        let plan = ReleasePlan::new(&lease, &subscription, request, now);
        if !locked && plan.changes_health() {
            return Ok(None);
        }
        let sql = &sql::RELEASE[if locked {
            plan.parts
        } else {
            plan.parts | sql::CHECKED
        }];
        let statement = plan.bind(sqlx::query(sql), request, now, &subscription);
        let statement = if locked {
            statement
        } else {
            statement
                .bind(read.lease_version)
                .bind(read.subscription_version)
        };
        let released: i64 = statement
            .fetch_one(session.connection())
            .await
            .and_then(|row| row.try_get("released"))
            .map_err(|e| self.place.error(what, e))?;
        if released != 1 {
            return Ok(None);
        }
        lease.released_at = Some(now);
        Ok(Some(ReleaseReport {
            lease,
            transition: plan.result.transition,
            was_expired: plan.was_expired,
        }))
    }
}
