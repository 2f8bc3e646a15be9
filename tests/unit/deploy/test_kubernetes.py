"""deploy/kubernetes/: valid Kubernetes 1.30 objects (strict), and true to LEAP."""

from __future__ import annotations

import copy
import posixpath
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from leap.calendar import load_calendar
from leap.policy import load_policy
from tests.unit.deploy.checks import DEPLOY, LONG_RUNNING, ONE_SHOT, is_secret_name, listening_port, parse_leap, unknown_settings

K8S = DEPLOY / "kubernetes"
KUBERNETES_VERSION = "1.30.0"
WORKLOADS = ("Deployment", "StatefulSet", "Job")
REPLICAS = {"worker": 2, "consume": 1, "ingest serve": 2, "portal serve": 2, "tail moodle": 1}


def manifests() -> list[tuple[str, dict]]:
    """Every object in every file but kustomization.yaml (secret.example.yaml included)."""
    found = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            found += [(path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return found


def by_kind(kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for file, doc in manifests() if doc["kind"] == kind and file != "secret.example.yaml"}


def config_env() -> dict[str, dict[str, str]]:
    return {name: doc["data"] for name, doc in by_kind("ConfigMap").items()}


def container_env(container: dict, configmaps: dict[str, dict[str, str]]) -> dict[str, str]:
    """The literal environment of a container: its ConfigMaps' entries and its plain values."""
    values: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            values.update(configmaps[source["configMapRef"]["name"]])
    values.update({e["name"]: e["value"] for e in container.get("env", []) if "value" in e})
    return values


def command(container: dict) -> list[str]:
    return [*container.get("command", []), *container.get("args", [])]


# --- the Kubernetes schemas ------------------------------------------------------------------


@pytest.mark.parametrize(("file", "doc"), manifests(), ids=lambda v: v if isinstance(v, str) else v["metadata"]["name"])
def test_every_object_is_valid_kubernetes(file: str, doc: dict) -> None:
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_validator_rejects_a_broken_object() -> None:
    broken = copy.deepcopy(by_kind("Deployment")["leap-consumer"])
    broken["spec"]["template"]["spec"]["containers"][0]["probes"] = {}  # no such field
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)
    broken = copy.deepcopy(by_kind("Deployment")["leap-consumer"])
    broken["spec"]["replicas"] = "one"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_kustomization_lists_the_manifests_and_never_the_secret_example() -> None:
    text = (K8S / "kustomization.yaml").read_text()
    resources = yaml.safe_load(text)["resources"]
    assert all((K8S / r).is_file() for r in resources)
    assert "secret.example.yaml" not in resources
    for path in K8S.glob("*.yaml"):  # an optional manifest is still named, so people find it
        assert path.name in text or path.name == "kustomization.yaml", path.name


# --- what each workload runs -------------------------------------------------------------------


def workload_problems(doc: dict, configmaps: dict[str, dict[str, str]]) -> list[str]:
    """Everything a LEAP workload must get right; [] when it does."""
    name = doc["metadata"]["name"]
    pod = doc["spec"]["template"]
    spec = pod["spec"]
    problems = []
    if not spec.get("securityContext", {}).get("runAsNonRoot"):
        problems.append(f"{name}: pod may run as root")
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    claims = {c["metadata"]["name"] for c in doc["spec"].get("volumeClaimTemplates", [])}
    for container in [*spec.get("initContainers", []), *spec["containers"]]:
        where = f"{name}/{container['name']}"
        try:
            path, _ = parse_leap(command(container))
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
            continue
        env = container_env(container, configmaps)
        mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
        for entry in container.get("env", []):
            if is_secret_name(entry["name"]) and "secretKeyRef" not in entry.get("valueFrom", {}):
                problems.append(f"{where}: {entry['name']} is not from a Secret")
        resources = container.get("resources", {})
        if any(not {"cpu", "memory"} <= set(resources.get(kind, {})) for kind in ("requests", "limits")):
            problems.append(f"{where}: no cpu and memory requests and limits")
        security = container.get("securityContext", {})
        if security.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{where}: allows privilege escalation")
        if not security.get("readOnlyRootFilesystem") or "emptyDir" not in volumes.get(mounts.get("/tmp"), {}):
            problems.append(f"{where}: root filesystem writable, or no emptyDir for /tmp")
        policy = env.get("LEAP_POLICY_FILE")
        if policy and "configMap" not in volumes.get(mounts.get(posixpath.dirname(policy)), {}):
            problems.append(f"{where}: LEAP_POLICY_FILE {policy} is not in a mounted ConfigMap")
        if path == "worker" and mounts.get(env.get("LEAP_STATE_DIR")) not in claims:
            problems.append(f"{where}: LEAP_STATE_DIR is not on the worker's own volume claim")
        if path in ONE_SHOT:
            continue
        if path not in LONG_RUNNING or doc["kind"] == "Job":
            problems.append(f"{where}: leap {path} in a {doc['kind']}")
            continue
        problems += _probe_problems(where, path, container, listening_port(command(container), env), pod)
    return problems


def _probe_problems(where: str, path: str, container: dict, port: int | None, pod: dict) -> list[str]:
    problems = []
    ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
    expected = {"livenessProbe": "/healthz", "readinessProbe": "/readyz"}
    if path == "worker":  # starting may be slow; liveness must still not wait for the state restore
        expected["startupProbe"] = "/healthz"
    for probe, probe_path in expected.items():
        get = container.get(probe, {}).get("httpGet")
        if get is None or get["path"] != probe_path:
            problems.append(f"{where}: {probe} is not GET {probe_path}")
        elif ports.get(get["port"], get["port"]) != port:
            problems.append(f"{where}: {probe} is not on port {port}, where it listens")
    annotations = pod["metadata"].get("annotations", {})
    if annotations.get("prometheus.io/scrape") != "true" or annotations.get("prometheus.io/port") != str(port):
        problems.append(f"{where}: Prometheus annotations do not name port {port}")
    return problems


def workloads() -> list[dict]:
    return [doc for _, doc in manifests() if doc["kind"] in WORKLOADS]


@pytest.mark.parametrize("doc", workloads(), ids=lambda d: d["metadata"]["name"])
def test_every_workload_runs_leap_safely_and_observably(doc: dict) -> None:
    assert workload_problems(doc, config_env()) == []


def test_every_part_of_leap_is_deployed_with_its_replicas() -> None:
    replicas = {}
    for doc in workloads():
        for container in doc["spec"]["template"]["spec"]["containers"]:
            replicas[parse_leap(command(container))[0]] = doc["spec"].get("replicas")
    assert replicas == {**REPLICAS, "db migrate": None, "topics create": None}
    assert by_kind("StatefulSet")["leap-engine"]["spec"]["volumeClaimTemplates"]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda c: c.update(command=["leap", "consumer"]), "leap-consumer/consumer: no command 'leap consumer'"),
        (lambda c: c["env"].append({"name": "LEAP_REDIS_URL", "value": "redis://:pw@redis:6379/0"}), "leap-consumer/consumer: LEAP_REDIS_URL is not from a Secret"),
        (lambda c: c.pop("readinessProbe"), "leap-consumer/consumer: readinessProbe is not GET /readyz"),
        (lambda c: c["livenessProbe"]["httpGet"].update(path="/readyz"), "leap-consumer/consumer: livenessProbe is not GET /healthz"),
        (lambda c: c.update(command=["leap", "consume", "--metrics-port", "9103"]), "leap-consumer/consumer: livenessProbe is not on port 9103, where it listens"),
        (lambda c: c["resources"].pop("limits"), "leap-consumer/consumer: no cpu and memory requests and limits"),
        (lambda c: c["securityContext"].pop("readOnlyRootFilesystem"), "leap-consumer/consumer: root filesystem writable, or no emptyDir for /tmp"),
        (lambda c: c["volumeMounts"].pop(0), "leap-consumer/consumer: LEAP_POLICY_FILE /etc/leap/policy/institution.toml is not in a mounted ConfigMap"),
    ],
)
def test_a_workload_that_gets_something_wrong_is_refused(change, problem: str) -> None:
    doc = copy.deepcopy(by_kind("Deployment")["leap-consumer"])
    change(doc["spec"]["template"]["spec"]["containers"][0])
    assert problem in workload_problems(doc, config_env())


