"""The records the engine publishes about a student, built from their state and evaluation.

A band change (``band-changes``: what the alert consumer stores and tutors are told), the
student's current state (``student-state``, compacted: what the portal shows), and the
end-of-day summary (``daily-summaries``). Pure: ``streams.engine`` decides when each goes out.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import date

from leap.policy import Engagement
from leap.vocabulary import EVENT_NAMESPACE
from streams.batch import PartitionClock
from streams.model import StudentState
from streams.scoring import Evaluation, TermView

EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def explanation(result: Evaluation, cohort: str, band: str, policy: Engagement) -> str:
    """How the band was worked out, as the JSON the student's page reads."""
    return json.dumps(result.explanation(cohort, band, policy), separators=(",", ":"))


def band_change(key: bytes, state: StudentState, band: str, result: Evaluation, clock: PartitionClock, now: int, explained: str, cause: str,
                trigger_event_id: str | None, trigger_time: int | None) -> dict:  # fmt: skip
    """A change from the student's current band (``state.band``) to ``band``.

    Its id is derived from the student and their change count, so a change recomputed after
    a crash has the id it had before and the consumer stores it once.
    """
    return {
        "change_id": str(uuid.uuid5(EVENT_NAMESPACE, f"band-change:{key.decode()}:{state.change_seq}:{state.band}:{band}")),
        "student_id": key.decode(),
        "cohort": state.cohort,
        "previous_band": state.band,
        "new_band": band,
        "score": result.score,
        "as_of": now,
        "cause": cause,
        "days_since_last_activity": result.days_since_last_activity,
        "explanation": explained,
        "trigger_event_id": trigger_event_id,
        "trigger_time": trigger_time,
        "input_offset": clock.input_offset if clock.input_offset >= 0 else None,
    }


def published_digest(result: Evaluation, band: str, day: int) -> bytes:
    """What a current-state record says, in 8 bytes: a new record goes out only when it changes."""
    said = (result.score, band, result.days_since_last_activity, day, result.baseline_day, result.window_kind, result.reference, [s.measure for s in result.sources])
    return hashlib.blake2b(repr(said).encode(), digest_size=8).digest()


def current_state(key: bytes, state: StudentState, band: str, result: Evaluation, clock: PartitionClock, now: int, explained: str) -> dict:
    """The student's current score, band and explanation, as of the partition's day."""
    return {
        "student_id": key.decode(),
        "cohort": state.cohort,
        "score": result.score,
        "band": band,
        "days_since_last_activity": result.days_since_last_activity,
        "day": clock.day - EPOCH_ORDINAL,
        "explanation": explained,
        "updated_at": now,
        "input_offset": clock.input_offset if clock.input_offset >= 0 else None,
        **term_fields(result.term),
    }


def summary(key: bytes, state: StudentState, day: int, days_since_last_activity: int | None, term: TermView | None) -> dict:
    """A student's end-of-day summary: the band and score they ended ``day`` with."""
    return {
        "student_id": key.decode(),
        "cohort": state.cohort,
        "day": day - EPOCH_ORDINAL,
        "score": state.score,
        "band": state.band or "no_data",
        "days_since_last_activity": days_since_last_activity,
        **term_fields(term),
    }


def term_fields(term: TermView | None) -> dict:
    """The term view's headline figures, as the state and summary records carry them."""
    if term is None:
        return {"term_score": None, "term_active_days": None, "term_days": None}
    return {"term_score": term.score, "term_active_days": term.active_days, "term_days": term.days}
