"""What a failed run prints first: the warnings and errors of a process's log."""

from __future__ import annotations

from reliability.processes import complaints

FAUST_WARNING = "[2026-12-07 14:28:03,774] [6090] [WARNING] producer buffer full size 310"
JSON_ERROR = '{"event": "offset commit failed", "level": "error", "logger": "leap.consumer"}'
INFO = "[2026-12-07 14:28:03,774] [6090] [INFO] Fetch offset 12 is out of range"


def test_only_warnings_and_worse_in_either_format(tmp_path):
    log = tmp_path / "worker.log"
    log.write_text("\n".join([INFO, FAUST_WARNING, '{"event": "started", "level": "info"}', JSON_ERROR, INFO]) + "\n")
    assert complaints(log) == [FAUST_WARNING, JSON_ERROR]


def test_a_long_list_keeps_its_first_and_last_lines(tmp_path):
    log = tmp_path / "worker.log"
    log.write_text("\n".join(f"[t] [1] [ERROR] failure {i}" for i in range(30)) + "\n")
    shown = complaints(log, most=3)
    assert shown == ["[t] [1] [ERROR] failure 0", "[t] [1] [ERROR] failure 1", "[t] [1] [ERROR] failure 2", "... 24 more ...",
                     "[t] [1] [ERROR] failure 27", "[t] [1] [ERROR] failure 28", "[t] [1] [ERROR] failure 29"]  # fmt: skip


def test_a_process_that_never_started_has_none(tmp_path):
    assert complaints(tmp_path / "absent.log") == []
