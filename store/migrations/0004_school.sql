-- The school's side: consultation hours, the links on /help, and the audit log.
CREATE TABLE hours (
    id      INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    subject TEXT    NOT NULL,
    -- 1 for Monday to 7 for Sunday.
    weekday INTEGER NOT NULL CHECK (weekday BETWEEN 1 AND 7),
    -- Local time, HH:MM.
    start   TEXT    NOT NULL,
    "end"   TEXT    NOT NULL,
    mode    TEXT    NOT NULL CHECK (mode IN ('online', 'offline'))
);

CREATE INDEX hours_user ON hours (user_id);

CREATE TABLE help_links (
    id       INTEGER PRIMARY KEY,
    title    TEXT    NOT NULL,
    url      TEXT    NOT NULL,
    position INTEGER NOT NULL
);

-- Who did what, when: written for every admin action, never changed.
CREATE TABLE audit_log (
    id     INTEGER PRIMARY KEY,
    ts     INTEGER NOT NULL,
    actor  INTEGER REFERENCES users (id),
    action TEXT    NOT NULL,
    target TEXT,
    details TEXT   NOT NULL DEFAULT '{}'
);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

INSERT INTO help_links (title, url, position) VALUES
    ('Российская электронная школа', 'https://resh.edu.ru/', 1),
    ('Библиотека МЭШ', 'https://uchebnik.mos.ru/', 2);
