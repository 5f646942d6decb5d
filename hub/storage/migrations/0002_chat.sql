-- Chat: support conversations (customer <-> support) and booking conversations (customer <->
-- the booking's worker, support may join). Messages carry a per-conversation seq allocated by
-- bumping conversations.last_seq in the same statement that inserts the message.
CREATE TABLE conversations (
    id               uuid PRIMARY KEY,
    kind             text NOT NULL CHECK (kind IN ('support', 'booking')),
    customer_id      text NOT NULL,
    booking_id       text UNIQUE,
    worker_id        text,
    -- support: queued -> assigned -> resolved (-> assigned again on reopen); booking: open
    status           text NOT NULL CHECK (status IN ('queued', 'assigned', 'resolved', 'open')),
    assigned_agent_id text,
    queued_at        timestamptz,
    assigned_at      timestamptz,
    resolved_at      timestamptz,
    read_only_after  timestamptz,       -- booking conversations close a while after completion
    last_seq         bigint NOT NULL DEFAULT 0,
    last_message_at  timestamptz,
    csat_score       smallint CHECK (csat_score BETWEEN 1 AND 5),
    csat_comment     text,
    csat_at          timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'booking') = (booking_id IS NOT NULL))
);
-- A customer has at most one unresolved support conversation: support:open is idempotent.
CREATE UNIQUE INDEX conversations_one_open_support ON conversations (customer_id)
    WHERE kind = 'support' AND status <> 'resolved';
CREATE INDEX conversations_queue ON conversations (queued_at, id) WHERE status = 'queued';
CREATE INDEX conversations_agent_load ON conversations (assigned_agent_id) WHERE status = 'assigned';

CREATE TABLE conversation_members (
    conversation_id    uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    user_id            text NOT NULL,
    role               text NOT NULL CHECK (role IN ('customer', 'worker', 'support', 'admin')),
    last_read_seq      bigint NOT NULL DEFAULT 0,
    last_delivered_seq bigint NOT NULL DEFAULT 0,
    active             boolean NOT NULL DEFAULT true,   -- false once an agent transferred it away
    joined_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (conversation_id, user_id)
);
CREATE INDEX conversation_members_user ON conversation_members (user_id, conversation_id);

CREATE TABLE messages (
    id              uuid PRIMARY KEY,
    conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq             bigint NOT NULL,
    sender_id       text,                 -- NULL for system messages
    sender_role     text NOT NULL,        -- customer | worker | support | admin | system
    client_id       text,
    kind            text NOT NULL CHECK (kind IN ('text', 'system')),
    body            text NOT NULL,
    attachments     jsonb NOT NULL DEFAULT '[]',
    private         boolean NOT NULL DEFAULT false,   -- agents' notes, never shown to customers/workers
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (conversation_id, seq)
);
-- A retried send (same client_id from the same sender) must find the original.
CREATE UNIQUE INDEX messages_client_id ON messages (conversation_id, sender_id, client_id)
    WHERE client_id IS NOT NULL;

-- Support agents' assignment bookkeeping: capacity override and round robin among equals.
CREATE TABLE support_agents (
    agent_id         text PRIMARY KEY,
    capacity         integer CHECK (capacity >= 0),
    last_assigned_at timestamptz
);

-- Files uploaded for chat attachments; kept in the database so every hub node can serve them.
CREATE TABLE uploads (
    id           uuid PRIMARY KEY,
    owner_id     text NOT NULL,
    content_type text NOT NULL,
    size         integer NOT NULL,
    filename     text,
    sha256       text NOT NULL,
    content      bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
