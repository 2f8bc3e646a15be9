"""What a failed run prints first: the warnings and errors of a process's log."""

from __future__ import annotations

from leap.settings import PROJECT_ROOT
from reliability.processes import compact_stacks, complaints

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


DUMP = """[2026-12-07 14:49:05,761] [30278] [INFO] (Re-)joining group leap-chaos-11-04aca0-engine
THREAD MainThread
  File "/work/main/.venv/lib/python3.11/site-packages/mode/worker.py", line 237, in _cry
    logging.cry(file=self.stderr)
  TASK _execute_task
   -> <coroutine object Consumer._commit_handler at 0x7ff67c1a3060>
  ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
Stack for <Task pending name='Task-49' coro=<Agent._execute_actor() running at /x/faust/agents/agent.py:698> wait_for=<Future pending>>
  File "/opt/venv/lib/python3.11/site-packages/faust/agents/agent.py", line 698, in _execute_actor
    await coro
    self = <Agent: running streams.app.engine_agent>
  File "{root}/streams/app.py", line 399, in engine_agent
    await run(batch, RESCORES_PER_BATCH if live else RESCORES_PER_STEP)
  File "/root/.pyenv/versions/3.11.7/lib/python3.11/asyncio/tasks.py", line 476, in wait_for
    return await fut
-------------------------------------------------
LOCAL VARIABLES
Stack for <Task pending name='Task-7' coro=<Sender._sender_routine() running at x> wait_for=<Future pending>>
  File "/opt/venv/lib/python3.11/site-packages/aiokafka/producer/sender.py", line 167, in _sender_routine
"""


def test_a_stack_dump_is_one_line_per_thread_and_task_innermost_frames_last():
    lines = compact_stacks(DUMP.replace("{root}", str(PROJECT_ROOT)), frames=2)
    assert lines == [
        "thread mainthread: mode/worker.py:237 _cry",
        "task Task-49: streams/app.py:399 engine_agent > asyncio/tasks.py:476 wait_for",
        "task Task-7: aiokafka/producer/sender.py:167 _sender_routine",
    ]
