-- The consultation record: what took place, for the administration (item 13 of the
-- regulation). One row per help request (and the session it led to) or per session a teacher
-- started.
CREATE TABLE consultations (
    id           INTEGER PRIMARY KEY,
    request_id   INTEGER UNIQUE,
    session_id   INTEGER,
    form         TEXT    NOT NULL CHECK (form IN ('individual', 'group', 'frontal')),
    mode         TEXT    NOT NULL CHECK (mode IN ('online', 'offline')),
    subject      TEXT    NOT NULL,
    topic        TEXT    NOT NULL,
    staff_id     INTEGER REFERENCES users (id),
    thread_id    INTEGER,
    -- Milliseconds since the Unix epoch, UTC.
    requested_at INTEGER,
    started_at   INTEGER,
    ended_at     INTEGER,
    wait_secs    INTEGER,
    outcome      TEXT    NOT NULL
        CHECK (outcome IN ('in_progress', 'held', 'deferred', 'cancelled')),
    -- With support staff: admins see only that it took place.
    confidential INTEGER NOT NULL DEFAULT 0,
    -- When it happened, for filtering: the start, else the request.
    happened_at  INTEGER NOT NULL
);

CREATE INDEX consultations_happened ON consultations (happened_at);
CREATE INDEX consultations_session ON consultations (session_id) WHERE session_id IS NOT NULL;
CREATE INDEX consultations_staff ON consultations (staff_id, happened_at);

CREATE TABLE consultation_students (
    consultation_id INTEGER NOT NULL REFERENCES consultations (id) ON DELETE CASCADE,
    user_id         INTEGER NOT NULL REFERENCES users (id),
    PRIMARY KEY (consultation_id, user_id)
) WITHOUT ROWID;
