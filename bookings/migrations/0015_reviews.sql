-- Reviews of a worker after a service: three scores, a comment, photos and videos, the worker's one
-- reply, moderation by staff; and the worker's rating totals kept per score.

-- A review now scores quality, attitude and skill; the old single rating becomes all three.
ALTER TABLE worker_reviews
    ADD COLUMN quality       smallint,
    ADD COLUMN attitude      smallint,
    ADD COLUMN skill         smallint,
    ADD COLUMN attachments   jsonb NOT NULL DEFAULT '[]',  -- [{upload_id, content_type, size}]
    ADD COLUMN edited_at     timestamptz,
    ADD COLUMN reply         text,
    ADD COLUMN replied_at    timestamptz,
    ADD COLUMN hidden_at     timestamptz,                  -- hidden by staff: kept, not shown, not counted
    ADD COLUMN hidden_by     text,
    ADD COLUMN hidden_role   text,
    ADD COLUMN hidden_reason text;
UPDATE worker_reviews SET quality = rating, attitude = rating, skill = rating;
ALTER TABLE worker_reviews
    ALTER COLUMN quality SET NOT NULL,
    ALTER COLUMN attitude SET NOT NULL,
    ALTER COLUMN skill SET NOT NULL,
    ADD CONSTRAINT worker_reviews_quality CHECK (quality BETWEEN 1 AND 5),
    ADD CONSTRAINT worker_reviews_attitude CHECK (attitude BETWEEN 1 AND 5),
    ADD CONSTRAINT worker_reviews_skill CHECK (skill BETWEEN 1 AND 5),
    ADD CONSTRAINT worker_reviews_comment_length CHECK (char_length(comment) <= 2000),
    ADD CONSTRAINT worker_reviews_reply_length CHECK (char_length(reply) <= 1000),
    -- One review per booking (the demo's reviews have no booking; NULLs do not collide).
    ADD CONSTRAINT worker_reviews_one_per_booking UNIQUE (booking_id),
    -- Not checked against rows written before reviews had bookings; every new one is.
    ADD CONSTRAINT worker_reviews_booking FOREIGN KEY (booking_id) REFERENCES bookings (id) NOT VALID,
    DROP COLUMN rating;
-- The public list: a worker's shown reviews, newest first.
CREATE INDEX worker_reviews_shown ON worker_reviews (worker_id, created_at DESC, id DESC)
    WHERE hidden_at IS NULL;

-- Everything done to a review, by whom and why: moderation is audited here.
CREATE TABLE review_history (
    id          bigserial PRIMARY KEY,
    review_id   uuid NOT NULL REFERENCES worker_reviews (id) ON DELETE CASCADE,
    action      text NOT NULL CHECK (action IN ('created', 'edited', 'replied', 'hidden', 'unhidden')),
    actor_id    text,
    actor_role  text NOT NULL,
    reason      text NOT NULL DEFAULT '',
    data        jsonb NOT NULL DEFAULT '{}',
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX review_history_review ON review_history (review_id, id);

-- The worker's totals over their shown reviews, as integers, so that they stay exact: each review
-- adds its scores in the transaction that writes it. rating_sum, the sum of the overall ratings
-- (the mean of a review's three scores) that dispatch and listings divide by rating_count, is
-- derived from them. Existing totals carry over: an old rating was all three scores.
ALTER TABLE workers
    ADD COLUMN quality_sum  integer NOT NULL DEFAULT 0,
    ADD COLUMN attitude_sum integer NOT NULL DEFAULT 0,
    ADD COLUMN skill_sum    integer NOT NULL DEFAULT 0,
    ADD CONSTRAINT workers_rating_totals
        CHECK (quality_sum >= 0 AND attitude_sum >= 0 AND skill_sum >= 0 AND rating_count >= 0);
UPDATE workers SET quality_sum = rating_sum, attitude_sum = rating_sum, skill_sum = rating_sum
 WHERE rating_sum <> 0;
ALTER TABLE workers DROP COLUMN rating_sum;
ALTER TABLE workers
    ADD COLUMN rating_sum double precision
        GENERATED ALWAYS AS ((quality_sum + attitude_sum + skill_sum)::double precision / 3) STORED;
