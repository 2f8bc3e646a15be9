"""Reading an explanation record (format v2, v1, or damaged) into normalised facts, never raising.

What is missing or malformed is left out rather than guessed, except what a v1 record
implies: its statuses (from its values and notes) and its band (from its score).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from leap.policy import BAND_ORDER, NO_DATA, Bands, Engagement


def _num(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        value = float(value)
    except OverflowError:
        return None
    return value if math.isfinite(value) and abs(value) < 1e15 else None


def _count(value: object) -> int | None:
    n = _num(value)
    return int(n) if n is not None and n >= 0 and n == int(n) else None


def clean_text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _day(value: object) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Source:
    key: str
    measure: float | None
    reference: float | None
    score: float | None
    weight: float | None
    status: str
    capped_days: int


def _v1_status(key: str, measure: float | None, reference: float | None, score: float | None, note: str) -> str:
    """The v2 status a v1 entry (no status, a free-text note) stands for."""
    if key == "attendance":
        return "scored" if score is not None else "no_sessions"
    if score is not None:
        return "used_when_group_did_not" if reference == 0 else "scored"
    if reference is None:
        return "no_baseline"
    if "nobody" in note:
        return "nobody_used"
    return "group_did_not_use"


def _source(entry: object) -> Source | None:
    if not isinstance(entry, Mapping) or clean_text(entry.get("source")) is None:
        return None
    key = clean_text(entry.get("source"))
    measure, reference, score = _num(entry.get("measure")), _num(entry.get("reference")), _num(entry.get("score"))
    status = clean_text(entry.get("status")) or _v1_status(key, measure, reference, score, str(entry.get("note") or ""))
    return Source(key, measure, reference, score, _num(entry.get("weight")), status, _count(entry.get("capped_days")) or 0)


def _bounds(raw: object, engagement: Engagement | None) -> tuple[dict[str, float], float | None]:
    """Lower bound of each band, and the hysteresis margin: the record's, else the policy's."""
    fallback = engagement.bands if engagement is not None else Bands()
    bounds = {b: getattr(fallback, b) for b in ("high", "good", "partial", "low")}
    margin = engagement.hysteresis_margin if engagement is not None else None
    if isinstance(raw, Mapping):
        given = {b: _num(raw.get(b)) for b in bounds}
        values = [given[b] for b in ("high", "good", "partial", "low")]
        if all(v is not None for v in values) and 100 >= values[0] > values[1] > values[2] > values[3] > 0:
            bounds = given  # type: ignore[assignment]
        raw_margin = _num(raw.get("margin"))
        margin = raw_margin if raw_margin is not None and raw_margin >= 0 else margin
    return bounds, margin


def _band_of(score: float, bounds: dict[str, float]) -> str:
    for band in ("high", "good", "partial", "low"):
        if score >= bounds[band]:
            return band
    return "very_low"


def band_limits(band: str, bounds: dict[str, float]) -> tuple[float | None, float | None]:
    """[lower, upper) of a band's scores."""
    if band not in BAND_ORDER:
        return None, None
    i = BAND_ORDER.index(band)
    lower = bounds.get(band)
    upper = bounds[BAND_ORDER[i + 1]] if i + 1 < len(BAND_ORDER) else None
    return lower, upper


@dataclass(frozen=True, slots=True)
class Term:
    """The term-to-date view's figures (explanation format 2's ``term``)."""

    start: date
    days: int
    active_days: int
    group_active_days: float | None
    score: float | None
    band: str


def _term(raw: object) -> Term | None:
    if not isinstance(raw, Mapping):
        return None
    start, days, active = _day(raw.get("start")), _count(raw.get("days")), _count(raw.get("active_days"))
    if start is None or not days or active is None or active > days:
        return None
    group = _num(raw.get("group_active_days"))
    score = _num(raw.get("score"))
    score = score if score is not None and 0 <= score <= 100 else None
    band = clean_text(raw.get("band"))
    return Term(start, days, active, group if group is not None and 0 <= group <= days else None, score, band if band in (*BAND_ORDER, NO_DATA) else NO_DATA)


@dataclass(frozen=True, slots=True)
class Facts:
    score: float | None
    band: str
    band_by_score: str | None
    bounds: dict[str, float]
    margin: float | None
    window: tuple[date, date] | None
    window_days: int | None
    including_today: bool
    group: tuple[str, int | None, str] | None  # label, size, level
    cohort: str | None
    as_of: date | None
    days_since: int | None
    activity_known: bool  # the record says something about last activity
    last_active: date | None
    sources: tuple[Source, ...]
    term: Term | None = None


def _group(raw: object) -> tuple[str, int | None, str] | None:
    if not isinstance(raw, Mapping) or clean_text(raw.get("label")) is None:
        return None
    size = _count(raw.get("size"))
    return clean_text(raw.get("label")), size if size else None, clean_text(raw.get("level")) or ""  # type: ignore[return-value]


def read(explanation: object, engagement: Engagement | None = None, fill: Mapping | None = None) -> Facts:
    """The facts an explanation (a dict or its JSON text) holds, normalised.

    Anything missing or malformed is left out; keys missing from the explanation are taken
    from ``fill`` (the row it came with: a v1 record has no band), unless None there.
    """
    if isinstance(explanation, str | bytes):
        try:
            explanation = json.loads(explanation)
        except ValueError:
            explanation = None
    e: Mapping = explanation if isinstance(explanation, Mapping) else {}
    if isinstance(fill, Mapping):
        e = {**{k: v for k, v in fill.items() if v is not None}, **e}
    bounds, margin = _bounds(e.get("bands"), engagement)
    score = _num(e.get("score"))
    score = score if score is not None and 0 <= score <= 100 else None
    by_score = clean_text(e.get("band_by_score"))
    by_score = by_score if by_score in BAND_ORDER else (_band_of(score, bounds) if score is not None else None)
    band = clean_text(e.get("band"))
    band = band if band in (*BAND_ORDER, NO_DATA) else (by_score or NO_DATA)
    window = e.get("window")
    days = (_day(window[0]), _day(window[1])) if isinstance(window, list | tuple) and len(window) == 2 else (None, None)
    sources = e.get("sources")
    return Facts(
        score=score,
        band=band,
        band_by_score=by_score,
        bounds=bounds,
        margin=margin,
        window=(min(days), max(days)) if days[0] and days[1] else None,  # type: ignore[type-var]
        window_days=_count(e.get("window_days")) or None,
        including_today=e.get("window_kind") == "including_today",
        group=_group(e.get("reference_group")),
        cohort=clean_text(e.get("cohort")),
        as_of=_day(e.get("as_of_day")) or days[1],
        days_since=_count(e.get("days_since_last_activity")),
        activity_known="days_since_last_activity" in e or "last_active_day" in e,
        last_active=_day(e.get("last_active_day")),
        sources=tuple(s for s in map(_source, sources if isinstance(sources, list | tuple) else ()) if s is not None),
        term=_term(e.get("term")),
    )
