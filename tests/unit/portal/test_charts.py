"""The portal's pure pieces: charts, caseload order, the access summary, safe redirects."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from consumers.records.caseload import caseload_order
from portal.auth import dev_signin_allowed, home_of
from portal.charts import describe, history_chart, sparkline, trend_words
from portal.pages import access_summary, chart_points
from portal.web import safe_back

BOUNDS = {"high": 80, "good": 60, "partial": 40, "low": 20}
scores = st.one_of(st.none(), st.floats(min_value=0, max_value=100, allow_nan=False))


def _ys(svg: str) -> list[float]:
    return [float(y) for line in re.findall(r'points="([^"]*)"', svg) for y in re.findall(r",([\d.]+)", line)]


@given(st.lists(scores, min_size=1, max_size=84))
def test_chart_has_one_vertex_per_scored_day_and_stays_in_the_plot(values):
    start = date(2026, 9, 1)
    points = [(start + timedelta(days=i), v) for i, v in enumerate(values)]
    svg = str(history_chart(points, BOUNDS, title="t"))
    lines = re.findall(r'<polyline[^>]*points="([^"]*)"', svg)
    dots = re.findall(r"<circle", svg)
    assert sum(len(p.split()) for p in lines) + len(dots) == sum(v is not None for v in values)
    assert all(12 <= y <= 240 - 28 for y in _ys(svg))
    assert svg.count("<title") == 1 and 'role="img"' in svg


def test_a_higher_score_is_drawn_higher_and_a_gap_breaks_the_line():
    d = date(2026, 10, 1)
    svg = str(history_chart([(d, 10.0), (d + timedelta(1), 90.0), (d + timedelta(2), None), (d + timedelta(3), 50.0), (d + timedelta(4), 55.0)], BOUNDS, title="x"))
    lines = re.findall(r'<polyline[^>]*points="([^"]*)"', svg)
    assert len(lines) == 2  # the day without a score splits the line in two
    (x1, y1), (x2, y2) = [tuple(map(float, p.split(","))) for p in lines[0].split()]
    assert x2 > x1 and y2 < y1  # 90 is above 10 (SVG y grows downwards)


def test_the_title_and_description_are_escaped_text():
    svg = str(history_chart([(date(2026, 1, 5), 50.0)], BOUNDS, title="<script>alert(1)</script>"))
    assert "<script>" not in svg and "&lt;script&gt;" in svg


def test_describe_names_first_last_lowest_and_highest():
    d = date(2026, 11, 2)
    text = describe([(d, 40.0), (d + timedelta(1), 20.0), (d + timedelta(2), None), (d + timedelta(3), 75.0)])
    assert text == "Daily score from 40 on 2 Nov 2026 to 75 on 5 Nov 2026. Lowest 20 on 3 Nov 2026; highest 75 on 5 Nov 2026."
    assert describe([(d, None)]) == "No daily scores yet."


def test_sparkline_and_trend_words():
    assert trend_words([None, 30.0, None, 70.0]) == "up from 30 to 70"
    assert trend_words([80.0, 60.0]) == "down from 80 to 60"
    assert trend_words([50.0, 52.0]) == "steady around 52"
    assert trend_words([None, 50.0]) == "not enough days for a trend"
    svg = str(sparkline([10.0, None, 20.0, 30.0], label='up "a" <b>'))
    assert svg.count("<polyline") == 1 and "&lt;b&gt;" in svg and "&#34;a&#34;" in svg


def test_caseload_puts_no_data_then_lowest_bands_then_longest_silence_first():
    rows = [
        {"student_id": "a", "band": "good", "days_since_last_activity": 1},
        {"student_id": "b", "band": "very_low", "days_since_last_activity": 3},
        {"student_id": "c", "band": "very_low", "days_since_last_activity": 9},
        {"student_id": "d", "band": None, "days_since_last_activity": None},
        {"student_id": "e", "band": "very_low", "days_since_last_activity": None},
        {"student_id": "f", "band": "high", "days_since_last_activity": 0},
    ]
    assert [r["student_id"] for r in caseload_order(rows)] == ["d", "e", "c", "b", "a", "f"]


def test_chart_points_fill_every_day_up_to_the_last():
    last = date(2026, 12, 1)
    points = chart_points([{"day": last, "score": 50.0}, {"day": last - timedelta(3), "score": 10.0}], last, 5)
    assert points == [(last - timedelta(4), None), (last - timedelta(3), 10.0), (last - timedelta(2), None), (last - timedelta(1), None), (last, 50.0)]
    assert chart_points([], None, 84) == []


def test_access_summary_groups_by_person_role_and_day_and_leaves_out_the_student():
    t = datetime(2026, 12, 1, 9, tzinfo=timezone.utc)
    rows = [
        {"actor": "s1", "role": "student", "action": "view_status", "at": t, "allowed": True, "purpose": "own"},
        {"actor": "tut", "role": "personal_tutor", "action": "view_status", "at": t, "allowed": True, "purpose": "tutor"},
        {"actor": "tut", "role": "personal_tutor", "action": "view_records", "at": t + timedelta(hours=1), "allowed": True, "purpose": "tutor later"},
        {"actor": "tut", "role": "personal_tutor", "action": "view_status", "at": t + timedelta(days=1), "allowed": True, "purpose": "next day"},
        {"actor": "x", "role": "none", "action": "view_records", "at": t, "allowed": False, "purpose": "no need"},
    ]
    lines = access_summary(rows, "s1")
    assert [(line["actor"], line["day"].day, line["count"]) for line in lines] == [("tut", 2, 1), ("tut", 1, 2), ("x", 1, 1)]
    assert lines[1]["actions"] == {"view status", "view records"} and lines[1]["purpose"] == "tutor later"
    assert lines[2]["allowed"] is False


def test_safe_back_only_allows_paths_on_this_site():
    assert safe_back("/students/s1?reason=x", "/") == "/students/s1?reason=x"
    for bad in ("//evil.example/x", "https://evil.example/", "\\\\evil", "/\\evil", None, 5, ""):
        assert safe_back(bad, "/home") == "/home"


def test_dev_signin_only_on_loopback_and_landing_pages():
    assert dev_signin_allowed("http://127.0.0.1:8080") and dev_signin_allowed("http://localhost:9000")
    assert not dev_signin_allowed("https://leap.example.ac.uk") and not dev_signin_allowed("http://0.0.0.0:8080")
    assert home_of(frozenset({"student"})) == "/me"
    assert home_of(frozenset({"student", "personal_tutor"})) == "/caseload"
