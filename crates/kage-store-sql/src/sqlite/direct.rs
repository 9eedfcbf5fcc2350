//! The hot path of [`super::SqliteStore`], acquire and release, on the
//! caller's thread.
//!
//! sqlx runs every SQLite connection on a thread of its own: each statement
//! batch is handed to that thread and its rows handed back, a wake-up of
//! another CPU each way. On a small VM those hand-offs cost more than the
//! SQLite work (an acquire + release cycle spent ~0.5 ms there against
//! ~0.03 ms of SQLite; see `docs/benchmarks.md`). So acquire and release first
//! try a connection of their own, called directly (rusqlite, on the same
//! SQLite library sqlx links):
//!
//! - `BEGIN IMMEDIATE` with no busy timeout: either the write lock is free
//!   and the whole transaction runs at once, or it is not and
//!   [`Attempt::Busy`] sends the caller to the sqlx path, which waits for
//!   the lock on sqlx's thread without holding this one.
//! - Once begun, nothing here waits for a lock: the reads and writes touch
//!   pages in memory and the WAL file, and a commit with
//!   `synchronous = NORMAL` does not sync. The caller's thread is held for
//!   the SQLite work (tens of microseconds). The one exception is SQLite's
//!   own safety net: when writes outrun the background checkpointer until
//!   the WAL holds `wal_autocheckpoint` pages (10,000, about 40 MB), the
//!   commit that crosses the line checkpoints and syncs, as a commit on any
//!   SQLite connection would; without it the WAL of a pool under constant
//!   writes would grow without bound.
//! - The statements, the domain calls and the release plan are the ones the
//!   sqlx path uses, so both paths write the same rows; the contract suite
//!   runs against the store with and without this path.

use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use jiff::Timestamp;
use kage_domain::Selection;
use kage_ports::{
    AcquireLeaseRequest, AcquireOutcome, Lease, LeaseError, ReleaseLeaseRequest, ReleaseReport,
    StoreError,
};
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, Row, TransactionBehavior};

use crate::codec::{
    LeaseRow, LeaseWithSubscriptionRow, SnapshotRow, SubscriptionRow, before, to_ms,
};
use crate::error::Place;
use crate::lease;
use crate::store_impl::{ReleasePlan, SqlValue};

/// What a direct attempt came to.
pub(super) enum Attempt<T> {
    /// The transaction ran (and committed, or changed nothing).
    Done(T),
    /// Another connection holds the write lock (or this path was closed):
    /// take the sqlx path.
    Busy,
}

/// Statements kept prepared on the direct connection.
const STATEMENT_CACHE: usize = 16;

/// One connection for direct acquires and releases; `None` once closed.
pub(super) struct DirectWriter {
    connection: Mutex<Option<Connection>>,
    place: Place,
}

