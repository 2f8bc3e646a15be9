"""Erased students, as the consumer sees them: the marker check and the lock around an erasure.

The consumer stores nothing about a student listed in ``erasures`` (matched by keyed hash,
``consumers.protection.pseudonym``). An erasure holds the exclusive lock while it deletes;
the consumer holds the shared lock in each transaction that writes a student's rows or
copies them to Redis, so a batch in flight when the erasure starts commits first (and is
then deleted), and every later batch sees the marker.
"""

from __future__ import annotations

from collections.abc import Iterable

import psycopg

from consumers.protection.pseudonym import KeyMissing, subject

# pg_advisory_xact_lock key of erasures ("LEAPERAS" as a 63-bit number).
ERASURE_LOCK = int.from_bytes(b"LEAPERAS", "big") & 0x7FFF_FFFF_FFFF_FFFF


def hold_shared(conn: psycopg.Connection) -> None:
    """Wait for any erasure in progress, and keep the next one out until this transaction ends."""
    conn.execute("SELECT pg_advisory_xact_lock_shared(%s)", (ERASURE_LOCK,))


def hold_exclusive(conn: psycopg.Connection) -> None:
    """Wait for the consumer's transactions in flight, and keep new ones out until this one ends."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (ERASURE_LOCK,))


def erased_among(conn: psycopg.Connection, student_ids: Iterable[str], key: str | None) -> set[str]:
    """Which of these students were erased.

    Without a key nothing can be matched: fine while nobody was erased, otherwise
    ``KeyMissing`` (storing an erased student again would be worse than stopping).
    """
    ids = [s for s in set(student_ids) if s]
    if not ids:
        return set()
    if key is None:
        if conn.execute("SELECT 1 FROM erasures LIMIT 1").fetchone() is not None:
            raise KeyMissing("students were erased but LEAP_PSEUDONYM_KEY is not set: their records cannot be recognised, so nothing is stored until it is")
        return set()
    names = {subject(s, key): s for s in ids}
    rows = conn.execute("SELECT DISTINCT subject FROM erasures WHERE subject = ANY(%s)", (list(names),)).fetchall()
    return {names[_first(r)] for r in rows}


def _first(row) -> str:  # type: ignore[no-untyped-def]
    return row["subject"] if isinstance(row, dict) else row[0]
