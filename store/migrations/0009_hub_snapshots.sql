-- A school's hub state, kept durably as it changes (docs/failover.md): one row per school with
-- the encoded snapshot, the epoch of the owner that wrote it and when. `school_epochs` holds the
-- latest epoch that claimed each school; a save carrying an older epoch is refused.
CREATE TABLE school_epochs (
    school_id INTEGER PRIMARY KEY REFERENCES schools (id),
    epoch     INTEGER NOT NULL CHECK (epoch > 0)
);

CREATE TABLE hub_snapshots (
    school_id  INTEGER PRIMARY KEY REFERENCES schools (id),
    epoch      INTEGER NOT NULL,
    snapshot   BLOB    NOT NULL,
    written_at INTEGER NOT NULL  -- ms since the Unix epoch, UTC
);
