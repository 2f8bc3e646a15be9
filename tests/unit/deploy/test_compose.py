"""deploy/compose.yaml, deploy/Dockerfile and deploy/prometheus/prometheus.yml: valid, and true to LEAP."""

from __future__ import annotations

import json
import posixpath
import re
import shlex
import tomllib
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import pytest
import yaml
from jsonschema import Draft202012Validator

from leap.policy import load_policy
from producers.http.clients import load_clients
from tests.unit.deploy.checks import DEPLOY, LONG_RUNNING, REPO, listening_port, parse_leap, unknown_settings

SCHEMA = json.loads((Path(__file__).with_name("schemas") / "compose-spec.json").read_text())
COMPOSE_TEXT = (DEPLOY / "compose.yaml").read_text()
DOCKERFILE_TEXT = (DEPLOY / "Dockerfile").read_text()
PROMETHEUS_TEXT = (DEPLOY / "prometheus" / "prometheus.yml").read_text()


def compose() -> dict:
    return yaml.safe_load(COMPOSE_TEXT)


def interpolate(value: object) -> str:
    """A compose value as it is with nothing set in the environment: ``${X:-d}`` is ``d``."""
    return re.sub(r"\$\{[A-Za-z0-9_]+(?::?-([^}]*))?\}", lambda m: m.group(1) or "", str(value))


def env(service: dict) -> dict[str, str]:
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) for item in raw)
    return {key: interpolate(value) for key, value in raw.items()}


def leap_services(doc: dict) -> dict[str, dict]:
    return {name: s for name, s in doc["services"].items() if (s.get("command") or [None])[0] == "leap"}


def container_ports(service: dict) -> set[int]:
    """Container-side ports a service publishes or exposes."""
    ports = {int(str(p).rsplit(":", 1)[-1].split("/")[0]) for p in service.get("ports", [])}
    return ports | {int(p) for p in service.get("expose", [])}


def service_port(doc: dict, name: str) -> int | None:
    service = doc["services"][name]
    if name in leap_services(doc):
        return listening_port(service["command"], env(service))
    return next(iter(container_ports(service)), None)


# --- the Compose Specification ------------------------------------------------------------


