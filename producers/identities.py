"""The identity map: which student each source system's id stands for (pure functions).

Source systems name a person by their own ids: Moodle by its user id, card readers by card
number, Panopto by a user GUID, Windows by an account name. The identity map joins each to
the university's student id; adapters tag every event with the namespace of its id
(``leap.vocabulary.IDENTITY_NAMESPACES``), and ``resolve`` rewrites it to the student id
before anything is published. An id the map does not know is *unknown*: the event waits in
quarantine until the map learns it (``leap identities retry``) instead of scoring a stranger.

An identities file is a CSV with a ``student_id`` column and any of ``moodle_user_id``,
``username``, ``email``, ``card_number``, ``panopto_user_id``, ``windows_account`` (other
columns are ignored, so a roster export with these columns is one too). Each non-empty cell
maps ``namespace:value`` to the row's student. Within one file, a value claimed by two
students is refused (the second row is rejected): scoring one student's activity as
another's is worse than scoring neither. Between files the later wins, as a reissued card
number must; ``leap erase`` forgets a student's identities.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from leap.vocabulary import IDENTITY_NAMESPACES, STUDENT_ID, identity_key
from producers.outcome import Event, Reject

MAPPED = tuple(n for n in IDENTITY_NAMESPACES if n != STUDENT_ID)  # the columns that map to a student


@dataclass(frozen=True, slots=True)
class Unknown:
    """An event whose person the identity map does not know (yet): it goes to quarantine."""

    key: str  # the identity, as written in the map
    reason: str


def identity_columns(header: Sequence[str]) -> dict[str, int]:
    """Which identity columns a header has, by index; ``ValueError`` without ``student_id`` or any identity."""
    names = [cell.strip().lstrip("\ufeff").lower() for cell in header]
    if STUDENT_ID not in names:
        raise ValueError(f"no student_id column; an identities file has student_id and any of {', '.join(MAPPED)}")
    columns = {name: i for i, name in enumerate(names) if name in IDENTITY_NAMESPACES}
    if len(columns) == 1:
        raise ValueError(f"no identity column beside student_id; add any of {', '.join(MAPPED)}")
    return columns


def parse_identity_row(columns: Mapping[str, int], fields: Sequence[str]) -> list[tuple[str, str]] | Reject:
    """One row to its ``(identity key, student id)`` pairs, or a rejection with the reason."""
    if len(fields) <= max(columns.values()):
        return Reject(f"{len(fields)} fields, too few for the header")
    student = fields[columns[STUDENT_ID]].strip()
    if not student:
        return Reject("student_id is empty")
    if len(student) > 64:
        return Reject("student_id is longer than 64 characters")
    pairs = [(identity_key(STUDENT_ID, student), student)]
    for namespace, index in columns.items():
        value = fields[index].strip()
        if namespace != STUDENT_ID and value:
            if len(value) > 256:
                return Reject(f"{namespace} is longer than 256 characters")
            pairs.append((identity_key(namespace, value), student))
    return pairs


class IdentityMap:
    """Identity keys to student ids, as read from the identities topic (or a file, offline)."""

    def __init__(self, entries: Mapping[str, str] | None = None) -> None:
        self._students: dict[str, str] = dict(entries or {})

    def __len__(self) -> int:
        return len(self._students)

    def keys(self) -> list[str]:
        """Every identity the map knows."""
        return list(self._students)

    def get(self, key: str) -> str | None:
        """The student an identity key stands for, if known."""
        return self._students.get(key)

    def learn(self, key: str, student: str | None) -> None:
        """Record what the identities topic says of ``key`` (``None``: a tombstone, forgotten)."""
        if student is None:
            self._students.pop(key, None)
        else:
            self._students[key] = student

    def conflict(self, key: str, student: str) -> str | None:
        """Why mapping ``key`` to ``student`` is refused (it stands for someone else), or None."""
        known = self._students.get(key)
        if known is not None and known != student:
            return f"{key.partition(':')[0]} {key.partition(':')[2]!r} already belongs to another student"
        return None

    def resolve(self, event: Event) -> Event | Unknown:
        """The event with its student id, or ``Unknown`` when the map does not know the person."""
        if event.identity == STUDENT_ID:
            return event
        value = str(event.record["student_id"])
        try:
            key = identity_key(event.identity, value)
        except ValueError as exc:
            return Unknown(f"{event.identity}:", str(exc))
        student = self._students.get(key)
        if student is None:
            return Unknown(key, f"{event.identity} {value[:64]!r} is not in the identity map")
        return Event({**event.record, "student_id": student}, STUDENT_ID)
