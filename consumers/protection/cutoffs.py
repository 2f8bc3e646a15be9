"""Retention periods as cut-off days per table (pure).

A row dated D (its own date, or for a student's records the day the student left) is past
a period of N days when D is before ``today - N``: the cut-off is the first day still kept,
so a row exactly N days old stays and one a day older goes. Instants (``timestamptz``) are
compared with the cut-off day's local midnight.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from leap.policy import Retention


@dataclass(frozen=True)
class Rule:
    """One table's retention: the policy field giving its period, and what the period counts from."""

    table: str
    period: str  # a field of leap.policy.Retention
    counted_from: str


RULES: tuple[Rule, ...] = (
    Rule("notes", "records_after_leaving_days", "the day the student left"),
    Rule("objectives", "records_after_leaving_days", "the day the student left"),
    Rule("referrals", "records_after_leaving_days", "the day the student left"),
    Rule("data_queries", "records_after_leaving_days", "the day the student left"),
    Rule("exemptions", "records_after_leaving_days", "the day the student left"),
    Rule("engagement_history", "engagement_history_days", "the day summarised"),
    Rule("band_changes", "band_changes_days", "when the engine decided it"),
    Rule("alerts", "closed_alerts_days", "when the alert was closed (with its updates and deliveries)"),
    Rule("alert_suppressions", "alert_suppressions_days", "when it was decided"),
    Rule("access_log", "access_log_days", "when the access happened"),
)


def cutoffs(retention: Retention, today: date) -> dict[str, date]:
    """Per table, the first day kept: rows dated before it are past their period."""
    return {rule.table: today - timedelta(days=getattr(retention, rule.period)) for rule in RULES}


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The instant a local day starts (what a ``timestamptz`` column is compared with)."""
    return datetime.combine(day, time(0), tz)


def today_error(asked: date, real_today: date) -> str | None:
    """Why a run cannot be as of ``asked`` (None: it can): a later day would delete rows not yet due."""
    if asked > real_today:
        return f"--today {asked.isoformat()} is after today ({real_today.isoformat()}): that would delete rows before their period ends"
    return None
