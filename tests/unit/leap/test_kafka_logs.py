"""librdkafka's repeated connection errors: each distinct one once a minute, not several a second."""

from __future__ import annotations

import logging

from leap import kafka


def _record(message: str) -> logging.LogRecord:
    return logging.LogRecord("leap.kafka.librdkafka", logging.ERROR, __file__, 1, message, None, None)


def test_a_repeated_message_passes_once_a_minute_and_a_different_one_passes_at_once(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(kafka.time, "monotonic", lambda: now[0])
    repeats = kafka._Repeats(every=60)
    refused = "FAIL [p#producer-1]: 127.0.0.1:9/bootstrap: Connect failed: Connection refused (after {}ms in state CONNECT)"
    passed = []
    for n in range(50):  # fifty attempts over 49 seconds
        passed.append(repeats.filter(_record(refused.format(n))))
        now[0] += 1
    assert passed.count(True) == 1 and passed[0]
    assert repeats.filter(_record("FAIL [p#producer-1]: 127.0.0.1:9/bootstrap: Disconnected"))
    now[0] += 11  # a minute after the first
    assert repeats.filter(_record(refused.format(99)))
