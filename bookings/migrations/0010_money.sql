-- Money: a double-entry ledger, and the payments that feed it.
--
-- Every movement of money is one ledger transaction made of lines that sum to zero: a positive
-- amount debits an account, a negative one credits it. Accounts are names: cash:<method> (money
-- held at a provider, or by hand), booking:<id> (paid for a booking and not yet earned or given
-- back), refunds:pending (asked of a provider, not yet confirmed), worker:<id> (what the
-- platform owes a worker), platform:revenue, platform:promotions.
-- A transaction is made once: its reference is unique (e.g. "payment:<out_trade_no>").
CREATE TABLE ledger_transactions (
    id          uuid PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN (
                    'payment', 'refund_requested', 'refund', 'refund_failed', 'cancellation_fee',
                    'completion', 'payout')),
    reference   text NOT NULL UNIQUE,
    booking_id  uuid REFERENCES bookings (id),
    customer_id text,
    worker_id   text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ledger_transactions_booking ON ledger_transactions (booking_id);
CREATE INDEX ledger_transactions_customer ON ledger_transactions (customer_id, created_at);

CREATE TABLE ledger_lines (
    transaction_id uuid NOT NULL REFERENCES ledger_transactions (id),
    account        text NOT NULL,
    amount_cents   bigint NOT NULL CHECK (amount_cents <> 0),
    PRIMARY KEY (transaction_id, account)
);
CREATE INDEX ledger_lines_account ON ledger_lines (account);

-- The database itself refuses a transaction whose lines do not sum to zero, checked when the
-- database transaction commits (all its lines are in by then).
CREATE FUNCTION ledger_transaction_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    total bigint;
BEGIN
    SELECT coalesce(sum(amount_cents), 0) INTO total FROM ledger_lines WHERE transaction_id = NEW.transaction_id;
    IF total <> 0 THEN
        RAISE EXCEPTION 'ledger transaction % does not balance (sum %)', NEW.transaction_id, total
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER ledger_lines_balanced
    AFTER INSERT OR UPDATE ON ledger_lines
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_transaction_balanced();

-- A payment attempt: one per order sent to a provider. out_trade_no is the id the provider knows.
CREATE TABLE payments (
    id            uuid PRIMARY KEY,
    out_trade_no  text NOT NULL UNIQUE,
    booking_id    uuid NOT NULL REFERENCES bookings (id),
    customer_id   text NOT NULL,
    method        text NOT NULL CHECK (method IN ('wechat', 'alipay', 'card', 'manual')),
    channel       text NOT NULL,
    amount_cents  bigint NOT NULL CHECK (amount_cents > 0),
    currency      text NOT NULL DEFAULT 'CNY',
    -- created: stored, not yet at the provider; pending: the payer can pay; then one final state
    status        text NOT NULL CHECK (status IN ('created', 'pending', 'succeeded', 'failed', 'closed')),
    provider_ref  text,
    client        jsonb,            -- what the app needs to pay (prepay parameters, page URL)
    failure       text,
    expires_at    timestamptz NOT NULL,
    paid_at       timestamptz,
    queried_at    timestamptz,      -- last asked the provider, when its notify was late
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payments_booking ON payments (booking_id);
CREATE INDEX payments_pending ON payments (created_at) WHERE status = 'pending';

-- Every notify as it arrived, verified or not: the audit trail of what providers said.
CREATE TABLE payment_notices (
    id            bigserial PRIMARY KEY,
    method        text NOT NULL,
    out_trade_no  text,
    outcome       text NOT NULL,   -- applied, duplicate, rejected:<reason>, refused:<reason>
    body          jsonb,
    received_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payment_notices_trade ON payment_notices (out_trade_no);

-- A refund: part or all of a succeeded payment given back through its provider. out_refund_no is
-- the id the provider knows, and makes asking again harmless.
CREATE TABLE refunds (
    id                 uuid PRIMARY KEY,
    out_refund_no      text NOT NULL UNIQUE,
    booking_id         uuid NOT NULL REFERENCES bookings (id),
    payment_id         uuid NOT NULL REFERENCES payments (id),
    amount_cents       bigint NOT NULL CHECK (amount_cents > 0),
    reason             text NOT NULL,
    -- requested: recorded, the provider not yet asked (or asking failed and is retried);
    -- processing: the provider accepted it; then succeeded or failed
    status             text NOT NULL CHECK (status IN ('requested', 'processing', 'succeeded', 'failed')),
    provider_refund_id text,
    failure            text,
    requested_by       text NOT NULL,   -- role:id, or system
    attempts           integer NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refunds_booking ON refunds (booking_id);
CREATE INDEX refunds_unsent ON refunds (updated_at) WHERE status = 'requested';
