-- maytrain consent store, PostgreSQL schema version 3: a packed base of the consent index.
-- `maytrain store pack` writes every account at one consent version as the compact index
-- (sidecar/core/compact.py), in parts of a few MB, so that a sidecar with no snapshot file
-- starts by reading these parts and the changes after `version`, not every row. A store
-- holds at most one base; it is a cache of the rows, never a source: a sidecar that finds
-- it damaged, of another layout, or off the store's chain reads the rows instead.

CREATE TABLE packed_base (
  id           integer PRIMARY KEY CHECK (id = 1),
  version      bigint  NOT NULL,  -- the consent version the base holds
  chain        text    NOT NULL,  -- the store's chain at that version
  layout       text    NOT NULL,  -- the compact index's magic and layout, e.g. MTIX/1
  parts        integer NOT NULL,
  body_bytes   bigint  NOT NULL,
  body_sha256  text    NOT NULL,
  latest_write bigint,            -- the latest time a row in it was written at
  packed_at    bigint  NOT NULL,
  seal         text NOT NULL DEFAULT ''  -- hmac-sha256:HEX over the header, by a pack with a
                                            -- snapshot key; '' by one without
);

CREATE TABLE packed_base_parts (
  part integer PRIMARY KEY,       -- 0 .. parts - 1, in the body's order
  data bytea   NOT NULL
);
