"""Every registered adapter keeps the contract (``producers.sources.base``) on its real-format fixtures.

Each adapter has a folder ``tests/fixtures/sources/<name>/`` of files in its real formats; a
``timetable.csv`` there is passed as the timetable rather than read as an export.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from leap.vocabulary import IDENTITY_NAMESPACES
from producers.exports import open_export
from producers.outcome import SOURCES, Event, Reject, Skip
from producers.sources import Adapter, Options, adapters

FIXTURES = Path(__file__).parents[3] / "fixtures" / "sources"


def fixture_files(name: str) -> list[Path]:
    folder = FIXTURES / name
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "timetable.csv") if folder.is_dir() else []


def options_for(name: str) -> Options:
    timetable = FIXTURES / name / "timetable.csv"
    return Options(timetable=timetable if timetable.exists() else None)


def outcomes(path: Path, name: str) -> list:
    with open_export(path, name, options_for(name)) as export:
        return [(record.position, outcome) for record, outcome in export.outcomes()]


def test_there_are_adapters_for_moodle_and_events():
    assert {"moodle", "events"} <= set(adapters())


@pytest.mark.parametrize("name", sorted(adapters()))
def test_an_adapter_describes_itself(name):
    cls = adapters()[name]
    assert issubclass(cls, Adapter) and cls.name == name
    assert cls.source in (*SOURCES, "any") and cls.identity in IDENTITY_NAMESPACES
    assert cls.summary and "\n" not in cls.summary


@pytest.mark.parametrize("name", sorted(adapters()))
def test_an_adapter_has_real_format_fixtures(name):
    assert fixture_files(name), f"add real-format files to tests/fixtures/sources/{name}/"


@pytest.mark.parametrize(("name", "path"), [(n, p) for n in sorted(adapters()) for p in fixture_files(n)], ids=lambda v: getattr(v, "name", v))
def test_every_fixture_record_has_one_outcome_and_events_are_stable(name, path):
    first, second = outcomes(path, name), outcomes(path, name)
    assert first and first == second  # deterministic: the same file gives the same events, ids included
    for position, outcome in first:
        assert isinstance(outcome, (Event, Skip, Reject)) and position
        if isinstance(outcome, Event):
            record = outcome.record
            assert record["event_id"] and record["student_id"] and record["source"] in SOURCES
            assert outcome.identity in IDENTITY_NAMESPACES
        else:
            assert outcome.reason.strip()
    ids = [o.record["event_id"] for _, o in first if isinstance(o, Event)]
    assert len(ids) == len(set(ids)), "two records of one file share an event id"


DETECTABLE = [(n, p) for n in sorted(adapters()) if adapters()[n].detectable for p in fixture_files(n)]


@pytest.mark.parametrize(("name", "path"), DETECTABLE, ids=lambda v: getattr(v, "name", v))
def test_auto_detection_picks_the_adapter_that_reads_the_file(name, path):
    with open_export(path, "auto", options_for(name)) as export:
        assert export.format == name
