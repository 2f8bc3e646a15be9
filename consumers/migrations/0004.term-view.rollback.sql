ALTER TABLE student_current DROP COLUMN term_score, DROP COLUMN term_active_days, DROP COLUMN term_days;
ALTER TABLE engagement_history DROP COLUMN term_score, DROP COLUMN term_active_days, DROP COLUMN term_days;
