"""Integration tests run against the real Kafka, Redis and PostgreSQL that `make up` starts.

Each test session uses its own topic prefix, so tests never see `make run`'s data or each
other's, and removes its topics afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from leap.kafka import client_config
from leap.settings import Settings
from leap.topics import TOPICS, create_topics

ROOT = Path(__file__).resolve().parents[2]
LEAP = str(Path(sys.executable).with_name("leap"))


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def prefix() -> str:
    return f"leap-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def settings(prefix: str) -> Settings:
    settings = Settings(topic_prefix=prefix)
    create_topics(settings)
    yield settings
    admin = AdminClient(client_config(settings))
    for future in admin.delete_topics([settings.topic(t.name) for t in TOPICS]).values():
        future.result()


@pytest.fixture(scope="session")
def leap_env(prefix: str, settings: Settings) -> dict[str, str]:
    """Environment for running the real `leap` command against this session's topics."""
    return {**os.environ, "LEAP_TOPIC_PREFIX": prefix, "LEAP_LOG_FORMAT": "json"}


def run_leap(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the installed `leap` command; on failure show its output."""
    result = subprocess.run([LEAP, *args], env=env, capture_output=True, text=True, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"leap {' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result
