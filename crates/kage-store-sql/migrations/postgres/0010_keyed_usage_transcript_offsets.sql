-- Schema version 10 (issues 11 and 14): usage recorded per assistant
-- message as it lands, each record at most once, and how far each Claude
-- Code transcript has been read into the store.
--
-- - usage_records.usage_key: the key of a per-message record (Claude Code's
--   message id and request id, `kage_claude_code::message_key`); unique, so
--   recording the same message again (a replayed sidechain, `kage usage
--   import` after `kage claude` or `kage-agent` recorded it) changes nothing.
--   Release records keep no key.
-- - usage_records.lease_id is no longer unique: a lease has one record per
--   message, plus the release's remainder (docs/decisions.md).
-- - usage_records.lease_first: 1 on the first record of a lease (0 on the
--   others and on records without a lease), so the rollups' `leases` count
--   each lease once, in the hour and day of its first record. Existing
--   records (one per lease) keep counting 1.
-- - transcript_offsets: per transcript file, the bytes whose usage is in the
--   store, so a re-read costs only the new bytes.
--
-- The rollup function is 0008's with one change: it adds NEW.lease_first to
-- `leases` instead of 1 (the saturating sums stay).

ALTER TABLE usage_records DROP CONSTRAINT usage_records_lease_id_key;
ALTER TABLE usage_records ADD COLUMN usage_key TEXT,
    ADD COLUMN lease_first BIGINT NOT NULL DEFAULT 1;
CREATE INDEX usage_records_by_lease ON usage_records (lease_id) WHERE lease_id IS NOT NULL;
CREATE UNIQUE INDEX usage_records_by_key ON usage_records (usage_key);

CREATE OR REPLACE FUNCTION kage_usage_rollup_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO usage_hourly (subscription_id, hour_start, input_tokens, output_tokens,
                              cache_write_tokens, cache_read_tokens, total_tokens,
                              cost_micros, costed, leases)
    VALUES (NEW.subscription_id, NEW.at - NEW.at % 3600000, NEW.input_tokens, NEW.output_tokens,
            NEW.cache_write_tokens, NEW.cache_read_tokens, NEW.total_tokens,
            COALESCE(NEW.cost_micros, 0), CASE WHEN NEW.cost_micros IS NULL THEN 0 ELSE 1 END, NEW.lease_first)
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
           CASE WHEN NEW.cost_micros IS NULL THEN 0 ELSE 1 END, NEW.lease_first
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

CREATE TABLE transcript_offsets (
    path    TEXT   NOT NULL PRIMARY KEY,
    read_to BIGINT NOT NULL,
    at      BIGINT NOT NULL
);
