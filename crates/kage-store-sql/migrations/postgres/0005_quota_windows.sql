-- Kage pool store, PostgreSQL, schema version 5: per-window quota reports and
-- model-scoped limits on a subscription's health.
--
-- `quota` is a small JSON document written and read only by the store's
-- codec: {"windows": [{"window": "five_hour", "utilization": 0.42,
-- "resets_at": <ms>|null, "reported_at": <ms>}, ...], "model_limits":
-- [{"family": "opus", "until": <ms>, "reason": "..."}]}. NULL: nothing
-- reported and no model limit. It never holds a secret.
ALTER TABLE subscriptions ADD COLUMN quota TEXT;
