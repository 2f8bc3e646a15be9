import pytest
from pydantic import ValidationError

from leap.settings import Settings, endpoints, settings_problem


def test_defaults_match_the_documented_local_services(monkeypatch):
    for name in ("KAFKA_BOOTSTRAP", "REDIS_URL", "DATABASE_URL", "TIMEZONE"):
        monkeypatch.delenv(f"LEAP_{name}", raising=False)
    settings = Settings()
    assert settings.kafka_bootstrap == "127.0.0.1:9092"
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.database_url.endswith("@127.0.0.1:5432/leap")
    assert settings.timezone == "Europe/London"
    assert settings.topic("activity") == "leap.activity"


def test_environment_variables_override(monkeypatch):
    monkeypatch.setenv("LEAP_KAFKA_BOOTSTRAP", "kafka-a:19092,kafka-b:19092")
    monkeypatch.setenv("LEAP_DATABASE_URL", "postgresql://u:p@db.example:6543/x")
    monkeypatch.setenv("LEAP_TOPIC_PREFIX", "essex")
    settings = Settings()
    assert endpoints(settings)["kafka"] == ("kafka-a", 19092)
    assert endpoints(settings)["postgres"] == ("db.example", 6543)
    assert settings.topic("roster") == "essex.roster"


def test_an_empty_variable_counts_as_unset_so_an_empty_secret_never_becomes_a_key(monkeypatch):
    # Deployment files pass `${LEAP_PSEUDONYM_KEY:-}` through when the operator set none.
    monkeypatch.setenv("LEAP_PSEUDONYM_KEY", "")
    monkeypatch.setenv("LEAP_TOPIC_PREFIX", "")
    settings = Settings()
    assert settings.pseudonym_key is None
    assert settings.topic("roster") == "leap.roster"


def test_an_unknown_time_zone_is_refused_with_a_clear_message(monkeypatch):
    monkeypatch.setenv("LEAP_TIMEZONE", "Europe/Colchester")
    with pytest.raises(ValidationError, match="unknown time zone 'Europe/Colchester'"):
        Settings()


def test_a_wrong_setting_is_one_line_naming_each_variable(monkeypatch):
    monkeypatch.setenv("LEAP_TIMEZONE", "Mars/Base")
    monkeypatch.setenv("LEAP_PARTITIONS", "eight")
    with pytest.raises(ValidationError) as caught:
        Settings()
    line = settings_problem(caught.value)
    assert "\n" not in line
    assert line.startswith("LEAP_") and "LEAP_TIMEZONE: unknown time zone 'Mars/Base'" in line and "LEAP_PARTITIONS: " in line


def test_the_command_line_reports_a_wrong_setting_in_one_line_without_a_traceback():
    import os
    import subprocess
    import sys

    env = {**os.environ, "LEAP_TIMEZONE": "Mars/Base"}
    done = subprocess.run([sys.executable, "-m", "leap.cli", "topics", "list"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.splitlines() == ["error: bad setting: LEAP_TIMEZONE: unknown time zone 'Mars/Base': use an IANA name such as Europe/London"]
