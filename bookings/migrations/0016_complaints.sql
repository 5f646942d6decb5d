-- Complaints: a customer's complaint about a booking that had a worker, handled by support
-- (open -> investigating -> resolved | rejected) under a response deadline, with every step kept;
-- resolved by a refund, a free redo of the job, a compensation (a coupon or points) or no action.

CREATE TABLE complaints (
    id             uuid PRIMARY KEY,
    booking_id     uuid NOT NULL REFERENCES bookings (id),
    customer_id    text NOT NULL,
    worker_id      text,                      -- the booking's worker when it was filed: who it is about
    category       text NOT NULL CHECK (category IN (
                       'quality', 'lateness', 'damage', 'behaviour', 'billing', 'safety', 'other')),
    body           text NOT NULL CHECK (char_length(body) BETWEEN 1 AND 4000),
    attachments    jsonb NOT NULL DEFAULT '[]',   -- descriptions of the customer's own uploads
    status         text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'investigating', 'resolved', 'rejected')),
    owner_id       text,                      -- the staff member handling it
    owner_role     text CHECK (owner_role IN ('support', 'admin')),
    due_at         timestamptz NOT NULL,      -- the response deadline (HUB_COMPLAINT_RESPONSE_HOURS)
    escalated_at   timestamptz,               -- set once, by the sweep that found it overdue
    resolution     text CHECK (resolution IN ('refund', 'redo', 'compensation', 'none')),
    outcome        jsonb NOT NULL DEFAULT '{}',   -- what the resolution did: the refund, the redo, ...
    answer         text,                      -- what the customer was told when it was closed
    closed_by_id   text,
    closed_by_role text,
    closed_at      timestamptz,
    version        integer NOT NULL DEFAULT 1,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((owner_id IS NULL) = (owner_role IS NULL)),
    CHECK ((status = 'resolved') = (resolution IS NOT NULL)),
    CHECK ((status IN ('resolved', 'rejected')) = (closed_at IS NOT NULL))
);
-- At most one unresolved complaint per booking: two filings racing cannot both be made.
CREATE UNIQUE INDEX complaints_one_open ON complaints (booking_id) WHERE status IN ('open', 'investigating');
CREATE INDEX complaints_customer ON complaints (customer_id, created_at DESC);
CREATE INDEX complaints_recent ON complaints (created_at DESC);
-- The sweep looks for complaints past their deadline that nobody escalated yet.
CREATE INDEX complaints_due ON complaints (due_at) WHERE status IN ('open', 'investigating') AND escalated_at IS NULL;

-- Every step of a complaint: who did what and when. Only messages to the customer are shown to them.
CREATE TABLE complaint_steps (
    id           bigserial PRIMARY KEY,
    complaint_id uuid NOT NULL REFERENCES complaints (id),
    action       text NOT NULL,   -- filed, taken, assigned, investigating, noted, messaged, escalated, resolved, rejected
    actor_role   text NOT NULL,   -- customer, support, admin, system
    actor_id     text,
    body         text NOT NULL DEFAULT '',
    data         jsonb NOT NULL DEFAULT '{}',
    to_customer  boolean NOT NULL DEFAULT false,
    at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX complaint_steps_complaint ON complaint_steps (complaint_id, id);

-- A redo: a free booking made to do a job again, linked to the booking it redoes.
ALTER TABLE bookings ADD COLUMN redo_of uuid REFERENCES bookings (id);
CREATE INDEX bookings_redo_of ON bookings (redo_of) WHERE redo_of IS NOT NULL;

-- Compensation: a coupon granted into the wallet, or points credited, each with the reason the
-- customer reads in their wallet or points history.
ALTER TABLE customer_coupons ADD COLUMN note text NOT NULL DEFAULT '';

-- The allowed values of three checks are extended, not restated, so values other migrations add
-- are kept: coupons granted by a complaint, points credited by one, and the ledger's cover of a
-- refund of money already earned.
CREATE FUNCTION pg_temp.extend_check(tbl regclass, name text, col text, extra text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    vals text[];
BEGIN
    -- Each quoted literal of the check: one value ('a'::text), or an array of them ('{a,b}').
    SELECT array_agg(DISTINCT v) INTO vals
      FROM pg_constraint c,
           regexp_matches(pg_get_constraintdef(c.oid), '''([^'']*)''', 'g') AS m,
           unnest(CASE WHEN m[1] LIKE '{%}' THEN string_to_array(btrim(m[1], '{}'), ',')
                       ELSE ARRAY[m[1]] END) AS v
     WHERE c.conrelid = tbl AND c.conname = name;
    vals := ARRAY(SELECT DISTINCT unnest(coalesce(vals, '{}') || extra) ORDER BY 1);
    EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', tbl, name);
    EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I CHECK (%I = ANY (%L::text[]))', tbl, name, col, vals);
END
$$;
SELECT pg_temp.extend_check('customer_coupons', 'customer_coupons_source_check', 'source', ARRAY['complaint']);
SELECT pg_temp.extend_check('point_entries', 'point_entries_kind_check', 'kind', ARRAY['compensation']);
SELECT pg_temp.extend_check('ledger_transactions', 'ledger_transactions_kind_check', 'kind', ARRAY['complaint_cover']);
DROP FUNCTION pg_temp.extend_check(regclass, text, text, text[]);
