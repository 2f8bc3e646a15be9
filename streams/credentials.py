"""The stream worker's Kafka credentials: faust (aiokafka) given the same TLS and SASL settings
as LEAP's librdkafka clients (``leap.kafka.security_config``)."""

from __future__ import annotations

import time
from typing import Any

import httpx
from aiokafka.abc import AbstractTokenProvider
from faust.auth import OAuthCredentials, SASLCredentials, SSLCredentials
from faust.types.auth import CredentialsT

from leap.kafka import ssl_context
from leap.settings import Settings


class ClientCredentialsToken(AbstractTokenProvider):
    """An OAuth 2.0 access token for OAUTHBEARER, from the client credentials grant, reused
    until shortly before it expires (aiokafka asks at every connection)."""

    def __init__(self, token_url: str, client_id: str, client_secret: str, scope: str = "", verify: Any = True) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.scope = scope
        self.verify = verify
        self._token = ""
        self._renew_at = 0.0

    async def token(self) -> str:
        """The current token, fetched again once 80% of its lifetime has passed."""
        if self._token and time.monotonic() < self._renew_at:
            return self._token
        form = {"grant_type": "client_credentials"} | ({"scope": self.scope} if self.scope else {})
        async with httpx.AsyncClient(timeout=10.0, verify=self.verify) as client:
            response = await client.post(self.token_url, data=form, auth=(self.client_id, self.client_secret))
        if response.status_code != 200:
            raise RuntimeError(f"the token endpoint {self.token_url} refused the client credentials: HTTP {response.status_code}")
        body = response.json()
        self._token = body["access_token"]
        self._renew_at = time.monotonic() + 0.8 * float(body.get("expires_in", 300))
        return self._token


def faust_credentials(settings: Settings) -> CredentialsT | None:
    """faust's ``broker_credentials`` for the settings' cluster (None: PLAINTEXT)."""
    protocol = settings.kafka_security_protocol
    context = ssl_context(settings)
    if protocol == "PLAINTEXT":
        return None
    if protocol == "SSL":
        return SSLCredentials(context)
    secret = settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else ""
    if settings.kafka_sasl_mechanism == "OAUTHBEARER":
        provider = ClientCredentialsToken(settings.kafka_oauth_token_url, settings.kafka_sasl_username, secret, settings.kafka_oauth_scope)
        return OAuthCredentials(oauth_cb=provider, ssl_context=context)
    # With a context faust says SASL_SSL; without one, SASL_PLAINTEXT.
    return SASLCredentials(username=settings.kafka_sasl_username, password=secret, ssl_context=context, mechanism=settings.kafka_sasl_mechanism)
