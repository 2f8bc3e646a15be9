"""Names every layer shares: cohorts and the reference groups students are compared with.

A student's *cohort* is their programme and year (``BSC-CS/Y2``), as tutors and the roster
know it. The group a student's figures are *compared with* is their cohort's students of the
same mode of study, unless that group has fewer active students than the policy's
``min_cohort_size``: then the next wider group is used (programme all years, department,
every student of that mode, every student). Each student's chain of groups is fixed by their
roster entry; the engine keeps a baseline for every group and picks the narrowest big enough.
Students are also the unit of partitioning: every per-student topic is keyed by student id
with Kafka's default (murmur2) partitioner, so a student's activity, roster entry and state
share a partition number everywhere (``partition_for``).

Comparing part-time students with part-time peers first is what makes a 21-day part-time
average fair: part-time students study fewer hours a week by definition.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from aiokafka.partitioner import murmur2

# Namespace of LEAP's deterministic ids (events, band changes, alerts): uuid5(EVENT_NAMESPACE, "...").
EVENT_NAMESPACE = uuid.UUID("6f1c2a4e-8d0b-5c4e-9a55-1ea9e0c0ffee")

# Identity namespaces: which system's id a source record names a person by. Adapters tag each
# event with its namespace; the identity map turns every one into the university's student id
# (``identity_key`` is how a value is written in it). The names are also the columns of an
# identities file and the roster's optional columns.
STUDENT_ID = "student_id"
MOODLE_USER_ID = "moodle_user_id"
USERNAME = "username"
EMAIL = "email"
CARD_NUMBER = "card_number"
PANOPTO_USER_ID = "panopto_user_id"
WINDOWS_ACCOUNT = "windows_account"
IDENTITY_NAMESPACES = (STUDENT_ID, MOODLE_USER_ID, USERNAME, EMAIL, CARD_NUMBER, PANOPTO_USER_ID, WINDOWS_ACCOUNT)
# Systems differ in case for these (Windows accounts, email addresses, GUIDs); ids are not.
_CASELESS = frozenset({USERNAME, EMAIL, PANOPTO_USER_ID, WINDOWS_ACCOUNT})

UNASSIGNED = "unassigned"
UNASSIGNED_GROUP = "cohort:unassigned"
INSTITUTION = "institution"
LEVELS = ("cohort", "programme", "department", "institution_mode", "institution")
_MODE_WORDS = {"full_time": "full-time", "part_time": "part-time"}


def cohort_of(entry: Mapping[str, object] | None) -> str:
    """A student's cohort: programme and year from the roster, or 'unassigned' without an entry."""
    if entry is None:
        return UNASSIGNED
    return f"{entry['programme']}/Y{entry['year_of_study']}"


def reference_groups(entry: Mapping[str, object] | None) -> tuple[str, ...]:
    """The keys of the groups a student may be compared with, narrowest first.

    Without a roster entry: the other students without one, then every student. ``:`` cannot occur
    in a mode, and a programme or department name containing one only makes a longer key.
    """
    if entry is None:
        # Nothing to narrow by, and often one source's view of someone (a VLE account not
        # yet mapped to a student): compared first with others like them, not with
        # students whose every source is known.
        return (UNASSIGNED_GROUP, INSTITUTION)
    mode = str(entry.get("mode_of_study") or "full_time")
    groups = [f"cohort:{entry['programme']}/Y{entry['year_of_study']}:{mode}", f"programme:{entry['programme']}:{mode}"]
    if entry.get("department"):
        groups.append(f"department:{entry['department']}:{mode}")
    groups += [f"institution:{mode}", INSTITUTION]
    return tuple(groups)


def group_level(key: str) -> str:
    """Which of ``LEVELS`` a group key is."""
    if key == INSTITUTION:
        return "institution"
    kind = key.split(":", 1)[0]
    return "institution_mode" if kind == "institution" else kind


def group_label(key: str) -> str:
    """A group key in words: 'BSC-CS/Y2 full-time students', 'all part-time students'."""
    if key == INSTITUTION:
        return "all students"
    if key == UNASSIGNED_GROUP:
        return "students not on the roster"
    kind, _, rest = key.partition(":")
    name, _, mode = rest.rpartition(":")
    words = _MODE_WORDS.get(mode, mode.replace("_", "-"))
    if kind == "cohort":
        return f"{name} {words} students"
    if kind == "programme":
        return f"{name} {words} students (all years)"
    if kind == "department":
        return f"{words} students in {name}"
    if kind == "institution":
        return f"all {words} students"
    return key


def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's default (murmur2) partitioner gives a key: where a student lives."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def identity_key(namespace: str, value: str) -> str:
    """How an identity is written in the identity map: ``namespace:value``, normalised.

    Case is dropped where the system ignores it, a Windows account loses its domain
    (``ESSEX\\ab12345`` is ``ab12345``) and a GUID its braces. ``ValueError`` for an unknown
    namespace or an empty value.
    """
    if namespace not in IDENTITY_NAMESPACES:
        raise ValueError(f"unknown identity namespace {namespace!r}; one of {', '.join(IDENTITY_NAMESPACES)}")
    text = value.strip()
    if namespace == WINDOWS_ACCOUNT:
        text = text.rpartition("\\")[2]
    elif namespace == PANOPTO_USER_ID:
        text = text.strip("{}")
    if namespace in _CASELESS:
        text = text.casefold()
    if not text:
        raise ValueError(f"empty {namespace}")
    return f"{namespace}:{text}"
