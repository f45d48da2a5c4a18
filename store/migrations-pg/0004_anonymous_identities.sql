-- Students' anonymous identities for questions to the support service. An identity is an
-- account of its own (`users.anonymous`), never listed and never signed into with a password.
-- Its student is kept only as `owner_digest`, a keyed hash of the school and the student's id
-- that the server computes from the student's own token: nothing stored names the student.
ALTER TABLE users ADD COLUMN anonymous BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE anonymous_identities (
    user_id      BIGINT  PRIMARY KEY REFERENCES users (id),
    school_id    BIGINT  NOT NULL REFERENCES schools (id),
    owner_digest TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    -- When the student told the support service who they are; a revealed identity is not
    -- handed out again.
    revealed_at  BIGINT
);
CREATE INDEX anonymous_identities_owner ON anonymous_identities (school_id, owner_digest);

-- Students whose anonymous questions the support service refused until `until_ms`.
CREATE TABLE anonymous_blocks (
    school_id    BIGINT  NOT NULL REFERENCES schools (id),
    owner_digest TEXT    NOT NULL,
    until_ms     BIGINT  NOT NULL,
    PRIMARY KEY (school_id, owner_digest)
);
