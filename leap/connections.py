"""How LEAP reaches Redis and PostgreSQL: the settings' URL plus the password, user and TLS
settings kept out of it (so a secret can come from a file and never sits in a URL that gets
logged). Kafka's equivalent is ``leap.kafka.client_config``."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import redis
from psycopg.conninfo import make_conninfo

from leap.settings import Settings


def redis_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments that complete ``redis.Redis.from_url(settings.redis_url)``."""
    options: dict[str, Any] = {}
    if settings.redis_password:
        options["password"] = settings.redis_password.get_secret_value()
    if settings.redis_username:
        options["username"] = settings.redis_username
    if urlsplit(settings.redis_url).scheme == "rediss":
        # TLS: the server's certificate and name are always checked.
        options["ssl_cert_reqs"] = "required"
        if settings.redis_ca_file:
            options["ssl_ca_certs"] = str(settings.redis_ca_file)
    return options


def redis_client(settings: Settings, **options: Any) -> redis.Redis:
    """A Redis client (connecting lazily) for the settings' Redis."""
    return redis.Redis.from_url(settings.redis_url, **{**redis_options(settings), **options})


def database_conninfo(settings: Settings) -> str:
    """libpq connection string: the settings' database URL with their password, sslmode and CA file."""
    extra: dict[str, Any] = {}
    if settings.database_password:
        extra["password"] = settings.database_password.get_secret_value()
    if settings.database_sslmode:
        extra["sslmode"] = settings.database_sslmode
    if settings.database_ca_file:
        extra["sslrootcert"] = str(settings.database_ca_file)
    return make_conninfo(settings.database_url, **extra)
