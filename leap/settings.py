"""Every runtime setting of LEAP, read once from ``LEAP_*`` environment variables.

An institution's *policy* (weights, bands, calendar, alert rules) is not here: it lives in
the institution config file. This module is only about where things run.
"""

from __future__ import annotations

import os
import shlex
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, FilePath, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Settings that are secrets: each may instead be read from the file named by LEAP_<NAME>_FILE
# (how Docker, Kubernetes and systemd credentials hand secrets over), and none is ever logged.
SECRETS = (
    "kafka_sasl_password",
    "redis_password",
    "database_password",
    "pseudonym_key",
    "portal_secret",
    "oidc_client_secret",
    "moodle_dsn",
)


class Settings(BaseSettings):
    """Where LEAP's services are and how it names its topics; each field is ``LEAP_<NAME>``."""

    # An empty variable counts as unset: deployment files pass `${LEAP_X:-}` through, and an
    # empty secret must not become a key.
    model_config = SettingsConfigDict(env_prefix="LEAP_", extra="ignore", env_ignore_empty=True)

    kafka_bootstrap: str = Field(
        "127.0.0.1:9092", description="Kafka bootstrap servers, comma-separated host:port."
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="How LEAP's Kafka clients connect: PLAINTEXT, SSL (TLS), SASL_PLAINTEXT or SASL_SSL (TLS with a user)."
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN", "OAUTHBEARER"] = Field(
        "SCRAM-SHA-512", description="SASL mechanism of the cluster (with SASL_*). OAUTHBEARER: a token from LEAP_KAFKA_OAUTH_TOKEN_URL."
    )
    kafka_sasl_username: str = Field(
        "", description="Kafka user (SCRAM, PLAIN), or the OAuth client id (OAUTHBEARER)."
    )
    kafka_sasl_password: SecretStr | None = Field(
        None, description="Its password, or the OAuth client secret (or LEAP_KAFKA_SASL_PASSWORD_FILE)."
    )
    kafka_oauth_token_url: str = Field(
        "", description="OAUTHBEARER: the identity provider's token endpoint (client credentials grant)."
    )
    kafka_oauth_scope: str = Field("", description="OAUTHBEARER: scope to ask for, if the provider needs one.")
    kafka_ssl_ca_file: FilePath | None = Field(
        None, description="PEM file of the CA that signed the brokers' certificates (SSL, SASL_SSL); empty: the system's CAs."
    )
    kafka_ssl_cert_file: FilePath | None = Field(
        None, description="PEM client certificate, where the cluster authenticates clients by TLS (mutual TLS)."
    )
    kafka_ssl_key_file: FilePath | None = Field(None, description="PEM private key of that client certificate.")
    kafka_command_timeout: float = Field(
        60.0, gt=0, description="Seconds a command (leap produce, roster load) or the ingest server waits for Kafka to take a message before it reports the failure (the server answers 503)."
    )
    metrics_host: str = Field(
        "127.0.0.1", description="Address the /metrics and /healthz endpoints of the consumer, the Moodle tail and folder followers listen on (0.0.0.0 for a Prometheus elsewhere)."
    )
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis for live state.")
    redis_password: SecretStr | None = Field(
        None, description="Redis AUTH password (or LEAP_REDIS_PASSWORD_FILE), instead of one in the URL; a rediss:// URL means TLS."
    )
    redis_username: str = Field("", description="Redis ACL user (Redis 6+); empty: the default user.")
    redis_ca_file: FilePath | None = Field(
        None, description="PEM file of the CA that signed Redis's certificate (rediss://); empty: the system's CAs."
    )
    database_url: str = Field(
        "postgresql://leap:leap@127.0.0.1:5432/leap",
        description="PostgreSQL, the system of record. Each component may connect as its own role (docs/operations.md).",
    )
    database_password: SecretStr | None = Field(
        None, description="PostgreSQL password (or LEAP_DATABASE_PASSWORD_FILE), instead of one in the URL."
    )
    database_sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] | None = Field(
        None, description="libpq's sslmode; verify-full checks the server's certificate and name. Empty: libpq's default (prefer)."
    )
    database_ca_file: FilePath | None = Field(
        None, description="PEM file of the CA that signed PostgreSQL's certificate (verify-ca, verify-full)."
    )
    timezone: str = Field(
        "Europe/London", description="The university's local time zone: days start at its midnight."
    )
    topic_prefix: str = Field("leap", description="Prefix of every topic name.")
    partitions: int = Field(
        8, ge=1, description="Partitions of the per-student topics (activity, roster, bands...)."
    )
    replication_factor: int = Field(1, ge=1, description="Replication of topics LEAP creates.")
    state_dir: Path = Field(
        PROJECT_ROOT / ".state", description="Data and logs of locally started services."
    )
    engine_store: Literal["rocksdb", "memory"] = Field(
        "rocksdb",
        description="Where a stream worker keeps its tables (students, partition clocks, cohorts). rocksdb: on disk in the "
        "worker's --datadir, so a restarted worker reads only the changelog written since it stopped (delete the folder "
        "to make it restore everything); memory: in the process, restored from the whole changelog at every start.",
    )
    engine_reader: Literal["direct", "faust"] = Field(
        "direct",
        description="How a stream worker reads its input topics (activity, roster, clock). direct: a librdkafka consumer "
        "of the partitions faust's group gives the worker, about a twentieth of faust's cost per message; faust: "
        "faust's own streams. Both commit through faust's consumer, with the same guarantees.",
    )
    engine_session_timeout: float = Field(
        60.0,
        ge=6.0,
        le=300.0,
        description="Seconds without a heartbeat before Kafka gives a stream worker's partitions to the others. A worker "
        "that dies (SIGKILL, lost machine) holds its partitions this long; lower catches up sooner but risks moving "
        "partitions away from a worker busy with one long batch, and below the time a Kafka broker takes to restart it "
        "moves every partition at once (the chaos run's broker restart took 16-20 s).",
    )
    engine_batch_window: float = Field(
        0.1,
        gt=0.0,
        le=5.0,
        description="Seconds a stream worker gathers events before it evaluates them as one batch, while it keeps up: "
        "shorter delivers a band change sooner. While one of its partitions is more than 1,000 messages behind (a "
        "backlog) a batch gathers for up to 1 s, or this if longer, so that 10,000 events end it.",
    )
    engine_state_cache: int = Field(
        10_000,
        ge=0,
        description="Students whose state a stream worker on the rocksdb store keeps decoded in memory after writing it "
        "(the most recently written), so their next events need no read from disk. About 10-20 KiB each (a state of 4-6 "
        "weeks); 0 keeps none. Set near the students one worker holds when memory allows; the memory store keeps all.",
    )
    policy_file: Path = Field(
        PROJECT_ROOT / "deploy" / "institution.toml",
        description="The institution's policy: weights, caps, windows, bands, alert rules.",
    )
    pseudonym_key: SecretStr | None = Field(
        None,
        description="Secret key of the keyed hash (HMAC-SHA256) naming erased students; needed by leap erase and "
        "the consumer once anyone was erased. Never change it: earlier erasures would stop matching.",
    )
    portal_url: str = Field(
        "http://127.0.0.1:8080",
        description="The portal's public address (links in alert emails; sign-in redirects). `leap portal serve` listens on its host and port.",
    )
    portal_secret: str = Field(
        "",
        description="Key that signs the portal's session cookie (32+ random characters). Empty: a random key per process (sessions end at restart).",
    )
    oidc_issuer: str = Field("", description="The university's OpenID Connect issuer URL (single sign-on). Empty: no SSO sign-in.")
    oidc_client_id: str = Field("", description="The portal's client id at the OpenID Connect provider.")
    oidc_client_secret: str = Field("", description="The portal's client secret at the OpenID Connect provider.")
    oidc_user_claim: str = Field(
        "preferred_username", description="The ID-token claim holding the university user id (student or staff id)."
    )
    portal_dev_signin: bool = Field(
        False,
        description="DEVELOPMENT ONLY: sign in as any user of the roster or staff directory without a password (`make run`). Refused unless the portal listens on loopback.",
    )
    ingest_url: str = Field(
        "http://127.0.0.1:8090", description="Where `leap ingest serve` listens for xAPI statements, Caliper events and normalised events."
    )
    ingest_clients_file: Path | None = Field(
        None, description="TOML file of the systems allowed to send activity over HTTP, their kinds, sources and token hashes (producers/http/clients.py)."
    )
    ingest_max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024, description="Largest request body `leap ingest serve` accepts (bytes).")
    moodle_dsn: SecretStr | None = Field(
        None, description="Moodle's database for `leap tail moodle` (postgresql://user:password@host/moodle); a read-only user is enough."
    )
    log_level: str = Field("info", description="debug, info, warning or error.")
    log_format: str = Field("console", description="console (for people) or json (for log shippers).")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}: use an IANA name such as Europe/London") from exc
        return value

    @model_validator(mode="before")
    @classmethod
    def _secrets_from_files(cls, values: Any) -> Any:
        # A variable set directly wins over a file, as with the official container images.
        if not isinstance(values, dict):
            return values
        for name in SECRETS:
            variable = f"LEAP_{name.upper()}_FILE"
            path = os.environ.get(variable)
            if not path or values.get(name) not in (None, ""):
                continue
            try:
                values[name] = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                raise ValueError(f"{variable}: cannot read {path}: {exc.strerror or exc}") from None
        return values

    @model_validator(mode="after")
    def _kafka_credentials_complete(self) -> Settings:
        if not self.kafka_security_protocol.startswith("SASL_"):
            return self
        if self.kafka_sasl_mechanism == "OAUTHBEARER":
            if not (self.kafka_oauth_token_url and self.kafka_sasl_username and self.kafka_sasl_password):
                raise ValueError(
                    "LEAP_KAFKA_SASL_MECHANISM=OAUTHBEARER needs LEAP_KAFKA_OAUTH_TOKEN_URL, LEAP_KAFKA_SASL_USERNAME (client id) and LEAP_KAFKA_SASL_PASSWORD (client secret)"
                )
        elif not (self.kafka_sasl_username and self.kafka_sasl_password):
            raise ValueError(f"LEAP_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs LEAP_KAFKA_SASL_USERNAME and LEAP_KAFKA_SASL_PASSWORD")
        return self

    @property
    def tz(self) -> ZoneInfo:
        """The university's time zone."""
        return ZoneInfo(self.timezone)

    def topic(self, name: str) -> str:
        """The full name of one of LEAP's topics, e.g. ``topic("activity")`` -> ``leap.activity``."""
        return f"{self.topic_prefix}.{name}"


