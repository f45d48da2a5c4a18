-- A school's hub state, kept durably as it changes (docs/failover.md): one row per school with
-- the encoded snapshot, the epoch of the owner that wrote it and when. `school_epochs` holds the
-- latest epoch that claimed each school (docs/cluster.md, "Fencing store writes"); a save
-- carrying another epoch is refused.
CREATE TABLE school_epochs (
    school_id BIGINT PRIMARY KEY REFERENCES schools (id),
    epoch     BIGINT NOT NULL CHECK (epoch > 0)
);

CREATE TABLE hub_snapshots (
    school_id  BIGINT PRIMARY KEY REFERENCES schools (id),
    epoch      BIGINT NOT NULL,
    snapshot   BYTEA  NOT NULL,
    written_at BIGINT NOT NULL  -- ms since the Unix epoch, UTC
);
