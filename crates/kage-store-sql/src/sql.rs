//! The SQL text both backends run unchanged (sqlx binds `$1`-style
//! parameters on SQLite too). What only one backend runs is in
//! `sqlite/sql.rs` and `postgres/sql.rs`.
//!
//! Statements built from the column lists are `LazyLock<String>`s, made
//! once on first use.

use std::sync::LazyLock;

/// The columns of `subscriptions s`, in [`crate::codec::SubscriptionRow`]'s names.
/// A retired subscription's name is its `retired_name` (its `name` column
/// holds `NAME/ID` then, see migration 0008).
pub(crate) const SUBSCRIPTION_COLUMNS: &str = "s.id, COALESCE(s.retired_name, s.name) AS name, \
    s.description, s.priority, s.tags, \
    s.kind, s.credential_source, s.credential_ref, s.max_concurrent, s.state, s.state_until, \
    s.state_reason, s.consecutive_errors, s.unhealthy_relapses, s.last_utilization, \
    s.last_utilization_at, s.last_limited_at, s.created_at, s.quota, s.retired_at";

/// The columns of `leases l JOIN subscriptions s`, in [`crate::codec::LeaseRow`]'s names.
pub(crate) const LEASE_COLUMNS: &str = "l.id AS lease_id, l.subscription_id, \
    COALESCE(s.retired_name, s.name) AS subscription_name, s.kind AS subscription_kind, \
    l.namespace, l.level, l.holder, l.acquired_at, l.expires_at, l.released_at";

/// Every subscription in the pool (retired ones left out) with what
/// selection needs: `$1` now, `$2` the start of the usage window
/// (`usage_window`; its tokens are summed from the 10-second rollup, never
/// from the records).
pub(crate) static SNAPSHOT: LazyLock<String> = LazyLock::new(|| snapshot(""));

/// [`SNAPSHOT`] with `extra` columns (PostgreSQL adds its claims).
pub(crate) fn snapshot(extra: &str) -> String {
    format!(
        "SELECT {SUBSCRIPTION_COLUMNS}, \
         (SELECT COUNT(*) FROM leases l WHERE l.subscription_id = s.id \
           AND l.released_at IS NULL AND l.expires_at > $1) AS live_leases, \
         (SELECT MIN(l.expires_at) FROM leases l WHERE l.subscription_id = s.id \
           AND l.released_at IS NULL AND l.expires_at > $1) AS earliest_lease_expiry, \
         (SELECT MAX(l.acquired_at) FROM leases l WHERE l.subscription_id = s.id) AS last_leased_at, \
         (SELECT CAST(COALESCE(SUM(r.total_tokens), 0) AS BIGINT) FROM usage_recent r \
           WHERE r.subscription_id = s.id AND r.bucket_start > $2 - 10000 \
           AND r.bucket_start < $1) AS window_tokens{extra} \
         FROM subscriptions s WHERE s.retired_at IS NULL"
    )
}

/// One lease by id (`$1`).
pub(crate) static LEASE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {LEASE_COLUMNS} FROM leases l JOIN subscriptions s ON s.id = l.subscription_id \
         WHERE l.id = $1"
    )
});

/// One lease by id (`$1`) with its subscription's full row; each backend
/// adds its row locks.
pub(crate) static LEASE_WITH_SUBSCRIPTION: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {LEASE_COLUMNS}, {SUBSCRIPTION_COLUMNS} FROM leases l \
         JOIN subscriptions s ON s.id = l.subscription_id WHERE l.id = $1"
    )
});

/// The live leases at `$1`, oldest first (ties by subscription name, so a
/// listing of leases taken in the same millisecond reads the same every time).
pub(crate) static LIVE_LEASES: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {LEASE_COLUMNS} FROM leases l JOIN subscriptions s ON s.id = l.subscription_id \
         WHERE l.released_at IS NULL AND l.expires_at > $1 ORDER BY l.acquired_at, s.name, l.id"
    )
});

/// The subscriptions in the pool.
pub(crate) static LIST_SUBSCRIPTIONS: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions s WHERE s.retired_at IS NULL")
});

/// The retired subscriptions.
pub(crate) static LIST_RETIRED: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions s WHERE s.retired_at IS NOT NULL")
});

/// The subscription in the pool named `$1`.
pub(crate) static SUBSCRIPTION_BY_NAME: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions s \
         WHERE s.name = $1 AND s.retired_at IS NULL"
    )
});

/// One subscription by id (`$1`); each backend adds its row lock.
pub(crate) static SUBSCRIPTION_BY_ID: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions s WHERE s.id = $1"));

