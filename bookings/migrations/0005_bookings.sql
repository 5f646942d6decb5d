-- Bookings: the catalog, the people (workers with vetting, customers with addresses), bookings
-- with their timeline, dispatch offers, idempotency keys and system settings.
-- Money is integer cents (fen) everywhere.

CREATE TABLE service_categories (
    id        text PRIMARY KEY,
    name_en   text NOT NULL,
    name_zh   text NOT NULL,
    position  integer NOT NULL DEFAULT 0
);

CREATE TABLE services (
    id               text PRIMARY KEY,
    category_id      text NOT NULL REFERENCES service_categories (id),
    name_en          text NOT NULL,
    name_zh          text NOT NULL,
    description_en   text NOT NULL DEFAULT '',
    description_zh   text NOT NULL DEFAULT '',
    keywords         text NOT NULL DEFAULT '',   -- extra search terms in both languages
    skill            text NOT NULL,              -- the worker skill (and certificate) it needs
    pricing          text NOT NULL CHECK (pricing IN ('hourly', 'fixed')),
    unit_price_cents integer NOT NULL CHECK (unit_price_cents > 0),  -- per hour, or the fixed price
    min_minutes      integer NOT NULL DEFAULT 0 CHECK (min_minutes >= 0),  -- hourly: billed at least
    default_minutes  integer NOT NULL CHECK (default_minutes > 0),
    max_minutes      integer NOT NULL CHECK (max_minutes > 0),
    step_minutes     integer NOT NULL DEFAULT 30 CHECK (step_minutes > 0),
    -- A job must start and end within these local hours (HUB_BOOKING_TIMEZONE).
    opens_at         time NOT NULL DEFAULT '08:00',
    closes_at        time NOT NULL DEFAULT '20:00',
    worker_share_pct integer NOT NULL DEFAULT 70 CHECK (worker_share_pct BETWEEN 0 AND 100),
    active           boolean NOT NULL DEFAULT true,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (default_minutes <= max_minutes)
);
CREATE INDEX services_category ON services (category_id) WHERE active;

CREATE TABLE workers (
    id                text PRIMARY KEY,          -- the worker's user id (JWT sub)
    name              text NOT NULL,
    gender            text NOT NULL CHECK (gender IN ('female', 'male')),
    birth_year        integer,
    photo_url         text,
    phone             text,
    years_experience  integer NOT NULL DEFAULT 0 CHECK (years_experience >= 0),
    skills            text[] NOT NULL DEFAULT '{}',
    bio               text NOT NULL DEFAULT '',
    area_lat          double precision NOT NULL,
    area_lng          double precision NOT NULL,
    area_radius_km    double precision NOT NULL DEFAULT 10 CHECK (area_radius_km > 0),
    training          text[] NOT NULL DEFAULT '{}',
    past_cases        jsonb NOT NULL DEFAULT '[]',
    rating_sum        integer NOT NULL DEFAULT 0,
    rating_count      integer NOT NULL DEFAULT 0,
    vetting_status    text NOT NULL DEFAULT 'pending'
                      CHECK (vetting_status IN ('pending', 'vetted', 'rejected', 'suspended')),
    identity_verified boolean NOT NULL DEFAULT false,
    -- The worker's own "on leave" (presence:set), kept here because presence forgets a chosen
    -- status behind "offline" once the app disconnects, and dispatch must still respect it.
    on_leave          boolean NOT NULL DEFAULT false,
    vetting_note      text,
    vetted_by         text,
    vetted_at         timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX workers_vetted ON workers USING gin (skills) WHERE vetting_status = 'vetted';

CREATE TABLE worker_certificates (
    id          uuid PRIMARY KEY,
    worker_id   text NOT NULL REFERENCES workers (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('health', 'skill')),
    skill       text,                             -- the skill a skill certificate proves
    number      text NOT NULL DEFAULT '',
    issued_on   date,
    expires_on  date NOT NULL,
    verified    boolean NOT NULL DEFAULT false,   -- checked by an admin
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'skill') = (skill IS NOT NULL))
);
CREATE INDEX worker_certificates_worker ON worker_certificates (worker_id);

