-- LEAP's system of record. Applied by `leap db migrate` (yoyo-migrations), in order, once.
-- Everything staff record about a student is visible to that student: there is no
-- "private" flag anywhere, by design (transparency).

-- The roster, as last published on leap.roster.
CREATE TABLE students (
    student_id      text PRIMARY KEY,
    programme       text,
    year_of_study   integer,
    mode_of_study   text,
    personal_tutor  text,
    department      text,
    status          text NOT NULL DEFAULT 'active',
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX students_tutor ON students (personal_tutor);

-- Each student's latest score, band and explanation (leap.student-state).
CREATE TABLE student_current (
    student_id                text PRIMARY KEY,
    cohort                    text NOT NULL,
    score                     double precision,
    band                      text NOT NULL,
    days_since_last_activity  integer,
    day                       date NOT NULL,
    explanation               jsonb NOT NULL,
    updated_at                timestamptz NOT NULL,
    live_synced               boolean NOT NULL DEFAULT false   -- copied to Redis
);
CREATE INDEX student_current_unsynced ON student_current (student_id) WHERE NOT live_synced;

-- Engagement history: score and band at the end of each day (leap.daily-summaries).
CREATE TABLE engagement_history (
    student_id                text NOT NULL,
    day                       date NOT NULL,
    cohort                    text NOT NULL,
    score                     double precision,
    band                      text NOT NULL,
    days_since_last_activity  integer,
    PRIMARY KEY (student_id, day)
);

-- Every band change the engine decided (leap.band-changes); change_id is deterministic.
CREATE TABLE band_changes (
    change_id                 uuid PRIMARY KEY,
    student_id                text NOT NULL,
    cohort                    text NOT NULL,
    previous_band             text,
    new_band                  text NOT NULL,
    score                     double precision,
    day                       date,
    cause                     text NOT NULL,
    days_since_last_activity  integer,
    explanation               jsonb NOT NULL,
    trigger_event_id          text,
    trigger_time              timestamptz,
    as_of                     timestamptz NOT NULL,
    stored_at                 timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX band_changes_student ON band_changes (student_id, as_of);

-- Alerts. One row per (student, kind, episode): an episode starts when the condition first
-- holds and ends when the student recovers, so the same trigger processed twice is one row
-- and a student is re-alerted only after recovering.
CREATE TABLE alerts (
    alert_id                  uuid PRIMARY KEY,
    student_id                text NOT NULL,
    kind                      text NOT NULL CHECK (kind IN ('drop', 'no_engagement')),
    episode                   text NOT NULL,
    status                    text NOT NULL CHECK (status IN ('held', 'new', 'acknowledged', 'actioned', 'dismissed', 'dropped')),
    recipient                 text NOT NULL,
    recipient_role            text NOT NULL CHECK (recipient_role IN ('personal_tutor', 'department', 'default')),
    day                       date NOT NULL,
    band                      text,
    score                     double precision,
    days_since_last_activity  integer,
    reason                    text NOT NULL,
    explanation               jsonb,
    trigger_change_id         uuid,
    held_for                  text[] NOT NULL DEFAULT '{}',
    created_at                timestamptz NOT NULL DEFAULT now(),
    raised_at                 timestamptz,
    closed_at                 timestamptz,
    closed_reason             text,
    status_by                 text,
    status_at                 timestamptz,
    live_published            boolean NOT NULL DEFAULT false,  -- on the recipient's Redis stream
    UNIQUE (student_id, kind, episode)
);
-- At most one open episode per student and kind, enforced by the database itself.
CREATE UNIQUE INDEX alerts_one_open ON alerts (student_id, kind) WHERE closed_at IS NULL;
CREATE INDEX alerts_recipient ON alerts (recipient, status);

-- Alerts a rule would have raised but a suppression stopped (holiday, exemption, status):
-- kept so "why was nobody told?" has an answer.
CREATE TABLE alert_suppressions (
    student_id   text NOT NULL,
    kind         text NOT NULL,
    episode      text NOT NULL,
    day          date NOT NULL,
    reason       text NOT NULL,
    decided_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (student_id, kind, episode)
);

-- Outbox of deliveries on optional channels (email, webhook), written with the alert.
CREATE TABLE alert_deliveries (
    alert_id      uuid NOT NULL REFERENCES alerts (alert_id),
    channel       text NOT NULL,
    target        text NOT NULL,
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text,
    next_attempt  timestamptz NOT NULL DEFAULT now(),
    sent_at       timestamptz,
    PRIMARY KEY (alert_id, channel, target)
);

-- Periods in which a student's alerts are suppressed. Shown to the student.
CREATE TABLE exemptions (
    exemption_id  bigserial PRIMARY KEY,
    student_id    text NOT NULL,
    starts        date NOT NULL,
    ends          date NOT NULL,
    reason        text NOT NULL CHECK (reason IN ('authorised_absence', 'placement', 'dissertation', 'interruption_of_studies', 'withdrawn')),
    note          text,
    recorded_by   text NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (ends >= starts),
    UNIQUE (student_id, starts, ends, reason)
);

-- Staff-facing records the portal uses; the student sees every one of them.
CREATE TABLE notes (
    note_id     bigserial PRIMARY KEY,
    student_id  text NOT NULL,
    author      text NOT NULL,
    body        text NOT NULL,
    alert_id    uuid REFERENCES alerts (alert_id),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notes_student ON notes (student_id);

CREATE TABLE objectives (
    objective_id  bigserial PRIMARY KEY,
    student_id    text NOT NULL,
    author        text NOT NULL,
    description   text NOT NULL,
    due           date,
    status        text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'met', 'not_met', 'withdrawn')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX objectives_student ON objectives (student_id);

CREATE TABLE referrals (
    referral_id       bigserial PRIMARY KEY,
    student_id        text NOT NULL,
    author            text NOT NULL,
    service           text NOT NULL,
    reason            text NOT NULL,
    consent_to_contact boolean NOT NULL,
    status            text NOT NULL DEFAULT 'made' CHECK (status IN ('made', 'accepted', 'declined', 'closed')),
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX referrals_student ON referrals (student_id);

-- A student's challenge to a record (an attendance mark, a band change) and its resolution.
-- An upheld challenge is corrected through a correction event, which re-scores the student.
CREATE TABLE data_queries (
    query_id             bigserial PRIMARY KEY,
    student_id           text NOT NULL,
    record_type          text NOT NULL,
    record_id            text NOT NULL,
    description          text NOT NULL,
    status               text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'upheld', 'rejected', 'withdrawn')),
    resolution           text,
    correction_event_id  text,
    resolved_by          text,
    resolved_at          timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX data_queries_student ON data_queries (student_id);

-- Who looked at or changed what about which student, and why. Append-only.
CREATE TABLE access_log (
    access_id    bigserial PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    actor        text NOT NULL,
    role         text NOT NULL,
    action       text NOT NULL,
    student_id   text,
    record_type  text,
    record_id    text,
    purpose      text NOT NULL
);
CREATE INDEX access_log_student ON access_log (student_id, at);
CREATE RULE access_log_no_update AS ON UPDATE TO access_log DO INSTEAD NOTHING;
CREATE RULE access_log_no_delete AS ON DELETE TO access_log DO INSTEAD NOTHING;

-- Events per source per local day, for the source-outage guard.
CREATE TABLE source_volumes (
    source  text NOT NULL,
    day     date NOT NULL,
    events  bigint NOT NULL,
    PRIMARY KEY (source, day)
);

-- The consumer's positions, written in the same transaction as what it read: a message is
-- applied to PostgreSQL exactly once, whatever Kafka's committed offset says.
CREATE TABLE consumer_positions (
    topic       text NOT NULL,
    partition   integer NOT NULL,
    next_offset bigint NOT NULL,
    PRIMARY KEY (topic, partition)
);
