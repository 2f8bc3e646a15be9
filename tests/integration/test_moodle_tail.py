"""`leap tail moodle` against a real PostgreSQL table filled as Moodle fills it, publishing to the real broker."""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import threading

import httpx
import psycopg
import pytest

from leap.kafka import read_to_end
from producers.moodle_sample import generate
from producers.outcome import Event
from producers.sources import moodle
from schemas.codec import default_codec
from tests.integration.conftest import LEAP, run_leap
from tests.integration.engine_helpers import wait_until
from tests.integration.workers import free_port

CODEC = default_codec()
# Moodle's own PostgreSQL definition of the table (lib/db/install.xml, as Moodle's installer creates it).
DDL = """
CREATE TABLE {prefix}logstore_standard_log (
    id BIGSERIAL PRIMARY KEY, eventname VARCHAR(255) NOT NULL DEFAULT '', component VARCHAR(100) NOT NULL DEFAULT '',
    action VARCHAR(100) NOT NULL DEFAULT '', target VARCHAR(100) NOT NULL DEFAULT '', objecttable VARCHAR(50), objectid BIGINT,
    crud VARCHAR(1) NOT NULL DEFAULT '', edulevel SMALLINT NOT NULL, contextid BIGINT NOT NULL, contextlevel BIGINT NOT NULL,
    contextinstanceid BIGINT NOT NULL, userid BIGINT NOT NULL, courseid BIGINT, relateduserid BIGINT, anonymous SMALLINT NOT NULL DEFAULT 0,
    other TEXT, timecreated BIGINT NOT NULL, origin VARCHAR(10), ip VARCHAR(45), realuserid BIGINT)
"""
NULLABLE = {"objecttable", "objectid", "courseid", "relateduserid", "other", "origin", "ip", "realuserid"}
USERS = list(range(30_000, 30_300))


def db_values(fields: list[str]) -> dict:
    """A sample export row as Moodle would have stored it (NULL markers as SQL NULL)."""
    row = dict(zip(moodle.LOGSTORE_COLUMNS, fields))
    return {name: (None if name in NULLABLE and value in ("", "NULL", "\\N") else value) for name, value in row.items() if name != "id"}


class MoodleTable:
    """A logstore table with its own prefix in the test database, and rows written as Moodle writes them."""

    def __init__(self, dsn: str) -> None:
        # Each test its own table and Moodle site: its own tail position and event ids.
        self.dsn, self.prefix = dsn, f"t{secrets.token_hex(3)}_"
        self.site = f"site-{self.prefix.rstrip('_')}"
        self.conn = psycopg.connect(dsn, autocommit=True)
        self.conn.execute(DDL.format(prefix=self.prefix))
        self.insert_sql = f"INSERT INTO {self.prefix}logstore_standard_log ({', '.join(moodle.LOGSTORE_COLUMNS[1:])}) VALUES ({', '.join(['%s'] * 20)}) RETURNING id"

    def insert(self, fields: list[str], conn: psycopg.Connection | None = None) -> int:
        values = db_values(fields)
        return (conn or self.conn).execute(self.insert_sql, [values[c] for c in moodle.LOGSTORE_COLUMNS[1:]]).fetchone()[0]

    def drop(self) -> None:
        self.conn.execute(f"DROP TABLE {self.prefix}logstore_standard_log")
        self.conn.close()


@pytest.fixture
def table(settings):
    created = MoodleTable(settings.database_url)
    yield created
    created.drop()


@pytest.fixture(scope="module")
def known_users(leap_env, tmp_path_factory):
    path = tmp_path_factory.mktemp("tail") / "ids.csv"
    path.write_text("student_id,moodle_user_id\n" + "".join(f"T{u},{u}\n" for u in USERS))
    run_leap(leap_env, "identities", "load", str(path))


def expected(table: MoodleTable, inserted: dict[int, list[str]]) -> dict[str, dict]:
    """What the Moodle adapter makes of each row read as an export row (id as the table gave it), by event id."""
    out = {}
    for row_id, fields in inserted.items():
        outcome = moodle.parse_logstore_row([str(row_id), *fields[1:]], site=table.site)
        if isinstance(outcome, Event):
            out[outcome.record["event_id"]] = {**outcome.record, "student_id": f"T{outcome.record['student_id']}"}
    return out


