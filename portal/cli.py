"""``leap portal serve``: the portal under uvicorn."""

from __future__ import annotations

from typing import Annotated, Optional
from urllib.parse import urlsplit

import typer

from leap.console import fail

portal_app = typer.Typer(help="The web portal for students and staff.", no_args_is_help=True)


@portal_app.command("serve")
def serve(
    host: Annotated[Optional[str], typer.Option(help="Address to listen on (default: LEAP_PORTAL_URL's host).")] = None,
    port: Annotated[Optional[int], typer.Option(help="Port to listen on (default: LEAP_PORTAL_URL's port).")] = None,
    workers: Annotated[int, typer.Option(help="Processes (each keeps its own database pool).")] = 1,
) -> None:
    """Serve the portal at LEAP_PORTAL_URL (sign-in: LEAP_OIDC_*; LEAP_PORTAL_DEV_SIGNIN on loopback for trying it)."""
    import uvicorn

    from leap.settings import get_settings
    from portal.app import create_app

    settings = get_settings()
    url = urlsplit(settings.portal_url)
    if not settings.oidc_issuer and not settings.portal_dev_signin:
        fail("no way to sign in: set LEAP_OIDC_ISSUER (with LEAP_OIDC_CLIENT_ID and LEAP_OIDC_CLIENT_SECRET), or LEAP_PORTAL_DEV_SIGNIN=1 on this machine", 2)
    try:
        create_app(settings)  # refuse a bad configuration with one line, before uvicorn starts
    except ValueError as exc:
        fail(str(exc), 2)
    uvicorn.run(
        "portal.app:create_app",
        factory=True,
        host=host or url.hostname or "127.0.0.1",
        port=port or url.port or (443 if url.scheme == "https" else 80),
        workers=workers,
        proxy_headers=True,
        log_level=settings.log_level,
        access_log=False,
    )
