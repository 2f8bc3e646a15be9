"""The keyed hash naming an erased student."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumers.protection.pseudonym import (
    PREFIX,
    KeyMissing,
    check_key,
    pseudonymise,
    subject,
)

KEY = "a-long-random-secret-for-tests"


def test_it_is_hmac_sha256_of_the_id_with_the_key():
    # RFC 4231, test case 1: key 0x0b x 20, data "Hi There".
    assert subject("Hi There", "\x0b" * 20) == PREFIX + "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"


@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40))
def test_the_same_id_and_key_always_give_the_same_name_and_different_ids_differ(a, b):
    assert subject(a, KEY) == subject(a, KEY)
    assert (subject(a, KEY) == subject(b, KEY)) == (a == b)
    assert subject(a, KEY) != subject(a, KEY + "x")


@pytest.mark.parametrize("key, message", [(None, "not set"), ("", "not set"), ("short", "at least 16")])
def test_a_missing_or_short_key_is_refused_with_what_to_do(key, message):
    with pytest.raises(KeyMissing, match=message):
        check_key(key)
    with pytest.raises(KeyMissing):
        subject("s1", key)


def test_an_empty_student_id_is_refused():
    with pytest.raises(ValueError, match="student id"):
        subject("", KEY)


@given(st.text(alphabet="uvwxyz", min_size=1, max_size=4), st.text(alphabet="uvwxyz .", max_size=60))
def test_pseudonymising_text_leaves_no_occurrence_of_the_id(student_id, text):
    name = subject(student_id, KEY)
    result = pseudonymise(text, student_id, name)
    assert student_id not in result
    assert result.count(name) == text.count(student_id)


def test_nothing_to_replace_is_returned_unchanged():
    assert pseudonymise(None, "s1", "erased:x") is None
    assert pseudonymise("no id here", "s1", "erased:x") == "no id here"


def test_the_key_comes_from_the_environment_and_is_never_shown(monkeypatch):
    from leap.settings import Settings

    monkeypatch.setenv("LEAP_PSEUDONYM_KEY", KEY)
    settings = Settings()
    assert settings.pseudonym_key.get_secret_value() == KEY
    assert KEY not in repr(settings) and KEY not in str(settings.model_dump())
    monkeypatch.delenv("LEAP_PSEUDONYM_KEY")
    assert Settings().pseudonym_key is None
