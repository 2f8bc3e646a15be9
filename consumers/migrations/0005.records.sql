-- depends: 0004.term-view
-- Staff-facing records written through consumers/records (the command line now, the portal
-- later): who the actors are, what was done about an alert, a student's progress on an
-- objective and their choice about a referral, who raised a data query, refused accesses.

-- The staff directory: resolves a user id to an actor (leap/access.py). Students are not
-- listed here: a student is an actor through their roster entry.
CREATE TABLE staff (
    user_id      text PRIMARY KEY,
    roles        text[] NOT NULL CHECK (cardinality(roles) > 0),
    departments  text[] NOT NULL DEFAULT '{}',
    programmes   text[] NOT NULL DEFAULT '{}',  -- programme leaders (role department_staff)
    service      text,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- What was done (actioned) or why not (dismissed), beside who and when (status_by, status_at).
ALTER TABLE alerts ADD COLUMN status_note text;
-- Every status change of an alert, in order: the row keeps only the latest.
CREATE TABLE alert_updates (
    update_id   bigserial PRIMARY KEY,
    alert_id    uuid NOT NULL REFERENCES alerts (alert_id),
    status      text NOT NULL CHECK (status IN ('acknowledged', 'actioned', 'dismissed')),
    by_user     text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    note        text
);
CREATE INDEX alert_updates_alert ON alert_updates (alert_id, at);

-- A student records progress on their own objectives; staff may change anything.
ALTER TABLE objectives ADD COLUMN progress text, ADD COLUMN updated_by text;

-- Consent is the student's choice, made after the referral: unknown (NULL) until they make it.
ALTER TABLE referrals ALTER COLUMN consent_to_contact DROP NOT NULL;
ALTER TABLE referrals ADD COLUMN consent_by text, ADD COLUMN consent_at timestamptz;

ALTER TABLE data_queries ADD COLUMN raised_by text;

-- Refused attempts are logged too (allowed = false, purpose = why refused).
ALTER TABLE access_log ADD COLUMN allowed boolean NOT NULL DEFAULT true;
