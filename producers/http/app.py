"""``leap ingest serve``: xAPI statements, Caliper events and normalised events over HTTP.

Routes (each needs a client of its kind, ``producers.http.clients``):

- ``POST /xapi/statements``: one statement or an array; answers the statement ids (200), or
  400 naming each bad statement with the ids of those accepted (published).
- ``PUT /xapi/statements?statementId=<uuid>``: one statement with that id; answers 204.
- ``GET /xapi/about``: the xAPI versions served (no authentication, as the spec says).
- ``POST /caliper``: a Caliper sensor envelope (``data[]`` of events); answers 200.
- ``POST /events``: normalised activity events (``producers.sources.events``), one or an array.
- ``GET /healthz`` (the process is up), ``GET /readyz`` (Kafka reachable and the identity map
  read), ``GET /metrics`` (Prometheus).

A 2xx means Kafka has acknowledged every event of the request (on the activity topic, or on
the quarantine topic when the identity map does not know the person yet). Statement ids are
event ids, so a sender that retries after a timeout duplicates nothing. 4xx answers carry
``{"errors": [{"index": i, "reason": "..."}]}``; bad statements also go to the dead-letter
topic; the good items of such a request are published all the same (``producers.http.batch``).
503 (with ``Retry-After``) means Kafka did not acknowledge in time: send again.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from leap.dead_letter import dead_letter_record
from leap.health import READY
from leap.kafka import AsyncPublisher, DeliveryError
from leap.log import get_logger
from leap.settings import Settings, get_settings
from producers.http import batch
from producers.http.clients import Client, authenticate, load_clients
from producers.identities import IdentityMap, Unknown
from producers.identity_map import follow_identities
from producers.outcome import Outcome
from producers.sources import caliper, events, xapi
from schemas.codec import Codec, default_codec

log = get_logger("leap.ingest")
XAPI_VERSION = "1.0.3"
REQUESTS = Counter("leap_ingest_requests_total", "Ingest HTTP requests by endpoint and status", ["endpoint", "status"])
ITEMS = Counter("leap_ingest_items_total", "Statements and events received, by endpoint and what became of them", ["endpoint", "outcome"])
LATENCY = Histogram("leap_ingest_request_seconds", "Ingest request time, Kafka acknowledgement included", ["endpoint"])
LAST_EVENT = Gauge("leap_ingest_last_event_timestamp_seconds", "When the latest event of each source was accepted over HTTP", ["source"])
for _endpoint in ("xapi", "caliper", "events"):
    for _outcome in ("published", "quarantined", "skipped", "rejected"):
        ITEMS.labels(_endpoint, _outcome)  # present from start-up, so dashboards show 0, not "no data"


class Ingest:
    """What the routes share: clients, the publisher, the identity map and the codec."""

    def __init__(self, settings: Settings) -> None:
        if settings.ingest_clients_file is None:
            raise ValueError("no ingest clients: set LEAP_INGEST_CLIENTS_FILE (see producers/http/clients.py; leap ingest token NAME makes a token)")
        self.settings = settings
        self.clients = load_clients(settings.ingest_clients_file)
        self.codec: Codec = default_codec()
        self.identities = IdentityMap()
        self.identities_ready, self._stop = threading.Event(), threading.Event()
        self.publisher: AsyncPublisher | None = None

    def start(self) -> None:
        """Connect to Kafka and start following the identity map."""
        self.publisher = AsyncPublisher(self.settings, timeout=self.settings.kafka_command_timeout)
        threading.Thread(target=follow_identities, args=(self.settings, self.identities, self.identities_ready, self._stop, self.codec),
                         name="identity-map", daemon=True).start()  # fmt: skip

    def stop(self) -> None:
        """Deliver what is queued and stop following the map."""
        self._stop.set()
        if self.publisher is not None:
            self.publisher.close()

    def messages(self, verdict: batch.Verdict, endpoint: str, where: str) -> list[tuple[str, bytes | None, str]]:
        """The Kafka messages of a verdict: events (or their quarantine) and dead letters."""
        out, topic = [], self.settings.topic
        for event in verdict.events:
            resolved = self.identities.resolve(event)
            if isinstance(resolved, Unknown):
                held = {"identity": resolved.key, "source": endpoint, "location": where, "position": event.record["source_ref"] or "",
                        "reason": resolved.reason, "event": self.codec.encode("activity_event", event.record),
                        "quarantined_at": int(time.time() * 1000)}  # fmt: skip
                out.append((topic("identity-quarantine"), self.codec.encode("quarantined_event", held), resolved.key))
            else:
                out.append((topic("activity"), self.codec.encode("activity_event", resolved.record), resolved.record["student_id"]))
        for index, item, reason in verdict.rejected:
            raw = json.dumps(item, default=str).encode("utf-8")
            letter = dead_letter_record(source=f"ingest-{endpoint}", location=where, position=f"item {index}" if index >= 0 else "body", reason=reason, raw=raw)
            out.append((topic("dead-letter"), self.codec.encode("dead_letter", letter), f"ingest-{endpoint}"))
        return out

    @staticmethod
    def count(verdict: batch.Verdict, endpoint: str, messages: list[tuple[str, bytes | None, str]]) -> None:
        """Count what a request's messages were, once Kafka acknowledged them."""
        for topic, _, _ in messages:
            outcome = topic.rsplit(".", 1)[-1]
            ITEMS.labels(endpoint, {"activity": "published", "identity-quarantine": "quarantined", "dead-letter": "rejected"}[outcome]).inc()
        ITEMS.labels(endpoint, "skipped").inc(sum(verdict.skipped.values()))


