"""The shortened chaos run (`make chaos` is the full one): faults on every part, every invariant held."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.integration.conftest import ROOT


# The run keeps to its own 15-minute limit (20 with its clean-up) and then reports why it
# failed; the suite's 10-minute default would cut it short and lose that report, and so
# would a timeout of the same length as the test's.
@pytest.mark.timeout(1800)
def test_the_short_seeded_chaos_run_holds_every_invariant(tmp_path):
    result_file = tmp_path / "chaos.json"
    command = [sys.executable, "-m", "reliability.chaos", "--short", "--seed", "11", "--out", str(result_file)]
    try:
        run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=1680)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"chaos run overran its own limit:\n{_text(exc.stdout)[-6000:]}\n{_text(exc.stderr)[-20000:]}")
    # stderr ends with the post-mortem: each process's warnings and a worker's stacks.
    assert run.returncode == 0, f"chaos run failed ({run.returncode}):\n{run.stdout[-6000:]}\n{run.stderr[-20000:]}"
    result = json.loads(result_file.read_text())
    assert result["events"] > 5000
    assert {i["name"]: i["held"] for i in result["invariants"]} == {
        "engine and consumer settled": True,
        "every student's state equals leap replay": True,
        "every band change stored exactly once": True,
        "exactly one alert per (student, kind, episode)": True,
        "no event lost (sent = applied + dead-lettered, per source)": True,
        "every event sent is in its student's engine state": True,
    }
    done = {f["fault"]: int(f["done"]) for f in result["faults"] if f["planned"] != "-"}
    assert all(n >= 1 for n in done.values()) and len(done) == 9, done
    assert "Invariants" in run.stdout and "NO" not in run.stdout.split("Invariants", 1)[1]


def _text(output: bytes | str | None) -> str:
    return output.decode(errors="replace") if isinstance(output, bytes) else output or ""
