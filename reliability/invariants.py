"""What must hold at the end of a chaos run, as pure checks over what the run read back."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from leap.policy import Engagement
from streams.scoring import near_boundary


@dataclass(frozen=True)
class Check:
    """One invariant: held or not, with the figures and the first differences."""

    name: str
    held: bool
    detail: str


def _examples(problems: list[str]) -> str:
    return "; ".join(problems[:3]) + (f" (and {len(problems) - 3} more)" if len(problems) > 3 else "")


def _score_differs(got: float | None, want: float | None) -> bool:
    return (got is None) != (want is None) or (want is not None and abs(got - want) > 1e-9)


def explanation_differences(states: Mapping[str, Mapping], expected: Mapping[str, object], limit: int = 5) -> dict[str, dict]:
    """For a post-mortem: the explanation fields in which students' streamed states differ from
    the replay (what each said), for up to ``limit`` students whose score differs."""
    found: dict[str, dict] = {}
    for student, want in sorted(expected.items()):
        got = states.get(student)
        if got is None or not _score_differs(got["score"], want.score):
            continue
        mine = got["explanation"]
        mine = json.loads(mine) if isinstance(mine, str) else (mine or {})
        theirs = want.explanation or {}
        found[student] = {
            "engine": {"score": got["score"], "day": got.get("day"), **{k: mine.get(k) for k in sorted(set(mine) | set(theirs)) if mine.get(k) != theirs.get(k)}},
            "replay": {"score": want.score, **{k: theirs.get(k) for k in sorted(set(mine) | set(theirs)) if mine.get(k) != theirs.get(k)}},
        }
        if len(found) == limit:
            break
    return found


def states_equal_replay(states: Mapping[str, Mapping], expected: Mapping[str, object], policy: Engagement) -> Check:
    """Every student's streamed state has the replay's score, and its band unless the score
    sits on a boundary's hysteresis margin (where the band depends on the path taken)."""
    problems = []
    for student, want in sorted(expected.items()):
        got = states.get(student)
        if got is None:
            problems.append(f"{student}: no state")
        elif _score_differs(got["score"], want.score):
            problems.append(f"{student}: score {got['score']} != replay {want.score}")
        elif want.score is not None and not near_boundary(want.score, policy) and got["band"] != want.band:
            problems.append(f"{student}: band {got['band']} != replay {want.band}")
    detail = f"{len(expected) - len(problems):,} of {len(expected):,} students equal the replay"
    return Check("every student's state equals leap replay", not problems, detail + (f": {_examples(problems)}" if problems else ""))


def band_changes_once(published: Iterable[str], stored: Iterable[str]) -> Check:
    """Each band change the engine published (a copy redelivered after a crash has the same
    id) is stored exactly once: no change missing, none twice, none invented."""
    published_ids, stored_counts = set(published), Counter(stored)
    missing = sorted(published_ids - set(stored_counts))
    twice = sorted(i for i, n in stored_counts.items() if n > 1)
    extra = sorted(set(stored_counts) - published_ids)
    problems = [f"missing {i}" for i in missing] + [f"stored {stored_counts[i]} times: {i}" for i in twice] + [f"not published: {i}" for i in extra]
    detail = f"{len(published_ids):,} changes published, {sum(stored_counts.values()):,} rows stored"
    return Check("every band change stored exactly once", not problems, detail + (f": {_examples(problems)}" if problems else ""))


# An alert in these states was never released to its recipient, so it is on no stream.
UNDELIVERED = ("held", "dropped")


def one_alert_per_episode(alerts: Iterable[tuple[str, str, str]], stream_entries: Iterable[str], statuses: Mapping[str, str]) -> Check:
    """Exactly one alert per (student, kind, episode) in PostgreSQL; each raised alert exactly
    once on its recipient's Redis stream, and a held or dropped one never (``statuses``: every
    alert id and its status); at least one alert, or the invariant was not tested."""
    per_episode = Counter(alerts)
    on_streams = Counter(stream_entries)
    # A run that raised no alert at all tested nothing here.
    problems = [] if per_episode else ["no alert was raised, so none could be doubled: the run tested nothing"]
    problems += [f"{n} alerts for {key}" for key, n in per_episode.items() if n > 1]
    problems += [f"alert {a} on its stream {n} times" for a, n in on_streams.items() if n > 1]
    problems += [f"stream entry for unknown alert {a}" for a in on_streams if a not in statuses]
    problems += [f"{status} alert {a} on a stream" for a, status in statuses.items() if status in UNDELIVERED and on_streams[a]]
    raised = [a for a, status in statuses.items() if status not in UNDELIVERED]
    problems += [f"raised alert {a} on no stream" for a in raised if not on_streams[a]]
    detail = (
        f"{sum(per_episode.values()):,} alerts in {len(per_episode):,} episodes; {len(raised):,} raised, "
        f"{sum(on_streams.values()):,} stream entries; {len(statuses) - len(raised):,} held and dropped before release"
    )
    return Check("exactly one alert per (student, kind, episode)", not problems, detail + (f": {_examples(problems)}" if problems else ""))


def no_event_lost(sent: Mapping[str, int], applied: Mapping[str, int], dead: Mapping[str, int]) -> Check:
    """Per source: distinct events sent = applied (or outside the retention) + dead-lettered."""
    problems = []
    rows = []
    for source in sorted(set(sent) | set(applied) | set(dead)):
        s, a, d = sent.get(source, 0), applied.get(source, 0), dead.get(source, 0)
        rows.append(f"{source} {s:,} = {a:,} + {d:,}")
        if s != a + d:
            problems.append(f"{source}: sent {s:,} != applied {a:,} + dead-lettered {d:,}")
    return Check("no event lost (sent = applied + dead-lettered, per source)", not problems, "; ".join(problems or rows))


def events_held(expected: Mapping[str, set[int]], held: Mapping[str, set[int]]) -> Check:
    """Every event sent (within the retention) is in its student's engine state: ``expected``
    and ``held`` map each student to event-id hashes (``streams.model.id_hash``). The replay
    counts in ``no_event_lost`` cannot see an event the engine dropped; this can."""
    problems = []
    total = lost = 0
    for student, ids in sorted(expected.items()):
        missing = ids - held.get(student, set())
        total, lost = total + len(ids), lost + len(missing)
        if missing:
            problems.append(f"{student}: {len(missing)} of {len(ids)} events not in the engine's state")
    detail = f"{total - lost:,} of {total:,} events sent within the retention are in their students' state"
    return Check("every event sent is in its student's engine state", not problems, detail + (f": {_examples(problems)}" if problems else ""))
