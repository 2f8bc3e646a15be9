"""IMS Caliper 1.1/1.2 events (Canvas, Blackboard Learn and other Caliper sensors).

Where events come from
    A sensor POSTs an envelope ``{sensor, sendTime, dataVersion, data: [events]}``: the HTTP
    endpoint calls ``parse_envelope`` for its ``data`` and ``parse_event`` for each event.
    Files (``leap produce caliper FILE``) are JSON lines, each line one event or one whole
    envelope; an envelope line is read as its events, each with the envelope's line number
    (an envelope with an empty ``data`` holds nothing to count). ``dataVersion`` is not
    checked: 1.1 and 1.2 events have the same shape. Caliper 1.0 (``@type``, ``@id``) is not
    read.

Event id: the Caliper ``id`` (``urn:uuid:<uuid>``, or the bare UUID Blackboard sends) is the
event id, lower-cased, so an event sent twice is one event; an event without one gets an id
derived from its content (canonical JSON, keys sorted). An ``id`` that is neither is rejected.

Time: ``eventTime``, ISO 8601 (Caliper sends UTC with milliseconds; a time without an offset
is taken as UTC, as the spec requires UTC). Not ISO 8601 or outside 2000-2099: rejected.

Person: ``actor`` (an object with ``id``, or the id IRI alone). An actor whose ``type`` is
not ``Person`` (Canvas's SoftwareApplication for system requests) is skipped ("actor is not
a person"). The id is, in order: the platform's login when the actor carries one (Canvas
``extensions["com.instructure.canvas"].user_login``, Blackboard
``extensions["bb:user.externalId"]``), as ``username``; a ``mailto:`` IRI's address, as
``email``; else the IRI's last path segment (``https://example.edu/users/554433`` ->
``554433``; for a URN such as Canvas's ``urn:instructure:canvas:user:2107...`` the part after
the last ``:``), as ``username``. An IRI with no such segment is rejected. An event whose
``membership.roles`` lists roles but no ``Learner`` role (an instructor or administrator
navigating a course) is skipped ("not a learner").

What counts (``type``/``action``; an action written as an IRI is read by its last part):

- NavigationEvent/NavigatedTo, ViewEvent/Viewed -> vle, viewed;
- SessionEvent/LoggedIn -> vle, logged_in; LoggedOut and TimedOut are skipped ("session
  ended");
- AssessmentEvent/Submitted, AssignableEvent/Submitted -> coursework, submitted;
- AssessmentEvent/Started -> vle, started;
- MediaEvent (Started, Ended, Paused, Resumed...) is skipped ("media event"): a media event
  gives the play position, not the time watched, and the time between a Started and its
  Ended is not reliable enough to count (pauses, closed tabs);
- anything else is skipped ("not counted").

Course: ``group.courseNumber``, else ``group.id`` (Canvas sends only the id). ``object_ref``
is ``object.id``. Both are cut to 256 characters.

Rejected: a line that is not JSON; an envelope line that is not a whole envelope (``data``
not an array); an event that is not an object, has no ``type`` or ``action`` text, no
``actor`` or ``actor.id``, an ``actor.id`` naming no user, or a bad ``id`` or ``eventTime``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urlsplit

from leap.vocabulary import EMAIL, USERNAME
from producers.json_records import MAX_TEXT, decode_json, is_uuid, iso_time_ms
from producers.outcome import CsvRecord, Outcome, Reject, Skip, activity, event_id
from producers.readers import open_text, read_lines
from producers.sources.base import Adapter, NotThisFormat

ENVELOPE_KEYS = ("sensor", "sendTime", "dataVersion", "data")
COUNTED: dict[tuple[str, str], tuple[str, str]] = {
    ("NavigationEvent", "NavigatedTo"): ("vle", "viewed"),
    ("ViewEvent", "Viewed"): ("vle", "viewed"),
    ("SessionEvent", "LoggedIn"): ("vle", "logged_in"),
    ("AssessmentEvent", "Submitted"): ("coursework", "submitted"),
    ("AssignableEvent", "Submitted"): ("coursework", "submitted"),
    ("AssessmentEvent", "Started"): ("vle", "started"),
}
SESSION_ENDED = frozenset({("SessionEvent", "LoggedOut"), ("SessionEvent", "TimedOut")})
# Where platforms put the person's login beside their own opaque user ids.
LOGIN_EXTENSIONS = (("com.instructure.canvas", "user_login"), ("bb:user.externalId", None))

NOT_A_PERSON = "actor is not a person"
NOT_A_LEARNER = "not a learner"
ENDED = "session ended"
MEDIA = "media event"
NOT_COUNTED = "not counted"


def parse_envelope(body: object) -> list[object] | str:
    """A sensor envelope's ``data`` (its events), or a one-line problem when ``body`` is not an envelope."""
    if not isinstance(body, dict):
        return "not a Caliper envelope: expected a JSON object with sensor, sendTime, dataVersion and data"
    missing = [key for key in ENVELOPE_KEYS if key not in body]
    if missing:
        return f"not a Caliper envelope: no {', '.join(missing)}"
    if not isinstance(body["data"], list):
        return "Caliper envelope data is not an array"
    return body["data"]


