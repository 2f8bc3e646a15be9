-- depends: 0002.engine-watermark
-- When the consumer first stored each student on the roster: a student never active is
-- counted silent from the later of the term's start and this day. Rows stored before this
-- migration have none (their term's start counts).
ALTER TABLE students ADD COLUMN first_rostered date;
-- A drop suppressed in a break or an exemption is postponed, not forgotten: it is revisited
-- at the end of the first day on which it could be alerted (resolved: when and why not).
ALTER TABLE alert_suppressions ADD COLUMN postponed boolean NOT NULL DEFAULT false;
ALTER TABLE alert_suppressions ADD COLUMN resolved text;
CREATE INDEX alert_suppressions_postponed ON alert_suppressions (student_id) WHERE postponed;
-- When each source's last event was published (Kafka timestamp of leap.activity): the
-- freshness half of the outage guard, kept across restarts.
CREATE TABLE source_arrivals (
    source        text PRIMARY KEY,
    last_arrival  timestamptz NOT NULL
);
