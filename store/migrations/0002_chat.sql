-- Chat: threads, their members, messages and attachments. The offline form of every
-- consultation and the fallback of every live one.
CREATE TABLE threads (
    id           INTEGER PRIMARY KEY,
    kind         TEXT    NOT NULL CHECK (kind IN ('personal', 'group', 'class')),
    title        TEXT    NOT NULL,
    -- The class of a class thread.
    class        TEXT,
    -- The help request this thread answers, when it came from a deferred request.
    request_id   INTEGER,
    -- Whether a staff member has replied to that request.
    answered     INTEGER NOT NULL DEFAULT 0,
    -- The live session this thread belongs to.
    session_id   INTEGER,
    -- A support staff member (the school psychologist) is a member: admins never read it.
    confidential INTEGER NOT NULL DEFAULT 0,
    -- The seq of the newest message; seqs are gap-free from 1.
    last_seq     INTEGER NOT NULL DEFAULT 0,
    created_by   INTEGER REFERENCES users (id),
    created_at   INTEGER NOT NULL,
    -- Time of the newest message (or creation), for ordering a user's threads.
    last_at      INTEGER NOT NULL
);

CREATE INDEX threads_request ON threads (request_id) WHERE request_id IS NOT NULL;
CREATE INDEX threads_session ON threads (session_id) WHERE session_id IS NOT NULL;

CREATE TABLE thread_members (
    thread_id INTEGER NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    user_id   INTEGER NOT NULL REFERENCES users (id),
    -- The newest seq this member has read.
    read_seq  INTEGER NOT NULL DEFAULT 0,
    joined_at INTEGER NOT NULL,
    PRIMARY KEY (thread_id, user_id)
) WITHOUT ROWID;

CREATE INDEX thread_members_user ON thread_members (user_id, thread_id);

CREATE TABLE messages (
    id        INTEGER PRIMARY KEY,
    thread_id INTEGER NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    seq       INTEGER NOT NULL,
    sender    INTEGER NOT NULL REFERENCES users (id),
    text      TEXT    NOT NULL,
    ts        INTEGER NOT NULL,
    -- Chosen by the sender: the same client_id from the same sender stores one message.
    client_id TEXT    NOT NULL,
    UNIQUE (thread_id, seq),
    UNIQUE (sender, client_id)
);

CREATE TABLE attachments (
    -- Random and opaque; the bytes live under attachments/ in the data folder, named by
    -- their sha256, so identical uploads share one file.
    id           TEXT    PRIMARY KEY,
    sha256       TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    content_type TEXT    NOT NULL,
    size         INTEGER NOT NULL,
    uploader     INTEGER NOT NULL REFERENCES users (id),
    created_at   INTEGER NOT NULL
);

CREATE INDEX attachments_sha256 ON attachments (sha256);

CREATE TABLE message_attachments (
    message_id    INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    attachment_id TEXT    NOT NULL REFERENCES attachments (id),
    position      INTEGER NOT NULL,
    PRIMARY KEY (message_id, attachment_id)
) WITHOUT ROWID;

CREATE INDEX message_attachments_attachment ON message_attachments (attachment_id);