def _looks_like_envelope(value: object) -> bool:
    return isinstance(value, dict) and "data" in value and ("sensor" in value or "dataVersion" in value)


def _last_part(value: str) -> str:
    return value.strip().rstrip("/#").rsplit("#", 1)[-1].rsplit("/", 1)[-1]


def _event_uuid(value: object) -> str | None:
    """The UUID of a Caliper ``id`` (``urn:uuid:...`` or bare); ``ValueError`` when it is neither."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("id is not text")
    bare = value[len("urn:uuid:"):] if value.lower().startswith("urn:uuid:") else value
    if not is_uuid(bare):
        raise ValueError(f"id {value[:60]!r} is not a urn:uuid")
    return bare.lower()


def _login(actor: dict) -> str | None:
    extensions = actor.get("extensions")
    if not isinstance(extensions, dict):
        return None
    for key, inner in LOGIN_EXTENSIONS:
        value = extensions.get(key)
        if inner is not None:
            value = value.get(inner) if isinstance(value, dict) else None
        if isinstance(value, str) and value.strip() and len(value.strip()) <= MAX_TEXT:
            return value.strip()
    return None


def event_person(actor: object) -> tuple[str, str] | Skip | Reject:
    """The actor's ``(identity namespace, id)``, or why it names no student (module doc)."""
    if isinstance(actor, str):
        actor = {"id": actor}
    if not isinstance(actor, dict):
        return Reject("actor is missing or not an object")
    kind = actor.get("type")
    if kind is not None and kind != "Person":
        return Skip(NOT_A_PERSON)
    iri = actor.get("id")
    if not isinstance(iri, str) or not iri.strip():
        return Reject("actor.id is missing or not text")
    if login := _login(actor):
        return USERNAME, login
    iri = iri.strip()
    if iri.lower().startswith("mailto:"):
        address = iri[len("mailto:"):]
        if "@" not in address or any(ch.isspace() for ch in address) or len(address) > MAX_TEXT:
            return Reject("actor.id is not a mailto: address")
        return EMAIL, address
    try:
        parts = urlsplit(iri)
    except ValueError:
        return Reject(f"actor.id {iri[:60]!r} is not an IRI")
    last = iri.rsplit(":", 1)[-1] if parts.scheme.lower() == "urn" else unquote(parts.path.rstrip("/").rsplit("/", 1)[-1])
    if not last.strip() or len(last) > MAX_TEXT or any(ch.isspace() or not ch.isprintable() for ch in last):
        return Reject(f"actor.id {iri[:60]!r} has no user id as its last path segment")
    return USERNAME, last


def _is_learner(event: dict) -> bool:
    roles = event.get("membership", {}).get("roles") if isinstance(event.get("membership"), dict) else None
    if not isinstance(roles, list) or not roles:
        return True
    # "Learner", "Learner#ExternalLearner" or the LIS IRI ".../membership#Learner".
    return any(isinstance(role, str) and "Learner" in role.rsplit("/", 1)[-1].split("#") for role in roles)


def _ref(value: object, key: str = "id") -> str | None:
    """An entity's id (or ``key``): an object's field, or the IRI an entity may be written as."""
    if isinstance(value, dict):
        value = value.get(key)
    elif key != "id":
        return None
    return value.strip()[:MAX_TEXT] if isinstance(value, str) and value.strip() else None


