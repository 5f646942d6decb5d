-- The status each person chose (a support agent away, a worker on leave), kept for good: the
-- presence tracker holds it in memory or in Redis, and loses it with them. "online", the default,
-- is the absence of a row.
CREATE TABLE presence_choices (
    role       text NOT NULL,
    user_id    text NOT NULL,
    status     text NOT NULL,
    chosen_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (role, user_id)
);
