"""Explanations in plain words, one renderer for `leap status`, email and (later) the portal.

``explain(explanation, viewer)`` turns the engine's explanation (format v2, see the engine's
``Evaluation.explanation``; v1 records and damaged dicts are read as far as they go by
leap/explanation.py, never raising) into an ``Explained``: a headline, the window sentence,
one line per source, the last activity and notes, as plain strings. ``to_text()`` is for
terminals and email; ``to_dict()`` is plain data a web page can lay out (no HTML).

Wording rules (tests pin them):
- Two audiences: ``viewer="student"`` says "you", "your", "your course's typical student";
  ``viewer="staff"`` says "the student", "the student's", "typical student in the group".
- No internal names reach the words: bands are "High", "Good", "Partial", "Low", "Very low",
  "No data"; sources use display names (defaults in ``DEFAULT_DISPLAY_NAMES``, overridden by
  the policy's ``[sources.display_names]``); statuses become sentences.
- Numbers: whole numbers from 10 up (en-GB thousands separators), one decimal below 10
  with no trailing ".0", never more; a figure above 0 but below 0.05 is "less than 0.1";
  0 of something is "none". Halves round up. A score is never rounded across a band
  boundary (79.6 in Good reads 79, not 80), nor a part score up to a full 100 (99.7 reads 99).
- Dates en-GB: "23 Nov 2026"; ranges "23–29 Nov 2026", "28 Nov – 4 Dec 2026",
  "29 Dec 2026 – 4 Jan 2027".
- Headline: "Good — engagement score 73 out of 100 (Good is 60 to 79)." When hysteresis
  holds the band, the score shows one decimal, as in the note that explains the hold.
- Attendance: "attended 3 of 4 expected sessions (75%)"; other sources: "12 actions a
  day; your course's typical student 9 — counts in full." or "— 38 out of 100.". A source
  that does not count says so on its line; why is in the notes, one per reason, naming
  every source it applies to.
- Notes cover a held band (hysteresis), a window including today, sources that do not
  count (no group figures yet, group too small, nobody used it, most did not and neither
  did the student) or count in full because most did not use them, and daily caps.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any, Literal

from leap.explanation import Facts, Source, band_limits, clean_text, read
from leap.policy import BAND_ORDER, NO_DATA, Engagement
from leap.wording import bound, bounded, capital, day_text, join, number, one_decimal, plural, range_text

Viewer = Literal["student", "staff"]

DEFAULT_DISPLAY_NAMES = {
    "attendance": "attendance",
    "vle": "Moodle",
    "coursework": "coursework",
    "lecture_capture": "Listen Again (lecture capture)",
    "logins": "university PC logins",
    "library": "library",
}
BAND_NAMES = {"high": "High", "good": "Good", "partial": "Partial", "low": "Low", "very_low": "Very low", NO_DATA: "No data"}
# What one unit of each source's daily figure is (singular, plural).
_UNITS = {
    "vle": ("action", "actions"),
    "coursework": ("action", "actions"),
    "logins": ("login", "logins"),
    "library": ("visit or loan", "visits or loans"),
    "lecture_capture": ("minute", "minutes"),
}
_CAP_FIELDS = {"vle": "vle", "coursework": "coursework", "logins": "logins", "library": "library", "lecture_capture": "lecture_capture_minutes"}
_TYPICAL = {"cohort": "your course's", "programme": "your programme's", "department": "your department's"}
_DEFAULT_MIN_GROUP = 10
_NOT_COUNTING = ("no_baseline", "group_too_small", "nobody_used", "group_did_not_use")
_STATUSES = ("scored", "no_sessions", "used_when_group_did_not", *_NOT_COUNTING)


def band_name(band: object) -> str:
    """A band in words ("Very low"); anything unknown is "No data"."""
    return BAND_NAMES.get(band, BAND_NAMES[NO_DATA]) if isinstance(band, str) else BAND_NAMES[NO_DATA]


# ---- the result ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SourceLine:
    """One source's line; ``source`` is the engine's key, for styling, never for showing."""

    source: str
    name: str
    text: str
    counts: bool


@dataclass(frozen=True, slots=True)
class Explained:
    """An explanation in words, for one viewer."""

    band: str
    band_name: str
    headline: str
    window: str
    sources: tuple[SourceLine, ...]
    last_activity: str
    notes: tuple[str, ...]
    term: str = ""  # the term-to-date view in a sentence, beside the seven-day headline

    def to_text(self) -> str:
        """Plain text for a terminal or an email body (no trailing newline)."""
        lines = [self.headline]
        if self.window:
            lines.append(self.window)
        lines += [f"  {s.text}" for s in self.sources]
        if self.last_activity:
            lines.append(self.last_activity)
        if self.term:
            lines.append(self.term)
        if self.notes:
            lines.append("Notes:")
            lines += [f"  - {n}" for n in self.notes]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (for a web page)."""
        return asdict(self)