def parse_event(event: object, *, site: str = "caliper", position: str) -> Outcome:
    """One decoded Caliper event to an event, a skip or a rejection (rules in the module doc).

    ``position`` names where it came from: the source reference of an event without an ``id``.
    """
    if not isinstance(event, dict):
        return Reject("event is not a JSON object")
    for name in ("type", "action"):
        if not isinstance(event.get(name), str) or not event[name].strip():
            return Reject(f"{name} is missing or not text")
    try:
        own_id = _event_uuid(event.get("id"))
        when = iso_time_ms(event.get("eventTime"), "eventTime") if event.get("eventTime") is not None else None
    except ValueError as exc:
        return Reject(str(exc))
    if when is None:
        return Reject("eventTime is missing")
    person = event_person(event.get("actor"))
    if isinstance(person, (Skip, Reject)):
        return person
    pair = (_last_part(event["type"]), _last_part(event["action"]))
    if pair in SESSION_ENDED:
        return Skip(ENDED)
    if pair[0] == "MediaEvent":
        return Skip(MEDIA)
    if pair not in COUNTED:
        return Skip(NOT_COUNTED)
    if not _is_learner(event):
        return Skip(NOT_A_LEARNER)
    try:
        eid = own_id or event_id(f"caliper:{site}:" + json.dumps(event, sort_keys=True, separators=(",", ":")))
    except (ValueError, RecursionError):
        return Reject("event cannot be written as JSON (nested too deeply)")
    source, action = COUNTED[pair]
    namespace, user = person
    result = activity(
        reference=eid, student_id=user, identity=namespace, source=source, action=action, event_time_ms=when,
        course=_ref(event.get("group"), "courseNumber") or _ref(event.get("group")), object_ref=_ref(event.get("object")),
        source_ref=f"caliper:{site}:event:{eid}" if own_id else position,
    )  # fmt: skip
    result.record["event_id"] = eid  # the event's own id, not one derived from it
    return result


def expand_envelopes(lines: Iterable[CsvRecord]) -> Iterator[CsvRecord]:
    """JSON lines with every envelope line replaced by one record per event (same line number)."""
    for record in lines:
        if record.error is None and record.raw.lstrip().startswith("{"):
            try:
                value = decode_json(record.raw)
            except ValueError:
                value = None
            events = parse_envelope(value) if _looks_like_envelope(value) else None
            if isinstance(events, list):
                for item in events:
                    yield CsvRecord(record.line, json.dumps(item) + "\n", None)
                continue
        yield record


def _is_event(value: object) -> bool:
    return (
        isinstance(value, dict) and isinstance(value.get("type"), str) and value["type"].endswith("Event")
        and "action" in value and "actor" in value
    )  # fmt: skip


class Caliper(Adapter):
    """Caliper events: JSON lines of events or sensor envelopes (module doc); the HTTP endpoint uses ``parse_event``."""

    name = "caliper"
    source = "any"
    identity = USERNAME  # each event names its own: username or email
    summary = "IMS Caliper 1.1/1.2 events (Canvas, Blackboard): JSON lines of events or sensor envelopes"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.site = self.options.site or "caliper"

    @contextmanager
    def records(self, path: Path) -> Iterator[Iterator[CsvRecord]]:
        """The file's lines, envelopes expanded into their events."""
        with open_text(path, self.options.encoding) as stream:
            yield expand_envelopes(read_lines(stream))

    def start(self, first: CsvRecord) -> bool:
        """The first record must be a Caliper event (``type`` ending in Event, ``action``, ``actor``) or an envelope."""
        try:
            value = decode_json(first.raw)
        except ValueError:
            value = None
        if not (_is_event(value) or (isinstance(value, dict) and set(ENVELOPE_KEYS) <= value.keys())):
            raise NotThisFormat("not Caliper: expected JSON lines of events (type, action, actor) or envelopes (sensor, sendTime, dataVersion, data)")
        return False

    def parse(self, record: CsvRecord) -> Outcome:
        """One event (a line, or one of an envelope line's events) to an event, a skip or a rejection."""
        try:
            value = decode_json(record.raw)
        except ValueError as exc:
            return Reject(str(exc))
        if _looks_like_envelope(value):
            problem = parse_envelope(value)
            return Reject(problem if isinstance(problem, str) else "an envelope read as one event (expand it with parse_envelope)")
        return parse_event(value, site=self.site, position=f"{self.file_name}:{record.line}")
