-- Accounts: users, the subjects teachers help with, and server settings.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    login         TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    name          TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('student', 'teacher', 'support', 'admin')),
    class         TEXT,
    -- argon2 PHC string; NULL for users who only sign in through the school portal.
    password_hash TEXT,
    -- The portal's `sub` for users created from a portal token.
    external_id   TEXT    UNIQUE,
    active        INTEGER NOT NULL DEFAULT 1,
    -- Bumped on password reset or deactivation: older tokens stop working.
    token_version INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
);

CREATE INDEX users_class ON users (class) WHERE class IS NOT NULL;

CREATE TABLE subjects (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL
);

CREATE TABLE user_subjects (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    subject TEXT    NOT NULL,
    PRIMARY KEY (user_id, subject)
);

CREATE INDEX user_subjects_subject ON user_subjects (subject);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