# ---- the words ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Voice:
    """Who is being told: the words that differ between a student and staff."""

    student: bool
    names: Mapping[str, str]
    engagement: Engagement | None

    def name(self, key: str) -> str:
        return self.names.get(key) or key.replace("_", " ")

    @property
    def you(self) -> str:
        return "you" if self.student else "the student"

    @property
    def your(self) -> str:
        return "your" if self.student else "the student's"

    @property
    def group(self) -> str:
        return "your group" if self.student else "the group"

    def typical(self, f: Facts) -> str:
        if not self.student:
            return "typical student in the group"
        level = f.group[2] if f.group else "cohort"
        owner = "the university's" if level.startswith("institution") else _TYPICAL.get(level, "your group's")
        return f"{owner} typical student"


def _range(band: str, bounds: dict[str, float]) -> str:
    low, high = band_limits(band, bounds)
    word = band_name(band)
    if high is None:
        return f"{word} is {bound(low)} or more"  # type: ignore[arg-type]
    if low is None:
        return f"{word} is below {bound(high)}"
    if low == int(low) and high == int(high):
        return f"{word} is {bound(low)} to {bound(high - 1)}"
    return f"{word} is {bound(low)} up to {bound(high)}"


def _held(f: Facts) -> bool:
    return f.score is not None and f.band in BAND_ORDER and f.band_by_score is not None and f.band != f.band_by_score


def _headline(f: Facts) -> str:
    word = band_name(f.band)
    if f.band not in BAND_ORDER:
        return f"{word} — there is no engagement score yet, because no source counts."
    if f.score is None:
        return f"{word}."
    low, high = band_limits(f.band_by_score or f.band, f.bounds)
    score = one_decimal(f.score) if _held(f) else bounded(f.score, low, high)
    return f"{word} — engagement score {score} out of 100 ({_range(f.band, f.bounds)})."


def _window(f: Facts) -> str:
    if f.window is None:
        return f"As of {day_text(f.as_of)}." if f.as_of else ""
    first, last = f.window
    days = (last - first).days + 1
    span = f"Over the day {day_text(first)}" if days == 1 else f"Over the {days:,} days {range_text(first, last)}"
    if f.group:
        label, size, _ = f.group
        return f"{span}, compared with {size:,} {label}." if size else f"{span}, compared with {label}."
    too_small = any(s.status == "group_too_small" for s in f.sources)
    if f.cohort and f.cohort != "unassigned" and not too_small:
        return f"{span}, compared with other students in {f.cohort}."
    return f"{span}."


def _verdict(s: Source) -> tuple[str, bool]:
    """What a source does to the score, and whether it counts."""
    if s.weight == 0:
        return "not used in the score", False
    if s.score is None:
        return ("does not count yet" if s.status == "no_baseline" else "does not count"), False
    if s.score >= 100:
        return "counts in full", True
    return f"{bounded(max(s.score, 0.0), 0, 100)} out of 100", True


def _unit(key: str, text: str) -> str:
    singular, plural = _UNITS.get(key, ("", ""))
    unit = singular if text == "1" else plural
    return f"{text} {unit}" if unit else text


def _per_day(measure: float | None, key: str) -> str:
    if measure is None:
        return "no figures"
    if measure <= 0:
        return "none"
    return f"{_unit(key, number(measure))} a day"


def _typical_figure(reference: float, key: str) -> str:
    if reference <= 0:
        return "none"
    return _unit(key, number(reference)) if key == "lecture_capture" else number(reference)