impl DirectWriter {
    /// Open the database at `path`, already created and migrated by sqlx.
    pub(super) fn open(
        path: &Path,
        place: &Place,
        wal_autocheckpoint_pages: u32,
        wal_size_limit_bytes: u64,
    ) -> Result<Self, StoreError> {
        let what = "opening the database for direct writes";
        let connection = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| sqlite_error(place, what, &e))?;
        // No busy wait here: a busy lock means "take the sqlx path".
        connection
            .busy_timeout(Duration::ZERO)
            .map_err(|e| sqlite_error(place, what, &e))?;
        connection
            .execute_batch(&format!(
                "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
                 PRAGMA wal_autocheckpoint = {wal_autocheckpoint_pages}; \
                 PRAGMA journal_size_limit = {wal_size_limit_bytes};"
            ))
            .map_err(|e| sqlite_error(place, what, &e))?;
        connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(Self {
            connection: Mutex::new(Some(connection)),
            place: place.clone(),
        })
    }

    /// The connection. Holders never wait inside (see the module doc), so
    /// another task of this process waits for one short transaction at most.
    fn connection(&self) -> std::sync::MutexGuard<'_, Option<Connection>> {
        // A panic while holding it rolled its transaction back on unwinding
        // (rusqlite's `Transaction` does on drop): the connection is sound.
        self.connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Close the connection; later attempts take the sqlx path (which
    /// reports the store closed).
    pub(super) fn close(&self) {
        drop(self.connection().take());
    }

    fn error(&self, what: &str, error: &rusqlite::Error) -> StoreError {
        sqlite_error(&self.place, what, error)
    }

    /// Acquire as [`super::SqliteStore`]'s sqlx path does: the snapshot,
    /// the domain's selection and the lease, in one `BEGIN IMMEDIATE`
    /// transaction.
    pub(super) fn acquire(
        &self,
        request: &AcquireLeaseRequest,
        now: Timestamp,
        what: &str,
    ) -> Result<Attempt<AcquireOutcome>, StoreError> {
        let mut connection = self.connection();
        let Some(connection) = connection.as_mut() else {
            return Ok(Attempt::Busy);
        };
        let tx = match connection.transaction_with_behavior(TransactionBehavior::Immediate) {
            Ok(tx) => tx,
            Err(error) if is_busy(&error) => return Ok(Attempt::Busy),
            Err(error) => return Err(self.error(what, &error)),
        };
        let window_start = before(now, request.policy.usage_window);
        let rows = query_all(
            &tx,
            super::SNAPSHOT_SQL,
            &[
                Value::Integer(to_ms(now)),
                Value::Integer(to_ms(window_start)),
            ],
            snapshot_row,
        )
        .map_err(|e| self.error(what, &e))?;
        let snapshot = lease::snapshot_from_rows(rows)?;
        let lease_id = request.lease_id;
        let (earliest_recovery, passed_over) = match lease::select(&snapshot, request, now) {
            Selection::Chosen { index, .. } => {
                let lease = lease::new_lease(request, &snapshot.entries[index].subscription, now);
                let inserted = execute(&tx, super::INSERT_LEASE_SQL, &lease_values(&lease))
                    .map_err(|e| self.error(what, &e))?;
                if inserted == 0 {
                    // A retried acquire: the lease exists; grant it again
                    // rather than a second one (the transaction rolls back).
                    return self
                        .fetch_lease(&tx, lease_id, what)?
                        .map(|lease| Attempt::Done(AcquireOutcome::Granted(lease)))
                        .ok_or_else(|| {
                            StoreError::Unknown(anyhow::anyhow!(
                                "{what}: the lease id is taken but its lease cannot be read"
                            ))
                        });
                }
                tx.commit().map_err(|e| self.error(what, &e))?;
                return Ok(Attempt::Done(AcquireOutcome::Granted(lease)));
            }
            Selection::Unavailable {
                earliest_recovery,
                passed_over,
            } => (earliest_recovery, passed_over),
        };
        // A retried acquire whose first try was granted (and now fills the
        // pool) gets that lease.
        if let Some(lease) = self.fetch_lease(&tx, lease_id, what)? {
            return Ok(Attempt::Done(AcquireOutcome::Granted(lease)));
        }
        Ok(Attempt::Done(lease::unavailable(
            &snapshot,
            earliest_recovery,
            passed_over,
        )))
    }

    fn fetch_lease(
        &self,
        connection: &Connection,
        lease_id: kage_domain::LeaseId,
        what: &str,
    ) -> Result<Option<Lease>, StoreError> {
        let row = query_all(
            connection,
            super::LEASE_SQL,
            &[Value::Text(lease_id.to_string())],
            lease_row,
        )
        .map_err(|e| self.error(what, &e))?
        .pop();
        row.map(LeaseRow::into_domain).transpose()
    }

    /// Release as the sqlx path does: the lease and its subscription read,
    /// the outcome applied, every write, in one `BEGIN IMMEDIATE`
    /// transaction.
    pub(super) fn release(
        &self,
        request: &ReleaseLeaseRequest,
        now: Timestamp,
        what: &str,
    ) -> Result<Attempt<ReleaseReport>, LeaseError> {
        let id = request.lease_id;
        let mut connection = self.connection();
        let Some(connection) = connection.as_mut() else {
            return Ok(Attempt::Busy);
        };
        let tx = match connection.transaction_with_behavior(TransactionBehavior::Immediate) {
            Ok(tx) => tx,
            Err(error) if is_busy(&error) => return Ok(Attempt::Busy),
            Err(error) => return Err(self.error(what, &error).into()),
        };
        let row = query_all(
            &tx,
            super::LEASE_FOR_CHANGE_SQL,
            &[Value::Text(id.to_string())],
            lease_with_subscription_row,
        )
        .map_err(|e| self.error(what, &e))?
        .pop();
        let Some(row) = row else {
            return Err(LeaseError::NotFound(id));
        };
        let mut lease = row.lease.into_domain()?;
        let subscription = row.subscription.into_domain()?;
        if lease.released_at.is_some() {
            // Retried after a timeout: the first release counted everything.
            return Err(LeaseError::AlreadyReleased(id));
        }
        let plan = ReleasePlan::new(&lease, &subscription, request, now);
        let values: Vec<Value> = plan
            .values(request, now, &subscription)
            .iter()
            .map(to_value)
            .collect();
        for (bit, sql) in [
            (0, super::RELEASE_LEASE_SQL),
            (1, super::RELEASE_USAGE_SQL),
            (2, super::RELEASE_HEALTH_SQL),
            (4, super::RELEASE_EVENT_SQL),
        ] {
            if bit == 0 || plan.parts & bit != 0 {
                execute(&tx, sql, &values).map_err(|e| self.error(what, &e))?;
            }
        }
        tx.commit().map_err(|e| self.error(what, &e))?;
        lease.released_at = Some(now);
        Ok(Attempt::Done(ReleaseReport {
            lease,
            transition: plan.result.transition,
            was_expired: plan.was_expired,
        }))
    }
}

