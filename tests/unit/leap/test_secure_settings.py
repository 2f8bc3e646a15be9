"""TLS, SASL and secrets: from LEAP_* settings to what each client library is given."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

import pytest
from faust.auth import OAuthCredentials, SASLCredentials, SSLCredentials
from faust.types.auth import AuthProtocol
from pydantic import ValidationError

from leap.connections import database_conninfo, redis_options
from leap.kafka import client_config, security_config, ssl_context
from leap.settings import SECRETS, Settings, settings_problem
from streams.credentials import ClientCredentialsToken, faust_credentials

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def ca(tmp_path_factory) -> Path:
    """A real CA and server certificate from the project's own script."""
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run([str(ROOT / "deploy" / "local" / "tls.sh"), str(folder)], check=True)
    return folder


def sasl(ca: Path, **extra) -> Settings:
    return Settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_username="leap-engine",
        kafka_sasl_password="s3cret",
        kafka_ssl_ca_file=ca / "ca.pem",
        **extra,
    )


def test_plaintext_adds_nothing_to_any_client():
    settings = Settings(kafka_security_protocol="PLAINTEXT")
    assert security_config(settings) == {}
    assert ssl_context(settings) is None
    assert faust_credentials(settings) is None


def test_sasl_ssl_scram_reaches_librdkafka_and_faust_alike(ca):
    settings = sasl(ca)
    config = client_config(settings, **{"group.id": "g"})
    assert config["security.protocol"] == "SASL_SSL"
    assert config["sasl.mechanisms"] == "SCRAM-SHA-512"
    assert (config["sasl.username"], config["sasl.password"]) == ("leap-engine", "s3cret")
    assert config["ssl.ca.location"] == str(ca / "ca.pem")
    assert config["group.id"] == "g"
    credentials = faust_credentials(settings)
    assert isinstance(credentials, SASLCredentials)
    assert credentials.protocol is AuthProtocol.SASL_SSL
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert (credentials.username, credentials.password) == ("leap-engine", "s3cret")
    context = credentials.ssl_context
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    # The context trusts the given CA: it holds exactly that certificate.
    assert [c["subject"] for c in context.get_ca_certs()] == [((("commonName", "LEAP local CA"),),)]


def test_sasl_without_tls_is_sasl_plaintext_for_faust_too(ca):
    settings = Settings(kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_mechanism="PLAIN", kafka_sasl_username="u", kafka_sasl_password="p")
    assert "ssl.ca.location" not in security_config(settings)
    credentials = faust_credentials(settings)
    assert credentials.protocol is AuthProtocol.SASL_PLAINTEXT and credentials.mechanism.value == "PLAIN"


def test_mutual_tls_gives_both_clients_the_certificate(ca):
    settings = Settings(kafka_security_protocol="SSL", kafka_ssl_ca_file=ca / "ca.pem", kafka_ssl_cert_file=ca / "server.pem", kafka_ssl_key_file=ca / "server.key")
    config = security_config(settings)
    assert config == {
        "security.protocol": "SSL",
        "ssl.ca.location": str(ca / "ca.pem"),
        "ssl.certificate.location": str(ca / "server.pem"),
        "ssl.key.location": str(ca / "server.key"),
    }
    assert isinstance(faust_credentials(settings), SSLCredentials)


def test_oauthbearer_uses_the_token_endpoint_in_both_clients(ca):
    settings = sasl(ca, kafka_sasl_mechanism="OAUTHBEARER", kafka_oauth_token_url="https://idp.example.ac.uk/token", kafka_oauth_scope="kafka")
    config = security_config(settings)
    assert config["sasl.oauthbearer.method"] == "oidc"
    assert config["sasl.oauthbearer.token.endpoint.url"] == "https://idp.example.ac.uk/token"
    assert (config["sasl.oauthbearer.client.id"], config["sasl.oauthbearer.client.secret"], config["sasl.oauthbearer.scope"]) == ("leap-engine", "s3cret", "kafka")
    assert "sasl.password" not in config
    credentials = faust_credentials(settings)
    assert isinstance(credentials, OAuthCredentials)
    provider = credentials.oauth_cb
    assert isinstance(provider, ClientCredentialsToken)
    assert (provider.token_url, provider.client_id, provider.client_secret, provider.scope) == ("https://idp.example.ac.uk/token", "leap-engine", "s3cret", "kafka")


