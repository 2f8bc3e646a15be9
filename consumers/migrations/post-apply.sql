-- Run by yoyo after every migration run (idempotent): what each component's role may do.
-- A new table is added to the lists below in the same change that creates it.
DO $$
DECLARE
    yoyo record;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'leap_consumer') THEN
        RETURN;  -- before 0009.roles (a rollback to an older schema)
    END IF;
    EXECUTE 'REVOKE ALL ON ALL TABLES IN SCHEMA public FROM leap_consumer, leap_portal, leap_reporting';
    EXECUTE 'GRANT USAGE ON SCHEMA public TO leap_consumer, leap_portal, leap_reporting';

    -- The alert consumer: the engine's output, alerts and their deliveries, and its own positions.
    -- It reads everything (exemptions, the staff directory, erasures) to decide and route alerts.
    EXECUTE 'GRANT SELECT ON ALL TABLES IN SCHEMA public TO leap_consumer';
    EXECUTE 'GRANT INSERT, UPDATE ON students, student_current, engagement_history, band_changes,
             alerts, alert_suppressions, alert_deliveries, source_arrivals, source_volumes,
             consumer_positions TO leap_consumer';

    -- The portal: the records staff and students make (notes, objectives, referrals, data
    -- queries, exemptions, alert status), and the access log of every look. Band changes,
    -- engagement and the roster are the consumer's: the portal only reads them.
    EXECUTE 'GRANT SELECT ON ALL TABLES IN SCHEMA public TO leap_portal';
    EXECUTE 'GRANT INSERT ON notes, objectives, referrals, data_queries, exemptions, alert_updates, access_log TO leap_portal';
    EXECUTE 'GRANT UPDATE ON objectives, referrals, data_queries TO leap_portal';
    EXECUTE 'GRANT UPDATE (status, status_by, status_at, status_note) ON alerts TO leap_portal';

    -- Reporting (dashboards, institutional analysis): engagement and alerts, read-only; not
    -- the pastoral records (notes, referrals, objectives, data queries), the access log,
    -- the staff directory or erasures, which stay behind the portal's access policy.
    EXECUTE 'GRANT SELECT ON students, student_current, engagement_history, band_changes, alerts,
             alert_suppressions, source_volumes, source_arrivals TO leap_reporting';

    EXECUTE 'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO leap_consumer, leap_portal';

    -- The migration tool's own bookkeeping is nobody's business but the owner's.
    FOR yoyo IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE '%yoyo%' LOOP
        EXECUTE format('REVOKE ALL ON %I FROM leap_consumer, leap_portal, leap_reporting', yoyo.tablename);
    END LOOP;
END $$;
