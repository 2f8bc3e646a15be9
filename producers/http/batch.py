"""What one HTTP request's body is: its statements or events, each judged by its adapter (pure).

Each item stands on its own: the good ones are published even when others in the same
batch are malformed, and the answer is then 400 with the reason for each bad one and the
list of those accepted (a sender that re-sends the whole batch duplicates nothing: event
ids). This departs from the xAPI specification's all-or-nothing batch on purpose: one bad
statement from Moodle's plugin must not hold back a hundred good ones, and the bad ones go
to the dead-letter topic so nothing sent is lost. A request with any item of a source its
client may not write is refused whole (403): that is a configuration error, not data.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from producers.http.clients import Client
from producers.outcome import Event, Outcome, Reject, Skip, event_id

MAX_ITEMS = 1000  # statements or events in one request; more is a client bug or an attack


@dataclass
class Verdict:
    """The answer to a request body: the HTTP status, what to publish and what to dead-letter."""

    status: int
    errors: list[dict] = field(default_factory=list)  # {"index", "reason"} per refused item, or {"reason"}
    events: list[Event] = field(default_factory=list)
    accepted: list[int] = field(default_factory=list)  # indexes of the items taken (published or skipped)
    rejected: list[tuple[int, object, str]] = field(default_factory=list)  # (index, item, reason) to dead-letter
    skipped: Counter[str] = field(default_factory=Counter)
    ids: list[str] = field(default_factory=list)  # xAPI: the statement ids, in order


def _items(body: object) -> list[object]:
    return body if isinstance(body, list) else [body]


def _refused(reason: str, body: object = None) -> Verdict:
    return Verdict(400, errors=[{"reason": reason}], rejected=[(-1, body, reason)] if body is not None else [])


def judge(items: list[object], parse: Callable[[object, int], Outcome], client: Client) -> Verdict:
    """Judge each item: the good ones are taken, each bad one named; a foreign source refuses the whole request."""
    if not items:
        return _refused("no statements or events in the body")
    if len(items) > MAX_ITEMS:
        return _refused(f"{len(items):,} items in one request; send at most {MAX_ITEMS:,}")
    verdict = Verdict(200)
    for index, item in enumerate(items):
        outcome = parse(item, index)
        if isinstance(outcome, Reject):
            verdict.rejected.append((index, item, outcome.reason))
            continue
        if isinstance(outcome, Skip):
            verdict.skipped[outcome.reason] += 1
        else:
            verdict.events.append(outcome)
        verdict.accepted.append(index)
    if verdict.rejected:
        verdict.status = 400
        verdict.errors = [{"index": i, "reason": reason} for i, _, reason in verdict.rejected]
    foreign = [(i, e.record["source"]) for i, e in enumerate(verdict.events) if e.record["source"] not in client.sources]
    if foreign:
        verdict.status, verdict.accepted, verdict.rejected = 403, [], []
        verdict.errors = [{"reason": f"client {client.name!r} may not write {source} activity (it may write {', '.join(sorted(client.sources))})"}
                          for source in sorted({s for _, s in foreign})]  # fmt: skip
        verdict.events = []
    return verdict


def statement_ids(items: list[object], derive: Callable[[dict], str]) -> list[str] | str:
    """Each statement's id (given, or ``derive``d from its content as the file adapter does); a problem string on duplicates."""
    ids: list[str] = []
    for item in items:
        given = item.get("id") if isinstance(item, dict) else None
        if isinstance(given, str):
            try:
                ids.append(str(uuid.UUID(given)))
                continue
            except ValueError:
                pass  # the statement's own check rejects it with the reason
        ids.append(derive(item) if isinstance(item, dict) else event_id("xapi-statement:" + json.dumps(item, default=str)))
    duplicated = [i for i, n in Counter(ids).items() if n > 1]
    if duplicated:
        return f"statement id {duplicated[0]} appears {Counter(ids)[duplicated[0]]} times in one batch"
    return ids


def xapi_verdict(body: object, client: Client, parse: Callable[[object, int], Outcome], *, put_id: str | None = None,
                 derive: Callable[[dict], str] = lambda statement: event_id("xapi-statement:" + json.dumps(statement, sort_keys=True, default=str))) -> Verdict:  # fmt: skip
    """A POST (one statement or an array) or a PUT (one statement, id in the query) of xAPI statements."""
    if put_id is not None:
        try:
            put_id = str(uuid.UUID(put_id))
        except ValueError:
            return _refused(f"statementId {put_id[:60]!r} is not a UUID")
        if not isinstance(body, dict):
            return _refused("a PUT carries one statement object", body)
        if "id" in body and str(body["id"]).lower() != put_id:
            return _refused("the statement's id differs from statementId", body)
        body = {**body, "id": put_id}
    items = _items(body)
    ids = statement_ids(items, derive)
    if isinstance(ids, str):
        return _refused(ids)
    # As an LRS does: a statement sent without an id gets the one answered, so its event id is that id.
    items = [{**item, "id": sid} if isinstance(item, dict) and "id" not in item else item for item, sid in zip(items, ids)]
    verdict = judge(items, parse, client)
    verdict.ids = ids
    return verdict


def caliper_verdict(body: object, client: Client, parse: Callable[[object, int], Outcome], envelope: Callable[[object], list[object] | str]) -> Verdict:
    """A Caliper sensor envelope: its ``data`` events judged one by one."""
    events = envelope(body)
    if isinstance(events, str):
        return _refused(events, body)
    if not events:
        return Verdict(200)  # a sensor's heartbeat (Canvas sends them): nothing to publish, nothing wrong
    return judge(events, parse, client)


def events_verdict(body: object, client: Client, parse: Callable[[object, int], Outcome]) -> Verdict:
    """Normalised activity events: one object or an array of them."""
    return judge(_items(body), parse, client)
