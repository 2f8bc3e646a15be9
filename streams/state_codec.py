"""Compact binary form of a student's state, for the Faust changelog.

A student's value is written to the changelog on every batch that touches them, so its
size is the engine's write volume: fixed-width integers and the raw bytes of the id arrays,
no field names. The first byte is a format version so the layout can evolve.
"""

from __future__ import annotations

import math
import struct
from array import array

from streams.day import EVENT_BYTES, TOTALS, Day
from streams.model import StudentState
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
# Format 3: the archive (streams.model.archive): through, last active day, active days, sums,
# the caps it was summed with (0 each: no archive); then how many of the days that follow are
# archived and their records' length, so a reader can keep those as one piece (StoredDays).
_CAPS = 5
_ARCHIVE = struct.Struct(f"<iiI{TOTALS}q{_CAPS}qII")
_DAY = struct.Struct(f"<iI{TOTALS}q")
_DAY_COUNT = struct.Struct("<iI")  # a day record's first fields: its ordinal and event count
_MEASURES = struct.Struct(f"<{len(RELATIVE_SOURCES)}d")
_PART_TIME, _ACTIVE, _ROSTERED, _HAS_CONTRIBUTION = 1, 2, 4, 8


class StateFormatError(ValueError):
    """A changelog value that is not a student state this code can read."""


def dumps(state: StudentState) -> bytes:
    """Encode a student's state."""
    return _encode(state, settle=False)


def stored(state: StudentState) -> bytes:
    """Encode a student's state, and leave it as ``loads`` would read it back.

    Each day is kept as its record and the archived days as one packed piece, as a state
    read from storage holds them: a state kept in memory after it is written (the worker's
    kept states, ``streams.table_store``) then costs its next write the copy of unchanged
    records, not encoding every day again. What the state means does not change.
    """
    return _encode(state, settle=True)


def _encode(state: StudentState, settle: bool) -> bytes:
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
            len(state.warm) + (state.cold.count if state.cold is not None else 0),
            len(cohort),
            len(state.published),
        ),
        cohort,
        state.published,
    ]
    groups = "\n".join(state.groups).encode()
    measures = state.contribution[1] if state.contribution is not None else ()
    # The archived days first (all before the others): those still packed as read, then the
    # unpacked ones up to the archive's last day (archived since they were read), counted in.
    cold, through = state.cold, state.archived_through
    days: list[bytes] = [cold.record] if cold is not None else []
    n_cold = cold.count if cold is not None else 0
    cold_bytes = len(cold.record) if cold is not None else 0
    warm = state.warm
    packed_now = 0  # archived days unpacked until now
    for ordinal in sorted(warm):
        day = warm[ordinal]
        if day.record is not None:  # unchanged since read: its record as it was
            record = day.record
        else:
            ids = day.ids
            record = b"".join((_DAY.pack(ordinal, len(ids), *day.totals), ids.tobytes(), day.codes.tobytes(), day.amounts.tobytes()))
            if settle:
                warm[ordinal] = Day.restored(day.totals, record, _DAY.size)
        days.append(record)
        if ordinal <= through:
            n_cold += 1
            cold_bytes += len(record)
            packed_now += 1
    if settle and packed_now:
        # The archived days (first in ``days``, all earlier than the rest) become one piece.
        pieces = len(days) - len(warm) + packed_now
        state.restore({o: d for o, d in warm.items() if o > through}, StoredDays(b"".join(days[:pieces]), n_cold, through))
    parts += [
        _HEAD2.pack(state.last_active_pruned, len(groups), state.term_start, state.term_active, *state.term_sums, len(measures)),
        groups,
        struct.pack(f"<{len(measures)}d", *measures),
        _ARCHIVE.pack(through, state.archived_last_active, state.archived_active, *state.archived_sums, *(state.archived_caps or (0,) * _CAPS), n_cold, cold_bytes),
        *days,
    ]
    return b"".join(parts)


