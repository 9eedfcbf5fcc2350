//! The SQL text only the PostgreSQL backend runs; what both run is in
//! `src/sql.rs`.

use std::sync::LazyLock;

use kage_domain::{LeaseId, SubscriptionId};

use super::{ACQUIRE_LOCK_KEY, SUBSCRIPTION_LOCK_CLASS};
use crate::sql::{
    LEASE_COLUMNS, LEASE_WITH_SUBSCRIPTION, SUBSCRIPTION_BY_ID, SUBSCRIPTION_COLUMNS,
};

/// sqlx's migrations table, as `sqlx migrate` makes it on PostgreSQL.
pub(crate) const CREATE_MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TIMESTAMPTZ NOT NULL DEFAULT now(),
    success BOOLEAN NOT NULL,
    checksum BYTEA NOT NULL,
    execution_time BIGINT NOT NULL
)";

/// The migration lock (`$1` its key), held until the transaction ends.
pub(crate) const LOCK_FOR_MIGRATIONS: &str = "SELECT pg_advisory_xact_lock($1)";

/// Keep usage records from being written until the transaction ends.
pub(crate) const LOCK_USAGE_RECORDS: &str = "LOCK TABLE usage_records IN SHARE MODE";

/// A lease with its subscription, both locked for the change.
pub(crate) static LEASE_FOR_CHANGE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{} FOR UPDATE OF l FOR NO KEY UPDATE OF s",
        *LEASE_WITH_SUBSCRIPTION
    )
});

/// A subscription, locked for a health change.
pub(crate) static SUBSCRIPTION_FOR_CHANGE: LazyLock<String> =
    LazyLock::new(|| format!("{} FOR NO KEY UPDATE", *SUBSCRIPTION_BY_ID));

// The writes of a release as one statement of data-modifying CTEs, numbered
// as one argument list: $1 lease, $2 now, $3..$5 outcome, $6 subscription,
// $7..$13 usage, $14..$21 health, $22..$25 transition, and in the checked
// form $26..$27 the versions of the lease and subscription rows read.
const RELEASE_LEASE_CTE: &str = "WITH released AS (UPDATE leases SET released_at = $2, \
    outcome = $3, outcome_detail = $4, was_expired = $5 WHERE id = $1 AND released_at IS NULL \
    RETURNING id)";
/// [`RELEASE_LEASE_CTE`] only if neither row changed since it was read
/// (see `PostgresStore::release`). A row's `xmin` is the
/// transaction that wrote that version: any update makes a new one, a row
/// lock does not. The lease's is checked by the `UPDATE`, which locks the
/// row and, if another transaction changed it meanwhile, checks its newest
/// version again; the subscription's is read, not locked.
const RELEASE_LEASE_CHECKED_CTE: &str = "WITH released AS (UPDATE leases SET released_at = $2, \
    outcome = $3, outcome_detail = $4, was_expired = $5 WHERE id = $1 AND released_at IS NULL \
    AND CAST(xmin AS TEXT) = $26 AND EXISTS (SELECT 1 FROM subscriptions \
    WHERE id = $6 AND CAST(xmin AS TEXT) = $27) RETURNING id)";
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

/// Bit 8 of a release statement's index: the checked form.
pub(crate) const CHECKED: usize = 8;

/// Every combination of a release's writes: bit 1 usage, bit 2 health,
/// bit 4 transition, bit 8 [`CHECKED`]. The statement returns how many
/// leases it released.
pub(crate) static RELEASE: LazyLock<Vec<String>> = LazyLock::new(|| {
    (0..16)
        .map(|parts: usize| {
            let mut sql = if parts & CHECKED != 0 {
                RELEASE_LEASE_CHECKED_CTE.to_owned()
            } else {
                RELEASE_LEASE_CTE.to_owned()
            };
            for (bit, part) in [
                (1, RELEASE_USAGE_CTE),
                (2, RELEASE_HEALTH_CTE),
                (4, RELEASE_EVENT_CTE),
            ] {
                if parts & bit != 0 {
                    sql.push_str(part);
                }
            }
            sql.push_str(" SELECT COUNT(*) AS released FROM released");
            sql
        })
        .collect()
});

/// The lease to release with its subscription's full row, and the versions
/// of both rows; the id follows.
fn read_lease(id: &str) -> String {
    format!(
        "SELECT {LEASE_COLUMNS}, {SUBSCRIPTION_COLUMNS}, CAST(l.xmin AS TEXT) AS lease_version, \
         CAST(s.xmin AS TEXT) AS subscription_version \
         FROM leases l JOIN subscriptions s ON s.id = l.subscription_id WHERE l.id = {id}"
    )
}

/// The lease to release (`$1`), read without a lock.
pub(crate) static READ_LEASE: LazyLock<String> = LazyLock::new(|| read_lease("$1"));

/// `BEGIN` and the lease to release with its subscription, both locked. The
/// id is a UUID formatted here, safe as a literal.
pub(crate) fn begin_locked_release(lease: LeaseId) -> String {
    let id = format!("'{}'", lease.as_uuid().hyphenated());
    format!(
        "BEGIN; {} FOR UPDATE OF l FOR NO KEY UPDATE OF s",
        read_lease(&id)
    )
}

/// `BEGIN` and the locks of a capped claim: the pool-wide key shared, the
/// subscription's own key exclusively. The id is a UUID formatted here (hex
/// digits and hyphens), safe as a literal; the key stays
/// `hashtext(id)`, as every Kage version computes it, so that hosts of
/// different versions still exclude each other.
pub(crate) fn begin_claim(subscription: SubscriptionId) -> String {
    format!(
        "BEGIN; SELECT pg_advisory_xact_lock_shared({ACQUIRE_LOCK_KEY}), \
         pg_advisory_xact_lock({SUBSCRIPTION_LOCK_CLASS}, hashtext('{}'))",
        subscription.as_uuid().hyphenated()
    )
}

/// `BEGIN` and the pool-wide key exclusively: the serialized attempt.
pub(crate) static BEGIN_SERIALIZED: LazyLock<String> =
    LazyLock::new(|| format!("BEGIN; SELECT pg_advisory_xact_lock({ACQUIRE_LOCK_KEY})"));

/// The lease, when `$8` is NULL (no cap to check) or its subscription has
/// fewer than `$8` live leases; `$1..$7` as in the `leases` columns listed.
/// No row is inserted when the subscription is full or the lease id exists
/// (a retried acquire).
///
/// Its commit does not wait for the WAL flush: `set_config(..., true)`
/// lasts until the end of the transaction, the implicit one of a statement
/// run alone included, where `SET LOCAL` would need a `BEGIN`.
///
/// For a capped claim this runs after the statement that took the locks:
/// in READ COMMITTED each statement reads the commits made before it
/// started, so the count sees every claim that held the subscription's lock
/// before this one.
pub(crate) const INSERT_LEASE: &str = "INSERT INTO leases (id, subscription_id, namespace, level, \
    holder, acquired_at, expires_at) SELECT $1, $2, $3, $4, $5, $6, $7 \
    FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit \
    WHERE $8::BIGINT IS NULL OR (SELECT COUNT(*) FROM leases WHERE subscription_id = $2 \
    AND released_at IS NULL AND expires_at > $6) < $8 \
    ON CONFLICT (id) DO NOTHING";
