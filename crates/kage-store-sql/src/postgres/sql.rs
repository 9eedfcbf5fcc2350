//! The SQL text only the PostgreSQL backend runs; what both run is in
//! `src/sql.rs`.

use std::sync::LazyLock;

use kage_domain::{LeaseId, SubscriptionId};

use super::{ACQUIRE_LOCK_KEY, SUBSCRIPTION_LOCK_CLASS};
use crate::sql::{
    LEASE_COLUMNS, LEASE_WITH_SUBSCRIPTION, SUBSCRIPTION_BY_ID, SUBSCRIPTION_COLUMNS, snapshot,
};

/// The pool with each subscription's claims (`net_claims` as `claims`): what an
/// acquire selects on, then claims with [`INSERT_LEASE`].
pub(crate) static SNAPSHOT_WITH_CLAIMS: LazyLock<String> = LazyLock::new(|| {
    snapshot(
        ", COALESCE((SELECT c.net_claims FROM subscription_claims c \
         WHERE c.subscription_id = s.id), 0) AS claims",
    )
});

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
// $7..$13 usage, $14..$22 health, $23..$26 transition, and in the checked
// form $27..$28 the versions of the lease and subscription rows read.
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
    AND CAST(xmin AS TEXT) = $27 AND EXISTS (SELECT 1 FROM subscriptions \
    WHERE id = $6 AND CAST(xmin AS TEXT) = $28) RETURNING id)";
/// The release's usage less what the lease's per-message records hold
/// already, field by field and never below zero; nothing when messages were
/// recorded and nothing is left (docs/decisions.md).
const RELEASE_USAGE_CTE: &str = ", usage AS (INSERT INTO usage_records (lease_id, \
    subscription_id, at, input_tokens, output_tokens, cache_write_tokens, cache_read_tokens, \
    total_tokens, cost_micros, model, lease_first) SELECT $1, $6, $2, rest.i, rest.o, rest.w, \
    rest.r, LEAST(rest.i + rest.o + rest.w + rest.r, $11), rest.c, $13, \
    CASE WHEN rest.n = 0 THEN 1 ELSE 0 END \
    FROM (SELECT GREATEST($7 - COALESCE(SUM(input_tokens), 0), 0) AS i, \
    GREATEST($8 - COALESCE(SUM(output_tokens), 0), 0) AS o, \
    GREATEST($9 - COALESCE(SUM(cache_write_tokens), 0), 0) AS w, \
    GREATEST($10 - COALESCE(SUM(cache_read_tokens), 0), 0) AS r, \
    CASE WHEN $12::BIGINT IS NULL THEN NULL \
    ELSE GREATEST($12 - COALESCE(SUM(cost_micros), 0), 0) END AS c, \
    COUNT(*) AS n FROM usage_records WHERE lease_id = $1) rest, released \
    WHERE rest.n = 0 OR rest.i + rest.o + rest.w + rest.r > 0 OR COALESCE(rest.c, 0) > 0 \
    RETURNING 1)";
const RELEASE_HEALTH_CTE: &str = ", health AS (UPDATE subscriptions SET state = $14, \
    state_until = $15, state_reason = $16, consecutive_errors = $17, unhealthy_relapses = $18, \
    last_utilization = $19, last_utilization_at = $20, last_limited_at = $21, quota = $22 \
    WHERE id = $6 AND EXISTS (SELECT 1 FROM released) RETURNING 1)";
/// A released lease no longer counts in its subscription's claims (see
/// [`INSERT_LEASE`]).
const RELEASE_CLAIM_CTE: &str = ", unclaim AS (UPDATE subscription_claims \
    SET net_claims = net_claims - 1 WHERE subscription_id = $6 \
    AND EXISTS (SELECT 1 FROM released) RETURNING 1)";
const RELEASE_EVENT_CTE: &str = ", event AS (INSERT INTO state_events (subscription_id, at, \
    from_state, to_state, until, reason, lease_id) SELECT $6, $2, $23, $24, $25, $26, $1 \
    FROM released RETURNING 1)";

