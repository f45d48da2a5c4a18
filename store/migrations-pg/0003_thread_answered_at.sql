-- When a thread's request was first answered by staff, for the report's "offline questions
-- answered within a day". Threads answered before this column existed get the time of their
-- first message from a member who is not a student.
ALTER TABLE threads ADD COLUMN answered_at BIGINT;

UPDATE threads SET answered_at = (
    SELECT min(m.ts) FROM messages m JOIN users u ON u.id = m.sender
    WHERE m.thread_id = threads.id AND u.role <> 'student')
WHERE answered;
