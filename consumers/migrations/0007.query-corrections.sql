-- depends: 0005.records
-- A data query about missing activity ("I was at the 10:00 seminar; the card reader failed")
-- says which source and when; whoever upholds it publishes a correction event from these
-- (producers/corrections.py), which the engine scores like any other event.
ALTER TABLE data_queries ADD COLUMN activity_source text, ADD COLUMN activity_at timestamptz;
