"""A subject-access export as one zip archive: its layout, manifest and README (pure, in memory).

Layout (every data file is UTF-8 JSON; a zip because every operating system opens one
without extra software):

    README.txt                      what each file is, in plain English
    manifest.json                   who asked, when, why; each file with its record count and SHA-256
    postgres/<table>.json           every row of that table about the student (a list)
    redis/current-state.json        the student's live state as the fast store holds it (an object)
    redis/alert-stream-entries.json entries about the student on staff's live alert streams (a list)
    kafka/roster.json               the latest message for the student on the roster topic (null: none)
    kafka/student-state.json        the latest message for the student on the state topic (null: none)
    kafka/activity.json             every activity event about the student still kept on the activity topic

``members`` turns a :class:`Contents` into (path, bytes) pairs; ``zip_bytes`` packs them with
fixed timestamps, so the same contents always give the same archive.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import textwrap
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from consumers.protection.tables import TABLES
from leap.topics import DAY_MS, TOPICS

FORMAT = "leap-subject-access/1"

# What each file outside postgres/ is, for the README and the manifest.
DESCRIPTIONS = {
    "redis/current-state.json": "Your current score, band and explanation as LEAP's fast store (Redis) holds them for the portal.",
    "redis/alert-stream-entries.json": "Alerts about you as they appear on staff members' live alert feeds (Redis streams), with whose feed.",
    "kafka/roster.json": "The latest roster message about you on LEAP's roster topic (Kafka), as the student record system published it.",
    "kafka/student-state.json": "The latest score, band and explanation the engine published about you on its state topic (Kafka).",
    "kafka/activity.json": "Every activity event about you still kept on LEAP's activity topic (Kafka): attendance, Moodle, "
    "library and other records your engagement is computed from. Events older than the topic's retention are gone.",
}


@dataclass(frozen=True)
class KafkaMessage:
    """One message read back from a topic, value decoded (None: a tombstone; ``error``: undecodable)."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None
    value: dict | None
    error: str | None = None
    raw: bytes | None = None  # kept only when it could not be decoded


@dataclass(frozen=True)
class Contents:
    """Everything gathered about one student, and the request it answers."""

    student_id: str
    generated_at: datetime  # timezone-aware
    generated_by: str
    role: str
    purpose: str
    postgres: dict[str, list[dict]] = field(default_factory=dict)
    redis_state: dict[str, str] = field(default_factory=dict)
    redis_alerts: list[dict] = field(default_factory=list)  # {"stream", "entry_id", "fields"}
    roster: KafkaMessage | None = None
    state: KafkaMessage | None = None
    activity: list[KafkaMessage] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # anything the reader should know (e.g. a topic missing)


def _plain(value: Any) -> Any:
    """A value JSON can hold: times and dates as ISO 8601, ids as text, bytes as base64."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (uuid.UUID, Decimal)):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"cannot put a {type(value).__name__} in the archive")


def to_json(data: Any) -> bytes:
    """UTF-8 JSON, indented and with sorted keys so a person can read it and two exports diff."""
    return (json.dumps(data, default=_plain, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode()


def _utc(ms: int | None) -> str | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat()


def message_json(msg: KafkaMessage | None) -> dict | None:
    """A Kafka message as the archive shows it: where it is, when it was published, its value."""
    if msg is None:
        return None
    out: dict[str, Any] = {"topic": msg.topic, "partition": msg.partition, "offset": msg.offset, "published_at": _utc(msg.timestamp_ms), "value": msg.value}
    if msg.value is not None and isinstance(msg.value.get("event_time"), int):
        out["event_time_utc"] = _utc(msg.value["event_time"])
    if msg.error is not None:
        out["error"] = msg.error
        out["raw_base64"] = base64.b64encode(msg.raw or b"").decode()
    return out


def data_files(contents: Contents) -> dict[str, tuple[Any, str, int]]:
    """Each data file: (JSON data, description, number of records), postgres/ first in the tables' order."""
    files: dict[str, tuple[Any, str, int]] = {}
    for table in TABLES:
        rows = contents.postgres.get(table.name, [])
        files[f"postgres/{table.name}.json"] = (rows, table.description, len(rows))
    state = dict(contents.redis_state)
    files["redis/current-state.json"] = (state, DESCRIPTIONS["redis/current-state.json"], 1 if state else 0)
    files["redis/alert-stream-entries.json"] = (contents.redis_alerts, DESCRIPTIONS["redis/alert-stream-entries.json"], len(contents.redis_alerts))
    for path, msg in (("kafka/roster.json", contents.roster), ("kafka/student-state.json", contents.state)):
        files[path] = (message_json(msg), DESCRIPTIONS[path], 0 if msg is None or msg.value is None else 1)
    activity = [message_json(m) for m in contents.activity]
    files["kafka/activity.json"] = (activity, DESCRIPTIONS["kafka/activity.json"], len(activity))
    return files