def settings_problem(exc: ValidationError) -> str:
    """One line naming each ``LEAP_*`` variable that is wrong and why."""
    parts = []
    for error in exc.errors():
        message = error["msg"].removeprefix("Value error, ")
        if not error["loc"]:  # a check across settings names its variables itself
            parts.append(message)
            continue
        name = "LEAP_" + "_".join(str(p) for p in error["loc"]).upper()
        parts.append(f"{name}: {message}")
    return "; ".join(parts)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()


def endpoints(settings: Settings) -> dict[str, tuple[str, int]]:
    """Host and port of each service the settings point at (Kafka: its first bootstrap server)."""
    first = settings.kafka_bootstrap.split(",")[0].strip()
    kafka_host, _, kafka_port = first.rpartition(":")
    redis = urlsplit(settings.redis_url)
    pg = urlsplit(settings.database_url)
    return {
        "kafka": (kafka_host or "127.0.0.1", int(kafka_port or 9092)),
        "redis": (redis.hostname or "127.0.0.1", redis.port or 6379),
        "postgres": (pg.hostname or "127.0.0.1", pg.port or 5432),
    }


def _print_shell_endpoints() -> None:
    """Print the endpoints and database credentials as shell assignments for deploy scripts."""
    settings = get_settings()
    pg = urlsplit(settings.database_url)
    values: dict[str, object] = {}
    for name, (host, port) in endpoints(settings).items():
        values[f"{name.upper()}_HOST"] = host
        values[f"{name.upper()}_PORT"] = port
    values["PG_USER"] = pg.username or "leap"
    values["PG_PASSWORD"] = pg.password or ""
    values["PG_DATABASE"] = pg.path.lstrip("/") or "leap"
    values["STATE_DIR"] = settings.state_dir
    for key, value in values.items():
        print(f"{key}={shlex.quote(str(value))}")


if __name__ == "__main__":
    _print_shell_endpoints()
