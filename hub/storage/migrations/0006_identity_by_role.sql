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
