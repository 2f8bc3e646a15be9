"""LEAP over encrypted, authenticated connections, as a university's services run them.

Kafka: the local broker has a second listener, SASL_SSL with SCRAM users and a certificate from
deploy/local/tls.sh. A test adds its own SCRAM user with the Admin API and runs the real
processes with LEAP_KAFKA_* pointing only at that listener; the password reaches them through
LEAP_KAFKA_SASL_PASSWORD_FILE, as a Kubernetes or Docker secret would. The consumer logs in to
PostgreSQL as a member of its own role (leap_consumer). OAUTHBEARER's token comes from a real
identity provider. Redis: a real redis-server with AUTH on a TLS-only port. PostgreSQL: the
local server's TLS, verified against the local CA.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import uuid
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

import pytest
from psycopg import sql
from confluent_kafka.admin import AdminClient, ScramCredentialInfo, ScramMechanism, UserScramCredentialDeletion, UserScramCredentialUpsertion

from consumers.db import connect
from leap.kafka import client_config
from leap.policy import load_policy
from leap.settings import Settings, endpoints
from producers.exports import read_events
from producers.roster import load_roster_file
from producers.simulate import simulate
from streams.replay import replay
from tests.integration.conftest import ROOT, run_leap
from tests.integration.engine_helpers import wait_until
from tests.integration.test_engine_stream import converge
from tests.integration.workers import Deployment, free_port


def sasl_ssl_bootstrap(settings: Settings) -> str:
    host, port = endpoints(settings)["kafka"]
    return f"{host}:{port + 2}"  # deploy/local/services.sh: the SASL_SSL listener


@pytest.fixture(scope="module")
def university(tmp_path_factory):
    settings = Settings()
    folder = tmp_path_factory.mktemp("university")
    now = datetime.now(settings.tz)
    simulate(folder, students=80, days=10, seed=31, end=now, tz=settings.tz)
    policy = load_policy(settings.policy_file).engagement
    expected, _ = replay(read_events([folder / "events.jsonl"]), load_roster_file(folder / "roster.csv"), now.date(), policy, settings.tz)
    return {"folder": folder, "expected": {r.student_id: r for r in expected}, "policy": policy}


@pytest.fixture
def scram_user(tmp_path):
    """A SCRAM-SHA-512 user of the local cluster: its name, password and the file holding it."""
    admin = AdminClient(client_config(Settings()))
    user, password = f"leap-it-{uuid.uuid4().hex[:8]}", secrets.token_urlsafe(24)
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192)
    for future in admin.alter_user_scram_credentials([UserScramCredentialUpsertion(user, info, password.encode())]).values():
        future.result()
    secret = tmp_path / "kafka-password"
    secret.write_text(password + "\n")
    yield user, password, secret
    for future in admin.alter_user_scram_credentials([UserScramCredentialDeletion(user, ScramMechanism.SCRAM_SHA_512)]).values():
        future.result()


@pytest.fixture
def deployment(tmp_path, scram_user):
    deployment = Deployment(tmp_path)
    deployment.with_database()
    user, _, secret = scram_user
    # The consumer logs in to PostgreSQL as a member of its own role, its password in a file.
    login, password = f"leap_consumer_{uuid.uuid4().hex[:6]}", secrets.token_urlsafe(16)
    with connect(deployment.settings, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE leap_consumer").format(sql.Identifier(login), sql.Literal(password)))
    (tmp_path / "pg-password").write_text(password + "\n")
    url = urlsplit(deployment.settings.database_url)
    deployment.env.update({
        "LEAP_DATABASE_URL": urlunsplit((url.scheme, f"{login}@{url.hostname}:{url.port}", url.path, "", "")),
        "LEAP_DATABASE_PASSWORD_FILE": str(tmp_path / "pg-password"),
        "LEAP_KAFKA_BOOTSTRAP": sasl_ssl_bootstrap(deployment.settings),
        "LEAP_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "LEAP_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "LEAP_KAFKA_SASL_USERNAME": user,
        "LEAP_KAFKA_SASL_PASSWORD_FILE": str(secret),
        "LEAP_KAFKA_SSL_CA_FILE": str(deployment.settings.state_dir / "tls" / "ca.pem"),
    })  # fmt: skip
    yield deployment
    deployment.close()
    with connect(Settings(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(login)))


def test_the_pipeline_runs_over_sasl_ssl_with_the_password_from_a_file_and_never_logs_it(deployment, university, scram_user):
    _, password, _ = scram_user
    folder = university["folder"]
    assert "kafka: ok" in run_leap(deployment.env, "check", "kafka").stdout
    run_leap(deployment.env, "roster", "load", str(folder / "roster.csv"))
    deployment.start_worker()
    deployment.start_consumer()
    run_leap(deployment.env, "produce", "events", str(folder / "events.jsonl"))
    converge(deployment, university, seconds=300)

    # The consumer read the band changes over the same listener and stored them.
    def stored() -> int:
        with connect(deployment.settings) as conn:
            return conn.execute("SELECT count(*) AS n FROM band_changes").fetchone()["n"]

    assert wait_until(stored, 120, f"band changes stored\n{deployment.logs()}") > 0
    assert all(p.poll() is None for p in deployment.workers + deployment.consumers), deployment.logs()
    assert password not in deployment.logs()
    # ...logged in as its own role's member, not as the administrator the tests use.
    login = urlsplit(deployment.env["LEAP_DATABASE_URL"]).username
    with connect(deployment.settings) as conn:
        sessions = conn.execute("SELECT count(*) AS n FROM pg_stat_activity WHERE usename = %s", (login,)).fetchone()["n"]
    assert sessions >= 1


def test_a_wrong_password_or_no_tls_is_refused_with_one_clear_line(deployment, tmp_path):
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-password")
    refused = run_leap({**deployment.env, "LEAP_KAFKA_SASL_PASSWORD_FILE": str(wrong)}, "check", "kafka", check=False)
    assert refused.returncode == 1
    assert "kafka: not reachable" in refused.stderr and "uthentication" in refused.stderr, refused.stderr
    assert "not-the-password" not in refused.stdout + refused.stderr

    plain = run_leap({**deployment.env, "LEAP_KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"}, "check", "kafka", check=False)
    assert plain.returncode == 1 and "kafka: not reachable" in plain.stderr and "connection closed by peer" in plain.stderr, plain.stderr

    missing = run_leap({**deployment.env, "LEAP_KAFKA_SASL_PASSWORD_FILE": str(tmp_path / "absent")}, "check", "kafka", check=False)
    assert missing.returncode != 0
    assert "LEAP_KAFKA_SASL_PASSWORD_FILE: cannot read" in missing.stderr, missing.stderr


def test_the_oauthbearer_token_comes_from_a_real_identity_provider_and_is_reused_until_near_expiry():
    import asyncio

    from streams.credentials import ClientCredentialsToken
    from tests.support.oidc import OidcProvider

    machine = {"client_id": "leap-engine", "client_secret": secrets.token_urlsafe(16), "grant_types": ["client_credentials"]}
    nobody = {"username": "nobody", "password": secrets.token_urlsafe(8), "name": "Nobody", "email": "nobody@uni.example"}
    with OidcProvider([nobody], [machine]) as op:
        token_url = op.discovery()["token_endpoint"]
        provider = ClientCredentialsToken(token_url, "leap-engine", machine["client_secret"])

        async def twice() -> tuple[str, str]:
            return await provider.token(), await provider.token()

        first, again = asyncio.run(twice())
        assert first and first == again  # one request, not one per broker connection
        provider._renew_at = 0.0  # as if 80% of its lifetime had passed
        assert asyncio.run(provider.token()) != first

        wrong = ClientCredentialsToken(token_url, "leap-engine", "not-the-secret")
        with pytest.raises(RuntimeError, match="refused the client credentials: HTTP 401"):
            asyncio.run(wrong.token())


@pytest.fixture
def tls_redis(tmp_path):
    """A real Redis with AUTH and TLS only (no plain port), certificate from deploy/local/tls.sh."""

    tls, port, password = Settings().state_dir / "tls", free_port(), secrets.token_urlsafe(16)
    subprocess.run(
        ["redis-server", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1", "--tls-cert-file", str(tls / "server.pem"),
         "--tls-key-file", str(tls / "server.key"), "--tls-ca-cert-file", str(tls / "ca.pem"), "--tls-auth-clients", "no",
         "--requirepass", password, "--dir", str(tmp_path), "--daemonize", "yes", "--pidfile", str(tmp_path / "redis.pid"),
         "--logfile", str(tmp_path / "redis.log")],
        check=True,
    )  # fmt: skip
    env = {"LEAP_REDIS_URL": f"rediss://127.0.0.1:{port}/0", "LEAP_REDIS_CA_FILE": str(tls / "ca.pem")}
    try:
        yield env, password
    finally:
        pid = int(wait_until(lambda: (tmp_path / "redis.pid").exists() and (tmp_path / "redis.pid").read_text().strip(), 10, "redis pid file"))
        os.kill(pid, signal.SIGTERM)


def test_redis_with_auth_and_tls_takes_live_state_and_alerts_and_refuses_a_wrong_password(tls_redis, tmp_path):
    import redis

    from consumers.live import Live

    env, password = tls_redis
    (tmp_path / "redis-password").write_text(password)
    base = dict(os.environ)
    settings = Settings(topic_prefix=f"leap-it-{uuid.uuid4().hex[:8]}", redis_url=env["LEAP_REDIS_URL"], redis_ca_file=env["LEAP_REDIS_CA_FILE"], redis_password=password)
    live = Live.connect(settings)
    wait_until(lambda: _pings(live), 10, "the TLS Redis to answer")
    alert = {"alert_id": str(uuid.uuid4()), "student_id": "s1", "kind": "drop", "recipient": "tutor-a", "day": "2026-12-05", "reason": "band fell", "band": "low"}
    assert live.publish_alert(alert) and not live.publish_alert(alert)
    assert live.client.connection_pool.connection_class.__name__ == "SSLConnection"

    checked = run_leap({**base, **env, "LEAP_REDIS_PASSWORD_FILE": str(tmp_path / "redis-password")}, "check", "redis")
    assert "redis: ok" in checked.stdout
    wrong = run_leap({**base, **env, "LEAP_REDIS_PASSWORD": "not-it"}, "check", "redis", check=False)
    assert wrong.returncode == 1 and "invalid username-password pair" in wrong.stderr, wrong.stderr
    untrusted = run_leap({**base, "LEAP_REDIS_URL": env["LEAP_REDIS_URL"], "LEAP_REDIS_PASSWORD": password}, "check", "redis", check=False)
    assert untrusted.returncode == 1 and "CERTIFICATE_VERIFY_FAILED" in untrusted.stderr, untrusted.stderr
    with pytest.raises(redis.ConnectionError):  # no plain text on a TLS port
        redis.Redis.from_url(env["LEAP_REDIS_URL"].replace("rediss://", "redis://"), password=password, socket_timeout=3).ping()


def _pings(live) -> bool:
    try:
        return bool(live.client.ping())
    except Exception:  # still starting
        return False


def test_postgresql_over_verified_tls_with_the_password_from_a_file(tmp_path):
    base = Settings()
    url = urlsplit(base.database_url)
    (tmp_path / "pg-password").write_text((url.password or "") + "\n")
    env = {
        **os.environ,
        "LEAP_DATABASE_URL": urlunsplit((url.scheme, f"{url.username}@{url.hostname}:{url.port}", url.path, "", "")),
        "LEAP_DATABASE_PASSWORD_FILE": str(tmp_path / "pg-password"),
        "LEAP_DATABASE_SSLMODE": "verify-full",
        "LEAP_DATABASE_CA_FILE": str(base.state_dir / "tls" / "ca.pem"),
    }
    assert "postgres: ok" in run_leap(env, "check", "postgres").stdout
    settings = Settings(database_url=env["LEAP_DATABASE_URL"], database_password=url.password, database_sslmode="verify-full", database_ca_file=env["LEAP_DATABASE_CA_FILE"])
    with connect(settings) as conn:
        assert conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()["ssl"] is True
    # The migrations (yoyo) take the same connection settings.
    assert "0009.roles" in run_leap(env, "db", "status").stdout
    # A server whose certificate the given CA did not sign is refused, not trusted silently.
    other = tmp_path / "other-ca"
    subprocess.run([str(ROOT / "deploy" / "local" / "tls.sh"), str(other)], check=True)
    refused = run_leap({**env, "LEAP_DATABASE_CA_FILE": str(other / "ca.pem")}, "check", "postgres", check=False)
    assert refused.returncode == 1 and "certificate verify failed" in refused.stderr, refused.stderr
