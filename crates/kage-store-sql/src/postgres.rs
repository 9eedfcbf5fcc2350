//! [`PostgresStore`]: the pool in PostgreSQL, shared by agents on several
//! machines.
//!
//! - Connecting is bounded by a timeout (5 s by default): an unreachable
//!   server or a wrong password is a clear [`StoreError::Unavailable`] naming
//!   the URL without its password, never a hang.
//! - An acquire reads the pool and selects without a lock. When the chosen
//!   subscription has a cap, it then takes that subscription's advisory lock
//!   (transaction-level, so held until commit) and counts its live leases
//!   again; if another host took the last slot meanwhile, the attempt starts
//!   over. After a few lost races an attempt takes the pool-wide lock
//!   exclusively instead (capped claims hold it shared), so it cannot lose
//!   again. Uncapped subscriptions need no lock at all: nothing can overfill
//!   them. This is correct under any number of hosts, and acquires on
//!   different subscriptions never wait for each other. Their commits do not
//!   wait for the WAL flush (see `begin_acquire`); releases, which carry
//!   usage and outcomes, do.
//! - A release takes four round trips: `BEGIN`, the lease and its
//!   subscription read and locked, every write in one statement of
//!   data-modifying CTEs, `COMMIT`.
//! - A release locks its lease row (`FOR UPDATE`), so a retried release waits
//!   for the first and then finds it released; it locks its subscription row
//!   (`FOR NO KEY UPDATE`) so health changes never interleave.
//! - Migrations run under their own advisory lock, in one transaction.

use std::time::Duration;

use kage_ports::StoreError;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, PgConnection, Postgres, Transaction};

use std::sync::LazyLock;

use jiff::Timestamp;
use kage_domain::Selection;
use kage_ports::{
    AcquireLeaseRequest, AcquireOutcome, LeaseError, ReleaseLeaseRequest, ReleaseReport,
};

use crate::codec::{HealthParams, UsageParams, to_ms, truncate};
use crate::error::{Backend, Place, redact_url};
use crate::lease;
use crate::schema;
use crate::store_impl::impl_subscription_store;

/// The advisory lock key serialising acquires ("KAGE" then 1).
pub const ACQUIRE_LOCK_KEY: i64 = 0x4B41_4745_0000_0001;
/// The advisory lock key serialising migrations ("KAGE" then 2).
pub const MIGRATE_LOCK_KEY: i64 = 0x4B41_4745_0000_0002;
/// The first key of the two-key advisory locks of capped subscriptions
/// ("KAGE"); the second is `hashtext(subscription id)`.
pub const SUBSCRIPTION_LOCK_CLASS: i32 = 0x4B41_4745;
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

/// The pool store in a PostgreSQL database.
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    place: Place,
}

