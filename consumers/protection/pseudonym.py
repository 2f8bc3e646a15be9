"""How an erased student is named afterwards: a keyed hash of their id (pure).

Student ids are short and guessable (``s1234567``), so a plain hash of one is no protection:
anyone could hash every id and compare. A keyed hash (HMAC-SHA256 with a secret kept outside
the database, ``LEAP_PSEUDONYM_KEY``) can be recomputed only by whoever holds the key: the
erasure record, the pseudonymised access log and the consumer's check for erased students
all use it, and none of them can be turned back into the id without the key.
"""

from __future__ import annotations

import hashlib
import hmac

PREFIX = "erased:"
MIN_KEY_LENGTH = 16


class KeyMissing(ValueError):
    """No usable pseudonym key: erasure cannot name the student without naming them."""


def check_key(key: str | None) -> bytes:
    """The key as bytes; ``KeyMissing`` with what to do when it is unset or too short to be secret."""
    if key is None or key == "":
        raise KeyMissing("LEAP_PSEUDONYM_KEY is not set: erasure names the student by a keyed hash and needs the key (a long random secret, kept outside the database)")
    if len(key) < MIN_KEY_LENGTH:
        raise KeyMissing(f"LEAP_PSEUDONYM_KEY is {len(key)} characters; use a random secret of at least {MIN_KEY_LENGTH}")
    return key.encode()


def subject(student_id: str, key: str | None) -> str:
    """The erased student's name from now on: ``erased:`` and the hex HMAC-SHA256 of their id."""
    if not student_id:
        raise ValueError("a student id is needed")
    digest = hmac.new(check_key(key), student_id.encode(), hashlib.sha256).hexdigest()
    return PREFIX + digest


def pseudonymise(text: str | None, student_id: str, name: str) -> str | None:
    """``text`` with every occurrence of the student's id replaced by ``name`` (PostgreSQL's ``replace``)."""
    if text is None or not student_id:
        return text
    return text.replace(student_id, name)