def _attendance(s: Source, title: str) -> tuple[str, bool]:
    verdict, counts = _verdict(s)
    attended, expected = s.measure, s.reference
    if s.status == "no_sessions" or (s.score is None and expected == 0):
        return f"{title}: no sessions were expected, so it does not count.", False
    share = 100 * attended / expected if attended is not None and expected and expected > 0 and attended >= 0 else None
    if share is None or not math.isfinite(share):
        return f"{title}: {verdict}.", counts
    sessions = "session" if number(expected) == "1" else "sessions"  # type: ignore[arg-type]
    share = bounded(share, None, 100)
    tail = "" if counts or s.weight != 0 else f" — {verdict}"
    return f"{title}: attended {number(attended)} of {number(expected)} expected {sessions} ({share}%){tail}.", counts


def _source_line(s: Source, f: Facts, voice: _Voice) -> SourceLine:
    name = voice.name(s.key)
    if s.key == "attendance":
        text, counts = _attendance(s, capital(name))
        return SourceLine(s.key, name, text, counts)
    verdict, counts = _verdict(s)
    mine = _per_day(s.measure, s.key)
    compared = s.status in ("scored", "used_when_group_did_not", "group_did_not_use") or (s.status not in _STATUSES and s.score is not None)
    if compared and s.reference is not None:
        mine = f"{mine}; {voice.typical(f)} {_typical_figure(s.reference, s.key)}"
    return SourceLine(s.key, name, f"{capital(name)}: {mine} — {verdict}.", counts)


def _last_activity(f: Facts) -> str:
    if not f.activity_known:
        return ""
    if f.days_since is None:
        return f"Last activity: {day_text(f.last_active)}." if f.last_active else "Last activity: no activity recorded."
    when = {0: "today", 1: "yesterday"}.get(f.days_since, f"{f.days_since:,} days ago")
    last = f.last_active
    if last is None and f.as_of is not None and f.days_since < 100_000:
        try:
            last = f.as_of - timedelta(days=f.days_since)
        except OverflowError:
            last = None
    return f"Last activity: {when}" + (f" ({day_text(last)})." if last else ".")


def _term_line(f: Facts, voice: _Voice) -> str:
    """'This term (since 5 Oct 2026): active on 38 of 55 days; typical 45. Term score 72 (Good).'"""
    t = f.term
    if t is None:
        return ""
    days = "1 day" if t.days == 1 else f"{t.days:,} days"
    text = f"This term (since {day_text(t.start)}): active on {t.active_days:,} of {days}"
    if t.group_active_days is not None:
        text += f"; {voice.typical(f)} {number(t.group_active_days)}"
    text += "."
    if t.score is not None:
        text += f" Term score {bounded(t.score, *band_limits(t.band, f.bounds))} out of 100 ({band_name(t.band)})."
    return text


# ---- notes ---------------------------------------------------------------------------------


def _held_note(f: Facts, voice: _Voice) -> str | None:
    if not _held(f):
        return None
    i = BAND_ORDER.index(f.band)
    held_up = i > BAND_ORDER.index(f.band_by_score)  # type: ignore[arg-type]
    boundary = f.bounds[f.band] if held_up else f.bounds[BAND_ORDER[i + 1]]
    side = f"is below {bound(boundary)}" if held_up else f"is {bound(boundary)} or more"
    whose = "Your band" if voice.student else "The band"
    score = one_decimal(f.score)  # type: ignore[arg-type]
    if f.margin:
        points = number(f.margin)
        rule = f"a band changes only when the score passes a boundary by {points} point{'' if points == '1' else 's'}"
    else:
        rule = "a band changes only when the score passes a boundary by a set margin"
    return f"{whose} stays {band_name(f.band)} although {voice.your} score ({score}) {side}: {rule}."


def _today_note(f: Facts, voice: _Voice) -> str:
    days = f.window_days or ((f.window[1] - f.window[0]).days + 1 if f.window else 0)
    complete = days - 1
    if complete >= 2:
        window = f"the window is the last {complete:,} complete days and today so far"
    elif complete == 1:
        window = "the window is the last complete day and today so far"
    else:
        window = "the window is today so far"
    return f"Today counts towards {voice.your} figures only when it helps: {window}."


def _period(f: Facts) -> str:
    days = f.window_days or ((f.window[1] - f.window[0]).days + 1 if f.window else 0)
    return "this week" if days == 7 else f"in these {days:,} days" if days else "in this period"