impl std::fmt::Debug for PostgresStore {
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
            backend: Backend::Postgres,
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
            .connect_lazy_with(connect);
        let store = Self { pool, place };
        let what = "applying the schema migrations";
        let mut tx = store
            .pool
            .begin()
            .await
            .map_err(|e| store.place.error(what, e))?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATE_LOCK_KEY)
            .execute(&mut *tx)
            .await
            .map_err(|e| store.place.error(what, e))?;
        migrate(&mut tx, &store.place).await?;
        tx.commit().await.map_err(|e| store.place.error(what, e))?;
        Ok(store)
    }

    /// The URL, without its password.
    pub fn location(&self) -> &str {
        &self.place.location
    }

    /// Close every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    fn place(&self) -> &Place {
        &self.place
    }

    fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn begin_write(&self, what: &str) -> Result<Transaction<'static, Postgres>, StoreError> {
        self.pool
            .begin()
            .await
            .map_err(|e| self.place.error(what, e))
    }

    /// One acquire attempt's transaction. The first attempts are optimistic
    /// (the snapshot is read without a lock and the choice checked in
    /// [`Self::claim`]); after [`OPTIMISTIC_ATTEMPTS`] lost races the attempt
    /// takes the pool-wide acquire lock exclusively, which waits for every
    /// capped claim in flight and keeps new ones out, so its snapshot is
    /// final.
    ///
    /// Every acquire commits without waiting for the WAL flush
    /// (`synchronous_commit` off for that transaction only): locks are held
    /// for round trips, not for a disk flush. The lease is visible to every
    /// other transaction at once and durable at the next flush (any release,
    /// which stays synchronous, flushes it); only a server crash in that
    /// fraction of a second can lose it, and then its holder's heartbeat or
    /// release gets [`kage_ports::LeaseError::NotFound`].
    async fn begin_acquire(
        &self,
        attempt: u32,
        what: &str,
    ) -> Result<(Transaction<'static, Postgres>, bool), StoreError> {
        // One round trip: the simple-query protocol takes both statements.
        let mut tx = self
            .pool
            .begin_with("BEGIN; SET LOCAL synchronous_commit TO OFF")
            .await
            .map_err(|e| self.place.error(what, e))?;
        let serialized = attempt >= OPTIMISTIC_ATTEMPTS;
        if serialized {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(ACQUIRE_LOCK_KEY)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.place.error(what, e))?;
        }
        Ok((tx, serialized))
    }

    /// Make sure the chosen subscription still has room. A capped one is
    /// locked (its own advisory lock, plus the pool-wide one shared) and its
    /// live leases counted again: any acquire that filled it since the
    /// snapshot held the same lock until it committed, so the count sees it.
    async fn claim(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        serialized: bool,
        subscription: &kage_domain::Subscription,
        now: jiff::Timestamp,
        what: &str,
    ) -> Result<bool, StoreError> {
        if serialized {
            return Ok(true);
        }
        let Some(cap) = subscription.max_concurrent else {
            return Ok(true);
        };
        sqlx::query(
            "SELECT pg_advisory_xact_lock_shared($1), pg_advisory_xact_lock($2, hashtext($3))",
        )
        .bind(ACQUIRE_LOCK_KEY)
        .bind(SUBSCRIPTION_LOCK_CLASS)
        .bind(subscription.id.to_string())
        .execute(&mut **tx)
        .await
        .map_err(|e| self.place.error(what, e))?;
        let live: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM leases WHERE subscription_id = $1 AND released_at IS NULL \
             AND expires_at > $2",
        )
        .bind(subscription.id.to_string())
        .bind(now.as_millisecond())
        .fetch_one(&mut **tx)
        .await
        .map_err(|e| self.place.error(what, e))?;
        Ok(live < i64::from(cap))
    }

    /// Keep usage records from being written until the transaction ends
    /// (waiting for those being written now).
    async fn lock_usage_records(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        what: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("LOCK TABLE usage_records IN SHARE MODE")
            .execute(&mut **tx)
            .await
            .map(|_| ())
            .map_err(|e| self.place.error(what, e))
    }
}

schema::migrate_fn!(
    PgConnection,
    schema::postgres_migrations(),
    create_table = "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
        version BIGINT PRIMARY KEY,
        description TEXT NOT NULL,
        installed_on TIMESTAMPTZ NOT NULL DEFAULT now(),
        success BOOLEAN NOT NULL,
        checksum BYTEA NOT NULL,
        execution_time BIGINT NOT NULL
    )"
);

impl_subscription_store!(
    PostgresStore,
    Postgres,
    PgConnection,
    lock_lease = " FOR UPDATE OF l FOR NO KEY UPDATE OF s",
    lock_subscription = " FOR NO KEY UPDATE",
);

// The writes of a release as one statement of data-modifying CTEs, numbered
// as one argument list: $1 lease, $2 now, $3..$5 outcome, $6 subscription,
// $7..$13 usage, $14..$21 health, $22..$25 transition.
const RELEASE_LEASE_CTE: &str = "WITH released AS (UPDATE leases SET released_at = $2, \
    outcome = $3, outcome_detail = $4, was_expired = $5 WHERE id = $1 AND released_at IS NULL \
    RETURNING id)";
const RELEASE_USAGE_CTE: &str = ", usage AS (INSERT INTO usage_records (lease_id, \
    subscription_id, at, input_tokens, output_tokens, cache_write_tokens, cache_read_tokens, \
    total_tokens, cost_micros, model) SELECT $1, $6, $2, $7, $8, $9, $10, $11, $12, $13 \
    FROM released RETURNING 1)";
const RELEASE_HEALTH_CTE: &str = ", health AS (UPDATE subscriptions SET state = $14, \
    state_until = $15, state_reason = $16, consecutive_errors = $17, unhealthy_relapses = $18, \
    last_utilization = $19, last_utilization_at = $20, last_limited_at = $21 \
    WHERE id = $6 AND EXISTS (SELECT 1 FROM released) RETURNING 1)";
const RELEASE_EVENT_CTE: &str = ", event AS (INSERT INTO state_events (subscription_id, at, \
    from_state, to_state, until, reason, lease_id) SELECT $6, $2, $22, $23, $24, $25, $1 \
    FROM released RETURNING 1)";

/// Every combination of a release's writes: bit 1 usage, bit 2 health,
/// bit 4 transition. The statement returns how many leases it released.
static RELEASE_SQL: LazyLock<Vec<String>> = LazyLock::new(|| {
    (0..8)
        .map(|parts: u8| {
            let mut sql = RELEASE_LEASE_CTE.to_owned();
            for (bit, part) in [
                (1, RELEASE_USAGE_CTE),
                (2, RELEASE_HEALTH_CTE),
                (4, RELEASE_EVENT_CTE),
            ] {
                if parts & bit != 0 {
                    sql.push_str(part);
                }
            }
            sql.push_str(" SELECT COUNT(*) FROM released");
            sql
        })
        .collect()
});