/// `$1..$9` as [`crate::codec::SettingsParams::bind`], `$10` the creation
/// time, `$11..$19` as
/// [`crate::codec::HealthParams::bind`].
pub(crate) const INSERT_SUBSCRIPTION: &str = "INSERT INTO subscriptions (id, name, description, \
    priority, tags, kind, credential_source, credential_ref, max_concurrent, created_at, state, \
    state_until, state_reason, consecutive_errors, unhealthy_relapses, last_utilization, \
    last_utilization_at, last_limited_at, quota) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
    $11, $12, $13, $14, $15, $16, $17, $18, $19)";

/// `$1..$9` as [`crate::codec::SettingsParams::bind`]; a retired
/// subscription is not changed.
pub(crate) const UPDATE_SUBSCRIPTION: &str = "UPDATE subscriptions SET name = $2, \
    description = $3, priority = $4, tags = $5, kind = $6, credential_source = $7, \
    credential_ref = $8, max_concurrent = $9 WHERE id = $1 AND retired_at IS NULL";

pub(crate) const DELETE_SUBSCRIPTION: &str = "DELETE FROM subscriptions WHERE id = $1";

/// Retire subscription `$1` at `$2`: its name moves to `retired_name`, and
/// `name` becomes `NAME/ID`, free for a new subscription to take.
pub(crate) const RETIRE_SUBSCRIPTION: &str = "UPDATE subscriptions SET retired_at = $2, \
    retired_name = name, name = name || '/' || id WHERE id = $1 AND retired_at IS NULL";

/// `$1` the subscription, `$2..$10` as [`crate::codec::HealthParams::bind`].
pub(crate) const UPDATE_HEALTH: &str = "UPDATE subscriptions SET state = $2, state_until = $3, \
    state_reason = $4, consecutive_errors = $5, unhealthy_relapses = $6, last_utilization = $7, \
    last_utilization_at = $8, last_limited_at = $9, quota = $10 WHERE id = $1";

pub(crate) const INSERT_EVENT: &str = "INSERT INTO state_events \
    (subscription_id, at, from_state, to_state, until, reason, lease_id) \
    VALUES ($1, $2, $3, $4, $5, $6, $7)";

pub(crate) const TRANSITIONS: &str = "SELECT subscription_id, at, from_state, to_state, until, \
    reason, lease_id FROM state_events WHERE subscription_id = $1 ORDER BY at DESC, id DESC \
    LIMIT $2";

pub(crate) const TRANSITION_COUNTS: &str = "SELECT subscription_id, to_state, \
    CAST(COUNT(*) AS BIGINT) AS transitions FROM state_events GROUP BY subscription_id, to_state";

pub(crate) const SAVE_ROUTE: &str = "INSERT INTO routes (target_kind, target, entries) \
    VALUES ($1, $2, $3) ON CONFLICT (target_kind, target) DO UPDATE SET entries = excluded.entries";

pub(crate) const DELETE_ROUTE: &str = "DELETE FROM routes WHERE target_kind = $1 AND target = $2";

pub(crate) const LOAD_ROUTES: &str = "SELECT target_kind, target, entries FROM routes";

pub(crate) const RENEW_LEASE: &str = "UPDATE leases SET expires_at = $2 WHERE id = $1";

pub(crate) const DAILY_OFFSET_KNOWN: &str =
    "SELECT utc_offset_ms FROM usage_daily_offsets WHERE utc_offset_ms = $1";

pub(crate) const REGISTER_DAILY_OFFSET: &str = "INSERT INTO usage_daily_offsets \
    (utc_offset_ms, registered) SELECT $1, COALESCE(MAX(registered), 0) + 1 \
    FROM usage_daily_offsets WHERE TRUE ON CONFLICT (utc_offset_ms) DO NOTHING";

/// The daily rollup of offset `$1`, from every record.
pub(crate) const FILL_DAILY: &str = "INSERT INTO usage_daily (utc_offset_ms, day, \
    subscription_id, input_tokens, output_tokens, cache_write_tokens, cache_read_tokens, \
    total_tokens, cost_micros, costed, leases) \
    SELECT $1, (at + $1) / 86400000, subscription_id, SUM(input_tokens), SUM(output_tokens), \
    SUM(cache_write_tokens), SUM(cache_read_tokens), SUM(total_tokens), \
    COALESCE(SUM(cost_micros), 0), COUNT(cost_micros), SUM(lease_first) FROM usage_records \
    GROUP BY 2, 3";

