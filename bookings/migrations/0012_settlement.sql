-- Worker income and settlement: the commission fixed on each booking when it completes, each
-- worker's settlement period and payout account, statements per worker and period, and payouts
-- (requested, approved, then paid; or rejected, or failed) with each step they went through.

-- What the worker earned, fixed at completion: the commission rate then in force and the pay it
-- left them (of the price before discounts). Null until the booking completes.
ALTER TABLE bookings
    ADD COLUMN commission_pct      integer CHECK (commission_pct BETWEEN 0 AND 100),
    ADD COLUMN gross_cents         integer CHECK (gross_cents >= 0),
    ADD COLUMN earned_cents        integer CHECK (earned_cents >= 0),
    ADD COLUMN statement_id        uuid;
CREATE INDEX bookings_worker_finished ON bookings (worker_id, finished_at) WHERE earned_cents IS NOT NULL;

-- Payouts are set aside in the ledger when requested (payouts:pending), then paid or released.
ALTER TABLE ledger_transactions DROP CONSTRAINT ledger_transactions_kind_check;
ALTER TABLE ledger_transactions ADD CONSTRAINT ledger_transactions_kind_check CHECK (kind IN (
    'payment', 'refund_requested', 'refund', 'refund_failed', 'cancellation_fee', 'completion',
    'payout', 'payout_requested', 'payout_released'));

-- How and how often a worker is paid. The account is kept whole for whoever pays; answers mask it.
CREATE TABLE worker_payout_settings (
    worker_id     text PRIMARY KEY REFERENCES workers (id),
    period        text NOT NULL CHECK (period IN ('weekly', 'monthly')),
    method        text NOT NULL CHECK (method IN ('bank_card', 'alipay', 'wechat')),
    account_name  text NOT NULL,
    account_no    text NOT NULL,
    bank_name     text,
    updated_by    text NOT NULL,   -- role:id
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- One statement per worker and period ('2026-W48', '2026-11'): running a period again finds it.
CREATE TABLE settlement_statements (
    id                uuid PRIMARY KEY,
    worker_id         text NOT NULL,
    period            text NOT NULL,
    starts_on         date NOT NULL,   -- local dates, both included
    ends_on           date NOT NULL,
    bookings          integer NOT NULL,
    gross_cents       bigint NOT NULL,
    commission_cents  bigint NOT NULL,
    net_cents         bigint NOT NULL,
    payout_id         uuid,            -- the payout it asked for, if any
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (worker_id, period)
);
CREATE INDEX settlement_statements_worker ON settlement_statements (worker_id, starts_on DESC);

-- A payout: requested by the worker (or by a statement), decided by finance, then paid through a
-- transfer or by hand. out_transfer_no is the id a transfer provider would know.
CREATE TABLE payouts (
    id               uuid PRIMARY KEY,
    out_transfer_no  text NOT NULL UNIQUE,
    worker_id        text NOT NULL,
    amount_cents     bigint NOT NULL CHECK (amount_cents > 0),
    method           text NOT NULL CHECK (method IN ('bank_card', 'alipay', 'wechat')),
    account          jsonb NOT NULL,   -- the payout settings when it was asked for
    status           text NOT NULL CHECK (status IN ('requested', 'approved', 'paid', 'rejected', 'failed')),
    reason           text,             -- why it was rejected or failed
    statement_id     uuid REFERENCES settlement_statements (id),
    transfer_ref     text,             -- the bank's or provider's reference once paid
    requested_by     text NOT NULL,    -- role:id, or system
    decided_by       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payouts_worker ON payouts (worker_id, created_at DESC);
CREATE INDEX payouts_open ON payouts (created_at) WHERE status IN ('requested', 'approved');

CREATE TABLE payout_steps (
    id         bigserial PRIMARY KEY,
    payout_id  uuid NOT NULL REFERENCES payouts (id),
    status     text NOT NULL,
    actor      text NOT NULL,   -- role:id, or system
    note       text NOT NULL DEFAULT '',
    at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payout_steps_payout ON payout_steps (payout_id, id);
