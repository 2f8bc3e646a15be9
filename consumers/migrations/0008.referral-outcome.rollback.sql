ALTER TABLE referrals DROP COLUMN outcome, DROP COLUMN closed_by, DROP COLUMN closed_at;
