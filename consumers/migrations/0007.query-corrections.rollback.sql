ALTER TABLE data_queries DROP COLUMN activity_source, DROP COLUMN activity_at;
