-- Transactional outbox: domain code inserts an event in the same transaction as the change it
-- describes; the relay (hub/outbox.py) delivers it to subscribers at least once.
CREATE TABLE events (
    id              bigserial PRIMARY KEY,                 -- delivery order
    event_id        uuid NOT NULL UNIQUE,                  -- subscribers deduplicate on this
    topic           text NOT NULL,
    payload         jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),    -- also the claim lease while in flight
    delivered_at    timestamptz,
    dead_at         timestamptz,                           -- gave up after HUB_OUTBOX_MAX_ATTEMPTS
    last_error      text
);

-- The relay only ever looks at undelivered rows; keep that index small.
CREATE INDEX events_pending_idx ON events (next_attempt_at, id)
    WHERE delivered_at IS NULL AND dead_at IS NULL;
CREATE INDEX events_delivered_idx ON events (delivered_at) WHERE delivered_at IS NOT NULL;

-- Subscribers that already handled an event, so a retry after a partial failure only reaches
-- the subscribers that failed.
CREATE TABLE event_deliveries (
    event_id     uuid NOT NULL REFERENCES events (event_id) ON DELETE CASCADE,
    subscriber   text NOT NULL,
    delivered_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, subscriber)
);

-- NOTIFY is sent at commit and never for a rolled-back transaction; one per statement is enough
-- to wake every relay, which then claims rows itself.
CREATE FUNCTION events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('hub_events', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER events_notify AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_notify();
