//! The SQL text only the SQLite backend runs; what both run is in
//! `src/sql.rs`.

use std::sync::LazyLock;

/// A write transaction that takes the file's write lock up front.
pub(crate) const BEGIN_IMMEDIATE: &str = "BEGIN IMMEDIATE";

/// sqlx's migrations table, as `sqlx migrate` makes it on SQLite.
pub(crate) const CREATE_MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    success BOOLEAN NOT NULL,
    checksum BLOB NOT NULL,
    execution_time BIGINT NOT NULL
)";

/// What an existing file holds: its application id...
pub(crate) const READ_APPLICATION_ID: &str = "PRAGMA application_id";

/// ...and its schema objects (tables, views, indexes, triggers: a file with
/// only a view is another program's), and how many are Kage's tables...
pub(crate) const TABLES: &str = "SELECT COUNT(*) AS tables, \
    COALESCE(SUM(type = 'table' AND name IN ('_sqlx_migrations', 'subscriptions')), 0) \
    AS kage_tables FROM sqlite_master";

/// ...and, when it has Kage's tables but not its application id, its
/// applied migrations, checked before anything is changed.
pub(crate) const APPLIED_MIGRATIONS: &str =
    "SELECT version, checksum, success FROM _sqlx_migrations";

/// The granted lease (`$1..$7` in the order of the columns); no change when
/// a retried acquire already took its id.
pub(crate) const INSERT_LEASE: &str = "INSERT INTO leases (id, subscription_id, namespace, level, \
    holder, acquired_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
    ON CONFLICT (id) DO NOTHING";

// The writes of a release, numbered as one argument list (see
// `ReleasePlan::bind`): $1 lease, $2 now, $3..$5 outcome, $6 subscription,
// $7..$13 usage, $14..$22 health, $23..$26 transition.
const RELEASE_LEASE: &str = "UPDATE leases SET released_at = $2, outcome = $3, \
    outcome_detail = $4, was_expired = $5 WHERE id = $1 AND released_at IS NULL; ";
/// The release's usage less what the lease's per-message records hold
/// already, field by field and never below zero; nothing when messages were
/// recorded and nothing is left (docs/decisions.md). The first record of a
/// lease counts it in the rollups' `leases`.
const RELEASE_USAGE: &str = "INSERT INTO usage_records (lease_id, subscription_id, at, \
    input_tokens, output_tokens, cache_write_tokens, cache_read_tokens, total_tokens, cost_micros, \
    model, lease_first) SELECT $1, $6, $2, i, o, w, r, MIN(i + o + w + r, $11), c, $13, n = 0 \
    FROM (SELECT MAX($7 - COALESCE(SUM(input_tokens), 0), 0) AS i, \
    MAX($8 - COALESCE(SUM(output_tokens), 0), 0) AS o, \
    MAX($9 - COALESCE(SUM(cache_write_tokens), 0), 0) AS w, \
    MAX($10 - COALESCE(SUM(cache_read_tokens), 0), 0) AS r, \
    CASE WHEN $12 IS NULL THEN NULL ELSE MAX($12 - COALESCE(SUM(cost_micros), 0), 0) END AS c, \
    COUNT(*) AS n FROM usage_records WHERE lease_id = $1) rest \
    WHERE n = 0 OR i + o + w + r > 0 OR COALESCE(c, 0) > 0; ";
const RELEASE_HEALTH: &str = "UPDATE subscriptions SET state = $14, state_until = $15, \
    state_reason = $16, consecutive_errors = $17, unhealthy_relapses = $18, last_utilization = $19, \
    last_utilization_at = $20, last_limited_at = $21, quota = $22 WHERE id = $6; ";
const RELEASE_EVENT: &str = "INSERT INTO state_events (subscription_id, at, from_state, \
    to_state, until, reason, lease_id) VALUES ($6, $2, $23, $24, $25, $26, $1); ";

/// Every combination of a release's writes, as one batch in the release's
/// transaction, indexed by `ReleasePlan::parts`: bit 1 usage, bit 2 health,
/// bit 4 transition.
pub(crate) static RELEASE: LazyLock<Vec<String>> = LazyLock::new(|| {
    (0..8)
        .map(|parts: u8| {
            let mut sql = RELEASE_LEASE.to_owned();
            for (bit, part) in [(1, RELEASE_USAGE), (2, RELEASE_HEALTH), (4, RELEASE_EVENT)] {
                if parts & bit != 0 {
                    sql.push_str(part);
                }
            }
            sql
        })
        .collect()
});