/// Whether SQLite said "busy" or "locked".
fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// A rusqlite error as the port's error, mapped by SQLite's result code as
/// the sqlx path maps it.
pub(super) fn sqlite_error(place: &Place, what: &str, error: &rusqlite::Error) -> StoreError {
    match error {
        rusqlite::Error::SqliteFailure(failure, _) => {
            place.sqlite_code_error(what, failure.extended_code, error)
        }
        _ => place.sqlite_code_error(what, -1, error),
    }
}

/// Bind `values` to a statement whose parameters are numbered `$1`, `$2`, …
/// (each statement of a batch uses some of one shared list).
fn bind_numbered(
    statement: &mut rusqlite::CachedStatement<'_>,
    values: &[Value],
) -> rusqlite::Result<()> {
    for index in 1..=statement.parameter_count() {
        let number = statement
            .parameter_name(index)
            .and_then(|name| name.strip_prefix('$'))
            .and_then(|number| number.parse::<usize>().ok())
            .filter(|number| (1..=values.len()).contains(number))
            .ok_or(rusqlite::Error::InvalidParameterCount(index, values.len()))?;
        statement.raw_bind_parameter(index, &values[number - 1])?;
    }
    Ok(())
}

fn execute(connection: &Connection, sql: &str, values: &[Value]) -> rusqlite::Result<usize> {
    let mut statement = connection.prepare_cached(sql)?;
    bind_numbered(&mut statement, values)?;
    statement.raw_execute()
}

