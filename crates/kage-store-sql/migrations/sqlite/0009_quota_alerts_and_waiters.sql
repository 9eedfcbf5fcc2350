-- Schema version 9 (SQLite): warnings before the limit, and the acquires
-- that wait (both for `kage top` and `kage-agent`).
--
-- quota_alerts: one row per subscription, quota window, period and
-- threshold, recorded once (INSERT … ON CONFLICT DO NOTHING: of several
-- processes recording the same alert, exactly one inserts it and tells).
-- `period` is the window's reset time rounded to 10 minutes, or the start of
-- its nominal period when no reset time was reported (unix ms).
CREATE TABLE quota_alerts (
    subscription_id    TEXT    NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    quota_window       TEXT    NOT NULL,
    period             INTEGER NOT NULL,
    threshold_permille INTEGER NOT NULL CHECK (threshold_permille BETWEEN 1 AND 1000),
    utilization        REAL    NOT NULL,
    resets_at          INTEGER,
    at                 INTEGER NOT NULL,
    PRIMARY KEY (subscription_id, quota_window, period, threshold_permille)
) STRICT, WITHOUT ROWID;

CREATE INDEX quota_alerts_by_time ON quota_alerts (at);

-- lease_waiters: an acquire waiting for a subscription; the waiting process
-- saves its row again every 30 s, and a row past expires_at has gone.
CREATE TABLE lease_waiters (
    id                TEXT    NOT NULL PRIMARY KEY,
    holder            TEXT    NOT NULL,
    request           TEXT    NOT NULL,
    since             INTEGER NOT NULL,
    until             INTEGER NOT NULL,
    deadline          INTEGER,
    earliest_recovery INTEGER,
    earliest_name     TEXT,
    expires_at        INTEGER NOT NULL
) STRICT;
