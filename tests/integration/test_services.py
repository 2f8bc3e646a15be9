"""`make up` / `make down` on their own ports and state folder, beside the suite's services."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid

import pytest
import redis

from tests.integration.conftest import LEAP, ROOT


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_for(predicate, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def make(target: str, env: dict[str, str]) -> str:
    result = subprocess.run(["make", "-s", target], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"make {target} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


@pytest.fixture
def spare_env():
    state = ROOT / ".state" / f"test-services-{uuid.uuid4().hex[:6]}"
    env = {
        **os.environ,
        "LEAP_KAFKA_BOOTSTRAP": "127.0.0.1:19092",
        "LEAP_REDIS_URL": "redis://127.0.0.1:16379/0",
        "LEAP_DATABASE_URL": "postgresql://leap:leap@127.0.0.1:15432/leap",
        "LEAP_STATE_DIR": str(state),
    }
    for port in (19092, 19093, 16379, 15432):
        assert not port_open(port), f"port {port} is already in use; this test needs it free"
    yield env
    subprocess.run(["make", "-s", "down"], cwd=ROOT, env=env, capture_output=True, timeout=300)
    shutil.rmtree(state, ignore_errors=True)


def test_up_twice_is_harmless_and_down_stops_only_what_up_started(spare_env, tmp_path):
    # A Redis someone else runs on the configured port: `make up` must use it and leave it alone.
    foreign = subprocess.Popen(
        ["redis-server", "--port", "16379", "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: port_open(16379), 30, "the foreign Redis")

        first = make("up", spare_env)
        assert "starting Kafka" in first and "Kafka is ready" in first
        assert "Redis already reachable at 127.0.0.1:16379" in first
        assert "starting PostgreSQL" in first and "PostgreSQL is ready" in first
        run = os.path.join(spare_env["LEAP_STATE_DIR"], "run")
        pids = {name: open(os.path.join(run, f"{name}.pid")).read() for name in ("kafka", "postgres")}
        assert not os.path.exists(os.path.join(run, "redis.pid"))

        second = make("up", spare_env)
        assert "starting" not in second
        assert "Kafka already running (started here)" in second
        assert pids == {name: open(os.path.join(run, f"{name}.pid")).read() for name in pids}

        check = subprocess.run([LEAP, "check"], env=spare_env, capture_output=True, text=True, timeout=120)
        assert check.returncode == 0, check.stderr
        assert "kafka: ok" in check.stdout and "postgres: ok" in check.stdout and "redis: ok" in check.stdout

        make("down", spare_env)
        assert not port_open(19092) and not port_open(15432)
        assert redis.Redis(port=16379).ping()  # still the foreign one's
        assert foreign.poll() is None
        assert not os.listdir(run)
    finally:
        foreign.terminate()
        foreign.wait(30)


def test_check_names_a_service_that_does_not_answer():
    env = {**os.environ, "LEAP_REDIS_URL": "redis://127.0.0.1:1/0"}
    result = subprocess.run([LEAP, "check", "redis"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "redis: not reachable" in result.stderr