/// Bit 8 of a release statement's index: the checked form.
pub(crate) const CHECKED: usize = 8;

/// Every combination of a release's writes: bit 1 usage, bit 2 health,
/// bit 4 transition, bit 8 [`CHECKED`]; every form gives the claim back.
/// The statement returns how many leases it released.
pub(crate) static RELEASE: LazyLock<Vec<String>> = LazyLock::new(|| {
    (0..16)
        .map(|parts: usize| {
            let mut sql = if parts & CHECKED != 0 {
                RELEASE_LEASE_CHECKED_CTE.to_owned()
            } else {
                RELEASE_LEASE_CTE.to_owned()
            };
            sql.push_str(RELEASE_CLAIM_CTE);
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

/// Claim the subscription `$2` and insert the lease `$1..$7` (as in the
/// `leases` columns listed) when `$8` is NULL (no cap to check) or the
/// subscription has fewer than `$8` live leases, and when its claims
/// (`net_claims`) are at most `$9`, what the acquire's snapshot read.
/// Returns how many leases were `inserted` (0 or 1). None is inserted when
/// the subscription is full, when other acquires claimed it since the
/// snapshot (more than were released), or when the lease id exists (a
/// retried acquire).
///
/// The claim is the serialization point of selection: an acquire selects on
/// a snapshot read without a lock, so acquires at once would all pick the
/// same subscription (the spread of parallel agents lost). `net_claims`
/// counts the leases granted minus those released (an expired lease never
/// released stays counted; only the difference from the snapshot matters),
/// on a row of its own (the subscription's row is left alone: its version
/// guards the releases' fast path). Claims of one subscription queue on its
/// row; the one after sees the first's claim (`UPDATE` checks the newest
/// version of the row it waited for), inserts nothing, and its acquire
/// selects again.
///
/// Its commit does not wait for the WAL flush: `set_config(..., true)`
/// lasts until the end of the transaction, the implicit one of a statement
/// run alone included, where `SET LOCAL` would need a `BEGIN`.
///
/// For a capped claim this runs after the statement that took the locks:
/// in READ COMMITTED each statement reads the commits made before it
/// started, so the count sees every claim that held the subscription's lock
/// before this one.
pub(crate) const INSERT_LEASE: &str = "WITH claim AS (UPDATE subscription_claims \
    SET net_claims = net_claims + 1 WHERE subscription_id = $2 AND net_claims <= $9 \
    RETURNING 1), \
    lease AS (INSERT INTO leases (id, subscription_id, namespace, level, holder, acquired_at, \
    expires_at) SELECT $1, $2, $3, $4, $5, $6, $7 \
    FROM claim, (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit \
    WHERE $8::BIGINT IS NULL OR (SELECT COUNT(*) FROM leases WHERE subscription_id = $2 \
    AND released_at IS NULL AND expires_at > $6) < $8 \
    ON CONFLICT (id) DO NOTHING RETURNING 1) \
    SELECT (SELECT COUNT(*) FROM lease) AS inserted";

/// [`INSERT_LEASE`] for the serialized attempt (`$8` and `$9` NULL, no cap
/// to check: no capped claim runs meanwhile): the claim is counted, not
/// checked.
pub(crate) const INSERT_LEASE_SERIALIZED: &str = "WITH claim AS (UPDATE subscription_claims \
    SET net_claims = net_claims + 1 WHERE subscription_id = $2 AND $8::BIGINT IS NULL \
    AND $9::BIGINT IS NULL RETURNING 1), \
    lease AS (INSERT INTO leases (id, subscription_id, namespace, level, holder, acquired_at, \
    expires_at) SELECT $1, $2, $3, $4, $5, $6, $7 \
    FROM (SELECT COUNT(*) AS claimed FROM claim) AS claim, \
    (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit \
    ON CONFLICT (id) DO NOTHING RETURNING 1) \
    SELECT (SELECT COUNT(*) FROM lease) AS inserted";
