DROP TABLE IF EXISTS consumer_positions, source_volumes, access_log, data_queries, referrals, objectives, notes,
    exemptions, alert_deliveries, alert_suppressions, alerts, band_changes, engagement_history, student_current, students;
