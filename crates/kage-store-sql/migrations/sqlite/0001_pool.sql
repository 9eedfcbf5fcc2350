-- Kage pool store, SQLite, schema version 1: the pool itself.
--
-- Timestamps are unix milliseconds (INTEGER), ids are hyphenated UUID text.
-- The database never holds a secret: a subscription names where its
-- credential lives (the OS keychain, a command line or an environment
-- variable name), never the credential. Migrations are only ever added.

-- 'KAGE' in ASCII: lets Kage tell its own files from other SQLite files.
PRAGMA application_id = 1262569285;

CREATE TABLE subscriptions (
    id                  TEXT    NOT NULL PRIMARY KEY,
    name                TEXT    NOT NULL UNIQUE,
    description         TEXT,
    priority            INTEGER NOT NULL CHECK (priority BETWEEN 0 AND 255),
    -- sorted, comma-joined; a tag never holds a comma
    tags                TEXT    NOT NULL DEFAULT '',
    kind                TEXT    NOT NULL CHECK (kind IN ('oauth', 'api-key')),
    credential_source   TEXT    NOT NULL CHECK (credential_source IN ('keychain', 'command', 'env')),
    -- the command text or the variable name; never a secret
    credential_ref      TEXT    CHECK (credential_ref IS NULL OR credential_ref NOT LIKE '%sk-ant-%'),
    max_concurrent      INTEGER CHECK (max_concurrent IS NULL OR max_concurrent >= 0),
    -- health
    state               TEXT    NOT NULL DEFAULT 'active'
                                CHECK (state IN ('active', 'rate_limited', 'exhausted', 'disabled', 'unhealthy')),
    state_until         INTEGER,
    state_reason        TEXT,
    consecutive_errors  INTEGER NOT NULL DEFAULT 0,
    unhealthy_relapses  INTEGER NOT NULL DEFAULT 0,
    last_utilization    REAL,
    last_utilization_at INTEGER,
    last_limited_at     INTEGER,
    created_at          INTEGER NOT NULL
) STRICT;

-- Saved routing rules: target_kind 'namespace' or 'priority'; entries are
-- comma-joined subscription names and `tag:NAME`s, in the order given.
CREATE TABLE routes (
    target_kind TEXT NOT NULL CHECK (target_kind IN ('namespace', 'priority')),
    target      TEXT NOT NULL,
    entries     TEXT NOT NULL,
    PRIMARY KEY (target_kind, target)
) STRICT, WITHOUT ROWID;

CREATE TABLE leases (
    id              TEXT    NOT NULL PRIMARY KEY,
    subscription_id TEXT    NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    namespace       TEXT,
    level           TEXT    NOT NULL,
    holder          TEXT    NOT NULL,
    acquired_at     INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    released_at     INTEGER,
    -- set by the release: the outcome's label and text, and whether the
    -- lease had expired by then (0 or 1)
    outcome         TEXT,
    outcome_detail  TEXT,
    was_expired     INTEGER
) STRICT;

-- Live leases: unreleased ones, by expiry (expired ones stop counting at once
-- because every reader compares expires_at with its `now`).
CREATE INDEX leases_unreleased ON leases (subscription_id, expires_at) WHERE released_at IS NULL;
CREATE INDEX leases_by_subscription ON leases (subscription_id, acquired_at);

-- One row per release that used something; lease_id is unique so a lease's
-- usage can never be counted twice.
CREATE TABLE usage_records (
    id                 INTEGER NOT NULL PRIMARY KEY,
    lease_id           TEXT    UNIQUE,
    subscription_id    TEXT    NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    at                 INTEGER NOT NULL,
    input_tokens       INTEGER NOT NULL,
    output_tokens      INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL,
    cache_read_tokens  INTEGER NOT NULL,
    total_tokens       INTEGER NOT NULL,
    cost_micros        INTEGER,
    model              TEXT
) STRICT;

-- The partial hours at the edges of a daily_usage range.
CREATE INDEX usage_records_by_time ON usage_records (at);

-- Every state change, for `kage subscription show`.
CREATE TABLE state_events (
    id              INTEGER NOT NULL PRIMARY KEY,
    subscription_id TEXT    NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    at              INTEGER NOT NULL,
    from_state      TEXT    NOT NULL,
    to_state        TEXT    NOT NULL,
    until           INTEGER,
    reason          TEXT    NOT NULL,
    lease_id        TEXT
) STRICT;

CREATE INDEX state_events_by_subscription ON state_events (subscription_id, at, id);