def committed_events(settings, wanted: set[str]) -> list[dict]:
    """The committed activity events with these ids (every copy: a duplicate would show twice)."""
    found = []
    for msg in read_to_end(settings, settings.topic("activity"), **{"isolation.level": "read_committed"}):
        event = CODEC.decode(msg.value())
        if event["event_id"] in wanted:
            found.append(event)
    return found


def tail_args(table: MoodleTable, *extra: str) -> list[str]:
    return ["tail", "moodle", "--dsn", table.dsn, "--table-prefix", table.prefix, "--site", table.site, *extra]


def test_once_publishes_every_row_once_and_a_second_run_nothing(settings, leap_env, table, known_users):
    rows = [r.fields for r in generate(1500, students=300, seed=11, user_ids=USERS)]
    inserted = {table.insert(fields): fields for fields in rows}
    want = expected(table, inserted)
    result = run_leap(leap_env, *tail_args(table, "--once", "--batch", "400", "--metrics-port", str(free_port())))
    assert f"stopped at id {max(inserted):,}" in result.stdout
    published = committed_events(settings, set(want))
    assert sorted(published, key=lambda e: e["event_id"]) == sorted(want.values(), key=lambda e: e["event_id"])
    run_leap(leap_env, *tail_args(table, "--once", "--metrics-port", str(free_port())))
    assert len(committed_events(settings, set(want))) == len(want)  # nothing published again


def test_a_row_committed_after_a_later_one_is_still_read(settings, leap_env, table, known_users):
    first, second = [r.fields for r in generate(40, students=300, seed=12, user_ids=USERS) if r.intent == "publish"][:2]
    slow = psycopg.connect(table.dsn)  # a request still writing its log rows
    slow_id = table.insert(first, slow)
    fast_id = table.insert(second)
    assert fast_id > slow_id
    run_leap(leap_env, *tail_args(table, "--once", "--metrics-port", str(free_port())))
    slow.commit()
    slow.close()
    run_leap(leap_env, *tail_args(table, "--once", "--metrics-port", str(free_port())))
    want = expected(table, {slow_id: first, fast_id: second})
    assert sorted(e["event_id"] for e in committed_events(settings, set(want))) == sorted(want)


def position(url: str, name: str) -> float:
    try:
        text = httpx.get(url, timeout=2).text
    except httpx.HTTPError:
        return -1
    found = re.search(rf'^leap_tail_position\{{tail="{name}"\}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else -1


def test_kill_9_while_rows_arrive_loses_and_repeats_nothing(settings, leap_env, table, known_users, tmp_path):
    rows = [r.fields for r in generate(3000, students=300, seed=13, user_ids=USERS)]
    inserted: dict[int, list[str]] = {}
    writing = threading.Thread(target=lambda: inserted.update((table.insert(f), f) for f in rows), daemon=True)
    port = free_port()
    metrics = f"http://127.0.0.1:{port}/metrics"
    args = [LEAP, *tail_args(table, "--batch", "50", "--poll-seconds", "0.2", "--metrics-port", str(port))]
    log = (tmp_path / "tail.log").open("w")
    first = subprocess.Popen(args, env=leap_env, stdout=log, stderr=subprocess.STDOUT)
    writing.start()
    wait_until(lambda: position(metrics, f"moodle:{table.site}") >= 1, 60, "the tail to publish its first rows", interval=0.1)
    os.kill(first.pid, signal.SIGKILL)  # mid-stream: rows still arriving, a transaction probably open
    first.wait(10)
    writing.join(120)
    second = subprocess.Popen(args, env=leap_env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: position(metrics, f"moodle:{table.site}") >= max(inserted), 120, f"the restarted tail to reach id {max(inserted)} (log {tmp_path / 'tail.log'})", interval=0.3)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(30)
    want = expected(table, inserted)
    published = committed_events(settings, set(want))
    assert len(published) == len(want)  # each once: none lost, none repeated
    assert {e["event_id"]: e for e in published} == want