def _missing_notes(f: Facts, voice: _Voice) -> list[str]:
    """One note per reason a source does not count (or counts in full), naming its sources."""
    relative = [s for s in f.sources if s.key != "attendance" and s.weight != 0]
    by_status: dict[str, list[str]] = {}
    for s in relative:
        if s.status in (*_NOT_COUNTING, "used_when_group_did_not") and voice.name(s.key) not in by_status.get(s.status, []):
            by_status.setdefault(s.status, []).append(voice.name(s.key))
    notes = []
    for status in (*_NOT_COUNTING, "used_when_group_did_not"):
        names = by_status.get(status)
        if names:
            notes.append(_missing_note(status, names, f, voice, every=len(names) == len(relative)))
    return notes


def _missing_note(status: str, names: list[str], f: Facts, voice: _Voice, every: bool) -> str:
    listed, many = capital(join(names)), plural(names)
    does, it = ("do", "them") if many else ("does", "it")
    if status == "group_too_small":
        minimum = getattr(voice.engagement, "min_cohort_size", None)
        minimum = minimum if isinstance(minimum, int) and minimum > 0 else _DEFAULT_MIN_GROUP
        attendance = [s for s in f.sources if s.key == "attendance" and s.score is not None and s.weight != 0]
        if every and attendance:
            return f"Fewer than {minimum:,} students to compare with, so only {voice.name('attendance')} counts."
        return f"Fewer than {minimum:,} students to compare with, so {join(names)} {does} not count."
    if status == "no_baseline":
        return f"{listed} {does} not count yet: there are no figures from {voice.group} to compare with so far."
    if status == "nobody_used":
        return f"{listed} {does} not count: nobody in {voice.group} used {it} recently."
    if status == "group_did_not_use":
        verb = "submit any" if names == [voice.name("coursework")] else f"use {it}"
        return f"{listed} {does} not count {_period(f)}: most students in {voice.group} did not {verb}, and neither did {voice.you}."
    counts = "count" if many else "counts"
    return f"{listed} {counts} in full: most students in {voice.group} did not use {it} {_period(f)}, but {voice.you} did."


def _cap_note(s: Source, voice: _Voice) -> str:
    days = f"{s.capped_days:,} day{'' if s.capped_days == 1 else 's'}"
    caps = voice.engagement.daily_caps if voice.engagement is not None else None
    cap = getattr(caps, _CAP_FIELDS.get(s.key, ""), None) if caps is not None else None
    limit = _unit(s.key, bound(cap)) if isinstance(cap, int | float) else "the daily limit"
    return f"On {days} {voice.your} {voice.name(s.key)} figure was capped at {limit} (so a stuck client or a script cannot raise a band)."


def _notes(f: Facts, voice: _Voice) -> tuple[str, ...]:
    notes = [n for n in (_held_note(f, voice),) if n]
    if f.including_today:
        notes.append(_today_note(f, voice))
    notes += _missing_notes(f, voice)
    notes += [_cap_note(s, voice) for s in f.sources if s.capped_days and s.key != "attendance"]
    return tuple(notes)


def render(f: Facts, viewer: Viewer = "student", *, engagement: Engagement | None = None, names: Mapping[str, str] | None = None) -> Explained:
    """Facts (from ``read``) in words for one viewer."""
    shown = dict(DEFAULT_DISPLAY_NAMES)
    shown.update({k: v.strip() for k, v in (names or {}).items() if isinstance(k, str) and clean_text(v)})
    voice = _Voice(viewer == "student", shown, engagement)
    return Explained(
        band=f.band,
        band_name=band_name(f.band),
        headline=_headline(f),
        window=_window(f),
        sources=tuple(_source_line(s, f, voice) for s in f.sources),
        last_activity=_last_activity(f),
        notes=_notes(f, voice),
        term=_term_line(f, voice),
    )


def explain(
    explanation: object,
    viewer: Viewer = "student",
    *,
    engagement: Engagement | None = None,
    names: Mapping[str, str] | None = None,
    fill: Mapping | None = None,
) -> Explained:
    """An explanation (a dict, or its JSON text) in plain words for a student or for staff.

    Never raises on the explanation's contents. ``engagement`` (the policy's) gives the
    daily caps named in notes and the bands and margin of records that do not carry them;
    ``names`` overrides source display names (the policy's ``sources.display_names``);
    ``fill`` gives what the explanation lacks (band, score... from the record's row).
    """
    if viewer not in ("student", "staff"):
        raise ValueError(f"viewer must be 'student' or 'staff', not {viewer!r}")
    return render(read(explanation, engagement, fill), viewer, engagement=engagement, names=names)