def manifest(contents: Contents, encoded: dict[str, bytes], files: dict[str, tuple[Any, str, int]]) -> dict:
    """The manifest: the request, and each file with its description, record count and SHA-256."""
    return {
        "format": FORMAT,
        "student_id": contents.student_id,
        "generated_at": contents.generated_at.isoformat(),
        "generated_by": contents.generated_by,
        "role": contents.role,
        "purpose": contents.purpose,
        "files": [
            {"path": path, "description": description, "records": count, "sha256": hashlib.sha256(encoded[path]).hexdigest()}
            for path, (_, description, count) in files.items()
        ],
        "notes": list(contents.notes),
    }


def retention_days(topic: str) -> int | None:
    """Days a delete-policy topic keeps messages (None: compacted, or not one of LEAP's topics)."""
    spec = next((t for t in TOPICS if t.name == topic), None)
    if spec is None or spec.config.get("cleanup.policy") != "delete":
        return None
    return int(spec.config["retention.ms"]) // DAY_MS


def readme(contents: Contents, files: dict[str, tuple[Any, str, int]]) -> str:
    """README.txt: what the archive is and what each file holds, in plain English."""
    wrap = textwrap.TextWrapper(width=88, subsequent_indent="    ")
    lines = [
        f"Everything LEAP holds about student {contents.student_id}",
        "",
        f"Exported on {contents.generated_at:%d %B %Y at %H:%M %Z} for {contents.generated_by} ({contents.role.replace('_', ' ')}).",
        *wrap.wrap(f"Purpose recorded: {contents.purpose}"),
        "",
        *textwrap.wrap(
            "LEAP is the university's learner engagement system: it scores how much you take part "
            "(attendance, Moodle, coursework, lecture recordings, PC logins, library), tells your personal "
            "tutor when that drops, and keeps the notes, objectives and referrals staff make about you. "
            "Each file below is plain JSON (open it in any text editor). Times are in ISO 8601 with their "
            "time zone; days are YYYY-MM-DD. A file with 0 records means LEAP holds nothing of that kind "
            "about you. manifest.json lists the same files with a checksum of each.",
            88,
        ),
        "",
        "Files",
        "",
    ]
    for path, (_, description, count) in files.items():
        lines += wrap.wrap(f"{path} ({count} record{'s' if count != 1 else ''}): {description}")
    lines += [
        "",
        "Not in this archive",
        "",
        *textwrap.wrap(
            "LEAP's engine also keeps a working copy of your recent activity (for the days its score "
            "covers) inside its own internal topics; it is derived from the activity events above and "
            f"holds nothing else. Band changes are also kept on a Kafka topic for {retention_days('band-changes')} days "
            f"and daily summaries for {retention_days('daily-summaries')} days; their contents are the "
            f"band_changes and engagement_history files above. Records rejected as malformed are kept for "
            f"{retention_days('dead-letter')} days for repair and are not searched by student.",
            88,
        ),
    ]
    if contents.notes:
        lines += ["", "Notes on this export", ""]
        for note in contents.notes:
            lines += wrap.wrap(f"- {note}")
    return "\n".join(lines) + "\n"


def members(contents: Contents) -> list[tuple[str, bytes]]:
    """The archive's files as (path, bytes): README.txt, manifest.json, then the data files."""
    files = data_files(contents)
    encoded = {path: to_json(data) for path, (data, _, _) in files.items()}
    return [
        ("README.txt", readme(contents, files).encode()),
        ("manifest.json", to_json(manifest(contents, encoded, files))),
        *encoded.items(),
    ]


def file_name(student_id: str, at: datetime) -> str:
    """A safe default file name: ``leap-sar-<student>-<UTC time>.zip``."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", student_id).strip("._") or "student"
    return f"leap-sar-{safe}-{at.astimezone(timezone.utc):%Y%m%dT%H%M%SZ}.zip"


def zip_bytes(items: list[tuple[str, bytes]], at: datetime) -> bytes:
    """A deflated zip of ``items``, every entry dated ``at`` (reproducible)."""
    stamp = at.astimezone(timezone.utc).timetuple()[:6]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path, data in items:
            info = zipfile.ZipInfo(path, date_time=max(stamp, (1980, 1, 1, 0, 0, 0)))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()
