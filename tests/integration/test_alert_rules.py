"""LEAP's alert rules and dashboards against the real thing: promtool's unit tests of the rules,
a real Prometheus (Debian's package) scraping a real worker and consumer and firing a rule,
and every metric a dashboard or rule names checked against what the processes export.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml

from tests.integration.conftest import LEAP, ROOT
from tests.integration.engine_helpers import wait_until
from tests.integration.portal_helpers import Portal
from tests.integration.test_ingest_http import IngestServer
from tests.integration.test_moodle_tail import MoodleTable
from tests.integration.workers import Deployment, free_port
from tests.support.promql import dashboard_exprs, exported_names, metric_names, rule_exprs

RULES = ROOT / "deploy" / "prometheus" / "rules" / "leap.rules.yml"
DASHBOARDS = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))


def _tool(name: str) -> str:
    found = shutil.which(name)
    assert found, f"{name} is not installed: `make test-tools` installs Debian's prometheus package"
    return found


def test_promtool_accepts_the_rules_and_their_unit_tests_pass():
    check = subprocess.run([_tool("promtool"), "check", "rules", str(RULES)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    tests = subprocess.run([_tool("promtool"), "test", "rules", "leap.rules.test.yml"], cwd=ROOT / "tests" / "prometheus", capture_output=True, text=True)
    assert tests.returncode == 0 and "SUCCESS" in tests.stdout, tests.stdout + tests.stderr


@pytest.fixture
def deployment(tmp_path):
    deployment = Deployment(tmp_path)
    deployment.with_database()
    yield deployment
    deployment.close()


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


class Prometheus:
    """Debian's prometheus on a free port, scraping and evaluating every second."""

    def __init__(self, tmp: Path, targets: dict[str, int]) -> None:
        # The real rules, with every `for` cut to a second: promtool checks the durations;
        # this checks that the expressions match what the processes really export.
        rules = yaml.safe_load(RULES.read_text())
        for group in rules["groups"]:
            for rule in group["rules"]:
                rule["for"] = "1s"
        (tmp / "rules.yml").write_text(yaml.safe_dump(rules))
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
            "rule_files": [str(tmp / "rules.yml")],
            "scrape_configs": [{"job_name": job, "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]} for job, port in targets.items()],
        }
        (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.url = f"http://127.0.0.1:{free_port()}"
        self.log_path = tmp / "prometheus.log"
        self.process = subprocess.Popen(
            [_tool("prometheus"), f"--config.file={tmp / 'prometheus.yml'}", f"--storage.tsdb.path={tmp / 'tsdb'}",
             f"--web.listen-address={self.url.removeprefix('http://')}"],
            stdout=self.log_path.open("w"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        wait_until(self._ready, 60, f"prometheus at {self.url} (log {self.log_path})", interval=0.3)

    def _ready(self) -> bool:
        assert self.process.poll() is None, f"prometheus exited: {self.log_path.read_text()[-2000:]}"
        try:
            return httpx.get(self.url + "/-/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def query(self, expr: str) -> list[dict]:
        body = httpx.get(self.url + "/api/v1/query", params={"query": expr}, timeout=5).json()
        assert body["status"] == "success", body
        return body["data"]["result"]

    def firing(self) -> list[dict]:
        alerts = httpx.get(self.url + "/api/v1/alerts", timeout=5).json()["data"]["alerts"]
        return [a for a in alerts if a["state"] == "firing"]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def test_a_real_prometheus_scrapes_leap_and_fires_when_the_consumer_stops(deployment, tmp_path):
    worker, consumer = deployment.start_worker(), deployment.start_consumer()
    wait_until(lambda: _ready(worker.port) and _ready(consumer.port), 180, f"worker and consumer ready (logs {worker.log_path}, {consumer.log_path})")
    prometheus = Prometheus(tmp_path, {"leap-engine": worker.port, "leap-consumer": consumer.port})
    try:
        wait_until(lambda: len(prometheus.query('up{job=~"leap-.*"} == 1')) == 2, 60, "both targets scraped")
        # Series that rules and panels need exist from start-up, before anything happened.
        wait_until(lambda: prometheus.query("leap_ready"), 30, "leap_ready scraped")
        assert {r["metric"]["job"]: r["value"][1] for r in prometheus.query("leap_ready")} == {"leap-engine": "1", "leap-consumer": "1"}
        assert len(prometheus.query("leap_source_outage")) == 6
        assert len(prometheus.query("leap_engine_students_by_band")) == 6
        assert prometheus.query('leap_dead_letters_total{source="engine"}')
        assert not [a for a in prometheus.firing() if a["labels"]["alertname"] in ("LeapProcessDown", "LeapProcessUnready")]

        consumer.terminate()
        consumer.wait(60)
        down = wait_until(
            lambda: [a for a in prometheus.firing() if a["labels"]["alertname"] == "LeapProcessDown"], 60, "LeapProcessDown firing"
        )  # fmt: skip
        assert [a["labels"]["job"] for a in down] == ["leap-consumer"]
        assert down[0]["labels"]["severity"] == "critical"
    finally:
        prometheus.stop()


def test_every_metric_in_the_dashboards_and_rules_is_exported_by_a_running_process(deployment, tmp_path):
    worker, consumer = deployment.start_worker(), deployment.start_consumer()
    table, tail_port = MoodleTable(deployment.settings.database_url), free_port()
    tail = subprocess.Popen(
        [LEAP, "tail", "moodle", "--dsn", table.dsn, "--table-prefix", table.prefix, "--site", table.site, "--metrics-port", str(tail_port)],
        env=deployment.env, stdout=(tmp_path / "tail.log").open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        with IngestServer(deployment.env, tmp_path) as ingest, Portal(deployment.env, tmp_path, LEAP_PORTAL_DEV_SIGNIN="1") as portal:
            wait_until(lambda: _ready(worker.port) and _ready(consumer.port) and _ready(tail_port), 180, "worker, consumer and tail ready")
            pages = [httpx.get(url + "/metrics", timeout=10).text for url in
                     (f"http://127.0.0.1:{worker.port}", f"http://127.0.0.1:{consumer.port}", f"http://127.0.0.1:{tail_port}", ingest.url, portal.url)]  # fmt: skip
    finally:
        tail.terminate()
        tail.wait(30)
        table.drop()
    exported = set().union(*(exported_names(page) for page in pages)) | {"up"}  # up: Prometheus's own

    used = {f"{path.name}: {expr}": metric_names(expr) for path in DASHBOARDS for expr in dashboard_exprs(path)}
    used |= {f"rule {name}: {expr}": metric_names(expr) for name, expr in rule_exprs(RULES)}
    assert len(used) >= 20 and all(used.values()), "every query names at least one metric"
    missing = {where: sorted(names - exported) for where, names in used.items() if names - exported}
    assert not missing, f"metrics no LEAP process exports: {missing}"
