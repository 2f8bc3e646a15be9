ALTER TABLE student_current DROP COLUMN input_offset;
ALTER TABLE band_changes DROP COLUMN input_offset;