def test_a_worker_without_a_startup_probe_or_its_own_volume_is_refused() -> None:
    doc = copy.deepcopy(by_kind("StatefulSet")["leap-engine"])
    doc["spec"]["template"]["spec"]["containers"][0].pop("startupProbe")
    doc["spec"].pop("volumeClaimTemplates")
    assert workload_problems(doc, config_env()) == [
        "leap-engine/worker: LEAP_STATE_DIR is not on the worker's own volume claim",
        "leap-engine/worker: startupProbe is not GET /healthz",
    ]


# --- settings, secrets and the policy -------------------------------------------------------


def test_every_leap_variable_is_a_setting() -> None:
    assert unknown_settings("".join(p.read_text() for p in K8S.glob("*.yaml"))) == []


def test_config_maps_hold_no_secret() -> None:
    for name, data in config_env().items():
        assert not [key for key in data if is_secret_name(key)], name


def test_every_secret_referenced_is_in_the_example() -> None:
    example = {doc["metadata"]["name"]: doc["stringData"] for doc in yaml.safe_load_all((K8S / "secret.example.yaml").read_text())}
    for doc in workloads():
        spec = doc["spec"]["template"]["spec"]
        for container in spec["containers"]:
            for entry in container.get("env", []):
                ref = entry.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in example[ref["name"]], (doc["metadata"]["name"], ref)
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                secret = example[volume["secret"]["secretName"]]
                assert all(item["key"] in secret for item in volume["secret"].get("items", []))


def test_the_ingest_clients_file_comes_from_a_secret() -> None:
    spec = by_kind("Deployment")["leap-ingest"]["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    clients = container_env(container, config_env())["LEAP_INGEST_CLIENTS_FILE"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volume = {v["name"]: v for v in spec["volumes"]}[mounts[posixpath.dirname(clients)]]
    assert posixpath.basename(clients) in {item["path"] for item in volume["secret"]["items"]}


def test_the_policy_config_map_is_the_repositorys_policy_and_calendar(tmp_path: Path) -> None:
    data = by_kind("ConfigMap")["leap-policy"]["data"]
    policy_name = posixpath.basename(config_env()["leap-env"]["LEAP_POLICY_FILE"])
    for name, text in data.items():
        (tmp_path / name).write_text(text)
    policy = load_policy(tmp_path / policy_name)
    load_calendar(policy.alerts.calendar_file)  # named relative to the policy, and mounted beside it
    assert data[policy_name] == (DEPLOY / "institution.toml").read_text()
    assert data[policy.alerts.calendar_file.name] == (DEPLOY / "calendar.toml").read_text()


def test_the_workers_are_named_by_a_headless_service() -> None:
    engine = by_kind("StatefulSet")["leap-engine"]
    service = by_kind("Service")[engine["spec"]["serviceName"]]
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"].items() <= engine["spec"]["template"]["metadata"]["labels"].items()
