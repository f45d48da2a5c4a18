-- At most one record per session started without a help request: its writes become one
-- INSERT ... ON CONFLICT DO UPDATE, as a request's already are through request_id UNIQUE.
CREATE UNIQUE INDEX consultations_session_only ON consultations (session_id)
    WHERE request_id IS NULL;
