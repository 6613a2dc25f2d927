-- maytrain consent store, SQLite schema version 2: the change feed is hash-chained.
-- chain(v) = sha256(chain(v - 1) || canonical(change v)), and before the first change
-- sha256('maytrain-chain/1' || store_id) (sidecar/store/chain.py), so a follower notices
-- a store restored from a backup, re-made or forked. store_id is random, made when the
-- store is created (or migrated to this version), so two stores never share a chain.

CREATE TABLE store_identity (
  id       INTEGER PRIMARY KEY CHECK (id = 1),
  store_id TEXT    NOT NULL
);

-- NULL only in a row written without maytrain (by hand): it then chains as ''.
ALTER TABLE changes ADD COLUMN chain TEXT;

-- The log is append-only; the step below is the one update it ever takes.
DROP TRIGGER changes_append_only_update;

-- step: chain_changes (makes the store id, chains every existing change in version order)

CREATE TRIGGER changes_append_only_update BEFORE UPDATE ON changes
BEGIN
  SELECT RAISE(ABORT, 'the change feed is append-only');
END;
