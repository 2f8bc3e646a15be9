DROP TRIGGER IF EXISTS access_log_guard ON access_log;
DROP FUNCTION IF EXISTS access_log_guard();
CREATE RULE access_log_no_update AS ON UPDATE TO access_log DO INSTEAD NOTHING;
CREATE RULE access_log_no_delete AS ON DELETE TO access_log DO INSTEAD NOTHING;
DROP TRIGGER IF EXISTS students_left_on ON students;
DROP FUNCTION IF EXISTS students_left_on();
ALTER TABLE students DROP COLUMN IF EXISTS left_on;
DROP TABLE IF EXISTS erasures;
