-- Schema version 8 (issue 14): usage rollups saturate instead of failing
-- (item 2), and removed subscriptions are retired, not deleted (item 11,
-- at the end).
--
-- Usage rollups saturate (item 2).
--
-- One absurd usage record (`--usage input=9223372036854775807`, accepted
-- before counts were bounded at 10^12 per record) made every later rollup
-- of its subscription overflow, so every later release on it failed. Counts
-- already stored are cut to the bounds (a record's to 10^12 per kind, 4 x
-- 10^12 in all; a rollup's to 10^15), and the rollup trigger now adds with a
-- ceiling of 10^15, so no sum of rollups can overflow a 64-bit integer.

UPDATE usage_records SET
    input_tokens       = LEAST(input_tokens, 1000000000000),
    output_tokens      = LEAST(output_tokens, 1000000000000),
    cache_write_tokens = LEAST(cache_write_tokens, 1000000000000),
    cache_read_tokens  = LEAST(cache_read_tokens, 1000000000000),
    total_tokens       = LEAST(total_tokens, 4 * 1000000000000),
    cost_micros        = LEAST(cost_micros, 1000000000000)
WHERE GREATEST(input_tokens, output_tokens, cache_write_tokens, cache_read_tokens,
          COALESCE(cost_micros, 0)) > 1000000000000;

UPDATE usage_hourly SET
    input_tokens = LEAST(input_tokens, 1000000000000000),
    output_tokens = LEAST(output_tokens, 1000000000000000),
    cache_write_tokens = LEAST(cache_write_tokens, 1000000000000000),
    cache_read_tokens = LEAST(cache_read_tokens, 1000000000000000),
    total_tokens = LEAST(total_tokens, 1000000000000000),
    cost_micros = LEAST(cost_micros, 1000000000000000)
WHERE GREATEST(input_tokens, output_tokens, cache_write_tokens, cache_read_tokens, total_tokens, cost_micros) > 1000000000000000;

UPDATE usage_daily SET
    input_tokens = LEAST(input_tokens, 1000000000000000),
    output_tokens = LEAST(output_tokens, 1000000000000000),
    cache_write_tokens = LEAST(cache_write_tokens, 1000000000000000),
    cache_read_tokens = LEAST(cache_read_tokens, 1000000000000000),
    total_tokens = LEAST(total_tokens, 1000000000000000),
    cost_micros = LEAST(cost_micros, 1000000000000000)
WHERE GREATEST(input_tokens, output_tokens, cache_write_tokens, cache_read_tokens, total_tokens, cost_micros) > 1000000000000000;

UPDATE usage_recent SET total_tokens = LEAST(total_tokens, 1000000000000000) WHERE total_tokens > 1000000000000000;

CREATE OR REPLACE FUNCTION kage_usage_rollup_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO usage_hourly (subscription_id, hour_start, input_tokens, output_tokens,
                              cache_write_tokens, cache_read_tokens, total_tokens,
                              cost_micros, costed, leases)
    VALUES (NEW.subscription_id, NEW.at - NEW.at % 3600000, NEW.input_tokens, NEW.output_tokens,
            NEW.cache_write_tokens, NEW.cache_read_tokens, NEW.total_tokens,
            COALESCE(NEW.cost_micros, 0), CASE WHEN NEW.cost_micros IS NULL THEN 0 ELSE 1 END, 1)
    ON CONFLICT (subscription_id, hour_start) DO UPDATE SET
        input_tokens       = LEAST(usage_hourly.input_tokens + EXCLUDED.input_tokens, 1000000000000000),
        output_tokens      = LEAST(usage_hourly.output_tokens + EXCLUDED.output_tokens, 1000000000000000),
        cache_write_tokens = LEAST(usage_hourly.cache_write_tokens + EXCLUDED.cache_write_tokens, 1000000000000000),
        cache_read_tokens  = LEAST(usage_hourly.cache_read_tokens + EXCLUDED.cache_read_tokens, 1000000000000000),
        total_tokens       = LEAST(usage_hourly.total_tokens + EXCLUDED.total_tokens, 1000000000000000),
        cost_micros        = LEAST(usage_hourly.cost_micros + EXCLUDED.cost_micros, 1000000000000000),
        costed             = LEAST(usage_hourly.costed + EXCLUDED.costed, 1000000000000000),
        leases             = LEAST(usage_hourly.leases + EXCLUDED.leases, 1000000000000000);

    INSERT INTO usage_recent (subscription_id, bucket_start, total_tokens)
    VALUES (NEW.subscription_id, NEW.at - NEW.at % 10000, NEW.total_tokens)
    ON CONFLICT (subscription_id, bucket_start) DO UPDATE SET
        total_tokens = LEAST(usage_recent.total_tokens + EXCLUDED.total_tokens, 1000000000000000);

    DELETE FROM usage_recent
    WHERE subscription_id = NEW.subscription_id AND bucket_start < NEW.at - 86400000;

    INSERT INTO usage_daily (utc_offset_ms, day, subscription_id, input_tokens, output_tokens,
                             cache_write_tokens, cache_read_tokens, total_tokens,
                             cost_micros, costed, leases)
    SELECT o.utc_offset_ms, (NEW.at + o.utc_offset_ms) / 86400000, NEW.subscription_id,
           NEW.input_tokens, NEW.output_tokens, NEW.cache_write_tokens, NEW.cache_read_tokens,
           NEW.total_tokens, COALESCE(NEW.cost_micros, 0),
           CASE WHEN NEW.cost_micros IS NULL THEN 0 ELSE 1 END, 1
    FROM usage_daily_offsets o
    ON CONFLICT (utc_offset_ms, day, subscription_id) DO UPDATE SET
        input_tokens       = LEAST(usage_daily.input_tokens + EXCLUDED.input_tokens, 1000000000000000),
        output_tokens      = LEAST(usage_daily.output_tokens + EXCLUDED.output_tokens, 1000000000000000),
        cache_write_tokens = LEAST(usage_daily.cache_write_tokens + EXCLUDED.cache_write_tokens, 1000000000000000),
        cache_read_tokens  = LEAST(usage_daily.cache_read_tokens + EXCLUDED.cache_read_tokens, 1000000000000000),
        total_tokens       = LEAST(usage_daily.total_tokens + EXCLUDED.total_tokens, 1000000000000000),
        cost_micros        = LEAST(usage_daily.cost_micros + EXCLUDED.cost_micros, 1000000000000000),
        costed             = LEAST(usage_daily.costed + EXCLUDED.costed, 1000000000000000),
        leases             = LEAST(usage_daily.leases + EXCLUDED.leases, 1000000000000000);
    RETURN NULL;
END
$$;

-- Removed subscriptions are retired, not deleted (issue 14, item 11): a
-- retired subscription leaves selection and the lists, keeps its leases
-- (which can still be released), usage and transitions, and frees its name.
-- `retired_name` keeps the name it had; `name` becomes `NAME/ID`, which no
-- subscription's name can equal (names never hold a `/`), so the UNIQUE
-- constraint of 0001 frees the name, as on SQLite (where dropping it would
-- mean rebuilding the table).
ALTER TABLE subscriptions ADD COLUMN retired_at BIGINT, ADD COLUMN retired_name TEXT;
