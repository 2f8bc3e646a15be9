"""What an erasure may do and what it cannot undo (pure).

An erasure is refused while the student is on the roster with status ``active``: LEAP would
go on scoring them from every new event, and a student still studying needs their
tutor's records; the registry ends the enrolment first (any other status, or removal from
the roster), then an administrator erases. After an erasure the consumer drops whatever
the engine or the roster still publish about the student (``consumers.protection.markers``).

Kafka cannot delete single messages from a delete-policy topic: the student's messages on
``activity``, ``band-changes`` and ``daily-summaries`` (and their records in the
``cohort-contributions`` and ``dead-letter`` topics) stay until the topic's retention
removes the segment holding them. ``not_removed`` says so, with the day by which that has
happened at the latest: a segment is deleted once its newest message is older than
``retention.ms``, and a segment stops receiving messages at most ``segment.ms`` after it
starts, so everything published before now is gone by now + segment.ms + retention.ms.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

ACTIVE = "active"

# The delete-policy topics that may hold a student's messages, and what they hold.
KEPT_ON_TOPICS = {
    "activity": "the student's activity events (attendance, VLE, library, ...), keyed by their id",
    "band-changes": "the engine's band changes about the student",
    "daily-summaries": "the student's end-of-day scores and bands",
    "cohort-contributions": "the student's daily measures sent to their cohorts' medians (keyed by cohort)",
    "dead-letter": "rejected records that may mention the student (malformed source rows)",
    "identity-quarantine": "events that waited for the identity map to learn the student (keyed by a source system's id for them)",
}


def erasure_refusal(roster_status: str | None) -> str | None:
    """Why the student cannot be erased now (None: they can), from their roster status (None: not on it)."""
    if roster_status == ACTIVE:
        return (
            "the student is on the roster with status active: LEAP would keep scoring them from new events; "
            "end their enrolment first (a roster entry with another status, or their removal from the roster), then erase"
        )
    return None


def expires_by(now: datetime, retention_ms: int, segment_ms: int) -> date | None:
    """The local day by which every message published before ``now`` has been deleted (None: kept forever)."""
    if retention_ms < 0:
        return None
    return (now + timedelta(milliseconds=retention_ms + segment_ms)).date() + timedelta(days=1)


def not_removed(topics: dict[str, tuple[int, int]], full_names: dict[str, str], now: datetime, engine_days: int) -> list[dict]:
    """What the erasure leaves for retention to remove, each with where, what and the day it is gone by.

    ``topics``: short name -> (retention.ms, segment.ms) as the broker has them (missing
    topics are left out); ``engine_days``: the policy's ``engagement.retention_days``, the
    longest the engine keeps a day of activity in its own state.
    """
    found = []
    for name, what in KEPT_ON_TOPICS.items():
        if name not in topics:
            continue
        retention, segment = topics[name]
        by = expires_by(now, retention, segment)
        found.append({"where": full_names[name], "what": what + " (Kafka cannot delete single messages)", "expires_by": by.isoformat() if by else None})
    found.append(
        {
            "where": "the engine's working state",
            "what": "the student's recent days of activity, until they are older than engagement.retention_days; "
            "anything the engine publishes about the student meanwhile is dropped by the consumer",
            "expires_by": (now.date() + timedelta(days=engine_days + 1)).isoformat(),
        }
    )
    return found


def summary_lines(removed: dict[str, dict[str, int]], left: list[dict]) -> list[str]:
    """The erasure's outcome in lines for a person: what was removed per store, then what remains until when."""
    lines = []
    for store, counts in removed.items():
        parts = ", ".join(f"{name} {n:,}" for name, n in counts.items() if n) or "nothing"
        lines.append(f"{store}: {parts}")
    for item in left:
        until = f"gone by {item['expires_by']}" if item["expires_by"] else "kept until removed by hand"
        lines.append(f"not removed: {item['where']}: {item['what']}; {until}")
    return lines
