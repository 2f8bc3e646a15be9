-- depends: 0007.query-corrections
-- A referral is closed with what came of it (by the service, or by whoever made it), so the
-- student reads the outcome next to the referral and nobody wonders whether it is still live.
ALTER TABLE referrals ADD COLUMN outcome text, ADD COLUMN closed_by text, ADD COLUMN closed_at timestamptz;