def _error(status: int, reason: str, **headers: str) -> JSONResponse:
    return JSONResponse({"errors": [{"reason": reason}]}, status_code=status, headers=headers or None)


async def _body(request: Request, limit: int) -> bytes | JSONResponse:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return _error(413, f"body of {int(declared):,} bytes is over the limit of {limit:,}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return _error(413, f"body is over the limit of {limit:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _route(endpoint: str, decide: Callable[[Request, object, Client], batch.Verdict], respond: Callable[[batch.Verdict], Response]):  # type: ignore[no-untyped-def]
    """A handler: authenticate, read and decode the body, judge it, publish, answer."""

    async def handle(request: Request) -> Response:
        started = time.perf_counter()
        response = await _handle(request)
        REQUESTS.labels(endpoint, str(response.status_code)).inc()
        LATENCY.labels(endpoint).observe(time.perf_counter() - started)
        return response

    async def _handle(request: Request) -> Response:
        ingest: Ingest = request.app.state.ingest
        client = authenticate(request.headers.get("authorization"), ingest.clients)
        if client is None:
            return _error(401, "no valid token: send Authorization: Bearer <token> (or basic auth as name:token)", **{"WWW-Authenticate": 'Bearer realm="leap"'})
        if client.kind != endpoint:
            return _error(403, f"client {client.name!r} sends {client.kind}, not {endpoint}")
        if endpoint == "xapi" and not request.headers.get("x-experience-api-version", "").startswith(("1.0", "2.0")):
            return _error(400, "X-Experience-API-Version header missing or not 1.0.x / 2.0.x")
        body = await _body(request, ingest.settings.ingest_max_body_bytes)
        if isinstance(body, Response):
            return body
        where = f"http {client.name} {request.method} {request.url.path}"
        try:
            decoded = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            verdict = batch.Verdict(400, errors=[{"reason": f"body is not JSON: {exc}"}], rejected=[(-1, body.decode("utf-8", "replace"), f"body is not JSON: {exc}")])
        else:
            verdict = decide(request, decoded, client)
        messages = ingest.messages(verdict, endpoint, where)
        try:
            if messages and ingest.publisher is not None:
                await ingest.publisher.send_all(messages)
        except DeliveryError as exc:
            log.warning("ingest not acknowledged", client=client.name, error=str(exc))
            return _error(503, f"Kafka did not acknowledge in time ({exc}); send again: repeats are harmless", **{"Retry-After": "5"})
        ingest.count(verdict, endpoint, messages)
        if verdict.status != 200:
            log.info("ingest refused", client=client.name, status=verdict.status, errors=len(verdict.errors), accepted=len(verdict.accepted))
            taken = [verdict.ids[i] for i in verdict.accepted] if verdict.ids else verdict.accepted
            return JSONResponse({"errors": verdict.errors, "accepted": taken}, status_code=verdict.status)
        for event in verdict.events:
            LAST_EVENT.labels(event.record["source"]).set(time.time())
        return respond(verdict)

    return handle


def _xapi(request: Request, body: object, client: Client) -> batch.Verdict:
    put_id = request.query_params.get("statementId") if request.method == "PUT" else None
    if request.method == "PUT" and put_id is None:
        return batch.Verdict(400, errors=[{"reason": "PUT needs ?statementId=<uuid>"}])
    parse: Callable[[object, int], Outcome] = lambda item, i: xapi.parse_statement(item, position=f"statement {i}")  # noqa: E731
    return batch.xapi_verdict(body, client, parse, put_id=put_id, derive=xapi.derived_id)


def _xapi_response(verdict: batch.Verdict) -> Response:
    return JSONResponse(verdict.ids, headers={"X-Experience-API-Version": XAPI_VERSION})


async def _xapi_put(request: Request) -> Response:
    """A PUT is the POST of one statement answered with 204 No Content, as the spec says."""
    response = await XAPI_HANDLER(request)
    if response.status_code == 200:
        return Response(status_code=204, headers={"X-Experience-API-Version": XAPI_VERSION})
    return response


def _caliper(request: Request, body: object, client: Client) -> batch.Verdict:
    return batch.caliper_verdict(body, client, lambda item, i: caliper.parse_event(item, position=f"event {i}"), caliper.parse_envelope)


def _events(request: Request, body: object, client: Client) -> batch.Verdict:
    return batch.events_verdict(body, client, lambda item, i: events.parse_event(item, position=f"event {i}"))


def _accepted(verdict: batch.Verdict) -> Response:
    return JSONResponse({"accepted": len(verdict.events), "skipped": sum(verdict.skipped.values())})


XAPI_HANDLER = _route("xapi", _xapi, _xapi_response)


async def about(request: Request) -> Response:
    """xAPI's About resource: the versions this endpoint speaks."""
    return JSONResponse({"version": [XAPI_VERSION]}, headers={"X-Experience-API-Version": XAPI_VERSION})


async def healthz(request: Request) -> Response:
    """Liveness: the process answers."""
    return JSONResponse({"status": "ok"})


async def unready(ingest: Ingest) -> str | None:
    """Why the server cannot take activity now (None: it can): the identity map not read yet
    (events would wait in quarantine needlessly), or Kafka not answering."""
    import asyncio

    from leap.health import kafka_ready

    if not ingest.identities_ready.is_set():
        return "reading the identity map"
    try:
        await asyncio.to_thread(kafka_ready, ingest.settings, 2.0)
    except Exception as exc:  # any failure to answer is "not ready"; say which
        return f"Kafka: {exc}"
    return None


async def readyz(request: Request) -> Response:
    """Readiness (see ``unready``); ``leap_ready`` follows it."""
    ingest: Ingest = request.app.state.ingest
    problem = await unready(ingest)
    READY.set(0 if problem else 1)
    if problem is not None:
        return JSONResponse({"status": "unready", "reason": problem}, status_code=503)
    return JSONResponse({"status": "ready", "identities": len(ingest.identities)})


async def metrics(request: Request) -> Response:
    """Prometheus metrics, ``leap_ready`` checked afresh for the scrape."""
    READY.set(0 if await unready(request.app.state.ingest) else 1)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def create_app(settings: Settings | None = None) -> Starlette:
    """The ingest application; ``ValueError`` (one line) for a missing or bad clients file."""
    ingest = Ingest(settings or get_settings())

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        ingest.start()
        log.info("ingest serving", clients=len(ingest.clients))
        try:
            yield
        finally:
            ingest.stop()

    app = Starlette(
        routes=[
            Route("/xapi/statements", XAPI_HANDLER, methods=["POST"]),
            Route("/xapi/statements", _xapi_put, methods=["PUT"]),
            Route("/xapi/about", about, methods=["GET"]),
            Route("/caliper", _route("caliper", _caliper, _accepted), methods=["POST"]),
            Route("/events", _route("events", _events, _accepted), methods=["POST"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
        ],
        lifespan=lifespan,
    )
    app.state.ingest = ingest
    return app