fn query_all<T>(
    connection: &Connection,
    sql: &str,
    values: &[Value],
    decode: fn(&Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Vec<T>> {
    let mut statement = connection.prepare_cached(sql)?;
    bind_numbered(&mut statement, values)?;
    let mut rows = statement.raw_query();
    let mut decoded = Vec::new();
    while let Some(row) = rows.next()? {
        decoded.push(decode(row)?);
    }
    Ok(decoded)
}

/// The columns of `subscription_columns!()`, from column `at` on.
fn subscription_row(row: &Row<'_>, at: usize) -> rusqlite::Result<SubscriptionRow> {
    Ok(SubscriptionRow {
        id: row.get(at)?,
        name: row.get(at + 1)?,
        description: row.get(at + 2)?,
        priority: row.get(at + 3)?,
        tags: row.get(at + 4)?,
        kind: row.get(at + 5)?,
        credential_source: row.get(at + 6)?,
        credential_ref: row.get(at + 7)?,
        max_concurrent: row.get(at + 8)?,
        state: row.get(at + 9)?,
        state_until: row.get(at + 10)?,
        state_reason: row.get(at + 11)?,
        consecutive_errors: row.get(at + 12)?,
        unhealthy_relapses: row.get(at + 13)?,
        last_utilization: row.get(at + 14)?,
        last_utilization_at: row.get(at + 15)?,
        last_limited_at: row.get(at + 16)?,
        created_at: row.get(at + 17)?,
        quota: row.get(at + 18)?,
    })
}

/// How many columns `subscription_columns!()` has.
const SUBSCRIPTION_COLUMNS: usize = 19;
/// How many columns `lease_columns!()` has.
const LEASE_COLUMNS: usize = 10;

/// A row of `SNAPSHOT_SQL`: the subscription, then its lease and usage
/// figures.
fn snapshot_row(row: &Row<'_>) -> rusqlite::Result<SnapshotRow> {
    let at = SUBSCRIPTION_COLUMNS;
    Ok(SnapshotRow {
        subscription: subscription_row(row, 0)?,
        live_leases: row.get(at)?,
        earliest_lease_expiry: row.get(at + 1)?,
        last_leased_at: row.get(at + 2)?,
        window_tokens: row.get(at + 3)?,
    })
}

/// A row of `LEASE_SQL`: the columns of `lease_columns!()`.
fn lease_row(row: &Row<'_>) -> rusqlite::Result<LeaseRow> {
    Ok(LeaseRow {
        lease_id: row.get(0)?,
        subscription_id: row.get(1)?,
        subscription_name: row.get(2)?,
        subscription_kind: row.get(3)?,
        namespace: row.get(4)?,
        level: row.get(5)?,
        holder: row.get(6)?,
        acquired_at: row.get(7)?,
        expires_at: row.get(8)?,
        released_at: row.get(9)?,
    })
}

/// A row of `LEASE_FOR_CHANGE_SQL`: the lease, then its subscription.
fn lease_with_subscription_row(row: &Row<'_>) -> rusqlite::Result<LeaseWithSubscriptionRow> {
    Ok(LeaseWithSubscriptionRow {
        lease: lease_row(row)?,
        subscription: subscription_row(row, LEASE_COLUMNS)?,
    })
}

/// `$1..$7` of [`super::INSERT_LEASE_SQL`].
fn lease_values(lease: &Lease) -> [Value; 7] {
    [
        Value::Text(lease.id.to_string()),
        Value::Text(lease.subscription_id.to_string()),
        Value::from(lease.namespace.as_ref().map(|n| n.as_str().to_owned())),
        Value::Text(lease.level.as_str().to_owned()),
        Value::Text(lease.holder.clone()),
        Value::Integer(to_ms(lease.acquired_at)),
        Value::Integer(to_ms(lease.expires_at)),
    ]
}

/// A value of the sqlx path as rusqlite binds it.
fn to_value(value: &SqlValue) -> Value {
    match value {
        SqlValue::Int(value) => Value::from(*value),
        SqlValue::Real(value) => Value::from(*value),
        SqlValue::Text(value) => Value::from(value.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::{LEASE_COLUMNS, SUBSCRIPTION_COLUMNS};

    /// The column names of a `columns!()` list, without table prefixes.
    fn names(columns: &str) -> Vec<String> {
        columns
            .split(',')
            .map(|column| {
                let column = column.trim();
                let name = column.rsplit(" AS ").next().unwrap_or(column);
                name.rsplit('.').next().unwrap_or(name).to_owned()
            })
            .collect()
    }

    /// The decoders read columns by position: these are the positions.
    #[test]
    fn decoders_read_the_columns_in_the_order_the_sql_lists_them() {
        assert_eq!(
            names(crate::store_impl::subscription_columns!()),
            [
                "id",
                "name",
                "description",
                "priority",
                "tags",
                "kind",
                "credential_source",
                "credential_ref",
                "max_concurrent",
                "state",
                "state_until",
                "state_reason",
                "consecutive_errors",
                "unhealthy_relapses",
                "last_utilization",
                "last_utilization_at",
                "last_limited_at",
                "created_at",
                "quota",
            ]
        );
        assert_eq!(
            names(crate::store_impl::lease_columns!()),
            [
                "lease_id",
                "subscription_id",
                "subscription_name",
                "subscription_kind",
                "namespace",
                "level",
                "holder",
                "acquired_at",
                "expires_at",
                "released_at",
            ]
        );
        assert_eq!(
            names(crate::store_impl::subscription_columns!()).len(),
            SUBSCRIPTION_COLUMNS
        );
        assert_eq!(
            names(crate::store_impl::lease_columns!()).len(),
            LEASE_COLUMNS
        );
        let snapshot = super::super::SNAPSHOT_SQL;
        let extras = [
            "live_leases",
            "earliest_lease_expiry",
            "last_leased_at",
            "window_tokens",
        ];
        let mut last = 0;
        for extra in extras {
            let at = snapshot
                .find(&format!("AS {extra}"))
                .unwrap_or_else(|| panic!("{extra} in the snapshot SQL"));
            assert!(at > last, "{extra} comes after the columns before it");
            last = at;
        }
    }
}
