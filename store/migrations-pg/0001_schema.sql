-- Konsult's schema on PostgreSQL, in one step: what store/migrations/0001..0008 build on
-- SQLite, in this dialect. Times are milliseconds since the Unix epoch, UTC, as BIGINT.

-- Schools: every account, subject, thread, consultation, hour, link and audit entry belongs
-- to one. A code is 1 to 32 of [a-z0-9-], stored lower-cased.
CREATE TABLE schools (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code       TEXT   NOT NULL CHECK (code ~ '^[a-z0-9-]{1,32}$'),
    name       TEXT   NOT NULL,
    -- An IANA zone such as Europe/Samara; empty until the server fills it from config.
    timezone   TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE UNIQUE INDEX schools_code ON schools (lower(code));

CREATE TABLE users (
    id            BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    school_id     BIGINT  NOT NULL REFERENCES schools (id),
    login         TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('student', 'teacher', 'support', 'admin')),
    class         TEXT,
    -- argon2 PHC string; NULL for users who only sign in through the school portal.
    password_hash TEXT,
    -- The portal's `sub` for users created from a portal token.
    external_id   TEXT,
    active        BOOLEAN NOT NULL DEFAULT TRUE,
    -- Bumped on password reset or deactivation: older tokens stop working.
    token_version BIGINT  NOT NULL DEFAULT 0,
    created_at    BIGINT  NOT NULL,
    UNIQUE (school_id, external_id)
);

-- Logins are unique per school whatever their case.
CREATE UNIQUE INDEX users_login ON users (school_id, lower(login));
CREATE INDEX users_class ON users (school_id, class) WHERE class IS NOT NULL;

CREATE TABLE subjects (
    school_id BIGINT NOT NULL REFERENCES schools (id),
    code      TEXT   NOT NULL,
    name      TEXT   NOT NULL,
    PRIMARY KEY (school_id, code)
);

-- A subject code of the user's own school.
CREATE TABLE user_subjects (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    subject TEXT   NOT NULL,
    PRIMARY KEY (user_id, subject)
);

CREATE INDEX user_subjects_subject ON user_subjects (subject);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Chat: threads, their members, messages and attachments.
CREATE TABLE threads (
    id              BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    school_id       BIGINT  NOT NULL REFERENCES schools (id),
    kind            TEXT    NOT NULL CHECK (kind IN ('personal', 'group', 'class')),
    title           TEXT    NOT NULL,
    -- The class of a class thread.
    class           TEXT,
    -- The help request this thread answers, when it came from a deferred request.
    request_id      BIGINT,
    -- Whether a staff member has replied to that request.
    answered        BOOLEAN NOT NULL DEFAULT FALSE,
    -- The live session this thread belongs to.
    session_id      BIGINT,
    -- A support staff member is a member: admins never read it.
    confidential    BOOLEAN NOT NULL DEFAULT FALSE,
    -- A thread of the support service: every active support staff member of its school is
    -- in it, those who join later included, and no administrator ever is.
    support_service BOOLEAN NOT NULL DEFAULT FALSE,
    -- The seq of the newest message; seqs are gap-free from 1. Every send takes this row's
    -- lock with `UPDATE ... SET last_seq = last_seq + 1 RETURNING`, so concurrent writers
    -- of one thread take turns.
    last_seq        BIGINT  NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
    created_by      BIGINT  REFERENCES users (id),
    created_at      BIGINT  NOT NULL,
    -- Time of the newest message (or creation), for ordering a user's threads.
    last_at         BIGINT  NOT NULL
);

CREATE INDEX threads_request ON threads (school_id, request_id) WHERE request_id IS NOT NULL;
CREATE INDEX threads_session ON threads (school_id, session_id) WHERE session_id IS NOT NULL;
CREATE INDEX threads_support_service ON threads (school_id) WHERE support_service;

CREATE TABLE thread_members (
    thread_id BIGINT NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    user_id   BIGINT NOT NULL REFERENCES users (id),
    -- The newest seq this member has read.
    read_seq  BIGINT NOT NULL DEFAULT 0,
    joined_at BIGINT NOT NULL,
    PRIMARY KEY (thread_id, user_id)
);

CREATE INDEX thread_members_user ON thread_members (user_id, thread_id);

CREATE TABLE messages (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    thread_id BIGINT NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    seq       BIGINT NOT NULL CHECK (seq >= 1),
    sender    BIGINT NOT NULL REFERENCES users (id),
    text      TEXT   NOT NULL,
    ts        BIGINT NOT NULL,
    -- Chosen by the sender: the same client_id from the same sender stores one message.
    client_id TEXT   NOT NULL,
    UNIQUE (thread_id, seq),
    UNIQUE (sender, client_id)
);

CREATE INDEX messages_ts ON messages (ts);

CREATE TABLE attachments (
    -- Random and opaque; the bytes are files named by their sha256 under the data folder
    -- (shared storage when several nodes serve).
    id           TEXT   PRIMARY KEY,
    sha256       TEXT   NOT NULL,
    name         TEXT   NOT NULL,
    content_type TEXT   NOT NULL,
    size         BIGINT NOT NULL CHECK (size >= 0),
    uploader     BIGINT NOT NULL REFERENCES users (id),
    created_at   BIGINT NOT NULL
);

CREATE INDEX attachments_sha256 ON attachments (sha256);

