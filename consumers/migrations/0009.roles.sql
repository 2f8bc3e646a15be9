-- depends: 0008.referral-outcome
-- Least privilege: a role per component, so a compromised portal cannot rewrite band changes
-- and a reporting tool cannot write at all. The roles cannot log in; an administrator makes
-- each component's login a member (docs/operations.md, "PostgreSQL roles"):
--   CREATE ROLE leap_portal_login LOGIN PASSWORD '...' IN ROLE leap_portal;
-- Roles belong to the whole PostgreSQL cluster, so this creates them only where missing: a DBA
-- may create them beforehand and run the migrations as a user without CREATEROLE. What each
-- role may do is granted in post-apply.sql, re-run after every migration so new tables are
-- covered.
DO $$
DECLARE
    name text;
BEGIN
    FOREACH name IN ARRAY ARRAY['leap_consumer', 'leap_portal', 'leap_reporting'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = name) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', name);
        END IF;
    END LOOP;
END $$;
