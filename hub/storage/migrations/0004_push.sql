-- Offline push delivery (hub/push): devices, notification preferences, quiet hours and the push
-- outbox. User ids are the tokens' `sub`, kept as plain text: this migration depends on no other
-- feature's tables.

CREATE TABLE push_devices (
    id           uuid PRIMARY KEY,
    user_id      text NOT NULL,
    platform     text NOT NULL CHECK (platform IN ('fcm', 'apns', 'webhook')),
    token        text NOT NULL,                      -- for webhooks: the URL to call
    app_id       text,                               -- APNs topic (bundle id) when not the default
    locale       text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (platform, token)                         -- a token belongs to one user at a time
);
CREATE INDEX push_devices_user_idx ON push_devices (user_id, last_seen_at);

-- Only kinds a user changed have a row; a missing row means every channel is on.
CREATE TABLE push_preferences (
    user_id    text NOT NULL,
    kind       text NOT NULL,
    in_app     boolean NOT NULL,
    push       boolean NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, kind)
);

-- Local wall-clock times in an IANA zone; start > end spans midnight.
CREATE TABLE push_quiet_hours (
    user_id    text PRIMARY KEY,
    starts_at  time NOT NULL,
    ends_at    time NOT NULL,
    time_zone  text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (starts_at <> ends_at)
);

-- One row per (notification, device). The message is copied in, so the sender needs nothing
-- else, and the unique key makes a redelivered outbox event queue nothing new.
CREATE TABLE push_deliveries (
    id              bigserial PRIMARY KEY,
    notification_id uuid NOT NULL,
    -- SET NULL: a device removed (by its user, or as unregistered) drops what was queued for it.
    device_id       uuid REFERENCES push_devices (id) ON DELETE SET NULL,
    user_id         text NOT NULL,
    kind            text NOT NULL,
    title           text NOT NULL,
    body            text NOT NULL,
    data            jsonb NOT NULL DEFAULT '{}',
    urgent          boolean NOT NULL DEFAULT false,
    sound           text,
    collapse_key    text,
    status          text NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'sent', 'failed', 'dropped')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),  -- also the claim lease while in flight
    created_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    last_error      text,
    provider_id     text,                                 -- apns-id or FCM message name
    UNIQUE (notification_id, device_id)
);
CREATE INDEX push_deliveries_due_idx ON push_deliveries (next_attempt_at, id) WHERE status = 'queued';
CREATE INDEX push_deliveries_finished_idx ON push_deliveries (finished_at) WHERE finished_at IS NOT NULL;
-- The foreign key's SET NULL looks rows up by device when a device is deleted.
CREATE INDEX push_deliveries_device_idx ON push_deliveries (device_id);

-- As for events: NOTIFY at commit wakes every sender, which then claims rows itself.
CREATE FUNCTION push_deliveries_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('hub_push', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER push_deliveries_notify AFTER INSERT ON push_deliveries
    FOR EACH STATEMENT EXECUTE FUNCTION push_deliveries_notify();
