"""`leap ingest serve` as a real process, spoken to by a real HTTP client, publishing to the real broker."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import httpx
import pytest

from producers.http.clients import token_hash
from schemas.codec import default_codec
from tests.integration.conftest import LEAP, run_leap
from tests.integration.engine_helpers import wait_until
from tests.integration.kafka_helpers import end_offsets, read_range
from tests.integration.workers import free_port

TOKENS = {"moodle": "moodle-token-0123456789abcdef", "canvas": "canvas-token-0123456789abcdef", "registers": "registers-token-0123456789abcdef"}
XAPI = {"X-Experience-API-Version": "1.0.3", "Authorization": f"Bearer {TOKENS['moodle']}"}
CODEC = default_codec()


class IngestServer:
    """`leap ingest serve` on a free loopback port."""

    def __init__(self, env: dict[str, str], tmp: Path) -> None:
        clients = tmp / "clients.toml"
        clients.write_text(
            "".join(f'[[client]]\nname = "{name}"\nkind = "{kind}"\nsources = {sources}\ntoken_sha256 = "{token_hash(TOKENS[name])}"\n\n'
                    for name, kind, sources in (("moodle", "xapi", '["vle", "coursework"]'), ("canvas", "caliper", '["vle", "coursework"]'),
                                                ("registers", "events", '["attendance"]')))  # fmt: skip
        )
        self.url = f"http://127.0.0.1:{free_port()}"
        self.env = {**env, "LEAP_INGEST_URL": self.url, "LEAP_INGEST_CLIENTS_FILE": str(clients), "LEAP_INGEST_MAX_BODY_BYTES": "65536"}
        self.log_path = tmp / "ingest.log"
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> IngestServer:
        self.process = subprocess.Popen([LEAP, "ingest", "serve"], env=self.env, stdout=self.log_path.open("w"), stderr=subprocess.STDOUT)
        wait_until(self._ready, 60, f"the ingest server at {self.url} (log {self.log_path})", interval=0.3)
        return self

    def _ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"leap ingest serve exited with {self.process.returncode}:\n{self.log_path.read_text()[-3000:]}")
        try:
            return httpx.get(self.url + "/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(30)


def viewed(actor_id: str, statement_id: str | None = None) -> dict:
    """A statement as Moodle's logstore_xapi sends a course module view."""
    statement = {
        "actor": {"objectType": "Agent", "name": "A Student", "account": {"homePage": "https://moodle.example.ac.uk", "name": actor_id}},
        "verb": {"id": "http://id.tincanapi.com/verb/viewed", "display": {"en": "viewed"}},
        "object": {"objectType": "Activity", "id": "https://moodle.example.ac.uk/mod/page/view.php?id=643",
                   "definition": {"type": "http://id.tincanapi.com/activitytype/lms/module", "name": {"en": "Week 3 reading"}}},
        "timestamp": "2026-11-20T10:15:00+00:00",
        "context": {"platform": "Moodle", "contextActivities": {"grouping": [{"id": "https://moodle.example.ac.uk", "objectType": "Activity"}],
                                                                "parent": [{"id": "https://moodle.example.ac.uk/course/view.php?id=77", "objectType": "Activity"}]}},
    }  # fmt: skip
    if statement_id:
        statement["id"] = statement_id
    return statement