@pytest.mark.parametrize(
    ("settings", "names"),
    [
        ({"kafka_security_protocol": "SASL_SSL"}, "LEAP_KAFKA_SASL_USERNAME and LEAP_KAFKA_SASL_PASSWORD"),
        ({"kafka_security_protocol": "SASL_SSL", "kafka_sasl_username": "u"}, "LEAP_KAFKA_SASL_USERNAME and LEAP_KAFKA_SASL_PASSWORD"),
        ({"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "OAUTHBEARER", "kafka_sasl_username": "u", "kafka_sasl_password": "p"}, "LEAP_KAFKA_OAUTH_TOKEN_URL"),
    ],
)
def test_incomplete_credentials_are_one_clear_line_naming_the_variables(settings, names):
    with pytest.raises(ValidationError) as caught:
        Settings(**settings)
    problem = settings_problem(caught.value)
    assert names in problem and "\n" not in problem


def test_a_missing_ca_file_is_named():
    with pytest.raises(ValidationError) as caught:
        Settings(kafka_ssl_ca_file="/nonexistent/ca.pem")
    assert settings_problem(caught.value).startswith("LEAP_KAFKA_SSL_CA_FILE:")


@pytest.mark.parametrize("name", SECRETS)
def test_every_secret_can_come_from_a_file_and_the_variable_itself_wins(name, tmp_path, monkeypatch):
    secret = tmp_path / name
    secret.write_text("from-the-file\n")  # editors and `echo` add a newline; it is not part of the secret
    monkeypatch.delenv(f"LEAP_{name.upper()}", raising=False)
    monkeypatch.setenv(f"LEAP_{name.upper()}_FILE", str(secret))
    value = getattr(Settings(), name)
    assert (value.get_secret_value() if hasattr(value, "get_secret_value") else value) == "from-the-file"
    monkeypatch.setenv(f"LEAP_{name.upper()}", "from-the-variable")
    value = getattr(Settings(), name)
    assert (value.get_secret_value() if hasattr(value, "get_secret_value") else value) == "from-the-variable"


def test_an_unreadable_secret_file_is_one_line_naming_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("LEAP_DATABASE_PASSWORD", raising=False)
    monkeypatch.setenv("LEAP_DATABASE_PASSWORD_FILE", str(tmp_path / "absent"))
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert settings_problem(caught.value) == f"LEAP_DATABASE_PASSWORD_FILE: cannot read {tmp_path / 'absent'}: No such file or directory"


def test_secrets_never_show_in_the_settings_repr(ca):
    settings = sasl(ca, redis_password="redis-pw", database_password="pg-pw")
    text = repr(settings) + str(settings)
    assert "s3cret" not in text and "redis-pw" not in text and "pg-pw" not in text


def test_redis_gets_the_password_and_verifies_tls_only_for_rediss(ca):
    plain = redis_options(Settings(redis_url="redis://cache:6379/0", redis_password="pw", redis_username="leap"))
    assert plain == {"password": "pw", "username": "leap"}
    tls = redis_options(Settings(redis_url="rediss://cache:6380/0", redis_ca_file=ca / "ca.pem"))
    assert tls == {"ssl_cert_reqs": "required", "ssl_ca_certs": str(ca / "ca.pem")}


def test_postgresql_gets_the_password_sslmode_and_ca_over_the_url(ca):
    from psycopg.conninfo import conninfo_to_dict

    settings = Settings(database_url="postgresql://leap:in-url@db:5432/leap", database_password="pw", database_sslmode="verify-full", database_ca_file=ca / "ca.pem")
    params = conninfo_to_dict(database_conninfo(settings))
    assert params == {"user": "leap", "password": "pw", "host": "db", "port": "5432", "dbname": "leap", "sslmode": "verify-full", "sslrootcert": str(ca / "ca.pem")}
