"""Compact binary form of a student's state, for the Faust changelog.

A student's value is written to the changelog on every batch that touches them, so its
size is the engine's write volume: fixed-width integers and the raw bytes of the id arrays,
no field names. The first byte is a format version so the layout can evolve.
"""

from __future__ import annotations

import math
import struct
from array import array

from streams.model import EVENT_BYTES, TOTALS, Day, StudentState
from leap.vocabulary import UNASSIGNED, reference_groups
from leap.policy import BAND_ORDER, NO_DATA, RELATIVE_SOURCES

FORMAT = 3  # 2 added the reference groups, the last active day beyond the retention and the term; 3 the archive
_BANDS = (*BAND_ORDER, NO_DATA)
_NO_BAND = 255
# version, flags, band, change_seq, score, contribution day, n days, cohort length, published length
_HEAD = struct.Struct("<BBBIdiIHH")
# Format 2: last active day forgotten, groups' length, term start, term active days,
# term totals, contribution measures' count.
_HEAD2 = struct.Struct(f"<iHiI{TOTALS}qB")
# Format 3: the archive (streams.model.archive): through, last active day, active days, sums.
_ARCHIVE = struct.Struct(f"<iiI{TOTALS}q")
_DAY = struct.Struct(f"<iI{TOTALS}q")
_MEASURES = struct.Struct(f"<{len(RELATIVE_SOURCES)}d")
_PART_TIME, _ACTIVE, _ROSTERED, _HAS_CONTRIBUTION = 1, 2, 4, 8


class StateFormatError(ValueError):
    """A changelog value that is not a student state this code can read."""


def dumps(state: StudentState) -> bytes:
    """Encode a student's state."""
    flags = (
        (_PART_TIME if state.part_time else 0)
        | (_ACTIVE if state.active else 0)
        | (_ROSTERED if state.rostered else 0)
        | (_HAS_CONTRIBUTION if state.contribution is not None else 0)
    )
    cohort = state.cohort.encode()
    contribution_day = state.contribution[0] if state.contribution is not None else 0
    parts = [
        _HEAD.pack(
            FORMAT,
            flags,
            _NO_BAND if state.band is None else _BANDS.index(state.band),
            state.change_seq,
            math.nan if state.score is None else state.score,
            contribution_day,
            len(state.days),
            len(cohort),
            len(state.published),
        ),
        cohort,
        state.published,
    ]
    groups = "\n".join(state.groups).encode()
    measures = state.contribution[1] if state.contribution is not None else ()
    parts += [
        _HEAD2.pack(state.last_active_pruned, len(groups), state.term_start, state.term_active, *state.term_sums, len(measures)),
        groups,
        struct.pack(f"<{len(measures)}d", *measures),
        _ARCHIVE.pack(state.archived_through, state.archived_last_active, state.archived_active, *state.archived_sums),
    ]
    for ordinal in sorted(state.days):
        day = state.days[ordinal]
        if day.record is not None:  # unchanged since read: its record as it was
            parts.append(day.record)
            continue
        ids = day.ids
        parts += (_DAY.pack(ordinal, len(ids), *day.totals), ids.tobytes(), day.codes.tobytes(), day.amounts.tobytes())
    return b"".join(parts)


def loads(data: bytes) -> StudentState:
    """Decode a student's state; ``StateFormatError`` if it is not one."""
    try:
        version, flags, band, seq, score, contribution_day, n_days, cohort_len, published_len = _HEAD.unpack_from(data, 0)
        if not 1 <= version <= FORMAT:
            raise StateFormatError(f"student state format {version}, this code reads 1 to {FORMAT}")
        offset = _HEAD.size
        state = StudentState(data[offset : offset + cohort_len].decode())
        offset += cohort_len
        state.published = bytes(data[offset : offset + published_len])
        offset += published_len
        if version >= 2:
            state.last_active_pruned, groups_len, state.term_start, state.term_active, *rest = _HEAD2.unpack_from(data, offset)
            state.term_sums, n_measures = list(rest[:TOTALS]), rest[TOTALS]
            offset += _HEAD2.size
            state.groups = tuple(data[offset : offset + groups_len].decode().split("\n"))
            offset += groups_len
            measures = struct.unpack_from(f"<{n_measures}d", data, offset)
            offset += 8 * n_measures
            if version >= 3:
                state.archived_through, state.archived_last_active, state.archived_active, *sums = _ARCHIVE.unpack_from(data, offset)
                state.archived_sums = sums
                offset += _ARCHIVE.size
        else:
            state.groups = _groups_before_format_2(state.cohort, bool(flags & _PART_TIME))
            measures = ()
            if flags & _HAS_CONTRIBUTION:
                measures = _MEASURES.unpack_from(data, offset)
                offset += _MEASURES.size
        state.part_time = bool(flags & _PART_TIME)
        state.active = bool(flags & _ACTIVE)
        state.rostered = bool(flags & _ROSTERED)
        state.band = None if band == _NO_BAND else _BANDS[band]
        state.change_seq = seq
        state.score = None if math.isnan(score) else score
        if flags & _HAS_CONTRIBUTION:
            state.contribution = (contribution_day, tuple(measures))
        days = state.days
        for _ in range(n_days):
            ordinal, n, *totals = _DAY.unpack_from(data, offset)
            end = offset + _DAY.size + EVENT_BYTES * n
            if end > len(data):
                raise StateFormatError(f"a day of {n} events runs past the end of the student state")
            # Each day keeps its whole record, written back as it is while unchanged.
            days[ordinal] = Day.restored(totals, data[offset:end], _DAY.size)
            offset = end
        if offset != len(data):
            raise StateFormatError(f"{len(data) - offset} bytes left over after a student state")
        return state
    except (struct.error, UnicodeDecodeError, IndexError, ValueError) as exc:
        if isinstance(exc, StateFormatError):
            raise
        raise StateFormatError(f"not a student state: {exc}") from exc


def band_and_cohort(data: bytes) -> tuple[str | None, str]:
    """A stored state's band (None: not scored yet) and cohort, read from its head alone.

    For counting what a worker holds on the RocksDB store without decoding every state's days
    (the same head in every format); ``StateFormatError`` if it is not a student state.
    """
    try:
        version, _, band, _, _, _, _, cohort_len, _ = _HEAD.unpack_from(data, 0)
        if not 1 <= version <= FORMAT:
            raise StateFormatError(f"student state format {version}, this code reads 1 to {FORMAT}")
        cohort = bytes(data[_HEAD.size : _HEAD.size + cohort_len]).decode()
        return (None if band == _NO_BAND else _BANDS[band]), cohort
    except (struct.error, UnicodeDecodeError, IndexError) as exc:
        raise StateFormatError(f"not a student state: {exc}") from exc


def _groups_before_format_2(cohort: str, part_time: bool) -> tuple[str, ...]:
    # Format 1 kept no department: the chain without it, until the roster is applied again.
    if cohort == UNASSIGNED:
        return reference_groups(None)
    programme, _, year = cohort.rpartition("/Y")
    return reference_groups({"programme": programme, "year_of_study": year, "mode_of_study": "part_time" if part_time else "full_time"})


def _check_array_sizes() -> None:
    # The layout assumes 8-byte ids and amounts; fail loudly on a platform where they are not.
    if array("Q").itemsize != 8 or array("q").itemsize != 8:
        raise RuntimeError("LEAP's state format needs 8-byte array items")


_check_array_sizes()
