-- no-transaction
-- Many schools in one database: every account, subject, thread, consultation, hour, help link
-- and audit entry belongs to a school; logins, external ids, subjects and request ids are
-- unique per school. What an earlier version stored moves into school 1, code `main` (its
-- name and time zone are filled from the configuration at the next start).
--
-- SQLite cannot drop a UNIQUE constraint: users, subjects and consultations are rebuilt.
-- Dropping a table that others reference would cascade or fail with foreign keys on, and
-- `PRAGMA foreign_keys` does nothing inside a transaction: hence no-transaction, and a
-- transaction of our own between the pragmas.
PRAGMA foreign_keys = OFF;

BEGIN IMMEDIATE;

CREATE TABLE schools (
    id         INTEGER PRIMARY KEY,
    -- 1 to 32 of [a-z0-9-], stored lower-cased.
    code       TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    name       TEXT    NOT NULL,
    -- An IANA zone such as Europe/Samara; empty until the server fills it from config.
    timezone   TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);

-- The school of an earlier version's data. A new database has none: the server creates its
-- first school at start, and the default help links of 0004 are written for each new school.
INSERT INTO schools (id, code, name, timezone, created_at)
SELECT 1, 'main', '', '', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
 WHERE EXISTS (SELECT 1 FROM users) OR EXISTS (SELECT 1 FROM audit_log);

DELETE FROM help_links WHERE NOT EXISTS (SELECT 1 FROM schools WHERE id = 1);

-- Users: logins and portal ids unique per school.
CREATE TABLE users_new (
    id            INTEGER PRIMARY KEY,
    school_id     INTEGER NOT NULL REFERENCES schools (id),
    login         TEXT    NOT NULL COLLATE NOCASE,
    name          TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('student', 'teacher', 'support', 'admin')),
    class         TEXT,
    -- argon2 PHC string; NULL for users who only sign in through the school portal.
    password_hash TEXT,
    -- The portal's `sub` for users created from a portal token.
    external_id   TEXT,
    active        INTEGER NOT NULL DEFAULT 1,
    -- Bumped on password reset or deactivation: older tokens stop working.
    token_version INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    UNIQUE (school_id, login),
    UNIQUE (school_id, external_id)
);

INSERT INTO users_new (id, school_id, login, name, role, class, password_hash, external_id,
                       active, token_version, created_at)
SELECT id, 1, login, name, role, class, password_hash, external_id, active, token_version,
       created_at
  FROM users;

DROP TABLE users;
ALTER TABLE users_new RENAME TO users;
CREATE INDEX users_class ON users (school_id, class) WHERE class IS NOT NULL;

-- Subjects: codes unique per school.
CREATE TABLE subjects_new (
    school_id INTEGER NOT NULL REFERENCES schools (id),
    code      TEXT    NOT NULL,
    name      TEXT    NOT NULL,
    PRIMARY KEY (school_id, code)
);

INSERT INTO subjects_new (school_id, code, name) SELECT 1, code, name FROM subjects;
DROP TABLE subjects;
ALTER TABLE subjects_new RENAME TO subjects;

-- Consultations: request ids unique per school (each school's hub counts its own).
CREATE TABLE consultations_new (
    id           INTEGER PRIMARY KEY,
    school_id    INTEGER NOT NULL REFERENCES schools (id),
    request_id   INTEGER,
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
    happened_at  INTEGER NOT NULL,
    UNIQUE (school_id, request_id)
);

INSERT INTO consultations_new (id, school_id, request_id, session_id, form, mode, subject,
                               topic, staff_id, thread_id, requested_at, started_at, ended_at,
                               wait_secs, outcome, confidential, happened_at)
SELECT id, 1, request_id, session_id, form, mode, subject, topic, staff_id, thread_id,
       requested_at, started_at, ended_at, wait_secs, outcome, confidential, happened_at
  FROM consultations;

DROP TABLE consultations;
ALTER TABLE consultations_new RENAME TO consultations;
CREATE INDEX consultations_happened ON consultations (school_id, happened_at);
CREATE INDEX consultations_session ON consultations (session_id) WHERE session_id IS NOT NULL;
CREATE INDEX consultations_staff ON consultations (staff_id, happened_at);
CREATE UNIQUE INDEX consultations_session_only ON consultations (school_id, session_id)
    WHERE request_id IS NULL;

-- The tables that only gain their school. Rows written later always name it.
ALTER TABLE threads ADD COLUMN school_id INTEGER NOT NULL DEFAULT 1 REFERENCES schools (id);
ALTER TABLE hours ADD COLUMN school_id INTEGER NOT NULL DEFAULT 1 REFERENCES schools (id);
ALTER TABLE help_links ADD COLUMN school_id INTEGER NOT NULL DEFAULT 1 REFERENCES schools (id);
ALTER TABLE audit_log ADD COLUMN school_id INTEGER NOT NULL DEFAULT 1 REFERENCES schools (id);

DROP INDEX threads_request;
CREATE INDEX threads_request ON threads (school_id, request_id) WHERE request_id IS NOT NULL;
DROP INDEX threads_session;
CREATE INDEX threads_session ON threads (school_id, session_id) WHERE session_id IS NOT NULL;
CREATE INDEX hours_school ON hours (school_id);
CREATE INDEX help_links_school ON help_links (school_id, position);
CREATE INDEX audit_log_school ON audit_log (school_id, id);

-- The triggers of 0006 went with the old users table; they come back joining support staff
-- to the service threads of their own school only.
CREATE TRIGGER support_staff_join_service_on_insert AFTER INSERT ON users
WHEN NEW.role = 'support' AND NEW.active = 1
BEGIN
    INSERT OR IGNORE INTO thread_members (thread_id, user_id, joined_at)
    SELECT id, NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
      FROM threads WHERE support_service = 1 AND school_id = NEW.school_id;
END;

CREATE TRIGGER support_staff_join_service_on_update AFTER UPDATE OF role, active ON users
WHEN NEW.role = 'support' AND NEW.active = 1
BEGIN
    INSERT OR IGNORE INTO thread_members (thread_id, user_id, joined_at)
    SELECT id, NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
      FROM threads WHERE support_service = 1 AND school_id = NEW.school_id;
END;

CREATE TRIGGER admins_leave_service_threads AFTER UPDATE OF role ON users
WHEN NEW.role = 'admin'
BEGIN
    DELETE FROM thread_members
     WHERE user_id = NEW.id
       AND thread_id IN (SELECT id FROM threads WHERE support_service = 1);
END;

COMMIT;

PRAGMA foreign_keys = ON;
