-- Kage pool store, PostgreSQL, schema version 2: usage rollups, so that
-- selection's recent-usage window and "usage today / this month" read a few
-- rows per subscription instead of every usage record.
--
-- All three are kept by one statement-level trigger (one pass per INSERT,
-- however many rows it writes) in the same transaction as the usage records,
-- so rollups and records can never disagree:
-- - usage_hourly: per subscription and UTC hour (the partial days at the ends
--   of a daily_usage range);
-- - usage_recent: tokens per subscription and 10-second bucket, for the
--   recent-usage window of selection; buckets older than a day are pruned as
--   new usage arrives;
-- - usage_daily: per subscription and local day, for each zone offset that
--   daily_usage has been asked for (usage_daily_offsets; the store keeps the
--   4 most recently registered and fills a new one from the records).

CREATE TABLE usage_hourly (
    subscription_id    TEXT   NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    hour_start         BIGINT NOT NULL,
    input_tokens       BIGINT NOT NULL,
    output_tokens      BIGINT NOT NULL,
    cache_write_tokens BIGINT NOT NULL,
    cache_read_tokens  BIGINT NOT NULL,
    total_tokens       BIGINT NOT NULL,
    cost_micros        BIGINT NOT NULL,
    -- how many of the records carried a cost (none: the cost is unknown)
    costed             BIGINT NOT NULL,
    -- how many records (= releases with usage)
    leases             BIGINT NOT NULL,
    PRIMARY KEY (subscription_id, hour_start)
);

CREATE INDEX usage_hourly_by_hour ON usage_hourly (hour_start);

CREATE TABLE usage_recent (
    subscription_id TEXT   NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    bucket_start    BIGINT NOT NULL,
    total_tokens    BIGINT NOT NULL,
    PRIMARY KEY (subscription_id, bucket_start)
);

CREATE TABLE usage_daily_offsets (
    utc_offset_ms BIGINT NOT NULL PRIMARY KEY,
    -- registration order: the oldest beyond the 4th are dropped
    registered    BIGINT NOT NULL
);

CREATE TABLE usage_daily (
    utc_offset_ms      BIGINT NOT NULL,
    -- days since 1970-01-01 in that offset
    day                BIGINT NOT NULL,
    subscription_id    TEXT   NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    input_tokens       BIGINT NOT NULL,
    output_tokens      BIGINT NOT NULL,
    cache_write_tokens BIGINT NOT NULL,
    cache_read_tokens  BIGINT NOT NULL,
    total_tokens       BIGINT NOT NULL,
    cost_micros        BIGINT NOT NULL,
    costed             BIGINT NOT NULL,
    leases             BIGINT NOT NULL,
    PRIMARY KEY (utc_offset_ms, day, subscription_id)
);

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

CREATE FUNCTION kage_usage_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO usage_hourly (subscription_id, hour_start, input_tokens, output_tokens,
                              cache_write_tokens, cache_read_tokens, total_tokens,
                              cost_micros, costed, leases)
    SELECT subscription_id, at - at % 3600000,
           SUM(input_tokens), SUM(output_tokens), SUM(cache_write_tokens), SUM(cache_read_tokens),
           SUM(total_tokens), COALESCE(SUM(cost_micros), 0), COUNT(cost_micros), COUNT(*)
    FROM new_usage_records
    GROUP BY 1, 2
    ON CONFLICT (subscription_id, hour_start) DO UPDATE SET
        input_tokens       = usage_hourly.input_tokens + EXCLUDED.input_tokens,
        output_tokens      = usage_hourly.output_tokens + EXCLUDED.output_tokens,
        cache_write_tokens = usage_hourly.cache_write_tokens + EXCLUDED.cache_write_tokens,
        cache_read_tokens  = usage_hourly.cache_read_tokens + EXCLUDED.cache_read_tokens,
        total_tokens       = usage_hourly.total_tokens + EXCLUDED.total_tokens,
        cost_micros        = usage_hourly.cost_micros + EXCLUDED.cost_micros,
        costed             = usage_hourly.costed + EXCLUDED.costed,
        leases             = usage_hourly.leases + EXCLUDED.leases;

    INSERT INTO usage_recent (subscription_id, bucket_start, total_tokens)
    SELECT subscription_id, at - at % 10000, SUM(total_tokens)
    FROM new_usage_records
    GROUP BY 1, 2
    ON CONFLICT (subscription_id, bucket_start) DO UPDATE SET
        total_tokens = usage_recent.total_tokens + EXCLUDED.total_tokens;

    DELETE FROM usage_recent r
    USING (SELECT subscription_id, MAX(at) AS at FROM new_usage_records GROUP BY 1) n
    WHERE r.subscription_id = n.subscription_id AND r.bucket_start < n.at - 86400000;

    INSERT INTO usage_daily (utc_offset_ms, day, subscription_id, input_tokens, output_tokens,
                             cache_write_tokens, cache_read_tokens, total_tokens,
                             cost_micros, costed, leases)
    SELECT o.utc_offset_ms, (n.at + o.utc_offset_ms) / 86400000, n.subscription_id,
           SUM(n.input_tokens), SUM(n.output_tokens), SUM(n.cache_write_tokens),
           SUM(n.cache_read_tokens), SUM(n.total_tokens), COALESCE(SUM(n.cost_micros), 0),
           COUNT(n.cost_micros), COUNT(*)
    FROM new_usage_records n CROSS JOIN usage_daily_offsets o
    GROUP BY 1, 2, 3
    ON CONFLICT (utc_offset_ms, day, subscription_id) DO UPDATE SET
        input_tokens       = usage_daily.input_tokens + EXCLUDED.input_tokens,
        output_tokens      = usage_daily.output_tokens + EXCLUDED.output_tokens,
        cache_write_tokens = usage_daily.cache_write_tokens + EXCLUDED.cache_write_tokens,
        cache_read_tokens  = usage_daily.cache_read_tokens + EXCLUDED.cache_read_tokens,
        total_tokens       = usage_daily.total_tokens + EXCLUDED.total_tokens,
        cost_micros        = usage_daily.cost_micros + EXCLUDED.cost_micros,
        costed             = usage_daily.costed + EXCLUDED.costed,
        leases             = usage_daily.leases + EXCLUDED.leases;
    RETURN NULL;
END
$$;

CREATE TRIGGER usage_records_rollup
    AFTER INSERT ON usage_records
    REFERENCING NEW TABLE AS new_usage_records
    FOR EACH STATEMENT EXECUTE FUNCTION kage_usage_rollup();