impl PostgresStore {
    async fn acquire_lease_impl(
        &self,
        request: &AcquireLeaseRequest,
        now: Timestamp,
    ) -> Result<AcquireOutcome, StoreError> {
        let now = truncate(now);
        let lease_id = request.lease_id;
        let what = format!("acquiring lease {lease_id}");
        let mut attempt = 0;
        loop {
            let (mut tx, serialized) = self.begin_acquire(attempt, &what).await?;
            attempt += 1;
            let snapshot = self
                .read_snapshot(&mut *tx, request.policy.rate_limit_window, now)
                .await?;
            let selection = lease::select(&snapshot, request, now);
            let index = match selection {
                Selection::Chosen { index, .. } => index,
                Selection::Unavailable {
                    earliest_recovery,
                    passed_over,
                } => {
                    // A retried acquire whose first try was granted (and now
                    // fills the pool) gets that lease.
                    let existing = self.fetch_lease(&mut tx, lease_id).await?;
                    tx.rollback()
                        .await
                        .map_err(|e| self.place.error(&what, e))?;
                    if let Some(lease) = existing {
                        return Ok(AcquireOutcome::Granted(lease));
                    }
                    return Ok(lease::unavailable(
                        &snapshot,
                        earliest_recovery,
                        passed_over,
                    ));
                }
            };
            let subscription = &snapshot.entries[index].subscription;
            if !self
                .claim(&mut tx, serialized, subscription, now, &what)
                .await?
            {
                // Another host took its last slot since the snapshot.
                tx.rollback()
                    .await
                    .map_err(|e| self.place.error(&what, e))?;
                continue;
            }
            let lease = lease::new_lease(request, subscription, now);
            let inserted = sqlx::query(
                "INSERT INTO leases (id, subscription_id, namespace, level, holder, acquired_at, \
                 expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
            )
            .bind(lease_id.to_string())
            .bind(subscription.id.to_string())
            .bind(lease.namespace.as_ref().map(|namespace| namespace.as_str()))
            .bind(lease.level.as_str())
            .bind(lease.holder.as_str())
            .bind(to_ms(lease.acquired_at))
            .bind(to_ms(lease.expires_at))
            .execute(&mut *tx)
            .await
            .map_err(|e| self.place.error(&what, e))?;
            if inserted.rows_affected() == 0 {
                // A retried acquire: the lease exists; grant it again rather
                // than a second one.
                let existing = self.fetch_lease(&mut tx, lease_id).await?;
                tx.rollback()
                    .await
                    .map_err(|e| self.place.error(&what, e))?;
                return existing.map(AcquireOutcome::Granted).ok_or_else(|| {
                    StoreError::Unknown(anyhow::anyhow!(
                        "{what}: the lease id is taken but its lease cannot be read"
                    ))
                });
            }
            tx.commit().await.map_err(|e| self.place.error(&what, e))?;
            return Ok(AcquireOutcome::Granted(lease));
        }
    }

    /// Release in four round trips: `BEGIN`, the lease and its subscription
    /// locked, every write in one statement, `COMMIT`.
    async fn release_lease_impl(
        &self,
        request: &ReleaseLeaseRequest,
        now: Timestamp,
    ) -> Result<ReleaseReport, LeaseError> {
        let now = truncate(now);
        let id = request.lease_id;
        let what = format!("releasing lease {id}");
        let mut tx = self.begin_write(&what).await?;
        let Some((mut lease, subscription)) = self.fetch_lease_for_change(&mut tx, id).await?
        else {
            return Err(LeaseError::NotFound(id));
        };
        if lease.released_at.is_some() {
            // Retried after a timeout: the first release counted everything.
            return Err(LeaseError::AlreadyReleased(id));
        }
        let crate::store_impl::ReleasePlan {
            was_expired,
            result,
            parts,
        } = crate::store_impl::ReleasePlan::new(&lease, &subscription, request, now);
        let usage = UsageParams::new(&request.usage);
        let health = HealthParams::new(&result.health);
        let transition = result.transition.as_ref();
        let released: i64 = crate::store_impl::bind_release!(
            sqlx::query_scalar(&RELEASE_SQL[parts]),
            id,
            now,
            request,
            was_expired,
            subscription,
            usage,
            health,
            transition
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| self.place.error(&what, e))?;
        if released != 1 {
            return Err(LeaseError::AlreadyReleased(id));
        }
        tx.commit().await.map_err(|e| self.place.error(&what, e))?;
        lease.released_at = Some(now);
        Ok(ReleaseReport {
            lease,
            transition: result.transition,
            was_expired,
        })
    }
}
