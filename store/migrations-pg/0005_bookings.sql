-- Bookings of slots in staff members' weekly consultation hours. The server cuts the hours into
-- slots; a slot is named by its staff member and its start (milliseconds since the Unix epoch,
-- UTC), so nothing here repeats the hours themselves. Bookers of one slot, and of one student,
-- take a transaction-scoped advisory lock on it before they look (postgres/bookings.rs): under
-- READ COMMITTED each then sees what the one before it committed, so a group fills to its limit
-- and no further; the unique indexes below stay the last word.

-- How a staff member's hours are cut into slots; a staff member without a row has the defaults
-- (15 minutes, 5 students a group slot).
CREATE TABLE booking_rules (
    user_id      BIGINT  PRIMARY KEY REFERENCES users (id),
    slot_minutes BIGINT  NOT NULL CHECK (slot_minutes > 0),
    group_limit  BIGINT  NOT NULL CHECK (group_limit > 0)
);

-- Slots their staff member closed to booking (a free slot has no row).
CREATE TABLE blocked_slots (
    user_id   BIGINT  NOT NULL REFERENCES users (id),
    starts_ms BIGINT  NOT NULL,
    PRIMARY KEY (user_id, starts_ms)
);

-- A cancelled booking is kept (cancelled_at set) for the record; everything that asks what a
-- slot holds looks only at the rows with cancelled_at NULL.
CREATE TABLE bookings (
    id            BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    school_id     BIGINT  NOT NULL REFERENCES schools (id),
    teacher_id    BIGINT  NOT NULL REFERENCES users (id),
    student_id    BIGINT  NOT NULL REFERENCES users (id),
    starts_ms     BIGINT  NOT NULL,
    ends_ms       BIGINT  NOT NULL,
    subject       TEXT    NOT NULL,
    -- A frontal consultation is not booked.
    form          TEXT    NOT NULL CHECK (form IN ('individual', 'group')),
    topic         TEXT    NOT NULL,
    -- The place the booking holds in its slot, from 0: the unique index below lets one active
    -- booking hold a place, so two bookers racing for the last place cannot both win it.
    seat          BIGINT  NOT NULL CHECK (seat >= 0),
    created_ms    BIGINT  NOT NULL,
    cancelled_at  BIGINT,
    cancelled_by  BIGINT  REFERENCES users (id),
    cancel_reason TEXT,
    CHECK ((cancelled_at IS NULL) = (cancelled_by IS NULL))
);
-- One active booking a seat; a cancelled one frees its seat. Also how a teacher's bookings are
-- found by start.
CREATE UNIQUE INDEX bookings_seat ON bookings (teacher_id, starts_ms, seat)
    WHERE cancelled_at IS NULL;
-- One active booking of a slot a student.
CREATE UNIQUE INDEX bookings_student_once ON bookings (teacher_id, starts_ms, student_id)
    WHERE cancelled_at IS NULL;
-- A student's bookings by start, and how many are open (counted at every booking).
CREATE INDEX bookings_student ON bookings (student_id, starts_ms) WHERE cancelled_at IS NULL;
-- The school's bookings not yet over, which the hub loads at start.
CREATE INDEX bookings_school ON bookings (school_id, ends_ms) WHERE cancelled_at IS NULL;

-- Each user's private calendar feed. The row stays when the feed is revoked (active FALSE), so
-- a renewal counts on from the last generation and a link to an older feed never works again.
CREATE TABLE calendar_feeds (
    user_id    BIGINT  PRIMARY KEY REFERENCES users (id),
    generation BIGINT  NOT NULL CHECK (generation > 0),
    active     BOOLEAN NOT NULL
);
