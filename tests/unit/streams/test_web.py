"""When a stream worker says it is ready: partitions held and their state restored."""

from __future__ import annotations

from streams.web import readiness_problem


def test_ready_once_assigned_and_recovered():
    assert readiness_problem(rebalancing=False, in_recovery=False, recovered_once=True, changelog_remaining=0) is None


def test_not_ready_while_rebalancing_or_restoring_and_says_why():
    assert "rebalancing" in readiness_problem(rebalancing=True, in_recovery=False, recovered_once=True, changelog_remaining=0)
    assert readiness_problem(rebalancing=False, in_recovery=True, recovered_once=True, changelog_remaining=12_345) == \
        "restoring state from the changelogs (12,345 changes left)"
    assert "restoring" in readiness_problem(rebalancing=False, in_recovery=False, recovered_once=False, changelog_remaining=0)
