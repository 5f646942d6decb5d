-- Search that understands what people type, and the browsing and search history a customer
-- consents to, for recommendations.

-- What people type for a service or for every service of a category (照顾小孩 -> the nanny
-- category), curated by an admin. Terms are stored normalised (NFKC, case-folded, single spaces).
CREATE TABLE search_synonyms (
    id          uuid PRIMARY KEY,
    term        text NOT NULL CHECK (char_length(term) BETWEEN 2 AND 50),
    service_id  text REFERENCES services (id) ON DELETE CASCADE,
    category_id text REFERENCES service_categories (id) ON DELETE CASCADE,
    created_by  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((service_id IS NULL) <> (category_id IS NULL))
);
CREATE UNIQUE INDEX search_synonyms_service_term ON search_synonyms (term, service_id)
    WHERE service_id IS NOT NULL;
CREATE UNIQUE INDEX search_synonyms_category_term ON search_synonyms (term, category_id)
    WHERE category_id IS NOT NULL;

-- One row whose version moves with every statement that changes what search reads (services,
-- categories, synonyms), however it was made: the demo seed, an admin's route, or SQL by hand.
-- Each hub node keeps its search index in memory and rebuilds it when this has moved, so a
-- search costs one primary-key read at most, and a second node sees a change within seconds.
CREATE TABLE search_version (
    only_row   boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    version    bigint NOT NULL DEFAULT 1,
    changed_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO search_version DEFAULT VALUES;

CREATE FUNCTION search_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE search_version SET version = version + 1, changed_at = now();
    RETURN NULL;
END
$$;
CREATE TRIGGER services_search_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON services
    FOR EACH STATEMENT EXECUTE FUNCTION search_version_bump();
CREATE TRIGGER service_categories_search_version
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON service_categories
    FOR EACH STATEMENT EXECUTE FUNCTION search_version_bump();
CREATE TRIGGER search_synonyms_search_version
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON search_synonyms
    FOR EACH STATEMENT EXECUTE FUNCTION search_version_bump();

-- A customer's consent to keep their browsing and search history; no row means no.
CREATE TABLE customer_privacy (
    customer_id text PRIMARY KEY,
    history     boolean NOT NULL DEFAULT false,
    changed_at  timestamptz NOT NULL DEFAULT now()
);

-- What a consenting customer looked at and searched for, newest kept (the last 200 per customer).
-- Withdrawing consent deletes every row of the customer.
CREATE TABLE customer_history (
    id          bigserial PRIMARY KEY,
    customer_id text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('service_view', 'worker_view', 'search')),
    service_id  text REFERENCES services (id) ON DELETE CASCADE,
    worker_id   text REFERENCES workers (id) ON DELETE CASCADE,
    query       text CHECK (char_length(query) BETWEEN 1 AND 100),
    found       text[] NOT NULL DEFAULT '{}',   -- a search's first results, best first
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (CASE kind
               WHEN 'service_view' THEN service_id IS NOT NULL AND worker_id IS NULL AND query IS NULL
               WHEN 'worker_view' THEN worker_id IS NOT NULL AND service_id IS NULL AND query IS NULL
               ELSE query IS NOT NULL AND service_id IS NULL AND worker_id IS NULL
           END)
);
CREATE INDEX customer_history_recent ON customer_history (customer_id, id DESC);
