-- Kage pool store, SQLite, schema version 3: the time indexes that
-- daily_usage reads carry the columns it sums, so the partial hours and days
-- at the ends of a range are read from one contiguous run of index entries
-- instead of one table lookup per row (records of an hour lie scattered
-- over the whole table). They replace the narrower indexes of the same use.

DROP INDEX usage_records_by_time;
CREATE INDEX usage_records_by_time ON usage_records (at, subscription_id, input_tokens,
    output_tokens, cache_write_tokens, cache_read_tokens, cost_micros);

DROP INDEX usage_hourly_by_hour;
CREATE INDEX usage_hourly_by_hour ON usage_hourly (hour_start, subscription_id, input_tokens,
    output_tokens, cache_write_tokens, cache_read_tokens, cost_micros, costed, leases);