CREATE TABLE message_attachments (
    message_id    BIGINT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    attachment_id TEXT   NOT NULL REFERENCES attachments (id),
    position      BIGINT NOT NULL,
    PRIMARY KEY (message_id, attachment_id)
);

CREATE INDEX message_attachments_attachment ON message_attachments (attachment_id);

-- The consultation record: one row per help request (and the session it led to) or per
-- session a teacher started. Request and session ids are counted per school.
CREATE TABLE consultations (
    id           BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    school_id    BIGINT  NOT NULL REFERENCES schools (id),
    request_id   BIGINT,
    session_id   BIGINT,
    form         TEXT    NOT NULL CHECK (form IN ('individual', 'group', 'frontal')),
    mode         TEXT    NOT NULL CHECK (mode IN ('online', 'offline')),
    subject      TEXT    NOT NULL,
    topic        TEXT    NOT NULL,
    staff_id     BIGINT  REFERENCES users (id),
    thread_id    BIGINT,
    requested_at BIGINT,
    started_at   BIGINT,
    ended_at     BIGINT,
    wait_secs    BIGINT,
    outcome      TEXT    NOT NULL
        CHECK (outcome IN ('in_progress', 'held', 'deferred', 'cancelled')),
    -- With support staff: admins see only that it took place.
    confidential BOOLEAN NOT NULL DEFAULT FALSE,
    -- When it happened, for filtering: the start, else the request.
    happened_at  BIGINT  NOT NULL,
    UNIQUE (school_id, request_id)
);

CREATE INDEX consultations_happened ON consultations (school_id, happened_at);
CREATE INDEX consultations_session ON consultations (session_id) WHERE session_id IS NOT NULL;
CREATE INDEX consultations_staff ON consultations (staff_id, happened_at);
-- At most one record per session started without a help request, per school.
CREATE UNIQUE INDEX consultations_session_only ON consultations (school_id, session_id)
    WHERE request_id IS NULL;

CREATE TABLE consultation_students (
    consultation_id BIGINT NOT NULL REFERENCES consultations (id) ON DELETE CASCADE,
    user_id         BIGINT NOT NULL REFERENCES users (id),
    PRIMARY KEY (consultation_id, user_id)
);

-- The school's side: consultation hours, the links on /help, and the audit log.
CREATE TABLE hours (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    school_id BIGINT NOT NULL REFERENCES schools (id),
    user_id   BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    subject   TEXT   NOT NULL,
    -- 1 for Monday to 7 for Sunday.
    weekday   BIGINT NOT NULL CHECK (weekday BETWEEN 1 AND 7),
    -- Local time, HH:MM.
    start     TEXT   NOT NULL,
    "end"     TEXT   NOT NULL,
    mode      TEXT   NOT NULL CHECK (mode IN ('online', 'offline'))
);

CREATE INDEX hours_user ON hours (user_id);
CREATE INDEX hours_school ON hours (school_id);

CREATE TABLE help_links (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    school_id BIGINT NOT NULL REFERENCES schools (id),
    title     TEXT   NOT NULL,
    url       TEXT   NOT NULL,
    position  BIGINT NOT NULL
);

CREATE INDEX help_links_school ON help_links (school_id, position);

-- Who did what, when: written for every admin action, never changed.
CREATE TABLE audit_log (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    school_id BIGINT NOT NULL REFERENCES schools (id),
    ts        BIGINT NOT NULL,
    actor     BIGINT REFERENCES users (id),
    action    TEXT   NOT NULL,
    target    TEXT,
    details   TEXT   NOT NULL DEFAULT '{}'
);

CREATE INDEX audit_log_school ON audit_log (school_id, id);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$;

CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- The support service: whoever becomes active support staff (created, re-activated, or
-- given the role) joins every thread of the service of their own school, whichever route
-- changed the account.
CREATE FUNCTION support_staff_join_service() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO thread_members (thread_id, user_id, joined_at)
    SELECT t.id, NEW.id, (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT
      FROM threads t
     WHERE t.support_service AND t.school_id = NEW.school_id
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END;
$$;

CREATE TRIGGER support_staff_join_service_on_insert AFTER INSERT ON users
    FOR EACH ROW WHEN (NEW.role = 'support' AND NEW.active)
    EXECUTE FUNCTION support_staff_join_service();

CREATE TRIGGER support_staff_join_service_on_update AFTER UPDATE OF role, active ON users
    FOR EACH ROW WHEN (NEW.role = 'support' AND NEW.active)
    EXECUTE FUNCTION support_staff_join_service();

-- An administrator is never in a thread of the service: whoever becomes one leaves them.
CREATE FUNCTION admins_leave_service_threads() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM thread_members m
     USING threads t
     WHERE m.user_id = NEW.id AND t.id = m.thread_id AND t.support_service;
    RETURN NULL;
END;
$$;

CREATE TRIGGER admins_leave_service_threads AFTER UPDATE OF role ON users
    FOR EACH ROW WHEN (NEW.role = 'admin')
    EXECUTE FUNCTION admins_leave_service_threads();

-- Access tokens ended by `POST /api/logout`, each until it would have expired; global, as a
-- token names its user.
CREATE TABLE revoked_tokens (
    id      TEXT   PRIMARY KEY,
    -- Unix seconds.
    expires BIGINT NOT NULL
);

CREATE INDEX revoked_tokens_expires ON revoked_tokens (expires);
