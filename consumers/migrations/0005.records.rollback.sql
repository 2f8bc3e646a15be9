ALTER TABLE access_log DROP COLUMN allowed;
ALTER TABLE data_queries DROP COLUMN raised_by;
ALTER TABLE referrals DROP COLUMN consent_by, DROP COLUMN consent_at;
UPDATE referrals SET consent_to_contact = false WHERE consent_to_contact IS NULL;
ALTER TABLE referrals ALTER COLUMN consent_to_contact SET NOT NULL;
ALTER TABLE objectives DROP COLUMN progress, DROP COLUMN updated_by;
DROP TABLE IF EXISTS alert_updates;
ALTER TABLE alerts DROP COLUMN status_note;
DROP TABLE IF EXISTS staff;
