-- The engine's watermark on each state and band change: how far into the student's
-- leap.activity partition it had read. Alerts decided from a state computed half-way
-- through a backlog are held until the student's state has caught up.
ALTER TABLE student_current ADD COLUMN input_offset bigint;
ALTER TABLE band_changes ADD COLUMN input_offset bigint;
