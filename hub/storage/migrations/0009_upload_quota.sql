-- What one person uploaded in the last day is summed on every upload (the daily quota).
CREATE INDEX uploads_by_owner ON uploads (owner_role, owner_id, created_at);