CREATE TABLE worker_reviews (
    id          uuid PRIMARY KEY,
    worker_id   text NOT NULL REFERENCES workers (id) ON DELETE CASCADE,
    booking_id  uuid,
    customer_id text NOT NULL,
    rating      smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
    comment     text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX worker_reviews_worker ON worker_reviews (worker_id, created_at DESC);

CREATE TABLE customers (
    id          text PRIMARY KEY,                 -- the customer's user id (JWT sub)
    name        text NOT NULL DEFAULT '',
    phone       text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE customer_addresses (
    id          uuid PRIMARY KEY,
    customer_id text NOT NULL,
    label       text NOT NULL DEFAULT '',
    line        text NOT NULL,
    city        text NOT NULL DEFAULT '',
    lat         double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lng         double precision NOT NULL CHECK (lng BETWEEN -180 AND 180),
    is_default  boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX customer_addresses_customer ON customer_addresses (customer_id);
CREATE UNIQUE INDEX customer_addresses_one_default ON customer_addresses (customer_id) WHERE is_default;

CREATE TABLE bookings (
    id                  uuid PRIMARY KEY,
    customer_id         text NOT NULL,
    service_id          text NOT NULL REFERENCES services (id),
    chosen_worker_id    text,                     -- the worker the customer asked for, if any
    worker_id           text,                     -- who does the job, once accepted or assigned
    status              text NOT NULL CHECK (status IN (
                            'pending_payment', 'dispatching', 'accepted', 'on_the_way', 'arrived',
                            'in_service', 'completed', 'cancelled', 'expired')),
    slot_start          timestamptz NOT NULL,
    slot_end            timestamptz NOT NULL,
    duration_minutes    integer NOT NULL,
    address             jsonb NOT NULL,           -- a snapshot: editing a saved address moves no booking
    lat                 double precision NOT NULL,
    lng                 double precision NOT NULL,
    special_requests    text NOT NULL DEFAULT '',
    price               jsonb NOT NULL,           -- the quote's breakdown
    total_cents         integer NOT NULL CHECK (total_cents >= 0),
    worker_pay_cents    integer NOT NULL CHECK (worker_pay_cents >= 0),
    payment_due_at      timestamptz NOT NULL,
    paid_at             timestamptz,
    payment_ref         text UNIQUE,
    dispatch_wave       integer NOT NULL DEFAULT 0,
    escalated_at        timestamptz,
    accepted_at         timestamptz,
    depart_by           timestamptz,              -- when the accepted worker must leave to be on time
    departed_at         timestamptz,
    eta_at              timestamptz,
    arrived_at          timestamptz,
    arrival_distance_m  integer,
    arrival_flagged     boolean NOT NULL DEFAULT false,
    started_at          timestamptz,
    finished_at         timestamptz,
    cancelled_at        timestamptz,
    cancelled_by        text,
    cancel_reason       text,
    cancellation_fee_cents integer,
    late_alerted_at     timestamptz,              -- lateness is announced once per acceptance
    last_lat            double precision,
    last_lng            double precision,
    last_located_at     timestamptz,
    version             integer NOT NULL DEFAULT 1,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (slot_end > slot_start)
);
CREATE INDEX bookings_customer ON bookings (customer_id, created_at DESC);
CREATE INDEX bookings_worker ON bookings (worker_id, slot_start) WHERE worker_id IS NOT NULL;
CREATE INDEX bookings_unpaid ON bookings (payment_due_at) WHERE status = 'pending_payment';
CREATE INDEX bookings_awaiting_departure ON bookings (depart_by) WHERE status = 'accepted' AND late_alerted_at IS NULL;
CREATE INDEX bookings_escalated ON bookings (escalated_at) WHERE status = 'dispatching' AND escalated_at IS NOT NULL;
-- The timer sweep looks for dispatches that stalled (a node died between two waves).
CREATE INDEX bookings_dispatching ON bookings (updated_at) WHERE status = 'dispatching' AND escalated_at IS NULL;
CREATE INDEX bookings_service_recent ON bookings (service_id, created_at DESC);

CREATE TABLE booking_timeline (
    id          bigserial PRIMARY KEY,
    booking_id  uuid NOT NULL REFERENCES bookings (id) ON DELETE CASCADE,
    status      text NOT NULL,                    -- the booking's status after this entry
    kind        text NOT NULL,                    -- created, paid, offered, accepted, departed, ...
    actor_id    text,
    actor_role  text,
    note        text NOT NULL DEFAULT '',
    data        jsonb NOT NULL DEFAULT '{}',
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX booking_timeline_booking ON booking_timeline (booking_id, id);

CREATE TABLE offers (
    id             uuid PRIMARY KEY,
    booking_id     uuid NOT NULL REFERENCES bookings (id) ON DELETE CASCADE,
    worker_id      text NOT NULL,
    wave           integer NOT NULL,
    status         text NOT NULL DEFAULT 'pending' CHECK (status IN (
                       'pending', 'accepted', 'declined', 'expired', 'taken', 'withdrawn')),
    score          double precision NOT NULL,
    distance_km    double precision NOT NULL,
    pay_cents      integer NOT NULL,
    deadline       timestamptz NOT NULL,
    seen_at        timestamptz,
    answered_at    timestamptz,
    decline_reason text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    -- A worker is offered a booking at most once: a decliner or a worker who let it expire is
    -- not asked again.
    UNIQUE (booking_id, worker_id)
);
CREATE INDEX offers_pending_deadline ON offers (deadline) WHERE status = 'pending';
CREATE INDEX offers_worker_recent ON offers (worker_id, created_at DESC);

-- Creates sent with an Idempotency-Key: the first response is replayed for the same key and body.
CREATE TABLE idempotency_keys (
    user_id      text NOT NULL,
    key          text NOT NULL,
    operation    text NOT NULL,                   -- "POST /api/v1/bookings"
    request_hash text NOT NULL,
    status_code  integer NOT NULL,
    body         jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- Settings an admin changes at run time (dispatch weights, waves, fees), by key.
CREATE TABLE system_settings (
    key         text PRIMARY KEY,
    value       jsonb NOT NULL,
    updated_by  text,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
