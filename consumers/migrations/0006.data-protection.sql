-- depends: 0005.records
-- Data protection (consumers/protection, docs/data-protection.md): erasure, its record, and
-- the retention job.

-- Erasures: who erased a student, when, why, and what was removed. The student is named only
-- by a keyed hash of their id (HMAC-SHA256 with LEAP_PSEUDONYM_KEY, kept outside the
-- database): whoever holds the key can check whether an id was erased, nobody holding only
-- the database can. The consumer drops anything later published about a subject listed here.
CREATE TABLE erasures (
    erasure_id    bigserial PRIMARY KEY,
    subject       text NOT NULL CHECK (subject LIKE 'erased:%'),
    erased_by     text NOT NULL,
    erased_at     timestamptz NOT NULL DEFAULT now(),
    reason        text NOT NULL,
    removed       jsonb NOT NULL DEFAULT '{}',   -- counts per store and table/key/topic
    not_removed   jsonb NOT NULL DEFAULT '[]',   -- what could not be removed, and when it expires
    completed_at  timestamptz                    -- NULL: PostgreSQL done, Redis or Kafka not (run leap erase again)
);
CREATE INDEX erasures_subject ON erasures (subject);

-- The day a student stopped being active on the roster (NULL while active): retention
-- counts "N days after the student leaves" from it. Kept by a trigger so every writer of
-- the roster (the consumer, tests, a manual fix) keeps it right; an explicit value wins.
ALTER TABLE students ADD COLUMN left_on date;
UPDATE students SET left_on = updated_at::date WHERE status <> 'active';
CREATE FUNCTION students_left_on() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'active' THEN
        NEW.left_on := NULL;
    ELSIF TG_OP = 'UPDATE' AND OLD.status = 'active' AND NEW.left_on IS NOT DISTINCT FROM OLD.left_on THEN
        NEW.left_on := current_date;
    ELSE
        NEW.left_on := COALESCE(NEW.left_on, current_date);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER students_left_on BEFORE INSERT OR UPDATE ON students FOR EACH ROW EXECUTE FUNCTION students_left_on();

-- The access log stays append-only, with two exceptions, each checked here rather than
-- trusted to the caller (the rules of 0001 silently ignored every change; a trigger refuses
-- with a reason instead):
-- * erasure pseudonymises an erased student's entries: student_id becomes their
--   'erased:<hash>' subject, so does actor where the student acted themself, and their id
--   inside purpose is replaced by it; nothing else may change. The log is kept (who looked at a record is the institution's
--   accountability, and an erasure must not wipe the trail of staff access) but no longer
--   names the student.
-- * the retention job deletes entries past the policy's access_log_days, and only inside a
--   transaction that set leap.retention = 'on' (SET LOCAL).
DROP RULE access_log_no_update ON access_log;
DROP RULE access_log_no_delete ON access_log;
CREATE FUNCTION access_log_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF current_setting('leap.retention', true) = 'on' THEN
            RETURN OLD;
        END IF;
        RAISE EXCEPTION 'the access log is append-only: entries are deleted only by the retention job (leap retention run)';
    END IF;
    IF OLD.student_id IS NOT NULL AND OLD.student_id NOT LIKE 'erased:%' AND NEW.student_id LIKE 'erased:%'
       AND NEW.access_id = OLD.access_id AND NEW.at = OLD.at AND NEW.role = OLD.role AND NEW.action = OLD.action
       AND NEW.record_type IS NOT DISTINCT FROM OLD.record_type AND NEW.record_id IS NOT DISTINCT FROM OLD.record_id
       AND NEW.allowed = OLD.allowed
       AND NEW.actor = (CASE WHEN OLD.actor = OLD.student_id THEN NEW.student_id ELSE OLD.actor END)
       AND NEW.purpose = replace(OLD.purpose, OLD.student_id, NEW.student_id) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the access log is append-only: the only change allowed is pseudonymising an erased student (leap erase)';
END $$;
CREATE TRIGGER access_log_guard BEFORE UPDATE OR DELETE ON access_log FOR EACH ROW EXECUTE FUNCTION access_log_guard();
