DROP TABLE IF EXISTS source_arrivals;
DROP INDEX IF EXISTS alert_suppressions_postponed;
ALTER TABLE alert_suppressions DROP COLUMN resolved;
ALTER TABLE alert_suppressions DROP COLUMN postponed;
ALTER TABLE students DROP COLUMN first_rostered;