def loads(data: bytes) -> StudentState:
    """Decode a student's state; ``StateFormatError`` if it is not one."""
    try:
        version, flags, band, seq, score, contribution_day, n_days, cohort_len, published_len = _HEAD.unpack_from(data, 0)
        _check_version(version)
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
                state.archived_sums, caps, (n_cold, cold_bytes) = sums[:TOTALS], tuple(sums[TOTALS:-2]), sums[-2:]
                state.archived_caps = caps if state.archived_through else ()
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
        cold = None
        if version >= 3 and n_cold:
            if n_cold > n_days or offset + cold_bytes > len(data):
                raise StateFormatError(f"{n_cold} archived days of {cold_bytes} bytes do not fit in the student state")
            cold = StoredDays(data[offset : offset + cold_bytes], n_cold, state.archived_through)
            offset += cold_bytes
        days = {}
        for _ in range(n_days - (n_cold if cold is not None else 0)):
            ordinal, day, offset = _read_day(data, offset)
            days[ordinal] = day
        if offset != len(data):
            raise StateFormatError(f"{len(data) - offset} bytes left over after a student state")
        state.restore(days, cold)
        return state
    except (struct.error, UnicodeDecodeError, IndexError, ValueError) as exc:
        if isinstance(exc, StateFormatError):
            raise
        raise StateFormatError(f"not a student state: {exc}") from exc


def _check_version(version: int) -> None:
    if not 1 <= version <= FORMAT:
        raise StateFormatError(f"student state format {version}, this code reads 1 to {FORMAT}")


def _read_day(data: bytes, offset: int) -> tuple[int, Day, int]:
    """The day whose record starts at ``offset``: its ordinal, the day (keeping its whole
    record, written back as it is while unchanged) and where the next record starts."""
    ordinal, n, *totals = _DAY.unpack_from(data, offset)
    end = offset + _DAY.size + EVENT_BYTES * n
    if end > len(data):
        raise StateFormatError(f"a day of {n} events runs past the end of the student state")
    return ordinal, Day.restored(totals, data[offset:end], _DAY.size), end


class StoredDays:
    """A student's archived days as stored, unpacked only when needed (``streams.day.ColdDays``)."""

    __slots__ = ("record", "count", "last")

    def __init__(self, record: bytes, count: int, last: int) -> None:
        self.record = record
        self.count = count
        self.last = last  # no archived day is later than the archive's last day

    def holds(self, packed: bytes) -> bool:
        """Whether these days hold an event with these 8 id bytes (a match must be an id)."""
        record = self.record
        i = record.find(packed)
        while i >= 0:
            if self._is_id_at(i):
                return True
            i = record.find(packed, i + 1)
        return False

    def _is_id_at(self, i: int) -> bool:
        """Whether byte ``i`` of the record starts an event id (not a day's head, code or amount)."""
        at, record = 0, self.record
        while at <= i:
            _, n = _DAY_COUNT.unpack_from(record, at)
            ids = at + _DAY.size
            if ids <= i < ids + 8 * n:
                return (i - ids) % 8 == 0
            at = ids + EVENT_BYTES * n
        return False

    def split(self, before: float) -> tuple[dict[int, Day], StoredDays | None]:
        """The days earlier than ``before``, unpacked, and the rest still packed (None: none left).

        Only the records' heads are read to find where the rest starts: the day rollover that
        forgets a mid-term student's oldest day need not unpack the other five weeks.
        """
        days, at, record = {}, 0, self.record
        try:
            while at < len(record) and _DAY_COUNT.unpack_from(record, at)[0] < before:
                ordinal, day, at = _read_day(record, at)
                days[ordinal] = day
        except struct.error as exc:
            raise StateFormatError(f"archived days that are not day records: {exc}") from exc
        if len(days) > self.count:
            raise StateFormatError(f"more than the {self.count} archived days stored")
        if at == len(record):
            if len(days) != self.count:
                raise StateFormatError(f"{len(days)} archived days stored, {self.count} counted")
            return days, None
        return days, StoredDays(record[at:], self.count - len(days), self.last)

    def thaw(self) -> dict[int, Day]:
        """The days, each keeping its own record."""
        return self.split(math.inf)[0]


def band_and_cohort(data: bytes) -> tuple[str | None, str]:
    """A stored state's band (None: not scored yet) and cohort, read from its head alone.

    For counting what a worker holds on the RocksDB store without decoding every state's days
    (the same head in every format); ``StateFormatError`` if it is not a student state.
    """
    try:
        version, _, band, _, _, _, _, cohort_len, _ = _HEAD.unpack_from(data, 0)
        _check_version(version)
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
