-- The roles stay (other databases of the cluster may use them); this database grants them nothing.
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM leap_consumer, leap_portal, leap_reporting;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM leap_consumer, leap_portal, leap_reporting;
