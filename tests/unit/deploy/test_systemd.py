"""deploy/systemd/: units systemd accepts (systemd-analyze verify), and true to LEAP."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.deploy.checks import DEPLOY, LONG_RUNNING, SETTINGS, parse_leap, unknown_settings

SYSTEMD = DEPLOY / "systemd"
UNITS = sorted(SYSTEMD.glob("*.service"))
LEAP = "/opt/leap/venv/bin/leap"
# What systemd-analyze checks an ExecStart against: this virtualenv's real leap.
REAL_LEAP = Path(sys.executable).with_name("leap")
INSTANCE = "6066"  # leap-worker@.service is verified as leap-worker@6066.service


def read_unit(text: str) -> dict[str, list[tuple[str, str]]]:
    """Sections of a unit file, each a list of (key, value): keys may repeat (ExecStart, Wants)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
        elif line and not line.startswith(("#", ";")):
            key, _, value = line.partition("=")
            current.append((key.strip(), value.strip()))
    return sections


def values(unit: Path, section: str, key: str) -> list[str]:
    return [v for k, v in read_unit(unit.read_text()).get(section, []) if k == key]


def verify(units: dict[str, str], tmp_path: Path) -> list[str]:
    """What ``systemd-analyze verify`` says about units (name -> text): [] when it accepts them.

    It warns about unknown keys and bad values and still exits 0, so any output is a problem.
    """
    paths = []
    for name, text in units.items():
        (tmp_path / name).write_text(text.replace(LEAP, str(REAL_LEAP)))
        paths.append(str(tmp_path / name.replace("@.", f"@{INSTANCE}.")))
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", *paths], capture_output=True, text=True, timeout=60)
    lines = (result.stdout + result.stderr).splitlines()
    return lines or ([] if result.returncode == 0 else [f"exit {result.returncode}"])


needs_systemd_analyze = pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")


@needs_systemd_analyze
def test_systemd_accepts_every_unit(tmp_path: Path) -> None:
    assert verify({unit.name: unit.read_text() for unit in UNITS}, tmp_path) == []


@needs_systemd_analyze
@pytest.mark.parametrize(
    ("mistake", "said"),
    [
        (("NoNewPrivileges=yes", "NoNewPrivilege=yes"), "Unknown key 'NoNewPrivilege'"),
        (("Restart=on-failure", "Restart=on-failur"), "Failed to parse service restart specifier"),
        (("[Service]", "[Servic]"), "Unknown section 'Servic'"),
        ((LEAP, "/opt/leap/no-such-venv/bin/leap"), "is not executable"),
    ],
)
def test_systemd_analyze_reports_a_broken_unit(tmp_path: Path, mistake: tuple[str, str], said: str) -> None:
    text = (SYSTEMD / "leap-consumer.service").read_text()
    assert mistake[0] in text
    problems = verify({"leap-consumer.service": text.replace(mistake[0], mistake[1])}, tmp_path)
    assert any(said in line for line in problems), problems


def exec_starts(unit: Path) -> list[list[str]]:
    return [shlex.split(v.replace("%i", INSTANCE)) for v in values(unit, "Service", "ExecStart")]


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_every_unit_runs_a_real_leap_command_from_the_install(unit: Path) -> None:
    for argv in exec_starts(unit):
        assert argv[0] == LEAP
        parse_leap(argv)


def test_every_part_of_leap_has_a_unit() -> None:
    commands = {parse_leap(argv)[0] for unit in UNITS for argv in exec_starts(unit)}
    assert commands == LONG_RUNNING | {"db migrate", "topics create"}


def test_every_leap_variable_is_a_setting() -> None:
    text = "".join(p.read_text() for p in sorted(SYSTEMD.iterdir()))
    assert unknown_settings(text) == []


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_every_unit_is_hardened_and_reads_the_environment_file(unit: Path) -> None:
    service = dict(read_unit(unit.read_text())["Service"])
    assert service["User"] == "leap"
    assert service["EnvironmentFile"] == "/etc/leap/leap.env"
    for key in ("NoNewPrivileges", "PrivateTmp", "ProtectHome"):
        assert service[key] == "yes", key
    assert service["ProtectSystem"] == "strict"


@pytest.mark.parametrize("unit", [u for u in UNITS if u.name != "leap-migrate.service"], ids=lambda u: u.name)
def test_long_running_units_restart_and_start_after_the_migrations(unit: Path) -> None:
    assert values(unit, "Service", "Restart") == ["on-failure"]
    for key in ("After", "Wants"):
        assert "leap-migrate.service" in " ".join(values(unit, "Unit", key)).split(), key


def test_the_migrations_run_once_and_stay_done() -> None:
    unit = SYSTEMD / "leap-migrate.service"
    assert values(unit, "Service", "Type") == ["oneshot"]
    assert values(unit, "Service", "RemainAfterExit") == ["yes"]


def test_the_workers_state_is_in_their_state_directory() -> None:
    unit = SYSTEMD / "leap-worker@.service"
    (state,) = values(unit, "Service", "StateDirectory")
    assert f"LEAP_STATE_DIR=/var/lib/{state}" in values(unit, "Service", "Environment")
    assert exec_starts(unit)[0][-2:] == ["--web-port", INSTANCE]  # the instance is the port


def test_the_ingest_clients_file_is_a_credential() -> None:
    unit = SYSTEMD / "leap-ingest.service"
    (credential,) = values(unit, "Service", "LoadCredential")
    name = credential.split(":")[0]
    assert f"LEAP_INGEST_CLIENTS_FILE=%d/{name}" in values(unit, "Service", "Environment")


def test_the_environment_example_sets_only_settings() -> None:
    for line in (SYSTEMD / "leap.env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            assert line.split("=", 1)[0] in SETTINGS, line
