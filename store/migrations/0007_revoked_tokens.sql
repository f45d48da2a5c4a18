-- Access tokens ended by `POST /api/logout`, each until it would have expired: a restart keeps
-- them ended. Rows past their expiry are swept as new ones come.
CREATE TABLE revoked_tokens (
    id TEXT PRIMARY KEY,
    expires INTEGER NOT NULL  -- Unix seconds
);
