"""The chaos run's watchdog: a harness stuck past its limit says where it waits and ends."""

from __future__ import annotations

import subprocess
import sys

from leap.settings import PROJECT_ROOT

STUCK_HARNESS = """
import time
from types import SimpleNamespace
from reliability.chaos import watchdog

watchdog(SimpleNamespace(processes=SimpleNamespace(all={})), 0.2)
def reading_back_results():
    time.sleep(30)
reading_back_results()
"""


def test_a_stuck_harness_prints_where_it_waits_and_exits_3():
    run = subprocess.run([sys.executable, "-c", STUCK_HARNESS], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=25)
    assert run.returncode == 3
    assert "the chaos run is stuck 0 s after it started; where each thread waits:" in run.stderr
    assert "in reading_back_results" in run.stderr  # the main thread's frame, where it hangs
