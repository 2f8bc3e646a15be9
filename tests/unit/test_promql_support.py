"""The PromQL name extraction the dashboard and rule checks rely on."""

from __future__ import annotations

from tests.support.promql import exported_names, metric_names


def test_metric_names_leave_out_functions_labels_and_keywords():
    expr = 'histogram_quantile(0.99, sum by (le, job) (rate(leap_consumer_write_seconds_bucket{job=~"leap-.*"}[5m])))'
    assert metric_names(expr) == {"leap_consumer_write_seconds_bucket"}
    expr = "max by (source) (leap_source_quiet_teaching_hours) > on(source) group_left max by (source) (leap_source_quiet_limit_hours)"
    assert metric_names(expr) == {"leap_source_quiet_teaching_hours", "leap_source_quiet_limit_hours"}
    assert metric_names("sum(increase(leap_dead_letters_total[1d] offset 15m)) / 96 and up == 0") == {"leap_dead_letters_total", "up"}
    assert metric_names('label_replace(up, "a", "$1", "b", "(.*)")') == {"up"}


def test_exported_names_include_histogram_parts_and_bare_samples():
    page = "# HELP a_seconds x\n# TYPE a_seconds histogram\na_seconds_bucket{le=\"1\"} 0\n# TYPE b_total counter\nb_total 1\nc 2\n"
    names = exported_names(page)
    assert {"a_seconds_bucket", "a_seconds_count", "a_seconds_sum", "b_total", "c"} <= names
    assert "a_seconds_total" not in names
