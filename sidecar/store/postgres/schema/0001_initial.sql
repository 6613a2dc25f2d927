-- maytrain consent store, PostgreSQL schema version 1 (created in the current schema).
-- Times are bigint microseconds since the Unix epoch (UTC).
-- Every change gets its own consent version. The one-row counter is updated inside the
-- write transaction and its row lock is held until commit, so writers commit in version
-- order and no reader can pass over a version that commits later (docs/postgres.md).
-- An optional user or region is NULL, never ''.

-- What this schema is, and the last migration applied (the runner updates it).
CREATE TABLE maytrain_schema (
  id          integer PRIMARY KEY CHECK (id = 1),
  application text    NOT NULL,
  version     integer NOT NULL
);
INSERT INTO maytrain_schema (id, application, version) VALUES (1, 'maytrain', 0);

CREATE TABLE consent_version (
  id      integer PRIMARY KEY CHECK (id = 1),
  version bigint  NOT NULL
);
INSERT INTO consent_version (id, version) VALUES (1, 0);

-- seq keeps insertion order for listings (an account's version changes on update).
CREATE TABLE accounts (
  seq     bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  id      text   PRIMARY KEY,
  region  text,
  created bigint NOT NULL,
  version bigint NOT NULL  -- the consent version that last wrote it
);

CREATE TABLE consent_entries (
  seq              bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  id               text   PRIMARY KEY,
  account_id       text   NOT NULL REFERENCES accounts (id),
  user_id          text,
  category         text   NOT NULL,
  purpose          text   NOT NULL,
  effect           text   NOT NULL CHECK (effect IN ('GRANT', 'OPT_OUT')),
  valid_from       bigint,           -- NULL: from the version that wrote it (opt-outs)
  valid_until      bigint,
  covers_data_from bigint,
  evidence         text   NOT NULL DEFAULT '',
  recorded_at      bigint NOT NULL,
  recorded_by      text   NOT NULL,
  version          bigint NOT NULL,  -- the consent version that wrote it
  ended_version    bigint,           -- the version that withdrew it without a time
  CHECK (valid_until IS NULL OR valid_from IS NULL OR valid_until > valid_from)
);
CREATE INDEX consent_entries_by_owner ON consent_entries (account_id, user_id);

CREATE TABLE erasures (
  seq          bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  id           text   PRIMARY KEY,
  account_id   text   NOT NULL REFERENCES accounts (id),
  user_id      text,
  requested_at bigint NOT NULL,
  recorded_by  text   NOT NULL,
  version      bigint NOT NULL
);
CREATE INDEX erasures_by_owner ON erasures (account_id, user_id);

-- The change feed: one row per consent version, holding the new state of the row it
-- changed (the columns of its kind; the others NULL), and who changed it when.
CREATE TABLE changes (
  version          bigint PRIMARY KEY,
  kind             text   NOT NULL CHECK (kind IN ('account', 'consent', 'erasure')),
  changed_at       bigint NOT NULL,
  changed_by       text   NOT NULL,
  id               text   NOT NULL,
  account_id       text   NOT NULL,
  user_id          text,
  region           text,
  created          bigint,
  category         text,
  purpose          text,
  effect           text,
  valid_from       bigint,
  valid_until      bigint,
  covers_data_from bigint,
  evidence         text,
  recorded_at      bigint,
  recorded_by      text,
  row_version      bigint,
  ended_version    bigint,
  requested_at     bigint
);

-- Consent history is append-only: withdrawing ends an entry, never deletes it.
CREATE FUNCTION maytrain_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER consent_entries_append_only BEFORE DELETE OR TRUNCATE ON consent_entries
  FOR EACH STATEMENT EXECUTE FUNCTION maytrain_refuse('consent history is append-only');
CREATE TRIGGER erasures_append_only BEFORE DELETE OR TRUNCATE ON erasures
  FOR EACH STATEMENT EXECUTE FUNCTION maytrain_refuse('erasures are append-only');
CREATE TRIGGER accounts_kept BEFORE DELETE OR TRUNCATE ON accounts
  FOR EACH STATEMENT EXECUTE FUNCTION maytrain_refuse('accounts are never deleted');
CREATE TRIGGER changes_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON changes
  FOR EACH STATEMENT EXECUTE FUNCTION maytrain_refuse('the change feed is append-only');