pub(crate) const DAILY_OFFSETS_NEWEST_FIRST: &str =
    "SELECT utc_offset_ms FROM usage_daily_offsets ORDER BY registered DESC";

pub(crate) const DELETE_DAILY: &str = "DELETE FROM usage_daily WHERE utc_offset_ms = $1";

pub(crate) const DELETE_DAILY_OFFSET: &str =
    "DELETE FROM usage_daily_offsets WHERE utc_offset_ms = $1";

pub(crate) const APPLIED_MIGRATIONS: &str =
    "SELECT version, checksum, success FROM _sqlx_migrations ORDER BY version";

pub(crate) const RECORD_MIGRATION: &str = "INSERT INTO _sqlx_migrations (version, description, \
    success, checksum, execution_time) VALUES ($1, $2, TRUE, $3, $4)";

/// `daily_usage` over every subscription; parameters as
/// [`crate::usage::DailyParams::bind`] numbers them.
pub(crate) static DAILY_USAGE: LazyLock<String> = LazyLock::new(|| daily_usage(""));

/// `daily_usage` of the subscription `$16`.
pub(crate) static DAILY_USAGE_OF_ONE: LazyLock<String> =
    LazyLock::new(|| daily_usage(" AND subscription_id = $16"));

/// Whether the partial last day of a range is read from its daily row: it
/// may (`$21` is 1) and no record lies in `[$19, $20)`, the rest of that day.
const TAIL_FROM_DAILY: &str =
    "($21 = 1 AND NOT EXISTS (SELECT 1 FROM usage_records WHERE at >= $19 AND at < $20))";

/// Whole local days from the daily rollup (`$1` the offset in ms, `$2..$3`
/// the day numbers), the whole hours of the partial days at either end from
/// the hourly rollup (`$4..$5`, `$6..$7`), and the partial hours at the very
/// ends from the raw records (`$8..$15`); `$16` is the subscription when one
/// is asked for.
///
/// When the partial last day may come from its daily row
/// ([`TAIL_FROM_DAILY`]), the day numbers are `$17..$18` instead and the last
/// day's hours and records are left out. Every range is its own part with
/// plain bind values as bounds, and the choice is a separate condition that
/// does not name the table (evaluated once): range bounds computed by an
/// expression, or ranges joined by OR, let the planner (SQLite's STAT4
/// estimates in particular) fall back to scanning the whole table. The parts
/// may repeat a (subscription, day); the merge adds them up. They come back
/// as one text value (`packed`) instead of thousands of rows: a row costs
/// more to carry than to compute.
fn daily_usage(filter: &str) -> String {
    let tail = format!(" AND {TAIL_FROM_DAILY}");
    let no_tail = format!(" AND NOT {TAIL_FROM_DAILY}");
    let daily = |first: &str, end: &str, when: &str| {
        format!(
            "SELECT subscription_id, day, input_tokens, output_tokens, cache_write_tokens, \
             cache_read_tokens, cost_micros, costed, leases FROM usage_daily \
             WHERE utc_offset_ms = $1 AND day >= {first} AND day < {end}{filter}{when}"
        )
    };
    let sums = |cost: &str, costed: &str, leases: &str| {
        format!(
            "CAST(SUM(input_tokens) AS BIGINT) AS input_tokens, \
             CAST(SUM(output_tokens) AS BIGINT) AS output_tokens, \
             CAST(SUM(cache_write_tokens) AS BIGINT) AS cache_write_tokens, \
             CAST(SUM(cache_read_tokens) AS BIGINT) AS cache_read_tokens, \
             {cost} AS cost_micros, {costed} AS costed, {leases} AS leases"
        )
    };
    let hourly_sums = sums(
        "CAST(SUM(cost_micros) AS BIGINT)",
        "CAST(SUM(costed) AS BIGINT)",
        "CAST(SUM(leases) AS BIGINT)",
    );
    let raw_sums = sums(
        "CAST(COALESCE(SUM(cost_micros), 0) AS BIGINT)",
        "CAST(COUNT(cost_micros) AS BIGINT)",
        "CAST(SUM(lease_first) AS BIGINT)",
    );
    let hourly = |start: &str, end: &str, when: &str| {
        format!(
            "SELECT subscription_id, (hour_start + $1) / 86400000 AS day, {hourly_sums} \
             FROM usage_hourly WHERE hour_start >= {start} AND hour_start < {end}{filter}{when} \
             GROUP BY 1, 2"
        )
    };
    let raw = |start: &str, end: &str, when: &str| {
        format!(
            "SELECT subscription_id, (at + $1) / 86400000 AS day, {raw_sums} \
             FROM usage_records WHERE at >= {start} AND at < {end}{filter}{when} GROUP BY 1, 2"
        )
    };
    let parts = [
        daily("$17", "$18", &tail),
        daily("$2", "$3", &no_tail),
        hourly("$4", "$5", ""),
        hourly("$6", "$7", &no_tail),
        raw("$8", "$9", ""),
        raw("$10", "$11", ""),
        raw("$12", "$13", &no_tail),
        raw("$14", "$15", &no_tail),
    ];
    format!(
        "SELECT string_agg(subscription_id || ' ' || day || ' ' || input_tokens || ' ' || \
         output_tokens || ' ' || cache_write_tokens || ' ' || cache_read_tokens || ' ' || \
         cost_micros || ' ' || costed || ' ' || leases, ',') AS packed FROM ({}) parts",
        parts.join(" UNION ALL ")
    )
}

