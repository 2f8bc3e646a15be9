-- depends: 0003.silence-and-arrivals
-- The term-to-date view beside the seven-day band: the term score and active days since the
-- start of term, on the current state and on every day's summary (for the trend charts).
ALTER TABLE student_current ADD COLUMN term_score double precision, ADD COLUMN term_active_days integer, ADD COLUMN term_days integer;
ALTER TABLE engagement_history ADD COLUMN term_score double precision, ADD COLUMN term_active_days integer, ADD COLUMN term_days integer;
