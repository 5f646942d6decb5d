-- Idempotency keys are per person, and a person is a role and an id: a customer and an admin who
-- share an id must not share keys. Older keys came from routes of one role each: admins' under
-- /api/v1/admin/, customers' elsewhere (bookings, addresses).
ALTER TABLE idempotency_keys ADD COLUMN role text;
UPDATE idempotency_keys
   SET role = CASE WHEN operation LIKE 'POST /api/v1/admin/%' THEN 'admin' ELSE 'customer' END;
ALTER TABLE idempotency_keys ALTER COLUMN role SET NOT NULL;
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;
ALTER TABLE idempotency_keys ADD PRIMARY KEY (user_id, role, key);