/// One message's usage unless its key is recorded already: `$1` key, `$2`
/// lease (or NULL), `$3` subscription, `$4` time, `$5..$11` the usage
/// ([`crate::codec::UsageParams::bind`]). The record is its lease's first
/// (counted once in the rollups' `leases`) when the lease has no other.
pub(crate) const INSERT_KEYED_USAGE: &str = "INSERT INTO usage_records (usage_key, lease_id, \
    subscription_id, at, input_tokens, output_tokens, cache_write_tokens, cache_read_tokens, \
    total_tokens, cost_micros, model, lease_first) \
    SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, \
    CASE WHEN $2 IS NULL THEN 0 \
    WHEN EXISTS (SELECT 1 FROM usage_records WHERE lease_id = $2) THEN 0 ELSE 1 END \
    WHERE TRUE ON CONFLICT (usage_key) DO NOTHING";

/// Whether subscription `$1` is stored (live or retired).
pub(crate) const SUBSCRIPTION_STORED: &str = "SELECT id FROM subscriptions WHERE id = $1";

/// Save how far a transcript was read: `$1` path, `$2` bytes, `$3` time.
pub(crate) const SAVE_TRANSCRIPT_OFFSET: &str = "INSERT INTO transcript_offsets (path, read_to, at) \
    VALUES ($1, $2, $3) ON CONFLICT (path) DO UPDATE SET read_to = excluded.read_to, at = excluded.at";

/// Every transcript's saved offset.
pub(crate) const TRANSCRIPT_OFFSETS: &str =
    "SELECT path, read_to FROM transcript_offsets ORDER BY path";

/// Record one alert unless its key is known: `$1` subscription, `$2` window,
/// `$3` period, `$4` threshold, `$5` utilization, `$6` reset, `$7` at.
pub(crate) const INSERT_QUOTA_ALERT: &str = "INSERT INTO quota_alerts (subscription_id, \
    quota_window, period, threshold_permille, utilization, resets_at, at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7) \
    ON CONFLICT (subscription_id, quota_window, period, threshold_permille) DO NOTHING";

/// Alerts recorded at or after `$1`, oldest first, with the subscription's name.
pub(crate) const QUOTA_ALERTS_SINCE: &str = "SELECT a.subscription_id, s.name AS subscription_name, \
    a.quota_window, a.period, a.threshold_permille, a.utilization, a.resets_at, a.at \
    FROM quota_alerts a JOIN subscriptions s ON s.id = a.subscription_id \
    WHERE a.at >= $1 ORDER BY a.at, s.name, a.quota_window, a.threshold_permille";

/// Save a waiter: `$1` id … `$9` expiry.
pub(crate) const SAVE_WAITER: &str = "INSERT INTO lease_waiters (id, holder, request, since, \
    until, deadline, earliest_recovery, earliest_name, expires_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO UPDATE SET \
    until = excluded.until, deadline = excluded.deadline, \
    earliest_recovery = excluded.earliest_recovery, earliest_name = excluded.earliest_name, \
    expires_at = excluded.expires_at";

/// Drop the waiters expired at `$1`.
pub(crate) const DELETE_EXPIRED_WAITERS: &str = "DELETE FROM lease_waiters WHERE expires_at <= $1";

pub(crate) const DELETE_WAITER: &str = "DELETE FROM lease_waiters WHERE id = $1";

/// Waiters not expired at `$1`, oldest first.
pub(crate) const WAITERS: &str = "SELECT id, holder, request, since, until, deadline, \
    earliest_recovery, earliest_name, expires_at FROM lease_waiters \
    WHERE expires_at > $1 ORDER BY since, id";