def schema_errors(doc: dict) -> list[str]:
    errors = Draft202012Validator(SCHEMA).iter_errors(doc)
    return sorted(f"/{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def test_compose_file_follows_the_compose_specification() -> None:
    assert schema_errors(compose()) == []


def test_the_schema_rejects_a_broken_compose_file() -> None:
    broken = compose()
    broken["services"]["engine"]["ports"] = "6066"  # a string, not a list
    broken["services"]["consumer"]["helthcheck"] = {"test": ["CMD", "true"]}  # misspelled key
    errors = schema_errors(broken)
    assert any(e.startswith("/services/engine/ports") for e in errors), errors
    assert any("helthcheck" in e for e in errors), errors


# --- commands and settings ---------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(leap_services(compose())))
def test_every_service_runs_a_real_leap_command(name: str) -> None:
    parse_leap(compose()["services"][name]["command"])


def test_the_leap_services_are_the_ones_leap_needs() -> None:
    commands = {parse_leap(s["command"])[0] for s in leap_services(compose()).values()}
    assert commands == (LONG_RUNNING - {"tail moodle"}) | {"db migrate", "topics create"}


def test_every_leap_variable_is_a_setting() -> None:
    assert unknown_settings(COMPOSE_TEXT + DOCKERFILE_TEXT + PROMETHEUS_TEXT) == []
    assert unknown_settings("LEAP_KAFKA_BOOTSTRAPS: kafka:29092") == ["LEAP_KAFKA_BOOTSTRAPS"]


# --- the image ---------------------------------------------------------------------------


def image(dockerfile: str) -> tuple[dict[str, Path], dict[str, str]]:
    """What the Dockerfile copies (image path -> repository path) and its ENV."""
    copies: dict[str, Path] = {}
    environment: dict[str, str] = {}
    workdir = "/"
    for line in dockerfile.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        if not words:
            continue
        instruction, args = words[0].upper(), [w for w in words[1:] if not w.startswith("--")]
        if instruction == "WORKDIR":
            workdir = posixpath.join(workdir, args[0])
        elif instruction == "ENV":
            environment.update(arg.split("=", 1) for arg in args)
        elif instruction == "COPY":
            *sources, dest = args
            dest = posixpath.join(workdir, dest)
            for source in sources:
                into_dir = dest.endswith("/") or len(sources) > 1
                copies[posixpath.normpath(posixpath.join(dest, posixpath.basename(source)) if into_dir else dest)] = REPO / source
    return copies, environment


def in_image(copies: dict[str, Path], path: str) -> Path | None:
    """The repository file at ``path`` in the image, if the Dockerfile copies it there."""
    for target, source in copies.items():
        if path == target or path.startswith(target + "/"):
            found = source / PurePosixPath(path).relative_to(target)
            if found.exists():
                return found
    return None


def image_problems(dockerfile: str) -> list[str]:
    copies, environment = image(dockerfile)
    problems = []
    packages = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    for package in {p.rstrip("*") for p in packages}:
        if in_image(copies, f"/app/{package}/__init__.py") is None:
            problems.append(f"package {package} is not copied into /app")
    policy_path = environment.get("LEAP_POLICY_FILE", "")
    policy = in_image(copies, policy_path)
    if policy is None:
        return [*problems, f"LEAP_POLICY_FILE {policy_path!r} is not in the image"]
    for named in _files_named(tomllib.loads(policy.read_text())):
        path = posixpath.normpath(posixpath.join(posixpath.dirname(policy_path), named))
        if in_image(copies, path) is None:
            problems.append(f"the policy names {named}, but {path} is not in the image")
    return problems


def _files_named(table: dict) -> list[str]:
    """Every ``*_file`` value of a policy (they are relative to the policy file)."""
    found = []
    for key, value in table.items():
        if isinstance(value, dict):
            found += _files_named(value)
        elif key.endswith("_file") and isinstance(value, str):
            found.append(value)
    return found


def test_the_image_has_every_package_the_policy_and_its_calendar() -> None:
    assert image_problems(DOCKERFILE_TEXT) == []
    load_policy(DEPLOY / "institution.toml")  # and what it copies is a policy LEAP accepts


def test_an_image_without_the_calendar_or_portal_is_refused() -> None:
    broken = DOCKERFILE_TEXT.replace(" deploy/calendar.toml", "").replace("COPY portal portal\n", "")
    assert broken != DOCKERFILE_TEXT
    assert sorted(image_problems(broken)) == [
        "package portal is not copied into /app",
        "the policy names calendar.toml, but /app/deploy/calendar.toml is not in the image",
    ]


def test_the_worker_keeps_its_state_in_a_named_volume() -> None:
    doc = compose()
    (engine,) = [s for s in leap_services(doc).values() if parse_leap(s["command"])[0] == "worker"]
    state_dir = env(engine).get("LEAP_STATE_DIR") or image(DOCKERFILE_TEXT)[1]["LEAP_STATE_DIR"]
    mounts = dict(reversed(v.split(":")[:2]) for v in engine["volumes"])
    assert mounts.get(state_dir) in doc["volumes"], f"{state_dir} is not a named volume"


# --- Kafka ---------------------------------------------------------------------------------


def kafka_problems(doc: dict) -> list[str]:
    """Each bootstrap address a LEAP container uses must be a listener advertised as a service name."""
    advertised: dict[tuple[str, int], tuple[str, str]] = {}  # (host, port) -> (kafka service, listener)
    listening: dict[tuple[str, str], int] = {}
    for name, service in doc["services"].items():
        kafka_env = env(service)
        for listener in kafka_env.get("KAFKA_ADVERTISED_LISTENERS", "").split(","):
            if listener:
                address = urlsplit(listener)
                advertised[(address.hostname, address.port)] = (name, address.scheme.upper())
        for listener in kafka_env.get("KAFKA_LISTENERS", "").split(","):
            if listener:
                listening[(name, urlsplit(listener).scheme.upper())] = urlsplit(listener).port
    problems = []
    for name, service in leap_services(doc).items():
        for server in env(service).get("LEAP_KAFKA_BOOTSTRAP", "127.0.0.1:9092").split(","):
            host, _, port = server.strip().rpartition(":")
            found = advertised.get((host, int(port)))
            if found is None:
                problems.append(f"{name}: bootstrap {server} is no advertised listener")
            elif host not in doc["services"]:
                problems.append(f"{name}: bootstrap {server} is advertised, but {host} is no service name")
            elif listening.get(found) != int(port):
                problems.append(f"{name}: listener {found[1]} of {found[0]} does not listen on {port}")
    return problems


def test_containers_reach_kafka_on_a_listener_advertised_as_its_service_name() -> None:
    assert kafka_problems(compose()) == []


def test_a_listener_advertised_as_the_hosts_loopback_is_refused() -> None:
    broken = compose()  # the old file: one listener advertised as 127.0.0.1, used by containers
    broken["services"]["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"] = "PLAINTEXT://127.0.0.1:9092"
    broken["services"]["kafka"]["environment"]["KAFKA_LISTENERS"] = "PLAINTEXT://:9092,CONTROLLER://:9093"
    assert "migrate: bootstrap kafka:29092 is no advertised listener" in kafka_problems(broken)


def test_the_hosts_kafka_listener_is_published_on_loopback() -> None:
    kafka = compose()["services"]["kafka"]
    for listener in env(kafka)["KAFKA_ADVERTISED_LISTENERS"].split(","):
        address = urlsplit(listener)
        if address.hostname == "127.0.0.1":
            assert f"127.0.0.1:{address.port}:{address.port}" in kafka["ports"]


# --- health checks, ports and Prometheus -----------------------------------------------------


def health_url(service: dict) -> str:
    match = re.search(r"https?://[^'\"\s]+", " ".join(service["healthcheck"]["test"]))
    assert match, service["healthcheck"]
    return match.group(0)


@pytest.mark.parametrize("name", sorted(n for n, s in leap_services(compose()).items() if parse_leap(s["command"])[0] in LONG_RUNNING))
def test_every_long_running_service_is_checked_and_published_on_the_port_it_listens_on(name: str) -> None:
    doc = compose()
    service = doc["services"][name]
    port = service_port(doc, name)
    url = urlsplit(health_url(service))
    assert url.port == port
    # A worker restoring state is alive but not ready for minutes: Docker must not call that unhealthy.
    assert url.path == ("/healthz" if parse_leap(service["command"])[0] == "worker" else "/readyz")
    assert port in container_ports(service)


def test_services_waited_for_are_checked_for_readiness() -> None:
    doc = compose()
    for name, service in doc["services"].items():
        for needed, condition in (service.get("depends_on") or {}).items():
            if condition["condition"] == "service_healthy" and needed in leap_services(doc):
                assert urlsplit(health_url(doc["services"][needed])).path == "/readyz", (name, needed)


def prometheus_problems(doc: dict, config: dict) -> list[str]:
    problems = []
    for job in config["scrape_configs"]:
        for static in job["static_configs"]:
            for target in static["targets"]:
                host, _, port = target.rpartition(":")
                if host not in doc["services"]:
                    problems.append(f"{job['job_name']}: {target} is not a compose service")
                elif service_port(doc, host) != int(port):
                    problems.append(f"{job['job_name']}: {host} does not listen on {port}")
    return problems


def test_prometheus_scrapes_each_part_where_it_listens() -> None:
    config = yaml.safe_load(PROMETHEUS_TEXT)
    assert prometheus_problems(compose(), config) == []
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    assert {"leap-engine", "leap-consumer", "leap-ingest", "leap-portal"} <= jobs


def test_prometheus_targets_outside_compose_or_on_the_wrong_port_are_refused() -> None:
    config = yaml.safe_load(PROMETHEUS_TEXT)
    config["scrape_configs"][1]["static_configs"][0]["targets"] = ["host.docker.internal:6066", "consumer:9999"]
    assert prometheus_problems(compose(), config) == [
        "leap-engine: host.docker.internal:6066 is not a compose service",
        "leap-engine: consumer does not listen on 9999",
    ]


def test_prometheus_gets_its_config_and_rules_folder() -> None:
    mounts = dict(reversed(v.split(":")[:2]) for v in compose()["services"]["prometheus"]["volumes"])
    assert mounts["/etc/prometheus/prometheus.yml"] == "./prometheus/prometheus.yml"
    for pattern in yaml.safe_load(PROMETHEUS_TEXT)["rule_files"]:
        assert mounts[posixpath.dirname(pattern)] == "./prometheus/rules"


# --- mounted files -------------------------------------------------------------------------


def test_mounted_files_exist_and_the_ingest_clients_file_is_one() -> None:
    doc = compose()
    for name, secret in doc["secrets"].items():
        assert (DEPLOY / interpolate(secret["file"])).is_file(), name
    for service in doc["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith(".") and Path(source).suffix:
                assert (DEPLOY / source).is_file(), source
    (ingest,) = [s for s in leap_services(doc).values() if parse_leap(s["command"])[0] == "ingest serve"]
    clients_file = env(ingest)["LEAP_INGEST_CLIENTS_FILE"]
    assert clients_file in {f"/run/secrets/{s}" for s in ingest["secrets"]}
    load_clients(DEPLOY / interpolate(doc["secrets"][PurePosixPath(clients_file).name]["file"]))


def test_the_portal_listens_beyond_its_container_while_its_url_stays_public() -> None:
    (portal,) = [s for s in leap_services(compose()).values() if parse_leap(s["command"])[0] == "portal serve"]
    assert parse_leap(portal["command"])[1]["host"] == "0.0.0.0"
    assert urlsplit(env(portal)["LEAP_PORTAL_URL"]).hostname == "127.0.0.1"