@pytest.fixture(scope="module")
def server(leap_env, settings, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ingest")
    ids = tmp / "ids.csv"
    ids.write_text("student_id,moodle_user_id,username\nS1046,1046,ab1046\nS2210,2210,cd2210\n")
    run_leap(leap_env, "identities", "load", str(ids))
    with IngestServer(leap_env, tmp) as running:
        yield running


def published(settings, topic, before):
    return [CODEC.decode(m.value()) for m in read_range(settings, topic, before, end_offsets(settings, topic))]


def test_xapi_statements_are_acknowledged_by_kafka_before_the_answer_and_resending_is_harmless(server, settings):
    topic = settings.topic("activity")
    before = end_offsets(settings, topic)
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    answer = httpx.post(server.url + "/xapi/statements", json=[viewed("1046", first), viewed("2210", second)], headers=XAPI)
    assert answer.status_code == 200, answer.text
    assert answer.json() == [first, second] and answer.headers["x-experience-api-version"] == "1.0.3"
    # Already on the topic when the answer came: end offsets moved before we asked.
    events = published(settings, topic, before)
    assert sorted((e["event_id"], e["student_id"], e["source"]) for e in events) == sorted([(first, "S1046", "vle"), (second, "S2210", "vle")])
    again = httpx.post(server.url + "/xapi/statements", json=[viewed("1046", first), viewed("2210", second)], headers=XAPI)
    assert again.status_code == 200 and again.json() == [first, second]  # same ids: the engine counts each once


def test_a_put_stores_one_statement_under_its_id(server, settings):
    topic = settings.topic("activity")
    before = end_offsets(settings, topic)
    sid = str(uuid.uuid4())
    answer = httpx.put(server.url + "/xapi/statements", params={"statementId": sid}, json=viewed("1046"), headers=XAPI)
    assert answer.status_code == 204, answer.text
    assert [e["event_id"] for e in published(settings, topic, before)] == [sid]


def test_a_batch_with_a_bad_statement_names_it_dead_letters_it_and_publishes_the_good_ones(server, settings):
    activity, dead = settings.topic("activity"), settings.topic("dead-letter")
    before, dead_before = end_offsets(settings, activity), end_offsets(settings, dead)
    broken = {**viewed("1046"), "verb": {}}
    good = str(uuid.uuid4())
    answer = httpx.post(server.url + "/xapi/statements", json=[viewed("1046", good), broken], headers=XAPI)
    assert answer.status_code == 400
    errors = answer.json()["errors"]
    assert [e["index"] for e in errors] == [1] and "verb" in errors[0]["reason"] and answer.json()["accepted"] == [good]
    assert [(e["event_id"], e["student_id"]) for e in published(settings, activity, before)] == [(good, "S1046")]
    letters = published(settings, dead, dead_before)
    assert len(letters) == 1 and letters[0]["source"] == "ingest-xapi" and letters[0]["position"] == "item 1" and b'"verb": {}' in letters[0]["raw"]


def test_an_unknown_person_waits_in_quarantine_and_is_released_when_the_map_learns_them(server, settings, leap_env, tmp_path):
    quarantine, activity = settings.topic("identity-quarantine"), settings.topic("activity")
    held_before = end_offsets(settings, quarantine)
    sid = str(uuid.uuid4())
    assert httpx.post(server.url + "/xapi/statements", json=viewed("9999", sid), headers=XAPI).status_code == 200
    (held,) = published(settings, quarantine, held_before)
    assert held["identity"] == "moodle_user_id:9999" and CODEC.decode(held["event"])["event_id"] == sid
    before = end_offsets(settings, activity)
    (tmp_path / "late.csv").write_text("student_id,moodle_user_id\nS9999,9999\n")
    run_leap(leap_env, "identities", "load", str(tmp_path / "late.csv"))
    assert [(e["event_id"], e["student_id"]) for e in published(settings, activity, before)] == [(sid, "S9999")]


def test_caliper_envelopes_and_normalised_events_are_accepted_from_their_own_clients(server, settings):
    activity = settings.topic("activity")
    before = end_offsets(settings, activity)
    envelope = {"sensor": "https://canvas.example.ac.uk/sensor", "sendTime": "2026-11-20T10:00:00.000Z", "dataVersion": "http://purl.imsglobal.org/ctx/caliper/v1p2",
                "data": [{"@context": "http://purl.imsglobal.org/ctx/caliper/v1p2", "id": f"urn:uuid:{uuid.uuid4()}", "type": "NavigationEvent",
                          "actor": {"id": "https://canvas.example.ac.uk/users/ab1046", "type": "Person"}, "action": "NavigatedTo",
                          "object": {"id": "https://canvas.example.ac.uk/courses/77/pages/week-3", "type": "WebPage"},
                          "eventTime": "2026-11-20T09:59:58.000Z", "group": {"id": "https://canvas.example.ac.uk/courses/77", "type": "CourseSection", "courseNumber": "PY101"}}]}  # fmt: skip
    answer = httpx.post(server.url + "/caliper", json=envelope, headers={"Authorization": f"Bearer {TOKENS['canvas']}"})
    assert answer.status_code == 200, answer.text
    tap = {"event_id": str(uuid.uuid4()), "student_id": "S2210", "source": "attendance", "action": "tap", "event_time": "2026-11-20T09:00:00Z", "attendance_status": "present"}
    answer = httpx.post(server.url + "/events", json=tap, headers={"Authorization": f"Bearer {TOKENS['registers']}"})
    assert answer.status_code == 200 and answer.json() == {"accepted": 1, "skipped": 0}
    assert sorted((e["student_id"], e["source"]) for e in published(settings, activity, before)) == [("S1046", "vle"), ("S2210", "attendance")]


@pytest.mark.parametrize(
    ("path", "headers", "body", "status", "reason"),
    [
        ("/xapi/statements", {"X-Experience-API-Version": "1.0.3"}, "[]", 401, "no valid token"),
        ("/xapi/statements", {**XAPI, "Authorization": "Bearer wrong-token-wrong-token"}, "[]", 401, "no valid token"),
        ("/xapi/statements", {"Authorization": XAPI["Authorization"]}, "[]", 400, "X-Experience-API-Version"),
        ("/caliper", XAPI, "{}", 403, "sends xapi, not caliper"),
        ("/events", {"Authorization": f"Bearer {TOKENS['registers']}"},
         '{"event_id": "x1", "student_id": "S1", "source": "vle", "action": "a", "event_time": 1795000000000}', 403, "may not write vle"),
        ("/xapi/statements", XAPI, "{not json", 400, "not JSON"),
        ("/xapi/statements", XAPI, "[" + ",".join(["{}"] * 30000) + "]", 413, "over the limit"),
    ],
)
def test_refusals_say_why_in_one_line(server, path, headers, body, status, reason):
    answer = httpx.post(server.url + path, content=body, headers={**headers, "Content-Type": "application/json"})
    assert answer.status_code == status, answer.text
    assert reason in answer.json()["errors"][0]["reason"]


def test_health_and_metrics_are_served(server):
    assert httpx.get(server.url + "/healthz").json() == {"status": "ok"}
    assert httpx.get(server.url + "/xapi/about").json() == {"version": ["1.0.3"]}
    metrics = httpx.get(server.url + "/metrics").text
    assert 'leap_ingest_requests_total{endpoint="xapi",status="200"}' in metrics
    assert 'leap_ingest_items_total{endpoint="caliper",outcome="rejected"}' in metrics
