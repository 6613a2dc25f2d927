-- maytrain consent store, SQLite schema version 1.
-- Times are integer microseconds since the Unix epoch (UTC).
-- Every change gets its own consent version; the counter row is bumped inside the
-- write transaction, so version order is commit order and the feed has no gaps.
-- An optional user or region is NULL, never ''.

CREATE TABLE consent_version (
  id      INTEGER PRIMARY KEY CHECK (id = 1),
  version INTEGER NOT NULL
);
INSERT INTO consent_version (id, version) VALUES (1, 0);

CREATE TABLE accounts (
  id      TEXT PRIMARY KEY,
  region  TEXT,
  created INTEGER NOT NULL,
  version INTEGER NOT NULL  -- the consent version that last wrote it
);

CREATE TABLE consent_entries (
  id               TEXT PRIMARY KEY,
  account_id       TEXT NOT NULL REFERENCES accounts (id),
  user_id          TEXT,
  category         TEXT NOT NULL,
  purpose          TEXT NOT NULL,
  effect           TEXT NOT NULL CHECK (effect IN ('GRANT', 'OPT_OUT')),
  valid_from       INTEGER,          -- NULL: from the version that wrote it (opt-outs)
  valid_until      INTEGER,
  covers_data_from INTEGER,
  evidence         TEXT NOT NULL DEFAULT '',
  recorded_at      INTEGER NOT NULL,
  recorded_by      TEXT NOT NULL,
  version          INTEGER NOT NULL, -- the consent version that wrote it
  ended_version    INTEGER,          -- the version that withdrew it without a time
  CHECK (valid_until IS NULL OR valid_from IS NULL OR valid_until > valid_from)
);
CREATE INDEX consent_entries_by_owner ON consent_entries (account_id, user_id);

CREATE TABLE erasures (
  id           TEXT PRIMARY KEY,
  account_id   TEXT NOT NULL REFERENCES accounts (id),
  user_id      TEXT,
  requested_at INTEGER NOT NULL,
  recorded_by  TEXT NOT NULL,
  version      INTEGER NOT NULL
);
CREATE INDEX erasures_by_owner ON erasures (account_id, user_id);

-- The change feed: one row per consent version, holding the new state of the row it
-- changed (the columns of its kind; the others NULL), and who changed it when.
CREATE TABLE changes (
  version          INTEGER PRIMARY KEY,
  kind             TEXT NOT NULL CHECK (kind IN ('account', 'consent', 'erasure')),
  changed_at       INTEGER NOT NULL,
  changed_by       TEXT NOT NULL,
  id               TEXT NOT NULL,
  account_id       TEXT NOT NULL,
  user_id          TEXT,
  region           TEXT,
  created          INTEGER,
  category         TEXT,
  purpose          TEXT,
  effect           TEXT,
  valid_from       INTEGER,
  valid_until      INTEGER,
  covers_data_from INTEGER,
  evidence         TEXT,
  recorded_at      INTEGER,
  recorded_by      TEXT,
  row_version      INTEGER,
  ended_version    INTEGER,
  requested_at     INTEGER
);

-- Consent history is append-only: withdrawing ends an entry, never deletes it.
CREATE TRIGGER consent_entries_append_only BEFORE DELETE ON consent_entries
BEGIN
  SELECT RAISE(ABORT, 'consent history is append-only');
END;
CREATE TRIGGER erasures_append_only BEFORE DELETE ON erasures
BEGIN
  SELECT RAISE(ABORT, 'erasures are append-only');
END;
CREATE TRIGGER accounts_kept BEFORE DELETE ON accounts
BEGIN
  SELECT RAISE(ABORT, 'accounts are never deleted');
END;
CREATE TRIGGER changes_append_only_delete BEFORE DELETE ON changes
BEGIN
  SELECT RAISE(ABORT, 'the change feed is append-only');
END;
CREATE TRIGGER changes_append_only_update BEFORE UPDATE ON changes
BEGIN
  SELECT RAISE(ABORT, 'the change feed is append-only');
END;
