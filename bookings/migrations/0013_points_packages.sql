-- Points, and service packages (a number of visits of one service bought ahead, 套餐).

-- A customer's points: the balance, and every change to it as an entry with a unique reference
-- (earned:<booking>, redeemed:<booking>, returned:<booking>), so a retried step never counts twice.
CREATE TABLE point_balances (
    customer_id text PRIMARY KEY,
    balance     integer NOT NULL DEFAULT 0 CHECK (balance >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE point_entries (
    id          bigserial PRIMARY KEY,
    customer_id text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('earned', 'redeemed', 'returned', 'expired', 'adjusted')),
    points      integer NOT NULL CHECK (points <> 0),  -- negative when spent or taken away
    booking_id  uuid REFERENCES bookings (id),
    reference   text NOT NULL UNIQUE,
    note        text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX point_entries_customer ON point_entries (customer_id, created_at DESC, id DESC);

-- What an admin sells: visits of one service, each up to visit_minutes long, for one price, to be
-- used within validity_days of paying.
CREATE TABLE packages (
    id             uuid PRIMARY KEY,
    service_id     text NOT NULL REFERENCES services (id),
    name           text NOT NULL,
    visits         integer NOT NULL CHECK (visits BETWEEN 1 AND 100),
    visit_minutes  integer NOT NULL CHECK (visit_minutes > 0),
    price_cents    bigint NOT NULL CHECK (price_cents > 0),
    validity_days  integer NOT NULL CHECK (validity_days BETWEEN 1 AND 3660),
    active         boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- One customer's purchase of a package: its terms are copied, so a later change of the package
-- changes nothing that was bought. Paid like a booking (payments.package_order_id); the money is
-- held in the ledger account package:<id> and moves to a booking visit by visit.
CREATE TABLE package_orders (
    id              uuid PRIMARY KEY,
    package_id      uuid NOT NULL REFERENCES packages (id),
    customer_id     text NOT NULL,
    service_id      text NOT NULL REFERENCES services (id),
    name            text NOT NULL,
    visits          integer NOT NULL,
    visit_minutes   integer NOT NULL,
    price_cents     bigint NOT NULL CHECK (price_cents > 0),
    validity_days   integer NOT NULL,
    status          text NOT NULL CHECK (status IN ('pending_payment', 'active')),
    visits_left     integer NOT NULL CHECK (visits_left >= 0 AND visits_left <= visits),
    payment_due_at  timestamptz NOT NULL,
    paid_at         timestamptz,
    expires_at      timestamptz,  -- set when paid
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX package_orders_customer ON package_orders (customer_id, created_at DESC);

-- A booking covered by a visit of a package: what moved from the package to the booking, and
-- what came back when it was cancelled before service (less a late cancellation's fee).
CREATE TABLE package_visits (
    booking_id        uuid PRIMARY KEY REFERENCES bookings (id),
    package_order_id  uuid NOT NULL REFERENCES package_orders (id),
    amount_cents      bigint NOT NULL CHECK (amount_cents >= 0),
    returned_cents    bigint CHECK (returned_cents >= 0 AND returned_cents <= amount_cents),
    returned_at       timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX package_visits_order ON package_visits (package_order_id);

-- A payment pays either a booking or a package order.
ALTER TABLE payments
    ALTER COLUMN booking_id DROP NOT NULL,
    ADD COLUMN package_order_id uuid REFERENCES package_orders (id),
    ADD CONSTRAINT payments_pay_one_thing CHECK ((booking_id IS NULL) <> (package_order_id IS NULL));
CREATE INDEX payments_package_order ON payments (package_order_id) WHERE package_order_id IS NOT NULL;

-- The ledger learns two kinds: a visit's share moved from a package to a booking, and given back.
-- The allowed kinds are extended, not restated, so that kinds other migrations add are kept.
DO $$
DECLARE
    kinds text[];
BEGIN
    SELECT array_agg(DISTINCT m[1]) INTO kinds
      FROM pg_constraint c,
           regexp_matches(pg_get_constraintdef(c.oid), '''([a-z_]+)''', 'g') AS m
     WHERE c.conrelid = 'ledger_transactions'::regclass AND c.conname = 'ledger_transactions_kind_check';
    kinds := ARRAY(SELECT DISTINCT unnest(kinds || ARRAY['package_visit', 'package_visit_returned']) ORDER BY 1);
    ALTER TABLE ledger_transactions DROP CONSTRAINT ledger_transactions_kind_check;
    EXECUTE format(
        'ALTER TABLE ledger_transactions ADD CONSTRAINT ledger_transactions_kind_check CHECK (kind = ANY (%L::text[]))',
        kinds);
END
$$;
