-- Coupons, the customers' wallets of them, and the campaigns that hand them out.
--
-- A coupon is a definition an admin writes: a fixed amount off, or a percentage with a cap, above a
-- minimum spend, usable in a validity window, on some services or categories (empty: all). A
-- customer's claim of it is a row of customer_coupons (their wallet); a booking redeems one claim
-- (state available -> used, by a conditional UPDATE) and cancelling the booking before service
-- releases it. Money is integer fen.
CREATE TABLE coupons (
    id                 uuid PRIMARY KEY,
    code               text NOT NULL UNIQUE,          -- upper case; customers type it to claim
    name_en            text NOT NULL,
    name_zh            text NOT NULL,
    kind               text NOT NULL CHECK (kind IN ('fixed', 'percent')),
    amount_cents       integer CHECK (amount_cents > 0),                -- fixed
    percent            integer CHECK (percent BETWEEN 1 AND 100),       -- percent...
    max_discount_cents integer CHECK (max_discount_cents > 0),          -- ...at most this much
    min_spend_cents    integer NOT NULL DEFAULT 0 CHECK (min_spend_cents >= 0),
    valid_from         timestamptz NOT NULL,
    valid_until        timestamptz NOT NULL,
    service_ids        text[] NOT NULL DEFAULT '{}',
    category_ids       text[] NOT NULL DEFAULT '{}',
    per_customer_limit integer NOT NULL DEFAULT 1 CHECK (per_customer_limit > 0),
    total_limit        integer CHECK (total_limit > 0),  -- NULL: no limit
    -- Claims so far (campaign grants and open group reservations included): the total limit is
    -- enforced by one conditional UPDATE of this counter, which also serialises claims of a coupon.
    claimed            integer NOT NULL DEFAULT 0 CHECK (claimed >= 0),
    active             boolean NOT NULL DEFAULT true,   -- false: nobody can claim it any more
    claimable          boolean NOT NULL DEFAULT true,   -- false: only campaigns hand it out
    created_by         text NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CHECK (valid_until > valid_from),
    CHECK ((kind = 'fixed') = (amount_cents IS NOT NULL)),
    CHECK ((kind = 'percent') = (percent IS NOT NULL)),
    CHECK (total_limit IS NULL OR claimed <= total_limit)
);

CREATE TABLE campaigns (
    id          uuid PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('new_customer', 'holiday', 'group')),
    name_en     text NOT NULL,
    name_zh     text NOT NULL,
    coupon_id   uuid NOT NULL REFERENCES coupons (id),
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    group_size  integer CHECK (group_size BETWEEN 2 AND 100),    -- group: members needed...
    group_hours integer CHECK (group_hours BETWEEN 1 AND 720),   -- ...within this long of its start
    active      boolean NOT NULL DEFAULT true,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at),
    CHECK ((kind = 'group') = (group_size IS NOT NULL AND group_hours IS NOT NULL))
);
CREATE INDEX campaigns_live ON campaigns (kind, ends_at) WHERE active;

-- A group of a group-buying campaign: open until it fills (each member gets the coupon) or its
-- deadline passes (nobody does).
CREATE TABLE campaign_groups (
    id          uuid PRIMARY KEY,
    campaign_id uuid NOT NULL REFERENCES campaigns (id),
    size        integer NOT NULL,
    deadline    timestamptz NOT NULL,
    status      text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'filled', 'failed')),
    started_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    closed_at   timestamptz
);
CREATE INDEX campaign_groups_open ON campaign_groups (deadline) WHERE status = 'open';
CREATE INDEX campaign_groups_campaign ON campaign_groups (campaign_id, created_at DESC);

CREATE TABLE campaign_group_members (
    group_id    uuid NOT NULL REFERENCES campaign_groups (id),
    customer_id text NOT NULL,
    joined_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, customer_id)
);
CREATE INDEX campaign_group_members_customer ON campaign_group_members (customer_id);

-- A customer's wallet: one row per claim (or grant) of a coupon.
CREATE TABLE customer_coupons (
    id          uuid PRIMARY KEY,
    coupon_id   uuid NOT NULL REFERENCES coupons (id),
    customer_id text NOT NULL,
    state       text NOT NULL DEFAULT 'available' CHECK (state IN ('available', 'used')),
    source      text NOT NULL CHECK (source IN ('claim', 'new_customer', 'holiday', 'group')),
    campaign_id uuid REFERENCES campaigns (id),
    grant_key   text UNIQUE,   -- a campaign grants once per key (e.g. new_customer:<campaign>:<customer>)
    booking_id  uuid REFERENCES bookings (id),
    claimed_at  timestamptz NOT NULL DEFAULT now(),
    used_at     timestamptz,
    CHECK ((state = 'used') = (booking_id IS NOT NULL))
);
CREATE INDEX customer_coupons_customer ON customer_coupons (customer_id, claimed_at DESC);
CREATE INDEX customer_coupons_coupon ON customer_coupons (coupon_id, customer_id);
-- A booking redeems at most one coupon.
CREATE UNIQUE INDEX customer_coupons_booking ON customer_coupons (booking_id) WHERE booking_id IS NOT NULL;
