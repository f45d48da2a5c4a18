-- Threads of the support service (a help request or session with the school psychologist):
-- confidential whoever their members are, answered by every active support staff member,
-- those who join the service later included, and never read by an administrator.
ALTER TABLE threads ADD COLUMN support_service INTEGER NOT NULL DEFAULT 0;

-- The threads of confidential consultations written before: the service's (a request deferred
-- while no support staff was active made a thread nobody but the student was in).
UPDATE threads SET confidential = 1, support_service = 1
 WHERE id IN (SELECT thread_id FROM consultations WHERE confidential = 1 AND thread_id IS NOT NULL);

INSERT OR IGNORE INTO thread_members (thread_id, user_id, joined_at)
SELECT t.id, u.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
  FROM threads t, users u
 WHERE t.support_service = 1 AND u.role = 'support' AND u.active = 1;

-- Whoever becomes active support staff (created, re-activated, or given the role) joins every
-- thread of the service, whichever route changed the account.
CREATE TRIGGER support_staff_join_service_on_insert AFTER INSERT ON users
WHEN NEW.role = 'support' AND NEW.active = 1
BEGIN
    INSERT OR IGNORE INTO thread_members (thread_id, user_id, joined_at)
    SELECT id, NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
      FROM threads WHERE support_service = 1;
END;

CREATE TRIGGER support_staff_join_service_on_update AFTER UPDATE OF role, active ON users
WHEN NEW.role = 'support' AND NEW.active = 1
BEGIN
    INSERT OR IGNORE INTO thread_members (thread_id, user_id, joined_at)
    SELECT id, NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
      FROM threads WHERE support_service = 1;
END;

-- An administrator is never in a thread of the service: whoever becomes one leaves them.
DELETE FROM thread_members
 WHERE user_id IN (SELECT id FROM users WHERE role = 'admin')
   AND thread_id IN (SELECT id FROM threads WHERE support_service = 1);

CREATE TRIGGER admins_leave_service_threads AFTER UPDATE OF role ON users
WHEN NEW.role = 'admin'
BEGIN
    DELETE FROM thread_members
     WHERE user_id = NEW.id
       AND thread_id IN (SELECT id FROM threads WHERE support_service = 1);
END;

CREATE INDEX threads_support_service ON threads (id) WHERE support_service = 1;
