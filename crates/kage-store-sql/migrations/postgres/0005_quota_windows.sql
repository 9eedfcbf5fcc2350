-- Kage pool store, PostgreSQL, schema version 5: per-window quota reports and
-- model-scoped limits on a subscription's health, and the claim counters
-- that serialize selection.
--
-- `quota` is a small JSON document written and read only by the store's
-- codec: {"windows": [{"window": "five_hour", "utilization": 0.42,
-- "resets_at": <ms>|null, "reported_at": <ms>}, ...], "model_limits":
-- [{"family": "opus", "until": <ms>, "reason": "..."}]}. NULL: nothing
-- reported and no model limit. It never holds a secret.
ALTER TABLE subscriptions ADD COLUMN quota TEXT;

-- An acquire selects on a snapshot read without a lock, then inserts its
-- lease in one statement that also counts a claim on the chosen
-- subscription here, only if its `net_claims` (leases granted minus leases
-- released) are no more than the snapshot read: an acquire that chose the
-- same subscription at the same moment waits for the first on this row,
-- sees its claim and selects again, so parallel agents spread over idle
-- subscriptions. A row of its own, not a column of `subscriptions`: the
-- releases' fast path checks that row's version (xmin), which a claim would
-- change. Every subscription has its row, from its insert on (the trigger).
CREATE TABLE subscription_claims (
    subscription_id TEXT   NOT NULL PRIMARY KEY REFERENCES subscriptions (id) ON DELETE CASCADE,
    net_claims      BIGINT NOT NULL
);

INSERT INTO subscription_claims (subscription_id, net_claims)
SELECT s.id, (SELECT COUNT(*) FROM leases l WHERE l.subscription_id = s.id AND l.released_at IS NULL)
FROM subscriptions s;

CREATE FUNCTION subscription_claims_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO subscription_claims (subscription_id, net_claims) VALUES (NEW.id, 0);
    RETURN NULL;
END;
$$;

CREATE TRIGGER subscriptions_claims_row AFTER INSERT ON subscriptions
FOR EACH ROW EXECUTE FUNCTION subscription_claims_row();

-- Selection's usage window is 5 hours by default (`usage_window`, up to a
-- day): up to 1,800 ten-second buckets per subscription, summed by every
-- acquire and `status`. Carrying the tokens in the key's index lets that sum
-- read the index alone (an index-only scan), where the heap rows of one
-- subscription lie scattered among everyone's: 6 ms for 100 subscriptions
-- with 1M records became ~2 ms. (SQLite's table is the index already:
-- WITHOUT ROWID.)
ALTER TABLE usage_recent
    DROP CONSTRAINT usage_recent_pkey,
    ADD PRIMARY KEY (subscription_id, bucket_start) INCLUDE (total_tokens);
