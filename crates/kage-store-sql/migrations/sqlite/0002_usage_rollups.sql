-- Kage pool store, SQLite, schema version 2: usage rollups, so that
-- selection's recent-usage window and "usage today / this month" read a few
-- rows per subscription instead of every usage record.
--
-- All three are kept by one trigger in the same transaction as the usage
-- record, so rollups and records can never disagree:
-- - usage_hourly: per subscription and UTC hour (the partial days at the ends
--   of a daily_usage range);
-- - usage_recent: tokens per subscription and 10-second bucket, for the
--   recent-usage window of selection; buckets older than a day are pruned as
--   new usage arrives;
-- - usage_daily: per subscription and local day, for each zone offset that
--   daily_usage has been asked for (usage_daily_offsets; the store keeps the
--   4 most recently registered and fills a new one from the records).

CREATE TABLE usage_hourly (
    subscription_id    TEXT    NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    hour_start         INTEGER NOT NULL,
    input_tokens       INTEGER NOT NULL,
    output_tokens      INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL,
    cache_read_tokens  INTEGER NOT NULL,
    total_tokens       INTEGER NOT NULL,
    cost_micros        INTEGER NOT NULL,
    -- how many of the records carried a cost (none: the cost is unknown)
    costed             INTEGER NOT NULL,
    -- how many records (= releases with usage)
    leases             INTEGER NOT NULL,
    PRIMARY KEY (subscription_id, hour_start)
) STRICT, WITHOUT ROWID;

CREATE INDEX usage_hourly_by_hour ON usage_hourly (hour_start);

CREATE TABLE usage_recent (
    subscription_id TEXT    NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    bucket_start    INTEGER NOT NULL,
    total_tokens    INTEGER NOT NULL,
    PRIMARY KEY (subscription_id, bucket_start)
) STRICT, WITHOUT ROWID;

CREATE TABLE usage_daily_offsets (
    utc_offset_ms INTEGER NOT NULL PRIMARY KEY,
    -- registration order: the oldest beyond the 4th are dropped
    registered    INTEGER NOT NULL
) STRICT;

CREATE TABLE usage_daily (
    utc_offset_ms      INTEGER NOT NULL,
    -- days since 1970-01-01 in that offset
    day                INTEGER NOT NULL,
    subscription_id    TEXT    NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    input_tokens       INTEGER NOT NULL,
    output_tokens      INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL,
    cache_read_tokens  INTEGER NOT NULL,
    total_tokens       INTEGER NOT NULL,
    cost_micros        INTEGER NOT NULL,
    costed             INTEGER NOT NULL,
    leases             INTEGER NOT NULL,
    PRIMARY KEY (utc_offset_ms, day, subscription_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX usage_daily_by_subscription ON usage_daily (subscription_id);

-- Records written by schema version 1 are rolled up once.
INSERT INTO usage_hourly
SELECT subscription_id, at - at % 3600000,
       SUM(input_tokens), SUM(output_tokens), SUM(cache_write_tokens), SUM(cache_read_tokens),
       SUM(total_tokens), COALESCE(SUM(cost_micros), 0), COUNT(cost_micros), COUNT(*)
FROM usage_records
GROUP BY subscription_id, at - at % 3600000;

INSERT INTO usage_recent
SELECT subscription_id, at - at % 10000, SUM(total_tokens)
FROM usage_records
WHERE at >= (SELECT MAX(at) FROM usage_records) - 86400000
GROUP BY subscription_id, at - at % 10000;

CREATE TRIGGER usage_records_rollup AFTER INSERT ON usage_records
BEGIN
    INSERT INTO usage_hourly (subscription_id, hour_start, input_tokens, output_tokens,
                              cache_write_tokens, cache_read_tokens, total_tokens,
                              cost_micros, costed, leases)
    VALUES (NEW.subscription_id, NEW.at - NEW.at % 3600000, NEW.input_tokens, NEW.output_tokens,
            NEW.cache_write_tokens, NEW.cache_read_tokens, NEW.total_tokens,
            COALESCE(NEW.cost_micros, 0), NEW.cost_micros IS NOT NULL, 1)
    ON CONFLICT (subscription_id, hour_start) DO UPDATE SET
        input_tokens       = input_tokens + excluded.input_tokens,
        output_tokens      = output_tokens + excluded.output_tokens,
        cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
        cache_read_tokens  = cache_read_tokens + excluded.cache_read_tokens,
        total_tokens       = total_tokens + excluded.total_tokens,
        cost_micros        = cost_micros + excluded.cost_micros,
        costed             = costed + excluded.costed,
        leases             = leases + excluded.leases;

    INSERT INTO usage_recent (subscription_id, bucket_start, total_tokens)
    VALUES (NEW.subscription_id, NEW.at - NEW.at % 10000, NEW.total_tokens)
    ON CONFLICT (subscription_id, bucket_start) DO UPDATE SET
        total_tokens = total_tokens + excluded.total_tokens;

    DELETE FROM usage_recent
    WHERE subscription_id = NEW.subscription_id AND bucket_start < NEW.at - 86400000;

    INSERT INTO usage_daily (utc_offset_ms, day, subscription_id, input_tokens, output_tokens,
                             cache_write_tokens, cache_read_tokens, total_tokens,
                             cost_micros, costed, leases)
    SELECT o.utc_offset_ms, (NEW.at + o.utc_offset_ms) / 86400000, NEW.subscription_id,
           NEW.input_tokens, NEW.output_tokens, NEW.cache_write_tokens, NEW.cache_read_tokens,
           NEW.total_tokens, COALESCE(NEW.cost_micros, 0), NEW.cost_micros IS NOT NULL, 1
    FROM usage_daily_offsets o WHERE true
    ON CONFLICT (utc_offset_ms, day, subscription_id) DO UPDATE SET
        input_tokens       = input_tokens + excluded.input_tokens,
        output_tokens      = output_tokens + excluded.output_tokens,
        cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
        cache_read_tokens  = cache_read_tokens + excluded.cache_read_tokens,
        total_tokens       = total_tokens + excluded.total_tokens,
        cost_micros        = cost_micros + excluded.cost_micros,
        costed             = costed + excluded.costed,
        leases             = leases + excluded.leases;
END;
