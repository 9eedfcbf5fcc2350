-- Schema version 9 (PostgreSQL): warnings before the limit, and the
-- acquires that wait (both for `kage top` and `kage-agent`).
--
-- quota_alerts: one row per subscription, quota window, period and
-- threshold, recorded once (INSERT … ON CONFLICT DO NOTHING: of several
-- processes recording the same alert, exactly one inserts it and tells).
-- `period` is the window's reset time rounded to 10 minutes, or the start of
-- its nominal period when no reset time was reported (unix ms).
CREATE TABLE quota_alerts (
    subscription_id    TEXT             NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    quota_window       TEXT             NOT NULL,
    period             BIGINT           NOT NULL,
    threshold_permille BIGINT           NOT NULL CHECK (threshold_permille BETWEEN 1 AND 1000),
    utilization        DOUBLE PRECISION NOT NULL,
    resets_at          BIGINT,
    at                 BIGINT           NOT NULL,
    PRIMARY KEY (subscription_id, quota_window, period, threshold_permille)
);

CREATE INDEX quota_alerts_by_time ON quota_alerts (at);

-- lease_waiters: an acquire waiting for a subscription; the waiting process
-- saves its row again every 30 s, and a row past expires_at has gone.
CREATE TABLE lease_waiters (
    id                TEXT   NOT NULL PRIMARY KEY,
    holder            TEXT   NOT NULL,
    request           TEXT   NOT NULL,
    since             BIGINT NOT NULL,
    until             BIGINT NOT NULL,
    deadline          BIGINT,
    earliest_recovery BIGINT,
    earliest_name     TEXT,
    expires_at        BIGINT NOT NULL
);
