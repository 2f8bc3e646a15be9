"""The subject-access archive: layout, manifest, README, JSON encoding, reproducibility."""

from __future__ import annotations

import hashlib
import io
import json
import uuid
import zipfile
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumers.protection import archive
from consumers.protection.archive import Contents, KafkaMessage
from consumers.protection.tables import TABLES

AT = datetime(2026, 11, 29, 10, 30, tzinfo=timezone.utc)
NOTE = {"note_id": 7, "author": "tutor-a", "body": "<script>x</script> café", "created_at": AT, "alert_id": uuid.UUID(int=5)}


def _contents(**changes) -> Contents:
    base = dict(
        student_id="s1", generated_at=AT, generated_by="s1", role="student", purpose="the student's own record",
        postgres={"notes": [NOTE], "engagement_history": [{"day": date(2026, 11, 28), "score": 55.5}, {"day": date(2026, 11, 29), "score": None}]},
        redis_state={"band": "good", "score": "71.0"},
        redis_alerts=[{"stream": "leap:alerts:tutor-a", "recipient": "tutor-a", "entry_id": "1-0", "fields": {"student_id": "s1"}}],
        roster=KafkaMessage("leap.roster", 3, 10, 1_700_000_000_000, {"student_id": "s1", "status": "withdrawn"}),
        state=KafkaMessage("leap.student-state", 3, 4, 1_700_000_000_000, None),
        activity=[KafkaMessage("leap.activity", 3, n, 1_700_000_000_000 + n, {"event_id": f"e{n}", "event_time": 1_700_000_000_000}) for n in range(3)],
    )  # fmt: skip
    return Contents(**{**base, **changes})


def _unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert z.testzip() is None
        return {name: z.read(name) for name in z.namelist()}


def test_the_archive_has_a_readme_a_manifest_and_one_file_per_table_and_source():
    files = _unzip(archive.zip_bytes(archive.members(_contents()), AT))
    expected = ["README.txt", "manifest.json", *(f"postgres/{t.name}.json" for t in TABLES), *archive.DESCRIPTIONS]
    assert list(files) == expected


def test_the_manifest_counts_and_checksums_each_file():
    files = _unzip(archive.zip_bytes(archive.members(_contents()), AT))
    manifest = json.loads(files["manifest.json"])
    assert (manifest["format"], manifest["student_id"], manifest["generated_by"], manifest["role"]) == (archive.FORMAT, "s1", "s1", "student")
    listed = {f["path"]: f for f in manifest["files"]}
    assert set(listed) == set(files) - {"README.txt", "manifest.json"}
    for path, entry in listed.items():
        assert entry["sha256"] == hashlib.sha256(files[path]).hexdigest(), path
        assert entry["description"]
    counts = {p: e["records"] for p, e in listed.items()}
    assert counts["postgres/notes.json"] == 1 and counts["postgres/engagement_history.json"] == 2 and counts["postgres/alerts.json"] == 0
    assert counts["kafka/activity.json"] == 3 and counts["kafka/roster.json"] == 1
    assert counts["kafka/student-state.json"] == 0  # its latest message is a tombstone
    assert counts["redis/current-state.json"] == 1 and counts["redis/alert-stream-entries.json"] == 1


def test_rows_are_json_with_iso_times_and_text_ids_and_text_kept_verbatim():
    files = _unzip(archive.zip_bytes(archive.members(_contents()), AT))
    notes = json.loads(files["postgres/notes.json"])
    assert notes == [{"note_id": 7, "author": "tutor-a", "body": "<script>x</script> café", "created_at": "2026-11-29T10:30:00+00:00", "alert_id": str(uuid.UUID(int=5))}]
    history = json.loads(files["postgres/engagement_history.json"])
    assert [h["day"] for h in history] == ["2026-11-28", "2026-11-29"]


def test_kafka_messages_say_where_and_when_and_an_undecodable_one_keeps_its_bytes():
    activity = json.loads(_unzip(archive.zip_bytes(archive.members(_contents()), AT))["kafka/activity.json"])
    assert [(m["partition"], m["offset"]) for m in activity] == [(3, 0), (3, 1), (3, 2)]
    assert activity[0]["event_time_utc"] == "2023-11-14T22:13:20+00:00" and activity[0]["published_at"] == "2023-11-14T22:13:20+00:00"
    bad = archive.message_json(KafkaMessage("leap.activity", 0, 9, None, None, error="unknown schema", raw=b"\x00\x01"))
    assert bad["error"] == "unknown schema" and bad["raw_base64"] == "AAE=" and bad["published_at"] is None
    assert archive.message_json(None) is None


def test_the_readme_names_every_file_with_its_count_and_the_request():
    contents = _contents(notes=["topic leap.activity does not exist: nothing could be read from it"])
    files = dict(archive.members(contents))
    readme = files["README.txt"].decode()
    flat = " ".join(readme.split())
    for path, (_, _, count) in archive.data_files(contents).items():
        assert f"{path} ({count} record" in flat, path
    assert "s1" in readme.splitlines()[0] and "the student's own record" in flat
    assert "topic leap.activity does not exist" in flat
    assert f"for {archive.retention_days('band-changes')} days" in flat
    assert all(len(line) <= 88 for line in readme.splitlines())


def test_the_same_contents_always_give_the_same_archive():
    assert archive.zip_bytes(archive.members(_contents()), AT) == archive.zip_bytes(archive.members(_contents()), AT)
    assert archive.zip_bytes(archive.members(_contents()), AT) != archive.zip_bytes(archive.members(_contents(purpose="audit")), AT)


@pytest.mark.parametrize("student, expected", [("s1", "leap-sar-s1-20261129T103000Z.zip"), ("../etc/x y", "leap-sar-etc_x_y-20261129T103000Z.zip"), ("..", "leap-sar-student-20261129T103000Z.zip")])
def test_the_default_file_name_is_safe(student, expected):
    assert archive.file_name(student, AT) == expected


def test_values_json_cannot_hold_are_converted_or_refused():
    assert json.loads(archive.to_json({"a": Decimal("1.5"), "b": b"\xff", "c": frozenset({1}), "d": (1, 2)})) == {"a": "1.5", "b": "/w==", "c": [1], "d": [1, 2]}
    with pytest.raises(TypeError, match="object"):
        archive.to_json({"x": object()})


_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(), st.dates(), st.datetimes(timezones=st.just(timezone.utc)), st.uuids())


@given(st.dictionaries(st.sampled_from([t.name for t in TABLES]), st.lists(st.dictionaries(st.text(min_size=1, max_size=8), _scalars, max_size=4), max_size=3)))
def test_any_rows_come_back_from_the_archive_as_json(postgres):
    files = _unzip(archive.zip_bytes(archive.members(_contents(postgres=postgres)), AT))
    for table in TABLES:
        rows = json.loads(files[f"postgres/{table.name}.json"])
        assert rows == json.loads(archive.to_json(postgres.get(table.name, [])))
        assert len(rows) == len(postgres.get(table.name, []))
