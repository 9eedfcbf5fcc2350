-- Roll usage up per row instead of per statement.
--
-- A release inserts one usage record at a time. The statement trigger of
-- 0002 paid for a transition table and four GROUP BYs over it on every
-- release: about a fifth of the server's CPU in the 16-client acquire and
-- release benchmark. A row trigger does the same upserts with plain VALUES.
-- Bulk loads (the benchmark's seeding) disable the trigger and roll up in
-- bulk, as before. The rollups it writes are the same, to the token.

DROP TRIGGER usage_records_rollup ON usage_records;
DROP FUNCTION kage_usage_rollup();

CREATE FUNCTION kage_usage_rollup_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO usage_hourly (subscription_id, hour_start, input_tokens, output_tokens,
                              cache_write_tokens, cache_read_tokens, total_tokens,
                              cost_micros, costed, leases)
    VALUES (NEW.subscription_id, NEW.at - NEW.at % 3600000, NEW.input_tokens, NEW.output_tokens,
            NEW.cache_write_tokens, NEW.cache_read_tokens, NEW.total_tokens,
            COALESCE(NEW.cost_micros, 0), CASE WHEN NEW.cost_micros IS NULL THEN 0 ELSE 1 END, 1)
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
    VALUES (NEW.subscription_id, NEW.at - NEW.at % 10000, NEW.total_tokens)
    ON CONFLICT (subscription_id, bucket_start) DO UPDATE SET
        total_tokens = usage_recent.total_tokens + EXCLUDED.total_tokens;

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
    FOR EACH ROW EXECUTE FUNCTION kage_usage_rollup_row();
