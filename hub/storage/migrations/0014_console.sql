-- The support console: one durable queue of work items, and the console stream that replays
-- everything the console was sent (items, booking changes, alerts) by seq after any gap.

CREATE TABLE work_items (
    id            uuid PRIMARY KEY,
    kind          text NOT NULL,
    -- At most one open item per (kind, subject), and one item ever per (kind, subject, cause):
    -- a retry or a second node opening the same thing changes nothing.
    subject       text NOT NULL,
    cause         text NOT NULL,
    priority      text NOT NULL CHECK (priority IN ('urgent', 'high', 'normal', 'low')),
    state         text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'acknowledged', 'resolved')),
    title         text NOT NULL,
    booking_id    uuid,
    person_role   text,
    person_id     text,
    owner_role    text,
    owner_id      text,
    data          jsonb NOT NULL DEFAULT '{}',
    due_at        timestamptz,
    opened_at     timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    resolved_at   timestamptz,
    resolution    text,
    version       integer NOT NULL DEFAULT 1,
    CHECK ((person_role IS NULL) = (person_id IS NULL)),
    CHECK ((owner_role IS NULL) = (owner_id IS NULL)),
    CHECK ((state = 'resolved') = (resolved_at IS NOT NULL))
);
CREATE UNIQUE INDEX work_items_one_open ON work_items (kind, subject) WHERE state <> 'resolved';
CREATE UNIQUE INDEX work_items_once_per_cause ON work_items (kind, subject, cause);
CREATE INDEX work_items_unresolved ON work_items (opened_at) WHERE state <> 'resolved';
CREATE INDEX work_items_booking ON work_items (booking_id) WHERE booking_id IS NOT NULL;

CREATE TABLE work_item_history (
    id          bigserial PRIMARY KEY,
    item_id     uuid NOT NULL REFERENCES work_items (id) ON DELETE CASCADE,
    action      text NOT NULL,
    actor_role  text NOT NULL,
    actor_id    text NOT NULL,
    note        text NOT NULL DEFAULT '',
    data        jsonb NOT NULL DEFAULT '{}',
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX work_item_history_item ON work_item_history (item_id, id);

-- One counter row: taking the next seq locks it until the appending transaction commits, so
-- seqs become visible in order and without gaps (a reader never sees 7 before 6 commits).
CREATE TABLE console_stream (
    id        smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    last_seq  bigint NOT NULL DEFAULT 0
);
INSERT INTO console_stream (id, last_seq) VALUES (1, 0);

CREATE TABLE console_feed (
    seq       bigint PRIMARY KEY,
    event     text NOT NULL,
    payload   jsonb NOT NULL,
    -- What produced the entry (an outbox event id and a part): a redelivery appends nothing.
    source    text NOT NULL UNIQUE,
    at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX console_feed_at ON console_feed (at);
