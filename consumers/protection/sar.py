"""Subject-access export: everything LEAP holds about one student, gathered into one zip archive.

``export_sar`` asks the access policy (``export_sar``: the student themself, or an
administrator with a reason), reads every PostgreSQL table about the student
(``consumers.protection.tables``), their Redis state and alert-stream entries, the current
roster and state messages for their key and every activity event still on the activity
topic (their partition only), and returns the archive (``consumers.protection.archive``).
The export is written to the student's access log once the archive is complete.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg

from consumers.live import Live
from consumers.protection import archive
from consumers.protection.kafka_io import Progress, TopicMissing, read_key
from consumers.protection.tables import TABLES
from consumers.records.guard import allow, log_allowed
from leap.access import Actor
from leap.settings import Settings
from schemas.codec import default_codec

RECORD_TYPE = "subject_access_export"


@dataclass(frozen=True)
class Export:
    """A finished export: the suggested file name, the zip's bytes and each file's record count."""

    file_name: str
    data: bytes
    counts: dict[str, int]


def gather_postgres(conn: psycopg.Connection, student_id: str) -> dict[str, list[dict]]:
    """Every row about the student, table by table, from one consistent snapshot."""
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        return {t.name: conn.execute(t.select(), {"s": student_id}).fetchall() for t in TABLES}


def gather_kafka(settings: Settings, student_id: str, progress: Progress | None) -> tuple[dict, list[str]]:
    """The latest roster and state messages for the student, their retained activity, and notes on what could not be read."""
    codec = default_codec()
    found: dict = {"roster": None, "state": None, "activity": []}
    notes = []
    for name, schema, field in (("roster", "roster_entry", "roster"), ("student-state", "student_state", "state"), ("activity", "activity_event", "activity")):
        try:
            messages = read_key(settings, name, student_id, codec, schema, progress=progress)
        except TopicMissing as exc:
            notes.append(f"{exc}: nothing could be read from it")
            continue
        found[field] = messages if field == "activity" else (messages[-1] if messages else None)
    return found, notes


def export_sar(
    conn: psycopg.Connection, actor: Actor, student_id: str, settings: Settings, *,
    live: Live | None = None, progress: Progress | None = None, stated: str | None = None, now: datetime | None = None,
) -> Export:  # fmt: skip
    """The student's subject-access archive, if ``actor`` may export it (``Forbidden`` otherwise, logged).

    ``progress(topic, read, total)`` is called while Kafka partitions are read; ``stated``:
    why the actor says they export (added to the logged purpose).
    """
    decision = allow(conn, actor, "export_sar", student_id, record_type=RECORD_TYPE)
    at = now or datetime.now(settings.tz)
    postgres = gather_postgres(conn, student_id)
    live = live or Live.connect(settings)
    redis_state, redis_alerts = live.state(student_id), live.entries_about(student_id)
    kafka, notes = gather_kafka(settings, student_id, progress)
    contents = archive.Contents(
        student_id=student_id, generated_at=at, generated_by=actor.user_id, role=decision.role or "", purpose=decision.purpose,
        postgres=postgres, redis_state=redis_state, redis_alerts=redis_alerts,
        roster=kafka["roster"], state=kafka["state"], activity=kafka["activity"], notes=notes,
    )  # fmt: skip
    counts = {path: n for path, (_, _, n) in archive.data_files(contents).items()}
    data = archive.zip_bytes(archive.members(contents), at)
    with conn.transaction():
        log_allowed(conn, actor, decision, "export_sar", student_id, RECORD_TYPE, f"{sum(counts.values())} records", stated=stated)
    return Export(archive.file_name(student_id, at), data, counts)
