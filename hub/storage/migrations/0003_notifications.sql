-- In-app inbox: every notification persisted with a per-user sequence, so a client that was away
-- for any length of time replays exactly what it missed.
CREATE TABLE notification_counters (
    user_id  text PRIMARY KEY,
    last_seq bigint NOT NULL
);

CREATE TABLE notifications (
    user_id    text NOT NULL,
    seq        bigint NOT NULL,
    id         uuid NOT NULL UNIQUE,
    role       text NOT NULL,          -- which namespace the live copy goes to
    kind       text NOT NULL,
    title      text NOT NULL,
    body       text NOT NULL,
    data       jsonb NOT NULL DEFAULT '{}',
    urgent     boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    read_at    timestamptz,
    PRIMARY KEY (user_id, seq)
);
CREATE INDEX notifications_unread ON notifications (user_id, seq) WHERE read_at IS NULL;
