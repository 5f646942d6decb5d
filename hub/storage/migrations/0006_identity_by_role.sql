-- Identity is (role, id): the tokens' `sub` is unique within a role only (customers, workers and
-- agents come from different directories), so nothing a person has may be found by id alone.

-- Chat membership: the same id may be a member once per role (a customer and a worker who share
-- an id are two people in the same booking conversation).
ALTER TABLE conversation_members DROP CONSTRAINT conversation_members_pkey;
ALTER TABLE conversation_members ADD PRIMARY KEY (conversation_id, user_id, role);
DROP INDEX conversation_members_user;
CREATE INDEX conversation_members_user ON conversation_members (user_id, role, conversation_id);

-- A retried send finds the original of the same sender, role included.
DROP INDEX messages_client_id;
CREATE UNIQUE INDEX messages_client_id ON messages (conversation_id, sender_id, sender_role, client_id)
    WHERE client_id IS NOT NULL;

-- Which agent holds a support conversation: a support agent and an admin may share an id.
ALTER TABLE conversations ADD COLUMN assigned_agent_role text
    CHECK (assigned_agent_role IN ('support', 'admin'));
UPDATE conversations c
   SET assigned_agent_role = COALESCE(
           (SELECT m.role FROM conversation_members m
             WHERE m.conversation_id = c.id AND m.user_id = c.assigned_agent_id
               AND m.role IN ('support', 'admin')
             LIMIT 1),
           'support')
 WHERE assigned_agent_id IS NOT NULL;
ALTER TABLE conversations ADD CONSTRAINT conversations_assigned_agent_role
    CHECK ((assigned_agent_id IS NULL) = (assigned_agent_role IS NULL));

-- The notification inbox and its sequence are per (user, role). Each role's counter starts where
-- the shared one was, so every new seq is above every seq a client may already hold.
ALTER TABLE notifications DROP CONSTRAINT notifications_pkey;
ALTER TABLE notifications ADD PRIMARY KEY (user_id, role, seq);
DROP INDEX notifications_unread;
CREATE INDEX notifications_unread ON notifications (user_id, role, seq) WHERE read_at IS NULL;
ALTER TABLE notification_counters DROP CONSTRAINT notification_counters_pkey;
ALTER TABLE notification_counters ADD COLUMN role text;
INSERT INTO notification_counters (user_id, role, last_seq)
SELECT DISTINCT c.user_id, n.role, c.last_seq
  FROM notification_counters c JOIN notifications n ON n.user_id = c.user_id
 WHERE c.role IS NULL;
DELETE FROM notification_counters WHERE role IS NULL;
ALTER TABLE notification_counters ALTER COLUMN role SET NOT NULL;
ALTER TABLE notification_counters ADD PRIMARY KEY (user_id, role);

-- Uploads belong to who uploaded them, role included. Older rows learn their role from a message
-- that attached them (only the owner could attach them). One never attached keeps none: whose it
-- was cannot be known, so nobody may attach or download it any more (upload it again).
ALTER TABLE uploads ADD COLUMN owner_role text;
UPDATE uploads u
   SET owner_role = (SELECT m.sender_role FROM messages m
                      WHERE m.sender_id = u.owner_id
                        AND m.attachments @> jsonb_build_array(jsonb_build_object('upload_id', u.id::text))
                      LIMIT 1);
-- Who may download an upload depends on the messages that attach it: find them by upload id.
CREATE INDEX messages_attachments ON messages USING gin (attachments jsonb_path_ops);

-- Push devices, preferences, quiet hours and deliveries are per (user, role). What older rows
-- belonged to is learnt from the roles each id had in notifications and chat.
CREATE TEMPORARY TABLE known_roles ON COMMIT DROP AS
SELECT user_id, role, max(at) AS last_at FROM (
    SELECT user_id, role, created_at AS at FROM notifications
    UNION ALL
    SELECT user_id, role, joined_at FROM conversation_members
) seen GROUP BY user_id, role;

-- A device goes to the role its user was last seen in; one whose user was never seen in any is
-- deleted (its app registers it again at its next start).
ALTER TABLE push_devices ADD COLUMN role text;
UPDATE push_devices d
   SET role = (SELECT k.role FROM known_roles k WHERE k.user_id = d.user_id
                ORDER BY k.last_at DESC, k.role LIMIT 1);
DELETE FROM push_devices WHERE role IS NULL;
ALTER TABLE push_devices ALTER COLUMN role SET NOT NULL;
DROP INDEX push_devices_user_idx;
CREATE INDEX push_devices_user_idx ON push_devices (user_id, role, last_seen_at);

-- Preferences were the id's whatever its role: each role it was seen in keeps them (every role
-- when it was seen in none), so nobody's settings are lost.
CREATE TEMPORARY TABLE roles_of_ids ON COMMIT DROP AS
SELECT ids.user_id, r.role
  FROM (SELECT user_id FROM push_preferences UNION SELECT user_id FROM push_quiet_hours) ids
  CROSS JOIN unnest(ARRAY['customer', 'worker', 'support', 'admin']) AS r(role)
 WHERE EXISTS (SELECT 1 FROM known_roles k WHERE k.user_id = ids.user_id AND k.role = r.role)
    OR NOT EXISTS (SELECT 1 FROM known_roles k WHERE k.user_id = ids.user_id);

ALTER TABLE push_preferences ADD COLUMN role text;
ALTER TABLE push_preferences DROP CONSTRAINT push_preferences_pkey;
INSERT INTO push_preferences (user_id, role, kind, in_app, push, updated_at)
SELECT p.user_id, r.role, p.kind, p.in_app, p.push, p.updated_at
  FROM push_preferences p JOIN roles_of_ids r ON r.user_id = p.user_id
 WHERE p.role IS NULL;
DELETE FROM push_preferences WHERE role IS NULL;
ALTER TABLE push_preferences ALTER COLUMN role SET NOT NULL;
ALTER TABLE push_preferences ADD PRIMARY KEY (user_id, role, kind);

ALTER TABLE push_quiet_hours ADD COLUMN role text;
ALTER TABLE push_quiet_hours DROP CONSTRAINT push_quiet_hours_pkey;
INSERT INTO push_quiet_hours (user_id, role, starts_at, ends_at, time_zone, updated_at)
SELECT q.user_id, r.role, q.starts_at, q.ends_at, q.time_zone, q.updated_at
  FROM push_quiet_hours q JOIN roles_of_ids r ON r.user_id = q.user_id
 WHERE q.role IS NULL;
DELETE FROM push_quiet_hours WHERE role IS NULL;
ALTER TABLE push_quiet_hours ALTER COLUMN role SET NOT NULL;
ALTER TABLE push_quiet_hours ADD PRIMARY KEY (user_id, role);

-- A queued delivery keeps the role of its device (for the webhook body); finished ones may have
-- lost their device, and keep none.
ALTER TABLE push_deliveries ADD COLUMN role text;
UPDATE push_deliveries p SET role = d.role FROM push_devices d WHERE d.id = p.device_id;
