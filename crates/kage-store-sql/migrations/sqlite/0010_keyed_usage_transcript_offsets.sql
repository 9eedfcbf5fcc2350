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
-- SQLite cannot drop a column's UNIQUE constraint, so usage_records is
-- rebuilt (its indexes and the rollup trigger with it). The trigger is 0008's
-- with one change: it adds NEW.lease_first to `leases` instead of 1 (the
-- saturating sums stay).

CREATE TABLE usage_records_v10 (
    id                 INTEGER NOT NULL PRIMARY KEY,
    lease_id           TEXT,
    subscription_id    TEXT    NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    at                 INTEGER NOT NULL,
    input_tokens       INTEGER NOT NULL,
    output_tokens      INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL,
    cache_read_tokens  INTEGER NOT NULL,
    total_tokens       INTEGER NOT NULL,
    cost_micros        INTEGER,
    model              TEXT,
    usage_key          TEXT,
    lease_first        INTEGER NOT NULL DEFAULT 1
) STRICT;

INSERT INTO usage_records_v10 (id, lease_id, subscription_id, at, input_tokens, output_tokens,
                               cache_write_tokens, cache_read_tokens, total_tokens, cost_micros,
                               model, usage_key, lease_first)
SELECT id, lease_id, subscription_id, at, input_tokens, output_tokens, cache_write_tokens,
       cache_read_tokens, total_tokens, cost_micros, model, NULL, 1
FROM usage_records;

DROP TABLE usage_records;
ALTER TABLE usage_records_v10 RENAME TO usage_records;

-- 0003's covering time index, again.
CREATE INDEX usage_records_by_time ON usage_records (at, subscription_id, input_tokens,
    output_tokens, cache_write_tokens, cache_read_tokens, cost_micros);
-- A lease's records: whether a record is its first, and a release's remainder.
CREATE INDEX usage_records_by_lease ON usage_records (lease_id) WHERE lease_id IS NOT NULL;
CREATE UNIQUE INDEX usage_records_by_key ON usage_records (usage_key);

CREATE TRIGGER usage_records_rollup AFTER INSERT ON usage_records
BEGIN
    INSERT INTO usage_hourly (subscription_id, hour_start, input_tokens, output_tokens,
                              cache_write_tokens, cache_read_tokens, total_tokens,
                              cost_micros, costed, leases)
    VALUES (NEW.subscription_id, NEW.at - NEW.at % 3600000, NEW.input_tokens, NEW.output_tokens,
            NEW.cache_write_tokens, NEW.cache_read_tokens, NEW.total_tokens,
            COALESCE(NEW.cost_micros, 0), NEW.cost_micros IS NOT NULL, NEW.lease_first)
    ON CONFLICT (subscription_id, hour_start) DO UPDATE SET
        input_tokens       = MIN(input_tokens + excluded.input_tokens, 1000000000000000),
        output_tokens      = MIN(output_tokens + excluded.output_tokens, 1000000000000000),
        cache_write_tokens = MIN(cache_write_tokens + excluded.cache_write_tokens, 1000000000000000),
        cache_read_tokens  = MIN(cache_read_tokens + excluded.cache_read_tokens, 1000000000000000),
        total_tokens       = MIN(total_tokens + excluded.total_tokens, 1000000000000000),
        cost_micros        = MIN(cost_micros + excluded.cost_micros, 1000000000000000),
        costed             = MIN(costed + excluded.costed, 1000000000000000),
        leases             = MIN(leases + excluded.leases, 1000000000000000);

    INSERT INTO usage_recent (subscription_id, bucket_start, total_tokens)
    VALUES (NEW.subscription_id, NEW.at - NEW.at % 10000, NEW.total_tokens)
    ON CONFLICT (subscription_id, bucket_start) DO UPDATE SET
        total_tokens = MIN(total_tokens + excluded.total_tokens, 1000000000000000);

    DELETE FROM usage_recent
    WHERE subscription_id = NEW.subscription_id AND bucket_start < NEW.at - 86400000;

    INSERT INTO usage_daily (utc_offset_ms, day, subscription_id, input_tokens, output_tokens,
                             cache_write_tokens, cache_read_tokens, total_tokens,
                             cost_micros, costed, leases)
    SELECT o.utc_offset_ms, (NEW.at + o.utc_offset_ms) / 86400000, NEW.subscription_id,
           NEW.input_tokens, NEW.output_tokens, NEW.cache_write_tokens, NEW.cache_read_tokens,
           NEW.total_tokens, COALESCE(NEW.cost_micros, 0), NEW.cost_micros IS NOT NULL, NEW.lease_first
    FROM usage_daily_offsets o WHERE true
    ON CONFLICT (utc_offset_ms, day, subscription_id) DO UPDATE SET
        input_tokens       = MIN(input_tokens + excluded.input_tokens, 1000000000000000),
        output_tokens      = MIN(output_tokens + excluded.output_tokens, 1000000000000000),
        cache_write_tokens = MIN(cache_write_tokens + excluded.cache_write_tokens, 1000000000000000),
        cache_read_tokens  = MIN(cache_read_tokens + excluded.cache_read_tokens, 1000000000000000),
        total_tokens       = MIN(total_tokens + excluded.total_tokens, 1000000000000000),
        cost_micros        = MIN(cost_micros + excluded.cost_micros, 1000000000000000),
        costed             = MIN(costed + excluded.costed, 1000000000000000),
        leases             = MIN(leases + excluded.leases, 1000000000000000);
END;

CREATE TABLE transcript_offsets (
    path    TEXT    NOT NULL PRIMARY KEY,
    read_to INTEGER NOT NULL,
    at      INTEGER NOT NULL
) STRICT;
