"""Retention cut-offs, the retention policy, and what an erasure may do and leaves behind."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumers.protection import erasure_rules
from consumers.protection.cutoffs import RULES, cutoffs, local_midnight, today_error
from leap.policy import PolicyError, Retention, load_policy

ROOT = Path(__file__).resolve().parents[3]
DAY_MS = 86_400_000
LONDON = ZoneInfo("Europe/London")


def test_the_default_cut_offs():
    found = cutoffs(Retention(), date(2026, 12, 3))
    assert found["notes"] == found["exemptions"] == date(2023, 12, 4)  # 1095 days
    assert found["engagement_history"] == found["band_changes"] == found["alert_suppressions"] == date(2025, 10, 29)  # 400
    assert found["alerts"] == date(2024, 12, 3)  # 730
    assert found["access_log"] == date(2020, 12, 4)  # 2190
    assert set(found) == {r.table for r in RULES}


_periods = st.builds(
    Retention,
    records_after_leaving_days=st.integers(30, 4000), engagement_history_days=st.integers(84, 4000), band_changes_days=st.integers(30, 4000),
    closed_alerts_days=st.integers(30, 4000), alert_suppressions_days=st.integers(30, 4000), access_log_days=st.integers(365, 4000),
)  # fmt: skip


@given(_periods, st.dates(min_value=date(2020, 1, 1), max_value=date(2040, 1, 1)))
def test_a_row_exactly_its_period_old_is_kept_and_one_a_day_older_is_not(retention, today):
    for rule in RULES:
        first_kept = cutoffs(retention, today)[rule.table]
        period = getattr(retention, rule.period)
        assert (today - first_kept).days == period
        exactly_old, a_day_older = today - timedelta(days=period), today - timedelta(days=period + 1)
        assert not exactly_old < first_kept and a_day_older < first_kept


@given(_periods, st.dates(min_value=date(2020, 1, 1), max_value=date(2040, 1, 1)), st.integers(1, 3000))
def test_a_later_run_never_keeps_what_an_earlier_one_deleted(retention, today, later):
    earlier, after = cutoffs(retention, today), cutoffs(retention, today + timedelta(days=later))
    assert all(after[t] > earlier[t] for t in earlier)


def test_instants_are_compared_with_local_midnight_across_clock_changes():
    assert local_midnight(date(2026, 7, 1), LONDON).astimezone(timezone.utc) == datetime(2026, 6, 30, 23, 0, tzinfo=timezone.utc)
    assert local_midnight(date(2026, 12, 1), LONDON).astimezone(timezone.utc) == datetime(2026, 12, 1, 0, 0, tzinfo=timezone.utc)


def test_a_run_cannot_be_dated_after_today():
    assert today_error(date(2026, 12, 3), date(2026, 12, 3)) is None
    assert today_error(date(2026, 1, 1), date(2026, 12, 3)) is None
    assert "after today" in today_error(date(2026, 12, 4), date(2026, 12, 3))


def test_the_deployed_policy_has_the_documented_retention():
    assert load_policy(ROOT / "deploy" / "institution.toml").retention == Retention()


@pytest.mark.parametrize(
    "line, message",
    [
        ("engagement_history_days = 30", "engagement_history_days: Input should be greater than or equal to 84"),
        ("access_log_days = 100", "access_log_days: Input should be greater than or equal to 365"),
        ("notes_days = 10", "retention.notes_days: Extra inputs are not permitted"),
        ('records_after_leaving_days = "soon"', "records_after_leaving_days: Input should be a valid integer"),
    ],
)
def test_a_bad_retention_period_is_named(tmp_path, line, message):
    policy = tmp_path / "policy.toml"
    policy.write_text(f"[retention]\n{line}\n")
    with pytest.raises(PolicyError, match=message):
        load_policy(policy)


@pytest.mark.parametrize("status, refused", [("active", True), (None, False), ("withdrawn", False), ("completed", False), ("not_on_roster", False), ("interrupted", False)])
def test_only_an_active_student_is_refused_erasure(status, refused):
    why = erasure_rules.erasure_refusal(status)
    assert (why is not None) == refused
    if refused:
        assert "end their enrolment first" in why


def test_messages_published_before_now_are_gone_by_now_plus_segment_and_retention():
    now = datetime(2026, 12, 3, 21, 0, tzinfo=LONDON)
    assert erasure_rules.expires_by(now, 400 * DAY_MS, 7 * DAY_MS) == date(2028, 1, 14) + timedelta(days=1)
    assert erasure_rules.expires_by(now, -1, 7 * DAY_MS) is None


def test_what_remains_lists_each_existing_delete_topic_and_the_engine():
    now = datetime(2026, 12, 3, 12, 0, tzinfo=LONDON)
    topics = {"activity": (400 * DAY_MS, 7 * DAY_MS), "dead-letter": (90 * DAY_MS, DAY_MS)}
    left = erasure_rules.not_removed(topics, {n: f"leap.{n}" for n in erasure_rules.KEPT_ON_TOPICS}, now, 42)
    assert [item["where"] for item in left] == ["leap.activity", "leap.dead-letter", "the engine's working state"]
    assert [item["expires_by"] for item in left] == ["2028-01-15", "2027-03-05", "2027-01-15"]
    assert all("Kafka cannot delete single messages" in item["what"] for item in left[:2])


def test_the_summary_says_what_was_removed_and_what_remains_until_when():
    lines = erasure_rules.summary_lines(
        {"postgres": {"notes": 2, "alerts": 0}, "redis": {"state": 0}},
        [{"where": "leap.activity", "what": "events", "expires_by": "2028-01-15"}, {"where": "x", "what": "y", "expires_by": None}],
    )
    assert lines == ["postgres: notes 2", "redis: nothing", "not removed: leap.activity: events; gone by 2028-01-15", "not removed: x: y; kept until removed by hand"]
