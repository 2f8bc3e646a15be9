"""``leap ingest``: serve xAPI, Caliper and normalised events over HTTP; make client tokens."""

from __future__ import annotations

from typing import Annotated, Optional
from urllib.parse import urlsplit

import typer

from leap.console import fail, out

ingest_app = typer.Typer(help="Receive activity over HTTP: xAPI statements (Moodle's logstore_xapi, Jisc recipes), Caliper events, normalised events.",
                         no_args_is_help=True)  # fmt: skip


@ingest_app.command("serve")
def serve(
    host: Annotated[Optional[str], typer.Option(help="Address to listen on (default: LEAP_INGEST_URL's host).")] = None,
    port: Annotated[Optional[int], typer.Option(help="Port to listen on (default: LEAP_INGEST_URL's port).")] = None,
) -> None:
    """Serve /xapi/statements, /caliper and /events for the clients in LEAP_INGEST_CLIENTS_FILE (metrics and /healthz too).

    A 2xx answer means Kafka acknowledged every event of the request; statement ids are event
    ids, so a sender's retries duplicate nothing.
    """
    import uvicorn

    from leap.settings import get_settings
    from producers.http.app import create_app

    settings = get_settings()
    try:
        create_app(settings)  # refuse a bad configuration with one line, before uvicorn starts
    except ValueError as exc:
        fail(str(exc), 2)
    url = urlsplit(settings.ingest_url)
    uvicorn.run("producers.http.app:create_app", factory=True, host=host or url.hostname or "127.0.0.1", port=port or url.port or 8090,
                proxy_headers=True, log_level="warning")  # fmt: skip


@ingest_app.command("token")
def token(name: Annotated[str, typer.Argument(help="The client's name in the clients file.")]) -> None:
    """Make a random token for a client: give the token to the sending system, put the hash line in the clients file."""
    from producers.http.clients import new_token

    secret, line = new_token(name)
    out.print(f"token for {name} (shown once; give it to the sending system): {secret}", soft_wrap=True, markup=False)
    out.print(f"for its [[client]] table in LEAP_INGEST_CLIENTS_FILE: {line}", soft_wrap=True, markup=False)
